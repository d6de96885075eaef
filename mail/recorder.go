package mail

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// Recorder is a Mailer for tests: it keeps every message it is given, so a
// test can check that exactly one notification went out and follow the link
// in it. Like the other mailers it refuses invalid messages, so a test with
// Recorder catches what production would. The zero value is ready to use and
// safe for concurrent use.
type Recorder struct {
	mu   sync.Mutex
	msgs []Message
}

// Send records m.
func (r *Recorder) Send(ctx context.Context, m Message) error {
	if _, err := validate(m); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return nil
}

// Messages returns a copy of the messages recorded so far, oldest first.
func (r *Recorder) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// Last returns the most recent message sent to the address to. Addresses are
// compared without display names and ignoring case, so "alice@example.com"
// finds a message sent to "Alice <Alice@Example.com>".
func (r *Recorder) Last(to string) (Message, bool) {
	want := bareAddress(to)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range slices.Backward(r.msgs) {
		if strings.EqualFold(bareAddress(m.To), want) {
			return m, true
		}
	}
	return Message{}, false
}

// Reset forgets every recorded message.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = nil
}

func bareAddress(s string) string {
	if a, err := validate(Message{To: s}); err == nil {
		return a.Address
	}
	return s
}

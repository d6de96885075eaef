package mail

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

func TestRecorder(t *testing.T) {
	var r Recorder // the zero value is ready
	ctx := context.Background()
	if _, ok := r.Last("alice@example.com"); ok {
		t.Fatal("Last found a message in an empty recorder")
	}
	sent := []Message{
		{To: "alice@example.com", Subject: "招待", Text: "one"},
		{To: "bob@example.com", Subject: "reset", Text: "two"},
		{To: "Alice <Alice@Example.com>", Subject: "MFA reset", Text: "three"},
	}
	for _, m := range sent {
		if err := r.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}

	got := r.Messages()
	if fmt.Sprint(got) != fmt.Sprint(sent) {
		t.Fatalf("Messages = %v, want %v", got, sent)
	}
	got[0].Subject = "changed"
	if r.Messages()[0].Subject != "招待" {
		t.Error("Messages returned the recorder's own slice")
	}

	if m, ok := r.Last("alice@example.com"); !ok || m.Text != "three" {
		t.Errorf("Last(alice) = %v, %v; want the third message", m, ok)
	}
	if m, ok := r.Last("Bob <bob@example.com>"); !ok || m.Text != "two" {
		t.Errorf("Last(bob) = %v, %v; want the second message", m, ok)
	}
	if _, ok := r.Last("carol@example.com"); ok {
		t.Error("Last found a message for carol")
	}

	r.Reset()
	if n := len(r.Messages()); n != 0 {
		t.Errorf("after Reset, %d messages", n)
	}
	if _, ok := r.Last("alice@example.com"); ok {
		t.Error("after Reset, Last still finds alice's message")
	}
}

func TestRecorderConcurrent(t *testing.T) {
	var r Recorder
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			for j := range 10 {
				if err := r.Send(context.Background(), Message{To: fmt.Sprintf("u%d@example.com", i), Text: fmt.Sprint(j)}); err != nil {
					t.Error(err)
				}
				r.Messages()
				r.Last("u0@example.com")
			}
		})
	}
	wg.Wait()
	if n := len(r.Messages()); n != 200 {
		t.Errorf("recorded %d messages, want 200", n)
	}
}

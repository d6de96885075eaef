package web_test

import (
	"testing"
	"time"

	"github.com/sekisho/sekisho/totp"
)

// TestMFAFlowDiesAfterFiveWrongCodes: a pending sign-in takes five wrong
// codes, and after that not even the right one.
func TestMFAFlowDiesAfterFiveWrongCodes(t *testing.T) {
	mfaEach(t, func(t *testing.T, e *env) {
		m := mfaNewMember(e, "acme", "alice")
		seed, _ := e.enroll(&m.token, "phone")
		flow := m.passwordStep()
		for i := 1; i <= 5; i++ {
			r := m.second(flow, mfaWrong(e, seed)).must(t, 401)
			want := "invalid_code"
			if i == 5 {
				want = "flow_ended"
			}
			if r.code() != want {
				t.Fatalf("wrong code %d: %s, want %s", i, r.Raw, want)
			}
		}
		right := e.code(seed)
		r := m.second(flow, right).must(t, 401)
		if c := r.code(); c != "flow_ended" && c != "invalid_flow" {
			t.Fatalf("sixth try with the right code: %s", r.Raw)
		}
		m.second(m.passwordStep(), right).must(t, 200)
	})
}

// TestMFABackoffAcrossFlows: the per-user counter survives new flows and
// sign-ins; from the tenth consecutive failure the user is throttled, and
// then even the right code gets the same 429; after the wait it works and
// the counter starts again.
func TestMFABackoffAcrossFlows(t *testing.T) {
	mfaEach(t, func(t *testing.T, e *env) {
		m := mfaNewMember(e, "acme", "alice")
		seed, _ := e.enroll(&m.token, "phone")
		e.clock.Add(totp.Period)

		for f := range 2 {
			flow := m.passwordStep()
			for i := range 5 {
				if r := m.second(flow, mfaWrong(e, seed)); r.Status != 401 {
					t.Fatalf("wrong code %d: %d %s", f*5+i+1, r.Status, r.Raw)
				}
			}
		}
		flow := m.passwordStep()
		right := totp.Code(seed, totp.StepAt(e.clock.Now()))
		refused := m.second(flow, right)
		wait := mfaRetryAfter(t, refused)
		wrong := m.second(flow, mfaWrong(e, seed))
		mfaRetryAfter(t, wrong)
		if refused.code() != wrong.code() || refused.Body["error"].(map[string]any)["message"] != wrong.Body["error"].(map[string]any)["message"] {
			t.Fatalf("throttled answers differ for a right and a wrong code:\n%s\n%s", refused.Raw, wrong.Raw)
		}
		// A new sign-in does not escape it.
		mfaRetryAfter(t, m.second(m.passwordStep(), right))

		e.clock.Add(wait)
		m.second(flow, right).must(t, 200)

		// The success reset the counter: a wrong code right after another
		// one is evaluated again, not throttled.
		flow = m.passwordStep()
		m.second(flow, mfaWrong(e, seed)).must(t, 401)
		m.second(flow, mfaWrong(e, seed)).must(t, 401)
		m.second(flow, e.code(seed)).must(t, 200)
	})
}

// TestMFAParallelGuessesCounted: 200 wrong codes at once, over 50 sign-ins,
// cannot outrun the counter: no more are evaluated than the free attempts.
func TestMFAParallelGuessesCounted(t *testing.T) {
	const free = 10
	mfaEach(t, func(t *testing.T, e *env) {
		m := mfaNewMember(e, "acme", "alice")
		seed, _ := e.enroll(&m.token, "phone")
		e.clock.Add(totp.Period)
		// Four guesses a flow: even if all of one flow's were evaluated, it
		// would not reach the five that end it, so every answer comes from
		// the per-user counter.
		flows := mfaFlows(t, m, []*env{e}, 50)
		wrong := mfaWrong(e, seed)
		var bodies []map[string]string
		for i := range 200 {
			bodies = append(bodies, map[string]string{"flow_token": flows[i%len(flows)], "code": wrong})
		}
		counts := mfaParallel(t, []*env{e}, bodies)
		if counts[401] < 1 || counts[401] > free || counts[401]+counts[429] != 200 {
			t.Fatalf("200 parallel wrong codes: %v, want at most %d evaluated (401) and the rest 429", counts, free)
		}
		mfaRetryAfter(t, m.second(m.passwordStep(), totp.Code(seed, totp.StepAt(e.clock.Now()))))
	})
}

// TestMFAHardLimit: after 100 consecutive wrong codes TOTP is blocked, even
// once every wait has passed, until a recovery code succeeds; the user is
// told once and the block is audited once.
func TestMFAHardLimit(t *testing.T) {
	mfaEach(t, func(t *testing.T, e *env) {
		m := mfaNewMember(e, "acme", "alice")
		seed, codes := e.enroll(&m.token, "phone")
		e.mail.Reset()

		// Each backoff is waited out: first by the wait the last one took,
		// which the next is at least, then by what Retry-After adds.
		var (
			flow    string
			flowAt  time.Time
			pre     time.Duration
			told    bool // the clock just moved by a Retry-After
			failed  int
			retries int
		)
		for failed < 100 {
			if flow == "" || e.clock.Now().Sub(flowAt) >= 9*time.Minute {
				flow, flowAt = m.passwordStep(), e.clock.Now()
			}
			r := m.second(flow, mfaWrong(e, seed))
			switch {
			case r.Status == 429:
				if told {
					t.Fatalf("after %d failures, still throttled after waiting Retry-After: %s", failed, r.Raw)
				}
				if failed < 10 {
					t.Fatalf("throttled after only %d failures", failed)
				}
				w := mfaRetryAfter(t, r)
				e.clock.Add(w)
				pre += w
				told = true
				retries++
				continue
			case r.Status == 401 && (r.code() == "invalid_code" || r.code() == "flow_ended"):
				failed++
				if r.code() == "flow_ended" {
					flow = ""
				}
				if failed < 100 && mfaMails(e, m.email, "") != 0 {
					t.Fatalf("mail after %d failures: %+v", failed, e.mail.Messages())
				}
			default:
				t.Fatalf("wrong code after %d failures: %d %s", failed, r.Status, r.Raw)
			}
			told = false
			e.clock.Add(pre)
		}
		// The backoff grows with the failures.
		if retries < 10 || pre < 5*time.Minute {
			t.Fatalf("%d backoffs in 100 failures, the last one %v", retries, pre)
		}
		if n := mfaMails(e, m.email, ""); n != 1 || mfaMails(e, m.email, mfaSubjectLocked) != 1 {
			t.Fatalf("%d mails after 100 failures, want the one lock notice: %+v", n, e.mail.Messages())
		}
		if n := mfaAudit(e, m.wsID, "mfa.locked", m.userID); n != 1 {
			t.Fatalf("%d mfa.locked events", n)
		}

		// Blocked: the right code is refused now, after the backoff, and
		// hours later.
		r := m.second(m.passwordStep(), e.code(seed))
		e.clock.Add(mfaRetryAfter(t, r))
		for _, later := range []time.Duration{0, time.Hour, 6 * time.Hour} {
			e.clock.Add(later)
			mfaRetryAfter(t, m.second(m.passwordStep(), e.code(seed)))
		}
		if n := mfaMails(e, m.email, mfaSubjectLocked); n != 1 {
			t.Fatalf("%d lock notices", n)
		}

		// A recovery code gets the user in and lifts the block.
		m.recover(m.passwordStep(), codes[0]).must(t, 200)
		m.signInTOTP(seed)
		m.second(m.passwordStep(), mfaWrong(e, seed)).must(t, 401)
		if n := mfaAudit(e, m.wsID, "mfa.locked", m.userID); n != 1 {
			t.Fatalf("%d mfa.locked events", n)
		}
	})
}

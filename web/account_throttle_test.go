package web_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

// acctRetryAfter fails unless r is a 429 with a Retry-After of at least a
// second, and returns it.
func acctRetryAfter(t *testing.T, r resp) time.Duration {
	t.Helper()
	acctWantError(t, r, 429, "too_many_attempts")
	n, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || n < 1 {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	return time.Duration(n) * time.Second
}

func acctSignInBody(slug, email, password string) map[string]string {
	return map[string]string{"workspace": slug, "email": email, "password": password}
}

// TestAccountThrottle checks the per-account password backoff: five
// failures, then even the right password waits; the wait grows; a success
// clears it; and an unknown email is throttled the same way.
func TestAccountThrottle(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { acctThrottle(t, d) })
	}
}

func acctThrottle(t *testing.T, d store.Dialect) {
	e := newEnv(t, d)
	_, admin := e.workspace("acme")
	const password = "harbor lilac compass 8"
	e.invite(admin, "alice@acme.test", "member", password)

	for range 5 {
		acctWantError(t, acctSignIn(e, "acme", "alice@acme.test", "wrong password 123"), 401, "invalid_credentials")
	}
	known := acctSignIn(e, "acme", "alice@acme.test", password)
	wait := acctRetryAfter(t, known)

	// An unknown email gets the same five tries and the same answer.
	for range 5 {
		acctWantError(t, acctSignIn(e, "acme", "ghost@acme.test", "wrong password 123"), 401, "invalid_credentials")
	}
	unknown := acctSignIn(e, "acme", "ghost@acme.test", password)
	if unknown.Raw != known.Raw || unknown.Header.Get("Retry-After") != known.Header.Get("Retry-After") {
		t.Fatalf("unknown email throttled as %s (%s), known as %s (%s)",
			unknown.Raw, unknown.Header.Get("Retry-After"), known.Raw, known.Header.Get("Retry-After"))
	}

	// Waiting Retry-After is enough; a further failure doubles the wait.
	e.clock.Add(wait)
	acctWantError(t, acctSignIn(e, "acme", "alice@acme.test", "wrong password 123"), 401, "invalid_credentials")
	wait2 := acctRetryAfter(t, acctSignIn(e, "acme", "alice@acme.test", password))
	if wait2 <= wait {
		t.Fatalf("backoff did not grow: %v then %v", wait, wait2)
	}
	e.clock.Add(wait2)
	e.signIn("acme", "alice@acme.test", password)

	// The success cleared the counter: five fresh failures are answered as
	// failures, and only then does the backoff start again, from the start.
	for range 5 {
		acctWantError(t, acctSignIn(e, "acme", "alice@acme.test", "wrong password 123"), 401, "invalid_credentials")
	}
	if w := acctRetryAfter(t, acctSignIn(e, "acme", "alice@acme.test", password)); w != wait {
		t.Fatalf("backoff after a success starts at %v, want %v", w, wait)
	}
}

// TestAccountThrottleInstances checks that the password counter lives in
// the database: failures spread over two instances add up.
func TestAccountThrottleInstances(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { acctThrottleInstances(t, d) })
	}
}

func acctThrottleInstances(t *testing.T, d store.Dialect) {
	a := newEnv(t, d)
	_, admin := a.workspace("acme")
	const password = "juniper atlas meadow 6"
	a.invite(admin, "alice@acme.test", "member", password)
	b := acctSecondInstance(a)

	for i := range 5 {
		inst := []*env{a, b}[i%2]
		acctWantError(t, acctSignIn(inst, "acme", "alice@acme.test", "wrong password 123"), 401, "invalid_credentials")
	}
	wait := acctRetryAfter(t, acctSignIn(b, "acme", "alice@acme.test", password))
	acctRetryAfter(t, acctSignIn(a, "acme", "alice@acme.test", password))
	a.clock.Add(wait)
	b.signIn("acme", "alice@acme.test", password)
	// B's success cleared the counter for A as well.
	for range 5 {
		acctWantError(t, acctSignIn(a, "acme", "alice@acme.test", "wrong password 123"), 401, "invalid_credentials")
	}
}

// TestAccountThrottleNoLockout floods one account from an attacker's
// address for hours, guessing whenever allowed: the wait never exceeds 15
// minutes, and the real user, from elsewhere, gets in 15 minutes after the
// attacker's last guess.
func TestAccountThrottleNoLockout(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { acctThrottleNoLockout(t, d) })
	}
}

func acctThrottleNoLockout(t *testing.T, d store.Dialect) {
	e := newEnv(t, d)
	_, admin := e.workspace("acme")
	const password = "quartz umbrella falcon 4"
	e.invite(admin, "alice@acme.test", "member", password)
	p := acctBehindProxy(e)
	attacker, user := acctFrom("203.0.113.9"), acctFrom("198.51.100.7")

	start := e.clock.Now()
	guesses, longest := 0, time.Duration(0)
	for {
		r := p.callWith("POST", "/api/v1/sign-in", attacker, acctSignInBody("acme", "alice@acme.test", fmt.Sprintf("guess number %04d", guesses)))
		if r.Status == http.StatusUnauthorized {
			guesses++
			if e.clock.Now().Sub(start) >= 3*time.Hour {
				break
			}
			continue
		}
		w := acctRetryAfter(t, r)
		if w > 15*time.Minute {
			t.Fatalf("after %d guesses the wait is %v", guesses, w)
		}
		longest = max(longest, w)
		e.clock.Add(w)
	}
	if longest != 15*time.Minute || guesses < 15 {
		t.Fatalf("%d guesses in 3 hours, longest wait %v: the backoff is not doing its job", guesses, longest)
	}
	// The attacker just guessed, so the account is blocked for its longest
	// wait; the user gets in once that is over.
	acctRetryAfter(t, p.callWith("POST", "/api/v1/sign-in", user, acctSignInBody("acme", "alice@acme.test", password)))
	e.clock.Add(15 * time.Minute)
	p.callWith("POST", "/api/v1/sign-in", user, acctSignInBody("acme", "alice@acme.test", password)).must(t, 200)
}

// TestAccountThrottleIP checks the per-IP limiter: one client guessing one
// password each on many accounts is stopped, X-Forwarded-For from an
// untrusted peer does not get around it, and other clients behind a trusted
// proxy are not affected.
func TestAccountThrottleIP(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { acctThrottleIP(t, d) })
	}
}

func acctThrottleIP(t *testing.T, d store.Dialect) {
	e := newEnv(t, d)
	_, admin := e.workspace("acme")
	const password = "tundra saddle pigment 2"
	e.invite(admin, "alice@acme.test", "member", password)

	throttled := -1
	for i := range 200 {
		r := acctSignIn(e, "acme", fmt.Sprintf("user%03d@acme.test", i), "Winter2026!!x")
		if r.Status == http.StatusTooManyRequests {
			throttled = i
			break
		}
		acctWantError(t, r, 401, "invalid_credentials")
	}
	if throttled < 0 || throttled > 100 {
		t.Fatalf("one address guessed %d accounts before a throttle", throttled)
	}
	// Now even a fresh account with its right password waits, spoofed
	// header or not: 127.0.0.1 is no trusted proxy of e.
	wait := acctRetryAfter(t, acctSignIn(e, "acme", "alice@acme.test", password))
	acctRetryAfter(t, e.callWith("POST", "/api/v1/sign-in", acctFrom("198.51.100.7"), acctSignInBody("acme", "alice@acme.test", password)))

	// Behind a trusted proxy, another client is told apart and gets in.
	p := acctBehindProxy(e)
	p.callWith("POST", "/api/v1/sign-in", acctFrom("198.51.100.7"), acctSignInBody("acme", "alice@acme.test", password)).must(t, 200)
	acctRetryAfter(t, p.callWith("POST", "/api/v1/sign-in", acctFrom("127.0.0.1"), acctSignInBody("acme", "alice@acme.test", password)))

	e.clock.Add(wait)
	e.signIn("acme", "alice@acme.test", password)
}

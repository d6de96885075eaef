package web_test

import (
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho/store"
)

// cluster is several sekisho instances on one PostgreSQL database, each
// with its own connection pool, session cache and invalidation listener,
// sharing keys, clock and mailbox: servers behind a load balancer.
type cluster struct {
	envs []*env
	mu   sync.Mutex
	next int
}

func newCluster(t *testing.T, n int) *cluster {
	e := newEnv(t, store.Postgres)
	c := &cluster{envs: []*env{e}}
	for range n - 1 {
		c.envs = append(c.envs, acctSecondInstance(e))
	}
	return c
}

// pick returns the next instance, round robin.
func (c *cluster) pick() *env {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.envs[c.next%len(c.envs)]
	c.next++
	return e
}

// everywhere checks a session on every instance, which (once it succeeds)
// leaves it in every instance's cache.
func (c *cluster) everywhere(t *testing.T, token string, status int) {
	t.Helper()
	for i, e := range c.envs {
		if r := e.call("GET", "/api/v1/session", token, nil); r.Status != status {
			t.Fatalf("instance %d: session check %d, want %d: %s", i, r.Status, status, r.Raw)
		}
	}
}

// TestScaleOut runs three instances on one PostgreSQL database and checks
// that what must hold across instances does: a session revoked, disabled,
// demoted or put out of policy through one instance is refused or changed
// on the others at their very next request (each had it cached); the
// password throttle counts failures from all of them; a TOTP code and a
// recovery code are each good once in all; the last admin stays.
func TestScaleOut(t *testing.T) {
	c := newCluster(t, 3)
	e := c.envs[0]
	wsID, admin := e.workspace("acme")
	const password = "lantern meadow orbit 4"

	t.Run("revocation", func(t *testing.T) {
		bobID := e.invite(admin, "bob@acme.test", "member", password)
		for i, via := range c.envs {
			// Signing out through one instance ends the session on all.
			tok := c.pick().signIn("acme", "bob@acme.test", password)
			c.everywhere(t, tok, 200)
			via.call("POST", "/api/v1/sign-out", tok, nil).must(t, 204)
			c.everywhere(t, tok, 401)

			// So does an admin's role change, which ends the user's sessions
			// so that no session carries the old role.
			tok = c.pick().signIn("acme", "bob@acme.test", password)
			c.everywhere(t, tok, 200)
			role := []string{"user_admin", "member", "user_admin"}[i]
			via.call("PATCH", "/api/v1/admin/users/"+bobID, admin, map[string]any{"role": role}).must(t, 200)
			c.everywhere(t, tok, 401)
			tok = c.pick().signIn("acme", "bob@acme.test", password)
			for j, x := range c.envs {
				if got := x.call("GET", "/api/v1/session", tok, nil).must(t, 200).str("role"); got != role {
					t.Fatalf("instance %d after a role change through %d: role %q, want %q", j, i, got, role)
				}
			}

			// And disabling the user.
			via.call("PATCH", "/api/v1/admin/users/"+bobID, admin, map[string]any{"status": "disabled"}).must(t, 200)
			c.everywhere(t, tok, 401)
			via.call("PATCH", "/api/v1/admin/users/"+bobID, admin, map[string]any{"status": "active"}).must(t, 200)
		}
	})

	t.Run("policy", func(t *testing.T) {
		e.enroll(&admin, "admin phone") // only an admin with MFA may require it
		e.invite(admin, "carol@acme.test", "member", password)
		tok := e.signIn("acme", "carol@acme.test", password)
		c.everywhere(t, tok, 200)
		// Require MFA with no grace period: a session without MFA is out
		// of policy on every instance at once.
		c.envs[1].call("PATCH", "/api/v1/admin/workspace", admin, map[string]any{"require_mfa": true, "mfa_grace_days": 0, "password": adminPassword}).must(t, 200)
		for _, x := range c.envs {
			acctWantError(t, x.call("GET", "/api/v1/session", tok, nil), 401, "mfa_enrollment_required")
		}
		c.envs[2].call("PATCH", "/api/v1/admin/workspace", admin, map[string]any{"require_mfa": false, "password": adminPassword}).must(t, 200)
	})

	t.Run("password throttle", func(t *testing.T) {
		e.invite(admin, "dave@acme.test", "member", password)
		for range 5 {
			acctWantError(t, acctSignIn(c.pick(), "acme", "dave@acme.test", "wrong password 123"), 401, "invalid_credentials")
		}
		// Five failures spread over three instances: each instance now
		// makes even the right password wait.
		for _, x := range c.envs {
			acctRetryAfter(t, acctSignIn(x, "acme", "dave@acme.test", password))
		}
	})

	t.Run("one code, one recovery code", func(t *testing.T) {
		m := mfaJoin(e, "acme", wsID, admin, "erin")
		seed, codes := e.enroll(&m.token, "phone")

		// One TOTP code sent in 12 flows at once, over three instances.
		code := e.code(seed)
		var bodies []map[string]string
		for _, f := range mfaFlows(t, m, c.envs, 12) {
			bodies = append(bodies, map[string]string{"flow_token": f, "code": code})
		}
		if n := mfaParallel(t, c.envs, bodies); n[200] != 1 {
			t.Fatalf("one code in 12 parallel sign-ins on three instances: %v, want exactly one 200", n)
		}

		// One recovery code likewise. The losers' TOTP failures above may
		// still hold the second-factor backoff: let it pass.
		e.clock.Add(30 * time.Minute)
		bodies = nil
		for _, f := range mfaFlows(t, m, c.envs, 12) {
			bodies = append(bodies, map[string]string{"flow_token": f, "recovery_code": codes[0]})
		}
		if n := mfaParallel(t, c.envs, bodies); n[200] != 1 {
			t.Fatalf("one recovery code in 12 parallel sign-ins on three instances: %v, want exactly one 200", n)
		}
	})

	t.Run("last admin", func(t *testing.T) {
		// Two admins each demote the other at once, through different
		// instances: one change wins, and an admin remains.
		otherID := e.invite(admin, "frank@acme.test", "workspace_admin", password)
		other := c.envs[1].signIn("acme", "frank@acme.test", password)
		me := acctUserID(e, admin)
		var wg sync.WaitGroup
		status := make([]int, 2)
		start := make(chan struct{})
		for i, x := range []struct {
			e             *env
			token, target string
		}{{c.envs[1], admin, otherID}, {c.envs[2], other, me}} {
			wg.Go(func() {
				<-start
				status[i] = x.e.call("PATCH", "/api/v1/admin/users/"+x.target, x.token, map[string]any{"role": "member"}).Status
			})
		}
		close(start)
		wg.Wait()
		if status[0] == 200 && status[1] == 200 || status[0] != 200 && status[1] != 200 {
			t.Fatalf("two admins demoting each other at once: %v, want exactly one 200", status)
		}
		lister := admin
		if status[1] == 200 {
			lister = other
		}
		admins := 0
		for _, u := range c.envs[0].call("GET", "/api/v1/admin/users?role=workspace_admin", lister, nil).must(t, 200).Body["users"].([]any) {
			if u.(map[string]any)["status"] == "active" {
				admins++
			}
		}
		if admins != 1 {
			t.Fatalf("%d active admins left, want 1", admins)
		}
	})
}

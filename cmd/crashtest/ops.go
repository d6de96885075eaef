package main

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"syscall"
	"time"

	"github.com/sekisho/sekisho/totp"
)

// agent sends requests and keeps the model in step with their answers: a
// worker during the load, or the checker between a restart and the next
// load.
type agent struct {
	r     *runner
	c     *client
	rng   *rand.Rand
	cycle int

	admin    bool           // does only admin actions (and sign-outs): no password hashes
	onAck    func()         // called after each acknowledged request
	inflight *inflight      // the request whose answer never came
	acked    map[string]int // acknowledged requests by kind
	refused  int            // answers the model expects now and then (429, a code of a step gone by)
}

// inflight is a request whose answer never came: after the restart the
// database must show u as it was, or as after.
type inflight struct {
	u     *user
	after *user
	what  string
}

func (r *runner) newAgent(cycle int, rng *rand.Rand) *agent {
	return &agent{r: r, c: newClient(r.base, randomLoopback(rng)), rng: rng, cycle: cycle, acked: map[string]int{}}
}

// errNoAnswer ends a worker: the server is gone.
var errNoAnswer = errors.New("no answer")

// send sends one request of an operation on u. If the answer has status
// want, effect applies it to u. If no answer comes, the request is in
// flight: effect is played on a copy of u, with a nil answer, as what may
// have happened. Other answers are returned for the caller to judge.
func (a *agent) send(ctx context.Context, u *user, what, method, path, token string, body any, want int, effect func(m *user, r *response)) (*response, error) {
	r, err := a.c.do(ctx, method, path, token, body)
	if err != nil && errors.Is(err, syscall.ECONNREFUSED) {
		return nil, errNoAnswer // never reached a server
	}
	if err == nil && r.status >= 500 {
		// Not a finding in itself (PostgreSQL refusing connections when
		// others use them all is one cause), but its outcome is unknown,
		// and the check after the restart holds it to all or nothing.
		a.r.warn(a.cycle, "%s for %s: status %d: %s", what, u.email, r.status, r.raw)
		err = errors.New("server error")
	}
	if err != nil {
		after := u.clone()
		effect(after, nil)
		a.inflight = &inflight{u: u, after: after, what: what}
		return nil, errNoAnswer
	}
	if r.status == want {
		effect(u, r)
		a.acked[what]++
		if a.onAck != nil {
			a.onAck()
		}
	}
	return r, nil
}

// judge records an answer other than the one wanted: throttling and the
// listed error codes are expected now and then; anything else means the
// server disagrees with the acknowledged state.
func (a *agent) judge(u *user, what string, r *response, tolerated ...string) {
	if r.status == http.StatusTooManyRequests || slices.Contains(tolerated, r.code()) {
		a.refused++
		return
	}
	a.r.finding(a.cycle, "%s for %s: unexpected answer %d: %s", what, u.email, r.status, r.raw)
}

func tok(r *response) string {
	if r == nil {
		return ""
	}
	return r.str("session_token")
}

func decodeSeed(s string) []byte {
	b, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	return b
}

// passwordStep sends the password. For a user without MFA it returns a
// session token, else the flow token of the second step.
func (a *agent) passwordStep(ctx context.Context, u *user) (token, flow string, err error) {
	body := map[string]string{"workspace": a.r.slug, "email": u.email, "password": u.password}
	hadMFA := u.hasMFA
	r, err := a.send(ctx, u, "sign-in", "POST", "/api/v1/sign-in", "", body, http.StatusOK, func(m *user, r *response) {
		if m.hasMFA {
			m.audit["user.sign_in.password"]++
		} else {
			m.addSession(tok(r), time.Now())
			m.audit["user.sign_in"]++
		}
	})
	if err != nil {
		return "", "", err
	}
	if r.status != http.StatusOK {
		a.judge(u, "sign-in", r)
		return "", "", nil
	}
	want := "signed_in"
	if hadMFA {
		want = "mfa_required"
	}
	if got := r.str("state"); got != want {
		a.r.finding(a.cycle, "sign-in of %s: state %s, want %s: %s", u.email, got, want, r.raw)
		return "", "", nil
	}
	return r.str("session_token"), r.str("flow_token"), nil
}

// signIn signs u in, with a second factor if they have one: a TOTP code of
// a step not used yet, or one of their recovery codes. It returns "" when
// no factor is at hand or the server refused.
func (a *agent) signIn(ctx context.Context, u *user) (string, error) {
	token, flow, err := a.passwordStep(ctx, u)
	if err != nil || flow == "" {
		return token, err
	}
	id, step := usableStep(u, time.Now())
	idx := u.unusedCode()
	switch {
	case idx >= 0 && (id == "" || a.rng.IntN(3) == 0):
		code := u.rc.codes[idx]
		what := "sign-in with a recovery code"
		r, err := a.send(ctx, u, what, "POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": flow, "recovery_code": code}, http.StatusOK,
			func(m *user, r *response) {
				m.rc.used[idx] = true
				m.rc.unused--
				m.rc.spent++
				m.audit["mfa.recovery_code_used"]++
				m.audit["user.sign_in"]++
				m.addSession(tok(r), time.Now())
				m.spentCodes = append(m.spentCodes, spentCode{code})
			})
		if err != nil {
			return "", err
		}
		if r.status != http.StatusOK {
			a.judge(u, what, r)
			return "", nil
		}
		return r.str("session_token"), nil
	case id != "":
		seed := u.auths[id].seed
		what := "sign-in with a TOTP code"
		r, err := a.send(ctx, u, what, "POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": flow, "code": totp.Code(seed, step)}, http.StatusOK,
			func(m *user, r *response) {
				m.auths[id].lastStep = step
				m.audit["user.sign_in"]++
				m.addSession(tok(r), time.Now())
				m.spentSteps = append(m.spentSteps, spentStep{authID: id, seed: seed, step: step})
			})
		if err != nil {
			return "", err
		}
		if r.status != http.StatusOK {
			// A code of the step before can go stale on the way.
			a.judge(u, what, r, "invalid_code")
			return "", nil
		}
		return r.str("session_token"), nil
	}
	return "", nil // no factor at hand: the sign-in stops after the password
}

// usableStep returns an authenticator of u and the earliest step the server
// would still accept from it now (one step of skew each way, and only
// steps after the last one used), or "".
func usableStep(u *user, now time.Time) (string, int64) {
	t := totp.StepAt(now)
	best, bestStep := "", int64(0)
	for _, id := range sortedKeys(u.auths) {
		s := max(u.auths[id].lastStep+1, t-1)
		if s <= t+1 && (best == "" || s < bestStep) {
			best, bestStep = id, s
		}
	}
	return best, bestStep
}

// session returns a token of u recent enough for sensitive calls, signing
// in for one if needed.
func (a *agent) session(ctx context.Context, u *user) (string, error) {
	if t := u.freshSession(time.Now()); t != "" {
		return t, nil
	}
	return a.signIn(ctx, u)
}

// enroll adds a TOTP authenticator from account settings: start, then
// confirm with a code from it. The first one brings recovery codes and
// every confirmation replaces the user's sessions with a new one.
func (a *agent) enroll(ctx context.Context, u *user) error {
	token, err := a.session(ctx, u)
	if err != nil || token == "" {
		return err
	}
	what := "start TOTP"
	r, err := a.send(ctx, u, what, "POST", "/api/v1/me/mfa/totp", token, map[string]string{"name": fmt.Sprintf("phone %d", a.rng.IntN(1000))}, http.StatusCreated,
		func(m *user, r *response) {
			if r != nil { // else the id is unknown: nothing to check
				m.pending[r.str("id")] = &authn{seed: decodeSeed(r.str("secret"))}
			}
		})
	if err != nil {
		return err
	}
	if r.status != http.StatusCreated {
		// Pending authenticators left by kills count until they expire.
		a.judge(u, what, r, "too_many_authenticators")
		return nil
	}
	id := r.str("id")
	seed := u.pending[id].seed
	step := totp.StepAt(time.Now())
	first := !u.hasMFA
	what = "confirm TOTP"
	r, err = a.send(ctx, u, what, "POST", "/api/v1/me/mfa/totp/"+id+"/confirm", token, map[string]string{"code": totp.Code(seed, step)}, http.StatusOK,
		func(m *user, r *response) {
			au := m.pending[id]
			delete(m.pending, id)
			au.lastStep = step
			m.auths[id] = au
			m.revokeAll()
			m.addSession(tok(r), time.Now())
			if !m.hasMFA {
				var codes []string
				if r != nil {
					codes = r.strs("recovery_codes")
				}
				m.newRecoverySet(codes)
			}
			m.hasMFA, m.resetAt = true, false
			m.audit["mfa.enrolled"]++
			m.spentSteps = append(m.spentSteps, spentStep{authID: id, seed: seed, step: step})
		})
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		a.judge(u, what, r, "invalid_code")
		return nil
	}
	if n := len(r.strs("recovery_codes")); (first && n != 10) || (!first && n != 0) {
		a.r.finding(a.cycle, "confirm TOTP of %s: %d recovery codes (first factor %v)", u.email, n, first)
	}
	return nil
}

// regenerate replaces u's recovery codes and signs u's other sessions out.
func (a *agent) regenerate(ctx context.Context, u *user) error {
	token, err := a.session(ctx, u)
	if err != nil || token == "" {
		return err
	}
	what := "regenerate recovery codes"
	r, err := a.send(ctx, u, what, "POST", "/api/v1/me/mfa/recovery-codes", token, map[string]string{}, http.StatusOK,
		func(m *user, r *response) {
			var codes []string
			if r != nil {
				codes = r.strs("recovery_codes")
			}
			m.newRecoverySet(codes)
			m.revokeOthers(token)
			m.audit["mfa.recovery_codes_regenerated"]++
		})
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		a.judge(u, what, r)
	}
	return nil
}

// signOut ends one of u's sessions.
func (a *agent) signOut(ctx context.Context, u *user) error {
	token := u.sessions[a.rng.IntN(len(u.sessions))].token
	what := "sign out"
	r, err := a.send(ctx, u, what, "POST", "/api/v1/sign-out", token, nil, http.StatusNoContent,
		func(m *user, r *response) {
			m.revoke(token)
			m.audit["session.sign_out"]++
		})
	if err != nil {
		return err
	}
	if r.status != http.StatusNoContent {
		a.judge(u, what, r)
	}
	return nil
}

// resetMFA is an admin's reset of u's MFA.
func (a *agent) resetMFA(ctx context.Context, u *user) error {
	what := "admin MFA reset"
	r, err := a.send(ctx, u, what, "DELETE", "/api/v1/admin/users/"+u.id+"/mfa", a.r.adminToken(a.rng), map[string]string{}, http.StatusOK,
		func(m *user, r *response) {
			m.clearMFA()
			m.revokeAll()
			m.audit["mfa.reset"]++
		})
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		a.judge(u, what, r)
	}
	return nil
}

var roles = []string{"member", "user_admin", "workspace_admin"}

// changeRole is an admin's change of u's role.
func (a *agent) changeRole(ctx context.Context, u *user) error {
	others := slices.DeleteFunc(slices.Clone(roles), func(r string) bool { return r == u.role })
	role := others[a.rng.IntN(len(others))]
	what := "admin role change"
	r, err := a.send(ctx, u, what, "PATCH", "/api/v1/admin/users/"+u.id, a.r.adminToken(a.rng), map[string]string{"role": role}, http.StatusOK,
		func(m *user, r *response) {
			m.role = role
			m.revokeAll()
			m.audit["user.role_changed"]++
		})
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		a.judge(u, what, r)
	} else if got := r.str("role"); got != role {
		a.r.finding(a.cycle, "role change of %s: answer says role %s, want %s", u.email, got, role)
	}
	return nil
}

// setStatus is an admin disabling or enabling u.
func (a *agent) setStatus(ctx context.Context, u *user, status string) error {
	what := "admin status change"
	r, err := a.send(ctx, u, what, "PATCH", "/api/v1/admin/users/"+u.id, a.r.adminToken(a.rng), map[string]string{"status": status}, http.StatusOK,
		func(m *user, r *response) {
			m.status = status
			if status == "disabled" {
				m.revokeAll()
				m.audit["user.disabled"]++
			} else {
				m.audit["user.enabled"]++
			}
		})
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		a.judge(u, what, r)
	}
	return nil
}

// op runs one operation on u, chosen at random among those that make sense
// for u's state.
func (a *agent) op(ctx context.Context, u *user) error {
	if u.status == "disabled" {
		return a.setStatus(ctx, u, "active")
	}
	signIn := func() error { _, err := a.signIn(ctx, u); return err }
	var choices []choice
	if n := len(u.sessions); n > 0 {
		choices = append(choices, choice{5 + 5*n, func() error { return a.signOut(ctx, u) }})
	}
	if a.admin {
		choices = append(choices,
			choice{10, func() error { return a.changeRole(ctx, u) }},
			choice{1 + btoi(u.hasMFA), func() error { return a.resetMFA(ctx, u) }},
			choice{3, func() error { return a.setStatus(ctx, u, "disabled") }})
		return a.pick(choices)
	}
	choices = append(choices, []choice{
		{30, signIn},
		{10, func() error { return a.changeRole(ctx, u) }},
		{4, func() error { return a.setStatus(ctx, u, "disabled") }},
	}...)
	switch {
	case !u.hasMFA:
		choices = append(choices, choice{30, func() error { return a.enroll(ctx, u) }}, choice{2, func() error { return a.resetMFA(ctx, u) }})
	default:
		choices = append(choices, choice{3, func() error { return a.resetMFA(ctx, u) }}, choice{4, func() error { return a.regenerate(ctx, u) }})
		if len(u.auths) < 3 {
			choices = append(choices, choice{8, func() error { return a.enroll(ctx, u) }})
		}
	}
	return a.pick(choices)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

type choice struct {
	weight int
	run    func() error
}

// pick runs one of choices, chosen at random by weight.
func (a *agent) pick(choices []choice) error {
	total := 0
	for _, c := range choices {
		total += c.weight
	}
	n := a.rng.IntN(total)
	for _, c := range choices {
		if n < c.weight {
			return c.run()
		}
		n -= c.weight
	}
	return nil
}

// load runs operations on users until the server stops answering.
func (a *agent) load(ctx context.Context, users []*user) {
	sort.Slice(users, func(i, j int) bool { return users[i].email < users[j].email })
	for ctx.Err() == nil {
		if err := a.op(ctx, users[a.rng.IntN(len(users))]); err != nil {
			return
		}
	}
}

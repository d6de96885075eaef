package web_test

// The races that matter (SECURITY.md, issue 7), each over both databases
// and through the HTTP API: many requests released together by a start
// barrier, for several rounds, then the invariant checked from the answers,
// the API and the audit log.
//
//   - the last-admin rule under many admins removing each other at once;
//   - one TOTP code sent many times at once (sign-in and re-authentication);
//   - one recovery code spent many times at once;
//   - Require MFA switched on while users without MFA sign in;
//   - an MFA reset while the user is between password and code;
//   - two admins changing one user at once.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

// concRequests is how many requests each round releases at once.
const concRequests = 16

// concEach runs fn on a fresh sekisho over each database, side by side.
func concEach(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, d)
			fn(t, e)
			e.svc.Wait()
		})
	}
}

// concSecondInstance starts another sekisho on e's database, as a second
// server behind a load balancer would be.
func concSecondInstance(t *testing.T, e *env) *env {
	t.Helper()
	db, err := store.Open(context.Background(), e.dbURL, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return newEnvOn(t, db, e.dbURL, e)
}

// concReq is one request of a race.
type concReq struct {
	e            *env
	method, path string
	token        string
	body         any
}

// concRace sends reqs all at once, each from its own goroutine released by
// one barrier, and returns the answers in the same order.
func concRace(t *testing.T, reqs []concReq) []resp {
	t.Helper()
	out := make([]resp, len(reqs))
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, r := range reqs {
		wg.Go(func() {
			<-start
			out[i], errs[i] = concSend(r)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d (%s %s): %v", i, reqs[i].method, reqs[i].path, err)
		}
	}
	return out
}

// concSend is env.call for goroutines: a transport failure is returned, not
// fatal.
func concSend(r concReq) (resp, error) {
	var rd io.Reader
	if r.body != nil {
		j, err := json.Marshal(r.body)
		if err != nil {
			return resp{}, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(r.method, r.e.srv.URL+r.path, rd)
	if err != nil {
		return resp{}, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	res, err := r.e.srv.Client().Do(req)
	if err != nil {
		return resp{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return resp{}, err
	}
	out := resp{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	if len(raw) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			return out, fmt.Errorf("bad JSON %q", raw)
		}
	}
	return out, nil
}

// concEvents returns the audit events of workspace wsID about target (all
// targets if ""), oldest first, read from the store so that no session is
// needed.
func concEvents(t *testing.T, e *env, wsID, target string) []*sekisho.AuditEvent {
	t.Helper()
	var evs []*sekisho.AuditEvent
	err := e.db.View(context.Background(), func(tx *store.Tx) error {
		var err error
		evs, err = tx.AuditEvents(store.AuditFilter{WorkspaceID: wsID, TargetID: target, Limit: 10000})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(evs)
	return evs
}

// concUser reads a user from the store; ok is false once deleted.
func concUser(t *testing.T, e *env, wsID, id string) (u *sekisho.User, ok bool) {
	t.Helper()
	err := e.db.View(context.Background(), func(tx *store.Tx) error {
		var err error
		u, err = tx.User(wsID, id)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return u, true
}

// concMe returns the user id behind token.
func concMe(e *env, token string) string {
	e.t.Helper()
	return e.call("GET", "/api/v1/me", token, nil).must(e.t, 200).str("id")
}

// concChange splits an audit detail "before→after".
func concChange(t *testing.T, ev *sekisho.AuditEvent, key string) (before, after string, ok bool) {
	t.Helper()
	v, ok := ev.Details[key]
	if !ok {
		return "", "", false
	}
	before, after, found := strings.Cut(v, "→")
	if !found {
		t.Fatalf("event %d %s: detail %s=%q is not before→after", ev.ID, ev.Type, key, v)
	}
	return before, after, true
}

// concState is a user's role and status, or that they are gone.
type concState struct {
	role, status string
	deleted      bool
}

func (s concState) activeAdmin() bool {
	return !s.deleted && s.role == string(sekisho.RoleWorkspaceAdmin) && s.status == string(sekisho.StatusActive)
}

// TestConcurrencyLastAdmin: four or eight active workspace admins send
// sixteen removals at once — demote to member or user admin, disable,
// delete — each aimed at a random admin, themselves included. Every round ends with an
// active workspace admin; every refusal is one of the documented ones;
// replayed in commit order, the audit log never shows the workspace
// without an active workspace admin, nor a removal made by someone who was
// no longer an active workspace admin, and it ends in the state the
// database holds.
func TestConcurrencyLastAdmin(t *testing.T) {
	const rounds = 6
	actions := []string{"member", "user_admin", "disabled", "delete"}
	concEach(t, func(t *testing.T, e *env) {
		for round := range rounds {
			admins := 4 + 4*(round%2) // four admins hit the rule more often, eight race more ways
			slug := fmt.Sprintf("last%d", round)
			wsID, owner := e.workspace(slug)
			ids, tokens := []string{concMe(e, owner)}, []string{owner}
			for i := 1; i < admins; i++ {
				email := fmt.Sprintf("admin%d@%s.test", i, slug)
				ids = append(ids, e.invite(owner, email, "workspace_admin", adminPassword))
				tokens = append(tokens, e.signIn(slug, email, adminPassword))
			}
			index := map[string]int{}
			for i, id := range ids {
				index[id] = i
			}
			rng := rand.New(rand.NewPCG(uint64(round), 7))
			type attempt struct {
				actor, target int
				action        string
			}
			var plan []attempt
			var reqs []concReq
			for i := range concRequests {
				a := attempt{actor: i % admins, target: rng.IntN(admins), action: actions[rng.IntN(len(actions))]}
				plan = append(plan, a)
				r := concReq{e: e, token: tokens[a.actor], method: "PATCH", path: "/api/v1/admin/users/" + ids[a.target]}
				switch a.action {
				case "delete":
					r.method = "DELETE"
				case "disabled":
					r.body = map[string]string{"status": a.action}
				default:
					r.body = map[string]string{"role": a.action}
				}
				reqs = append(reqs, r)
			}
			res := concRace(t, reqs)

			// The final state, from the database.
			final := make([]concState, admins)
			active := 0
			for i, id := range ids {
				if u, ok := concUser(t, e, wsID, id); ok {
					final[i] = concState{role: string(u.Role), status: string(u.Status)}
				} else {
					final[i] = concState{deleted: true}
				}
				if final[i].activeAdmin() {
					active++
				}
			}
			if active < 1 {
				t.Fatalf("round %d: no active workspace admin left: %+v", round, final)
			}

			// Every answer is a success or a documented refusal.
			won := map[[2]int]int{} // (actor, target) → successes
			refused := 0
			for i, r := range res {
				a := plan[i]
				self := a.actor == a.target
				switch {
				case r.Status == 200 || r.Status == 204:
					won[[2]int{a.actor, a.target}]++
				case r.Status == 409 && r.code() == "last_workspace_admin":
					refused++
				case r.Status == 409 && self && a.action == "disabled" && r.code() == "cannot_disable_self":
				case r.Status == 409 && self && a.action == "delete" && r.code() == "cannot_delete_self":
				case r.Status == 401 && !final[a.actor].activeAdmin():
					// The actor's sessions ended with their own removal.
				case r.Status == 404 && r.code() == "not_found" && final[a.target].deleted:
				default:
					t.Errorf("round %d: admin %d %s admin %d: %d %s (actor ends %+v, target ends %+v)",
						round, a.actor, a.action, a.target, r.Status, r.Raw, final[a.actor], final[a.target])
				}
			}

			// Replay the audit log in commit order.
			state := make([]concState, admins)
			for i := range state {
				state[i] = concState{role: string(sekisho.RoleWorkspaceAdmin), status: string(sekisho.StatusActive)}
			}
			events, stale := 0, 0
			for _, ev := range concEvents(t, e, wsID, "") {
				switch ev.Type {
				case "user.role_changed", "user.disabled", "user.enabled", "user.updated", "user.deleted":
				default:
					continue
				}
				if ev.Result != sekisho.ResultSuccess {
					continue
				}
				ti, ok := index[ev.TargetID]
				ai, ok2 := index[ev.ActorID]
				if !ok || !ok2 {
					t.Fatalf("round %d: event %d %s by %q on %q: not one of the admins", round, ev.ID, ev.Type, ev.ActorID, ev.TargetID)
				}
				events++
				if won[[2]int{ai, ti}] == 0 {
					t.Errorf("round %d: event %d %s by admin %d on admin %d, with no success answered for that pair", round, ev.ID, ev.Type, ai, ti)
				}
				won[[2]int{ai, ti}]--
				if !state[ai].activeAdmin() {
					stale++
					t.Errorf("round %d: event %d %s on admin %d was made by admin %d, who at that point was %+v, no longer an active workspace admin",
						round, ev.ID, ev.Type, ti, ai, state[ai])
				}
				if state[ti].deleted {
					t.Fatalf("round %d: event %d %s on admin %d after their deletion", round, ev.ID, ev.Type, ti)
				}
				if ev.Type == "user.deleted" {
					if ev.Details["role"] != state[ti].role {
						t.Fatalf("round %d: event %d deleted admin %d as %s; they were %s", round, ev.ID, ti, ev.Details["role"], state[ti].role)
					}
					state[ti].deleted = true
				} else {
					for key, field := range map[string]*string{"role": &state[ti].role, "status": &state[ti].status} {
						if before, after, ok := concChange(t, ev, key); ok {
							if before != *field {
								t.Fatalf("round %d: event %d %s says admin %d's %s was %s; it was %s", round, ev.ID, ev.Type, ti, key, before, *field)
							}
							*field = after
						}
					}
				}
				n := 0
				for _, s := range state {
					if s.activeAdmin() {
						n++
					}
				}
				if n == 0 {
					t.Fatalf("round %d: after event %d (%s by admin %d on admin %d) no active workspace admin is left", round, ev.ID, ev.Type, ai, ti)
				}
			}
			for i := range state {
				if state[i].deleted != final[i].deleted || !final[i].deleted && state[i] != final[i] {
					t.Errorf("round %d: admin %d: audit log ends at %+v, the database holds %+v", round, i, state[i], final[i])
				}
			}
			if t.Failed() {
				return
			}
			t.Logf("round %d: %d changes (%d by an admin already removed), %d refused as the last admin, %d active workspace admins left", round, events, stale, refused, active)
		}
	})
}

// concCounts counts answers by status and error code ("200", "401
// invalid_code", …).
func concCounts(res []resp) map[string]int {
	out := map[string]int{}
	for _, r := range res {
		k := fmt.Sprint(r.Status)
		if c := r.code(); c != "" {
			k += " " + c
		}
		out[k]++
	}
	return out
}

// concCount counts the events of type typ with result among evs whose
// details hold every key/value pair of want.
func concCount(evs []*sekisho.AuditEvent, typ, result string, want map[string]string) int {
	n := 0
next:
	for _, ev := range evs {
		if ev.Type != typ || ev.Result != result {
			continue
		}
		for k, v := range want {
			if ev.Details[k] != v {
				continue next
			}
		}
		n++
	}
	return n
}

// TestConcurrencyTOTPCodeOnce: one TOTP code, sent at once by eight
// sign-ins (each its own flow) and eight re-authentications of the user's
// session, split over two instances on one database: exactly one is
// accepted, in every round; the others are told the code is wrong or to
// wait, and the audit log has one success and one failure per refusal.
func TestConcurrencyTOTPCodeOnce(t *testing.T) {
	const rounds = 6
	concEach(t, func(t *testing.T, e *env) {
		envs := []*env{e, concSecondInstance(t, e)}
		wsID, admin := e.workspace("totp")
		for round := range rounds {
			m := mfaJoin(e, "totp", wsID, admin, fmt.Sprintf("user%d", round))
			seed, _ := e.enroll(&m.token, "phone")
			flows := mfaFlows(t, m, envs, concRequests/2)
			before := len(concEvents(t, e, wsID, m.userID))
			code := e.code(seed)
			var reqs []concReq
			for i := range concRequests {
				x := envs[i%len(envs)]
				if i < len(flows) {
					reqs = append(reqs, concReq{e: x, method: "POST", path: "/api/v1/sign-in/mfa", body: map[string]string{"flow_token": flows[i], "code": code}})
				} else {
					reqs = append(reqs, concReq{e: x, method: "POST", path: "/api/v1/session/reauthenticate", token: m.token, body: map[string]string{"code": code}})
				}
			}
			res := concRace(t, reqs)
			counts := concCounts(res)
			if counts["200"] != 1 || counts["200"]+counts["401 invalid_code"]+counts["429 too_many_attempts"] != concRequests {
				t.Fatalf("round %d: one code sent %d times at once: %v; want exactly one 200, the rest 401 invalid_code or 429", round, concRequests, counts)
			}
			signIns := 0
			for i, r := range res {
				if r.Status != 200 {
					continue
				}
				if i < len(flows) {
					signIns++
					if s := e.call("GET", "/api/v1/session", r.str("session_token"), nil).must(t, 200); s.str("aal") != "aal2" {
						t.Fatalf("round %d: the winning sign-in's session: %s", round, s.Raw)
					}
				}
			}
			evs := concEvents(t, e, wsID, m.userID)[before:]
			if n := concCount(evs, "user.sign_in", sekisho.ResultSuccess, map[string]string{"method": "totp"}); n != signIns {
				t.Errorf("round %d: %d user.sign_in successes with totp, want %d", round, n, signIns)
			}
			if n := concCount(evs, "session.reauthenticated", sekisho.ResultSuccess, nil); n != 1-signIns {
				t.Errorf("round %d: %d session.reauthenticated successes, want %d", round, n, 1-signIns)
			}
			if n := concCount(evs, "mfa.verify", sekisho.ResultFailure, map[string]string{"method": "totp"}); n != counts["401 invalid_code"] {
				t.Errorf("round %d: %d mfa.verify failures for %d refused codes", round, n, counts["401 invalid_code"])
			}
			t.Logf("round %d: %v (won by a %s)", round, counts, map[int]string{0: "re-authentication", 1: "sign-in"}[signIns])
		}
	})
}

// TestConcurrencyRecoveryCodeOnce: one recovery code, sent at once by
// sixteen sign-ins of the same user (each its own flow, in several
// spellings, over two instances): exactly one signs in; the code is spent
// once (nine remain), the user is told once, and the audit log shows one
// use.
func TestConcurrencyRecoveryCodeOnce(t *testing.T) {
	const rounds = 5
	concEach(t, func(t *testing.T, e *env) {
		envs := []*env{e, concSecondInstance(t, e)}
		wsID, admin := e.workspace("rc")
		for round := range rounds {
			m := mfaJoin(e, "rc", wsID, admin, fmt.Sprintf("user%d", round))
			_, codes := e.enroll(&m.token, "phone")
			flows := mfaFlows(t, m, envs, concRequests)
			code := codes[round%len(codes)]
			spellings := []string{code, strings.ToLower(code), strings.ReplaceAll(code, "-", ""), " " + strings.ReplaceAll(strings.ToLower(code), "-", " ") + " "}
			before := len(concEvents(t, e, wsID, m.userID))
			e.mail.Reset()
			var reqs []concReq
			for i, f := range flows {
				reqs = append(reqs, concReq{e: envs[i%len(envs)], method: "POST", path: "/api/v1/sign-in/mfa",
					body: map[string]string{"flow_token": f, "recovery_code": spellings[i%len(spellings)]}})
			}
			res := concRace(t, reqs)
			counts := concCounts(res)
			if counts["200"] != 1 || counts["200"]+counts["401 invalid_code"]+counts["429 too_many_attempts"] != concRequests {
				t.Fatalf("round %d: one recovery code sent %d times at once: %v; want exactly one 200, the rest 401 invalid_code or 429", round, concRequests, counts)
			}
			for _, r := range res {
				if r.Status == 200 {
					if r.Body["recovery_codes_remaining"] != float64(9) {
						t.Errorf("round %d: the winner: %s", round, r.Raw)
					}
					if s := e.call("GET", "/api/v1/session", r.str("session_token"), nil).must(t, 200); s.str("aal") != "aal2" {
						t.Errorf("round %d: the winner's session: %s", round, s.Raw)
					}
				}
			}
			if n := mfaRemaining(mfaStatus(e, m.token)); n != 9 {
				t.Errorf("round %d: %d recovery codes remain, want 9", round, n)
			}
			if n := mfaRemaining(e.call("GET", "/api/v1/admin/users/"+m.userID, admin, nil).must(t, 200)); n != 9 {
				t.Errorf("round %d: the admin sees %d recovery codes remaining, want 9", round, n)
			}
			evs := concEvents(t, e, wsID, m.userID)[before:]
			if n := concCount(evs, "mfa.recovery_code_used", sekisho.ResultSuccess, nil); n != 1 {
				t.Errorf("round %d: %d mfa.recovery_code_used events, want 1", round, n)
			}
			if n := concCount(evs, "mfa.recovery_code_used", sekisho.ResultSuccess, map[string]string{"remaining": "9"}); n != 1 {
				t.Errorf("round %d: the mfa.recovery_code_used event does not say 9 remain: %+v", round, evs)
			}
			if n := concCount(evs, "user.sign_in", sekisho.ResultSuccess, map[string]string{"method": "recovery_code"}); n != 1 {
				t.Errorf("round %d: %d sign-ins with a recovery code audited, want 1", round, n)
			}
			if n := concCount(evs, "mfa.verify", sekisho.ResultFailure, map[string]string{"method": "recovery_code"}); n != counts["401 invalid_code"] {
				t.Errorf("round %d: %d mfa.verify failures for %d refused codes", round, n, counts["401 invalid_code"])
			}
			if n := mfaMails(e, m.email, mfaSubjectRecovery); n != 1 {
				t.Errorf("round %d: %d recovery code notices, want 1", round, n)
			}
			t.Logf("round %d: %v", round, counts)
		}
	})
}

// TestConcurrencyPolicyDuringSignIn: fifteen members without MFA sign in,
// over two instances, while an admin turns Require MFA on, in rounds
// alternating a grace period of none and of three days. A sign-in either
// predates the policy (a session without a due date) or follows it
// (enrollment first, or a session due when the grace period ends);
// whichever it was, what GET /session accepts afterwards, on either
// instance, meets the policy: with no grace, no session without MFA at all
// (nor the members' older sessions, just checked on both instances), and
// with grace, each one due when the policy says.
func TestConcurrencyPolicyDuringSignIn(t *testing.T) {
	const rounds = 6
	concEach(t, func(t *testing.T, e *env) {
		envs := []*env{e, concSecondInstance(t, e)}
		wsID, admin := e.workspace("pol")
		e.enroll(&admin, "admin phone") // only an admin with MFA may require it
		var members []*mfaMember
		for i := range concRequests - 1 {
			members = append(members, mfaJoin(e, "pol", wsID, admin, fmt.Sprintf("user%d", i)))
		}
		signIn := func(m *mfaMember) map[string]string {
			return map[string]string{"workspace": m.slug, "email": m.email, "password": m.password}
		}
		timeOf := func(r resp, key string) time.Time {
			t.Helper()
			v, err := time.Parse(time.RFC3339Nano, r.str(key))
			if err != nil {
				t.Fatalf("%s: %v in %s", key, err, r.Raw)
			}
			return v
		}
		// wantSession checks what each instance says of a session without
		// MFA under a policy with grace days, due at due.
		wantSession := func(round int, what, token string, grace int, due time.Time) {
			t.Helper()
			for n, x := range envs {
				s := x.call("GET", "/api/v1/session", token, nil)
				switch {
				case grace == 0:
					if s.Status != 401 || s.code() != "mfa_enrollment_required" {
						t.Errorf("round %d: %s, on instance %d, once MFA is required with no grace: %d %s", round, what, n, s.Status, s.Raw)
					}
				case s.Status != 200 || s.str("aal") != "aal1" || !timeOf(s, "mfa_enrollment_due_at").Equal(due):
					t.Errorf("round %d: %s, on instance %d, within the grace period (due %s): %d %s", round, what, n, due, s.Status, s.Raw)
				}
			}
		}
		predated, followed := 0, 0
		for round := range rounds {
			grace := []int{0, 3}[round%2]
			e.clock.Add(time.Minute)
			if round > 0 {
				e.call("PATCH", "/api/v1/admin/workspace", admin, map[string]any{"require_mfa": false, "password": adminPassword}).must(t, 200)
			}
			for _, m := range members {
				for _, x := range envs {
					x.call("GET", "/api/v1/session", m.token, nil).must(t, 200)
				}
			}
			var reqs []concReq
			for i, m := range members {
				reqs = append(reqs, concReq{e: envs[i%len(envs)], method: "POST", path: "/api/v1/sign-in", body: signIn(m)})
			}
			reqs = append(reqs, concReq{e: e, method: "PATCH", path: "/api/v1/admin/workspace", token: admin,
				body: map[string]any{"require_mfa": true, "mfa_grace_days": grace, "password": adminPassword}})
			res := concRace(t, reqs)
			pol := res[len(members)].must(t, 200)
			if pol.Body["require_mfa"] != true || pol.Body["mfa_grace_days"] != float64(grace) {
				t.Fatalf("round %d: policy: %s", round, pol.Raw)
			}
			due := timeOf(pol, "mfa_enforced_since").AddDate(0, 0, grace)
			for i, r := range res[:len(members)] {
				if r.Status != 200 {
					t.Fatalf("round %d: sign-in of %s: %d %s", round, members[i].email, r.Status, r.Raw)
				}
				switch r.str("state") {
				case "signed_in":
					if r.str("mfa_enrollment_due_at") == "" {
						predated++
					} else if followed++; grace == 0 || !timeOf(r, "mfa_enrollment_due_at").Equal(due) {
						t.Errorf("round %d: a sign-in under the policy (grace %d days, due %s): %s", round, grace, due, r.Raw)
					}
					wantSession(round, "a session signed in during the change", r.str("session_token"), grace, due)
				case "mfa_enrollment_required":
					followed++
					if grace != 0 || r.str("flow_token") == "" || r.str("session_token") != "" {
						t.Errorf("round %d: grace %d days: %s", round, grace, r.Raw)
					}
				default:
					t.Errorf("round %d: sign-in of %s: %s", round, members[i].email, r.Raw)
				}
			}
			for _, m := range members {
				wantSession(round, "an older session", m.token, grace, due)
			}
			// From now on every sign-in follows the policy.
			r := e.call("POST", "/api/v1/sign-in", "", signIn(members[round])).must(t, 200)
			if grace == 0 && r.str("state") != "mfa_enrollment_required" ||
				grace > 0 && (r.str("state") != "signed_in" || !timeOf(r, "mfa_enrollment_due_at").Equal(due)) {
				t.Errorf("round %d: a sign-in after the policy changed (grace %d days): %s", round, grace, r.Raw)
			}
			if s := e.call("GET", "/api/v1/session", admin, nil).must(t, 200); s.str("aal") != "aal2" {
				t.Fatalf("round %d: the admin's session: %s", round, s.Raw)
			}
			if t.Failed() {
				return
			}
		}
		t.Logf("%d sign-ins predated the policy, %d followed it", predated, followed)
	})
}

// concForcedEnroll signs m in under a required policy, walks the enrollment
// the sign-in stops at, and returns the new seed and recovery codes.
func concForcedEnroll(t *testing.T, e *env, m *mfaMember) (seed []byte, codes []string) {
	t.Helper()
	r := e.call("POST", "/api/v1/sign-in", "", map[string]string{"workspace": m.slug, "email": m.email, "password": m.password}).must(t, 200)
	if r.str("state") != "mfa_enrollment_required" {
		t.Fatalf("sign-in of %s without MFA under a required policy: %s", m.email, r.Raw)
	}
	flow := r.str("flow_token")
	en := e.call("POST", "/api/v1/sign-in/enroll", "", map[string]string{"flow_token": flow}).must(t, 200)
	seed = decodeSeed(t, en.str("secret"))
	c := e.call("POST", "/api/v1/sign-in/enroll/confirm", "", map[string]string{"flow_token": flow, "code": e.code(seed)}).must(t, 200)
	list, _ := c.Body["recovery_codes"].([]any)
	for _, x := range list {
		codes = append(codes, x.(string))
	}
	if c.str("state") != "signed_in" || len(codes) != 10 {
		t.Fatalf("forced enrollment of %s: %s", m.email, c.Raw)
	}
	if s := e.call("GET", "/api/v1/session", c.str("session_token"), nil).must(t, 200); s.str("aal") != "aal2" {
		t.Fatalf("session after forced enrollment: %s", s.Raw)
	}
	m.token = c.str("session_token")
	return seed, codes
}

// TestConcurrencyResetDuringSignIn: a member with MFA is between password
// and code in thirteen sign-ins over two instances — nine about to send
// the current TOTP code, four a recovery code each — and two more are
// checking their password, when an admin resets their MFA (Require MFA
// on). Whatever the order, no session made with the removed factors
// outlives the reset on either instance: every sign-in that got one
// committed before the reset, which revoked it; the pending sign-ins can't
// be finished with the old factors; and the member's next sign-in walks
// them through enrollment again.
func TestConcurrencyResetDuringSignIn(t *testing.T) {
	const rounds, pending, withRecovery = 5, 13, 4
	concEach(t, func(t *testing.T, e *env) {
		envs := []*env{e, concSecondInstance(t, e)}
		wsID, admin := e.workspace("rst")
		e.enroll(&admin, "admin phone")
		e.call("PATCH", "/api/v1/admin/workspace", admin, map[string]any{"require_mfa": true, "password": adminPassword}).must(t, 200)
		var stats []string
		for round := range rounds {
			m := &mfaMember{e: e, slug: "rst", wsID: wsID, email: fmt.Sprintf("user%d@rst.test", round), password: mfaPassword}
			m.userID = e.invite(admin, m.email, "member", m.password)
			seed, codes := concForcedEnroll(t, e, m)
			flows := mfaFlows(t, m, envs, pending)
			for _, x := range envs {
				x.call("GET", "/api/v1/session", m.token, nil).must(t, 200)
			}
			code := e.code(seed)
			before := len(concEvents(t, e, wsID, m.userID))
			e.mail.Reset()
			var reqs []concReq
			for i, f := range flows {
				body := map[string]string{"flow_token": f, "code": code}
				if i >= pending-withRecovery {
					body = map[string]string{"flow_token": f, "recovery_code": codes[i-(pending-withRecovery)]}
				}
				reqs = append(reqs, concReq{e: envs[i%len(envs)], method: "POST", path: "/api/v1/sign-in/mfa", body: body})
			}
			for len(reqs) < concRequests-1 {
				reqs = append(reqs, concReq{e: envs[len(reqs)%len(envs)], method: "POST", path: "/api/v1/sign-in",
					body: map[string]string{"workspace": m.slug, "email": m.email, "password": m.password}})
			}
			// In even rounds the admin proved their password just before,
			// so the reset is quick; in odd ones it carries the password,
			// and lands later.
			var proof any
			if round%2 == 0 {
				e.call("POST", "/api/v1/session/reauthenticate", admin, map[string]string{"password": adminPassword}).must(t, 200)
			} else {
				proof = map[string]string{"password": adminPassword}
			}
			reqs = append(reqs, concReq{e: e, method: "DELETE", path: "/api/v1/admin/users/" + m.userID + "/mfa", token: admin, body: proof})
			res := concRace(t, reqs)
			if r := res[len(res)-1]; r.Status != 200 || r.Body["reset"] != true {
				t.Fatalf("round %d: reset: %d %s", round, r.Status, r.Raw)
			}

			// Sessions won with the old factors were all revoked by the
			// reset, and so was the one the member had.
			revoked := func(what, token string) {
				t.Helper()
				for n, x := range envs {
					if s := x.call("GET", "/api/v1/session", token, nil); s.Status != 401 {
						t.Errorf("round %d: %s is still accepted by instance %d after the reset: %d %s", round, what, n, s.Status, s.Raw)
					}
				}
			}
			revoked("the member's session", m.token)
			totpWins, recoveryWins := 0, 0
			for i, r := range res[:pending] {
				switch {
				case r.Status == 200:
					if i < pending-withRecovery {
						totpWins++
					} else {
						recoveryWins++
					}
					revoked("a session signed in with the old factors", r.str("session_token"))
				case r.Status == 401 && slices.Contains([]string{"invalid_code", "invalid_flow", "flow_ended"}, r.code()), r.Status == 429:
				default:
					t.Errorf("round %d: second step %d: %d %s", round, i, r.Status, r.Raw)
				}
			}
			if totpWins > 1 {
				t.Errorf("round %d: one TOTP code signed in %d times", round, totpWins)
			}

			// Sign-ins whose password step raced the reset can't be
			// finished with the old factors.
			stale := slices.Clone(flows)
			for i, r := range res[pending : len(res)-1] {
				if r.Status != 200 {
					t.Fatalf("round %d: password step %d: %d %s", round, i, r.Status, r.Raw)
				}
				switch r.str("state") {
				case "mfa_required":
					stale = append(stale, r.str("flow_token"))
				case "mfa_enrollment_required":
				default:
					t.Errorf("round %d: password step %d during the reset: %s", round, i, r.Raw)
				}
			}
			// (One clock step on, so that the code is not the one spent;
			// the flows, ten minutes long, are still open.)
			next := e.code(seed)
			for i, f := range stale {
				for _, body := range []map[string]string{
					{"flow_token": f, "code": next},
					{"flow_token": f, "recovery_code": codes[withRecovery+i%(len(codes)-withRecovery)]},
				} {
					if r := envs[i%len(envs)].call("POST", "/api/v1/sign-in/mfa", "", body); r.Status == 200 {
						t.Errorf("round %d: a sign-in begun before the reset finished with an old factor: %s", round, r.Raw)
					}
				}
			}

			// The audit log: one reset, and every sign-in with the old
			// factors before it.
			evs := concEvents(t, e, wsID, m.userID)[before:]
			var reset int64
			for _, ev := range evs {
				if ev.Type == "mfa.reset" && ev.Result == sekisho.ResultSuccess {
					if reset != 0 {
						t.Errorf("round %d: two mfa.reset events", round)
					}
					reset = ev.ID
				}
			}
			signIns := 0
			for _, ev := range evs {
				if ev.Type == "user.sign_in" && ev.Result == sekisho.ResultSuccess {
					signIns++
					if ev.ID > reset {
						t.Errorf("round %d: sign-in event %d (%v) after the reset (%d)", round, ev.ID, ev.Details, reset)
					}
				}
			}
			if reset == 0 || signIns != totpWins+recoveryWins {
				t.Errorf("round %d: reset event %d, %d sign-ins audited for %d sessions won", round, reset, signIns, totpWins+recoveryWins)
			}
			if n := mfaMails(e, m.email, seedSubjReset); n != 1 {
				t.Errorf("round %d: %d reset notices", round, n)
			}
			if n := mfaMails(e, m.email, mfaSubjectRecovery); n != recoveryWins {
				t.Errorf("round %d: %d recovery code notices for %d codes used", round, n, recoveryWins)
			}
			d := e.call("GET", "/api/v1/admin/users/"+m.userID, admin, nil).must(t, 200)
			if u := d.Body["user"].(map[string]any); u["mfa_enabled"] != false || len(d.Body["authenticators"].([]any)) != 0 || mfaRemaining(d) != 0 {
				t.Errorf("round %d: the member after the reset: %s", round, d.Raw)
			}

			// The way back: enrollment at the next sign-in.
			concForcedEnroll(t, e, m)
			if t.Failed() {
				return
			}
			stats = append(stats, fmt.Sprintf("%d+%d", totpWins, recoveryWins))
		}
		t.Logf("sessions won with the old TOTP code + recovery codes before the reset, by round: %v", stats)
	})
}

// TestConcurrencyTwoAdminsOneUser: two workspace admins send sixteen
// changes of one member's role or status at once. Every change answers 200;
// the audit log holds one event for each change that took effect, by the
// admin who sent it, each starting where the one before ended, from the
// member's first state to the one the API shows; every other change found
// the member already as it asked. That is, the outcome is that of a serial
// order of the sixteen.
func TestConcurrencyTwoAdminsOneUser(t *testing.T) {
	const rounds = 8
	values := map[string][]string{"role": {"member", "user_admin", "workspace_admin"}, "status": {"active", "disabled"}}
	fields := []string{"role", "status"}
	concEach(t, func(t *testing.T, e *env) {
		wsID, a := e.workspace("two")
		bID := e.invite(a, "b@two.test", "workspace_admin", adminPassword)
		admins := []string{concMe(e, a), bID}
		tokens := []string{a, e.signIn("two", "b@two.test", adminPassword)}
		get := func(s concState, field string) string {
			if field == "role" {
				return s.role
			}
			return s.status
		}
		var stats []int
		for round := range rounds {
			target := e.invite(a, fmt.Sprintf("t%d@two.test", round), "member", mfaPassword)
			before := len(concEvents(t, e, wsID, target))
			type change struct {
				actor        int
				field, value string
			}
			rng := rand.New(rand.NewPCG(uint64(round), 11))
			var plan []change
			var reqs []concReq
			for i := range concRequests {
				f := fields[rng.IntN(len(fields))]
				c := change{actor: i % 2, field: f, value: values[f][rng.IntN(len(values[f]))]}
				plan = append(plan, c)
				reqs = append(reqs, concReq{e: e, method: "PATCH", path: "/api/v1/admin/users/" + target, token: tokens[c.actor],
					body: map[string]string{f: c.value}})
			}
			res := concRace(t, reqs)

			// Replay the audit log: each event is one of the changes sent.
			states := []concState{{role: "member", status: "active"}}
			applied := make([]bool, len(plan))
			for _, ev := range concEvents(t, e, wsID, target)[before:] {
				if ev.Result != sekisho.ResultSuccess || !slices.Contains([]string{"user.role_changed", "user.disabled", "user.enabled"}, ev.Type) {
					t.Errorf("round %d: event %d %s %s: %v", round, ev.ID, ev.Type, ev.Result, ev.Details)
					continue
				}
				cur := states[len(states)-1]
				next := cur
				matched := false
				for _, f := range fields {
					from, to, ok := concChange(t, ev, f)
					if !ok {
						continue
					}
					if from != get(cur, f) || from == to {
						t.Fatalf("round %d: event %d %s %s %s→%s, but the member's %s was %s", round, ev.ID, ev.Type, f, from, to, f, get(cur, f))
					}
					if f == "role" {
						next.role = to
					} else {
						next.status = to
					}
					for j, c := range plan {
						if !applied[j] && admins[c.actor] == ev.ActorID && c.field == f && c.value == to {
							applied[j], matched = true, true
							break
						}
					}
				}
				if !matched || next == cur {
					t.Fatalf("round %d: event %d %s by %s (%v) is none of the changes sent: %+v", round, ev.ID, ev.Type, ev.ActorID, ev.Details, plan)
				}
				states = append(states, next)
			}
			final := states[len(states)-1]
			u := e.call("GET", "/api/v1/admin/users/"+target, a, nil).must(t, 200).Body["user"].(map[string]any)
			if u["role"] != final.role || u["status"] != final.status {
				t.Errorf("round %d: the audit log ends at %+v; the member is %v/%v", round, final, u["role"], u["status"])
			}

			// Every answer is a state of that order, as the change asked.
			for j, r := range res {
				c := plan[j]
				if r.Status != 200 {
					t.Errorf("round %d: admin %d sets %s %s: %d %s", round, c.actor, c.field, c.value, r.Status, r.Raw)
					continue
				}
				got := concState{role: r.str("role"), status: r.str("status")}
				if !slices.Contains(states, got) || get(got, c.field) != c.value {
					t.Errorf("round %d: admin %d sets %s %s, answered %+v; the audit log went %+v", round, c.actor, c.field, c.value, got, states)
				}
				if !applied[j] && !slices.ContainsFunc(states, func(s concState) bool { return get(s, c.field) == c.value }) {
					t.Errorf("round %d: admin %d sets %s %s: neither audited nor a no-op at any point of %+v", round, c.actor, c.field, c.value, states)
				}
			}
			if t.Failed() {
				return
			}
			stats = append(stats, len(states)-1)
		}
		t.Logf("changes that took effect, of %d sent at once, by round: %v", concRequests, stats)
	})
}

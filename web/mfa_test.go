package web_test

// End-to-end tests of "MFA with authenticator apps" (PRODUCT.md flows 1, 2,
// 5, 6, 7; SECURITY.md TOTP, recovery codes, throttling). This file holds
// the helpers the mfa_*_test.go files share, and the enrollment, code
// window and session tests.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho/secret"
	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
	"github.com/sekisho/sekisho/totp"
)

const mfaPassword = "tulip marmalade orbit 7"

// Subjects of the English notifications, which tell the emails apart.
const (
	mfaSubjectAdded       = "An authenticator was added to your account"
	mfaSubjectRemoved     = "An authenticator was removed from your account"
	mfaSubjectRecovery    = "A recovery code was used to sign in"
	mfaSubjectRegenerated = "New recovery codes were created"
	mfaSubjectLocked      = "Too many wrong codes: your authenticator is blocked"
)

// mfaEach runs fn on a fresh sekisho over each database. The two run in
// parallel: they share nothing, and most of their time is spent waiting on
// the databases.
func mfaEach(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, d))
		})
	}
}

// mfaMember is a member of a workspace with a session.
type mfaMember struct {
	e                         *env
	slug, wsID, email, userID string
	password                  string
	token                     string
}

// mfaNewMember creates workspace slug and a member local@slug.test in it,
// signed in with a fresh (recently authenticated) aal1 session.
func mfaNewMember(e *env, slug, local string) *mfaMember {
	e.t.Helper()
	wsID, admin := e.workspace(slug)
	return mfaJoin(e, slug, wsID, admin, local)
}

// mfaJoin adds member local to an existing workspace, invited by admin.
func mfaJoin(e *env, slug, wsID, admin, local string) *mfaMember {
	e.t.Helper()
	m := &mfaMember{e: e, slug: slug, wsID: wsID, email: local + "@" + slug + ".test", password: mfaPassword}
	m.userID = e.invite(admin, m.email, "member", m.password)
	m.token = e.signIn(slug, m.email, m.password)
	return m
}

// passwordStep signs in with the password and returns the flow token of the
// second step, which it requires.
func (m *mfaMember) passwordStep() string {
	m.e.t.Helper()
	r := m.e.call("POST", "/api/v1/sign-in", "", map[string]string{"workspace": m.slug, "email": m.email, "password": m.password}).must(m.e.t, 200)
	if r.str("state") != "mfa_required" || r.str("flow_token") == "" || r.str("session_token") != "" {
		m.e.t.Fatalf("sign-in: want mfa_required with a flow token and no session: %s", r.Raw)
	}
	return r.str("flow_token")
}

// second sends a TOTP code for flow.
func (m *mfaMember) second(flow, code string) resp {
	m.e.t.Helper()
	return m.e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": flow, "code": code})
}

// recover sends a recovery code for flow.
func (m *mfaMember) recover(flow, code string) resp {
	m.e.t.Helper()
	return m.e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": flow, "recovery_code": code})
}

// signInTOTP signs in with password and the next code of seed and returns
// the aal2 session token.
func (m *mfaMember) signInTOTP(seed []byte) string {
	m.e.t.Helper()
	flow := m.passwordStep()
	r := m.second(flow, m.e.code(seed)).must(m.e.t, 200)
	if r.str("state") != "signed_in" || r.str("session_token") == "" {
		m.e.t.Fatalf("second step: %s", r.Raw)
	}
	return r.str("session_token")
}

// mfaStatus is GET /me/mfa.
func mfaStatus(e *env, token string) resp {
	e.t.Helper()
	return e.call("GET", "/api/v1/me/mfa", token, nil).must(e.t, 200)
}

// mfaAuths returns the authenticators of a GET /me/mfa answer.
func mfaAuths(r resp) []map[string]any {
	var out []map[string]any
	list, _ := r.Body["authenticators"].([]any)
	for _, x := range list {
		out = append(out, x.(map[string]any))
	}
	return out
}

// mfaConfirmed returns the names of the confirmed authenticators of a GET
// /me/mfa answer.
func mfaConfirmed(r resp) []string {
	var names []string
	for _, a := range mfaAuths(r) {
		if a["confirmed"] == true {
			names = append(names, a["name"].(string))
		}
	}
	return names
}

func mfaRemaining(r resp) int {
	n, ok := r.Body["recovery_codes_remaining"].(float64)
	if !ok {
		return -1
	}
	return int(n)
}

// mfaAuthID returns the id of the authenticator called name.
func mfaAuthID(e *env, token, name string) string {
	e.t.Helper()
	for _, a := range mfaAuths(mfaStatus(e, token)) {
		if a["name"] == name {
			return a["id"].(string)
		}
	}
	e.t.Fatalf("no authenticator %q", name)
	return ""
}

// mfaStart begins an enrollment and returns its id and seed.
func mfaStart(e *env, token, name string, extra map[string]string) (id string, seed []byte) {
	e.t.Helper()
	body := map[string]string{"name": name}
	for k, v := range extra {
		body[k] = v
	}
	r := e.call("POST", "/api/v1/me/mfa/totp", token, body).must(e.t, 201)
	return r.str("id"), decodeSeed(e.t, r.str("secret"))
}

// mfaConfirm confirms enrollment id with the current code of seed. On
// success the session moves to aal2 under a new token, which replaces
// *token.
func mfaConfirm(e *env, token *string, id string, seed []byte) resp {
	e.t.Helper()
	r := e.call("POST", "/api/v1/me/mfa/totp/"+id+"/confirm", *token, map[string]string{"code": totp.Code(seed, totp.StepAt(e.clock.Now()))})
	if r.Status == 200 {
		*token = r.str("session_token")
	}
	return r
}

// mfaMails counts the messages to address with subject (any subject if
// empty).
func mfaMails(e *env, address, subject string) int {
	n := 0
	for _, m := range e.mail.Messages() {
		if strings.EqualFold(m.To, address) && (subject == "" || m.Subject == subject) {
			n++
		}
	}
	return n
}

// mfaAudit counts the audit events of type typ about target. It reads the
// store directly so that it works whatever the admins' sessions are.
func mfaAudit(e *env, wsID, typ, target string) int {
	e.t.Helper()
	var n int
	err := e.db.View(context.Background(), func(tx *store.Tx) error {
		evs, err := tx.AuditEvents(store.AuditFilter{WorkspaceID: wsID, Type: typ, TargetID: target, Limit: 1000})
		n = len(evs)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// mfaWrong returns a well-formed code that seed does not produce in the
// window around the clock's time, so a "wrong code" is never right by luck.
func mfaWrong(e *env, seed []byte) string {
	step := totp.StepAt(e.clock.Now())
	right := map[string]bool{}
	for s := step - 2; s <= step+2; s++ {
		right[totp.Code(seed, s)] = true
	}
	for n := 0; ; n++ {
		c := fmt.Sprintf("%06d", (n*104729+13)%1000000)
		if !right[c] {
			return c
		}
	}
}

// mfaRetryAfter returns the Retry-After of a 429 answer.
func mfaRetryAfter(t *testing.T, r resp) time.Duration {
	t.Helper()
	if r.Status != http.StatusTooManyRequests || r.code() != "too_many_attempts" {
		t.Fatalf("want 429 too_many_attempts, got %d: %s", r.Status, r.Raw)
	}
	s, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || s <= 0 {
		t.Fatalf("Retry-After %q on %s", r.Header.Get("Retry-After"), r.Raw)
	}
	return time.Duration(s) * time.Second
}

// mfaPost is a POST safe to call from many goroutines at once: it reports
// the status and error code instead of failing the test.
func mfaPost(e *env, path string, body any) (status int, code string, err error) {
	j, _ := json.Marshal(body)
	req, err := http.NewRequest("POST", e.srv.URL+path, bytes.NewReader(j))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := e.srv.Client().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var b struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(raw, &b)
	return res.StatusCode, b.Error.Code, nil
}

// mfaParallel sends the second-step bodies all at once, the request for
// bodies[i] to envs[i%len(envs)], and returns the count of each status.
func mfaParallel(t *testing.T, envs []*env, bodies []map[string]string) map[int]int {
	t.Helper()
	var (
		mu     sync.Mutex
		counts = map[int]int{}
		errs   []error
		wg     sync.WaitGroup
		start  = make(chan struct{})
	)
	for i, b := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			status, _, err := mfaPost(envs[i%len(envs)], "/api/v1/sign-in/mfa", b)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			counts[status]++
		}()
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d requests failed, first: %v", len(errs), errs[0])
	}
	return counts
}

// mfaFlows opens n sign-in flows for m, at most four at a time: more
// parallel password checks than the password throttle's free attempts would
// be throttled, which is right but not what the callers test.
func mfaFlows(t *testing.T, m *mfaMember, envs []*env, n int) []string {
	t.Helper()
	flows := make([]string, n)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		bad  []string
		sema = make(chan struct{}, 4)
	)
	for i := range flows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sema <- struct{}{}
			defer func() { <-sema }()
			e := envs[i%len(envs)]
			j, _ := json.Marshal(map[string]string{"workspace": m.slug, "email": m.email, "password": m.password})
			res, err := e.srv.Client().Post(e.srv.URL+"/api/v1/sign-in", "application/json", bytes.NewReader(j))
			if err != nil {
				mu.Lock()
				bad = append(bad, err.Error())
				mu.Unlock()
				return
			}
			defer res.Body.Close()
			var b struct {
				State     string `json:"state"`
				FlowToken string `json:"flow_token"`
			}
			raw, _ := io.ReadAll(res.Body)
			json.Unmarshal(raw, &b)
			if res.StatusCode != 200 || b.State != "mfa_required" {
				mu.Lock()
				bad = append(bad, fmt.Sprintf("%d %s", res.StatusCode, raw))
				mu.Unlock()
				return
			}
			flows[i] = b.FlowToken
		}()
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d sign-ins failed, first: %s", len(bad), bad[0])
	}
	return flows
}

var mfaRecoveryFormat = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$`)

// TestMFAEnrollment walks flow 1 from account settings: what starting an
// enrollment returns, that a pending authenticator is no factor yet, wrong
// and late confirmations, several named authenticators, recovery codes with
// the first one only, and the cap of ten.
func TestMFAEnrollment(t *testing.T) {
	mfaEach(t, func(t *testing.T, e *env) {
		m := mfaNewMember(e, "acme", "alice")

		r := e.call("POST", "/api/v1/me/mfa/totp", m.token, map[string]string{"name": "phone"}).must(t, 201)
		sec, id := r.str("secret"), r.str("id")
		seed := decodeSeed(t, sec)
		if len(seed) != 20 || id == "" {
			t.Fatalf("seed of %d bytes, id %q: %s", len(seed), id, r.Raw)
		}
		u, err := url.Parse(r.str("otpauth_uri"))
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if u.Scheme != "otpauth" || u.Host != "totp" || q.Get("secret") != sec || q.Get("issuer") != "sekisho" ||
			q.Get("algorithm") != "SHA1" || q.Get("digits") != "6" || q.Get("period") != "30" {
			t.Fatalf("otpauth_uri %s", u)
		}
		// The label is "issuer:account" with the account naming both the
		// workspace and the email, so a person in two workspaces can tell
		// the entries apart; only the separator colon may be raw.
		label := strings.TrimPrefix(u.Path, "/")
		account, ok := strings.CutPrefix(label, "sekisho:")
		if !ok || !strings.Contains(account, "acme") || !strings.Contains(account, m.email) {
			t.Fatalf("label %q", label)
		}
		if n := strings.Count(strings.TrimPrefix(u.EscapedPath(), "/"), ":"); n != 1 {
			t.Fatalf("raw label %q has %d colons", u.EscapedPath(), n)
		}
		b64, ok := strings.CutPrefix(r.str("qr_code"), "data:image/png;base64,")
		if !ok {
			t.Fatalf("qr_code %.40q", r.str("qr_code"))
		}
		pngBytes, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatal(err)
		}
		if cfg, err := png.DecodeConfig(bytes.NewReader(pngBytes)); err != nil || cfg.Width < 100 || cfg.Width != cfg.Height {
			t.Fatalf("QR PNG: %v %+v", err, cfg)
		}

		// Pending is not MFA.
		st := mfaStatus(e, m.token)
		if st.Body["enabled"] != false || len(mfaAuths(st)) != 1 || len(mfaConfirmed(st)) != 0 || mfaRemaining(st) != 0 {
			t.Fatalf("pending: %s", st.Raw)
		}
		e.signIn("acme", m.email, m.password) // no second step

		wrong := e.call("POST", "/api/v1/me/mfa/totp/"+id+"/confirm", m.token, map[string]string{"code": mfaWrong(e, seed)}).must(t, 401)
		if wrong.code() != "invalid_code" {
			t.Fatalf("wrong confirm: %s", wrong.Raw)
		}
		e.call("POST", "/api/v1/me/mfa/totp/"+id+"/confirm", m.token, map[string]string{"code": "12345"}).must(t, 401)
		if st := mfaStatus(e, m.token); st.Body["enabled"] != false {
			t.Fatalf("after wrong codes: %s", st.Raw)
		}

		c := mfaConfirm(e, &m.token, id, seed).must(t, 200)
		codes := c.Body["recovery_codes"].([]any)
		seen := map[string]bool{}
		for _, x := range codes {
			s := x.(string)
			if !mfaRecoveryFormat.MatchString(s) || seen[s] {
				t.Fatalf("recovery code %q (of %v)", s, codes)
			}
			seen[s] = true
		}
		if len(seen) != 10 {
			t.Fatalf("%d recovery codes", len(seen))
		}
		st = mfaStatus(e, m.token)
		if st.Body["enabled"] != true || !slices.Equal(mfaConfirmed(st), []string{"phone"}) || mfaRemaining(st) != 10 {
			t.Fatalf("confirmed: %s", st.Raw)
		}
		// Confirming again is a conflict, not a second set of codes.
		e.call("POST", "/api/v1/me/mfa/totp/"+id+"/confirm", m.token, map[string]string{"code": e.code(seed)}).must(t, 409)

		// A second, named authenticator brings no new recovery codes.
		id2, seed2 := mfaStart(e, m.token, "tablet", nil)
		c2 := mfaConfirm(e, &m.token, id2, seed2).must(t, 200)
		if list, _ := c2.Body["recovery_codes"].([]any); len(list) != 0 {
			t.Fatalf("second authenticator issued codes: %s", c2.Raw)
		}
		st = mfaStatus(e, m.token)
		if !slices.Equal(mfaConfirmed(st), []string{"phone", "tablet"}) || mfaRemaining(st) != 10 {
			t.Fatalf("two authenticators: %s", st.Raw)
		}
		// Both sign in.
		m.signInTOTP(seed)
		m.signInTOTP(seed2)

		// A pending authenticator expires after 15 minutes.
		id3, seed3 := mfaStart(e, m.token, "late", map[string]string{"password": m.password})
		e.clock.Add(16 * time.Minute)
		late := mfaConfirm(e, &m.token, id3, seed3).must(t, 409)
		if late.code() != "enrollment_expired" {
			t.Fatalf("late confirm: %s", late.Raw)
		}
		if n := len(mfaAuths(mfaStatus(e, m.token))); n != 2 {
			t.Fatalf("%d authenticators listed after one expired, want 2", n)
		}

		// At most ten, pending ones included; the expired one is gone and
		// does not take a place.
		for i := len(mfaAuths(mfaStatus(e, m.token))); i < 10; i++ {
			r := e.call("POST", "/api/v1/me/mfa/totp", m.token, map[string]string{"name": fmt.Sprintf("spare %d", i), "password": m.password})
			if r.Status != 201 {
				t.Fatalf("authenticator %d of 10 refused: %s", i+1, r.Raw)
			}
		}
		if n := len(mfaAuths(mfaStatus(e, m.token))); n != 10 {
			t.Fatalf("%d authenticators, want 10", n)
		}
		over := e.call("POST", "/api/v1/me/mfa/totp", m.token, map[string]string{"name": "eleventh", "password": m.password}).must(t, 409)
		if over.code() != "too_many_authenticators" {
			t.Fatalf("eleventh: %s", over.Raw)
		}
	})
}

// TestMFAOathtoolInterop enrolls and signs in with codes computed by an
// independent implementation, Debian's oathtool.
func TestMFAOathtoolInterop(t *testing.T) {
	if _, err := exec.LookPath("oathtool"); err != nil {
		t.Fatalf("oathtool is required (apt-get install oathtool): %v", err)
	}
	oath := func(t *testing.T, e *env, sec string) string {
		t.Helper()
		now := e.clock.Now().UTC().Format("2006-01-02 15:04:05 UTC")
		out, err := exec.Command("oathtool", "--totp", "-b", sec, "--now", now).CombinedOutput()
		if err != nil {
			t.Fatalf("oathtool: %v: %s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	mfaEach(t, func(t *testing.T, e *env) {
		m := mfaNewMember(e, "acme", "alice")
		r := e.call("POST", "/api/v1/me/mfa/totp", m.token, map[string]string{"name": "oathtool"}).must(t, 201)
		sec := r.str("secret")
		m.token = e.call("POST", "/api/v1/me/mfa/totp/"+r.str("id")+"/confirm", m.token, map[string]string{"code": oath(t, e, sec)}).must(t, 200).str("session_token")
		for range 3 {
			e.clock.Add(totp.Period + 7*time.Second)
			flow := m.passwordStep()
			r := m.second(flow, oath(t, e, sec)).must(t, 200)
			s := e.call("GET", "/api/v1/session", r.str("session_token"), nil).must(t, 200)
			if s.str("aal") != "aal2" {
				t.Fatalf("session: %s", s.Raw)
			}
		}
	})
}

// TestMFACodeWindow checks which codes sign in: never the enrollment code,
// never a code twice or an older one, steps T−1 and T+1 but not T±2.
func TestMFACodeWindow(t *testing.T) {
	mfaEach(t, func(t *testing.T, e *env) {
		m := mfaNewMember(e, "acme", "alice")
		seed, _ := e.enroll(&m.token, "phone")
		step := totp.StepAt(e.clock.Now())

		// The code that confirmed enrollment, still in its step.
		if r := m.second(m.passwordStep(), totp.Code(seed, step)); r.Status != 401 || r.code() != "invalid_code" {
			t.Fatalf("enrollment code signed in: %d %s", r.Status, r.Raw)
		}
		// T+1 is accepted once; then neither it nor the older T is.
		m.second(m.passwordStep(), totp.Code(seed, step+1)).must(t, 200)
		m.second(m.passwordStep(), totp.Code(seed, step+1)).must(t, 401)
		m.second(m.passwordStep(), totp.Code(seed, step)).must(t, 401)

		// T−1.
		e.clock.Add(5 * totp.Period)
		step = totp.StepAt(e.clock.Now())
		m.second(m.passwordStep(), totp.Code(seed, step-1)).must(t, 200)

		// T±2 are refused, T+1 and T then work.
		e.clock.Add(5 * totp.Period)
		step = totp.StepAt(e.clock.Now())
		flow := m.passwordStep()
		m.second(flow, totp.Code(seed, step-2)).must(t, 401)
		m.second(flow, totp.Code(seed, step+2)).must(t, 401)
		m.second(flow, totp.Code(seed, step+1)).must(t, 200)
		e.clock.Add(5 * totp.Period)
		m.second(m.passwordStep(), totp.Code(seed, totp.StepAt(e.clock.Now()))).must(t, 200)
	})
}

// TestMFASessionTokens checks the tokens of a two-step sign-in: the flow
// token is no session, each step issues a new token, the session is aal2,
// and tokens never issued are refused.
func TestMFASessionTokens(t *testing.T) {
	mfaEach(t, func(t *testing.T, e *env) {
		m := mfaNewMember(e, "acme", "alice")
		aal1 := m.token
		seed, _ := e.enroll(&m.token, "phone")

		flow := m.passwordStep()
		e.call("GET", "/api/v1/session", flow, nil).must(t, 401)
		// A session token is no flow token either.
		m.second(aal1, e.code(seed)).must(t, 401)
		r := m.second(flow, totp.Code(seed, totp.StepAt(e.clock.Now()))).must(t, 200)
		tok := r.str("session_token")
		if tok == "" || tok == flow || tok == aal1 {
			t.Fatalf("session token %q reuses an earlier token", tok)
		}
		s := e.call("GET", "/api/v1/session", tok, nil).must(t, 200)
		if s.str("aal") != "aal2" || s.Body["user"].(map[string]any)["id"] != m.userID {
			t.Fatalf("session: %s", s.Raw)
		}
		// The flow is spent.
		m.second(flow, e.code(seed)).must(t, 401)

		// Another sign-in gets other tokens.
		flow2 := m.passwordStep()
		tok2 := m.second(flow2, e.code(seed)).must(t, 200).str("session_token")
		if flow2 == flow || tok2 == tok || tok2 == flow2 {
			t.Fatal("a token was issued twice")
		}

		// Tokens the server never issued, well-formed or not.
		for _, bad := range []string{secret.NewToken(), strings.Repeat("A", 43), "x", tok + "A", strings.ToUpper(tok)} {
			if bad == tok {
				continue
			}
			r := e.call("GET", "/api/v1/session", bad, nil)
			if r.Status != 401 {
				t.Fatalf("token %q: %d %s", bad, r.Status, r.Raw)
			}
			e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": bad, "code": e.code(seed)}).must(t, 401)
		}
	})
}

package web_test

import (
	"bufio"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
	"github.com/sekisho/sekisho/web"
)

// newMetricsEnv is newEnv with metrics recorded, and the address of the
// listener that serves them.
func newMetricsEnv(t *testing.T, d store.Dialect) (e *env, metricsURL string) {
	t.Helper()
	e = newEnv(t, d)
	e.srv.Close()
	m := web.NewMetrics(e.db)
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: e.logs}, nil))
	e.srv = httptest.NewServer(web.NewServer(e.svc, e.db, log, web.Options{BaseURL: "http://localhost", Metrics: m}))
	t.Cleanup(e.srv.Close)
	ms := httptest.NewServer(m.Handler())
	t.Cleanup(ms.Close)
	return e, ms.URL
}

// scrape reads the metrics over HTTP in the text format: series (name and
// labels, as written) → value.
func scrape(t *testing.T, metricsURL string) map[string]float64 {
	t.Helper()
	res, err := http.Get(metricsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %s, %s", res.Status, res.Header.Get("Content-Type"))
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func signIns(method, result string) string {
	return `sekisho_sign_ins_total{method="` + method + `",result="` + result + `"}`
}

func mfaFailures(method, reason string) string {
	return `sekisho_mfa_failures_total{method="` + method + `",reason="` + reason + `"}`
}

const (
	resets         = "sekisho_mfa_resets_total"
	policyChanges  = "sekisho_policy_changes_total"
	eventsMetrics  = "sekisho_sign_ins_total sekisho_mfa_failures_total " + resets + " " + policyChanges
	latencyMetric  = "sekisho_http_request_duration_seconds"
	sessionLatency = latencyMetric + `_count{code="200",method="GET",route="/api/v1/session"}`
)

func TestMetrics(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { testMetrics(t, d) })
	}
}

func testMetrics(t *testing.T, d store.Dialect) {
	e, metricsURL := newMetricsEnv(t, d)
	last := scrape(t, metricsURL)
	// check checks that the event counters moved by want since the last
	// check, and no other did.
	check := func(name string, want map[string]float64) {
		t.Helper()
		now := scrape(t, metricsURL)
		for k, v := range now {
			metric, _, _ := strings.Cut(k, "{")
			if !strings.Contains(eventsMetrics, metric) {
				continue
			}
			if got := v - last[k]; got != want[k] {
				t.Errorf("%s: %s moved by %v, want %v", name, k, got, want[k])
			}
		}
		for k := range want {
			if _, ok := now[k]; !ok {
				t.Errorf("%s: no series %s", name, k)
			}
		}
		last = now
	}
	step := func(name string, want map[string]float64, do func()) {
		t.Helper()
		do()
		check(name, want)
	}
	signIn := func(email, password string) resp {
		t.Helper()
		return e.call("POST", "/api/v1/sign-in", "", map[string]string{"workspace": "acme", "email": email, "password": password}).must(t, 200)
	}
	const pw = "lantern orchard velvet 7"

	var admin, member, memberID string
	var seed []byte
	var codes []string
	step("password", map[string]float64{signIns("password", "success"): 2}, func() {
		_, admin = e.workspace("acme")
		memberID = e.invite(admin, "m@acme.test", "member", pw)
		member = e.signIn("acme", "m@acme.test", pw)
		e.invite(admin, "t@acme.test", "member", pw)
	})
	step("wrong password", map[string]float64{signIns("password", "failure"): 1}, func() {
		e.call("POST", "/api/v1/sign-in", "", map[string]string{"workspace": "acme", "email": "m@acme.test", "password": "not it at all"}).must(t, 401)
	})
	step("wrong first code", map[string]float64{mfaFailures("totp", "invalid_code"): 1}, func() {
		r := e.call("POST", "/api/v1/me/mfa/totp", member, map[string]string{"name": "old phone"}).must(t, 201)
		e.call("POST", "/api/v1/me/mfa/totp/"+r.str("id")+"/confirm", member, map[string]string{"code": "000000"}).must(t, 401)
		seed, codes = e.enroll(&member, "phone")
	})
	step("TOTP", map[string]float64{
		signIns("password", "mfa_required"): 1,
		signIns("totp", "failure"):          1,
		mfaFailures("totp", "invalid_code"): 1,
		signIns("totp", "success"):          1,
	}, func() {
		flow := signIn("m@acme.test", pw).str("flow_token")
		e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": flow, "code": "000000"}).must(t, 401)
		e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": flow, "code": e.code(seed)}).must(t, 200)
	})
	step("recovery code", map[string]float64{
		signIns("password", "mfa_required"):          1,
		signIns("recovery_code", "failure"):          1,
		mfaFailures("recovery_code", "invalid_code"): 1,
		signIns("recovery_code", "success"):          1,
		signIns("totp", "expired"):                   1,
	}, func() {
		flow := signIn("m@acme.test", pw).str("flow_token")
		e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": flow, "recovery_code": "AAAAA-BBBBB"}).must(t, 401)
		e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": flow, "recovery_code": codes[0]}).must(t, 200)
		e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": flow, "code": e.code(seed)}).must(t, 401)
	})

	// Wrong codes until the throttle answers: five end a flow, and the
	// user's attempts beyond the free ones wait.
	tTok := e.signIn("acme", "t@acme.test", pw)
	e.enroll(&tTok, "phone")
	check("another member", map[string]float64{signIns("password", "success"): 1})
	var flows, wrong, throttled float64
	for flow := ""; throttled == 0; {
		if wrong > 30 {
			t.Fatal("no throttle after 30 wrong codes")
		}
		if flow == "" {
			flow = signIn("t@acme.test", pw).str("flow_token")
			flows++
		}
		r := e.call("POST", "/api/v1/sign-in/mfa", "", map[string]string{"flow_token": flow, "code": "000000"})
		switch {
		case r.Status == http.StatusTooManyRequests:
			throttled++
		case r.code() == "flow_ended":
			wrong++
			flow = ""
		case r.code() == "invalid_code":
			wrong++
		default:
			t.Fatalf("wrong code: %s", r.Raw)
		}
	}
	if flows < 2 {
		t.Fatalf("%v wrong codes in %v flow", wrong, flows)
	}
	check("throttle", map[string]float64{
		signIns("password", "mfa_required"): flows,
		signIns("totp", "failure"):          wrong,
		mfaFailures("totp", "invalid_code"): wrong,
		signIns("totp", "throttled"):        1,
		mfaFailures("totp", "throttled"):    1,
	})

	step("admin resets MFA", map[string]float64{resets: 1}, func() {
		e.call("DELETE", "/api/v1/admin/users/"+memberID+"/mfa", admin, map[string]string{"password": "wrong password!"}).must(t, 401)
		e.call("DELETE", "/api/v1/admin/users/"+memberID+"/mfa", admin, map[string]string{"password": adminPassword}).must(t, 200)
	})
	adminSeed, adminCodes := e.enroll(&admin, "admin phone")
	step("policy", map[string]float64{policyChanges: 1}, func() {
		e.call("PATCH", "/api/v1/admin/workspace", admin, map[string]any{"mfa_grace_days": 91}).must(t, 400)
		e.call("PATCH", "/api/v1/admin/workspace", admin, map[string]any{"require_mfa": true, "mfa_grace_days": 0}).must(t, 200)
	})
	step("forced enrollment", map[string]float64{
		signIns("password", "enrollment_required"): 1,
		signIns("totp_enrollment", "failure"):      1,
		mfaFailures("totp", "invalid_code"):        1,
		signIns("totp_enrollment", "success"):      1,
	}, func() {
		flow := signIn("m@acme.test", pw).str("flow_token")
		r := e.call("POST", "/api/v1/sign-in/enroll", "", map[string]string{"flow_token": flow}).must(t, 200)
		e.call("POST", "/api/v1/sign-in/enroll/confirm", "", map[string]string{"flow_token": flow, "code": "000000"}).must(t, 401)
		e.call("POST", "/api/v1/sign-in/enroll/confirm", "", map[string]string{"flow_token": flow, "code": e.code(decodeSeed(t, r.str("secret")))}).must(t, 200)
	})

	// The pages count the same events.
	c := newPgClient(t, e.srv.URL)
	step("pages: sign-in", map[string]float64{
		signIns("password", "failure"):      1,
		signIns("password", "mfa_required"): 1,
		signIns("totp", "failure"):          1,
		mfaFailures("totp", "invalid_code"): 1,
		signIns("totp", "success"):          1,
	}, func() {
		c.post("/w/acme/sign-in", url.Values{"email": {"admin@acme.test"}, "password": {"not it at all"}}).must(t, 401)
		c.post("/w/acme/sign-in", url.Values{"email": {"admin@acme.test"}, "password": {adminPassword}}).redirectsTo(t, "/w/acme/sign-in/code")
		c.post("/w/acme/sign-in/code", url.Values{"code": {"000000"}}).must(t, 401)
		c.post("/w/acme/sign-in/code", url.Values{"code": {e.code(adminSeed)}}).redirectsTo(t, "/account")
	})
	step("pages: reset and policy", map[string]float64{resets: 1, policyChanges: 1}, func() {
		c.post("/admin/users/"+memberID+"/reset-mfa", url.Values{"password": {adminPassword}}).redirectsTo(t, "/admin/users/"+memberID)
		c.post("/admin/workspace", url.Values{"require_mfa": {"on"}, "mfa_grace_days": {"0"}, "password": {adminPassword}}).redirectsTo(t, "/admin/workspace")
		// Signed out, the same forms only lead to the sign-in page.
		newPgClient(t, e.srv.URL).post("/admin/workspace", url.Values{"mfa_grace_days": {"7"}}).must(t, http.StatusSeeOther)
	})
	step("pages: recovery code", map[string]float64{
		signIns("password", "mfa_required"): 1,
		signIns("recovery_code", "success"): 1,
		signIns("totp", "expired"):          1,
	}, func() {
		c := newPgClient(t, e.srv.URL)
		c.post("/w/acme/sign-in", url.Values{"email": {"admin@acme.test"}, "password": {adminPassword}}).redirectsTo(t, "/w/acme/sign-in/code")
		c.post("/w/acme/sign-in/recovery", url.Values{"recovery_code": {adminCodes[0]}}).redirectsTo(t, "/account")
		c.post("/w/acme/sign-in/code", url.Values{"code": {e.code(adminSeed)}}).redirectsTo(t, "/w/acme/sign-in")
	})
	step("pages: forced enrollment", map[string]float64{
		signIns("password", "enrollment_required"): 1,
		signIns("totp_enrollment", "failure"):      1,
		mfaFailures("totp", "invalid_code"):        1,
		signIns("totp_enrollment", "success"):      1,
	}, func() {
		m := newPgClient(t, e.srv.URL)
		m.post("/w/acme/sign-in", url.Values{"email": {"m@acme.test"}, "password": {pw}}).redirectsTo(t, "/w/acme/sign-in/enroll")
		qr := m.post("/w/acme/sign-in/enroll", nil).must(t, 200)
		seed := decodeSeed(t, strings.ReplaceAll(pgFind(t, qr.Body, `id="totp-secret">([A-Z2-7 ]+)<`), " ", ""))
		uri := pgUnescape(pgFind(t, qr.Body, `name="uri" value="([^"]+)"`))
		m.post("/w/acme/sign-in/enroll/confirm", url.Values{"code": {"000000"}, "uri": {uri}}).must(t, 401)
		m.post("/w/acme/sign-in/enroll/confirm", url.Values{"code": {e.code(seed)}, "uri": {uri}}).must(t, 200)
	})

	// Latency by route pattern, method and status; never by raw path.
	e.call("GET", "/api/v1/session", admin, nil).must(t, 200)
	e.call("GET", "/api/v1/admin/users/"+memberID, admin, nil).must(t, 200)
	e.call("BREW", "/api/v1/session", admin, nil)
	all := scrape(t, metricsURL)
	for _, k := range []string{
		sessionLatency,
		latencyMetric + `_count{code="200",method="GET",route="/api/v1/admin/users/{id}"}`,
		latencyMetric + `_count{code="200",method="DELETE",route="/api/v1/admin/users/{id}/mfa"}`,
		latencyMetric + `_count{code="303",method="POST",route="/w/{slug}/sign-in/code"}`,
		latencyMetric + `_count{code="405",method="other",route="/api/"}`,
		latencyMetric + `_bucket{code="200",method="GET",route="/api/v1/session",le="+Inf"}`,
	} {
		if all[k] < 1 {
			t.Errorf("%s = %v, want at least 1", k, all[k])
		}
	}
	for k := range all {
		if strings.Contains(k, memberID) || strings.Contains(k, "BREW") {
			t.Errorf("raw path or method in a label: %s", k)
		}
	}
	// The database pool, the Go runtime and the process.
	for _, k := range []string{"sekisho_db_max_open_connections", "sekisho_db_open_connections", "go_goroutines", "process_start_time_seconds"} {
		if all[k] <= 0 {
			t.Errorf("%s = %v, want > 0", k, all[k])
		}
	}
	for _, k := range []string{"sekisho_db_in_use_connections", "sekisho_db_idle_connections", "sekisho_db_wait_count_total", "sekisho_db_wait_duration_seconds_total", "sekisho_mail_outbox_messages"} {
		if _, ok := all[k]; !ok {
			t.Errorf("no %s", k)
		}
	}

	// The server itself answers no /metrics.
	if r := e.call("GET", "/metrics", "", nil); r.Status != http.StatusNotFound || strings.Contains(r.Raw, "sekisho_") {
		t.Errorf("GET /metrics on the main handler: %d %.100s", r.Status, r.Raw)
	}
	res, err := http.Get(metricsURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("GET / on the metrics handler: %s", res.Status)
	}
}

// BenchmarkMetricsOverhead is what recording costs per request, measured
// on /healthz, which does no I/O.
func BenchmarkMetricsOverhead(b *testing.B) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	for _, name := range []string{"off", "on"} {
		opts := web.Options{BaseURL: "http://localhost"}
		if name == "on" {
			opts.Metrics = web.NewMetrics(nil)
		}
		h := web.NewServer(nil, nil, log, opts)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			req := httptest.NewRequest("GET", "/healthz", nil)
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
			}
		})
	}
}

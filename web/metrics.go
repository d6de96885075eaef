package web

import (
	"context"
	"database/sql"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sekisho/sekisho"
)

// Metrics are sekisho's Prometheus metrics: request latency by route,
// sign-ins by method and result, second-factor failures, MFA resets,
// policy changes and the database pool, beside the Go runtime and process
// metrics. Each Metrics has a registry of its own, so that any number of
// servers can live in one process (the tests start many).
//
// The server records into a Metrics given in Options; Handler serves them.
// The server never answers /metrics itself: the metrics are served on a
// listener of their own, so that they are never public by accident.
//
// What a request meant is read from its route pattern, its status and what
// the handler noted on the way out (noteError, noteAnswer, noteRequest):
// the API error code, the sign-in state, the second factor given. The pages
// have no error codes; there the status and the redirect tell.
type Metrics struct {
	reg      *prometheus.Registry
	latency  *prometheus.HistogramVec
	signIns  *prometheus.CounterVec
	failures *prometheus.CounterVec
	resets   prometheus.Counter
	policy   prometheus.Counter

	// series are the resolved latency children and the meaning of each
	// route, by route, method and status: an immutable map, replaced
	// whole when a new series appears (rarely: the set is bounded by the
	// routes), so that the hot path reads it without a lock.
	series atomic.Pointer[map[seriesKey]*series]
	mu     sync.Mutex // serializes replacing series

	signInCounters  map[[2]string]prometheus.Counter // method, result
	failureCounters map[[2]string]prometheus.Counter // method, reason
}

// Pool is the database as the metrics see it (*store.DB): its connection
// pool and its mail outbox.
type Pool interface {
	Stats() sql.DBStats
	OutboxLen(ctx context.Context) (int, error)
}

// NewMetrics returns sekisho's metrics, reading pool's statistics (when
// not nil) at each scrape.
func NewMetrics(pool Pool) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sekisho_http_request_duration_seconds",
			Help: "Time to answer an HTTP request, by route pattern, method and status code.",
			// From the session check (well under a millisecond) to a
			// password hash waiting for a free slot.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "code"}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sekisho_sign_ins_total",
			Help: "Sign-in steps by the credential checked (method) and their result.",
		}, []string{"method", "result"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sekisho_mfa_failures_total",
			Help: "Second-factor and access codes refused, as wrong (invalid_code) or because of too many attempts (throttled).",
		}, []string{"method", "reason"}),
		resets: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sekisho_mfa_resets_total",
			Help: "MFA resets done by workspace admins through the API or the admin console.",
		}),
		policy: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sekisho_policy_changes_total",
			Help: "Workspace security policy updates saved through the API or the admin console.",
		}),
		signInCounters:  map[[2]string]prometheus.Counter{},
		failureCounters: map[[2]string]prometheus.Counter{},
	}
	m.series.Store(&map[seriesKey]*series{})
	m.reg.MustRegister(m.latency, m.signIns, m.failures, m.resets, m.policy,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if pool != nil {
		m.reg.MustRegister(newPoolCollector(pool))
	}
	// Every series that can occur exists from the start, at 0, so that
	// rate() and alerts see the first event.
	for _, method := range []string{methodPassword, methodTOTP, methodRecoveryCode, methodTOTPEnrollment} {
		for _, result := range []string{resultSuccess, resultMFARequired, resultEnrollmentRequired, resultFailure,
			resultThrottled, resultExpired, resultInvalid, resultError} {
			switch {
			case method == methodPassword && result == resultExpired,
				method != methodPassword && (result == resultMFARequired || result == resultEnrollmentRequired):
				continue
			}
			m.signInCounters[[2]string{method, result}] = m.signIns.WithLabelValues(method, result)
		}
	}
	for _, method := range []string{methodTOTP, methodRecoveryCode, methodAccessCode} {
		for _, reason := range []string{reasonInvalidCode, reasonThrottled} {
			m.failureCounters[[2]string{method, reason}] = m.failures.WithLabelValues(method, reason)
		}
	}
	return m
}

// Handler serves the metrics in the Prometheus exposition format at
// GET /metrics, and nothing else.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	return mux
}

// The labels of sekisho_sign_ins_total and sekisho_mfa_failures_total.
const (
	methodPassword       = "password"
	methodTOTP           = "totp"
	methodRecoveryCode   = "recovery_code"
	methodTOTPEnrollment = "totp_enrollment" // the first code of forced enrollment, which signs in
	methodAccessCode     = "access_code"

	resultSuccess            = "success"             // a session was issued
	resultMFARequired        = "mfa_required"        // the password was right; a second factor is next
	resultEnrollmentRequired = "enrollment_required" // the password was right; enrollment is next
	resultFailure            = "failure"             // wrong credentials or code, or a disabled account
	resultThrottled          = "throttled"           // refused for too many attempts
	resultExpired            = "expired"             // the sign-in's flow was unknown or over
	resultInvalid            = "invalid"             // malformed input
	resultError              = "error"               // a server error

	reasonInvalidCode = "invalid_code"
	reasonThrottled   = "throttled"
)

// routeKind is what a route means to the metrics beyond its latency.
type routeKind uint8

const (
	routeOther         routeKind = iota
	routePassword                // sign-in's first step
	routeSecondFactor            // the API's second step: a TOTP or a recovery code, by the body
	routeTOTP                    // the pages' second step with a TOTP code
	routeRecoveryCode            // the pages' second step with a recovery code
	routeEnrollStart             // forced enrollment begins, with an access code after a reset
	routeEnrollConfirm           // forced enrollment's first code, which signs in
	routeConfirmTOTP             // account settings: a new authenticator's first code
	routeMFAReset                // an admin resets a user's MFA
	routePolicy                  // an admin changes the workspace policy
)

// routeKinds names the routes whose answers count beyond latency, API and
// pages side by side. A test walks each through HTTP.
var routeKinds = map[string]routeKind{
	"POST /api/v1/sign-in":                  routePassword,
	"POST /w/{slug}/sign-in":                routePassword,
	"POST /api/v1/sign-in/mfa":              routeSecondFactor,
	"POST /w/{slug}/sign-in/code":           routeTOTP,
	"POST /w/{slug}/sign-in/recovery":       routeRecoveryCode,
	"POST /api/v1/sign-in/enroll":           routeEnrollStart,
	"POST /w/{slug}/sign-in/enroll":         routeEnrollStart,
	"POST /api/v1/sign-in/enroll/confirm":   routeEnrollConfirm,
	"POST /w/{slug}/sign-in/enroll/confirm": routeEnrollConfirm,
	"POST /api/v1/me/mfa/totp/{id}/confirm": routeConfirmTOTP,
	"POST /account/mfa/totp/{id}/confirm":   routeConfirmTOTP,
	"DELETE /api/v1/admin/users/{id}/mfa":   routeMFAReset,
	"POST /admin/users/{id}/reset-mfa":      routeMFAReset,
	"PATCH /api/v1/admin/workspace":         routePolicy,
	"POST /admin/workspace":                 routePolicy,
}

type seriesKey struct {
	pattern, method string
	status          int
}

type series struct {
	latency prometheus.Observer
	kind    routeKind
}

// outcome is what a handler noted about its answer for the metrics.
type outcome struct {
	code     string // the API error code
	state    string // the sign-in state answered
	recovery bool   // the API's second step was given a recovery code
}

// noteError notes the API error code of the answer on w.
func noteError(w http.ResponseWriter, code string) {
	if sw, ok := w.(*statusWriter); ok {
		sw.note.code = code
	}
}

// noteAnswer notes the sign-in state of an API answer.
func noteAnswer(w http.ResponseWriter, v any) {
	if si, ok := v.(signInJSON); ok {
		if sw, ok := w.(*statusWriter); ok {
			sw.note.state = si.State
		}
	}
}

// noteRecoveryCode notes whether the API's second sign-in step was given
// a recovery code: a wrong TOTP code and a wrong recovery code answer alike.
func noteRecoveryCode(w http.ResponseWriter, used bool) {
	if sw, ok := w.(*statusWriter); ok {
		sw.note.recovery = used
	}
}

// observe records one answered request; m may be nil.
func (s *Server) observe(r *http.Request, sw *statusWriter, elapsed time.Duration) {
	m := s.opts.Metrics
	if m == nil {
		return
	}
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	// The method is the client's text: only the usual ones are labels.
	method := "other"
	switch r.Method {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		method = r.Method
	}
	key := seriesKey{r.Pattern, method, status}
	se, ok := (*m.series.Load())[key]
	if !ok {
		se = m.addSeries(key)
	}
	se.latency.Observe(elapsed.Seconds())
	if se.kind == routeOther && sw.note.code == "" {
		return
	}
	m.count(se.kind, status, &sw.note, s.pageState(se.kind, sw))
}

// addSeries resolves the latency child and the meaning of a new series.
func (m *Metrics) addSeries(key seriesKey) *series {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.series.Load()
	if se, ok := old[key]; ok {
		return se
	}
	// The route is the pattern without its method, which has a label of
	// its own; never the path, which may hold a token and is unbounded.
	route := key.pattern
	if i := strings.IndexByte(route, ' '); i >= 0 {
		route = route[i+1:]
	}
	if route == "" {
		route = "(no route)"
	}
	se := &series{latency: m.latency.WithLabelValues(route, key.method, strconv.Itoa(key.status)), kind: routeKinds[key.pattern]}
	next := make(map[seriesKey]*series, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[key] = se
	m.series.Store(&next)
	return se
}

// count turns the answer of a route that means something into events:
// the one place that decides what counts as which.
func (m *Metrics) count(kind routeKind, status int, o *outcome, state string) {
	if state == "" {
		state = o.state
	}
	// The credential the route checks; elsewhere, a code can only come
	// as the step-up proof that some changes take, a TOTP code.
	method := methodTOTP
	switch kind {
	case routePassword:
		method = methodPassword
	case routeSecondFactor:
		if o.recovery {
			method = methodRecoveryCode
		}
	case routeRecoveryCode:
		method = methodRecoveryCode
	case routeEnrollStart:
		method = methodAccessCode
	case routeEnrollConfirm:
		method = methodTOTPEnrollment
	}

	switch kind {
	case routePassword, routeSecondFactor, routeTOTP, routeRecoveryCode, routeEnrollConfirm:
		if result := signInResult(status, o.code, state); result != "" {
			m.inc(m.signInCounters, m.signIns, method, result)
		}
	case routeMFAReset:
		if status < 300 || state == stateAdminDone {
			m.resets.Inc()
		}
	case routePolicy:
		if status < 300 || state == stateAdminDone {
			m.policy.Inc()
		}
	}

	// Second factors refused. The API names the error; a page answers a
	// wrong code with 401 (wrong access codes, 400 there like any bad
	// input, are not told apart on the pages).
	var reason string
	switch {
	case status == http.StatusTooManyRequests && kind != routeOther && kind != routePassword &&
		kind != routeMFAReset && kind != routePolicy:
		reason = reasonThrottled
	case o.code == sekisho.ErrInvalidCode.Code, o.code == "flow_ended" && kind != routeOther:
		reason = reasonInvalidCode
	case o.code == "invalid_access_code":
		method, reason = methodAccessCode, reasonInvalidCode
	case o.code == "" && status == http.StatusUnauthorized &&
		(kind == routeTOTP || kind == routeRecoveryCode || kind == routeEnrollConfirm || kind == routeConfirmTOTP):
		reason = reasonInvalidCode
	}
	if reason != "" {
		if method == methodTOTPEnrollment {
			method = methodTOTP
		}
		m.inc(m.failureCounters, m.failures, method, reason)
	}
}

func (m *Metrics) inc(resolved map[[2]string]prometheus.Counter, vec *prometheus.CounterVec, a, b string) {
	if c, ok := resolved[[2]string{a, b}]; ok {
		c.Inc()
		return
	}
	vec.WithLabelValues(a, b).Inc()
}

// signInResult is the result label of a sign-in step's answer.
func signInResult(status int, code, state string) string {
	switch state {
	case string(sekisho.StepSignedIn):
		return resultSuccess
	case string(sekisho.StepMFARequired):
		return resultMFARequired
	case string(sekisho.StepEnrollmentRequired):
		return resultEnrollmentRequired
	}
	switch {
	case status == http.StatusTooManyRequests:
		return resultThrottled
	case status >= 500:
		return resultError
	case code == sekisho.ErrInvalidFlow.Code, code == "enrollment_expired":
		return resultExpired
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return resultFailure
	case status >= 400:
		return resultInvalid
	case status >= 300:
		// A page that sends the visitor back to the first step: the flow
		// was unknown, expired, or ended by the fifth wrong code.
		return resultExpired
	}
	return "" // an enrollment page shown, which decides nothing yet
}

// stateAdminDone is pageState's word for an admin page that saved.
const stateAdminDone = "admin_done"

// pageState reads a page's answer the way the API's answer says its
// sign-in state: a new session cookie is a signed-in user, a redirect to
// the next step names it. An admin page that redirects within the console
// has saved. The API's answers carry none of these, so it returns "".
func (s *Server) pageState(kind routeKind, sw *statusWriter) string {
	switch kind {
	case routeOther, routeSecondFactor:
		return ""
	}
	h := sw.Header()
	loc := h.Get("Location")
	switch kind {
	case routeMFAReset, routePolicy:
		if sw.status < 400 && strings.HasPrefix(loc, "/admin/") {
			return stateAdminDone
		}
		return ""
	}
	name := s.cookieName()
	for _, c := range h["Set-Cookie"] {
		if len(c) > len(name)+1 && strings.HasPrefix(c, name) && c[len(name)] == '=' && c[len(name)+1] != ';' {
			return string(sekisho.StepSignedIn)
		}
	}
	if kind == routePassword {
		switch {
		case strings.HasSuffix(loc, "/sign-in/code"), strings.HasSuffix(loc, "/sign-in/recovery"):
			return string(sekisho.StepMFARequired)
		case strings.HasSuffix(loc, "/sign-in/enroll"):
			return string(sekisho.StepEnrollmentRequired)
		}
	}
	return ""
}

// poolCollector reads the database pool's statistics and the outbox's
// length at each scrape.
type poolCollector struct {
	pool                                                Pool
	maxOpen, open, inUse, idle, waits, waitTime, outbox *prometheus.Desc
}

func newPoolCollector(pool Pool) *poolCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &poolCollector{pool: pool,
		maxOpen:  d("sekisho_db_max_open_connections", "Most connections the database pool may open."),
		open:     d("sekisho_db_open_connections", "Connections open, in use or idle."),
		inUse:    d("sekisho_db_in_use_connections", "Connections in use."),
		idle:     d("sekisho_db_idle_connections", "Connections idle."),
		waits:    d("sekisho_db_wait_count_total", "Times a query waited for a free connection."),
		waitTime: d("sekisho_db_wait_duration_seconds_total", "Time spent waiting for a free connection."),
		outbox:   d("sekisho_mail_outbox_messages", "Notifications in the outbox: being sent, or waiting for another try."),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.maxOpen, c.open, c.inUse, c.idle, c.waits, c.waitTime, c.outbox} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.pool.Stats()
	ch <- prometheus.MustNewConstMetric(c.maxOpen, prometheus.GaugeValue, float64(st.MaxOpenConnections))
	ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(st.OpenConnections))
	ch <- prometheus.MustNewConstMetric(c.inUse, prometheus.GaugeValue, float64(st.InUse))
	ch <- prometheus.MustNewConstMetric(c.idle, prometheus.GaugeValue, float64(st.Idle))
	ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue, float64(st.WaitCount))
	ch <- prometheus.MustNewConstMetric(c.waitTime, prometheus.CounterValue, st.WaitDuration.Seconds())
	// A database that does not answer leaves the series out of this
	// scrape (the pool's figures above say why) rather than failing it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if n, err := c.pool.OutboxLen(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(c.outbox, prometheus.GaugeValue, float64(n))
	}
}

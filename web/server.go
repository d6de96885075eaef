// Package web is sekisho's HTTP face: the JSON API of PRODUCT.md (and,
// later, the web pages) over the auth service. Handlers decode, call one
// service method and encode; errors become statuses in one function.
package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/sekisho/sekisho/auth"
)

// Options configure the server.
type Options struct {
	// BaseURL is where sekisho is served. Cookies are Secure unless it is
	// a plain http URL on this machine (localhost, 127.0.0.0/8, ::1), for
	// development.
	BaseURL string
	// TrustedProxies are the load balancers whose X-Forwarded-For is
	// believed; from anyone else the header is ignored.
	TrustedProxies []netip.Prefix
	// Metrics, when not nil, records every request; Metrics.Handler
	// serves them, on another listener (this handler has no /metrics).
	Metrics *Metrics
}

// Pinger is the database as /readyz sees it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Server is sekisho's HTTP handler.
type Server struct {
	svc    *auth.Service
	db     Pinger
	log    *slog.Logger
	opts   Options
	secure bool // cookies carry Secure
	mux    *http.ServeMux
}

// NewServer returns the HTTP handler of sekisho.
func NewServer(svc *auth.Service, db Pinger, log *slog.Logger, opts Options) http.Handler {
	s := &Server{svc: svc, db: db, log: log, opts: opts, mux: http.NewServeMux(),
		secure: !localHTTP(opts.BaseURL)}
	if s.secure && strings.HasPrefix(strings.ToLower(opts.BaseURL), "http://") {
		log.Warn("the base URL is plain http on a host other than this machine: cookies stay Secure, so browsers "+
			"will keep no session over it; serve sekisho over https (or through a proxy that does)", "base_url", opts.BaseURL)
	}
	s.routes()
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(s.crossOriginDenied))
	return s.logRequests(csrf.Handler(s.mux))
}

// localHTTP reports whether baseURL is plain http on a loopback host, the
// only place cookies go without Secure. Anywhere else, a plain http URL is
// a mistake: browsers then keep no cookie sent back over it, which fails
// safe rather than sending sessions in the clear.
func localHTTP(baseURL string) bool {
	u, err := url.Parse(baseURL)
	if err != nil || !strings.EqualFold(u.Scheme, "http") {
		return false
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// crossOriginDenied answers a cross-origin request that would change
// state: JSON for the API, an error page in the visitor's language for
// the pages.
func (s *Server) crossOriginDenied(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/") {
		apiHeaders.set(w)
		writeJSON(w, http.StatusForbidden, errorBody("cross_origin_request", "Cross-origin requests that change state are refused."))
		return
	}
	pageHeaders.set(w)
	q := &pageReq{s: s, w: w, r: r, cat: catalogs[s.pickLanguage(r, "")]}
	q.showError(http.StatusForbidden, &errorData{Title: q.cat.T("error_page.forbidden_title"), Message: q.cat.T("error_page.cross_origin")})
}

type ctxKey int

const requestIDKey ctxKey = 0

// statusWriter remembers the status for the request log, and what the
// handler noted for the metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
	note   outcome
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests writes one log line per request with a request id. It logs
// the route pattern, never the raw path: invitation and reset links carry
// their token in the path.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var b [8]byte
		rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		w.Header().Set("X-Request-Id", id)
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
		defer func() {
			if p := recover(); p != nil {
				s.log.ErrorContext(r.Context(), "panic", "request_id", id, "panic", p)
				if sw.status == 0 {
					writeJSON(sw, http.StatusInternalServerError, errorBody("internal_error", "Something went wrong on our side. Try again."))
				}
			}
			elapsed := time.Since(start)
			s.observe(r, sw, elapsed)
			pattern := r.Pattern
			if pattern == "" {
				pattern = "(no route)"
			}
			// Typed attributes: this line is written for every request,
			// and boxing its values cost four allocations.
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", slog.String("request_id", id), slog.String("method", r.Method),
				slog.String("route", pattern), slog.Int("status", sw.status), slog.Int64("duration_ms", elapsed.Milliseconds()),
				slog.String("ip", s.clientIP(r)))
		}()
		next.ServeHTTP(sw, r)
	})
}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// clientIP is the address the request came from: the peer, or the last
// address a trusted proxy added to X-Forwarded-For.
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if !s.trusted(peer) {
		return peer.Unmap().String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !s.trusted(a) {
			return a.Unmap().String()
		}
	}
	return peer.Unmap().String()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// headerSet is a fixed set of response headers. Each value is one slice
// shared by every response: assigning it saves Header.Set's allocation per
// header on the session check, which apps make on every request. Sharing is
// safe because net/http only reads header values, and Header.Add appends to
// a slice that is full, so it copies rather than writing into the shared one.
type headerSet []fixedHeader

type fixedHeader struct {
	key string   // canonical
	val []string // shared, one value, full
}

// fixedHeaders makes a headerSet of key, value pairs.
func fixedHeaders(kv ...string) headerSet {
	hs := make(headerSet, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		hs = append(hs, fixedHeader{http.CanonicalHeaderKey(kv[i]), kv[i+1 : i+2 : i+2]})
	}
	return hs
}

func (hs headerSet) set(w http.ResponseWriter) {
	h := w.Header()
	for _, kv := range hs {
		h[kv.key] = kv.val
	}
}

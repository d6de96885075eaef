package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/auth"
	"github.com/sekisho/sekisho/mail"
	"github.com/sekisho/sekisho/secret"
	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
	"github.com/sekisho/sekisho/web"
)

// BenchmarkSessionCheck measures GET /api/v1/session, the check apps make
// on every request, through the whole handler (logging, CSRF guard,
// routing, the service, the session cache) without the network.
func BenchmarkSessionCheck(b *testing.B) { benchSessionCheck(b, false) }

// BenchmarkSessionCheckMetrics is BenchmarkSessionCheck with metrics
// recorded, to see what they cost on the hottest path.
func BenchmarkSessionCheckMetrics(b *testing.B) { benchSessionCheck(b, true) }

func benchSessionCheck(b *testing.B, metrics bool) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			h, token := benchServer(b, d, metrics)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest("GET", "/api/v1/session", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				for pb.Next() {
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Fatalf("status %d: %s", w.Code, w.Body)
					}
				}
			})
		})
	}
}

// benchServer starts sekisho on a fresh database with one signed-in user,
// recording metrics if asked.
func benchServer(b *testing.B, d store.Dialect, metrics bool) (http.Handler, string) {
	b.Helper()
	db := storetest.Open(b, d)
	keys, err := secret.ParseKeyring("k1:" + strings.Repeat("A", 43) + "=")
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	svc := auth.New(db, secret.NewHasher(testParams, 2), keys, &mail.Recorder{}, log, auth.Config{BaseURL: "http://sekisho.test"})
	ctx := context.Background()
	_, _, link, err := svc.CreateWorkspace(ctx, sekisho.Operator("bench", "benchmark"), "acme", "Acme", "a@acme.test")
	if err != nil {
		b.Fatal(err)
	}
	const password = "purple monkey dishwasher 9"
	if _, err := svc.AcceptInvitation(ctx, sekisho.Anonymous("", ""), link[strings.LastIndexByte(link, '/')+1:], password); err != nil {
		b.Fatal(err)
	}
	res, err := svc.SignIn(ctx, sekisho.Anonymous("127.0.0.1", "bench"), auth.Credentials{Workspace: "acme", Email: "a@acme.test", Password: password})
	if err != nil {
		b.Fatal(err)
	}
	opts := web.Options{BaseURL: "http://sekisho.test"}
	if metrics {
		opts.Metrics = web.NewMetrics(db)
	}
	return web.NewServer(svc, db, log, opts), res.SessionToken
}

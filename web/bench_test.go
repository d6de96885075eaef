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
	opts := web.Options{BaseURL: "http://localhost"}
	if metrics {
		opts.Metrics = web.NewMetrics(db)
	}
	return web.NewServer(svc, db, log, opts), res.SessionToken
}

// BenchmarkSignIn measures POST /api/v1/sign-in with the real argon2id
// parameters through the whole handler, four requests in flight on every
// two cores as in cmd/bench's 4-client load, next to the bare hash at the
// same parallelism: the gap between the two is what a sign-in costs
// besides its hash.
func BenchmarkSignIn(b *testing.B) {
	const password = "purple monkey dishwasher 9"
	b.Run("argon2id", func(b *testing.B) {
		h := secret.NewHasher(secret.DefaultParams, 0)
		b.SetParallelism(2)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := h.Hash(context.Background(), password); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d)
			keys, err := secret.ParseKeyring("k1:" + strings.Repeat("A", 43) + "=")
			if err != nil {
				b.Fatal(err)
			}
			log := slog.New(slog.NewJSONHandler(io.Discard, nil))
			svc := auth.New(db, secret.NewHasher(secret.DefaultParams, 0), keys, &mail.Recorder{}, log, auth.Config{BaseURL: "http://sekisho.test"})
			ctx := context.Background()
			_, _, link, err := svc.CreateWorkspace(ctx, sekisho.Operator("bench", "benchmark"), "acme", "Acme", "a@acme.test")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := svc.AcceptInvitation(ctx, sekisho.Anonymous("", ""), link[strings.LastIndexByte(link, '/')+1:], password); err != nil {
				b.Fatal(err)
			}
			h := web.NewServer(svc, db, log, web.Options{BaseURL: "http://localhost"})
			body := `{"workspace":"acme","email":"a@acme.test","password":"` + password + `"}`
			b.SetParallelism(2)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest("POST", "/api/v1/sign-in", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
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

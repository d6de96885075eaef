package web_test

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/auth"
	"github.com/sekisho/sekisho/mail"
	"github.com/sekisho/sekisho/secret"
	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/web"
)

// A database out of reach is the service being busy, not a bug: 503 with
// Retry-After and the error format, never a 500.
func TestDatabaseUnavailable(t *testing.T) {
	// Nothing listens on port 1; opening connects lazily, so the server
	// starts and every request meets the refused connection.
	db, err := store.OpenNoMigrate("postgres://postgres@127.0.0.1:1/sekisho?sslmode=disable&connect_timeout=2", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	keys, err := secret.ParseKeyring("k1:" + strings.Repeat("A", 43) + "=")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db.SetLogger(log)
	svc := auth.New(db, secret.NewHasher(testParams, 2), keys, &mail.Recorder{}, log, auth.Config{BaseURL: "http://sekisho.test"})
	srv := httptest.NewServer(web.NewServer(svc, db, log, web.Options{BaseURL: "http://localhost"}))
	t.Cleanup(srv.Close)
	e := &env{t: t, srv: srv}

	for _, r := range []resp{
		e.call("POST", "/api/v1/sign-in", "", map[string]string{"workspace": "acme", "email": "a@acme.test", "password": "lantern meadow orbit 4"}),
		e.call("GET", "/api/v1/session", secret.NewToken(), nil),
		e.call("POST", "/api/v1/password-reset", "", map[string]string{"workspace": "acme", "email": "a@acme.test"}),
	} {
		if r.Status != 503 || r.code() != "service_unavailable" || r.Header.Get("Retry-After") != "1" {
			t.Errorf("%d %q (Retry-After %q), want 503 service_unavailable with Retry-After 1: %s",
				r.Status, r.code(), r.Header.Get("Retry-After"), r.Raw)
		}
	}
	if r := e.call("GET", "/readyz", "", nil); r.Status != 503 {
		t.Errorf("/readyz: %d, want 503", r.Status)
	}
}

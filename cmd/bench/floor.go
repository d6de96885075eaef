package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

// The HTTP floor is net/http itself on this machine: a process of its own
// that answers every request with a fixed session-check answer, the same
// size and headers as sekisho's, doing nothing else. No session check can
// beat it over the same client, cores and connections, so the report puts
// the two side by side, as it puts sign-ins beside the raw argon2id rate.

// floorEnv set in the environment makes this binary the floor server.
const floorEnv = "SEKISHO_BENCH_FLOOR"

// floorAnswer is a real answer of GET /api/v1/session, ids changed.
const floorAnswer = `{"session_id":"01a240e4-a5bc-70c2-9f79-21fd37176b8f","user":{"id":"01a240e4-9f2b-7db0-b36a-9f9be160df45",` +
	`"email":"a@acme.test","name":"","locale":"","role":"workspace_admin","status":"active","mfa_enabled":false,` +
	`"joined_at":"2026-12-04T11:50:56.116Z","created_at":"2026-12-04T11:50:54.507Z","updated_at":"2026-12-04T11:50:56.116Z"},` +
	`"workspace":{"id":"01a240e4-9f2b-7829-bccd-61df2367b28d","slug":"acme","name":"Acme"},"role":"workspace_admin",` +
	`"aal":"aal1","authenticated_at":"2026-12-04T11:50:56.129Z","expires_at":"2026-12-05T11:50:56.129Z",` +
	`"idle_expires_at":"2026-12-04T12:51:59.762Z","mfa_enrollment_due_at":null}` + "\n"

// startFloor starts this binary again as the floor server.
func startFloor(ctx context.Context) (*server, error) {
	bin, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	dieWithBench(cmd)
	cmd.Env = append(os.Environ(), floorEnv+"=1")
	return launch(ctx, cmd, "the HTTP floor")
}

// serveFloor runs the floor server until SIGTERM.
func serveFloor() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	body := []byte(floorAnswer)
	header := http.Header{
		"Cache-Control":           {"no-store"},
		"Content-Security-Policy": {"default-src 'none'; frame-ancestors 'none'"},
		"Content-Type":            {"application/json; charset=utf-8"},
		"Referrer-Policy":         {"no-referrer"},
		"X-Content-Type-Options":  {"nosniff"},
		"X-Request-Id":            {"f6e4390c9c43a2c5"},
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for k, v := range header {
			h[k] = v
		}
		w.Write(body)
	})}
	json.NewEncoder(os.Stderr).Encode(map[string]string{"msg": "listening", "addr": ln.Addr().String()})
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// measureFloor checks sessions against the floor at each number of
// connections.
func measureFloor(ctx context.Context, o *options, logf progress) (loads []*loadResult, err error) {
	floor, err := startFloor(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, floor.stop()) }()
	for _, n := range o.connections {
		logf("HTTP floor, %d connections, %s", n, o.duration)
		loads = append(loads, sessionLoad(ctx, []*server{floor}, []string{"floor"}, n, o.duration))
	}
	return loads, ctx.Err()
}

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/web"
)

var serveCommand = &command{
	summary: "run the web server (sign-in pages, account settings, admin console, API)",
	run:     runServe,
}

const (
	// shutdownTimeout is how long in-flight requests get to finish after
	// SIGINT or SIGTERM before their connections are cut.
	shutdownTimeout = 20 * time.Second
	// cleanupEvery is how often expired sessions, sign-in flows, tokens and
	// unconfirmed authenticators are deleted. Lookups already refuse them
	// once expired; deleting only keeps the tables small.
	cleanupEvery = 10 * time.Minute
)

func runServe(ctx context.Context, c *cli, name string, args []string) error {
	f := newFlagSet(name, "[flags]",
		"Runs sekisho's web server. The database is migrated on start. While no workspace\n"+
			"exists, a one-time link for creating the first one is logged to stderr.\n"+
			"Any number of instances may share one PostgreSQL database (--database-url) behind\n"+
			"a load balancer; they must share the same encryption keys too.", true)
	if err := f.parse(c, args); err != nil {
		return err
	}
	cfg, err := f.load(c)
	if err != nil {
		return err
	}
	a, err := openApp(ctx, cfg, c.stderr)
	if err != nil {
		return err
	}

	// Listen before printing anything, so that the address logged is the
	// real one and the setup link works the moment it is shown.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return errors.Join(fmt.Errorf("listen: %w", err), a.close())
	}
	opts := web.Options{BaseURL: cfg.BaseURL, TrustedProxies: cfg.TrustedProxies}
	// The metrics have a listener of their own, never the public one.
	var metricsSrv *http.Server
	var metricsLn net.Listener
	if cfg.MetricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			ln.Close()
			return errors.Join(fmt.Errorf("listen for metrics: %w", err), a.close())
		}
		opts.Metrics = web.NewMetrics(a.db)
		metricsSrv = &http.Server{
			Handler:           opts.Metrics.Handler(),
			ReadHeaderTimeout: 10 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		}
	}
	srv := &http.Server{
		Handler:           web.NewServer(a.svc, a.db, a.log, opts),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	a.log.Info("listening", "addr", ln.Addr().String(), "base_url", cfg.BaseURL, "database", string(a.db.Dialect()))
	// Everything is logged before serving starts, so that whoever sees the
	// server answer (a health check, a test) also sees the setup link and
	// the metrics address; the bound sockets already queue connections.
	link, err := a.svc.SetupLink(ctx)
	if err != nil {
		a.log.Error("create setup link", "err", err)
	} else if link != "" {
		// Logged whatever --log-level says: without it nobody can set up
		// the first workspace.
		r := slog.NewRecord(time.Now(), slog.LevelInfo, "setup link: open it to create the first workspace", 0)
		r.AddAttrs(slog.String("url", link))
		_ = a.log.Handler().Handle(ctx, r) // a stderr that fails can't be told so
	}
	serveErr := make(chan error, 2)
	if metricsSrv != nil {
		a.log.Info("serving metrics", "addr", metricsLn.Addr().String(), "path", "/metrics")
		go func() { serveErr <- metricsSrv.Serve(metricsLn) }()
	}
	go func() { serveErr <- srv.Serve(ln) }()

	cleanupCtx, stopCleanup := context.WithCancel(context.WithoutCancel(ctx))
	var cleanup sync.WaitGroup
	cleanup.Go(func() { deleteExpired(cleanupCtx, a.db, cfg.SessionIdle, a.log) })
	// Mail that a crash, a full queue or a long mail-server outage left in
	// the outbox.
	cleanup.Go(func() { a.svc.RunOutbox(cleanupCtx) })

	select {
	case err = <-serveErr:
		// A listener failed, which only a broken socket does: stop at
		// once, the main server too if it was the metrics listener.
		err = fmt.Errorf("serve: %w", err)
		srv.Close()
	case <-ctx.Done():
		a.log.Info("shutting down", "timeout", shutdownTimeout.String())
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		if err = srv.Shutdown(sctx); err != nil {
			err = fmt.Errorf("requests still running after %s were cut off: %w", shutdownTimeout, err)
			srv.Close()
		}
		cancel()
	}
	if metricsSrv != nil {
		// Scrapes are short; the metrics listener closes with the server.
		metricsSrv.Close()
	}
	// Mail to a whole workspace may take long; what is left of it waits in
	// the database for the next sweep.
	a.svc.Stop()
	stopCleanup()
	cleanup.Wait()
	// The HTTP server is done, so no request can queue mail any more.
	err = errors.Join(err, a.close())
	if err == nil {
		a.log.Info("stopped")
	}
	return err
}

// deleteExpired deletes expired rows now and every cleanupEvery until ctx
// ends. With several instances each does it; the deletes are idempotent.
func deleteExpired(ctx context.Context, db *store.DB, idle time.Duration, log *slog.Logger) {
	t := time.NewTicker(cleanupEvery)
	defer t.Stop()
	for {
		now := time.Now()
		err := db.Update(ctx, func(tx *store.Tx) error {
			return tx.DeleteExpired(now.UnixMilli(), now.UnixMilli()-idle.Milliseconds())
		})
		if err != nil && ctx.Err() == nil {
			log.Error("delete expired rows", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

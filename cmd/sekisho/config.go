package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/auth"
	"github.com/sekisho/sekisho/mail"
	"github.com/sekisho/sekisho/secret"
	"github.com/sekisho/sekisho/store"
)

// config is every setting the subcommands share. It is filled in one place,
// loadConfig, so that a flag, its environment variable and its default mean
// the same thing whichever command reads them.
type config struct {
	Addr            string
	DataDir         string
	DatabaseURL     string
	BaseURL         string
	SMTPURL         string
	EncryptionKeys  string
	SessionIdle     time.Duration
	SessionAbsolute time.Duration
	HashConcurrency int
	TrustedProxies  []netip.Prefix
	MetricsAddr     string // "" serves no metrics
	LogLevel        slog.Level
}

const (
	defaultAddr    = "127.0.0.1:8080"
	defaultDataDir = "./sekisho-data"
	// minSessionIdle leaves a wide margin over the minute by which the
	// service rounds a session's last use (it writes last_seen_at at most
	// once a minute), so an active session never looks idle.
	minSessionIdle = 5 * time.Minute
)

// keyFileName is the key file inside the data folder, used when no keys are
// given in --encryption-keys.
const keyFileName = "keys"

// configFlags are the common flags as registered on one command's FlagSet.
// Each has an environment variable; the flag wins when both are given.
type configFlags struct {
	fs    *flag.FlagSet
	serve bool
	names map[string]string // flag name → environment variable

	addr, dataDir, databaseURL, baseURL, smtpURL, encryptionKeys *string
	sessionIdle, sessionAbsolute                                 *time.Duration
	hashConcurrency                                              *int
	trustedProxies, metricsAddr, logLevel                        *string
}

// addConfigFlags registers the common flags on fs. --addr,
// --trusted-proxies and --metrics-addr only mean something to a listening
// server, so only serve offers them; SEKISHO_ADDR still sets the default
// --base-url of the operator commands, so that the links they print match
// the server's.
func addConfigFlags(fs *flag.FlagSet, serve bool) *configFlags {
	f := &configFlags{fs: fs, serve: serve, names: map[string]string{}}
	str := func(name, env, def, usage string) *string {
		f.names[name] = env
		return fs.String(name, def, usage+" (env "+env+")")
	}
	if serve {
		f.addr = str("addr", "SEKISHO_ADDR", defaultAddr, "`host:port` to listen on")
	}
	f.dataDir = str("data-dir", "SEKISHO_DATA_DIR", defaultDataDir,
		"`folder` for the SQLite database and the key file, created with mode 0700")
	f.databaseURL = str("database-url", "SEKISHO_DATABASE_URL", "",
		"postgres://… to use PostgreSQL, which several instances may share; empty for SQLite in the data folder")
	f.baseURL = str("base-url", "SEKISHO_BASE_URL", "",
		"public `URL` of the web pages, for links in emails and the CLI's output (default \"http://\" + --addr or SEKISHO_ADDR)")
	f.smtpURL = str("smtp-url", "SEKISHO_SMTP_URL", "",
		"smtp://user:pass@host:587?from=noreply%40example.com (STARTTLS) or smtps://…; empty logs mail to stderr")
	f.encryptionKeys = str("encryption-keys", "SEKISHO_ENCRYPTION_KEYS", "",
		"keys that encrypt TOTP secrets, \"id:base64key,…\" (32-byte keys, the first is current); prefer the "+
			"environment variable, since command lines are visible to other users. Empty: the key file <data-dir>/keys, "+
			"created on first use (on PostgreSQL only for a database no instance has used yet). Every instance sharing "+
			"a PostgreSQL database must have the same keys")
	f.names["session-idle"] = "SEKISHO_SESSION_IDLE"
	f.sessionIdle = fs.Duration("session-idle", time.Hour, "sign a session out after this long unused, at least 5m (env SEKISHO_SESSION_IDLE)")
	f.names["session-absolute"] = "SEKISHO_SESSION_ABSOLUTE"
	f.sessionAbsolute = fs.Duration("session-absolute", 24*time.Hour, "sign a session out this long after sign-in, however active (env SEKISHO_SESSION_ABSOLUTE)")
	f.names["hash-concurrency"] = "SEKISHO_HASH_CONCURRENCY"
	f.hashConcurrency = fs.Int("hash-concurrency", runtime.GOMAXPROCS(0),
		"password hashes computed at once; each takes about 19 MiB (env SEKISHO_HASH_CONCURRENCY)")
	if serve {
		f.trustedProxies = str("trusted-proxies", "SEKISHO_TRUSTED_PROXIES", "",
			"comma-separated `CIDRs` of reverse proxies whose X-Forwarded-For is believed for client IPs")
		f.metricsAddr = str("metrics-addr", "SEKISHO_METRICS_ADDR", "",
			"`host:port` of a separate listener serving Prometheus metrics at /metrics, such as 127.0.0.1:9090; "+
				"empty serves none. Never expose it to the internet")
	}
	f.logLevel = str("log-level", "SEKISHO_LOG_LEVEL", "info", "debug, info, warn or error")
	return f
}

// isCommon reports whether name is one of the common flags, for help.
func (f *configFlags) isCommon(name string) bool {
	_, ok := f.names[name]
	return ok
}

// load returns the configuration from the parsed flags and getenv: an
// explicitly given flag, else a non-empty environment variable, else the
// default.
func (f *configFlags) load(getenv func(string) string) (*config, error) {
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	// value returns the flag's text, or its variable's when the flag was
	// not given, so that every option goes through the same parsing.
	value := func(name string) (string, string) {
		fl := f.fs.Lookup(name)
		env := f.names[name]
		if set[name] {
			return fl.Value.String(), "--" + name
		}
		if v := getenv(env); v != "" {
			return v, env
		}
		return fl.Value.String(), "--" + name
	}
	str := func(name string) string { v, _ := value(name); return v }

	cfg := &config{
		DataDir:        str("data-dir"),
		DatabaseURL:    str("database-url"),
		SMTPURL:        str("smtp-url"),
		EncryptionKeys: str("encryption-keys"),
	}
	if f.serve {
		cfg.Addr = str("addr")
	} else if cfg.Addr = getenv("SEKISHO_ADDR"); cfg.Addr == "" {
		cfg.Addr = defaultAddr
	}
	if cfg.DataDir == "" {
		return nil, errors.New("--data-dir must not be empty")
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("address %q: want host:port, such as %s", cfg.Addr, defaultAddr)
	}

	var err error
	if cfg.BaseURL, err = baseURL(str("base-url"), cfg.Addr); err != nil {
		return nil, err
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"session-idle", &cfg.SessionIdle}, {"session-absolute", &cfg.SessionAbsolute}} {
		v, from := value(d.name)
		if *d.dst, err = time.ParseDuration(v); err != nil || *d.dst <= 0 {
			return nil, fmt.Errorf("%s: %q is not a positive duration such as 30m or 12h", from, v)
		}
	}
	if cfg.SessionIdle < minSessionIdle {
		v, from := value("session-idle")
		return nil, fmt.Errorf("%s: %q is too short: use at least %s. A session's last use is recorded at most once a minute, "+
			"so a shorter idle timeout would sign out people who are using it", from, v, minSessionIdle)
	}
	if cfg.SessionIdle > cfg.SessionAbsolute {
		return nil, fmt.Errorf("the idle timeout (%s) is longer than the absolute one (%s)", cfg.SessionIdle, cfg.SessionAbsolute)
	}
	v, from := value("hash-concurrency")
	if cfg.HashConcurrency, err = strconv.Atoi(v); err != nil || cfg.HashConcurrency < 1 {
		return nil, fmt.Errorf("%s: %q is not a positive number", from, v)
	}
	if f.serve {
		v, from := value("trusted-proxies")
		if cfg.TrustedProxies, err = parseCIDRs(v); err != nil {
			return nil, fmt.Errorf("%s: %w", from, err)
		}
		if cfg.MetricsAddr, from = value("metrics-addr"); cfg.MetricsAddr != "" {
			if _, _, err := net.SplitHostPort(cfg.MetricsAddr); err != nil {
				return nil, fmt.Errorf("%s: %q: want host:port, such as 127.0.0.1:9090", from, cfg.MetricsAddr)
			}
		}
	}
	v, from = value("log-level")
	if err := cfg.LogLevel.UnmarshalText([]byte(v)); err != nil {
		return nil, fmt.Errorf("%s: %q is not debug, info, warn or error", from, v)
	}
	return cfg, nil
}

// baseURL checks the configured base URL, or derives it from the listen
// address. A wildcard address (":8080", "0.0.0.0:8080") names no host a
// browser could open, so the derived URL says localhost instead.
func baseURL(raw, addr string) (string, error) {
	if raw == "" {
		host, port, _ := net.SplitHostPort(addr)
		if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
			host = "localhost"
		}
		return "http://" + net.JoinHostPort(host, port), nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("base URL %q: want http(s)://host[:port][/path], without query or credentials", raw)
	}
	return strings.TrimRight(raw, "/"), nil
}

// parseCIDRs parses a comma-separated list of CIDRs; a bare address stands
// for itself alone, since a single proxy is the common case.
func parseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if p, err := netip.ParsePrefix(part); err == nil {
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8", part)
		}
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}

// app is everything a command that acts through the service needs, opened
// from a config by openApp and released by close.
type app struct {
	cfg  *config
	log  *slog.Logger
	db   *store.DB
	keys *secret.Keyring
	mail *mail.Queue
	svc  *auth.Service
}

// mailDrainTimeout bounds how long a command waits, when it ends, for the
// mail it queued (invitations, reset notices) to reach the mail server.
// With serve it comes after the HTTP shutdown's 20 s, and together they fit
// in the 30 s that process supervisors usually allow before SIGKILL.
const mailDrainTimeout = 10 * time.Second

// newLogger returns the JSON logger every command writes to stderr.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// openApp opens the database (migrating it), the key ring, the password
// hasher and the mailer, and builds the service over them.
func openApp(ctx context.Context, cfg *config, stderr io.Writer) (*app, error) {
	logger := newLogger(stderr, cfg.LogLevel)
	db, err := openDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	db.SetLogger(logger)
	keys, err := loadKeys(ctx, cfg, db, logger)
	if err != nil {
		db.Close()
		return nil, err
	}
	// Without SMTP, mail goes through the same log handler as everything
	// else, so that a JSON log collector reads it as one record too.
	var mailer mail.Mailer = mail.NewLogMailerTo(logger.Handler())
	if cfg.SMTPURL != "" {
		if mailer, err = mail.New(cfg.SMTPURL, nil); err != nil {
			db.Close()
			return nil, err
		}
	}
	queue := mail.NewQueue(mailer, logger)
	hasher := secret.NewHasher(secret.DefaultParams, cfg.HashConcurrency)
	svc := auth.New(db, hasher, keys, queue, logger, auth.Config{
		BaseURL:         cfg.BaseURL,
		SessionIdle:     cfg.SessionIdle,
		SessionAbsolute: cfg.SessionAbsolute,
	})
	return &app{cfg: cfg, log: logger, db: db, keys: keys, mail: queue, svc: svc}, nil
}

// close delivers the queued mail, then closes the database. Mail that
// can't be delivered in time is logged, not returned: the change it tells
// about is committed, and the CLI has printed its link already, so the
// command did succeed.
func (a *app) close() error {
	// A batch of mail (Require MFA switched on from the CLI) stops after the
	// page in hand; a server's sweep sends the rest within minutes.
	a.svc.Stop()
	a.svc.Wait() // background notifications are queued before the queue closes
	ctx, cancel := context.WithTimeout(context.Background(), mailDrainTimeout)
	defer cancel()
	if err := a.mail.Close(ctx); err != nil {
		a.log.Warn("not all mail was delivered", "err", err)
	}
	return a.db.Close()
}

// openDB opens and migrates the configured database.
func openDB(ctx context.Context, cfg *config) (*store.DB, error) {
	if err := makeDataDir(cfg); err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return db, nil
}

// makeDataDir creates the data folder when something lives in it (the
// SQLite database or the key file), readable by its owner only. With
// PostgreSQL and keys from the environment nothing does, and no stray
// folder appears in the working directory.
func makeDataDir(cfg *config) error {
	if cfg.DatabaseURL != "" && cfg.EncryptionKeys != "" {
		return nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	return nil
}

// keyFile is the path of the key file in the data folder.
func (cfg *config) keyFile() string { return filepath.Join(cfg.DataDir, keyFileName) }

// loadKeys returns the key ring from --encryption-keys or, without it, from
// the key file in the data folder. With SQLite a missing key file is created
// with a first key: the database and its key live side by side. PostgreSQL
// is shared by instances that must all hold the same keys, so there a
// missing key file is created only for a database that no instance has
// used yet (see createFirstKeyFile).
func loadKeys(ctx context.Context, cfg *config, db *store.DB, log *slog.Logger) (*secret.Keyring, error) {
	if cfg.EncryptionKeys != "" {
		return secret.ParseKeyring(cfg.EncryptionKeys)
	}
	if err := makeDataDir(cfg); err != nil {
		return nil, err
	}
	if db.Dialect() != store.Postgres {
		return secret.LoadOrCreateKeyFile(cfg.keyFile())
	}
	k, err := secret.LoadKeyFile(cfg.keyFile())
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	return createFirstKeyFile(ctx, cfg, db, log)
}

// keysGenerated is the audit event type that records, outside any
// workspace, that an instance made its own key file for a PostgreSQL
// database.
const keysGenerated = "keys.generated"

// createFirstKeyFile makes the key file of a brand-new PostgreSQL deployment
// and records that it did in the database. The record is what keeps a second
// instance from making a key of its own: "no TOTP secret yet" alone would let
// every instance started before the first enrollment make a different key,
// and each would then fail to open the others' secrets.
func createFirstKeyFile(ctx context.Context, cfg *config, db *store.DB, log *slog.Logger) (*secret.Keyring, error) {
	if err := db.View(ctx, func(tx *store.Tx) error { return checkNoKeysInUse(tx, cfg, "") }); err != nil {
		return nil, err
	}
	k, err := secret.LoadOrCreateKeyFile(cfg.keyFile())
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	err = db.Update(ctx, func(tx *store.Tx) error {
		// Instances starting together on a new database must take turns,
		// or each would find no record under READ COMMITTED and make its
		// own key.
		if err := tx.LockName(keysGenerated); err != nil {
			return err
		}
		if err := checkNoKeysInUse(tx, cfg, k.CurrentID()); err != nil {
			return err
		}
		return tx.AddAuditEvent(&sekisho.AuditEvent{
			Time: time.Now().UTC(), Type: keysGenerated, Result: sekisho.ResultSuccess, ActorKind: sekisho.ActorSystem,
			Details: map[string]string{"key_id": k.CurrentID(), "host": host, "key_file": cfg.keyFile()},
		})
	})
	if err != nil {
		// Another instance got there first with another key: this one's
		// key would strand every secret sealed with it, so it goes.
		var inUse *keysInUseError
		if errors.As(err, &inUse) {
			os.Remove(cfg.keyFile())
		}
		return nil, err
	}
	log.Warn("created a new encryption key file for this new PostgreSQL database; every other instance must use the same key: "+
		"copy the file into their data folders, or give them all SEKISHO_ENCRYPTION_KEYS", "key_file", cfg.keyFile(), "key_id", k.CurrentID())
	return k, nil
}

// keysInUseError says why an instance without keys may not make its own.
type keysInUseError struct {
	why     string
	keyFile string
}

func (e *keysInUseError) Error() string {
	return fmt.Sprintf("no encryption keys: this PostgreSQL database is already in use (%s), and this instance has neither "+
		"--encryption-keys (SEKISHO_ENCRYPTION_KEYS) nor a key file at %s. Pass the keys the other instances use, "+
		"or copy their key file there; a new key could not open their TOTP secrets", e.why, e.keyFile)
}

// checkNoKeysInUse returns a *keysInUseError when the database holds a TOTP
// secret or records a key made by an instance, other than mine (the key id
// this instance just made, when a process sharing its data folder recorded
// the same file first).
func checkNoKeysInUse(tx *store.Tx, cfg *config, mine string) error {
	events, err := tx.AuditEvents(store.AuditFilter{Type: keysGenerated, Limit: 1})
	if err != nil {
		return err
	}
	if len(events) > 0 {
		if e := events[0]; e.Details["key_id"] != mine {
			return &keysInUseError{keyFile: cfg.keyFile(), why: fmt.Sprintf("the instance on %s made key %s for it on %s, in %s",
				e.Details["host"], e.Details["key_id"], e.Time.Format(time.DateOnly), e.Details["key_file"])}
		}
		return nil
	}
	n, err := tx.CountAuthenticators()
	if err != nil {
		return err
	}
	if n > 0 {
		return &keysInUseError{keyFile: cfg.keyFile(), why: fmt.Sprintf("it holds %d TOTP secrets", n)}
	}
	return nil
}

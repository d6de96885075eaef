package main

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/secret"
	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/totp"
)

// benchPassword is every seeded user's password.
const benchPassword = "sekisho bench password 7"

// totpUser is a seeded user with a confirmed TOTP authenticator.
type totpUser struct {
	email    string
	seed     []byte
	lastStep int64 // the last step whose code was sent; each is accepted once
	busy     bool  // a sign-in with it is in flight
}

// seededWorkspace is a workspace with a workspace admin who has TOTP.
type seededWorkspace struct {
	slug       string
	adminEmail string
	adminSeed  []byte
	users      int // including the admin
	withoutMFA int
}

// fixture is what a backend's database was seeded with.
type fixture struct {
	slug      string   // the workspace of the session and sign-in users
	tokens    []string // session tokens, one per user
	pwUsers   []string // emails of users with a password only
	totpUsers []*totpUser
	big       *seededWorkspace // the -users workspace, for list and policy
	small     *seededWorkspace // 100 users, for policy
	steps     []timed          // what seeding took
}

type timed struct {
	what string
	took time.Duration
}

// seeder writes a fixture straight into the database through the store,
// as the server's own code would have left it, but without an argon2id
// hash per user: every user shares one hash of benchPassword made with the
// server's parameters, so that each sign-in verifies at full cost.
type seeder struct {
	db      *store.DB
	keys    *secret.Keyring
	hash    string
	now     time.Time
	workers int // concurrent transactions
}

const seedBatch = 5000

// seedFixture seeds what the chosen sections need.
func seedFixture(ctx context.Context, db *store.DB, keys *secret.Keyring, hash string, o *options) (*fixture, error) {
	s := &seeder{db: db, keys: keys, hash: hash, now: time.Now(), workers: 1}
	if db.Dialect() == store.Postgres {
		s.workers = 4 // SQLite has one writer anyway
	}
	f := &fixture{slug: "bench"}
	step := func(what string, fn func() error) error {
		start := time.Now()
		if err := fn(); err != nil {
			return fmt.Errorf("seed %s: %w", what, err)
		}
		f.steps = append(f.steps, timed{what, time.Since(start)})
		return nil
	}
	if o.needs("session", "signin", "scaleout") {
		var ws *sekisho.Workspace
		err := step("workspace bench", func() (err error) { ws, err = s.workspace(ctx, "bench"); return err })
		if err != nil {
			return nil, err
		}
		if o.needs("session", "scaleout") {
			err := step(fmt.Sprintf("%d users with a session", o.sessions), func() (err error) {
				f.tokens, err = s.sessionUsers(ctx, ws, o.sessions)
				return err
			})
			if err != nil {
				return nil, err
			}
		}
		if o.needs("signin", "scaleout") {
			err := step(fmt.Sprintf("%d password users, %d password+TOTP users", o.signinUsers, o.signinUsers), func() (err error) {
				if f.pwUsers, err = s.passwordUsers(ctx, ws, o.signinUsers); err != nil {
					return err
				}
				f.totpUsers, err = s.totpUsers(ctx, ws, o.signinUsers)
				return err
			})
			if err != nil {
				return nil, err
			}
		}
	}
	if o.needs("list", "policy") {
		err := step(fmt.Sprintf("workspace big, %d users", o.users), func() (err error) {
			f.big, err = s.adminWorkspace(ctx, "big", o.users)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	if o.needs("policy") {
		err := step("workspace small, 100 users", func() (err error) {
			f.small, err = s.adminWorkspace(ctx, "small", 100)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (s *seeder) workspace(ctx context.Context, slug string) (*sekisho.Workspace, error) {
	w := &sekisho.Workspace{ID: store.NewID(), Slug: slug, Name: "Bench " + slug, CreatedAt: s.now}
	return w, s.db.Update(ctx, func(tx *store.Tx) error { return tx.CreateWorkspace(w) })
}

func (s *seeder) user(w *sekisho.Workspace, email string, role sekisho.Role, hasMFA bool) *sekisho.User {
	local, _, _ := strings.Cut(email, "@")
	return &sekisho.User{
		ID: store.NewID(), WorkspaceID: w.ID, Email: email, Name: "Bench user " + local,
		Role: role, Status: sekisho.StatusActive, HasMFA: hasMFA,
		JoinedAt: s.now, CreatedAt: s.now, UpdatedAt: s.now,
	}
}

// addTOTP gives u a confirmed TOTP authenticator, its seed sealed the way
// the service seals it (bound to workspace, user and authenticator ids),
// and returns the seed.
func (s *seeder) addTOTP(tx *store.Tx, u *sekisho.User) ([]byte, error) {
	seed := totp.NewSecret()
	id := store.NewID()
	sealed, err := s.keys.Seal(seed, secret.AD(u.WorkspaceID, u.ID, id))
	if err != nil {
		return nil, err
	}
	return seed, tx.CreateAuthenticator(&store.Authenticator{
		Authenticator: sekisho.Authenticator{ID: id, UserID: u.ID, Kind: sekisho.KindTOTP, Name: "bench", ConfirmedAt: s.now, CreatedAt: s.now},
		Secret:        sealed,
	})
}

// batches calls fn for 0 ≤ i < n, seedBatch rows per transaction, in up
// to s.workers transactions at once.
func (s *seeder) batches(ctx context.Context, n int, fn func(tx *store.Tx, i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan int)
	for range s.workers {
		wg.Go(func() {
			for start := range next {
				err := s.db.Update(ctx, func(tx *store.Tx) error {
					for i := start; i < min(start+seedBatch, n); i++ {
						if err := fn(tx, i); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					mu.Lock()
					first = cmp.Or(first, err)
					mu.Unlock()
				}
			}
		})
	}
	for start := 0; start < n; start += seedBatch {
		next <- start
	}
	close(next)
	wg.Wait()
	return first
}

// sessionUsers creates n members, each with one session (aal1, created now,
// expiring in 24 hours like the server's default), and returns the tokens.
func (s *seeder) sessionUsers(ctx context.Context, w *sekisho.Workspace, n int) ([]string, error) {
	tokens := make([]string, n)
	err := s.batches(ctx, n, func(tx *store.Tx, i int) error {
		u := s.user(w, fmt.Sprintf("s%06d@%s.test", i, w.Slug), sekisho.RoleMember, false)
		if err := tx.CreateUser(u, s.hash); err != nil {
			return err
		}
		tokens[i] = secret.NewToken()
		sess := &sekisho.Session{
			ID: store.NewID(), UserID: u.ID, WorkspaceID: w.ID, AAL: sekisho.AAL1,
			AuthTime: s.now, CreatedAt: s.now, LastSeenAt: s.now, ExpiresAt: s.now.Add(24 * time.Hour),
			IP: "127.0.0.1", UserAgent: "sekisho-bench",
		}
		return tx.CreateSession(sess, secret.HashToken(tokens[i]))
	})
	return tokens, err
}

func (s *seeder) passwordUsers(ctx context.Context, w *sekisho.Workspace, n int) ([]string, error) {
	emails := make([]string, n)
	err := s.batches(ctx, n, func(tx *store.Tx, i int) error {
		emails[i] = fmt.Sprintf("p%06d@%s.test", i, w.Slug)
		return tx.CreateUser(s.user(w, emails[i], sekisho.RoleMember, false), s.hash)
	})
	return emails, err
}

func (s *seeder) totpUsers(ctx context.Context, w *sekisho.Workspace, n int) ([]*totpUser, error) {
	users := make([]*totpUser, n)
	err := s.batches(ctx, n, func(tx *store.Tx, i int) error {
		u := s.user(w, fmt.Sprintf("t%06d@%s.test", i, w.Slug), sekisho.RoleMember, true)
		if err := tx.CreateUser(u, s.hash); err != nil {
			return err
		}
		seed, err := s.addTOTP(tx, u)
		users[i] = &totpUser{email: u.Email, seed: seed}
		return err
	})
	return users, err
}

// adminWorkspace creates workspace slug with a workspace admin who has
// TOTP, and n-1 members of whom every third has MFA. The members' has_mfa
// is set on the user row, which is all that listing and the policy read;
// they get no authenticator rows.
func (s *seeder) adminWorkspace(ctx context.Context, slug string, n int) (*seededWorkspace, error) {
	w, err := s.workspace(ctx, slug)
	if err != nil {
		return nil, err
	}
	sw := &seededWorkspace{slug: slug, adminEmail: "admin@" + slug + ".test", users: n}
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		admin := s.user(w, sw.adminEmail, sekisho.RoleWorkspaceAdmin, true)
		if err := tx.CreateUser(admin, s.hash); err != nil {
			return err
		}
		sw.adminSeed, err = s.addTOTP(tx, admin)
		return err
	})
	if err != nil {
		return nil, err
	}
	members := n - 1
	for i := range members {
		if i%3 != 0 {
			sw.withoutMFA++
		}
	}
	err = s.batches(ctx, members, func(tx *store.Tx, i int) error {
		return tx.CreateUser(s.user(w, fmt.Sprintf("u%06d@%s.test", i, slug), sekisho.RoleMember, i%3 == 0), s.hash)
	})
	return sw, err
}

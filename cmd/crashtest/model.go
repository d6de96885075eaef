package main

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// The model is the client's ledger: for every user of the pool, the state
// that the acknowledged requests imply. Each user is driven by one worker at
// a time, so the acknowledged requests on a user are ordered, and at a kill
// at most one request on the user is in flight. After the restart the
// database must show either the model (the request in flight did not
// happen) or the model with that request applied (it did), field by field,
// audit events included: anything else is a lost write or a half-done one.

// countedEvents are the audit event types, with result success and the user
// as target, whose number the model predicts exactly.
var countedEvents = []string{
	"user.sign_in", "user.sign_in.password", "session.sign_out",
	"mfa.enrolled", "mfa.recovery_code_used", "mfa.recovery_codes_regenerated",
	"mfa.reset", "user.role_changed", "user.disabled", "user.enabled",
}

// authn is a TOTP authenticator whose seed the client knows.
type authn struct {
	seed     []byte
	lastStep int64 // the last step accepted, as the database must have it
}

// rcSet is a user's set of recovery codes.
type rcSet struct {
	salt    string   // as read from the database; "" until seen
	oldSalt string   // the set this one replaced, which salt must differ from
	codes   []string // as shown to the client; nil if the answer never came
	used    []bool   // codes acknowledged as spent
	unused  int
	spent   int
}

// session is a session token the client holds.
type session struct {
	token  string
	authAt time.Time
}

// spentStep is a TOTP code acknowledged as accepted (or as confirming an
// authenticator): it must never be accepted again.
type spentStep struct {
	authID string
	seed   []byte
	step   int64
}

// spentCode is a recovery code acknowledged as used.
type spentCode struct{ code string }

type user struct {
	id, email, password string
	role, status        string
	hasMFA              bool
	resetAt             bool // users.mfa_reset_at is set
	auths               map[string]*authn
	pending             map[string]*authn // acknowledged this cycle, not confirmed
	rc                  *rcSet
	sessions            []session
	orphans             []time.Time // sessions that exist but whose token never arrived
	audit               map[string]int

	// Since the last check, to try against the server after the restart.
	revoked    []string
	spentSteps []spentStep
	spentCodes []spentCode
}

func newUser(id, email, password, role string) *user {
	return &user{id: id, email: email, password: password, role: role, status: "active",
		auths: map[string]*authn{}, pending: map[string]*authn{}, audit: map[string]int{}}
}

// clone returns a deep copy, on which the effect of a request in flight is
// played.
func (u *user) clone() *user {
	c := *u
	c.auths = map[string]*authn{}
	for id, a := range u.auths {
		cp := *a
		c.auths[id] = &cp
	}
	c.pending = map[string]*authn{}
	for id, a := range u.pending {
		cp := *a
		c.pending[id] = &cp
	}
	if u.rc != nil {
		rc := *u.rc
		rc.codes = slices.Clone(u.rc.codes)
		rc.used = slices.Clone(u.rc.used)
		c.rc = &rc
	}
	c.sessions = slices.Clone(u.sessions)
	c.orphans = slices.Clone(u.orphans)
	c.audit = maps.Clone(u.audit)
	c.revoked = slices.Clone(u.revoked)
	c.spentSteps = slices.Clone(u.spentSteps)
	c.spentCodes = slices.Clone(u.spentCodes)
	return &c
}

// addSession records a new session; token is "" when the answer carrying
// it never arrived.
func (u *user) addSession(token string, now time.Time) {
	if token == "" {
		u.orphans = append(u.orphans, now)
		return
	}
	u.sessions = append(u.sessions, session{token: token, authAt: now})
}

// revokeAll records that every session of u was deleted.
func (u *user) revokeAll() {
	for _, s := range u.sessions {
		u.revoked = append(u.revoked, s.token)
	}
	u.sessions, u.orphans = nil, nil
}

// revokeOthers records that every session of u but the one with token was
// deleted, as a recovery-code regeneration does.
func (u *user) revokeOthers(token string) {
	u.sessions = slices.DeleteFunc(u.sessions, func(s session) bool {
		if s.token != token {
			u.revoked = append(u.revoked, s.token)
			return true
		}
		return false
	})
	u.orphans = nil
}

// revoke records that the session with token was deleted.
func (u *user) revoke(token string) {
	u.sessions = slices.DeleteFunc(u.sessions, func(s session) bool { return s.token == token })
	u.revoked = append(u.revoked, token)
}

// newRecoverySet records a fresh set of ten codes; codes is nil when the
// answer carrying them never arrived.
func (u *user) newRecoverySet(codes []string) {
	old := ""
	if u.rc != nil {
		old = u.rc.salt
	}
	u.rc = &rcSet{oldSalt: old, codes: codes, used: make([]bool, len(codes)), unused: 10}
}

// clearMFA records an MFA reset.
func (u *user) clearMFA() {
	u.auths, u.pending, u.rc = map[string]*authn{}, map[string]*authn{}, nil
	u.hasMFA, u.resetAt = false, true
}

// freshSession returns a token whose sign-in is recent enough for the
// calls that need a recent authentication (5 minutes; 4 to be safe).
func (u *user) freshSession(now time.Time) string {
	for i := len(u.sessions) - 1; i >= 0; i-- {
		if now.Sub(u.sessions[i].authAt) < 4*time.Minute {
			return u.sessions[i].token
		}
	}
	return ""
}

// unusedCode returns the index of a recovery code the client holds and has
// not spent, or -1.
func (u *user) unusedCode() int {
	if u.rc == nil {
		return -1
	}
	for i, c := range u.rc.codes {
		if c != "" && !u.rc.used[i] {
			return i
		}
	}
	return -1
}

// dbUser is a user as the database shows them after the restart.
type dbUser struct {
	email, role, status string
	hasMFA, resetAt     bool
	confirmed           map[string]int64 // id → last_used_step
	pending             map[string]bool
	rc                  map[string][2]int // salt → unused, used
	sessions            int
	audit               map[string]int
}

// diff lists how d differs from the state m predicts.
func diff(m *user, d *dbUser, now time.Time) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if d == nil {
		return []string{"the user is missing"}
	}
	if d.role != m.role {
		add("role %s, want %s", d.role, m.role)
	}
	if d.status != m.status {
		add("status %s, want %s", d.status, m.status)
	}
	if d.hasMFA != m.hasMFA {
		add("has_mfa %v, want %v", d.hasMFA, m.hasMFA)
	}
	if d.resetAt != m.resetAt {
		add("mfa_reset_at set %v, want %v", d.resetAt, m.resetAt)
	}
	for _, id := range sortedKeys(m.auths) {
		step, ok := d.confirmed[id]
		switch {
		case !ok:
			add("authenticator %s missing", short(id))
		case step != m.auths[id].lastStep:
			add("authenticator %s last_used_step %d, want %d", short(id), step, m.auths[id].lastStep)
		}
	}
	for _, id := range sortedKeys(d.confirmed) {
		if m.auths[id] == nil {
			add("unexpected confirmed authenticator %s", short(id))
		}
	}
	for _, id := range sortedKeys(m.pending) {
		if _, confirmed := d.confirmed[id]; confirmed {
			add("pending authenticator %s is confirmed", short(id))
		} else if !d.pending[id] {
			add("pending authenticator %s missing", short(id))
		}
	}
	switch {
	case m.rc == nil && len(d.rc) > 0:
		add("%d sets of recovery codes, want none", len(d.rc))
	case m.rc != nil && len(d.rc) != 1:
		add("%d sets of recovery codes, want 1", len(d.rc))
	case m.rc != nil:
		for salt, n := range d.rc {
			if m.rc.salt != "" && salt != m.rc.salt {
				add("recovery codes replaced")
			}
			if m.rc.salt == "" && salt == m.rc.oldSalt {
				add("recovery codes not replaced")
			}
			if n[0] != m.rc.unused || n[1] != m.rc.spent {
				add("recovery codes %d unused and %d used, want %d and %d", n[0], n[1], m.rc.unused, m.rc.spent)
			}
		}
	}
	if want := len(m.sessions) + len(m.orphans); d.sessions != want {
		// Sessions idle for an hour are deleted at start-up; only tokens
		// the client never got can be that old.
		old := 0
		for _, t := range m.orphans {
			if now.Sub(t) > 50*time.Minute {
				old++
			}
		}
		if d.sessions > want || d.sessions < want-old {
			add("%d sessions, want %d", d.sessions, want)
		}
	}
	for _, typ := range countedEvents {
		if d.audit[typ] != m.audit[typ] {
			add("%d %s events, want %d", d.audit[typ], typ, m.audit[typ])
		}
	}
	return out
}

// adopt updates m after it matched d: what only the database knows (the
// salt of a set, sessions that idled out) is taken from it.
func adopt(m *user, d *dbUser) {
	if m.rc != nil {
		for salt := range d.rc {
			m.rc.salt = salt
		}
	}
	if extra := len(m.sessions) + len(m.orphans) - d.sessions; extra > 0 {
		m.orphans = m.orphans[extra:]
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// short shortens an id for messages.
func short(id string) string {
	if i := strings.LastIndexByte(id, '-'); i >= 0 && len(id)-i > 8 {
		return id[len(id)-8:]
	}
	return id
}

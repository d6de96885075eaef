package auth

import (
	"sync"

	"github.com/sekisho/sekisho/store"
)

// DefaultSessionCacheSize is how many session checks an instance keeps in
// memory unless configured: about 1.5 KB each.
const DefaultSessionCacheSize = 10000

// sessionCache remembers recent session checks by token digest, so that
// the check apps make on every request costs no query. It is correct only
// together with the database's invalidation feed: every change that can
// alter a check removes the entries of its user (or all entries, for a
// workspace change) before any request can see the change, and entries
// are never trusted while the feed may have missed something.
//
// Entries are shared and read-only: whoever gets a *Principal from the
// cache must not modify it.
type sessionCache struct {
	mu      sync.RWMutex
	byToken map[[32]byte]*Principal
	byUser  map[string][][32]byte
	// epoch changes with every invalidation; an entry loaded from the
	// database is kept only if none happened during the load, which might
	// have been read before the change it invalidates.
	epoch uint64
	limit int
}

func newSessionCache(limit int) *sessionCache {
	return &sessionCache{
		byToken: make(map[[32]byte]*Principal),
		byUser:  make(map[string][][32]byte),
		limit:   limit,
	}
}

func (c *sessionCache) get(key [32]byte) *Principal {
	c.mu.RLock()
	p := c.byToken[key]
	c.mu.RUnlock()
	return p
}

func (c *sessionCache) currentEpoch() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.epoch
}

// put remembers p unless an invalidation arrived since epoch was read.
func (c *sessionCache) put(key [32]byte, p *Principal, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != epoch {
		return
	}
	if old, ok := c.byToken[key]; ok {
		c.remove(key, old.User.ID)
	}
	for k, old := range c.byToken {
		if len(c.byToken) < c.limit {
			break
		}
		c.remove(k, old.User.ID) // map order is random: a random eviction
	}
	c.byToken[key] = p
	c.byUser[p.User.ID] = append(c.byUser[p.User.ID], key)
}

// remove drops one entry. c.mu is held.
func (c *sessionCache) remove(key [32]byte, userID string) {
	delete(c.byToken, key)
	keys := c.byUser[userID]
	for i, k := range keys {
		if k == key {
			keys[i] = keys[len(keys)-1]
			keys = keys[:len(keys)-1]
			break
		}
	}
	if len(keys) == 0 {
		delete(c.byUser, userID)
	} else {
		c.byUser[userID] = keys
	}
}

// invalidate drops what inv makes stale.
func (c *sessionCache) invalidate(inv store.Invalidation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	if inv.WorkspaceID != "" {
		// Workspace changes (its policy) are rare: drop everything.
		c.clear()
		return
	}
	for _, k := range c.byUser[inv.UserID] {
		delete(c.byToken, k)
	}
	delete(c.byUser, inv.UserID)
}

// reset drops everything: invalidations may have been missed.
func (c *sessionCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	c.clear()
}

func (c *sessionCache) clear() {
	clear(c.byToken)
	clear(c.byUser)
}

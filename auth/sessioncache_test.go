package auth

import (
	"testing"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/store"
)

func cachedPrincipal(userID string) *Principal {
	return &Principal{Session: &sekisho.Session{UserID: userID}, User: &sekisho.User{ID: userID}, Workspace: &sekisho.Workspace{}}
}

func TestSessionCache(t *testing.T) {
	c := newSessionCache(3)
	key := func(b byte) [32]byte { return [32]byte{b} }

	c.put(key(1), cachedPrincipal("u1"), c.currentEpoch())
	c.put(key(2), cachedPrincipal("u1"), c.currentEpoch())
	c.put(key(3), cachedPrincipal("u2"), c.currentEpoch())
	if c.get(key(1)) == nil || c.get(key(3)) == nil || c.len() != 3 {
		t.Fatalf("after three puts: %d entries", c.len())
	}

	// A user's invalidation drops all of that user's sessions, no others.
	c.invalidate(store.Invalidation{UserID: "u1"})
	if c.get(key(1)) != nil || c.get(key(2)) != nil || c.get(key(3)) == nil {
		t.Fatal("invalidating u1 must drop exactly u1's sessions")
	}

	// An entry loaded while an invalidation came in is not kept: the load
	// may have read the row before the change.
	epoch := c.currentEpoch()
	c.invalidate(store.Invalidation{UserID: "u9"})
	c.put(key(4), cachedPrincipal("u4"), epoch)
	if c.get(key(4)) != nil {
		t.Fatal("an entry loaded across an invalidation was kept")
	}

	// A workspace's invalidation drops everything.
	c.put(key(5), cachedPrincipal("u5"), c.currentEpoch())
	c.invalidate(store.Invalidation{WorkspaceID: "w"})
	if c.len() != 0 {
		t.Fatalf("after a workspace invalidation: %d entries", c.len())
	}

	// The limit holds, and evicted entries leave the user index too.
	for i := range byte(10) {
		c.put(key(10+i), cachedPrincipal("u"+string('a'+rune(i))), c.currentEpoch())
	}
	if c.len() != 3 || len(c.byUser) != 3 {
		t.Fatalf("over the limit: %d entries, %d users", c.len(), len(c.byUser))
	}
	// Putting the same key again replaces it.
	p := cachedPrincipal("ux")
	c.put(key(19), p, c.currentEpoch())
	c.put(key(19), p, c.currentEpoch())
	if c.get(key(19)) != p || len(c.byUser["ux"]) != 1 {
		t.Fatalf("re-put: %d index entries", len(c.byUser["ux"]))
	}

	c.reset()
	if c.len() != 0 || len(c.byUser) != 0 {
		t.Fatal("reset left entries")
	}
}

func (c *sessionCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.byToken)
}

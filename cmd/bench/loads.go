package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sekisho/sekisho/secret"
	"github.com/sekisho/sekisho/totp"
)

// loadResult is one closed-loop load: n clients, each sending its next
// request as soon as the last one is answered.
type loadResult struct {
	kind      string // "session check", "password", "password + TOTP"
	clients   int
	instances int
	count     int64         // successful operations measured
	elapsed   time.Duration // from the end of the warm-up to the last answer
	hist      histogram
	errors    map[string]int
	waits     int64 // TOTP users ran out and a client waited for the next step
	use       usage
}

func (r *loadResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.count) / r.elapsed.Seconds()
}

func (r *loadResult) errorCount() int {
	n := 0
	for _, c := range r.errors {
		n += c
	}
	return n
}

// client performs one operation per call and returns "" on success or a
// short description of the failure ("429 too_many_attempts").
type client interface {
	next() string
	close()
}

// runLoad runs n clients for dur. Operations that start within the first
// warm are not measured (connections open, caches fill), but their
// failures are counted. A client starts no operation after the deadline
// once it has measured one; the rate is the operations measured over the
// time from the end of the warm-up to the last answer, so the slow
// operations of a saturated server still count.
func runLoad(ctx context.Context, n int, dur, warm time.Duration, pids []int, newClient func(i int) client) *loadResult {
	res := &loadResult{clients: n, errors: map[string]int{}}
	var mu sync.Mutex
	var last atomic.Int64 // UnixNano of the latest answer
	smp := startSampler(pids)
	start := time.Now()
	warmEnd, deadline := start.Add(warm), start.Add(dur)
	var wg sync.WaitGroup
	for i := range n {
		c := newClient(i)
		wg.Go(func() {
			defer c.close()
			var h histogram
			var count int64
			errs := map[string]int{}
			for ctx.Err() == nil {
				// Past the deadline a client stops, unless it has measured
				// nothing yet (its first answers came within the warm-up on
				// a slow machine): then it goes on for up to another dur.
				t0 := time.Now()
				if !t0.Before(deadline) && (count > 0 || !t0.Before(deadline.Add(dur))) {
					break
				}
				fail := c.next()
				t1 := time.Now()
				if fail != "" { // counted even in the warm-up
					errs[fail]++
					if strings.HasPrefix(fail, "connection") {
						time.Sleep(10 * time.Millisecond) // a refused dial must not spin
					}
					continue
				}
				if t0.Before(warmEnd) {
					continue
				}
				h.record(t1.Sub(t0))
				count++
				for {
					l := last.Load()
					if t1.UnixNano() <= l || last.CompareAndSwap(l, t1.UnixNano()) {
						break
					}
				}
			}
			mu.Lock()
			res.hist.merge(&h)
			res.count += count
			for k, v := range errs {
				res.errors[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.use = smp.stop()
	if l := last.Load(); l > 0 {
		res.elapsed = time.Unix(0, l).Sub(warmEnd)
	}
	return res
}

// failure describes a non-200 answer by status and error code.
func failure(status int, body []byte) string {
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
		return fmt.Sprintf("%d %s", status, e.Error.Code)
	}
	return fmt.Sprintf("%d", status)
}

func connFailure(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "connection timeout"
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return "connection: " + ne.Error()
	}
	return "connection: " + err.Error()
}

// sessionClient checks sessions round-robin over every token, on one
// keep-alive connection, with requests prepared once.
type sessionClient struct {
	conn *httpConn
	reqs [][]byte
	i    int
}

func sessionRequests(addr string, tokens []string) [][]byte {
	reqs := make([][]byte, len(tokens))
	for i, t := range tokens {
		reqs[i] = request("GET", addr, "/api/v1/session", nil, "Authorization: Bearer "+t)
	}
	return reqs
}

func (c *sessionClient) next() string {
	req := c.reqs[c.i]
	c.i = (c.i + 1) % len(c.reqs)
	status, err := c.conn.do(req, nil)
	if err != nil {
		return connFailure(err)
	}
	if status != 200 {
		return failure(status, c.conn.lastBody)
	}
	return ""
}

func (c *sessionClient) close() { c.conn.Close() }

// sessionLoad checks sessions with n connections spread round-robin over
// the servers, the tokens round-robin over the connections.
func sessionLoad(ctx context.Context, servers []*server, tokens []string, n int, dur time.Duration) *loadResult {
	reqs := make([][][]byte, len(servers))
	for i, s := range servers {
		reqs[i] = sessionRequests(s.addr, tokens)
	}
	res := runLoad(ctx, n, dur, warmUp(dur), pids(servers), func(i int) client {
		s := i % len(servers)
		return &sessionClient{conn: newConn(servers[s].addr), reqs: reqs[s], i: i * len(tokens) / n}
	})
	res.kind, res.instances = "session check", len(servers)
	return res
}

// warmUp is the unmeasured start of a session-check load.
func warmUp(dur time.Duration) time.Duration { return min(dur/10, time.Second) }

func pids(servers []*server) []int {
	var p []int
	for _, s := range servers {
		p = append(p, s.pid())
	}
	return p
}

// clientIP is the address client i poses as (see serverArgs).
func clientIP(i int) string { return fmt.Sprintf("10.77.%d.%d", i/250, i%250+1) }

// signInClient signs in through the API as a real client does: the
// password, then, when asked, a TOTP code.
type signInClient struct {
	conn   *httpConn
	addr   string
	slug   string
	xff    string
	pw     []string  // password users, round-robin
	pool   *totpPool // or password+TOTP users
	i      int
	body   []byte
	waited *atomic.Int64
}

type signInAnswer struct {
	State        string `json:"state"`
	SessionToken string `json:"session_token"`
	FlowToken    string `json:"flow_token"`
}

func (c *signInClient) post(path string, in any, out *signInAnswer) string {
	b, _ := json.Marshal(in)
	status, err := c.conn.do(request("POST", c.addr, path, b, "X-Forwarded-For: "+c.xff), &c.body)
	if err != nil {
		return connFailure(err)
	}
	if status != 200 {
		return failure(status, c.body)
	}
	if err := json.Unmarshal(c.body, out); err != nil {
		return "200 with bad JSON"
	}
	return ""
}

func (c *signInClient) next() string {
	var email string
	var u *totpUser
	var step int64
	if c.pool != nil {
		for {
			u, step = c.pool.take()
			if u != nil {
				break
			}
			// Every user has signed in during this step: wait for the next.
			c.waited.Add(1)
			time.Sleep(time.Until(time.Unix((step+1)*int64(totp.Period/time.Second), 0)) + 10*time.Millisecond)
		}
		defer c.pool.release(u)
		email = u.email
	} else {
		email = c.pw[c.i%len(c.pw)]
		c.i++
	}
	var a signInAnswer
	if f := c.post("/api/v1/sign-in", map[string]string{"workspace": c.slug, "email": email, "password": benchPassword}, &a); f != "" {
		return f
	}
	if u == nil {
		if a.State != "signed_in" || a.SessionToken == "" {
			return "200 state " + a.State
		}
		return ""
	}
	if a.State != "mfa_required" || a.FlowToken == "" {
		return "200 state " + a.State
	}
	// The code the app shows now, as a person would type it: its step is at
	// least the one taken, so still newer than any code sent before.
	code := totp.Code(u.seed, c.pool.stepNow(u))
	var b signInAnswer
	if f := c.post("/api/v1/sign-in/mfa", map[string]string{"flow_token": a.FlowToken, "code": code}, &b); f != "" {
		return "mfa: " + f
	}
	if b.State != "signed_in" || b.SessionToken == "" {
		return "mfa: 200 state " + b.State
	}
	return ""
}

func (c *signInClient) close() { c.conn.Close() }

// totpPool hands out TOTP users so that no code is sent twice: a user is
// taken at most once per 30-second step, and never while a sign-in with
// them is in flight (whose code, sent later, would then be older than the
// last one accepted).
type totpPool struct {
	mu    sync.Mutex
	users []*totpUser
	next  int
}

// take returns a user with their step set to the current one, or nil and
// the current step when every user has been taken in it.
func (p *totpPool) take() (*totpUser, int64) {
	step := totp.StepAt(time.Now())
	p.mu.Lock()
	defer p.mu.Unlock()
	for range p.users {
		u := p.users[p.next]
		p.next = (p.next + 1) % len(p.users)
		if !u.busy && u.lastStep < step {
			u.busy, u.lastStep = true, step
			return u, step
		}
	}
	return nil, step
}

// stepNow moves the taken user u to the current step and returns it.
func (p *totpPool) stepNow(u *totpUser) int64 {
	step := totp.StepAt(time.Now())
	p.mu.Lock()
	defer p.mu.Unlock()
	u.lastStep = max(u.lastStep, step)
	return u.lastStep
}

func (p *totpPool) release(u *totpUser) {
	p.mu.Lock()
	u.busy = false
	p.mu.Unlock()
}

// signInLoad signs in with n clients, each posing as its own IP address,
// spread round-robin over the servers.
func signInLoad(ctx context.Context, servers []*server, f *fixture, pool *totpPool, n int, dur time.Duration) *loadResult {
	var waited atomic.Int64
	res := runLoad(ctx, n, dur, 0, pids(servers), func(i int) client {
		s := servers[i%len(servers)]
		c := &signInClient{conn: newConn(s.addr), addr: s.addr, slug: f.slug, xff: clientIP(i), waited: &waited,
			i: i * len(f.pwUsers) / n}
		if pool != nil {
			c.pool = pool
		} else {
			c.pw = f.pwUsers
		}
		return c
	})
	res.kind, res.instances, res.waits = "password", len(servers), waited.Load()
	if pool != nil {
		res.kind = "password + TOTP"
	}
	return res
}

// argonResult is the raw argon2id rate of this machine.
type argonResult struct {
	params     secret.Params
	goroutines int
	hashes     int64
	elapsed    time.Duration
}

func (a *argonResult) rate() float64 { return float64(a.hashes) / a.elapsed.Seconds() }

// measureArgon2 hashes with the server's parameters on every core, through
// the same Hasher the server uses, for about dur.
func measureArgon2(ctx context.Context, dur time.Duration) (*argonResult, error) {
	n := runtime.GOMAXPROCS(0)
	h := secret.NewHasher(secret.DefaultParams, n)
	var hashes atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	start := time.Now()
	deadline := start.Add(dur)
	for range n {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if _, err := h.Hash(ctx, benchPassword); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				hashes.Add(1)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return &argonResult{params: secret.DefaultParams, goroutines: n, hashes: hashes.Load(), elapsed: time.Since(start)}, nil
}

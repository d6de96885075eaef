package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"
)

// client talks to the server from one source address. Each worker gets its
// own address in 127.0.0.0/8 every cycle: sign-ins cut off by a kill count
// against the client's IP throttle, and spreading them keeps hundreds of
// kills from throttling the whole test.
type client struct {
	base string
	hc   *http.Client
}

func newClient(base string, ip net.IP) *client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second}
	return &client{base: base, hc: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// randomLoopback returns an address in 127.0.0.0/8 other than 127.0.0.1.
func randomLoopback(rng *rand.Rand) net.IP {
	return net.IPv4(127, byte(1+rng.IntN(254)), byte(rng.IntN(256)), byte(1+rng.IntN(254)))
}

func (c *client) close() { c.hc.CloseIdleConnections() }

// response is one complete answer: status and decoded JSON body.
type response struct {
	status int
	body   map[string]any
	raw    string
}

func (r *response) str(key string) string { s, _ := r.body[key].(string); return s }

// code is the error code of an error answer.
func (r *response) code() string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (r *response) strs(key string) []string {
	list, _ := r.body[key].([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// do sends one request. An error means no complete answer arrived (the
// server died, or the body was cut off): the request may or may not have
// taken effect.
func (c *client) do(ctx context.Context, method, path, token string, body any) (*response, error) {
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	r := &response{status: res.StatusCode, raw: string(raw)}
	if len(raw) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			return nil, fmt.Errorf("%s %s: bad JSON %q: %w", method, path, raw, err)
		}
	}
	return r, nil
}

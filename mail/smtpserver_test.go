package mail

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"math/big"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// testServer is just enough of an SMTP server to receive messages on
// loopback: EHLO/HELO, optional STARTTLS or implicit TLS, optional AUTH PLAIN,
// MAIL, RCPT, DATA, RSET, NOOP and QUIT.
type testServer struct {
	t    *testing.T
	ln   net.Listener
	addr string // host:port

	// Options, set before the first connection.
	tlsConfig   *tls.Config // with implicitTLS, wraps every connection; else offered via STARTTLS
	implicitTLS bool
	user, pass  string // when user is set, AUTH PLAIN is offered and required
	offerAuth   bool   // offer AUTH PLAIN even without credentials to check
	rcptReply   string // when set, the reply to RCPT (e.g. "550 5.1.1 <x>: no such user")
	silent      bool   // accept connections but never greet

	mu       sync.Mutex
	received []received
	conns    int
	wg       sync.WaitGroup
}

type received struct {
	from, rcpt string
	data       string // exactly as sent, CRLFs kept, dot-stuffing undone
	bareLF     bool   // some line of DATA ended in LF without CR
	tls        bool
	authUser   string
	authPass   string
}

func newTestServer(t *testing.T, configure func(*testServer)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{t: t, ln: ln, addr: ln.Addr().String()}
	if configure != nil {
		configure(s)
	}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *testServer) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.received...)
}

func (s *testServer) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

func (s *testServer) serve() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns++
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			s.handle(conn)
		}()
	}
}

func (s *testServer) handle(conn net.Conn) {
	if s.silent {
		// Wait for the client to give up.
		_, _ = conn.Read(make([]byte, 1))
		return
	}
	isTLS := false
	if s.implicitTLS {
		tc := tls.Server(conn, s.tlsConfig)
		if err := tc.Handshake(); err != nil {
			return
		}
		conn, isTLS = tc, true
	}
	r := bufio.NewReader(conn)
	tp := textproto.NewReader(r)
	reply := func(line string) { _, _ = io.WriteString(conn, line+"\r\n") }

	var cur received
	var authUser, authPass string
	authed := false
	reply("220 test.invalid ESMTP ready")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			lines := []string{"250-test.invalid"}
			if s.tlsConfig != nil && !isTLS {
				lines = append(lines, "250-STARTTLS")
			}
			if s.user != "" || s.offerAuth {
				lines = append(lines, "250-AUTH PLAIN")
			}
			lines = append(lines, "250 8BITMIME")
			for _, l := range lines {
				reply(l)
			}
		case "HELO":
			reply("250 test.invalid")
		case "STARTTLS":
			if s.tlsConfig == nil || isTLS {
				reply("502 not offered")
				continue
			}
			reply("220 go ahead")
			tc := tls.Server(conn, s.tlsConfig)
			if err := tc.Handshake(); err != nil {
				return
			}
			conn, isTLS = tc, true
			r = bufio.NewReader(conn)
			tp = textproto.NewReader(r)
			cur, authed = received{}, false
		case "AUTH":
			mech, initial, _ := strings.Cut(arg, " ")
			if !strings.EqualFold(mech, "PLAIN") || (s.user == "" && !s.offerAuth) {
				reply("504 mechanism not supported")
				continue
			}
			raw, err := base64.StdEncoding.DecodeString(initial)
			parts := strings.Split(string(raw), "\x00")
			if err != nil || len(parts) != 3 {
				reply("501 malformed")
				continue
			}
			authUser, authPass = parts[1], parts[2]
			if parts[1] != s.user || parts[2] != s.pass {
				reply("535 5.7.8 authentication failed")
				continue
			}
			authed = true
			reply("235 2.7.0 authenticated")
		case "MAIL":
			if s.user != "" && !authed {
				reply("530 5.7.0 authentication required")
				continue
			}
			cur = received{from: addrArg(arg, "FROM:"), tls: isTLS}
			if authed {
				cur.authUser, cur.authPass = authUser, authPass
			}
			reply("250 ok")
		case "RCPT":
			if s.rcptReply != "" {
				reply(s.rcptReply)
				continue
			}
			cur.rcpt = addrArg(arg, "TO:")
			reply("250 ok")
		case "DATA":
			reply("354 end with .")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				if !strings.HasSuffix(l, "\r\n") {
					cur.bareLF = true
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			cur.data = b.String()
			s.mu.Lock()
			s.received = append(s.received, cur)
			s.mu.Unlock()
			cur = received{}
			reply("250 2.0.0 queued")
		case "RSET":
			cur = received{}
			reply("250 ok")
		case "NOOP":
			reply("250 ok")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 unknown command")
		}
	}
}

// addrArg returns the address of "FROM:<a@b> BODY=8BITMIME".
func addrArg(arg, prefix string) string {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return ""
	}
	a, _, _ := strings.Cut(arg[len(prefix):], " ")
	return strings.Trim(a, "<>")
}

// testCert returns a server certificate for the given names and IPs, and a
// pool that trusts it.
func testCert(t *testing.T, names ...string) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sekisho test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

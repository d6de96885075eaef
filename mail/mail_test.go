package mail

import (
	"bytes"
	"strings"
	"testing"
)

func TestNewWithoutURLIsLogMailer(t *testing.T) {
	var buf bytes.Buffer
	m, err := New("", &buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.(*LogMailer); !ok {
		t.Fatalf("New(\"\") = %T, want a *LogMailer", m)
	}
	if err := m.Send(t.Context(), Message{To: "a@example.com", Subject: "s", Text: "t"}); err != nil || !strings.Contains(buf.String(), `"to":"a@example.com"`) {
		t.Fatalf("New(\"\") writes elsewhere than w: %q, %v", buf.String(), err)
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		url                   string
		host, port            string
		implicitTLS, loopback bool
		user, pass            string
		fromName, fromAddress string
	}{
		{url: "smtp://mail.example.com?from=noreply%40example.com",
			host: "mail.example.com", port: "587", fromAddress: "noreply@example.com"},
		{url: "smtps://mail.example.com?from=noreply%40example.com",
			host: "mail.example.com", port: "465", implicitTLS: true, fromAddress: "noreply@example.com"},
		{url: "smtp://apikey:p%40ss%3Aw%2Frd@smtp.example.com:2525/?from=Sekisho+%3Cnoreply%40example.com%3E",
			host: "smtp.example.com", port: "2525", user: "apikey", pass: "p@ss:w/rd",
			fromName: "Sekisho", fromAddress: "noreply@example.com"},
		{url: "smtp://127.0.0.1:25?from=%E9%96%A2%E6%89%80+%3Cnoreply%40example.com%3E",
			host: "127.0.0.1", port: "25", loopback: true, fromName: "関所", fromAddress: "noreply@example.com"},
		{url: "smtp://127.0.0.53:25?from=noreply%40example.com", host: "127.0.0.53", port: "25", loopback: true,
			fromAddress: "noreply@example.com"},
		{url: "smtp://[::1]:1025?from=noreply%40example.com", host: "::1", port: "1025", loopback: true,
			fromAddress: "noreply@example.com"},
		{url: "smtp://LocalHost:1025?from=noreply%40example.com", host: "LocalHost", port: "1025", loopback: true,
			fromAddress: "noreply@example.com"},
		{url: "smtp://10.0.0.1?from=noreply%40example.com", host: "10.0.0.1", port: "587",
			fromAddress: "noreply@example.com"},
		{url: "smtp://localhost.example.com?from=noreply%40example.com", host: "localhost.example.com", port: "587",
			fromAddress: "noreply@example.com"},
	}
	for _, tc := range tests {
		cfg, err := parseURL(tc.url)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if cfg.host != tc.host || cfg.port != tc.port || cfg.implicitTLS != tc.implicitTLS || cfg.loopback() != tc.loopback {
			t.Errorf("%s: host %q port %q implicitTLS %v loopback %v; want %q %q %v %v", tc.url,
				cfg.host, cfg.port, cfg.implicitTLS, cfg.loopback(), tc.host, tc.port, tc.implicitTLS, tc.loopback)
		}
		if cfg.user != tc.user || cfg.pass != tc.pass || cfg.hasAuth != (tc.user != "") {
			t.Errorf("%s: user %q pass %q hasAuth %v", tc.url, cfg.user, cfg.pass, cfg.hasAuth)
		}
		if cfg.from.Name != tc.fromName || cfg.from.Address != tc.fromAddress {
			t.Errorf("%s: from %q <%s>, want %q <%s>", tc.url, cfg.from.Name, cfg.from.Address, tc.fromName, tc.fromAddress)
		}
	}
}

func TestParseURLErrors(t *testing.T) {
	// Every URL carries the password s3cr3t, which no error may repeat.
	tests := []struct{ url, want string }{
		{"http://u:s3cr3t@mail.example.com?from=a%40example.com", `scheme "http"`},
		{"//u:s3cr3t@mail.example.com?from=a%40example.com", "no scheme"},
		{"mail.example.com:587", "scheme"},
		{"smtp:u:s3cr3t@mail.example.com?from=a%40example.com", `start with "smtp://"`},
		{"smtp://u:s3cr3t@mail.example.com:587", "no sender"},
		{"smtp://u:s3cr3t@mail.example.com?from=", "no sender"},
		{"smtp://u:s3cr3t@mail.example.com?from=not-an-address", `"from" is not a valid address`},
		{"smtp://u:s3cr3t@mail.example.com?from=a%40example.com%0D%0ABcc%3A+x%40example.net", "line break"},
		{"smtp://u:s3cr3t@mail.example.com?from=a%40example.com&from=b%40example.com", `exactly one "from"`},
		{"smtp://u:s3cr3t@mail.example.com?from=a%40example.com&form=b", `unknown parameter "form"`},
		{"smtp://u:s3cr3t@mail.example.com?from=%zz", "malformed query"},
		{"smtp://u:s3cr3t@:587?from=a%40example.com", "no host"},
		{"smtp://u:s3cr3t@mail.example.com:99999?from=a%40example.com", `invalid port "99999"`},
		{"smtp://u:s3cr3t@mail.example.com:0?from=a%40example.com", `invalid port "0"`},
		{"smtp://u:s3cr3t@mail.example.com:submission?from=a%40example.com", "port"},
		{"smtp://u:s3cr3t@mail example.com?from=a%40example.com", "host"},
		{"smtp://u:s3cr3t%zz@mail.example.com?from=a%40example.com", "malformed user name or password"},
		{"smtp://u:s3cr3t@x@mail.example.com?from=a%40example.com&bad=%zz", "malformed query"},
		{"smtp://u:s3cr3t\n@mail.example.com?from=a%40example.com", "malformed"},
		{"smtp://:s3cr3t@mail.example.com?from=a%40example.com", "no user name"},
		{"smtp://u:s3cr3t@mail.example.com/relay?from=a%40example.com", "path"},
		{"smtp://u:s3cr3t@mail.example.com?from=a%40example.com#x", "fragment"},
	}
	for _, tc := range tests {
		_, err := New(tc.url, nil)
		if err == nil {
			t.Errorf("%q: no error", tc.url)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %q does not mention %q", tc.url, err, tc.want)
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%q: error reveals the password: %q", tc.url, err)
		}
	}
}

func TestRedactUserinfo(t *testing.T) {
	tests := []struct{ in, want string }{
		{"smtp://u:p@host:25?from=x", "smtp://redacted@host:25?from=x"},
		{"smtp://u:p@x@host?from=a@b", "smtp://redacted@host?from=a@b"},
		{"smtp://host/p@th", "smtp://host/p@th"},
		{"not a url", "not a url"},
	}
	for _, tc := range tests {
		if got, _ := redactUserinfo(tc.in); got != tc.want {
			t.Errorf("redactUserinfo(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRecipientDomain(t *testing.T) {
	for in, want := range map[string]string{
		"alice@Example.COM":            "example.com",
		"Alice <alice@sub.example.jp>": "sub.example.jp",
		"nonsense":                     "(invalid)",
	} {
		if got := recipientDomain(in); got != want {
			t.Errorf("recipientDomain(%q) = %q, want %q", in, got, want)
		}
	}
}

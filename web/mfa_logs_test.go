package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/totp"
)

// TestMFANoSecretsInLogs plants known secrets through a whole life of an
// account — invitations, passwords right and wrong, enrollment, both
// second factors, regeneration, reauthentication, a password reset, bad
// requests that carry secrets — and checks that no log line holds one, and
// that no mail holds one it does not exist to deliver.
func TestMFANoSecretsInLogs(t *testing.T) {
	mfaEach(t, func(t *testing.T, e *env) {
		var planted []string // in neither logs nor mail
		var links []string   // in no log; each in its own mail
		plant := func(s string) string {
			t.Helper()
			if len(s) < 8 {
				t.Fatalf("planted secret %q too short to search for", s)
			}
			planted = append(planted, s)
			return s
		}
		link := func(url string) string {
			t.Helper()
			m := linkToken.FindStringSubmatch(url)
			if m == nil {
				t.Fatalf("no token in %q", url)
			}
			links = append(links, m[2])
			return m[2]
		}
		ctx := context.Background()

		_, _, adminLink, err := e.svc.CreateWorkspace(ctx, operator, "acme", "ACME", "admin@acme.test")
		if err != nil {
			t.Fatal(err)
		}
		link(adminLink)
		plant(adminPassword)
		e.accept(adminLink, adminPassword)
		admin := plant(e.signIn("acme", "admin@acme.test", adminPassword))

		password := plant("plum lantern quietly 42 ☂")
		inv := e.call("POST", "/api/v1/admin/users", admin, map[string]string{"email": "alice@acme.test", "role": "member"}).must(t, 201)
		invToken := link(inv.str("invitation_url"))
		e.call("POST", "/api/v1/invitations/accept", "", map[string]string{"token": invToken, "password": plant("too short")}).must(t, 400)
		e.call("POST", "/api/v1/invitations/accept", "", map[string]string{"token": invToken, "password": password}).must(t, 200)
		e.call("POST", "/api/v1/invitations/accept", "", map[string]string{"token": invToken, "password": password}).must(t, 404)
		m := &mfaMember{e: e, slug: "acme", email: "alice@acme.test", password: password}

		wrongPassword := plant("wrong but secret 7f3a9c")
		e.call("POST", "/api/v1/sign-in", "", map[string]string{"workspace": "acme", "email": m.email, "password": wrongPassword}).must(t, 401)
		e.call("POST", "/api/v1/sign-in", "", map[string]string{"workspace": "acme", "email": "nobody@acme.test", "password": wrongPassword}).must(t, 401)
		tok := plant(e.signIn("acme", m.email, password))

		st := e.call("POST", "/api/v1/me/mfa/totp", tok, map[string]string{"name": "phone"}).must(t, 201)
		sec := plant(st.str("secret"))
		plant(strings.ToLower(sec))
		plant(st.str("otpauth_uri"))
		seed := decodeSeed(t, sec)
		e.call("POST", "/api/v1/me/mfa/totp/"+st.str("id")+"/confirm", tok, map[string]string{"code": mfaWrong(e, seed)}).must(t, 401)
		c := mfaConfirm(e, &tok, st.str("id"), seed).must(t, 200)
		var codes []string
		for _, x := range c.Body["recovery_codes"].([]any) {
			codes = append(codes, plant(x.(string)))
			plant(strings.ReplaceAll(x.(string), "-", ""))
		}
		e.call("POST", "/api/v1/sign-out", tok, nil).must(t, 204)

		flow := plant(m.passwordStep())
		m.second(flow, mfaWrong(e, seed)).must(t, 401)
		m.recover(flow, plant("ZZZZ-ZZZZ-ZZZZ-ZZZZ")).must(t, 401)
		tok2 := plant(m.second(flow, e.code(seed)).must(t, 200).str("session_token"))
		flow2 := plant(m.passwordStep())
		plant(m.recover(flow2, strings.ToLower(codes[0])).must(t, 200).str("session_token"))

		e.call("POST", "/api/v1/session/reauthenticate", tok2, map[string]string{"password": wrongPassword}).must(t, 401)
		e.call("POST", "/api/v1/session/reauthenticate", tok2, map[string]string{"code": e.code(seed)}).must(t, 200)
		// On tok2, which the rest uses: regenerating signs the other sessions out.
		re := e.call("POST", "/api/v1/me/mfa/recovery-codes", tok2, map[string]string{"password": password}).must(t, 200)
		for _, x := range re.Body["recovery_codes"].([]any) {
			plant(x.(string))
		}
		id2, seed2 := mfaStart(e, tok2, "tablet", nil)
		plant(totp.EncodeSecret(seed2))
		mfaConfirm(e, &tok2, id2, seed2).must(t, 200)
		e.call("DELETE", "/api/v1/me/mfa/totp/"+id2, tok2, map[string]string{"password": password}).must(t, 204)

		// Bad requests that carry secrets where they don't belong.
		e.call("POST", "/api/v1/sign-in", "", `{"workspace":"acme","email":"alice@acme.test","password":"`+password+`","totp_secret":"`+sec+`"}`).must(t, 400)
		e.call("POST", "/api/v1/sign-in", "", `{"workspace":"acme","password":"`+password+`"`).must(t, 400)
		e.call("POST", "/api/v1/sign-in", "", `{"workspace":"acme","email":"alice@acme.test","password":["`+password+`"]}`).must(t, 400)
		e.call("POST", "/api/v1/sign-in/mfa", "", map[string]any{"flow_token": flow, "code": 123456}).must(t, 400)
		e.call("GET", "/api/v1/session", flow2, nil).must(t, 401)
		e.call("GET", "/api/v1/no-such-thing/"+tok2, "", nil).must(t, 404)
		e.call("GET", "/api/v1/me/mfa?secret="+sec, tok2, nil).must(t, 200)

		// A password reset: its link goes by mail only, and MFA stays.
		e.call("POST", "/api/v1/password-reset", "", map[string]string{"workspace": "acme", "email": m.email}).must(t, 202)
		msg, _ := e.mail.Last(m.email)
		resetToken := link(msg.Text)
		newPassword := plant("a new password nobody logs 9")
		e.call("POST", "/api/v1/password-reset/confirm", "", map[string]string{"token": resetToken, "password": newPassword}).must(t, 200)
		m.password = newPassword
		m.second(m.passwordStep(), e.code(seed)).must(t, 200)

		logs := e.logs.String()
		if strings.Count(logs, "request") < 30 {
			t.Fatalf("too few log lines to mean anything:\n%s", logs)
		}
		for _, s := range append(planted, links...) {
			if strings.Contains(logs, s) {
				t.Errorf("a log line holds the secret %q", s)
			}
		}
		mails := e.mail.Messages()
		for _, s := range planted {
			for _, msg := range mails {
				if strings.Contains(msg.Subject+msg.Text, s) {
					t.Errorf("the mail %q holds the secret %q", msg.Subject, s)
				}
			}
		}
		for _, s := range links {
			n := 0
			for _, msg := range mails {
				if strings.Contains(msg.Text, s) {
					n++
				}
			}
			if n > 1 {
				t.Errorf("the link token %q is in %d mails", s, n)
			}
		}
	})
}

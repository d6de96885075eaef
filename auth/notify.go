package auth

import (
	"strconv"
	"strings"
	"text/template"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/mail"
)

// The notification emails, in English and Japanese. They never carry a
// secret other than the link they exist to deliver.
type messageKind string

const (
	msgInvitation           messageKind = "invitation"
	msgPasswordReset        messageKind = "password_reset"
	msgPasswordChanged      messageKind = "password_changed"
	msgMFAEnrolled          messageKind = "mfa_enrolled"
	msgMFARemoved           messageKind = "mfa_removed"
	msgMFAReset             messageKind = "mfa_reset"
	msgRecoveryCodeUsed     messageKind = "recovery_code_used"
	msgRecoveryCodesRenewed messageKind = "recovery_codes_regenerated"
	msgMFALocked            messageKind = "mfa_locked"
	msgMFARequired          messageKind = "mfa_required"
)

type messageText struct{ subject, body string }

var messages = map[string]map[messageKind]messageText{
	"en": {
		msgInvitation: {"You are invited to sekisho",
			"You have been invited to the workspace {{.Workspace}}.\n\nSet your password here (the link works once, for 7 days):\n{{.Link}}\n"},
		msgPasswordReset: {"Reset your sekisho password",
			"Someone asked to reset the password of {{.Email}} in {{.Workspace}}.\n\nIf it was you, choose a new password here (the link works once, for 1 hour):\n{{.Link}}\n\nIf it was not you, ignore this email; your password stays as it is.\n"},
		msgPasswordChanged: {"Your sekisho password was changed",
			"The password of {{.Email}} was changed. Your other sessions were signed out.\n\nIf you did not do this, contact an admin of your workspace at once.\n"},
		msgMFAEnrolled: {"An authenticator was added to your account",
			"The authenticator \"{{.Name}}\" was added to {{.Email}}.\n\nIf you did not do this, contact an admin of your workspace at once.\n"},
		msgMFARemoved: {"An authenticator was removed from your account",
			"{{.What}} was removed from {{.Email}}.\n\nIf you did not do this, contact an admin of your workspace at once.\n"},
		msgMFAReset: {"Your multi-factor authentication was reset",
			"An admin reset the multi-factor authentication of {{.Email}}: your authenticators and recovery codes were removed and you were signed out everywhere.\n\nSet up an authenticator app again at your next sign-in or in account settings.{{if .AccessCode}} You will need the one-time access code the admin gives you.{{end}}\n\nIf you did not ask for this, contact your admin at once.\n"},
		msgRecoveryCodeUsed: {"A recovery code was used to sign in",
			"A recovery code was used to sign in to {{.Email}}. {{.Remaining}} unused codes remain.\n\nIf you lost your authenticator, set up a new one in account settings. If this was not you, contact an admin of your workspace at once.\n"},
		msgRecoveryCodesRenewed: {"New recovery codes were created",
			"New recovery codes were created for {{.Email}}; the old ones no longer work, and your other sessions were signed out.\n\nIf you did not do this, contact an admin of your workspace at once.\n"},
		msgMFARequired: {"{{.Workspace}} now requires multi-factor authentication",
			"The workspace {{.Workspace}} now requires multi-factor authentication, and {{.Email}} has none yet.\n\nSet up an authenticator app in account settings by {{.Due}}. After that, sign-in will walk you through the setup before letting you in.\n"},
		msgMFALocked: {"Too many wrong codes: your authenticator is blocked",
			"There were too many wrong codes for {{.Email}}, so sign-in with an authenticator code is blocked.\n\nSign in with a recovery code, or ask an admin of your workspace to reset your multi-factor authentication.\n"},
	},
	"ja": {
		msgInvitation: {"sekisho への招待",
			"ワークスペース {{.Workspace}} に招待されました。\n\n次のリンクからパスワードを設定してください（1回のみ、7日間有効）:\n{{.Link}}\n"},
		msgPasswordReset: {"sekisho のパスワード再設定",
			"{{.Workspace}} の {{.Email}} のパスワード再設定が依頼されました。\n\nご本人の場合は、次のリンクから新しいパスワードを設定してください（1回のみ、1時間有効）:\n{{.Link}}\n\n心当たりがない場合はこのメールを無視してください。パスワードは変更されません。\n"},
		msgPasswordChanged: {"sekisho のパスワードが変更されました",
			"{{.Email}} のパスワードが変更されました。ほかのセッションはサインアウトされました。\n\n心当たりがない場合は、すぐにワークスペースの管理者に連絡してください。\n"},
		msgMFAEnrolled: {"認証アプリが追加されました",
			"{{.Email}} に認証アプリ「{{.Name}}」が追加されました。\n\n心当たりがない場合は、すぐにワークスペースの管理者に連絡してください。\n"},
		msgMFARemoved: {"認証アプリが削除されました",
			"{{.Email}} から{{.What}}が削除されました。\n\n心当たりがない場合は、すぐにワークスペースの管理者に連絡してください。\n"},
		msgMFAReset: {"多要素認証が解除されました",
			"管理者が {{.Email}} の多要素認証を解除しました。認証アプリとリカバリーコードは削除され、すべてのセッションがサインアウトされました。\n\n次回のサインイン時、またはアカウント設定で認証アプリを再設定してください。{{if .AccessCode}}管理者から伝えられるワンタイムのアクセスコードが必要です。{{end}}\n\n心当たりがない場合は、すぐに管理者に連絡してください。\n"},
		msgRecoveryCodeUsed: {"リカバリーコードでサインインしました",
			"{{.Email}} へのサインインにリカバリーコードが使われました。未使用のコードは残り {{.Remaining}} 個です。\n\n認証アプリを紛失した場合は、アカウント設定で新しい認証アプリを設定してください。心当たりがない場合は、すぐにワークスペースの管理者に連絡してください。\n"},
		msgRecoveryCodesRenewed: {"リカバリーコードが再発行されました",
			"{{.Email}} のリカバリーコードが再発行されました。以前のコードは使えません。ほかのセッションはサインアウトされました。\n\n心当たりがない場合は、すぐにワークスペースの管理者に連絡してください。\n"},
		msgMFARequired: {"{{.Workspace}} で多要素認証が必須になりました",
			"ワークスペース {{.Workspace}} で多要素認証が必須になりましたが、{{.Email}} はまだ設定していません。\n\n{{.Due}} までにアカウント設定で認証アプリを設定してください。期限を過ぎると、サインイン時に設定の手順が表示されます。\n"},
		msgMFALocked: {"誤ったコードが多すぎるため認証アプリがブロックされました",
			"{{.Email}} で誤ったコードが多数入力されたため、認証アプリのコードによるサインインをブロックしました。\n\nリカバリーコードでサインインするか、ワークスペースの管理者に多要素認証の解除を依頼してください。\n"},
	},
}

var messageTemplates = func() map[string]map[messageKind][2]*template.Template {
	out := map[string]map[messageKind][2]*template.Template{}
	for lang, ms := range messages {
		out[lang] = map[messageKind][2]*template.Template{}
		for k, m := range ms {
			out[lang][k] = [2]*template.Template{
				template.Must(template.New("s").Parse(m.subject)),
				template.Must(template.New("b").Parse(m.body)),
			}
		}
	}
	return out
}()

// message renders kind for u in u's language.
func (s *Service) message(u *sekisho.User, kind messageKind, data map[string]any) mail.Message {
	lang := "en"
	if u.Locale == "ja" {
		lang = "ja"
	}
	if data == nil {
		data = map[string]any{}
	}
	data["Email"] = u.Email
	t := messageTemplates[lang][kind]
	var subject, body strings.Builder
	// The templates are fixed and the data are plain values: they can't fail.
	t[0].Execute(&subject, data)
	t[1].Execute(&body, data)
	return mail.Message{To: u.Email, Subject: subject.String(), Text: body.String()}
}

func itoa(n int) string { return strconv.Itoa(n) }

package web

import (
	"html/template"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/sekisho/sekisho"
)

// pageTemplates holds every page, parsed once per language so that t is a
// plain function of the template: pageTemplates[lang][page].
var pageTemplates = mustParsePages()

// sharedTemplates are parsed with every page.
var sharedTemplates = []string{"templates/layout.html", "templates/partials.html"}

func mustParsePages() map[string]map[string]*template.Template {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]map[string]*template.Template{}
	for _, lang := range Languages {
		out[lang] = map[string]*template.Template{}
		funcs := templateFuncs(catalogs[lang])
		for _, file := range names {
			if isShared(file) {
				continue
			}
			name := strings.TrimSuffix(path.Base(file), ".html")
			files := append(append([]string(nil), sharedTemplates...), file)
			t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, files...)
			if err != nil {
				panic(err)
			}
			out[lang][name] = t
		}
	}
	return out
}

func isShared(file string) bool {
	for _, s := range sharedTemplates {
		if s == file {
			return true
		}
	}
	return false
}

// templateFuncs are the functions templates call, bound to c's language.
func templateFuncs(c *catalog) template.FuncMap {
	return template.FuncMap{
		"t":        c.T,
		"dateTime": c.dateTime,
		"date":     c.date,
		"role":     func(r sekisho.Role) string { return c.T("role." + string(r)) },
		"status":   func(s sekisho.Status) string { return c.T("status." + string(s)) },
		"groups":   groups,
		"past":     func(t, now time.Time) bool { return !t.After(now) },
		"dict":     dict,
		"shortUA":  shortUA,
		// The audit log in people's words: an event type, a detail's key
		// and its value; what the catalog does not know shows as stored.
		"auditType": func(typ string) string { return c.orRaw("audit.type.", typ) },
		"auditKey":  func(k string) string { return c.orRaw("audit.detail.", k) },
		"auditValue": func(k, v string) string {
			// A change is stored as "before→after".
			parts := strings.Split(v, "→")
			for i, p := range parts {
				prefix := "audit.value."
				if (k == "role" || k == "status") && c.has(k+"."+p) {
					prefix = k + "." // the words the user pages use
				}
				parts[i] = c.orRaw(prefix, p)
			}
			return strings.Join(parts, " → ")
		},
	}
}

// orRaw is the message prefix+v, or v itself when the catalog has none.
func (c *catalog) orRaw(prefix, v string) string {
	if v != "" && c.has(prefix+v) {
		return c.T(prefix + v)
	}
	return v
}

// auditTypes are the event types the audit log filter offers: every type
// the catalogs name (a test checks they name every type the service
// writes), sorted.
var auditTypes = func() []string {
	var out []string
	for k := range catalogs[Languages[0]].msgs {
		if t, ok := strings.CutPrefix(k, "audit.type."); ok {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}()

// dict builds the argument of a partial template from name/value pairs.
func dict(pairs ...any) map[string]any {
	m := make(map[string]any, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		k, _ := pairs[i].(string)
		m[k] = pairs[i+1]
	}
	return m
}

// shortUA names the browser and system of a user agent, for the session
// list; people recognise "Firefox on Windows", not the whole string.
func shortUA(ua string) string {
	browser := ""
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"},
		{"Chromium/", "Chromium"}, {"Safari/", "Safari"}, {"curl/", "curl"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := ""
	for _, o := range []struct{ token, name string }{
		{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			system = o.name
			break
		}
	}
	switch {
	case browser != "" && system != "":
		return browser + " / " + system
	case browser != "":
		return browser
	case system != "":
		return system
	case len([]rune(ua)) > 40:
		return string([]rune(ua)[:40]) + "…"
	}
	return ua
}

// groups splits s into groups of four for reading aloud or typing.
func groups(s string) string {
	var b strings.Builder
	for i, r := range []rune(s) {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

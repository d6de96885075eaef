package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The web pages speak English and Japanese. Every word they show comes
// from a message catalog (i18n/en.json, i18n/ja.json): flat maps from a
// dotted key to a text in which {name} stands for an argument. Templates
// call t with a literal key; a test checks that both catalogs hold every
// key the templates use, and the same keys.

//go:embed i18n/*.json
var catalogFS embed.FS

// Languages are the languages of the pages, the default first.
var Languages = []string{"en", "ja"}

// catalog is one language's messages.
type catalog struct {
	lang string
	msgs map[string]string
	// fallback is English for the other languages: a key missing from a
	// catalog (which a test prevents) shows in English, never as a key.
	fallback *catalog
}

var catalogs = mustLoadCatalogs()

func mustLoadCatalogs() map[string]*catalog {
	out := map[string]*catalog{}
	for _, lang := range Languages {
		b, err := catalogFS.ReadFile("i18n/" + lang + ".json")
		if err != nil {
			panic(err)
		}
		c := &catalog{lang: lang}
		if err := json.Unmarshal(b, &c.msgs); err != nil {
			panic(fmt.Sprintf("i18n/%s.json: %v", lang, err))
		}
		out[lang] = c
	}
	for _, lang := range Languages[1:] {
		out[lang].fallback = out[Languages[0]]
	}
	return out
}

// has reports whether key is in c (or its fallback).
func (c *catalog) has(key string) bool {
	if _, ok := c.msgs[key]; ok {
		return true
	}
	return c.fallback != nil && c.fallback.has(key)
}

// T returns the message key with its {name} placeholders replaced by the
// name/value pairs in args.
func (c *catalog) T(key string, args ...any) string {
	msg, ok := c.msgs[key]
	if !ok {
		if c.fallback != nil {
			return c.fallback.T(key, args...)
		}
		return key
	}
	if len(args) < 2 || !strings.Contains(msg, "{") {
		return msg
	}
	pairs := make([]string, 0, len(args))
	for i := 0; i+1 < len(args); i += 2 {
		pairs = append(pairs, "{"+fmt.Sprint(args[i])+"}", fmt.Sprint(args[i+1]))
	}
	return strings.NewReplacer(pairs...).Replace(msg)
}

// dateTime formats t for people reading c's language, in UTC.
func (c *catalog) dateTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.UTC()
	if c.lang == "ja" {
		return t.Format("2006年1月2日 15:04") + " UTC"
	}
	return t.Format("Jan 2, 2006 15:04") + " UTC"
}

// date formats the day of t in c's language, in UTC.
func (c *catalog) date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.UTC()
	if c.lang == "ja" {
		return t.Format("2006年1月2日")
	}
	return t.Format("Jan 2, 2006")
}

// langCookie remembers the language a signed-out visitor picked.
func (s *Server) langCookie() string {
	if s.secure {
		return "__Host-sekisho_lang"
	}
	return "sekisho_lang"
}

// supported returns lang if the pages speak it, else "".
func supported(lang string) string {
	for _, l := range Languages {
		if l == lang {
			return l
		}
	}
	return ""
}

// pickLanguage chooses the language of a page: the signed-in user's saved
// choice, then the visitor's pick (cookie), then the browser's
// Accept-Language, then English.
func (s *Server) pickLanguage(r *http.Request, saved string) string {
	if l := supported(saved); l != "" {
		return l
	}
	if c, err := r.Cookie(s.langCookie()); err == nil {
		if l := supported(c.Value); l != "" {
			return l
		}
	}
	return acceptLanguage(r.Header.Get("Accept-Language"))
}

// acceptLanguage picks the supported language the Accept-Language header
// prefers most (by q-value, then by order), or English.
func acceptLanguage(header string) string {
	type choice struct {
		lang string
		q    float64
		pos  int
	}
	var choices []choice
	for i, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil || f < 0 || f > 1 {
					f = 0
				}
				q = f
			}
		}
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		if l := supported(primary); l != "" && q > 0 {
			choices = append(choices, choice{l, q, i})
		}
	}
	if len(choices) == 0 {
		return Languages[0]
	}
	sort.SliceStable(choices, func(i, j int) bool { return choices[i].q > choices[j].q })
	return choices[0].lang
}

package web_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/web"
)

// The fuzz targets and the black-box run reach every route the server
// has. The API routes come from web.APIRoutes; everything else the server
// registers (the pages, health checks, static files, the catch-alls) is
// read from the package's source: every Handle or HandleFunc call whose
// pattern is a string literal. A route added to pages.go is covered
// without touching the tests.

// scannedRoute is one registered pattern.
type scannedRoute struct {
	pattern  string // as registered: "POST /w/{slug}/sign-in", "/api/", "/"
	method   string // "" for a pattern that takes any method
	path     string
	signedIn bool // wrapped in s.signedIn: needs the session cookie
	api      bool // a route of web.APIRoutes
}

// wildcards returns the names of the path's {wildcards}.
func (r scannedRoute) wildcards() []string {
	var out []string
	for _, m := range wildcardRE.FindAllStringSubmatch(r.path, -1) {
		if m[1] != "$" {
			out = append(out, m[1])
		}
	}
	return out
}

var wildcardRE = regexp.MustCompile(`\{([a-z$]+)(?:\.\.\.)?\}`)

// scanRoutes returns every route of the server: the API table, then the
// literal patterns of the package's non-test source files.
func scanRoutes(tb testing.TB) []scannedRoute {
	tb.Helper()
	var out []scannedRoute
	for _, r := range web.APIRoutes() {
		method, path, _ := strings.Cut(r, " ")
		out = append(out, scannedRoute{pattern: r, method: method, path: path, api: true})
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		tb.Fatal(err)
	}
	fset := token.NewFileSet()
	literal := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			tb.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 2 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			pattern, err := strconv.Unquote(lit.Value)
			if err != nil {
				tb.Fatalf("%s: pattern %s: %v", fset.Position(lit.Pos()), lit.Value, err)
			}
			r := scannedRoute{pattern: pattern, path: pattern}
			if m, p, ok := strings.Cut(pattern, " "); ok {
				r.method, r.path = m, p
			}
			if wrap, ok := call.Args[1].(*ast.CallExpr); ok {
				if ws, ok := wrap.Fun.(*ast.SelectorExpr); ok && ws.Sel.Name == "signedIn" {
					r.signedIn = true
				}
			}
			literal++
			out = append(out, r)
			return true
		})
	}
	// A refactor that hides the patterns from this scan must not pass
	// silently with only the API covered.
	if literal < 40 {
		tb.Fatalf("found only %d literal route patterns in the source; has pageRoutes changed shape?", literal)
	}
	for _, want := range []string{"GET /healthz", "/api/", "/", "POST /w/{slug}/sign-in", "POST /admin/workspace"} {
		if !slices.ContainsFunc(out, func(r scannedRoute) bool { return r.pattern == want }) {
			tb.Fatalf("route scan missed %q", want)
		}
	}
	return out
}

// formFields are the names of the pages' form inputs, read from the
// templates: what a fuzzed form post fills in.
func formFields(tb testing.TB) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("templates", "*.html"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no templates: %v", err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`<(?:input|select|textarea|button)[^>]*\sname="([a-z_]+)"`).FindAllStringSubmatch(string(b), -1) {
			seen[m[1]] = true
		}
	}
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	if len(out) < 15 {
		tb.Fatalf("only %d form fields in the templates: %v", len(out), out)
	}
	return out
}

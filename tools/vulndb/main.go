// Command vulndb builds an offline copy of the Go vulnerability database for
// `govulncheck -db file://DIR`, for machines that reach the Go module proxy but
// not vuln.go.dev.
//
//	go run ./tools/vulndb -version v0.0.0-20261105234957-e22db6528018 -out DIR
//
// The Go security team publishes the database's entries, in OSV JSON, in the
// data/osv folder of the module golang.org/x/vulndb. The command downloads
// that module at -version with `go mod download`, so the checksum database
// vouches for it as for any module, and writes DIR in the layout of
// https://go.dev/security/vuln/database#api:
//
//	index/db.json       {"modified": the commit time of -version}
//	index/modules.json  every module path with the ids of its entries
//	index/vulns.json    every id with its aliases
//	ID/<id>.json        each entry, byte for byte as published
//
// The output depends on -version alone. The index leaves out each vuln's
// optional "fixed" version: a client then reads every entry of a module and
// matches versions against the entry itself, which cannot skip one. The
// repository's layout is not a promised interface, so the command refuses a
// module whose data/osv is missing, holds a file that is not an entry named
// by its id, or looks too small to be the database. DIR is written beside
// itself and renamed into place, so a run that dies leaves no half database.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// minEntries is far below the 4,789 entries of 2026-11 and far above what a
// moved or emptied data/osv would leave.
const minEntries = 1000

func main() {
	version := flag.String("version", "", "version of golang.org/x/vulndb to build from (required)")
	out := flag.String("out", "", "directory to write the database to, replaced if it exists (required)")
	flag.Parse()
	if *version == "" || *out == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*version, *out); err != nil {
		fmt.Fprintln(os.Stderr, "vulndb:", err)
		os.Exit(1)
	}
}

func run(version, out string) error {
	dir, modified, err := download("golang.org/x/vulndb", version)
	if err != nil {
		return err
	}
	n, err := build(filepath.Join(dir, "data", "osv"), modified, out)
	if err != nil {
		return err
	}
	if n < minEntries {
		os.RemoveAll(out)
		return fmt.Errorf("golang.org/x/vulndb@%s has only %d entries in data/osv, want at least %d", version, n, minEntries)
	}
	fmt.Printf("vulndb: %d entries of golang.org/x/vulndb@%s in %s\n", n, version, out)
	return nil
}

// download fetches module@version into the module cache and returns its
// directory and commit time.
func download(module, version string) (dir string, modified time.Time, err error) {
	// Outside any module, so that no go.mod or go.sum is touched.
	tmp, err := os.MkdirTemp("", "vulndb")
	if err != nil {
		return "", time.Time{}, err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("go", "mod", "download", "-json", module+"@"+version)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	runErr := cmd.Run()
	var m struct {
		Dir, Info, Error string
	}
	if err := json.Unmarshal(stdout.Bytes(), &m); err != nil {
		return "", time.Time{}, fmt.Errorf("go mod download %s@%s: %v (%v)", module, version, runErr, err)
	}
	if m.Error != "" || runErr != nil {
		return "", time.Time{}, fmt.Errorf("go mod download %s@%s: %s %v", module, version, m.Error, runErr)
	}
	b, err := os.ReadFile(m.Info)
	if err != nil {
		return "", time.Time{}, err
	}
	var info struct{ Time time.Time }
	if err := json.Unmarshal(b, &info); err != nil {
		return "", time.Time{}, fmt.Errorf("%s: %v", m.Info, err)
	}
	return m.Dir, info.Time.UTC(), nil
}

// entry is the part of an OSV entry that the index needs.
type entry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
	} `json:"affected"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
}

type module struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

type vuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
}

var idRE = regexp.MustCompile(`^GO-[0-9]{4}-[0-9]{4,}$`)

// build writes the database of the OSV entries in src to out and returns how
// many entries it holds.
func build(src string, modified time.Time, out string) (int, error) {
	files, err := filepath.Glob(filepath.Join(src, "*.json"))
	if err != nil {
		return 0, err
	}
	if len(files) == 0 {
		return 0, fmt.Errorf("no OSV entries in %s", src)
	}
	slices.Sort(files)

	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return 0, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(out), filepath.Base(out)+".tmp")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	for _, d := range []string{"index", "ID"} {
		if err := os.Mkdir(filepath.Join(tmp, d), 0o755); err != nil {
			return 0, err
		}
	}

	modules := map[string]*module{}
	var vulns []vuln
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		var e entry
		if err := json.Unmarshal(b, &e); err != nil {
			return 0, fmt.Errorf("%s: %v", f, err)
		}
		if !idRE.MatchString(e.ID) || filepath.Base(f) != e.ID+".json" {
			return 0, fmt.Errorf("%s: holds entry %q; want a file named <id>.json with an id like GO-2026-0001", f, e.ID)
		}
		if len(e.Affected) == 0 {
			return 0, fmt.Errorf("%s: affects no module", f)
		}
		vulns = append(vulns, vuln{ID: e.ID, Modified: e.Modified, Aliases: e.Aliases})
		seen := map[string]bool{}
		for _, a := range e.Affected {
			p := a.Package.Name
			if p == "" {
				return 0, fmt.Errorf("%s: an affected package has no name", f)
			}
			if seen[p] { // some entries name a module twice, once per range
				continue
			}
			seen[p] = true
			if modules[p] == nil {
				modules[p] = &module{Path: p}
			}
			modules[p].Vulns = append(modules[p].Vulns, moduleVuln{ID: e.ID, Modified: e.Modified})
		}
		if err := os.WriteFile(filepath.Join(tmp, "ID", e.ID+".json"), b, 0o644); err != nil {
			return 0, err
		}
	}

	// files is sorted by id, so each module's vulns and the vulns list are too.
	var mods []*module
	for _, m := range modules {
		mods = append(mods, m)
	}
	slices.SortFunc(mods, func(a, b *module) int { return strings.Compare(a.Path, b.Path) })
	for name, v := range map[string]any{
		"db.json": struct {
			Modified time.Time `json:"modified"`
		}{modified},
		"modules.json": mods,
		"vulns.json":   vulns,
	} {
		b, err := json.Marshal(v)
		if err != nil {
			return 0, err
		}
		if err := os.WriteFile(filepath.Join(tmp, "index", name), b, 0o644); err != nil {
			return 0, err
		}
	}

	if err := os.RemoveAll(out); err != nil {
		return 0, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, out); err != nil {
		return 0, fmt.Errorf("moving the database into place: %w", err)
	}
	return len(vulns), nil
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBuild(t *testing.T) {
	out := filepath.Join(t.TempDir(), "db")
	// Whatever was there is replaced.
	if err := os.MkdirAll(filepath.Join(out, "ID"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "ID", "GO-2000-0001.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}

	modified := time.Date(2026, 11, 5, 23, 49, 57, 0, time.UTC)
	n, err := build("testdata/osv", modified, out)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("build = %d entries, want 2", n)
	}

	want := map[string]string{
		"index/db.json": `{"modified":"2026-11-05T23:49:57Z"}`,
		// Sorted by path, then id; stdlib once although GO-2026-0002 names it twice.
		"index/modules.json": `[` +
			`{"path":"golang.org/x/text","vulns":[` +
			`{"id":"GO-2021-0113","modified":"0001-01-01T00:00:00Z"},` +
			`{"id":"GO-2026-0002","modified":"2026-01-02T03:04:05Z"}]},` +
			`{"path":"stdlib","vulns":[{"id":"GO-2026-0002","modified":"2026-01-02T03:04:05Z"}]}]`,
		"index/vulns.json": `[` +
			`{"id":"GO-2021-0113","modified":"0001-01-01T00:00:00Z","aliases":["CVE-2021-38561","GHSA-ppp9-7jff-5vj2"]},` +
			`{"id":"GO-2026-0002","modified":"2026-01-02T03:04:05Z"}]`,
	}
	for name, w := range want {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != w {
			t.Errorf("%s =\n%s\nwant\n%s", name, b, w)
		}
	}
	for _, id := range []string{"GO-2021-0113", "GO-2026-0002"} {
		got, err := os.ReadFile(filepath.Join(out, "ID", id+".json"))
		if err != nil {
			t.Fatal(err)
		}
		src, err := os.ReadFile(filepath.Join("testdata/osv", id+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, src) {
			t.Errorf("ID/%s.json differs from its source", id)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "ID", "GO-2000-0001.json")); !os.IsNotExist(err) {
		t.Errorf("the old database's entry is still there: %v", err)
	}
	if left, _ := filepath.Glob(out + ".tmp*"); len(left) > 0 {
		t.Errorf("temporary directories left: %v", left)
	}
}

func TestBuildRefuses(t *testing.T) {
	entry := `{"id":"GO-2026-0001","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"name":"example.com/m"}}]}`
	for _, tc := range []struct {
		name, file, body, want string
	}{
		{"misnamed", "GO-2026-0009.json", entry, "holds entry"},
		{"not an id", "x.json", `{"id":"x","affected":[{"package":{"name":"example.com/m"}}]}`, "holds entry"},
		{"not json", "GO-2026-0001.json", `id: GO-2026-0001`, "GO-2026-0001.json"},
		{"no module", "GO-2026-0001.json", `{"id":"GO-2026-0001"}`, "affects no module"},
		{"no name", "GO-2026-0001.json", `{"id":"GO-2026-0001","affected":[{"package":{}}]}`, "no name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := t.TempDir()
			if err := os.WriteFile(filepath.Join(src, tc.file), []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "db")
			_, err := build(src, time.Time{}, out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("build = %v, want an error with %q", err, tc.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a refused build left %s: %v", out, err)
			}
		})
	}
	if _, err := build(t.TempDir(), time.Time{}, filepath.Join(t.TempDir(), "db")); err == nil {
		t.Error("build of an empty directory succeeded")
	}
}

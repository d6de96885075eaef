package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/auth"
	"github.com/sekisho/sekisho/web"
)

var auditCommand = &command{
	summary: "read a workspace's audit log",
	subs: map[string]*command{
		"list":   {summary: "show the newest audit events as a table", run: runAuditList},
		"export": {summary: "write the whole audit log as JSON lines (NDJSON)", run: runAuditExport},
	},
}

// maxAuditPage is the largest page the service hands out.
const maxAuditPage = 200

func runAuditList(ctx context.Context, c *cli, name string, args []string) error {
	f := newFlagSet(name, "--workspace S [--type T] [--limit N]",
		"Shows a workspace's newest audit events, newest first.", false)
	slug := f.requiredString("workspace", "`slug` of the workspace")
	typ := f.String("type", "", "only events of this `type` (user.invited), or of a family ending in a dot (mfa.)")
	limit := f.Int("limit", 50, "show at most this many events")
	if err := f.parse(c, args); err != nil {
		return err
	}
	if *limit < 1 {
		return usagef("%s: --limit must be at least 1", name)
	}
	return c.withApp(ctx, f, func(a *app) error {
		t := newTable(c.stdout, "TIME", "TYPE", "RESULT", "ACTOR", "TARGET", "IP", "REASON", "DETAILS")
		n := 0
		err := auditPages(ctx, c, a, *slug, *typ, min(*limit, maxAuditPage), func(e *sekisho.AuditEvent) bool {
			actor := string(e.ActorKind)
			if e.ActorID != "" {
				actor += ":" + e.ActorID
			}
			t.row(e.Time.UTC().Format(time.RFC3339), e.Type, e.Result, actor, e.TargetID, e.IP, e.Reason, formatDetails(e.Details))
			n++
			return n < *limit
		})
		if err != nil {
			return err
		}
		return t.flush()
	})
}

func runAuditExport(ctx context.Context, c *cli, name string, args []string) error {
	f := newFlagSet(name, "--workspace S",
		"Writes a workspace's whole audit log to stdout, one JSON object per line, newest\n"+
			"first. Events added while it runs are not included.", false)
	slug := f.requiredString("workspace", "`slug` of the workspace")
	if err := f.parse(c, args); err != nil {
		return err
	}
	return c.withApp(ctx, f, func(a *app) error {
		w := bufio.NewWriter(c.stdout)
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		var encErr error
		err := auditPages(ctx, c, a, *slug, "", maxAuditPage, func(e *sekisho.AuditEvent) bool {
			encErr = enc.Encode(web.ToAuditJSON(e)) // the same lines as the API export
			return encErr == nil
		})
		if err != nil {
			return err
		}
		if encErr != nil {
			return encErr
		}
		return w.Flush()
	})
}

// auditPages calls fn with the events of workspace slug, newest first, read
// pageSize at a time, until fn returns false or the log ends. The cursor is an event id, so
// events added meanwhile (newer, with higher ids) neither repeat nor shift
// the pages.
func auditPages(ctx context.Context, c *cli, a *app, slug, typ string, pageSize int, fn func(*sekisho.AuditEvent) bool) error {
	op := c.operator("")
	w, err := workspace(ctx, a.svc, slug)
	if err != nil {
		return err
	}
	q := auth.AuditQuery{Type: typ, Limit: pageSize}
	for {
		page, err := a.svc.AuditEvents(ctx, op, w.ID, q)
		if err != nil {
			return err
		}
		for _, e := range page.Events {
			if !fn(e) {
				return nil
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		q.Cursor = page.NextCursor
	}
}

// formatDetails renders details as sorted key=value pairs.
func formatDetails(d map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(d)) {
		parts = append(parts, fmt.Sprintf("%s=%s", k, d[k]))
	}
	return strings.Join(parts, " ")
}

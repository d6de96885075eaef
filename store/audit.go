package store

import (
	"encoding/json"
	"strings"

	"github.com/sekisho/sekisho"
)

// AddAuditEvent appends e. Call it in the transaction of the change it
// records, so that there is never a change without its event.
func (tx *Tx) AddAuditEvent(e *sekisho.AuditEvent) error {
	details := []byte("{}")
	if len(e.Details) > 0 {
		var err error
		if details, err = json.Marshal(e.Details); err != nil {
			return err
		}
	}
	_, err := tx.exec(`INSERT INTO audit_events (time, workspace_id, type, result, actor_kind, actor_id, target_id, ip, user_agent, reason, details)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ms(e.Time), e.WorkspaceID, e.Type, e.Result, e.ActorKind, e.ActorID, e.TargetID, e.IP, e.UserAgent, e.Reason, string(details))
	return err
}

// AuditFilter selects audit events of one workspace.
type AuditFilter struct {
	WorkspaceID string
	ActorID     string
	TargetID    string
	Type        string // exact, or a prefix ending in "." ("mfa.")
	Since       int64  // Unix ms, inclusive; 0 for no bound
	Until       int64  // Unix ms, exclusive; 0 for no bound
	Before      int64  // keyset cursor: the last id of the previous page
	Limit       int
}

// AuditEvents returns one page of events matching f, newest first.
func (tx *Tx) AuditEvents(f AuditFilter) ([]*sekisho.AuditEvent, error) {
	where := []string{"workspace_id = ?"}
	args := []any{f.WorkspaceID}
	add := func(cond string, v any) { where, args = append(where, cond), append(args, v) }
	if f.ActorID != "" {
		add("actor_id = ?", f.ActorID)
	}
	if f.TargetID != "" {
		add("target_id = ?", f.TargetID)
	}
	if strings.HasSuffix(f.Type, ".") {
		add(`type LIKE ? ESCAPE '\'`, escapeLike(f.Type)+"%")
	} else if f.Type != "" {
		add("type = ?", f.Type)
	}
	if f.Since > 0 {
		add("time >= ?", f.Since)
	}
	if f.Until > 0 {
		add("time < ?", f.Until)
	}
	if f.Before > 0 {
		add("id < ?", f.Before)
	}
	args = append(args, f.Limit)
	rows, err := tx.query(`SELECT id, time, workspace_id, type, result, actor_kind, actor_id, target_id, ip, user_agent, reason, details
		FROM audit_events WHERE `+strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*sekisho.AuditEvent
	for rows.Next() {
		var e sekisho.AuditEvent
		var t int64
		var details string
		if err := rows.Scan(&e.ID, &t, &e.WorkspaceID, &e.Type, &e.Result, &e.ActorKind, &e.ActorID, &e.TargetID, &e.IP, &e.UserAgent, &e.Reason, &details); err != nil {
			return nil, err
		}
		e.Time = fromMS(t)
		if details != "{}" {
			if err := json.Unmarshal([]byte(details), &e.Details); err != nil {
				return nil, err
			}
		}
		out = append(out, &e)
	}
	return out, rows.Err()
}

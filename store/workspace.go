package store

import (
	"database/sql"

	"github.com/sekisho/sekisho"
)

const workspaceColumns = `id, slug, name, require_mfa, mfa_grace_days, mfa_enforced_since, reset_requires_access_code, created_at`

func scanWorkspace(row interface{ Scan(...any) error }) (*sekisho.Workspace, error) {
	var w sekisho.Workspace
	var enforced sql.NullInt64
	var created int64
	err := row.Scan(&w.ID, &w.Slug, &w.Name, &w.RequireMFA, &w.MFAGraceDays, &enforced, &w.ResetRequiresAccessCode, &created)
	if err != nil {
		return nil, mapErr(err)
	}
	w.MFAEnforcedSince = fromNullMS(enforced)
	w.CreatedAt = fromMS(created)
	return &w, nil
}

// CreateWorkspace inserts w; ErrDuplicate when the slug is taken.
func (tx *Tx) CreateWorkspace(w *sekisho.Workspace) error {
	_, err := tx.exec(`INSERT INTO workspaces (`+workspaceColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		w.ID, w.Slug, w.Name, w.RequireMFA, w.MFAGraceDays, nullMS(w.MFAEnforcedSince), w.ResetRequiresAccessCode, ms(w.CreatedAt))
	return mapErr(err)
}

// Workspace returns the workspace with id.
func (tx *Tx) Workspace(id string) (*sekisho.Workspace, error) {
	return scanWorkspace(tx.queryRow(`SELECT `+workspaceColumns+` FROM workspaces WHERE id = ?`, id))
}

// WorkspaceBySlug returns the workspace with slug.
func (tx *Tx) WorkspaceBySlug(slug string) (*sekisho.Workspace, error) {
	return scanWorkspace(tx.queryRow(`SELECT `+workspaceColumns+` FROM workspaces WHERE slug = ?`, slug))
}

// LockWorkspace returns the workspace with id and, on PostgreSQL, holds its
// row lock until the transaction ends. Changes that must see a stable set
// of the workspace's admins (the last-admin rule) or its policy take it
// first; on SQLite the IMMEDIATE transaction already serializes writers.
func (tx *Tx) LockWorkspace(id string) (*sekisho.Workspace, error) {
	query := `SELECT ` + workspaceColumns + ` FROM workspaces WHERE id = ?`
	if tx.db.dialect == Postgres {
		query += ` FOR UPDATE`
	}
	return scanWorkspace(tx.queryRow(query, id))
}

// Workspaces returns every workspace, by slug.
func (tx *Tx) Workspaces() ([]*sekisho.Workspace, error) {
	rows, err := tx.query(`SELECT ` + workspaceColumns + ` FROM workspaces ORDER BY slug`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ws []*sekisho.Workspace
	for rows.Next() {
		w, err := scanWorkspace(rows)
		if err != nil {
			return nil, err
		}
		ws = append(ws, w)
	}
	return ws, rows.Err()
}

// CountWorkspaces returns how many workspaces exist (0 on first start).
func (tx *Tx) CountWorkspaces() (int, error) {
	var n int
	err := tx.queryRow(`SELECT COUNT(*) FROM workspaces`).Scan(&n)
	return n, err
}

// UpdateWorkspacePolicy stores w's security policy fields.
func (tx *Tx) UpdateWorkspacePolicy(w *sekisho.Workspace) error {
	_, err := tx.exec(`UPDATE workspaces SET require_mfa = ?, mfa_grace_days = ?, mfa_enforced_since = ?, reset_requires_access_code = ? WHERE id = ?`,
		w.RequireMFA, w.MFAGraceDays, nullMS(w.MFAEnforcedSince), w.ResetRequiresAccessCode, w.ID)
	return err
}

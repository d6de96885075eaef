package store_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sekisho/sekisho"
	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
)

func TestUsers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorkspace(t, db, "acme")
		other := newWorkspace(t, db, "other")

		u := &sekisho.User{
			ID: store.NewID(), WorkspaceID: w.ID, Email: "alice@example.test", Name: "Alice Liddell", Locale: "ja",
			Role: sekisho.RoleUserAdmin, Status: sekisho.StatusActive, HasMFA: true,
			MFAResetAt: time.Date(2026, 1, 1, 1, 1, 1, 1_999_999, jst),
			JoinedAt:   time.Date(2026, 1, 2, 0, 0, 0, 500_000_000, jst),
			CreatedAt:  t0, UpdatedAt: t0.Add(time.Second),
		}
		update(t, db, func(tx *store.Tx) error { return tx.CreateUser(u, "$argon2id$hash-of-alice") })
		wantU := *u
		wantU.MFAResetAt, wantU.JoinedAt = msUTC(u.MFAResetAt), msUTC(u.JoinedAt)

		invited := &sekisho.User{ID: store.NewID(), WorkspaceID: w.ID, Email: "bob@example.test",
			Role: sekisho.RoleMember, Status: sekisho.StatusInvited, CreatedAt: t0, UpdatedAt: t0}
		update(t, db, func(tx *store.Tx) error { return tx.CreateUser(invited, "") })

		view(t, db, func(tx *store.Tx) error {
			got, err := tx.User(w.ID, u.ID)
			if err != nil {
				return err
			}
			equal(t, "User", got, &wantU)
			got, hash, err := tx.UserByEmail(w.ID, "alice@example.test")
			if err != nil {
				return err
			}
			equal(t, "UserByEmail", got, &wantU)
			equal(t, "UserByEmail hash", hash, "$argon2id$hash-of-alice")
			got, hash, err = tx.UserWithPassword(w.ID, u.ID)
			if err != nil {
				return err
			}
			equal(t, "UserWithPassword", got, &wantU)
			equal(t, "UserWithPassword hash", hash, "$argon2id$hash-of-alice")

			got, hash, err = tx.UserByEmail(w.ID, "bob@example.test")
			if err != nil {
				return err
			}
			equal(t, "invited user", got, invited)
			equal(t, "invited user's hash", hash, "")
			if got.JoinedAt != (time.Time{}) || got.MFAResetAt != (time.Time{}) {
				t.Errorf("unset times read back as %v, %v; want zero", got.JoinedAt, got.MFAResetAt)
			}

			// Scoped by workspace: another workspace's id finds nothing.
			if _, err := tx.User(other.ID, u.ID); !isErr(err, store.ErrNotFound) {
				t.Errorf("User(other workspace, id): err = %v, want ErrNotFound", err)
			}
			if _, _, err := tx.UserWithPassword(other.ID, u.ID); !isErr(err, store.ErrNotFound) {
				t.Errorf("UserWithPassword(other workspace, id): err = %v, want ErrNotFound", err)
			}
			if _, _, err := tx.UserByEmail(other.ID, "alice@example.test"); !isErr(err, store.ErrNotFound) {
				t.Errorf("UserByEmail(other workspace): err = %v, want ErrNotFound", err)
			}
			if _, _, err := tx.UserByEmail(w.ID, "nobody@example.test"); !isErr(err, store.ErrNotFound) {
				t.Errorf("UserByEmail(unknown): err = %v, want ErrNotFound", err)
			}
			if _, err := tx.User(w.ID, store.NewID()); !isErr(err, store.ErrNotFound) {
				t.Errorf("User(unknown): err = %v, want ErrNotFound", err)
			}
			return nil
		})

		// One email per workspace; the same email in another workspace is
		// another person.
		dup := &sekisho.User{ID: store.NewID(), WorkspaceID: w.ID, Email: "alice@example.test",
			Role: sekisho.RoleMember, Status: sekisho.StatusActive, CreatedAt: t0, UpdatedAt: t0}
		if err := db.Update(ctx, func(tx *store.Tx) error { return tx.CreateUser(dup, "") }); !isErr(err, store.ErrDuplicate) {
			t.Errorf("duplicate email: err = %v, want ErrDuplicate", err)
		}
		dupID := &sekisho.User{ID: u.ID, WorkspaceID: w.ID, Email: "carol@example.test",
			Role: sekisho.RoleMember, Status: sekisho.StatusActive, CreatedAt: t0, UpdatedAt: t0}
		if err := db.Update(ctx, func(tx *store.Tx) error { return tx.CreateUser(dupID, "") }); !isErr(err, store.ErrDuplicate) {
			t.Errorf("duplicate id: err = %v, want ErrDuplicate", err)
		}
		twin := newUser(t, db, other, "alice@example.test")
		view(t, db, func(tx *store.Tx) error {
			got, _, err := tx.UserByEmail(other.ID, "alice@example.test")
			if err != nil {
				return err
			}
			if got.ID != twin.ID {
				t.Errorf("UserByEmail(other) = %s, want the other workspace's alice %s", got.ID, twin.ID)
			}
			return nil
		})

		// UpdateUser stores every mutable field, and keeps emails unique.
		up := wantU
		up.Email, up.Name, up.Locale = "alice2@example.test", "Alice L.", "en"
		up.Role, up.Status, up.HasMFA = sekisho.RoleWorkspaceAdmin, sekisho.StatusDisabled, false
		up.MFAResetAt, up.JoinedAt = time.Time{}, t0.Add(-24*time.Hour)
		up.UpdatedAt = t0.Add(time.Hour)
		up.CreatedAt = t0.Add(time.Hour) // not mutable: must stay
		update(t, db, func(tx *store.Tx) error { return tx.UpdateUser(&up) })
		wantUp := up
		wantUp.CreatedAt = t0
		view(t, db, func(tx *store.Tx) error {
			got, err := tx.User(w.ID, u.ID)
			if err != nil {
				return err
			}
			equal(t, "after UpdateUser", got, &wantUp)
			_, hash, err := tx.UserByEmail(w.ID, "alice2@example.test")
			equal(t, "hash after UpdateUser", hash, "$argon2id$hash-of-alice")
			return err
		})
		taken := wantUp
		taken.Email = "bob@example.test"
		if err := db.Update(ctx, func(tx *store.Tx) error { return tx.UpdateUser(&taken) }); !isErr(err, store.ErrDuplicate) {
			t.Errorf("UpdateUser to a taken email: err = %v, want ErrDuplicate", err)
		}
		// UpdateUser with another workspace's id changes nothing.
		cross := *twin
		cross.WorkspaceID, cross.Name = w.ID, "hijacked"
		update(t, db, func(tx *store.Tx) error { return tx.UpdateUser(&cross) })
		view(t, db, func(tx *store.Tx) error {
			got, err := tx.User(other.ID, twin.ID)
			if err == nil && got.Name == "hijacked" {
				t.Error("UpdateUser through the wrong workspace changed the user")
			}
			return err
		})

		update(t, db, func(tx *store.Tx) error { return tx.SetPasswordHash(invited.ID, "$argon2id$new") })
		view(t, db, func(tx *store.Tx) error {
			_, hash, err := tx.UserByEmail(w.ID, "bob@example.test")
			equal(t, "SetPasswordHash", hash, "$argon2id$new")
			return err
		})
	})
}

func TestDeleteUserCascades(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorkspace(t, db, "acme")
		u := newUser(t, db, w, "gone@example.test")
		keep := newUser(t, db, w, "keep@example.test")
		for _, x := range []*sekisho.User{u, keep} {
			newSession(t, db, x, "session-"+x.ID, t0)
			update(t, db, func(tx *store.Tx) error {
				if err := tx.CreateFlow(hashOf("flow-"+x.ID), &store.Flow{UserID: x.ID, Kind: "mfa", CreatedAt: t0.UnixMilli(), ExpiresAt: t0.Add(time.Hour).UnixMilli()}); err != nil {
					return err
				}
				if err := tx.CreateAuthenticator(&store.Authenticator{Authenticator: sekisho.Authenticator{ID: store.NewID(), UserID: x.ID,
					Kind: sekisho.KindTOTP, Name: "phone", ConfirmedAt: t0, CreatedAt: t0}, Secret: "sealed"}); err != nil {
					return err
				}
				if err := tx.ReplaceRecoveryCodes(x.ID, "salt", []string{"h1-" + x.ID, "h2-" + x.ID}, t0.UnixMilli()); err != nil {
					return err
				}
				if err := tx.CreateToken(hashOf("token-"+x.ID), store.PurposePasswordReset, x.ID, t0.UnixMilli(), t0.Add(time.Hour).UnixMilli()); err != nil {
					return err
				}
				return tx.AddAuditEvent(&sekisho.AuditEvent{Time: t0, WorkspaceID: w.ID, Type: "user.created",
					Result: sekisho.ResultSuccess, ActorKind: sekisho.ActorSystem, TargetID: x.ID})
			})
		}
		update(t, db, func(tx *store.Tx) error {
			// Through another workspace: nothing happens.
			if err := tx.DeleteUser(store.NewID(), u.ID); err != nil {
				return err
			}
			if _, err := tx.User(w.ID, u.ID); err != nil {
				t.Errorf("DeleteUser through the wrong workspace deleted the user: %v", err)
			}
			return tx.DeleteUser(w.ID, u.ID)
		})
		now := t0.UnixMilli()
		check := func(x *sekisho.User, present bool) {
			t.Helper()
			wantErr := func(what string, err error) {
				t.Helper()
				if present && err != nil {
					t.Errorf("%s of %s: %v", what, x.Email, err)
				}
				if !present && !isErr(err, store.ErrNotFound) {
					t.Errorf("%s of deleted user: err = %v, want ErrNotFound", what, err)
				}
			}
			_, _, _, err := db.SessionByToken(ctx, hashOf("session-"+x.ID))
			wantErr("SessionByToken", err)
			view(t, db, func(tx *store.Tx) error {
				_, err := tx.User(w.ID, x.ID)
				wantErr("User", err)
				_, err = tx.Flow(hashOf("flow-" + x.ID))
				wantErr("Flow", err)
				_, err = tx.TokenUser(hashOf("token-"+x.ID), store.PurposePasswordReset, now)
				wantErr("TokenUser", err)
				want := 0
				if present {
					want = 1
				}
				ss, err := tx.UserSessions(x.ID)
				if err != nil {
					return err
				}
				as, err := tx.Authenticators(x.ID)
				if err != nil {
					return err
				}
				_, codes, err := tx.RecoveryCodeSalt(x.ID)
				if err != nil {
					return err
				}
				if len(ss) != want || len(as) != want || codes != 2*want {
					t.Errorf("%s: %d sessions, %d authenticators, %d recovery codes; want %d, %d, %d",
						x.Email, len(ss), len(as), codes, want, want, 2*want)
				}
				evs, err := tx.AuditEvents(store.AuditFilter{WorkspaceID: w.ID, TargetID: x.ID, Limit: 10})
				if len(evs) != 1 {
					t.Errorf("%s: %d audit events, want 1 (events outlive users)", x.Email, len(evs))
				}
				return err
			})
		}
		check(u, false)
		check(keep, true)
	})
}

func TestCountAdmins(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorkspace(t, db, "acme")
		other := newWorkspace(t, db, "other")
		newUser(t, db, w, "a1@example.test", withRole(sekisho.RoleWorkspaceAdmin))
		newUser(t, db, w, "a2@example.test", withRole(sekisho.RoleWorkspaceAdmin))
		newUser(t, db, w, "a3@example.test", withRole(sekisho.RoleWorkspaceAdmin), withStatus(sekisho.StatusDisabled))
		newUser(t, db, w, "a4@example.test", withRole(sekisho.RoleWorkspaceAdmin), withStatus(sekisho.StatusInvited))
		newUser(t, db, w, "ua@example.test", withRole(sekisho.RoleUserAdmin))
		newUser(t, db, w, "m@example.test")
		newUser(t, db, other, "a1@example.test", withRole(sekisho.RoleWorkspaceAdmin))
		view(t, db, func(tx *store.Tx) error {
			n, err := tx.CountAdmins(w.ID, sekisho.StatusActive)
			equal(t, "CountAdmins", n, 2)
			return err
		})
	})
}

func TestUsersFilter(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorkspace(t, db, "acme")
		other := newWorkspace(t, db, "other")
		admin := newUser(t, db, w, "admin@example.test", withRole(sekisho.RoleWorkspaceAdmin), withName("Ada Admin"), withMFA(true))
		uadm := newUser(t, db, w, "helper@example.test", withRole(sekisho.RoleUserAdmin), withName("Hal Helper"))
		alice := newUser(t, db, w, "alice@example.test", withName("Alice Liddell"), withMFA(true))
		bob := newUser(t, db, w, "bob@corp.test", withName("Bob SMITH"))
		inv := newUser(t, db, w, "invited@example.test", withStatus(sekisho.StatusInvited))
		dis := newUser(t, db, w, "disabled@example.test", withStatus(sekisho.StatusDisabled), withName("Dis Abled"))
		pct := newUser(t, db, w, "percent@example.test", withName("100% Sure"))
		und := newUser(t, db, w, "under_score@example.test")
		bsl := newUser(t, db, w, "back@example.test", withName(`C:\Users`))
		axb := newUser(t, db, w, "axb@example.test", withName("a1b xyz"))
		emile := newUser(t, db, w, "zola@example.test", withName("Émile Zola"))
		newUser(t, db, other, "alice@example.test", withName("Alice Other"))
		all := []*sekisho.User{admin, uadm, alice, bob, inv, dis, pct, und, bsl, axb, emile}

		yes, no := true, false
		for _, c := range []struct {
			name string
			f    store.UserFilter
			want []*sekisho.User
		}{
			{"all", store.UserFilter{}, all},
			{"role workspace_admin", store.UserFilter{Role: sekisho.RoleWorkspaceAdmin}, []*sekisho.User{admin}},
			{"role user_admin", store.UserFilter{Role: sekisho.RoleUserAdmin}, []*sekisho.User{uadm}},
			{"role member", store.UserFilter{Role: sekisho.RoleMember}, []*sekisho.User{alice, bob, inv, dis, pct, und, bsl, axb, emile}},
			{"status invited", store.UserFilter{Status: sekisho.StatusInvited}, []*sekisho.User{inv}},
			{"status disabled", store.UserFilter{Status: sekisho.StatusDisabled}, []*sekisho.User{dis}},
			{"mfa true", store.UserFilter{MFA: &yes}, []*sekisho.User{admin, alice}},
			{"mfa false", store.UserFilter{MFA: &no}, []*sekisho.User{uadm, bob, inv, dis, pct, und, bsl, axb, emile}},
			{"mfa true and member", store.UserFilter{MFA: &yes, Role: sekisho.RoleMember}, []*sekisho.User{alice}},
			{"query email, upper case", store.UserFilter{Query: "ALICE@"}, []*sekisho.User{alice}},
			{"query email domain", store.UserFilter{Query: "corp.test"}, []*sekisho.User{bob}},
			{"query name, other case", store.UserFilter{Query: "smith"}, []*sekisho.User{bob}},
			{"query name, mixed case", store.UserFilter{Query: "lIDDell"}, []*sekisho.User{alice}},
			{"query non-ASCII name, as written", store.UserFilter{Query: "Émile"}, []*sekisho.User{emile}},
			{"query non-ASCII name, lower case", store.UserFilter{Query: "émile"}, []*sekisho.User{emile}},
			{"query non-ASCII name, upper case", store.UserFilter{Query: "ÉMILE ZOLA"}, []*sekisho.User{emile}},
			{"query percent is literal", store.UserFilter{Query: "%"}, []*sekisho.User{pct}},
			{"query percent inside is literal", store.UserFilter{Query: "0% s"}, []*sekisho.User{pct}},
			{"query underscore is literal", store.UserFilter{Query: "_"}, []*sekisho.User{und}},
			{"query a_b is literal", store.UserFilter{Query: "a_b"}, nil},
			{"query a%b is literal", store.UserFilter{Query: "a%b"}, nil},
			{"query backslash is literal", store.UserFilter{Query: `:\u`}, []*sekisho.User{bsl}},
			{"query no match", store.UserFilter{Query: "zzz"}, nil},
			{"query and status", store.UserFilter{Query: "example", Status: sekisho.StatusInvited}, []*sekisho.User{inv}},
		} {
			f := c.f
			f.WorkspaceID, f.Limit = w.ID, 100
			view(t, db, func(tx *store.Tx) error {
				got, err := tx.Users(f)
				if err != nil {
					return err
				}
				if !slices.Equal(ids(got), ids(sortedByID(c.want))) {
					t.Errorf("%s: got %v, want %v", c.name, emails(got), emails(sortedByID(c.want)))
				}
				return nil
			})
		}
		view(t, db, func(tx *store.Tx) error {
			n, err := tx.CountUsersWithoutMFA(w.ID)
			// uadm, bob, inv, pct, und, bsl, axb, emile: not the disabled one, not those with MFA.
			equal(t, "CountUsersWithoutMFA", n, 8)
			return err
		})
	})
}

func TestUsersPagination(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorkspace(t, db, "acme")
		other := newWorkspace(t, db, "other")
		var want []string
		for i := range 23 {
			u := newUser(t, db, w, fmt.Sprintf("user%02d@example.test", i), withMFA(i%3 == 0), withCreated(t0.Add(-time.Duration(i)*time.Minute)))
			want = append(want, u.ID)
			newUser(t, db, other, fmt.Sprintf("user%02d@example.test", i))
		}
		slices.Sort(want)
		for _, limit := range []int{1, 5, 7, 23, 50} {
			var got []string
			after := ""
			for pages := 0; ; pages++ {
				if pages > 30 {
					t.Fatalf("limit %d: pagination does not end", limit)
				}
				var page []*sekisho.User
				view(t, db, func(tx *store.Tx) error {
					var err error
					page, err = tx.Users(store.UserFilter{WorkspaceID: w.ID, After: after, Limit: limit})
					return err
				})
				if len(page) > limit {
					t.Fatalf("limit %d: page of %d", limit, len(page))
				}
				if len(page) == 0 {
					break
				}
				got = append(got, ids(page)...)
				after = page[len(page)-1].ID
			}
			if !slices.Equal(got, want) {
				t.Errorf("limit %d: pages gave %d ids %v, want each of %d once in id order", limit, len(got), got, len(want))
			}
		}
		// Filters combine with the cursor.
		yes := true
		var got []string
		after := ""
		for {
			var page []*sekisho.User
			view(t, db, func(tx *store.Tx) error {
				var err error
				page, err = tx.Users(store.UserFilter{WorkspaceID: w.ID, MFA: &yes, After: after, Limit: 2})
				return err
			})
			if len(page) == 0 {
				break
			}
			for _, u := range page {
				if !u.HasMFA {
					t.Errorf("MFA filter returned %s without MFA", u.Email)
				}
			}
			got = append(got, ids(page)...)
			after = page[len(page)-1].ID
		}
		if len(got) != 8 || !slices.IsSorted(got) {
			t.Errorf("MFA pages gave %v, want 8 ids in order", got)
		}
	})
}

func ids(us []*sekisho.User) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.ID)
	}
	return out
}

func emails(us []*sekisho.User) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.Email)
	}
	return out
}

func sortedByID(us []*sekisho.User) []*sekisho.User {
	us = slices.Clone(us)
	slices.SortFunc(us, func(a, b *sekisho.User) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return us
}

func TestUserEmails(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorkspace(t, db, "acme")
		other := newWorkspace(t, db, "other")
		a := newUser(t, db, w, "a@example.test")
		b := newUser(t, db, w, "b@example.test")
		x := newUser(t, db, other, "x@example.test")
		view(t, db, func(tx *store.Tx) error {
			got, err := tx.UserEmails(w.ID, []string{a.ID, b.ID, x.ID, "no-such-id"})
			if err != nil {
				return err
			}
			// Another workspace's user and unknown ids are simply missing.
			equal(t, "emails", len(got), 2)
			equal(t, "a", got[a.ID], "a@example.test")
			equal(t, "b", got[b.ID], "b@example.test")
			none, err := tx.UserEmails(w.ID, nil)
			equal(t, "none", len(none), 0)
			return err
		})
	})
}

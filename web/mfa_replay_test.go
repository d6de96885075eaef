package web_test

import (
	"context"
	"testing"

	"github.com/sekisho/sekisho/store"
	"github.com/sekisho/sekisho/store/storetest"
	"github.com/sekisho/sekisho/totp"
)

// TestMFAReplayAcrossInstances: two sekisho instances, each with its own
// connection pool, share one database (PostgreSQL, and a SQLite file);
// 20 parallel sign-ins, each in its own flow, all send the same code, split
// over both instances: exactly one is accepted.
func TestMFAReplayAcrossInstances(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, d)
			db2, err := store.Open(context.Background(), e.dbURL, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db2.Close() })
			e2 := newEnvOn(t, db2, e.dbURL, e)
			envs := []*env{e, e2}

			m := mfaNewMember(e, "acme", "alice")
			seed, _ := e.enroll(&m.token, "phone")
			flows := mfaFlows(t, m, envs, 20)
			code := e.code(seed)
			var bodies []map[string]string
			for _, f := range flows {
				bodies = append(bodies, map[string]string{"flow_token": f, "code": code})
			}
			counts := mfaParallel(t, envs, bodies)
			// A 429 needs nine losers counted first, so at least that many
			// replays reached the check.
			if counts[200] != 1 || counts[401] < 9 || counts[200]+counts[401]+counts[429] != 20 {
				t.Fatalf("one code in 20 parallel sign-ins on two instances: %v, want exactly one 200, the rest 401 or 429", counts)
			}
			// Once the losers' backoff has passed, both instances take the
			// next code, and neither the one after it again.
			e.clock.Add(20 * totp.Period)
			for _, x := range envs {
				other := *m
				other.e = x
				other.signInTOTP(seed)
			}
			for _, x := range envs {
				other := *m
				other.e = x
				other.second(other.passwordStep(), totp.Code(seed, totp.StepAt(e.clock.Now()))).must(t, 401)
			}
		})
	}
}

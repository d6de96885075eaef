#!/usr/bin/env bash
# Runs sekisho's whole test suite on a fresh Debian machine: installs what
# the tests need when it is missing (oathtool, Chromium), makes sure
# PostgreSQL is up, then runs go vet, staticcheck, govulncheck and every test
# with the race detector, then each fuzz target for 2 s (scripts/fuzz.sh). The
# PostgreSQL and browser tests fail, never skip, when their server or browser
# is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Go 1.26.11 fixes standard-library vulnerabilities that govulncheck finds in
# older 1.26 releases; the go command fetches it from the module proxy once.
# (Debian's Go sets GOTOOLCHAIN=local, so go.mod's toolchain line alone
# would not switch.)
export GOTOOLCHAIN=go1.26.11

need=()
command -v oathtool >/dev/null || need+=(oathtool)
command -v chromium >/dev/null || need+=(chromium)
command -v pg_ctlcluster >/dev/null || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

# PostgreSQL: the tests create and drop their own databases on it.
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432

# The tests connect to postgres://postgres@127.0.0.1:5432/test without a
# password. A fresh Debian install asks for one over TCP and has no database
# "test": fix both, saying so, unless the tests are pointed elsewhere.
pg_ok() { psql -w -h 127.0.0.1 -U postgres -d "$1" -Atqc 'select 1' </dev/null >/dev/null 2>&1; }
if [ -z "${SEKISHO_TEST_POSTGRES_URL:-}" ] && ! pg_ok test; then
  cluster="$(ls /etc/postgresql | head -n1)"
  hba="/etc/postgresql/$cluster/main/pg_hba.conf"
  if ! pg_ok postgres; then
    # The first matching line wins, so the trust line goes before the
    # install's "host all all 127.0.0.1/32 scram-sha-256".
    echo "PostgreSQL: no password-less access on 127.0.0.1; adding 'host all all 127.0.0.1/32 trust' at the top of $hba (a test machine only) and reloading"
    sed -i '1i host all all 127.0.0.1/32 trust  # added by sekisho scripts/test.sh' "$hba"
    pg_ctlcluster --skip-systemctl-redirect "$cluster" main reload
    for _ in $(seq 1 10); do pg_ok postgres && break; sleep 1; done
  fi
  # As the postgres system user, by the local socket (peer authentication),
  # from / so that it needs no access to this checkout.
  if [ "$(cd / && su postgres -c "psql -Atqc \"select count(*) from pg_database where datname = 'test'\"")" != 1 ]; then
    echo "PostgreSQL: creating the database test (su postgres -c 'createdb test')"
    (cd / && su postgres -c 'createdb test')
  fi
  if ! pg_ok test; then
    echo "PostgreSQL: still cannot connect as postgres@127.0.0.1/test without a password; see $hba" >&2
    exit 1
  fi
fi

go vet ./...
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# govulncheck against an offline copy of the Go vulnerability database, which
# tools/vulndb builds once per version from the module golang.org/x/vulndb (the
# module proxy is reachable here, vuln.go.dev is not). To update the database,
# see "Dependencies" in docs/security.md. A canary module that calls a known
# vulnerable function first proves that the copy still finds something.
vulndb_version=v0.0.0-20261105234957-e22db6528018
vulndb="${XDG_CACHE_HOME:-$HOME/.cache}/sekisho/vulndb/$vulndb_version"
[ -f "$vulndb/index/modules.json" ] || go run ./tools/vulndb -version "$vulndb_version" -out "$vulndb"
govulncheck=(go run golang.org/x/vuln/cmd/govulncheck@v1.9.0 -db "file://$vulndb")
if canary=$("${govulncheck[@]}" -C tools/vulndb/testdata/probe ./... 2>&1) || ! grep -q GO-2021-0113 <<<"$canary"; then
  printf '%s\ngovulncheck: the offline database no longer finds GO-2021-0113 in tools/vulndb/testdata/probe\n' "$canary" >&2
  exit 1
fi
"${govulncheck[@]}" ./...
go test -race -count=1 -timeout 20m ./... "$@"

# Fuzzing beyond the seeds, briefly (about a minute once the instrumented
# build is cached); a finding is written to testdata/fuzz/ and fails the run.
bash scripts/fuzz.sh 2s

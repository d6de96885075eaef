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

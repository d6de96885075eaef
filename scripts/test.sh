#!/usr/bin/env bash
# Runs sekisho's whole test suite on a fresh Debian machine: installs what
# the tests need when it is missing (oathtool, Chromium), makes sure
# PostgreSQL is up, then runs go vet, staticcheck and every test with the
# race detector. The PostgreSQL and browser tests fail, never skip, when
# their server or browser is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

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
go test -race -count=1 -timeout 20m ./... "$@"

#!/usr/bin/env bash
# Runs every fuzz target for a while: bash scripts/fuzz.sh [DURATION]
# DURATION is what -fuzztime takes, per target: 10s (the default), 2m, or a
# count of runs such as 50000x. CI (scripts/test.sh) runs it after the tests
# with 2s per target; plain `go test` only replays each target's seeds and
# its corpus in <package>/testdata/fuzz/<target>/. A failing input is
# written there and then replays in every `go test` until it is fixed.
# FuzzAPI runs on SQLite, FuzzPages on PostgreSQL (up, as for the tests).
# The black-box run over every route (web/blackbox_test.go) is a test, not
# a target: see docs/fuzzing-section.md.
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${1:-10s}"
targets=(
  "./web FuzzDecode"
  "./web FuzzAppendJSON"
  "./web FuzzAPI"
  "./web FuzzPages"
  "./web FuzzPageParsers"
  "./auth FuzzNormalizeEmail"
  "./auth FuzzCursor"
  "./secret FuzzNormalizeRecoveryCode"
  "./secret FuzzNormalizeAccessCode"
  "./secret FuzzWellFormedToken"
  "./secret FuzzKeyringOpen"
  "./totp FuzzVerify"
  "./totp FuzzURI"
)

# Every target in the tree is in the list: a new one is never left out.
while read -r file name; do
  if ! printf '%s\n' "${targets[@]}" | grep -qx "./$(dirname "$file") $name"; then
    echo "fuzz target $name (./$(dirname "$file")) is missing from scripts/fuzz.sh" >&2
    exit 1
  fi
done < <(grep -rHoE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+' . | sed -E 's#^\./(.*):func (Fuzz.*)#\1 \2#')

failed=()
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  echo "== $name ($pkg, $duration)"
  log="$(mktemp)"
  if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$duration" "$pkg" 2>&1 | tee "$log"; then
    rm -f "$log"
    continue
  fi
  # Go's fuzzing coordinator can fail a run whose -fuzztime ends while a
  # worker is busy, with a bare "context deadline exceeded" and no input
  # (https://go.dev/issue/75804). That is no finding: say so and go on.
  if grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
    echo "== $name: the run ended on Go's fuzz deadline race (go.dev/issue/75804), no failing input; not a finding"
  else
    failed+=("$name")
  fi
  rm -f "$log"
done

if ((${#failed[@]} > 0)); then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "all ${#targets[@]} fuzz targets passed"

#!/usr/bin/env bash
# Runs every fuzz target of every module given, for FUZZTIME each
# (make fuzz). usage: scripts/fuzz.sh FUZZTIME MODULE_DIR...
#
# Go 1.26's fuzz coordinator can fail a run at the -fuzztime boundary with a
# bare "context deadline exceeded" and no failing input (golang/go#75804,
# fixed in Go 1.27): a race in its shutdown, not a finding. Such a run is
# tried again, up to twice; a run that wrote a failing input to
# testdata/fuzz, or failed any other way, fails at once.
set -uo pipefail
fuzztime=$1
shift
go=${GO:-go}

run() { # module pkg target
  (cd "$1" && "$go" test -run '^$' -fuzz "^$3\$" -fuzztime "$fuzztime" -fuzzminimizetime 5s "$2")
}

for m in "$@"; do
  for pkg in $(cd "$m" && "$go" list ./...); do
    for f in $(cd "$m" && "$go" test -list '^Fuzz' "$pkg" | grep '^Fuzz'); do
      corpus="$(cd "$m" && "$go" list -f '{{.Dir}}' "$pkg")/testdata/fuzz/$f"
      for attempt in 1 2 3; do
        echo "== fuzz $f ($pkg, $fuzztime)"
        before=$(ls "$corpus" 2>/dev/null | sort)
        out=$(run "$m" "$pkg" "$f" 2>&1)
        status=$?
        echo "$out"
        ((status == 0)) && break
        after=$(ls "$corpus" 2>/dev/null | sort)
        if [[ $before != "$after" ]] || ! grep -q '^    context deadline exceeded$' <<<"$out" || ((attempt == 3)); then
          exit 1
        fi
        echo "== $f: the Go 1.26 fuzz coordinator's shutdown race (golang/go#75804), no failing input written; trying again"
      done
    done
  done
done

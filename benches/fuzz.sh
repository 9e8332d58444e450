#!/usr/bin/env bash
# The long fuzzing job: every property test in src/fuzz (one per parser of outside input) with
# N cases each instead of the 256 that `cargo test` runs in CI. Prints, per parser, the inputs
# tried and how many were accepted or refused with an error, then the total and the time.
# Parsers whose cases do file-system or crypto work (vpnctl.json, easy-rsa import, the state
# file, keys) run N/2 to N/4 of them; see the `cost` argument of `fuzz::fuzz`.
#
#   benches/fuzz.sh            # 20000 cases per parser (about 20 minutes on 2 cores)
#   benches/fuzz.sh 4000       # a shorter run (about 4 minutes)
#
# A panic fails the run and prints the smallest input proptest shrank it to: make it a
# regression test named after the bug beside the parser, then fix the parser. Exit codes: 0 no
# panic, 1 a property failed or the build failed, 2 bad argument.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

n="${1:-20000}"
if ! [[ "$n" =~ ^[1-9][0-9]{0,6}$ ]]; then
  echo "usage: $0 [N]   (cases per parser, 1 to 9999999; default 20000)" >&2
  exit 2
fi

# The same target-dir choice as .ci/run, so the warm build is reused.
if [[ -z "${CARGO_TARGET_DIR:-}" ]] && mkdir -p /var/tmp/vpnctl-target 2>/dev/null &&
  [[ -w /var/tmp/vpnctl-target ]]; then
  export CARGO_TARGET_DIR=/var/tmp/vpnctl-target
fi
echo "fuzz: building the unit tests (dev profile)" >&2
cargo test --quiet --lib --no-run

log="$(mktemp "${TMPDIR:-/tmp}/vpnctl-fuzz.XXXXXX")"
trap 'rm -f "$log"' EXIT
trap 'exit 130' INT TERM
echo "fuzz: $n cases per parser; output in $log while it runs" >&2
start=$SECONDS
status=0
# Backtraces would repeat for every shrinking step; the minimal input is what matters.
VPNCTL_FUZZ_CASES="$n" RUST_BACKTRACE=0 cargo test --lib fuzz:: -- --nocapture \
  >"$log" 2>&1 || status=$?

# One line per property (libtest may print its own text on the same line first).
grep -oE 'fuzz .* inputs tried.*' "$log" | sed 's/^fuzz //' | sort
grep -oE 'fuzz .* inputs tried' "$log" |
  awk '{ c++; t += $(NF - 2) } END { printf "total: %d inputs in %d properties\n", t, c }'
echo "time: $((SECONDS - start)) s"
if ((status != 0)); then
  echo "fuzz: a property failed; the smallest input it shrank to:" >&2
  grep -E -A20 '^minimal failing input' "$log" >&2 || tail -40 "$log" >&2
  exit 1
fi
echo "fuzz: no panic"

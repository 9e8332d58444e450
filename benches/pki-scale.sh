#!/usr/bin/env bash
# The PKI at team scale: with 10,000 certificates in the index (1,000 of them revoked), how
# long `vpnctl pki list` and `vpnctl pki revoke USER --local-only` take, fsyncs and the
# crash-safety work (lock, repair check, journal, index, CRL, settings) included.
# Targets (issue 10): list ≤ 250 ms, revoke ≤ 100 ms, median of RUNS runs, release build.
#
#   benches/pki-scale.sh [N [REVOKED [RUNS]]]     # defaults: 10000 1000 11
#
# VPNCTL_BIN=path/to/vpnctl skips the build (`cargo build --release` of the whole crate,
# AWS SDK included, takes about 20 minutes cold on 2 cores). The PKI is grown with
# benches/make-big-pki.py (one shared RSA key, each certificate signed by the CA) using the
# emulator's virtualenv, which has the `cryptography` package. Exit codes: 0 the benchmark
# ran (whatever PASS/MISS says), 1 a step failed, 2 a bad argument.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

n="${1:-10000}"
revoked="${2:-1000}"
runs="${3:-11}"
for v in "$n" "$revoked" "$runs"; do
  [[ "$v" =~ ^[0-9]+$ ]] || { echo "usage: $0 [N [REVOKED [RUNS]]]" >&2; exit 2; }
done
((revoked + runs <= n)) || { echo "bench: REVOKED + RUNS must not exceed N" >&2; exit 2; }

if [[ -z "${VPNCTL_BIN:-}" ]]; then
  if [[ -z "${CARGO_TARGET_DIR:-}" ]] && mkdir -p /var/tmp/vpnctl-target 2>/dev/null &&
    [[ -w /var/tmp/vpnctl-target ]]; then
    export CARGO_TARGET_DIR=/var/tmp/vpnctl-target
  fi
  echo "bench: cargo build --release (slow the first time)" >&2
  cargo build --release --quiet --bin vpnctl
  VPNCTL_BIN="${CARGO_TARGET_DIR:-target}/release/vpnctl"
fi
python="$(tests/emulator/run --setup)/bin/python"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
"$VPNCTL_BIN" pki init >/dev/null
echo "bench: growing the PKI to $n users, $revoked revoked" >&2
"$python" "$OLDPWD/benches/make-big-pki.py" pki "$n" "$revoked"
"$VPNCTL_BIN" pki crl >/dev/null
echo "bench: index.txt has $(wc -l <pki/index.txt) lines" >&2

ms() { echo $(( ($2 - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

list=()
for ((i = 0; i < runs; i++)); do
  t0=$(date +%s%N)
  "$VPNCTL_BIN" pki list >/dev/null 2>&1
  t1=$(date +%s%N)
  list+=("$(ms "$t0" "$t1")")
done
rev=()
for ((i = 0; i < runs; i++)); do
  user=$(printf 'user%05d' $((n - 1 - i)))
  t0=$(date +%s%N)
  "$VPNCTL_BIN" pki revoke "$user" --local-only >/dev/null 2>&1
  t1=$(date +%s%N)
  rev+=("$(ms "$t0" "$t1")")
done
"$VPNCTL_BIN" pki list --json >/dev/null

lm=$(printf '%s\n' "${list[@]}" | median)
rm_=$(printf '%s\n' "${rev[@]}" | median)
verdict() { (($1 <= $2)) && echo PASS || echo MISS; }
echo "pki list    runs(ms): ${list[*]}"
echo "pki revoke  runs(ms): ${rev[*]}"
echo "pki list    median ${lm} ms (target ≤ 250 ms): $(verdict "$lm" 250)"
echo "pki revoke  median ${rm_} ms (target ≤ 100 ms): $(verdict "$rm_" 100)"

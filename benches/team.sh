#!/usr/bin/env bash
# Benchmarks of issue 15 (a team's PKI), against the emulator:
#   (a) issuing through a CA key in KMS against a local CA key, per user (N users, one
#       `pki issue` process per user, as admins issue): target KMS <= 2x local;
#   (b) `pki sign` of M certificate requests with a local CA (one process): target <= 3 s.
#       The requests are made beforehand with openssl from one key (the user's keygen is
#       theirs, not the admin's).
#
#   benches/team.sh            # N=20, M=1000
#   benches/team.sh 5 100      # a quick smoke run
#
# Exit codes: 0 the benchmark ran (whatever PASS/MISS says), 1 a step failed, 2 bad argument.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$(pwd)"
n="${1:-20}"
m="${2:-1000}"
[[ "$n" =~ ^[1-9][0-9]{0,2}$ && "$m" =~ ^[1-9][0-9]{0,4}$ ]] ||
  { echo "usage: $0 [N users] [M requests]" >&2; exit 2; }
if [[ -z "${CARGO_TARGET_DIR:-}" ]] && mkdir -p /var/tmp/vpnctl-target 2>/dev/null &&
  [[ -w /var/tmp/vpnctl-target ]]; then
  export CARGO_TARGET_DIR=/var/tmp/vpnctl-target
fi
vpnctl="$(cargo build --quiet --bin vpnctl --message-format=json-render-diagnostics |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | grep '/vpnctl$')"
work="$(mktemp -d "${TMPDIR:-/tmp}/vpnctl-team-bench.XXXXXX")"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
EMULATOR_DELAY_SECONDS=0 "$repo/tests/emulator/run" --port "$port" >"$work/emulator.log" 2>&1 &
emu=$!
trap 'kill $emu 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do grep -q "emulator ready" "$work/emulator.log" && break; sleep 0.1; done
grep -q "emulator ready" "$work/emulator.log" || { cat "$work/emulator.log" >&2; exit 1; }
unset VPNCTL_PKI VPNCTL_NAME VPNCTL_STORE VPNCTL_CA_PASSPHRASE
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=testing \
  AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
now() { echo "$EPOCHREALTIME"; }

issue_each() { # DIR: N processes, one user each; prints seconds
  local t0 t1
  t0="$(now)"
  for ((i = 1; i <= n; i++)); do (cd "$1" && "$vpnctl" -q pki issue "u$i" >/dev/null); done
  t1="$(now)"
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
mkdir "$work/local" "$work/kms"
(cd "$work/local" && "$vpnctl" -q pki init >/dev/null)
(cd "$work/kms" && "$vpnctl" -q pki init --ca-key kms >/dev/null)
echo "bench: issuing $n users, local CA key" >&2
t_local="$(issue_each "$work/local")"
echo "bench: issuing $n users, CA key in KMS" >&2
t_kms="$(issue_each "$work/kms")"
signs="$(curl -s "$AWS_ENDPOINT_URL/_emulator/actions" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("kms:Sign",0))')"

echo "bench: making $m requests with openssl" >&2
mkdir "$work/req"
openssl genrsa -out "$work/req/user.key" 2048 2>/dev/null
for ((i = 1; i <= m; i++)); do
  openssl req -new -key "$work/req/user.key" -subj "/CN=r$i" -out "$work/req/r$i.csr" 2>/dev/null
done
echo "bench: signing $m requests" >&2
t0="$(now)"
(cd "$work/local" && "$vpnctl" -q pki sign "$work"/req/*.csr >/dev/null)
t1="$(now)"
t_sign="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
got="$(find "$work/req" -name '*.crt' | wc -l)"
[[ "$got" == "$m" ]] || { echo "bench: $got certificates, not $m" >&2; exit 1; }

awk -v n="$n" -v m="$m" -v l="$t_local" -v k="$t_kms" -v s="$t_sign" -v signs="$signs" '
BEGIN {
  printf "local CA: %6.3f s for %d issues (%.1f ms per user)\n", l, n, 1000 * l / n
  printf "KMS CA:   %6.3f s for %d issues (%.1f ms per user; %d kms:Sign calls)\n", k, n, 1000 * k / n, signs
  printf "KMS/local = %.2fx  (target <= 2x)   %s\n", k / l, (k / l <= 2 ? "PASS" : "MISS")
  printf "pki sign: %6.3f s for %d requests (target <= 3 s)   %s\n", s, m, (s <= 3 ? "PASS" : "MISS")
}'

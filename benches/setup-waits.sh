#!/usr/bin/env bash
# Benchmark: how close `vpnctl setup` comes to the longest chain of dependent waits.
#
# The emulator makes every AWS transition (association, authorization rule, route) take
# DELAY seconds, so waits dominate as associations do on AWS (5-10 minutes each). A setup with
# two subnets and --full-tunnel waits for 2 associations, 2 authorization rules and 2 routes:
#   (a) longest chain of dependent waits: association → full-tunnel route = 2 × DELAY
#   (b) sum of all waits (what a step-by-step script pays)     = 6 × DELAY
# Both are computed from vpnctl's own --dry-run plan (waiting steps and the phases they are in).
# Target: wall time ≤ 1.1 × (a).
#
#   benches/setup-waits.sh [DELAY_SECONDS]      (default 3)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
delay="${1:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
(cd "$repo" && cargo build --quiet)
vpnctl="$CARGO_TARGET_DIR/debug/vpnctl"
py="$("$repo/tests/emulator/run" --setup)/bin/python"

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
EMULATOR_DELAY_SECONDS="$delay" "$repo/tests/emulator/run" --port "$port" >"$work/emulator.log" 2>&1 &
emu=$!
trap 'kill $emu 2>/dev/null; wait $emu 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do grep -q "emulator ready" "$work/emulator.log" && break; sleep 0.1; done

export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export VPNCTL_POLL_INTERVAL=0.05
cd "$work"
"$py" "$repo/tests/emulator/lab_network.py" --endpoint "$AWS_ENDPOINT_URL" --extra >/dev/null
"$vpnctl" --quiet --name bench pki init >/dev/null
"$vpnctl" --quiet --name bench pki issue alice bob >/dev/null
args=(--name bench setup --vpc lab-vpc --subnet lab-public-subnet --subnet lab-public-b --client-cidr 10.83.0.0/16 --full-tunnel)

plan="$("$vpnctl" "${args[@]}" --dry-run)"
# Steps that wait for an AWS transition, and the phases they fall in.
waits="$(grep -cE '\] (associate subnet|authorize access|route )' <<<"$plan")"
phases="$(grep -E '\] (associate subnet|authorize access|route )' <<<"$plan" | sed -E 's/.*\[([A-Za-z]+)\].*/\1/' | sort -u | wc -l)"

start="$(date +%s.%N)"
"$vpnctl" --quiet "${args[@]}" >/dev/null
end="$(date +%s.%N)"
"$vpnctl" --quiet --name bench teardown >/dev/null

python3 - "$delay" "$waits" "$phases" "$start" "$end" <<'PY'
import sys
delay, waits, phases, start, end = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
wall = end - start
chain = phases * delay
total = waits * delay
print(f"emulator delay per transition: {delay:.2f} s; waiting steps: {waits} in {phases} dependent phases")
print(f"setup wall time:             {wall:6.2f} s")
print(f"(a) longest chain of waits:  {chain:6.2f} s   wall/chain = {wall/chain:.3f}  (target <= 1.1)  {'PASS' if wall <= 1.1*chain else 'MISS'}")
print(f"(b) sum of all waits:        {total:6.2f} s   a step-by-step script; vpnctl is {total/wall:.2f}x faster")
PY

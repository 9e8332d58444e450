#!/usr/bin/env bash
# Benchmark (issue 13): AWS API calls per command, as the emulator counts them
# (`GET /_emulator/calls`: calls served per action; `DELETE /_emulator/calls` resets).
#
# A deployed lab (pki init, pki issue alice, setup on the lab network, as tests/it does), then:
#   status, in an account with nothing else in it;
#   status again after CERTS unrelated ACM certificates (imported self-signed ones, untagged
#     or tagged for another deployment) and ENDPOINTS unrelated Client VPN endpoints
#     (tests/emulator/crowd.py);
#   setup re-run on the converged deployment, in both accounts;
#   teardown, for reference: it reads the tags of every certificate in the region on purpose
#     (it must find every certificate of the deployment, whatever its domain).
# Targets: status makes the same number of calls in both accounts, at most about a dozen
# (MAX, 13 by default); a converged setup makes no mutating call. Reads are the actions named
# Describe*, List*, Get* and Export*; every other action counts as mutating.
#
#   benches/api-calls.sh [CERTS [ENDPOINTS]]        (defaults: 200 4)
#
# VPNCTL_BIN=path/to/vpnctl skips the build (`cargo build`, debug: call counts do not depend on
# the profile). Exit codes: 0 the benchmark ran and met its targets, 1 a step failed or a
# target was missed, 2 a bad argument.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
certs="${1:-200}"
endpoints="${2:-4}"
max="${MAX:-13}"
for v in "$certs" "$endpoints" "$max"; do
  [[ "$v" =~ ^[0-9]+$ ]] || { echo "usage: $0 [CERTS [ENDPOINTS]]" >&2; exit 2; }
done

if [[ -z "${VPNCTL_BIN:-}" ]]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
  echo "bench: cargo build" >&2
  (cd "$repo" && cargo build --quiet --bin vpnctl)
  VPNCTL_BIN="$CARGO_TARGET_DIR/debug/vpnctl"
fi
VPNCTL_BIN="$(realpath "$VPNCTL_BIN")"
py="$("$repo/tests/emulator/run" --setup)/bin/python"

work="$(mktemp -d)"
port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
EMULATOR_DELAY_SECONDS=0 "$repo/tests/emulator/run" --port "$port" >"$work/emulator.log" 2>&1 &
emu=$!
trap 'kill $emu 2>/dev/null; wait $emu 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do grep -q "emulator ready" "$work/emulator.log" && break; sleep 0.1; done
grep -q "emulator ready" "$work/emulator.log" || { cat "$work/emulator.log" >&2; exit 1; }

export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export VPNCTL_POLL_INTERVAL=0.05
mkdir "$work/lab"
cd "$work/lab"

# calls GET|DELETE [FILE]: the emulator's call counts (saved to FILE), or reset them.
calls() {
  "$py" - "$AWS_ENDPOINT_URL/_emulator/calls" "$1" "${2:-/dev/null}" <<'PY'
import sys, urllib.request
url, method, out = sys.argv[1:]
with urllib.request.urlopen(urllib.request.Request(url, method=method)) as r:
    open(out, "wb").write(r.read())
PY
}
# measure LABEL ARGS...: the calls of one `vpnctl ARGS...` run, saved as LABEL.json.
measure() {
  local label="$1"
  shift
  calls DELETE
  "$VPNCTL_BIN" --quiet --name lab "$@" >"$work/$label.out" 2>&1 ||
    { echo "bench: vpnctl $* failed:" >&2; cat "$work/$label.out" >&2; exit 1; }
  calls GET "$work/$label.json"
}

echo "bench: deploying the lab" >&2
"$py" "$repo/tests/emulator/lab_network.py" --endpoint "$AWS_ENDPOINT_URL" --extra >/dev/null
"$VPNCTL_BIN" --quiet --name lab pki init >/dev/null
"$VPNCTL_BIN" --quiet --name lab pki issue alice >/dev/null
setup=(setup --vpc lab-vpc --subnet lab-public-subnet --client-cidr 10.83.0.0/16)
"$VPNCTL_BIN" --quiet --name lab "${setup[@]}" >/dev/null

measure status-empty status
measure setup-empty "${setup[@]}"
echo "bench: adding $certs unrelated certificates and $endpoints unrelated endpoints" >&2
"$py" "$repo/tests/emulator/crowd.py" --endpoint "$AWS_ENDPOINT_URL" --certs "$certs" --endpoints "$endpoints" >/dev/null
measure status-crowded status
measure setup-crowded "${setup[@]}"
measure teardown-crowded teardown --yes

"$py" - "$work" "$certs" "$endpoints" "$max" <<'PY'
import json, re, sys
work, certs, endpoints, top = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
runs = [("status-empty", "status, empty account"),
        ("status-crowded", f"status, +{certs} certs +{endpoints} endpoints"),
        ("setup-empty", "setup re-run, empty account"),
        ("setup-crowded", f"setup re-run, +{certs} certs +{endpoints} endpoints"),
        ("teardown-crowded", f"teardown (reference), +{certs} certs")]
counts = {k: json.load(open(f"{work}/{k}.json")) for k, _ in runs}
reads = re.compile(r"^(Describe|List|Get|Export)")
actions = sorted({a for c in counts.values() for a in c})
width = max(len(a) for a in actions)
cols = [k.replace("-crowded", "+").replace("-empty", "") for k, _ in runs]
print(f"{'action':<{width}}  " + "  ".join(f"{c:>9}" for c in cols))
for a in actions:
    tag = "" if reads.match(a) else "  (mutating)"
    print(f"{a:<{width}}  " + "  ".join(f"{counts[k].get(a, 0):>9}" for k, _ in runs) + tag)
total = {k: sum(c.values()) for k, c in counts.items()}
mutating = {k: {a: n for a, n in c.items() if not reads.match(a)} for k, c in counts.items()}
print(f"{'total':<{width}}  " + "  ".join(f"{total[k]:>9}" for k, _ in runs))
print()
for k, what in runs:
    print(f"{what:<45} {total[k]:>5} calls, mutating: {mutating[k] or 'none'}")
print()
ok = True
def verdict(cond, line):
    global ok
    ok &= cond
    print(f"{'PASS' if cond else 'MISS'}  {line}")
verdict(total["status-empty"] == total["status-crowded"],
        f"status: the same calls in both accounts ({total['status-empty']} and {total['status-crowded']})")
verdict(total["status-crowded"] <= top, f"status: at most {top} calls ({total['status-crowded']})")
for k in ("setup-empty", "setup-crowded"):
    verdict(not mutating[k], f"{k.replace('-', ' re-run, ')} account: no mutating call")
sys.exit(0 if ok else 1)
PY

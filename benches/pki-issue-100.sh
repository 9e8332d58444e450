#!/usr/bin/env bash
# Issuing N client profiles (key + certificate + .ovpn; N = 100 unless given) with vpnctl, and the
# same N with Debian's easy-rsa (build-client-full, then a shell loop that inlines ca/cert/key
# into a profile), in one run on one machine. Prints both times, their ratio, and the floor:
# one RSA-2048 key generation (timed by examples/keygen_floor.rs, vpnctl's own key generator)
# × N / cores. Targets: vpnctl ≥ 10× faster than easy-rsa, and within 1.2× of the floor.
#
#   benches/pki-issue-100.sh        # the benchmark (about a minute on 2 cores)
#   benches/pki-issue-100.sh 10     # a quick smoke run with 10 users
#
# Builds vpnctl and the example with the dev profile (which compiles aws-lc at opt-level 3; a
# release build of the AWS SDK takes ~20 min). Installs nothing. Exit codes: 0 the benchmark ran
# (whatever PASS/MISS says), 1 a step failed, 2 bad argument or easy-rsa/openssl missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

n="${1:-100}"
if ! [[ "$n" =~ ^[1-9][0-9]{0,3}$ ]]; then
  echo "usage: $0 [N]   (N users, 1 to 9999; default 100)" >&2
  exit 2
fi

easyrsa="$(command -v easyrsa || true)"
[[ -z "$easyrsa" && -x /usr/share/easy-rsa/easyrsa ]] && easyrsa=/usr/share/easy-rsa/easyrsa
if [[ -z "$easyrsa" ]] || ! command -v openssl >/dev/null; then
  echo "bench: easy-rsa (and openssl) are needed for the comparison; install them with:" >&2
  echo "  apt-get install easy-rsa openssl" >&2
  exit 2
fi

# The same target-dir choice as .ci/run, so the warm build is reused.
if [[ -z "${CARGO_TARGET_DIR:-}" ]] && mkdir -p /var/tmp/vpnctl-target 2>/dev/null &&
  [[ -w /var/tmp/vpnctl-target ]]; then
  export CARGO_TARGET_DIR=/var/tmp/vpnctl-target
fi
echo "bench: building vpnctl and examples/keygen_floor (dev profile)" >&2
exes="$(cargo build --quiet --bin vpnctl --example keygen_floor \
  --message-format=json-render-diagnostics |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p')"
vpnctl="$(grep '/vpnctl$' <<<"$exes")"
keygen="$(grep '/keygen_floor$' <<<"$exes")"
[[ -x "$vpnctl" && -x "$keygen" ]] || { echo "bench: build gave no binaries" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/vpnctl-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
# The user's own settings must not leak into either run.
unset VPNCTL_PKI VPNCTL_NAME VPNCTL_TEMPLATES VPNCTL_CA_PASSPHRASE EASYRSA EASYRSA_PKI EASYRSA_VARS_FILE
users=()
for ((i = 1; i <= n; i++)); do users+=("$(printf 'u%03d' "$i")"); done
cores="$(nproc)"
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
count() { find "$1" -maxdepth 1 -name '*.ovpn' -type f | wc -l; }

# (c) The floor first, while the machine is otherwise idle. Key generation times are heavy-tailed
# (a random prime search): the mean of 40 keys varies by about ±10% between runs, so take 100.
echo "bench: timing 100 RSA-2048 key generations (floor)" >&2
floor_line="$("$keygen" 100)"
mean="$(sed -n 's/.*keygen_mean_s=\([0-9.]*\).*/\1/p' <<<"$floor_line")"
[[ -n "$mean" ]] || { echo "bench: keygen_floor printed '$floor_line'" >&2; exit 1; }

# (a) vpnctl: init untimed; issue + profiles timed.
echo "bench: vpnctl, $n users" >&2
mkdir "$work/vpnctl"
(cd "$work/vpnctl" && "$vpnctl" --quiet pki init >/dev/null)
t0="$(now)"
(
  cd "$work/vpnctl"
  "$vpnctl" --quiet pki issue "${users[@]}" >/dev/null
  "$vpnctl" --quiet profile --all --remote vpn.example.com >/dev/null
)
t1="$(now)"
got="$(count "$work/vpnctl/profiles")"
[[ "$got" == "$n" ]] || { echo "bench: vpnctl wrote $got profiles, not $n" >&2; exit 1; }
t_vpnctl="$(elapsed "$t0" "$t1")"

# (b) easy-rsa: init-pki + build-ca untimed; build-client-full per user + profile loop timed.
echo "bench: easy-rsa, $n users" >&2
mkdir -p "$work/easyrsa/profiles"
export EASYRSA_BATCH=1 EASYRSA_PKI="$work/easyrsa/pki"
(
  cd "$work/easyrsa"
  "$easyrsa" init-pki
  EASYRSA_REQ_CN="bench CA" "$easyrsa" build-ca nopass
) </dev/null >/dev/null 2>&1 || { echo "bench: easy-rsa init-pki/build-ca failed" >&2; exit 1; }
pem() { sed -n '/-----BEGIN/,/-----END/p' "$1"; } # easy-rsa puts a text dump before the PEM
t0="$(now)"
(
  cd "$work/easyrsa"
  for u in "${users[@]}"; do
    "$easyrsa" build-client-full "$u" nopass </dev/null >/dev/null 2>&1 ||
      { echo "bench: easyrsa build-client-full $u failed" >&2; exit 1; }
  done
  umask 077
  for u in "${users[@]}"; do
    {
      printf 'client\ndev tun\nproto udp\nremote vpn.example.com 443\nresolv-retry infinite\n'
      printf 'nobind\nremote-cert-tls server\ncipher AES-256-GCM\nreneg-sec 0\nverb 3\n'
      printf '<ca>\n'; pem "$EASYRSA_PKI/ca.crt"; printf '</ca>\n'
      printf '<cert>\n'; pem "$EASYRSA_PKI/issued/$u.crt"; printf '</cert>\n'
      printf '<key>\n'; pem "$EASYRSA_PKI/private/$u.key"; printf '</key>\n'
    } >"profiles/$u.ovpn"
  done
)
t1="$(now)"
got="$(count "$work/easyrsa/profiles")"
[[ "$got" == "$n" ]] || { echo "bench: easy-rsa loop wrote $got profiles, not $n" >&2; exit 1; }
t_easyrsa="$(elapsed "$t0" "$t1")"

awk -v n="$n" -v c="$cores" -v v="$t_vpnctl" -v e="$t_easyrsa" -v m="$mean" -v fl="$floor_line" '
BEGIN {
  floor = m * n / c; speedup = e / v; over = v / floor
  printf "machine:  %d cores; %s\n", c, fl
  printf "vpnctl:   %6.2f s  (pki issue %d users + profile --all)\n", v, n
  printf "easy-rsa: %6.2f s  (build-client-full x %d + profile loop)\n", e, n
  printf "floor:    %6.2f s  (keygen mean %.4f s x %d / %d cores)\n", floor, m, n, c
  printf "easy-rsa/vpnctl = %.1fx  (target >= 10x)   %s\n", speedup, (speedup >= 10 ? "PASS" : "MISS")
  printf "vpnctl/floor    = %.2fx  (target <= 1.2x)  %s\n", over, (over <= 1.2 ? "PASS" : "MISS")
}'

//! Docs that hold (issue 11): every example output in README.md and docs/*.md that is marked
//! `<!-- example: ID -->` on the line before its fenced block is produced here by running
//! vpnctl (offline, or against the emulator) and compared with the block. Both sides are
//! normalized first (AWS ids, ARNs, serials, dates, times, durations, accrued money, public
//! addresses), so a doc may show realistic values. A mismatch names the file, the example and
//! a diff. `VPNCTL_BLESS=1` rewrites the blocks that differ from the real output instead,
//! `VPNCTL_BLESS=all` every block (review the diff of the docs before committing it).
//!
//! Besides: every marker has a producer and every producer a marker, and every `vpnctl …`
//! command the docs show (```sh blocks, inline code) parses, and every flag a table of
//! commands.md documents exists.

use crate::emulator::{Emulator, SETUP};
use crate::harness::Env;
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;

/// Which scenario produces an example.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// Local PKI commands, no AWS.
    Offline,
    /// The lab against the emulator: setup, users, status, NAT, sleep/wake, revoke, teardown.
    Lab,
}

/// The registry: every example id, who produces it, and what it shows.
const REGISTRY: &[(&str, Scenario, &str)] = &[
    // Offline.
    (
        "pki-init",
        Scenario::Offline,
        "`--name lab pki init --server-name …`",
    ),
    (
        "pki-issue",
        Scenario::Offline,
        "`pki issue` of three users before any setup",
    ),
    (
        "pki-revoke-offline",
        Scenario::Offline,
        "`pki revoke bob` without a deployment",
    ),
    (
        "pki-list",
        Scenario::Offline,
        "`pki list` after two users, one revoked",
    ),
    ("pki-show-server", Scenario::Offline, "`pki show server`"),
    (
        "renew-offline",
        Scenario::Offline,
        "`pki renew alice` without a deployment",
    ),
    (
        "profile-refuses",
        Scenario::Offline,
        "`profile -o` on a copy made before a renewal",
    ),
    (
        "index-txt",
        Scenario::Offline,
        "pki/index.txt after a user's renewal",
    ),
    (
        "remote-label",
        Scenario::Offline,
        "the remote line for an AWS endpoint name",
    ),
    (
        "remote-wildcard",
        Scenario::Offline,
        "`--remote` with a wildcard that is not AWS's",
    ),
    (
        "deployment-conflict",
        Scenario::Offline,
        "a PKI for lab beside a config for prod",
    ),
    // Against the emulator.
    (
        "setup-dry-run",
        Scenario::Lab,
        "`setup --dry-run` before the first setup",
    ),
    (
        "setup-progress",
        Scenario::Lab,
        "setup's network phase, as it waits",
    ),
    (
        "setup-summary",
        Scenario::Lab,
        "setup's summary and the hint of what bills",
    ),
    (
        "pki-issue-deployed",
        Scenario::Lab,
        "`pki issue alice` once a deployment exists",
    ),
    (
        "profile-remote-aws",
        Scenario::Lab,
        "the remote line of a profile written by setup",
    ),
    ("status", Scenario::Lab, "`status` with one connection"),
    (
        "connections",
        Scenario::Lab,
        "`connections` with one connection",
    ),
    (
        "list",
        Scenario::Lab,
        "`list` with the lab up and alice connected",
    ),
    ("nat-on-plan", Scenario::Lab, "`nat on --dry-run`"),
    (
        "nat-on",
        Scenario::Lab,
        "`nat on` with its progress and hint",
    ),
    ("nat-on-result", Scenario::Lab, "what `nat on` ends with"),
    (
        "status-full",
        Scenario::Lab,
        "`status` with a connection and the NAT on",
    ),
    ("status-nat", Scenario::Lab, "the NAT part of `status`"),
    (
        "nat-other-subnet",
        Scenario::Lab,
        "a second NAT for another subnet, refused",
    ),
    (
        "teardown-plan-nat",
        Scenario::Lab,
        "`teardown --dry-run` with the NAT on",
    ),
    ("nat-off", Scenario::Lab, "`nat off`"),
    (
        "nat-refused",
        Scenario::Lab,
        "`nat on` over a route vpnctl did not make",
    ),
    (
        "nat-off-plan-restore",
        Scenario::Lab,
        "`nat off --dry-run` after `nat on --force`",
    ),
    (
        "converge-back",
        Scenario::Lab,
        "setup's plan back from a full tunnel",
    ),
    ("sleep", Scenario::Lab, "`sleep` of a full-tunnel endpoint"),
    (
        "wake",
        Scenario::Lab,
        "`wake` after a revocation made while asleep",
    ),
    (
        "revoke-deployed",
        Scenario::Lab,
        "`pki revoke alice` with alice connected",
    ),
    (
        "renew-reimport",
        Scenario::Lab,
        "setup's step after `pki renew server`",
    ),
    (
        "status-other-region",
        Scenario::Lab,
        "`status --region` of another region",
    ),
    (
        "cidr-overlap",
        Scenario::Lab,
        "a client CIDR inside the VPC",
    ),
    ("cidr-too-big", Scenario::Lab, "a /8 client CIDR"),
    ("cidr-too-small", Scenario::Lab, "a /24 client CIDR"),
    (
        "two-subnets-one-az",
        Scenario::Lab,
        "two subnets in one Availability Zone",
    ),
    ("vpc-missing", Scenario::Lab, "a VPC that does not exist"),
    (
        "client-cidr-change",
        Scenario::Lab,
        "another client CIDR for an existing endpoint",
    ),
    ("teardown", Scenario::Lab, "`teardown`"),
];

// ---------------------------------------------------------------------------------------------
// Running vpnctl for an example.

/// One example's real text.
struct Produced {
    text: String,
    /// Lines printed by concurrent waits (`waiting for …`, `… done after …`) come in any
    /// order: compared as a set, after the other lines.
    concurrent: bool,
}

/// vpnctl's stdout and stderr interleaved as a terminal shows them, with the exit code.
fn shown(env: &Env, args: &[&str]) -> (i32, String) {
    let mut file = tempfile::tempfile().expect("tempfile");
    let status = env
        .command(args)
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("clone"))
        .stderr(file.try_clone().expect("clone"))
        .status()
        .expect("run vpnctl");
    file.rewind().expect("rewind");
    let mut text = String::new();
    file.read_to_string(&mut text).expect("read output");
    let dir = env.path().display().to_string();
    let text = text.replace(&format!("{dir}/"), "").replace(&dir, ".");
    (status.code().unwrap_or(-1), text)
}

/// `shown`, requiring the exit code `want`.
fn expect(env: &Env, args: &[&str], want: i32) -> String {
    let (code, text) = shown(env, args);
    assert_eq!(
        code, want,
        "vpnctl {args:?} exited {code}, not {want}:\n{text}"
    );
    text
}

/// The lines from the first one starting with `first` up to (not including) the first later
/// one starting with `end` (to the end without one).
fn between(text: &str, first: &str, end: Option<&str>) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let a = lines
        .iter()
        .position(|l| l.starts_with(first))
        .unwrap_or_else(|| panic!("no line starts with {first:?} in:\n{text}"));
    let b = match end {
        Some(end) => lines[a + 1..]
            .iter()
            .position(|l| l.starts_with(end))
            .map(|i| a + 1 + i)
            .unwrap_or_else(|| panic!("no line starts with {end:?} after {first:?} in:\n{text}")),
        None => lines.len(),
    };
    lines[a..b].join("\n")
}

/// The lines starting with `prefix`, each with its continuation lines (more indented).
fn lines_starting(text: &str, prefix: &str) -> String {
    let mut out = Vec::new();
    let mut taking = None;
    for l in text.lines() {
        let indent = l.len() - l.trim_start().len();
        if l.starts_with(prefix) {
            taking = Some(indent);
            out.push(l);
        } else if taking.is_some_and(|i| indent > i) {
            out.push(l);
        } else {
            taking = None;
        }
    }
    assert!(
        !out.is_empty(),
        "no line starts with {prefix:?} in:\n{text}"
    );
    out.join("\n")
}

struct Outputs(BTreeMap<&'static str, Produced>);

impl Outputs {
    fn new() -> Self {
        Outputs(BTreeMap::new())
    }
    fn add(&mut self, id: &'static str, text: impl Into<String>) {
        self.put(id, text.into(), false);
    }
    fn add_concurrent(&mut self, id: &'static str, text: impl Into<String>) {
        self.put(id, text.into(), true);
    }
    fn put(&mut self, id: &'static str, text: String, concurrent: bool) {
        let old = self.0.insert(id, Produced { text, concurrent });
        assert!(old.is_none(), "example {id} produced twice");
    }
}

// ---------------------------------------------------------------------------------------------
// The scenarios.

fn offline() -> Outputs {
    let mut out = Outputs::new();

    // commands.md's pki init and pki issue, as its examples run them.
    let env = Env::new();
    out.add(
        "pki-init",
        expect(
            &env,
            &[
                "--name",
                "lab",
                "pki",
                "init",
                "--server-name",
                "vpn.lab.example.com",
            ],
            0,
        ),
    );
    out.add(
        "pki-issue",
        expect(
            &env,
            &["pki", "issue", "alice", "bob", "carol@example.com"],
            0,
        ),
    );

    // The README's PKI walk-through, without a deployment.
    let env = Env::new();
    env.ok(&["pki", "init"]);
    env.ok(&["pki", "issue", "alice", "bob"]);
    env.ok(&["profile", "alice", "--remote", "vpn.example.com"]);
    out.add(
        "pki-revoke-offline",
        expect(&env, &["pki", "revoke", "bob"], 0),
    );
    out.add("pki-list", expect(&env, &["pki", "list"], 0));
    out.add(
        "pki-show-server",
        expect(&env, &["pki", "show", "server"], 0),
    );

    // pki.md: renewal, the profiles it leaves, the index, the random label.
    let env = Env::new();
    env.ok(&["pki", "init"]);
    env.ok(&["pki", "issue", "alice"]);
    let remote = ["--remote", "vpn.example.com"];
    env.ok(&[&["profile", "alice"][..], &remote].concat());
    env.ok(&[
        &["profile", "alice", "-o", "alice-laptop.ovpn"][..],
        &remote,
    ]
    .concat());
    out.add("renew-offline", expect(&env, &["pki", "renew", "alice"], 0));
    // profiles/alice.ovpn went with the renewal: a new one is written without --force ...
    env.ok(&[&["profile", "alice"][..], &remote].concat());
    // ... but the copy elsewhere holds the superseded key.
    out.add(
        "profile-refuses",
        expect(
            &env,
            &[
                &["profile", "alice", "-o", "alice-laptop.ovpn"][..],
                &remote,
            ]
            .concat(),
            3,
        ),
    );
    out.add("index-txt", env.read("pki/index.txt"));
    let aws_name = "*.cvpn-endpoint-0123456789abcdef0.prod.clientvpn.us-east-1.amazonaws.com";
    env.ok(&["profile", "alice", "--remote", aws_name, "-o", "aws.ovpn"]);
    out.add(
        "remote-label",
        lines_starting(&env.read("aws.ovpn"), "remote "),
    );
    out.add(
        "remote-wildcard",
        expect(&env, &["profile", "alice", "--remote", "*.example.com"], 2),
    );

    // commands.md: a PKI that records lab beside a config file whose only table is prod.
    let env = Env::new();
    env.ok(&["--name", "lab", "pki", "init"]);
    std::fs::write(
        env.path().join("vpnctl.toml"),
        "[prod]\nvpc = \"prod-vpc\"\n",
    )
    .expect("write vpnctl.toml");
    out.add("deployment-conflict", expect(&env, &["pki", "list"], 2));
    out
}

fn lab() -> Outputs {
    let mut out = Outputs::new();
    // One second per AWS transition: the times read as the guide says.
    let emu = Emulator::start(1.0);
    emu.lab();
    let env = emu.env();
    let lab =
        |args: &[&'static str]| -> Vec<&'static str> { [&["--name", "lab"][..], args].concat() };
    let setup = |extra: &[&'static str]| -> Vec<&'static str> {
        [&["--name", "lab"][..], SETUP, extra].concat()
    };

    env.ok(&lab(&["pki", "init"]));
    out.add("setup-dry-run", expect(&env, &setup(&["--dry-run"]), 0));
    let up = expect(&env, &setup(&[]), 0);
    out.add_concurrent(
        "setup-progress",
        between(&up, "→ associate subnet", Some("→ export")),
    );
    out.add("setup-summary", between(&up, "deployment lab is up", None));
    out.add(
        "pki-issue-deployed",
        expect(&env, &lab(&["pki", "issue", "alice"]), 0),
    );
    out.add(
        "profile-remote-aws",
        lines_starting(&env.read("profiles/alice.ovpn"), "remote "),
    );
    env.ok(&lab(&["pki", "issue", "bob"]));
    let inv = emu.inventory("lab");
    let endpoint = inv["endpoints"][0]["id"]
        .as_str()
        .expect("endpoint id")
        .to_string();
    emu.add_connection(&endpoint, "alice");
    out.add("status", expect(&env, &lab(&["status"]), 0));
    out.add("connections", expect(&env, &lab(&["connections"]), 0));
    out.add("list", expect(&env, &["list"], 0));

    // The troubleshooting errors: each refused before anything changes.
    let cidr = |c: &'static str| -> Vec<&'static str> {
        lab(&[
            "setup",
            "--vpc",
            "lab-vpc",
            "--subnet",
            "lab-public-subnet",
            "--client-cidr",
            c,
        ])
    };
    out.add("cidr-overlap", expect(&env, &cidr("10.0.0.0/16"), 2));
    out.add("cidr-too-big", expect(&env, &cidr("10.0.0.0/8"), 2));
    out.add("cidr-too-small", expect(&env, &cidr("10.83.0.0/24"), 2));
    out.add("client-cidr-change", expect(&env, &cidr("10.84.0.0/16"), 3));
    out.add(
        "two-subnets-one-az",
        expect(&env, &setup(&["--subnet", "lab-private-subnet"]), 2),
    );
    out.add(
        "vpc-missing",
        expect(
            &env,
            &lab(&[
                "setup",
                "--vpc",
                "nope-vpc",
                "--subnet",
                "lab-public-subnet",
                "--client-cidr",
                "10.83.0.0/16",
            ]),
            4,
        ),
    );

    // NAT on, the status with it, and off.
    let nat_on = lab(&["nat", "on", "--subnet", "lab-private-subnet", "--ttl", "1h"]);
    out.add(
        "nat-on-plan",
        expect(&env, &[&nat_on[..], &["--dry-run"]].concat(), 0),
    );
    let on = expect(&env, &nat_on, 0);
    out.add("nat-on-result", between(&on, "NAT on for", None));
    out.add_concurrent("nat-on", on);
    let status = expect(&env, &lab(&["status"]), 0);
    out.add("status-nat", between(&status, "  nat gateway", None));
    out.add("status-full", status);
    out.add(
        "nat-other-subnet",
        expect(&env, &lab(&["nat", "on", "--subnet", "lab-public-b"]), 3),
    );
    out.add(
        "teardown-plan-nat",
        expect(&env, &lab(&["teardown", "--dry-run"]), 0),
    );
    out.add_concurrent("nat-off", expect(&env, &lab(&["nat", "off"]), 0));

    // A 0.0.0.0/0 route vpnctl did not make: refused, then replaced and restored. From another
    // directory (a second machine), so that nothing of the lab's directory shows.
    let elsewhere = crate::emulator::aws_env(Env::new(), &emu.url);
    let foreign = |extra: &[&'static str]| -> Vec<&'static str> {
        [&["--name", "lab", "nat"][..], extra].concat()
    };
    out.add(
        "nat-refused",
        expect(
            &elsewhere,
            &foreign(&["on", "--subnet", "foreign-private"]),
            3,
        ),
    );
    elsewhere.ok(&foreign(&["on", "--subnet", "foreign-private", "--force"]));
    out.add(
        "nat-off-plan-restore",
        expect(&elsewhere, &foreign(&["off", "--dry-run"]), 0),
    );
    elsewhere.ok(&foreign(&["off"]));

    // Revoking a connected user (alice is still connected since the status above).
    out.add(
        "revoke-deployed",
        expect(&env, &lab(&["pki", "revoke", "alice"]), 0),
    );

    // Full tunnel, the plan back, then sleep, a revocation while asleep, and wake.
    env.ok(&setup(&["--full-tunnel"]));
    out.add("converge-back", expect(&env, &setup(&["--dry-run"]), 0));
    out.add_concurrent("sleep", expect(&env, &lab(&["sleep"]), 0));
    env.ok(&lab(&["pki", "revoke", "bob", "--local-only"]));
    out.add_concurrent("wake", expect(&env, &lab(&["wake"]), 0));

    // A renewed server certificate goes to the same ARN (and the split tunnel comes back).
    env.ok(&lab(&["pki", "renew", "server"]));
    let again = expect(&env, &setup(&[]), 0);
    out.add("renew-reimport", lines_starting(&again, "→ re-import"));

    out.add(
        "status-other-region",
        expect(&env, &lab(&["status", "--region", "eu-west-1"]), 0),
    );
    out.add_concurrent("teardown", expect(&env, &lab(&["teardown"]), 0));
    out
}

#[test]
fn offline_examples_hold() {
    check(Scenario::Offline, offline());
}

#[test]
fn lab_examples_hold() {
    check(Scenario::Lab, lab());
}

// ---------------------------------------------------------------------------------------------
// Normalizing.

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn run_of(b: &[u8], i: usize, f: impl Fn(u8) -> bool) -> usize {
    b[i..].iter().take_while(|c| f(**c)).count()
}

/// AWS id prefixes, longest first.
const ID_PREFIXES: &[&str] = &[
    "cvpn-connection-",
    "cvpn-endpoint-",
    "cvpn-assoc-",
    "rtbassoc-",
    "eipalloc-",
    "eipassoc-",
    "subnet-",
    "vpc-",
    "rtb-",
    "igw-",
    "nat-",
    "sg-",
];

/// What starts at `i` (a word boundary) that varies from run to run: (length, kind, numbered).
fn variable_at(b: &[u8], i: usize) -> Option<(usize, String, bool)> {
    let rest = &b[i..];
    let ends_word = |n: usize| b.get(i + n).is_none_or(|c| !c.is_ascii_alphanumeric());
    // An ARN runs to the next space, quote or closing bracket.
    if rest.starts_with(b"arn:aws:") {
        let n = rest
            .iter()
            .take_while(|c| !matches!(c, b' ' | b'\t' | b'`' | b'\'' | b'"' | b')' | b','))
            .count();
        return Some((n, "arn".into(), true));
    }
    // An ACM certificate by its short name (certificate/UUID).
    if rest.starts_with(b"certificate/") {
        let n = run_of(b, i + 12, |c| c.is_ascii_hexdigit() || c == b'-');
        if n >= 8 && ends_word(12 + n) {
            return Some((12 + n, "certificate".into(), true));
        }
    }
    for p in ID_PREFIXES {
        if rest.starts_with(p.as_bytes()) {
            let hex = run_of(b, i + p.len(), |c| {
                c.is_ascii_digit() || (b'a'..=b'f').contains(&c)
            });
            if hex >= 8 && ends_word(p.len() + hex) {
                return Some((p.len() + hex, p.trim_end_matches('-').into(), true));
            }
        }
    }
    // The random label of a profile's remote line.
    let lower_hex = run_of(b, i, |c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
    if lower_hex == 12 && rest[12..].starts_with(b".cvpn-endpoint-") {
        return Some((12, "label".into(), false));
    }
    // A certificate serial: 32 upper-case hex digits.
    let upper_hex = run_of(b, i, |c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c));
    if upper_hex == 32 && ends_word(32) {
        return Some((32, "serial".into(), true));
    }
    let digits = run_of(b, i, |c| c.is_ascii_digit());
    // index.txt's times: UTCTime or GeneralizedTime.
    if (digits == 12 || digits == 14) && rest.get(digits) == Some(&b'Z') && ends_word(digits + 1) {
        return Some((digits + 1, "asn1-time".into(), false));
    }
    // 2026-11-26
    if digits == 4
        && rest.len() >= 10
        && rest[4] == b'-'
        && rest[5..7].iter().all(u8::is_ascii_digit)
        && rest[7] == b'-'
        && rest[8..10].iter().all(u8::is_ascii_digit)
        && !rest.get(10).is_some_and(u8::is_ascii_digit)
    {
        return Some((10, "date".into(), false));
    }
    // 18:33:49
    if digits == 2
        && rest.len() >= 8
        && rest[2] == b':'
        && rest[3..5].iter().all(u8::is_ascii_digit)
        && rest[5] == b':'
        && rest[6..8].iter().all(u8::is_ascii_digit)
    {
        return Some((8, "time".into(), false));
    }
    if digits > 0 {
        // Durations: 1.0s, 12s, 3m00s, 0h58m.
        let mut n = digits;
        if rest.get(n) == Some(&b'.') {
            let frac = run_of(b, i + n + 1, |c| c.is_ascii_digit());
            if frac > 0 {
                n += 1 + frac;
            }
        }
        let unit = |n: usize, u: u8, then: Option<u8>| -> Option<usize> {
            if rest.get(n) != Some(&u) {
                return None;
            }
            match then {
                None => Some(n + 1),
                Some(t) => {
                    let d = run_of(b, i + n + 1, |c| c.is_ascii_digit());
                    (d > 0 && rest.get(n + 1 + d) == Some(&t)).then_some(n + 2 + d)
                }
            }
        };
        let len = unit(n, b'h', Some(b'm'))
            .or_else(|| unit(n, b'm', Some(b's')))
            .or_else(|| unit(n, b's', None));
        if let Some(len) = len
            && ends_word(len)
        {
            return Some((len, "duration".into(), false));
        }
        // A public IPv4 address (the emulator's are random); private ones and CIDRs stay.
        let mut octets = 0;
        let mut n = 0;
        loop {
            let d = run_of(b, i + n, |c| c.is_ascii_digit());
            if d == 0 || d > 3 {
                break;
            }
            n += d;
            octets += 1;
            if octets == 4 || rest.get(n) != Some(&b'.') {
                break;
            }
            n += 1;
        }
        if octets == 4
            && ends_word(n)
            && !matches!(rest.get(n), Some(b'/') | Some(b'.'))
            && !rest.starts_with(b"10.")
        {
            return Some((n, "public-ip".into(), true));
        }
    }
    None
}

#[derive(Default)]
struct Numbering {
    seen: HashMap<(String, String), usize>,
    count: HashMap<String, usize>,
}

/// One line with its variable parts as placeholders (numbered per kind in order of first
/// appearance when `num` is given), runs of spaces and tabs as one space, no trailing space.
fn normalize_line(line: &str, mut num: Option<&mut Numbering>) -> String {
    let b = line.as_bytes();
    let indent = run_of(b, 0, |c| c == b' ');
    let mut out = String::from(&line[..indent]);
    let mut i = indent;
    while i < b.len() {
        if b[i] == b' ' || b[i] == b'\t' {
            i += run_of(b, i, |c| c == b' ' || c == b'\t');
            if i < b.len() {
                out.push(' ');
            }
            continue;
        }
        // Money that grows with time: what has accrued.
        if b[i] == b'$' && (out.ends_with("accrued ") || out.ends_with("creation: ")) {
            let n = 1 + run_of(b, i + 1, |c| c.is_ascii_digit() || c == b'.');
            out.push_str("$<accrued>");
            i += n;
            continue;
        }
        if (i == 0 || !is_word(b[i - 1]))
            && let Some((n, kind, numbered)) = variable_at(b, i)
        {
            match (numbered, num.as_deref_mut()) {
                (true, Some(num)) => {
                    let raw = line[i..i + n].to_string();
                    let next = num.count.get(&kind).copied().unwrap_or(0) + 1;
                    let k = *num.seen.entry((kind.clone(), raw)).or_insert_with(|| next);
                    if k == next {
                        num.count.insert(kind.clone(), next);
                    }
                    out.push_str(&format!("<{kind}-{k}>"));
                }
                _ => out.push_str(&format!("<{kind}>")),
            }
            i += n;
            continue;
        }
        let c = line[i..].chars().next().expect("a char");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Whether a line comes from a concurrent wait.
fn concurrent_line(l: &str) -> bool {
    l.trim_start().starts_with("waiting for ") || l.contains(": done after ")
}

/// The text as normalized lines, blank lines at either end dropped. For `concurrent` output,
/// the wait lines (with their continuation lines) go last, sorted.
fn normalize(text: &str, concurrent: bool) -> Vec<String> {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let first = lines
        .iter()
        .position(|l| !l.is_empty())
        .unwrap_or(lines.len());
    let last = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(first, |i| i + 1);
    let lines = &lines[first..last];
    let mut ordered: Vec<Vec<&str>> = Vec::new();
    let mut floating: Vec<Vec<&str>> = Vec::new();
    let mut in_floating = None;
    for l in lines {
        let indent = l.len() - l.trim_start().len();
        if concurrent && concurrent_line(l) {
            floating.push(vec![l]);
            in_floating = Some(indent);
        } else if in_floating.is_some_and(|i| indent > i + 1) {
            floating.last_mut().expect("a unit").push(l);
        } else {
            in_floating = None;
            ordered.push(vec![l]);
        }
    }
    floating.sort_by_key(|unit| {
        unit.iter()
            .map(|l| normalize_line(l, None))
            .collect::<Vec<_>>()
    });
    let mut num = Numbering::default();
    ordered
        .into_iter()
        .chain(floating)
        .flatten()
        .map(|l| normalize_line(l, Some(&mut num)))
        .collect()
}

/// The real output as a doc shows it: the emulator's loopback "public" addresses as
/// documentation addresses (127.A.B.C as 203.0.113.C, with the next run of column spaces
/// adjusted so that columns stay aligned), no trailing spaces.
fn for_reader(text: &str) -> String {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut l = String::new();
        let mut rest = line;
        // Characters the line grew by, still to take out of the next column gap.
        let mut grown: isize = 0;
        let mut after = 0;
        while let Some(i) = rest.find("127.") {
            let boundary = (l.is_empty() && i == 0)
                || !rest[..i]
                    .bytes()
                    .last()
                    .or(l.bytes().last())
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'.');
            l.push_str(&rest[..i]);
            let addr: String = rest[i..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            if boundary && addr.split('.').count() == 4 {
                let new = format!("203.0.113.{}", addr.rsplit('.').next().unwrap_or("10"));
                grown += new.len() as isize - addr.len() as isize;
                l.push_str(&new);
                after = l.len();
            } else {
                l.push_str(&addr);
            }
            rest = &rest[i + addr.len()..];
        }
        l.push_str(rest);
        if grown != 0
            && let Some(gap) = l[after..].find("   ").map(|g| after + g)
        {
            let run = l[gap..].bytes().take_while(|c| *c == b' ').count() as isize;
            let want = (run - grown).max(2) as usize;
            l.replace_range(gap..gap + run as usize, &" ".repeat(want));
        }
        out.push(l.trim_end().to_string());
    }
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    out.join("\n")
}

/// A line diff (`-` the doc, `+` vpnctl), by longest common subsequence.
fn diff(doc: &[String], real: &[String]) -> String {
    let (n, m) = (doc.len(), real.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if doc[i] == real[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < n || j < m {
        if i < n && j < m && doc[i] == real[j] {
            out.push_str(&format!("  {}\n", doc[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("+ {}\n", real[j]));
            j += 1;
        } else {
            out.push_str(&format!("- {}\n", doc[i]));
            i += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The docs.

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and docs/*.md, as paths relative to the repository.
fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .map(|p| {
            p.strip_prefix(root())
                .expect("under the root")
                .to_path_buf()
        })
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// A fenced block marked as an example.
struct Block {
    id: String,
    /// 1-based line of the marker.
    marker_line: usize,
    /// The fence's indentation, stripped from the content.
    indent: String,
    /// Line indexes: the first content line and the closing fence.
    start: usize,
    end: usize,
    content: Vec<String>,
}

fn marker(line: &str) -> Option<&str> {
    line.trim()
        .strip_prefix("<!-- example:")?
        .strip_suffix("-->")
        .map(str::trim)
}

/// The marked blocks of a doc; a marker not followed by a fenced block is an error.
fn blocks(text: &str) -> Result<Vec<Block>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let Some(id) = marker(line) else { continue };
        let fence = lines.get(n + 1).copied().unwrap_or("");
        let indent = &fence[..fence.len() - fence.trim_start().len()];
        if !fence.trim_start().starts_with("```") {
            return Err(format!(
                "line {}: the marker of example '{id}' is not followed by a fenced block",
                n + 1
            ));
        }
        let start = n + 2;
        let Some(len) = lines[start..].iter().position(|l| l.trim() == "```") else {
            return Err(format!(
                "line {}: example '{id}' has no closing fence",
                n + 1
            ));
        };
        let end = start + len;
        let content = lines[start..end]
            .iter()
            .map(|l| l.strip_prefix(indent).unwrap_or(l.trim_start()).to_string())
            .collect();
        out.push(Block {
            id: id.to_string(),
            marker_line: n + 1,
            indent: indent.to_string(),
            start,
            end,
            content,
        });
    }
    Ok(out)
}

/// Docs are rewritten by one test at a time.
static DOCS: Mutex<()> = Mutex::new(());

/// A doc's text, read while no test rewrites it.
fn read_doc(file: &Path) -> String {
    let _guard = DOCS.lock().unwrap_or_else(|e| e.into_inner());
    std::fs::read_to_string(root().join(file))
        .unwrap_or_else(|e| panic!("read {}: {e}", file.display()))
}

/// `VPNCTL_BLESS=1`: rewrite the blocks that differ; `VPNCTL_BLESS=all`: rewrite every block
/// (for ids from one run throughout, or a layout the normalizer does not compare).
fn bless() -> Option<bool> {
    match std::env::var("VPNCTL_BLESS").as_deref() {
        Ok("1") => Some(false),
        Ok("all") => Some(true),
        _ => None,
    }
}

/// Compare (or, with VPNCTL_BLESS=1, rewrite) every block of the docs that `outputs` has an
/// example for; require that `outputs` has exactly the registry's examples of `scenario`.
fn check(scenario: Scenario, outputs: Outputs) {
    let want: Vec<&str> = REGISTRY
        .iter()
        .filter(|(_, s, _)| *s == scenario)
        .map(|(id, _, _)| *id)
        .collect();
    let got: Vec<&str> = outputs.0.keys().copied().collect();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(
        got, want_sorted,
        "the {scenario:?} scenario and the registry disagree"
    );

    let _guard = DOCS.lock().unwrap_or_else(|e| e.into_inner());
    let mut failures = Vec::new();
    let mut blessed = Vec::new();
    for file in doc_files() {
        let path = root().join(&file);
        let text = std::fs::read_to_string(&path).expect("read doc");
        let found = blocks(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let mut changed = false;
        for block in found.iter().rev() {
            let Some(real) = outputs.0.get(block.id.as_str()) else {
                continue;
            };
            let doc_side = normalize(&block.content.join("\n"), real.concurrent);
            let real_side = normalize(&real.text, real.concurrent);
            if doc_side == real_side && bless() != Some(true) {
                continue;
            }
            if bless().is_some() {
                let new: Vec<String> = for_reader(&real.text)
                    .lines()
                    .map(|l| {
                        if l.is_empty() {
                            String::new()
                        } else {
                            format!("{}{l}", block.indent)
                        }
                    })
                    .collect();
                lines.splice(block.start..block.end, new);
                changed = true;
                blessed.push(format!("{}: {}", file.display(), block.id));
            } else {
                failures.push(format!(
                    "{}:{}: example '{}' is not what vpnctl prints (- the doc, + vpnctl; \
                     compared with ids, dates and times normalized):\n{}",
                    file.display(),
                    block.marker_line,
                    block.id,
                    diff(&doc_side, &real_side)
                ));
            }
        }
        if changed {
            let mut new = lines.join("\n");
            if text.ends_with('\n') {
                new.push('\n');
            }
            std::fs::write(&path, new).expect("write doc");
        }
    }
    if !blessed.is_empty() {
        // Who blessed should see what was rewritten (cargo test --nocapture shows it).
        #[allow(clippy::print_stderr)]
        {
            eprintln!("VPNCTL_BLESS: rewrote {}", blessed.join(", "));
        }
    }
    assert!(
        failures.is_empty(),
        "{} example(s) drifted; fix the doc, or run with VPNCTL_BLESS=1 and review the diff:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_example_has_a_marker_and_every_marker_an_example() {
    let mut used: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in doc_files() {
        let text = read_doc(&file);
        for b in blocks(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display())) {
            used.entry(b.id)
                .or_default()
                .push(format!("{}:{}", file.display(), b.marker_line));
        }
    }
    let known: Vec<&str> = REGISTRY.iter().map(|(id, _, _)| *id).collect();
    let unknown: Vec<String> = used
        .iter()
        .filter(|(id, _)| !known.contains(&id.as_str()))
        .map(|(id, at)| format!("{id} ({})", at.join(", ")))
        .collect();
    assert!(
        unknown.is_empty(),
        "markers without a producer in tests/it/docs.rs: {}",
        unknown.join("; ")
    );
    let unused: Vec<&str> = known
        .iter()
        .filter(|id| !used.contains_key(**id))
        .copied()
        .collect();
    assert!(unused.is_empty(), "examples no doc shows: {unused:?}");
    let mut ids = known.clone();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), known.len(), "an id is registered twice");
}

#[test]
fn the_normalizer_tolerates_what_varies_and_nothing_else() {
    let a = "  subnet     subnet-0ef65b015a3fbafa4  associated  (cvpn-assoc-3736c9567b2d7875b)\n\
             certificate  arn:aws:acm:us-east-1:123456789012:certificate/3162408d-1\n\
             issued alice serial 633E0641D7AA0983280F59FF79E926F3 valid until 2029-02-28\n\
             done after 1.0s (0h58m left, 3m00s) 203.0.113.10 10.0.0.0/16 10.0.0.2\n\
             accrued since creation: $0.001   \n\
             delete certificate/3162408d-8099-4e7b-a9a7-4b13d4373f79 now\n\
             remote 7cd0247aa0e0.cvpn-endpoint-7029ad3d5a07d9252.prod 443";
    let b = "  subnet subnet-ff2cc6083d0b64adc associated (cvpn-assoc-15e18fcd95e48ccef)\n\
             certificate  arn:aws:acm:…:certificate/72281739-…\n\
             issued alice serial 53241F85B417CC1591931DF74480C343 valid until 2031-12-01\n\
             done after 12.3s (1h00m left, 2m59s) 127.245.18.172 10.0.0.0/16 10.0.0.2\n\
             accrued since creation: $1.250\n\
             delete certificate/c28d9941-4006-4f58-b8e3-0d9656247fef now\n\
             remote 000000aaaaaa.cvpn-endpoint-3cf20b3275988ec4f.prod 443";
    assert_eq!(normalize(a, false), normalize(b, false));
    // What the docs claim stays compared: text, CIDRs, private addresses, the structure of ids.
    for (x, y) in [
        ("authorize 10.0.0.0/16", "authorize 10.1.0.0/16"),
        ("DNS 10.0.0.2", "DNS 10.0.0.3"),
        ("[Network] revoke", "[Prune] revoke"),
        (
            "subnet-0ef65b015a3fbafa4 and subnet-0ef65b015a3fbafa4",
            "subnet-0ef65b015a3fbafa4 and subnet-ff2cc6083d0b64adc",
        ),
        ("  indented", "indented"),
        ("$0.100/h", "$0.150/h"),
    ] {
        assert_ne!(normalize(x, false), normalize(y, false), "{x} / {y}");
    }
    // Concurrent waits finish in any order.
    let one = "→ a\n  waiting for x: 1 (0.0s elapsed)\n  waiting for y: 2 (0.0s elapsed)\n  x: done after 1.0s\n  y: done after 1.1s";
    let two = "→ a\n  waiting for y: 2 (0.0s elapsed)\n  waiting for x: 1 (0.1s elapsed)\n  y: done after 1.0s\n  x: done after 1.0s";
    assert_eq!(normalize(one, true), normalize(two, true));
    assert_ne!(normalize(one, false), normalize(two, false));
    assert_eq!(
        for_reader("nat-1 (127.245.18.172) in use  \n"),
        "nat-1 (203.0.113.172) in use"
    );
    // Columns stay where they were.
    assert_eq!(
        for_reader("  Elastic IP 127.245.18.172 (in use)      $0.005/h\n  ip   127.0.0.1   x"),
        "  Elastic IP 203.0.113.172 (in use)       $0.005/h\n  ip   203.0.113.1  x"
    );
}

// ---------------------------------------------------------------------------------------------
// Commands and flags the docs show.

/// Shell words of the first command of a line (up to `|`, `;`, `&&`, `>` or a comment).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        _ => word.push(q),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            '#' if !in_word => break,
            '|' | ';' | '&' | '>' | '<' if !in_word || word.is_empty() => break,
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// Whether clap accepts `words` (a `vpnctl …` command); the error otherwise.
fn parses(words: &[String], partial: bool) -> Result<(), String> {
    use clap::Parser;
    use clap::error::ErrorKind;
    match vpnctl::cli::Cli::try_parse_from(words) {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                    | ErrorKind::MissingSubcommand
            ) =>
        {
            Ok(())
        }
        // Prose names a command without all of its arguments (`nat on`, `profile`).
        Err(e) if partial && e.kind() == ErrorKind::MissingRequiredArgument => Ok(()),
        Err(e) => Err(e.to_string().lines().next().unwrap_or("").to_string()),
    }
}

/// The inline code spans of a doc's prose (outside fenced blocks), joined across line breaks.
fn inline_spans(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut in_fence = false;
    let mut para: Vec<(usize, &str)> = Vec::new();
    let mut flush = |para: &mut Vec<(usize, &str)>| {
        if para.is_empty() {
            return;
        }
        let first = para[0].0;
        let joined = para.iter().map(|(_, l)| *l).collect::<Vec<_>>().join(" ");
        for (k, span) in joined.split('`').enumerate() {
            if k % 2 == 1 {
                out.push((first, span.to_string()));
            }
        }
        para.clear();
    };
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            flush(&mut para);
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        if line.trim().is_empty() || line.starts_with('|') || line.starts_with('#') {
            flush(&mut para);
            if line.starts_with('|') {
                para.push((n + 1, line));
                flush(&mut para);
            }
            continue;
        }
        para.push((n + 1, line));
    }
    flush(&mut para);
    out
}

#[test]
fn every_documented_command_parses() {
    let mut bad = Vec::new();
    for file in doc_files() {
        let text = read_doc(&file);
        // ```sh blocks: every line that runs vpnctl.
        let mut in_sh = false;
        for (n, line) in text.lines().enumerate() {
            let t = line.trim_start();
            if t.starts_with("```") {
                in_sh = !in_sh && t.trim_start_matches('`').trim() == "sh";
                continue;
            }
            if !in_sh {
                continue;
            }
            let words = shell_words(t);
            let Some(at) = words.iter().position(|w| !w.contains('=')) else {
                continue;
            };
            if words[at] != "vpnctl" {
                continue;
            }
            if let Err(e) = parses(&words[at..], false) {
                bad.push(format!("{}:{}: `{}`: {e}", file.display(), n + 1, t));
            }
        }
        // Inline commands in the prose, unless they hold placeholders (`…`, `<command>`) or
        // are not commands (the description `vpnctl NAME`).
        for (n, span) in inline_spans(&text) {
            let words = shell_words(&span);
            let placeholder = words
                .get(1)
                .is_some_and(|w| w.chars().all(|c| c.is_ascii_uppercase()));
            if words.first().is_none_or(|w| w != "vpnctl")
                || placeholder
                || span.contains('…')
                || span.contains('<')
            {
                continue;
            }
            if let Err(e) = parses(&words, true) {
                bad.push(format!("{}:{n}: `{span}`: {e}", file.display()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "commands in the docs that vpnctl refuses:\n{}",
        bad.join("\n")
    );
}

#[test]
fn every_flag_in_the_command_reference_exists() {
    use clap::CommandFactory;
    let mut root_cmd = vpnctl::cli::Cli::command();
    root_cmd.build();
    let has = |path: &[&str], flag: &str| -> bool {
        let mut cmd = &root_cmd;
        for p in path {
            match cmd.find_subcommand(p) {
                Some(c) => cmd = c,
                None => return false,
            }
        }
        let globals = root_cmd.get_arguments();
        let mut args = cmd.get_arguments().chain(globals);
        match flag.strip_prefix("--") {
            Some(long) => args.any(|a| a.get_long() == Some(long)),
            None => {
                let short = flag.trim_start_matches('-').chars().next();
                args.any(|a| a.get_short() == short)
            }
        }
    };
    let text = read_doc(Path::new("docs/commands.md"));
    let mut path: Option<Vec<&str>> = None;
    let mut bad = Vec::new();
    let mut checked = 0;
    let mut in_fence = false;
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        if let Some(h) = line.strip_prefix("## ") {
            // The section's command: its leading words that are subcommands.
            path = if h == "Global flags" {
                Some(Vec::new())
            } else if h.starts_with("The AWS commands") {
                Some(vec!["status"])
            } else {
                let mut p = Vec::new();
                let mut cmd = &root_cmd;
                for w in h.split_whitespace() {
                    match cmd.find_subcommand(w) {
                        Some(c) => {
                            p.push(w);
                            cmd = c;
                        }
                        None => break,
                    }
                }
                (!p.is_empty()).then_some(p)
            };
            continue;
        }
        let (Some(p), Some(row)) = (&path, line.strip_prefix('|')) else {
            continue;
        };
        let first_cell = row.split(" | ").next().unwrap_or("");
        for (k, span) in first_cell.split('`').enumerate() {
            if k % 2 == 0 || !span.starts_with('-') {
                continue;
            }
            let flag = span.split_whitespace().next().unwrap_or("");
            checked += 1;
            if !has(p, flag) {
                bad.push(format!(
                    "docs/commands.md:{}: `{flag}` is not a flag of `vpnctl {}`",
                    n + 1,
                    p.join(" ")
                ));
            }
        }
    }
    assert!(
        checked > 40,
        "only {checked} flags found in the tables: is the parser broken?"
    );
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

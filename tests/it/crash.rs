//! Crash points: `pki revoke`, `pki issue`, `pki renew` and `pki import-easyrsa` are killed
//! with SIGKILL before each of their file-system steps in turn, then the same command runs
//! again, then `pki crl`, and the PKI must keep these invariants:
//!
//! 1. every CA-signed certificate anywhere under the PKI directory, stray temporary files
//!    (`.alice.crt.tmp-*`) included, has its serial in `index.txt`;
//! 2. `index.txt`'s revoked serials are exactly `crl.pem`'s, and the CRL verifies against the CA;
//! 3. CRL numbers never go back, and one number always denotes one CRL: never two revoked sets,
//!    never two different CRLs;
//! 4. a serial once seen revoked in `index.txt` is revoked in every later index and CRL;
//! 5. the command run after the crash exits 0 or 3 (a documented refusal) and `pki crl` after it
//!    exits 0: never a panic (101), never "corrupt" (5), never a PKI that later commands refuse.
//!
//! 1 and 2 are checked after the command that follows the crash and after `pki crl`; 3 and 4
//! over every state seen: before, right after the kill, after each of the two commands.
//!
//! How a kill point is chosen. strace's `-e inject=SYSCALL:signal=SIGKILL:when=N` kills the
//! process at the entry of the N-th call of SYSCALL, before the call runs. strace counts per
//! syscall (one expression naming several syscalls still counts each one separately) and per
//! thread. So a reference run of the command under `strace -f -e trace=<MUTATING>` lists its
//! file-system steps in order; step g, the k-th call of its syscall S, is then killed with
//! `inject=S:signal=SIGKILL:when=k`. Every step is a kill point exactly once, in order. After
//! the reference steps, k goes on for each syscall until a run completes, so a run that makes
//! more steps than the reference is still covered. A file created by `openat(O_CREAT)` is
//! covered by the kill at the next step (the `fchmod`, `write` … of that file); writes to
//! stdout and stderr are kill points too (after or between the file-system work). Because
//! strace counts per thread, the harness refuses a command whose steps come from more than one
//! thread (its steps could no longer be addressed one by one).

use crate::harness::{BIN, Env, tool};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use x509_parser::prelude::*;

/// Every syscall that changes a file or a directory. `?` lets strace ignore a name the
/// architecture lacks (aarch64 has only the `*at` forms).
const MUTATING: &[&str] = &[
    "write",
    "pwrite64",
    "writev",
    "pwritev",
    "pwritev2",
    "ftruncate",
    "truncate",
    "fallocate",
    "fsync",
    "fdatasync",
    "sync_file_range",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "unlink",
    "unlinkat",
    "rmdir",
    "mkdir",
    "mkdirat",
    "chmod",
    "fchmod",
    "fchmodat",
    "chown",
    "fchown",
    "fchownat",
    "copy_file_range",
    "sendfile",
];

/// More runs than this for one command means it never completes.
const MAX_RUNS: usize = 400;
/// Any single vpnctl run taking longer than this is a hang.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// Exit codes the same command may give when run again after a crash: done, or a documented
/// refusal ("already revoked", "carol already has a valid certificate", "a PKI already exists").
const AGAIN_OK: &[i32] = &[0, 3];
/// Kill points of one command run at once.
const WORKERS: usize = 6;

#[test]
fn crash_during_revoke_is_recoverable() {
    let template = vpnctl_pki();
    Scenario {
        title: "pki revoke bob",
        command: args(&["pki", "revoke", "bob"]),
        follow_up: args(&["pki", "crl"]),
        pki: "pki",
        source: "pki",
        template,
    }
    .run();
}

#[test]
fn crash_during_issue_is_recoverable() {
    let template = vpnctl_pki();
    Scenario {
        title: "pki issue carol dan",
        command: args(&["pki", "issue", "carol", "dan"]),
        follow_up: args(&["pki", "crl"]),
        pki: "pki",
        source: "pki",
        template,
    }
    .run();
}

#[test]
fn crash_during_renew_is_recoverable() {
    let template = vpnctl_pki();
    Scenario {
        title: "pki renew alice",
        command: args(&["pki", "renew", "alice"]),
        follow_up: args(&["pki", "crl"]),
        pki: "pki",
        source: "pki",
        template,
    }
    .run();
}

#[test]
fn crash_during_import_easyrsa_is_recoverable() {
    let template = easyrsa_pki();
    Scenario {
        title: "pki import-easyrsa",
        command: args(&[
            "--pki",
            "adopted",
            "pki",
            "import-easyrsa",
            "er/pki",
            "--server-name",
            "vpn.lab.example",
        ]),
        follow_up: args(&["--pki", "adopted", "pki", "crl"]),
        pki: "adopted",
        source: "er/pki",
        template,
    }
    .run();
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// A vpnctl PKI with users alice, bob and carl, carl renewed once (so one serial is already
/// revoked, as superseded, and the CRL number is 2).
fn vpnctl_pki() -> Env {
    let env = Env::new();
    env.ok(&["pki", "init"]);
    env.ok(&["pki", "issue", "alice", "bob", "carl"]);
    env.ok(&["pki", "renew", "carl"]);
    env
}

/// An easy-rsa PKI in `er/pki` as AWS's guide makes it (server entity `server`, so the import
/// issues a new server certificate), with alice, and bob revoked and then issued again.
fn easyrsa_pki() -> Env {
    let env = Env::new();
    let dir = env.path().join("er");
    std::fs::create_dir(&dir).unwrap();
    let run = |a: &[&str], cn: Option<&str>| {
        let mut c = Command::new(tool("easyrsa"));
        c.args(a)
            .current_dir(&dir)
            .env("EASYRSA_BATCH", "1")
            .env("EASYRSA_PKI", dir.join("pki"))
            .stdin(Stdio::null());
        if let Some(cn) = cn {
            c.env("EASYRSA_REQ_CN", cn);
        }
        let out = c.output().expect("easyrsa");
        assert!(
            out.status.success(),
            "easyrsa {a:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["init-pki"], None);
    run(&["build-ca", "nopass"], Some("Lab CA"));
    run(&["build-server-full", "server", "nopass"], None);
    run(&["build-client-full", "alice", "nopass"], None);
    run(&["build-client-full", "bob", "nopass"], None);
    run(&["revoke", "bob"], None);
    run(&["build-client-full", "bob", "nopass"], None);
    run(&["gen-crl"], None);
    env
}

struct Scenario {
    title: &'static str,
    /// The command that is killed, and run again after the kill.
    command: Vec<String>,
    /// A mutating command run last: a crash must leave a PKI that later commands accept.
    follow_up: Vec<String>,
    /// The PKI directory, relative to the working directory.
    pki: &'static str,
    /// The directory that holds the state before the command (for the import, the source).
    source: &'static str,
    /// A working directory copied afresh for every run.
    template: Env,
}

/// One file-system step of the reference run.
struct Step {
    syscall: String,
    /// Which call of `syscall` this is (strace's `when=`).
    nth: usize,
    line: String,
}

enum Outcome {
    Killed,
    Completed,
}

/// What one kill point found: `None` when every invariant held.
type Found = (Outcome, Option<String>);

impl Scenario {
    fn run(self) {
        let started = Instant::now();
        let mut failures: Vec<(String, String)> = Vec::new();
        let ca_der = pem_certs(
            &std::fs::read(self.template.path().join(self.source).join("ca.crt")).unwrap(),
        )
        .into_iter()
        .next()
        .expect("the template's ca.crt");
        let before = observe(
            &self.template.path().join(self.source),
            "before the command",
        );

        // The reference run: the command's file-system steps, in order.
        let work = self.fresh();
        let log = work.path().join("strace.log");
        let out = self.strace(work.path(), &log, None);
        assert!(
            out.status.code() == Some(0),
            "{}: the uninterrupted command failed ({:?}):\n{}\n{}",
            self.title,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let (steps, threads) = parse_steps(&std::fs::read_to_string(&log).unwrap());
        assert!(
            threads.len() == 1,
            "{}: file-system steps come from {} threads ({threads:?}); strace counts `when=` per \
             thread, so this harness cannot kill at each step exactly once",
            self.title,
            threads.len()
        );
        assert!(
            !steps.is_empty(),
            "{}: no file-system step traced",
            self.title
        );
        let pki = work.path().join(self.pki);
        let done = observe(&pki, "after the uninterrupted command");
        let mut problems: Vec<String> = check_state(&pki, &done, &ca_der)
            .into_iter()
            .chain(check_history(&[before.clone(), done]))
            .map(|(inv, detail)| format!("broken: {inv}: {detail}"))
            .collect();
        if !problems.is_empty() {
            problems.push(format!("listing of {}/:\n{}", self.pki, listing(&pki)));
            failures.push((
                "the uninterrupted command".to_string(),
                format!(
                    "{}: the uninterrupted command (no kill)\n  {}",
                    self.title,
                    problems.join("\n  ")
                ),
            ));
        }

        // Every reference step, killed in turn (a few at a time: most of a kill point is
        // waiting for a process or for the clock).
        let total = steps.len();
        let found = in_parallel(&steps, |g, step| {
            let at = format!(
                "step {}/{total}, call {} of {} (strace when={})",
                g + 1,
                step.nth,
                step.syscall,
                step.nth
            );
            let (outcome, failure) =
                self.kill_point(&step.syscall, step.nth, &at, &ca_der, &before);
            match outcome {
                Outcome::Killed => (at, failure),
                Outcome::Completed => (
                    at.clone(),
                    Some(format!(
                        "{}: killed at {at}: {}\n  broken: harness: the run completed without \
                         reaching this step; the command's steps are not deterministic, so kill \
                         points are missed",
                        self.title, step.line
                    )),
                ),
            }
        });
        failures.extend(found.into_iter().filter_map(|(at, f)| f.map(|f| (at, f))));

        // Beyond the reference: each syscall's count goes on until a run completes.
        let mut runs = 1 + total;
        let mut order: Vec<&str> = Vec::new();
        for s in &steps {
            if !order.contains(&s.syscall.as_str()) {
                order.push(&s.syscall);
            }
        }
        for syscall in order {
            let mut nth = steps.iter().filter(|s| s.syscall == syscall).count() + 1;
            loop {
                runs += 1;
                assert!(
                    runs <= MAX_RUNS,
                    "{}: still killed after {MAX_RUNS} runs: the command never completes",
                    self.title
                );
                let at = format!(
                    "call {nth} of {syscall} (strace when={nth}), beyond the reference run's {total} steps"
                );
                let (outcome, failure) = self.kill_point(syscall, nth, &at, &ca_der, &before);
                if let Some(f) = failure {
                    failures.push((at, f));
                }
                match outcome {
                    Outcome::Completed => break,
                    Outcome::Killed => nth += 1,
                }
            }
        }

        summary(&format!(
            "{}: {total} kill points ({}), {runs} runs, {} failing, {:.1} s",
            self.title,
            steps_by_syscall(&steps),
            failures.len(),
            started.elapsed().as_secs_f64()
        ));
        if !failures.is_empty() {
            let heads: Vec<String> = failures.iter().map(|(at, f)| headline(at, f)).collect();
            panic!(
                "{}: invariants broken at {} of {total} kill points:\n{}\n\nin detail:\n\n{}",
                self.title,
                failures.len(),
                heads.join("\n"),
                failures
                    .iter()
                    .map(|(_, f)| f.as_str())
                    .collect::<Vec<_>>()
                    .join("\n\n")
            );
        }
    }

    fn fresh(&self) -> tempfile::TempDir {
        // On tmpfs when there is one: fsync is then free, and what is tested here is the order
        // of the steps (a SIGKILL loses no page cache), not durability.
        let shm = Path::new("/dev/shm");
        let work = if shm.is_dir() {
            tempfile::Builder::new().tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .or_else(|_| tempfile::tempdir())
        .expect("tempdir");
        copy_tree(self.template.path(), work.path());
        work
    }

    /// Kill the command at the `nth` call of `syscall` in a fresh copy, then run it again and
    /// then `pki crl`, checking the invariants along the way.
    fn kill_point(
        &self,
        syscall: &str,
        nth: usize,
        at: &str,
        ca_der: &[u8],
        before: &Obs,
    ) -> Found {
        let work = self.fresh();
        let w = work.path();
        let pki = w.join(self.pki);
        let log = w.join("strace.log");
        let out = self.strace(w, &log, Some((syscall, nth)));
        if out.status.signal() != Some(9) {
            if out.status.code() == Some(0) {
                return (Outcome::Completed, None);
            }
            let f = format!(
                "{}: killed at {at}\n  broken: harness: the command was not killed and failed ({:?}): {}",
                self.title,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return (Outcome::Completed, Some(f));
        }
        let call = killed_call(
            &std::fs::read_to_string(&log).unwrap_or_default(),
            syscall,
            w,
        )
        .unwrap_or_else(|| format!("{syscall}(…)"));
        let after_kill = listing(&pki);
        let mut history = vec![before.clone(), observe(&pki, "right after the kill")];
        let mut problems: Vec<String> = Vec::new();
        let mut codes: Vec<String> = Vec::new();
        for (what, cmd, allowed) in [
            ("again", &self.command, AGAIN_OK),
            ("then", &self.follow_up, &[0][..]),
        ] {
            let label = format!("`vpnctl {}` {what}", cmd.join(" "));
            settle(&pki);
            let r = run(w, cmd);
            codes.push(format!("{label} exited {}", r.code));
            if !allowed.contains(&r.code) {
                let kind = match r.code {
                    101 => " (a panic)",
                    5 => " (corrupt: the crash is not recoverable)",
                    _ => "",
                };
                problems.push(format!(
                    "broken: 5 (the commands after a crash succeed or refuse cleanly): {label} exited {}{kind}, allowed {allowed:?}: {}",
                    r.code,
                    r.stderr.trim().replace('\n', " | ")
                ));
            }
            let obs = observe(&pki, &format!("after {label}"));
            for (inv, detail) in check_state(&pki, &obs, ca_der) {
                problems.push(format!("broken: {inv}: after {label}: {detail}"));
            }
            history.push(obs);
        }
        for (inv, detail) in check_history(&history) {
            problems.push(format!("broken: {inv}: {detail}"));
        }
        if problems.is_empty() {
            return (Outcome::Killed, None);
        }
        problems.dedup();
        let f = format!(
            "{}: killed at {at}: {call}\n  {}\n  ({})\n  listing of {}/ right after the kill:\n{after_kill}\n  listing of {}/ at the end:\n{}",
            self.title,
            problems.join("\n  "),
            codes.join("; "),
            self.pki,
            self.pki,
            listing(&pki)
        );
        (Outcome::Killed, Some(f))
    }

    fn strace(
        &self,
        work: &Path,
        log: &Path,
        inject: Option<(&str, usize)>,
    ) -> std::process::Output {
        let trace: Vec<String> = MUTATING.iter().map(|s| format!("?{s}")).collect();
        let mut c = Command::new(tool("strace"));
        c.args(["-f", "-qq", "-y", "-s", "40", "-o"])
            .arg(log)
            .arg("-e")
            .arg(format!("trace={}", trace.join(",")));
        if let Some((syscall, nth)) = inject {
            c.arg("-e")
                .arg(format!("inject={syscall}:signal=SIGKILL:when={nth}"));
        }
        c.arg("--").arg(BIN).args(&self.command);
        output(c, work)
    }
}

/// One line per failing kill point: where, the call, and which invariants broke.
fn headline(at: &str, failure: &str) -> String {
    let mut broken: Vec<&str> = failure
        .lines()
        .filter_map(|l| l.trim().strip_prefix("broken: "))
        .map(|l| l.split([' ', ':']).next().unwrap_or_default())
        .collect();
    broken.sort();
    broken.dedup();
    let first = failure.lines().next().unwrap_or_default();
    let call = first.split_once(&format!("{at}: ")).map_or("", |(_, c)| c);
    format!("- {at}: {call} — broken: {}", broken.join(", "))
}

/// `f` over every item on a few threads; results in item order.
fn in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(usize, &T) -> R + Sync) -> Vec<R> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else {
                        return;
                    };
                    let r = f(i, item);
                    out.lock().unwrap().push((i, r));
                }
            });
        }
    });
    let mut out = out.into_inner().unwrap();
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

/// The syscalls of a trace, in order, and the threads that made them.
fn parse_steps(log: &str) -> (Vec<Step>, BTreeSet<String>) {
    let mut steps = Vec::new();
    let mut threads = BTreeSet::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for l in log.lines() {
        let Some((tid, name, call)) = split_line(l) else {
            continue;
        };
        threads.insert(tid.to_string());
        let n = counts.entry(name.to_string()).or_default();
        *n += 1;
        steps.push(Step {
            syscall: name.to_string(),
            nth: *n,
            line: call.to_string(),
        });
    }
    (steps, threads)
}

/// `12345 rename("a", "b") = 0` → ("12345", "rename", "rename(\"a\", \"b\") = 0").
fn split_line(l: &str) -> Option<(&str, &str, &str)> {
    let (tid, call) = l.split_once(' ')?;
    let call = call.trim_start();
    let name = &call[..call.find('(')?];
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some((tid, name, call))
}

/// The call the process was killed at (the last traced call of `syscall`), without the
/// working directory's path.
fn killed_call(log: &str, syscall: &str, work: &Path) -> Option<String> {
    let call = log
        .lines()
        .filter_map(split_line)
        .rfind(|(_, name, _)| *name == syscall)?
        .2;
    let call = call.trim_end().trim_end_matches("= ?").trim_end();
    let work = work.display().to_string();
    Some(
        call.replace(&format!("{work}/"), "")
            .replace(&format!("<{work}>"), "<.>"),
    )
}

fn steps_by_syscall(steps: &[Step]) -> String {
    let mut n: BTreeMap<&str, usize> = BTreeMap::new();
    for s in steps {
        *n.entry(&s.syscall).or_default() += 1;
    }
    n.iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[allow(clippy::print_stderr)]
fn summary(line: &str) {
    eprintln!("{line}");
}

// ----- Observing and checking a PKI -----

#[derive(Clone, Debug)]
struct Obs {
    when: String,
    index: Option<Index>,
    crl: Option<Result<Crl, String>>,
}

#[derive(Clone, Debug)]
struct Index {
    serials: BTreeSet<String>,
    revoked: BTreeSet<String>,
    malformed: Vec<String>,
}

#[derive(Clone, Debug)]
struct Crl {
    number: Option<String>,
    number_value: Option<x509_parser::num_bigint::BigUint>,
    revoked: BTreeSet<String>,
    this_update: String,
    der: Vec<u8>,
}

fn observe(pki: &Path, when: &str) -> Obs {
    let index = std::fs::read_to_string(pki.join("index.txt"))
        .ok()
        .map(|t| parse_index(&t));
    let crl = std::fs::read(pki.join("crl.pem"))
        .ok()
        .map(|b| parse_crl(&b));
    Obs {
        when: when.to_string(),
        index,
        crl,
    }
}

fn norm_serial(s: &str) -> String {
    let s = s.trim().trim_start_matches('0').to_ascii_uppercase();
    if s.is_empty() { "0".to_string() } else { s }
}

fn parse_index(text: &str) -> Index {
    let mut ix = Index {
        serials: BTreeSet::new(),
        revoked: BTreeSet::new(),
        malformed: Vec::new(),
    };
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = l.split('\t').collect();
        let ok = f.len() == 6
            && matches!(f[0], "V" | "R" | "E")
            && !f[3].is_empty()
            && f[3].chars().all(|c| c.is_ascii_hexdigit());
        if !ok {
            ix.malformed.push(l.to_string());
            continue;
        }
        let serial = norm_serial(f[3]);
        if f[0] == "R" {
            ix.revoked.insert(serial.clone());
        }
        ix.serials.insert(serial);
    }
    ix
}

fn parse_crl(bytes: &[u8]) -> Result<Crl, String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(bytes).map_err(|e| format!("not PEM: {e}"))?;
    let (_, crl) = parse_x509_crl(&pem.contents).map_err(|e| format!("not a CRL: {e}"))?;
    Ok(Crl {
        number: crl.crl_number().map(|n| format!("{n}")),
        number_value: crl.crl_number().cloned(),
        revoked: crl
            .iter_revoked_certificates()
            .map(|r| norm_serial(&format!("{:X}", r.serial())))
            .collect(),
        this_update: crl.last_update().to_string(),
        der: pem.contents.clone(),
    })
}

/// Every certificate in a file (all its PEM blocks), as DER.
fn pem_certs(bytes: &[u8]) -> Vec<Vec<u8>> {
    x509_parser::pem::Pem::iter_from_buffer(bytes)
        .map_while(Result::ok)
        .filter(|p| p.label == "CERTIFICATE")
        .map(|p| p.contents)
        .collect()
}

fn signed_by(der: &[u8], ca_der: &[u8]) -> Option<String> {
    let (_, ca) = parse_x509_certificate(ca_der).ok()?;
    let (_, cert) = parse_x509_certificate(der).ok()?;
    cert.verify_signature(Some(ca.public_key())).ok()?;
    Some(norm_serial(&format!("{:X}", cert.serial)))
}

fn crl_signed_by(der: &[u8], ca_der: &[u8]) -> bool {
    let Ok((_, ca)) = parse_x509_certificate(ca_der) else {
        return false;
    };
    let Ok((_, crl)) = parse_x509_crl(der) else {
        return false;
    };
    crl.verify_signature(ca.public_key()).is_ok()
}

/// Every regular file under `dir`, recursively, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(d) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => walk(&p, out),
                Ok(m) if m.is_file() => out.push(p),
                _ => {}
            }
        }
    }
    walk(dir, &mut out);
    out.sort();
    out
}

/// Invariants 1 and 2 on one state of the PKI.
fn check_state(pki: &Path, obs: &Obs, ca_der: &[u8]) -> Vec<(String, String)> {
    let mut bad = Vec::new();
    // 1. Every CA-signed certificate on disk is in the index.
    for f in files(pki) {
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        for der in pem_certs(&bytes) {
            if der == ca_der {
                continue;
            }
            let Some(serial) = signed_by(&der, ca_der) else {
                continue;
            };
            let known = obs
                .index
                .as_ref()
                .is_some_and(|ix| ix.serials.contains(&serial));
            if !known {
                bad.push((
                    "1 (every CA-signed certificate on disk is in index.txt)".to_string(),
                    format!(
                        "{} holds a certificate signed by the CA, serial {serial}, that {}",
                        f.strip_prefix(pki).unwrap_or(&f).display(),
                        if obs.index.is_some() {
                            "index.txt does not list"
                        } else {
                            "no index.txt lists (there is none)"
                        }
                    ),
                ));
            }
        }
    }
    // 2. Index and CRL agree, and the CRL is the CA's.
    let inv2 = "2 (index.txt and crl.pem agree; the CRL verifies against ca.crt)".to_string();
    match (&obs.index, &obs.crl) {
        (None, _) => bad.push((inv2.clone(), "index.txt is missing".to_string())),
        (_, None) => bad.push((inv2.clone(), "crl.pem is missing".to_string())),
        (_, Some(Err(e))) => bad.push((inv2.clone(), format!("crl.pem does not parse: {e}"))),
        (Some(ix), Some(Ok(crl))) => {
            if !ix.malformed.is_empty() {
                bad.push((
                    inv2.clone(),
                    format!("index.txt has malformed lines: {:?}", ix.malformed),
                ));
            }
            if !crl_signed_by(&crl.der, ca_der) {
                bad.push((
                    inv2.clone(),
                    "crl.pem does not verify against ca.crt".to_string(),
                ));
            }
            if ix.revoked != crl.revoked {
                bad.push((
                    inv2.clone(),
                    format!(
                        "revoked in index.txt but not in crl.pem: {:?}; in crl.pem but not revoked in index.txt: {:?}",
                        ix.revoked.difference(&crl.revoked).collect::<Vec<_>>(),
                        crl.revoked.difference(&ix.revoked).collect::<Vec<_>>()
                    ),
                ));
            }
        }
    }
    bad
}

/// Invariants 3 and 4 over the states seen, in order.
fn check_history(history: &[Obs]) -> Vec<(String, String)> {
    let mut bad = Vec::new();
    let inv3 = "3 (CRL numbers never go back or repeat)".to_string();
    let inv4 = "4 (a revoked serial stays revoked)".to_string();
    // 3. CRL numbers.
    let mut seen: Vec<(&Obs, &Crl)> = Vec::new();
    for (i, obs) in history.iter().enumerate() {
        let Some(Ok(crl)) = &obs.crl else {
            continue;
        };
        match &crl.number_value {
            None if i > 0 => bad.push((
                inv3.clone(),
                format!("{}: crl.pem has no CRL number", obs.when),
            )),
            None => {}
            Some(n) => {
                for (o, c) in &seen {
                    let Some(m) = &c.number_value else {
                        continue;
                    };
                    if n < m {
                        bad.push((
                            inv3.clone(),
                            format!(
                                "the CRL number went back from {m} ({}) to {n} ({})",
                                o.when, obs.when
                            ),
                        ));
                    } else if n == m && c.revoked != crl.revoked {
                        bad.push((
                            inv3.clone(),
                            format!(
                                "CRL number {n} with two revoked sets: {:?} ({}) and {:?} ({})",
                                c.revoked, o.when, crl.revoked, obs.when
                            ),
                        ));
                    } else if n == m && c.der != crl.der {
                        bad.push((
                            inv3.clone(),
                            format!(
                                "CRL number {n} issued twice, for two different CRLs with the same revoked set (thisUpdate {} ({}) and {} ({}))",
                                c.this_update, o.when, crl.this_update, obs.when
                            ),
                        ));
                    }
                }
            }
        }
        // The same crl.pem seen again (nothing rewrote it) is compared once.
        if !seen.iter().any(|(_, c)| c.der == crl.der) {
            seen.push((obs, crl));
        }
    }
    // 4. Revoked stays revoked: an index keeps every revocation an earlier or the same-time
    // index showed; a CRL carries every revocation an earlier index showed.
    let mut revoked_before: BTreeSet<String> = BTreeSet::new();
    for obs in history {
        if let Some(ix) = &obs.index {
            let lost: Vec<_> = revoked_before.difference(&ix.revoked).collect();
            if !lost.is_empty() {
                bad.push((
                    inv4.clone(),
                    format!("{}: index.txt no longer revokes {lost:?}", obs.when),
                ));
            }
        }
        if let Some(Ok(crl)) = &obs.crl {
            let lost: Vec<_> = revoked_before.difference(&crl.revoked).collect();
            if !lost.is_empty() {
                bad.push((
                    inv4.clone(),
                    format!(
                        "{}: crl.pem (number {}) does not revoke {lost:?}, revoked in an earlier index.txt",
                        obs.when,
                        crl.number.as_deref().unwrap_or("none")
                    ),
                ));
            }
        }
        if let Some(ix) = &obs.index {
            revoked_before.extend(ix.revoked.iter().cloned());
        }
    }
    bad
}

/// `ls -lR`-like: mode, size, path, and for certificates the serial and whether the index
/// lists it.
fn listing(pki: &Path) -> String {
    if !pki.exists() {
        return "    (does not exist)".to_string();
    }
    let index = std::fs::read_to_string(pki.join("index.txt"))
        .ok()
        .map(|t| parse_index(&t));
    let mut all: Vec<PathBuf> = Vec::new();
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(d) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.clone());
            if p.is_dir() {
                walk(&p, out);
            }
        }
    }
    walk(pki, &mut all);
    all.sort();
    let mut lines = Vec::new();
    for p in all {
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let rel = p.strip_prefix(pki).unwrap_or(&p).display().to_string();
        let mut note = String::new();
        if m.is_file() {
            for der in pem_certs(&std::fs::read(&p).unwrap_or_default()) {
                if let Ok((_, c)) = parse_x509_certificate(&der) {
                    let s = norm_serial(&format!("{:X}", c.serial));
                    let listed = match &index {
                        _ if c.is_ca() => "the CA",
                        Some(ix) if ix.revoked.contains(&s) => "revoked in index",
                        Some(ix) if ix.serials.contains(&s) => "in index",
                        Some(_) => "NOT IN INDEX",
                        None => "no index",
                    };
                    note = format!("  [cert {} serial {s}, {listed}]", c.subject());
                }
            }
        }
        lines.push(format!(
            "    {:o} {:>6} {rel}{}{note}",
            m.permissions().mode() & 0o7777,
            if m.is_dir() {
                "dir".to_string()
            } else {
                m.len().to_string()
            },
            if m.is_dir() { "/" } else { "" }
        ));
    }
    if let Ok(t) = std::fs::read_to_string(pki.join("index.txt")) {
        lines.push("    index.txt:".to_string());
        lines.extend(t.lines().map(|l| format!("      {l}")));
    }
    lines.join("\n")
}

// ----- Running things -----

struct Ran {
    code: i32,
    stderr: String,
}

fn clean_env(c: &mut Command) {
    for (k, _) in std::env::vars() {
        if k.starts_with("VPNCTL_") || k.starts_with("AWS_") {
            c.env_remove(k);
        }
    }
}

fn run(work: &Path, args: &[String]) -> Ran {
    let mut c = Command::new(BIN);
    c.args(args);
    let out = output(c, work);
    Ran {
        code: out
            .status
            .code()
            .unwrap_or(128 + out.status.signal().unwrap_or(0)),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Run to completion with a time limit (a hang is a failure, not a stuck test).
fn output(mut c: Command, work: &Path) -> std::process::Output {
    clean_env(&mut c);
    c.current_dir(work)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{c:?} in {} hung for {RUN_TIMEOUT:?}", work.display());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    std::process::Output {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    }
}

/// Wait until the wall clock has left the second in which crl.pem was written, so that a CRL
/// issued again with the same number would differ from it (its times have whole seconds) and
/// invariant 3 sees the repeat every time, not only when a second boundary falls in between.
fn settle(pki: &Path) {
    let Ok(m) = std::fs::metadata(pki.join("crl.pem")).and_then(|m| m.modified()) else {
        return;
    };
    let secs = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    let written = secs(m);
    while secs(SystemTime::now()) <= written {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Copy a directory tree with its modes.
fn copy_tree(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).expect("read template").flatten() {
        let p = e.path();
        let dest = to.join(e.file_name());
        let m = std::fs::symlink_metadata(&p).expect("stat");
        if m.is_dir() {
            std::fs::create_dir(&dest).expect("mkdir");
            copy_tree(&p, &dest);
            std::fs::set_permissions(&dest, m.permissions()).expect("chmod");
        } else if m.is_file() {
            std::fs::copy(&p, &dest).expect("copy");
        }
    }
}

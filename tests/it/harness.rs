//! A small harness: a temporary working directory, the vpnctl binary run in it with a clean
//! environment, and snapshots of a directory tree to prove "nothing changed".

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_vpnctl");

pub struct Env {
    pub dir: tempfile::TempDir,
    pub vars: Vec<(String, String)>,
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
            vars: Vec::new(),
        }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn pki(&self) -> PathBuf {
        self.path().join("pki")
    }
    pub fn env(mut self, k: &str, v: &str) -> Env {
        self.vars.push((k.to_string(), v.to_string()));
        self
    }
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args).current_dir(self.path());
        for (k, _) in std::env::vars() {
            if k.starts_with("VPNCTL_") || k.starts_with("AWS_") {
                c.env_remove(k);
            }
        }
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c
    }
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }
    /// `run` with more environment variables for this run only.
    pub fn run_with(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let mut c = self.command(args);
        c.envs(vars.iter().copied());
        let out: Output = c.output().expect("run vpnctl");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
    /// Run and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(
            r.code, 0,
            "vpnctl {args:?} failed:\nstdout: {}\nstderr: {}",
            r.stdout, r.stderr
        );
        r.stdout
    }
    /// Run and require failure with vpnctl's error format: one `error:` line and a `hint:`.
    pub fn fails(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_ne!(
            r.code, 0,
            "vpnctl {args:?} should have failed:\n{}{}",
            r.stdout, r.stderr
        );
        let errors: Vec<&str> = r
            .stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect();
        assert_eq!(
            errors.len(),
            1,
            "want exactly one error line for {args:?}, got:\n{}",
            r.stderr
        );
        assert!(
            r.stderr
                .lines()
                .any(|l| l.starts_with("hint: ") && l.len() > 12),
            "no hint for {args:?}:\n{}",
            r.stderr
        );
        r
    }
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }
}

/// Every file and directory under `root` with its bytes and mode.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, (Vec<u8>, u32)>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p).expect("stat");
            let rel = p.strip_prefix(root).expect("prefix").to_path_buf();
            let mode = meta.permissions().mode();
            if meta.is_dir() {
                out.insert(rel, (Vec::new(), mode));
                walk(root, &p, out);
            } else {
                out.insert(rel, (std::fs::read(&p).expect("read"), mode));
            }
        }
    }
    walk(root, root, &mut out);
    out
}

pub fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("stat").permissions().mode() & 0o777
}

/// A free loopback port (UDP and TCP both happen to be free when bound and released here).
pub fn free_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr").port()
}

/// A required external tool; tests fail (never skip) without it, since CI installs it.
pub fn tool(name: &str) -> PathBuf {
    for dir in [
        "/usr/sbin",
        "/usr/bin",
        "/usr/local/bin",
        "/usr/share/easy-rsa",
    ] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!(
        "{name} is not installed; .ci/run installs it (apt-get install openvpn openssl easy-rsa)"
    );
}

pub fn openssl(args: &[&str], cwd: &Path) -> (bool, String) {
    let out = Command::new(tool("openssl"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("openssl");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `openssl verify` of `cert` against the CA and the CRL in `pki` (paths relative to it).
pub fn crl_verify(pki: &Path, cert: &str) -> (bool, String) {
    openssl(
        &[
            "verify",
            "-crl_check",
            "-CRLfile",
            "crl.pem",
            "-CAfile",
            "ca.crt",
            cert,
        ],
        pki,
    )
}

/// Run vpnctl under a pseudo-terminal, typing `typed` (and Enter) each time the output shows
/// `prompt` once more; returns (exit code, everything the terminal showed). At a passphrase
/// prompt it types only once echo is off (the prompt is printed before).
pub fn on_a_terminal(env: &Env, args: &[&str], prompt: &str, typed: &str) -> (i32, String) {
    const SCRIPT: &str = r#"
import os, pty, sys, select, termios, time
prompt, typed = sys.argv[1].encode(), sys.argv[2]

def echo_off(fd):
    end = time.time() + 10
    while time.time() < end:
        if not termios.tcgetattr(fd)[3] & termios.ECHO:
            return
        time.sleep(0.02)
    sys.stderr.write("echo was never turned off\n")

pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[3], sys.argv[3:])
seen = b""
answered = 0
deadline = time.time() + 120
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.5)
    if fd in r:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if seen.count(prompt) > answered:
            answered = seen.count(prompt)
            if b"passphrase" in prompt:
                echo_off(fd)
            os.write(fd, typed.encode() + b"\n")
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let mut c = Command::new("python3");
    c.arg("-c")
        .arg(SCRIPT)
        .arg(prompt)
        .arg(typed)
        .arg(BIN)
        .args(args);
    c.current_dir(env.path());
    for (k, _) in std::env::vars() {
        if k.starts_with("VPNCTL_") || k.starts_with("AWS_") {
            c.env_remove(k);
        }
    }
    for (k, v) in &env.vars {
        c.env(k, v);
    }
    let out = c.output().expect("python3");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A vpnctl started in the background, held at a known point of its output.
pub struct Running {
    pub child: std::process::Child,
    /// Every stderr line so far, and the rest once the process ends.
    lines: std::sync::mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Env {
    /// Start vpnctl with `args` and return once a stderr line contains `marker` (panics after
    /// `limit` without it): a kill then lands at a known point, not after a guessed sleep.
    pub fn start_until(&self, args: &[&str], marker: &str, limit: std::time::Duration) -> Running {
        use std::io::BufRead;
        let mut child = self
            .command(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn vpnctl");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(|l| l.ok())
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut running = Running {
            child,
            lines: rx,
            seen: Vec::new(),
        };
        let end = std::time::Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(std::time::Instant::now());
            match running.lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = line.contains(marker);
                    running.seen.push(line);
                    if hit {
                        return running;
                    }
                }
                Err(_) => {
                    let _ = running.child.kill();
                    panic!(
                        "no stderr line with {marker:?} within {limit:?}:\n{}",
                        running.seen.join("\n")
                    );
                }
            }
        }
    }
}

impl Running {
    /// Send `signal` (e.g. "INT", "KILL") and wait: (exit code or 128+signal, all stderr).
    pub fn signal_and_wait(mut self, signal: &str) -> (i32, String) {
        use std::os::unix::process::ExitStatusExt;
        let ok = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{signal} failed");
        let status = self.child.wait().expect("wait");
        self.seen.extend(self.lines.iter());
        (
            status.code().unwrap_or(128 + status.signal().unwrap_or(0)),
            self.seen.join("\n"),
        )
    }
}

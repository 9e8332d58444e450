//! The emulator for the AWS tests: started on a free loopback port per test, handed to vpnctl
//! through `AWS_ENDPOINT_URL` with dummy credentials and few retries (so a broken emulator
//! fails fast), observed independently with boto3 (`tests/emulator/inventory.py`), stopped
//! on drop.

use crate::harness::Env;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The emulator's virtualenv, created once per test process (creating it concurrently from
/// several tests would race).
pub fn venv() -> &'static PathBuf {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let out = Command::new(root().join("tests/emulator/run"))
            .arg("--setup")
            .output()
            .expect("tests/emulator/run --setup");
        assert!(
            out.status.success(),
            "emulator setup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
}

pub struct Emulator {
    child: Child,
    pub url: String,
}

impl Emulator {
    pub fn start(delay_seconds: f64) -> Emulator {
        venv();
        // The emulator binds a port the kernel picks (`--port 0`) and says which: a port picked
        // free here and handed over could be taken in between (by another test's connection).
        static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log =
            std::env::temp_dir().join(format!("vpnctl-emulator-{}-{n}.log", std::process::id()));
        let mut child = Command::new(root().join("tests/emulator/run"))
            .args(["--port", "0"])
            .env("EMULATOR_DELAY_SECONDS", delay_seconds.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start the emulator");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(url) = line.strip_prefix("emulator ready on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        // Generous: several tests start emulators at once on two cores.
        let url = rx.recv_timeout(Duration::from_secs(90));
        let mut emu = Emulator {
            child,
            url: url.clone().unwrap_or_default(),
        };
        if url.is_ok() {
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(30) {
                if http(emu.port(), "GET", "/_emulator/health", "")
                    .is_some_and(|r| r.contains("ok"))
                {
                    return emu;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = emu.child.kill();
        panic!(
            "the emulator did not become healthy:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    /// vpnctl's environment for this emulator.
    pub fn env(&self) -> Env {
        aws_env(Env::new(), &self.url)
    }

    pub fn python(&self, script: &str, args: &[&str]) -> serde_json::Value {
        let out = Command::new(venv().join("bin/python"))
            .arg(root().join("tests/emulator").join(script))
            .args(["--endpoint", &self.url])
            .args(args)
            .output()
            .expect("python");
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    }

    /// Create the lab network (plus the extra fixtures); returns the ids.
    pub fn lab(&self) -> serde_json::Value {
        self.python("lab_network.py", &["--extra"])
    }

    /// vpnctl-tagged resources of `deployment`, as boto3 sees them.
    pub fn inventory(&self, deployment: &str) -> serde_json::Value {
        self.python("inventory.py", &["--deployment", deployment])
    }

    /// Every endpoint and certificate, tagged or not.
    pub fn everything(&self) -> serde_json::Value {
        self.python("inventory.py", &["--all"])
    }

    /// `POST /_emulator/config` with `json` (delays per kind, concurrency limit, consistency,
    /// quotas); panics when the emulator refuses it.
    pub fn config(&self, json: &str) {
        http(self.port(), "POST", "/_emulator/config", json).expect("emulator config");
    }

    /// The faults still pending (`GET /_emulator/faults`).
    pub fn faults(&self) -> serde_json::Value {
        let body = http(self.port(), "GET", "/_emulator/faults", "").expect("faults");
        serde_json::from_str(&body).expect("faults json")
    }

    /// The next `count` calls of `action` answer AWS's error `code` (`/_emulator/faults`).
    pub fn fault(&self, action: &str, code: &str, count: u32) {
        let body =
            format!("{{\"action\": \"{action}\", \"code\": \"{code}\", \"count\": {count}}}");
        http(self.port(), "POST", "/_emulator/faults", &body).expect("add fault");
    }

    /// Every pending fault cleared (`DELETE /_emulator/faults`).
    pub fn clear_faults(&self) {
        http(self.port(), "DELETE", "/_emulator/faults", "").expect("clear faults");
    }

    /// AWS calls served since the emulator started or the last `reset_calls`, per action
    /// (`GET /_emulator/calls`).
    pub fn calls(&self) -> BTreeMap<String, u64> {
        let body = http(self.port(), "GET", "/_emulator/calls", "").expect("get calls");
        serde_json::from_str(&body).expect("calls json")
    }

    /// The same calls by IAM action name, e.g. `ec2:DescribeVpcs` (`GET /_emulator/actions`).
    pub fn actions(&self) -> BTreeMap<String, u64> {
        let body = http(self.port(), "GET", "/_emulator/actions", "").expect("get actions");
        serde_json::from_str(&body).expect("actions json")
    }

    /// Count the calls from zero again (`DELETE /_emulator/calls`).
    pub fn reset_calls(&self) {
        http(self.port(), "DELETE", "/_emulator/calls", "").expect("reset calls");
    }

    /// `certs` ACM certificates and `endpoints` Client VPN endpoints that are no deployment's
    /// here, some tagged for deployment `other` (`tests/emulator/crowd.py`): their ARNs and ids.
    pub fn crowd(&self, certs: u32, endpoints: u32) -> serde_json::Value {
        let (c, e) = (certs.to_string(), endpoints.to_string());
        self.python("crowd.py", &["--certs", &c, "--endpoints", &e])
    }

    /// Run every schedule due at or before `until` (RFC 3339), as EventBridge Scheduler would
    /// have by then (`POST /_emulator/scheduler/run`): the invocations made.
    pub fn scheduler_run(&self, until: &str) -> serde_json::Value {
        let body = format!("{{\"until\": \"{until}\"}}");
        let out = http(self.port(), "POST", "/_emulator/scheduler/run", &body).expect("run");
        serde_json::from_str(&out).expect("invocations json")
    }

    pub fn add_connection(&self, endpoint: &str, user: &str) {
        let body = format!(
            "{{\"client_vpn_endpoint_id\": \"{endpoint}\", \"username\": \"{user}\", \"client_ip\": \"10.83.0.9\"}}"
        );
        http(self.port(), "POST", "/_emulator/connections", &body).expect("add connection");
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `vpnctl --name lab setup` on the lab network with the lab's client CIDR, plus `extra`.
pub fn lab_setup(extra: &[&'static str]) -> Vec<&'static str> {
    [&["--name", "lab"][..], SETUP, extra].concat()
}

/// `setup` on the lab network (lab-vpc, lab-public-subnet) with the lab's client CIDR.
pub const SETUP: &[&str] = &[
    "setup",
    "--vpc",
    "lab-vpc",
    "--subnet",
    "lab-public-subnet",
    "--client-cidr",
    "10.83.0.0/16",
];

pub fn aws_env(env: Env, url: &str) -> Env {
    env.env("AWS_ENDPOINT_URL", url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_MAX_ATTEMPTS", "2")
        .env("VPNCTL_POLL_INTERVAL", "0.05")
}

/// A minimal HTTP/1.0 request on loopback; returns the body on 2xx.
fn http(port: u16, method: &str, path: &str, body: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let ok = resp.lines().next().is_some_and(|l| l.contains(" 2"));
    ok.then(|| resp.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
}

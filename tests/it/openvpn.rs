//! A real OpenVPN proves the certificates and profiles work: a point-to-point TLS server on
//! loopback with vpnctl's server certificate and key, and a client started from the rendered
//! `.ovpn`. Both must reach "Initialization Sequence Completed"; with `crl-verify` on
//! vpnctl's CRL the server rejects a revoked user; a profile from another CA is rejected.

use crate::harness::{Env, free_port, tool};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DONE: &str = "Initialization Sequence Completed";

/// An openvpn process whose log goes to a file; killed on drop.
pub struct Ovpn {
    child: Child,
    pub log: PathBuf,
}

impl Ovpn {
    fn start(args: &[String], log: PathBuf) -> Ovpn {
        let mut full: Vec<String> = args.to_vec();
        full.extend([
            "--log".into(),
            log.display().to_string(),
            "--verb".into(),
            "3".into(),
        ]);
        let child = Command::new(tool("openvpn"))
            .args(&full)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start openvpn");
        Ovpn { child, log }
    }
    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    /// Wait until the log contains any of `needles`; returns the one found, or None on timeout.
    pub fn wait_for(&self, needles: &[&str], timeout: Duration) -> Option<String> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            let t = self.text();
            if let Some(n) = needles.iter().find(|n| t.contains(*n)) {
                return Some(n.to_string());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Ovpn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A p2p TLS server with the PKI's server certificate, CRL checking on.
pub fn server(pki: &Path, port: u16, log: PathBuf, crl: &Path) -> Ovpn {
    let p = |f: &str| pki.join(f).display().to_string();
    let crl = crl.display().to_string();
    let args: Vec<String> = [
        "--dev",
        "null",
        "--tls-server",
        "--dh",
        "none",
        "--proto",
        "udp",
        "--local",
        "127.0.0.1",
        "--lport",
        &port.to_string(),
        "--ca",
        &p("ca.crt"),
        "--cert",
        &p("issued/server.crt"),
        "--key",
        &p("private/server.key"),
        "--crl-verify",
        &crl,
        "--ifconfig-noexec",
        "--data-ciphers",
        "AES-256-GCM",
        "--ping-exit",
        "30",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Ovpn::start(&args, log)
}

/// A client from a rendered profile, with only what a test machine needs added: no tun
/// device (`--dev null` after the profile overrides its `dev tun`) and no route changes.
pub fn client(profile: &Path, log: PathBuf) -> Ovpn {
    let args: Vec<String> = [
        "--config",
        &profile.display().to_string(),
        "--dev",
        "null",
        "--ifconfig-noexec",
        "--route-noexec",
        "--connect-retry-max",
        "1",
        "--ping-exit",
        "30",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Ovpn::start(&args, log)
}

/// Connect `user` with a profile rendered by vpnctl against the server of `server_env`.
/// Returns (server reached DONE, client reached DONE, server log, client log).
pub fn handshake(server_env: &Env, client_env: &Env, user: &str) -> (bool, bool, String, String) {
    let port = free_port();
    let profile = client_env.path().join(format!("{user}-loopback.ovpn"));
    client_env.ok(&[
        "profile",
        user,
        "--remote",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "-o",
        profile.to_str().unwrap(),
        "--force",
    ]);
    handshake_with(server_env, &profile)
}

pub fn handshake_with(server_env: &Env, profile: &Path) -> (bool, bool, String, String) {
    handshake_with_crl(server_env, profile, &server_env.pki().join("crl.pem"))
}

/// The handshake with the server checking clients against `crl` (e.g. the CRL an endpoint holds).
pub fn handshake_with_crl(
    server_env: &Env,
    profile: &Path,
    crl: &Path,
) -> (bool, bool, String, String) {
    let port_line = std::fs::read_to_string(profile)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("remote "))
        .map(str::to_string)
        .unwrap();
    let port: u16 = port_line
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    let srv = server(
        &server_env.pki(),
        port,
        server_env.path().join(format!("server-{port}.log")),
        crl,
    );
    std::thread::sleep(Duration::from_millis(300));
    let cli = client(profile, profile.with_extension("log"));
    let client_ok = cli
        .wait_for(
            &[DONE, "TLS Error", "VERIFY ERROR", "AUTH_FAILED"],
            Duration::from_secs(20),
        )
        .as_deref()
        == Some(DONE);
    let server_ok = srv
        .wait_for(
            &[DONE],
            if client_ok {
                Duration::from_secs(10)
            } else {
                Duration::from_secs(3)
            },
        )
        .is_some();
    (server_ok, client_ok, srv.text(), cli.text())
}

/// A copy of a rendered profile with its `remote` pointed at a loopback port, as a user's
/// profile would reach a test server.
pub fn loopback_copy(env: &Env, profile_rel: &str, port: u16, name: &str) -> PathBuf {
    let text = env.read(profile_rel);
    let local: String = text
        .lines()
        .map(|l| {
            if l.starts_with("remote ") {
                format!("remote 127.0.0.1 {port}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let path = env.path().join(name);
    std::fs::write(&path, local).expect("write profile");
    path
}

#[test]
fn a_rendered_profile_connects_to_a_real_openvpn_server() {
    let env = Env::new();
    env.ok(&["pki", "init"]);
    env.ok(&["pki", "issue", "alice"]);
    let (server_ok, client_ok, s, c) = handshake(&env, &env, "alice");
    assert!(
        server_ok && client_ok,
        "handshake failed\n--- server\n{s}\n--- client\n{c}"
    );
    // The server saw alice's certificate, and the client checked the server's name.
    assert!(s.contains("CN=alice"), "{s}");
    assert!(c.contains("VERIFY X509NAME OK"), "{c}");
}

#[test]
fn a_revoked_user_is_rejected_by_crl_verify() {
    let env = Env::new();
    env.ok(&["pki", "init"]);
    env.ok(&["pki", "issue", "alice", "bob"]);
    // Render bob's profile while he is valid, then revoke him: the old profile must stop working.
    let port = free_port();
    let profile = env.path().join("bob-loopback.ovpn");
    env.ok(&[
        "profile",
        "bob",
        "--remote",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "-o",
        profile.to_str().unwrap(),
    ]);
    env.ok(&["pki", "revoke", "bob"]);
    let (server_ok, client_ok, s, c) = handshake_with(&env, &profile);
    assert!(
        !server_ok && !client_ok,
        "a revoked user connected\n--- server\n{s}\n--- client\n{c}"
    );
    assert!(
        s.contains("CRL CHECK FAILED") || s.contains("certificate revoked"),
        "server log does not show the CRL rejection:\n{s}"
    );
    // alice still connects with the same server and CRL.
    let (server_ok, client_ok, s, c) = handshake(&env, &env, "alice");
    assert!(
        server_ok && client_ok,
        "alice was locked out\n--- server\n{s}\n--- client\n{c}"
    );
}

#[test]
fn a_profile_from_another_ca_is_rejected() {
    let ours = Env::new();
    ours.ok(&["pki", "init"]);
    let theirs = Env::new();
    theirs.ok(&["pki", "init"]);
    theirs.ok(&["pki", "issue", "mallory"]);
    let (server_ok, client_ok, s, c) = handshake(&ours, &theirs, "mallory");
    assert!(
        !server_ok && !client_ok,
        "a foreign profile connected\n--- server\n{s}\n--- client\n{c}"
    );
    assert!(
        s.contains("VERIFY ERROR")
            || s.contains("certificate verify failed")
            || c.contains("VERIFY ERROR"),
        "no verification failure logged:\n{s}\n{c}"
    );
}

//! `vpnctl doctor` on a healthy deployment, then on each way it breaks: every failing check is
//! named with its fix, a warning alone never fails it, and it changes nothing.

use crate::emulator::{Emulator, lab_setup, venv};
use crate::harness::Env;

/// The line of check `name` (`ok    name: …`, `FAIL  name: …`) and its fix, if any, each
/// with the lines it was wrapped onto joined back.
fn line_of(out: &str, name: &str) -> (String, Option<String>) {
    let lines: Vec<&str> = out.lines().collect();
    let i = lines
        .iter()
        .position(|l| {
            l.get(6..)
                .is_some_and(|r| r.starts_with(&format!("{name}: ")) || r == format!("{name}:"))
        })
        .unwrap_or_else(|| panic!("no check {name}:\n{out}"));
    let mut rest = lines[i + 1..].iter().peekable();
    let mut line = lines[i].to_string();
    while let Some(l) = rest.next_if(|l| l.starts_with("      ") && !l.starts_with("      fix: ")) {
        line = format!("{line} {}", l.trim());
    }
    let fix = rest.next_if(|l| l.starts_with("      fix: ")).map(|l| {
        let mut fix = l.trim_start().trim_start_matches("fix: ").to_string();
        while let Some(more) = rest.next_if(|l| l.starts_with("           ")) {
            fix = format!("{fix} {}", more.trim());
        }
        fix
    });
    (line, fix)
}

fn verdict(out: &str, name: &str) -> String {
    line_of(out, name).0[..4].trim().to_string()
}

/// `python` with the emulator's venv (boto3, cryptography) on `script`, in `dir`.
fn py(dir: &std::path::Path, script: &str, args: &[&str]) {
    let out = std::process::Command::new(venv().join("bin/python"))
        .arg("-c")
        .arg(script)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_healthy_deployment_passes_and_each_breakage_is_named_with_its_fix() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    env.ok(&["--name", "lab", "pki", "issue", "alice"]);
    env.ok(&lab_setup(&[]));
    let before = emu.everything();

    // Healthy: connection logging off is a warning, and warnings do not fail.
    let out = env.ok(&["--name", "lab", "doctor"]);
    for name in [
        "pki",
        "ca",
        "server certificate",
        "client certificates",
        "crl",
        "region",
        "credentials",
        "clock",
        "quota",
        "deployment",
        "permissions",
        "client root",
        "acm certificate",
        "endpoint crl",
        "profiles",
    ] {
        assert_eq!(verdict(&out, name), "ok", "{name}:\n{out}");
    }
    let (logging, fix) = line_of(&out, "connection logging");
    assert!(logging.starts_with("warn"), "{out}");
    assert!(fix.is_some_and(|f| f.contains("--log-group")), "{out}");
    assert!(
        line_of(&out, "credentials")
            .0
            .contains("account 123456789012"),
        "{out}"
    );
    assert!(line_of(&out, "quota").0.contains("1 of 5"), "{out}");
    assert!(
        line_of(&out, "profiles").0.contains("1 profile(s)"),
        "{out}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["--name", "lab", "doctor", "--json"])).unwrap();
    assert_eq!(json["ok"], true, "{json}");
    assert_eq!(json["checks"].as_array().unwrap().len(), 16, "{json}");
    assert_eq!(emu.everything(), before, "doctor changed something");

    // A clock off AWS's: a minute and a half warns, ten minutes fails.
    emu.config(r#"{"clock_offset_seconds": -90}"#);
    let out = env.ok(&["--name", "lab", "doctor"]);
    let (line, fix) = line_of(&out, "clock");
    assert!(
        line.starts_with("warn") && line.contains("ahead of AWS's"),
        "{out}"
    );
    assert!(fix.is_some_and(|f| f.contains("timedatectl")), "{out}");
    emu.config(r#"{"clock_offset_seconds": 600}"#);
    let r = env.fails(&["--name", "lab", "doctor"]);
    let (line, _) = line_of(&r.stdout, "clock");
    assert!(
        line.starts_with("FAIL") && line.contains("behind AWS's"),
        "{}",
        r.stdout
    );
    emu.config(r#"{"clock_offset_seconds": 0}"#);

    // Credentials that lack a permission: the DryRun says which.
    emu.fault("AuthorizeClientVpnIngress", "UnauthorizedOperation", 1);
    let r = env.fails(&["--name", "lab", "doctor"]);
    assert_eq!(r.code, 8, "{}", r.stderr);
    let (line, fix) = line_of(&r.stdout, "permissions");
    assert!(
        line.starts_with("FAIL") && line.contains("ec2:AuthorizeClientVpnIngress"),
        "{line}"
    );
    assert!(
        fix.is_some_and(|f| f.contains("iam-policy")),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("1 check(s) failed"), "{}", r.stderr);

    // The server certificate renewed here but not given to AWS yet: setup fixes it.
    env.ok(&["--name", "lab", "pki", "renew", "server"]);
    let r = env.fails(&["--name", "lab", "doctor"]);
    let (line, fix) = line_of(&r.stdout, "acm certificate");
    assert!(
        line.starts_with("FAIL") && line.contains("older server certificate"),
        "{}",
        r.stdout
    );
    assert!(
        fix.is_some_and(|f| f.contains("vpnctl --name lab setup")),
        "{}",
        r.stdout
    );
    env.ok(&lab_setup(&[]));
    assert_eq!(
        verdict(&env.ok(&["--name", "lab", "doctor"]), "acm certificate"),
        "ok"
    );

    // ACM holds a certificate of another CA under the deployment's tags.
    let arn = emu.inventory("lab")["endpoints"][0]["server_certificate_arn"]
        .as_str()
        .unwrap()
        .to_string();
    py(env.path(), REIMPORT, &[&emu.url, &arn]);
    let r = env.fails(&["--name", "lab", "doctor"]);
    let (line, fix) = line_of(&r.stdout, "acm certificate");
    assert!(
        line.starts_with("FAIL") && line.contains("another CA"),
        "{}",
        r.stdout
    );
    assert!(
        fix.is_some_and(|f| f.contains("another --name")),
        "{}",
        r.stdout
    );
    // Put this PKI's back (as AWS's console would), for the cases below.
    py(env.path(), PUT_BACK, &[&emu.url, &arn, "pki"]);
    assert_eq!(
        verdict(&env.ok(&["--name", "lab", "doctor"]), "acm certificate"),
        "ok"
    );

    // A profile for another endpoint fails; one for a host of the user's own warns.
    let profile = env.path().join("profiles/alice.ovpn");
    let text = std::fs::read_to_string(&profile).unwrap();
    let with_remote = |remote: &str| {
        text.lines()
            .map(|l| if l.starts_with("remote ") { remote } else { l })
            .collect::<Vec<_>>()
            .join("\n")
    };
    std::fs::write(&profile, with_remote("remote vpn.example.com 443")).unwrap();
    let out = env.ok(&["--name", "lab", "doctor"]);
    let (line, _) = line_of(&out, "profiles");
    assert!(line.starts_with("warn") && line.contains("CNAME"), "{out}");
    let other = "remote 0123456789ab.cvpn-endpoint-0123456789abcdef0.prod.clientvpn.\
                 us-east-1.amazonaws.com 443";
    std::fs::write(&profile, with_remote(other)).unwrap();
    let r = env.fails(&["--name", "lab", "doctor"]);
    let (line, fix) = line_of(&r.stdout, "profiles");
    assert!(
        line.starts_with("FAIL") && line.contains("alice"),
        "{}",
        r.stdout
    );
    assert!(
        fix.is_some_and(|f| f.contains("profile --all")),
        "{}",
        r.stdout
    );
    env.ok(&["--name", "lab", "profile", "--all", "--force"]);

    // An expired CRL (signed by the CA, next-update in the past): every user locked out.
    py(env.path(), EXPIRED_CRL, &["pki"]);
    let r = env.fails(&["--name", "lab", "doctor"]);
    let (line, fix) = line_of(&r.stdout, "crl");
    assert!(
        line.starts_with("FAIL") && line.contains("next-update passed"),
        "{}",
        r.stdout
    );
    let fix = fix.unwrap_or_default();
    assert!(
        fix.contains("pki crl") && fix.contains("pki merge-crl"),
        "{fix}"
    );

    // No credentials at all.
    let r = env.run_with(
        &["--name", "lab", "doctor"],
        &[("AWS_ACCESS_KEY_ID", ""), ("AWS_SECRET_ACCESS_KEY", "")],
    );
    assert_eq!(r.code, 8, "{}{}", r.stdout, r.stderr);
    let (line, fix) = line_of(&r.stdout, "credentials");
    assert!(line.starts_with("FAIL"), "{}", r.stdout);
    assert!(
        fix.is_some_and(|f| f.contains("aws configure")),
        "{}",
        r.stdout
    );
    assert_eq!(verdict(&r.stdout, "deployment"), "skip", "{}", r.stdout);
}

#[test]
fn a_region_at_its_endpoint_quota_fails_a_deployment_not_yet_set_up() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env: Env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    let out = env.ok(&["--name", "lab", "doctor"]);
    assert_eq!(verdict(&out, "quota"), "ok", "{out}");
    assert_eq!(verdict(&out, "deployment"), "warn", "{out}");
    // Not set up: the DryRun asks about creating the endpoint.
    assert!(
        line_of(&out, "permissions")
            .0
            .contains("CreateClientVpnEndpoint"),
        "{out}"
    );
    emu.crowd(1, 5);
    let r = env.fails(&["--name", "lab", "doctor"]);
    assert_eq!(r.code, 8, "{}", r.stderr);
    let (line, fix) = line_of(&r.stdout, "quota");
    assert!(
        line.starts_with("FAIL") && line.contains("5 of 5"),
        "{}",
        r.stdout
    );
    assert!(
        fix.is_some_and(|f| f.contains("Service Quotas")),
        "{}",
        r.stdout
    );
    // A check not counted: its verdict is skip, and the rest decides the exit.
    let out = env.ok(&["--name", "lab", "doctor", "--skip", "quota"]);
    let (line, fix) = line_of(&out, "quota");
    assert!(
        line.starts_with("skip") && line.contains("skipped (--skip)"),
        "{out}"
    );
    assert!(fix.is_none(), "{out}");
    let r = env.fails(&["--name", "lab", "doctor", "--skip", "quotas"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no such check"), "{}", r.stderr);
}

/// Re-import a self-signed certificate into ARN argv[2] at the emulator argv[1].
const REIMPORT: &str = r#"
import sys, datetime, boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other.example.com")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(7)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("other.example.com")]), False)
        .sign(key, hashes.SHA256()))
acm = boto3.client("acm", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
acm.import_certificate(CertificateArn=sys.argv[2],
    Certificate=cert.public_bytes(serialization.Encoding.PEM),
    PrivateKey=key.private_bytes(serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
"#;

/// Re-import PKI argv[3]'s server certificate into ARN argv[2] at the emulator argv[1].
const PUT_BACK: &str = r#"
import sys, os, json, boto3
pki = sys.argv[3]
acm = boto3.client("acm", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
read = lambda p: open(os.path.join(pki, p), "rb").read()
acm.import_certificate(CertificateArn=sys.argv[2], Certificate=read("issued/server.crt"),
                       PrivateKey=read("private/server.key"), CertificateChain=read("ca.crt"))
"#;

/// Replace argv[1]/crl.pem with a CRL of the same number, signed by the CA, whose next-update
/// passed yesterday.
const EXPIRED_CRL: &str = r#"
import sys, os, datetime
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
pki = sys.argv[1]
ca = x509.load_pem_x509_certificate(open(os.path.join(pki, "ca.crt"), "rb").read())
key = serialization.load_pem_private_key(
    open(os.path.join(pki, "private/ca.key"), "rb").read(), None)
old = x509.load_pem_x509_crl(open(os.path.join(pki, "crl.pem"), "rb").read())
number = old.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
now = datetime.datetime.now(datetime.timezone.utc)
crl = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
       .last_update(now - datetime.timedelta(days=30))
       .next_update(now - datetime.timedelta(days=1))
       .add_extension(x509.CRLNumber(number), False)
       .sign(key, hashes.SHA256()))
open(os.path.join(pki, "crl.pem"), "wb").write(crl.public_bytes(serialization.Encoding.PEM))
"#;

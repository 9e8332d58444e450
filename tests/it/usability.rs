//! The command line as a new user meets it: help without arguments, hints that run the same
//! thing on the same deployment when pasted back.

use crate::emulator::{Emulator, lab_setup};
use crate::harness::Env;

#[test]
fn a_bare_command_prints_its_help_and_succeeds() {
    let env = Env::new();
    for args in [&[][..], &["pki"][..], &["nat"][..]] {
        let r = env.run(args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert!(r.stdout.contains("Usage:"), "{args:?}: {}", r.stdout);
        assert!(!r.stderr.contains("error:"), "{args:?}: {}", r.stderr);
    }
    assert!(env.run(&["pki"]).stdout.contains("revoke"));
    // With a VPNCTL_* variable set (clap counts it as an argument), still the help.
    let named = Env::new().env("VPNCTL_NAME", "lab");
    for args in [&[][..], &["pki"][..]] {
        let r = named.run(args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert!(r.stdout.contains("Usage:"), "{args:?}: {}", r.stdout);
    }
    assert!(named.run(&["pki"]).stdout.contains("revoke"));
    // A missing argument of a real command is still a usage error.
    assert_eq!(env.run(&["pki", "revoke"]).code, 2);
}

/// The command inside the first pair of backticks after `marker` on `text`.
fn quoted_after<'a>(text: &'a str, marker: &str) -> &'a str {
    let line = text
        .lines()
        .find(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no line with {marker:?} in:\n{text}"));
    line.split('`').nth(1).unwrap()
}

#[test]
fn hints_name_the_deployment_so_they_run_as_printed() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    let r = env.run(&lab_setup(&[]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let status = quoted_after(&r.stderr, "bills now");
    assert_eq!(
        status, "vpnctl --name lab status --region us-east-1",
        "{}",
        r.stderr
    );
    let words: Vec<&str> = status.split_whitespace().skip(1).collect();
    let out = env.ok(&words);
    assert!(out.contains("cvpn-endpoint-"), "{out}");
    let teardown = r
        .stderr
        .lines()
        .find(|l| l.contains("bills now"))
        .unwrap()
        .split('`')
        .nth(3)
        .unwrap()
        .to_string();
    assert_eq!(teardown, "vpnctl --name lab teardown --region us-east-1");
    let words: Vec<&str> = teardown.split_whitespace().skip(1).collect();
    env.ok(&words);
    assert!(
        emu.inventory("lab")["endpoints"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

//! AWS calls per command, as the emulator counts them (`/_emulator/calls`): what a command
//! costs must not grow with what else the account holds (issue 13; `benches/api-calls.sh`
//! measures the same with 200 certificates).

use crate::emulator::{Emulator, lab_setup};
use std::collections::BTreeMap;

/// Reads are the actions named Describe*, List*, Get* and Export*.
fn mutating(calls: &BTreeMap<String, u64>) -> BTreeMap<&str, u64> {
    calls
        .iter()
        .filter(|(a, _)| {
            !["Describe", "List", "Get", "Export"]
                .iter()
                .any(|r| a.starts_with(r))
        })
        .map(|(a, n)| (a.as_str(), *n))
        .collect()
}

/// A deployed lab in an account that already holds `certs` certificates and `endpoints`
/// endpoints of nobody's or of deployment `other` (listed before the lab's).
fn crowded_lab(certs: u32, endpoints: u32) -> (Emulator, crate::harness::Env, serde_json::Value) {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    env.ok(&["--name", "lab", "pki", "issue", "alice"]);
    let crowd = emu.crowd(certs, endpoints);
    env.ok(&lab_setup(&[]));
    (emu, env, crowd)
}

#[test]
fn status_makes_the_same_few_calls_however_many_certificates_the_account_holds() {
    let (emu, env, _) = crowded_lab(6, 2);
    emu.reset_calls();
    env.ok(&["--name", "lab", "status"]);
    let before = emu.calls();

    emu.crowd(30, 2);
    emu.reset_calls();
    let out = env.ok(&["--name", "lab", "status"]);
    let after = emu.calls();
    assert_eq!(
        before, after,
        "status's calls grew with 30 more unrelated certificates and 2 endpoints"
    );
    let total: u64 = after.values().sum();
    // Twelve, and ListSchedules: the deadlines are part of what status shows.
    assert!(total <= 13, "{total} calls: {after:?}");
    assert_eq!(after.get("ListTagsForCertificate"), Some(&1), "{after:?}");
    assert!(mutating(&after).is_empty(), "{after:?}");
    // Still every resource of the deployment, its certificate included.
    assert!(
        out.contains("certificate  server.lab.vpnctl.internal"),
        "{out}"
    );
    assert!(out.contains("deployment lab in us-east-1: up"), "{out}");
}

#[test]
fn a_converged_setup_mutates_nothing_and_teardown_skips_a_certificate_whose_tags_are_refused() {
    let (emu, env, crowd) = crowded_lab(8, 2);
    emu.reset_calls();
    env.ok(&lab_setup(&[]));
    let calls = emu.calls();
    assert!(mutating(&calls).is_empty(), "{calls:?}");

    // Teardown reads the tags of every certificate in the region (it must find all of the
    // deployment's, whatever their domain). One it may not read is not the deployment's as
    // far as it can tell: skipped, not a failure.
    let all = emu.everything();
    assert_eq!(
        all["certificates"][0], crowd["certificates"][0],
        "the first certificate listed is an unrelated one: {all}"
    );
    emu.fault("ListTagsForCertificate", "AccessDeniedException", 1);
    env.ok(&["--name", "lab", "teardown", "--yes"]);
    let inv = emu.inventory("lab");
    assert_eq!(inv["certificates"], serde_json::json!([]), "{inv}");
    assert_eq!(inv["endpoints"], serde_json::json!([]), "{inv}");
    let all = emu.everything();
    assert_eq!(
        all["certificates"].as_array().map(Vec::len),
        Some(8),
        "{all}"
    );
}

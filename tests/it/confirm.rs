//! Destructive commands ask on a terminal: they show what will happen (the plan, the live
//! connections that end, the hourly cost that stops) and change nothing unless the answer is
//! yes. `--yes` skips the question; without a terminal (scripts, CI) nobody is asked.

use crate::emulator::{Emulator, lab_setup};
use crate::harness::on_a_terminal;

const QUESTION: &str = "[y/N]";

#[test]
fn teardown_on_a_terminal_shows_what_ends_and_a_no_changes_nothing() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&lab_setup(&[]));
    let inv = emu.inventory("lab");
    let endpoint = inv["endpoints"][0]["id"].as_str().unwrap().to_string();
    emu.add_connection(&endpoint, "alice");

    let (code, shown) = on_a_terminal(&env, &["--name", "lab", "teardown"], QUESTION, "n");
    assert_eq!(code, 9, "a no is its own exit code:\n{shown}");
    assert!(shown.contains("tear down deployment 'lab'?"), "{shown}");
    assert!(
        shown.contains("delete") && shown.contains(&endpoint),
        "the plan:\n{shown}"
    );
    assert!(shown.contains("1 live connection(s) end"), "{shown}");
    assert!(
        shown.contains("billing that stops: $0.150/h"),
        "one association and one connection:\n{shown}"
    );
    assert!(
        shown.contains("new DNS name") && shown.contains("`vpnctl --name lab sleep`"),
        "say what teardown costs the profiles, and what keeps them:\n{shown}"
    );
    assert!(
        shown.contains("not confirmed; nothing was changed"),
        "{shown}"
    );
    assert_eq!(
        emu.inventory("lab")["endpoints"][0]["id"].as_str(),
        Some(endpoint.as_str()),
        "a no must leave the endpoint"
    );

    // Anything but yes is a no.
    let (code, _) = on_a_terminal(&env, &["--name", "lab", "teardown"], QUESTION, "");
    assert_eq!(code, 9);

    let (code, shown) = on_a_terminal(&env, &["--name", "lab", "teardown"], QUESTION, "y");
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("nothing billable remains"), "{shown}");
    assert!(
        emu.inventory("lab")["endpoints"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "yes tears it down"
    );
}

#[test]
fn yes_skips_the_question_and_scripts_are_never_asked() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&lab_setup(&[]));
    // A terminal with --yes: no question.
    let (code, shown) = on_a_terminal(&env, &["--name", "lab", "--yes", "sleep"], QUESTION, "n");
    assert_eq!(code, 0, "{shown}");
    assert!(!shown.contains(QUESTION), "--yes must not ask:\n{shown}");
    assert!(shown.contains("is asleep"), "{shown}");
    // No terminal (stdin is not one here): no question either.
    let r = env.run(&["--name", "lab", "teardown"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains(QUESTION), "{}", r.stderr);
}

#[test]
fn sleep_nat_off_and_revoke_ask_and_a_no_changes_nothing() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    env.ok(&["--name", "lab", "pki", "issue", "alice"]);
    env.ok(&lab_setup(&[]));
    env.ok(&[
        "--name",
        "lab",
        "nat",
        "on",
        "--subnet",
        "lab-private-subnet",
    ]);

    let (code, shown) = on_a_terminal(&env, &["--name", "lab", "sleep"], QUESTION, "no");
    assert_eq!(code, 9, "{shown}");
    assert!(shown.contains("put deployment 'lab' to sleep?"), "{shown}");
    assert!(
        shown.contains("billing that stops: $0.100/h"),
        "the association only (the NAT keeps billing):\n{shown}"
    );
    let inv = emu.inventory("lab");
    assert_eq!(
        inv["endpoints"][0]["associations"][0]["state"].as_str(),
        Some("associated"),
        "{inv}"
    );

    let (code, shown) = on_a_terminal(&env, &["--name", "lab", "nat", "off"], QUESTION, "n");
    assert_eq!(code, 9, "{shown}");
    assert!(shown.contains("remove the NAT gateway?"), "{shown}");
    assert!(shown.contains("loses its internet access"), "{shown}");
    assert!(
        shown.contains("billing that stops: $0.050/h"),
        "NAT gateway and its public IPv4 address:\n{shown}"
    );
    assert_eq!(
        emu.inventory("lab")["nat_gateways"]
            .as_array()
            .map(|a| a.len()),
        Some(1)
    );

    let before = env.read("pki/crl.pem");
    let (code, shown) = on_a_terminal(
        &env,
        &["--name", "lab", "pki", "revoke", "alice"],
        QUESTION,
        "n",
    );
    assert_eq!(code, 9, "{shown}");
    assert!(
        shown.contains("revoke alice (serial") && shown.contains("cannot be undone"),
        "{shown}"
    );
    assert!(shown.contains("resets every live connection"), "{shown}");
    assert_eq!(env.read("pki/crl.pem"), before, "a no must not revoke");
    let list = env.ok(&["--name", "lab", "pki", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    let alice = v["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "alice")
        .unwrap();
    assert_eq!(alice["status"], "valid");

    // An unknown user is not asked about: the error says what is wrong.
    let (code, shown) = on_a_terminal(
        &env,
        &["--name", "lab", "pki", "revoke", "nobody"],
        QUESTION,
        "y",
    );
    assert_eq!(code, 4, "{shown}");
    assert!(!shown.contains(QUESTION), "{shown}");

    let (code, shown) = on_a_terminal(&env, &["--name", "lab", "nat", "off"], QUESTION, "yes");
    assert_eq!(code, 0, "{shown}");
    env.ok(&["--name", "lab", "teardown"]);
}

//! Ctrl-C, at a known point, is safe: the command stops with exit 8 and prints the very
//! command line to run again; running it continues where the first stopped. No signal, no
//! "interrupted".

use crate::emulator::{Emulator, lab_setup};
use std::time::Duration;

/// The first command quoted in `text` after `marker`.
fn quoted(text: &str, marker: &str) -> String {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker:?} in:\n{text}"));
    text[at..]
        .split('`')
        .nth(1)
        .expect("a quoted command")
        .to_string()
}

#[test]
fn ctrl_c_during_setup_stops_with_the_command_to_run_again_which_continues() {
    let emu = Emulator::start(1.0);
    emu.lab();
    let env = emu.env();
    let args = lab_setup(&["--authorize", "192.168.0.0/16"]);
    // Held while AWS associates the subnet: the endpoint exists, the association does not yet.
    let running = env.start_until(&args, "waiting for association", Duration::from_secs(60));
    let (code, stderr) = running.signal_and_wait("INT");
    assert_eq!(code, 8, "{stderr}");
    assert!(
        stderr.contains("error: interrupted; everything changed so far is tagged"),
        "{stderr}"
    );
    let again = quoted(&stderr, "hint: run ");
    assert_eq!(again, args_line(&args), "{stderr}");
    assert!(
        stderr.contains("or `vpnctl --name lab teardown` to undo it"),
        "{stderr}"
    );
    assert_eq!(
        emu.inventory("lab")["endpoints"]
            .as_array()
            .map(|e| e.len()),
        Some(1),
        "the endpoint was created before the interruption"
    );
    let words: Vec<&str> = again.split_whitespace().skip(1).collect();
    let r = env.run(&words);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("deployment lab is up"), "{}", r.stdout);
    let inv = emu.inventory("lab");
    assert_eq!(
        inv["endpoints"].as_array().map(|e| e.len()),
        Some(1),
        "{inv}"
    );
    assert_eq!(
        inv["endpoints"][0]["rules"].as_array().map(|r| r.len()),
        Some(2),
        "both rules after the re-run: {inv}"
    );
    env.ok(&["--name", "lab", "teardown"]);
}

#[test]
fn ctrl_c_during_teardown_leaves_a_teardown_that_finishes() {
    let emu = Emulator::start(1.0);
    emu.lab();
    let env = emu.env();
    env.ok(&lab_setup(&[]));
    let running = env.start_until(
        &["--name", "lab", "teardown"],
        "waiting for disassociation",
        Duration::from_secs(60),
    );
    let (code, stderr) = running.signal_and_wait("INT");
    assert_eq!(code, 8, "{stderr}");
    assert_eq!(
        quoted(&stderr, "hint: run "),
        "vpnctl --name lab teardown",
        "{stderr}"
    );
    let r = env.run(&["--name", "lab", "teardown"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("nothing billable remains"),
        "{}",
        r.stdout
    );
}

fn args_line(args: &[&str]) -> String {
    std::iter::once("vpnctl")
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ")
}

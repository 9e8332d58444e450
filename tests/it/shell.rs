//! The CLI as a shell user meets it: completions that load in bash, manual pages that `man`
//! renders, colour only where wanted, and `iam-policy`'s refusals.

use crate::harness::Env;
use std::process::Command;

#[test]
fn bash_completions_load_and_complete_commands_and_flags() {
    let env = Env::new();
    let script = env.ok(&["completions", "bash"]);
    std::fs::write(env.path().join("vpnctl.bash"), &script).unwrap();
    // Load the script, then ask it as bash's programmable completion would.
    let complete = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        let probe = format!(
            "set -e; source ./vpnctl.bash; complete -p vpnctl; \
             COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}; \
             _vpnctl vpnctl '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            words.join(" "),
            words.len() - 1,
            words[words.len() - 1],
            words[words.len() - 2],
        );
        let out = Command::new("bash")
            .args(["--norc", "-c", &probe])
            .current_dir(env.path())
            .output()
            .expect("bash");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let top = complete("vpnctl s");
    for c in ["setup", "status", "sleep", "schedule"] {
        assert!(
            top.lines().any(|l| l == c),
            "`vpnctl s<TAB>` lacks {c}: {top}"
        );
    }
    let nat = complete("vpnctl nat o");
    assert!(
        nat.lines().any(|l| l == "on") && nat.lines().any(|l| l == "off"),
        "{nat}"
    );
    let flags = complete("vpnctl setup --ttl 8h --idle");
    assert!(flags.lines().any(|l| l == "--idle-sleep"), "{flags}");

    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let s = env.ok(&["completions", shell]);
        assert!(
            s.contains("setup") && s.contains("idle-sleep"),
            "{shell}: {s}"
        );
    }
    let r = env.fails(&["completions", "tcsh"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("bash"),
        "the shells it knows: {}",
        r.stderr
    );
}

#[test]
fn man_writes_a_page_per_command_and_man_renders_each() {
    let env = Env::new();
    let out = env.path().join("man/man1");
    env.ok(&["man", "--out", out.to_str().unwrap()]);
    let mut pages: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    for want in [
        "vpnctl.1",
        "vpnctl-setup.1",
        "vpnctl-nat-on.1",
        "vpnctl-pki-revoke.1",
        "vpnctl-iam-policy.1",
    ] {
        assert!(pages.iter().any(|p| p == want), "no {want}: {pages:?}");
    }
    // One page per command and subcommand of the CLI, the groups (`pki`, `nat`) included.
    let help = env.ok(&["--help"]);
    let listed = help.split("Commands:").nth(1).expect("a command list");
    let listed = listed.split("\n\n").next().unwrap_or_default();
    for line in listed
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
    {
        let name = line.split_whitespace().next().unwrap_or_default();
        if name != "help" {
            let page = format!("vpnctl-{name}.1");
            assert!(
                pages.contains(&page),
                "`{name}` has no page {page}: {pages:?}"
            );
        }
    }
    for page in &pages {
        let shown = Command::new("man")
            .args(["--warnings", "-l"])
            .arg(out.join(page))
            .env("MANWIDTH", "100")
            .output()
            .expect("man");
        // Without the overstrike of bold and underline (`X\bX`, `_\bX`).
        let mut text = String::new();
        for c in String::from_utf8_lossy(&shown.stdout).chars() {
            if c == '\u{8}' {
                text.pop();
            } else {
                text.push(c);
            }
        }
        let warnings = String::from_utf8_lossy(&shown.stderr);
        assert!(shown.status.success(), "{page}: {warnings}");
        assert!(warnings.trim().is_empty(), "{page}: {warnings}");
        let name = page.trim_end_matches(".1");
        assert!(text.contains(name), "{page} does not name {name}:\n{text}");
        if name != "vpnctl" && name != "vpnctl-pki" && name != "vpnctl-nat" {
            assert!(
                text.contains("Examples:"),
                "{page} has no examples:\n{text}"
            );
            // The global flags are on every command's page too.
            assert!(
                text.contains("--pki"),
                "{page} lacks the global flags:\n{text}"
            );
        }
    }
    // A file where the directory should be: an error that names it, nothing written.
    std::fs::write(env.path().join("file"), "x").unwrap();
    let r = env.fails(&["man", "--out", "file/sub"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("file/sub"), "{}", r.stderr);
}

#[test]
fn help_is_coloured_only_when_forced_and_never_with_no_color() {
    let env = Env::new();
    let forced = env.run_with(&["setup", "--help"], &[("CLICOLOR_FORCE", "1")]);
    assert!(
        forced.stdout.contains('\u{1b}'),
        "CLICOLOR_FORCE gave no colour"
    );
    let no = env.run_with(
        &["setup", "--help"],
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")],
    );
    assert_eq!(no.code, 0);
    assert!(
        !no.stdout.contains('\u{1b}'),
        "NO_COLOR still coloured:\n{}",
        no.stdout
    );
    assert!(no.stdout.contains("Global options:"), "{}", no.stdout);
    let r = env.run_with(
        &["nat", "on"],
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")],
    );
    assert!(
        !r.stderr.contains('\u{1b}') && !r.stdout.contains('\u{1b}'),
        "{r:?}"
    );
}

#[test]
fn iam_policy_refuses_what_is_not_a_command_that_calls_aws() {
    let env = Env::new();
    for bad in [&["pki", "issue"][..], &["setpu"]] {
        let r = env.fails(&[&["iam-policy"][..], bad].concat());
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stdout.is_empty(), "{}", r.stdout);
        assert!(
            r.stderr.contains("not a vpnctl command that calls AWS"),
            "{}",
            r.stderr
        );
        assert!(
            r.stderr.contains("setup, status"),
            "the hint names them: {}",
            r.stderr
        );
    }
}

#[test]
fn waits_show_a_live_line_per_resource_on_a_terminal_and_plain_lines_elsewhere() {
    let emu = crate::emulator::Emulator::start(0.0);
    emu.lab();
    emu.config(r#"{"delays": {"association": 3, "authorization": 1}}"#);
    let env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    let setup = crate::emulator::lab_setup(&[]);
    let (code, shown) = crate::harness::on_a_terminal(&env, &setup, "never asked", "");
    assert_eq!(code, 0, "{shown}");
    // One live line per wait: the resource, its state, the time waited, AWS's typical time.
    assert!(
        shown.contains("association of subnet-") && shown.contains("typically 5–15 min on AWS"),
        "{shown}"
    );
    assert!(shown.contains("00:00:0"), "no elapsed time: {shown}");
    assert!(
        !shown.contains("waiting for association of"),
        "plain lines on a terminal: {shown}"
    );
    assert!(shown.contains("done after"), "{shown}");
    env.ok(&["--name", "lab", "teardown", "--yes"]);

    // Without a terminal: the plain lines, and no terminal control codes.
    let r = env.run(&setup);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("waiting for association of"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains('\u{1b}'), "{}", r.stderr);
    assert!(!r.stderr.contains("typically"), "{}", r.stderr);
}

//! Several vpnctl processes issuing into one PKI at once: unique serials, a consistent index,
//! every certificate on disk matching its index line.

use crate::harness::Env;
use std::collections::HashSet;

#[test]
fn parallel_processes_never_corrupt_the_index_or_repeat_a_serial() {
    let env = Env::new();
    env.ok(&["pki", "init"]);
    let batches: Vec<Vec<String>> = (0..4)
        .map(|p| (0..3).map(|u| format!("p{p}-u{u}")).collect())
        .collect();
    let children: Vec<_> = batches
        .iter()
        .map(|b| {
            let mut args = vec!["pki".to_string(), "issue".to_string()];
            args.extend(b.iter().cloned());
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            env.command(&refs)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let index = env.read("pki/index.txt");
    let lines: Vec<&str> = index.lines().collect();
    assert_eq!(lines.len(), 1 + 12, "{index}");
    let serials: HashSet<&str> = lines
        .iter()
        .map(|l| l.split('\t').nth(3).unwrap())
        .collect();
    assert_eq!(serials.len(), 13, "repeated serial in\n{index}");
    for b in &batches {
        for user in b {
            let line = lines
                .iter()
                .find(|l| l.ends_with(&format!("/CN={user}")))
                .unwrap_or_else(|| panic!("{user} missing"));
            let serial = line.split('\t').nth(3).unwrap();
            let show: serde_json::Value =
                serde_json::from_str(&env.ok(&["pki", "show", user, "--json"])).unwrap();
            assert_eq!(show["serial"], serial, "{user}: file and index disagree");
        }
    }
}

//! Endpoint options (session timeout, disconnect, login banner, client route enforcement) and
//! sign-in besides the certificate (SAML with its self-service portal, Active Directory):
//! set at creation, converged in place on a re-run, shown by status, checked before any call.

use crate::emulator::{Emulator, SETUP};
use std::collections::BTreeMap;

/// `vpnctl --name lab setup` on the lab network, plus `extra`.
fn lab_setup<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    ["--name", "lab"]
        .iter()
        .chain(SETUP)
        .chain(extra)
        .copied()
        .collect()
}

fn mutating(calls: &BTreeMap<String, u64>) -> Vec<&str> {
    calls
        .keys()
        .filter(|a| {
            !["Describe", "List", "Get", "Export"]
                .iter()
                .any(|r| a.starts_with(r))
        })
        .map(String::as_str)
        .collect()
}

#[test]
fn options_are_set_converged_in_place_and_shown() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    let first = [
        "--session-timeout",
        "12h",
        "--disconnect-on-session-timeout",
        "false",
        "--banner",
        "Authorized use only. Sessions are logged.",
        "--client-route-enforcement",
    ];
    env.ok(&lab_setup(&first));
    let o = emu.inventory("lab")["endpoints"][0]["options"].clone();
    assert_eq!(o["session_timeout_hours"], 12, "{o}");
    assert_eq!(o["disconnect_on_session_timeout"], false, "{o}");
    assert_eq!(
        o["banner"], "Authorized use only. Sessions are logged.",
        "{o}"
    );
    assert_eq!(o["client_route_enforcement"], true, "{o}");
    let status = env.ok(&["--name", "lab", "status"]);
    assert!(
        status
            .contains("sessions   12h, then reconnect by itself; banner on; route enforcement on"),
        "{status}"
    );
    assert!(status.contains("sign-in    certificate\n"), "{status}");

    // The same again: converged, nothing modified.
    emu.reset_calls();
    env.ok(&lab_setup(&first));
    assert!(mutating(&emu.calls()).is_empty(), "{:?}", emu.calls());

    // Changed in place (no new endpoint): what is given changes, what is not stays.
    let id = emu.inventory("lab")["endpoints"][0]["id"].clone();
    let out = env.ok(&lab_setup(&["--session-timeout", "8h", "--banner", "none"]));
    let _ = out;
    let inv = emu.inventory("lab");
    assert_eq!(inv["endpoints"][0]["id"], id, "{inv}");
    let o = &inv["endpoints"][0]["options"];
    assert_eq!(o["session_timeout_hours"], 8, "{o}");
    assert_eq!(o["disconnect_on_session_timeout"], false, "{o}");
    assert_eq!(o["banner"], serde_json::Value::Null, "{o}");
    assert_eq!(o["client_route_enforcement"], true, "{o}");
    env.ok(&lab_setup(&[
        "--disconnect-on-session-timeout",
        "--client-route-enforcement",
        "false",
    ]));
    let o = emu.inventory("lab")["endpoints"][0]["options"].clone();
    assert_eq!(o["disconnect_on_session_timeout"], true, "{o}");
    assert_eq!(o["client_route_enforcement"], false, "{o}");
    assert_eq!(o["session_timeout_hours"], 8, "{o}");

    // Refused before any call, exit 2, nothing changed.
    let before = emu.everything();
    let long = "x".repeat(1401);
    for (flags, says) in [
        (vec!["--session-timeout", "9h"], "8, 10, 12 or 24 hours"),
        (vec!["--banner", long.as_str()], "1401 characters"),
        (vec!["--banner", "  "], "--banner is empty"),
        (vec!["--self-service-portal"], "needs --saml-provider"),
        (
            vec!["--saml-provider", "okta"],
            "not an IAM SAML provider ARN",
        ),
        (
            vec!["--directory-id", "corp.example.com"],
            "not a Directory Service id",
        ),
    ] {
        let args: Vec<&str> = lab_setup(&[])
            .into_iter()
            .chain(flags.iter().copied())
            .collect();
        let r = env.fails(&args);
        assert_eq!(r.code, 2, "{flags:?}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{flags:?}: {}", r.stderr);
    }
    // 1400 characters of UTF-8 (2 bytes each) are within AWS's limit: characters, not bytes.
    let accented = "é".repeat(1400);
    env.ok(&lab_setup(&["--banner", accented.as_str()]));
    assert_eq!(
        emu.inventory("lab")["endpoints"][0]["options"]["banner"],
        accented.as_str()
    );
    let mut after = emu.everything();
    let mut was = before;
    for doc in [&mut after, &mut was] {
        for e in doc["endpoints"].as_array_mut().unwrap() {
            e.as_object_mut().unwrap().remove("options");
        }
    }
    assert_eq!(after, was, "a refused setup changed something");
}

#[test]
fn saml_sign_in_with_its_portal_and_profiles_and_no_change_of_method_in_place() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    env.ok(&["--name", "lab", "pki", "issue", "alice"]);

    // A provider that does not exist: refused before anything is made.
    let before = emu.everything();
    let missing = "arn:aws:iam::123456789012:saml-provider/nobody";
    let r = env.fails(&lab_setup(&["--saml-provider", missing]));
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("no IAM SAML provider"), "{}", r.stderr);
    assert_eq!(emu.everything(), before, "a refused setup made something");
    let r = env.fails(&lab_setup(&[
        "--saml-provider",
        missing,
        "--directory-id",
        "d-1234567890",
    ]));
    assert_eq!(r.code, 2, "{}", r.stderr);

    let arn = emu.python("saml_provider.py", &[])["arn"]
        .as_str()
        .unwrap()
        .to_string();
    let saml = ["--saml-provider", arn.as_str(), "--self-service-portal"];
    env.ok(&lab_setup(&saml));
    let ep = emu.inventory("lab")["endpoints"][0].clone();
    let o = &ep["options"];
    assert_eq!(
        o["authentication"],
        serde_json::json!(["certificate-authentication", "federated-authentication"]),
        "{o}"
    );
    let url = o["self_service_portal_url"].as_str().unwrap_or_default();
    assert!(url.ends_with(ep["id"].as_str().unwrap()), "{o}");
    let profile = std::fs::read_to_string(env.path().join("profiles/alice.ovpn")).unwrap();
    assert!(profile.contains("\nauth-federate\n"), "{profile}");
    assert!(profile.contains("\nauth-user-pass\n"), "{profile}");
    let status = env.ok(&["--name", "lab", "status"]);
    assert!(
        status.contains(&format!(
            "sign-in    certificate + SAML ({arn}), self-service portal on"
        )),
        "{status}"
    );

    // Rules for one group: kept apart from the rules for every client, through sleep and wake,
    // and revoked alone when no longer asked for.
    let grouped = [
        &saml[..],
        &[
            "--authorize",
            "172.16.0.0/16=engineers",
            "--authorize",
            "192.168.0.0/16",
        ],
    ]
    .concat();
    env.ok(&lab_setup(&grouped));
    let rules = |emu: &Emulator| {
        let mut r: Vec<String> = emu.inventory("lab")["endpoints"][0]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{}{}",
                    r["cidr"].as_str().unwrap(),
                    r["group"]
                        .as_str()
                        .map(|g| format!("={g}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        r.sort();
        r
    };
    assert_eq!(
        rules(&emu),
        ["10.0.0.0/16", "172.16.0.0/16=engineers", "192.168.0.0/16"]
    );
    let plan = env.ok(&lab_setup(&[&grouped[..], &["--dry-run"]].concat()));
    assert!(
        !plan.contains("authoriz") && !plan.contains("revoke"),
        "{plan}"
    );
    env.ok(&["--name", "lab", "sleep", "--yes"]);
    env.ok(&["--name", "lab", "wake"]);
    assert_eq!(
        rules(&emu),
        ["10.0.0.0/16", "172.16.0.0/16=engineers", "192.168.0.0/16"]
    );
    let out = env.ok(&lab_setup(
        &[&saml[..], &["--authorize", "192.168.0.0/16"]].concat(),
    ));
    let _ = out;
    assert_eq!(rules(&emu), ["10.0.0.0/16", "192.168.0.0/16"]);
    // A group's rule needs a sign-in that knows groups; a group id that the record cannot list.
    for (bad, says) in [
        (
            vec!["--authorize", "172.16.0.0/16=a\u{7}"],
            "control character",
        ),
        (vec!["--authorize", "172.16.0.0/16="], "1 to 200 characters"),
        (
            vec!["--authorize", "10.0.0.0/16=engineers"],
            "would keep nobody out",
        ),
    ] {
        let r = env.fails(&lab_setup(&[&saml[..], &bad[..]].concat()));
        assert_eq!(r.code, 2, "{bad:?}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{bad:?}: {}", r.stderr);
    }

    // The endpoint's SAML is kept when not given again, and its groups still work.
    env.ok(&lab_setup(&[
        "--authorize",
        "172.17.0.0/16=ops",
        "--authorize",
        "192.168.0.0/16",
    ]));
    assert_eq!(
        rules(&emu),
        ["10.0.0.0/16", "172.17.0.0/16=ops", "192.168.0.0/16"]
    );

    // Converged on a re-run; the portal turns off in place.
    let last = [
        &saml[..],
        &[
            "--authorize",
            "172.17.0.0/16=ops",
            "--authorize",
            "192.168.0.0/16",
        ],
    ]
    .concat();
    emu.reset_calls();
    env.ok(&lab_setup(&last));
    assert!(mutating(&emu.calls()).is_empty(), "{:?}", emu.calls());
    env.ok(&lab_setup(&[
        "--saml-provider",
        arn.as_str(),
        "--self-service-portal",
        "false",
    ]));
    let o = emu.inventory("lab")["endpoints"][0]["options"].clone();
    assert_eq!(o["self_service_portal_url"], serde_json::Value::Null, "{o}");

    // Another method cannot be set in place: exit 3, nothing changed. None given keeps SAML.
    let before = emu.everything();
    let r = env.fails(&lab_setup(&["--directory-id", "d-1234567890"]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("cannot change the authentication in place"),
        "{}",
        r.stderr
    );
    assert_eq!(emu.everything(), before);
    env.ok(&lab_setup(&[]));
    let profile = std::fs::read_to_string(env.path().join("profiles/alice.ovpn")).unwrap();
    assert!(profile.contains("\nauth-federate\n"), "{profile}");
}

#[test]
fn saml_alone_signs_in_without_certificates_with_one_profile_and_no_crl() {
    let emu = Emulator::start(0.0);
    emu.lab();
    let env = emu.env();
    env.ok(&["--name", "lab", "pki", "init"]);
    env.ok(&["--name", "lab", "pki", "issue", "alice"]);
    let r = env.fails(&lab_setup(&["--client-certificates", "false"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("leaves no way to sign in"),
        "{}",
        r.stderr
    );

    let arn = emu.python("saml_provider.py", &[])["arn"]
        .as_str()
        .unwrap()
        .to_string();
    let alone = [
        "--saml-provider",
        arn.as_str(),
        "--client-certificates",
        "false",
    ];
    let out = env.ok(&lab_setup(&alone));
    let ep = emu.inventory("lab")["endpoints"][0].clone();
    assert_eq!(
        ep["options"]["authentication"],
        serde_json::json!(["federated-authentication"]),
        "{ep}"
    );
    // No client certificates: no CRL (an import would only reset connections).
    assert_eq!(ep["crl"], serde_json::Value::Null, "{ep}");
    // One profile for everyone, with no key.
    let shared = env.path().join("profiles/lab.ovpn");
    let text = std::fs::read_to_string(&shared).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(
        text.contains("\nauth-federate\n") && text.contains("<ca>"),
        "{text}"
    );
    assert!(
        !text.contains("<key>") && !text.contains("<cert>"),
        "{text}"
    );
    assert!(!env.path().join("profiles/alice.ovpn").exists(), "{out}");
    let again = env.ok(&["--name", "lab", "profile", "--all"]);
    assert!(again.contains("lab.ovpn"), "{again}");
    // A new user gets no certificate profile of their own: the shared one serves everyone.
    let issued = env.ok(&["--name", "lab", "pki", "issue", "bob"]);
    assert!(issued.contains("profiles/lab.ovpn"), "{issued}");
    assert!(!env.path().join("profiles/bob.ovpn").exists(), "{issued}");
    let status = env.ok(&["--name", "lab", "status"]);
    assert!(status.contains("sign-in    SAML alone ("), "{status}");
    // A revoke changes the PKI only: nothing to give the endpoint, and it says so.
    emu.reset_calls();
    let r = env.run(&["--name", "lab", "pki", "revoke", "alice", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("identity provider"), "{}", r.stderr);
    assert!(
        !emu.calls()
            .contains_key("ImportClientVpnClientCertificateRevocationList"),
        "{:?}",
        emu.calls()
    );
    let doctor = env.ok(&["--name", "lab", "doctor"]);
    assert!(
        doctor.contains("ok    client root: no client certificates"),
        "{doctor}"
    );
    // The sign-in and the certificates not given again are kept; adding certificates in place
    // is refused, naming the flag.
    env.ok(&lab_setup(&["--saml-provider", arn.as_str()]));
    env.ok(&lab_setup(&["--client-certificates", "false"]));
    let r = env.fails(&lab_setup(&["--client-certificates", "true"]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("SAML alone"), "{}", r.stderr);
    assert!(r.stderr.contains("--client-certificates"), "{}", r.stderr);
    // The shared profile never lands on a file of another kind without --force.
    std::fs::write(env.path().join("notes.txt"), "mine").unwrap();
    let r = env.fails(&["--name", "lab", "profile", "--all", "-o", "notes.txt"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(env.path().join("notes.txt")).unwrap(),
        "mine"
    );
    let r = env.fails(&[
        "--name",
        "lab",
        "profile",
        "--all",
        "-o",
        "pki/private/ca.key",
        "--force",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("inside the PKI directory"),
        "{}",
        r.stderr
    );
    // Converged with the same settings.
    emu.reset_calls();
    env.ok(&lab_setup(&alone));
    assert!(mutating(&emu.calls()).is_empty(), "{:?}", emu.calls());
}

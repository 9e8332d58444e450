//! vpnctl's own files, read back from disk where a person (or a bad disk) may have changed them:
//! `vpnctl.json` through `Pki::open` and the operations that trust it, `vpnctl.toml`
//! (`config::parse`) and the state file (`state::load`).

use super::fixtures::NOW;
use super::{fuzz, text_from};
use crate::pki::store::{InitOptions, Pki};
use crate::{config, state};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A PKI made by `Pki::init` and `issue` (server, alice, bob), as (relative path, bytes).
fn pki_files() -> &'static Vec<(PathBuf, Vec<u8>)> {
    static FILES: OnceLock<Vec<(PathBuf, Vec<u8>)>> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("pki");
        let opts = InitOptions {
            deployment: "lab".into(),
            server_name: None,
            ca_days: 3650,
            server_days: 825,
            crl_days: 180,
            force: false,
            passphrase: None,
            kms: None,
        };
        let mut pki = Pki::init(&root, &opts, NOW).unwrap();
        pki.issue(&["alice".into(), "bob".into()], 825, None, false, NOW)
            .unwrap();
        let mut files = Vec::new();
        collect(&root, &root, &mut files);
        files
    })
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(root, &p, out);
        } else if let Ok(rel) = p.strip_prefix(root) {
            out.push((rel.to_path_buf(), std::fs::read(&p).unwrap()));
        }
    }
}

/// Write the fixture PKI into `root`.
fn write_pki(root: &Path) {
    for (rel, data) in pki_files() {
        let p = root.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(p, data).unwrap();
    }
}

fn meta_seed() -> String {
    pki_files()
        .iter()
        .find(|(p, _)| p == Path::new("vpnctl.json"))
        .map(|(_, d)| String::from_utf8_lossy(d).into_owned())
        .unwrap()
}

/// The fixture's `vpnctl.json` with one field set to `value`.
fn meta_with(field: &str, value: impl Into<Value>) -> String {
    let mut meta: Value = serde_json::from_str(&meta_seed()).unwrap();
    meta[field] = value.into();
    meta.to_string()
}

fn json_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0..=400u32).prop_map(Value::from),
        any::<u32>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        Just(Value::from(u64::MAX - 1)),
        any::<i64>().prop_map(Value::from),
        Just(Value::from(i64::MIN)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        Just(Value::Null),
        "\\PC{0,6}".prop_map(Value::from),
    ]
}

fn json_string() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::from("lab")),
        Just(Value::from("server.lab.vpnctl.internal")),
        Just(Value::from("alice")),
        Just(Value::from("../../etc")),
        "\\PC{0,40}".prop_map(Value::from),
        json_number(),
    ]
}

/// `vpnctl.json` built field by field, some fields missing or of the wrong type.
fn meta_built() -> impl Strategy<Value = String> {
    let field = |valid: BoxedStrategy<Value>| {
        proptest::option::weighted(0.95, prop_oneof![4 => valid, 1 => json_string()])
    };
    let small = prop_oneof![(0..=400u32).prop_map(Value::from), json_number()].boxed();
    let name = prop_oneof![
        prop::sample::select(vec![
            "lab",
            "server.lab.vpnctl.internal",
            "alice",
            "bob",
            ""
        ])
        .prop_map(Value::from),
        "\\PC{0,20}".prop_map(Value::from),
    ]
    .boxed();
    (
        field(Just(Value::from(1)).boxed()),
        field(name.clone()),
        field(name),
        field(small.clone()),
        field(any::<bool>().prop_map(Value::from).boxed()),
        field(small),
        proptest::option::weighted(0.1, ("\\PC{0,8}", json_string())),
    )
        .prop_map(|(format, dep, server, days, enc, number, extra)| {
            let mut m = serde_json::Map::new();
            for (k, v) in [
                ("format", format),
                ("deployment", dep),
                ("server_name", server),
                ("crl_days", days),
                ("ca_key_encrypted", enc),
                ("crl_number", number),
            ] {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            }
            if let Some((k, v)) = extra {
                m.insert(k, v);
            }
            Value::Object(m).to_string()
        })
}

#[test]
fn vpnctl_json_through_open_and_the_operations_that_trust_it() {
    let text = prop_oneof![text_from(vec![meta_seed()]), meta_built()];
    fuzz(
        "Pki::open (vpnctl.json) + index/materials/revoke",
        4,
        text,
        |json| {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("pki");
            write_pki(&root);
            std::fs::write(root.join("vpnctl.json"), &json).unwrap();
            let Ok(mut pki) = Pki::open(&root) else {
                return Ok(false);
            };
            let _ = pki.index();
            let _ = pki.current_entries();
            let _ = pki.live_users(NOW);
            let _ = pki.materials(&["alice".into(), "bob".into()], NOW);
            let _ = pki.cert_path(&pki.meta.server_name);
            let _ = pki.regenerate_crl(None, None, NOW);
            let _ = pki.revoke("alice", None, NOW);
            Ok(true)
        },
    );
}

/// Found by fuzzing: `vpnctl.json` naming `crl_number` u64::MAX (easy-rsa import writes any
/// `crlnumber` it reads, `FFFFFFFFFFFFFFFF` included) made the next revocation overflow
/// `crl_number + 1` in the store (a panic in debug builds, a wrap to CRL number 0 in release).
/// The store now refuses (a CRL that cannot supersede the last one), changing nothing.
#[test]
fn vpnctl_json_crl_number_max_does_not_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("pki");
    write_pki(&root);
    std::fs::write(root.join("vpnctl.json"), meta_with("crl_number", u64::MAX)).unwrap();
    let mut pki = Pki::open(&root).unwrap();
    assert_eq!(pki.meta.crl_number, u64::MAX);
    let index = std::fs::read_to_string(root.join("index.txt")).unwrap();
    let err = pki.revoke("alice", None, NOW).unwrap_err();
    assert!(err.to_string().contains("CRL number"), "{err}");
    assert_eq!(
        std::fs::read_to_string(root.join("index.txt")).unwrap(),
        index
    );
}

/// Found by fuzzing: `vpnctl.json` with `crl_days` 4294967295. `revoke`, and `regenerate_crl`
/// without `--days`, added it to now unchecked (`store::write_crl`), and `OffsetDateTime +
/// Duration` panicked past year 9999; the store now range-checks it (`check_days`).
#[test]
fn vpnctl_json_huge_crl_days_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("pki");
    write_pki(&root);
    std::fs::write(root.join("vpnctl.json"), meta_with("crl_days", u32::MAX)).unwrap();
    let mut pki = Pki::open(&root).unwrap();
    assert!(pki.regenerate_crl(None, None, NOW).is_err());
    assert!(pki.revoke("alice", None, NOW).is_err());
}

const CONFIG: &str = r#"# vpnctl.toml
[lab]
vpc = "lab-vpc"
subnets = ["lab-public-subnet", "subnet-0123456789abcdef0"]
client_cidr = "10.83.0.0/16"
full_tunnel = false
authorize = ["192.168.10.0/24"]
dns_servers = ["10.0.0.2"]
transport = "udp"
port = 443
security_groups = ["sg-0123456789abcdef0"]
description = "vpnctl lab"
log_group = "/vpnctl/lab"
region = "us-east-1"
profile = "lab-admin"
pki = "pki"

[team-2]
vpc = 'vpc-0a'
port = 1194

[prices.eu-west-1]
association_hour = 0.10
connection_hour = 0.05
nat_gateway_hour = 0.045
public_ipv4_hour = 0.005
"#;

fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "\"\\PC{0,12}\"",
        "'[^'\n]{0,12}'",
        "-?[0-9]{1,25}",
        "-?[0-9]{1,5}\\.[0-9]{1,5}(e[+-]?[0-9]{1,4})?",
        Just("nan".into()),
        Just("-inf".into()),
        Just("true".into()),
        Just("[]".into()),
        Just("[\"a\", 1]".into()),
        Just("{ x = 1 }".into()),
        Just("1979-05-27T07:32:00Z".into()),
    ]
}

fn toml_built() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "vpc",
            "subnets",
            "client_cidr",
            "full_tunnel",
            "port",
            "transport",
            "pki",
            "association_hour",
            "connection_hour",
            "nat_gateway_hour",
            "public_ipv4_hour",
        ])
        .prop_map(str::to_string),
        "[a-z_]{1,10}",
        "\"\\PC{0,8}\"",
    ];
    let table = prop_oneof![
        "[a-z0-9-]{1,12}",
        "prices\\.[a-z0-9-]{1,12}",
        Just("prices".to_string()),
        "\"\\PC{0,8}\"",
    ];
    let body = prop::collection::vec((key, toml_value()), 0..6);
    prop::collection::vec((table, body), 0..4).prop_map(|tables| {
        let mut out = String::new();
        for (t, body) in tables {
            out.push_str(&format!("[{t}]\n"));
            for (k, v) in body {
                out.push_str(&format!("{k} = {v}\n"));
            }
        }
        out
    })
}

#[test]
fn config_file_parse() {
    let text = prop_oneof![text_from(vec![CONFIG.to_string()]), toml_built()];
    fuzz("config::parse (vpnctl.toml)", 1, text, |text| {
        let Ok(c) = config::parse(&text) else {
            return Ok(false);
        };
        for name in c.deployments.keys() {
            let _ = c.deployment(name);
        }
        for region in c.prices.keys() {
            let _ = crate::aws::price::for_region(region, &c.prices);
        }
        Ok(true)
    });
}

fn state_seed() -> String {
    let mut st = state::State {
        deployment: "lab".into(),
        region: Some("us-east-1".into()),
        endpoint_id: Some("cvpn-endpoint-0123456789abcdef0".into()),
        dns_name: Some(
            "*.cvpn-endpoint-0123456789abcdef0.prod.clientvpn.us-east-1.amazonaws.com".into(),
        ),
        port: Some(443),
        proto: Some(crate::profile::Proto::Udp),
        ..Default::default()
    };
    st.associated_at
        .insert("subnet-0a".into(), NOW.unix_timestamp() - 3600);
    st.record(
        NOW.unix_timestamp(),
        "setup: endpoint cvpn-endpoint-0123456789abcdef0",
    );
    serde_json::to_string_pretty(&st).unwrap()
}

fn state_built() -> impl Strategy<Value = String> {
    let times = prop::collection::btree_map("subnet-[0-9a-f]{1,4}", json_number(), 0..3);
    (json_string(), json_string(), json_number(), times).prop_map(|(dns, dep, port, at)| {
        json!({
            "deployment": dep,
            "dns_name": dns,
            "port": port,
            "proto": "tcp",
            "associated_at": at,
            "history": [{"at": 1, "event": "x"}],
        })
        .to_string()
    })
}

/// An endpoint with an association for every subnet the state file has a time for.
fn observed_for(st: &state::State) -> crate::aws::plan::Observed {
    use crate::aws::model::Association;
    use crate::aws::plan::{EndpointView, Observed};
    Observed {
        endpoints: vec![EndpointView {
            endpoint: Some(super::aws::endpoint(Default::default())),
            associations: st
                .associated_at
                .keys()
                .map(|s| Association {
                    id: format!("assoc-{s}"),
                    subnet_id: s.clone(),
                    state: "associated".into(),
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// What `status` bills from the state file's association times.
fn charges(st: &state::State) {
    let now = NOW.unix_timestamp();
    let prices = crate::aws::price::US_EAST_1;
    let _ = crate::commands::status::charges(&observed_for(st), &prices, &st.associated_at, now);
}

#[test]
fn state_file_load() {
    let text = prop_oneof![text_from(vec![state_seed()]), state_built()];
    fuzz("state::load (.vpnctl/NAME.json)", 4, text, |json| {
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path().join("pki");
        let path = state::path(&pki, "lab");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, json).unwrap();
        let Some(st) = state::load(&pki, "lab") else {
            return Ok(false);
        };
        charges(&st);
        if let Some(dns) = &st.dns_name {
            let _ = crate::profile::validate_remote(dns);
            let _ = crate::profile::remote_host(dns, "a1b2c3d4e5f6");
        }
        Ok(true)
    });
}

/// Found by fuzzing: a state file whose association time is i64::MIN made `status::charges`
/// overflow `now - since` (a panic in debug builds, a wrapped negative cost in release).
#[test]
fn state_file_association_time_i64_min_is_not_an_overflow() {
    let json = state_seed().replace(
        &format!("\"subnet-0a\": {}", NOW.unix_timestamp() - 3600),
        &format!("\"subnet-0a\": {}", i64::MIN),
    );
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let path = state::path(&pki, "lab");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, json).unwrap();
    let st = state::load(&pki, "lab").unwrap();
    assert_eq!(st.associated_at["subnet-0a"], i64::MIN);
    let prices = crate::aws::price::US_EAST_1;
    let bill = crate::commands::status::charges(
        &observed_for(&st),
        &prices,
        &st.associated_at,
        NOW.unix_timestamp(),
    );
    assert!(bill.iter().all(|c| c.accrued >= 0.0));
}

//! Text AWS hands back: the exported client configuration (`setup::parse_export`), Client VPN
//! times (`sdk::parse_aws_time`), and the tags vpnctl reads its records from (the sleep record in
//! `plan_wake` and `plan_sleep`, the NAT's `--ttl` in `status::nat_deadlines`). Anyone with the
//! account can edit a tag, so a tag is outside input too.

use super::fixtures::NOW;
use super::{fuzz, text_from};
use crate::aws::model::{self, Association, Endpoint, NatGateway, Tags};
use crate::aws::plan::{self, EndpointView, Observed};
use proptest::prelude::*;

const EXPORT: &str = "client
dev tun
proto udp
remote cvpn-endpoint-0123456789abcdef0.prod.clientvpn.us-east-1.amazonaws.com 443
remote-random-hostname
resolv-retry infinite
nobind
remote-cert-tls server
cipher AES-256-GCM
verb 3
<ca>
-----BEGIN CERTIFICATE-----
MIIBszCCAVmgAwIBAgIUXHk=
-----END CERTIFICATE-----

</ca>


reneg-sec 0

verify-x509-name vpn.lab.example name
";

#[test]
fn exported_client_configuration() {
    let seeds = vec![
        EXPORT.to_string(),
        EXPORT
            .replace("proto udp", "proto tcp")
            .replace(" 443", " 1194"),
        "remote *.cvpn-endpoint-0a.prod.clientvpn.eu-west-1.amazonaws.com\n".to_string(),
    ];
    fuzz(
        "setup::parse_export (exported config)",
        1,
        text_from(seeds),
        |text| {
            let Some((host, port, _proto)) = crate::commands::setup::parse_export(&text) else {
                return Ok(false);
            };
            prop_assert!(
                !host.is_empty() && !host.contains(char::is_whitespace),
                "{host:?}"
            );
            let _ = port;
            // The host goes into the state file and from there into profiles.
            let _ = crate::profile::validate_remote(&host);
            let _ = crate::profile::remote_host(&host, "a1b2c3d4e5f6");
            Ok(true)
        },
    );
}

#[test]
fn aws_times() {
    let seeds = [
        "2026-11-26T10:00:00",
        "2026-11-26 10:00:00",
        "2026-11-26T10:00:00.123Z",
        "2026-11-26T10:00:00+05:30",
        "9999-12-31T23:59:59Z",
        "-",
    ]
    .map(str::to_string)
    .to_vec();
    fuzz("sdk::parse_aws_time", 1, text_from(seeds), |t| {
        Ok(crate::aws::sdk::parse_aws_time(&t).is_some())
    });
}

/// An available endpoint with `tags`.
pub fn endpoint(tags: Tags) -> Endpoint {
    Endpoint {
        id: "cvpn-endpoint-0a".into(),
        state: "available".into(),
        dns_name: None,
        client_cidr: None,
        vpc_id: None,
        split_tunnel: true,
        dns_servers: vec![],
        transport: None,
        port: None,
        security_groups: vec![],
        description: None,
        server_cert_arn: None,
        log_group: None,
        options: Default::default(),
        user_auth: None,
        certificates: true,
        created: None,
        tags,
    }
}

#[test]
fn sleep_record_tags() {
    // Both record forms (one item a route, and `CIDR,CIDR>SUBNET,SUBNET`), routes added by
    // hand (`!CIDR`), and lists going on in numbered parts (`KEY-2`).
    let seeds = vec![
        "subnet-0a,subnet-0b".to_string(),
        "10.0.0.0/16>subnet-0a;0.0.0.0/0>subnet-0b".to_string(),
        "0.0.0.0/0,10.50.0.0/16>subnet-0a,subnet-0b;!192.168.1.0/24>subnet-0a".to_string(),
        "10.0.0.0/16,192.168.10.0/24".to_string(),
    ];
    let value = text_from(seeds);
    let tags = (value.clone(), value.clone(), (value.clone(), value));
    fuzz(
        "plan_wake/plan_sleep (vpnctl:asleep-* tags)",
        1,
        tags,
        |(s, routes, (rules, more))| {
            let tags: Tags = [
                (plan::TAG_ASLEEP_SUBNETS.to_string(), s),
                (plan::TAG_ASLEEP_ROUTES.to_string(), routes),
                (format!("{}-2", plan::TAG_ASLEEP_ROUTES), more.clone()),
                (plan::TAG_ASLEEP_RULES.to_string(), rules),
                (format!("{}-2", plan::TAG_ASLEEP_RULES), more),
            ]
            .into_iter()
            .collect();
            let seen = Observed {
                endpoints: vec![EndpointView {
                    endpoint: Some(endpoint(tags)),
                    associations: vec![Association {
                        id: "assoc-1".into(),
                        subnet_id: "subnet-0a".into(),
                        state: "associated".into(),
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            };
            let _ = plan::plan_sleep(&seen);
            Ok(plan::plan_wake(&seen, None).is_ok())
        },
    );
}

#[test]
fn nat_ttl_tag() {
    let seeds = vec![
        "2026-05-01T13:00:00Z".to_string(),
        "2026-05-01T13:00:00.5+01:00".to_string(),
    ];
    fuzz(
        "status::nat_deadlines (vpnctl:expires tag)",
        1,
        text_from(seeds),
        |t| {
            let seen = Observed {
                nat_gateways: vec![NatGateway {
                    id: "nat-0a".into(),
                    state: "available".into(),
                    subnet_id: "subnet-0a".into(),
                    vpc_id: "vpc-0a".into(),
                    allocation_id: None,
                    public_ip: None,
                    created: None,
                    tags: [(model::TAG_EXPIRES.to_string(), t)].into_iter().collect(),
                    failure_code: None,
                    failure_message: None,
                }],
                ..Default::default()
            };
            let d = crate::commands::status::nat_deadlines(&seen, NOW.unix_timestamp());
            Ok(!d.is_empty())
        },
    );
}

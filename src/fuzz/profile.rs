//! A user's profile template (`templates/client.ovpn.tera`, parsed and rendered by tera), and
//! the values parsed by hand from the command line: `--remote` and `nat on --ttl`.

use super::{fuzz, text_from};
use crate::profile::{self, ProfileContext, Proto, Template};
use proptest::prelude::*;

fn context() -> ProfileContext {
    let p = super::fixtures::pem();
    ProfileContext {
        user: "alice".into(),
        proto: Proto::Udp,
        remote: "a1b2c3d4e5f6.cvpn-endpoint-0a.prod.clientvpn.us-east-1.amazonaws.com".into(),
        port: 443,
        server_name: super::fixtures::SERVER.into(),
        ca: p.ca_cert.clone(),
        cert: p.client_cert.clone(),
        key: p.client_key.clone(),
        sign_in: None,
    }
}

#[test]
fn profile_template() {
    let seeds = vec![
        profile::DEFAULT_TEMPLATE.to_string(),
        "{% for l in key | split(pat=\"\\n\") %}{{ l | upper }}\n{% endfor %}{{ port + 1 }}"
            .to_string(),
        "{% set x = user ~ remote %}{% if x is starting_with(\"a\") %}{{ x | length }}{% endif %}"
            .to_string(),
    ];
    let ctx = context();
    fuzz(
        "profile::Template (user template)",
        1,
        text_from(seeds),
        |source| {
            let t = Template {
                source,
                origin: "fuzz.tera".into(),
            };
            if t.check().is_err() {
                return Ok(false);
            }
            Ok(t.render(&ctx).is_ok())
        },
    );
}

#[test]
fn remote_host_argument() {
    let seeds = [
        "vpn.example.com",
        "*.cvpn-endpoint-0123456789abcdef0.prod.clientvpn.us-east-1.amazonaws.com",
        "127.0.0.1",
        "::1",
        "fe80::1%eth0",
    ]
    .map(str::to_string)
    .to_vec();
    fuzz(
        "profile::validate_remote (--remote)",
        1,
        text_from(seeds),
        |host| {
            let ok = profile::validate_remote(&host).is_ok();
            let _ = profile::is_aws_endpoint(&host);
            let out = profile::remote_host(&host, "a1b2c3d4e5f6");
            if ok {
                // What passes can never add a line (a directive) to the profile.
                prop_assert!(!out.contains(['\n', '\r', ' ', '\t']), "{out:?}");
            }
            Ok(ok)
        },
    );
}

#[test]
fn nat_ttl_argument() {
    let seeds = ["90m", "1h30m", "2h", "1d", "45s", "7d", "none", "NONE"]
        .map(str::to_string)
        .to_vec();
    fuzz("deadline::parse (--ttl)", 1, text_from(seeds), |ttl| {
        Ok(crate::commands::deadline::parse(Some(&ttl), "--ttl").is_ok())
    });
}

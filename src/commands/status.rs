//! `vpnctl status`: every resource of the deployment (found by tags), its state, what bills
//! now in $/h and what has accrued since each resource's creation; PKI expiry warnings.

use super::{Ctx, connect, runtime};
use crate::aws::cloud::Reads;
use crate::aws::exec;
use crate::aws::model::association_bills;
use crate::aws::plan::Observed;
use crate::aws::price::{self, Prices};
use crate::cli::StatusArgs;
use crate::error::Result;
use serde::Serialize;
use serde_json::json;

/// One line of the bill.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Charge {
    pub kind: ChargeKind,
    pub resource: String,
    pub what: String,
    #[serde(serialize_with = "crate::json::usd")]
    pub per_hour: f64,
    /// Unix seconds the charge started (best known).
    #[serde(serialize_with = "crate::json::opt_time")]
    pub since: Option<i64>,
    #[serde(serialize_with = "crate::json::usd")]
    pub accrued: f64,
}

pub use crate::aws::price::ChargeKind;

/// What bills now, from observed state. Pure. `associated_at` (from the state record) refines
/// when an association started; without it the endpoint's creation time is the bound.
pub fn charges(
    seen: &Observed,
    prices: &Prices,
    associated_at: &std::collections::BTreeMap<String, i64>,
    now: i64,
) -> Vec<Charge> {
    let hours = |since: Option<i64>| {
        since
            .map(|s| (now.saturating_sub(s).max(0) as f64) / 3600.0)
            .unwrap_or(0.0)
    };
    let mut out = Vec::new();
    for v in &seen.endpoints {
        let Some(e) = &v.endpoint else { continue };
        for a in v
            .associations
            .iter()
            .filter(|a| association_bills(&a.state))
        {
            let since = associated_at.get(&a.subnet_id).copied().or(e.created);
            out.push(Charge {
                kind: ChargeKind::Association,
                resource: a.subnet_id.clone(),
                what: format!("association of {} ({})", a.subnet_id, a.state),
                per_hour: prices.association_hour,
                since,
                accrued: price::cents_round(prices.association_hour * hours(since)),
            });
        }
        for c in v
            .connections
            .iter()
            .filter(|c| c.state == crate::aws::model::ConnectionState::Active)
        {
            let since = c
                .established
                .as_deref()
                .and_then(crate::aws::sdk::parse_aws_time);
            out.push(Charge {
                kind: ChargeKind::Connection,
                resource: c.id.clone(),
                what: format!("connection of {}", c.username.as_deref().unwrap_or("?")),
                per_hour: prices.connection_hour,
                since,
                accrued: price::cents_round(prices.connection_hour * hours(since)),
            });
        }
    }
    for n in seen.nat_gateways.iter().filter(|n| n.state.is_live()) {
        out.push(Charge {
            kind: ChargeKind::NatGateway,
            resource: n.id.clone(),
            what: format!("NAT gateway {} ({})", n.id, n.state),
            per_hour: prices.nat_gateway_hour,
            since: n.created,
            accrued: price::cents_round(prices.nat_gateway_hour * hours(n.created)),
        });
    }
    // AWS bills every public IPv4 address, an idle Elastic IP included.
    for a in &seen.addresses {
        let since = seen
            .nat_gateways
            .iter()
            .find(|n| n.allocation_id.as_deref() == Some(a.allocation_id.as_str()))
            .and_then(|n| n.created);
        let what = format!(
            "Elastic IP {} {}",
            a.public_ip.as_deref().unwrap_or(&a.allocation_id),
            if a.association_id.is_some() {
                "(in use)"
            } else {
                "(idle)"
            }
        );
        out.push(Charge {
            kind: ChargeKind::PublicIpv4,
            resource: a.allocation_id.clone(),
            what,
            per_hour: prices.public_ipv4_hour,
            since,
            accrued: price::cents_round(prices.public_ipv4_hour * hours(since)),
        });
    }
    out
}

/// The deployment's state in one phrase, from what was observed. Pure.
pub fn state_of(seen: &Observed) -> &'static str {
    if seen.endpoints.is_empty()
        && seen.certificates.is_empty()
        && seen.nat_gateways.is_empty()
        && seen.addresses.is_empty()
    {
        "absent"
    } else if seen
        .endpoints
        .iter()
        .any(|v| v.associations.iter().any(|a| association_bills(&a.state)))
    {
        "up"
    } else if seen.endpoints.is_empty() {
        "no endpoint"
    } else {
        "asleep (no associations)"
    }
}

/// Seconds left before each NAT gateway's `--ttl` (negative when past).
pub fn nat_deadlines(seen: &Observed, now: i64) -> Vec<(String, i64)> {
    use time::format_description::well_known::Rfc3339;
    seen.nat_gateways
        .iter()
        .filter_map(|n| {
            let t = n.tags.get(crate::aws::model::TAG_EXPIRES)?;
            let at = time::OffsetDateTime::parse(t, &Rfc3339)
                .ok()?
                .unix_timestamp();
            Some((n.id.clone(), at - now))
        })
        .collect()
}

pub fn run(ctx: &Ctx, args: &StatusArgs) -> Result<()> {
    let rt = runtime()?;
    let pki = crate::pki::Pki::open(&ctx.pki_dir);
    // The deployment's certificates are the PKI's server name's (and whatever its endpoint
    // uses): reading the tags of every certificate in the region would cost a call per
    // certificate of the account. Without a PKI here, every certificate is read. The server
    // certificate's body is setup's concern.
    let reads = Reads {
        connections: true,
        server_name: pki.as_ref().ok().map(|p| p.meta.server_name.as_str()),
        server_cert_body: false,
        // The deadlines are read (pending ones are shown); whether a role exists is
        // teardown's concern.
        scheduler_role: false,
    };
    let (seen, region, account) = rt.block_on(async {
        let (cloud, region) = connect(ctx, &args.aws).await?;
        let (seen, account) = tokio::join!(
            exec::observe(&cloud, &ctx.deployment, reads),
            cloud.account_id()
        );
        let seen = seen.map_err(crate::aws::to_error)?;
        Ok::<_, crate::Error>((seen, region, account.ok()))
    })?;
    let prices = price::for_region(&region, &ctx.config.prices);
    // Read-only: the state file is only read here. A recorded endpoint that is not found is
    // said, never forgotten (a wrong --region must not erase the record).
    let st = crate::state::load(&ctx.pki_dir, &ctx.deployment).unwrap_or_default();
    if let Some(old) = st.endpoint_id.clone()
        && !seen
            .endpoints
            .iter()
            .any(|v| v.endpoint.as_ref().is_some_and(|e| e.id == old))
    {
        match st.region.as_deref().filter(|r| *r != region) {
            Some(recorded) => ctx.printer.warn(format!(
                "deployment '{}' lives in {recorded} (recorded in the state file), not in \
                 {region}: `{}`",
                ctx.deployment,
                ctx.vpnctl(&format!("status --region {recorded}"))
            )),
            None => ctx.printer.warn(format!(
                "the endpoint {old} recorded here was not found in {region} (torn down \
                 elsewhere?): `{}` makes a new one",
                ctx.vpnctl("setup")
            )),
        }
    }
    let now = ctx.now.unix_timestamp();
    let bill = charges(&seen, &prices, &st.associated_at, now);
    let per_hour: f64 = bill.iter().map(|c| c.per_hour).sum();
    let accrued: f64 = bill.iter().map(|c| c.accrued).sum();
    let mut warnings = match &pki {
        Ok(pki) => {
            let mut w = super::pki::pki_warnings(pki, ctx.now)?;
            w.extend(crl_lag(pki, &seen));
            w
        }
        Err(_) => vec![format!(
            "no PKI in {}: certificate expiry not checked",
            ctx.pki_dir.display()
        )],
    };
    for c in &seen.certificates {
        if let Some(t) = c.not_after
            && (t - now) / 86400 < crate::pki::store::WARN_DAYS
        {
            warnings.push(format!(
                "the ACM certificate {} expires in {} days",
                c.arn,
                (t - now) / 86400
            ));
        }
    }
    for (id, left) in nat_deadlines(&seen, now) {
        if left <= 0 {
            let by = if -left < 60 {
                format!("{} s", -left)
            } else {
                format!("{} min", (-left) / 60)
            };
            warnings.push(format!(
                "the NAT gateway {id} is past its --ttl by {by} and still bills: `{}`",
                ctx.vpnctl_aws("nat off", &args.aws)
            ));
        }
    }
    let state = state_of(&seen);

    if args.json {
        ctx.printer.json(&json!({
            "schema": 1,
            "deployment": ctx.deployment, "region": region, "account": account, "state": state,
            "resources": seen,
            "billing": {
                "per_hour": crate::json::Usd(per_hour),
                "accrued": crate::json::Usd(accrued),
                "charges": bill,
                "prices": prices,
            },
            "deadlines": crate::aws::plan::pending(&seen.schedules),
            "recurring": crate::aws::plan::recurring_of(&seen.schedules),
            "slept_by": super::deadline::asleep_by(&seen),
            "warnings": warnings,
        }));
    } else {
        let head = Head {
            deployment: &ctx.deployment,
            region: &region,
            account: account.as_deref(),
            state,
        };
        for line in render(&head, &seen, &bill, now) {
            ctx.printer.data(line);
        }
        for line in super::deadline::status_lines(&seen, now) {
            ctx.printer.data(line);
        }
    }
    for w in warnings {
        ctx.printer.warn(w);
    }
    Ok(())
}

/// Whether the endpoint's CRL lags this PKI's `crl.pem` (a revocation or renewal that has
/// not reached AWS) or is ahead of it (this copy of the PKI is behind another).
pub fn crl_lag(pki: &crate::pki::Pki, seen: &Observed) -> Option<String> {
    use crate::pki::crl::{Verdict, check_replace};
    let (e, v) = crate::aws::plan::the_endpoint(seen).ok()?;
    // An endpoint without client certificates holds no CRL, and needs none.
    if !e.certificates {
        return None;
    }
    let local = pki.crl_pem().ok()?;
    let ca = pki.ca_pem().ok()?;
    let number = |pem: &str| crate::pki::cert::crl_number(pem).unwrap_or(0);
    match check_replace(v.crl.as_deref(), &local, &ca) {
        Ok(Verdict::Same) => None,
        Ok(_) => Some(format!(
            "the endpoint's CRL {} is behind this PKI's (number {}): a revocation or renewal has \
             not reached AWS; `vpnctl pki merge-crl` gives the endpoint the current one",
            v.crl
                .as_deref()
                .map(|c| format!("(number {})", number(c)))
                .unwrap_or_else(|| "(none)".into()),
            number(&local)
        )),
        Err(e) => Some(format!("{e}; {}", e.hint())),
    }
}

/// The first lines of `status`.
pub struct Head<'a> {
    pub deployment: &'a str,
    pub region: &'a str,
    pub account: Option<&'a str>,
    pub state: &'a str,
}

/// `status` for people: every line within 100 columns (long names get their own line).
/// How users sign in: the certificate, and SAML or Active Directory when set.
fn sign_in(e: &crate::aws::model::Endpoint) -> String {
    use crate::aws::model::UserAuth;
    match &e.user_auth {
        None => "certificate".to_string(),
        Some(a) if !e.certificates => format!(
            "{} alone ({}), no client certificate",
            a.kind_name(),
            a.id()
        ),
        Some(
            a @ UserAuth::Saml {
                self_service_portal,
                ..
            },
        ) => format!(
            "{a}, self-service portal {}",
            if *self_service_portal { "on" } else { "off" }
        ),
        Some(a) => a.to_string(),
    }
}

/// The session options, as AWS describes them.
fn sessions(e: &crate::aws::model::Endpoint) -> String {
    let o = &e.options;
    let onoff = |b: Option<bool>| match b {
        Some(true) => "on",
        Some(false) => "off",
        None => "?",
    };
    format!(
        "{}, then {}; banner {}; route enforcement {}",
        o.session_timeout_hours
            .map(|h| format!("{h}h"))
            .unwrap_or_else(|| "?".into()),
        match o.disconnect_on_session_timeout {
            Some(false) => "reconnect by itself",
            Some(true) => "ask to reconnect",
            None => "?",
        },
        if o.banner.is_some() { "on" } else { "off" },
        onoff(o.client_route_enforcement),
    )
}

pub fn render(head: &Head, seen: &Observed, bill: &[Charge], now: i64) -> Vec<String> {
    let mut out = vec![format!(
        "deployment {} in {}: {}",
        head.deployment, head.region, head.state
    )];
    if let Some(a) = head.account {
        out.push(format!("  account      {a}"));
    }
    for c in &seen.certificates {
        out.push(format!(
            "  certificate  {}  expires {}",
            c.domain.as_deref().unwrap_or("-"),
            c.not_after.map(day).unwrap_or_else(|| "?".into())
        ));
        out.push(format!("    {}", c.arn));
    }
    for v in &seen.endpoints {
        let Some(e) = &v.endpoint else { continue };
        out.push(format!(
            "  endpoint     {}  {}  created {}",
            e.id,
            e.state,
            e.created.map(day).unwrap_or_else(|| "?".into())
        ));
        if let Some(dns) = &e.dns_name {
            out.push(format!("    {dns}"));
        }
        out.push(format!("    sign-in    {}", sign_in(e)));
        out.push(format!("    sessions   {}", sessions(e)));
        out.push(format!(
            "    logging    {}",
            e.log_group
                .as_deref()
                .map_or("off".to_string(), |g| format!("to {g}"))
        ));
        for a in &v.associations {
            out.push(format!(
                "    subnet     {}  {}  ({})",
                a.subnet_id, a.state, a.id
            ));
        }
        for r in &v.rules {
            let group = r
                .group
                .as_deref()
                .map(|g| format!(" for group {g}"))
                .unwrap_or_default();
            out.push(format!("    rule       {}{group}  {}", r.cidr, r.state));
        }
        for r in &v.routes {
            out.push(format!(
                "    route      {} via {}  {}  ({})",
                r.cidr, r.subnet_id, r.state, r.origin
            ));
        }
        let active = v
            .connections
            .iter()
            .filter(|c| c.state == crate::aws::model::ConnectionState::Active)
            .count();
        out.push(format!("    connections {active} active"));
    }
    let deadlines = nat_deadlines(seen, now);
    for n in &seen.nat_gateways {
        let left = deadlines
            .iter()
            .find(|(id, _)| id == &n.id)
            .map(|(_, l)| {
                if *l > 0 {
                    format!("  {}h{:02}m left", l / 3600, (l % 3600) / 60)
                } else {
                    "  past its ttl".to_string()
                }
            })
            .unwrap_or_default();
        out.push(format!(
            "  nat gateway  {}  {}  {}{left}",
            n.id,
            n.state,
            n.public_ip.as_deref().unwrap_or("-"),
        ));
        out.push(format!("    in {}", n.subnet_id));
    }
    for a in &seen.addresses {
        out.push(format!(
            "  elastic ip   {}  {}  {}",
            a.allocation_id,
            a.public_ip.as_deref().unwrap_or("-"),
            if a.association_id.is_some() {
                "in use"
            } else {
                "idle"
            }
        ));
    }
    let per_hour: f64 = bill.iter().map(|c| c.per_hour).sum();
    let accrued: f64 = bill.iter().map(|c| c.accrued).sum();
    out.push(format!("bills now: {}/h", price::dollars(per_hour)));
    for c in bill {
        out.push(format!(
            "  {:<52} {:>9}/h  accrued {}",
            c.what,
            price::dollars(c.per_hour),
            price::dollars(c.accrued)
        ));
    }
    out.push(format!(
        "accrued since creation: {}",
        price::dollars(accrued)
    ));
    out
}

fn day(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .map(crate::pki::store::date)
        .unwrap_or_else(|_| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::model::*;
    use crate::aws::plan::EndpointView;

    #[test]
    fn associations_and_connections_bill_at_the_price_table() {
        let e = Endpoint {
            id: "e".into(),
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
            created: Some(0),
            tags: Tags::new(),
        };
        let seen = Observed {
            endpoints: vec![EndpointView {
                endpoint: Some(e),
                associations: vec![
                    Association {
                        id: "a1".into(),
                        subnet_id: "s1".into(),
                        state: "associated".into(),
                    },
                    Association {
                        id: "a2".into(),
                        subnet_id: "s2".into(),
                        state: "associating".into(),
                    },
                ],
                connections: vec![Connection {
                    id: "c".into(),
                    username: Some("alice".into()),
                    client_ip: None,
                    state: "active".into(),
                    established: Some("1970-01-01T01:00:00".into()),
                    ingress_bytes: None,
                    egress_bytes: None,
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut at = std::collections::BTreeMap::new();
        at.insert("s2".to_string(), 3600);
        let bill = charges(&seen, &price::US_EAST_1, &at, 2 * 3600);
        assert_eq!(bill.len(), 3);
        let total: f64 = bill.iter().map(|c| c.per_hour).sum();
        assert!((total - 0.25).abs() < 1e-9);
        assert!(
            (bill[0].accrued - 0.2).abs() < 1e-9,
            "s1 since endpoint creation: 2 h"
        );
        assert!(
            (bill[1].accrued - 0.1).abs() < 1e-9,
            "s2 since the recorded time: 1 h"
        );
        assert!((bill[2].accrued - 0.05).abs() < 1e-9);
        assert!(charges(&Observed::default(), &price::US_EAST_1, &at, 0).is_empty());
    }

    #[test]
    fn status_lines_fit_100_columns_with_the_longest_aws_names() {
        let region = "ap-southeast-2";
        let id = "cvpn-endpoint-0123456789abcdef0";
        let seen = Observed {
            certificates: vec![Certificate {
                arn: format!(
                    "arn:aws:acm:{region}:123456789012:certificate/\
                     01234567-89ab-cdef-0123-456789abcdef"
                ),
                tags: Tags::new(),
                domain: Some("server.a-deployment-name-of-32-chars.vpnctl.internal".into()),
                not_after: Some(0),
                created: Some(0),
                in_use_by: vec![],
            }],
            endpoints: vec![EndpointView {
                endpoint: Some(Endpoint {
                    id: id.into(),
                    state: "pending-associate".into(),
                    dns_name: Some(format!("{id}.prod.clientvpn.{region}.amazonaws.com")),
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
                    created: Some(0),
                    tags: Tags::new(),
                }),
                associations: vec![Association {
                    id: "cvpn-assoc-0123456789abcdef0".into(),
                    subnet_id: "subnet-0123456789abcdef0".into(),
                    state: "disassociating".into(),
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let bill = charges(&seen, &price::US_EAST_1, &Default::default(), 1 << 40);
        let head = Head {
            deployment: "a-deployment-name-of-32-chars-xx",
            region,
            account: Some("123456789012"),
            state: "asleep (no associations)",
        };
        let lines = render(&head, &seen, &bill, 0);
        assert!(lines.len() > 8, "{lines:#?}");
        for l in &lines {
            assert!(
                l.chars().count() <= 100,
                "{} columns: {l}",
                l.chars().count()
            );
        }
        assert!(
            lines[1].contains("account      123456789012"),
            "{}",
            lines[1]
        );
    }
}

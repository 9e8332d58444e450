//! `vpnctl status`: every resource of the deployment (found by tags), its state, what bills
//! now in $/h and what has accrued since each resource's creation; PKI expiry warnings.

use super::{Ctx, connect, runtime};
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
    pub resource: String,
    pub what: String,
    pub per_hour: f64,
    /// Unix seconds the charge started (best known).
    pub since: Option<i64>,
    pub accrued: f64,
}

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
                resource: a.subnet_id.clone(),
                what: format!("association of {} ({})", a.subnet_id, a.state),
                per_hour: prices.association_hour,
                since,
                accrued: price::cents_round(prices.association_hour * hours(since)),
            });
        }
        for c in v.connections.iter().filter(|c| c.state == "active") {
            let since = c
                .established
                .as_deref()
                .and_then(crate::aws::sdk::parse_aws_time);
            out.push(Charge {
                resource: c.id.clone(),
                what: format!("connection of {}", c.username.as_deref().unwrap_or("?")),
                per_hour: prices.connection_hour,
                since,
                accrued: price::cents_round(prices.connection_hour * hours(since)),
            });
        }
    }
    for n in seen
        .nat_gateways
        .iter()
        .filter(|n| n.state == "pending" || n.state == "available")
    {
        out.push(Charge {
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
            resource: a.allocation_id.clone(),
            what,
            per_hour: prices.public_ipv4_hour,
            since,
            accrued: price::cents_round(prices.public_ipv4_hour * hours(since)),
        });
    }
    out
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
    let (seen, region) = rt.block_on(async {
        let (cloud, region) = connect(ctx, &args.aws).await?;
        let seen = exec::observe(&cloud, &ctx.deployment, true)
            .await
            .map_err(crate::aws::to_error)?;
        Ok::<_, crate::Error>((seen, region))
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
    let mut warnings = match crate::pki::Pki::open(&ctx.pki_dir) {
        Ok(pki) => super::pki::pki_warnings(&pki, ctx.now)?,
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
            warnings.push(format!("the NAT gateway {id} is past its --ttl by {} min and still bills: `vpnctl nat off`", (-left) / 60));
        }
    }
    let state = if seen.endpoints.is_empty()
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
    };

    if args.json {
        ctx.printer.json(&json!({
            "deployment": ctx.deployment, "region": region, "state": state,
            "resources": seen,
            "billing": {"per_hour": price::cents_round(per_hour), "accrued": price::cents_round(accrued), "charges": bill, "prices": prices},
            "warnings": warnings,
        }));
    } else {
        ctx.printer.data(format!(
            "deployment {} in {region}: {state}",
            ctx.deployment
        ));
        for c in &seen.certificates {
            ctx.printer.data(format!(
                "  certificate  {}  {}  expires {}",
                c.arn,
                c.domain.as_deref().unwrap_or("-"),
                c.not_after.map(day).unwrap_or_else(|| "?".into())
            ));
        }
        for v in &seen.endpoints {
            let Some(e) = &v.endpoint else { continue };
            ctx.printer.data(format!(
                "  endpoint     {}  {}  {}  created {}",
                e.id,
                e.state,
                e.dns_name.as_deref().unwrap_or("-"),
                e.created.map(day).unwrap_or_else(|| "?".into())
            ));
            for a in &v.associations {
                ctx.printer.data(format!(
                    "    subnet     {}  {}  ({})",
                    a.subnet_id, a.state, a.id
                ));
            }
            for r in &v.rules {
                ctx.printer
                    .data(format!("    rule       {}  {}", r.cidr, r.state));
            }
            for r in &v.routes {
                ctx.printer.data(format!(
                    "    route      {} via {}  {}  ({})",
                    r.cidr, r.subnet_id, r.state, r.origin
                ));
            }
            let active = v.connections.iter().filter(|c| c.state == "active").count();
            ctx.printer.data(format!("    connections {active} active"));
        }
        for n in &seen.nat_gateways {
            let left = nat_deadlines(&seen, now)
                .into_iter()
                .find(|(id, _)| id == &n.id)
                .map(|(_, l)| {
                    if l > 0 {
                        format!("  {}h{:02}m left", l / 3600, (l % 3600) / 60)
                    } else {
                        "  past its ttl".to_string()
                    }
                })
                .unwrap_or_default();
            ctx.printer.data(format!(
                "  nat gateway  {}  {}  {}  in {}{left}",
                n.id,
                n.state,
                n.public_ip.as_deref().unwrap_or("-"),
                n.subnet_id
            ));
        }
        for a in &seen.addresses {
            ctx.printer.data(format!(
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
        ctx.printer
            .data(format!("bills now: {}/h", price::dollars(per_hour)));
        for c in &bill {
            ctx.printer.data(format!(
                "  {:<44} {}/h  accrued {}",
                c.what,
                price::dollars(c.per_hour),
                price::dollars(c.accrued)
            ));
        }
        ctx.printer.data(format!(
            "accrued since creation: {}",
            price::dollars(accrued)
        ));
    }
    for w in warnings {
        ctx.printer.warn(w);
    }
    Ok(())
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
}

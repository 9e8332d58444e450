//! `vpnctl nat on|off`: temporary internet for a private subnet through a tagged NAT gateway,
//! and the cleanup that deleting a NAT gateway alone does not do (its Elastic IP).

use super::status::ChargeKind;
use super::{Ctx, connect, runtime};
use crate::aws::cloud::{Nat, Network};
use crate::aws::exec;
use crate::aws::model::Subnet;
use crate::aws::plan::{self, NatWant};
use crate::aws::sdk::AwsCloud;
use crate::cli::{NatCommand, NatOffArgs, NatOnArgs};
use crate::error::{Error, Result};

pub fn run(ctx: &Ctx, cmd: &NatCommand) -> Result<()> {
    let rt = runtime()?;
    match cmd {
        NatCommand::On(a) => {
            let ttl = super::deadline::parse(a.ttl.as_deref(), "--ttl")?;
            rt.block_on(async {
                let (cloud, region) = connect(ctx, &a.aws).await?;
                let _lock = if a.dry_run {
                    None
                } else {
                    Some(super::deployment_lock(ctx).await?)
                };
                on(ctx, &cloud, &region, a, ttl).await
            })
        }
        NatCommand::Off(a) => rt.block_on(async {
            let (cloud, region) = connect(ctx, &a.aws).await?;
            off(ctx, &cloud, &region, a).await
        }),
    }
}

/// Resolve the private subnet, the public one and the route table; all read-only.
pub async fn want(
    cloud: &AwsCloud,
    subnet: &str,
    via: Option<&str>,
    expires: Option<i64>,
    force: bool,
) -> Result<NatWant> {
    let private = cloud
        .find_subnet(subnet)
        .await
        .map_err(crate::aws::to_error)?;
    let (subnets, tables) = tokio::join!(
        cloud.subnets_of(&private.vpc_id),
        cloud.route_tables(&private.vpc_id)
    );
    let (subnets, tables) = (
        subnets.map_err(crate::aws::to_error)?,
        tables.map_err(crate::aws::to_error)?,
    );
    let public: Subnet = match via {
        Some(v) => {
            let s = cloud.find_subnet(v).await.map_err(crate::aws::to_error)?;
            if s.vpc_id != private.vpc_id {
                return Err(Error::invalid(
                    format!(
                        "--via {v} ({}) is in {}, the private subnet {} in {}",
                        s.id, s.vpc_id, subnet, private.vpc_id
                    ),
                    "a NAT gateway serves subnets of its own VPC: choose a public subnet of the \
                        same VPC",
                ));
            }
            if !plan::table_of(&s, &tables)
                .and_then(|t| t.default_route())
                .is_some_and(|t| t.is_internet_gateway())
            {
                return Err(Error::invalid(
                    format!("--via {v} does not route 0.0.0.0/0 to an internet gateway"),
                    "choose a public subnet (one whose route table sends 0.0.0.0/0 to an igw-)",
                ));
            }
            s
        }
        None => plan::infer_public(&private, &subnets, &tables)?,
    };
    if public.id == private.id {
        return Err(Error::invalid(
            format!("{subnet} is the public subnet itself"),
            "name the private subnet with --subnet",
        ));
    }
    let table = plan::table_of(&private, &tables).cloned().ok_or_else(|| {
        Error::not_found(
            format!(
                "no route table for {} (no association and no main table)",
                private.id
            ),
            "check the VPC's route tables",
        )
    })?;
    Ok(NatWant {
        private,
        public,
        table,
        expires,
        force,
    })
}

pub async fn on(
    ctx: &Ctx<'_>,
    cloud: &AwsCloud,
    region: &str,
    a: &NatOnArgs,
    ttl: Option<Option<i64>>,
) -> Result<()> {
    let mut want = want(cloud, &a.subnet, a.via.as_deref(), None, a.force).await?;
    let seen = exec::observe(cloud, &ctx.deployment, false)
        .await
        .map_err(crate::aws::to_error)?;
    // The deadline: `--ttl`, else the one the NAT gateway has, else 4 hours from now. Its
    // time is also the NAT gateway's `vpnctl:expires` tag.
    let now = ctx.now.unix_timestamp();
    let deadline = super::deadline::nat_want(&seen, ttl, a.ttl.as_deref(), None, now)?;
    if let plan::Want::At { at, .. } = &deadline {
        want.expires = Some(*at);
    }
    let mut steps = plan::plan_nat_on(&want, &seen)?;
    steps.extend(plan::plan_deadline(
        &seen,
        plan::Deadline::Nat,
        &deadline,
        &steps,
    ));
    let steps = plan::ordered(steps);
    super::deadline::check_readable(ctx, &seen, &steps)?;
    if deadline == plan::Want::Off {
        ctx.printer.warn(format!(
            "--ttl none: the NAT gateway has no deadline; it bills until `{}`",
            ctx.vpnctl_aws("nat off", &a.aws)
        ));
    }
    if a.dry_run {
        super::show_plan(
            ctx,
            "nat on",
            region,
            &steps,
            &[],
            "the NAT gateway is up and routed",
        );
        return Ok(());
    }
    let account = super::deadline::account(cloud, &steps).await?;
    let ran = super::interruptible(ctx, Some(ctx.vpnctl_aws("nat off", &a.aws)), async {
        let inputs = exec::Inputs {
            account: account.as_deref(),
            region: Some(region),
            ..Default::default()
        };
        super::execute(ctx, cloud, "nat on", region, &steps, &seen, &inputs, false)
            .await
            .into_result()
            .map_err(crate::aws::step_error)
    })
    .await?;
    report_on(ctx, region, &a.aws, &want, &ran);
    for line in super::deadline::armed_lines(&ran, ctx.now.unix_timestamp()) {
        ctx.printer.info(line);
    }
    Ok(())
}

/// What `nat on` (or `setup --nat`) made, and what it bills.
pub fn report_on(
    ctx: &Ctx<'_>,
    region: &str,
    aws: &crate::cli::AwsArgs,
    want: &NatWant,
    ran: &exec::Ran,
) {
    let nat = ran.nat.as_ref();
    let name = |s: &Subnet| s.name.clone().unwrap_or_else(|| s.id.clone());
    ctx.printer.data(format!(
        "NAT on for {} via {}: {} ({}), 0.0.0.0/0 of {} → NAT",
        name(&want.private),
        name(&want.public),
        nat.map(|n| n.id.as_str()).unwrap_or("?"),
        nat.and_then(|n| n.public_ip.as_deref()).unwrap_or("-"),
        want.table.id
    ));
    // Its deadline, when it has one, is said next (`deadline::armed_lines`).
    let prices = crate::aws::price::for_region(region, &ctx.config.prices);
    ctx.printer.info(format!(
        "bills now: NAT gateway {}/h + public IPv4 {}/h; `{}` ends it",
        crate::aws::price::dollars(prices.nat_gateway_hour),
        crate::aws::price::dollars(prices.public_ipv4_hour),
        ctx.vpnctl_aws("nat off", aws),
    ));
}

pub async fn off(ctx: &Ctx<'_>, cloud: &AwsCloud, region: &str, a: &NatOffArgs) -> Result<()> {
    let (_lock, seen, steps) = super::confirmed_and_locked(
        ctx,
        a.dry_run,
        async |conns| {
            let seen = exec::observe(cloud, &ctx.deployment, conns)
                .await
                .map_err(crate::aws::to_error)?;
            let mut steps = plan::plan_nat_off(&seen);
            // Nothing left for the NAT gateway's deadline to stop.
            let off = plan::plan_deadline(&seen, plan::Deadline::Nat, &plan::Want::Off, &[]);
            steps.extend(off);
            Ok((seen, plan::ordered(steps)))
        },
        |steps| steps.iter().map(ToString::to_string).collect(),
        |seen, steps| {
            if steps.is_empty() {
                return None;
            }
            let mut what = super::numbered(
                format!("nat off for deployment '{}' in {region}:", ctx.deployment),
                steps,
            );
            what.push(
                "the private subnet loses its internet access (the VPN is not affected)".into(),
            );
            what.extend(super::stops(ctx, seen, region, |c| {
                matches!(c.kind, ChargeKind::NatGateway | ChargeKind::PublicIpv4)
            }));
            Some((what, "remove the NAT gateway?".to_string()))
        },
    )
    .await?;
    if !steps.is_empty() {
        super::deadline::check_readable(ctx, &seen, &steps)?;
    }
    if a.dry_run {
        super::show_plan(
            ctx,
            "nat off",
            region,
            &steps,
            &[],
            "no NAT gateway or Elastic IP of the deployment",
        );
        return Ok(());
    }
    if steps.is_empty() {
        ctx.printer.data(format!(
            "no NAT gateway or Elastic IP of deployment '{}': nothing to turn off",
            ctx.deployment
        ));
        super::plan_report::nothing_to_do(ctx, "nat off", region);
        return Ok(());
    }
    // One interruptible span from the first change to the report: a Ctrl-C
    // anywhere in it is the "run it again" answer, never swallowed.
    super::interruptible(ctx, None, async {
        let inputs = exec::Inputs::default();
        let ran = super::executor(ctx, cloud)
            .run(&steps, &seen, &inputs, false)
            .await;
        if !ran.failures.is_empty() {
            super::plan_report::outcome(ctx, "nat off", region, &steps, &ran, None);
            return ran
                .into_result()
                .map(|_| ())
                .map_err(crate::aws::step_error);
        }
        let left = plan::plan_nat_off(
            &exec::observe(cloud, &ctx.deployment, false)
                .await
                .map_err(crate::aws::to_error)?,
        );
        super::plan_report::outcome(ctx, "nat off", region, &steps, &ran, Some(&left));
        if !left.is_empty() {
            return Err(Error::incomplete(
                format!("{} NAT step(s) remain: {}", left.len(), left[0]),
                format!("run `{}` again", ctx.vpnctl_aws("nat off", &a.aws)),
            ));
        }
        ctx.printer.data(format!(
            "NAT off for deployment '{}': route removed or restored, NAT gateway deleted, \
             Elastic IP released",
            ctx.deployment
        ));
        ctx.printer.info(format!(
            "next: `{}` shows that nothing of the NAT bills any more",
            ctx.vpnctl_aws("status", &a.aws)
        ));
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn ttl_durations() {
        use super::super::deadline::parse;
        assert_eq!(parse(Some("90m"), "--ttl").unwrap(), Some(Some(5400)));
        assert_eq!(parse(Some("1h30m"), "--ttl").unwrap(), Some(Some(5400)));
        assert_eq!(parse(Some("2h"), "--ttl").unwrap(), Some(Some(7200)));
        assert_eq!(parse(Some("1d"), "--ttl").unwrap(), Some(Some(86400)));
        assert_eq!(parse(Some("none"), "--ttl").unwrap(), Some(None));
        assert_eq!(parse(None, "--ttl").unwrap(), None);
        for bad in [
            "",
            "10",
            "h",
            "5x",
            "-1h",
            "0m",
            "30s",
            "99999999999999d",
            "366d",
        ] {
            let e = parse(Some(bad), "--ttl").unwrap_err().to_string();
            assert!(e.contains("--ttl"), "{bad}: {e}");
        }
    }
}

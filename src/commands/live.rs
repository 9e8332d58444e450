//! Living with the endpoint: `connections`, `kick`, `sleep`, `wake`, and the AWS half of
//! `pki revoke` (CRL to the endpoint, the user's sessions ended).

use super::{Ctx, connect, runtime};
use crate::aws::exec;
use crate::aws::plan;
use crate::aws::sdk::AwsCloud;
use crate::cli::{AwsArgs, AwsOnly, ConnectionsArgs, KickArgs, WakeArgs};
use crate::error::{Error, Result};
use crate::pki::Pki;
use serde_json::json;

async fn cloud(ctx: &Ctx<'_>, aws: &AwsArgs) -> Result<(AwsCloud, String)> {
    connect(ctx, aws).await
}

pub fn connections(ctx: &Ctx, args: &ConnectionsArgs) -> Result<()> {
    runtime()?.block_on(async {
        let (cloud, _) = cloud(ctx, &args.aws).await?;
        let seen = exec::observe(&cloud, &ctx.deployment, true)
            .await
            .map_err(crate::aws::to_error)?;
        let (e, v) = plan::the_endpoint(&seen)?;
        let shown: Vec<_> = v
            .connections
            .iter()
            .filter(|c| args.all || c.state == crate::aws::model::ConnectionState::Active)
            .collect();
        if args.json {
            ctx.printer
                .json(&json!({"schema": 1, "endpoint": e.id, "connections": shown}));
            return Ok(());
        }
        if shown.is_empty() {
            ctx.printer.data(format!(
                "no {}connections on {}",
                if args.all { "" } else { "active " },
                e.id
            ));
            return Ok(());
        }
        // Within 100 columns; the connection ids are in --json.
        ctx.printer.data(format!(
            "{:<24} {:<15} {:<19} {:>11} {:>11}  {}",
            "USER", "CLIENT IP", "SINCE (UTC)", "BYTES IN", "BYTES OUT", "STATE"
        ));
        for c in shown {
            ctx.printer.data(format!(
                "{:<24} {:<15} {:<19} {:>11} {:>11}  {}",
                c.username.as_deref().unwrap_or("?"),
                c.client_ip.as_deref().unwrap_or("-"),
                c.established.as_deref().unwrap_or("-"),
                c.ingress_bytes.as_deref().unwrap_or("0"),
                c.egress_bytes.as_deref().unwrap_or("0"),
                c.state,
            ));
        }
        Ok(())
    })
}

pub fn kick(ctx: &Ctx, args: &KickArgs) -> Result<()> {
    crate::pki::names::validate_user(&args.user)?;
    runtime()?.block_on(async {
        let (cloud, region) = cloud(ctx, &args.aws).await?;
        // The sessions are counted for the plan only: when they cannot be listed, the
        // emergency command still ends them.
        let seen = match exec::observe(&cloud, &ctx.deployment, true).await {
            Ok(seen) => seen,
            Err(e) => {
                ctx.printer.warn(format!(
                    "cannot list the connections ({}); ending {}'s sessions anyway",
                    crate::aws::to_error(e),
                    args.user
                ));
                exec::observe(&cloud, &ctx.deployment, false)
                    .await
                    .map_err(crate::aws::to_error)?
            }
        };
        let (endpoint, steps) = plan::plan_kick(&seen, &args.user)?;
        if args.dry_run {
            unknown_user(ctx, &args.user)?;
            super::show_plan(ctx, "kick", &region, &steps, &[], "");
            return Ok(());
        }
        // Sessions first: kick is the emergency command, and the PKI here may be a copy.
        let ended = super::interruptible(ctx, None, async {
            let inputs = exec::Inputs::default();
            super::execute(ctx, &cloud, "kick", &region, &steps, &seen, &inputs, false)
                .await
                .into_result()
                .map_err(crate::aws::step_error)
        })
        .await?
        .ended_sessions;
        if !ended.is_empty() {
            ctx.printer.data(format!(
                "ended {} connection(s) of {}: {}",
                ended.len(),
                args.user,
                ended.join(", ")
            ));
            ctx.printer.info(format!(
                "they can reconnect while their certificate is valid; `{}` locks them out",
                ctx.vpnctl_aws(&format!("pki revoke {}", args.user), &args.aws)
            ));
            return Ok(());
        }
        // Nobody ended: a name this deployment's PKI never issued is a typo, not a no-op.
        unknown_user(ctx, &args.user)?;
        ctx.printer.warn(format!(
            "{} has no live connection on {endpoint}",
            args.user
        ));
        Ok(())
    })
}

/// A user this deployment's PKI never issued is an error (exit 4) for `kick`: a typo, not a
/// no-op. Without this deployment's PKI here, any name may be a user.
fn unknown_user(ctx: &Ctx, user: &str) -> Result<()> {
    if let Ok(pki) = Pki::open(&ctx.pki_dir)
        && pki.meta.deployment == ctx.deployment
        && !pki.index()?.iter().any(|entry| entry.cn == user)
    {
        return Err(Error::not_found(
            format!("the PKI in {} has no user '{user}'", ctx.pki_dir.display()),
            "see the users with `vpnctl pki list`; `vpnctl connections` shows who is connected",
        ));
    }
    Ok(())
}

pub fn sleep(ctx: &Ctx, args: &AwsOnly) -> Result<()> {
    let aws = &args.aws;
    runtime()?.block_on(async {
        let (cloud, region) = cloud(ctx, aws).await?;
        let (_lock, seen, (endpoint, steps)) = super::confirmed_and_locked(
            ctx,
            args.dry_run,
            async |conns| {
                let seen = exec::observe(&cloud, &ctx.deployment, conns)
                    .await
                    .map_err(crate::aws::to_error)?;
                let (endpoint, mut steps) = plan::plan_sleep(&seen)?;
                // Asleep, the endpoint's deadline has nothing left to stop (`wake` arms it
                // again from the duration recorded on the endpoint).
                if !steps.is_empty() {
                    let off =
                        plan::plan_deadline(&seen, plan::Deadline::Endpoint, &plan::Want::Off, &[]);
                    steps = plan::ordered([steps, off].concat());
                }
                Ok((seen, (endpoint, steps)))
            },
            |(_, steps)| steps.iter().map(ToString::to_string).collect(),
            |seen, (_, steps)| {
                if steps.is_empty() {
                    return None;
                }
                let mut what = super::numbered(
                    format!(
                        "sleep of deployment '{}' in \
                    {region}:",
                        ctx.deployment
                    ),
                    steps,
                );
                what.extend(super::stops(ctx, seen, &region, |c| {
                    matches!(
                        c.kind,
                        super::status::ChargeKind::Association
                            | super::status::ChargeKind::Connection
                    )
                }));
                what.push(
                    "kept: the endpoint, its DNS name and every profile (`vpnctl wake` \
                    restores the rest)"
                        .into(),
                );
                Some((
                    what,
                    format!("put deployment '{}' to sleep?", ctx.deployment),
                ))
            },
        )
        .await?;
        if !steps.is_empty() {
            super::deadline::check_readable(ctx, &seen, &steps)?;
        }
        if args.dry_run {
            let nothing = format!("{endpoint} is already asleep");
            super::show_plan(ctx, "sleep", &region, &steps, &[], &nothing);
            return Ok(());
        }
        if steps.is_empty() {
            ctx.printer.data(format!(
                "{endpoint} is already asleep: no subnet is associated"
            ));
            ctx.printer.info(format!(
                "next: `{}` when the VPN is needed \
                again",
                ctx.vpnctl_aws("wake", aws)
            ));
            super::plan_report::nothing_to_do(ctx, "sleep", &region);
            return Ok(());
        }
        // One interruptible span from the first change to the report: a Ctrl-C
        // anywhere in it is the "run it again" answer, never swallowed.
        super::interruptible(ctx, Some(ctx.vpnctl_aws("wake", aws)), async {
            // The record is its own first phase: a crash after it still leaves what wake
            // needs.
            let inputs = exec::Inputs::default();
            super::execute(ctx, &cloud, "sleep", &region, &steps, &seen, &inputs, false)
                .await
                .into_result()
                .map_err(crate::aws::step_error)?;
            update_state(ctx, |st| st.associated_at.clear());
            let gone = steps
                .iter()
                .filter(|s| matches!(s.action, plan::Action::Disassociate { .. }))
                .count();
            ctx.printer.data(format!(
                "{endpoint} is asleep: {gone} subnet(s) disassociated, association \
                billing stopped"
            ));
            ctx.printer.info(format!(
                "the endpoint, its DNS name and every profile are kept; `{}` restores the \
                    associations, routes and rules",
                ctx.vpnctl_aws("wake", aws)
            ));
            Ok(())
        })
        .await
    })
}

pub fn wake(ctx: &Ctx, args: &WakeArgs) -> Result<()> {
    let aws = &args.aws;
    let ttl = super::deadline::parse(args.ttl.as_deref(), "--ttl")?;
    // No PKI here: nothing to give the endpoint (say so). A PKI that cannot be read is an
    // error, not a reason to wake without the newest revocations.
    let mut pki = if crate::pki::store::exists(&ctx.pki_dir) {
        Some(Pki::open(&ctx.pki_dir)?)
    } else {
        ctx.printer.info(format!(
            "no PKI in {}: the endpoint keeps the CRL it has",
            ctx.pki_dir.display()
        ));
        None
    };
    let rt = runtime()?;
    let (cloud, region) = rt.block_on(cloud(ctx, aws))?;
    // Blocking work (the lock's wait, the PKI's repair and reads) between two runs of the
    // runtime, not on it. The CRL is read under the lock, after any repair, like every CRL
    // push (a dry run only says what a repair would do).
    let _lock = if args.dry_run {
        None
    } else {
        Some(super::deployment_lock_blocking(ctx)?)
    };
    let mut repair = None;
    let crl = match pki.as_mut() {
        Some(pki) if args.dry_run => {
            if let Some(w) = pki.health()?.describe() {
                repair = Some(w);
            }
            Some((pki.crl_pem()?, pki.ca_pem()?))
        }
        Some(pki) => {
            ctx.repaired_pki(pki)?;
            Some((pki.crl_pem()?, pki.ca_pem()?))
        }
        None => None,
    };
    rt.block_on(async {
        let seen = exec::observe(&cloud, &ctx.deployment, false)
            .await
            .map_err(crate::aws::to_error)?;
        let (endpoint, mut steps) =
            plan::plan_wake(&seen, crl.as_ref().map(|(c, a)| (c.as_str(), a.as_str())))?;
        // The deadline again: `--ttl`, else the duration setup recorded on the endpoint, else
        // the config's `ttl`; armed when wake wakes something, or when the endpoint is awake
        // without the deadline it should have (a wake interrupted before it armed).
        let now = ctx.now.unix_timestamp();
        let fallback = super::deadline::deployment_ttl(ctx, &seen);
        let want = super::deadline::endpoint_want(
            &seen,
            ttl,
            args.ttl.as_deref(),
            fallback.as_deref(),
            now,
        )?;
        let deadline = plan::plan_endpoint_deadline(&seen, &want, &steps);
        if !deadline.is_empty() {
            steps = plan::ordered([steps, deadline].concat());
            super::deadline::check_readable(ctx, &seen, &steps)?;
        }
        let account = super::deadline::account(&cloud, &steps).await?;
        if args.dry_run {
            // A repair regenerates the CRL, which the endpoint then gets (resetting every
            // connection): the plan says so rather than showing the CRL before the repair.
            let notes: Vec<String> = repair
                .iter()
                .map(|w| {
                    format!(
                        "repair the PKI ({w}), then import its new CRL into {endpoint} if it \
                         differs (AWS resets every live connection)"
                    )
                })
                .collect();
            let nothing = format!("{endpoint} is awake");
            super::show_plan(ctx, "wake", &region, &steps, &notes, &nothing);
            return Ok(());
        }
        if steps.is_empty() {
            ctx.printer.data(format!("{endpoint} is awake already"));
            super::plan_report::nothing_to_do(ctx, "wake", &region);
            return Ok(());
        }
        // One interruptible span from the first change to the report: a Ctrl-C
        // anywhere in it is the "run it again" answer, never swallowed.
        super::interruptible(ctx, Some(ctx.vpnctl_aws("sleep", aws)), async {
            let started = std::time::Instant::now();
            let inputs = exec::Inputs {
                crl_pem: crl.as_ref().map(|(c, _)| c.as_str()),
                account: account.as_deref(),
                region: Some(&region),
                ..Default::default()
            };
            let ran = super::execute(ctx, &cloud, "wake", &region, &steps, &seen, &inputs, false)
                .await
                .into_result()
                .map_err(crate::aws::step_error)?;
            let now = ctx.now.unix_timestamp();
            let crl_number = pki.as_ref().map(|p| p.meta.crl_number);
            update_state(ctx, |st| {
                st.crl_number = crl_number.or(st.crl_number);
                for s in &steps {
                    if let plan::Action::Associate { subnet, .. }
                    | plan::Action::WaitAssociation { subnet, .. } = &s.action
                    {
                        st.associated_at.insert(subnet.clone(), now);
                    }
                }
            });
            ctx.printer.data(format!(
                "{endpoint} is awake ({} steps, {})",
                steps.len(),
                crate::aws::wait::elapsed(started.elapsed())
            ));
            ctx.printer.info(format!(
                "the profiles already handed out work again; `{}` shows what bills",
                ctx.vpnctl_aws("status", aws)
            ));
            for line in super::deadline::armed_lines(&ran, now) {
                ctx.printer.info(line);
            }
            Ok(())
        })
        .await
    })
}

/// What `push_crl` did.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub endpoint: String,
    /// Whether the CRL was imported (false: the endpoint held it already).
    pub imported: bool,
    pub number: u64,
    /// Live connections of the revoked user that were ended.
    pub ended: usize,
}

/// The one guarded path of a CRL to the deployment's endpoint outside setup and wake (which
/// plan the same step): under the deployment lock, the PKI repaired, the endpoint's CRL
/// compared by `pki::crl::check_replace` (refused if this copy is behind), imported only when
/// it differs and read back (the executor's `ImportCrl` step); then `user`'s sessions that
/// survived the import's reset are ended.
pub fn push_crl(ctx: &Ctx, aws: &AwsArgs, pki: &Pki, user: Option<&str>) -> Result<Pushed> {
    let mut attempt = 0;
    loop {
        match push_crl_once(ctx, aws, pki, user) {
            // Another admin of the same S3 store pushed a newer CRL between this one's read
            // and its push: the store has it (or a newer one) now.
            Err(Error::Conflict { message, .. })
                if ctx.store.is_some()
                    && attempt < 3
                    && message.contains("refusing to replace the endpoint's CRL") =>
            {
                attempt += 1;
                ctx.printer.info(
                    "the endpoint holds a newer CRL of the team's store; reading the store again",
                );
            }
            other => return other,
        }
    }
}

fn push_crl_once(ctx: &Ctx, aws: &AwsArgs, pki: &Pki, user: Option<&str>) -> Result<Pushed> {
    let mut pki = pki.clone();
    let rt = runtime()?;
    let (cloud, region) = rt.block_on(cloud(ctx, aws))?;
    // Blocking work between two runs of the runtime, not on it. Under the lock: another
    // vpnctl may have changed the CRL since this one started.
    let _lock = super::deployment_lock_blocking(ctx)?;
    ctx.repaired_pki(&mut pki)?;
    let crl = pki.crl_pem()?;
    let ca = pki.ca_pem()?;
    let number = crate::pki::cert::crl_number(&crl).unwrap_or(0);
    rt.block_on(async {
        let seen = exec::observe(&cloud, &ctx.deployment, user.is_some())
            .await
            .map_err(crate::aws::to_error)?;
        let (endpoint, steps) = plan::plan_crl_push(&seen, &crl, &ca, user)?;
        let imported = steps
            .iter()
            .any(|s| matches!(s.action, plan::Action::ImportCrl { .. }));
        // The user's sessions now: the import resets them all, and any that survive (no import
        // needed, or a reset that spared them) are ended too.
        let live = steps
            .iter()
            .map(|s| match s.action {
                plan::Action::EndSessions { sessions, .. } => sessions,
                _ => 0,
            })
            .sum::<usize>();
        if imported {
            ctx.printer.info(format!(
                "importing CRL number {number} into {endpoint}: AWS resets every live \
                 connection of the endpoint; clients reconnect by themselves, revoked ones are \
                 refused"
            ));
        }
        // One interruptible span over the import and the ending of the user's sessions.
        let inputs = exec::Inputs {
            crl_pem: Some(&crl),
            ..Default::default()
        };
        let ran = super::interruptible(ctx, None, async {
            super::execute(
                ctx, &cloud, "revoke", &region, &steps, &seen, &inputs, false,
            )
            .await
            .into_result()
            .map_err(crate::aws::step_error)
        })
        .await?;
        let ended = ran.ended_sessions.len().max(live);
        update_state(ctx, |st| st.crl_number = Some(number));
        Ok(Pushed {
            endpoint,
            imported,
            number,
            ended,
        })
    })
}

/// The AWS half of `pki revoke --dry-run`: the plan `push_crl` would run, from the same
/// planner. `next_crl`: the number of the CRL the revocation would sign (not made in a dry
/// run, so it is new to the endpoint by construction); None: the PKI's CRL as it is.
pub fn crl_push_preview(
    ctx: &Ctx,
    aws: &AwsArgs,
    pki: &Pki,
    user: Option<&str>,
    next_crl: Option<u64>,
) -> Result<(String, Vec<plan::Step>)> {
    runtime()?.block_on(async {
        let (cloud, region) = cloud(ctx, aws).await?;
        let seen = exec::observe(&cloud, &ctx.deployment, true)
            .await
            .map_err(crate::aws::to_error)?;
        let (_, mut steps) = plan::plan_crl_push(&seen, &pki.crl_pem()?, &pki.ca_pem()?, user)?;
        if let Some(number) = next_crl {
            steps.retain(|s| !matches!(s.action, plan::Action::ImportCrl { .. }));
            steps.insert(0, plan::Step::new(plan::Action::ImportCrl { number }));
        }
        Ok((region, steps))
    })
}

/// How many live connections `user` has on the deployment's endpoint, for a question; None
/// when AWS cannot say (the question then goes without the number).
pub fn live_sessions(ctx: &Ctx, aws: &AwsArgs, user: &str) -> Option<usize> {
    runtime().ok()?.block_on(async {
        let (cloud, _) = cloud(ctx, aws).await.ok()?;
        let seen = exec::observe(&cloud, &ctx.deployment, true).await.ok()?;
        let (_, v) = plan::the_endpoint(&seen).ok()?;
        Some(
            v.connections
                .iter()
                .filter(|c| {
                    c.state == crate::aws::model::ConnectionState::Active
                        && c.username.as_deref() == Some(user)
                })
                .count(),
        )
    })
}

/// The CRL the deployment's endpoint holds, and the endpoint's id.
pub fn endpoint_crl(ctx: &Ctx, aws: &AwsArgs) -> Result<(Option<String>, String)> {
    runtime()?.block_on(async {
        let (cloud, _) = cloud(ctx, aws).await?;
        let seen = exec::observe(&cloud, &ctx.deployment, false)
            .await
            .map_err(crate::aws::to_error)?;
        let (e, v) = plan::the_endpoint(&seen)?;
        Ok((v.crl.clone(), e.id.clone()))
    })
}

/// Keep the local record's association times in step (they refine accrued cost in `status`);
/// a missing or unwritable record is only a cache, so failures are ignored.
fn update_state(ctx: &Ctx, f: impl FnOnce(&mut crate::state::State)) {
    if let Some(mut st) = crate::state::load(&ctx.pki_dir, &ctx.deployment) {
        f(&mut st);
        let _ = crate::state::save(&ctx.pki_dir, &st);
    }
}

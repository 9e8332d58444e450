//! `vpnctl teardown`: find the deployment by tags, remove it in the order AWS requires, then
//! look again and say what (if anything) still bills. Works without the local state file.

use super::{Ctx, connect, runtime};
use crate::aws::exec;
use crate::aws::plan;
use crate::cli::TeardownArgs;
use crate::error::{Error, Result};

/// Everything of the deployment, its deadlines (schedules, group, role) included.
fn teardown_plan(seen: &plan::Observed) -> Vec<plan::Step> {
    plan::ordered([plan::plan_teardown(seen), plan::plan_remove_deadlines(seen)].concat())
}

pub fn run(ctx: &Ctx, args: &TeardownArgs) -> Result<()> {
    let rt = runtime()?;
    rt.block_on(async {
        let (cloud, region) = connect(ctx, &args.aws).await?;
        let (_lock, seen, steps) = super::confirmed_and_locked(
            ctx,
            args.dry_run,
            async |conns| {
                let seen = exec::observe(&cloud, &ctx.deployment, conns)
                    .await
                    .map_err(crate::aws::to_error)?;
                let steps = teardown_plan(&seen);
                Ok((seen, steps))
            },
            |steps| steps.iter().map(ToString::to_string).collect(),
            |seen, steps| (!steps.is_empty()).then(|| question(ctx, args, &region, seen, steps)),
        )
        .await?;
        if let Some(why) = &seen.machines_unread {
            ctx.printer.warn(format!(
                "the deployment's state machines cannot be read ({why}): vpnctl-{name}-sleep, \
                 -wake and -idle, if any, are left (they bill nothing unless started)",
                name = ctx.deployment
            ));
        }
        if let Some(why) = &seen.deadlines_unread {
            ctx.printer.warn(format!(
                "the deployment's deadlines cannot be read ({why}): its schedule group \
                 vpnctl-{name} and role vpnctl-{name}-scheduler, if any, are left",
                name = ctx.deployment
            ));
        }
        if args.dry_run {
            super::show_plan(
                ctx,
                "teardown",
                &region,
                &steps,
                &[],
                "no resource carries this deployment's tags",
            );
            return Ok(());
        }
        if steps.is_empty() {
            ctx.printer.data(format!(
                "nothing to remove: no resource carries the tags of \
                deployment '{}' in {region}",
                ctx.deployment
            ));
            crate::state::remove(&ctx.pki_dir, &ctx.deployment)?;
            super::plan_report::nothing_to_do(ctx, "teardown", &region);
            return Ok(());
        }
        // One interruptible span from the first change to the report: a Ctrl-C anywhere in it
        // is the "run it again" answer, never swallowed.
        super::interruptible(ctx, None, remove(ctx, args, &cloud, &region, &seen, &steps)).await
    })
}

/// Run the teardown plan, then look again and say what still bills.
async fn remove(
    ctx: &Ctx<'_>,
    args: &TeardownArgs,
    cloud: &crate::aws::sdk::AwsCloud,
    region: &str,
    seen: &plan::Observed,
    steps: &[plan::Step],
) -> Result<()> {
    let inputs = exec::Inputs::default();
    let ran = super::executor(ctx, cloud)
        .run(steps, seen, &inputs, args.keep_going)
        .await;
    for f in &ran.failures {
        let e = crate::aws::step_error(f.clone());
        ctx.printer.warn(format!("failed: {e}"));
    }
    // Look again, by tags: the answer the user needs is what still bills.
    let left = exec::observe(cloud, &ctx.deployment, false)
        .await
        .map_err(crate::aws::to_error)?;
    let remaining = still_there(teardown_plan(&left), steps, &ran);
    super::plan_report::outcome(ctx, "teardown", region, steps, &ran, Some(&remaining));
    if remaining.is_empty() {
        crate::state::remove(&ctx.pki_dir, &ctx.deployment)?;
        ctx.printer.data(format!(
            "teardown of '{}' complete: nothing billable remains ({} \
            steps)",
            ctx.deployment,
            steps.len()
        ));
        ctx.printer.info(format!(
            "the local PKI in {} stays; a new `{}` makes a new endpoint with a new DNS name \
             and writes new profiles, which have to be handed out again",
            ctx.pki_dir.display(),
            ctx.vpnctl_aws("setup", &args.aws)
        ));
        Ok(())
    } else {
        ctx.printer.data(format!(
            "teardown of '{}' incomplete; still there:",
            ctx.deployment
        ));
        for s in &remaining {
            ctx.printer.data(format!("  {s}"));
        }
        Err(Error::incomplete(
            format!(
                "{} resource step(s) of '{}' remain",
                remaining.len(),
                ctx.deployment
            ),
            if args.keep_going {
                format!(
                    "fix what the failures above name, then run `{}` \
                    again",
                    ctx.vpnctl_aws("teardown", &args.aws)
                )
            } else {
                format!(
                    "run `{}` again (add --keep-going to get past a failing \
                    step)",
                    ctx.vpnctl_aws("teardown", &args.aws)
                )
            },
        ))
    }
}

/// What the look after the run plans again, less the deadline removals this run did and that
/// the look still sees only because IAM (eventually consistent) shows a role just deleted: a
/// role and an empty group bill nothing, and a repeat would find them gone.
fn still_there(
    again: Vec<plan::Step>,
    ran_steps: &[plan::Step],
    ran: &exec::Ran,
) -> Vec<plan::Step> {
    use plan::Action::{DeleteSchedulerRole, DeleteSchedules};
    let done = |is: fn(&plan::Action) -> bool| {
        ran_steps
            .iter()
            .zip(&ran.status)
            .any(|(s, st)| is(&s.action) && *st == exec::StepStatus::Done)
    };
    let role_done = done(|a| matches!(a, DeleteSchedulerRole { .. }));
    let group_done = done(|a| matches!(a, DeleteSchedules { .. }));
    again
        .into_iter()
        .filter(|s| match &s.action {
            DeleteSchedulerRole { .. } => !role_done,
            DeleteSchedules { schedules: 0 } => !(role_done && group_done),
            _ => true,
        })
        .collect()
}

/// What teardown asks on a terminal: the plan, what ends, what stops billing, and what a
/// teardown costs the profiles handed out.
fn question(
    ctx: &Ctx,
    args: &TeardownArgs,
    region: &str,
    seen: &plan::Observed,
    steps: &[plan::Step],
) -> (Vec<String>, String) {
    let mut what = super::numbered(
        format!("teardown of deployment '{}' in {region}:", ctx.deployment),
        steps,
    );
    what.extend(super::stops(ctx, seen, region, |_| true));
    if seen.endpoints.iter().any(|v| v.endpoint.is_some()) {
        what.push(
            "the endpoint's DNS name goes with it: a later setup gets a new DNS name,".into(),
        );
        what.push("  and every profile handed out must be re-issued".into());
        what.push(format!(
            "to stop the association billing and keep the profiles: `{}`",
            ctx.vpnctl_aws("sleep", &args.aws)
        ));
    }
    (what, format!("tear down deployment '{}'?", ctx.deployment))
}

//! Deadlines as commands see them: `--ttl` read, the account their role needs, `vpnctl extend`,
//! and the lines `status` shows. The schedules themselves are plan steps (`plan::deadline`).

use super::{Ctx, runtime};
use crate::aws::exec;
use crate::aws::plan::{self, Deadline, Observed, Step, Want};
use crate::aws::sdk::AwsCloud;
use crate::cli::{ExtendArgs, ScheduleArgs};
use crate::error::{Error, Result};

/// A `--ttl` (or the config's `ttl`) read: `None` not given, `Some(None)` "none", else the
/// seconds.
pub fn parse(ttl: Option<&str>, flag: &str) -> Result<Option<Option<i64>>> {
    let Some(t) = ttl.map(str::trim) else {
        return Ok(None);
    };
    if t.eq_ignore_ascii_case("none") {
        return Ok(Some(None));
    }
    let secs = crate::config::duration_secs(t).ok_or_else(|| {
        Error::invalid(
            format!("{flag} {t:?} is not a duration"),
            "write it like 30m, 2h, 1h30m or 1d, or `none` for no deadline",
        )
    })?;
    // A schedule needs a minute to be sure to run after it is made (AWS invokes with
    // 60-second precision); a year is no longer a deadline.
    if secs < 60 {
        return Err(Error::invalid(
            format!("{flag} {t} is less than a minute"),
            "give at least 1m",
        ));
    }
    if secs > 365 * 86400 {
        return Err(Error::invalid(
            format!("{flag} {t} is more than a year"),
            "give at most 365d, or `none` for no deadline",
        ));
    }
    Ok(Some(Some(secs)))
}

/// What a command given `ttl` (as `parse` reads it) wants of a deadline, `now` being `now`.
pub fn want(ttl: Option<Option<i64>>, text: Option<&str>, now: i64) -> Want {
    match ttl {
        None => Want::Keep,
        Some(None) => Want::Off,
        Some(Some(secs)) => Want::At {
            at: now + secs,
            ttl: text.unwrap_or_default().trim().to_string(),
        },
    }
}

/// The account the scheduler role's policies name, asked of STS only when the plan creates
/// or updates the role.
pub async fn account(cloud: &AwsCloud, steps: &[Step]) -> Result<Option<String>> {
    if !steps
        .iter()
        .any(|s| s.action == plan::Action::PutSchedulerRole)
    {
        return Ok(None);
    }
    cloud
        .account_id()
        .await
        .map(Some)
        .map_err(crate::aws::to_error)
}

/// Refuse a plan that would change deadlines the credentials cannot read; a plan that does
/// not touch them goes on, saying that a deadline set earlier (which this command might
/// otherwise have removed or moved) stays on AWS and fires at its time.
pub fn check_readable(ctx: &Ctx, seen: &Observed, steps: &[Step]) -> Result<()> {
    if let Some(why) = &seen.machines_unread
        && steps
            .iter()
            .any(|s| s.action == plan::Action::PutStateMachines)
    {
        return Err(Error::invalid(
            format!("the deployment's Step Functions state machines cannot be read: {why}"),
            "working hours and idle sleep need Step Functions permissions (states:\
             ListStateMachines, CreateStateMachine, UpdateStateMachine, DeleteStateMachine, \
             TagResource) besides the Scheduler's",
        ));
    }
    let Some(why) = &seen.deadlines_unread else {
        return Ok(());
    };
    if steps
        .iter()
        .any(|s| s.action.lane() == plan::Lane::Deadline)
    {
        return Err(Error::invalid(
            format!("the deployment's deadlines cannot be read: {why}"),
            "the credentials need EventBridge Scheduler (scheduler:*Schedule*) and IAM \
             (iam:GetRole, CreateRole, PutRolePolicy, DeleteRole…) permissions; or give \
             `--ttl none`",
        ));
    }
    ctx.printer.warn(format!(
        "the deployment's deadlines cannot be read ({why}): a deadline set earlier stays on \
         AWS and fires at its time; with EventBridge Scheduler permissions `vpnctl status` \
         shows it and `vpnctl teardown` removes it"
    ));
    Ok(())
}

/// The time left until `at`, as people say it, in whole minutes rounded up: `3h12m`, `45m`,
/// `2d04h`; `due now` once it has come.
pub fn left(at: i64, now: i64) -> String {
    let s = at - now;
    if s <= 0 {
        return "due now".into();
    }
    let mins = (s + 59) / 60;
    let (d, h, m) = (mins / 1440, mins % 1440 / 60, mins % 60);
    match (d, h, m) {
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h{m:02}m"),
        (d, h, _) => format!("{d}d{h:02}h"),
    }
}

/// The deadline that put the endpoint to sleep (`vpnctl:slept-by`), while it still sleeps:
/// associated again by hand, the mark is history.
pub fn asleep_by(seen: &Observed) -> Option<&str> {
    seen.endpoints
        .iter()
        .filter(|v| {
            !v.associations
                .iter()
                .any(|a| crate::aws::model::association_bills(&a.state))
        })
        .filter_map(|v| v.endpoint.as_ref())
        .filter_map(|e| e.tags.get(crate::aws::model::TAG_SLEPT_BY))
        .map(String::as_str)
        .find(|v| !v.is_empty())
}

/// The lines `status` shows for the deadlines: each pending one with its time left, and a
/// sleep a deadline caused.
pub fn status_lines(seen: &Observed, now: i64) -> Vec<String> {
    let mut out: Vec<String> = plan::pending(&seen.schedules)
        .iter()
        .map(|p| {
            format!(
                "deadline  {} (in {}): {}",
                plan::when(p.at),
                left(p.at, now),
                p.deadline.what()
            )
        })
        .collect();
    out.extend(
        plan::recurring_of(&seen.schedules)
            .iter()
            .map(|r| format!("schedule  {r}")),
    );
    // One of the two: a `schedule` cut short (it puts the wake first).
    let hours: Vec<&str> = seen
        .schedules
        .iter()
        .filter(|s| plan::is_recurring(s, plan::RecurringKind::Hours))
        .map(|s| s.name.as_str())
        .collect();
    if hours.len() == 1 {
        out.push(format!(
            "schedule  working hours half-armed (only {}): run `vpnctl schedule` again, or \
             `vpnctl schedule --off`",
            hours[0]
        ));
    }
    if let Some(by) = asleep_by(seen) {
        out.push(format!(
            "asleep    put to sleep by its {} (server-side)",
            by.replace('T', " ").trim_end_matches('Z')
        ));
    }
    if let Some(why) = &seen.deadlines_unread {
        out.push(format!("deadlines cannot be read: {why}"));
    }
    out
}

/// `vpnctl extend DURATION`: every pending deadline later by DURATION.
pub fn extend(ctx: &Ctx, args: &ExtendArgs) -> Result<()> {
    let by = match parse(Some(&args.by), "extend")? {
        Some(Some(secs)) => secs,
        _ => {
            return Err(Error::invalid(
                "extend takes a duration, not `none`",
                "to remove the deadlines: `vpnctl setup --ttl none`, `vpnctl nat on --ttl none`",
            ));
        }
    };
    let ran = run_plan(ctx, &args.aws, args.dry_run, "extend", |seen| {
        if let Some(why) = &seen.deadlines_unread {
            return Err(Error::invalid(
                format!("the deployment's deadlines cannot be read: {why}"),
                "the credentials need EventBridge Scheduler permissions",
            ));
        }
        plan::plan_extend(seen, by)
    })?;
    let now = ctx.now.unix_timestamp();
    for (d, at) in ran.iter().flat_map(|r| &r.deadlines) {
        ctx.printer.data(format!(
            "{d} deadline moved to {} (in {})",
            plan::when(*at),
            left(*at, now)
        ));
    }
    Ok(())
}

/// What the deadline commands (`extend`, `schedule`) share: connect, take the deployment's
/// lock (not for a dry run), observe, plan with `plan`, then show the plan (`--dry-run`) or
/// run it. `None`: nothing was run (a dry run, or nothing to do).
fn run_plan(
    ctx: &Ctx,
    aws: &crate::cli::AwsArgs,
    dry_run: bool,
    command: &str,
    plan: impl FnOnce(&Observed) -> Result<Vec<Step>>,
) -> Result<Option<exec::Ran>> {
    let rt = runtime()?;
    let (cloud, region) = rt.block_on(super::connect(ctx, aws))?;
    let _lock = if dry_run {
        None
    } else {
        Some(super::deployment_lock_blocking(ctx)?)
    };
    rt.block_on(async {
        let seen = exec::observe(&cloud, &ctx.deployment, false)
            .await
            .map_err(crate::aws::to_error)?;
        let steps = plan::ordered(plan(&seen)?);
        check_readable(ctx, &seen, &steps)?;
        if dry_run {
            super::show_plan(ctx, command, &region, &steps, &[], "nothing to change");
            return Ok(None);
        }
        if steps.is_empty() {
            return Ok(None);
        }
        let account = account(&cloud, &steps).await?;
        let ran = super::interruptible(ctx, None, async {
            let inputs = exec::Inputs {
                account: account.as_deref(),
                region: Some(&region),
                ..Default::default()
            };
            super::execute(ctx, &cloud, command, &region, &steps, &seen, &inputs, false)
                .await
                .into_result()
                .map_err(crate::aws::step_error)
        })
        .await?;
        Ok(Some(ran))
    })
}

/// `vpnctl schedule --sleep CRON --wake CRON [--timezone TZ]`, or `--off`: working hours.
pub fn schedule(ctx: &Ctx, args: &ScheduleArgs) -> Result<()> {
    let want = if args.off {
        None
    } else {
        let (Some(sleep), Some(wake)) = (&args.sleep, &args.wake) else {
            return Err(Error::invalid(
                "schedule needs --sleep and --wake (or --off)",
                "for example: vpnctl schedule --sleep \"0 19 ? * MON-FRI *\" --wake \"0 7 ? * \
                 MON-FRI *\" --timezone Europe/Berlin",
            ));
        };
        Some(plan::Recurring::Hours {
            sleep: plan::cron(sleep, "--sleep")?,
            wake: plan::cron(wake, "--wake")?,
            timezone: plan::timezone(&args.timezone)?,
        })
    };
    let ran = run_plan(ctx, &args.aws, args.dry_run, "schedule", |seen| {
        let (e, v) = plan::the_endpoint(seen)?;
        if want.is_some() && plan::restore_of(e, v)?.is_none() {
            return Err(Error::not_found(
                format!(
                    "the endpoint {} has no association and no sleep record: working hours \
                     would have nothing to wake",
                    e.id
                ),
                format!("run `{}` first", ctx.vpnctl_aws("setup", &args.aws)),
            ));
        }
        Ok(match want {
            Some(r) => plan::plan_recurring(r),
            None => plan::plan_recurring_off(seen, plan::RecurringKind::Hours),
        })
    })?;
    match ran {
        None if args.dry_run => {}
        None => ctx
            .printer
            .data("the deployment has no working hours: nothing to remove"),
        Some(ran) if ran.recurring.is_empty() => ctx.printer.data("working hours removed"),
        Some(ran) => {
            for line in recurring_lines(&ran) {
                ctx.printer.data(line);
            }
        }
    }
    Ok(())
}

/// The lines a command prints after arming recurring schedules.
pub fn recurring_lines(ran: &exec::Ran) -> Vec<String> {
    ran.recurring
        .iter()
        .map(|r| format!("{r}; AWS runs it with no vpnctl running"))
        .collect()
}

/// The line a command prints after arming or keeping deadlines.
pub fn armed_lines(ran: &exec::Ran, now: i64) -> Vec<String> {
    ran.deadlines
        .iter()
        .map(|(d, at)| {
            format!(
                "deadline {} (in {}): {}; AWS does it with no vpnctl running",
                plan::when(*at),
                left(*at, now),
                match d {
                    Deadline::Endpoint => "the endpoint sleeps (`vpnctl wake` brings it back)",
                    Deadline::Nat => "the NAT gateway and its Elastic IP are removed",
                }
            )
        })
        .collect()
}

/// The deployment's deadline duration when a command is given none: the one `setup --ttl`
/// recorded on the endpoint, else the config file's `ttl`.
pub fn deployment_ttl(ctx: &Ctx, seen: &Observed) -> Option<String> {
    plan::recorded_ttl(seen)
        .map(str::to_string)
        .or(ctx.config.deployment(&ctx.deployment).ttl)
}

/// What a command wants of the endpoint's deadline. Its own `--ttl` (`flag`, as `parse` reads
/// it, and its text) arms it anew from now, or removes it. Without one, a pending deadline is
/// kept, and when none is pending the deployment's duration (`fallback`: the one `setup --ttl`
/// recorded on the endpoint, else the config's `ttl`) arms one: so a setup after a sleep, and
/// a wake that an interruption stopped before it armed, end with the deadline asked for.
pub fn endpoint_want(
    seen: &Observed,
    flag: Option<Option<i64>>,
    flag_text: Option<&str>,
    fallback: Option<&str>,
    now: i64,
) -> Result<Want> {
    if flag.is_some() {
        return Ok(want(flag, flag_text, now));
    }
    let pending = plan::pending(&seen.schedules)
        .iter()
        .any(|p| p.deadline == Deadline::Endpoint);
    if pending {
        return Ok(Want::Keep);
    }
    Ok(match parse(fallback, "the deployment's ttl")? {
        given @ Some(Some(_)) => want(given, fallback, now),
        _ => Want::Keep,
    })
}

/// What `nat on` (or `setup --nat`) wants of the NAT gateway's deadline: `--ttl` as given,
/// else the one the live NAT gateway has, else `fallback` (setup's: the deployment's ttl) from
/// now, else `DEFAULT_NAT_TTL`. A deadline left from a NAT gateway that is gone does not count:
/// the new one would have none.
pub fn nat_want(
    seen: &Observed,
    flag: Option<Option<i64>>,
    flag_text: Option<&str>,
    fallback: Option<&str>,
    now: i64,
) -> Result<Want> {
    if flag.is_some() {
        return Ok(want(flag, flag_text, now));
    }
    if plan::nat_deadline_holds(seen) {
        return Ok(Want::Keep);
    }
    Ok(match parse(fallback, "the deployment's ttl")? {
        Some(given) => want(Some(given), fallback, now),
        None => Want::At {
            at: now + plan::DEFAULT_NAT_TTL,
            ttl: "4h".into(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_is_rounded_up_to_whole_minutes() {
        assert_eq!(left(100, 100), "due now");
        assert_eq!(left(100, 200), "due now");
        assert_eq!(left(1, 0), "1m");
        assert_eq!(left(60, 0), "1m");
        assert_eq!(left(61, 0), "2m");
        assert_eq!(left(7195, 0), "2h00m");
        assert_eq!(left(7200 + 61, 0), "2h02m");
        assert_eq!(left(86400 + 3 * 3600, 0), "1d03h");
    }
}

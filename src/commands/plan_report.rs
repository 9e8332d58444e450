//! How every command that changes AWS shows its plan and its outcome: one text form for
//! `--dry-run`, one JSON document (schema 1) for `--json`, both from the plan's `Step`s. The
//! JSON form is documented in docs/commands.md ("Plans and outcomes as JSON").

use super::Ctx;
use crate::aws::exec::{Inputs, Ran, StepStatus};
use crate::aws::plan::{Billing, Observed, Step};
use crate::aws::price::Prices;
use crate::json::Usd;
use serde_json::{Value, json};

/// A plan as `--dry-run` prints it: a title naming the command, the deployment and the region,
/// `notes` (what happens before the plan, e.g. a PKI repair), then each step with its phase;
/// `nothing` says why an empty plan is empty. With `--json`, the plan as one document.
pub fn show_plan(
    ctx: &Ctx<'_>,
    command: &str,
    region: &str,
    steps: &[Step],
    notes: &[String],
    nothing: &str,
) {
    if ctx.printer.json_mode() {
        ctx.printer
            .json(&document(ctx, command, region, steps, notes, None));
        return;
    }
    ctx.printer.data(format!(
        "{command} plan for deployment '{}' in {region} (nothing is changed with --dry-run):",
        ctx.deployment
    ));
    for n in notes {
        ctx.printer.data(format!("  first: {n}"));
    }
    if steps.is_empty() {
        ctx.printer.data(format!("  nothing to do: {nothing}"));
    }
    for (i, s) in steps.iter().enumerate() {
        ctx.printer
            .data(format!("{:>3}. [{:?}] {s}", i + 1, s.phase));
    }
}

/// Run a plan with the one executor; with `--json`, its outcome as one document on stdout
/// (the command's own lines then go to stderr).
#[allow(clippy::too_many_arguments)]
pub async fn execute(
    ctx: &Ctx<'_>,
    cloud: &crate::aws::sdk::AwsCloud,
    command: &str,
    region: &str,
    steps: &[Step],
    seen: &Observed,
    inputs: &Inputs<'_>,
    keep_going: bool,
) -> Ran {
    let ran = super::executor(ctx, cloud)
        .run(steps, seen, inputs, keep_going)
        .await;
    outcome(ctx, command, region, steps, &ran, None);
    ran
}

/// With `--json`, a run's outcome as one document. `remaining`: what a second look found
/// still to do (teardown, nat off), which then decides `ok` as the exit code does.
pub fn outcome(
    ctx: &Ctx<'_>,
    command: &str,
    region: &str,
    steps: &[Step],
    ran: &Ran,
    remaining: Option<&[Step]>,
) {
    if !ctx.printer.json_mode() {
        return;
    }
    let mut doc = document(ctx, command, region, steps, &[], Some(ran));
    if let Some(left) = remaining {
        let prices = crate::aws::price::for_region(region, &ctx.config.prices);
        doc["remaining"] = left.iter().map(|s| step(s, &prices)).collect();
        doc["ok"] = json!(ran.failures.is_empty() && left.is_empty());
    }
    ctx.printer.json(&doc);
}

/// With `--json`, the outcome of a command that found nothing to do on AWS (`region` empty:
/// it did not ask AWS, e.g. `pki revoke --local-only`).
pub fn nothing_to_do(ctx: &Ctx<'_>, command: &str, region: &str) {
    outcome(ctx, command, region, &[], &Ran::default(), Some(&[]));
}

/// The JSON form of a plan (`ran`: None for a dry run) or of its outcome.
fn document(
    ctx: &Ctx<'_>,
    command: &str,
    region: &str,
    steps: &[Step],
    notes: &[String],
    ran: Option<&Ran>,
) -> Value {
    let prices = crate::aws::price::for_region(region, &ctx.config.prices);
    let steps: Vec<Value> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut v = step(s, &prices);
            if let Some(r) = ran {
                v["status"] = json!(r.status.get(i).copied().unwrap_or(StepStatus::NotRun));
            }
            v
        })
        .collect();
    let mut doc = json!({
        "schema": 1,
        "command": command,
        "deployment": ctx.deployment,
        "region": region,
        "dry_run": ran.is_none(),
        "notes": notes,
        "steps": steps,
    });
    if let Some(r) = ran {
        doc["ok"] = json!(r.failures.is_empty());
        doc["failures"] = r
            .failures
            .iter()
            .map(|f| {
                json!({
                    "step": f.step,
                    "error": crate::aws::step_error(f.clone()).to_string(),
                })
            })
            .collect();
        doc["resources"] = json!({
            "endpoint": r.endpoint.as_ref().map(|e| &e.id),
            "certificate_arn": r.certificate_arn,
            "nat_gateway": r.nat.as_ref().map(|n| &n.id),
            "ended_sessions": r.ended_sessions,
        });
    }
    doc
}

/// One step: the plan's fields (`phase`, `action` and its own), what it says, its lane, its
/// effect on AWS and on the bill (`per_hour`: dollars an hour it starts, negative: stops).
fn step(s: &Step, prices: &Prices) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
    let (effect, resource) = s.action.effect();
    v["description"] = json!(s.to_string());
    v["lane"] = json!(s.action.lane());
    v["effect"] = json!(effect);
    v["resource"] = json!(resource);
    let units = match &s.action {
        crate::aws::plan::Action::EndSessions { sessions, .. } => *sessions as f64,
        _ => 1.0,
    };
    v["per_hour"] = match s.action.billing() {
        Some(Billing::Starts(k)) => json!(Usd(prices.hourly(k) * units)),
        Some(Billing::Stops(k)) => json!(Usd(-prices.hourly(k) * units)),
        None => json!(Usd(0.0)),
    };
    v
}

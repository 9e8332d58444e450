//! The one executor. Every command that changes AWS hands it a plan (`plan::Step`s) and it
//! alone calls the cloud traits' mutating methods. It runs the plan's two lanes (endpoint,
//! NAT gateway) concurrently; within a lane, phase after phase, the steps of one phase
//! concurrently (associations, authorization rules and the waits for them need not wait for
//! each other). Each step is one idempotent attempt that treats "not found" on delete as done
//! and waits for AWS's transition (`steps`); `observe` finds what a plan starts from.

use super::cloud::*;
use super::model::*;
use super::plan::*;
use super::wait::{Reporter, WaitError};
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::sync::Mutex;

mod observe;
pub mod policy;
mod steps;

pub use observe::observe;
pub use policy::{Policies, Retry};

/// A step's failure, naming the step.
#[derive(Debug, Clone)]
pub struct StepError {
    pub step: String,
    pub lane: Lane,
    pub error: WaitError,
}

/// What some steps need besides their own fields: kept out of the plan because it is large
/// (a PEM), secret (the server key) or the whole endpoint specification.
#[derive(Default, Clone, Copy)]
pub struct Inputs<'a> {
    /// For `CreateEndpoint` and `ModifyEndpoint`.
    pub endpoint: Option<&'a EndpointSpec>,
    /// For `ImportCertificate`.
    pub upload: Option<&'a CertUpload>,
    /// For `ImportCrl`.
    pub crl_pem: Option<&'a str>,
    /// For `PutSchedulerRole`: the account and region its policies name.
    pub account: Option<&'a str>,
    pub region: Option<&'a str>,
}

/// What a run leaves behind, for the command layer to report: the deployment's resources as
/// the run left them (found when observed, made by a step of this run, `None` once a step
/// deleted them), and what became of every step.
#[derive(Debug, Default)]
pub struct Ran {
    pub certificate_arn: Option<String>,
    pub endpoint: Option<Endpoint>,
    pub client_configuration: Option<String>,
    /// An Elastic IP free for a NAT gateway.
    pub allocation: Option<String>,
    pub nat: Option<NatGateway>,
    /// The connections `EndSessions` steps ended.
    pub ended_sessions: Vec<String>,
    /// The scheduler role's ARN, once `PutSchedulerRole` made it.
    pub scheduler_role: Option<String>,
    /// The deadlines armed or moved by this run (deadline, Unix time).
    pub deadlines: Vec<(Deadline, i64)>,
    /// The deployment's state machines by kind (ARN): seen, or put by this run.
    pub machines: std::collections::BTreeMap<Machine, String>,
    /// The recurring schedules armed by this run.
    pub recurring: Vec<Recurring>,
    /// What this run created, and when: "not found" for them is AWS's eventual consistency
    /// for a while (`Retry::consistency`).
    pub(crate) created: Vec<(String, tokio::time::Instant)>,
    /// What became of each step of the plan, in the plan's order.
    pub status: Vec<StepStatus>,
    pub failures: Vec<StepError>,
}

/// What became of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    /// Not run: an earlier failure in its lane ended the lane first (a deadline's removal
    /// also waits for every other lane to succeed: a teardown that failed half-way keeps the
    /// deadlines of what is left).
    #[default]
    NotRun,
    Done,
    Failed,
}

impl Ran {
    /// The first failure as the error (the endpoint's before the NAT gateway's), else the run.
    pub fn into_result(mut self) -> Result<Ran, StepError> {
        if self.failures.is_empty() {
            return Ok(self);
        }
        let first = self
            .failures
            .iter()
            .position(|f| f.lane == Lane::Endpoint)
            .unwrap_or(0);
        Err(self.failures.remove(first))
    }

    /// The endpoint's id, or a failure naming what is missing (a bug in a plan).
    pub fn endpoint_id(&self) -> Result<String, WaitError> {
        self.endpoint
            .as_ref()
            .map(|e| e.id.clone())
            .ok_or_else(|| missing("the endpoint"))
    }
}

fn missing(what: &str) -> WaitError {
    WaitError::Cloud(CloudError::not_found(what))
}

pub struct Executor<'a, C> {
    pub cloud: &'a C,
    pub policies: Policies,
    pub reporter: &'a dyn Reporter,
    pub deployment: &'a str,
}

impl<C: Certificates + Endpoints + Nat + Deadlines> Executor<'_, C> {
    /// Run `steps` (from any planner) against what `seen` holds. Without `keep_going`, the
    /// first failure ends its lane at once (the other steps of the phase are dropped; AWS
    /// carries on with what it was asked, and a re-run picks up from the tags); the other
    /// lane runs on. With `keep_going`, every step is attempted and every failure returned.
    pub async fn run(
        &self,
        steps: &[Step],
        seen: &Observed,
        inputs: &Inputs<'_>,
        keep_going: bool,
    ) -> Ran {
        let bound = Mutex::new(Ran {
            certificate_arn: seen.server_cert().map(|c| c.arn.clone()),
            endpoint: seen
                .endpoints
                .iter()
                .filter_map(|v| v.endpoint.clone())
                .find(|e| e.state != EndpointState::Deleting),
            allocation: seen
                .addresses
                .iter()
                .find(|a| a.association_id.is_none())
                .map(|a| a.allocation_id.clone()),
            nat: seen
                .nat_gateways
                .iter()
                .find(|n| n.state.is_live())
                .cloned(),
            scheduler_role: seen.scheduler_role.clone(),
            machines: seen
                .state_machines
                .iter()
                .filter_map(|(name, arn)| Some((Machine::of(self.deployment, name)?, arn.clone())))
                .collect(),
            status: vec![StepStatus::NotRun; steps.len()],
            ..Ran::default()
        });
        let pacer = steps::Pacer::new(self.policies.retry.endpoint_budget);
        let run = steps::Run {
            inputs,
            bound: &bound,
            pacer: &pacer,
        };
        let lane = |lane: Lane| {
            let steps: Vec<(usize, &Step)> = steps
                .iter()
                .enumerate()
                .filter(|(_, s)| s.action.lane() == lane)
                .collect();
            self.lane(steps, &run, keep_going)
        };
        tokio::join!(lane(Lane::Endpoint), lane(Lane::Nat));
        // The deadlines come last: they name what the other lanes made. When one of those
        // failed, only the deadlines' arming runs (what is left keeps a deadline); their
        // removal waits for a run that succeeds.
        let failed = !run
            .bound
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .failures
            .is_empty();
        let deadlines: Vec<(usize, &Step)> = steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.action.lane() == Lane::Deadline)
            .filter(|(_, s)| !failed || s.action.effect().0 != Effect::Deletes)
            .collect();
        self.lane(deadlines, &run, keep_going).await;
        bound.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    /// One lane: phase after phase, the steps of a phase concurrently.
    async fn lane(&self, mut steps: Vec<(usize, &Step)>, run: &steps::Run<'_>, keep_going: bool) {
        steps.sort_by_key(|(_, s)| s.phase);
        let mut rest = steps.as_slice();
        while let Some((_, first)) = rest.first() {
            let n = rest
                .iter()
                .take_while(|(_, s)| s.phase == first.phase)
                .count();
            let (batch, later) = rest.split_at(n);
            rest = later;
            let mut running: FuturesUnordered<_> = batch
                .iter()
                .map(|(i, s)| async move { (*i, *s, self.step(s, run).await) })
                .collect();
            // Every step of the phase runs to its end, failed siblings or not: its call is
            // sent, and a step that stops a charge (a disassociation) must not be dropped
            // because another one failed.
            let mut failed = false;
            while let Some((i, s, result)) = running.next().await {
                let mut b = run.bound.lock().unwrap_or_else(|p| p.into_inner());
                match result {
                    Ok(()) => b.status[i] = StepStatus::Done,
                    Err(error) => {
                        failed = true;
                        b.status[i] = StepStatus::Failed;
                        b.failures.push(StepError {
                            step: s.to_string(),
                            lane: s.action.lane(),
                            error,
                        });
                    }
                }
            }
            if failed && !keep_going {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests;

//! One step: its cloud calls, paced and retried, and the wait for AWS's transition. The only
//! place a mutating method of the cloud traits is called.
//!
//! Every call goes through `Executor::call`, which retries what AWS answers as transient
//! (throttled, busy with other changes, failing on its side, no answer) with exponential
//! backoff and jitter within the step's timeout. A create carries the step's idempotency token,
//! so a repeat gives back what an unanswered first attempt made; a create AWS takes no token
//! for (an Elastic IP, a first certificate import) is repeated only when AWS refused it before
//! acting (throttled, busy), and otherwise left to the next run, which finds it by its tags.
//! "Not found" for a resource this run created is AWS's eventual consistency for
//! `Retry::consistency`, and retried too. Steps that keep an operation under way on an
//! endpoint hold a share of `Retry::endpoint_budget` (`Pacer`).

use super::super::cloud::*;
use super::super::model::*;
use super::super::plan::*;
use super::super::wait::{self, Policy, Probe, WaitError};
use super::{Executor, Inputs, Ran, missing};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

fn lock(bound: &Mutex<Ran>) -> MutexGuard<'_, Ran> {
    bound.lock().unwrap_or_else(|p| p.into_inner())
}

/// Tags a step wrote on the endpoint, kept on the run's view of it too: a later step of the
/// same run (arming the endpoint's deadline merges the sleep record it sees) must not work
/// from the tags the endpoint had before.
fn retagged(bound: &Mutex<Ran>, tags: &Tags) {
    if let Some(e) = lock(bound).endpoint.as_mut() {
        e.tags
            .extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

/// "Not found" on a delete means done.
fn gone(e: CloudError) -> CloudResult<()> {
    if e.is(Kind::NotFound) { Ok(()) } else { Err(e) }
}

/// "Already there" on a create that names what it makes (a rule, a route) means done: an
/// earlier attempt whose answer was lost made it.
fn made(e: CloudError) -> CloudResult<()> {
    if e.code().is_some_and(|c| c.contains("Duplicate")) {
        Ok(())
    } else {
        Err(e)
    }
}

/// A CIDR from a plan step (the planner made it from a parsed one, so this only fails on a bug).
fn parse_net(cidr: &str) -> Result<ipnet::Ipv4Net, WaitError> {
    cidr.parse()
        .map_err(|_| WaitError::Cloud(CloudError::api("plan", "BadCidr", cidr.to_string())))
}

/// A state AWS reports as failed, as the error of the call that asked for it.
fn failed(action: &str, message: String) -> CloudError {
    CloudError::api(action, "failed", message)
}

/// How long a new role's trust may take to reach the Scheduler (IAM is eventually consistent;
/// AWS gives no bound, a few seconds are usual).
const ROLE_PROPAGATION: Duration = Duration::from_secs(120);

/// How soon a deadline armed or moved may fire at the earliest: a time that passed while the
/// run waited for AWS (a setup's associations take minutes) is moved to just after now,
/// rather than handed to the Scheduler in the past.
const SOONEST: i64 = 90;

fn not_before_now(at: i64) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    at.max(now + SOONEST)
}

/// How a call may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    /// Reads, changes that are the same when repeated (deletes, modifications, tags), and
    /// creates that carry the step's idempotency token (the endpoint, an association, a NAT
    /// gateway: AWS gives a repeated token the first call's resource).
    Again,
    /// Makes a new resource without a token (an Elastic IP, a first certificate import):
    /// repeated only when AWS refused it before acting.
    Create,
}

/// A step's idempotency token: the same for every attempt of its create, and another for
/// every step (without the OS's randomness, the clock's nanoseconds and a counter).
fn token() -> String {
    let mut b = [0u8; 16];
    if crate::fsx::random(&mut b).is_err() {
        static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        b[..8].copy_from_slice(&(t as u64).to_le_bytes());
        b[8..].copy_from_slice(&n.to_le_bytes());
    }
    format!("vpnctl-{}", crate::fsx::hex(&b))
}

/// The endpoint budget: operations under way per endpoint, shared by the run's steps.
pub(super) struct Pacer {
    budget: u32,
    endpoints: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Pacer {
    pub(super) fn new(budget: u32) -> Pacer {
        Pacer {
            budget: budget.max(2),
            endpoints: Mutex::new(HashMap::new()),
        }
    }

    /// Hold `weight` of `endpoint`'s budget for as long as the permit lives.
    async fn hold(&self, endpoint: &str, weight: u32) -> Option<OwnedSemaphorePermit> {
        if weight == 0 {
            return None;
        }
        let semaphore = {
            let mut all = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
            all.entry(endpoint.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.budget as usize)))
                .clone()
        };
        semaphore
            .acquire_many_owned(weight.min(self.budget))
            .await
            .ok()
    }
}

/// How many of AWS's concurrent operations on its endpoint a step keeps under way while it
/// runs (AWS counts an association's VPC route as one more).
fn weight(action: &Action) -> u32 {
    match action {
        Action::Associate { .. } | Action::WaitAssociation { .. } | Action::Disassociate { .. } => {
            2
        }
        Action::Authorize { .. }
        | Action::WaitRule { .. }
        | Action::RevokeRule { .. }
        | Action::CreateRoute { .. }
        | Action::RestoreForeignRoute { .. }
        | Action::WaitRoute { .. }
        | Action::DeleteRoute { .. } => 1,
        _ => 0,
    }
}

/// A pause of about `d`: uniform between its half and itself (jitter, so that retries of
/// several steps do not fall on AWS together).
fn jittered(d: Duration) -> Duration {
    let mut b = [0u8; 4];
    let r = match crate::fsx::random(&mut b) {
        Ok(()) => f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX),
        Err(_) => 1.0,
    };
    d.mul_f64(0.5 + r / 2.0)
}

/// Whether a consistency window (`Run::fresh`) is still open, checked at each answer.
fn still(fresh: Option<Instant>) -> bool {
    fresh.is_some_and(|until| Instant::now() < until)
}

/// What one step works with besides its own fields.
pub(super) struct Run<'r> {
    pub inputs: &'r Inputs<'r>,
    pub bound: &'r Mutex<Ran>,
    pub pacer: &'r Pacer,
}

impl Run<'_> {
    /// Until when "not found" for `id` is AWS catching up: `within` after this run created
    /// it (None: this run did not).
    fn fresh(&self, id: &str, within: Duration) -> Option<Instant> {
        lock(self.bound)
            .created
            .iter()
            .find(|(c, _)| c == id)
            .map(|(_, at)| *at + within)
    }

    fn created(&self, id: &str) {
        lock(self.bound)
            .created
            .push((id.to_string(), Instant::now()));
    }
}

impl<C: Certificates + Endpoints + Nat + Deadlines> Executor<'_, C> {
    /// One cloud call, retried as the module says, for at most `timeout`.
    async fn call<T, F, Fut>(
        &self,
        what: &str,
        how: Call,
        fresh: Option<Instant>,
        timeout: Duration,
        call: F,
    ) -> CloudResult<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = CloudResult<T>>,
    {
        let start = Instant::now();
        let mut pause = self.policies.retry.base;
        loop {
            let e = match call().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let again = match how {
                Call::Again => e.is_transient(),
                Call::Create => matches!(e.kind, Kind::Throttled | Kind::Busy),
            } || (e.is(Kind::NotFound) && still(fresh));
            let next = jittered(pause);
            if !again || start.elapsed() + next > timeout {
                return Err(e);
            }
            self.reporter
                .progress(&format!("  {what}: {e}; again in {}", wait::elapsed(next)));
            tokio::time::sleep(next).await;
            pause = (pause * 2).min(self.policies.retry.cap);
        }
    }

    pub(super) async fn step(&self, step: &Step, run: &Run<'_>) -> Result<(), WaitError> {
        self.reporter.progress(&format!("→ {step}"));
        let bound = run.bound;
        let endpoint = || match &step.endpoint {
            Some(id) => Ok(id.clone()),
            None => lock(bound).endpoint_id(),
        };
        let _share = match weight(&step.action) {
            0 => None,
            w => run.pacer.hold(&endpoint()?, w).await,
        };
        let consistency = self.policies.retry.consistency;
        let fresh = |id: &str| run.fresh(id, consistency);
        let spec = || {
            run.inputs
                .endpoint
                .ok_or_else(|| missing("the endpoint settings"))
        };
        let nat_id = || {
            lock(bound)
                .nat
                .as_ref()
                .map(|n| n.id.clone())
                .ok_or_else(|| missing("the NAT gateway"))
        };
        let p = &self.policies;
        let c = self.cloud;
        let what = step.to_string();
        let again = |id: &str, policy: &Policy| (Call::Again, fresh(id), policy.timeout);
        match &step.action {
            Action::RecordSleep { record } => {
                let ep = endpoint()?;
                let (how, f, t) = again(&ep, &p.endpoint);
                self.call(&what, how, f, t, || c.tag_endpoint(&ep, record))
                    .await?;
                retagged(bound, record);
                Ok(())
            }
            Action::ClearSleepRecord => {
                let ep = endpoint()?;
                // Every part of the record the endpoint was seen with, not only the first.
                let seen = lock(bound)
                    .endpoint
                    .as_ref()
                    .map(|e| e.tags.clone())
                    .unwrap_or_default();
                let cleared = cleared_sleep_record(&seen);
                let (how, f, t) = again(&ep, &p.endpoint);
                self.call(&what, how, f, t, || c.tag_endpoint(&ep, &cleared))
                    .await?;
                retagged(bound, &cleared);
                Ok(())
            }
            Action::ImportCertificate { reimport_arn } => {
                let upload = run
                    .inputs
                    .upload
                    .ok_or_else(|| missing("the server certificate"))?;
                let tags = tags_for(self.deployment, &format!("{}-server", self.deployment));
                // A re-import to the same ARN is the same when repeated; a new import is not.
                let how = match reimport_arn {
                    Some(_) => Call::Again,
                    None => Call::Create,
                };
                let arn = self
                    .call(&what, how, None, p.endpoint.timeout, || {
                        c.import_certificate(upload, reimport_arn.as_deref(), &tags)
                    })
                    .await?;
                run.created(&arn);
                lock(bound).certificate_arn = Some(arn);
                Ok(())
            }
            Action::CreateEndpoint => {
                let arn = lock(bound)
                    .certificate_arn
                    .clone()
                    .ok_or_else(|| missing("the server certificate"))?;
                let tags = tags_for(self.deployment, self.deployment);
                let spec = spec()?;
                let token = token();
                let e = self
                    .call(&what, Call::Again, fresh(&arn), p.endpoint.timeout, || {
                        c.create_endpoint(spec, &arn, &tags, &token)
                    })
                    .await?;
                self.reporter.progress(&format!("  created {}", e.id));
                run.created(&e.id);
                lock(bound).endpoint = Some(e);
                Ok(())
            }
            Action::ModifyEndpoint { .. } => {
                let (ep, spec) = (endpoint()?, spec()?);
                let (how, f, t) = again(&ep, &p.endpoint);
                Ok(self
                    .call(&what, how, f, t, || c.modify_endpoint(&ep, spec))
                    .await?)
            }
            Action::WriteProfiles => {
                let ep = endpoint()?;
                let (how, f, t) = again(&ep, &p.endpoint);
                let config = self
                    .call(&what, how, f, t, || c.export_configuration(&ep))
                    .await?;
                lock(bound).client_configuration = Some(config);
                Ok(())
            }
            Action::Associate { subnet, .. } => {
                let ep = endpoint()?;
                let f = fresh(&ep);
                let token = token();
                let made = self
                    .call(&what, Call::Again, f, p.association.timeout, || {
                        c.associate(&ep, subnet, &token)
                    })
                    .await?;
                self.wait_associated(&ep, subnet, Some(&made.id), f).await
            }
            Action::WaitAssociation { subnet, .. } => {
                let ep = endpoint()?;
                self.wait_associated(&ep, subnet, None, fresh(&ep)).await
            }
            Action::Disassociate {
                subnet,
                association,
            } => {
                let ep = endpoint()?;
                let (how, f, t) = again(&ep, &p.association);
                self.call(&what, how, f, t, || c.disassociate(&ep, association))
                    .await
                    .or_else(gone)?;
                let what = format!("disassociation of {subnet}");
                self.until_gone(&p.association, &what, || async {
                    let list = match c.associations(&ep).await {
                        Err(e) if e.is(Kind::NotFound) => return Ok(None),
                        other => other?,
                    };
                    Ok(list
                        .iter()
                        .find(|a| &a.id == association)
                        .map(|a| a.state.to_string()))
                })
                .await
            }
            Action::Authorize { cidr, group } => {
                let ep = endpoint()?;
                let net = parse_net(cidr)?;
                let description = owned_description(self.deployment);
                let group = group.as_deref();
                let (how, f, t) = again(&ep, &p.rule);
                self.call(&what, how, f, t, || {
                    c.authorize(&ep, net, group, &description)
                })
                .await
                .or_else(made)?;
                self.wait_rule(&ep, cidr, group, f).await
            }
            Action::WaitRule { cidr, group, .. } => {
                let ep = endpoint()?;
                self.wait_rule(&ep, cidr, group.as_deref(), fresh(&ep))
                    .await
            }
            Action::CreateRoute { cidr, subnet } => {
                let ep = endpoint()?;
                let net = parse_net(cidr)?;
                let description = owned_description(self.deployment);
                let (how, f, t) = again(&ep, &p.route);
                self.call(&what, how, f, t, || {
                    c.create_route(&ep, net, subnet, &description)
                })
                .await
                .or_else(made)?;
                self.wait_route(&ep, cidr, subnet, f).await
            }
            Action::RestoreForeignRoute { cidr, subnet } => {
                let ep = endpoint()?;
                let net = parse_net(cidr)?;
                let (how, f, t) = again(&ep, &p.route);
                self.call(&what, how, f, t, || {
                    c.create_route(&ep, net, subnet, RESTORED_DESCRIPTION)
                })
                .await
                .or_else(made)?;
                self.wait_route(&ep, cidr, subnet, f).await
            }
            Action::WaitRoute { cidr, subnet, .. } => {
                let ep = endpoint()?;
                self.wait_route(&ep, cidr, subnet, fresh(&ep)).await
            }
            Action::RevokeRule { cidr, group } => {
                let ep = endpoint()?;
                let group = group.as_deref();
                let (how, f, t) = again(&ep, &p.rule);
                self.call(&what, how, f, t, || c.revoke_ingress(&ep, cidr, group))
                    .await
                    .or_else(gone)?;
                let what = format!(
                    "revocation of {cidr}{}",
                    group.map(|g| format!(" for group {g}")).unwrap_or_default()
                );
                self.until_gone(&p.rule, &what, || async {
                    let list = c.rules(&ep).await?;
                    Ok(list
                        .iter()
                        .find(|r| &r.cidr == cidr && r.group.as_deref() == group)
                        .map(|r| r.state.to_string()))
                })
                .await
            }
            Action::DeleteRoute { cidr, subnet } => {
                let ep = endpoint()?;
                let (how, f, t) = again(&ep, &p.route);
                self.call(&what, how, f, t, || {
                    c.delete_client_route(&ep, cidr, subnet)
                })
                .await
                .or_else(gone)?;
                let what = format!("deletion of the route {cidr} via {subnet}");
                self.until_gone(&p.route, &what, || async {
                    let list = c.routes(&ep).await?;
                    Ok(list
                        .iter()
                        .find(|r| &r.cidr == cidr && &r.subnet_id == subnet)
                        .map(|r| r.state.to_string()))
                })
                .await
            }
            Action::ImportCrl { .. } => {
                let crl = run.inputs.crl_pem.ok_or_else(|| missing("the PKI's CRL"))?;
                let ep = endpoint()?;
                self.import_crl(&what, &ep, crl, fresh(&ep)).await
            }
            Action::DeleteEndpoint { endpoint: id } => {
                let (how, f, t) = again(id, &p.endpoint);
                self.call(&what, how, f, t, || c.delete_endpoint(id))
                    .await
                    .or_else(gone)?;
                self.until_gone(&p.endpoint, &format!("deletion of {id}"), || async {
                    let all = c.tagged_endpoints(self.deployment).await?;
                    Ok(all
                        .iter()
                        .find(|e| &e.id == id)
                        .map(|e| e.state.to_string()))
                })
                .await?;
                let mut b = lock(bound);
                if b.endpoint.as_ref().is_some_and(|e| &e.id == id) {
                    b.endpoint = None;
                }
                Ok(())
            }
            Action::DeleteCertificate { arn } => {
                // ACM may still see the certificate as in use for a while after the endpoint
                // is gone: retry that, for a bounded time.
                let t = p.certificate_in_use.timeout;
                self.while_in_use(&p.certificate_in_use, &format!("deletion of {arn}"), || {
                    self.call(&what, Call::Again, None, t, || c.delete_certificate(arn))
                })
                .await?;
                let mut b = lock(bound);
                if b.certificate_arn.as_ref() == Some(arn) {
                    b.certificate_arn = None;
                }
                Ok(())
            }
            Action::EndSessions { user, .. } => {
                let ep = endpoint()?;
                let (how, f, t) = again(&ep, &p.endpoint);
                let ended = self
                    .call(&what, how, f, t, || c.terminate_user(&ep, user))
                    .await?;
                lock(bound).ended_sessions.extend(ended);
                Ok(())
            }
            Action::SetNatDeadline { nat, expires } => {
                let tags: Tags = [(TAG_EXPIRES.to_string(), expires.clone())]
                    .into_iter()
                    .collect();
                let (how, f, t) = again(nat, &p.nat);
                Ok(self
                    .call(&what, how, f, t, || c.tag_resource(nat, &tags))
                    .await?)
            }
            Action::AllocateAddress => {
                let tags = tags_for(self.deployment, &format!("{}-nat", self.deployment));
                let a = self
                    .call(&what, Call::Create, None, p.nat.timeout, || {
                        c.allocate_address(&tags)
                    })
                    .await?;
                run.created(&a.allocation_id);
                lock(bound).allocation = Some(a.allocation_id);
                Ok(())
            }
            Action::CreateNatGateway {
                subnet,
                private,
                table,
                replaced,
                expires,
            } => {
                let allocation = lock(bound)
                    .allocation
                    .clone()
                    .ok_or_else(|| missing("an Elastic IP"))?;
                let mut tags = tags_for(self.deployment, &format!("{}-nat", self.deployment));
                tags.insert(TAG_ROUTE_TABLE.into(), table.clone());
                tags.insert(TAG_PRIVATE_SUBNET.into(), private.clone());
                if let Some(r) = replaced {
                    tags.insert(TAG_REPLACED_ROUTE.into(), r.clone());
                }
                if let Some(e) = expires {
                    tags.insert(TAG_EXPIRES.into(), e.clone());
                }
                let f = fresh(&allocation);
                let token = token();
                let n = self
                    .call(&what, Call::Again, f, p.nat.timeout, || {
                        c.create_nat_gateway(subnet, &allocation, &tags, &token)
                    })
                    .await?;
                self.reporter.progress(&format!("  created {}", n.id));
                let id = n.id.clone();
                run.created(&id);
                lock(bound).nat = Some(n);
                let available = self.wait_nat(&id, NatState::Available).await?;
                lock(bound).nat = available;
                Ok(())
            }
            Action::WaitNatGateway { nat } => {
                let available = self.wait_nat(nat, NatState::Available).await?;
                lock(bound).nat = available;
                Ok(())
            }
            Action::SetDefaultRoute { table, replace } => {
                let target = RouteTarget::Nat(nat_id()?);
                let (how, f, t) = again(target.id(), &p.nat);
                let set = self
                    .call(&what, how, f, t, || {
                        c.set_route(table, "0.0.0.0/0", &target, *replace)
                    })
                    .await;
                match set {
                    // A retry after an answer that was lost: the route is there already, to
                    // this NAT gateway (anything else is a route someone else made: refused).
                    Err(e) if e.code() == Some("RouteAlreadyExists") => {
                        let vpc = lock(bound).nat.as_ref().map(|n| n.vpc_id.clone());
                        let tables = match vpc {
                            Some(vpc) => c.route_tables(&vpc).await?,
                            None => Vec::new(),
                        };
                        let ours = tables
                            .iter()
                            .find(|rt| &rt.id == table)
                            .and_then(|rt| rt.default_route())
                            == Some(&target);
                        if ours { Ok(()) } else { Err(e.into()) }
                    }
                    other => Ok(other?),
                }
            }
            Action::RestoreDefaultRoute { table, target } => {
                self.restore_default_route(&what, table, target).await
            }
            Action::RemoveDefaultRoute { table } => Ok(self
                .call(&what, Call::Again, None, p.nat.timeout, || {
                    c.delete_route(table, "0.0.0.0/0")
                })
                .await
                .or_else(gone)?),
            Action::DeleteNatGateway { nat } => {
                self.call(&what, Call::Again, None, p.nat.timeout, || {
                    c.delete_nat_gateway(nat)
                })
                .await
                .or_else(gone)?;
                self.wait_nat(nat, NatState::Deleted).await?;
                let mut b = lock(bound);
                if b.nat.as_ref().is_some_and(|n| &n.id == nat) {
                    b.nat = None;
                }
                Ok(())
            }
            Action::ReleaseAddress { allocation } => {
                // AWS refuses while a NAT gateway (even a deleting one) still holds the address.
                let t = p.address_in_use.timeout;
                let waiting = format!("release of {allocation}");
                self.while_in_use(&p.address_in_use, &waiting, || {
                    self.call(&what, Call::Again, None, t, || {
                        c.release_address(allocation)
                    })
                })
                .await?;
                let mut b = lock(bound);
                if b.allocation.as_ref() == Some(allocation) {
                    b.allocation = None;
                }
                Ok(())
            }
            Action::RecordTtl { ttl } => {
                let ep = endpoint()?;
                let tags: Tags = [(TAG_TTL.to_string(), ttl.clone())].into_iter().collect();
                let (how, f, t) = again(&ep, &p.endpoint);
                self.call(&what, how, f, t, || c.tag_endpoint(&ep, &tags))
                    .await?;
                retagged(bound, &tags);
                Ok(())
            }
            Action::PutSchedulerRole => {
                let (Some(account), Some(region)) = (run.inputs.account, run.inputs.region) else {
                    return Err(missing("the account and region"));
                };
                let tables: Vec<String> = lock(bound)
                    .nat
                    .iter()
                    .filter_map(|n| n.tags.get(TAG_ROUTE_TABLE).cloned())
                    .collect();
                let name = role_name(self.deployment);
                let trust = trust_policy(self.deployment, account, region);
                let policy = role_policy(self.deployment, account, region, &tables);
                let tags = tags_for(self.deployment, &name);
                let arn = self
                    .call(&what, Call::Again, None, p.endpoint.timeout, || {
                        c.put_role(&name, &trust, POLICY_NAME, &policy, &tags)
                    })
                    .await?;
                lock(bound).scheduler_role = Some(arn);
                Ok(())
            }
            Action::CreateScheduleGroup => {
                let group = group_name(self.deployment);
                let tags = tags_for(self.deployment, &group);
                Ok(self
                    .call(&what, Call::Again, None, p.endpoint.timeout, || {
                        c.create_schedule_group(&group, &tags)
                    })
                    .await?)
            }
            Action::ArmDeadline { deadline, at } => self.arm(&what, run, *deadline, *at).await,
            Action::DisarmDeadline { deadline } => {
                let group = group_name(self.deployment);
                let t = p.endpoint.timeout;
                let all = self
                    .call(&what, Call::Again, None, t, || c.schedules(&group))
                    .await?;
                for s in all.iter().filter(|s| Deadline::of(s) == Some(*deadline)) {
                    self.call(&what, Call::Again, None, t, || {
                        c.delete_schedule(&group, &s.name)
                    })
                    .await
                    .or_else(gone)?;
                }
                Ok(())
            }
            Action::MoveDeadline { deadline, from, to } => {
                let to = &not_before_now(*to);
                let group = group_name(self.deployment);
                let t = p.endpoint.timeout;
                let all = self
                    .call(&what, Call::Again, None, t, || c.schedules(&group))
                    .await?;
                for s in all.iter().filter(|s| Deadline::of(s) == Some(*deadline)) {
                    let moved = moved(s, to - from);
                    self.call(&what, Call::Again, None, t, || {
                        c.put_schedule(&group, &moved)
                    })
                    .await?;
                }
                // The NAT gateway's own record of its deadline follows (status reads both).
                if *deadline == Deadline::Nat {
                    let nat = lock(bound).nat.as_ref().map(|n| n.id.clone());
                    if let Some(nat) = nat {
                        let tags: Tags = [(
                            TAG_EXPIRES.to_string(),
                            crate::json::time(*to).unwrap_or_default(),
                        )]
                        .into_iter()
                        .collect();
                        self.call(&what, Call::Again, None, t, || c.tag_resource(&nat, &tags))
                            .await?;
                    }
                }
                lock(bound).deadlines.push((*deadline, *to));
                Ok(())
            }
            Action::DeleteSchedules { .. } => {
                let group = group_name(self.deployment);
                let t = p.endpoint.timeout;
                let all = self
                    .call(&what, Call::Again, None, t, || c.schedules(&group))
                    .await?;
                for s in &all {
                    self.call(&what, Call::Again, None, t, || {
                        c.delete_schedule(&group, &s.name)
                    })
                    .await
                    .or_else(gone)?;
                }
                Ok(self
                    .call(&what, Call::Again, None, t, || {
                        c.delete_schedule_group(&group)
                    })
                    .await
                    .or_else(gone)?)
            }
            Action::PutStateMachines => {
                // Their own role, trusted by Step Functions for these machines only, allowed
                // only what they call.
                let (Some(account), Some(region)) = (run.inputs.account, run.inputs.region) else {
                    return Err(missing("the account and region"));
                };
                let name = states_role_name(self.deployment);
                let trust = states_trust_policy(self.deployment, account, region);
                let policy = states_role_policy(self.deployment, account, region);
                let tags = tags_for(self.deployment, &name);
                let role = self
                    .call(&what, Call::Again, None, p.endpoint.timeout, || {
                        c.put_role(&name, &trust, POLICY_NAME, &policy, &tags)
                    })
                    .await?;
                for m in Machine::ALL {
                    let name = m.name(self.deployment);
                    let tags = tags_for(self.deployment, &name);
                    let definition = m.definition();
                    let arn = self
                        .put_machine(&what, &name, &definition, &role, m.express(), &tags)
                        .await?;
                    lock(bound).machines.insert(m, arn);
                }
                Ok(())
            }
            Action::ArmRecurring { recurring } => self.arm_recurring(&what, run, recurring).await,
            Action::DisarmRecurring { kind } => {
                let group = group_name(self.deployment);
                let t = p.endpoint.timeout;
                let all = self
                    .call(&what, Call::Again, None, t, || c.schedules(&group))
                    .await?;
                for s in all.iter().filter(|s| is_recurring(s, *kind)) {
                    self.call(&what, Call::Again, None, t, || {
                        c.delete_schedule(&group, &s.name)
                    })
                    .await
                    .or_else(gone)?;
                }
                Ok(())
            }
            Action::AdoptEndpoint { tags } => {
                let ep = endpoint()?;
                let (how, f, t) = again(&ep, &p.endpoint);
                self.call(&what, how, f, t, || c.tag_endpoint(&ep, tags))
                    .await?;
                retagged(bound, tags);
                Ok(())
            }
            Action::AdoptCertificate { arn, tags } => {
                let (how, f, t) = again(arn, &p.certificate_in_use);
                self.call(&what, how, f, t, || c.tag_certificate(arn, tags))
                    .await?;
                Ok(())
            }
            Action::DeleteStateMachines { machines } => {
                let t = p.endpoint.timeout;
                for arn in machines {
                    self.call(&what, Call::Again, None, t, || c.delete_state_machine(arn))
                        .await
                        .or_else(gone)?;
                }
                Ok(())
            }
            Action::DeleteSchedulerRole { role } => {
                // The name, from an ARN (`arn:aws:iam::…:role/<path>/<name>`) or as it is.
                let name = role.rsplit('/').next().unwrap_or(role);
                Ok(self
                    .call(&what, Call::Again, None, p.endpoint.timeout, || {
                        c.delete_role(name)
                    })
                    .await
                    .or_else(gone)?)
            }
        }
    }

    /// Arm `deadline` for `at`: its schedules as `plan::sleep_schedules`/`nat_schedules` make
    /// them from what AWS holds now (read right here: the association ids and the NAT gateway
    /// of this moment), created or updated in place, and the deadline's schedules that name
    /// what is gone deleted. Nothing to stop: the deadline is removed.
    async fn arm(
        &self,
        what: &str,
        run: &Run<'_>,
        deadline: Deadline,
        at: i64,
    ) -> Result<(), WaitError> {
        let c = self.cloud;
        let t = self.policies.endpoint.timeout;
        let at = not_before_now(at);
        let group = group_name(self.deployment);
        let role = lock(run.bound)
            .scheduler_role
            .clone()
            .ok_or_else(|| missing("the scheduler role"))?;
        let wanted = match deadline {
            Deadline::Endpoint => {
                let Some(e) = lock(run.bound).endpoint.clone() else {
                    return Err(missing("the endpoint"));
                };
                let fresh = run.fresh(&e.id, self.policies.retry.consistency);
                let id = e.id.as_str();
                let (a, r, o) = tokio::join!(
                    self.call(what, Call::Again, fresh, t, || c.associations(id)),
                    self.call(what, Call::Again, fresh, t, || c.rules(id)),
                    self.call(what, Call::Again, fresh, t, || c.routes(id))
                );
                let view = EndpointView {
                    associations: a?,
                    rules: r?,
                    routes: o?,
                    ..EndpointView::default()
                };
                sleep_schedules(&e, &view, at, &role).map_err(|e| {
                    WaitError::Refused(e.to_string(), "the deadline was not armed".into())
                })?
            }
            Deadline::Nat => {
                let nat = lock(run.bound).nat.clone();
                nat.filter(|n| n.state.is_live())
                    .map(|n| nat_schedules(&n, at, &role))
                    .unwrap_or_default()
            }
        };
        let existing = self
            .call(what, Call::Again, None, t, || c.schedules(&group))
            .await?;
        for s in &wanted {
            self.put_schedule(what, &group, s).await?;
        }
        for s in existing
            .iter()
            .filter(|s| Deadline::of(s) == Some(deadline))
            .filter(|s| !wanted.iter().any(|w| w.name == s.name))
        {
            self.call(what, Call::Again, None, t, || {
                c.delete_schedule(&group, &s.name)
            })
            .await
            .or_else(gone)?;
        }
        if !wanted.is_empty() {
            lock(run.bound).deadlines.push((deadline, at));
        }
        Ok(())
    }

    /// Create or update a state machine; like a schedule, refused for a while right after its
    /// role was made (IAM is eventually consistent: "Neither the global service principal
    /// states.amazonaws.com, nor the regional one is authorized to assume the provided role").
    async fn put_machine(
        &self,
        what: &str,
        name: &str,
        definition: &str,
        role: &str,
        express: bool,
        tags: &Tags,
    ) -> Result<String, WaitError> {
        let start = Instant::now();
        let t = self.policies.endpoint.timeout;
        loop {
            match self
                .call(what, Call::Again, None, t, || {
                    self.cloud
                        .put_state_machine(name, definition, role, express, tags)
                })
                .await
            {
                Err(e)
                    if e.code() == Some("AccessDeniedException")
                        && e.what.contains("assume")
                        && start.elapsed() < ROLE_PROPAGATION =>
                {
                    let next = jittered(self.policies.retry.cap.min(Duration::from_secs(10)));
                    tokio::time::sleep(next).await;
                }
                other => return Ok(other?),
            }
        }
    }

    /// Arm `r`: its schedules as `plan::recurring_schedules` makes them from what AWS holds now
    /// (read right here), created or updated in place. Idle sleep starts its count at zero.
    async fn arm_recurring(
        &self,
        what: &str,
        run: &Run<'_>,
        r: &Recurring,
    ) -> Result<(), WaitError> {
        let c = self.cloud;
        let t = self.policies.endpoint.timeout;
        let group = group_name(self.deployment);
        let (role, machines, e) = {
            let b = lock(run.bound);
            (
                b.scheduler_role.clone(),
                b.machines.clone(),
                b.endpoint.clone(),
            )
        };
        let role = role.ok_or_else(|| missing("the scheduler role"))?;
        let e = e.ok_or_else(|| missing("the endpoint"))?;
        let fresh = run.fresh(&e.id, self.policies.retry.consistency);
        let id = e.id.as_str();
        let (a, rl, o) = tokio::join!(
            self.call(what, Call::Again, fresh, t, || c.associations(id)),
            self.call(what, Call::Again, fresh, t, || c.rules(id)),
            self.call(what, Call::Again, fresh, t, || c.routes(id))
        );
        let view = EndpointView {
            associations: a?,
            rules: rl?,
            routes: o?,
            ..EndpointView::default()
        };
        let arn = |m: Machine| machines.get(&m).cloned().unwrap_or_default();
        if Machine::ALL.iter().any(|m| !machines.contains_key(m)) {
            return Err(missing("the state machines"));
        }
        let wanted = recurring_schedules(self.deployment, r, &e, &view, &role, arn)
            .map_err(|e| WaitError::Refused(e.to_string(), "nothing was armed".into()))?;
        if let Recurring::Idle { .. } = r {
            let zero: Tags = [(TAG_IDLE_CHECKS.to_string(), "0".to_string())]
                .into_iter()
                .collect();
            self.call(what, Call::Again, fresh, t, || c.tag_endpoint(id, &zero))
                .await?;
            retagged(run.bound, &zero);
        }
        for s in &wanted {
            self.put_schedule(what, &group, s).await?;
        }
        lock(run.bound).recurring.push(r.clone());
        Ok(())
    }

    /// Create or update one schedule. Right after its role was created, AWS may refuse it
    /// for a while as if the role did not trust the Scheduler (IAM is eventually consistent):
    /// that answer is retried for `ROLE_PROPAGATION`.
    async fn put_schedule(&self, what: &str, group: &str, s: &Schedule) -> Result<(), WaitError> {
        let start = Instant::now();
        let t = self.policies.endpoint.timeout;
        loop {
            match self
                .call(what, Call::Again, None, t, || {
                    self.cloud.put_schedule(group, s)
                })
                .await
            {
                Err(e)
                    if e.code() == Some("ValidationException")
                        && e.what.contains("assume")
                        && start.elapsed() < ROLE_PROPAGATION =>
                {
                    let next = jittered(self.policies.retry.cap.min(Duration::from_secs(10)));
                    self.reporter.progress(&format!(
                        "  {what}: {e}; the new role may not be known everywhere yet, again in {}",
                        wait::elapsed(next)
                    ));
                    tokio::time::sleep(next).await;
                }
                other => return Ok(other?),
            }
        }
    }

    /// Compared again right before the import: another machine may have given the endpoint
    /// a newer CRL since the plan was made (signatures were checked then). Verified, not
    /// assumed: read back and compared for what it revokes.
    async fn import_crl(
        &self,
        what: &str,
        endpoint: &str,
        crl_pem: &str,
        fresh: Option<Instant>,
    ) -> Result<(), WaitError> {
        let t = self.policies.endpoint.timeout;
        let export = || {
            self.call(what, Call::Again, fresh, t, || {
                self.cloud.export_crl(endpoint)
            })
        };
        let current = export().await?;
        match crate::pki::crl::check_replace(current.as_deref(), crl_pem, "") {
            Ok(crate::pki::crl::Verdict::Same) => return Ok(()),
            Ok(crate::pki::crl::Verdict::Import) => {}
            Err(e) => return Err(WaitError::Refused(e.to_string(), e.hint().to_string())),
        }
        self.call(what, Call::Again, fresh, t, || {
            self.cloud.import_crl(endpoint, crl_pem)
        })
        .await?;
        let back = export().await?;
        crate::pki::crl::revokes_all(back.as_deref(), crl_pem).map_err(|missing| {
            WaitError::Unverified(format!("the CRL read back from {endpoint} lacks {missing}"))
        })
    }

    /// A NAT gateway that is gone (another deployment's, since turned off) would make the
    /// restored route a blackhole: remove ours instead.
    async fn restore_default_route(
        &self,
        what: &str,
        table: &str,
        target: &str,
    ) -> Result<(), WaitError> {
        let c = self.cloud;
        let t = self.policies.nat.timeout;
        let target_route = RouteTarget::from_id(target);
        let dead_nat = match &target_route {
            RouteTarget::Nat(id) => !self
                .call(what, Call::Again, None, t, || c.nat_gateway_state(id))
                .await?
                .is_some_and(|s| s.is_live()),
            _ => false,
        };
        let restored = if dead_nat {
            Err(CloudError::not_found(target.to_string()))
        } else {
            self.call(what, Call::Again, None, t, || {
                c.set_route(table, "0.0.0.0/0", &target_route, true)
            })
            .await
        };
        match restored {
            Ok(()) => Ok(()),
            Err(e) if e.is(Kind::NotFound) => {
                self.reporter.progress(&format!(
                    "  {target} no longer exists: removing the route instead"
                ));
                Ok(self
                    .call(what, Call::Again, None, t, || {
                        c.delete_route(table, "0.0.0.0/0")
                    })
                    .await
                    .or_else(gone)?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Retry `call` while AWS answers "in use", for `policy`'s time; "not found" is done.
    async fn while_in_use<F, Fut>(
        &self,
        policy: &Policy,
        what: &str,
        call: F,
    ) -> Result<(), WaitError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = CloudResult<()>>,
    {
        wait::until(policy, what, self.reporter, || async {
            match call().await {
                Ok(()) => Ok(Probe::Done(())),
                Err(e) if e.is(Kind::NotFound) => Ok(Probe::Done(())),
                Err(e) if e.is(Kind::InUse) => Ok(Probe::Pending("in use".into())),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// Poll until `state` (the resource's state, `None` once it is no longer listed) is None.
    async fn until_gone<F, Fut>(
        &self,
        policy: &Policy,
        what: &str,
        state: F,
    ) -> Result<(), WaitError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = CloudResult<Option<String>>>,
    {
        wait::until(policy, what, self.reporter, || async {
            Ok(match state().await? {
                None => Probe::Done(()),
                Some(s) => Probe::Pending(s),
            })
        })
        .await
    }

    /// A listing of a freshly created endpoint's children: "not found" is AWS catching up.
    fn not_yet<T>(
        listed: CloudResult<Vec<T>>,
        fresh: Option<Instant>,
    ) -> CloudResult<Option<Vec<T>>> {
        match listed {
            Err(e) if e.is(Kind::NotFound) && still(fresh) => Ok(None),
            other => other.map(Some),
        }
    }

    /// Wait for the association of `subnet`: the one `id` names when this step made it, else
    /// the subnet's that is not on its way out (a disassociating twin is not it).
    async fn wait_associated(
        &self,
        endpoint: &str,
        subnet: &str,
        id: Option<&str>,
        fresh: Option<Instant>,
    ) -> Result<(), WaitError> {
        wait::until(
            &self.policies.association,
            &format!("association of {subnet}"),
            self.reporter,
            || async {
                let Some(list) = Self::not_yet(self.cloud.associations(endpoint).await, fresh)?
                else {
                    return Ok(Probe::Pending("not yet visible".into()));
                };
                let ours = list.iter().find(|a| match id {
                    Some(id) => a.id == id,
                    None => a.subnet_id == subnet && a.state != AssociationState::Disassociating,
                });
                Ok(match ours {
                    Some(a) if a.state == AssociationState::Associated => Probe::Done(()),
                    Some(a) if a.state == AssociationState::AssociationFailed => {
                        return Err(failed(
                            "AssociateClientVpnTargetNetwork",
                            format!("AWS failed to associate {subnet}"),
                        ));
                    }
                    Some(a) => Probe::Pending(a.state.to_string()),
                    None => Probe::Pending("not yet listed".into()),
                })
            },
        )
        .await
    }

    async fn wait_rule(
        &self,
        endpoint: &str,
        cidr: &str,
        group: Option<&str>,
        fresh: Option<Instant>,
    ) -> Result<(), WaitError> {
        wait::until(
            &self.policies.rule,
            &format!(
                "authorization of {cidr}{}",
                group.map(|g| format!(" for group {g}")).unwrap_or_default()
            ),
            self.reporter,
            || async {
                let Some(list) = Self::not_yet(self.cloud.rules(endpoint).await, fresh)? else {
                    return Ok(Probe::Pending("not yet visible".into()));
                };
                Ok(
                    match list
                        .iter()
                        .find(|r| r.cidr == cidr && r.group.as_deref() == group)
                    {
                        Some(r) if r.state == RuleState::Active => Probe::Done(()),
                        Some(r) if r.state == RuleState::Failed => {
                            return Err(failed(
                                "AuthorizeClientVpnIngress",
                                format!(
                                    "AWS reports the authorization of {cidr} as failed; revoke it \
                                 in the console and run setup again"
                                ),
                            ));
                        }
                        Some(r) => Probe::Pending(r.state.to_string()),
                        None => Probe::Pending("not yet listed".into()),
                    },
                )
            },
        )
        .await
    }

    async fn wait_route(
        &self,
        endpoint: &str,
        cidr: &str,
        subnet: &str,
        fresh: Option<Instant>,
    ) -> Result<(), WaitError> {
        wait::until(
            &self.policies.route,
            &format!("route {cidr} via {subnet}"),
            self.reporter,
            || async {
                let Some(list) = Self::not_yet(self.cloud.routes(endpoint).await, fresh)? else {
                    return Ok(Probe::Pending("not yet visible".into()));
                };
                let route = list
                    .iter()
                    .find(|r| r.cidr == cidr && r.subnet_id == subnet);
                Ok(match route {
                    Some(r) if r.state == RouteState::Active => Probe::Done(()),
                    Some(r) if r.state == RouteState::Failed => {
                        return Err(failed(
                            "CreateClientVpnRoute",
                            format!(
                                "AWS reports the route {cidr} via {subnet} as failed; delete \
                                 it in the console and run setup again"
                            ),
                        ));
                    }
                    Some(r) => Probe::Pending(r.state.to_string()),
                    None => Probe::Pending("not yet listed".into()),
                })
            },
        )
        .await
    }

    /// Wait until the NAT gateway `id` reaches `target` (available or deleted); a NAT that
    /// no longer shows up counts as deleted. The gateway as last seen. A NAT gateway that
    /// fails is reported with AWS's reason.
    async fn wait_nat(&self, id: &str, target: NatState) -> Result<Option<NatGateway>, WaitError> {
        wait::until(
            &self.policies.nat,
            &format!("NAT gateway {id}"),
            self.reporter,
            || async {
                let all = self.cloud.tagged_nat_gateways(self.deployment).await?;
                Ok(match all.into_iter().find(|n| n.id == id) {
                    None if target == NatState::Deleted => Probe::Done(None),
                    None => Probe::Pending("not yet listed".into()),
                    Some(n) if n.state == target => Probe::Done(Some(n)),
                    // A failed NAT gateway bills nothing and needs no deletion wait.
                    Some(n) if n.state == NatState::Failed && target == NatState::Deleted => {
                        Probe::Done(None)
                    }
                    Some(n) if n.state == NatState::Failed => {
                        let reason = match (&n.failure_code, &n.failure_message) {
                            (Some(c), Some(m)) => format!(": {c}: {m}"),
                            (Some(c), None) => format!(": {c}"),
                            _ => String::new(),
                        };
                        return Err(failed(
                            "CreateNatGateway",
                            format!(
                                "AWS reports the NAT gateway {id} as failed{reason}; `vpnctl \
                                 nat off` removes it and releases its Elastic IP"
                            ),
                        ));
                    }
                    Some(n) => Probe::Pending(n.state.to_string()),
                })
            },
        )
        .await
    }
}

//! Observe and apply. `observe` finds a deployment's resources by tag; the executors run a plan
//! phase by phase, the steps of one phase concurrently (associations, authorization rules and
//! the waits for them need not wait for each other), each step one idempotent attempt that
//! treats "not found" on delete as done and retries "in use" for a bounded time.

use super::cloud::*;
use super::model::*;
use super::plan::*;
use super::wait::{self, Policy, Probe, Reporter, WaitError};
use futures_util::future::{join_all, try_join_all};
use std::time::Duration;

/// Waits, per kind of resource. AWS takes 5–10 minutes to associate a subnet.
#[derive(Debug, Clone, Copy)]
pub struct Policies {
    pub association: Policy,
    pub rule: Policy,
    pub endpoint: Policy,
    pub certificate_in_use: Policy,
    /// NAT gateways take 1–5 minutes to become available or deleted.
    pub nat: Policy,
}

impl Policies {
    /// AWS's waits, every one polled at `interval` when given (tests shrink AWS's minutes to
    /// fractions of a second with it).
    pub fn polling(interval: Option<Duration>) -> Self {
        let mut p = Policies::default();
        if let Some(i) = interval {
            for w in [
                &mut p.association,
                &mut p.rule,
                &mut p.endpoint,
                &mut p.certificate_in_use,
                &mut p.nat,
            ] {
                w.interval = i;
            }
        }
        p
    }
}

impl Default for Policies {
    fn default() -> Self {
        Policies {
            association: Policy::new(Duration::from_secs(10), Duration::from_secs(20 * 60)),
            rule: Policy::new(Duration::from_secs(3), Duration::from_secs(5 * 60)),
            endpoint: Policy::new(Duration::from_secs(5), Duration::from_secs(10 * 60)),
            certificate_in_use: Policy::new(Duration::from_secs(5), Duration::from_secs(3 * 60)),
            nat: Policy::new(Duration::from_secs(10), Duration::from_secs(15 * 60)),
        }
    }
}

/// A step's failure, naming the step.
#[derive(Debug)]
pub struct StepError {
    pub step: String,
    pub error: WaitError,
}

pub async fn observe<C: Certificates + Endpoints + Nat>(
    cloud: &C,
    deployment: &str,
    with_connections: bool,
) -> CloudResult<Observed> {
    let (certificates, endpoints, nats, addresses) = tokio::join!(
        cloud.tagged_certificates(deployment),
        cloud.tagged_endpoints(deployment),
        cloud.tagged_nat_gateways(deployment),
        cloud.tagged_addresses(deployment)
    );
    let (certificates, endpoints, nat_gateways, addresses) =
        (certificates?, endpoints?, nats?, addresses?);
    let mut vpcs: Vec<&str> = nat_gateways
        .iter()
        .map(|n| n.vpc_id.as_str())
        .filter(|v| !v.is_empty())
        .collect();
    vpcs.sort();
    vpcs.dedup();
    let mut route_tables = Vec::new();
    for v in vpcs {
        route_tables.extend(cloud.route_tables(v).await?);
    }
    let views = join_all(endpoints.into_iter().map(|e| async move {
        if e.state == EndpointState::Deleting {
            return Ok(EndpointView {
                endpoint: Some(e),
                ..Default::default()
            });
        }
        let (a, r, t) = tokio::join!(
            cloud.associations(&e.id),
            cloud.rules(&e.id),
            cloud.routes(&e.id)
        );
        let crl = cloud.export_crl(&e.id).await?;
        let connections = if with_connections {
            cloud.connections(&e.id).await?
        } else {
            Vec::new()
        };
        Ok::<_, CloudError>(EndpointView {
            associations: a?,
            rules: r?,
            routes: t?,
            connections,
            crl,
            endpoint: Some(e),
        })
    }))
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    let mut seen = Observed {
        certificates,
        endpoints: views,
        nat_gateways,
        addresses,
        route_tables,
        server_cert_body: None,
    };
    if let Some(c) = seen.server_cert() {
        let arn = c.arn.clone();
        seen.server_cert_body = Some(cloud.certificate_body(&arn).await?);
    }
    Ok(seen)
}

/// What setup leaves behind, for the command layer to report and to write profiles from.
#[derive(Debug, Clone)]
pub struct Applied {
    pub certificate_arn: String,
    pub endpoint: Endpoint,
    pub client_configuration: Option<String>,
}

pub struct Executor<'a, C> {
    pub cloud: &'a C,
    pub policies: Policies,
    pub reporter: &'a dyn Reporter,
    pub deployment: &'a str,
}

enum Outcome {
    None,
    Certificate(String),
    Endpoint(Box<Endpoint>),
    Configuration(String),
}

impl<C: Certificates + Endpoints + Nat> Executor<'_, C> {
    pub async fn setup(
        &self,
        want: &Desired,
        seen: &Observed,
        steps: &[Step],
        upload: &CertUpload,
    ) -> Result<Applied, StepError> {
        let mut arn = seen.server_cert().map(|c| c.arn.clone());
        let mut endpoint = seen
            .endpoints
            .iter()
            .filter_map(|v| v.endpoint.clone())
            .find(|e| e.state != EndpointState::Deleting);
        let mut configuration = None;
        let mut phases: Vec<Phase> = steps.iter().map(|s| s.phase).collect();
        phases.dedup();
        for phase in phases {
            let batch: Vec<&Step> = steps.iter().filter(|s| s.phase == phase).collect();
            // The first failure ends the phase at once (the other steps' waits are dropped;
            // AWS carries on, and a re-run picks up from the tags).
            let (arn_now, endpoint_now) = (arn.as_deref(), endpoint.as_ref());
            let outcomes = try_join_all(batch.iter().map(|s| async move {
                self.setup_step(want, s, upload, arn_now, endpoint_now)
                    .await
                    .map_err(|error| StepError {
                        step: s.action.to_string(),
                        error,
                    })
            }))
            .await?;
            for outcome in outcomes {
                match outcome {
                    Outcome::Certificate(a) => arn = Some(a),
                    Outcome::Endpoint(e) => endpoint = Some(*e),
                    Outcome::Configuration(c) => configuration = Some(c),
                    Outcome::None => {}
                }
            }
        }
        let missing = |what: &str| StepError {
            step: what.to_string(),
            error: WaitError::Cloud(CloudError::NotFound(what.to_string())),
        };
        Ok(Applied {
            certificate_arn: arn.ok_or_else(|| missing("the server certificate"))?,
            endpoint: endpoint.ok_or_else(|| missing("the endpoint"))?,
            client_configuration: configuration,
        })
    }

    async fn setup_step(
        &self,
        want: &Desired,
        step: &Step,
        upload: &CertUpload,
        arn: Option<&str>,
        endpoint: Option<&Endpoint>,
    ) -> Result<Outcome, WaitError> {
        let r = self.reporter;
        // Network steps announce themselves in `network_step`.
        if matches!(
            step.action,
            Action::ImportCertificate { .. }
                | Action::CreateEndpoint
                | Action::ModifyEndpoint { .. }
                | Action::WriteProfiles
        ) {
            r.progress(&format!("→ {}", step.action));
        }
        let ep = || {
            endpoint
                .map(|e| e.id.clone())
                .ok_or_else(|| WaitError::Cloud(CloudError::NotFound("the endpoint".into())))
        };
        match &step.action {
            Action::ImportCertificate { reimport_arn } => {
                let tags = tags_for(self.deployment, &format!("{}-server", self.deployment));
                Ok(Outcome::Certificate(
                    self.cloud
                        .import_certificate(upload, reimport_arn.as_deref(), &tags)
                        .await?,
                ))
            }
            Action::CreateEndpoint => {
                let arn = arn.ok_or_else(|| {
                    WaitError::Cloud(CloudError::NotFound("the server certificate".into()))
                })?;
                let tags = tags_for(self.deployment, self.deployment);
                let e = self
                    .cloud
                    .create_endpoint(&want.endpoint, arn, &tags)
                    .await?;
                r.progress(&format!("  created {}", e.id));
                Ok(Outcome::Endpoint(Box::new(e)))
            }
            Action::ModifyEndpoint { .. } => {
                self.cloud.modify_endpoint(&ep()?, &want.endpoint).await?;
                Ok(Outcome::None)
            }
            Action::WriteProfiles => Ok(Outcome::Configuration(
                self.cloud.export_configuration(&ep()?).await?,
            )),
            other => {
                let id = ep()?;
                self.network_step(&id, other, &want.crl_pem)
                    .await
                    .map(|_| Outcome::None)
            }
        }
    }

    /// The steps that work on an existing endpoint's network side: associations, rules,
    /// routes, the CRL. Shared by setup and wake.
    pub async fn network_step(
        &self,
        endpoint: &str,
        action: &Action,
        crl_pem: &str,
    ) -> Result<(), WaitError> {
        self.reporter.progress(&format!("→ {action}"));
        match action {
            Action::Associate { subnet, .. } => {
                self.cloud.associate(endpoint, subnet).await?;
                self.wait_associated(endpoint, subnet).await
            }
            Action::WaitAssociation { subnet, .. } => self.wait_associated(endpoint, subnet).await,
            Action::Disassociate {
                subnet,
                association,
            } => self.disassociate(endpoint, association, subnet).await,
            Action::Authorize { cidr } => {
                let net = parse_net(cidr)?;
                self.cloud
                    .authorize(endpoint, net, &owned_description(self.deployment))
                    .await?;
                self.wait_rule(endpoint, cidr).await
            }
            Action::WaitRule { cidr, .. } => self.wait_rule(endpoint, cidr).await,
            Action::CreateRoute { cidr, subnet } => {
                let net = parse_net(cidr)?;
                self.cloud
                    .create_route(endpoint, net, subnet, &owned_description(self.deployment))
                    .await?;
                self.wait_route(endpoint, cidr, subnet).await
            }
            Action::WaitRoute { cidr, subnet, .. } => self.wait_route(endpoint, cidr, subnet).await,
            Action::RevokeRule { cidr } => {
                self.cloud.revoke(endpoint, cidr).await.or_else(gone)?;
                wait::until(
                    &self.policies.rule,
                    &format!("revocation of {cidr}"),
                    self.reporter,
                    || async {
                        let list = self.cloud.rules(endpoint).await?;
                        Ok(match list.iter().find(|r| &r.cidr == cidr) {
                            None => Probe::Done(()),
                            Some(r) => Probe::Pending(r.state.to_string()),
                        })
                    },
                )
                .await
            }
            Action::DeleteRoute { cidr, subnet } => {
                self.cloud
                    .delete_client_route(endpoint, cidr, subnet)
                    .await
                    .or_else(gone)?;
                wait::until(
                    &self.policies.rule,
                    &format!("deletion of the route {cidr} via {subnet}"),
                    self.reporter,
                    || async {
                        let list = self.cloud.routes(endpoint).await?;
                        Ok(
                            match list
                                .iter()
                                .find(|r| &r.cidr == cidr && &r.subnet_id == subnet)
                            {
                                None => Probe::Done(()),
                                Some(r) => Probe::Pending(r.state.to_string()),
                            },
                        )
                    },
                )
                .await
            }
            Action::ImportCrl => {
                // Compared again right before the import: another machine may have given the
                // endpoint a newer CRL since the plan was made (signatures were checked then).
                let current = self.cloud.export_crl(endpoint).await?;
                match crate::pki::crl::check_replace(current.as_deref(), crl_pem, "") {
                    Ok(crate::pki::crl::Verdict::Same) => return Ok(()),
                    Ok(crate::pki::crl::Verdict::Import) => {}
                    Err(e) => {
                        return Err(WaitError::Refused(e.to_string(), e.hint().to_string()));
                    }
                }
                self.cloud.import_crl(endpoint, crl_pem).await?;
                // Verified, not assumed: read it back and compare what it revokes.
                let back = self.cloud.export_crl(endpoint).await?;
                match crate::pki::crl::revokes_all(back.as_deref(), crl_pem) {
                    Ok(()) => Ok(()),
                    Err(missing) => Err(WaitError::Unverified(format!(
                        "the CRL read back from {endpoint} lacks {missing}"
                    ))),
                }
            }
            Action::ClearSleepRecord => Ok(self
                .cloud
                .tag_endpoint(endpoint, &cleared_sleep_record())
                .await?),
            Action::ImportCertificate { .. }
            | Action::CreateEndpoint
            | Action::ModifyEndpoint { .. }
            | Action::WriteProfiles => Ok(()),
        }
    }

    async fn wait_associated(&self, endpoint: &str, subnet: &str) -> Result<(), WaitError> {
        wait::until(
            &self.policies.association,
            &format!("association of {subnet}"),
            self.reporter,
            || async {
                let list = self.cloud.associations(endpoint).await?;
                Ok(match list.iter().find(|a| a.subnet_id == subnet) {
                    Some(a) if a.state == AssociationState::Associated => Probe::Done(()),
                    Some(a) if a.state == AssociationState::AssociationFailed => {
                        return Err(CloudError::Api {
                            action: "AssociateClientVpnTargetNetwork".into(),
                            code: "association-failed".into(),
                            message: format!("AWS failed to associate {subnet}"),
                        });
                    }
                    Some(a) => Probe::Pending(a.state.to_string()),
                    None => Probe::Pending("not yet listed".into()),
                })
            },
        )
        .await
    }

    async fn wait_rule(&self, endpoint: &str, cidr: &str) -> Result<(), WaitError> {
        wait::until(
            &self.policies.rule,
            &format!("authorization of {cidr}"),
            self.reporter,
            || async {
                let list = self.cloud.rules(endpoint).await?;
                Ok(match list.iter().find(|r| r.cidr == cidr) {
                    Some(r) if r.state == RuleState::Active => Probe::Done(()),
                    Some(r) if r.state == RuleState::Failed => {
                        return Err(CloudError::Api {
                            action: "AuthorizeClientVpnIngress".into(),
                            code: "failed".into(),
                            message: format!(
                                "AWS reports the authorization of {cidr} as failed; revoke it \
                                 in the console and run setup again"
                            ),
                        });
                    }
                    Some(r) => Probe::Pending(r.state.to_string()),
                    None => Probe::Pending("not yet listed".into()),
                })
            },
        )
        .await
    }

    async fn wait_route(&self, endpoint: &str, cidr: &str, subnet: &str) -> Result<(), WaitError> {
        wait::until(
            &self.policies.rule,
            &format!("route {cidr} via {subnet}"),
            self.reporter,
            || async {
                let list = self.cloud.routes(endpoint).await?;
                let route = list
                    .iter()
                    .find(|r| r.cidr == cidr && r.subnet_id == subnet);
                Ok(match route {
                    Some(r) if r.state == RouteState::Active => Probe::Done(()),
                    Some(r) if r.state == RouteState::Failed => {
                        return Err(CloudError::Api {
                            action: "CreateClientVpnRoute".into(),
                            code: "failed".into(),
                            message: format!(
                                "AWS reports the route {cidr} via {subnet} as failed; delete \
                                 it in the console and run setup again"
                            ),
                        });
                    }
                    Some(r) => Probe::Pending(r.state.to_string()),
                    None => Probe::Pending("not yet listed".into()),
                })
            },
        )
        .await
    }

    async fn disassociate(
        &self,
        endpoint: &str,
        association: &str,
        subnet: &str,
    ) -> Result<(), WaitError> {
        match self.cloud.disassociate(endpoint, association).await {
            Ok(()) | Err(CloudError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        wait::until(
            &self.policies.association,
            &format!("disassociation of {subnet}"),
            self.reporter,
            || async {
                let list = match self.cloud.associations(endpoint).await {
                    Err(CloudError::NotFound(_)) => return Ok(Probe::Done(())),
                    other => other?,
                };
                Ok(match list.iter().find(|a| a.id == association) {
                    None => Probe::Done(()),
                    Some(a) => Probe::Pending(a.state.to_string()),
                })
            },
        )
        .await
    }

    /// Run a teardown plan. With `keep_going`, every step is attempted and all failures are
    /// returned; without, the first failing phase stops it.
    pub async fn teardown(&self, steps: &[TeardownAction], keep_going: bool) -> Vec<StepError> {
        let mut failures = Vec::new();
        for phase in 1..=3u8 {
            let batch: Vec<&TeardownAction> = steps.iter().filter(|s| s.phase() == phase).collect();
            let results = join_all(batch.iter().map(|s| self.teardown_step(s))).await;
            for (s, r) in batch.iter().zip(results) {
                if let Err(error) = r {
                    failures.push(StepError {
                        step: s.to_string(),
                        error,
                    });
                }
            }
            if !failures.is_empty() && !keep_going {
                break;
            }
        }
        failures
    }

    async fn teardown_step(&self, step: &TeardownAction) -> Result<(), WaitError> {
        self.reporter.progress(&format!("→ {step}"));
        match step {
            TeardownAction::RestoreRoute { table, target } => {
                // A NAT gateway that is gone (another deployment's, since turned off) would
                // make the restored route a blackhole: remove ours instead.
                let target_route = RouteTarget::from_id(target);
                if let RouteTarget::Nat(id) = &target_route
                    && !self
                        .cloud
                        .nat_gateway_state(id)
                        .await?
                        .is_some_and(|s| s.is_live())
                {
                    self.reporter.progress(&format!(
                        "  {target} no longer exists: removing the route instead"
                    ));
                    return Ok(self
                        .cloud
                        .delete_route(table, "0.0.0.0/0")
                        .await
                        .or_else(gone)?);
                }
                match self
                    .cloud
                    .set_route(table, "0.0.0.0/0", &target_route, true)
                    .await
                {
                    Ok(()) => Ok(()),
                    // The old target is gone (e.g. another deployment's NAT gateway, since
                    // deleted): a route to it would be a blackhole, so remove ours instead.
                    Err(CloudError::NotFound(_)) => {
                        self.reporter.progress(&format!(
                            "  {target} no longer exists: removing the route instead"
                        ));
                        Ok(self
                            .cloud
                            .delete_route(table, "0.0.0.0/0")
                            .await
                            .or_else(gone)?)
                    }
                    Err(e) => Err(e.into()),
                }
            }
            TeardownAction::DeleteRoute { table } => Ok(self
                .cloud
                .delete_route(table, "0.0.0.0/0")
                .await
                .or_else(gone)?),
            TeardownAction::DeleteNatGateway { id } => {
                self.cloud.delete_nat_gateway(id).await.or_else(gone)?;
                self.wait_nat(id, NatState::Deleted).await
            }
            TeardownAction::ReleaseAddress { allocation } => {
                // AWS refuses while a NAT gateway (even a deleting one) still holds the address.
                wait::until(
                    &self.policies.certificate_in_use,
                    &format!("release of {allocation}"),
                    self.reporter,
                    || async {
                        match self.cloud.release_address(allocation).await {
                            Ok(()) | Err(CloudError::NotFound(_)) => Ok(Probe::Done(())),
                            Err(CloudError::InUse(_)) => {
                                Ok(Probe::Pending("in use by a NAT gateway".into()))
                            }
                            Err(e) => Err(e),
                        }
                    },
                )
                .await
            }
            TeardownAction::Disassociate {
                endpoint,
                association,
                subnet,
            } => self.disassociate(endpoint, association, subnet).await,
            TeardownAction::DeleteEndpoint { endpoint } => {
                match self.cloud.delete_endpoint(endpoint).await {
                    Ok(()) | Err(CloudError::NotFound(_)) => {}
                    Err(e) => return Err(e.into()),
                }
                wait::until(
                    &self.policies.endpoint,
                    &format!("deletion of {endpoint}"),
                    self.reporter,
                    || async {
                        let all = self.cloud.tagged_endpoints(self.deployment).await?;
                        Ok(match all.iter().find(|e| &e.id == endpoint) {
                            None => Probe::Done(()),
                            Some(e) => Probe::Pending(e.state.to_string()),
                        })
                    },
                )
                .await
            }
            TeardownAction::DeleteCertificate { arn } => {
                // ACM may still see the certificate as in use for a while after the endpoint
                // is gone: retry that, for a bounded time.
                wait::until(
                    &self.policies.certificate_in_use,
                    &format!("deletion of {arn}"),
                    self.reporter,
                    || async {
                        match self.cloud.delete_certificate(arn).await {
                            Ok(()) | Err(CloudError::NotFound(_)) => Ok(Probe::Done(())),
                            Err(CloudError::InUse(_)) => Ok(Probe::Pending("in use".into())),
                            Err(e) => Err(e),
                        }
                    },
                )
                .await
            }
        }
    }
}

/// A CIDR from a plan step (the planner made it from a parsed one, so this only fails on a bug).
fn parse_net(cidr: &str) -> Result<ipnet::Ipv4Net, WaitError> {
    cidr.parse().map_err(|_| {
        WaitError::Cloud(CloudError::Api {
            action: "plan".into(),
            code: "BadCidr".into(),
            message: cidr.to_string(),
        })
    })
}

/// "Not found" on a delete means done.
fn gone(e: CloudError) -> CloudResult<()> {
    match e {
        CloudError::NotFound(_) => Ok(()),
        other => Err(other),
    }
}

/// What `nat on` leaves behind.
#[derive(Debug, Clone)]
pub struct NatApplied {
    pub nat: Option<NatGateway>,
}

impl<C: Certificates + Endpoints + Nat> Executor<'_, C> {
    /// Wait until the NAT gateway `id` reaches `target` (available or deleted); a NAT that
    /// no longer shows up counts as deleted.
    async fn wait_nat(&self, id: &str, target: NatState) -> Result<(), WaitError> {
        wait::until(
            &self.policies.nat,
            &format!("NAT gateway {id}"),
            self.reporter,
            || async {
                let all = self.cloud.tagged_nat_gateways(self.deployment).await?;
                Ok(match all.iter().find(|n| n.id == id) {
                    None if target == NatState::Deleted => Probe::Done(()),
                    None => Probe::Pending("not yet listed".into()),
                    Some(n) if n.state == target => Probe::Done(()),
                    // A failed NAT gateway bills nothing and needs no deletion wait.
                    Some(n) if n.state == NatState::Failed && target == NatState::Deleted => {
                        Probe::Done(())
                    }
                    Some(n) if n.state == NatState::Failed => {
                        return Err(CloudError::Api {
                            action: "CreateNatGateway".into(),
                            code: "failed".into(),
                            message: format!("AWS reports the NAT gateway {id} as failed"),
                        });
                    }
                    Some(n) => Probe::Pending(n.state.to_string()),
                })
            },
        )
        .await
    }

    pub async fn nat_on(
        &self,
        want: &NatWant,
        seen: &Observed,
        steps: &[NatAction],
        expires_tag: Option<String>,
    ) -> Result<NatApplied, StepError> {
        let mut allocation = seen
            .addresses
            .iter()
            .find(|a| a.association_id.is_none())
            .map(|a| a.allocation_id.clone());
        let mut nat = seen
            .nat_gateways
            .iter()
            .find(|n| n.state.is_live())
            .cloned();
        // A new --ttl on a NAT that is already on moves its deadline.
        if let (Some(n), Some(e)) = (&nat, &expires_tag)
            && n.tags.get(TAG_EXPIRES) != Some(e)
        {
            let tags: Tags = [(TAG_EXPIRES.to_string(), e.clone())].into_iter().collect();
            self.cloud
                .tag_resource(&n.id, &tags)
                .await
                .map_err(|e| StepError {
                    step: format!("set the new --ttl on {}", n.id),
                    error: e.into(),
                })?;
        }
        for step in steps {
            self.reporter.progress(&format!("→ {step}"));
            let fail = |error: WaitError| StepError {
                step: step.to_string(),
                error,
            };
            match step {
                NatAction::AllocateAddress => {
                    let tags = tags_for(self.deployment, &format!("{}-nat", self.deployment));
                    allocation = Some(
                        self.cloud
                            .allocate_address(&tags)
                            .await
                            .map_err(|e| fail(e.into()))?
                            .allocation_id,
                    );
                }
                NatAction::CreateNatGateway { subnet, replaced } => {
                    let alloc = allocation
                        .clone()
                        .ok_or_else(|| fail(CloudError::NotFound("an Elastic IP".into()).into()))?;
                    let mut tags = tags_for(self.deployment, &format!("{}-nat", self.deployment));
                    tags.insert(TAG_ROUTE_TABLE.into(), want.table.id.clone());
                    tags.insert(TAG_PRIVATE_SUBNET.into(), want.private.id.clone());
                    if let Some(r) = replaced {
                        tags.insert(TAG_REPLACED_ROUTE.into(), r.clone());
                    }
                    if let Some(e) = &expires_tag {
                        tags.insert(TAG_EXPIRES.into(), e.clone());
                    }
                    let n = self
                        .cloud
                        .create_nat_gateway(subnet, &alloc, &tags)
                        .await
                        .map_err(|e| fail(e.into()))?;
                    self.reporter.progress(&format!("  created {}", n.id));
                    nat = Some(n);
                }
                NatAction::WaitAvailable { .. } => {
                    let id = nat.as_ref().map(|n| n.id.clone()).ok_or_else(|| {
                        fail(CloudError::NotFound("the NAT gateway".into()).into())
                    })?;
                    self.wait_nat(&id, NatState::Available)
                        .await
                        .map_err(fail)?;
                }
                NatAction::SetRoute { table, replace } => {
                    let id = nat.as_ref().map(|n| n.id.clone()).ok_or_else(|| {
                        fail(CloudError::NotFound("the NAT gateway".into()).into())
                    })?;
                    self.cloud
                        .set_route(table, "0.0.0.0/0", &RouteTarget::Nat(id), *replace)
                        .await
                        .map_err(|e| fail(e.into()))?;
                }
            }
        }
        Ok(NatApplied { nat })
    }
}

impl<C: Certificates + Endpoints + Nat> Executor<'_, C> {
    /// Run network steps on an existing endpoint, phase by phase, the steps of a phase
    /// concurrently (wake).
    pub async fn run_network(
        &self,
        endpoint: &str,
        steps: &[Step],
        crl_pem: &str,
    ) -> Result<(), StepError> {
        let mut phases: Vec<Phase> = steps.iter().map(|s| s.phase).collect();
        phases.dedup();
        for phase in phases {
            let batch: Vec<&Step> = steps.iter().filter(|s| s.phase == phase).collect();
            try_join_all(batch.iter().map(|s| async move {
                self.network_step(endpoint, &s.action, crl_pem)
                    .await
                    .map_err(|error| StepError {
                        step: s.action.to_string(),
                        error,
                    })
            }))
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The executor against the stateful fake cloud (`aws::fake`) under tokio's paused clock:
    //! AWS's minutes of associating, deleting and NAT creation pass at once, and every test
    //! asserts on what the cloud holds afterwards.
    use super::*;
    use crate::aws::fake::FakeCloud;
    use ipnet::Ipv4Net;
    use std::sync::Mutex;
    use tokio::time::Instant;

    const CERT: &str = "-----BEGIN CERTIFICATE-----\nU0VSVkVS\n-----END CERTIFICATE-----\n";
    const CA: &str = "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n";
    const CRL: &str = "-----BEGIN X509 CRL-----\nQ1JM\n-----END X509 CRL-----\n";
    const VPC_CIDR: &str = "10.0.0.0/16";

    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl Reporter for Recorder {
        fn progress(&self, line: &str) {
            self.0.lock().expect("recorder").push(line.to_string());
        }
    }

    fn executor<'a>(cloud: &'a FakeCloud, reporter: &'a Recorder) -> Executor<'a, FakeCloud> {
        Executor {
            cloud,
            policies: Policies::default(),
            reporter,
            deployment: "lab",
        }
    }

    async fn desired(cloud: &FakeCloud, full_tunnel: bool) -> Desired {
        let vpc = cloud.find_vpc("lab-vpc").await.expect("vpc");
        let mut subnets = Vec::new();
        for s in ["subnet-a", "subnet-b"] {
            subnets.push(cloud.find_subnet(s).await.expect("subnet"));
        }
        let mut authorize: Vec<Ipv4Net> = vec![VPC_CIDR.parse().expect("cidr")];
        if full_tunnel {
            authorize.push("0.0.0.0/0".parse().expect("cidr"));
        }
        Desired {
            deployment: "lab".into(),
            endpoint: EndpointSpec {
                name: "lab".into(),
                client_cidr: "10.83.0.0/16".parse().expect("cidr"),
                vpc_id: vpc.id.clone(),
                split_tunnel: !full_tunnel,
                dns_servers: vec!["10.0.0.2".parse().expect("ip")],
                transport: Transport::Udp,
                port: 443,
                security_groups: vec![],
                description: "vpnctl lab".into(),
                log_group: None,
            },
            vpc,
            subnets,
            authorize,
            full_tunnel,
            server_cert_pem: CERT.into(),
            crl_pem: CRL.into(),
            ca_pem: CA.into(),
        }
    }

    fn upload() -> CertUpload {
        CertUpload {
            cert_pem: CERT.into(),
            key_pem: "(no key: the fake cloud keeps what it is given and never reads it)".into(),
            chain_pem: CA.into(),
        }
    }

    /// Observe, plan and run setup once.
    async fn setup(cloud: &FakeCloud, want: &Desired) -> Result<Applied, StepError> {
        let r = Recorder::default();
        let seen = observe(cloud, "lab", false).await.expect("observe");
        let steps = plan_setup(want, &seen).expect("plan");
        executor(cloud, &r)
            .setup(want, &seen, &steps, &upload())
            .await
    }

    async fn replan(cloud: &FakeCloud, want: &Desired) -> Vec<Action> {
        let seen = observe(cloud, "lab", false).await.expect("observe");
        plan_setup(want, &seen)
            .expect("plan")
            .into_iter()
            .map(|s| s.action)
            .collect()
    }

    async fn nat_want(cloud: &FakeCloud, force: bool) -> NatWant {
        let private = cloud.find_subnet("subnet-a").await.expect("subnet");
        let subnets = cloud.subnets_of("vpc-1").await.expect("subnets");
        let tables = cloud.route_tables("vpc-1").await.expect("tables");
        NatWant {
            public: infer_public(&private, &subnets, &tables).expect("public subnet"),
            table: table_of(&private, &tables).expect("table").clone(),
            private,
            expires: None,
            force,
        }
    }

    async fn nat_on(cloud: &FakeCloud, force: bool) -> Result<NatApplied, StepError> {
        let r = Recorder::default();
        let want = nat_want(cloud, force).await;
        let seen = observe(cloud, "lab", false).await.expect("observe");
        let steps = plan_nat_on(&want, &seen).expect("plan");
        executor(cloud, &r).nat_on(&want, &seen, &steps, None).await
    }

    /// A whole deployment: endpoint with two associations, rule, CRL, and a NAT gateway.
    async fn deployed(cloud: &FakeCloud) {
        let want = desired(cloud, false).await;
        setup(cloud, &want).await.expect("setup");
        nat_on(cloud, false).await.expect("nat on");
    }

    fn default_route(cloud: &FakeCloud, table: &str) -> Option<RouteTarget> {
        cloud
            .world()
            .table(table)
            .and_then(|t| t.default_route().cloned())
    }

    #[tokio::test(start_paused = true)]
    async fn setup_from_nothing_converges_and_a_second_plan_changes_nothing() {
        for full_tunnel in [false, true] {
            let cloud = FakeCloud::lab();
            let want = desired(&cloud, full_tunnel).await;
            let start = Instant::now();
            let applied = setup(&cloud, &want).await.expect("setup");
            // It waited for AWS rather than returning with associations still associating.
            assert!(start.elapsed() >= cloud.delays.association);
            {
                let w = cloud.world();
                assert_eq!(w.endpoints.len(), 1, "one endpoint");
                let e = &w.endpoints[0];
                assert_eq!(e.endpoint.id, applied.endpoint.id);
                assert_eq!(e.endpoint.state, EndpointState::Available);
                assert!(is_ours(&e.endpoint.tags, "lab"));
                for s in ["subnet-a", "subnet-b"] {
                    assert_eq!(
                        e.association_of(s).map(|a| a.state.state.clone()),
                        Some(AssociationState::Associated),
                        "{s}"
                    );
                }
                for cidr in &want.authorize {
                    let rule = e.rule(&cidr.to_string()).expect("rule");
                    assert_eq!(rule.state.state, RuleState::Active, "{cidr}");
                    assert_eq!(rule.description, owned_description("lab"));
                }
                let full: Vec<_> = e
                    .routes
                    .iter()
                    .filter(|r| r.cidr == "0.0.0.0/0" && r.origin == "add-route")
                    .map(|r| (r.subnet.as_str(), r.state.state.clone()))
                    .collect();
                if full_tunnel {
                    assert_eq!(
                        full,
                        [
                            ("subnet-a", RouteState::Active),
                            ("subnet-b", RouteState::Active)
                        ]
                    );
                } else {
                    assert!(full.is_empty(), "{full:?}");
                }
                assert_eq!(e.crl.as_deref(), Some(CRL));
                assert_eq!(w.certificates.len(), 1);
                assert_eq!(w.certificates[0].arn, applied.certificate_arn);
                assert_eq!(w.certificates[0].body, CERT);
                assert!(
                    applied
                        .client_configuration
                        .as_deref()
                        .is_some_and(|c| c.contains(&e.endpoint.id) && c.contains(CA.trim())),
                    "{:?}",
                    applied.client_configuration
                );
            }
            // Converged: nothing left to change, only the profiles to write again.
            assert_eq!(
                replan(&cloud, &want).await,
                [Action::WriteProfiles],
                "full_tunnel={full_tunnel}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn setup_runs_the_steps_of_a_phase_concurrently() {
        let cloud = FakeCloud::lab();
        let want = desired(&cloud, false).await;
        let start = Instant::now();
        let applied = setup(&cloud, &want).await.expect("setup");
        let w = cloud.world();
        let e = w.endpoint(&applied.endpoint.id).expect("endpoint");
        let associated = |s: &str| {
            let a = e.association_of(s).expect("association");
            w.when(&a.id, "associated").expect("associated")
        };
        // Both associations were under way together: they finished within one association
        // delay of each other, and the whole setup took less than two delays.
        let (a, b) = (associated("subnet-a"), associated("subnet-b"));
        let apart = if a > b { a - b } else { b - a };
        assert!(apart < cloud.delays.association, "{apart:?}");
        assert!(start.elapsed() < cloud.delays.association * 2);
        // Two associations with their VPC routes, and the rule.
        assert!(w.peak_in_flight >= 5, "{}", w.peak_in_flight);
    }

    #[tokio::test(start_paused = true)]
    async fn an_injected_failure_surfaces_as_a_step_error_naming_the_step() {
        let cloud = FakeCloud::lab();
        let want = desired(&cloud, false).await;
        cloud.fail_next(
            "AuthorizeClientVpnIngress",
            1,
            CloudError::Api {
                action: "AuthorizeClientVpnIngress".into(),
                code: "InternalError".into(),
                message: "An internal error has occurred".into(),
            },
        );
        let e = setup(&cloud, &want)
            .await
            .expect_err("the fault fails setup");
        assert_eq!(e.step, format!("authorize access to {VPC_CIDR}"));
        match &e.error {
            WaitError::Cloud(CloudError::Api { code, .. }) => assert_eq!(code, "InternalError"),
            other => panic!("expected the injected error, got {other:?}"),
        }
        // The faulted call changed nothing: the endpoint exists, the rule does not.
        {
            let w = cloud.world();
            assert_eq!(w.endpoints.len(), 1);
            assert!(w.endpoints[0].rule(VPC_CIDR).is_none());
        }
        // Running again continues where it stopped and converges.
        assert!(replan(&cloud, &want).await.contains(&Action::Authorize {
            cidr: VPC_CIDR.into()
        }));
        setup(&cloud, &want).await.expect("second setup");
        assert_eq!(replan(&cloud, &want).await, [Action::WriteProfiles]);
        assert_eq!(cloud.world().endpoints.len(), 1, "no second endpoint");
    }

    #[tokio::test(start_paused = true)]
    async fn teardown_removes_everything_in_the_order_aws_requires() {
        let cloud = FakeCloud::lab();
        deployed(&cloud).await;
        let (endpoint, associations, nat, allocation) = {
            let w = cloud.world();
            let e = &w.endpoints[0];
            (
                e.endpoint.id.clone(),
                e.associations
                    .iter()
                    .map(|a| a.id.clone())
                    .collect::<Vec<_>>(),
                w.nat_gateways[0].gateway.id.clone(),
                w.addresses[0].address.allocation_id.clone(),
            )
        };
        assert_eq!(associations.len(), 2);
        let r = Recorder::default();
        let seen = observe(&cloud, "lab", false).await.expect("observe");
        let failures = executor(&cloud, &r)
            .teardown(&plan_teardown(&seen), false)
            .await;
        assert!(failures.is_empty(), "{failures:?}");
        let w = cloud.world();
        assert!(w.endpoints.is_empty(), "{:?}", w.endpoints);
        assert!(w.certificates.is_empty());
        assert_eq!(
            w.nat(&nat).map(|n| n.state.state.clone()),
            Some(NatState::Deleted)
        );
        assert!(w.addresses.is_empty(), "{:?}", w.addresses);
        drop(w);
        assert_eq!(default_route(&cloud, "rtb-main"), None);
        // The order, from when things went: the endpoint's deletion (which AWS refuses while
        // associations exist) began only once every association was gone, and the Elastic IP
        // was released only once the NAT gateway was deleted.
        let w = cloud.world();
        let endpoint_gone = w.when(&endpoint, "gone").expect("endpoint gone");
        for a in &associations {
            let gone = w.when(a, "gone").expect("association gone");
            assert!(
                gone + cloud.delays.endpoint_deletion <= endpoint_gone,
                "{a} gone at {gone:?}, endpoint at {endpoint_gone:?}"
            );
        }
        let nat_deleted = w.when(&nat, "deleted").expect("NAT deleted");
        let released = w.when(&allocation, "released").expect("EIP released");
        assert!(nat_deleted <= released);
        assert!(
            w.when(&seen.certificates[0].arn, "gone")
                .expect("cert gone")
                >= endpoint_gone
        );
    }

    #[tokio::test(start_paused = true)]
    async fn release_waits_while_a_deleting_nat_gateway_holds_the_address() {
        let cloud = FakeCloud::lab();
        let applied = nat_on(&cloud, false).await.expect("nat on");
        let nat = applied.nat.expect("a NAT gateway").id;
        let allocation = cloud.world().addresses[0].address.allocation_id.clone();
        // Deleting, not deleted: AWS refuses to release the address until it is.
        cloud.delete_nat_gateway(&nat).await.expect("delete");
        let start = Instant::now();
        let r = Recorder::default();
        let failures = executor(&cloud, &r)
            .teardown(
                &[TeardownAction::ReleaseAddress {
                    allocation: allocation.clone(),
                }],
                false,
            )
            .await;
        assert!(failures.is_empty(), "{failures:?}");
        let w = cloud.world();
        assert!(w.address(&allocation).is_none(), "released");
        let deleted = w.when(&nat, "deleted").expect("NAT deleted");
        assert!(deleted <= w.when(&allocation, "released").expect("released"));
        assert!(start.elapsed() >= cloud.delays.nat_deletion);
    }

    fn route_fault() -> CloudError {
        CloudError::Api {
            action: "DeleteRoute".into(),
            code: "InternalError".into(),
            message: "An internal error has occurred".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn without_keep_going_teardown_stops_after_the_failing_phase() {
        let cloud = FakeCloud::lab();
        deployed(&cloud).await;
        cloud.fail_next("DeleteRoute", 1, route_fault());
        let r = Recorder::default();
        let seen = observe(&cloud, "lab", false).await.expect("observe");
        let failures = executor(&cloud, &r)
            .teardown(&plan_teardown(&seen), false)
            .await;
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert_eq!(
            failures[0].step,
            "remove the 0.0.0.0/0 route to the NAT gateway from rtb-main"
        );
        let w = cloud.world();
        // Phase 1 ran all its steps: the disassociations are done.
        assert!(w.endpoints[0].associations.is_empty());
        // Phases 2 and 3 did not run.
        assert!(w.endpoints[0].deleting.is_none(), "endpoint left alone");
        assert_eq!(w.nat_gateways[0].state.state, NatState::Available);
        assert_eq!(w.addresses.len(), 1);
        assert_eq!(w.certificates.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn with_keep_going_teardown_attempts_every_step_after_a_failure() {
        let cloud = FakeCloud::lab();
        deployed(&cloud).await;
        let nat = cloud.world().nat_gateways[0].gateway.id.clone();
        cloud.fail_next("DeleteRoute", 1, route_fault());
        let r = Recorder::default();
        let seen = observe(&cloud, "lab", false).await.expect("observe");
        let failures = executor(&cloud, &r)
            .teardown(&plan_teardown(&seen), true)
            .await;
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert_eq!(
            failures[0].step,
            "remove the 0.0.0.0/0 route to the NAT gateway from rtb-main"
        );
        let w = cloud.world();
        assert!(w.endpoints.is_empty());
        assert!(w.certificates.is_empty());
        assert_eq!(
            w.nat(&nat).map(|n| n.state.state.clone()),
            Some(NatState::Deleted)
        );
        assert!(w.addresses.is_empty());
        drop(w);
        // Only the failed step's work is left: the route to the (now deleted) NAT gateway.
        assert_eq!(
            default_route(&cloud, "rtb-main"),
            Some(RouteTarget::Nat(nat))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn nat_on_then_nat_off_round_trip() {
        let cloud = FakeCloud::lab();
        let applied = nat_on(&cloud, false).await.expect("nat on");
        let nat = applied.nat.expect("a NAT gateway");
        {
            let w = cloud.world();
            assert_eq!(w.nat_gateways.len(), 1);
            let n = &w.nat_gateways[0];
            assert_eq!(n.gateway.id, nat.id);
            assert_eq!(n.state.state, NatState::Available);
            assert_eq!(n.gateway.subnet_id, "subnet-pub");
            assert_eq!(
                n.gateway.tags.get(TAG_PRIVATE_SUBNET).map(String::as_str),
                Some("subnet-a")
            );
            assert_eq!(
                n.gateway.tags.get(TAG_ROUTE_TABLE).map(String::as_str),
                Some("rtb-main")
            );
            assert_eq!(w.addresses.len(), 1);
            assert_eq!(w.addresses[0].holder.as_deref(), Some(nat.id.as_str()));
        }
        assert_eq!(
            default_route(&cloud, "rtb-main"),
            Some(RouteTarget::Nat(nat.id.clone()))
        );
        // On is on: a second plan does nothing.
        let want = nat_want(&cloud, false).await;
        let seen = observe(&cloud, "lab", false).await.expect("observe");
        assert_eq!(plan_nat_on(&want, &seen).expect("plan"), []);

        let steps = plan_nat_off(&seen);
        let r = Recorder::default();
        let failures = executor(&cloud, &r).teardown(&steps, false).await;
        assert!(failures.is_empty(), "{failures:?}");
        {
            let w = cloud.world();
            assert_eq!(
                w.nat(&nat.id).map(|n| n.state.state.clone()),
                Some(NatState::Deleted)
            );
            assert!(w.addresses.is_empty(), "EIP released");
        }
        assert_eq!(default_route(&cloud, "rtb-main"), None);
        // Off is off.
        let seen = observe(&cloud, "lab", false).await.expect("observe");
        assert_eq!(plan_nat_off(&seen), []);
    }

    #[tokio::test(start_paused = true)]
    async fn nat_on_force_then_nat_off_restores_the_replaced_route() {
        let cloud = FakeCloud::lab();
        cloud
            .set_route(
                "rtb-main",
                "0.0.0.0/0",
                &RouteTarget::TransitGateway("tgw-1".into()),
                false,
            )
            .await
            .expect("route");
        let nat = nat_on(&cloud, true)
            .await
            .expect("nat on --force")
            .nat
            .expect("a NAT gateway");
        assert_eq!(
            default_route(&cloud, "rtb-main"),
            Some(RouteTarget::Nat(nat.id.clone()))
        );
        let seen = observe(&cloud, "lab", false).await.expect("observe");
        let r = Recorder::default();
        let failures = executor(&cloud, &r)
            .teardown(&plan_nat_off(&seen), false)
            .await;
        assert!(failures.is_empty(), "{failures:?}");
        assert_eq!(
            default_route(&cloud, "rtb-main"),
            Some(RouteTarget::TransitGateway("tgw-1".into()))
        );
        assert!(cloud.world().addresses.is_empty());
    }
}

//! One step: its cloud calls and the wait for AWS's transition. The only place a mutating
//! method of the cloud traits is called.

use super::super::cloud::*;
use super::super::model::*;
use super::super::plan::*;
use super::super::wait::{self, Policy, Probe, WaitError};
use super::{Executor, Inputs, Ran, missing};
use std::sync::{Mutex, MutexGuard};

fn lock(bound: &Mutex<Ran>) -> MutexGuard<'_, Ran> {
    bound.lock().unwrap_or_else(|p| p.into_inner())
}

/// "Not found" on a delete means done.
fn gone(e: CloudError) -> CloudResult<()> {
    if e.is(Kind::NotFound) { Ok(()) } else { Err(e) }
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

impl<C: Certificates + Endpoints + Nat> Executor<'_, C> {
    pub(super) async fn step(
        &self,
        step: &Step,
        inputs: &Inputs<'_>,
        bound: &Mutex<Ran>,
    ) -> Result<(), WaitError> {
        self.reporter.progress(&format!("→ {step}"));
        let endpoint = || match &step.endpoint {
            Some(id) => Ok(id.clone()),
            None => lock(bound).endpoint_id(),
        };
        let spec = || {
            inputs
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
        let c = self.cloud;
        match &step.action {
            Action::RecordSleep { record } => Ok(c.tag_endpoint(&endpoint()?, record).await?),
            Action::ClearSleepRecord => Ok(c
                .tag_endpoint(&endpoint()?, &cleared_sleep_record())
                .await?),
            Action::ImportCertificate { reimport_arn } => {
                let upload = inputs
                    .upload
                    .ok_or_else(|| missing("the server certificate"))?;
                let tags = tags_for(self.deployment, &format!("{}-server", self.deployment));
                let arn = c
                    .import_certificate(upload, reimport_arn.as_deref(), &tags)
                    .await?;
                lock(bound).certificate_arn = Some(arn);
                Ok(())
            }
            Action::CreateEndpoint => {
                let arn = lock(bound)
                    .certificate_arn
                    .clone()
                    .ok_or_else(|| missing("the server certificate"))?;
                let tags = tags_for(self.deployment, self.deployment);
                let e = c.create_endpoint(spec()?, &arn, &tags).await?;
                self.reporter.progress(&format!("  created {}", e.id));
                lock(bound).endpoint = Some(e);
                Ok(())
            }
            Action::ModifyEndpoint { .. } => Ok(c.modify_endpoint(&endpoint()?, spec()?).await?),
            Action::WriteProfiles => {
                let config = c.export_configuration(&endpoint()?).await?;
                lock(bound).client_configuration = Some(config);
                Ok(())
            }
            Action::Associate { subnet, .. } => {
                let ep = endpoint()?;
                c.associate(&ep, subnet).await?;
                self.wait_associated(&ep, subnet).await
            }
            Action::WaitAssociation { subnet, .. } => {
                self.wait_associated(&endpoint()?, subnet).await
            }
            Action::Disassociate {
                subnet,
                association,
            } => self.disassociate(&endpoint()?, association, subnet).await,
            Action::Authorize { cidr } => {
                let ep = endpoint()?;
                let net = parse_net(cidr)?;
                c.authorize(&ep, net, &owned_description(self.deployment))
                    .await?;
                self.wait_rule(&ep, cidr).await
            }
            Action::WaitRule { cidr, .. } => self.wait_rule(&endpoint()?, cidr).await,
            Action::CreateRoute { cidr, subnet } => {
                let ep = endpoint()?;
                let net = parse_net(cidr)?;
                c.create_route(&ep, net, subnet, &owned_description(self.deployment))
                    .await?;
                self.wait_route(&ep, cidr, subnet).await
            }
            Action::WaitRoute { cidr, subnet, .. } => {
                self.wait_route(&endpoint()?, cidr, subnet).await
            }
            Action::RevokeRule { cidr } => {
                let ep = endpoint()?;
                c.revoke_ingress(&ep, cidr).await.or_else(gone)?;
                self.until_gone(
                    &self.policies.rule,
                    &format!("revocation of {cidr}"),
                    || {
                        let ep = ep.clone();
                        async move {
                            let list = c.rules(&ep).await?;
                            Ok(list
                                .iter()
                                .find(|r| &r.cidr == cidr)
                                .map(|r| r.state.to_string()))
                        }
                    },
                )
                .await
            }
            Action::DeleteRoute { cidr, subnet } => {
                let ep = endpoint()?;
                c.delete_client_route(&ep, cidr, subnet)
                    .await
                    .or_else(gone)?;
                let what = format!("deletion of the route {cidr} via {subnet}");
                self.until_gone(&self.policies.rule, &what, || {
                    let ep = ep.clone();
                    async move {
                        let list = c.routes(&ep).await?;
                        Ok(list
                            .iter()
                            .find(|r| &r.cidr == cidr && &r.subnet_id == subnet)
                            .map(|r| r.state.to_string()))
                    }
                })
                .await
            }
            Action::ImportCrl { .. } => {
                let crl = inputs.crl_pem.ok_or_else(|| missing("the PKI's CRL"))?;
                self.import_crl(&endpoint()?, crl).await
            }
            Action::DeleteEndpoint { endpoint: id } => {
                c.delete_endpoint(id).await.or_else(gone)?;
                self.until_gone(
                    &self.policies.endpoint,
                    &format!("deletion of {id}"),
                    || async move {
                        let all = c.tagged_endpoints(self.deployment).await?;
                        Ok(all
                            .iter()
                            .find(|e| &e.id == id)
                            .map(|e| e.state.to_string()))
                    },
                )
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
                self.while_in_use(&format!("deletion of {arn}"), "in use", || {
                    c.delete_certificate(arn)
                })
                .await?;
                let mut b = lock(bound);
                if b.certificate_arn.as_ref() == Some(arn) {
                    b.certificate_arn = None;
                }
                Ok(())
            }
            Action::EndSessions { user, .. } => {
                let ended = c.terminate_user(&endpoint()?, user).await?;
                lock(bound).ended_sessions.extend(ended);
                Ok(())
            }
            Action::SetNatDeadline { nat, expires } => {
                let tags: Tags = [(TAG_EXPIRES.to_string(), expires.clone())]
                    .into_iter()
                    .collect();
                Ok(c.tag_resource(nat, &tags).await?)
            }
            Action::AllocateAddress => {
                let tags = tags_for(self.deployment, &format!("{}-nat", self.deployment));
                let a = c.allocate_address(&tags).await?;
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
                let n = c.create_nat_gateway(subnet, &allocation, &tags).await?;
                self.reporter.progress(&format!("  created {}", n.id));
                let id = n.id.clone();
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
            Action::SetDefaultRoute { table, replace } => Ok(c
                .set_route(table, "0.0.0.0/0", &RouteTarget::Nat(nat_id()?), *replace)
                .await?),
            Action::RestoreDefaultRoute { table, target } => {
                self.restore_default_route(table, target).await
            }
            Action::RemoveDefaultRoute { table } => {
                Ok(c.delete_route(table, "0.0.0.0/0").await.or_else(gone)?)
            }
            Action::DeleteNatGateway { nat } => {
                c.delete_nat_gateway(nat).await.or_else(gone)?;
                self.wait_nat(nat, NatState::Deleted).await?;
                let mut b = lock(bound);
                if b.nat.as_ref().is_some_and(|n| &n.id == nat) {
                    b.nat = None;
                }
                Ok(())
            }
            Action::ReleaseAddress { allocation } => {
                // AWS refuses while a NAT gateway (even a deleting one) still holds the address.
                self.while_in_use(
                    &format!("release of {allocation}"),
                    "in use by a NAT gateway",
                    || c.release_address(allocation),
                )
                .await?;
                let mut b = lock(bound);
                if b.allocation.as_ref() == Some(allocation) {
                    b.allocation = None;
                }
                Ok(())
            }
        }
    }

    /// Compared again right before the import: another machine may have given the endpoint
    /// a newer CRL since the plan was made (signatures were checked then). Verified, not
    /// assumed: read back and compared for what it revokes.
    async fn import_crl(&self, endpoint: &str, crl_pem: &str) -> Result<(), WaitError> {
        let current = self.cloud.export_crl(endpoint).await?;
        match crate::pki::crl::check_replace(current.as_deref(), crl_pem, "") {
            Ok(crate::pki::crl::Verdict::Same) => return Ok(()),
            Ok(crate::pki::crl::Verdict::Import) => {}
            Err(e) => return Err(WaitError::Refused(e.to_string(), e.hint().to_string())),
        }
        self.cloud.import_crl(endpoint, crl_pem).await?;
        let back = self.cloud.export_crl(endpoint).await?;
        crate::pki::crl::revokes_all(back.as_deref(), crl_pem).map_err(|missing| {
            WaitError::Unverified(format!("the CRL read back from {endpoint} lacks {missing}"))
        })
    }

    /// A NAT gateway that is gone (another deployment's, since turned off) would make the
    /// restored route a blackhole: remove ours instead.
    async fn restore_default_route(&self, table: &str, target: &str) -> Result<(), WaitError> {
        let c = self.cloud;
        let target_route = RouteTarget::from_id(target);
        let dead_nat = match &target_route {
            RouteTarget::Nat(id) => !c.nat_gateway_state(id).await?.is_some_and(|s| s.is_live()),
            _ => false,
        };
        let restored = if dead_nat {
            Err(CloudError::not_found(target.to_string()))
        } else {
            c.set_route(table, "0.0.0.0/0", &target_route, true).await
        };
        match restored {
            Ok(()) => Ok(()),
            Err(e) if e.is(Kind::NotFound) => {
                self.reporter.progress(&format!(
                    "  {target} no longer exists: removing the route instead"
                ));
                Ok(c.delete_route(table, "0.0.0.0/0").await.or_else(gone)?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Retry `call` while AWS answers "in use", for the certificate policy's time; "not
    /// found" is done.
    async fn while_in_use<F, Fut>(
        &self,
        what: &str,
        pending: &str,
        call: F,
    ) -> Result<(), WaitError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = CloudResult<()>>,
    {
        wait::until(
            &self.policies.certificate_in_use,
            what,
            self.reporter,
            || async {
                match call().await {
                    Ok(()) => Ok(Probe::Done(())),
                    Err(e) if e.is(Kind::NotFound) => Ok(Probe::Done(())),
                    Err(e) if e.is(Kind::InUse) => Ok(Probe::Pending(pending.into())),
                    Err(e) => Err(e),
                }
            },
        )
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
                        return Err(CloudError::api(
                            "AssociateClientVpnTargetNetwork",
                            "association-failed",
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

    async fn disassociate(
        &self,
        endpoint: &str,
        association: &str,
        subnet: &str,
    ) -> Result<(), WaitError> {
        self.cloud
            .disassociate(endpoint, association)
            .await
            .or_else(gone)?;
        let what = format!("disassociation of {subnet}");
        self.until_gone(&self.policies.association, &what, || async {
            let list = match self.cloud.associations(endpoint).await {
                Err(e) if e.is(Kind::NotFound) => return Ok(None),
                other => other?,
            };
            Ok(list
                .iter()
                .find(|a| a.id == association)
                .map(|a| a.state.to_string()))
        })
        .await
    }

    /// Wait until the NAT gateway `id` reaches `target` (available or deleted); a NAT that
    /// no longer shows up counts as deleted. The gateway as last seen.
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
                        return Err(failed(
                            "CreateNatGateway",
                            format!("AWS reports the NAT gateway {id} as failed"),
                        ));
                    }
                    Some(n) => Probe::Pending(n.state.to_string()),
                })
            },
        )
        .await
    }
}

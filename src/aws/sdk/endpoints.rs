//! `Endpoints`: the Client VPN endpoint, its associations, rules, routes, connections
//! and CRL.

use super::*;
use aws_sdk_ec2 as ec2;
use ipnet::Ipv4Net;

impl Endpoints for AwsCloud {
    async fn tagged_endpoints(&self, deployment: &str) -> CloudResult<Vec<Endpoint>> {
        // DescribeClientVpnEndpoints has no tag filters: filter here.
        let mut all = self.region_endpoints().await?;
        all.retain(|e| is_ours(&e.tags, deployment));
        Ok(all)
    }

    async fn endpoints_in_region(&self) -> CloudResult<usize> {
        Ok(self.region_endpoints().await?.len())
    }

    async fn create_endpoint(
        &self,
        spec: &EndpointSpec,
        server_cert_arn: &str,
        tags: &Tags,
        token: &str,
    ) -> CloudResult<Endpoint> {
        use ec2::types::*;
        let logs = ConnectionLogOptions::builder()
            .enabled(spec.log_group.is_some())
            .set_cloudwatch_log_group(spec.log_group.clone())
            .build();
        let o = &spec.options;
        let mut req = self
            .ec2_once
            .create_client_vpn_endpoint()
            .client_cidr_block(spec.client_cidr.to_string())
            .server_certificate_arn(server_cert_arn)
            .set_authentication_options(Some(
                (spec.certificates != Some(false))
                    .then(|| {
                        ClientVpnAuthenticationRequest::builder()
                            .r#type(ClientVpnAuthenticationType::CertificateAuthentication)
                            .mutual_authentication(
                                CertificateAuthenticationRequest::builder()
                                    .client_root_certificate_chain_arn(server_cert_arn)
                                    .build(),
                            )
                            .build()
                    })
                    .into_iter()
                    .chain(user_auth_request(spec.user_auth.as_ref()))
                    .collect(),
            ))
            .set_session_timeout_hours(o.session_timeout_hours.map(i32::from))
            .set_disconnect_on_session_timeout(o.disconnect_on_session_timeout)
            .set_client_login_banner_options(
                o.banner.as_ref().map(|b| banner_options(b.as_deref())),
            )
            .set_client_route_enforcement_options(
                o.client_route_enforcement
                    .map(|e| ClientRouteEnforcementOptions::builder().enforced(e).build()),
            )
            .set_self_service_portal(
                spec.user_auth
                    .as_ref()
                    .map(|_| portal(o.self_service_portal == Some(true))),
            )
            .connection_log_options(logs)
            .transport_protocol(if spec.transport == Transport::Tcp {
                TransportProtocol::Tcp
            } else {
                TransportProtocol::Udp
            })
            .vpn_port(i32::from(spec.port))
            .description(&spec.description)
            .split_tunnel(spec.split_tunnel)
            .vpc_id(&spec.vpc_id)
            .client_token(token)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::ClientVpnEndpoint)
                    .set_tags(Some(ec2_tags(tags)))
                    .build(),
            );
        for d in &spec.dns_servers {
            req = req.dns_servers(d.to_string());
        }
        for sg in &spec.security_groups {
            req = req.security_group_ids(sg);
        }
        let out = req
            .send()
            .await
            .map_err(|e| classify("CreateClientVpnEndpoint", "the endpoint", e))?;
        let id = required(
            out.client_vpn_endpoint_id(),
            "CreateClientVpnEndpoint",
            "ClientVpnEndpointId",
        )?;
        Ok(Endpoint {
            id,
            state: out
                .status()
                .and_then(|s| s.code())
                .map(|c| c.as_str().into())
                .unwrap_or(EndpointState::PendingAssociate),
            dns_name: out.dns_name().map(str::to_string),
            client_cidr: Some(spec.client_cidr),
            vpc_id: Some(spec.vpc_id.clone()),
            split_tunnel: spec.split_tunnel,
            dns_servers: spec.dns_servers.iter().map(|d| d.to_string()).collect(),
            transport: Some(spec.transport),
            port: Some(spec.port),
            security_groups: spec.security_groups.clone(),
            description: Some(spec.description.clone()),
            server_cert_arn: Some(server_cert_arn.to_string()),
            log_group: spec.log_group.clone(),
            options: spec.options.observed(),
            user_auth: spec.observed_auth(),
            certificates: spec.certificates != Some(false),
            created: Some(time::OffsetDateTime::now_utc().unix_timestamp()),
            tags: tags.clone(),
        })
    }

    async fn modify_endpoint(&self, id: &str, spec: &EndpointSpec) -> CloudResult<()> {
        let dns = ec2::types::DnsServersOptionsModifyStructure::builder()
            .enabled(!spec.dns_servers.is_empty())
            .set_custom_dns_servers(Some(
                spec.dns_servers.iter().map(|d| d.to_string()).collect(),
            ))
            .build();
        let mut req = self
            .ec2_once
            .modify_client_vpn_endpoint()
            .client_vpn_endpoint_id(id)
            .split_tunnel(spec.split_tunnel)
            .dns_servers(dns)
            .vpn_port(i32::from(spec.port))
            .description(&spec.description)
            .connection_log_options(
                ec2::types::ConnectionLogOptions::builder()
                    .enabled(spec.log_group.is_some())
                    .set_cloudwatch_log_group(spec.log_group.clone())
                    .build(),
            );
        if !spec.security_groups.is_empty() {
            req = req
                .vpc_id(&spec.vpc_id)
                .set_security_group_ids(Some(spec.security_groups.clone()));
        }
        let o = &spec.options;
        // Only what setup was given: the rest stays as the endpoint has it. The portal only
        // for SAML (vpnctl offers it there alone, and never switches off one it did not set).
        let saml = matches!(spec.user_auth, Some(UserAuth::Saml { .. }));
        req.set_session_timeout_hours(o.session_timeout_hours.map(i32::from))
            .set_disconnect_on_session_timeout(o.disconnect_on_session_timeout)
            .set_client_login_banner_options(
                o.banner.as_ref().map(|b| banner_options(b.as_deref())),
            )
            .set_client_route_enforcement_options(o.client_route_enforcement.map(|e| {
                ec2::types::ClientRouteEnforcementOptions::builder()
                    .enforced(e)
                    .build()
            }))
            .set_self_service_portal(o.self_service_portal.filter(|_| saml).map(portal))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("ModifyClientVpnEndpoint", id, e))
    }

    async fn delete_endpoint(&self, id: &str) -> CloudResult<()> {
        self.ec2_once
            .delete_client_vpn_endpoint()
            .client_vpn_endpoint_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("DeleteClientVpnEndpoint", id, e))
    }

    async fn associations(&self, endpoint: &str) -> CloudResult<Vec<Association>> {
        let all = self
            .ec2
            .describe_client_vpn_target_networks()
            .client_vpn_endpoint_id(endpoint)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("DescribeClientVpnTargetNetworks", endpoint, e))?;
        Ok(all
            .iter()
            .map(|t| Association {
                id: t.association_id().unwrap_or_default().to_string(),
                subnet_id: t.target_network_id().unwrap_or_default().to_string(),
                state: t
                    .status()
                    .and_then(|s| s.code())
                    .map(|c| c.as_str().into())
                    .unwrap_or_default(),
            })
            .filter(|a| a.state != AssociationState::Disassociated)
            .collect())
    }

    async fn associate(
        &self,
        endpoint: &str,
        subnet: &str,
        token: &str,
    ) -> CloudResult<Association> {
        let out = self
            .ec2_once
            .associate_client_vpn_target_network()
            .client_vpn_endpoint_id(endpoint)
            .subnet_id(subnet)
            .client_token(token)
            .send()
            .await
            .map_err(|e| classify("AssociateClientVpnTargetNetwork", subnet, e))?;
        Ok(Association {
            id: required(
                out.association_id(),
                "AssociateClientVpnTargetNetwork",
                "AssociationId",
            )?,
            subnet_id: subnet.to_string(),
            state: out
                .status()
                .and_then(|s| s.code())
                .map(|c| c.as_str().into())
                .unwrap_or(AssociationState::Associating),
        })
    }

    async fn disassociate(&self, endpoint: &str, association: &str) -> CloudResult<()> {
        self.ec2_once
            .disassociate_client_vpn_target_network()
            .client_vpn_endpoint_id(endpoint)
            .association_id(association)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("DisassociateClientVpnTargetNetwork", association, e))
    }

    async fn rules(&self, endpoint: &str) -> CloudResult<Vec<AuthRule>> {
        let all = self
            .ec2
            .describe_client_vpn_authorization_rules()
            .client_vpn_endpoint_id(endpoint)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("DescribeClientVpnAuthorizationRules", endpoint, e))?;
        Ok(all
            .iter()
            .map(|r| AuthRule {
                cidr: r.destination_cidr().unwrap_or_default().to_string(),
                group: r
                    .group_id()
                    .filter(|g| !g.is_empty() && r.access_all() != Some(true))
                    .map(str::to_string),
                description: r.description().map(str::to_string),
                state: r
                    .status()
                    .and_then(|s| s.code())
                    .map(|c| c.as_str().into())
                    .unwrap_or_default(),
            })
            .collect())
    }

    async fn authorize(
        &self,
        endpoint: &str,
        cidr: Ipv4Net,
        group: Option<&str>,
        description: &str,
    ) -> CloudResult<()> {
        let req = self
            .ec2_once
            .authorize_client_vpn_ingress()
            .client_vpn_endpoint_id(endpoint)
            .target_network_cidr(cidr.to_string());
        let req = match group {
            Some(g) => req.access_group_id(g),
            None => req.authorize_all_groups(true),
        };
        match req
            .description(description)
            .client_token(token())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("InvalidClientVpnDuplicateAuthorizationRule") => Ok(()),
            Err(e) => Err(classify("AuthorizeClientVpnIngress", &cidr.to_string(), e)),
        }
    }

    async fn routes(&self, endpoint: &str) -> CloudResult<Vec<Route>> {
        let all = self
            .ec2
            .describe_client_vpn_routes()
            .client_vpn_endpoint_id(endpoint)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("DescribeClientVpnRoutes", endpoint, e))?;
        Ok(all
            .iter()
            .map(|r| Route {
                cidr: r.destination_cidr().unwrap_or_default().to_string(),
                description: r.description().map(str::to_string),
                subnet_id: r.target_subnet().unwrap_or_default().to_string(),
                origin: r.origin().unwrap_or_default().to_string(),
                state: r
                    .status()
                    .and_then(|s| s.code())
                    .map(|c| c.as_str().into())
                    .unwrap_or_default(),
            })
            .collect())
    }

    async fn create_route(
        &self,
        endpoint: &str,
        cidr: Ipv4Net,
        subnet: &str,
        description: &str,
    ) -> CloudResult<()> {
        match self
            .ec2_once
            .create_client_vpn_route()
            .client_vpn_endpoint_id(endpoint)
            .destination_cidr_block(cidr.to_string())
            .target_vpc_subnet_id(subnet)
            .description(description)
            .client_token(token())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("InvalidClientVpnDuplicateRoute") => Ok(()),
            Err(e) => Err(classify("CreateClientVpnRoute", &cidr.to_string(), e)),
        }
    }

    async fn export_configuration(&self, endpoint: &str) -> CloudResult<String> {
        let out = self
            .ec2
            .export_client_vpn_client_configuration()
            .client_vpn_endpoint_id(endpoint)
            .send()
            .await
            .map_err(|e| classify("ExportClientVpnClientConfiguration", endpoint, e))?;
        Ok(out.client_configuration().unwrap_or_default().to_string())
    }

    async fn connections(&self, endpoint: &str) -> CloudResult<Vec<Connection>> {
        let all = self
            .ec2
            .describe_client_vpn_connections()
            .client_vpn_endpoint_id(endpoint)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("DescribeClientVpnConnections", endpoint, e))?;
        Ok(all
            .iter()
            .map(|c| Connection {
                id: c.connection_id().unwrap_or_default().to_string(),
                username: c
                    .common_name()
                    .or(c.username())
                    .filter(|u| !u.is_empty())
                    .map(str::to_string),
                client_ip: c.client_ip().map(str::to_string),
                state: c
                    .status()
                    .and_then(|s| s.code())
                    .map(|s| s.as_str().into())
                    .unwrap_or_default(),
                established: c.connection_established_time().map(str::to_string),
                ingress_bytes: c.ingress_bytes().map(str::to_string),
                egress_bytes: c.egress_bytes().map(str::to_string),
            })
            .collect())
    }

    async fn revoke_ingress(
        &self,
        endpoint: &str,
        cidr: &str,
        group: Option<&str>,
    ) -> CloudResult<()> {
        let req = self
            .ec2_once
            .revoke_client_vpn_ingress()
            .client_vpn_endpoint_id(endpoint)
            .target_network_cidr(cidr);
        let req = match group {
            Some(g) => req.access_group_id(g),
            None => req.revoke_all_groups(true),
        };
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| classify("RevokeClientVpnIngress", cidr, e))
    }

    async fn delete_client_route(
        &self,
        endpoint: &str,
        cidr: &str,
        subnet: &str,
    ) -> CloudResult<()> {
        self.ec2_once
            .delete_client_vpn_route()
            .client_vpn_endpoint_id(endpoint)
            .destination_cidr_block(cidr)
            .target_vpc_subnet_id(subnet)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("DeleteClientVpnRoute", cidr, e))
    }

    async fn terminate_user(&self, endpoint: &str, username: &str) -> CloudResult<Vec<String>> {
        // Terminating "by Username" only matches directory/SAML users: with certificate
        // authentication the user is the certificate's CommonName, so end each connection by id.
        let live: Vec<String> = self
            .connections(endpoint)
            .await?
            .into_iter()
            .filter(|c| {
                c.state == ConnectionState::Active && c.username.as_deref() == Some(username)
            })
            .map(|c| c.id)
            .collect();
        for id in &live {
            match self
                .ec2_once
                .terminate_client_vpn_connections()
                .client_vpn_endpoint_id(endpoint)
                .connection_id(id)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if e.code() == Some("InvalidClientVpnConnection.IdNotFound") => {}
                Err(e) => return Err(classify("TerminateClientVpnConnections", id, e)),
            }
        }
        Ok(live)
    }

    async fn import_crl(&self, endpoint: &str, crl_pem: &str) -> CloudResult<()> {
        self.ec2_once
            .import_client_vpn_client_certificate_revocation_list()
            .client_vpn_endpoint_id(endpoint)
            .certificate_revocation_list(crl_pem)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                classify(
                    "ImportClientVpnClientCertificateRevocationList",
                    endpoint,
                    e,
                )
            })
    }

    async fn export_crl(&self, endpoint: &str) -> CloudResult<Option<String>> {
        let out = self
            .ec2
            .export_client_vpn_client_certificate_revocation_list()
            .client_vpn_endpoint_id(endpoint)
            .send()
            .await
            .map_err(|e| {
                classify(
                    "ExportClientVpnClientCertificateRevocationList",
                    endpoint,
                    e,
                )
            })?;
        Ok(out
            .certificate_revocation_list()
            .filter(|c| !c.trim().is_empty())
            .map(str::to_string))
    }

    async fn tag_endpoint(&self, endpoint: &str, tags: &Tags) -> CloudResult<()> {
        self.create_tags(endpoint, tags).await
    }
}

/// The user-based sign-in AWS combines with the certificate, as a request option.
fn user_auth_request(
    auth: Option<&UserAuth>,
) -> Option<ec2::types::ClientVpnAuthenticationRequest> {
    use ec2::types::*;
    let b = ClientVpnAuthenticationRequest::builder();
    Some(match auth? {
        UserAuth::Saml { provider_arn, .. } => b
            .r#type(ClientVpnAuthenticationType::FederatedAuthentication)
            .federated_authentication(
                FederatedAuthenticationRequest::builder()
                    .saml_provider_arn(provider_arn)
                    .build(),
            )
            .build(),
        UserAuth::Directory { directory_id } => b
            .r#type(ClientVpnAuthenticationType::DirectoryServiceAuthentication)
            .active_directory(
                DirectoryServiceAuthenticationRequest::builder()
                    .directory_id(directory_id)
                    .build(),
            )
            .build(),
    })
}

/// The self-service portal's setting (sent only with a user-based sign-in: AWS offers no
/// portal without one).
fn portal(on: bool) -> ec2::types::SelfServicePortal {
    if on {
        ec2::types::SelfServicePortal::Enabled
    } else {
        ec2::types::SelfServicePortal::Disabled
    }
}

fn banner_options(banner: Option<&str>) -> ec2::types::ClientLoginBannerOptions {
    ec2::types::ClientLoginBannerOptions::builder()
        .enabled(banner.is_some())
        .set_banner_text(banner.map(str::to_string))
        .build()
}

impl AwsCloud {
    /// Every Client VPN endpoint of the region not yet deleted, whoever made it.
    async fn region_endpoints(&self) -> CloudResult<Vec<Endpoint>> {
        let all = self
            .ec2
            .describe_client_vpn_endpoints()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("DescribeClientVpnEndpoints", "Client VPN endpoints", e))?;
        Ok(all
            .iter()
            .map(endpoint_of)
            .filter(|e| e.state != EndpointState::Deleted)
            .collect())
    }
}

//! The AWS SDK adapter: implements the cloud traits with aws-sdk-ec2 and aws-sdk-acm. The only
//! module that touches SDK types, and the only place SDK errors become `CloudError`s.

use super::cloud::*;
use super::model::*;
use aws_sdk_acm as acm;
use aws_sdk_ec2 as ec2;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::error::display::DisplayErrorContext;
use ipnet::Ipv4Net;

#[derive(Clone, Debug)]
pub struct AwsCloud {
    ec2: ec2::Client,
    acm: acm::Client,
    sts: aws_sdk_sts::Client,
}

impl AwsCloud {
    pub fn new(config: &aws_config::SdkConfig) -> AwsCloud {
        use super::trace::CallLog;
        AwsCloud {
            ec2: ec2::Client::from_conf(
                ec2::config::Builder::from(config)
                    .interceptor(CallLog)
                    .build(),
            ),
            acm: acm::Client::from_conf(
                acm::config::Builder::from(config)
                    .interceptor(CallLog)
                    .build(),
            ),
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(config)
                    .interceptor(CallLog)
                    .build(),
            ),
        }
    }

    /// The names of every vpnctl deployment with a billable resource in the region: endpoints
    /// (DescribeClientVpnEndpoints has no tag filter), NAT gateways and Elastic IPs (tag-key
    /// filter). Three listing calls whatever the account holds.
    pub async fn tagged_deployments(&self) -> CloudResult<std::collections::BTreeSet<String>> {
        let key = || {
            ec2::types::Filter::builder()
                .name("tag-key")
                .values(TAG_DEPLOYMENT)
                .build()
        };
        let (endpoints, nats, addresses) = tokio::join!(
            self.ec2
                .describe_client_vpn_endpoints()
                .into_paginator()
                .items()
                .send()
                .try_collect(),
            self.ec2
                .describe_nat_gateways()
                .filter(key())
                .into_paginator()
                .items()
                .send()
                .try_collect(),
            self.ec2.describe_addresses().filters(key()).send()
        );
        let endpoints = endpoints
            .map_err(|e| classify("DescribeClientVpnEndpoints", "Client VPN endpoints", e))?;
        let nats = nats.map_err(|e| classify("DescribeNatGateways", "NAT gateways", e))?;
        let addresses = addresses.map_err(|e| classify("DescribeAddresses", "Elastic IPs", e))?;
        let mut names = std::collections::BTreeSet::new();
        let mut add = |tags: &Tags| {
            if let Some(d) = tags.get(TAG_DEPLOYMENT)
                && is_ours(tags, d)
            {
                names.insert(d.clone());
            }
        };
        for e in endpoints
            .iter()
            .map(endpoint_of)
            .filter(|e| e.state != EndpointState::Deleted)
        {
            add(&e.tags);
        }
        for n in nats
            .iter()
            .map(nat_of)
            .filter(|n| n.state != NatState::Deleted)
        {
            add(&n.tags);
        }
        for a in addresses.addresses() {
            add(&from_ec2_tags(a.tags()));
        }
        Ok(names)
    }

    /// The account the credentials belong to (STS GetCallerIdentity).
    pub async fn account_id(&self) -> CloudResult<String> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| classify("GetCallerIdentity", "the caller", e))?;
        out.account()
            .map(str::to_string)
            .ok_or_else(|| CloudError::Api {
                action: "GetCallerIdentity".into(),
                code: "MissingAccount".into(),
                message: "the answer names no account".into(),
            })
    }

    async fn create_tags(&self, id: &str, tags: &Tags) -> CloudResult<()> {
        self.ec2
            .create_tags()
            .resources(id)
            .set_tags(Some(ec2_tags(tags)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("CreateTags", id, e))
    }
}

/// A field AWS always sends in a successful answer to `action`: its absence is an error that
/// names the call, never an empty id that a later call would fail on obscurely.
fn required(value: Option<&str>, action: &str, field: &str) -> CloudResult<String> {
    value
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .ok_or_else(|| CloudError::Api {
            action: action.to_string(),
            code: "MissingField".into(),
            message: format!("the answer to {action} has no {field}"),
        })
}

/// Classify an SDK error. EC2 models no error types, so the code string is the only handle.
fn classify<E, R>(action: &str, what: &str, e: SdkError<E, R>) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match &e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            let detail = DisplayErrorContext(&e).to_string();
            if detail.contains("credentials") || detail.contains("identity") {
                return CloudError::NoCredentials(detail);
            }
            return CloudError::Unreachable(detail);
        }
        SdkError::ConstructionFailure(_) => {
            let detail = DisplayErrorContext(&e).to_string();
            return if detail.contains("credentials") || detail.contains("identity") {
                CloudError::NoCredentials(detail)
            } else {
                CloudError::Unreachable(detail)
            };
        }
        _ => {}
    }
    let code = e.code().unwrap_or("Unknown").to_string();
    let message = e.message().unwrap_or("").to_string();
    if code.contains("NotFound") || code == "ResourceNotFoundException" {
        CloudError::NotFound(what.to_string())
    } else if code == "ResourceInUseException" || code == "DependencyViolation" {
        CloudError::InUse(what.to_string())
    } else if code.contains("Throttl") || code == "RequestLimitExceeded" {
        CloudError::Throttled(message)
    } else if code.contains("AuthFailure") && message.contains("credentials")
        || code == "UnrecognizedClientException"
        || code == "InvalidClientTokenId"
    {
        CloudError::NoCredentials(format!("{code}: {message}"))
    } else {
        CloudError::Api {
            action: action.to_string(),
            code,
            message,
        }
    }
}

fn ec2_tags(tags: &Tags) -> Vec<ec2::types::Tag> {
    tags.iter()
        .map(|(k, v)| ec2::types::Tag::builder().key(k).value(v).build())
        .collect()
}

fn from_ec2_tags(tags: &[ec2::types::Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect()
}

fn name_of(tags: &[ec2::types::Tag]) -> Option<String> {
    tags.iter()
        .find(|t| t.key() == Some("Name"))
        .and_then(|t| t.value())
        .map(str::to_string)
}

fn token() -> String {
    let mut b = [0u8; 16];
    let _ = crate::fsx::random(&mut b);
    format!("vpnctl-{}", crate::fsx::hex(&b))
}

/// EC2's Client VPN times are "YYYY-MM-DDTHH:MM:SS" (UTC) or RFC 3339.
pub fn parse_aws_time(s: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t.unix_timestamp());
    }
    // "2026-11-26T10:00:00" (endpoints) or "2026-11-26 10:00:00" (connections), UTC.
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let trimmed = s
        .trim()
        .split('.')
        .next()
        .unwrap_or(s)
        .trim_end_matches('Z')
        .replacen(' ', "T", 1);
    time::PrimitiveDateTime::parse(&trimmed, fmt)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

fn endpoint_of(e: &ec2::types::ClientVpnEndpoint) -> Endpoint {
    Endpoint {
        id: e.client_vpn_endpoint_id().unwrap_or_default().to_string(),
        state: e
            .status()
            .and_then(|s| s.code())
            .map(|c| c.as_str().into())
            .unwrap_or_default(),
        dns_name: e.dns_name().map(str::to_string),
        client_cidr: e.client_cidr_block().and_then(|c| c.parse().ok()),
        vpc_id: e.vpc_id().map(str::to_string),
        split_tunnel: e.split_tunnel().unwrap_or(false),
        dns_servers: e.dns_servers().to_vec(),
        transport: e.transport_protocol().map(|t| {
            if t.as_str() == "tcp" {
                Transport::Tcp
            } else {
                Transport::Udp
            }
        }),
        port: e.vpn_port().and_then(|p| u16::try_from(p).ok()),
        security_groups: e.security_group_ids().to_vec(),
        description: e.description().map(str::to_string),
        server_cert_arn: e.server_certificate_arn().map(str::to_string),
        log_group: e
            .connection_log_options()
            .filter(|o| o.enabled() == Some(true))
            .and_then(|o| o.cloudwatch_log_group())
            .map(str::to_string),
        created: e.creation_time().and_then(parse_aws_time),
        tags: from_ec2_tags(e.tags()),
    }
}

impl Network for AwsCloud {
    async fn find_security_group(&self, vpc: &str, id_or_name: &str) -> CloudResult<String> {
        let what = format!("security group '{id_or_name}' in {vpc}");
        let filter = |name: &str, value: &str| {
            ec2::types::Filter::builder()
                .name(name)
                .values(value)
                .build()
        };
        let by = |key: &'static str| {
            let req = self
                .ec2
                .describe_security_groups()
                .filters(filter("vpc-id", vpc));
            let req = if key == "group-id" {
                req.group_ids(id_or_name)
            } else {
                req.filters(filter(key, id_or_name))
            };
            let what = what.clone();
            async move {
                match req.send().await {
                    Ok(out) => Ok(out
                        .security_groups()
                        .iter()
                        .filter_map(|g| g.group_id().map(str::to_string))
                        .collect::<Vec<_>>()),
                    // An id that does not exist at all is an error answer, not an empty list.
                    Err(e) if e.code().is_some_and(|c| c.starts_with("InvalidGroup")) => {
                        Ok(Vec::new())
                    }
                    Err(e) => Err(classify("DescribeSecurityGroups", &what, e)),
                }
            }
        };
        // An id that is not one may still be a Name tag that starts with "sg-".
        let keys: &[&'static str] = if id_or_name.starts_with("sg-") {
            &["group-id", "tag:Name"]
        } else {
            &["group-name", "tag:Name"]
        };
        for key in keys {
            match &by(key).await?[..] {
                [] => continue,
                [one] => return Ok(one.clone()),
                many => {
                    return Err(CloudError::Api {
                        action: "DescribeSecurityGroups".into(),
                        code: "Ambiguous".into(),
                        message: format!(
                            "{} security groups of {vpc} are named '{id_or_name}'; give the \
                                group id",
                            many.len()
                        ),
                    });
                }
            }
        }
        Err(CloudError::NotFound(what))
    }

    async fn find_vpc(&self, id_or_name: &str) -> CloudResult<Vpc> {
        let what = format!("VPC '{id_or_name}'");
        let req = self.ec2.describe_vpcs();
        let req = if id_or_name.starts_with("vpc-") {
            req.vpc_ids(id_or_name)
        } else {
            req.filters(
                ec2::types::Filter::builder()
                    .name("tag:Name")
                    .values(id_or_name)
                    .build(),
            )
        };
        let out = req
            .send()
            .await
            .map_err(|e| classify("DescribeVpcs", &what, e))?;
        let vpcs = out.vpcs();
        match vpcs {
            [] => Err(CloudError::NotFound(what)),
            [v] => {
                let mut cidrs: Vec<Ipv4Net> = v
                    .cidr_block()
                    .and_then(|c| c.parse().ok())
                    .into_iter()
                    .collect();
                for a in v.cidr_block_association_set() {
                    if let Some(c) = a.cidr_block().and_then(|c| c.parse().ok())
                        && !cidrs.contains(&c)
                        && a.cidr_block_state()
                            .and_then(|s| s.state())
                            .is_none_or(|s| s.as_str() == "associated")
                    {
                        cidrs.push(c);
                    }
                }
                Ok(Vpc {
                    id: v.vpc_id().unwrap_or_default().to_string(),
                    name: name_of(v.tags()),
                    cidrs,
                })
            }
            many => Err(CloudError::Api {
                action: "DescribeVpcs".into(),
                code: "Ambiguous".into(),
                message: format!(
                    "{} VPCs are named '{id_or_name}'; give the VPC id",
                    many.len()
                ),
            }),
        }
    }

    async fn find_subnet(&self, id_or_name: &str) -> CloudResult<Subnet> {
        let what = format!("subnet '{id_or_name}'");
        let req = self.ec2.describe_subnets();
        let req = if id_or_name.starts_with("subnet-") {
            req.subnet_ids(id_or_name)
        } else {
            req.filters(
                ec2::types::Filter::builder()
                    .name("tag:Name")
                    .values(id_or_name)
                    .build(),
            )
        };
        let out = req
            .send()
            .await
            .map_err(|e| classify("DescribeSubnets", &what, e))?;
        match out.subnets() {
            [] => Err(CloudError::NotFound(what)),
            [s] => Ok(Subnet {
                id: s.subnet_id().unwrap_or_default().to_string(),
                name: name_of(s.tags()),
                vpc_id: s.vpc_id().unwrap_or_default().to_string(),
                az: s.availability_zone().unwrap_or_default().to_string(),
                cidr: s.cidr_block().and_then(|c| c.parse().ok()),
            }),
            many => Err(CloudError::Api {
                action: "DescribeSubnets".into(),
                code: "Ambiguous".into(),
                message: format!(
                    "{} subnets are named '{id_or_name}'; give the subnet id",
                    many.len()
                ),
            }),
        }
    }
}

impl Certificates for AwsCloud {
    async fn tagged_certificates(&self, deployment: &str) -> CloudResult<Vec<Certificate>> {
        // ListCertificates returns only RSA-2048 certificates unless asked for more.
        let includes = acm::types::Filters::builder()
            .key_types(acm::types::KeyAlgorithm::Rsa1024)
            .key_types(acm::types::KeyAlgorithm::Rsa2048)
            .build();
        let summaries = self
            .acm
            .list_certificates()
            .includes(includes)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("ListCertificates", "certificates", e))?;
        let mut out = Vec::new();
        for s in summaries {
            let Some(arn) = s.certificate_arn() else {
                continue;
            };
            let tags = match self
                .acm
                .list_tags_for_certificate()
                .certificate_arn(arn)
                .send()
                .await
            {
                Ok(t) => t
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().unwrap_or("").to_string()))
                    .collect::<Tags>(),
                Err(e) => match classify("ListTagsForCertificate", arn, e) {
                    CloudError::NotFound(_) => continue,
                    other => return Err(other),
                },
            };
            if !is_ours(&tags, deployment) {
                continue;
            }
            let detail = self
                .acm
                .describe_certificate()
                .certificate_arn(arn)
                .send()
                .await
                .map_err(|e| classify("DescribeCertificate", arn, e))?;
            let d = detail.certificate();
            out.push(Certificate {
                arn: arn.to_string(),
                tags,
                domain: d.and_then(|d| d.domain_name()).map(str::to_string),
                not_after: d.and_then(|d| d.not_after()).map(|t| t.secs()),
                created: d
                    .and_then(|d| d.imported_at().or(d.created_at()))
                    .map(|t| t.secs()),
                in_use_by: d.map(|d| d.in_use_by().to_vec()).unwrap_or_default(),
            });
        }
        Ok(out)
    }

    async fn import_certificate(
        &self,
        upload: &CertUpload,
        arn: Option<&str>,
        tags: &Tags,
    ) -> CloudResult<String> {
        use aws_smithy_types::Blob;
        let mut req = self
            .acm
            .import_certificate()
            .certificate(Blob::new(upload.cert_pem.as_bytes()))
            .private_key(Blob::new(upload.key_pem.as_bytes()))
            .certificate_chain(Blob::new(upload.chain_pem.as_bytes()));
        match arn {
            // ACM refuses tags on a re-import; the certificate keeps the ones it has.
            Some(arn) => req = req.certificate_arn(arn),
            None => {
                for (k, v) in tags {
                    let tag = acm::types::Tag::builder()
                        .key(k)
                        .value(v)
                        .build()
                        .map_err(|e| CloudError::Api {
                            action: "ImportCertificate".into(),
                            code: "BadTag".into(),
                            message: e.to_string(),
                        })?;
                    req = req.tags(tag);
                }
            }
        }
        let out = req
            .send()
            .await
            .map_err(|e| classify("ImportCertificate", "the server certificate", e))?;
        out.certificate_arn()
            .map(str::to_string)
            .ok_or_else(|| CloudError::Api {
                action: "ImportCertificate".into(),
                code: "NoArn".into(),
                message: "ACM returned no ARN".into(),
            })
    }

    async fn certificate_body(&self, arn: &str) -> CloudResult<String> {
        let out = self
            .acm
            .get_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .map_err(|e| classify("GetCertificate", arn, e))?;
        Ok(out.certificate().unwrap_or_default().to_string())
    }

    async fn delete_certificate(&self, arn: &str) -> CloudResult<()> {
        self.acm
            .delete_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("DeleteCertificate", arn, e))
    }
}

impl Endpoints for AwsCloud {
    async fn tagged_endpoints(&self, deployment: &str) -> CloudResult<Vec<Endpoint>> {
        // DescribeClientVpnEndpoints has no tag filters: filter here.
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
            .filter(|e| is_ours(&e.tags, deployment) && e.state != EndpointState::Deleted)
            .collect())
    }

    async fn create_endpoint(
        &self,
        spec: &EndpointSpec,
        server_cert_arn: &str,
        tags: &Tags,
    ) -> CloudResult<Endpoint> {
        use ec2::types::*;
        let auth = ClientVpnAuthenticationRequest::builder()
            .r#type(ClientVpnAuthenticationType::CertificateAuthentication)
            .mutual_authentication(
                CertificateAuthenticationRequest::builder()
                    .client_root_certificate_chain_arn(server_cert_arn)
                    .build(),
            )
            .build();
        let logs = ConnectionLogOptions::builder()
            .enabled(spec.log_group.is_some())
            .set_cloudwatch_log_group(spec.log_group.clone())
            .build();
        let mut req = self
            .ec2
            .create_client_vpn_endpoint()
            .client_cidr_block(spec.client_cidr.to_string())
            .server_certificate_arn(server_cert_arn)
            .authentication_options(auth)
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
            .client_token(token())
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
            .ec2
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
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| classify("ModifyClientVpnEndpoint", id, e))
    }

    async fn delete_endpoint(&self, id: &str) -> CloudResult<()> {
        self.ec2
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

    async fn associate(&self, endpoint: &str, subnet: &str) -> CloudResult<Association> {
        let out = self
            .ec2
            .associate_client_vpn_target_network()
            .client_vpn_endpoint_id(endpoint)
            .subnet_id(subnet)
            .client_token(token())
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
        self.ec2
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
                description: r.description().map(str::to_string),
                state: r
                    .status()
                    .and_then(|s| s.code())
                    .map(|c| c.as_str().into())
                    .unwrap_or_default(),
            })
            .collect())
    }

    async fn authorize(&self, endpoint: &str, cidr: Ipv4Net, description: &str) -> CloudResult<()> {
        match self
            .ec2
            .authorize_client_vpn_ingress()
            .client_vpn_endpoint_id(endpoint)
            .target_network_cidr(cidr.to_string())
            .authorize_all_groups(true)
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
            .ec2
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

    async fn revoke(&self, endpoint: &str, cidr: &str) -> CloudResult<()> {
        self.ec2
            .revoke_client_vpn_ingress()
            .client_vpn_endpoint_id(endpoint)
            .target_network_cidr(cidr)
            .revoke_all_groups(true)
            .send()
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
        self.ec2
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
                .ec2
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
        self.ec2
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

/// Load the SDK configuration the way the AWS CLI does (credential chain, `--profile`,
/// `--region`, `AWS_ENDPOINT_URL`), then check that credentials resolve at all, so a missing
/// credential is one clear error before any work.
/// The endpoint URL the SDK resolved (`AWS_ENDPOINT_URL`, or `endpoint_url` in the profile),
/// recorded by `connect` for error messages: "cannot reach AWS at …".
static ENDPOINT_URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The endpoint override in effect, if any.
pub fn endpoint_url() -> Option<&'static str> {
    ENDPOINT_URL.get().map(String::as_str)
}

/// The region the environment or the profile gives, if any (not the instance metadata
/// service, which the SDK asks last).
pub async fn default_region(profile: Option<&str>) -> Option<String> {
    use aws_config::environment::EnvironmentVariableRegionProvider;
    use aws_config::meta::region::RegionProviderChain;
    use aws_config::profile::ProfileFileRegionProvider;
    let mut from_profile = ProfileFileRegionProvider::builder();
    if let Some(p) = profile {
        from_profile = from_profile.profile_name(p);
    }
    RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
        .or_else(from_profile.build())
        .region()
        .await
        .map(|r| r.to_string())
        .filter(|r| !r.is_empty())
}

pub async fn connect(
    profile: Option<&str>,
    region: Option<&str>,
) -> Result<(AwsCloud, String), CloudError> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(p) = profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.to_string()));
    }
    let mut config = loader.load().await;
    if let Some(url) = config.endpoint_url() {
        let _ = ENDPOINT_URL.set(url.to_string());
    }
    if let Some(p) = profile {
        // As the AWS CLI does: an explicit profile beats AWS_ACCESS_KEY_ID and friends in the
        // environment (the default chain would take those first and never run the profile's
        // credential_process, SSO or role). Its STS calls (assume-role, web identity) need the
        // region resolved above.
        let from_profile = aws_config::profile::ProfileFileCredentialsProvider::builder()
            .profile_name(p)
            .configure(
                &aws_config::provider_config::ProviderConfig::default()
                    .with_region(config.region().cloned()),
            )
            .build();
        config = config
            .into_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(from_profile),
            )
            .build();
    }
    // A blank or malformed region would otherwise surface as a connection error.
    if let Some(r) = config.region().map(|r| r.to_string()).filter(|r| {
        !r.is_empty()
            && !r
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    }) {
        return Err(CloudError::Api {
            action: "configuration".into(),
            code: "NoRegion".into(),
            message: format!("{r:?} is not an AWS region name"),
        });
    }
    if config.region().is_none_or(|r| r.as_ref().is_empty()) {
        return Err(CloudError::Api {
            action: "configuration".into(),
            code: "NoRegion".into(),
            message: "no AWS region configured".into(),
        });
    }
    use aws_credential_types::provider::ProvideCredentials;
    match config.credentials_provider() {
        None => return Err(CloudError::NoCredentials("no credential provider".into())),
        Some(p) => {
            if let Err(e) = p.provide_credentials().await {
                return Err(CloudError::NoCredentials(
                    DisplayErrorContext(&e).to_string(),
                ));
            }
        }
    }
    let region = config.region().map(|r| r.to_string()).unwrap_or_default();
    Ok((AwsCloud::new(&config), region))
}

fn target_of(r: &ec2::types::Route) -> RouteTarget {
    if let Some(n) = r.nat_gateway_id() {
        return RouteTarget::Nat(n.to_string());
    }
    if let Some(g) = r.gateway_id() {
        return if g == "local" {
            RouteTarget::Local
        } else {
            RouteTarget::Gateway(g.to_string())
        };
    }
    if let Some(t) = r.transit_gateway_id() {
        return RouteTarget::TransitGateway(t.to_string());
    }
    if let Some(p) = r.vpc_peering_connection_id() {
        return RouteTarget::Peering(p.to_string());
    }
    if let Some(i) = r.instance_id() {
        return RouteTarget::Instance(i.to_string());
    }
    if let Some(e) = r.network_interface_id() {
        return RouteTarget::Interface(e.to_string());
    }
    if let Some(l) = r.local_gateway_id() {
        return RouteTarget::LocalGateway(l.to_string());
    }
    if let Some(c) = r.carrier_gateway_id() {
        return RouteTarget::CarrierGateway(c.to_string());
    }
    if let Some(arn) = r.core_network_arn() {
        return RouteTarget::Other(arn.to_string());
    }
    RouteTarget::Other(String::new())
}

fn nat_of(n: &ec2::types::NatGateway) -> NatGateway {
    let addr = n.nat_gateway_addresses().first();
    NatGateway {
        id: n.nat_gateway_id().unwrap_or_default().to_string(),
        state: n.state().map(|s| s.as_str().into()).unwrap_or_default(),
        subnet_id: n.subnet_id().unwrap_or_default().to_string(),
        vpc_id: n.vpc_id().unwrap_or_default().to_string(),
        allocation_id: addr.and_then(|a| a.allocation_id()).map(str::to_string),
        public_ip: addr.and_then(|a| a.public_ip()).map(str::to_string),
        created: n.create_time().map(|t| t.secs()),
        tags: from_ec2_tags(n.tags()),
    }
}

fn deployment_filter(deployment: &str) -> ec2::types::Filter {
    ec2::types::Filter::builder()
        .name(format!("tag:{TAG_DEPLOYMENT}"))
        .values(deployment)
        .build()
}

impl Nat for AwsCloud {
    async fn subnets_of(&self, vpc: &str) -> CloudResult<Vec<Subnet>> {
        let out = self
            .ec2
            .describe_subnets()
            .filters(
                ec2::types::Filter::builder()
                    .name("vpc-id")
                    .values(vpc)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify("DescribeSubnets", vpc, e))?;
        Ok(out
            .subnets()
            .iter()
            .map(|s| Subnet {
                id: s.subnet_id().unwrap_or_default().to_string(),
                name: name_of(s.tags()),
                vpc_id: s.vpc_id().unwrap_or_default().to_string(),
                az: s.availability_zone().unwrap_or_default().to_string(),
                cidr: s.cidr_block().and_then(|c| c.parse().ok()),
            })
            .collect())
    }

    async fn route_tables(&self, vpc: &str) -> CloudResult<Vec<RouteTable>> {
        let out = self
            .ec2
            .describe_route_tables()
            .filters(
                ec2::types::Filter::builder()
                    .name("vpc-id")
                    .values(vpc)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify("DescribeRouteTables", vpc, e))?;
        Ok(out
            .route_tables()
            .iter()
            .map(|t| RouteTable {
                id: t.route_table_id().unwrap_or_default().to_string(),
                vpc_id: t.vpc_id().unwrap_or_default().to_string(),
                main: t.associations().iter().any(|a| a.main().unwrap_or(false)),
                subnets: t
                    .associations()
                    .iter()
                    .filter_map(|a| a.subnet_id())
                    .map(str::to_string)
                    .collect(),
                routes: t
                    .routes()
                    .iter()
                    .filter_map(|r| {
                        Some(TableRoute {
                            destination: r.destination_cidr_block()?.to_string(),
                            target: target_of(r),
                        })
                    })
                    .collect(),
            })
            .collect())
    }

    async fn tagged_nat_gateways(&self, deployment: &str) -> CloudResult<Vec<NatGateway>> {
        let all = self
            .ec2
            .describe_nat_gateways()
            .filter(deployment_filter(deployment))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("DescribeNatGateways", "NAT gateways", e))?;
        Ok(all
            .iter()
            .map(nat_of)
            .filter(|n| is_ours(&n.tags, deployment) && n.state != NatState::Deleted)
            .collect())
    }

    async fn tagged_addresses(&self, deployment: &str) -> CloudResult<Vec<Address>> {
        let out = self
            .ec2
            .describe_addresses()
            .filters(deployment_filter(deployment))
            .send()
            .await
            .map_err(|e| classify("DescribeAddresses", "Elastic IPs", e))?;
        Ok(out
            .addresses()
            .iter()
            .map(|a| Address {
                allocation_id: a.allocation_id().unwrap_or_default().to_string(),
                public_ip: a.public_ip().map(str::to_string),
                association_id: a
                    .association_id()
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
                tags: from_ec2_tags(a.tags()),
            })
            .filter(|a| is_ours(&a.tags, deployment))
            .collect())
    }

    async fn allocate_address(&self, tags: &Tags) -> CloudResult<Address> {
        use ec2::types::{DomainType, ResourceType, TagSpecification};
        let out = self
            .ec2
            .allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::ElasticIp)
                    .set_tags(Some(ec2_tags(tags)))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify("AllocateAddress", "an Elastic IP", e))?;
        Ok(Address {
            allocation_id: required(out.allocation_id(), "AllocateAddress", "AllocationId")?,
            public_ip: out.public_ip().map(str::to_string),
            association_id: None,
            tags: tags.clone(),
        })
    }

    async fn create_nat_gateway(
        &self,
        subnet: &str,
        allocation: &str,
        tags: &Tags,
    ) -> CloudResult<NatGateway> {
        use ec2::types::{ConnectivityType, ResourceType, TagSpecification};
        let out = self
            .ec2
            .create_nat_gateway()
            .subnet_id(subnet)
            .allocation_id(allocation)
            .connectivity_type(ConnectivityType::Public)
            .client_token(token())
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Natgateway)
                    .set_tags(Some(ec2_tags(tags)))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify("CreateNatGateway", subnet, e))?;
        let n = out.nat_gateway().ok_or_else(|| CloudError::Api {
            action: "CreateNatGateway".into(),
            code: "MissingField".into(),
            message: "the answer to CreateNatGateway has no NatGateway".into(),
        })?;
        required(n.nat_gateway_id(), "CreateNatGateway", "NatGatewayId")?;
        Ok(nat_of(n))
    }

    async fn delete_nat_gateway(&self, id: &str) -> CloudResult<()> {
        self.ec2
            .delete_nat_gateway()
            .nat_gateway_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("DeleteNatGateway", id, e))
    }

    async fn release_address(&self, allocation: &str) -> CloudResult<()> {
        match self
            .ec2
            .release_address()
            .allocation_id(allocation)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // AWS answers AuthFailure while a NAT gateway (even a deleting one) still holds it.
            Err(e)
                if e.code() == Some("AuthFailure")
                    || e.code() == Some("InvalidIPAddress.InUse") =>
            {
                Err(CloudError::InUse(allocation.to_string()))
            }
            Err(e) => Err(classify("ReleaseAddress", allocation, e)),
        }
    }

    async fn set_route(
        &self,
        table: &str,
        destination: &str,
        target: &RouteTarget,
        replace: bool,
    ) -> CloudResult<()> {
        macro_rules! send {
            ($req:expr, $action:literal) => {{
                let r = $req
                    .route_table_id(table)
                    .destination_cidr_block(destination);
                let r = match target {
                    RouteTarget::Nat(i) => r.nat_gateway_id(i),
                    RouteTarget::Gateway(i) => r.gateway_id(i),
                    RouteTarget::Interface(i) => r.network_interface_id(i),
                    RouteTarget::TransitGateway(i) => r.transit_gateway_id(i),
                    RouteTarget::Peering(i) => r.vpc_peering_connection_id(i),
                    RouteTarget::Instance(i) => r.instance_id(i),
                    RouteTarget::LocalGateway(i) => r.local_gateway_id(i),
                    RouteTarget::CarrierGateway(i) => r.carrier_gateway_id(i),
                    RouteTarget::Local | RouteTarget::Other(_) => {
                        return Err(CloudError::Api {
                            action: $action.into(),
                            code: "UnsupportedTarget".into(),
                            message: format!("vpnctl cannot route to '{}'", target.id()),
                        });
                    }
                };
                r.send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify($action, table, e))
            }};
        }
        if replace {
            send!(self.ec2.replace_route(), "ReplaceRoute")
        } else {
            send!(self.ec2.create_route(), "CreateRoute")
        }
    }

    async fn nat_gateway_state(&self, id: &str) -> CloudResult<Option<NatState>> {
        match self
            .ec2
            .describe_nat_gateways()
            .nat_gateway_ids(id)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .nat_gateways()
                .first()
                .and_then(|n| n.state())
                .map(|s| NatState::from(s.as_str()))),
            Err(e) => match classify("DescribeNatGateways", id, e) {
                CloudError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn tag_resource(&self, id: &str, tags: &Tags) -> CloudResult<()> {
        self.create_tags(id, tags).await
    }

    async fn delete_route(&self, table: &str, destination: &str) -> CloudResult<()> {
        self.ec2
            .delete_route()
            .route_table_id(table)
            .destination_cidr_block(destination)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("DeleteRoute", table, e))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_missing_id_is_an_error_naming_the_call() {
        assert_eq!(
            super::required(Some("cvpn-endpoint-1"), "X", "Id")
                .ok()
                .as_deref(),
            Some("cvpn-endpoint-1")
        );
        for missing in [None, Some("")] {
            match super::required(missing, "AllocateAddress", "AllocationId") {
                Err(super::CloudError::Api {
                    action, message, ..
                }) => {
                    assert_eq!(action, "AllocateAddress");
                    assert!(message.contains("AllocationId"), "{message}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn aws_time_formats() {
        for t in [
            "2026-11-26T10:00:00",
            "2026-11-26 10:00:00",
            "2026-11-26T10:00:00Z",
            "2026-11-26T10:00:00.000Z",
        ] {
            assert_eq!(super::parse_aws_time(t), Some(1_795_687_200), "{t}");
        }
        assert_eq!(super::parse_aws_time("-"), None);
    }
}

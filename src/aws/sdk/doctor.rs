//! The reads `vpnctl doctor` makes beyond observe's: who the caller is, and EC2's DryRun of the
//! Client VPN changes the commands make (AWS checks the permission and answers
//! `DryRunOperation` when it would have run, `UnauthorizedOperation` when it would not).

use super::*;

/// What AWS answered a DryRun.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DryRun {
    /// `DryRunOperation`: the call would have been allowed.
    Allowed,
    /// `UnauthorizedOperation` (or another access-denied code): it would have been refused.
    Denied(String),
    /// Any other answer: the permission could not be told (the message says why).
    Unknown(String),
}

fn dry_run_outcome<T, E>(result: Result<T, SdkError<E, HttpResponse>>) -> DryRun
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        // A DryRun that ran: AWS never answers so; say so rather than call it allowed.
        Ok(_) => DryRun::Unknown("AWS answered as if the call had run".into()),
        Err(e) => {
            let code = e.code().unwrap_or_default().to_string();
            let message = e.message().unwrap_or_default().to_string();
            match code.as_str() {
                "DryRunOperation" => DryRun::Allowed,
                "UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" => {
                    DryRun::Denied(if message.is_empty() { code } else { message })
                }
                "" => DryRun::Unknown(DisplayErrorContext(&e).to_string()),
                _ => DryRun::Unknown(format!("{code}: {message}")),
            }
        }
    }
}

impl AwsCloud {
    /// The account and the caller's ARN (STS GetCallerIdentity).
    pub async fn caller(&self) -> CloudResult<(String, String)> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| classify("GetCallerIdentity", "the caller", e))?;
        Ok((
            out.account().unwrap_or_default().to_string(),
            out.arn().unwrap_or_default().to_string(),
        ))
    }

    /// DryRun of each Client VPN change the commands make: on `endpoint` when the deployment
    /// has one (with a subnet and an association of it, when it has them, and the CRL it
    /// would import), else the creation of one. (Action name, what AWS answered.)
    pub async fn dry_runs(
        &self,
        endpoint: Option<&str>,
        subnet: Option<&str>,
        association: Option<&str>,
        crl_pem: Option<&str>,
    ) -> Vec<(&'static str, DryRun)> {
        let ec2 = &self.ec2;
        let Some(ep) = endpoint else {
            // Well-formed values that name nothing: only the permission is in question.
            let auth = ec2::types::ClientVpnAuthenticationRequest::builder()
                .r#type(ec2::types::ClientVpnAuthenticationType::CertificateAuthentication)
                .mutual_authentication(
                    ec2::types::CertificateAuthenticationRequest::builder()
                        .client_root_certificate_chain_arn(DRY_RUN_CERT)
                        .build(),
                )
                .build();
            let logs = ec2::types::ConnectionLogOptions::builder()
                .enabled(false)
                .build();
            let r = ec2
                .create_client_vpn_endpoint()
                .client_cidr_block("10.83.0.0/22")
                .server_certificate_arn(DRY_RUN_CERT)
                .authentication_options(auth)
                .connection_log_options(logs)
                .dry_run(true)
                .send()
                .await;
            return vec![("ec2:CreateClientVpnEndpoint", dry_run_outcome(r))];
        };
        let mut out = Vec::new();
        let r = ec2
            .modify_client_vpn_endpoint()
            .client_vpn_endpoint_id(ep)
            .dry_run(true)
            .send()
            .await;
        out.push(("ec2:ModifyClientVpnEndpoint", dry_run_outcome(r)));
        let r = ec2
            .authorize_client_vpn_ingress()
            .client_vpn_endpoint_id(ep)
            .target_network_cidr("192.0.2.0/24")
            .authorize_all_groups(true)
            .dry_run(true)
            .send()
            .await;
        out.push(("ec2:AuthorizeClientVpnIngress", dry_run_outcome(r)));
        let r = ec2
            .terminate_client_vpn_connections()
            .client_vpn_endpoint_id(ep)
            .username("vpnctl-doctor-dry-run")
            .dry_run(true)
            .send()
            .await;
        out.push(("ec2:TerminateClientVpnConnections", dry_run_outcome(r)));
        if let Some(crl) = crl_pem {
            let r = ec2
                .import_client_vpn_client_certificate_revocation_list()
                .client_vpn_endpoint_id(ep)
                .certificate_revocation_list(crl)
                .dry_run(true)
                .send()
                .await;
            out.push((
                "ec2:ImportClientVpnClientCertificateRevocationList",
                dry_run_outcome(r),
            ));
        }
        if let Some(subnet) = subnet {
            let r = ec2
                .associate_client_vpn_target_network()
                .client_vpn_endpoint_id(ep)
                .subnet_id(subnet)
                .dry_run(true)
                .send()
                .await;
            out.push(("ec2:AssociateClientVpnTargetNetwork", dry_run_outcome(r)));
        }
        if let Some(association) = association {
            let r = ec2
                .disassociate_client_vpn_target_network()
                .client_vpn_endpoint_id(ep)
                .association_id(association)
                .dry_run(true)
                .send()
                .await;
            out.push(("ec2:DisassociateClientVpnTargetNetwork", dry_run_outcome(r)));
        }
        out
    }
}

/// A well-formed ACM ARN that names no certificate, for a DryRun of the endpoint's creation.
const DRY_RUN_CERT: &str =
    "arn:aws:acm:us-east-1:000000000000:certificate/00000000-0000-0000-0000-000000000000";

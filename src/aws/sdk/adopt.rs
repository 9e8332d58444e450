//! Reads about an endpoint by its id, whoever made it: what `adopt` checks before it tags one
//! made elsewhere (which CA its clients must chain to, which certificates it uses); and the
//! SAML provider `setup --saml-provider` names.

use super::*;

/// An endpoint as DescribeClientVpnEndpoints gives it, with its authentication.
#[derive(Debug, Clone)]
pub struct Described {
    pub endpoint: Endpoint,
    /// The ACM ARNs of mutual (certificate) authentication's client root chain.
    pub client_roots: Vec<String>,
    /// The kinds of authentication, as AWS names them (`certificate-authentication`, …).
    pub auth_kinds: Vec<String>,
}

impl AwsCloud {
    /// The endpoint `id`, or `None` when the region has no such endpoint (or it is deleted).
    pub async fn endpoint_by_id(&self, id: &str) -> CloudResult<Option<Described>> {
        let out = match self
            .ec2
            .describe_client_vpn_endpoints()
            .client_vpn_endpoint_ids(id)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let e = classify("DescribeClientVpnEndpoints", id, e);
                return if e.is(Kind::NotFound) {
                    Ok(None)
                } else {
                    Err(e)
                };
            }
        };
        let Some(e) = out
            .client_vpn_endpoints()
            .iter()
            .find(|e| e.client_vpn_endpoint_id() == Some(id))
        else {
            return Ok(None);
        };
        let endpoint = endpoint_of(e);
        if matches!(
            endpoint.state,
            EndpointState::Deleted | EndpointState::Deleting
        ) {
            return Ok(None);
        }
        let auth = e.authentication_options();
        Ok(Some(Described {
            endpoint,
            client_roots: auth
                .iter()
                .filter_map(|a| a.mutual_authentication())
                .filter_map(|m| m.client_root_certificate_chain())
                .map(str::to_string)
                .collect(),
            auth_kinds: auth
                .iter()
                .filter_map(|a| a.r#type())
                .map(|t| t.as_str().to_string())
                .collect(),
        }))
    }

    /// A certificate ACM holds: its body and the chain imported with it.
    pub async fn certificate_and_chain(&self, arn: &str) -> CloudResult<(String, Option<String>)> {
        let out = self
            .acm
            .get_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .map_err(|e| classify("GetCertificate", arn, e))?;
        Ok((
            out.certificate().unwrap_or_default().to_string(),
            out.certificate_chain().map(str::to_string),
        ))
    }

    /// Whether the IAM SAML provider `arn` exists in this account (GetSAMLProvider).
    pub async fn saml_provider_exists(&self, arn: &str) -> CloudResult<bool> {
        match self
            .iam
            .get_saml_provider()
            .saml_provider_arn(arn)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = classify("GetSAMLProvider", arn, e);
                if e.is(Kind::NotFound) {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// A certificate's tags, and the endpoints ACM says use it (`InUseBy`).
    pub async fn certificate_tags_and_users(&self, arn: &str) -> CloudResult<(Tags, Vec<String>)> {
        let tags = self
            .acm
            .list_tags_for_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .map_err(|e| classify("ListTagsForCertificate", arn, e))?;
        let described = self
            .acm
            .describe_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .map_err(|e| classify("DescribeCertificate", arn, e))?;
        Ok((
            tags.tags()
                .iter()
                .map(|t| {
                    (
                        t.key().to_string(),
                        t.value().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
            described
                .certificate()
                .map(|c| c.in_use_by().to_vec())
                .unwrap_or_default(),
        ))
    }
}

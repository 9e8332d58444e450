//! `Certificates`: the server certificate in ACM.

use super::*;
use aws_sdk_acm as acm;

impl Certificates for AwsCloud {
    async fn tagged_certificates(
        &self,
        deployment: &str,
        scope: CertScope<'_>,
    ) -> CloudResult<Vec<Certificate>> {
        // ListCertificates returns only RSA-2048 certificates unless asked for more; its pages
        // hold up to 1,000 certificates (MaxItems), each with its domain and SANs.
        let includes = acm::types::Filters::builder()
            .key_types(acm::types::KeyAlgorithm::Rsa1024)
            .key_types(acm::types::KeyAlgorithm::Rsa2048)
            .build();
        let summaries = self
            .acm
            .list_certificates()
            .includes(includes)
            .max_items(1000)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("ListCertificates", "certificates", e))?;
        let mut out = Vec::new();
        let (mut read, mut refused) = (0usize, None);
        for s in summaries {
            let Some(arn) = s.certificate_arn() else {
                continue;
            };
            // ACM has no tag filter: every candidate costs a ListTagsForCertificate.
            let names = s.domain_name().into_iter().chain(
                s.subject_alternative_name_summaries()
                    .iter()
                    .map(String::as_str),
            );
            if !scope.admits(arn, names) {
                continue;
            }
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
                // Gone since the listing: not there. Refused (another team's certificate, a
                // policy that denies reading its tags): skipped, unless it is one an endpoint
                // uses or every read is refused (then vpnctl would not see its own and import
                // another each run). Credentials and a failing AWS fail at once.
                Err(e) => match classify("ListTagsForCertificate", arn, e) {
                    e if e.is(Kind::NotFound) => continue,
                    e if e.kind == Kind::Api && !scope.uses(arn) => {
                        refused.get_or_insert(e);
                        continue;
                    }
                    other => return Err(other),
                },
            };
            read += 1;
            if !is_ours(&tags, deployment) {
                continue;
            }
            let detail = self
                .acm
                .describe_certificate()
                .certificate_arn(arn)
                .send()
                .await
                .map_err(|e| classify("DescribeCertificate", arn, e));
            let detail = match detail {
                // Deleted since its tags were read.
                Err(e) if e.is(Kind::NotFound) => continue,
                other => other?,
            };
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
        if let Some(e) = refused.filter(|_| read == 0) {
            return Err(e);
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
            .acm_once
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
                        .map_err(|e| {
                            CloudError::api("ImportCertificate", "BadTag", e.to_string())
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
            .ok_or_else(|| CloudError::api("ImportCertificate", "NoArn", "ACM returned no ARN"))
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
        self.acm_once
            .delete_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("DeleteCertificate", arn, e))
    }

    async fn tag_certificate(&self, arn: &str, tags: &Tags) -> CloudResult<()> {
        let tags: Vec<acm::types::Tag> = tags
            .iter()
            .filter_map(|(k, v)| acm::types::Tag::builder().key(k).value(v).build().ok())
            .collect();
        self.acm
            .add_tags_to_certificate()
            .certificate_arn(arn)
            .set_tags(Some(tags))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("AddTagsToCertificate", arn, e))
    }
}

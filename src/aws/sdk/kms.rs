//! The CA key in AWS KMS (aws-sdk-kms): an asymmetric RSA_2048 SIGN_VERIFY key whose private
//! half never leaves KMS. `pki::cert::RemoteKey` over it: the public key from GetPublicKey,
//! signatures from Sign (RSASSA_PKCS1_V1_5_SHA_256). A message up to 4,096 bytes (every
//! certificate, a CRL of a hundred or so revocations) is sent as `RAW`; a longer one as its
//! SHA-256 `DIGEST`, as KMS requires.

use super::*;
use crate::pki::cert::RemoteKey;
use aws_sdk_kms as kms;

/// KMS's limit on a `RAW` message (API reference, Sign: Message, 1 to 4096 bytes).
const RAW_LIMIT: usize = 4096;

#[derive(Debug, Clone)]
pub struct KmsKey {
    client: kms::Client,
    arn: String,
    /// The SPKI, when the key's check already fetched it (GetPublicKey answers KeySpec and
    /// KeyUsage too: one call less per command than DescribeKey first).
    public: Option<Vec<u8>>,
}

fn kms_error<E>(action: &str, what: &str, e: SdkError<E, HttpResponse>) -> crate::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match e.code() {
        Some("NotFoundException") => crate::Error::not_found(
            format!("the KMS key {what} does not exist"),
            "check the key id, alias or ARN and the region (--region)",
        ),
        Some("AccessDeniedException") => crate::Error::cloud(
            format!("AWS refused {action} on the KMS key {what}: access denied"),
            "the caller needs kms:DescribeKey, kms:GetPublicKey and kms:Sign on the key \
             (`vpnctl store policy` lists them); nothing was changed",
        ),
        Some("DisabledException") | Some("KMSInvalidStateException") => crate::Error::conflict(
            format!("the KMS key {what} cannot sign now (disabled or pending deletion)"),
            "enable the key (aws kms enable-key), or cancel its deletion",
        ),
        _ => crate::aws::to_error(classify(action, what, e)),
    }
}

impl KmsKey {
    async fn client(profile: Option<String>, region: Option<String>) -> crate::Result<kms::Client> {
        let config = load_config(profile.as_deref(), region.as_deref())
            .await
            .map_err(crate::aws::to_error)?;
        Ok(kms::Client::from_conf(
            kms::config::Builder::from(&config)
                .interceptor(super::super::trace::CallLog)
                .build(),
        ))
    }

    /// An existing key (id, alias or ARN), checked to be one the CA can use: asymmetric
    /// RSA_2048, SIGN_VERIFY, enabled.
    pub fn existing(
        profile: Option<String>,
        region: Option<String>,
        key_id: String,
    ) -> crate::Result<KmsKey> {
        block_on(async move {
            let client = KmsKey::client(profile, region).await?;
            // The usual case in one call: an RSA_2048 SIGN_VERIFY key answers GetPublicKey.
            if let Ok(out) = client.get_public_key().key_id(&key_id).send().await
                && out.key_spec().map(|s| s.as_str()) == Some("RSA_2048")
                && out.key_usage().map(|u| u.as_str()) == Some("SIGN_VERIFY")
                && let (Some(arn), Some(public)) = (out.key_id(), out.public_key())
            {
                return Ok(KmsKey {
                    arn: arn.to_string(),
                    public: Some(public.as_ref().to_vec()),
                    client,
                });
            }
            // Anything else: DescribeKey says precisely what is wrong with the key.
            let out = client
                .describe_key()
                .key_id(&key_id)
                .send()
                .await
                .map_err(|e| kms_error("DescribeKey", &key_id, e))?;
            let meta = out.key_metadata().ok_or_else(|| {
                crate::aws::to_error(CloudError::api(
                    "DescribeKey",
                    "MissingField",
                    "the answer has no KeyMetadata",
                ))
            })?;
            let spec = meta.key_spec().map(|s| s.as_str().to_string());
            let usage = meta.key_usage().map(|u| u.as_str().to_string());
            if spec.as_deref() != Some("RSA_2048") || usage.as_deref() != Some("SIGN_VERIFY") {
                return Err(crate::Error::invalid(
                    format!(
                        "the KMS key {key_id} is a {} {} key; a CA key must be an asymmetric \
                         RSA_2048 SIGN_VERIFY key (AWS Client VPN accepts RSA-2048 CAs)",
                        spec.unwrap_or_else(|| "?".into()),
                        usage.unwrap_or_else(|| "?".into())
                    ),
                    "give such a key, or let `vpnctl pki init --ca-key kms` create one",
                ));
            }
            if !meta.enabled() {
                return Err(crate::Error::conflict(
                    format!("the KMS key {key_id} is disabled"),
                    "enable it (aws kms enable-key), or give another key",
                ));
            }
            Ok(KmsKey {
                client,
                arn: meta.arn().unwrap_or(&key_id).to_string(),
                public: None,
            })
        })
    }

    /// A new key for a CA, tagged like every resource of the deployment.
    pub fn create(
        profile: Option<String>,
        region: Option<String>,
        tags: Vec<(String, String)>,
        description: String,
    ) -> crate::Result<KmsKey> {
        block_on(async move {
            let client = KmsKey::client(profile, region).await?;
            let mut req = client
                .create_key()
                .key_spec(kms::types::KeySpec::Rsa2048)
                .key_usage(kms::types::KeyUsageType::SignVerify)
                .description(description);
            for (k, v) in tags {
                if let Ok(t) = kms::types::Tag::builder().tag_key(k).tag_value(v).build() {
                    req = req.tags(t);
                }
            }
            let out = req
                .send()
                .await
                .map_err(|e| kms_error("CreateKey", "(new)", e))?;
            let arn = out
                .key_metadata()
                .and_then(|m| m.arn())
                .map(str::to_string)
                .ok_or_else(|| {
                    crate::aws::to_error(CloudError::api(
                        "CreateKey",
                        "MissingField",
                        "the answer names no key ARN",
                    ))
                })?;
            Ok(KmsKey {
                client,
                arn,
                public: None,
            })
        })
    }
}

impl KmsKey {
    /// Schedule the key's deletion (KMS's shortest window, 7 days): for a key `pki init` made
    /// and then could not use.
    pub fn schedule_deletion(&self) -> crate::Result<()> {
        let (c, arn) = (self.client.clone(), self.arn.clone());
        block_on(async move {
            c.schedule_key_deletion()
                .key_id(&arn)
                .pending_window_in_days(7)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| kms_error("ScheduleKeyDeletion", &arn, e))
        })
    }
}

impl RemoteKey for KmsKey {
    fn public_key(&self) -> crate::Result<Vec<u8>> {
        if let Some(p) = &self.public {
            return Ok(p.clone());
        }
        let (c, arn) = (self.client.clone(), self.arn.clone());
        block_on(async move {
            let out = c
                .get_public_key()
                .key_id(&arn)
                .send()
                .await
                .map_err(|e| kms_error("GetPublicKey", &arn, e))?;
            out.public_key()
                .map(|b| b.as_ref().to_vec())
                .ok_or_else(|| {
                    crate::aws::to_error(CloudError::api(
                        "GetPublicKey",
                        "MissingField",
                        "the answer has no PublicKey",
                    ))
                })
        })
    }

    fn sign(&self, message: &[u8]) -> crate::Result<Vec<u8>> {
        use sha2::Digest;
        let (c, arn) = (self.client.clone(), self.arn.clone());
        let (body, kind) = if message.len() <= RAW_LIMIT {
            (message.to_vec(), kms::types::MessageType::Raw)
        } else {
            (
                sha2::Sha256::digest(message).to_vec(),
                kms::types::MessageType::Digest,
            )
        };
        block_on(async move {
            let out = c
                .sign()
                .key_id(&arn)
                .message(aws_smithy_types::Blob::new(body))
                .message_type(kind)
                .signing_algorithm(kms::types::SigningAlgorithmSpec::RsassaPkcs1V15Sha256)
                .send()
                .await
                .map_err(|e| kms_error("Sign", &arn, e))?;
            out.signature().map(|b| b.as_ref().to_vec()).ok_or_else(|| {
                crate::aws::to_error(CloudError::api(
                    "Sign",
                    "MissingField",
                    "the answer has no Signature",
                ))
            })
        })
    }

    fn name(&self) -> String {
        self.arn.clone()
    }
}

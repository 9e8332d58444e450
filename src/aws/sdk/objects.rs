//! `Objects` over S3 (aws-sdk-s3): the team store's bucket. The store's code is synchronous
//! (it runs the local PKI's code), so each call runs on one background runtime of its own and
//! the caller waits for the answer; that works from plain code and from inside the AWS
//! commands' runtime alike.

use super::*;
use crate::store::{Cond, Object, Objects, Put, S3Uri};
use aws_sdk_s3 as s3;
use aws_sdk_s3::primitives::ByteStream;

/// Run `f` on vpnctl's background runtime and wait for it.
pub fn block_on<F>(f: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    static RT: std::sync::OnceLock<Option<tokio::runtime::Runtime>> = std::sync::OnceLock::new();
    let rt = RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("vpnctl-store")
            .enable_all()
            .build()
            .ok()
    });
    let (tx, rx) = std::sync::mpsc::channel();
    match rt {
        Some(rt) => {
            rt.spawn(async move {
                let _ = tx.send(f.await);
            });
        }
        None => {
            // No runtime could start (out of threads): run it on a thread of its own.
            std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    let _ = tx.send(rt.block_on(f));
                }
            });
        }
    }
    rx.recv()
        .unwrap_or_else(|_| panic!("the background runtime stopped"))
}

/// The S3 store's bucket.
#[derive(Debug, Clone)]
pub struct S3Objects {
    s3: s3::Client,
    sts: aws_sdk_sts::Client,
    uri: S3Uri,
    region: String,
    caller: std::sync::Arc<std::sync::OnceLock<String>>,
    /// When the credentials expire, if they are temporary.
    expiry: Option<std::time::SystemTime>,
}

/// What `store init` found and did.
#[derive(Debug, Clone, Default)]
pub struct BucketSetup {
    pub created: bool,
    pub done: Vec<String>,
}

fn s3_error<E>(action: &str, uri: &S3Uri, e: SdkError<E, HttpResponse>) -> crate::Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let store = uri.to_string();
    let code = e.code().unwrap_or_default().to_string();
    let status = e.raw_response().map(|r| r.status().as_u16());
    if code == "NoSuchBucket" || (action == "HeadBucket" && status == Some(404)) {
        return crate::Error::not_found(
            format!("the bucket {} of store {store} does not exist", uri.bucket),
            format!("create it with `vpnctl store init {store}` (or check the name and --region)"),
        );
    }
    if code == "AccessDenied" || status == Some(403) {
        return crate::Error::cloud(
            format!(
                "AWS refused {action} on {store}: access denied to bucket {}",
                uri.bucket
            ),
            "the caller needs the permissions `vpnctl store policy` prints (and the bucket must \
             be in this account); nothing was changed",
        );
    }
    crate::aws::to_error(classify(action, &store, e))
}

impl S3Objects {
    pub async fn new(
        profile: Option<&str>,
        region: Option<&str>,
        uri: S3Uri,
    ) -> Result<S3Objects, CloudError> {
        let config = load_config(profile, region).await?;
        let s3 = s3::Client::from_conf(
            s3::config::Builder::from(&config)
                .interceptor(super::super::trace::CallLog)
                .build(),
        );
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&config)
                .interceptor(super::super::trace::CallLog)
                .build(),
        );
        use aws_credential_types::provider::ProvideCredentials;
        let expiry = match config.credentials_provider() {
            Some(p) => p.provide_credentials().await.ok().and_then(|c| c.expiry()),
            None => None,
        };
        Ok(S3Objects {
            s3,
            sts,
            uri,
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
            caller: Default::default(),
            expiry,
        })
    }

    pub fn uri(&self) -> &S3Uri {
        &self.uri
    }

    /// `store init`: the bucket with versioning, default encryption (SSE-KMS with `kms_key`,
    /// else SSE-S3), every public access blocked, and the deployment's tags. Converges an
    /// existing bucket of this account.
    pub fn init_bucket(
        &self,
        tags: &[(String, String)],
        kms_key: Option<&str>,
    ) -> crate::Result<BucketSetup> {
        let (c, uri, region) = (self.s3.clone(), self.uri.clone(), self.region.clone());
        let tags = tags.to_vec();
        let kms_key = kms_key.map(str::to_string);
        block_on(async move {
            let b = uri.bucket.clone();
            let mut out = BucketSetup::default();
            let exists = match c.head_bucket().bucket(&b).send().await {
                Ok(_) => true,
                Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(404) => false,
                Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(403) => {
                    return Err(crate::Error::conflict(
                        format!(
                            "bucket {b} exists but this account may not use it (another \
                             account's, or no s3:ListBucket)"
                        ),
                        "choose another bucket name (they are global), or grant the \
                         permissions `vpnctl store policy` prints",
                    ));
                }
                Err(e) => return Err(s3_error("HeadBucket", &uri, e)),
            };
            if !exists {
                let mut create = c.create_bucket().bucket(&b);
                if region != "us-east-1" {
                    create = create.create_bucket_configuration(
                        s3::types::CreateBucketConfiguration::builder()
                            .location_constraint(s3::types::BucketLocationConstraint::from(
                                region.as_str(),
                            ))
                            .build(),
                    );
                }
                create
                    .send()
                    .await
                    .map_err(|e| s3_error("CreateBucket", &uri, e))?;
                out.created = true;
                out.done.push(format!("created bucket {b} in {region}"));
            }
            c.put_public_access_block()
                .bucket(&b)
                .public_access_block_configuration(
                    s3::types::PublicAccessBlockConfiguration::builder()
                        .block_public_acls(true)
                        .ignore_public_acls(true)
                        .block_public_policy(true)
                        .restrict_public_buckets(true)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| s3_error("PutPublicAccessBlock", &uri, e))?;
            out.done.push("public access blocked".into());
            c.put_bucket_versioning()
                .bucket(&b)
                .versioning_configuration(
                    s3::types::VersioningConfiguration::builder()
                        .status(s3::types::BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| s3_error("PutBucketVersioning", &uri, e))?;
            out.done.push("versioning on".into());
            let mut rule = s3::types::ServerSideEncryptionByDefault::builder();
            rule = match &kms_key {
                Some(k) => rule
                    .sse_algorithm(s3::types::ServerSideEncryption::AwsKms)
                    .kms_master_key_id(k),
                None => rule.sse_algorithm(s3::types::ServerSideEncryption::Aes256),
            };
            let rule = rule.build().map_err(|e| {
                crate::Error::invalid(format!("bad encryption setting: {e}"), "check --kms-key")
            })?;
            let config = s3::types::ServerSideEncryptionConfiguration::builder()
                .rules(
                    s3::types::ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(rule)
                        .bucket_key_enabled(kms_key.is_some())
                        .build(),
                )
                .build()
                .map_err(|e| {
                    crate::Error::invalid(format!("bad encryption setting: {e}"), "check --kms-key")
                })?;
            c.put_bucket_encryption()
                .bucket(&b)
                .server_side_encryption_configuration(config)
                .send()
                .await
                .map_err(|e| s3_error("PutBucketEncryption", &uri, e))?;
            out.done.push(match &kms_key {
                Some(k) => format!("default encryption SSE-KMS with {k}"),
                None => "default encryption SSE-S3 (AES-256)".into(),
            });
            // Shared profiles (`profile --share`) hold a private key: gone a day after their
            // longest link (7 days) could still fetch them, old versions a day later.
            let shares = uri.key("shares/");
            let rule = s3::types::LifecycleRule::builder()
                .id(format!("vpnctl-shares-{}", uri.prefix.replace('/', "-")))
                .filter(
                    s3::types::LifecycleRuleFilter::builder()
                        .prefix(&shares)
                        .build(),
                )
                .status(s3::types::ExpirationStatus::Enabled)
                .expiration(s3::types::LifecycleExpiration::builder().days(8).build())
                .noncurrent_version_expiration(
                    s3::types::NoncurrentVersionExpiration::builder()
                        .noncurrent_days(1)
                        .build(),
                )
                .build()
                .map_err(|e| {
                    crate::Error::invalid(format!("bad lifecycle rule: {e}"), "report this bug")
                })?;
            // The call replaces the bucket's whole configuration: the rules already there (of
            // other stores in the bucket, or the owner's own) are kept, this store's replaced.
            let mut rules: Vec<s3::types::LifecycleRule> = match c
                .get_bucket_lifecycle_configuration()
                .bucket(&b)
                .send()
                .await
            {
                Ok(out) => out.rules().to_vec(),
                Err(e) if e.code() == Some("NoSuchLifecycleConfiguration") => Vec::new(),
                Err(e) => return Err(s3_error("GetBucketLifecycleConfiguration", &uri, e)),
            };
            rules.retain(|r| r.id() != rule.id());
            rules.push(rule);
            c.put_bucket_lifecycle_configuration()
                .bucket(&b)
                .lifecycle_configuration(
                    s3::types::BucketLifecycleConfiguration::builder()
                        .set_rules(Some(rules))
                        .build()
                        .map_err(|e| {
                            crate::Error::invalid(
                                format!("bad lifecycle rule: {e}"),
                                "report this bug",
                            )
                        })?,
                )
                .send()
                .await
                .map_err(|e| s3_error("PutBucketLifecycleConfiguration", &uri, e))?;
            out.done.push(format!(
                "shared profiles under {shares} expire after 8 days"
            ));
            // Tags: the bucket's own (if any) with the deployment's over them.
            let mut all: std::collections::BTreeMap<String, String> =
                match c.get_bucket_tagging().bucket(&b).send().await {
                    Ok(t) => t
                        .tag_set()
                        .iter()
                        .map(|t| (t.key().to_string(), t.value().to_string()))
                        .collect(),
                    Err(_) => Default::default(),
                };
            all.extend(tags);
            let set: Vec<s3::types::Tag> = all
                .iter()
                .filter_map(|(k, v)| s3::types::Tag::builder().key(k).value(v).build().ok())
                .collect();
            c.put_bucket_tagging()
                .bucket(&b)
                .tagging(
                    s3::types::Tagging::builder()
                        .set_tag_set(Some(set))
                        .build()
                        .map_err(|e| {
                            crate::Error::invalid(format!("bad tags: {e}"), "check the tags")
                        })?,
                )
                .send()
                .await
                .map_err(|e| s3_error("PutBucketTagging", &uri, e))?;
            out.done.push("tagged".into());
            Ok(out)
        })
    }
}

impl Objects for S3Objects {
    fn get(&self, key: &str) -> crate::Result<Option<Object>> {
        let (c, uri, full) = (self.s3.clone(), self.uri.clone(), self.uri.key(key));
        block_on(async move {
            match c.get_object().bucket(&uri.bucket).key(&full).send().await {
                Ok(out) => {
                    let etag = out.e_tag().unwrap_or_default().to_string();
                    let body = out.body.collect().await.map_err(|e| {
                        crate::Error::cloud(
                            format!("reading {full} from {uri} failed: {e}"),
                            "run the command again",
                        )
                    })?;
                    Ok(Some(Object {
                        body: body.into_bytes().to_vec(),
                        etag,
                    }))
                }
                Err(e) if e.code() == Some("NoSuchKey") => Ok(None),
                Err(e) => Err(s3_error("GetObject", &uri, e)),
            }
        })
    }

    fn put(&self, key: &str, body: &[u8], cond: Cond<'_>) -> crate::Result<Put> {
        let (c, uri, full) = (self.s3.clone(), self.uri.clone(), self.uri.key(key));
        let body = body.to_vec();
        let (if_match, if_none) = match cond {
            Cond::Any => (None, None),
            Cond::Absent => (None, Some("*".to_string())),
            Cond::Matches(e) => (Some(e.to_string()), None),
        };
        block_on(async move {
            let r = c
                .put_object()
                .bucket(&uri.bucket)
                .key(&full)
                .body(ByteStream::from(body))
                .set_if_match(if_match)
                .set_if_none_match(if_none)
                .send()
                .await;
            match r {
                Ok(out) => Ok(Put::Done(out.e_tag().unwrap_or_default().to_string())),
                Err(e)
                    if matches!(
                        e.code(),
                        Some("PreconditionFailed") | Some("ConditionalRequestConflict")
                    ) || e
                        .raw_response()
                        .is_some_and(|r| matches!(r.status().as_u16(), 409 | 412)) =>
                {
                    Ok(Put::Lost)
                }
                Err(e) => Err(s3_error("PutObject", &uri, e)),
            }
        })
    }

    fn list(&self, prefix: &str) -> crate::Result<Vec<String>> {
        let (c, uri) = (self.s3.clone(), self.uri.clone());
        let full = uri.key(prefix);
        let strip = if uri.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", uri.prefix)
        };
        block_on(async move {
            let pages: Vec<s3::operation::list_objects_v2::ListObjectsV2Output> = c
                .list_objects_v2()
                .bucket(&uri.bucket)
                .prefix(&full)
                .into_paginator()
                .send()
                .try_collect()
                .await
                .map_err(|e| s3_error("ListObjectsV2", &uri, e))?;
            let mut keys: Vec<String> = pages
                .iter()
                .flat_map(|p| p.contents())
                .filter_map(|o| o.key())
                .filter_map(|k| k.strip_prefix(&strip).map(str::to_string))
                .collect();
            keys.sort();
            Ok(keys)
        })
    }

    fn delete(&self, key: &str) -> crate::Result<()> {
        let (c, uri, full) = (self.s3.clone(), self.uri.clone(), self.uri.key(key));
        block_on(async move {
            c.delete_object()
                .bucket(&uri.bucket)
                .key(&full)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| s3_error("DeleteObject", &uri, e))
        })
    }

    fn name(&self) -> String {
        self.uri.to_string()
    }

    fn links_until(&self) -> Option<std::time::SystemTime> {
        self.expiry
    }

    /// A link anyone can GET `key` with until it expires (SigV4 query signing, at most 7
    /// days, as S3 allows).
    fn presign_get(&self, key: &str, expires: std::time::Duration) -> crate::Result<String> {
        let (c, uri, key) = (self.s3.clone(), self.uri.clone(), self.uri.key(key));
        block_on(async move {
            let cfg = s3::presigning::PresigningConfig::expires_in(expires).map_err(|e| {
                crate::Error::invalid(
                    format!("cannot sign a link that expires in {expires:?}: {e}"),
                    "give --expires from 1s to 7d",
                )
            })?;
            let req = c
                .get_object()
                .bucket(&uri.bucket)
                .key(&key)
                .presigned(cfg)
                .await
                .map_err(|e| s3_error("GetObject", &uri, e))?;
            Ok(req.uri().to_string())
        })
    }

    fn caller(&self) -> crate::Result<String> {
        if let Some(c) = self.caller.get() {
            return Ok(c.clone());
        }
        let sts = self.sts.clone();
        let arn = block_on(async move {
            sts.get_caller_identity()
                .send()
                .await
                .map_err(|e| crate::aws::to_error(classify("GetCallerIdentity", "the caller", e)))
                .map(|o| o.arn().unwrap_or("unknown").to_string())
        })?;
        let _ = self.caller.set(arn.clone());
        Ok(arn)
    }
}

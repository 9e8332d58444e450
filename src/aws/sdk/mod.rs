//! The AWS SDK adapter: implements the cloud traits with aws-sdk-ec2, aws-sdk-acm,
//! aws-sdk-scheduler (EventBridge Scheduler, for deadlines), aws-sdk-iam (the role those
//! schedules run as) and aws-sdk-sfn (the state machines of working hours and idle sleep). The
//! only module that touches SDK types, and the only place SDK errors become `CloudError`s.

use super::cloud::*;
use super::model::*;
use aws_sdk_acm as acm;
use aws_sdk_ec2 as ec2;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam as iam;
use aws_sdk_scheduler as scheduler;
use aws_sdk_sfn as sfn;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;

mod adopt;
mod certificates;
mod connect;
mod convert;
mod deadlines;
mod doctor;
mod endpoints;
mod kms;
mod machines;
mod nat;
mod network;
mod objects;

pub use adopt::Described;
pub use connect::{connect, default_region, endpoint_url, load_config};
pub use convert::parse_aws_time;
use convert::*;
pub use doctor::DryRun;
pub use kms::KmsKey;
use nat::nat_of;
pub use objects::{BucketSetup, S3Objects, block_on};

/// The clients. Reads retry as the SDK's standard mode does (throttling, 5xx, transport; 3
/// attempts, or what the profile says); mutations go through the `_once` clients (`ec2_once`,
/// `acm_once`, `scheduler_once`, `iam_once`), whose SDK retries are off, because the executor
/// retries them itself (`exec::Retry`), with the pacing of an endpoint's changes and the step's
/// time bound: for a mutation the two layers never multiply.
#[derive(Clone, Debug)]
pub struct AwsCloud {
    ec2: ec2::Client,
    ec2_once: ec2::Client,
    acm: acm::Client,
    acm_once: acm::Client,
    scheduler: scheduler::Client,
    scheduler_once: scheduler::Client,
    iam: iam::Client,
    iam_once: iam::Client,
    sfn: sfn::Client,
    sfn_once: sfn::Client,
    sts: aws_sdk_sts::Client,
}

impl AwsCloud {
    pub fn new(config: &aws_config::SdkConfig) -> AwsCloud {
        use super::trace::CallLog;
        use aws_smithy_types::retry::RetryConfig;
        // Reads keep the configuration's retries (the SDK's standard mode unless the profile
        // or AWS_MAX_ATTEMPTS says otherwise); mutations have none of the SDK's.
        let ec2 = |retry: Option<RetryConfig>| {
            let mut b = ec2::config::Builder::from(config).interceptor(CallLog);
            if let Some(r) = retry {
                b = b.retry_config(r);
            }
            ec2::Client::from_conf(b.build())
        };
        let acm = |retry: Option<RetryConfig>| {
            let mut b = acm::config::Builder::from(config).interceptor(CallLog);
            if let Some(r) = retry {
                b = b.retry_config(r);
            }
            acm::Client::from_conf(b.build())
        };
        let scheduler = |retry: Option<RetryConfig>| {
            let mut b = scheduler::config::Builder::from(config).interceptor(CallLog);
            if let Some(r) = retry {
                b = b.retry_config(r);
            }
            scheduler::Client::from_conf(b.build())
        };
        let iam = |retry: Option<RetryConfig>| {
            let mut b = iam::config::Builder::from(config).interceptor(CallLog);
            if let Some(r) = retry {
                b = b.retry_config(r);
            }
            iam::Client::from_conf(b.build())
        };
        let sfn = |retry: Option<RetryConfig>| {
            let mut b = sfn::config::Builder::from(config).interceptor(CallLog);
            if let Some(r) = retry {
                b = b.retry_config(r);
            }
            sfn::Client::from_conf(b.build())
        };
        AwsCloud {
            ec2: ec2(None),
            ec2_once: ec2(Some(RetryConfig::disabled())),
            acm: acm(None),
            acm_once: acm(Some(RetryConfig::disabled())),
            scheduler: scheduler(None),
            scheduler_once: scheduler(Some(RetryConfig::disabled())),
            iam: iam(None),
            iam_once: iam(Some(RetryConfig::disabled())),
            sfn: sfn(None),
            sfn_once: sfn(Some(RetryConfig::disabled())),
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
        out.account().map(str::to_string).ok_or_else(|| {
            CloudError::api(
                "GetCallerIdentity",
                "MissingAccount",
                "the answer names no account",
            )
        })
    }

    async fn create_tags(&self, id: &str, tags: &Tags) -> CloudResult<()> {
        self.ec2_once
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
        .ok_or_else(|| {
            CloudError::api(
                action.to_string(),
                "MissingField",
                format!("the answer to {action} has no {field}"),
            )
        })
}

/// The service an operation belongs to (for the error's cause line).
fn service_of(operation: &str) -> &'static str {
    match operation {
        "ListCertificates"
        | "ListTagsForCertificate"
        | "DescribeCertificate"
        | "ImportCertificate"
        | "GetCertificate"
        | "DeleteCertificate" => "acm",
        "GetCallerIdentity" => "sts",
        "GetObject"
        | "PutObject"
        | "DeleteObject"
        | "ListObjectsV2"
        | "HeadBucket"
        | "CreateBucket"
        | "PutBucketVersioning"
        | "PutBucketEncryption"
        | "PutPublicAccessBlock"
        | "PutBucketTagging"
        | "GetBucketTagging"
        | "PutBucketLifecycleConfiguration"
        | "GetBucketLifecycleConfiguration" => "s3",
        "DescribeKey" | "GetPublicKey" | "Sign" | "CreateKey" | "ScheduleKeyDeletion" => "kms",
        "ListSchedules"
        | "GetSchedule"
        | "CreateSchedule"
        | "UpdateSchedule"
        | "DeleteSchedule"
        | "CreateScheduleGroup"
        | "DeleteScheduleGroup" => "scheduler",
        "GetRole"
        | "CreateRole"
        | "UpdateAssumeRolePolicy"
        | "PutRolePolicy"
        | "ListRolePolicies"
        | "DeleteRolePolicy"
        | "ListAttachedRolePolicies"
        | "DetachRolePolicy"
        | "DeleteRole" => "iam",
        "ListStateMachines" | "CreateStateMachine" | "UpdateStateMachine"
        | "DeleteStateMachine" => "states",
        _ => "ec2",
    }
}

/// Classify an SDK error by AWS's code (EC2 models no error types, so the code string is the
/// only handle), keeping the call: service, operation, code, message, HTTP status, request id.
fn classify<E>(action: &str, what: &str, e: SdkError<E, HttpResponse>) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &e {
        SdkError::DispatchFailure(_)
        | SdkError::TimeoutError(_)
        | SdkError::ResponseError(_)
        | SdkError::ConstructionFailure(_) => {
            let detail = DisplayErrorContext(&e).to_string();
            let kind = if detail.contains("credentials") || detail.contains("identity") {
                Kind::NoCredentials
            } else if matches!(e, SdkError::ConstructionFailure(_)) {
                // A request that could not be built never will be: not worth a retry, and no
                // AWS call to name (`aws::to_error` words it so).
                Kind::Api
            } else {
                Kind::Unreachable
            };
            return CloudError::new(kind, detail);
        }
        _ => {}
    }
    let code = e.code().unwrap_or("Unknown").to_string();
    let message = e.message().unwrap_or("").to_string();
    let status = e.raw_response().map(|r| r.status().as_u16());
    let request_id = e
        .meta()
        .extra("aws_request_id")
        .map(str::to_string)
        .or_else(|| {
            let headers = e.raw_response()?.headers();
            ["x-amzn-requestid", "x-amz-request-id"]
                .iter()
                .find_map(|h| headers.get(*h))
                .map(str::to_string)
        });
    let kind = Kind::of(&code, &message, status);
    let shown = match kind {
        Kind::NotFound | Kind::InUse => what.to_string(),
        Kind::NoCredentials => format!("{code}: {message}"),
        _ => message.clone(),
    };
    CloudError {
        kind,
        what: shown,
        call: Some(Box::new(Call {
            service: service_of(action).to_string(),
            operation: action.to_string(),
            code,
            message,
            status,
            request_id,
        })),
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
                Err(e) => {
                    assert_eq!(e.operation(), Some("AllocateAddress"));
                    assert!(e.what.contains("AllocationId"), "{e}");
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

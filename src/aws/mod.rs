//! The AWS side: vpnctl's own resource model (`model`), narrow cloud traits (`cloud`) and their
//! SDK adapter (`sdk`), the pure planner (`plan`), observe-and-apply (`exec`), the one waiter
//! (`wait`) and the one price table (`price`).

pub mod cloud;
pub mod exec;
#[cfg(test)]
pub mod fake;
pub mod model;
pub mod permissions;
pub mod plan;
pub mod price;
pub mod sdk;
pub mod trace;
pub mod wait;

use crate::error::Error;
use cloud::{CloudError, Kind};

/// Turn a classified cloud error into vpnctl's error, with a hint that says what to do; the
/// call AWS answered stays attached as the cause.
pub fn to_error(e: CloudError) -> Error {
    let endpoint = sdk::endpoint_url();
    let CloudError { kind, what, call } = e;
    if kind == Kind::Api && call.is_none() {
        // Refused before any call was made (the SDK could not build the request).
        return Error::cloud(
            format!(
                "the request to AWS could not be made: {}",
                first_line(&what)
            ),
            "check --region, --profile and AWS_ENDPOINT_URL; this is not something AWS refused",
        );
    }
    // Only a call AWS answered is a cause worth printing (vpnctl's own refusals name no service).
    let call = call.filter(|c| !c.service.is_empty());
    let with_call = |err: Error| match err {
        Error::Cloud { message, hint, .. } => Error::Cloud {
            message,
            hint,
            cause: call.clone(),
        },
        other => other,
    };
    with_call(match kind {
        Kind::NotFound => Error::not_found(
            format!("{what} does not exist"),
            "check the id or Name tag, the region (--region) and the account (--profile)",
        ),
        Kind::InUse => Error::cloud(
            format!("{what} is still in use"),
            "wait a minute and run the command again",
        ),
        Kind::NoCredentials => Error::cloud(
            format!("no AWS credentials: {}", first_line(&what)),
            "configure credentials as for the AWS CLI: `aws configure`, AWS_PROFILE / --profile, \
                or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        ),
        Kind::Unreachable => Error::cloud(
            format!(
                "cannot reach AWS{}: {}",
                endpoint.map(|u| format!(" at {u}")).unwrap_or_default(),
                first_line(&what)
            ),
            if endpoint.is_some() {
                "check AWS_ENDPOINT_URL: is something listening there?"
            } else {
                "check the network and --region"
            },
        ),
        Kind::Throttled => Error::cloud(
            format!("AWS is throttling requests: {what}"),
            "wait a little and run the command again; it continues where it stopped",
        ),
        Kind::Busy => Error::cloud(
            format!("AWS is busy with other changes to the endpoint: {what}"),
            "wait a minute and run the same command again; it continues where it stopped",
        ),
        Kind::ServerError => Error::cloud(
            format!("AWS failed on its side: {what}"),
            "run the same command again; it continues where it stopped",
        ),
        Kind::Api => {
            let (operation, code) = call
                .as_deref()
                .map(|c| (c.operation.clone(), c.code.clone()))
                .unwrap_or_default();
            if code == "NoRegion" {
                Error::invalid(
                    what,
                    format!(
                        "pass --region, set AWS_REGION, or set region in the profile \
                         ({operation})"
                    ),
                )
            } else if code.ends_with("LimitExceeded") {
                Error::cloud(
                    format!("AWS refused {operation}: {code}: {what}"),
                    "an AWS quota: remove what you no longer need, or ask for more in Service \
                     Quotas (AWS Client VPN, or Amazon EC2 for NAT gateways and Elastic IPs); \
                     re-running continues where it stopped",
                )
            } else {
                Error::cloud(
                    format!("AWS refused {operation}: {code}: {what}"),
                    "fix what the message names; re-running continues where it stopped",
                )
            }
        }
    })
}

/// The readable head of an SDK error chain: without the Debug dump the SDK appends and the
/// list of every credential provider it tried.
fn first_line(s: &str) -> String {
    let mut s = s.replace('\n', " ");
    if let Some(i) = s.find(". Attempted:") {
        s.truncate(i);
    }
    // The SDK appends a Debug dump such as " (DispatchFailure(DispatchFailure { ...": cut at
    // the first " (" that opens a type name followed by "(" or " {".
    let bytes = s.as_bytes();
    let cut = (0..bytes.len().saturating_sub(2)).find(|&i| {
        bytes[i] == b' ' && bytes[i + 1] == b'(' && bytes[i + 2].is_ascii_uppercase() && {
            let rest = &s[i + 2..];
            let name_len = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .count();
            rest[name_len..].starts_with('(') || rest[name_len..].starts_with(" {")
        }
    });
    if let Some(i) = cut {
        s.truncate(i);
    }
    if s.len() > 300 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(300).map(|(i, _)| i).unwrap_or(s.len())]
        )
    } else {
        s
    }
}

/// Turn a failed step into vpnctl's error.
pub fn step_error(e: exec::StepError) -> Error {
    match e.error {
        wait::WaitError::Timeout(what, state, waited) => Error::timeout(
            format!(
                "gave up waiting for {what}: still '{state}' after {}",
                wait::elapsed(waited)
            ),
            "AWS is slow or stuck; run the same command again to keep waiting (nothing is lost)",
        ),
        wait::WaitError::Refused(message, hint) => {
            Error::conflict(format!("{}: {message}", e.step), hint)
        }
        wait::WaitError::Unverified(what) => Error::incomplete(
            format!("{}: {what}", e.step),
            "run the same command again; it compares and imports again",
        ),
        wait::WaitError::Cloud(c) => {
            let inner = to_error(c);
            let hint = inner.hint().to_string();
            match inner {
                Error::NotFound { message, .. } => {
                    Error::not_found(format!("{}: {message}", e.step), hint)
                }
                Error::Cloud { message, cause, .. } => Error::Cloud {
                    message: format!("{}: {message}", e.step),
                    hint,
                    cause,
                },
                other => Error::cloud(format!("{}: {other}", e.step), hint),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_cloud_error_says_what_happened_and_only_transient_ones_are_retried() {
        // A request the SDK could not build: no AWS call to name, and never retried.
        let built = CloudError::new(Kind::Api, "invalid configuration\nmore");
        assert!(!built.is_transient());
        let e = to_error(built);
        assert!(
            matches!(&e, Error::Cloud { message, cause: None, .. }
                if message == "the request to AWS could not be made: invalid configuration more"),
            "{e:?}"
        );
        // AWS's answer keeps its call as the cause; vpnctl's own refusal names no service.
        let answered = CloudError::answered("ec2", "CreateRoute", "InvalidRoute.Malformed", "bad");
        assert!(!answered.is_transient());
        assert!(matches!(
            to_error(answered),
            Error::Cloud { cause: Some(_), .. }
        ));
        let own = CloudError::api("plan", "BadCidr", "x");
        assert!(matches!(to_error(own), Error::Cloud { cause: None, .. }));
        for code in [
            "RequestLimitExceeded",
            "ConcurrentMutationLimitExceeded",
            "InternalError",
            "ServiceUnavailable",
        ] {
            assert!(
                CloudError::answered("ec2", "X", code, "").is_transient(),
                "{code}"
            );
        }
        assert!(CloudError::new(Kind::Unreachable, "refused").is_transient());
    }
}

//! `-v` / `--debug`: one log line per AWS call attempt (service, operation, HTTP status,
//! duration, request id, AWS error code), through `tracing`, from an SDK interceptor that every
//! client of the adapter carries. Nothing here changes a call. The same interceptor notes
//! AWS's clock (every answer's `Date` header) for `vpnctl doctor`'s skew check.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use std::time::Instant;

/// AWS's time from the last answer's `Date` header, and the local clock when it came.
static AWS_CLOCK: std::sync::Mutex<Option<(i64, std::time::SystemTime)>> =
    std::sync::Mutex::new(None);

/// How far the local clock is ahead of AWS's (negative: behind), in seconds, from the last
/// answer seen; `None` before any answer with a `Date` header. The header has whole seconds,
/// so the figure is good to about a second.
pub fn clock_skew() -> Option<i64> {
    let (aws, local) = (*AWS_CLOCK.lock().ok()?)?;
    let local = local.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some(i64::try_from(local).ok()? - aws)
}

/// An HTTP date (`Thu, 03 Dec 2026 10:12:00 GMT`) as unix seconds.
pub fn http_date(text: &str) -> Option<i64> {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(text.trim(), fmt)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

/// The `tracing` target of the call log (`-v` turns it on).
pub const TARGET: &str = "vpnctl::aws";

#[derive(Debug, Clone, Copy)]
struct Started(Instant);
impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug, Clone, Default)]
struct Answer {
    request_id: Option<String>,
    code: Option<String>,
}
impl Storable for Answer {
    type Storer = StoreReplace<Self>;
}

/// The interceptor. Cheap when the log is off: `tracing` skips the formatting.
#[derive(Debug, Default)]
pub struct CallLog;

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "vpnctl call log"
    }

    fn read_before_attempt(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(Instant::now()));
        cfg.interceptor_state().store_put(Answer::default());
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        ctx: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(aws) = ctx.response().headers().get("date").and_then(http_date)
            && let Ok(mut clock) = AWS_CLOCK.lock()
        {
            *clock = Some((aws, std::time::SystemTime::now()));
        }
        if !tracing::enabled!(target: TARGET, tracing::Level::DEBUG) {
            return Ok(());
        }
        let response = ctx.response();
        let headers = response.headers();
        let body = response
            .body()
            .bytes()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let request_id = ["x-amzn-requestid", "x-amz-request-id"]
            .iter()
            .find_map(|h| headers.get(*h).map(str::to_string))
            .or_else(|| xml_field(&body, "RequestID"))
            .or_else(|| xml_field(&body, "requestId"));
        let code = if response.status().is_success() {
            None
        } else {
            error_code(headers.get("x-amzn-errortype"), &body)
        };
        cfg.interceptor_state()
            .store_put(Answer { request_id, code });
        Ok(())
    }

    fn read_after_attempt(
        &self,
        ctx: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !tracing::enabled!(target: TARGET, tracing::Level::DEBUG) {
            return Ok(());
        }
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_string(), m.name().to_string()))
            .unwrap_or_else(|| ("?".into(), "?".into()));
        let ms = cfg
            .load::<Started>()
            .map(|s| s.0.elapsed().as_millis())
            .unwrap_or(0);
        let answer = cfg.load::<Answer>().cloned().unwrap_or_default();
        let outcome = match ctx.response() {
            Some(r) => {
                let mut s = format!("HTTP {}", r.status().as_u16());
                if let Some(c) = &answer.code {
                    s.push_str(&format!(" {c}"));
                }
                s
            }
            None => match ctx.output_or_error() {
                Some(Err(e)) => format!("no answer ({})", first_line(&e.to_string())),
                _ => "no answer".to_string(),
            },
        };
        let id = answer
            .request_id
            .map(|r| format!(", request id {r}"))
            .unwrap_or_default();
        tracing::debug!(target: TARGET, "aws {service} {operation}: {outcome} in {ms} ms{id}");
        Ok(())
    }
}

/// The AWS error code of an error answer: the JSON protocols' `x-amzn-ErrorType` header or
/// `__type` field (ACM, STS), the query protocol's `<Code>` element (EC2).
pub fn error_code(header: Option<&str>, body: &str) -> Option<String> {
    let strip = |t: &str| {
        let t = t.split(':').next().unwrap_or(t);
        t.rsplit('#').next().unwrap_or(t).trim().to_string()
    };
    if let Some(h) = header.filter(|h| !h.is_empty()) {
        return Some(strip(h));
    }
    if let Some(i) = body.find("\"__type\"") {
        let rest = &body[i + "\"__type\"".len()..];
        let rest = rest.trim_start().strip_prefix(':')?.trim_start();
        let rest = rest.strip_prefix('"')?;
        return rest.split('"').next().map(strip).filter(|c| !c.is_empty());
    }
    xml_field(body, "Code")
}

/// The text of the first `<name>…</name>` element in `body`.
fn xml_field(body: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find('<')? + start;
    Some(body[start..end].trim().to_string()).filter(|s| !s.is_empty())
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// Turn the log on for this process: `-v` shows vpnctl's call log; `--debug` adds the SDK's
/// own debug events (credential resolution, retries). Without either, nothing is installed.
pub fn init(verbose: bool, debug: bool) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    if !verbose && !debug {
        return;
    }
    let mut filter = Targets::new().with_target("vpnctl", LevelFilter::DEBUG);
    if debug {
        for sdk in [
            "aws_config",
            "aws_smithy_runtime",
            "aws_runtime",
            "aws_sdk_sts",
        ] {
            filter = filter.with_target(sdk, LevelFilter::DEBUG);
        }
    }
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .with_level(false)
        .with_target(debug);
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_of_each_protocol() {
        let ec2 = "<Response><Errors><Error><Code>InvalidSubnetID.NotFound</Code>\
                   <Message>x</Message></Error></Errors><RequestID>r-1</RequestID></Response>";
        assert_eq!(
            error_code(None, ec2).as_deref(),
            Some("InvalidSubnetID.NotFound")
        );
        assert_eq!(xml_field(ec2, "RequestID").as_deref(), Some("r-1"));
        let acm = r#"{"__type": "com.amazonaws.acm#ResourceNotFoundException", "message": "m"}"#;
        assert_eq!(
            error_code(None, acm).as_deref(),
            Some("ResourceNotFoundException")
        );
        assert_eq!(
            error_code(Some("ThrottlingException:http://x"), "").as_deref(),
            Some("ThrottlingException")
        );
        assert_eq!(error_code(None, "plain text"), None);
    }

    #[test]
    fn http_dates_as_aws_sends_them() {
        assert_eq!(
            http_date("Thu, 03 Dec 2026 10:12:00 GMT"),
            Some(1_796_292_720)
        );
        assert_eq!(http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        for bad in ["", "2026-12-03T10:12:00Z", "Thu, 03 Dec 2026 10:12:00 PST"] {
            assert_eq!(http_date(bad), None, "{bad}");
        }
    }
}

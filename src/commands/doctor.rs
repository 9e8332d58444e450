//! `vpnctl doctor`: everything that would break a Monday morning, checked now, each with a
//! one-line verdict and, when it fails, the fix. Reads only: no lock, no repair, no change
//! (the permission checks are EC2 DryRuns).

use super::{Ctx, runtime};
use crate::aws::model::{self, EndpointState};
use crate::aws::sdk::DryRun;
use crate::cli::DoctorArgs;
use crate::error::{Error, Result};
use crate::pki::cert;
use crate::pki::store::{Pki, Status, date, days_left};
use serde::Serialize;
use time::OffsetDateTime;

/// A certificate or CRL this close to its end is a warning.
const SOON_DAYS: i64 = 14;
/// A CA this close to its end: a new PKI takes planning.
const CA_SOON_DAYS: i64 = 60;
/// Skew AWS's signatures tolerate (5 minutes for most services, 15 for some: a request signed
/// further off is refused as expired), and the skew worth a warning.
const SKEW_FAILS: i64 = 300;
const SKEW_WARNS: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    Warn,
    Fail,
    /// Not checked (what it needs failed, or does not exist).
    Skip,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub verdict: Verdict,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn check(name: &'static str, verdict: Verdict, detail: impl Into<String>) -> Check {
    Check {
        name,
        verdict,
        detail: detail.into(),
        fix: None,
    }
}

impl Check {
    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
}

/// Every check's name, in the order they run (what `--skip` takes).
pub const CHECKS: &[&str] = &[
    "pki",
    "ca",
    "server certificate",
    "client certificates",
    "crl",
    "region",
    "credentials",
    "clock",
    "quota",
    "deployment",
    "permissions",
    "connection logging",
    "client root",
    "acm certificate",
    "endpoint crl",
    "profiles",
];

pub fn run(ctx: &Ctx, args: &DoctorArgs) -> Result<()> {
    for name in &args.skip {
        if !CHECKS.contains(&name.as_str()) {
            return Err(Error::invalid(
                format!("--skip {name:?}: doctor has no such check"),
                format!("name one of: {}", CHECKS.join(", ")),
            ));
        }
    }
    let mut checks = Vec::new();
    let pki = local(ctx, &mut checks);
    let rt = runtime()?;
    rt.block_on(remote(ctx, args, pki.as_ref(), &mut checks));
    // A skipped check still runs (others build on what it reads); its verdict is not counted.
    for c in &mut checks {
        if args.skip.iter().any(|s| s == c.name) {
            c.verdict = Verdict::Skip;
            c.detail = format!("skipped (--skip): {}", c.detail);
            c.fix = None;
        }
    }
    report(ctx, args, &checks)
}

/// The PKI's checks, offline: the PKI itself, the CA, the server and client certificates, the
/// CRL's next-update.
fn local(ctx: &Ctx, checks: &mut Vec<Check>) -> Option<Pki> {
    let now = ctx.now;
    let pki = match ctx.open_pki() {
        Ok(p) => p,
        Err(e) => {
            let missing = matches!(e, Error::NotFound { .. });
            checks.push(check("pki", Verdict::Fail, e.to_string()).fix(if missing {
                format!(
                    "`{}` creates one, or `{}` adopts an easy-rsa PKI",
                    ctx.vpnctl("pki init"),
                    ctx.vpnctl("pki import-easyrsa DIR")
                )
            } else {
                e.hint().to_string()
            }));
            return None;
        }
    };
    checks.push(check(
        "pki",
        Verdict::Ok,
        format!(
            "{} (deployment {}, CRL number {})",
            ctx.pki_dir.display(),
            pki.meta.deployment,
            pki.meta.crl_number
        ),
    ));
    match pki.ca_info() {
        Ok(ca) => checks.push(expiry(
            "ca",
            ca.not_after,
            now,
            CA_SOON_DAYS,
            "every certificate dies with it: plan a new PKI (`vpnctl pki init --force` and \
             issue everyone again)"
                .into(),
        )),
        Err(e) => checks.push(check("ca", Verdict::Fail, e.to_string()).fix(e.hint())),
    }
    match pki
        .server_cert_pem()
        .and_then(|p| cert::inspect(&p, "the server certificate"))
    {
        Ok(server) => checks.push(expiry(
            "server certificate",
            server.not_after,
            now,
            SOON_DAYS,
            format!(
                "`{}`, then `{}` imports it to the same ARN",
                ctx.vpnctl("pki renew server"),
                ctx.vpnctl("setup")
            ),
        )),
        Err(e) => checks.push(
            check("server certificate", Verdict::Fail, e.to_string())
                .fix(format!("`{}`", ctx.vpnctl("pki renew server"))),
        ),
    }
    // A deployment whose users sign in without client certificates uses neither.
    let certless = crate::state::load(&ctx.pki_dir, &ctx.deployment)
        .is_some_and(|st| st.certificates == Some(false));
    if certless {
        for name in ["client certificates", "crl"] {
            checks.push(check(
                name,
                Verdict::Ok,
                "not used: users sign in without client certificates",
            ));
        }
    } else {
        checks.push(clients(ctx, &pki, now));
        checks.push(crl(ctx, &pki, now));
    }
    Some(pki)
}

/// A validity end: fail when past, warn within `soon` days.
fn expiry(
    name: &'static str,
    not_after: OffsetDateTime,
    now: OffsetDateTime,
    soon: i64,
    fix: String,
) -> Check {
    let left = days_left(not_after, now);
    if not_after <= now {
        check(
            name,
            Verdict::Fail,
            format!("expired on {}", date(not_after)),
        )
        .fix(fix)
    } else if left < soon {
        check(
            name,
            Verdict::Warn,
            format!("expires in {left} days ({})", date(not_after)),
        )
        .fix(fix)
    } else {
        check(
            name,
            Verdict::Ok,
            format!("valid until {} ({left} days)", date(not_after)),
        )
    }
}

/// The users' current certificates: any that expired or expires soon (a user each).
fn clients(ctx: &Ctx, pki: &Pki, now: OffsetDateTime) -> Check {
    let entries = match pki.current_entries() {
        Ok(e) => e,
        Err(e) => return check("client certificates", Verdict::Fail, e.to_string()).fix(e.hint()),
    };
    let users: Vec<_> = entries
        .iter()
        .filter(|e| e.cn != pki.meta.server_name && !e.is_revoked())
        .collect();
    let expired: Vec<&str> = users
        .iter()
        .filter(|e| Status::of(e, now) == Status::Expired)
        .map(|e| e.cn.as_str())
        .collect();
    let soon: Vec<String> = users
        .iter()
        .filter(|e| Status::of(e, now) == Status::Valid && days_left(e.not_after, now) < SOON_DAYS)
        .map(|e| format!("{} ({} days)", e.cn, days_left(e.not_after, now)))
        .collect();
    let valid = users.len() - expired.len();
    if expired.is_empty() && soon.is_empty() {
        return check(
            "client certificates",
            Verdict::Ok,
            format!("{valid} valid, none expires within {SOON_DAYS} days"),
        );
    }
    let mut detail = Vec::new();
    if !expired.is_empty() {
        detail.push(format!("expired: {}", expired.join(", ")));
    }
    if !soon.is_empty() {
        detail.push(format!("expiring: {}", soon.join(", ")));
    }
    // A user's certificate is that user's problem, not the deployment's: a warning.
    let first = expired
        .first()
        .map(|s| s.to_string())
        .or_else(|| {
            soon.first()
                .and_then(|s| s.split(' ').next().map(str::to_string))
        })
        .unwrap_or_default();
    check("client certificates", Verdict::Warn, detail.join("; ")).fix(format!(
        "`{}` (and each other one), then `{}` hands out the new profile",
        ctx.vpnctl(&format!("pki renew {first}")),
        ctx.vpnctl(&format!("profile {first}"))
    ))
}

/// The local CRL's next-update: once past, the endpoint refuses every user.
fn crl(ctx: &Ctx, pki: &Pki, now: OffsetDateTime) -> Check {
    let info = pki
        .crl_pem()
        .and_then(|crl| cert::inspect_crl(&crl, &pki.ca_pem()?));
    let fix = format!(
        "`{}` makes a new one, `{}` gives it to the endpoint",
        ctx.vpnctl("pki crl"),
        ctx.vpnctl("pki merge-crl")
    );
    match info {
        Err(e) => check("crl", Verdict::Fail, e.to_string()).fix(fix),
        Ok(info) => match info.next_update {
            None => check("crl", Verdict::Warn, "it has no next-update").fix(fix),
            Some(t) if t <= now => check(
                "crl",
                Verdict::Fail,
                format!(
                    "its next-update passed on {}: AWS refuses every user while the endpoint \
                     holds it",
                    date(t)
                ),
            )
            .fix(fix),
            Some(t) => {
                let mut c = expiry("crl", t, now, SOON_DAYS, fix);
                c.detail = format!(
                    "{} revoked; next-update {} ({} days)",
                    info.revoked.len(),
                    date(t),
                    days_left(t, now)
                );
                c
            }
        },
    }
}

/// The AWS side: credentials, region, clock, permissions, quota, and the deployment's
/// endpoint against the local PKI and profiles.
async fn remote(ctx: &Ctx<'_>, args: &DoctorArgs, pki: Option<&Pki>, checks: &mut Vec<Check>) {
    // A refused signature can be the clock's fault: it is checked whenever AWS answered.
    let skip_rest = |checks: &mut Vec<Check>, why: &str| {
        checks.push(clock());
        for name in ["deployment", "permissions"] {
            checks.push(check(name, Verdict::Skip, why));
        }
    };
    let (cloud, region) = match super::connect(ctx, &args.aws).await {
        Ok(c) => c,
        Err(e) => {
            // Connecting resolves the region and the credentials: say which failed.
            let text = e.to_string();
            let detail = text.rsplit(": ").next().unwrap_or(&text).to_string();
            if text.contains("credential") {
                checks.push(check("region", Verdict::Skip, "not reached"));
                checks.push(
                    check("credentials", Verdict::Fail, detail)
                        .fix(format!("{} (for SSO: `aws sso login`)", e.hint())),
                );
            } else {
                let fix = if text.contains("region") {
                    "name one: --region REGION, AWS_REGION, or `region` in the deployment's \
                     vpnctl.toml table or in the AWS profile"
                        .to_string()
                } else {
                    e.hint().to_string()
                };
                checks.push(check("region", Verdict::Fail, detail).fix(fix));
            }
            skip_rest(checks, "no connection to AWS");
            return;
        }
    };
    checks.push(check("region", Verdict::Ok, region.clone()));
    match cloud.caller().await {
        Ok((account, arn)) => checks.push(check(
            "credentials",
            Verdict::Ok,
            format!("account {account} as {arn}"),
        )),
        Err(e) => {
            let e = crate::aws::to_error(e);
            checks.push(
                check("credentials", Verdict::Fail, e.to_string()).fix(format!(
                    "{} (AWS_PROFILE or --profile, `aws sso login`, or `aws configure`)",
                    e.hint()
                )),
            );
            skip_rest(checks, "no credentials");
            return;
        }
    }
    checks.push(clock());
    let seen = match crate::aws::exec::observe(&cloud, &ctx.deployment, false).await {
        Ok(seen) => seen,
        Err(e) => {
            let e = crate::aws::to_error(e);
            checks.push(
                check("deployment", Verdict::Fail, e.to_string()).fix(format!(
                    "{}; `{}` prints the policy vpnctl needs",
                    e.hint(),
                    ctx.vpnctl("iam-policy")
                )),
            );
            return;
        }
    };
    let endpoint = seen
        .endpoints
        .iter()
        .find(|v| {
            v.endpoint
                .as_ref()
                .is_some_and(|e| e.state != EndpointState::Deleting)
        })
        .cloned();
    checks.push(quota(ctx, &cloud, endpoint.is_some()).await);
    let Some(view) = endpoint else {
        checks.push(
            check(
                "deployment",
                Verdict::Warn,
                format!("deployment {} has no endpoint in {region}", ctx.deployment),
            )
            .fix(format!(
                "`{}`",
                ctx.vpnctl("setup --vpc … --subnet … --client-cidr …")
            )),
        );
        checks.push(permissions(ctx, &cloud, None, pki, &seen).await);
        return;
    };
    let ep = view
        .endpoint
        .clone()
        .unwrap_or_else(|| unreachable!("found with an endpoint"));
    let billing = view
        .associations
        .iter()
        .filter(|a| model::association_bills(&a.state))
        .count();
    checks.push(check(
        "deployment",
        Verdict::Ok,
        format!(
            "endpoint {} ({}), {billing} subnet(s) associated",
            ep.id, ep.state
        ),
    ));
    checks.push(permissions(ctx, &cloud, Some(&view), pki, &seen).await);
    checks.push(logging(ctx, &ep));
    let Some(pki) = pki else {
        for name in ["client root", "acm certificate", "endpoint crl", "profiles"] {
            checks.push(check(name, Verdict::Skip, "no local PKI to compare with"));
        }
        return;
    };
    checks.push(client_root(ctx, &cloud, &ep, pki).await);
    checks.push(acm_certificate(ctx, &seen, pki));
    checks.push(endpoint_crl(ctx, &view, pki));
    checks.push(profiles(ctx, &ep, pki));
}

/// The local clock against AWS's (the `Date` of the answers so far).
fn clock() -> Check {
    let Some(skew) = crate::aws::trace::clock_skew() else {
        return check(
            "clock",
            Verdict::Skip,
            "no answer from AWS carried its time",
        );
    };
    let how = match skew {
        0 => "in step with AWS's".to_string(),
        s if s > 0 => format!("{s} s ahead of AWS's"),
        s => format!("{} s behind AWS's", -s),
    };
    let fix = "sync the clock (`timedatectl set-ntp true`, or your system's time settings)";
    match skew.abs() {
        s if s >= SKEW_FAILS => check(
            "clock",
            Verdict::Fail,
            format!("this clock is {how}: AWS refuses requests signed 5 minutes off"),
        )
        .fix(fix),
        s if s >= SKEW_WARNS => {
            check("clock", Verdict::Warn, format!("this clock is {how}")).fix(fix)
        }
        _ => check("clock", Verdict::Ok, format!("this clock is {how}")),
    }
}

/// Client VPN endpoints in the Region against the quota (AWS's default, or the config's).
async fn quota(ctx: &Ctx<'_>, cloud: &crate::aws::sdk::AwsCloud, has_endpoint: bool) -> Check {
    use crate::aws::cloud::Endpoints;
    let limit = ctx
        .config
        .quotas
        .endpoints_per_region
        .unwrap_or(crate::aws::plan::ENDPOINTS_PER_REGION);
    let n = match cloud.endpoints_in_region().await {
        Ok(n) => n,
        Err(e) => {
            let e = crate::aws::to_error(e);
            return check("quota", Verdict::Warn, format!("could not count: {e}")).fix(e.hint());
        }
    };
    let detail = format!("{n} of {limit} Client VPN endpoints in the Region");
    let raise = "ask AWS for more in Service Quotas (AWS Client VPN, \"Client VPN endpoints per \
                 Region\", L-8EA77D34), then set [quotas] endpoints_per_region in vpnctl.toml, \
                 or tear an unused endpoint down";
    if n >= limit && !has_endpoint {
        check(
            "quota",
            Verdict::Fail,
            format!("{detail}: AWS would refuse this deployment's"),
        )
        .fix(raise)
    } else if n >= limit {
        check(
            "quota",
            Verdict::Warn,
            format!("{detail}: no room for another"),
        )
        .fix(raise)
    } else {
        check("quota", Verdict::Ok, detail)
    }
}

/// EC2's DryRun of the Client VPN changes the commands make; and the services vpnctl reads
/// beside EC2 (Scheduler, IAM, Step Functions), from what observe could read.
async fn permissions(
    ctx: &Ctx<'_>,
    cloud: &crate::aws::sdk::AwsCloud,
    view: Option<&crate::aws::plan::EndpointView>,
    pki: Option<&Pki>,
    seen: &crate::aws::plan::Observed,
) -> Check {
    let crl = pki.and_then(|p| p.crl_pem().ok());
    let ep = view.and_then(|v| v.endpoint.as_ref());
    let association = view.and_then(|v| v.associations.first());
    let subnet = association.map(|a| a.subnet_id.as_str());
    let runs = cloud
        .dry_runs(
            ep.map(|e| e.id.as_str()),
            subnet,
            association.map(|a| a.id.as_str()),
            crl.as_deref(),
        )
        .await;
    let denied: Vec<&str> = runs
        .iter()
        .filter(|(_, r)| matches!(r, DryRun::Denied(_)))
        .map(|(a, _)| *a)
        .collect();
    let unknown: Vec<String> = runs
        .iter()
        .filter_map(|(a, r)| match r {
            DryRun::Unknown(why) => Some(format!("{a} ({why})")),
            _ => None,
        })
        .collect();
    let mut unread: Vec<String> = Vec::new();
    if let Some(why) = &seen.deadlines_unread {
        unread.push(format!("deadlines: {why}"));
    }
    if let Some(why) = &seen.machines_unread {
        unread.push(format!("state machines: {why}"));
    }
    let fix = format!(
        "`{}` prints the least-privilege policy; attach it to this identity",
        ctx.vpnctl("iam-policy")
    );
    if !denied.is_empty() {
        return check(
            "permissions",
            Verdict::Fail,
            format!("AWS would refuse {}", denied.join(", ")),
        )
        .fix(fix);
    }
    if !unknown.is_empty() || !unread.is_empty() {
        let mut detail = unknown;
        detail.extend(unread);
        return check(
            "permissions",
            Verdict::Warn,
            format!("could not tell: {}", detail.join("; ")),
        )
        .fix(fix);
    }
    check(
        "permissions",
        Verdict::Ok,
        format!(
            "DryRun allowed {}; the deadlines and state machines are readable",
            runs.iter()
                .map(|(a, _)| a.trim_start_matches("ec2:"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}

/// Connection logging: opt-in, so off is a warning, never a failure.
fn logging(ctx: &Ctx, ep: &model::Endpoint) -> Check {
    match &ep.log_group {
        Some(group) => check(
            "connection logging",
            Verdict::Ok,
            format!("on, to CloudWatch Logs group {group}"),
        ),
        None => check(
            "connection logging",
            Verdict::Warn,
            "off: who connected when is not recorded",
        )
        .fix(format!("`{}`", ctx.vpnctl("setup … --log-group NAME"))),
    }
}

/// The CA the endpoint trusts for clients is this PKI's (else no profile from here connects).
async fn client_root(
    ctx: &Ctx<'_>,
    cloud: &crate::aws::sdk::AwsCloud,
    ep: &model::Endpoint,
    pki: &Pki,
) -> Check {
    if !ep.certificates {
        return check(
            "client root",
            Verdict::Ok,
            "no client certificates: users sign in by their sign-in alone",
        );
    }
    let ca = match pki.ca_pem() {
        Ok(ca) => ca,
        Err(e) => return check("client root", Verdict::Skip, e.to_string()),
    };
    let described = match cloud.endpoint_by_id(&ep.id).await {
        Ok(Some(d)) => d,
        Ok(None) => return check("client root", Verdict::Skip, "the endpoint is gone"),
        Err(e) => {
            let e = crate::aws::to_error(e);
            return check("client root", Verdict::Warn, e.to_string()).fix(e.hint());
        }
    };
    for arn in &described.client_roots {
        match cloud.certificate_and_chain(arn).await {
            Ok((body, chain)) if super::adopt::chains_to(&body, chain.as_deref(), &ca) => {}
            Ok(_) => {
                return check(
                    "client root",
                    Verdict::Fail,
                    format!("the endpoint trusts clients of another CA ({arn})"),
                )
                .fix(format!(
                    "this PKI is not the endpoint's: check --pki and --name, or `{}` the \
                     PKI it was made with",
                    ctx.vpnctl("pki import-easyrsa DIR")
                ));
            }
            Err(e) => {
                let e = crate::aws::to_error(e);
                return check("client root", Verdict::Warn, e.to_string()).fix(e.hint());
            }
        }
    }
    check(
        "client root",
        Verdict::Ok,
        "the endpoint trusts this PKI's CA",
    )
}

/// ACM's server certificate is the local one (else a renewal has not reached AWS).
fn acm_certificate(ctx: &Ctx, seen: &crate::aws::plan::Observed, pki: &Pki) -> Check {
    let Some(acm) = &seen.server_cert_body else {
        return check(
            "acm certificate",
            Verdict::Skip,
            "ACM's certificate was not read",
        );
    };
    let arn = seen
        .server_cert()
        .map(|c| c.arn.clone())
        .unwrap_or_default();
    let (local, ca) = match (pki.server_cert_pem(), pki.ca_pem()) {
        (Ok(local), Ok(ca)) => (local, ca),
        (Err(e), _) | (_, Err(e)) => return check("acm certificate", Verdict::Skip, e.to_string()),
    };
    if super::adopt::same_cert(&local) == super::adopt::same_cert(acm) {
        return check(
            "acm certificate",
            Verdict::Ok,
            format!("{arn} is this PKI's server certificate"),
        );
    }
    if cert::signed_by(acm, &ca) {
        // An older server certificate of this CA (a renewal that has not reached AWS).
        return check(
            "acm certificate",
            Verdict::Fail,
            format!("{arn} is an older server certificate of this PKI"),
        )
        .fix(format!(
            "`{}` imports the current one to the same ARN (the endpoint keeps it)",
            ctx.vpnctl("setup")
        ));
    }
    check(
        "acm certificate",
        Verdict::Fail,
        format!("{arn} was issued by another CA: another PKI uses this deployment name"),
    )
    .fix(
        "use this PKI under another --name, or work from the directory of the PKI that made \
         the deployment",
    )
}

/// The endpoint's CRL is the local one: behind, a revoked user still connects; ahead, another
/// copy of the PKI revoked someone this one does not know.
fn endpoint_crl(ctx: &Ctx, view: &crate::aws::plan::EndpointView, pki: &Pki) -> Check {
    let fix = format!(
        "`{}` merges the two and gives the endpoint the result",
        ctx.vpnctl("pki merge-crl")
    );
    if view.endpoint.as_ref().is_some_and(|e| !e.certificates) {
        return check(
            "endpoint crl",
            Verdict::Ok,
            "no client certificates, so no CRL to hold",
        );
    }
    let Some(theirs) = &view.crl else {
        return check(
            "endpoint crl",
            Verdict::Fail,
            "the endpoint holds no CRL: no revocation is in force",
        )
        .fix(fix);
    };
    let local = pki.meta.crl_number;
    match cert::crl_number(theirs) {
        Some(n) if n == local => check(
            "endpoint crl",
            Verdict::Ok,
            format!("the endpoint holds this PKI's CRL (number {n})"),
        ),
        Some(n) if n < local => check(
            "endpoint crl",
            Verdict::Fail,
            format!(
                "the endpoint holds CRL number {n}, this PKI is at {local}: later revocations \
                 are not in force"
            ),
        )
        .fix(fix),
        Some(n) => check(
            "endpoint crl",
            Verdict::Fail,
            format!(
                "the endpoint holds CRL number {n}, ahead of this PKI's {local}: another copy \
                 of the PKI revoked someone"
            ),
        )
        .fix(fix),
        None => check(
            "endpoint crl",
            Verdict::Warn,
            "the endpoint's CRL has no number to compare",
        )
        .fix(fix),
    }
}

/// Every written profile points at the live endpoint (its name and port).
fn profiles(ctx: &Ctx, ep: &model::Endpoint, pki: &Pki) -> Check {
    let dir = pki.layout.profiles_dir();
    let Some(dns) = ep.dns_name.as_deref().map(|d| d.trim_start_matches("*.")) else {
        return check(
            "profiles",
            Verdict::Skip,
            "the endpoint has no DNS name yet",
        );
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return check(
            "profiles",
            Verdict::Ok,
            format!("none written ({})", dir.display()),
        );
    };
    let (mut good, mut stale, mut custom) = (0, Vec::new(), Vec::new());
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("ovpn") {
            continue;
        }
        let user = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let remotes: Vec<(String, Option<u16>)> = text
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some("remote")).then(|| {
                    let host = crate::profile::unlabelled(w.next().unwrap_or_default());
                    let host = host.trim_start_matches("*.").to_string();
                    (host, w.next().and_then(|p| p.parse::<u16>().ok()))
                })
            })
            .collect();
        let port = Some(ep.port.unwrap_or(443));
        if remotes.iter().any(|(h, p)| h == dns && *p == port) {
            good += 1;
        } else if remotes
            .iter()
            .any(|(h, _)| !crate::profile::is_aws_endpoint(h))
        {
            // `profile --remote HOST`: a name of the user's own, a CNAME of the endpoint's
            // perhaps; only DNS can tell.
            custom.push(user);
        } else {
            stale.push(user);
        }
    }
    stale.sort();
    custom.sort();
    if !stale.is_empty() {
        return check(
            "profiles",
            Verdict::Fail,
            format!(
                "{} point at another endpoint or port than {dns}: {}",
                stale.len(),
                stale.join(", ")
            ),
        )
        .fix(format!(
            "`{}` writes them again for the live endpoint",
            ctx.vpnctl("profile --all --force")
        ));
    }
    if !custom.is_empty() {
        return check(
            "profiles",
            Verdict::Warn,
            format!(
                "{} name a host of their own, not {dns} (fine if it is a CNAME of it): {}",
                custom.len(),
                custom.join(", ")
            ),
        )
        .fix(format!(
            "`{}` writes them for the endpoint's own name",
            ctx.vpnctl("profile --all --force")
        ));
    }
    check(
        "profiles",
        Verdict::Ok,
        format!("{good} profile(s) point at {dns}"),
    )
}

/// `text` in lines of at most 100 characters, broken between words, continued after `indent`
/// (a word longer than a line stays whole).
fn wrap(text: &str, indent: &str) -> Vec<String> {
    const WIDTH: usize = 100;
    let mut lines = Vec::new();
    let mut words = text.split(' ');
    let mut line = words.next().unwrap_or_default().to_string();
    for word in words {
        if line.chars().count() + 1 + word.chars().count() <= WIDTH || line.trim().is_empty() {
            line.push(' ');
            line.push_str(word);
        } else {
            lines.push(std::mem::replace(&mut line, format!("{indent}{word}")));
        }
    }
    lines.push(line);
    lines
}

fn report(ctx: &Ctx, args: &DoctorArgs, checks: &[Check]) -> Result<()> {
    let failed = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
    let warned = checks.iter().filter(|c| c.verdict == Verdict::Warn).count();
    if args.json {
        ctx.printer.json(&serde_json::json!({
            "schema": 1,
            "deployment": ctx.deployment,
            "ok": failed == 0,
            "checks": checks,
        }));
    } else {
        for c in checks {
            let mark = match c.verdict {
                Verdict::Ok => "ok  ",
                Verdict::Warn => "warn",
                Verdict::Fail => "FAIL",
                Verdict::Skip => "skip",
            };
            for line in wrap(&format!("{mark}  {}: {}", c.name, c.detail), "      ") {
                ctx.printer.data(line);
            }
            if let Some(fix) = &c.fix {
                for line in wrap(&format!("      fix: {fix}"), "           ") {
                    ctx.printer.data(line);
                }
            }
        }
        ctx.printer.data(format!(
            "{} checks: {} ok, {warned} warning(s), {failed} failed",
            checks.len(),
            checks.iter().filter(|c| c.verdict == Verdict::Ok).count()
        ));
    }
    if failed > 0 {
        return Err(Error::incomplete(
            format!("{failed} check(s) failed"),
            "fix each as its line says, then run `vpnctl doctor` again",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_wrap_between_words_at_100_columns_and_keep_their_indent() {
        let text = format!("ok    permissions: {}", "word ".repeat(40).trim_end());
        let lines = wrap(&text, "      ");
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| l.chars().count() <= 100), "{lines:?}");
        assert!(
            lines[1..].iter().all(|l| l.starts_with("      word")),
            "{lines:?}"
        );
        assert_eq!(
            lines.join(" ").split_whitespace().count(),
            text.split_whitespace().count()
        );
        assert_eq!(
            wrap("      fix: short", "           "),
            ["      fix: short"]
        );
        assert_eq!(wrap("ok    pki: x", "      "), ["ok    pki: x"]);
    }
}

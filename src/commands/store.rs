//! `vpnctl store …` (the PKI in S3 for a team), and the PKI commands that exist for a team:
//! `pki log`, `pki request` (on the user's machine) and `pki sign` (by an admin).

use super::Ctx;
use crate::cli::{AssembleArgs, LogArgs, RequestArgs, SignArgs, StoreCommand};
use crate::error::{Error, Result};
use crate::fsx::{self, Overwrite, PUBLIC, SECRET};
use crate::pki::store::{InitOptions, Pki, date};
use crate::store::S3Uri;
use crate::store::audit::{self, Record};
use crate::store::remote::Remote;
use serde_json::json;
use std::sync::Arc;

pub fn run(ctx: &Ctx, cmd: StoreCommand) -> Result<()> {
    match cmd {
        StoreCommand::Init(a) => {
            let uri = S3Uri::parse(&a.uri)?;
            let objects = ctx.s3_objects(&uri, Some(&a.aws))?;
            let tags: Vec<(String, String)> =
                crate::aws::model::tags_for(&ctx.deployment, &format!("{}-pki", ctx.deployment))
                    .into_iter()
                    .collect();
            let done = objects.init_bucket(&tags, a.kms_key.as_deref())?;
            for line in &done.done {
                ctx.printer.data(format!("{uri}: {line}"));
            }
            let remote = Remote::new(Arc::new(objects));
            if remote.exists()? {
                ctx.printer.info(format!(
                    "{uri} already holds a PKI; `vpnctl --store {uri} pki list`"
                ));
            } else {
                ctx.printer.info(format!(
                    "next: `vpnctl --store {uri} pki init` (a new PKI), or `vpnctl store push \
                     {uri}` (this machine's PKI in --pki)"
                ));
            }
            Ok(())
        }
        StoreCommand::Push(a) => {
            let uri = S3Uri::parse(&a.uri)?;
            let remote = Remote::new(Arc::new(ctx.s3_objects(&uri, Some(&a.aws))?));
            let local_key = Pki::open(&ctx.pki_dir)
                .ok()
                .map(|p| p.layout.ca_key())
                .filter(|k| k.exists())
                .map(|k| fsx::read_to_string(&k))
                .transpose()?;
            let certs = remote.push_dir(&ctx.pki_dir, &remote.objects.caller()?, ctx.now, true)?;
            // The CA key leaves this machine only once the store holds the same bytes.
            let snap = remote.snapshot()?;
            if local_key.is_some() && snap.ca_key != local_key {
                return Err(Error::corrupt(
                    format!("the CA key read back from {uri} differs from the local one"),
                    "nothing was removed locally; check the bucket, then push to a new prefix",
                ));
            }
            remote.refresh(&ctx.pki_dir)?;
            ctx.printer.data(format!(
                "moved the PKI in {} into {uri}: {certs} certificate(s), CRL number {}, the log",
                ctx.pki_dir.display(),
                crate::pki::cert::crl_number(&snap.crl_text).unwrap_or(0)
            ));
            ctx.printer.data(format!(
                "{} is now the working copy of {uri}: the CA key is in the store only; user keys \
                 issued here stay here",
                ctx.pki_dir.display()
            ));
            ctx.printer.info(format!(
                "other admins: `vpnctl --store {uri} pki list` (or `store = \"{uri}\"` in \
                 vpnctl.toml)"
            ));
            Ok(())
        }
        StoreCommand::Pull(a) => {
            let Some(uri) = ctx.store.clone() else {
                return Err(Error::invalid(
                    "no S3 store to pull from",
                    "name it: `vpnctl --store s3://BUCKET/PREFIX store pull DIR`",
                ));
            };
            let remote = Remote::new(Arc::new(ctx.s3_objects(&uri, Some(&a.aws))?));
            let snap = remote.pull_dir(&ctx.pki_dir, &a.dest)?;
            ctx.printer.data(format!(
                "copied {uri} into {} ({} certificate(s), CRL number {}{})",
                a.dest.display(),
                snap.entries.len(),
                crate::pki::cert::crl_number(&snap.crl_text).unwrap_or(0),
                if snap.ca_key.is_some() {
                    ", with the CA key"
                } else {
                    ""
                }
            ));
            ctx.printer.info(format!(
                "a copy for offline work: revocations made in it reach the team with `vpnctl \
                 --store {uri} pki merge-crl {}/crl.pem`; an endpoint never takes its CRL if \
                 the team's is newer",
                a.dest.display()
            ));
            Ok(())
        }
        StoreCommand::Policy(a) => {
            let uri = match a.uri.as_deref() {
                Some(u) => S3Uri::parse(u)?,
                None => ctx.store.clone().ok_or_else(|| {
                    Error::invalid(
                        "no S3 store named",
                        "name it: `vpnctl store policy s3://BUCKET/PREFIX`",
                    )
                })?,
            };
            let text = serde_json::to_string_pretty(&policy(&uri)).unwrap_or_default();
            ctx.printer.data(text);
            Ok(())
        }
    }
}

/// The least-privilege policy of a store's admin: the store's objects, listing under its
/// prefix, `store init`'s bucket settings, and the KMS use of an SSE-KMS bucket (through S3
/// only).
pub fn policy(uri: &S3Uri) -> serde_json::Value {
    let bucket = format!("arn:aws:s3:::{}", uri.bucket);
    let objects = format!("{bucket}/{}", uri.key("*"));
    let prefix = uri.key("*");
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "VpnctlStoreObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": objects,
            },
            {
                "Sid": "VpnctlStoreList",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": bucket,
                "Condition": {"StringLike": {"s3:prefix": [prefix]}},
            },
            {
                "Sid": "VpnctlStoreInit",
                "Effect": "Allow",
                "Action": [
                    "s3:CreateBucket",
                    "s3:ListBucket",
                    "s3:PutBucketVersioning",
                    "s3:PutEncryptionConfiguration",
                    "s3:PutBucketPublicAccessBlock",
                    "s3:GetLifecycleConfiguration",
                    "s3:PutLifecycleConfiguration",
                    "s3:GetBucketTagging",
                    "s3:PutBucketTagging",
                ],
                "Resource": bucket,
            },
            {
                "Sid": "VpnctlCaKeyInKms",
                "Effect": "Allow",
                "Action": ["kms:DescribeKey", "kms:GetPublicKey", "kms:Sign"],
                "Resource": "arn:aws:kms:*:*:key/*",
            },
            {
                "Sid": "VpnctlCaKeyCreate",
                "Effect": "Allow",
                "Action": ["kms:CreateKey", "kms:TagResource", "kms:ScheduleKeyDeletion"],
                "Resource": "*",
            },
            {
                "Sid": "VpnctlStoreSseKms",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": "*",
                "Condition": {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}},
            },
        ],
    })
}

/// `pki init` into an S3 store: made on a scratch directory exactly as a local one, then
/// pushed (its CA certificate claims the prefix, its settings commit it).
pub fn init_remote(ctx: &Ctx, remote: &Remote, opts: &InitOptions) -> Result<()> {
    if remote.exists()? {
        return Err(Error::conflict(
            format!("{} already holds a PKI", remote.name()),
            "a team's PKI is never replaced from one machine: use it as it is \
             (`vpnctl --store … pki list`), or choose another prefix",
        ));
    }
    // In a locked scratch directory of the working copy: a killed init leaves its CA key there
    // only until the next init sweeps it.
    crate::store::remote::Scratch::sweep(&ctx.pki_dir)?;
    let scratch = crate::store::remote::Scratch::new(&ctx.pki_dir)?;
    let dir = scratch.pki();
    let made = Pki::init(&dir, opts, ctx.now).and_then(|pki| {
        let who = remote.objects.caller()?;
        audit::append_local(
            &dir,
            &[Record::new(&who, "init", &pki.meta.server_name, ctx.now)],
        )?;
        remote.push_dir(&dir, &who, ctx.now, false)
    });
    drop(scratch);
    if made.is_err() {
        // The working copy's directory, if this made it and nothing else is in it.
        let _ = std::fs::remove_dir(&ctx.pki_dir);
    }
    made?;
    Ok(())
}

/// `pki log`.
pub fn log(ctx: &Ctx, a: &LogArgs) -> Result<()> {
    let records = match ctx.remote()? {
        Some(r) => audit::read_remote(r.objects.as_ref())?,
        None => {
            ctx.open_pki()?;
            audit::read_local(&ctx.pki_dir)?
        }
    };
    let records: Vec<Record> = records
        .into_iter()
        .filter(|r| a.user.as_ref().is_none_or(|u| &r.name == u))
        .collect();
    if a.json {
        ctx.printer.json(&json!({ "records": records }));
        return Ok(());
    }
    if records.is_empty() {
        ctx.printer.info("the log is empty");
    }
    for r in &records {
        let mut line = format!("{}  {:<9} {:<20} {}", r.at, r.action, r.name, r.who);
        if let Some(s) = &r.serial {
            line.push_str(&format!("  serial {s}"));
        }
        if let Some(d) = &r.detail {
            line.push_str(&format!("  ({d})"));
        }
        ctx.printer.data(line);
    }
    Ok(())
}

/// `pki request USER`: a key and a CSR, made on the user's machine; needs no PKI.
pub fn request(ctx: &Ctx, a: &RequestArgs) -> Result<()> {
    crate::pki::names::validate_user(&a.user)?;
    let key = crate::pki::cert::new_key()?;
    let csr_pem = crate::pki::cert::make_request(&a.user, &key)?;
    fsx::ensure_dir(&a.out, 0o700)?;
    let key_path = a.out.join(format!("{}.key", a.user));
    let csr_path = a.out.join(format!("{}.csr", a.user));
    let overwrite = if a.force {
        Overwrite::Replace
    } else {
        for p in [&key_path, &csr_path] {
            if p.exists() {
                return Err(Error::conflict(
                    format!("{} exists", p.display()),
                    "a key is never replaced silently: pass --force, or use another --out",
                ));
            }
        }
        Overwrite::Refuse
    };
    let staged = vec![
        fsx::stage(&key_path, key.serialize_pem().as_bytes(), SECRET)?,
        fsx::stage(&csr_path, csr_pem.as_bytes(), PUBLIC)?,
    ];
    fsx::commit_all(staged, overwrite)?;
    ctx.printer.data(format!(
        "key {} (stays on this machine)",
        key_path.display()
    ));
    ctx.printer.data(format!("request {}", csr_path.display()));
    ctx.printer.info(format!(
        "send {} to an admin (`vpnctl pki sign {}`); the {}.crt that comes back goes beside \
         the key",
        csr_path.display(),
        csr_path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        a.user
    ));
    Ok(())
}

/// `pki sign REQUEST…`: certificates for users' requests, each written beside its request.
pub fn sign(ctx: &Ctx, a: &SignArgs) -> Result<()> {
    // Every request is read and checked before anything is signed.
    let mut requests = Vec::new();
    for path in &a.requests {
        let text = fsx::read_to_string(path)?;
        let req = crate::pki::cert::parse_request(&text, &path.display().to_string())?;
        let out = path.with_file_name(format!("{}.crt", req.cn));
        requests.push((req, out));
    }
    // Everything that could stop the output is checked before anything is signed: a signed
    // certificate whose file could not be written could not be signed again.
    let target = keyless_target(ctx, a)?;
    let template = match &target {
        Some(t) => {
            let template = crate::profile::Template::load(t.templates.as_deref())?;
            template.check()?;
            Some(template)
        }
        None => None,
    };
    for (_, out) in &requests {
        let mut files = vec![out.clone()];
        if target.is_some() {
            files.push(out.with_extension("ovpn"));
        }
        for f in files {
            if f.exists() {
                return Err(Error::conflict(
                    format!("{} exists", f.display()),
                    "move it away (nothing is overwritten), then sign again",
                ));
            }
        }
    }
    // Two requests for one name would sign one and refuse the other half-way.
    let mut names = std::collections::HashSet::new();
    for (req, _) in &requests {
        if !names.insert(req.cn.to_ascii_lowercase()) {
            return Err(Error::invalid(
                format!("two requests are for '{}'", req.cn),
                "sign one request per user",
            ));
        }
    }
    let requests = &requests;
    let (signed, _) = ctx.change_pki(
        |pki, pass| {
            let reqs: Vec<crate::pki::cert::Request> =
                requests.iter().map(|(r, _)| r.clone()).collect();
            pki.sign_requests(&reqs, a.days, pass, ctx.now)
        },
        |signed: &Vec<(crate::pki::store::Issued, String)>, who| {
            signed
                .iter()
                .map(|(i, _)| {
                    Record::new(who, "sign", &i.name, ctx.now)
                        .serial(&i.serial)
                        .detail("from the user's request")
                })
                .collect()
        },
    )?;
    let pki = ctx.open_pki()?;
    // Rendered and staged first, made visible together (one directory sync, not one per file).
    let mut staged = Vec::new();
    let mut lines = Vec::new();
    for ((issued, pem), (_, out)) in signed.iter().zip(requests) {
        staged.push(fsx::stage_copy(out, pem.as_bytes(), PUBLIC)?);
        lines.push(format!(
            "signed {} serial {} valid until {}: {}",
            issued.name,
            issued.serial,
            date(issued.not_after),
            out.display()
        ));
        if let (Some(target), Some(template)) = (&target, &template) {
            let profile = out.with_extension("ovpn");
            let text = keyless_profile(&pki, target, template, &issued.name, pem)?;
            staged.push(fsx::stage_copy(&profile, text.as_bytes(), PUBLIC)?);
            lines.push(format!(
                "profile {} (no key: the user runs `vpnctl pki assemble {} --key {}.key`)",
                profile.display(),
                profile
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default(),
                issued.name
            ));
        }
    }
    fsx::commit_all(staged, Overwrite::Refuse)?;
    for line in lines {
        ctx.printer.data(line);
    }
    if target.is_none() {
        ctx.printer.info(
            "no deployment recorded and no --remote: only the certificates were written; with \
             --remote HOST (or after `vpnctl setup`) each gets a profile without a key too",
        );
    }
    Ok(())
}

/// What a profile made by `pki sign` points at: --remote, else the deployment's endpoint.
fn keyless_target(ctx: &Ctx, a: &SignArgs) -> Result<Option<super::profile::Target>> {
    let known = crate::state::load(&ctx.pki_dir, &ctx.deployment)
        .as_ref()
        .and_then(|st| super::profile::target_of(ctx, st));
    let target = match (&a.remote, known) {
        (Some(remote), known) => Some(super::profile::Target {
            remote: remote.clone(),
            port: known.as_ref().map_or(443, |t| t.port),
            proto: known
                .as_ref()
                .map_or(crate::profile::Proto::Udp, |t| t.proto),
            templates: ctx.env.templates.clone(),
            sign_in: known.as_ref().and_then(|t| t.sign_in.clone()),
            certificates: true,
        }),
        (None, known) => known,
    };
    if let Some(t) = &target {
        super::profile::check_target(t)?;
    }
    Ok(target)
}

/// Stands where the user's key goes in a profile `pki sign` makes.
pub const KEY_PLACEHOLDER: &str =
    "-----VPNCTL: THE USER'S OWN KEY GOES HERE (vpnctl pki assemble)-----";

/// A profile with everything but the key, which `pki assemble` puts in on the user's machine.
fn keyless_profile(
    pki: &Pki,
    target: &super::profile::Target,
    template: &crate::profile::Template,
    user: &str,
    cert_pem: &str,
) -> Result<String> {
    let m = crate::pki::store::UserMaterial {
        user: user.to_string(),
        ca_pem: pki.ca_pem()?,
        cert_pem: cert_pem.to_string(),
        key_pem: format!("{KEY_PLACEHOLDER}\n"),
    };
    super::profile::render_for(pki, template, target, &m)
}

/// `pki assemble PROFILE --key KEY`: the user's key into the profile, where the placeholder is,
/// after checking it belongs to the profile's certificate. Needs no PKI and no AWS.
pub fn assemble(ctx: &Ctx, a: &AssembleArgs) -> Result<()> {
    let text = fsx::read_to_string(&a.profile)?;
    if !text.contains(KEY_PLACEHOLDER) {
        return Err(Error::invalid(
            format!("{} has no place for a key", a.profile.display()),
            "assemble the profile `vpnctl pki sign` wrote for you (USER.ovpn), not a complete one",
        ));
    }
    let key_pem = fsx::read_to_string(&a.key)?;
    let key = crate::pki::cert::parse_key(&key_pem, &a.key.display().to_string())?;
    let cert = text
        .split_once("<cert>")
        .and_then(|(_, rest)| rest.split_once("</cert>"))
        .map(|(c, _)| c.trim().to_string())
        .ok_or_else(|| {
            Error::invalid(
                format!("{} holds no <cert> block", a.profile.display()),
                "ask the admin for the profile again",
            )
        })?;
    let info = crate::pki::cert::inspect(&cert, "the profile's certificate")?;
    if !crate::pki::cert::key_matches(&key, &info) {
        return Err(Error::conflict(
            format!(
                "{} does not belong to the certificate in {} (CN {})",
                a.key.display(),
                a.profile.display(),
                info.cn
            ),
            "use the key `vpnctl pki request` made together with the request the admin signed",
        ));
    }
    let full = text.replace(KEY_PLACEHOLDER, key_pem.trim_end());
    let out = a.output.clone().unwrap_or_else(|| a.profile.clone());
    let overwrite = if out == a.profile {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    };
    fsx::write_atomic(&out, full.as_bytes(), SECRET, overwrite)?;
    ctx.printer.data(out.display().to_string());
    ctx.printer.info(format!(
        "{} is complete (mode 0600: it holds your key); connect with OpenVPN or the AWS VPN \
         Client",
        out.display()
    ));
    Ok(())
}

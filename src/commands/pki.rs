//! `vpnctl pki ...`: the local CA, server and user certificates.

use super::Ctx;
use crate::cli::{
    ImportArgs, InitArgs, IssueArgs, MergeCrlArgs, PkiCommand, RenewArgs, RevokeArgs,
};
use crate::error::{Error, Result};
use crate::pki::cert;
use crate::pki::easyrsa::{self, ImportOptions};
use crate::pki::store::{InitOptions, Pki, Status, WARN_DAYS, date, days_left};
use crate::store::audit::Record;
use serde_json::json;

pub fn run(ctx: &Ctx, cmd: PkiCommand) -> Result<()> {
    match cmd {
        PkiCommand::Init(a) => init(ctx, &a),
        PkiCommand::Issue(a) => issue(ctx, &a),
        PkiCommand::List(a) => list(ctx, a.json, a.all),
        PkiCommand::Show(a) => show(ctx, &a.which, a.json, a.pem),
        PkiCommand::Revoke(a) => revoke(ctx, &a),
        PkiCommand::Renew(a) => renew(ctx, &a),
        PkiCommand::Crl(a) => {
            let (next, pki) = ctx.change_pki(
                |pki, pass| pki.regenerate_crl(a.days, pass, ctx.now),
                |_, who| vec![Record::new(who, "crl", "crl.pem", ctx.now)],
            )?;
            ctx.printer.data(format!(
                "crl.pem regenerated as CRL number {}; next update {}",
                pki.meta.crl_number,
                date(next)
            ));
            Ok(())
        }
        PkiCommand::ImportEasyrsa(a) => import(ctx, &a),
        PkiCommand::MergeCrl(a) => merge_crl(ctx, &a),
        PkiCommand::Log(a) => super::store::log(ctx, &a),
        PkiCommand::Request(a) => super::store::request(ctx, &a),
        PkiCommand::Sign(a) => super::store::sign(ctx, &a),
        PkiCommand::Assemble(a) => super::store::assemble(ctx, &a),
    }
}

fn init(ctx: &Ctx, a: &InitArgs) -> Result<()> {
    let passphrase = if a.encrypt_ca_key {
        let Some(p) = ctx.new_passphrase()? else {
            return Err(Error::invalid(
                "--encrypt-ca-key needs a passphrase",
                "set VPNCTL_CA_PASSPHRASE or pass --ca-passphrase-file FILE (or run it in a \
                 terminal, which asks for one)",
            ));
        };
        Some(p)
    } else {
        None
    };
    let mut created: Option<crate::aws::sdk::KmsKey> = None;
    let kms: Option<std::sync::Arc<dyn crate::pki::cert::RemoteKey>> = match a.ca_key.as_str() {
        "file" => None,
        other => {
            let Some(rest) = other.strip_prefix("kms") else {
                return Err(Error::invalid(
                    format!("--ca-key {other} is not a place for the CA key"),
                    "give file, kms (a new KMS key) or kms:KEY (an existing one)",
                ));
            };
            if a.encrypt_ca_key {
                return Err(Error::invalid(
                    "--encrypt-ca-key is for a CA key in a file",
                    "a KMS key never leaves KMS: drop --encrypt-ca-key",
                ));
            }
            // What Pki::init would refuse is refused before a KMS key is made for it.
            crate::pki::names::validate_deployment(&ctx.deployment)?;
            crate::pki::names::validate_server_name(
                &a.server_name
                    .clone()
                    .unwrap_or_else(|| crate::pki::names::default_server_name(&ctx.deployment)),
            )?;
            crate::pki::store::check_days(a.ca_days, "--ca-days")?;
            crate::pki::store::check_days(a.server_days, "--server-days")?;
            crate::pki::store::check_days(a.crl_days, "--crl-days")?;
            match ctx.remote()? {
                Some(remote) if remote.exists()? => {
                    return Err(Error::conflict(
                        format!("{} already holds a PKI", remote.name()),
                        "a team's PKI is never replaced from one machine: use it as it is, or \
                         choose another prefix",
                    ));
                }
                None if crate::pki::store::exists(&ctx.pki_dir) && !a.force => {
                    return Err(Error::conflict(
                        format!("a PKI already exists in {}", ctx.pki_dir.display()),
                        "vpnctl never replaces a CA silently: use it as it is, choose another \
                         --pki, or pass --force",
                    ));
                }
                _ => {}
            }
            let dc = ctx.config.deployment(&ctx.deployment);
            let profile = a.profile.clone().or(dc.profile);
            let region = a.region.clone().or(dc.region);
            let key = match rest.strip_prefix(':') {
                Some(id) if !id.is_empty() => {
                    crate::aws::sdk::KmsKey::existing(profile, region, id.to_string())?
                }
                None if rest.is_empty() => {
                    let k = crate::aws::sdk::KmsKey::create(
                        profile,
                        region,
                        crate::aws::model::tags_for(
                            &ctx.deployment,
                            &format!("{}-ca", ctx.deployment),
                        )
                        .into_iter()
                        .collect(),
                        format!("vpnctl CA key of deployment {}", ctx.deployment),
                    )?;
                    created = Some(k.clone());
                    k
                }
                _ => {
                    return Err(Error::invalid(
                        format!("--ca-key {other} names no key"),
                        "give kms:KEY-ID, kms:alias/NAME or kms:ARN (or kms for a new key)",
                    ));
                }
            };
            Some(std::sync::Arc::new(key))
        }
    };
    let made = init_with(ctx, a, passphrase, kms.clone());
    if let (Err(_), Some(key)) = (&made, &created) {
        // The key was made for this PKI: it goes again (KMS's shortest window, 7 days).
        let arn = crate::pki::cert::RemoteKey::name(key);
        match key.schedule_deletion() {
            Ok(()) => ctx.printer.warn(format!(
                "the KMS key {arn} made for it is scheduled for deletion in 7 days"
            )),
            Err(e) => ctx.printer.warn(format!(
                "the KMS key {arn} made for it is left: {e}; delete it with `aws kms \
                 schedule-key-deletion --key-id {arn}`"
            )),
        }
    }
    made
}

fn init_with(
    ctx: &Ctx,
    a: &InitArgs,
    passphrase: Option<crate::pki::Passphrase>,
    kms: Option<std::sync::Arc<dyn crate::pki::cert::RemoteKey>>,
) -> Result<()> {
    let opts = InitOptions {
        deployment: ctx.deployment.clone(),
        server_name: a.server_name.clone(),
        ca_days: a.ca_days,
        server_days: a.server_days,
        crl_days: a.crl_days,
        force: a.force,
        passphrase,
        kms,
    };
    let (pki, place) = match ctx.remote()? {
        None => {
            let pki = Pki::init(&ctx.pki_dir, &opts, ctx.now)?;
            crate::store::audit::append_local(
                &ctx.pki_dir,
                &[Record::new(
                    &ctx.who(),
                    "init",
                    &pki.meta.server_name,
                    ctx.now,
                )],
            )?;
            (pki, ctx.pki_dir.display().to_string())
        }
        Some(remote) => {
            super::store::init_remote(ctx, remote, &opts)?;
            (ctx.open_pki()?, remote.name())
        }
    };
    let ca = pki.ca_info()?;
    ctx.printer.data(format!("created PKI in {place}"));
    ctx.printer.data(format!(
        "  CA      {} (until {}){}",
        ca.cn,
        date(ca.not_after),
        match (pki.meta.kms_key(), pki.meta.ca_key_encrypted) {
            (Some(arn), _) => format!(", key in KMS ({arn}), never on disk"),
            (None, true) => ", key encrypted".to_string(),
            (None, false) => String::new(),
        }
    ));
    ctx.printer.data(format!(
        "  server  {} (RSA-2048, serverAuth)",
        pki.meta.server_name
    ));
    ctx.printer.info("next: `vpnctl pki issue USER...`");
    Ok(())
}

fn import(ctx: &Ctx, a: &ImportArgs) -> Result<()> {
    if let Some(uri) = &ctx.store {
        return Err(Error::invalid(
            format!("an easy-rsa PKI is not imported straight into {uri}"),
            format!(
                "import it into a local directory (`vpnctl --pki DIR pki import-easyrsa …`), \
                 then move it in with `vpnctl --pki DIR store push {uri}`"
            ),
        ));
    }
    let opts = ImportOptions {
        deployment: ctx.deployment.clone(),
        server: a.server.clone(),
        server_name: a.server_name.clone(),
        crl_days: a.crl_days,
    };
    // An encrypted easy-rsa CA key is asked for on a terminal, like vpnctl's own.
    let encrypted = std::fs::read_to_string(a.source.join("private/ca.key"))
        .is_ok_and(|k| crate::pki::keyenc::is_encrypted(&k));
    let pass = ctx.passphrase_if(encrypted)?;
    let (_, report) = easyrsa::import(&a.source, &ctx.pki_dir, &opts, pass.as_ref(), ctx.now)?;
    ctx.printer.data(format!(
        "imported {} into {}",
        a.source.display(),
        ctx.pki_dir.display()
    ));
    ctx.printer.data(format!(
        "  server  {}{}",
        report.server_name,
        if report.server_reissued {
            " (new certificate from the imported CA)"
        } else {
            ""
        }
    ));
    ctx.printer.data(format!(
        "  users   {}",
        if report.users.is_empty() {
            "none".to_string()
        } else {
            report.users.join(", ")
        }
    ));
    ctx.printer.data(format!(
        "  revoked {} (kept in the index and the CRL)",
        report.revoked
    ));
    for line in report.kept_valid_lines() {
        ctx.printer.info(line);
    }
    for (name, why) in &report.skipped {
        ctx.printer.warn(format!("not adopted: {name}: {why}"));
    }
    Ok(())
}

/// One row of `pki list`.
struct Row {
    kind: &'static str,
    name: String,
    serial: String,
    status: Status,
    not_after: time::OffsetDateTime,
}

fn list(ctx: &Ctx, json_out: bool, all: bool) -> Result<()> {
    let pki = ctx.open_pki()?;
    let ca = pki.ca_info()?;
    // One read of the index and the CRL for everything below (a team's index holds thousands).
    let index = pki.index()?;
    let entries = if all {
        index.clone()
    } else {
        crate::pki::store::latest_per_name(index.clone())
    };
    let rows: Vec<Row> = entries
        .iter()
        .map(|e| Row {
            kind: if e.cn == pki.meta.server_name {
                "server"
            } else {
                "user"
            },
            name: e.cn.clone(),
            serial: e.serial.hex(),
            status: Status::of(e, ctx.now),
            not_after: e.not_after,
        })
        .collect();
    let crl = cert::inspect_crl(&pki.crl_pem()?, &pki.ca_pem()?)?;
    let crl_stale = pki.health_of(&index)?.crl_stale;
    let soon = |t: time::OffsetDateTime| days_left(t, ctx.now) < WARN_DAYS;

    if json_out {
        let users: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "kind": r.kind, "name": r.name, "serial": r.serial, "status": r.status,
                    "not_after": crate::json::datetime(r.not_after),
                    "days_left": days_left(r.not_after, ctx.now),
                    "expiring_soon": r.status == Status::Valid && soon(r.not_after),
                })
            })
            .collect();
        ctx.printer.json(&json!({
            "pki": ctx.pki_dir.display().to_string(),
            "schema": 1,
            "ca": {
                "cn": ca.cn,
                "serial": ca.serial.hex(),
                "not_after": crate::json::datetime(ca.not_after),
                "days_left": days_left(ca.not_after, ctx.now),
                "expiring_soon": soon(ca.not_after),
                "key_encrypted": pki.meta.ca_key_encrypted,
            },
            "crl": {
                "number": pki.meta.crl_number,
                "next_update": crl.next_update.and_then(crate::json::datetime),
                "days_left": crl.next_update.map(|t| days_left(t, ctx.now)),
                "expiring_soon": crl.next_update.is_none_or(soon),
                "revoked": crl.revoked.len(),
                "stale": crl_stale,
            },
            "certificates": users,
        }));
    } else {
        let mark = |t| if soon(t) { "!" } else { "" };
        ctx.printer.data(format!(
            "{:<7} {:<30} {:<32} {:<7} {:<10} {:>9}",
            "KIND", "NAME", "SERIAL", "STATUS", "NOT AFTER", "DAYS LEFT"
        ));
        ctx.printer.data(format!(
            "{:<7} {:<30} {:<32} {:<7} {:<10} {:>8}{}",
            "ca",
            ca.cn,
            ca.serial.hex(),
            "valid",
            date(ca.not_after),
            days_left(ca.not_after, ctx.now),
            mark(ca.not_after)
        ));
        for r in &rows {
            let m = if r.status == Status::Valid {
                mark(r.not_after)
            } else {
                ""
            };
            let status = match r.status {
                Status::Valid => "valid",
                Status::Revoked => "revoked",
                Status::Expired => "expired",
            };
            ctx.printer.data(format!(
                "{:<7} {:<30} {:<32} {:<7} {:<10} {:>8}{m}",
                r.kind,
                r.name,
                r.serial,
                status,
                date(r.not_after),
                days_left(r.not_after, ctx.now)
            ));
        }
        match crl.next_update {
            Some(t) => ctx.printer.data(format!(
                "{:<7} {:<30} {:<32} {:<7} {:<10} {:>8}{}",
                "crl",
                format!("{} revoked", crl.revoked.len()),
                "",
                "",
                date(t),
                days_left(t, ctx.now),
                mark(t)
            )),
            None => ctx.printer.data("crl     (no next-update)"),
        }
    }
    for w in warnings_of(&pki, &index, ctx.now)? {
        ctx.printer.warn(w);
    }
    if let Some(w) = endpoint_crl_lag(ctx, &pki) {
        ctx.printer.warn(w);
    }
    Ok(())
}

/// Offline: whether the deployment's endpoint was last seen with an older CRL than this PKI's
/// (the state file records the number after setup, wake and every push).
fn endpoint_crl_lag(ctx: &Ctx, pki: &Pki) -> Option<String> {
    let st = crate::state::load(&ctx.pki_dir, &ctx.deployment)?;
    st.endpoint_id.as_ref()?;
    let pushed = st.crl_number?;
    (pushed < pki.meta.crl_number).then(|| {
        format!(
            "the endpoint of deployment '{}' was last given CRL number {pushed}, this PKI is at \
             {}: a revocation or renewal has not reached AWS; `vpnctl pki merge-crl` gives it \
             the current one",
            ctx.deployment, pki.meta.crl_number
        )
    })
}

/// Whether each valid certificate's file is there and holds the serial the index says. A serial
/// is 16 random bytes, so a file holding the right one is the certificate the CA signed (`pki
/// show` verifies the signature of one). Read on all cores: a team's PKI holds thousands.
fn file_warnings(pki: &Pki, valid: &[crate::pki::index::Entry]) -> Vec<String> {
    let check = |e: &crate::pki::index::Entry| -> Option<String> {
        let path = pki.cert_path(&e.cn);
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Some(format!(
                "{} is missing for the valid certificate of {} in index.txt",
                path.display(),
                e.cn
            ));
        };
        match cert::inspect(&text, &path.display().to_string()) {
            Ok(info) if info.serial != e.serial => Some(format!(
                "{} holds serial {}, but index.txt says {}: the file was replaced",
                path.display(),
                info.serial,
                e.serial
            )),
            Ok(_) => None,
            Err(err) => Some(err.to_string()),
        }
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = valid.len().div_ceil(threads).max(64);
    std::thread::scope(|s| {
        let handles: Vec<_> = valid
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().filter_map(check).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// What a person should act on about the PKI: expiring CA, certificates and CRL, a CRL out of
/// step with the index, a server certificate AWS would refuse. Shared by `pki list` and `status`.
pub fn pki_warnings(pki: &Pki, now: time::OffsetDateTime) -> Result<Vec<String>> {
    warnings_of(pki, &pki.index()?, now)
}

/// `pki_warnings` for an index already read.
fn warnings_of(
    pki: &Pki,
    index: &[crate::pki::index::Entry],
    now: time::OffsetDateTime,
) -> Result<Vec<String>> {
    let ca_pem = pki.ca_pem()?;
    let ca = cert::inspect(&ca_pem, "ca.crt")?;
    let crl = cert::inspect_crl(&pki.crl_pem()?, &ca_pem)?;
    let current = crate::pki::store::latest_per_name(index.to_vec());
    let mut w = Vec::new();
    let left = |t| days_left(t, now);
    if left(ca.not_after) < WARN_DAYS {
        w.push(format!(
            "the CA expires in {} days ({}): every certificate dies with it; plan a new PKI",
            left(ca.not_after),
            date(ca.not_after)
        ));
    }
    for e in current
        .iter()
        .filter(|e| Status::of(e, now) == Status::Valid && left(e.not_after) < WARN_DAYS)
    {
        let which = if e.cn == pki.meta.server_name {
            "server"
        } else {
            e.cn.as_str()
        };
        w.push(format!(
            "{} expires in {} days ({}): `vpnctl pki renew {which}`",
            e.cn,
            left(e.not_after),
            date(e.not_after)
        ));
    }
    match crl.next_update {
        Some(t) if left(t) < WARN_DAYS => w.push(format!(
            "the CRL's next-update is in {} days \
            ({}): once it passes, every user is locked out; `vpnctl pki crl` renews it",
            left(t),
            date(t)
        )),
        _ => {}
    }
    if !current
        .iter()
        .any(|e| e.cn == pki.meta.server_name && Status::of(e, now) == Status::Valid)
    {
        w.push(
            "the server has no valid certificate (an interrupted renewal?): `vpnctl pki renew \
             server` issues one"
                .to_string(),
        );
    }
    let valid: Vec<_> = current
        .into_iter()
        .filter(|e| Status::of(e, now) == Status::Valid)
        .collect();
    w.extend(file_warnings(pki, &valid));
    w.extend(pki.health_of(index)?.describe());
    if let Ok(server) = pki
        .server_cert_pem()
        .and_then(|p| cert::inspect(&p, "the server certificate"))
    {
        let problems = cert::aws_server_problems(&server);
        if !problems.is_empty() {
            w.push(format!(
                "AWS Client VPN would refuse the server certificate: {}",
                problems.join("; ")
            ));
        }
    }
    Ok(w)
}

fn show(ctx: &Ctx, which: &str, json_out: bool, pem_out: bool) -> Result<()> {
    let pki = ctx.open_pki()?;
    // `ca`, `server` and the server's DNS name answer to any case; a user name keeps its own.
    let is = |name: &str| which.trim_end_matches('.').eq_ignore_ascii_case(name);
    let (path, kind) = match which {
        _ if is("ca") => (pki.layout.ca_cert(), "ca"),
        _ if is("server") || is(&pki.meta.server_name) => {
            (pki.cert_path(&pki.meta.server_name), "server")
        }
        user => {
            crate::pki::names::validate_user(user)?;
            let path = pki.cert_path(user);
            if !path.exists() {
                let revoked = pki.index()?.iter().any(|e| e.cn == user && e.is_revoked());
                return Err(if revoked {
                    Error::not_found(
                        format!("user '{user}' is revoked; its certificate was moved to revoked/"),
                        "see `vpnctl pki list --all`",
                    )
                } else {
                    Error::not_found(
                        format!("no certificate for user '{user}'"),
                        "see the users with `vpnctl pki list`",
                    )
                });
            }
            (path, "user")
        }
    };
    let pem = crate::fsx::read_to_string(&path)?;
    let info = cert::inspect(&pem, &path.display().to_string())?;
    let status = pki
        .index()?
        .iter()
        .find(|e| e.serial == info.serial)
        .map(|e| Status::of(e, ctx.now))
        .unwrap_or(if info.not_after <= ctx.now {
            Status::Expired
        } else {
            Status::Valid
        });
    if kind != "ca" && !cert::signed_by(&pem, &pki.ca_pem()?) {
        ctx.printer.warn(format!(
            "{} was not issued by this PKI's CA (issuer {}): it is not one vpnctl issued; renew it",
            path.display(),
            info.issuer_cn
        ));
    }
    if pem_out {
        ctx.printer.data(pem.trim_end());
        return Ok(());
    }
    let mut eku = Vec::new();
    if info.server_auth {
        eku.push("serverAuth");
    }
    if info.client_auth {
        eku.push("clientAuth");
    }
    if json_out {
        ctx.printer.json(&json!({
            "kind": kind,
            "cn": info.cn,
            "issuer": info.issuer_cn,
            "serial": info.serial.hex(),
            "status": status,
            "not_before": crate::json::datetime(info.not_before),
            "not_after": crate::json::datetime(info.not_after),
            "days_left": days_left(info.not_after, ctx.now),
            "key": info.key_type,
            "san_dns": info.san_dns,
            "is_ca": info.is_ca,
            "extended_key_usage": eku,
            "path": path.display().to_string(),
        }));
        return Ok(());
    }
    let st = match status {
        Status::Valid => "valid",
        Status::Revoked => "revoked",
        Status::Expired => "expired",
    };
    for (k, v) in [
        ("kind", kind.to_string()),
        ("subject", format!("CN={}", info.cn)),
        ("issuer", format!("CN={}", info.issuer_cn)),
        ("serial", info.serial.hex()),
        ("status", st.to_string()),
        (
            "valid",
            format!(
                "{} to {} ({} days left)",
                date(info.not_before),
                date(info.not_after),
                days_left(info.not_after, ctx.now)
            ),
        ),
        ("key", info.key_type.clone()),
        (
            "san",
            if info.san_dns.is_empty() {
                "-".to_string()
            } else {
                info.san_dns
                    .iter()
                    .map(|d| format!("DNS:{d}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        ),
        ("ca", info.is_ca.to_string()),
        (
            "eku",
            if eku.is_empty() {
                "-".to_string()
            } else {
                eku.join(", ")
            },
        ),
        ("file", path.display().to_string()),
    ] {
        ctx.printer.data(format!("{k:<8} {v}"));
    }
    if kind == "server" {
        for p in cert::aws_server_problems(&info) {
            ctx.printer
                .warn(format!("AWS Client VPN would refuse this certificate: {p}"));
        }
    }
    Ok(())
}

fn issue(ctx: &Ctx, a: &IssueArgs) -> Result<()> {
    if a.key_in_store && ctx.store.is_none() {
        return Err(Error::invalid(
            "--key-in-store needs an S3 store",
            "use --store s3://BUCKET/PREFIX (or `store` in the config), or drop the flag",
        ));
    }
    // In a store a lost race runs the issue again: the keys (the slow part) are made once.
    let keys = match ctx.store {
        Some(_) => {
            for u in &a.users {
                crate::pki::names::validate_user(u)?;
            }
            Some(crate::pki::store::generate_keys(a.users.len())?)
        }
        None => None,
    };
    let (issued, pki) = ctx.change_pki_keys(
        a.key_in_store,
        |pki, pass| pki.issue_keys(&a.users, keys.as_deref(), a.days, pass, a.force, ctx.now),
        |issued: &Vec<crate::pki::store::Issued>, who| {
            issued
                .iter()
                .map(|i| {
                    let r = Record::new(who, "issue", &i.name, ctx.now).serial(&i.serial);
                    if a.key_in_store {
                        r.detail("key kept in the store")
                    } else {
                        r
                    }
                })
                .collect()
        },
    )?;
    for i in &issued {
        ctx.printer.data(format!(
            "issued {} serial {} valid until {}",
            i.name,
            i.serial,
            date(i.not_after)
        ));
    }
    match crate::state::load(&ctx.pki_dir, &ctx.deployment)
        .as_ref()
        .and_then(|st| super::profile::target_of(ctx, st))
    {
        // A deployment exists: new users get profiles against its endpoint right away.
        Some(target) => {
            let names: Vec<String> = issued.iter().map(|i| i.name.clone()).collect();
            for p in super::profile::write_for(ctx, &pki, &target, &names, false)? {
                ctx.printer.data(format!("profile {}", p.display()));
            }
        }
        None => ctx.printer.info(match &issued[..] {
            [one] => format!(
                "next: `vpnctl profile {} --remote HOST` writes a ready .ovpn (HOST: the VPN \
                 endpoint's name; `vpnctl setup` makes one and writes the profiles itself)",
                one.name
            ),
            _ => "next: `vpnctl profile --all --remote HOST` writes a ready .ovpn per user (HOST: \
                  the VPN endpoint's name; `vpnctl setup` makes one and writes the profiles itself)"
                .to_string(),
        }),
    }
    Ok(())
}

fn revoke(ctx: &Ctx, a: &RevokeArgs) -> Result<()> {
    let pki = ctx.open_pki()?;
    let state = crate::state::load(&ctx.pki_dir, &ctx.deployment);
    // An endpoint that signs users in without client certificates has no CRL to push: the
    // revocation is the PKI's alone, and access ends in the identity provider.
    let certless = state
        .as_ref()
        .is_some_and(|st| st.certificates == Some(false));
    let recorded = state.is_some() && !certless;
    if a.dry_run {
        return revoke_plan(ctx, a, &pki, recorded);
    }
    // Revoked here already, but maybe not on the endpoint (an earlier push failed): running
    // the same command again finishes the job instead of answering "nothing to do".
    if recorded && !a.local_only && pki.revoked_entirely(&a.user)? {
        ctx.printer.info(format!(
            "{} is already revoked in this PKI; checking that the endpoint has it",
            a.user
        ));
        return push_revocation(ctx, a, &pki);
    }
    if ctx.will_ask() {
        let live = unrevoked_serials(&pki, &a.user)?;
        // An unknown user: no question, `revoke` itself says what is wrong.
        if !live.is_empty() {
            let mut what = vec![format!(
                "revoke {} (serial {}): the certificate can never connect again; this cannot be \
                 undone (a new `pki issue` would give {} a new one)",
                a.user,
                live.join(", "),
                a.user
            )];
            if recorded && !a.local_only {
                if let Some(n) = super::live::live_sessions(ctx, &a.aws, &a.user) {
                    what.push(format!("{n} live connection(s) of {} end", a.user));
                }
                what.push(format!(
                    "then the endpoint of deployment '{}' gets the new CRL: AWS resets every live \
                     connection on it, so every connected user reconnects once",
                    ctx.deployment
                ));
            }
            ctx.confirm(&what, &format!("revoke {}?", a.user))?;
        }
    }
    let (serials, pki) = ctx.change_pki(
        |pki, pass| pki.revoke(&a.user, pass, ctx.now),
        |serials: &Vec<crate::pki::cert::Serial>, who| {
            serials
                .iter()
                .map(|s| Record::new(who, "revoke", &a.user, ctx.now).serial(s))
                .collect()
        },
    )?;
    let list: Vec<String> = serials.iter().map(|s| s.hex()).collect();
    ctx.printer.data(format!(
        "revoked {} (serial {}); crl.pem regenerated as CRL number {}",
        a.user,
        list.join(", "),
        pki.meta.crl_number
    ));
    if a.local_only {
        ctx.printer.info(
            "--local-only: the endpoint keeps its old CRL until `vpnctl setup` or `vpnctl wake` \
             imports the new one",
        );
        super::plan_report::nothing_to_do(ctx, "revoke", "");
        return Ok(());
    }
    if certless {
        ctx.printer.info(format!(
            "deployment '{}' signs users in without client certificates: the endpoint has no \
             CRL, so this revocation changes the PKI only; remove {}'s access in the identity \
             provider",
            ctx.deployment, a.user
        ));
        super::plan_report::nothing_to_do(ctx, "revoke", "");
        return Ok(());
    }
    if !recorded {
        ctx.printer.info(format!(
            "no deployment '{}' recorded here; once there is one, `vpnctl setup` gives its \
             endpoint this CRL",
            ctx.deployment
        ));
        super::plan_report::nothing_to_do(ctx, "revoke", "");
        return Ok(());
    }
    push_revocation(ctx, a, &pki)
}

/// The serials of `user`'s certificates that are not revoked (what a revoke would revoke).
fn unrevoked_serials(pki: &Pki, user: &str) -> Result<Vec<String>> {
    Ok(pki
        .index()?
        .into_iter()
        .filter(|e| e.cn == user && !e.is_revoked())
        .map(|e| e.serial.hex())
        .collect())
}

/// `pki revoke --dry-run`: what would happen, locally and on the endpoint; nothing changes.
fn revoke_plan(ctx: &Ctx, a: &RevokeArgs, pki: &Pki, recorded: bool) -> Result<()> {
    crate::pki::names::validate_user(&a.user)?;
    let live = unrevoked_serials(pki, &a.user)?;
    let number = pki.meta.crl_number + 1;
    let mut local = Vec::new();
    // An interrupted command is repaired first, which may regenerate the CRL (a higher number).
    if let Some(w) = pki.health()?.describe() {
        local.push(format!("repair the PKI ({w})"));
    }
    if live.is_empty() {
        if !(recorded && !a.local_only && pki.revoked_entirely(&a.user)?) {
            return Err(Error::not_found(
                format!(
                    "the PKI in {} has no valid certificate of '{}'",
                    ctx.pki_dir.display(),
                    a.user
                ),
                "see the users with `vpnctl pki list`",
            ));
        }
        local.push(format!(
            "{} is revoked here already (CRL number {})",
            a.user, pki.meta.crl_number
        ));
    } else {
        local.push(format!(
            "revoke {} (serial {}) in {} and regenerate crl.pem as CRL number {number}",
            a.user,
            live.join(", "),
            ctx.pki_dir.display()
        ));
    }
    if !recorded || a.local_only {
        show_push_plan(ctx, "revoke", &local, Ok((String::new(), Vec::new())));
        return Ok(());
    }
    // The endpoint's half, planned by the same planner as the real push.
    let next = (!live.is_empty()).then_some(number);
    let preview = super::live::crl_push_preview(ctx, &a.aws, pki, Some(&a.user), next);
    show_push_plan(ctx, "revoke", &local, preview);
    Ok(())
}

/// A PKI command's dry run: its local steps, then the endpoint's half as the push would plan
/// it (no region: there is no endpoint's half). When that half cannot be planned (AWS
/// unreachable, no endpoint, a CRL ahead), the local plan still shows, with why, as the real
/// command would change this PKI and then stop.
fn show_push_plan(
    ctx: &Ctx,
    command: &str,
    local: &[String],
    preview: Result<(String, Vec<crate::aws::plan::Step>)>,
) {
    match preview {
        Ok((region, steps)) if !region.is_empty() || ctx.printer.json_mode() => super::show_plan(
            ctx,
            command,
            &region,
            &steps,
            local,
            "the endpoint holds this CRL",
        ),
        Ok(_) => {
            for line in super::numbered(
                format!("{command} plan (nothing is changed with --dry-run):"),
                local,
            ) {
                ctx.printer.data(line);
            }
        }
        Err(e) if ctx.printer.json_mode() => {
            ctx.printer.warn(format!(
                "the endpoint's half cannot be planned: {e} ({})",
                e.hint()
            ));
            super::show_plan(ctx, command, "", &[], local, "");
        }
        Err(e) => {
            for line in super::numbered(
                format!("{command} plan (nothing is changed with --dry-run):"),
                local,
            ) {
                ctx.printer.data(line);
            }
            ctx.printer.warn(format!(
                "the endpoint's half cannot be planned: {e} ({})",
                e.hint()
            ));
        }
    }
}

/// The AWS half of `pki revoke`: the guarded CRL push, then the user's sessions.
fn push_revocation(ctx: &Ctx, a: &RevokeArgs, pki: &Pki) -> Result<()> {
    match super::live::push_crl(ctx, &a.aws, pki, Some(&a.user)) {
        Ok(pushed) => {
            report_push(ctx, &pushed);
            ctx.printer.data(format!(
                "{} live connection(s) of {} ended; {} is refused from now on",
                pushed.ended, a.user, a.user
            ));
            Ok(())
        }
        // The endpoint's CRL is ahead of this copy: the rollback guard's own error and fix.
        Err(Error::Conflict { message, hint }) => Err(Error::conflict(
            format!(
                "{} is revoked in this PKI, but the endpoint was not updated: {message}",
                a.user
            ),
            hint,
        )),
        Err(e) => Err(Error::incomplete(
            format!(
                "{} is revoked locally, but the endpoint was not updated: {e}",
                a.user
            ),
            format!(
                "until it is, {} can still connect: run `{}` (it gives the endpoint this PKI's \
                 CRL) and `{}`",
                a.user,
                ctx.vpnctl_aws("pki merge-crl", &a.aws),
                ctx.vpnctl_aws(&format!("kick {}", a.user), &a.aws),
            ),
        )),
    }
}

/// What a guarded CRL push did, in words.
fn report_push(ctx: &Ctx, pushed: &super::live::Pushed) {
    if pushed.imported {
        ctx.printer.data(format!(
            "CRL number {} imported into {} and verified on the endpoint",
            pushed.number, pushed.endpoint
        ));
    } else {
        ctx.printer.data(format!(
            "{} already holds CRL number {} (verified on the endpoint; not imported again, which \
             would reset every connection)",
            pushed.endpoint, pushed.number
        ));
    }
}

fn renew(ctx: &Ctx, a: &RenewArgs) -> Result<()> {
    let (i, pki) = ctx.change_pki(
        |pki, pass| pki.renew(&a.which, a.days, pass, ctx.now),
        |i: &crate::pki::store::Issued, who| {
            vec![Record::new(who, "renew", &i.name, ctx.now).serial(&i.serial)]
        },
    )?;
    ctx.printer.data(format!(
        "renewed {} serial {} valid until {}; the old certificate is revoked as superseded",
        i.name,
        i.serial,
        date(i.not_after)
    ));
    if i.name == pki.meta.server_name {
        ctx.printer.info(
            "run `vpnctl setup` to re-import it to the same ACM ARN (the endpoint and every \
             profile survive)",
        );
        return Ok(());
    }
    // The old profile embeds the superseded key: replace it, or remove it.
    let path = pki.layout.profile(&i.name);
    match crate::state::load(&ctx.pki_dir, &ctx.deployment)
        .as_ref()
        .and_then(|st| super::profile::target_of(ctx, st))
    {
        Some(target) => {
            let names = std::slice::from_ref(&i.name);
            for p in super::profile::write_for(ctx, &pki, &target, names, true)? {
                ctx.printer.data(format!("profile {}", p.display()));
            }
        }
        None if path.exists() => {
            // The stale profile names the server it was made for: the hint repeats it, so
            // that it runs as printed.
            let again = std::fs::read_to_string(&path)
                .ok()
                .and_then(|text| super::setup::parse_export(&text))
                .map(|(host, port, proto)| {
                    format!(
                        "profile {} --remote {} --port {port} --proto {proto}",
                        i.name,
                        super::shell_word(&crate::profile::unlabelled(&host)),
                    )
                })
                .unwrap_or_else(|| format!("profile {} --remote HOST", i.name));
            std::fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
            ctx.printer.info(format!(
                "removed the stale {} (it held the superseded key); `{}` renders a new one",
                path.display(),
                ctx.vpnctl(&again)
            ));
        }
        None => {}
    }
    Ok(())
}

/// Catch up with another copy's revocations: from a file (local only), or from the endpoint,
/// which then gets the merged CRL through the same guarded path as every other CRL push.
/// `pki merge-crl --dry-run`: what would be merged, then the push the same planner would plan.
fn merge_plan(ctx: &Ctx, a: &MergeCrlArgs, pki: &Pki, other: &str, from: &str) -> Result<()> {
    let merged = pki.merge_preview(other)?;
    let mut local: Vec<String> = merged
        .revoked
        .iter()
        .map(|(cn, serial)| format!("revoke {cn} (serial {serial}), as {from} has it"))
        .chain(merged.unknown.iter().map(|serial| {
            format!("record serial {serial} as revoked (issued by another copy of this PKI)")
        }))
        .collect();
    if merged.regenerated {
        local.push(format!(
            "regenerate crl.pem as CRL number {}",
            merged.number
        ));
    } else {
        local.push(format!(
            "nothing to merge from {from}: CRL number {} supersedes it",
            merged.number
        ));
    }
    if a.file.is_some() {
        show_push_plan(ctx, "merge-crl", &local, Ok((String::new(), Vec::new())));
        return Ok(());
    }
    let next = merged.regenerated.then_some(merged.number);
    let preview = super::live::crl_push_preview(ctx, &a.aws, pki, None, next);
    show_push_plan(ctx, "merge-crl", &local, preview);
    Ok(())
}

fn merge_crl(ctx: &Ctx, a: &MergeCrlArgs) -> Result<()> {
    let pki = ctx.open_pki()?;
    let (other, from) = match &a.file {
        Some(f) => (crate::fsx::read_to_string(f)?, f.display().to_string()),
        None => {
            let (crl, endpoint) = super::live::endpoint_crl(ctx, &a.aws)?;
            let Some(crl) = crl else {
                return Err(Error::not_found(
                    format!("{endpoint} holds no CRL yet: there is nothing to merge"),
                    "`vpnctl setup` gives it this PKI's CRL",
                ));
            };
            (crl, endpoint)
        }
    };
    if a.dry_run {
        return merge_plan(ctx, a, &pki, &other, &from);
    }
    let (merged, pki) = ctx.change_pki(
        |pki, pass| pki.merge_crl(&other, pass, ctx.now),
        |m: &crate::pki::store::Merged, who| {
            m.revoked
                .iter()
                .map(|(cn, s)| {
                    Record::new(who, "merge-crl", cn, ctx.now)
                        .serial(s)
                        .detail(format!("from {from}"))
                })
                .chain(m.unknown.iter().map(|s| {
                    Record::new(who, "merge-crl", "(unknown)", ctx.now)
                        .serial(s)
                        .detail(format!("from {from}"))
                }))
                .collect()
        },
    )?;
    for (cn, serial) in &merged.revoked {
        ctx.printer
            .data(format!("revoked {cn} (serial {serial}), as {from} has it"));
    }
    for serial in &merged.unknown {
        ctx.printer.data(format!(
            "recorded serial {serial} as revoked (issued by another copy of this PKI)"
        ));
    }
    if merged.regenerated {
        ctx.printer.data(format!(
            "merged {} revocation(s) from {from}; crl.pem regenerated as CRL number {}",
            merged.revoked.len() + merged.unknown.len(),
            merged.number
        ));
    } else {
        ctx.printer.data(format!(
            "nothing to merge from {from}: this PKI already revokes every serial it lists, and \
             its CRL number {} supersedes it",
            merged.number
        ));
    }
    if a.file.is_some() {
        ctx.printer.info(
            "run `vpnctl pki merge-crl` without a file to give the deployment's endpoint the \
             merged CRL (or `vpnctl setup`)",
        );
        super::plan_report::nothing_to_do(ctx, "merge-crl", "");
        return Ok(());
    }
    let pushed = super::live::push_crl(ctx, &a.aws, &pki, None)?;
    report_push(ctx, &pushed);
    Ok(())
}

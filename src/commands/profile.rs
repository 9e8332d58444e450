//! `vpnctl profile`: ready `.ovpn` files with the user's certificate and key embedded.

use super::Ctx;
use crate::cli::ProfileArgs;
use crate::error::{Error, Result};
use crate::fsx::{self, Overwrite, SECRET};
use crate::pki::Pki;
use crate::pki::store::UserMaterial;
use crate::profile::{self, ProfileContext, Proto, Template};
use std::path::{Path, PathBuf};

/// Where profiles point and how they are written.
#[derive(Debug, Clone)]
pub struct Target {
    pub remote: String,
    pub port: u16,
    pub proto: Proto,
    pub templates: Option<PathBuf>,
    /// `saml` or `directory`: the sign-in besides the certificate.
    pub sign_in: Option<String>,
    /// False: users sign in by `sign_in` alone; one profile, no certificate or key.
    pub certificates: bool,
}

pub fn run(ctx: &Ctx, args: &ProfileArgs) -> Result<()> {
    let target = match (
        &args.remote,
        crate::state::load(&ctx.pki_dir, &ctx.deployment)
            .as_ref()
            .and_then(|st| target_of(ctx, st)),
    ) {
        (Some(remote), known) => Target {
            remote: remote.clone(),
            port: args.port.unwrap_or(443),
            proto: args.proto.unwrap_or(Proto::Udp),
            templates: args.templates.clone(),
            // Another host name for the deployment's endpoint signs in the same way.
            sign_in: known.as_ref().and_then(|t| t.sign_in.clone()),
            certificates: known.is_none_or(|t| t.certificates),
        },
        // After `vpnctl setup`, the deployment's endpoint is the default.
        (None, Some(t)) => Target {
            port: args.port.unwrap_or(t.port),
            proto: args.proto.unwrap_or(t.proto),
            templates: args.templates.clone(),
            ..t
        },
        (None, None) => {
            return Err(Error::invalid(
                format!(
                    "no --remote given and deployment '{}' has no endpoint yet",
                    ctx.deployment
                ),
                "name the VPN endpoint: --remote HOST, or run `vpnctl setup` first",
            ));
        }
    };
    check_target(&target)?;
    let pki = ctx.open_pki()?;
    if args.share && !target.certificates {
        return Err(Error::invalid(
            "--share shares a profile with a private key; this deployment's users sign in \
             without one",
            "hand out the one shared profile (`vpnctl profile`), which holds no key",
        ));
    }
    if !target.certificates {
        let path = write_shared(ctx, &pki, &target, args.output.as_deref(), args.force)?;
        ctx.printer.data(path.display().to_string());
        ctx.printer.info(
            "users of this deployment sign in without a client certificate: one profile for \
             everyone, holding no key",
        );
        return Ok(());
    }
    if args.share {
        return share(ctx, args, &pki, &target);
    }
    let users = if args.all {
        let (here, elsewhere) = pki.live_users(ctx.now)?;
        warn_keyless(ctx, &elsewhere);
        here
    } else {
        args.users.clone()
    };
    if users.is_empty() {
        ctx.printer
            .warn("no user has a valid certificate; issue one with `vpnctl pki issue USER`");
        return Ok(());
    }
    if args.output.is_some() && users.len() > 1 {
        return Err(Error::invalid(
            "-o/--output takes one user",
            "drop -o to write profiles/<user>.ovpn for each user",
        ));
    }
    let template = Template::load(target.templates.as_deref())?;
    template.check()?;
    // Render all before writing any, so one bad user leaves no partial set.
    let mut rendered = Vec::new();
    for m in pki.materials(&users, ctx.now)? {
        let path = args
            .output
            .clone()
            .unwrap_or_else(|| pki.layout.profile(&m.user));
        let text = render_for(&pki, &template, &target, &m)?;
        rendered.push((m, path, text));
    }
    for (m, path, text) in rendered {
        write_profile(&pki, &m, &path, &text, args.force)?;
        ctx.printer.data(path.display().to_string());
    }
    ctx.printer.info(
        "next: hand each profile to its user (it holds their private key: send it privately); \
         they connect with OpenVPN or the AWS VPN Client",
    );
    Ok(())
}

/// `profile USER --share`: the profile into the store (`shares/RANDOM.ovpn`, encrypted at rest
/// by the bucket's default encryption, gone after 8 days by its lifecycle rule) and a link that
/// expires; no file here. The link is the only way to it: 128 random bits name the object.
fn share(ctx: &Ctx, args: &ProfileArgs, pki: &Pki, target: &Target) -> Result<()> {
    let Some(remote) = ctx.remote()? else {
        return Err(Error::invalid(
            "--share needs the team's S3 store: the link is to an object in it",
            "use --store s3://BUCKET/PREFIX (or `store` in the config); without a store, hand \
             the profile over in person",
        ));
    };
    let [user] = &args.users[..] else {
        return Err(Error::invalid(
            "--share takes one user",
            "share each user's profile with its own link",
        ));
    };
    let secs = crate::config::duration_secs(&args.expires)
        .filter(|s| *s <= 7 * 86400)
        .ok_or_else(|| {
            Error::invalid(
                format!("--expires {} is not a duration up to 7 days", args.expires),
                "give e.g. 30m, 1h or 2d (S3 signs links for 7 days at most)",
            )
        })?;
    let template = Template::load(target.templates.as_deref())?;
    template.check()?;
    let m = pki.user_material(user, ctx.now)?;
    let text = render_for(pki, &template, target, &m)?;
    let mut rand = [0u8; 16];
    fsx::random(&mut rand)?;
    let key = format!("shares/{}.ovpn", fsx::hex(&rand));
    if remote
        .objects
        .put(&key, text.as_bytes(), crate::store::Cond::Absent)?
        == crate::store::Put::Lost
    {
        return Err(Error::conflict(
            "a share with the same random name exists",
            "run the command again",
        ));
    }
    let expires = std::time::Duration::from_secs(secs.unsigned_abs());
    let link = remote.objects.presign_get(&key, expires)?;
    let until = ctx.now + time::Duration::seconds(secs);
    crate::store::audit::append_remote(
        remote.objects.as_ref(),
        &[
            crate::store::audit::Record::new(&ctx.who(), "share", user, ctx.now).detail(format!(
                "link until {}",
                crate::json::datetime(until).unwrap_or_default()
            )),
        ],
    )?;
    ctx.printer.data(link);
    if let Some(limit) = remote.objects.links_until()
        && limit < std::time::SystemTime::now() + expires
    {
        let at = time::OffsetDateTime::from(limit);
        ctx.printer.warn(format!(
            "the link stops working at {} already: it is signed with temporary credentials \
             that expire then; sign with longer-lived credentials for a longer link",
            crate::json::datetime(at).unwrap_or_default()
        ));
    }
    ctx.printer.info(format!(
        "the link works until {} ({}); anyone who has it can download {user}'s private key: \
         send it to {user} alone",
        crate::json::datetime(until).unwrap_or_default(),
        args.expires
    ));
    Ok(())
}

/// Render and write the default-path profiles of `users` against `target`; a file holding
/// other key material is skipped with a warning (or replaced with `force`).
pub fn write_for(
    ctx: &Ctx,
    pki: &Pki,
    target: &Target,
    users: &[String],
    force: bool,
) -> Result<Vec<PathBuf>> {
    // The target may come from the state file, which is outside input like any other.
    check_target(target)?;
    // Without client certificates every user has the one shared profile. A refusal to write
    // it is a warning here: what called (issue, renew, setup) has done its work.
    if !target.certificates {
        let _ = force;
        return match write_shared(ctx, pki, target, None, false) {
            Ok(path) => Ok(vec![path]),
            Err(e) => {
                ctx.printer.warn(format!(
                    "the shared profile was not written: {e}; {}",
                    e.hint()
                ));
                Ok(Vec::new())
            }
        };
    }
    let template = Template::load(target.templates.as_deref())?;
    template.check()?;
    let mut written = Vec::new();
    for m in pki.materials(users, ctx.now)? {
        let text = render_for(pki, &template, target, &m)?;
        let path = pki.layout.profile(&m.user);
        match write_profile(pki, &m, &path, &text, force) {
            Ok(()) => written.push(path),
            Err(e) => ctx
                .printer
                .warn(format!("profile of {} not written: {e}", m.user)),
        }
    }
    Ok(written)
}

pub fn check_target(t: &Target) -> Result<()> {
    profile::validate_remote(&t.remote)?;
    if t.port == 0 {
        return Err(Error::invalid(
            "--port 0 is not a port",
            "give a port from 1 to 65535 (Client VPN uses 443 or 1194)",
        ));
    }
    Ok(())
}

pub fn render_for(pki: &Pki, template: &Template, t: &Target, m: &UserMaterial) -> Result<String> {
    let c = ProfileContext {
        user: m.user.clone(),
        proto: t.proto,
        remote: profile::remote_host(&t.remote, &profile::random_label()?),
        port: t.port,
        server_name: pki.meta.server_name.clone(),
        ca: m.ca_pem.clone(),
        cert: m.cert_pem.clone(),
        key: m.key_pem.clone(),
        sign_in: t.sign_in.clone(),
    };
    template.render(&c)
}

/// Profiles are derived from the PKI, so one that embeds the user's current key can be
/// replaced without losing anything; one that holds other key material needs --force.
pub fn write_profile(
    pki: &Pki,
    m: &UserMaterial,
    path: &Path,
    text: &str,
    force: bool,
) -> Result<()> {
    // Nothing inside the PKI is ever a profile's place, --force or not: a profile written over
    // private/USER.key would destroy the key it embeds.
    if inside(path, &pki.layout.root) {
        return Err(Error::invalid(
            format!(
                "{} is inside the PKI directory {}",
                path.display(),
                pki.layout.root.display()
            ),
            "write profiles outside the PKI: drop -o for profiles/USER.ovpn, or choose another \
             path",
        ));
    }
    let overwrite = match std::fs::read_to_string(path) {
        Err(_) => Overwrite::Refuse,
        Ok(_) if force => Overwrite::Replace,
        // Only a profile (a file with a <key> block) that embeds this very key is re-derivable.
        Ok(old) if old.contains("<key>") && old.contains(m.key_pem.trim()) => Overwrite::Replace,
        Ok(_) => {
            return Err(Error::conflict(
                format!(
                    "{} exists and is not a profile of this user's current key",
                    path.display()
                ),
                "vpnctl never overwrites a key silently: move it away or pass --force",
            ));
        }
    };
    if path.parent() == Some(pki.layout.profiles_dir().as_path()) && !path.exists() {
        fsx::ensure_dir(&pki.layout.profiles_dir(), 0o700)?;
    }
    fsx::write_atomic(path, text.as_bytes(), SECRET, overwrite)
}

/// Whether `path` lies inside `dir` (both resolved through symlinks as far as they exist).
fn inside(path: &Path, dir: &Path) -> bool {
    let resolve = |p: &Path| -> Option<PathBuf> {
        let abs = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir().ok()?.join(p)
        };
        // The file may not exist yet: resolve its parent.
        match abs.canonicalize() {
            Ok(c) => Some(c),
            Err(_) => Some(abs.parent()?.canonicalize().ok()?.join(abs.file_name()?)),
        }
    };
    match (resolve(path), dir.canonicalize().ok()) {
        (Some(p), Some(d)) => p.starts_with(d),
        _ => false,
    }
}

/// Users with a valid certificate whose key is not in this PKI (adopted from easy-rsa without
/// it) get no profile; say so instead of failing everyone's.
pub fn warn_keyless(ctx: &Ctx, users: &[String]) {
    for u in users {
        ctx.printer.warn(format!(
            "no profile for {u}: the PKI holds no key for its certificate (not adopted?); \
             `vpnctl pki renew {u}` gives {u} a new one"
        ));
    }
}

/// Write a profile for every valid user against the deployment's endpoint.
pub fn write_profiles(
    ctx: &Ctx,
    pki: &Pki,
    st: &crate::state::State,
) -> Result<Vec<std::path::PathBuf>> {
    let Some(target) = target_of(ctx, st) else {
        return Ok(Vec::new());
    };
    let (here, elsewhere) = pki.live_users(ctx.now)?;
    warn_keyless(ctx, &elsewhere);
    write_for(ctx, pki, &target, &here, false)
}

/// The one profile of a deployment whose users sign in by SAML or Active Directory alone:
/// the CA and the sign-in, no certificate and no key (`profiles/DEPLOYMENT.ovpn`, or
/// `output`). A file there that holds a key is another's profile: replaced only with `force`.
pub fn write_shared(
    ctx: &Ctx,
    pki: &Pki,
    target: &Target,
    output: Option<&std::path::Path>,
    force: bool,
) -> Result<PathBuf> {
    check_target(target)?;
    let template = Template::load(target.templates.as_deref())?;
    let c = ProfileContext {
        user: ctx.deployment.clone(),
        proto: target.proto,
        remote: profile::remote_host(&target.remote, &profile::random_label()?),
        port: target.port,
        server_name: pki.meta.server_name.clone(),
        ca: pki.ca_pem()?,
        cert: String::new(),
        key: String::new(),
        sign_in: target.sign_in.clone(),
    };
    let text = template.render(&c)?;
    // A template that writes certificate blocks regardless would hand out empty ones.
    if text.contains("<cert>") || text.contains("<key>") {
        return Err(Error::invalid(
            format!(
                "the template {} writes <cert>/<key> blocks into a profile that has none",
                template.origin
            ),
            "wrap them in {% if cert %} … {% endif %} as the built-in template does",
        ));
    }
    let path = output
        .map(PathBuf::from)
        .unwrap_or_else(|| pki.layout.profile(&ctx.deployment));
    // Nothing inside the PKI is ever a profile's place, --force or not.
    if inside(&path, &pki.layout.root) {
        return Err(Error::invalid(
            format!(
                "{} is inside the PKI directory {}",
                path.display(),
                pki.layout.root.display()
            ),
            "write the profile outside the PKI: drop -o, or choose another path",
        ));
    }
    // Only a shared profile of vpnctl's is replaced without --force.
    if !force
        && let Ok(old) = std::fs::read_to_string(&path)
        && (old.contains("PRIVATE KEY") || !old.starts_with("# AWS Client VPN profile for"))
    {
        return Err(Error::conflict(
            format!(
                "{} exists and is not the deployment's shared profile",
                path.display()
            ),
            "write the shared profile elsewhere (-o FILE), or --force to replace it",
        ));
    }
    if path.parent() == Some(pki.layout.profiles_dir().as_path()) {
        crate::fsx::ensure_dir(&pki.layout.profiles_dir(), 0o700)?;
    }
    crate::fsx::write_atomic(
        &path,
        text.as_bytes(),
        0o600,
        crate::fsx::Overwrite::Replace,
    )?;
    Ok(path)
}

/// Where profiles point for this deployment, from the state record.
pub fn target_of(ctx: &Ctx, st: &crate::state::State) -> Option<Target> {
    Some(Target {
        remote: st.dns_name.clone()?,
        port: st.port.unwrap_or(443),
        proto: st.proto.unwrap_or(crate::profile::Proto::Udp),
        templates: ctx.env.templates.clone(),
        sign_in: st.sign_in.clone(),
        certificates: st.certificates != Some(false),
    })
}

//! `vpnctl setup`: settings (flags over the config file) → local checks → read-only lookups →
//! observe by tags → plan → apply → profiles and the state record.

use super::{Ctx, connect, runtime};
use crate::aws::exec;
use crate::aws::model::{CertUpload, EndpointSpec, Subnet, Transport, Vpc};
use crate::aws::plan::{self, Desired};
use crate::aws::sdk::AwsCloud;
use crate::aws::{
    self as awsmod,
    cloud::{Endpoints, Network},
};
use crate::cli::SetupArgs;
use crate::error::{Error, Result};
use crate::pki::{Pki, cert, store};
use crate::profile::Proto;
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// Setup's settings after merging flags over the config file and validating what can be
/// validated without AWS. Pure.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub vpc: String,
    pub subnets: Vec<String>,
    pub client_cidr: Ipv4Net,
    pub full_tunnel: bool,
    pub authorize: Vec<Ipv4Net>,
    /// `--authorize CIDR=GROUP`: rules for one SAML or Active Directory group each.
    pub groups: Vec<(Ipv4Net, String)>,
    /// Destinations routed via every associated subnet (and authorized), beyond the VPC.
    pub routes: Vec<Ipv4Net>,
    pub dns_servers: Vec<Ipv4Addr>,
    pub transport: Transport,
    pub port: u16,
    pub security_groups: Vec<String>,
    pub description: Option<String>,
    pub log_group: Option<String>,
    pub options: crate::aws::model::EndpointOptions,
    pub user_auth: Option<crate::aws::model::UserAuth>,
    /// Client certificates as well (false: the sign-in alone; none given: the endpoint's).
    pub certificates: Option<bool>,
}

pub fn parse_cidr(s: &str, flag: &str) -> Result<Ipv4Net> {
    let net: Ipv4Net = s.trim().parse().map_err(|_| {
        Error::invalid(
            format!("{flag} {s:?} is not an IPv4 CIDR"),
            "write it like 10.83.0.0/16",
        )
    })?;
    if net.trunc() != net {
        return Err(Error::invalid(
            format!("{flag} {s} has host bits set"),
            format!("did you mean {}?", net.trunc()),
        ));
    }
    Ok(net)
}

/// The client CIDR rules AWS enforces, checked before any call: /12 to /22.
pub fn check_client_cidr(net: Ipv4Net) -> Result<()> {
    if !(12..=22).contains(&net.prefix_len()) {
        return Err(Error::invalid(
            format!(
                "--client-cidr {net} is a /{}; AWS Client VPN needs a block from /12 to /22",
                net.prefix_len()
            ),
            "choose e.g. 10.83.0.0/16 (large enough for your users, outside the VPC's range)",
        ));
    }
    Ok(())
}

/// No overlap between the client CIDR and any of the VPC's CIDRs.
pub fn check_overlap(client: Ipv4Net, vpc: &Vpc) -> Result<()> {
    if let Some(c) = vpc
        .cidrs
        .iter()
        .find(|c| c.contains(&client.network()) || client.contains(&c.network()))
    {
        return Err(Error::invalid(
            format!("--client-cidr {client} overlaps the VPC {} ({c})", vpc.id),
            "choose a client range outside the VPC, e.g. 10.83.0.0/16 for a 10.0.0.0/16 VPC",
        ));
    }
    Ok(())
}

pub fn resolve(args: &SetupArgs, dc: &crate::config::DeploymentConfig) -> Result<Settings> {
    let vpc = args.vpc.clone().or(dc.vpc.clone());
    let subnets = if args.subnet.is_empty() {
        dc.subnets.clone().unwrap_or_default()
    } else {
        args.subnet.clone()
    };
    let cidr = args.client_cidr.clone().or(dc.client_cidr.clone());
    // Every missing input at once, not one per run.
    let mut missing = Vec::new();
    if vpc.is_none() {
        missing.push(("the VPC", "--vpc ID|NAME", "vpc = \"…\""));
    }
    if subnets.is_empty() {
        missing.push(("a subnet", "--subnet ID|NAME", "subnets = [\"…\"]"));
    }
    if cidr.is_none() {
        missing.push((
            "the client CIDR",
            "--client-cidr CIDR (e.g. 10.83.0.0/16)",
            "client_cidr = \"…\"",
        ));
    }
    let (Some(vpc), Some(cidr), false) = (vpc, cidr, subnets.is_empty()) else {
        let list = |i: usize| {
            missing
                .iter()
                .map(|m| [m.0, m.1, m.2][i])
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(Error::invalid(
            format!("setup needs {} (not given)", list(0)),
            format!(
                "pass {} (repeat --subnet for more), or set {} in the deployment's table of \
                 vpnctl.toml",
                list(1),
                list(2)
            ),
        ));
    };
    let client_cidr = parse_cidr(&cidr, "--client-cidr")?;
    check_client_cidr(client_cidr)?;
    let full_tunnel = args.full_tunnel || dc.full_tunnel.unwrap_or(false);
    let extra = if args.authorize.is_empty() {
        dc.authorize.clone().unwrap_or_default()
    } else {
        args.authorize.clone()
    };
    let mut authorize = Vec::new();
    let mut groups = Vec::new();
    for item in &extra {
        match item.split_once('=') {
            None => authorize.push(parse_cidr(item, "--authorize")?),
            Some((cidr, group)) => {
                let net = parse_cidr(cidr, "--authorize")?;
                check_group(group)?;
                if !groups.contains(&(net, group.to_string())) {
                    groups.push((net, group.to_string()));
                }
            }
        }
    }
    let routes = if args.route.is_empty() {
        dc.routes.clone().unwrap_or_default()
    } else {
        args.route.clone()
    };
    let mut route_nets: Vec<Ipv4Net> = Vec::new();
    for r in &routes {
        let net = parse_cidr(r, "--route")?;
        if net.prefix_len() == 0 {
            return Err(Error::invalid(
                "--route 0.0.0.0/0 would send everything through the VPN",
                "use --full-tunnel for that (it also turns split tunnel off)",
            ));
        }
        if net.contains(&client_cidr.network()) || client_cidr.contains(&net.network()) {
            return Err(Error::invalid(
                format!("--route {net} overlaps the client CIDR {client_cidr}"),
                "route destinations beyond the VPN's own clients",
            ));
        }
        if !route_nets.contains(&net) {
            route_nets.push(net);
        }
    }
    let dns = if args.dns_server.is_empty() {
        dc.dns_servers.clone().unwrap_or_default()
    } else {
        args.dns_server.clone()
    };
    let dns_servers = dns
        .iter()
        .map(|d| {
            d.parse::<Ipv4Addr>().map_err(|_| {
                Error::invalid(
                    format!("--dns-server {d:?} is not an IPv4 address"),
                    "give an address like 10.0.0.2",
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if dns_servers.len() > 2 {
        return Err(Error::invalid(
            format!(
                "{} DNS servers given; AWS takes at most two",
                dns_servers.len()
            ),
            "keep two --dns-server values",
        ));
    }
    let transport = match (args.transport, dc.transport.as_deref()) {
        (Some(Proto::Tcp), _) | (None, Some("tcp")) => Transport::Tcp,
        (Some(Proto::Udp), _) | (None, Some("udp") | None) => Transport::Udp,
        (None, Some(other)) => {
            return Err(Error::invalid(
                format!("transport {other:?} in vpnctl.toml"),
                "use \"udp\" or \"tcp\"",
            ));
        }
    };
    let port = args.port.or(dc.port).unwrap_or(443);
    if port != 443 && port != 1194 {
        return Err(Error::invalid(
            format!("--port {port}: AWS Client VPN listens on 443 or 1194 only"),
            "use --port 443 or --port 1194",
        ));
    }
    let security_groups = if args.security_group.is_empty() {
        dc.security_groups.clone().unwrap_or_default()
    } else {
        args.security_group.clone()
    };
    Ok(Settings {
        vpc,
        subnets,
        client_cidr,
        full_tunnel,
        authorize,
        routes: route_nets,
        dns_servers,
        transport,
        port,
        security_groups,
        description: args.description.clone().or(dc.description.clone()),
        log_group: args.log_group.clone().or(dc.log_group.clone()),
        options: endpoint_options(args, dc)?,
        user_auth: user_auth(args, dc)?,
        certificates: args.client_certificates.or(dc.client_certificates),
        groups,
    })
}

/// The longest group id vpnctl takes: AWS takes 255 characters, but the sleep record keeps
/// each rule, `CIDR=GROUP` with `,` and `%` encoded, within one 256-character tag value.
pub const GROUP_MAX_CHARS: usize = 200;

/// A group id as AWS takes it, and as the sleep record can keep it.
fn check_group(group: &str) -> Result<()> {
    let encoded = crate::aws::plan::rule_item("", Some(group)).chars().count() - 1;
    if group.is_empty() || encoded > GROUP_MAX_CHARS {
        return Err(Error::invalid(
            format!(
                "--authorize …={group:?}: a group id has 1 to {GROUP_MAX_CHARS} characters \
                 here"
            ),
            "write it as CIDR=GROUP, e.g. --authorize 10.20.0.0/16=engineers",
        ));
    }
    if group.chars().any(char::is_control) {
        return Err(Error::invalid(
            format!("--authorize …={group:?}: the group id holds a control character"),
            "give the group id as your identity provider sends it",
        ));
    }
    Ok(())
}

/// AWS's banner limit: "UTF-8 encoded characters only. Maximum of 1400 characters."
/// (CreateClientVpnEndpoint, ClientLoginBannerOptions.BannerText).
pub const BANNER_MAX_CHARS: usize = 1400;

/// Session timeout, disconnect, banner and client route enforcement: flags over the config,
/// else AWS's defaults; checked as AWS would before any call.
fn endpoint_options(
    args: &SetupArgs,
    dc: &crate::config::DeploymentConfig,
) -> Result<crate::aws::model::EndpointOptions> {
    let mut o = crate::aws::model::EndpointOptions::default();
    if let Some(t) = args
        .session_timeout
        .as_ref()
        .or(dc.session_timeout.as_ref())
    {
        let hours = t.trim().trim_end_matches('h').parse::<u8>().ok();
        o.session_timeout_hours = match hours {
            Some(h @ (8 | 10 | 12 | 24)) => Some(h),
            _ => {
                return Err(Error::invalid(
                    format!("--session-timeout {t:?}: AWS offers 8, 10, 12 or 24 hours"),
                    "use --session-timeout 8h, 10h, 12h or 24h",
                ));
            }
        };
    }
    if let Some(d) = args
        .disconnect_on_session_timeout
        .or(dc.disconnect_on_session_timeout)
    {
        o.disconnect_on_session_timeout = Some(d);
    }
    if let Some(b) = args.banner.as_ref().or(dc.banner.as_ref()) {
        let chars = b.chars().count();
        if b.trim().is_empty() {
            return Err(Error::invalid(
                "--banner is empty",
                "give the text, or --banner none for no banner",
            ));
        }
        if chars > BANNER_MAX_CHARS {
            return Err(Error::invalid(
                format!(
                    "--banner is {chars} characters long; AWS takes at most {BANNER_MAX_CHARS}"
                ),
                "shorten the text",
            ));
        }
        o.banner = Some((b.trim() != "none").then(|| b.clone()));
    }
    if let Some(e) = args
        .client_route_enforcement
        .or(dc.client_route_enforcement)
    {
        o.client_route_enforcement = Some(e);
    }
    o.self_service_portal = args.self_service_portal.or(dc.self_service_portal);
    Ok(o)
}

/// SAML or Active Directory sign-in besides the certificate, checked for form before any call.
fn user_auth(
    args: &SetupArgs,
    dc: &crate::config::DeploymentConfig,
) -> Result<Option<crate::aws::model::UserAuth>> {
    use crate::aws::model::UserAuth;
    // A sign-in given by a flag wins over the config's, whichever kind.
    let (saml, directory) = if args.saml_provider.is_some() || args.directory_id.is_some() {
        (args.saml_provider.as_ref(), args.directory_id.as_ref())
    } else {
        (dc.saml_provider.as_ref(), dc.directory_id.as_ref())
    };
    let portal = args
        .self_service_portal
        .or(dc.self_service_portal)
        .unwrap_or(false);
    match (saml, directory) {
        (Some(_), Some(_)) => Err(Error::invalid(
            "--saml-provider and --directory-id together: AWS combines the certificate with \
             one of them, not both",
            "choose SAML or Active Directory",
        )),
        (Some(arn), None) => {
            let (head, name) = arn.split_once(":saml-provider/").unwrap_or_default();
            let parts: Vec<&str> = head.split(':').collect();
            let account_ok = parts.len() == 5
                && parts[4].len() == 12
                && parts[4].bytes().all(|b| b.is_ascii_digit());
            if !(parts.first() == Some(&"arn")
                && parts.get(1).is_some_and(|p| p.starts_with("aws"))
                && parts.get(2) == Some(&"iam")
                && account_ok
                && !name.is_empty())
            {
                return Err(Error::invalid(
                    format!("--saml-provider {arn:?} is not an IAM SAML provider ARN"),
                    "give it as IAM shows it: arn:aws:iam::123456789012:saml-provider/NAME",
                ));
            }
            Ok(Some(UserAuth::Saml {
                provider_arn: arn.clone(),
                // The portal wanted is in the options (`EndpointSpec::observed_auth`).
                self_service_portal: false,
            }))
        }
        (None, Some(id)) => {
            let hex = id.strip_prefix("d-").unwrap_or_default();
            if hex.len() != 10 || !hex.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(Error::invalid(
                    format!("--directory-id {id:?} is not a Directory Service id"),
                    "give it as AWS shows it: d-1234567890",
                ));
            }
            if portal {
                return Err(Error::invalid(
                    "--self-service-portal needs --saml-provider",
                    "drop --self-service-portal, or sign in through SAML",
                ));
            }
            Ok(Some(UserAuth::Directory {
                directory_id: id.clone(),
            }))
        }
        (None, None) if portal => Err(Error::invalid(
            "--self-service-portal needs --saml-provider: AWS offers no portal for \
             certificates alone",
            "add --saml-provider ARN, or drop --self-service-portal",
        )),
        (None, None) => Ok(None),
    }
}

/// Look up the VPC and subnets (read-only) and check them against each other.
async fn lookup(cloud: &AwsCloud, s: &Settings) -> Result<(Vpc, Vec<Subnet>)> {
    if let Some(crate::aws::model::UserAuth::Saml { provider_arn, .. }) = &s.user_auth
        && !cloud
            .saml_provider_exists(provider_arn)
            .await
            .map_err(awsmod::to_error)?
    {
        return Err(Error::not_found(
            format!("no IAM SAML provider {provider_arn} in this account"),
            "create it in IAM (Identity providers → SAML, from your IdP's metadata), or check \
             the ARN; nothing was created",
        ));
    }
    let vpc = cloud.find_vpc(&s.vpc).await.map_err(awsmod::to_error)?;
    check_overlap(s.client_cidr, &vpc)?;
    let mut subnets: Vec<Subnet> = Vec::new();
    for name in &s.subnets {
        let sub = cloud.find_subnet(name).await.map_err(awsmod::to_error)?;
        if sub.vpc_id != vpc.id {
            return Err(Error::invalid(
                format!(
                    "subnet {name} ({}) is in {}, not in the VPC {} ({})",
                    sub.id, sub.vpc_id, s.vpc, vpc.id
                ),
                "give subnets of the chosen VPC",
            ));
        }
        // The same subnet named twice (by id and by name, say) is one association.
        if subnets.iter().any(|o| o.id == sub.id) {
            continue;
        }
        // Its size, before anything (the PKI included) is made; its free addresses once it is
        // known whether it is associated already (`plan::preflight`).
        plan::target_network_fits(&sub, true)?;
        if let Some(other) = subnets.iter().find(|o| o.az == sub.az) {
            return Err(Error::invalid(
                format!(
                    "subnets {} and {} are both in {}; Client VPN takes one subnet per \
                        Availability Zone",
                    other.id, sub.id, sub.az
                ),
                "keep one subnet per Availability Zone",
            ));
        }
        subnets.push(sub);
    }
    Ok((vpc, subnets))
}

/// The security groups by id, group name or Name tag, each checked to be in the VPC before
/// anything is created (AWS would refuse the endpoint only after the certificate import).
async fn security_groups(cloud: &AwsCloud, vpc: &Vpc, wanted: &[String]) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    for g in wanted {
        // EC2 filters read `*` and `?` as wildcards: a pattern could pick a group by chance.
        if g.is_empty() || g.contains(['*', '?']) {
            return Err(Error::invalid(
                format!("--security-group {g:?} is not a group id or name"),
                "give one security group by id (sg-…), group name or Name tag, without wildcards",
            ));
        }
        let id = match cloud.find_security_group(&vpc.id, g).await {
            Err(e) if e.is(awsmod::cloud::Kind::NotFound) => {
                let what = e.what;
                return Err(Error::not_found(
                    format!("no {what}"),
                    format!(
                        "give a security group of the VPC {} by id (sg-…), group name or Name tag, \
                         or leave --security-group out to use the VPC's default group",
                        vpc.id
                    ),
                ));
            }
            r => r.map_err(awsmod::to_error)?,
        };
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// The VPC's resolver: its base address + 2.
pub fn vpc_resolver(vpc: &Vpc) -> Option<Ipv4Addr> {
    let base = vpc.cidrs.first()?.network();
    Some(Ipv4Addr::from(u32::from(base).wrapping_add(2)))
}

/// The server certificate, key and CA as ACM gets them, checked first: AWS would refuse a
/// certificate without a domain or an RSA-1024/2048 key, or a key that is not the
/// certificate's (the emulator would not: moto accepts any pair).
fn server_upload(pki: &Pki) -> Result<CertUpload> {
    let current = pki
        .current_entries()?
        .into_iter()
        .find(|e| e.cn == pki.meta.server_name);
    if current.as_ref().is_none_or(|e| e.is_revoked())
        || !pki.cert_path(&pki.meta.server_name).exists()
    {
        return Err(Error::not_found(
            "the PKI has no valid server certificate (an interrupted `pki renew server`?)",
            "issue a new one: `vpnctl pki renew server`",
        ));
    }
    let cert_pem = pki.server_cert_pem()?;
    let server = cert::inspect(&cert_pem, "the server certificate")?;
    let problems = cert::aws_server_problems(&server);
    if !problems.is_empty() {
        return Err(Error::invalid(
            format!(
                "AWS Client VPN would refuse the server certificate {}: {}",
                server.cn,
                problems.join("; ")
            ),
            "issue an acceptable one: `vpnctl pki init --force --server-name \
                vpn.example.internal` (new PKI) or import with --server-name",
        ));
    }
    let upload = CertUpload {
        cert_pem,
        key_pem: pki.server_key_pem()?,
        chain_pem: pki.ca_pem()?,
    };
    if !cert::key_matches(
        &cert::parse_key(&upload.key_pem, "private/server.key")?,
        &server,
    ) {
        return Err(Error::corrupt(
            "private/server.key does not belong to issued/server.crt",
            "renew the server certificate: `vpnctl pki renew server`",
        ));
    }
    if !cert::signed_by(&upload.cert_pem, &upload.chain_pem) {
        return Err(Error::corrupt(
            "issued/server.crt is not signed by this PKI's CA",
            "renew the server certificate: `vpnctl pki renew server`",
        ));
    }
    Ok(upload)
}

pub fn run(ctx: &Ctx, args: &SetupArgs) -> Result<()> {
    let config = ctx.config.deployment(&ctx.deployment);
    let settings = resolve(args, &config)?;
    // The deadline (`--ttl`, else the config's `ttl`), read before anything is made.
    let ttl = super::deadline::parse(args.ttl.as_deref(), "--ttl")?;
    super::deadline::parse(config.ttl.as_deref(), "the config's ttl")?;
    // Idle sleep (`--idle-sleep`, else the config's `idle_sleep`), read before anything too.
    let idle = match &args.idle_sleep {
        Some(t) => super::deadline::parse(Some(t), "--idle-sleep")?,
        None => super::deadline::parse(config.idle_sleep.as_deref(), "the config's idle_sleep")?,
    };
    // 1. An existing PKI is checked before anything else; a missing one is created only once
    //    the AWS lookups below found nothing wrong, so bad input leaves no PKI behind.
    let existing = if store::exists(&ctx.pki_dir) {
        let pki = Pki::open(&ctx.pki_dir)?;
        server_upload(&pki)?;
        if let Some(name) = args
            .server_name
            .as_ref()
            .filter(|n| **n != pki.meta.server_name)
        {
            ctx.printer.warn(format!(
                "--server-name {name} is ignored: the PKI in {} already names its server {}",
                ctx.pki_dir.display(),
                pki.meta.server_name
            ));
        }
        Some(pki)
    } else if args.dry_run {
        return Err(Error::not_found(
            format!("no PKI in {}", ctx.pki_dir.display()),
            "run `vpnctl pki init` first (setup without --dry-run creates it)",
        ));
    } else {
        if let Some(name) = &args.server_name {
            crate::pki::names::validate_server_name(name)?;
        }
        None
    };

    let rt = runtime()?;
    let (cloud, region, vpc, subnets, security_groups, nat_want) = rt.block_on(async {
        let (cloud, region) = connect(ctx, &args.aws).await?;
        let (vpc, subnets) = lookup(&cloud, &settings).await?;
        let security_groups = security_groups(&cloud, &vpc, &settings.security_groups).await?;
        // `--nat`: resolved (read-only) before anything is created; its steps run in the
        // plan's NAT lane, concurrently with the endpoint's.
        let nat_want = match &args.nat {
            Some(subnet) => Some(super::nat::want(&cloud, subnet, None, None, false).await?),
            None => None,
        };
        Ok::<_, Error>((cloud, region, vpc, subnets, security_groups, nat_want))
    })?;
    // From here on this run changes the deployment: one at a time (see `deployment_lock`).
    // The lock's wait and the PKI's creation, repair and reads are blocking work, done here
    // between two runs of the runtime rather than on it.
    let _lock = if args.dry_run {
        None
    } else {
        Some(super::deployment_lock_blocking(ctx)?)
    };
    let mut pki = match existing {
        // Read again under the lock: another vpnctl may have changed it meanwhile.
        Some(_) => Pki::open(&ctx.pki_dir)?,
        // Another setup made the PKI while this one waited for the lock.
        None if store::exists(&ctx.pki_dir) => Pki::open(&ctx.pki_dir)?,
        None => {
            ctx.printer
                .info(format!("creating the PKI in {}", ctx.pki_dir.display()));
            // A passphrase given (file or environment) encrypts the new CA key, as
            // `pki init --encrypt-ca-key` would.
            let opts = store::InitOptions {
                deployment: ctx.deployment.clone(),
                server_name: args.server_name.clone(),
                ca_days: store::DEFAULT_CA_DAYS,
                server_days: store::DEFAULT_CERT_DAYS,
                crl_days: store::DEFAULT_CRL_DAYS,
                force: false,
                passphrase: ctx.passphrase.clone(),
                kms: None,
            };
            Pki::init(&ctx.pki_dir, &opts, ctx.now)?
        }
    };
    // The CRL that goes to the endpoint is read under the deployment lock, after any
    // repair of an interrupted PKI command (dry runs only look).
    if args.dry_run {
        if let Some(w) = pki.health()?.describe() {
            ctx.printer.warn(w);
        }
    } else {
        ctx.repaired_pki(&mut pki)?;
        // A PKI made for another name (`pki init` without --name, then `--name lab setup`)
        // now serves this deployment, unless its own name has a deployment too: later
        // commands then find 'lab' from the PKI instead of stopping at two candidates.
        let recorded = pki.meta.deployment.clone();
        if recorded != ctx.deployment && crate::state::load(&ctx.pki_dir, &recorded).is_none() {
            match ctx.remote()? {
                Some(remote) => {
                    remote.transact(
                        &ctx.pki_dir,
                        None,
                        ctx.now,
                        |p| p.record_deployment(&ctx.deployment),
                        |_, _| Vec::new(),
                    )?;
                    pki = crate::pki::Pki::open(&ctx.pki_dir)?;
                }
                None => pki.record_deployment(&ctx.deployment)?,
            }
            ctx.printer.info(format!(
                "the PKI in {} now records deployment '{}' (it recorded '{recorded}', which \
                 has no deployment here)",
                ctx.pki_dir.display(),
                ctx.deployment
            ));
        }
    }
    let upload = server_upload(&pki)?;
    let server_pem = upload.cert_pem.clone();
    // The VPC's CIDR, the extra ones, and every routed destination: a route without its
    // rule would let no one through.
    let mut authorize: Vec<Ipv4Net> = vpc.cidrs.first().copied().into_iter().collect();
    for c in settings.authorize.iter().chain(&settings.routes) {
        if !authorize.contains(c) {
            authorize.push(*c);
        }
    }
    if settings.full_tunnel {
        let all: Ipv4Net = "0.0.0.0/0"
            .parse()
            .map_err(|_| Error::invalid("0.0.0.0/0", ""))?;
        if !authorize.contains(&all) {
            authorize.push(all);
        }
    }
    let dns_servers = if settings.dns_servers.is_empty() {
        vpc_resolver(&vpc).into_iter().collect()
    } else {
        settings.dns_servers.clone()
    };
    let want = Desired {
        deployment: ctx.deployment.clone(),
        endpoint: EndpointSpec {
            name: ctx.deployment.clone(),
            client_cidr: settings.client_cidr,
            vpc_id: vpc.id.clone(),
            split_tunnel: !settings.full_tunnel,
            dns_servers,
            transport: settings.transport,
            port: settings.port,
            security_groups,
            description: settings
                .description
                .clone()
                .unwrap_or_else(|| format!("vpnctl {}", ctx.deployment)),
            log_group: settings.log_group.clone(),
            options: settings.options.clone(),
            user_auth: settings.user_auth.clone(),
            certificates: settings.certificates,
        },
        vpc,
        subnets,
        authorize,
        groups: settings.groups.clone(),
        full_tunnel: settings.full_tunnel,
        routes: settings.routes.clone(),
        server_cert_pem: server_pem.clone(),
        crl_pem: pki.crl_pem()?,
        ca_pem: upload.chain_pem.clone(),
    };
    rt.block_on(async {
        let seen = exec::observe(&cloud, &ctx.deployment, false)
            .await
            .map_err(awsmod::to_error)?;
        let mut steps = plan::plan_setup(&want, &seen)?;
        // AWS's limits, before anything is made (the Region's endpoints are counted only when
        // this setup would add one).
        let in_region = if steps
            .iter()
            .any(|s| s.action == plan::Action::CreateEndpoint)
        {
            Some(
                cloud
                    .endpoints_in_region()
                    .await
                    .map_err(awsmod::to_error)?,
            )
        } else {
            None
        };
        plan::preflight(&want, &seen, &ctx.config.quotas, in_region)?;
        if let Some(w) = &nat_want {
            steps.extend(plan::plan_nat_on(w, &seen)?);
        }
        let now = ctx.now.unix_timestamp();
        // The deployment's duration: the one recorded on the endpoint, else the config's.
        let fallback = super::deadline::deployment_ttl(ctx, &seen);
        let endpoint_deadline = super::deadline::endpoint_want(
            &seen,
            ttl,
            args.ttl.as_deref(),
            fallback.as_deref(),
            now,
        )?;
        let deadline = plan::plan_endpoint_deadline(&seen, &endpoint_deadline, &steps);
        steps.extend(deadline);
        if nat_want.is_some() {
            let w = super::deadline::nat_want(
                &seen,
                ttl,
                args.ttl.as_deref(),
                fallback.as_deref(),
                now,
            )?;
            let deadline = plan::plan_deadline(&seen, plan::Deadline::Nat, &w, &steps);
            steps.extend(deadline);
        }
        // Idle sleep, armed (again) when asked for and not armed as asked, or removed; working
        // hours and idle sleep armed again when the plan changes what they record.
        let armed = plan::recurring_of(&seen.schedules);
        let mut asked = Vec::new();
        match idle {
            Some(Some(after)) => {
                let r = plan::Recurring::Idle { after };
                asked.push(plan::RecurringKind::Idle);
                if !armed.contains(&r) || plan::changes_endpoint(&steps) {
                    steps.extend(plan::plan_recurring(r));
                }
            }
            Some(None) => {
                asked.push(plan::RecurringKind::Idle);
                steps.extend(plan::plan_recurring_off(&seen, plan::RecurringKind::Idle));
            }
            None => {}
        }
        let kept = plan::plan_recurring_keep(&seen, &steps, &asked);
        steps.extend(kept);
        let steps = plan::ordered(steps);
        super::deadline::check_readable(ctx, &seen, &steps)?;
        if args.dry_run {
            super::show_plan(ctx, "setup", &region, &steps, &[], "");
            return Ok(());
        }
        let started = std::time::Instant::now();
        let account = super::deadline::account(&cloud, &steps).await?;
        let inputs = exec::Inputs {
            endpoint: Some(&want.endpoint),
            upload: Some(&upload),
            crl_pem: Some(&want.crl_pem),
            account: account.as_deref(),
            region: Some(&region),
        };
        // One interruptible span from the first change to the summary.
        super::interruptible(ctx, Some(ctx.vpnctl_aws("teardown", &args.aws)), async {
            let ran = super::execute(ctx, &cloud, "setup", &region, &steps, &seen, &inputs, false)
                .await
                .into_result()
                .map_err(awsmod::step_error)?;
            finish(
                ctx,
                &pki,
                &want,
                &ran,
                (&region, &args.aws),
                started.elapsed(),
            )?;
            if let Some(w) = &nat_want {
                super::nat::report_on(ctx, &region, &args.aws, w, &ran);
            }
            for line in super::deadline::armed_lines(&ran, now) {
                ctx.printer.info(line);
            }
            for line in super::deadline::recurring_lines(&ran) {
                ctx.printer.info(line);
            }
            let kept = plan::pending(&seen.schedules)
                .iter()
                .any(|p| p.deadline == plan::Deadline::Endpoint);
            if endpoint_deadline == plan::Want::Off || (!kept && ran.deadlines.is_empty()) {
                ctx.printer.info(format!(
                    "no deadline: the endpoint bills until `{}` or `{}`; `{}` makes AWS put it \
                     to sleep by itself at a deadline",
                    ctx.vpnctl_aws("sleep", &args.aws),
                    ctx.vpnctl_aws("teardown", &args.aws),
                    ctx.vpnctl_aws("setup --ttl 8h", &args.aws)
                ));
            }
            Ok(())
        })
        .await
    })
}

/// The endpoint host, port and protocol from AWS's exported client configuration.
pub fn parse_export(config: &str) -> Option<(String, u16, Proto)> {
    let mut remote = None;
    let mut proto = Proto::Udp;
    for line in config.lines() {
        let mut w = line.split_whitespace();
        match w.next() {
            Some("remote") => {
                let host = w.next()?.to_string();
                let port = w.next().and_then(|p| p.parse().ok()).unwrap_or(443);
                remote.get_or_insert((host, port));
            }
            Some("proto") if w.next().is_some_and(|p| p.starts_with("tcp")) => proto = Proto::Tcp,
            _ => {}
        }
    }
    remote.map(|(h, p)| (h, p, proto))
}

fn finish(
    ctx: &Ctx,
    pki: &Pki,
    want: &Desired,
    ran: &exec::Ran,
    (region, aws): (&str, &crate::cli::AwsArgs),
    took: std::time::Duration,
) -> Result<()> {
    // Hints name the region this ran in, so they work wherever they are pasted.
    let with_region = |rest: &str| {
        let aws = crate::cli::AwsArgs {
            region: Some(region.to_string()),
            ..aws.clone()
        };
        ctx.vpnctl_aws(rest, &aws)
    };
    let (Some(endpoint), Some(certificate_arn)) = (&ran.endpoint, &ran.certificate_arn) else {
        return Err(Error::incomplete(
            "setup ended without an endpoint or a server certificate",
            "run the same command again",
        ));
    };
    let now = ctx.now.unix_timestamp();
    let mut st = crate::state::load(&ctx.pki_dir, &ctx.deployment).unwrap_or_default();
    st.deployment = ctx.deployment.clone();
    st.region = Some(region.to_string());
    st.endpoint_id = Some(endpoint.id.clone());
    // The endpoint's own sign-in (setup without --saml-provider/--directory-id keeps it).
    st.sign_in = endpoint
        .user_auth
        .as_ref()
        .or(want.endpoint.user_auth.as_ref())
        .map(|a| a.kind().to_string());
    st.certificates = (!endpoint.certificates).then_some(false);
    // Setup gave the endpoint this PKI's CRL (or found it there).
    st.crl_number = Some(pki.meta.crl_number);
    for s in &want.subnets {
        st.associated_at.entry(s.id.clone()).or_insert(now);
    }
    st.associated_at
        .retain(|k, _| want.subnets.iter().any(|s| &s.id == k));
    if let Some((host, port, proto)) = ran.client_configuration.as_deref().and_then(parse_export) {
        st.dns_name = Some(host);
        st.port = Some(port);
        st.proto = Some(proto);
    }
    st.record(
        now,
        format!(
            "setup: endpoint {}, subnets {}",
            endpoint.id,
            want.subnets
                .iter()
                .map(|s| s.id.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ),
    );
    crate::state::save(&ctx.pki_dir, &st)?;

    ctx.printer.data(format!(
        "deployment {} is up in {region} ({} elapsed)",
        ctx.deployment,
        crate::aws::wait::elapsed(took)
    ));
    ctx.printer.data(format!("  endpoint     {}", endpoint.id));
    ctx.printer
        .data(format!("  certificate  {}", certificate_arn));
    if let Some(dns) = &st.dns_name {
        ctx.printer.data(format!("  dns name     {dns}"));
    }
    for s in &want.subnets {
        ctx.printer
            .data(format!("  subnet       {} ({}) associated", s.id, s.az));
    }
    let written = super::profile::write_profiles(ctx, pki, &st)?;
    for p in &written {
        ctx.printer.data(format!("  profile      {}", p.display()));
    }
    let prices = crate::aws::price::for_region(region, &ctx.config.prices);
    ctx.printer.info(format!(
        "bills now: {} subnet(s) × {}/h, plus {}/h per connection; `{}` shows it, `{}` ends it",
        want.subnets.len(),
        crate::aws::price::dollars(prices.association_hour),
        crate::aws::price::dollars(prices.connection_hour),
        with_region("status"),
        with_region("teardown"),
    ));
    if written.is_empty() {
        ctx.printer.info(format!(
            "next: `{}` issues a user's certificate and writes their profile",
            ctx.vpnctl("pki issue USER")
        ));
    } else {
        ctx.printer.info(match endpoint.user_auth {
            Some(_) => {
                "next: hand each user their profile; they connect with the AWS-provided \
                        client (it asks for the sign-in, SAML in a browser)"
            }
            None => {
                "next: hand each user their profile; they connect with OpenVPN or the AWS \
                     VPN Client"
            }
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DeploymentConfig;

    fn args(extra: &[&str]) -> SetupArgs {
        use clap::Parser;
        let mut v = vec!["vpnctl", "setup"];
        v.extend_from_slice(extra);
        match crate::cli::Cli::parse_from(v).command {
            crate::cli::Command::Setup(a) => a,
            _ => unreachable!(),
        }
    }

    #[test]
    fn client_cidr_rules() {
        let ok = ["10.83.0.0/16", "172.16.0.0/12", "192.168.0.0/22"];
        for c in ok {
            assert!(
                resolve(
                    &args(&["--vpc", "v", "--subnet", "s", "--client-cidr", c]),
                    &DeploymentConfig::default()
                )
                .is_ok(),
                "{c}"
            );
        }
        for (c, msg) in [
            ("10.0.0.0/24", "/12 to /22"),
            ("10.0.0.0/8", "/12 to /22"),
            ("10.83.0.1/16", "host bits"),
            ("nope", "not an IPv4 CIDR"),
        ] {
            let e = resolve(
                &args(&["--vpc", "v", "--subnet", "s", "--client-cidr", c]),
                &DeploymentConfig::default(),
            )
            .unwrap_err();
            assert!(e.to_string().contains(msg), "{c}: {e}");
        }
        let vpc = Vpc {
            id: "vpc-1".into(),
            name: None,
            cidrs: vec!["10.0.0.0/16".parse().unwrap()],
        };
        assert!(check_overlap("10.0.0.0/20".parse().unwrap(), &vpc).is_err());
        assert!(check_overlap("10.0.0.0/12".parse().unwrap(), &vpc).is_err());
        assert!(check_overlap("10.83.0.0/16".parse().unwrap(), &vpc).is_ok());
        assert_eq!(vpc_resolver(&vpc), Some("10.0.0.2".parse().unwrap()));
    }

    #[test]
    fn flags_override_the_config_file() {
        let dc = DeploymentConfig {
            vpc: Some("cfg-vpc".into()),
            subnets: Some(vec!["cfg-sub".into()]),
            client_cidr: Some("10.90.0.0/16".into()),
            port: Some(1194),
            ..Default::default()
        };
        let s = resolve(&args(&["--vpc", "flag-vpc"]), &dc).unwrap();
        assert_eq!(s.vpc, "flag-vpc");
        assert_eq!(s.subnets, vec!["cfg-sub".to_string()]);
        assert_eq!(s.port, 1194);
        assert!(resolve(&args(&[]), &DeploymentConfig::default()).is_err());
        assert!(resolve(&args(&["--port", "8443"]), &dc).is_err());
        assert!(
            resolve(
                &args(&[
                    "--dns-server",
                    "1.1.1.1",
                    "--dns-server",
                    "8.8.8.8",
                    "--dns-server",
                    "9.9.9.9"
                ]),
                &dc
            )
            .is_err()
        );
    }

    #[test]
    fn export_parsing() {
        let text = "client\ndev tun\nproto udp\nremote \
            cvpn-endpoint-0a1.prod.clientvpn.us-east-1.amazonaws.com 443\nremote-random-hostname\n";
        assert_eq!(
            parse_export(text),
            Some((
                "cvpn-endpoint-0a1.prod.clientvpn.us-east-1.amazonaws.com".into(),
                443,
                Proto::Udp
            ))
        );
        assert_eq!(
            parse_export("proto tcp\nremote h 1194\n").map(|r| r.2),
            Some(Proto::Tcp)
        );
        assert_eq!(parse_export("client\n"), None);
    }
}

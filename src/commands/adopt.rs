//! `vpnctl adopt --endpoint ID`: bring a Client VPN endpoint made elsewhere (by hand from
//! AWS's guide, by a script) under the deployment. Only tags change: the endpoint and the ACM
//! certificates it uses get the deployment's tags, which is all any other command needs to
//! find them, and the state file records the endpoint.

use super::{Ctx, runtime};
use crate::aws::cloud::Endpoints;
use crate::aws::exec;
use crate::aws::model::{self, Tags};
use crate::aws::plan::{Action, Step};
use crate::cli::AdoptArgs;
use crate::error::{Error, Result};

/// A certificate adopt would tag: its ARN, what it is to the endpoint, the tags it has.
struct Found {
    arn: String,
    /// `server`, or `client-root` (the CA clients chain to, when it is another certificate).
    role: &'static str,
    tags: Tags,
}

pub fn run(ctx: &Ctx, args: &AdoptArgs) -> Result<()> {
    let id = args.endpoint.trim();
    check_endpoint_id(id)?;
    // The local PKI is what the endpoint must trust: without it there is nothing to check.
    if !crate::pki::store::exists(&ctx.pki_dir) {
        return Err(Error::not_found(
            format!("no PKI in {}", ctx.pki_dir.display()),
            "adopt the easy-rsa PKI the endpoint was made with first: `vpnctl pki \
             import-easyrsa PATH/TO/easy-rsa/pki`, then adopt the endpoint",
        ));
    }
    let pki = ctx.open_pki()?;
    let ca_pem = pki.ca_pem()?;
    let server_pem = pki.server_cert_pem().ok();
    let rt = runtime()?;
    let (cloud, region) = rt.block_on(super::connect(ctx, &args.aws))?;
    let _lock = if args.dry_run {
        None
    } else {
        Some(super::deployment_lock_blocking(ctx)?)
    };
    rt.block_on(async {
        let to_error = crate::aws::to_error;
        let seen = exec::observe(&cloud, &ctx.deployment, false)
            .await
            .map_err(to_error)?;
        let found = cloud.endpoint_by_id(id).await.map_err(to_error)?;
        let Some(found) = found else {
            return Err(Error::not_found(
                format!("no Client VPN endpoint {id} in {region}"),
                "check the id (`aws ec2 describe-client-vpn-endpoints`) and --region",
            ));
        };
        let ep = &found.endpoint;
        // One endpoint, one deployment; one deployment, one endpoint.
        if let Some(owner) = ep.tags.get(model::TAG_DEPLOYMENT)
            && owner != &ctx.deployment
        {
            return Err(Error::conflict(
                format!("the endpoint {id} belongs to deployment '{owner}'"),
                format!("work on it with `vpnctl --name {owner} …`"),
            ));
        }
        let ours = seen
            .endpoints
            .iter()
            .filter_map(|v| v.endpoint.as_ref())
            .find(|e| e.id != id);
        if let Some(other) = ours {
            return Err(Error::conflict(
                format!(
                    "deployment '{}' already has the endpoint {}",
                    ctx.deployment, other.id
                ),
                "adopt into another deployment (--name NEW), or tear this one down first",
            ));
        }
        // The endpoint must trust this PKI's CA, or no certificate issued here connects.
        if found.client_roots.is_empty() {
            return Err(Error::invalid(
                format!(
                    "the endpoint {id} has no certificate (mutual) authentication ({})",
                    found.auth_kinds.join(", ")
                ),
                "vpnctl's profiles sign in with certificates: adopt an endpoint made with \
                 mutual authentication",
            ));
        }
        let import_hint = |why: &str| {
            format!(
                "adopt the easy-rsa PKI the endpoint was made with first: `{}` ({why}), then \
                 adopt the endpoint",
                ctx.vpnctl("pki import-easyrsa PATH/TO/easy-rsa/pki")
            )
        };
        let mut certs: Vec<Found> = Vec::new();
        for arn in &found.client_roots {
            let (body, chain) = cloud.certificate_and_chain(arn).await.map_err(to_error)?;
            if !chains_to(&body, chain.as_deref(), &ca_pem) {
                return Err(Error::conflict(
                    format!(
                        "the endpoint {id} trusts clients of another CA (its client root \
                         certificate {arn} is neither this PKI's CA nor carries it in its chain)"
                    ),
                    import_hint("its ca.crt is the CA the endpoint trusts"),
                ));
            }
            if !certs.iter().any(|c| &c.arn == arn) {
                certs.push(Found {
                    arn: arn.clone(),
                    role: "client-root",
                    tags: Tags::new(),
                });
            }
        }
        if let Some(server) = &ep.server_cert_arn {
            let (body, _) = cloud
                .certificate_and_chain(server)
                .await
                .map_err(to_error)?;
            if server_pem.as_deref().map(same_cert) != Some(same_cert(&body)) {
                // Setup replaces a server certificate of this CA in place, and refuses one of
                // another CA (another PKI's deployment).
                if !crate::pki::cert::signed_by(&body, &ca_pem) {
                    return Err(Error::conflict(
                        format!(
                            "the endpoint's server certificate {server} was not issued by this \
                             PKI's CA"
                        ),
                        import_hint("the PKI that issued it"),
                    ));
                }
                ctx.printer.warn(format!(
                    "ACM's server certificate {server} is not this PKI's current one; `{}` \
                     would import this PKI's to the same ARN",
                    ctx.vpnctl("setup")
                ));
            }
            // The server's first: an ARN used for both is the server's.
            certs.retain(|c| &c.arn != server);
            certs.insert(
                0,
                Found {
                    arn: server.clone(),
                    role: "server",
                    tags: Tags::new(),
                },
            );
        }
        // Each certificate's own tags: another deployment's is refused, a Name stays, and one
        // another endpoint also uses is left alone (teardown could never delete it).
        let mut shared = Vec::new();
        for c in &mut certs {
            let (tags, users) = cloud
                .certificate_tags_and_users(&c.arn)
                .await
                .map_err(to_error)?;
            if let Some(owner) = tags.get(model::TAG_DEPLOYMENT)
                && owner != &ctx.deployment
            {
                return Err(Error::conflict(
                    format!(
                        "the endpoint's certificate {} belongs to deployment '{owner}'",
                        c.arn
                    ),
                    "adopt an endpoint whose certificates no other deployment holds",
                ));
            }
            if users.iter().any(|u| !u.ends_with(id)) {
                shared.push(c.arn.clone());
            }
            c.tags = tags;
        }
        certs.retain(|c| !shared.contains(&c.arn));
        for arn in &shared {
            ctx.printer.warn(format!(
                "the certificate {arn} is also used by another endpoint: left untagged, so \
                 teardown leaves it"
            ));
        }

        let steps = plan(ctx, ep, &certs);
        if args.dry_run {
            super::show_plan(
                ctx,
                "adopt",
                &region,
                &steps,
                &[],
                "nothing to change: already adopted",
            );
            return Ok(());
        }
        if steps.is_empty() {
            super::plan_report::nothing_to_do(ctx, "adopt", &region);
        } else {
            super::interruptible(ctx, None, async {
                let mut ran = super::executor(ctx, &cloud)
                    .run(&steps, &seen, &exec::Inputs::default(), false)
                    .await;
                // The run began with nothing of the deployment's: say what it now holds.
                ran.endpoint = Some(ep.clone());
                ran.certificate_arn = ep.server_cert_arn.clone();
                super::plan_report::outcome(ctx, "adopt", &region, &steps, &ran, None);
                ran.into_result().map_err(crate::aws::step_error)
            })
            .await?;
        }
        let associations = cloud.associations(id).await.map_err(to_error)?;
        record(ctx, &region, ep, &associations)?;
        report(ctx, &region, ep, &associations, steps.is_empty());
        Ok(())
    })
}

/// `cvpn-endpoint-` and 17 hex digits, as AWS makes them.
fn check_endpoint_id(id: &str) -> Result<()> {
    let hex = id.strip_prefix("cvpn-endpoint-").unwrap_or_default();
    if hex.len() == 17 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(());
    }
    Err(Error::invalid(
        format!("`{id}` is not a Client VPN endpoint id"),
        "give it as AWS shows it: --endpoint cvpn-endpoint-0123456789abcdef0",
    ))
}

/// The tags that make the endpoint and its certificates the deployment's: only those missing,
/// a `Name` already there kept. A client root certificate is marked as such, so that it is
/// never taken for the server certificate.
fn plan(ctx: &Ctx, ep: &model::Endpoint, certs: &[Found]) -> Vec<Step> {
    let missing = |have: &Tags, name: &str, role: Option<&str>| -> Tags {
        let mut want = model::tags_for(&ctx.deployment, name);
        if let Some(role) = role {
            want.insert(model::TAG_CERT_ROLE.to_string(), role.to_string());
        }
        want.into_iter()
            .filter(|(k, _)| k != "Name" || !have.contains_key("Name"))
            .filter(|(k, v)| have.get(k) != Some(v))
            .collect()
    };
    let mut steps = Vec::new();
    let tags = missing(&ep.tags, &ctx.deployment, None);
    if !tags.is_empty() {
        steps.push(Step::on(&ep.id, Action::AdoptEndpoint { tags }));
    }
    for c in certs {
        let role = (c.role != "server").then_some(c.role);
        let name = format!("{}-{}", ctx.deployment, c.role);
        let tags = missing(&c.tags, &name, role);
        if !tags.is_empty() {
            steps.push(Step::new(Action::AdoptCertificate {
                arn: c.arn.clone(),
                tags,
            }));
        }
    }
    steps
}

/// The state file: region, endpoint, its address and sign-in. When billing began is not
/// known here (status then counts from the endpoint's creation); the CRL the endpoint holds
/// is unknown until a push.
fn record(
    ctx: &Ctx,
    region: &str,
    ep: &model::Endpoint,
    associations: &[model::Association],
) -> Result<()> {
    let now = ctx.now.unix_timestamp();
    let mut st = crate::state::load(&ctx.pki_dir, &ctx.deployment).unwrap_or_default();
    if let Some(was) = st.region.as_deref().filter(|r| *r != region) {
        ctx.printer.warn(format!(
            "the state file recorded deployment '{}' in {was}; it now records {region} (an \
             endpoint of it left in {was} is not found from here)",
            ctx.deployment
        ));
    }
    st.deployment = ctx.deployment.clone();
    st.region = Some(region.to_string());
    st.endpoint_id = Some(ep.id.clone());
    st.sign_in = ep.user_auth.as_ref().map(|a| a.kind().to_string());
    // Adopt takes endpoints with client certificates only.
    st.certificates = None;
    // AWS gives the name as `*.cvpn-endpoint-…`: clients connect to any label under it.
    st.dns_name = ep
        .dns_name
        .as_deref()
        .map(|d| d.trim_start_matches("*.").to_string());
    st.port = ep.port;
    st.proto = ep.transport.map(|t| match t {
        model::Transport::Tcp => crate::profile::Proto::Tcp,
        model::Transport::Udp => crate::profile::Proto::Udp,
    });
    st.crl_number = None;
    st.associated_at
        .retain(|subnet, _| associations.iter().any(|a| &a.subnet_id == subnet));
    st.record(now, format!("adopt: endpoint {}", ep.id));
    crate::state::save(&ctx.pki_dir, &st)
}

fn report(
    ctx: &Ctx,
    region: &str,
    ep: &model::Endpoint,
    associations: &[model::Association],
    already: bool,
) {
    ctx.printer.data(format!(
        "endpoint {} is {} deployment {} in {region}",
        ep.id,
        if already { "already" } else { "now" },
        ctx.deployment
    ));
    ctx.printer.info(format!(
        "next: `{}` shows it; `{}` issues a user with a profile for it",
        ctx.vpnctl("status"),
        ctx.vpnctl("pki issue USER"),
    ));
    ctx.printer.info(format!(
        "setup with the endpoint's settings as they are (it also gives the endpoint this \
         PKI's CRL, which resets live connections): `{}`",
        ctx.vpnctl(&setup_line(ep, associations))
    ));
}

/// The `setup` command line that converges on the endpoint as it is.
fn setup_line(ep: &model::Endpoint, associations: &[model::Association]) -> String {
    use super::shell_word;
    let mut line = String::from("setup");
    let mut flag = |name: &str, value: &str| {
        line.push_str(&format!(" --{name} {}", shell_word(value)));
    };
    if let Some(vpc) = &ep.vpc_id {
        flag("vpc", vpc);
    }
    for a in associations
        .iter()
        .filter(|a| model::association_bills(&a.state))
    {
        flag("subnet", &a.subnet_id);
    }
    if let Some(cidr) = ep.client_cidr {
        flag("client-cidr", &cidr.to_string());
    }
    if ep.transport == Some(model::Transport::Tcp) {
        flag("transport", "tcp");
    }
    if let Some(port) = ep.port.filter(|p| *p != 443) {
        flag("port", &port.to_string());
    }
    for d in &ep.dns_servers {
        flag("dns-server", d);
    }
    for sg in &ep.security_groups {
        flag("security-group", sg);
    }
    if let Some(d) = ep.description.as_deref().filter(|d| !d.is_empty()) {
        flag("description", d);
    }
    if let Some(g) = &ep.log_group {
        flag("log-group", g);
    }
    let o = &ep.options;
    if let Some(h) = o.session_timeout_hours.filter(|h| *h != 24) {
        flag("session-timeout", &format!("{h}h"));
    }
    if o.disconnect_on_session_timeout == Some(false) {
        flag("disconnect-on-session-timeout", "false");
    }
    if let Some(b) = &o.banner {
        flag("banner", b);
    }
    if o.client_route_enforcement == Some(true) {
        line.push_str(" --client-route-enforcement");
    }
    match &ep.user_auth {
        Some(model::UserAuth::Saml {
            provider_arn,
            self_service_portal,
        }) => {
            line.push_str(&format!(" --saml-provider {}", shell_word(provider_arn)));
            if *self_service_portal {
                line.push_str(" --self-service-portal");
            }
        }
        Some(model::UserAuth::Directory { directory_id }) => {
            line.push_str(&format!(" --directory-id {}", shell_word(directory_id)));
        }
        None => {}
    }
    if !ep.split_tunnel {
        line.push_str(" --full-tunnel");
    }
    line
}

/// Whether a client root certificate (with the chain ACM holds for it) is `ca_pem` or carries
/// it in its chain: what AWS trusts for clients is the chain's CA.
pub(crate) fn chains_to(body: &str, chain: Option<&str>, ca_pem: &str) -> bool {
    let ca = same_cert(ca_pem);
    same_cert(body) == ca || chain.is_some_and(|c| pem_blocks(c).iter().any(|b| same_cert(b) == ca))
}

/// A certificate PEM's base64 body, whitespace removed: equal for the same certificate,
/// whatever comes before its BEGIN line (easy-rsa writes openssl's text dump there).
pub(crate) fn same_cert(pem: &str) -> String {
    pem_blocks(pem)
        .first()
        .map(|b| {
            b.lines()
                .filter(|l| !l.starts_with("-----"))
                .flat_map(|l| l.chars())
                .filter(|c| !c.is_whitespace())
                .collect()
        })
        .unwrap_or_default()
}

/// The `-----BEGIN CERTIFICATE-----` … `-----END CERTIFICATE-----` blocks of a PEM text,
/// each without what precedes its BEGIN line.
fn pem_blocks(text: &str) -> Vec<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    text.split_inclusive(END)
        .filter_map(|b| b.find(BEGIN).map(|i| b[i..].trim().to_string()))
        .filter(|b| b.ends_with(END))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_ids_are_checked_before_any_call() {
        assert!(check_endpoint_id("cvpn-endpoint-0123456789abcdef0").is_ok());
        for bad in [
            "",
            "cvpn-endpoint-",
            "cvpn-endpoint-0123456789abcdef",
            "cvpn-endpoint-0123456789abcdefg",
            "vpn-0123456789abcdef0",
            "cvpn-endpoint-0123456789abcdef0 ",
        ] {
            assert_eq!(
                check_endpoint_id(bad).unwrap_err().exit_code(),
                2,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_certificate_is_the_same_whatever_its_line_breaks_and_text_before_it() {
        let a = "-----BEGIN CERTIFICATE-----\nQUJD\nREVG\n-----END CERTIFICATE-----\n";
        let b = "-----BEGIN CERTIFICATE-----\r\nQUJDREVG\r\n-----END CERTIFICATE-----";
        // easy-rsa's issued certificates: openssl's text dump, then the PEM.
        let easyrsa = "Certificate:\n    Data:\n        Version: 3 (0x2)\n-----BEGIN \
                       CERTIFICATE-----\nQUJDREVG\n-----END CERTIFICATE-----\n";
        assert_eq!(same_cert(a), same_cert(b));
        assert_eq!(same_cert(a), "QUJDREVG");
        assert_eq!(same_cert(easyrsa), "QUJDREVG");
        let other = "-----BEGIN CERTIFICATE-----\nT1RIRVI=\n-----END CERTIFICATE-----";
        let chain = format!("{b}\n-----BEGIN CERTIFICATE-----\nWFla\n-----END CERTIFICATE-----\n");
        assert_eq!(pem_blocks(&chain).len(), 2);
        assert!(chains_to(other, Some(&chain), a));
        assert!(chains_to(a, None, easyrsa), "the CA itself");
        assert!(!chains_to(b, None, other), "another CA");
        assert!(
            !chains_to(other, None, a),
            "no chain: only the CA itself counts"
        );
    }
}

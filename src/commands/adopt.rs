//! `vpnctl adopt --endpoint ID`: bring a Client VPN endpoint made elsewhere (by hand from
//! AWS's guide, by a script) under the deployment. Only tags change: the endpoint and the ACM
//! certificates it uses get the deployment's tags, which is all any other command needs to
//! find them, and the state file records the endpoint as `setup` would.

use super::{Ctx, runtime};
use crate::aws::cloud::{Certificates, Endpoints};
use crate::aws::exec;
use crate::aws::model::{self, AssociationState, Tags};
use crate::aws::plan::{Action, Step};
use crate::cli::AdoptArgs;
use crate::error::{Error, Result};

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
        // One deployment, one endpoint; one endpoint, one deployment.
        let ours: Vec<&str> = seen
            .endpoints
            .iter()
            .filter_map(|v| v.endpoint.as_ref())
            .map(|e| e.id.as_str())
            .collect();
        if let Some(other) = ours.iter().find(|e| **e != id) {
            return Err(Error::conflict(
                format!(
                    "deployment '{}' already has the endpoint {other}",
                    ctx.deployment
                ),
                "adopt into another deployment (--name NEW), or tear this one down first",
            ));
        }
        if let Some(owner) = ep.tags.get(model::TAG_DEPLOYMENT)
            && owner != &ctx.deployment
        {
            return Err(Error::conflict(
                format!("the endpoint {id} belongs to deployment '{owner}'"),
                format!("work on it with `vpnctl --name {owner} …`"),
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
        let mut certs: Vec<String> = Vec::new();
        for arn in &found.client_roots {
            let (body, chain) = cloud.certificate_and_chain(arn).await.map_err(to_error)?;
            if !chains_to(&body, chain.as_deref(), &ca_pem) {
                return Err(Error::conflict(
                    format!(
                        "the endpoint {id} trusts clients of another CA (its client root \
                         certificate {arn} is not this PKI's CA nor issued by it)"
                    ),
                    format!(
                        "adopt the easy-rsa PKI the endpoint was made with first: `{}` (its \
                         ca.crt is the CA the endpoint trusts), then adopt the endpoint",
                        ctx.vpnctl("pki import-easyrsa PATH/TO/easy-rsa/pki")
                    ),
                ));
            }
            certs.push(arn.clone());
        }
        if let Some(server) = &ep.server_cert_arn {
            let body = cloud.certificate_body(server).await.map_err(to_error)?;
            if server_pem.as_deref().map(same_cert) != Some(same_cert(&body)) {
                // Setup replaces a server certificate of this CA in place, and refuses one of
                // another CA (another PKI's deployment).
                if crate::pki::cert::signed_by(&body, &ca_pem) {
                    ctx.printer.warn(format!(
                        "ACM's server certificate {server} is not this PKI's current one; `{}` \
                         would import this PKI's to the same ARN",
                        ctx.vpnctl("setup")
                    ));
                } else {
                    return Err(Error::conflict(
                        format!(
                            "the endpoint's server certificate {server} was not issued by this \
                             PKI's CA"
                        ),
                        format!(
                            "adopt the PKI that issued it (`{}`), so that setup and renewals \
                             can replace it",
                            ctx.vpnctl("pki import-easyrsa PATH/TO/easy-rsa/pki")
                        ),
                    ));
                }
            }
            certs.insert(0, server.clone());
        }
        certs.dedup();

        let steps = plan(ctx, ep, &certs, &seen);
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
        if !steps.is_empty() {
            super::interruptible(ctx, None, async {
                super::execute(
                    ctx,
                    &cloud,
                    "adopt",
                    &region,
                    &steps,
                    &seen,
                    &exec::Inputs::default(),
                    false,
                )
                .await
                .into_result()
                .map_err(crate::aws::step_error)
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

/// The tags that make the endpoint and its certificates the deployment's: only those missing.
fn plan(
    ctx: &Ctx,
    ep: &model::Endpoint,
    certs: &[String],
    seen: &crate::aws::plan::Observed,
) -> Vec<Step> {
    let ours = model::tags_for(&ctx.deployment, &ctx.deployment);
    let missing = |have: &Tags, name: &str| -> Tags {
        ours.iter()
            // A Name someone gave it stays.
            .filter(|(k, _)| k.as_str() != "Name" || !have.contains_key("Name"))
            .filter(|(k, v)| have.get(*k) != Some(v))
            .map(|(k, v)| {
                let v = if k == "Name" {
                    name.to_string()
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect()
    };
    let mut steps = Vec::new();
    let tags = missing(&ep.tags, &ctx.deployment);
    if !tags.is_empty() {
        steps.push(Step::on(&ep.id, Action::AdoptEndpoint { tags }));
    }
    for arn in certs {
        // Tagged already when the deployment's certificate listing finds it.
        let have = seen
            .certificates
            .iter()
            .find(|c| &c.arn == arn)
            .map(|c| c.tags.clone())
            .unwrap_or_default();
        let tags = missing(&have, &format!("{}-adopted", ctx.deployment));
        if !tags.is_empty() {
            steps.push(Step::new(Action::AdoptCertificate {
                arn: arn.clone(),
                tags,
            }));
        }
    }
    steps
}

/// The state file, as setup leaves it: region, endpoint, its address, associated subnets.
fn record(
    ctx: &Ctx,
    region: &str,
    ep: &model::Endpoint,
    associations: &[model::Association],
) -> Result<()> {
    let now = ctx.now.unix_timestamp();
    let mut st = crate::state::load(&ctx.pki_dir, &ctx.deployment).unwrap_or_default();
    st.deployment = ctx.deployment.clone();
    st.region = Some(region.to_string());
    st.endpoint_id = Some(ep.id.clone());
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
    for a in associations.iter().filter(|a| billing(&a.state)) {
        st.associated_at.entry(a.subnet_id.clone()).or_insert(now);
    }
    st.record(now, format!("adopt: endpoint {}", ep.id));
    crate::state::save(&ctx.pki_dir, &st)
}

fn billing(state: &AssociationState) -> bool {
    model::association_bills(state)
}

fn report(
    ctx: &Ctx,
    region: &str,
    ep: &model::Endpoint,
    associations: &[model::Association],
    already: bool,
) {
    let subnets: Vec<&str> = associations
        .iter()
        .filter(|a| billing(&a.state))
        .map(|a| a.subnet_id.as_str())
        .collect();
    ctx.printer.data(format!(
        "endpoint {} is {} deployment {} in {region}",
        ep.id,
        if already { "already" } else { "now" },
        ctx.deployment
    ));
    // The setup line that converges on what the endpoint is now (setup needs these inputs).
    let mut setup = String::from("setup");
    if let Some(vpc) = &ep.vpc_id {
        setup.push_str(&format!(" --vpc {vpc}"));
    }
    for s in &subnets {
        setup.push_str(&format!(" --subnet {s}"));
    }
    if let Some(cidr) = ep.client_cidr {
        setup.push_str(&format!(" --client-cidr {cidr}"));
    }
    if !ep.split_tunnel {
        setup.push_str(" --full-tunnel");
    }
    ctx.printer.info(format!(
        "next: `{}` shows it; `{}` issues a user with a profile for it; `{}` keeps it as it is",
        ctx.vpnctl("status"),
        ctx.vpnctl("pki issue USER"),
        ctx.vpnctl(&setup)
    ));
}

/// Whether a client root certificate (with the chain ACM holds for it) is `ca_pem` or chains
/// to it.
pub(crate) fn chains_to(body: &str, chain: Option<&str>, ca_pem: &str) -> bool {
    let ca = same_cert(ca_pem);
    same_cert(body) == ca
        || crate::pki::cert::signed_by(body, ca_pem)
        || chain.is_some_and(|c| pem_blocks(c).iter().any(|b| same_cert(b) == ca))
}

/// A certificate PEM's base64 body, whitespace removed: equal for the same certificate.
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

/// The `-----BEGIN CERTIFICATE-----` blocks of a PEM text.
fn pem_blocks(text: &str) -> Vec<String> {
    const END: &str = "-----END CERTIFICATE-----";
    text.split_inclusive(END)
        .filter(|b| b.contains("-----BEGIN CERTIFICATE-----"))
        .map(|b| b.trim().to_string())
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
    fn a_certificate_is_the_same_whatever_its_line_breaks() {
        let a = "-----BEGIN CERTIFICATE-----\nQUJD\nREVG\n-----END CERTIFICATE-----\n";
        let b = "-----BEGIN CERTIFICATE-----\r\nQUJDREVG\r\n-----END CERTIFICATE-----";
        assert_eq!(same_cert(a), same_cert(b));
        assert_eq!(same_cert(a), "QUJDREVG");
        let chain = format!("{b}\n-----BEGIN CERTIFICATE-----\nWFla\n-----END CERTIFICATE-----\n");
        assert_eq!(pem_blocks(&chain).len(), 2);
        assert!(chains_to("garbage", Some(&chain), a));
        assert!(!chains_to(
            "garbage",
            Some(&chain),
            "-----BEGIN CERTIFICATE-----\nT1RIRVI=\n-----END CERTIFICATE-----"
        ));
    }
}

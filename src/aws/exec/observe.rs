//! Observe: a deployment's resources, found by their tags (never by a local record).

use super::super::cloud::*;
use super::super::model::*;
use super::super::plan::*;
use futures_util::future::join_all;

/// Everything tagged for `deployment`, with what `reads` asks for besides (`true`/`false`: with
/// or without the connections, every certificate of the region, the server certificate's body).
pub async fn observe<'a, C: Certificates + Endpoints + Nat + Deadlines>(
    cloud: &C,
    deployment: &str,
    reads: impl Into<Reads<'a>>,
) -> CloudResult<Observed> {
    let reads = reads.into();
    // Every certificate is listed with the rest; a narrowed listing waits for the endpoints, so
    // it keeps the certificates they use whatever their domain.
    let every_certificate = async {
        match reads.server_name {
            None => Some(cloud.tagged_certificates(deployment, CertScope::All).await),
            Some(_) => None,
        }
    };
    let (group, role, states_role) = (
        group_name(deployment),
        role_name(deployment),
        states_role_name(deployment),
    );
    let machines: Vec<String> = Machine::ALL.iter().map(|m| m.name(deployment)).collect();
    let deadlines = async {
        // The role and the state machines: what only changing or removing them needs. The
        // machines apart: credentials without Step Functions still have deadlines.
        let role = async {
            match reads.scheduler_role {
                true => {
                    let (role, states_role, machines) = tokio::join!(
                        cloud.role(&role),
                        cloud.role(&states_role),
                        cloud.state_machines(&machines)
                    );
                    Ok((role?, states_role?, machines))
                }
                false => Ok((None, None, Ok(Vec::new()))),
            }
        };
        tokio::join!(cloud.schedules(&group), role)
    };
    let (certificates, endpoints, nats, addresses, deadlines) = tokio::join!(
        every_certificate,
        cloud.tagged_endpoints(deployment),
        cloud.tagged_nat_gateways(deployment),
        cloud.tagged_addresses(deployment),
        deadlines
    );
    let (listed, endpoints, nat_gateways, addresses) =
        (certificates.transpose()?, endpoints?, nats?, addresses?);
    let in_use: Vec<String> = endpoints
        .iter()
        .filter_map(|e| e.server_cert_arn.clone())
        .collect();
    let certificates = async {
        match (listed, reads.server_name) {
            (None, Some(domain)) => {
                let scope = CertScope::Named {
                    domain,
                    arns: &in_use,
                };
                cloud.tagged_certificates(deployment, scope).await
            }
            (listed, _) => Ok(listed.unwrap_or_default()),
        }
    };
    let mut vpcs: Vec<&str> = nat_gateways
        .iter()
        .map(|n| n.vpc_id.as_str())
        .filter(|v| !v.is_empty())
        .collect();
    vpcs.sort();
    vpcs.dedup();
    let mut route_tables = Vec::new();
    for v in vpcs {
        route_tables.extend(cloud.route_tables(v).await?);
    }
    let views = join_all(endpoints.into_iter().map(|e| async move {
        if e.state == EndpointState::Deleting {
            return Ok(EndpointView {
                endpoint: Some(e),
                ..Default::default()
            });
        }
        let (a, r, t) = tokio::join!(
            cloud.associations(&e.id),
            cloud.rules(&e.id),
            cloud.routes(&e.id)
        );
        let crl = cloud.export_crl(&e.id).await?;
        let connections = if reads.connections {
            cloud.connections(&e.id).await?
        } else {
            Vec::new()
        };
        Ok::<_, CloudError>(EndpointView {
            associations: a?,
            rules: r?,
            routes: t?,
            connections,
            crl,
            endpoint: Some(e),
        })
    }));
    let (certificates, views) = tokio::join!(certificates, views);
    let views = views.into_iter().collect::<Result<Vec<_>, _>>()?;
    let mut seen = Observed {
        certificates: certificates?,
        endpoints: views,
        nat_gateways,
        addresses,
        route_tables,
        ..Observed::default()
    };
    // Deadlines that cannot be read (no Scheduler or IAM permission, or no answer from those
    // services) do not stop a command that needs none: the commands that would change them
    // refuse, the others say that a deadline set earlier stays.
    match deadlines {
        (Ok(schedules), Ok((role, states_role, machines))) => {
            seen.schedules = schedules;
            seen.scheduler_role = role;
            seen.states_role = states_role;
            match machines {
                Ok(m) => seen.state_machines = m,
                Err(e) => seen.machines_unread = Some(e.to_string()),
            }
        }
        (Err(e), _) | (_, Err(e)) => seen.deadlines_unread = Some(e.to_string()),
    }
    if let Some(c) = seen.server_cert().filter(|_| reads.server_cert_body) {
        let arn = c.arn.clone();
        seen.server_cert_body = Some(cloud.certificate_body(&arn).await?);
    }
    Ok(seen)
}

//! Observe: a deployment's resources, found by their tags (never by a local record).

use super::super::cloud::*;
use super::super::model::*;
use super::super::plan::*;
use futures_util::future::join_all;

pub async fn observe<C: Certificates + Endpoints + Nat>(
    cloud: &C,
    deployment: &str,
    with_connections: bool,
) -> CloudResult<Observed> {
    let (certificates, endpoints, nats, addresses) = tokio::join!(
        cloud.tagged_certificates(deployment),
        cloud.tagged_endpoints(deployment),
        cloud.tagged_nat_gateways(deployment),
        cloud.tagged_addresses(deployment)
    );
    let (certificates, endpoints, nat_gateways, addresses) =
        (certificates?, endpoints?, nats?, addresses?);
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
        let connections = if with_connections {
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
    }))
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    let mut seen = Observed {
        certificates,
        endpoints: views,
        nat_gateways,
        addresses,
        route_tables,
        server_cert_body: None,
    };
    if let Some(c) = seen.server_cert() {
        let arn = c.arn.clone();
        seen.server_cert_body = Some(cloud.certificate_body(&arn).await?);
    }
    Ok(seen)
}

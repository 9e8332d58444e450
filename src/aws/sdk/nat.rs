//! `Nat`: subnets and route tables of a VPC, NAT gateways, Elastic IPs, default routes.

use super::*;
use aws_sdk_ec2 as ec2;

pub(super) fn target_of(r: &ec2::types::Route) -> RouteTarget {
    if let Some(n) = r.nat_gateway_id() {
        return RouteTarget::Nat(n.to_string());
    }
    if let Some(g) = r.gateway_id() {
        return if g == "local" {
            RouteTarget::Local
        } else {
            RouteTarget::Gateway(g.to_string())
        };
    }
    if let Some(t) = r.transit_gateway_id() {
        return RouteTarget::TransitGateway(t.to_string());
    }
    if let Some(p) = r.vpc_peering_connection_id() {
        return RouteTarget::Peering(p.to_string());
    }
    if let Some(i) = r.instance_id() {
        return RouteTarget::Instance(i.to_string());
    }
    if let Some(e) = r.network_interface_id() {
        return RouteTarget::Interface(e.to_string());
    }
    if let Some(l) = r.local_gateway_id() {
        return RouteTarget::LocalGateway(l.to_string());
    }
    if let Some(c) = r.carrier_gateway_id() {
        return RouteTarget::CarrierGateway(c.to_string());
    }
    if let Some(arn) = r.core_network_arn() {
        return RouteTarget::Other(arn.to_string());
    }
    RouteTarget::Other(String::new())
}

pub(super) fn nat_of(n: &ec2::types::NatGateway) -> NatGateway {
    let addr = n.nat_gateway_addresses().first();
    NatGateway {
        id: n.nat_gateway_id().unwrap_or_default().to_string(),
        state: n.state().map(|s| s.as_str().into()).unwrap_or_default(),
        subnet_id: n.subnet_id().unwrap_or_default().to_string(),
        vpc_id: n.vpc_id().unwrap_or_default().to_string(),
        allocation_id: addr.and_then(|a| a.allocation_id()).map(str::to_string),
        public_ip: addr.and_then(|a| a.public_ip()).map(str::to_string),
        created: n.create_time().map(|t| t.secs()),
        tags: from_ec2_tags(n.tags()),
        failure_code: n.failure_code().map(str::to_string),
        failure_message: n.failure_message().map(str::to_string),
    }
}

pub(super) fn deployment_filter(deployment: &str) -> ec2::types::Filter {
    ec2::types::Filter::builder()
        .name(format!("tag:{TAG_DEPLOYMENT}"))
        .values(deployment)
        .build()
}

impl Nat for AwsCloud {
    async fn subnets_of(&self, vpc: &str) -> CloudResult<Vec<Subnet>> {
        let out = self
            .ec2
            .describe_subnets()
            .filters(
                ec2::types::Filter::builder()
                    .name("vpc-id")
                    .values(vpc)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify("DescribeSubnets", vpc, e))?;
        Ok(out.subnets().iter().map(subnet_of).collect())
    }

    async fn route_tables(&self, vpc: &str) -> CloudResult<Vec<RouteTable>> {
        let out = self
            .ec2
            .describe_route_tables()
            .filters(
                ec2::types::Filter::builder()
                    .name("vpc-id")
                    .values(vpc)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify("DescribeRouteTables", vpc, e))?;
        Ok(out
            .route_tables()
            .iter()
            .map(|t| RouteTable {
                id: t.route_table_id().unwrap_or_default().to_string(),
                vpc_id: t.vpc_id().unwrap_or_default().to_string(),
                main: t.associations().iter().any(|a| a.main().unwrap_or(false)),
                subnets: t
                    .associations()
                    .iter()
                    .filter_map(|a| a.subnet_id())
                    .map(str::to_string)
                    .collect(),
                routes: t
                    .routes()
                    .iter()
                    .filter_map(|r| {
                        Some(TableRoute {
                            destination: r.destination_cidr_block()?.to_string(),
                            target: target_of(r),
                        })
                    })
                    .collect(),
            })
            .collect())
    }

    async fn tagged_nat_gateways(&self, deployment: &str) -> CloudResult<Vec<NatGateway>> {
        let all = self
            .ec2
            .describe_nat_gateways()
            .filter(deployment_filter(deployment))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("DescribeNatGateways", "NAT gateways", e))?;
        Ok(all
            .iter()
            .map(nat_of)
            .filter(|n| is_ours(&n.tags, deployment) && n.state != NatState::Deleted)
            .collect())
    }

    async fn tagged_addresses(&self, deployment: &str) -> CloudResult<Vec<Address>> {
        let out = self
            .ec2
            .describe_addresses()
            .filters(deployment_filter(deployment))
            .send()
            .await
            .map_err(|e| classify("DescribeAddresses", "Elastic IPs", e))?;
        Ok(out
            .addresses()
            .iter()
            .map(|a| Address {
                allocation_id: a.allocation_id().unwrap_or_default().to_string(),
                public_ip: a.public_ip().map(str::to_string),
                association_id: a
                    .association_id()
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
                tags: from_ec2_tags(a.tags()),
            })
            .filter(|a| is_ours(&a.tags, deployment))
            .collect())
    }

    async fn allocate_address(&self, tags: &Tags) -> CloudResult<Address> {
        use ec2::types::{DomainType, ResourceType, TagSpecification};
        let out = self
            .ec2_once
            .allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::ElasticIp)
                    .set_tags(Some(ec2_tags(tags)))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify("AllocateAddress", "an Elastic IP", e))?;
        Ok(Address {
            allocation_id: required(out.allocation_id(), "AllocateAddress", "AllocationId")?,
            public_ip: out.public_ip().map(str::to_string),
            association_id: None,
            tags: tags.clone(),
        })
    }

    async fn create_nat_gateway(
        &self,
        subnet: &str,
        allocation: &str,
        tags: &Tags,
        token: &str,
    ) -> CloudResult<NatGateway> {
        use ec2::types::{ConnectivityType, ResourceType, TagSpecification};
        let out = self
            .ec2_once
            .create_nat_gateway()
            .subnet_id(subnet)
            .allocation_id(allocation)
            .connectivity_type(ConnectivityType::Public)
            .client_token(token)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Natgateway)
                    .set_tags(Some(ec2_tags(tags)))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify("CreateNatGateway", subnet, e))?;
        let n = out.nat_gateway().ok_or_else(|| {
            CloudError::api(
                "CreateNatGateway",
                "MissingField",
                "the answer to CreateNatGateway has no NatGateway",
            )
        })?;
        required(n.nat_gateway_id(), "CreateNatGateway", "NatGatewayId")?;
        Ok(nat_of(n))
    }

    async fn delete_nat_gateway(&self, id: &str) -> CloudResult<()> {
        self.ec2_once
            .delete_nat_gateway()
            .nat_gateway_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("DeleteNatGateway", id, e))
    }

    async fn release_address(&self, allocation: &str) -> CloudResult<()> {
        match self
            .ec2_once
            .release_address()
            .allocation_id(allocation)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // AWS answers AuthFailure while a NAT gateway (even a deleting one) still holds it.
            Err(e)
                if e.code() == Some("AuthFailure")
                    || e.code() == Some("InvalidIPAddress.InUse") =>
            {
                Err(CloudError::in_use(allocation.to_string()))
            }
            Err(e) => Err(classify("ReleaseAddress", allocation, e)),
        }
    }

    async fn set_route(
        &self,
        table: &str,
        destination: &str,
        target: &RouteTarget,
        replace: bool,
    ) -> CloudResult<()> {
        macro_rules! send {
            ($req:expr, $action:literal) => {{
                let r = $req
                    .route_table_id(table)
                    .destination_cidr_block(destination);
                let r = match target {
                    RouteTarget::Nat(i) => r.nat_gateway_id(i),
                    RouteTarget::Gateway(i) => r.gateway_id(i),
                    RouteTarget::Interface(i) => r.network_interface_id(i),
                    RouteTarget::TransitGateway(i) => r.transit_gateway_id(i),
                    RouteTarget::Peering(i) => r.vpc_peering_connection_id(i),
                    RouteTarget::Instance(i) => r.instance_id(i),
                    RouteTarget::LocalGateway(i) => r.local_gateway_id(i),
                    RouteTarget::CarrierGateway(i) => r.carrier_gateway_id(i),
                    RouteTarget::Local | RouteTarget::Other(_) => {
                        return Err(CloudError::api(
                            $action,
                            "UnsupportedTarget",
                            format!("vpnctl cannot route to '{}'", target.id()),
                        ));
                    }
                };
                r.send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify($action, table, e))
            }};
        }
        if replace {
            send!(self.ec2_once.replace_route(), "ReplaceRoute")
        } else {
            send!(self.ec2_once.create_route(), "CreateRoute")
        }
    }

    async fn nat_gateway_state(&self, id: &str) -> CloudResult<Option<NatState>> {
        match self
            .ec2
            .describe_nat_gateways()
            .nat_gateway_ids(id)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .nat_gateways()
                .first()
                .and_then(|n| n.state())
                .map(|s| NatState::from(s.as_str()))),
            Err(e) => match classify("DescribeNatGateways", id, e) {
                e if e.is(Kind::NotFound) => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn tag_resource(&self, id: &str, tags: &Tags) -> CloudResult<()> {
        self.create_tags(id, tags).await
    }

    async fn delete_route(&self, table: &str, destination: &str) -> CloudResult<()> {
        self.ec2_once
            .delete_route()
            .route_table_id(table)
            .destination_cidr_block(destination)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("DeleteRoute", table, e))
    }
}

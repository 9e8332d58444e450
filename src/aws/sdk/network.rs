//! `Network`: VPCs, subnets and security groups by id or name.

use super::*;
use aws_sdk_ec2 as ec2;
use ipnet::Ipv4Net;

impl Network for AwsCloud {
    async fn find_security_group(&self, vpc: &str, id_or_name: &str) -> CloudResult<String> {
        let what = format!("security group '{id_or_name}' in {vpc}");
        let filter = |name: &str, value: &str| {
            ec2::types::Filter::builder()
                .name(name)
                .values(value)
                .build()
        };
        let by = |key: &'static str| {
            let req = self
                .ec2
                .describe_security_groups()
                .filters(filter("vpc-id", vpc));
            let req = if key == "group-id" {
                req.group_ids(id_or_name)
            } else {
                req.filters(filter(key, id_or_name))
            };
            let what = what.clone();
            async move {
                match req.send().await {
                    Ok(out) => Ok(out
                        .security_groups()
                        .iter()
                        .filter_map(|g| g.group_id().map(str::to_string))
                        .collect::<Vec<_>>()),
                    // An id that does not exist at all is an error answer, not an empty list.
                    Err(e) if e.code().is_some_and(|c| c.starts_with("InvalidGroup")) => {
                        Ok(Vec::new())
                    }
                    Err(e) => Err(classify("DescribeSecurityGroups", &what, e)),
                }
            }
        };
        // An id that is not one may still be a Name tag that starts with "sg-".
        let keys: &[&'static str] = if id_or_name.starts_with("sg-") {
            &["group-id", "tag:Name"]
        } else {
            &["group-name", "tag:Name"]
        };
        for key in keys {
            match &by(key).await?[..] {
                [] => continue,
                [one] => return Ok(one.clone()),
                many => {
                    return Err(CloudError::api(
                        "DescribeSecurityGroups",
                        "Ambiguous",
                        format!(
                            "{} security groups of {vpc} are named '{id_or_name}'; give the \
                                group id",
                            many.len()
                        ),
                    ));
                }
            }
        }
        Err(CloudError::not_found(what))
    }

    async fn find_vpc(&self, id_or_name: &str) -> CloudResult<Vpc> {
        let what = format!("VPC '{id_or_name}'");
        let req = self.ec2.describe_vpcs();
        let req = if id_or_name.starts_with("vpc-") {
            req.vpc_ids(id_or_name)
        } else {
            req.filters(
                ec2::types::Filter::builder()
                    .name("tag:Name")
                    .values(id_or_name)
                    .build(),
            )
        };
        let out = req
            .send()
            .await
            .map_err(|e| classify("DescribeVpcs", &what, e))?;
        let vpcs = out.vpcs();
        match vpcs {
            [] => Err(CloudError::not_found(what)),
            [v] => {
                let mut cidrs: Vec<Ipv4Net> = v
                    .cidr_block()
                    .and_then(|c| c.parse().ok())
                    .into_iter()
                    .collect();
                for a in v.cidr_block_association_set() {
                    if let Some(c) = a.cidr_block().and_then(|c| c.parse().ok())
                        && !cidrs.contains(&c)
                        && a.cidr_block_state()
                            .and_then(|s| s.state())
                            .is_none_or(|s| *s == ec2::types::VpcCidrBlockStateCode::Associated)
                    {
                        cidrs.push(c);
                    }
                }
                Ok(Vpc {
                    id: v.vpc_id().unwrap_or_default().to_string(),
                    name: name_of(v.tags()),
                    cidrs,
                })
            }
            many => Err(CloudError::api(
                "DescribeVpcs",
                "Ambiguous",
                format!(
                    "{} VPCs are named '{id_or_name}'; give the VPC id",
                    many.len()
                ),
            )),
        }
    }

    async fn find_subnet(&self, id_or_name: &str) -> CloudResult<Subnet> {
        let what = format!("subnet '{id_or_name}'");
        let req = self.ec2.describe_subnets();
        let req = if id_or_name.starts_with("subnet-") {
            req.subnet_ids(id_or_name)
        } else {
            req.filters(
                ec2::types::Filter::builder()
                    .name("tag:Name")
                    .values(id_or_name)
                    .build(),
            )
        };
        let out = req
            .send()
            .await
            .map_err(|e| classify("DescribeSubnets", &what, e))?;
        match out.subnets() {
            [] => Err(CloudError::not_found(what)),
            [s] => Ok(subnet_of(s)),
            many => Err(CloudError::api(
                "DescribeSubnets",
                "Ambiguous",
                format!(
                    "{} subnets are named '{id_or_name}'; give the subnet id",
                    many.len()
                ),
            )),
        }
    }
}

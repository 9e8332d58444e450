//! SDK types into vpnctl's model and back: tags, times, endpoints.

use super::*;
use aws_sdk_ec2 as ec2;

pub(super) fn ec2_tags(tags: &Tags) -> Vec<ec2::types::Tag> {
    tags.iter()
        .map(|(k, v)| ec2::types::Tag::builder().key(k).value(v).build())
        .collect()
}

pub(super) fn from_ec2_tags(tags: &[ec2::types::Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect()
}

/// A subnet as DescribeSubnets answers it.
pub(super) fn subnet_of(s: &ec2::types::Subnet) -> Subnet {
    Subnet {
        id: s.subnet_id().unwrap_or_default().to_string(),
        name: name_of(s.tags()),
        vpc_id: s.vpc_id().unwrap_or_default().to_string(),
        az: s.availability_zone().unwrap_or_default().to_string(),
        cidr: s.cidr_block().and_then(|c| c.parse().ok()),
        available_ips: s
            .available_ip_address_count()
            .and_then(|n| u32::try_from(n).ok()),
    }
}

pub(super) fn name_of(tags: &[ec2::types::Tag]) -> Option<String> {
    tags.iter()
        .find(|t| t.key() == Some("Name"))
        .and_then(|t| t.value())
        .map(str::to_string)
}

pub(super) fn token() -> String {
    let mut b = [0u8; 16];
    let _ = crate::fsx::random(&mut b);
    format!("vpnctl-{}", crate::fsx::hex(&b))
}

/// EC2's Client VPN times are "YYYY-MM-DDTHH:MM:SS" (UTC) or RFC 3339.
pub fn parse_aws_time(s: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t.unix_timestamp());
    }
    // "2026-11-26T10:00:00" (endpoints) or "2026-11-26 10:00:00" (connections), UTC.
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let trimmed = s
        .trim()
        .split('.')
        .next()
        .unwrap_or(s)
        .trim_end_matches('Z')
        .replacen(' ', "T", 1);
    time::PrimitiveDateTime::parse(&trimmed, fmt)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

pub(super) fn endpoint_of(e: &ec2::types::ClientVpnEndpoint) -> Endpoint {
    Endpoint {
        id: e.client_vpn_endpoint_id().unwrap_or_default().to_string(),
        state: e
            .status()
            .and_then(|s| s.code())
            .map(|c| c.as_str().into())
            .unwrap_or_default(),
        dns_name: e.dns_name().map(str::to_string),
        client_cidr: e.client_cidr_block().and_then(|c| c.parse().ok()),
        vpc_id: e.vpc_id().map(str::to_string),
        split_tunnel: e.split_tunnel().unwrap_or(false),
        dns_servers: e.dns_servers().to_vec(),
        transport: e.transport_protocol().map(|t| {
            if t.as_str() == "tcp" {
                Transport::Tcp
            } else {
                Transport::Udp
            }
        }),
        port: e.vpn_port().and_then(|p| u16::try_from(p).ok()),
        security_groups: e.security_group_ids().to_vec(),
        description: e.description().map(str::to_string),
        server_cert_arn: e.server_certificate_arn().map(str::to_string),
        log_group: e
            .connection_log_options()
            .filter(|o| o.enabled() == Some(true))
            .and_then(|o| o.cloudwatch_log_group())
            .map(str::to_string),
        options: ObservedOptions {
            session_timeout_hours: e.session_timeout_hours().and_then(|h| u8::try_from(h).ok()),
            disconnect_on_session_timeout: e.disconnect_on_session_timeout(),
            banner: e
                .client_login_banner_options()
                .filter(|b| b.enabled() == Some(true))
                .map(|b| b.banner_text().unwrap_or_default().to_string()),
            client_route_enforcement: e
                .client_route_enforcement_options()
                .map(|o| o.enforced().unwrap_or(false)),
        },
        user_auth: user_auth_of(e.authentication_options(), e.self_service_portal_url()),
        certificates: e
            .authentication_options()
            .iter()
            .any(|a| a.mutual_authentication().is_some()),
        created: e.creation_time().and_then(parse_aws_time),
        tags: from_ec2_tags(e.tags()),
    }
}

/// The user-based sign-in of an endpoint's authentication options, if any.
fn user_auth_of(
    auth: &[ec2::types::ClientVpnAuthentication],
    portal_url: Option<&str>,
) -> Option<UserAuth> {
    auth.iter().find_map(|a| {
        if let Some(f) = a.federated_authentication() {
            return Some(UserAuth::Saml {
                provider_arn: f.saml_provider_arn().unwrap_or_default().to_string(),
                self_service_portal: portal_url.is_some_and(|u| !u.is_empty()),
            });
        }
        a.active_directory()
            .and_then(|d| d.directory_id())
            .map(|id| UserAuth::Directory {
                directory_id: id.to_string(),
            })
    })
}

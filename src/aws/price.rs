//! The one price table. AWS Client VPN and NAT prices for us-east-1, overridable per region
//! from the config file (`[prices.<region>]`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Prices {
    /// $ per hour per associated subnet.
    #[serde(serialize_with = "crate::json::usd")]
    pub association_hour: f64,
    /// $ per hour per active client connection.
    #[serde(serialize_with = "crate::json::usd")]
    pub connection_hour: f64,
    /// $ per hour per NAT gateway.
    #[serde(serialize_with = "crate::json::usd")]
    pub nat_gateway_hour: f64,
    /// $ per hour per public IPv4 address (Elastic IPs included).
    #[serde(serialize_with = "crate::json::usd")]
    pub public_ipv4_hour: f64,
}

/// us-east-1, as published by AWS.
pub const US_EAST_1: Prices = Prices {
    association_hour: 0.10,
    connection_hour: 0.05,
    nat_gateway_hour: 0.045,
    public_ipv4_hour: 0.005,
};

impl Default for Prices {
    fn default() -> Self {
        US_EAST_1
    }
}

/// The prices for `region`: an override from the config when there is one, else us-east-1's.
pub fn for_region(region: &str, overrides: &BTreeMap<String, Prices>) -> Prices {
    overrides.get(region).copied().unwrap_or(US_EAST_1)
}

/// A dollar amount without binary-float noise (0.15000000000000002 → 0.15), to a millionth.
pub fn cents_round(v: f64) -> f64 {
    (v * 1e6).round() / 1e6 + 0.0
}

/// Cost of `hours` at `rate`, for display.
pub fn dollars(v: f64) -> String {
    // `+ 0.0` turns the -0.0 of an empty sum into 0.0.
    format!("${:.3}", v + 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_per_region() {
        let mut o = BTreeMap::new();
        o.insert(
            "eu-west-1".to_string(),
            Prices {
                association_hour: 0.15,
                ..US_EAST_1
            },
        );
        assert_eq!(for_region("eu-west-1", &o).association_hour, 0.15);
        assert_eq!(for_region("us-east-1", &o), US_EAST_1);
        assert_eq!(dollars(0.1), "$0.100");
    }
}

/// What a charge is for (the price table's line).
#[derive(Debug, Clone, Copy, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ChargeKind {
    Association,
    Connection,
    NatGateway,
    PublicIpv4,
}

impl Prices {
    /// The hourly price of one `kind`.
    pub fn hourly(&self, kind: ChargeKind) -> f64 {
        match kind {
            ChargeKind::Association => self.association_hour,
            ChargeKind::Connection => self.connection_hour,
            ChargeKind::NatGateway => self.nat_gateway_hour,
            ChargeKind::PublicIpv4 => self.public_ipv4_hour,
        }
    }
}

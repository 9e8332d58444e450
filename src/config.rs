//! The config file, `vpnctl.toml`: one table per deployment (flags override it), plus optional
//! `[prices.<region>]` tables. Parsing only; `commands::setup` merges it with the flags.

use crate::aws::price::Prices;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const DEFAULT_FILE: &str = "vpnctl.toml";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfig {
    pub vpc: Option<String>,
    pub subnets: Option<Vec<String>>,
    pub client_cidr: Option<String>,
    pub full_tunnel: Option<bool>,
    pub authorize: Option<Vec<String>>,
    pub routes: Option<Vec<String>>,
    pub dns_servers: Option<Vec<String>>,
    pub transport: Option<String>,
    pub port: Option<u16>,
    pub security_groups: Option<Vec<String>>,
    pub description: Option<String>,
    pub log_group: Option<String>,
    pub region: Option<String>,
    pub profile: Option<String>,
    pub pki: Option<PathBuf>,
    /// Where the PKI lives (`--store`): `s3://BUCKET/PREFIX` for a PKI a team shares.
    pub store: Option<String>,
    /// `setup`'s deadline (`--ttl`): `"8h"`, `"1d"`, `"none"`.
    pub ttl: Option<String>,
    /// `setup`'s idle sleep (`--idle-sleep`): `"1h"`, `"none"`.
    pub idle_sleep: Option<String>,
    /// `--session-timeout`: `"8h"`, `"10h"`, `"12h"`, `"24h"`.
    pub session_timeout: Option<String>,
    pub disconnect_on_session_timeout: Option<bool>,
    /// `--banner`; `"none"` for none.
    pub banner: Option<String>,
    pub client_route_enforcement: Option<bool>,
    pub saml_provider: Option<String>,
    pub self_service_portal: Option<bool>,
    pub directory_id: Option<String>,
    /// `--client-certificates`: false signs users in by SAML or Active Directory alone.
    pub client_certificates: Option<bool>,
}

/// AWS's adjustable Client VPN quotas, as the account has them (vpnctl cannot read them:
/// that takes the Service Quotas API). Unset: AWS's defaults.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quotas {
    pub endpoints_per_region: Option<usize>,
    pub rules_per_endpoint: Option<usize>,
    pub routes_per_association: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConfigFile {
    #[serde(default)]
    pub prices: BTreeMap<String, Prices>,
    /// `[timeouts]`: how long to wait for each kind of AWS transition (`association = "45m"`),
    /// over vpnctl's defaults (`exec::Policies`).
    #[serde(default)]
    pub timeouts: BTreeMap<String, String>,
    /// `[quotas]`: the account's own values of AWS's adjustable quotas, when raised.
    #[serde(default)]
    pub quotas: Quotas,
    #[serde(flatten)]
    pub deployments: BTreeMap<String, DeploymentConfig>,
}

impl ConfigFile {
    /// Load `path`, or `./vpnctl.toml` when it exists, or nothing.
    pub fn load(path: Option<&Path>) -> Result<ConfigFile> {
        let (path, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_FILE), false),
        };
        if !path.exists() {
            if required {
                return Err(Error::not_found(
                    format!("config file {} does not exist", path.display()),
                    "fix --config / VPNCTL_CONFIG",
                ));
            }
            return Ok(ConfigFile::default());
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
        parse(&text).map_err(|e| match e {
            Error::Invalid { message, hint } => {
                Error::invalid(format!("{}: {message}", path.display()), hint)
            }
            other => other,
        })
    }

    pub fn deployment(&self, name: &str) -> DeploymentConfig {
        self.deployments.get(name).cloned().unwrap_or_default()
    }
}

/// A duration like `90m`, `2h`, `1h30m`, `45s`, `1d` in seconds; None unless it is one and
/// more than zero.
pub fn duration_secs(s: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut num = String::new();
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: i64 = num.parse().ok()?;
        num.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return None,
        };
        total = n.checked_mul(unit).and_then(|v| total.checked_add(v))?;
    }
    (num.is_empty() && total > 0).then_some(total)
}

/// Seconds written back as `duration_secs` reads them: `1d`, `2h`, `1h30m`, `45s`.
pub fn duration_text(secs: i64) -> String {
    let mut out = String::new();
    let mut left = secs.max(0);
    for (unit, name) in [(86400, 'd'), (3600, 'h'), (60, 'm'), (1, 's')] {
        if left >= unit {
            out.push_str(&format!("{}{name}", left / unit));
            left %= unit;
        }
    }
    if out.is_empty() { "0s".into() } else { out }
}

pub fn parse(text: &str) -> Result<ConfigFile> {
    let hint = "one table per deployment, e.g. [lab] with vpc, subnets, client_cidr (see \
        docs/commands.md)";
    let config: ConfigFile = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
        let message = e
            .message()
            .replace("struct DeploymentConfig", "a deployment table")
            .replace("struct Prices", "a prices table");
        Error::invalid(
            format!(
                "invalid config{}: {message}",
                line.map(|l| format!(" (line {l})")).unwrap_or_default()
            ),
            hint,
        )
    })?;
    for name in config.deployments.keys() {
        crate::pki::names::validate_deployment(name).map_err(|_| {
            Error::invalid(
                format!("table [{name}] is not a deployment name"),
                "deployment names use lower-case letters, digits and '-'; rename the table",
            )
        })?;
    }
    for (kind, value) in &config.timeouts {
        if !crate::aws::exec::policy::TIMEOUT_KINDS.contains(&kind.as_str()) {
            return Err(Error::invalid(
                format!("[timeouts] has no kind '{kind}'"),
                format!(
                    "the kinds are {}",
                    crate::aws::exec::policy::TIMEOUT_KINDS.join(", ")
                ),
            ));
        }
        if duration_secs(value).is_none_or(|s| s > 7 * 86400) {
            return Err(Error::invalid(
                format!("[timeouts] {kind} = {value:?} is not a duration of at most 7d"),
                "write it like 30m, 2h or 1h30m",
            ));
        }
    }
    for (region, p) in &config.prices {
        if [
            p.association_hour,
            p.connection_hour,
            p.nat_gateway_hour,
            p.public_ipv4_hour,
        ]
        .iter()
        .any(|v| !v.is_finite() || *v < 0.0)
        {
            return Err(Error::invalid(
                format!("[prices.{region}] has a negative or invalid price"),
                "prices are dollars per hour, 0 or more",
            ));
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_per_deployment_and_prices() {
        let c = parse(
            "[lab]\nvpc = \"lab-vpc\"\nsubnets = [\"a\", \"b\"]\nclient_cidr = \
            \"10.83.0.0/16\"\n\n[prices.eu-west-1]\nassociation_hour = 0.15\n",
        )
        .unwrap();
        assert_eq!(c.deployment("lab").vpc.as_deref(), Some("lab-vpc"));
        assert_eq!(c.deployment("lab").subnets.unwrap().len(), 2);
        assert_eq!(c.prices["eu-west-1"].association_hour, 0.15);
        assert_eq!(c.prices["eu-west-1"].connection_hour, 0.05);
        assert!(c.deployment("other").vpc.is_none());
        assert!(parse("[lab]\nvcp = \"typo\"\n").is_err());
        assert!(
            parse("[Lab]\nvpc = \"x\"\n")
                .unwrap_err()
                .to_string()
                .contains("not a deployment name")
        );
        assert!(parse("[prices.eu-west-1]\nassociation_hour = -5\n").is_err());
        let e = parse("[lab]\nvpc = 3\n").unwrap_err().to_string();
        assert!(
            e.contains("(line ") && e.contains("expected a string") && !e.contains("struct"),
            "{e}"
        );
    }
}

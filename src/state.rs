//! The local state file: a cache and a record, never the only place something is known.
//! `status` and `teardown` work without it (they find resources by tag); it lets `profile`
//! and `pki issue` default to the deployment's endpoint and records when subnets were
//! associated, for the accrued-cost figures.

use crate::error::{Error, Result};
use crate::fsx::{self, Overwrite};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub deployment: String,
    pub region: Option<String>,
    pub endpoint_id: Option<String>,
    /// The endpoint's DNS name as exported
    /// (`cvpn-endpoint-….prod.clientvpn.<region>.amazonaws.com`).
    pub dns_name: Option<String>,
    pub port: Option<u16>,
    pub proto: Option<crate::profile::Proto>,
    /// The number of the CRL the endpoint was last seen to hold (after setup, wake or a
    /// push); `pki list` compares it with the PKI's, offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl_number: Option<u64>,
    /// How users sign in besides the certificate: `saml` or `directory` (profiles carry what
    /// the AWS-provided client needs for it); none for certificates only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in: Option<String>,
    /// `false`: users sign in by `sign_in` alone, with no client certificate (one profile for
    /// everyone); absent: with their certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates: Option<bool>,
    /// Subnet id → unix time it was first seen associating.
    #[serde(default)]
    pub associated_at: BTreeMap<String, i64>,
    #[serde(default)]
    pub history: Vec<Event>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub at: i64,
    pub event: String,
}

/// `<dir of the PKI>/.vpnctl/<deployment>.json`.
pub fn path(pki_dir: &Path, deployment: &str) -> PathBuf {
    let parent = pki_dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    parent.join(".vpnctl").join(format!("{deployment}.json"))
}

/// The deployments with a state file beside `pki_dir`, sorted.
pub fn list(pki_dir: &Path) -> Vec<String> {
    let dir = path(pki_dir, "x");
    let Some(dir) = dir.parent() else {
        return Vec::new();
    };
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = rd
        .flatten()
        .filter_map(|f| {
            let name = f.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".json")
                .filter(|n| crate::pki::names::validate_deployment(n).is_ok())
                .map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

pub fn load(pki_dir: &Path, deployment: &str) -> Option<State> {
    let text = std::fs::read_to_string(path(pki_dir, deployment)).ok()?;
    serde_json::from_str(&text).ok()
}

pub fn save(pki_dir: &Path, state: &State) -> Result<()> {
    let p = path(pki_dir, &state.deployment);
    if let Some(dir) = p.parent() {
        fsx::ensure_dir(dir, 0o700)?;
    }
    let text = serde_json::to_string_pretty(state)
        .map_err(|e| Error::corrupt(e.to_string(), "report this bug"))?
        + "\n";
    fsx::write_atomic(&p, text.as_bytes(), 0o600, Overwrite::Replace)
}

pub fn remove(pki_dir: &Path, deployment: &str) -> Result<()> {
    let p = path(pki_dir, deployment);
    match std::fs::remove_file(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", &p, e)),
    }
}

impl State {
    pub fn record(&mut self, now: i64, event: impl Into<String>) {
        self.history.push(Event {
            at: now,
            event: event.into(),
        });
    }
}

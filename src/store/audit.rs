//! The audit log: one record per change to the PKI (issue, revoke, renew, a new CRL, a merged
//! CRL, a signed request, a shared profile, a push into a store). A local PKI appends lines to
//! `log.jsonl`; an S3 store writes one object per record under `log/` (created with
//! `If-None-Match`, never replaced), so two admins appending at once lose nothing.

use super::{Cond, Objects, Put};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use time::OffsetDateTime;

pub const LOCAL_FILE: &str = "log.jsonl";
pub const PREFIX: &str = "log/";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// RFC 3339, UTC.
    pub at: String,
    /// Who: the caller's ARN (STS) for an S3 store, `local:USER` for a local PKI.
    pub who: String,
    /// `issue`, `revoke`, `renew`, `crl`, `merge-crl`, `sign`, `share`, `init`, `push`.
    pub action: String,
    /// The user (or `server`, or the store).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Record {
    pub fn new(who: &str, action: &str, name: &str, now: OffsetDateTime) -> Record {
        Record {
            at: now
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            who: who.to_string(),
            action: action.to_string(),
            name: name.to_string(),
            serial: None,
            detail: None,
        }
    }
    pub fn serial(mut self, serial: impl ToString) -> Record {
        self.serial = Some(serial.to_string());
        self
    }
    pub fn detail(mut self, detail: impl Into<String>) -> Record {
        self.detail = Some(detail.into());
        self
    }
}

/// Append to a local PKI's log (one line per record, written with O_APPEND in one call).
pub fn append_local(pki_dir: &Path, records: &[Record]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if records.is_empty() {
        return Ok(());
    }
    let path = pki_dir.join(LOCAL_FILE);
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r).unwrap_or_default());
        text.push('\n');
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| Error::io("open", &path, e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_data())
        .map_err(|e| Error::io("append to", &path, e))
}

/// A local PKI's log, oldest first (a torn last line, from a kill mid-write, is skipped).
pub fn read_local(pki_dir: &Path) -> Result<Vec<Record>> {
    let path = pki_dir.join(LOCAL_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// The key of a new record: its time first, so the listing is the log's order.
fn key_of(r: &Record) -> Result<String> {
    let mut rand = [0u8; 6];
    crate::fsx::random(&mut rand)?;
    let at: String = r.at.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    Ok(format!("{PREFIX}{at}-{}.json", crate::fsx::hex(&rand)))
}

/// Append records to a store's log: each a new object (`If-None-Match`, so never a write over
/// another admin's record).
pub fn append_remote(objects: &dyn Objects, records: &[Record]) -> Result<()> {
    for r in records {
        let body = serde_json::to_vec(r).unwrap_or_default();
        // A fresh random key each time: a Lost here is a clash of random names, or a store
        // that refuses every conditional write; never spin on the latter.
        let mut written = false;
        for _ in 0..5 {
            if let Put::Done(_) = objects.put(&key_of(r)?, &body, Cond::Absent)? {
                written = true;
                break;
            }
        }
        if !written {
            return Err(Error::conflict(
                format!("{} refused every new log record", objects.name()),
                "check that the bucket accepts If-None-Match writes, then run the command again",
            ));
        }
    }
    Ok(())
}

/// A store's log, oldest first.
pub fn read_remote(objects: &dyn Objects) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for key in objects.list(PREFIX)? {
        if let Some(o) = objects.get(&key)?
            && let Ok(r) = serde_json::from_slice::<Record>(&o.body)
        {
            out.push(r);
        }
    }
    out.sort_by(|a, b| a.at.cmp(&b.at));
    Ok(out)
}

//! Finishing or rolling back what a killed vpnctl left, before any command changes the PKI.
//!
//! Every mutation writes a journal (`.pending.json`: which serials it issues, which files it
//! retires, which profiles it removes) before it touches the index, and removes it last. The
//! index is written before any certificate file, so a serial the journal names is either not
//! in the index (nothing was written: forget it) or in the index (finish what the files need,
//! or roll the certificate back by revoking it). Independently of any journal, `crl.pem` must
//! list exactly the index's revoked serials and be signed by the CA: if it does not, it is
//! regenerated with a number above every number used so far. Nothing here un-revokes.

use super::{Layout, Pki, read_meta, write_meta};
use crate::error::{Error, Result};
use crate::fsx::{self, Overwrite, PUBLIC};
use crate::pki::cert::{self, Ca, Serial};
use crate::pki::index::{self, Entry};
use crate::pki::keyenc::Passphrase;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;
use time::{Duration, OffsetDateTime};

/// The intent of the mutation in progress.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Journal {
    /// The command, for the message after a repair.
    pub op: String,
    /// Certificates being issued: (file stem, serial).
    #[serde(default)]
    pub new: Vec<(String, String)>,
    /// Certificates whose files move to `revoked/` or `renewed/`: (file stem, why, serial).
    #[serde(default)]
    pub retire: Vec<(String, String, String)>,
    /// Users whose profile goes (it would only fail to connect).
    #[serde(default)]
    pub profiles: Vec<String>,
}

/// What a read-only look finds left over from an interrupted command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    /// The command whose journal is still there.
    pub interrupted: Option<String>,
    /// `crl.pem` does not list exactly the index's revoked serials (or is not the CA's).
    pub crl_stale: bool,
}

impl Health {
    pub fn is_clean(&self) -> bool {
        self.interrupted.is_none() && !self.crl_stale
    }

    /// One sentence for a warning, naming the command that repairs.
    pub fn describe(&self) -> Option<String> {
        let what = match (&self.interrupted, self.crl_stale) {
            (Some(op), _) => format!("an interrupted `vpnctl pki {op}` left its work unfinished"),
            (None, true) => {
                "crl.pem does not list exactly the revoked certificates of index.txt".to_string()
            }
            (None, false) => return None,
        };
        Some(format!(
            "{what}; the next command that changes the PKI repairs it (`vpnctl pki crl` does \
             only that)"
        ))
    }
}

impl Pki {
    /// A read-only look: is there anything to repair? Never writes.
    pub fn health(&self) -> Result<Health> {
        self.health_of(&self.index()?)
    }

    /// `health` for an index already read.
    pub fn health_of(&self, entries: &[Entry]) -> Result<Health> {
        Ok(Health {
            interrupted: read_journal(&self.layout)?.map(|j| j.op),
            crl_stale: crl_disagrees(&self.layout, entries)?,
        })
    }

    /// Repair whatever an interrupted command left, loading the CA only if a repair needs to
    /// sign. For commands that do not otherwise sign (setup, wake): takes the lock itself.
    pub fn ensure_consistent(
        &mut self,
        pass: impl FnOnce() -> Result<Option<Passphrase>>,
        now: OffsetDateTime,
    ) -> Result<()> {
        if self.health()?.is_clean() {
            return Ok(());
        }
        let what = self
            .health()?
            .describe()
            .unwrap_or_else(|| "the PKI needs a repair".to_string());
        let ca = self
            .load_ca(pass()?.as_ref())
            .map_err(|e| e.prefixed(&format!("{what}; repairing it needs the CA key")))?;
        let _lock = self.lock(&ca)?;
        self.repair_locked(&ca, now).map(|_| ())
    }

    /// Under the lock: finish or roll back the journal, then make the CRL agree with the index.
    /// What was done is added to `self.repaired` for the command to report.
    pub(super) fn repair_locked(&mut self, ca: &Ca, now: OffsetDateTime) -> Result<Vec<Entry>> {
        let layout = self.layout.clone();
        let journal = read_journal(&layout)?;
        // Files are staged in issued/, private/ and the retired folders only by a journaled
        // command, so only a journal makes those (large) folders worth a look.
        let dirs = staging_dirs(&layout);
        let scan = if journal.is_some() {
            &dirs[..]
        } else {
            &dirs[..1]
        };
        for dir in scan {
            fsx::remove_stale_staging(dir)?;
        }
        let mut entries = self.index()?;
        // First, a CRL of this CA that revokes what the index does not (written by a command
        // whose index did not land): its revocations are kept, never dropped, and before the
        // journal so that their files and profiles are retired like any other revocation's.
        let kept = keep_crl_revocations(&layout, &mut entries)?;
        if !kept.is_empty() {
            fsx::write_atomic(
                &layout.index(),
                index::render(&entries).as_bytes(),
                PUBLIC,
                Overwrite::Replace,
            )?;
            self.repaired.push(format!(
                "crl.pem revoked {} certificate(s) that index.txt did not: they are revoked in \
                 the index too",
                kept.len()
            ));
            for (cn, serial) in &kept {
                retire_files(&layout, self.stem(cn), "revoked", serial)?;
            }
        }
        if let Some(j) = journal {
            let before = entries.clone();
            for (stem, why, serial) in &j.retire {
                let Some(serial) = Serial::parse_hex(serial) else {
                    continue;
                };
                if entries.iter().any(|e| e.serial == serial && e.is_revoked()) {
                    retire_files(&layout, stem, why, &serial)?;
                }
            }
            for (stem, serial) in &j.new {
                let Some(serial) = Serial::parse_hex(serial) else {
                    continue;
                };
                let Some(i) = entries.iter().position(|e| e.serial == serial) else {
                    continue;
                };
                if files_complete(&layout, stem, &serial) {
                    continue;
                }
                if !entries[i].is_revoked() {
                    entries[i].revoke(now, "cessationOfOperation");
                }
                let cn = entries[i].cn.clone();
                let again = if cn == self.meta.server_name {
                    "`vpnctl pki renew server` issues a new one".to_string()
                } else {
                    format!("`vpnctl pki issue {cn}` gives {cn} a new certificate")
                };
                self.repaired.push(format!(
                    "an interrupted `vpnctl pki {}` of {cn} was rolled back: serial {serial} \
                     never reached its files, so it is revoked; {again}",
                    j.op
                ));
                retire_orphans(&layout, stem, &serial)?;
            }
            if entries != before {
                fsx::write_atomic(
                    &layout.index(),
                    index::render(&entries).as_bytes(),
                    PUBLIC,
                    Overwrite::Replace,
                )?;
            }
            for user in &j.profiles {
                let revoked = entries
                    .iter()
                    .rev()
                    .find(|e| &e.cn == user)
                    .is_some_and(Entry::is_revoked);
                if revoked {
                    fsx::remove_file(&layout.profile(user))?;
                }
            }
        }
        if crl_disagrees(&layout, &entries)? {
            let number = self.write_crl(ca, &entries, now, None)?;
            self.repaired.push(format!(
                "crl.pem did not list exactly the revoked certificates of index.txt (an \
                 interrupted command): regenerated as CRL number {number}"
            ));
        }
        if read_journal(&layout)?.is_some() {
            fsx::remove_file(&layout.pending())?;
        }
        Ok(entries)
    }

    /// Write the journal: from here on a kill is repaired by the next command.
    pub(super) fn begin(&self, j: &Journal) -> Result<()> {
        let text = serde_json::to_string(j).unwrap_or_default();
        fsx::write_atomic(
            &self.layout.pending(),
            text.as_bytes(),
            PUBLIC,
            Overwrite::Replace,
        )
    }

    /// The mutation is complete.
    pub(super) fn end(&self) -> Result<()> {
        fsx::remove_file(&self.layout.pending())
    }

    /// Sign and write a CRL of `entries`' revocations with the next number, then record the
    /// number (and `crl_days`, if given) in `vpnctl.json`. Returns the number.
    pub(super) fn write_crl(
        &mut self,
        ca: &Ca,
        entries: &[Entry],
        now: OffsetDateTime,
        crl_days: Option<u32>,
    ) -> Result<u64> {
        let mut meta = read_meta(&self.layout)?;
        let on_disk = self
            .crl_pem()
            .ok()
            .and_then(|p| cert::crl_number(&p))
            .unwrap_or(0);
        let number = meta.crl_number.max(on_disk).checked_add(1).ok_or_else(|| {
            Error::corrupt(
                "the CRL number has reached its maximum",
                "a new CRL cannot supersede this one: start a new PKI (`vpnctl pki init --force`)",
            )
        })?;
        let days = crl_days.unwrap_or(meta.crl_days);
        super::check_days(days, "crl_days in vpnctl.json")?;
        let crl = ca.crl(
            &index::revoked(entries, now),
            now,
            now + Duration::days(i64::from(days)),
            number,
        )?;
        // The number first, so a CRL on disk always carries a number the settings know (a kill
        // in between only skips a number); a failed CRL write puts the settings back
        // (`commit_index_and_crl`).
        meta.crl_number = number;
        meta.crl_days = days;
        write_meta(&self.layout, &meta)?;
        fsx::write_atomic(
            &self.layout.crl(),
            crl.as_bytes(),
            PUBLIC,
            Overwrite::Replace,
        )?;
        self.meta = meta;
        Ok(number)
    }
}

fn read_journal(layout: &Layout) -> Result<Option<Journal>> {
    let path = layout.pending();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    // Written atomically, so it is whole or absent; anything else was not written by vpnctl.
    serde_json::from_str(&text).map(Some).map_err(|e| {
        Error::corrupt(
            format!("{} is not valid ({e})", path.display()),
            "it records an interrupted command; if no vpnctl is running, remove it and run \
             `vpnctl pki crl`",
        )
    })
}

/// Whether `crl.pem` fails to be this CA's CRL of exactly the index's revoked serials.
fn crl_disagrees(layout: &Layout, entries: &[Entry]) -> Result<bool> {
    let ca_pem = fsx::read_to_string(&layout.ca_cert())?;
    let Ok(crl_pem) = fsx::read_to_string(&layout.crl()) else {
        return Ok(true);
    };
    let Ok(crl) = cert::inspect_crl(&crl_pem, &ca_pem) else {
        return Ok(true);
    };
    let listed: BTreeSet<Serial> = crl.revoked.into_iter().collect();
    let revoked: BTreeSet<Serial> = entries
        .iter()
        .filter(|e| e.is_revoked())
        .map(|e| e.serial.clone())
        .collect();
    Ok(listed != revoked)
}

/// Revoke in `entries` every serial that `crl.pem` (signed by this CA) revokes and the index
/// does not; returns the (name, serial) of each.
fn keep_crl_revocations(
    layout: &Layout,
    entries: &mut Vec<Entry>,
) -> Result<Vec<(String, Serial)>> {
    let ca_pem = fsx::read_to_string(&layout.ca_cert())?;
    let Ok(crl) = fsx::read_to_string(&layout.crl()).and_then(|p| cert::inspect_crl(&p, &ca_pem))
    else {
        return Ok(Vec::new());
    };
    let listed: Vec<(Serial, OffsetDateTime)> =
        crl.revoked.into_iter().zip(crl.revoked_at).collect();
    let (known, unknown) = revoke_listed(entries, &listed);
    Ok(known
        .into_iter()
        .chain(
            unknown
                .into_iter()
                .map(|s| (super::revoke::UNKNOWN_CN.to_string(), s)),
        )
        .collect())
}

/// Revoke in `entries` each listed serial (with its revocation time) that is not revoked yet:
/// returns the (name, serial) of those the index held, and the serials it did not hold, which
/// are added as revoked `(unknown)` entries. Shared by `merge-crl` and the repair.
pub(super) fn revoke_listed(
    entries: &mut Vec<Entry>,
    listed: &[(Serial, OffsetDateTime)],
) -> (Vec<(String, Serial)>, Vec<Serial>) {
    let position: std::collections::HashMap<Serial, usize> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.serial.clone(), i))
        .collect();
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for (serial, at) in listed {
        match position.get(serial).map(|&i| &mut entries[i]) {
            Some(e) if e.is_revoked() => {}
            Some(e) => {
                e.revoke(*at, "cessationOfOperation");
                known.push((e.cn.clone(), serial.clone()));
            }
            None => unknown.push(serial.clone()),
        }
    }
    for serial in &unknown {
        let at = listed
            .iter()
            .find(|(s, _)| s == serial)
            .map_or(OffsetDateTime::UNIX_EPOCH, |(_, t)| *t);
        let mut e = Entry::valid(super::revoke::UNKNOWN_CN, serial.clone(), at);
        e.revoke(at, "unspecified");
        entries.push(e);
    }
    (known, unknown)
}

/// The directories a mutation stages files in.
fn staging_dirs(layout: &Layout) -> Vec<std::path::PathBuf> {
    let mut dirs = vec![
        layout.root.clone(),
        layout.private_dir(),
        layout.issued_dir(),
    ];
    for why in ["revoked", "renewed"] {
        let s = Serial::from_bytes(&[0]);
        for p in [layout.retired_cert(why, &s), layout.retired_key(why, &s)] {
            if let Some(d) = p.parent() {
                dirs.push(d.to_path_buf());
            }
        }
    }
    dirs
}

/// The serial of the certificate in `path`, if it holds one.
fn serial_in(path: &Path) -> Option<(Serial, cert::CertInfo)> {
    let pem = std::fs::read_to_string(path).ok()?;
    let info = cert::inspect(&pem, "").ok()?;
    Some((info.serial.clone(), info))
}

fn key_matches(key_path: &Path, info: &cert::CertInfo) -> bool {
    std::fs::read_to_string(key_path)
        .ok()
        .and_then(|pem| cert::parse_key(&pem, "").ok())
        .is_some_and(|k| cert::key_matches(&k, info))
}

/// Whether `stem`'s certificate file holds `serial` and its key belongs to it.
fn files_complete(layout: &Layout, stem: &str, serial: &Serial) -> bool {
    match serial_in(&layout.cert(stem)) {
        Some((s, info)) if &s == serial => key_matches(&layout.key(stem), &info),
        _ => false,
    }
}

/// Move `stem`'s certificate (if it holds `serial`) and then its key (if it belongs to that
/// certificate) to the retired folders, as a finished revoke or renew would have.
pub fn retire_files(layout: &Layout, stem: &str, why: &str, serial: &Serial) -> Result<()> {
    let cert = layout.cert(stem);
    let retired = layout.retired_cert(why, serial);
    if serial_in(&cert).is_some_and(|(s, _)| &s == serial) {
        fsx::move_file(&cert, &retired, super::DIR_MODE)?;
    }
    let key = layout.key(stem);
    if let Some((_, info)) = serial_in(&retired)
        && key_matches(&key, &info)
    {
        fsx::move_file(
            &key,
            &layout.retired_key(why, serial),
            super::PRIVATE_DIR_MODE,
        )?;
    }
    Ok(())
}

/// After rolling back `serial`: its certificate file (if written) and a key that belongs to no
/// certificate here (written before its certificate) go to `revoked/`.
fn retire_orphans(layout: &Layout, stem: &str, serial: &Serial) -> Result<()> {
    let cert = layout.cert(stem);
    let current = serial_in(&cert);
    if current.as_ref().is_some_and(|(s, _)| s == serial) {
        fsx::move_file(
            &cert,
            &layout.retired_cert("revoked", serial),
            super::DIR_MODE,
        )?;
    }
    let key = layout.key(stem);
    let owned = serial_in(&cert).is_some_and(|(_, info)| key_matches(&key, &info));
    if key.exists() && !owned {
        fsx::move_file(
            &key,
            &layout.retired_key("revoked", serial),
            super::PRIVATE_DIR_MODE,
        )?;
    }
    Ok(())
}

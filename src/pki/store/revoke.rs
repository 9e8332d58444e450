//! Revocation and everything that changes the CRL: `revoke`, `renew` (which revokes the old
//! certificate as superseded), `crl` (a new next-update) and `merge-crl` (revocations another
//! copy of the PKI made). Write order: journal, index, CRL, settings, files, journal gone. A
//! failed (not killed) CRL write puts the old index back, so a refused command changes nothing.

use super::repair::{Journal, retire_files};
use super::{DEFAULT_CERT_DAYS, Issued, Pki, SERVER, check_days, write_meta};
use crate::error::{Error, Result};
use crate::fsx::{self, Overwrite, PUBLIC, SECRET};
use crate::pki::cert::{self, Ca, Leaf, Serial};
use crate::pki::index::{self, Entry};
use crate::pki::keyenc::Passphrase;
use crate::pki::names;
use std::collections::HashSet;
use time::{Duration, OffsetDateTime};

/// The files that `renew` replaces must be the old certificate's (or absent): anything else
/// would make it revoke the old certificate and then fail to write the new one.
impl Pki {
    fn check_renewable(&self, stem: &str, old: Option<&Serial>) -> Result<()> {
        let cert_path = self.layout.cert(stem);
        let info = match std::fs::read_to_string(&cert_path) {
            Ok(pem) => Some(cert::inspect(&pem, &cert_path.display().to_string())?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("read", &cert_path, e)),
        };
        let stray = |path: &std::path::Path, why: &str| {
            Error::conflict(
                format!(
                    "{} {why}; renewing would revoke the old certificate and then stop",
                    path.display()
                ),
                "move that file away (it is not this certificate's), then renew again",
            )
        };
        if let (Some(info), Some(old)) = (&info, old)
            && &info.serial != old
        {
            return Err(stray(
                &cert_path,
                &format!("holds serial {}, not the current {old}", info.serial),
            ));
        }
        let key_path = self.layout.key(stem);
        if key_path.exists() {
            let key = cert::parse_key(
                &fsx::read_to_string(&key_path)?,
                &key_path.display().to_string(),
            )?;
            if !info.as_ref().is_some_and(|i| cert::key_matches(&key, i)) {
                return Err(stray(
                    &key_path,
                    "does not belong to the current certificate",
                ));
            }
        }
        Ok(())
    }
}

/// What `merge-crl` changed.
#[derive(Debug, Clone, Default)]
pub struct Merged {
    /// Serials this PKI knew and now revokes, with their names.
    pub revoked: Vec<(String, Serial)>,
    /// Serials this PKI never issued (another copy did), recorded as revoked.
    pub unknown: Vec<Serial>,
    /// The number of this PKI's CRL afterwards.
    pub number: u64,
    /// Whether a new CRL was written (not when that CRL brought nothing new).
    pub regenerated: bool,
}

/// The index name of a certificate this copy of the PKI never saw (another copy issued it).
pub const UNKNOWN_CN: &str = "(unknown)";

impl Pki {
    /// Revoke every unrevoked certificate of `user` (an easy-rsa history can hold several),
    /// retire its files, regenerate the CRL and remove its profile (which would only fail to
    /// connect).
    pub fn revoke(
        &mut self,
        user: &str,
        pass: Option<&Passphrase>,
        now: OffsetDateTime,
    ) -> Result<Vec<Serial>> {
        if user.eq_ignore_ascii_case(SERVER) || user == self.meta.server_name {
            return Err(Error::invalid(
                "the server certificate is not revoked this way",
                "to replace it, run `vpnctl pki renew server`",
            ));
        }
        names::validate_user(user)?;
        let ca = self.load_ca(pass)?;
        let _lock = self.lock(&ca)?;
        let mut entries = self.repair_locked(&ca, now)?;
        let targets: Vec<usize> = entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.cn == user && !e.is_revoked())
            .map(|(i, _)| i)
            .collect();
        if targets.is_empty() {
            return Err(match entries.iter().rev().find(|e| e.cn == user) {
                Some(e) => Error::conflict(
                    format!(
                        "user '{user}' is already revoked (serial {}, on {})",
                        e.serial,
                        e.revoked_at.map(super::date).unwrap_or_default()
                    ),
                    format!(
                        "nothing to do; to give '{user}' access again, `vpnctl pki issue {user}`"
                    ),
                ),
                None => match entries.iter().find(|e| e.cn.eq_ignore_ascii_case(user)) {
                    Some(e) => Error::not_found(
                        format!("no certificate for user '{user}' (names keep their case)"),
                        format!("did you mean '{}'? `vpnctl pki revoke {}`", e.cn, e.cn),
                    ),
                    None => Error::not_found(
                        format!("no certificate for user '{user}'"),
                        "see the users with `vpnctl pki list`",
                    ),
                },
            });
        }
        let mut serials = Vec::new();
        for i in targets {
            entries[i].revoke(now, "cessationOfOperation");
            serials.push(entries[i].serial.clone());
        }
        self.begin(&Journal {
            op: "revoke".into(),
            retire: serials
                .iter()
                .map(|s| (user.to_string(), "revoked".to_string(), s.hex()))
                .collect(),
            profiles: vec![user.to_string()],
            ..Journal::default()
        })?;
        self.commit_index_and_crl(&ca, &entries, now, None)?;
        for s in &serials {
            retire_files(&self.layout, user, "revoked", s)?;
        }
        fsx::remove_file(&self.layout.profile(user))?;
        self.end()?;
        Ok(serials)
    }

    /// Index, then the settings (the new CRL number), then the CRL. If either of the last two
    /// cannot be written, the old index and settings are put back and the journal removed: a
    /// revocation the CRL does not carry must not look done, and a failed command changes nothing.
    fn commit_index_and_crl(
        &mut self,
        ca: &Ca,
        entries: &[Entry],
        now: OffsetDateTime,
        crl_days: Option<u32>,
    ) -> Result<u64> {
        let old_index = fsx::read_to_string(&self.layout.index())?;
        let old_meta = fsx::read_to_string(&self.layout.meta())?;
        fsx::write_atomic(
            &self.layout.index(),
            index::render(entries).as_bytes(),
            PUBLIC,
            Overwrite::Replace,
        )?;
        match self.write_crl(ca, entries, now, crl_days) {
            Ok(n) => Ok(n),
            Err(e) => {
                // The CRL was not replaced, so its number was never used: both go back.
                for (path, text) in [
                    (self.layout.index(), &old_index),
                    (self.layout.meta(), &old_meta),
                ] {
                    if fsx::read_to_string(&path).ok().as_ref() != Some(text) {
                        fsx::write_atomic(&path, text.as_bytes(), PUBLIC, Overwrite::Replace)?;
                    }
                }
                self.meta = super::read_meta(&self.layout)?;
                self.end()?;
                Err(e)
            }
        }
    }

    /// Regenerate the CRL from the index, e.g. to push its next-update further out. Also the
    /// command that only repairs.
    pub fn regenerate_crl(
        &mut self,
        crl_days: Option<u32>,
        pass: Option<&Passphrase>,
        now: OffsetDateTime,
    ) -> Result<OffsetDateTime> {
        if let Some(days) = crl_days {
            check_days(days, "--days")?;
        }
        let ca = self.load_ca(pass)?;
        let _lock = self.lock(&ca)?;
        let entries = self.repair_locked(&ca, now)?;
        let days = crl_days.unwrap_or(self.meta.crl_days);
        self.write_crl(&ca, &entries, now, Some(days))?;
        Ok(now + Duration::days(i64::from(days)))
    }

    /// Bring another CRL of this CA into this PKI: every serial it revokes is revoked here too
    /// (a serial this copy never issued is recorded as `(unknown)`), and the next CRL number
    /// goes above that CRL's, so this PKI's CRL supersedes it.
    /// What `merge_crl` would do with `other_pem`, changing nothing (`--dry-run`): read
    /// without the lock or a repair, so a pending repair may change the outcome.
    pub fn merge_preview(&self, other_pem: &str) -> Result<Merged> {
        let other = self.inspect_other(other_pem)?;
        let mut entries = self.index()?;
        let (mut merged, floor) = self.merge_into(&mut entries, other, other_pem)?;
        if merged.regenerated {
            merged.number = floor.max(self.meta.crl_number) + 1;
        }
        Ok(merged)
    }

    /// Another CRL, checked to be this PKI's CA's.
    fn inspect_other(&self, other_pem: &str) -> Result<cert::CrlInfo> {
        cert::inspect_crl(other_pem, &self.ca_pem()?).map_err(|e| {
            Error::conflict(
                format!("that CRL is not one of this PKI's CA ({e})"),
                "merge only CRLs of the same CA: another copy's pki/crl.pem, or the endpoint's",
            )
        })
    }

    /// Revoke in `entries` what `other` lists; whether a new CRL is needed (`regenerated`;
    /// `number` is the current one's), and `other`'s number, the floor of the next.
    fn merge_into(
        &self,
        entries: &mut Vec<Entry>,
        other: cert::CrlInfo,
        other_pem: &str,
    ) -> Result<(Merged, u64)> {
        let mut merged = Merged::default();
        let listed: Vec<_> = other.revoked.into_iter().zip(other.revoked_at).collect();
        (merged.revoked, merged.unknown) = super::repair::revoke_listed(entries, &listed);
        let floor = other.number.unwrap_or(0);
        let local = self.crl_pem()?;
        let current = cert::crl_number(&local).unwrap_or(0);
        let supersedes = current > floor || crate::pki::crl::same_pem(&local, other_pem);
        merged.regenerated =
            !(merged.revoked.is_empty() && merged.unknown.is_empty() && supersedes);
        merged.number = current;
        Ok((merged, floor))
    }

    pub fn merge_crl(
        &mut self,
        other_pem: &str,
        pass: Option<&Passphrase>,
        now: OffsetDateTime,
    ) -> Result<Merged> {
        let other = self.inspect_other(other_pem)?;
        let ca = self.load_ca(pass)?;
        let _lock = self.lock(&ca)?;
        let mut entries = self.repair_locked(&ca, now)?;
        let (mut merged, floor) = self.merge_into(&mut entries, other, other_pem)?;
        if !merged.regenerated {
            // Nothing new, and this PKI's CRL already supersedes that one: a new CRL would
            // only cost every live session a reset when it reaches the endpoint.
            return Ok(merged);
        }
        self.begin(&Journal {
            op: "merge-crl".into(),
            retire: merged
                .revoked
                .iter()
                .map(|(cn, s)| (self.stem(cn).to_string(), "revoked".into(), s.hex()))
                .collect(),
            profiles: merged.revoked.iter().map(|(cn, _)| cn.clone()).collect(),
            ..Journal::default()
        })?;
        // The floor first: a kill after it leaves a CRL that is regenerated above it.
        if floor > self.meta.crl_number {
            self.meta.crl_number = floor;
            write_meta(&self.layout, &self.meta)?;
        }
        merged.number = self.commit_index_and_crl(&ca, &entries, now, None)?;
        merged.regenerated = true;
        for (cn, s) in &merged.revoked {
            retire_files(&self.layout, self.stem(cn), "revoked", s)?;
            if cn != &self.meta.server_name {
                fsx::remove_file(&self.layout.profile(cn))?;
            }
        }
        self.end()?;
        Ok(merged)
    }

    /// A new key and certificate with the same name. The old certificate is revoked as
    /// superseded (so an old profile stops working once the CRL is deployed) and its files are
    /// kept under `renewed/`. The server keeps its CN, so `verify-x509-name` in existing
    /// profiles still matches; a server whose certificate was revoked (an interrupted renew
    /// rolled back) gets a new one.
    pub fn renew(
        &mut self,
        target: &str,
        days: Option<u32>,
        pass: Option<&Passphrase>,
        now: OffsetDateTime,
    ) -> Result<Issued> {
        let is_server = target.eq_ignore_ascii_case(SERVER)
            || target
                .trim_end_matches('.')
                .eq_ignore_ascii_case(&self.meta.server_name);
        if target.eq_ignore_ascii_case("ca") {
            return Err(Error::invalid(
                "the CA is not renewed",
                "a new CA is a new PKI: `vpnctl pki init --force` (every user then needs a new \
                 certificate and profile)",
            ));
        }
        let cn = if is_server {
            self.meta.server_name.clone()
        } else {
            names::validate_user(target).map(|_| target.to_string())?
        };
        let days = days.unwrap_or(DEFAULT_CERT_DAYS);
        check_days(days, "--days")?;
        let ca = self.load_ca(pass)?;
        let key = cert::new_key()?;
        let _lock = self.lock(&ca)?;
        let mut entries = self.repair_locked(&ca, now)?;
        // A name that differs only in case from one whose files are here (an easy-rsa import
        // adopts only the first of two such names) would write over those files on a
        // case-insensitive file system.
        if let Some(twin) = entries.iter().find(|e| {
            e.cn != cn && e.cn.eq_ignore_ascii_case(&cn) && self.layout.cert(&e.cn).exists()
        }) {
            return Err(Error::conflict(
                format!(
                    "'{cn}' and '{}' differ only in case; their files would be one on a \
                     case-insensitive file system",
                    twin.cn
                ),
                format!(
                    "renew '{}' instead, or issue a user with another name",
                    twin.cn
                ),
            ));
        }
        let current = entries.iter().rposition(|e| e.cn == cn && !e.is_revoked());
        if current.is_none() && !is_server {
            return Err(if entries.iter().any(|e| e.cn == cn) {
                Error::conflict(
                    format!("'{cn}' is revoked; a revoked certificate is not renewed"),
                    format!("issue a new one: `vpnctl pki issue {cn}`"),
                )
            } else {
                Error::not_found(
                    format!("no certificate for '{cn}'"),
                    "see the users with `vpnctl pki list`",
                )
            });
        }
        let mut taken: HashSet<Serial> = entries.iter().map(|e| e.serial.clone()).collect();
        let serial = super::issue::fresh_serial(&mut taken)?;
        let leaf = if is_server {
            Leaf::Server(&cn)
        } else {
            Leaf::Client(&cn)
        };
        let pem = ca.sign(leaf, &key, &serial, now, days)?;
        let not_after = cert::inspect(&pem, "the new certificate")?.not_after;
        let stem = self.stem(&cn).to_string();
        self.check_renewable(&stem, current.map(|i| &entries[i].serial))?;
        let old = current.map(|i| {
            entries[i].revoke(now, "superseded");
            entries[i].serial.clone()
        });
        entries.push(Entry::valid(&cn, serial.clone(), not_after));
        self.begin(&Journal {
            op: "renew".into(),
            new: vec![(stem.clone(), serial.hex())],
            retire: old
                .iter()
                .map(|s| (stem.clone(), "renewed".to_string(), s.hex()))
                .collect(),
            ..Journal::default()
        })?;
        self.commit_index_and_crl(&ca, &entries, now, None)?;
        if let Some(old) = &old {
            retire_files(&self.layout, &stem, "renewed", old)?;
        }
        let written = fsx::stage(
            &self.layout.key(&stem),
            key.serialize_pem().as_bytes(),
            SECRET,
        )
        .and_then(|k| k.commit(Overwrite::Refuse))
        .and_then(|()| fsx::stage(&self.layout.cert(&stem), pem.as_bytes(), PUBLIC))
        .and_then(|c| c.commit(Overwrite::Refuse));
        if let Err(e) = written {
            let _ = self.repair_locked(&ca, now);
            return Err(e);
        }
        self.end()?;
        Ok(Issued {
            name: cn,
            serial,
            not_after,
        })
    }
}

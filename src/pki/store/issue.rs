//! `pki issue`: new client certificates. Write order: journal, index (the serials are known
//! before any file holds them), then each user's key and certificate, then the journal goes.
//! A kill before the certificate file is written is rolled back by `repair` (the serial is
//! revoked and the key, if written, retired).

use super::repair::Journal;
use super::{Issued, Pki, check_days, date, generate_keys};
use crate::error::{Error, Result};
use crate::fsx::{self, Overwrite, PUBLIC, SECRET};
use crate::pki::cert::{self, Leaf, Serial};
use crate::pki::index::{self, Entry};
use crate::pki::keyenc::Passphrase;
use crate::pki::names;
use rcgen::KeyPair;
use std::collections::HashSet;
use time::OffsetDateTime;

impl Pki {
    /// Issue one client certificate per user. Keys are generated in parallel across cores,
    /// outside the lock; serials and the index are settled under it.
    pub fn issue(
        &mut self,
        users: &[String],
        days: u32,
        pass: Option<&Passphrase>,
        force: bool,
        now: OffsetDateTime,
    ) -> Result<Vec<Issued>> {
        self.issue_keys(users, None, days, pass, force, now)
    }

    /// `issue` with the users' keys made beforehand (one per user, in order), e.g. once for
    /// every attempt of a change to an S3 store.
    pub fn issue_keys(
        &mut self,
        users: &[String],
        keys: Option<&[KeyPair]>,
        days: u32,
        pass: Option<&Passphrase>,
        force: bool,
        now: OffsetDateTime,
    ) -> Result<Vec<Issued>> {
        check_days(days, "--days")?;
        if users.is_empty() {
            return Err(Error::invalid(
                "no user names given",
                "name at least one user: vpnctl pki issue alice",
            ));
        }
        let mut seen = HashSet::new();
        for u in users {
            names::validate_user(u)?;
            if u.trim_end_matches('.')
                .eq_ignore_ascii_case(&self.meta.server_name)
            {
                return Err(Error::invalid(
                    format!("'{u}' is the server's name"),
                    "choose another user name",
                ));
            }
            if !seen.insert(u.to_ascii_lowercase()) {
                return Err(Error::invalid(
                    format!("user '{u}' is named twice (names that differ only in case are one)"),
                    "name each user once",
                ));
            }
        }
        let ca = self.load_ca(pass)?;
        // Refuse early (before the slow key generation) what the check under the lock would
        // refuse anyway; with an interrupted command to repair, only that check can tell.
        if self.health()?.is_clean() {
            self.check_issuable(users, &self.index()?, force, now)?;
        }

        let made;
        let keys: &[KeyPair] = match keys {
            Some(k) if k.len() == users.len() => k,
            _ => {
                made = generate_keys(users.len())?;
                &made
            }
        };

        let _lock = self.lock(&ca)?;
        let mut entries = self.repair_locked(&ca, now)?;
        self.check_issuable(users, &entries, force, now)?;
        let mut taken: HashSet<Serial> = entries.iter().map(|e| e.serial.clone()).collect();
        let mut signed = Vec::new();
        for (user, key) in users.iter().zip(keys) {
            let serial = fresh_serial(&mut taken)?;
            let pem = ca.sign(Leaf::Client(user), key, &serial, now, days)?;
            let not_after = cert::inspect(&pem, "a new certificate")?.not_after;
            entries.push(Entry::valid(user, serial.clone(), not_after));
            signed.push((user, key, pem, serial, not_after));
        }
        let overwrite = if force {
            Overwrite::Replace
        } else {
            Overwrite::Refuse
        };
        // Key before certificate: a certificate on disk always has its key beside it.
        let mut files = Vec::new();
        for (user, key, pem, _, _) in &signed {
            files.push((self.layout.key(user), key.serialize_pem(), SECRET));
            files.push((self.layout.cert(user), pem.clone(), PUBLIC));
        }
        let new = signed
            .iter()
            .map(|(u, _, _, s, _)| (u.to_string(), s.hex()))
            .collect();
        self.land_new(&ca, "issue", &entries, new, files, overwrite, now)?;
        Ok(signed
            .into_iter()
            .map(|(user, _, _, serial, not_after)| Issued {
                name: user.clone(),
                serial,
                not_after,
            })
            .collect())
    }

    /// Sign users' certificate requests (their keys stay on their machines): under one lock,
    /// the index learns every serial before any certificate file is written, as for `issue`;
    /// a name with a valid certificate is refused, and then nothing is signed.
    pub fn sign_requests(
        &mut self,
        requests: &[cert::Request],
        days: u32,
        pass: Option<&Passphrase>,
        now: OffsetDateTime,
    ) -> Result<Vec<(Issued, String)>> {
        check_days(days, "--days")?;
        let mut users = Vec::new();
        for r in requests {
            names::validate_user(&r.cn).map_err(|e| e.prefixed("a request's CN"))?;
            if r.cn
                .trim_end_matches('.')
                .eq_ignore_ascii_case(&self.meta.server_name)
            {
                return Err(Error::invalid(
                    format!("a request is for '{}', the server's name", r.cn),
                    "requests are for users; the server's certificate is `vpnctl pki renew \
                     server`",
                ));
            }
            users.push(r.cn.clone());
        }
        let ca = self.load_ca(pass)?;
        let _lock = self.lock(&ca)?;
        let mut entries = self.repair_locked(&ca, now)?;
        self.check_issuable(&users, &entries, false, now)?;
        let mut taken: HashSet<Serial> = entries.iter().map(|e| e.serial.clone()).collect();
        let mut signed = Vec::new();
        for r in requests {
            let serial = fresh_serial(&mut taken)?;
            let pem = ca.sign(Leaf::Client(&r.cn), &r.public_key, &serial, now, days)?;
            let not_after = cert::inspect(&pem, "a new certificate")?.not_after;
            entries.push(Entry::valid(&r.cn, serial.clone(), not_after));
            signed.push((
                Issued {
                    name: r.cn.clone(),
                    serial,
                    not_after,
                },
                pem,
            ));
        }
        let files = signed
            .iter()
            .map(|(i, pem)| (self.layout.cert(&i.name), pem.clone(), PUBLIC))
            .collect();
        let new = signed
            .iter()
            .map(|(i, _)| (i.name.clone(), i.serial.hex()))
            .collect();
        self.land_new(&ca, "sign", &entries, new, files, Overwrite::Refuse, now)?;
        Ok(signed)
    }

    /// Under the lock: the journal naming the new serials, the index that knows them, then the
    /// new files staged and made visible together. A failure (not a crash) is rolled back at
    /// once, as the next command would roll it back.
    #[allow(clippy::too_many_arguments)]
    fn land_new(
        &mut self,
        ca: &crate::pki::cert::Ca,
        op: &str,
        entries: &[Entry],
        new: Vec<(String, String)>,
        files: Vec<(std::path::PathBuf, String, u32)>,
        overwrite: Overwrite,
        now: OffsetDateTime,
    ) -> Result<()> {
        self.begin(&Journal {
            op: op.into(),
            new,
            ..Journal::default()
        })?;
        let written = fsx::write_atomic(
            &self.layout.index(),
            index::render(entries).as_bytes(),
            PUBLIC,
            Overwrite::Replace,
        )
        .and_then(|()| {
            let mut staged = Vec::new();
            for (path, text, mode) in &files {
                staged.push(fsx::stage(path, text.as_bytes(), *mode)?);
            }
            fsx::commit_all(staged, overwrite)
        });
        if let Err(e) = written {
            let _ = self.repair_locked(ca, now);
            return Err(e);
        }
        self.end()
    }

    fn check_issuable(
        &self,
        users: &[String],
        entries: &[Entry],
        force: bool,
        now: OffsetDateTime,
    ) -> Result<()> {
        for u in users {
            // On a case-insensitive file system Alice's and alice's files are the same files,
            // and AWS's connection list would not tell them apart either.
            if let Some(e) = entries
                .iter()
                .find(|e| e.cn != *u && e.cn.eq_ignore_ascii_case(u))
            {
                return Err(Error::conflict(
                    format!(
                        "user '{u}' clashes with existing user '{}' (names differ only in case)",
                        e.cn
                    ),
                    format!("use the existing name '{}' or choose another one", e.cn),
                ));
            }
            if let Some(e) = entries.iter().rev().find(|e| e.cn == *u && e.is_live(now)) {
                return Err(Error::conflict(
                    format!(
                        "user '{u}' already has a valid certificate (serial {}, until {})",
                        e.serial,
                        date(e.not_after)
                    ),
                    format!(
                        "to replace it use `vpnctl pki renew {u}`; to remove it, \
                         `vpnctl pki revoke {u}`"
                    ),
                ));
            }
            if !force {
                for p in [self.layout.key(u), self.layout.cert(u)] {
                    if p.exists() {
                        return Err(Error::conflict(
                            format!(
                                "{} exists but belongs to no valid certificate in the index",
                                p.display()
                            ),
                            "it is left from an interrupted or expired issue: move it away, or \
                             pass --force to replace it",
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A random serial that none of `taken` has, added to it.
pub(super) fn fresh_serial(taken: &mut HashSet<Serial>) -> Result<Serial> {
    loop {
        let s = Serial::random()?;
        if taken.insert(s.clone()) {
            return Ok(s);
        }
    }
}

//! The S3 store's operations over `Objects`: read a snapshot, change it through the local
//! PKI's own code on a scratch copy and land the change with conditional writes
//! (`transact`), keep the CRL in agreement with the index (`sync_crl`), mirror the store into
//! the working copy (`refresh`), and move a PKI in (`push_dir`) or out (`pull_dir`).
//!
//! Objects under the store's prefix:
//! `vpnctl.json`, `ca.crt`, `private/ca.key` (a CA key not held by KMS), `index.txt` (the
//! commit point of every change), `crl.pem`, `certs/SERIAL.crt` (every certificate ever
//! issued), `keys/SERIAL.key` (the server's keys only), `log/…` (the audit log),
//! `deployments/NAME.json` (each deployment's state, a cache of what AWS holds).
//!
//! Write order of a change: new certificates (`If-None-Match: *`), then the index (`If-Match`:
//! the commit), then the CRL (`If-Match`; on a lost race it is regenerated from the newest
//! index until it agrees), then the settings (merged), then the audit log. A process killed
//! before the index leaves only unreferenced certificate objects; one killed after it leaves a
//! CRL behind the index, which the next command regenerates (as a local PKI's repair does).

use super::audit::{self, Record};
use super::{Cond, Object, Objects, Put};
use crate::error::{Error, Result};
use crate::fsx::{self, Overwrite, PUBLIC, SECRET};
use crate::pki::cert::{self, Serial};
use crate::pki::index::{self, Entry};
use crate::pki::keyenc::Passphrase;
use crate::pki::store::{self as pkistore, DIR_MODE, Layout, Meta, Pki, SERVER};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::OffsetDateTime;

pub const META: &str = "vpnctl.json";
pub const CA_CERT: &str = "ca.crt";
pub const CA_KEY: &str = "private/ca.key";
pub const INDEX: &str = "index.txt";
pub const CRL: &str = "crl.pem";

pub fn cert_object(serial: &Serial) -> String {
    format!("certs/{serial}.crt")
}
pub fn key_object(serial: &Serial) -> String {
    format!("keys/{serial}.key")
}
pub fn state_object(deployment: &str) -> String {
    format!("deployments/{deployment}.json")
}

/// The store's copy of a deployment's state after a teardown.
const STATE_DELETED: &str = "{\"deleted\": true}\n";

/// How often a change that lost its race is tried again before giving up.
const ATTEMPTS: u32 = 40;

/// The store's state as one read saw it, with the ETags the next write is conditional on.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub meta: Meta,
    pub meta_text: String,
    pub meta_etag: String,
    pub ca_pem: String,
    pub ca_key: Option<String>,
    pub index_text: String,
    pub index_etag: String,
    pub entries: Vec<Entry>,
    pub crl_text: String,
    pub crl_etag: String,
    /// The server's current certificate and key.
    pub server: Option<(Serial, String, String)>,
}

/// What a change brought that the working copy keeps: the keys of users issued here.
#[derive(Debug, Clone)]
struct NewUser {
    name: String,
    cert_pem: String,
    /// None for a certificate signed from a user's request (the key is theirs).
    key_pem: Option<String>,
}

/// The CA's KMS key by its ARN (the command layer makes it; it reaches AWS).
pub type KmsFor = Arc<dyn Fn(&str) -> Arc<dyn crate::pki::cert::RemoteKey> + Send + Sync>;

#[derive(Clone)]
pub struct Remote {
    pub objects: Arc<dyn Objects>,
    /// For a store whose CA key is in KMS.
    pub kms_for: Option<KmsFor>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Remote({})", self.objects.name())
    }
}

fn text(o: Option<Object>, what: &str, store: &str) -> Result<(String, String)> {
    let o = o.ok_or_else(|| {
        Error::corrupt(
            format!("{store} has vpnctl.json but no {what}"),
            "restore the object from an earlier version (the bucket keeps versions)",
        )
    })?;
    Ok((o.text(what)?, o.etag))
}

/// A scratch directory for one attempt (it holds the CA key while the change runs), locked
/// while it lives and removed when dropped; one a killed process left is swept by the next
/// `refresh`, after the keys of users it issued are saved (`recover`), or by the next
/// `pki init` into the store.
pub struct Scratch {
    pub dir: PathBuf,
    _lock: fsx::Lock,
}

const SCRATCH_PREFIX: &str = ".txn-";

impl Scratch {
    pub fn new(work: &Path) -> Result<Scratch> {
        fsx::ensure_dir(work, DIR_MODE)?;
        let mut rand = [0u8; 8];
        fsx::random(&mut rand)?;
        let dir = work.join(format!("{SCRATCH_PREFIX}{}", fsx::hex(&rand)));
        fsx::ensure_dir(&dir, 0o700)?;
        let lock = fsx::Lock::acquire(&dir.join(".lock"))?;
        Ok(Scratch { dir, _lock: lock })
    }
    pub fn pki(&self) -> PathBuf {
        self.dir.join("pki")
    }

    /// Remove the scratch directories in `work` that no live process holds (a killed one's),
    /// with whatever they held: for a store that has nothing to recover into yet.
    pub fn sweep(work: &Path) -> Result<()> {
        let Ok(rd) = std::fs::read_dir(work) else {
            return Ok(());
        };
        for f in rd.flatten() {
            let dir = f.path();
            if f.file_name().to_string_lossy().starts_with(SCRATCH_PREFIX)
                && dir.is_dir()
                && fsx::Lock::try_acquire(&dir.join(".lock"))?.is_some()
            {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
        Ok(())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A pause before the next attempt: a little longer each time, never in step with the other
/// writer.
fn backoff(attempt: u32) {
    let mut r = [0u8; 2];
    let _ = fsx::random(&mut r);
    let jitter = u64::from(u16::from_le_bytes(r)) % 50;
    let base = 10u64 * u64::from(attempt.min(10));
    std::thread::sleep(std::time::Duration::from_millis(base + jitter));
}

impl Remote {
    pub fn new(objects: Arc<dyn Objects>) -> Remote {
        Remote {
            objects,
            kms_for: None,
        }
    }

    /// The store as it is now, as a local PKI in a new scratch directory of `work`, opened
    /// for a change (with the CA's KMS key when it has one).
    fn scratch_copy(&self, work: &Path) -> Result<(Snapshot, Scratch, Pki)> {
        let snap = self.snapshot()?;
        let scratch = Scratch::new(work)?;
        self.materialize(&snap, &scratch.pki(), true, None)?;
        let mut pki = Pki::open(&scratch.pki())?;
        if let (Some(arn), Some(f)) = (pki.meta.kms_key(), &self.kms_for) {
            pki.kms = Some(f(arn));
        }
        Ok((snap, scratch, pki))
    }

    pub fn name(&self) -> String {
        self.objects.name()
    }

    /// Whether the store holds a PKI (its settings object is the mark).
    pub fn exists(&self) -> Result<bool> {
        Ok(self.objects.get(META)?.is_some())
    }

    pub fn snapshot(&self) -> Result<Snapshot> {
        let name = self.name();
        let Some(meta_obj) = self.objects.get(META)? else {
            return Err(Error::not_found(
                format!("no vpnctl PKI in {name}"),
                format!(
                    "create one there with `vpnctl --store {name} pki init`, or move a local one \
                     in with `vpnctl --pki DIR store push {name}`"
                ),
            ));
        };
        let meta_text = meta_obj.text("vpnctl.json")?;
        let meta: Meta = serde_json::from_str(&meta_text).map_err(|e| {
            Error::corrupt(
                format!("vpnctl.json in {name} is not valid ({e})"),
                "restore it from an earlier version (the bucket keeps versions)",
            )
        })?;
        let (ca_pem, _) = text(self.objects.get(CA_CERT)?, "ca.crt", &name)?;
        let (index_text, index_etag) = text(self.objects.get(INDEX)?, "index.txt", &name)?;
        let (crl_text, crl_etag) = text(self.objects.get(CRL)?, "crl.pem", &name)?;
        let ca_key = match self.objects.get(CA_KEY)? {
            Some(o) => Some(o.text("private/ca.key")?),
            None => None,
        };
        let entries = index::parse(&index_text)?;
        let server = match entries
            .iter()
            .rev()
            .find(|e| e.cn == meta.server_name && !e.is_revoked())
        {
            Some(e) => {
                let c = self.objects.get(&cert_object(&e.serial))?;
                let k = self.objects.get(&key_object(&e.serial))?;
                match (c, k) {
                    (Some(c), Some(k)) => Some((
                        e.serial.clone(),
                        c.text("the server certificate")?,
                        k.text("the server key")?,
                    )),
                    _ => None,
                }
            }
            None => None,
        };
        Ok(Snapshot {
            meta_etag: meta_obj.etag,
            meta,
            meta_text,
            ca_pem,
            ca_key,
            index_text,
            index_etag,
            entries,
            crl_text,
            crl_etag,
            server,
        })
    }

    /// Write a snapshot as a local PKI in `dir` (with the CA key when the store has one and
    /// `ca_key` asks for it): what the local code changes.
    fn materialize(
        &self,
        snap: &Snapshot,
        dir: &Path,
        ca_key: bool,
        meta: Option<&Meta>,
    ) -> Result<()> {
        let layout = Layout::new(dir);
        fsx::ensure_dir(dir, DIR_MODE)?;
        fsx::ensure_dir(&layout.private_dir(), 0o700)?;
        fsx::ensure_dir(&layout.issued_dir(), DIR_MODE)?;
        let mut plain = snap.meta.clone();
        plain.store = None;
        pkistore::write_meta(&layout, meta.unwrap_or(&plain))?;
        // Key material never goes into git, here as in every PKI directory.
        if !layout.root.join(".gitignore").exists() {
            fsx::write_atomic(
                &layout.root.join(".gitignore"),
                pkistore::GITIGNORE.as_bytes(),
                PUBLIC,
                Overwrite::Replace,
            )?;
        }
        for (path, body, mode) in [
            (layout.ca_cert(), &snap.ca_pem, PUBLIC),
            (layout.index(), &snap.index_text, PUBLIC),
            (layout.crl(), &snap.crl_text, PUBLIC),
        ] {
            fsx::write_atomic(&path, body.as_bytes(), mode, Overwrite::Replace)?;
        }
        if let Some((_, c, k)) = &snap.server {
            fsx::write_atomic(
                &layout.cert(SERVER),
                c.as_bytes(),
                PUBLIC,
                Overwrite::Replace,
            )?;
            fsx::write_atomic(
                &layout.key(SERVER),
                k.as_bytes(),
                SECRET,
                Overwrite::Replace,
            )?;
        }
        if ca_key && let Some(k) = &snap.ca_key {
            fsx::write_atomic(&layout.ca_key(), k.as_bytes(), SECRET, Overwrite::Replace)?;
        }
        Ok(())
    }

    /// Change the store with `f`, run on a scratch copy of its current state exactly as on a
    /// local PKI. Lands only if the index is still the one read; else reads again and runs `f`
    /// again (so `f` must be repeatable). Then mirrors the store into the working copy `work`
    /// (with the keys of users issued here) and appends `records(value)` to the audit log.
    pub fn transact<T>(
        &self,
        work: &Path,
        pass: Option<&Passphrase>,
        now: OffsetDateTime,
        f: impl FnMut(&mut Pki) -> Result<T>,
        records: impl FnOnce(&T, &str) -> Vec<Record>,
    ) -> Result<T> {
        self.transact_keys(work, pass, now, false, f, records)
    }

    /// `transact`; with `keys_to_store` the keys of users it issues go to the store as well
    /// (`keys/SERIAL.key`), for every admin's profiles.
    pub fn transact_keys<T>(
        &self,
        work: &Path,
        pass: Option<&Passphrase>,
        now: OffsetDateTime,
        keys_to_store: bool,
        mut f: impl FnMut(&mut Pki) -> Result<T>,
        records: impl FnOnce(&T, &str) -> Vec<Record>,
    ) -> Result<T> {
        for attempt in 0..ATTEMPTS {
            let (snap, scratch, mut pki) = self.scratch_copy(work)?;
            let value = f(&mut pki)?;
            let layout = Layout::new(scratch.pki());
            let new_index = fsx::read_to_string(&layout.index())?;
            let new_crl = fsx::read_to_string(&layout.crl())?;
            let new_meta = pkistore::read_meta(&layout)?;
            if new_index == snap.index_text && new_crl == snap.crl_text {
                self.merge_meta(&snap.meta, &new_meta)?;
                self.refresh(work)?;
                return Ok(value);
            }
            let entries = index::parse(&new_index)?;
            let old: HashSet<&Serial> = snap.entries.iter().map(|e| &e.serial).collect();
            let mut users = Vec::new();
            // Revoked newcomers (`merge-crl`'s serials another copy issued) have no file here.
            for e in entries
                .iter()
                .filter(|e| !old.contains(&e.serial) && !e.is_revoked())
            {
                let stem = if e.cn == snap.meta.server_name {
                    SERVER
                } else {
                    e.cn.as_str()
                };
                let cert_pem = fsx::read_to_string(&layout.cert(stem))?;
                if cert::inspect(&cert_pem, "a new certificate")?.serial != e.serial {
                    return Err(Error::corrupt(
                        format!(
                            "the certificate written for {} is not serial {}",
                            e.cn, e.serial
                        ),
                        "report this bug; nothing was changed in the store",
                    ));
                }
                let key_pem = match layout.key(stem).exists() {
                    true => Some(fsx::read_to_string(&layout.key(stem))?),
                    false => None,
                };
                if stem == SERVER {
                    // Every admin's `setup` imports it into ACM: it lives in the store, and is
                    // there before the index names it. (An attempt that then loses its race
                    // leaves an unused server certificate and key in the store, beside the
                    // current ones, readable by the same admins.)
                    self.create(&cert_object(&e.serial), cert_pem.as_bytes())?;
                    let key_pem = key_pem.unwrap_or_default();
                    self.create(&key_object(&e.serial), key_pem.as_bytes())?;
                } else {
                    users.push(NewUser {
                        name: e.cn.clone(),
                        cert_pem,
                        key_pem,
                    });
                }
            }
            match self
                .objects
                .put(INDEX, new_index.as_bytes(), Cond::Matches(&snap.index_etag))?
            {
                Put::Lost => {
                    // The SDK may have retried a write that had landed: then it is ours.
                    let landed = self
                        .objects
                        .get(INDEX)?
                        .is_some_and(|o| o.body == new_index.as_bytes());
                    if !landed {
                        backoff(attempt);
                        continue;
                    }
                }
                Put::Done(_) => {}
            }
            // Committed. First the keys of users issued here, into the working copy (a failure
            // of any later step must not lose them; a kill before this is recovered from the
            // scratch directory by the next refresh). A user certificate goes to the store only
            // now: an attempt that lost its race leaves no valid certificate behind.
            self.install(work, &users)?;
            for u in &users {
                if let Ok(info) = cert::inspect(&u.cert_pem, "a new certificate") {
                    self.create(&cert_object(&info.serial), u.cert_pem.as_bytes())?;
                    if keys_to_store && let Some(k) = &u.key_pem {
                        self.create(&key_object(&info.serial), k.as_bytes())?;
                    }
                }
            }
            // The CRL follows the index; a lost race regenerates it from the newest.
            if new_crl != snap.crl_text {
                match self
                    .objects
                    .put(CRL, new_crl.as_bytes(), Cond::Matches(&snap.crl_etag))?
                {
                    Put::Done(_) => {}
                    Put::Lost => {
                        self.sync_crl(work, pass, now)?;
                    }
                }
            }
            self.merge_meta(&snap.meta, &new_meta)?;
            let who = self.objects.caller().unwrap_or_else(|_| "unknown".into());
            audit::append_remote(self.objects.as_ref(), &records(&value, &who))?;
            drop(scratch);
            self.refresh(work)?;
            return Ok(value);
        }
        Err(Error::conflict(
            format!(
                "{} kept changing while this command tried {ATTEMPTS} times to land its change",
                self.name()
            ),
            "run the command again (nothing of it landed)",
        ))
    }

    /// Create an object that must not exist (a certificate by its random serial). An object
    /// already there with the same bytes is this change's own, written by an earlier attempt.
    fn create(&self, key: &str, body: &[u8]) -> Result<()> {
        match self.objects.put(key, body, Cond::Absent)? {
            Put::Done(_) => Ok(()),
            Put::Lost => match self.objects.get(key)? {
                Some(o) if o.body == body => Ok(()),
                _ => Err(Error::conflict(
                    format!("{} already holds {key}", self.name()),
                    "run the command again (a new serial is drawn)",
                )),
            },
        }
    }

    /// Regenerate the store's CRL from its index until it lists exactly the index's
    /// revocations (another admin may be doing the same). Returns whether a new one landed.
    pub fn sync_crl(
        &self,
        work: &Path,
        pass: Option<&Passphrase>,
        now: OffsetDateTime,
    ) -> Result<bool> {
        for attempt in 0..ATTEMPTS {
            let (snap, scratch, mut pki) = self.scratch_copy(work)?;
            if !pki.health()?.crl_stale {
                return Ok(false);
            }
            pki.regenerate_crl(None, pass, now)?;
            let layout = Layout::new(scratch.pki());
            let crl = fsx::read_to_string(&layout.crl())?;
            if let Put::Done(_) =
                self.objects
                    .put(CRL, crl.as_bytes(), Cond::Matches(&snap.crl_etag))?
            {
                self.merge_meta(&snap.meta, &pkistore::read_meta(&layout)?)?;
                let who = self.objects.caller().unwrap_or_else(|_| "unknown".into());
                audit::append_remote(
                    self.objects.as_ref(),
                    &[Record::new(&who, "crl", "crl.pem", now)
                        .detail("regenerated to list exactly the index's revocations")],
                )?;
                return Ok(true);
            }
            backoff(attempt);
        }
        Err(Error::conflict(
            format!("the CRL of {} kept changing", self.name()),
            "run the command again",
        ))
    }

    /// Bring `ours` (made from `base`) into the store's settings: the CRL number only goes up;
    /// the deployment and the CRL's lifetime change only if this change changed them (another
    /// admin's concurrent change of them stays).
    fn merge_meta(&self, base: &Meta, ours: &Meta) -> Result<()> {
        for attempt in 0..ATTEMPTS {
            let Some(o) = self.objects.get(META)? else {
                return Ok(());
            };
            let mut theirs: Meta = serde_json::from_slice(&o.body).map_err(|e| {
                Error::corrupt(
                    format!("vpnctl.json in {} is not valid ({e})", self.name()),
                    "restore it from an earlier version (the bucket keeps versions)",
                )
            })?;
            let before = serde_json::to_string(&theirs).unwrap_or_default();
            theirs.crl_number = theirs.crl_number.max(ours.crl_number);
            if ours.deployment != base.deployment {
                theirs.deployment = ours.deployment.clone();
            }
            if ours.crl_days != base.crl_days {
                theirs.crl_days = ours.crl_days;
            }
            if serde_json::to_string(&theirs).unwrap_or_default() == before {
                return Ok(());
            }
            let text = serde_json::to_string_pretty(&theirs).unwrap_or_default() + "\n";
            if let Put::Done(_) = self
                .objects
                .put(META, text.as_bytes(), Cond::Matches(&o.etag))?
            {
                return Ok(());
            }
            backoff(attempt);
        }
        Err(Error::conflict(
            format!("vpnctl.json in {} kept changing", self.name()),
            "run the command again",
        ))
    }

    /// Put the keys of users just issued here into the working copy (an older certificate of
    /// the same name there is retired first, as a local renew does).
    fn install(&self, work: &Path, users: &[NewUser]) -> Result<()> {
        let layout = Layout::new(work);
        let _lock = fsx::Lock::acquire(&layout.lock())?;
        install_locked(&layout, users)
    }

    /// Mirror the store into the working copy `work`: settings (marked with the store),
    /// CA certificate, index, CRL, the server's certificate and key, and every current user
    /// certificate. A user revoked or renewed elsewhere has their files here retired and their
    /// profile removed. Never the CA key. Returns the snapshot it mirrored.
    pub fn refresh(&self, work: &Path) -> Result<Snapshot> {
        let layout = Layout::new(work);
        fsx::ensure_dir(work, DIR_MODE)?;
        let _lock = fsx::Lock::acquire(&layout.lock())?;
        let snap = self.snapshot()?;
        self.recover(work, &snap)?;
        // The settings, marked as this store's working copy, before anything else: a kill
        // half-way leaves a copy that still knows its store (and is refreshed again).
        let mut meta = snap.meta.clone();
        meta.store = Some(self.name());
        pkistore::write_meta(&layout, &meta)?;
        self.materialize(&snap, work, false, Some(&meta))?;
        // A CA key left by `store push` of this directory never stays beside a working copy.
        fsx::remove_file(&layout.ca_key())?;
        // Keys an admin chose to keep in the store (`pki issue --key-in-store`): one listing.
        let stored_keys: HashSet<String> = self.objects.list("keys/")?.into_iter().collect();
        for e in pkistore::latest_per_name(snap.entries.clone()) {
            if e.cn == snap.meta.server_name {
                continue;
            }
            let here = serial_in(&layout.cert(&e.cn));
            let key_here = layout.key(&e.cn).is_file();
            let fetch_key = |layout: &Layout| -> Result<()> {
                if stored_keys.contains(&key_object(&e.serial))
                    && let Some(k) = self.objects.get(&key_object(&e.serial))?
                {
                    fsx::ensure_dir(&layout.private_dir(), 0o700)?;
                    fsx::write_atomic(&layout.key(&e.cn), &k.body, SECRET, Overwrite::Replace)?;
                }
                Ok(())
            };
            if e.is_revoked() {
                if here.is_some() {
                    retire_local(&layout, &e.cn, "revoked")?;
                }
                fsx::remove_file(&layout.profile(&e.cn))?;
                continue;
            }
            if here.as_ref() == Some(&e.serial) {
                if !key_here {
                    fetch_key(&layout)?;
                }
                continue;
            }
            if here.is_some() {
                retire_local(&layout, &e.cn, "renewed")?;
                fsx::remove_file(&layout.profile(&e.cn))?;
            }
            if let Some(o) = self.objects.get(&cert_object(&e.serial))? {
                fsx::write_atomic(&layout.cert(&e.cn), &o.body, PUBLIC, Overwrite::Replace)?;
                fetch_key(&layout)?;
            }
        }
        Ok(snap)
    }

    /// Sweep scratch directories that no live process holds (a kill left them; they may hold
    /// the CA key). The key of a user whose certificate the store's index has as current is
    /// saved into the working copy first.
    fn recover(&self, work: &Path, snap: &Snapshot) -> Result<()> {
        let Ok(rd) = std::fs::read_dir(work) else {
            return Ok(());
        };
        let latest: BTreeMap<String, Entry> = pkistore::latest_per_name(snap.entries.clone())
            .into_iter()
            .map(|e| (e.cn.clone(), e))
            .collect();
        for f in rd.flatten() {
            let dir = f.path();
            let name = f.file_name().to_string_lossy().into_owned();
            if !name.starts_with(SCRATCH_PREFIX) || !dir.is_dir() {
                continue;
            }
            let Some(_held) = fsx::Lock::try_acquire(&dir.join(".lock"))? else {
                continue;
            };
            let old = Layout::new(dir.join("pki"));
            let mut users = Vec::new();
            if let Ok(keys) = std::fs::read_dir(old.private_dir()) {
                for k in keys.flatten() {
                    let file = k.file_name().to_string_lossy().into_owned();
                    let Some(user) = file.strip_suffix(".key") else {
                        continue;
                    };
                    let current = latest
                        .get(user)
                        .filter(|e| !e.is_revoked() && user != SERVER && user != "ca");
                    let cert_pem = std::fs::read_to_string(old.cert(user)).ok();
                    if let (Some(e), Some(cert_pem)) = (current, cert_pem)
                        && serial_in(&old.cert(user)).as_ref() == Some(&e.serial)
                        && serial_in(&Layout::new(work).cert(user)).as_ref() != Some(&e.serial)
                    {
                        users.push(NewUser {
                            name: user.to_string(),
                            key_pem: std::fs::read_to_string(k.path()).ok(),
                            cert_pem,
                        });
                    }
                }
            }
            install_locked(&Layout::new(work), &users)?;
            let _ = std::fs::remove_dir_all(&dir);
        }
        Ok(())
    }

    /// `store push`: a local PKI into this (empty) store. The CA certificate is the claim (a
    /// second push of another PKI stops there), `vpnctl.json` the commit (written last).
    pub fn push_dir(
        &self,
        dir: &Path,
        who: &str,
        now: OffsetDateTime,
        log_push: bool,
    ) -> Result<usize> {
        let pki = Pki::open(dir)?;
        if pki.meta.store.is_some() {
            return Err(Error::conflict(
                format!(
                    "{} is the working copy of {}, not a PKI of its own",
                    dir.display(),
                    pki.meta.store.as_deref().unwrap_or_default()
                ),
                "push a local PKI (`vpnctl pki init` or `store pull` makes one)",
            ));
        }
        if let Some(w) = pki.health()?.describe() {
            return Err(Error::conflict(
                format!("the PKI in {} needs a repair first: {w}", dir.display()),
                format!(
                    "run `vpnctl --pki {} pki crl`, then push again",
                    dir.display()
                ),
            ));
        }
        if self.exists()? {
            return Err(Error::conflict(
                format!("{} already holds a PKI", self.name()),
                "a store is never replaced by a push (it would undo the team's revocations): \
                 push to another prefix, or bring this copy's revocations in with `vpnctl \
                 --store … pki merge-crl DIR/crl.pem`",
            ));
        }
        let ca_pem = pki.ca_pem()?;
        self.create(CA_CERT, ca_pem.as_bytes())
            .map_err(|e| match e {
                Error::Conflict { .. } => Error::conflict(
                    format!(
                        "{} holds another CA's certificate (a push or init that did not finish, \
                     or another admin's under way)",
                        self.name()
                    ),
                    "push to another prefix, or remove the prefix's objects if nothing uses them",
                ),
                other => other,
            })?;
        // Until vpnctl.json commits it, a failure takes the claim back (a later push or init
        // can then use the prefix).
        let pushed = self.push_rest(&pki, who, now, log_push);
        if pushed.is_err() && !self.exists().unwrap_or(true) {
            // Our own objects only (compared by content): a key never stays behind a failed
            // push, where a later `pki init --ca-key kms` would find it.
            let mine = |key: &str, body: Option<String>| {
                if let (Some(body), Ok(Some(o))) = (body, self.objects.get(key))
                    && o.body == body.as_bytes()
                {
                    let _ = self.objects.delete(key);
                }
            };
            if let Ok(entries) = pki.index()
                && let Some(e) = entries
                    .iter()
                    .rev()
                    .find(|e| e.cn == pki.meta.server_name && !e.is_revoked())
            {
                mine(&key_object(&e.serial), pki.server_key_pem().ok());
            }
            mine(CA_KEY, fsx::read_to_string(&pki.layout.ca_key()).ok());
            mine(CA_CERT, Some(ca_pem));
        }
        pushed
    }

    fn push_rest(
        &self,
        pki: &Pki,
        who: &str,
        now: OffsetDateTime,
        log_push: bool,
    ) -> Result<usize> {
        let layout = &pki.layout;
        let entries = pki.index()?;
        let mut certs = 0;
        for path in certificate_files(layout)? {
            let pem = fsx::read_to_string(&path)?;
            let Ok(info) = cert::inspect(&pem, &path.display().to_string()) else {
                continue;
            };
            if entries.iter().any(|e| e.serial == info.serial) {
                self.create(&cert_object(&info.serial), pem.as_bytes())?;
                certs += 1;
            }
        }
        if let Some(e) = entries
            .iter()
            .rev()
            .find(|e| e.cn == pki.meta.server_name && !e.is_revoked())
        {
            self.create(&key_object(&e.serial), pki.server_key_pem()?.as_bytes())?;
        }
        if layout.ca_key().exists() {
            let key = fsx::read_to_string(&layout.ca_key())?;
            self.create(CA_KEY, key.as_bytes())?;
        }
        for (name, path) in [(INDEX, layout.index()), (CRL, layout.crl())] {
            let body = fsx::read_to_string(&path)?;
            self.objects.put(name, body.as_bytes(), Cond::Any)?;
        }
        // The deployments' state recorded beside the PKI, so other admins find them.
        for d in crate::state::list(&layout.root) {
            if let Ok(t) = std::fs::read_to_string(crate::state::path(&layout.root, &d)) {
                self.objects
                    .put(&state_object(&d), t.as_bytes(), Cond::Any)?;
            }
        }
        let mut records = audit::read_local(&layout.root)?;
        if log_push {
            records.push(
                Record::new(who, "push", &self.name(), now)
                    .detail(format!("from {}", layout.root.display())),
            );
        }
        audit::append_remote(self.objects.as_ref(), &records)?;
        let mut meta = pki.meta.clone();
        meta.store = None;
        let text = serde_json::to_string_pretty(&meta).unwrap_or_default() + "\n";
        if self.objects.put(META, text.as_bytes(), Cond::Absent)? == Put::Lost {
            return Err(Error::conflict(
                format!(
                    "another PKI was created in {} during this push",
                    self.name()
                ),
                "push to another prefix",
            ));
        }
        Ok(certs)
    }

    /// `store pull`: a complete local copy in `dest` (which must be new or empty), with the
    /// CA key when the store holds it and the user keys the working copy `work` holds. The
    /// copy knows no store: changes made in it reach the store only by `pki merge-crl`.
    pub fn pull_dir(&self, work: &Path, dest: &Path) -> Result<Snapshot> {
        if dest.exists()
            && std::fs::read_dir(dest)
                .map_err(|e| Error::io("read", dest, e))?
                .next()
                .is_some()
        {
            return Err(Error::conflict(
                format!("{} exists and is not empty", dest.display()),
                "pull into a new directory",
            ));
        }
        let snap = self.snapshot()?;
        self.materialize(&snap, dest, true, None)?;
        let layout = Layout::new(dest);
        let mine = Layout::new(work);
        let latest: BTreeMap<String, Entry> = pkistore::latest_per_name(snap.entries.clone())
            .into_iter()
            .map(|e| (e.cn.clone(), e))
            .collect();
        for e in &snap.entries {
            if e.cn == snap.meta.server_name {
                continue;
            }
            let Some(o) = self.objects.get(&cert_object(&e.serial))? else {
                continue;
            };
            let current = latest.get(&e.cn).is_some_and(|l| l.serial == e.serial);
            if current && !e.is_revoked() {
                fsx::write_atomic(&layout.cert(&e.cn), &o.body, PUBLIC, Overwrite::Replace)?;
                if serial_in(&mine.cert(&e.cn)).as_ref() == Some(&e.serial)
                    && mine.key(&e.cn).is_file()
                {
                    let key = fsx::read_to_string(&mine.key(&e.cn))?;
                    fsx::write_atomic(
                        &layout.key(&e.cn),
                        key.as_bytes(),
                        SECRET,
                        Overwrite::Refuse,
                    )?;
                }
            } else {
                let why = if e.reason.as_deref() == Some("superseded") {
                    "renewed"
                } else {
                    "revoked"
                };
                let path = layout.retired_cert(why, &e.serial);
                if let Some(dir) = path.parent() {
                    fsx::ensure_dir(dir, DIR_MODE)?;
                }
                fsx::write_atomic(&path, &o.body, PUBLIC, Overwrite::Replace)?;
            }
        }
        let log: Vec<Record> = audit::read_remote(self.objects.as_ref())?;
        audit::append_local(dest, &log)?;
        Ok(snap)
    }

    /// Copy a deployment's state into the store (a cache every admin's AWS commands read);
    /// None (a teardown removed it) leaves a tombstone, so that another machine's old copy
    /// is removed too rather than brought back.
    pub fn save_state(&self, deployment: &str, text: Option<&str>) -> Result<()> {
        let body = text.unwrap_or(STATE_DELETED);
        self.objects
            .put(&state_object(deployment), body.as_bytes(), Cond::Any)
            .map(|_| ())
    }

    /// The store's copy of a deployment's state: never saved (None), removed (Some(None)), or
    /// its text.
    pub fn load_state(&self, deployment: &str) -> Result<Option<Option<String>>> {
        match self.objects.get(&state_object(deployment))? {
            Some(o) => {
                let t = o.text("a deployment's state")?;
                Ok(Some((t != STATE_DELETED).then_some(t)))
            }
            None => Ok(None),
        }
    }
}

/// The serial of the certificate in `path`, if it holds one.
fn serial_in(path: &Path) -> Option<Serial> {
    let pem = std::fs::read_to_string(path).ok()?;
    cert::inspect(&pem, "").ok().map(|i| i.serial)
}

/// Move `name`'s certificate (and its key, if it belongs to it) in the working copy to
/// `revoked/` or `renewed/`, as a local revoke or renew does.
fn retire_local(layout: &Layout, name: &str, why: &str) -> Result<()> {
    if let Some(serial) = serial_in(&layout.cert(name)) {
        pkistore::retire_files(layout, name, why, &serial)?;
    }
    Ok(())
}

/// Every certificate file of a local PKI: current, revoked and renewed.
fn certificate_files(layout: &Layout) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let dirs = [
        layout.issued_dir(),
        layout.root.join("revoked").join("certs_by_serial"),
        layout.root.join("renewed").join("certs_by_serial"),
    ];
    for dir in dirs {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for f in rd.flatten() {
            let p = f.path();
            if p.extension().is_some_and(|x| x == "crt") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `install`, with the working copy's lock held.
fn install_locked(layout: &Layout, users: &[NewUser]) -> Result<()> {
    fsx::ensure_dir(&layout.private_dir(), 0o700)?;
    fsx::ensure_dir(&layout.issued_dir(), DIR_MODE)?;
    for u in users {
        retire_local(layout, &u.name, "renewed")?;
        if let Some(key) = &u.key_pem {
            fsx::write_atomic(
                &layout.key(&u.name),
                key.as_bytes(),
                SECRET,
                Overwrite::Replace,
            )?;
        }
        fsx::write_atomic(
            &layout.cert(&u.name),
            u.cert_pem.as_bytes(),
            PUBLIC,
            Overwrite::Replace,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::store::InitOptions;
    use crate::store::MemObjects;
    use std::collections::BTreeSet;

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn store_with_pki() -> (tempfile::TempDir, Remote) {
        let dir = tempfile::tempdir().unwrap();
        let local = dir.path().join("local");
        Pki::init(
            &local,
            &InitOptions {
                deployment: "team".into(),
                server_name: None,
                ca_days: 3650,
                server_days: 825,
                crl_days: 180,
                force: false,
                passphrase: None,
                kms: None,
            },
            now(),
        )
        .unwrap();
        let remote = Remote::new(Arc::new(MemObjects::default()));
        remote.push_dir(&local, "tester", now(), true).unwrap();
        (dir, remote)
    }

    #[test]
    fn a_change_lands_and_the_working_copy_holds_only_public_parts_and_own_keys() {
        let (dir, remote) = store_with_pki();
        let work = dir.path().join("work");
        let issued = remote
            .transact(
                &work,
                None,
                now(),
                |p| p.issue(&["alice".into()], 30, None, false, now()),
                |v, who| vec![Record::new(who, "issue", &v[0].name, now())],
            )
            .unwrap();
        let layout = Layout::new(&work);
        assert!(layout.key("alice").is_file() && layout.cert("alice").is_file());
        assert!(
            !layout.ca_key().exists(),
            "never the CA key in a working copy"
        );
        let pki = Pki::open(&work).unwrap();
        assert_eq!(pki.meta.store.as_deref(), Some("s3://memory/test"));
        assert!(
            pki.index()
                .unwrap()
                .iter()
                .any(|e| e.serial == issued[0].serial)
        );
        assert!(
            remote
                .objects
                .get(&cert_object(&issued[0].serial))
                .unwrap()
                .is_some()
        );
        let log = audit::read_remote(remote.objects.as_ref()).unwrap();
        assert_eq!(
            log.iter().map(|r| r.action.as_str()).collect::<Vec<_>>(),
            ["push", "issue"]
        );
        // Client keys never go to the store.
        assert!(remote.objects.list("keys/").unwrap().iter().all(|k| {
            !remote.objects.get(k).unwrap().unwrap().body.starts_with(
                fsx::read_to_string(&layout.key("alice"))
                    .unwrap()
                    .as_bytes(),
            )
        }));
    }

    #[test]
    fn a_lost_race_is_applied_again_on_the_newest_index_and_a_lost_crl_regenerated() {
        let (dir, remote) = store_with_pki();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for (w, u) in [(&a, "alice"), (&b, "bob")] {
            remote
                .transact(
                    w,
                    None,
                    now(),
                    |p| p.issue(&[u.to_string()], 30, None, false, now()),
                    |_, _| vec![],
                )
                .unwrap();
        }
        // The next index and CRL writes lose once each, as to another admin's change.
        let mem = Arc::new(MemObjects::default());
        for k in remote.objects.list("").unwrap() {
            let o = remote.objects.get(&k).unwrap().unwrap();
            mem.put(&k, &o.body, Cond::Any).unwrap();
        }
        let remote = Remote::new(mem.clone());
        mem.lose
            .lock()
            .unwrap()
            .extend([(INDEX.to_string(), 1), (CRL.to_string(), 1)]);
        let mut runs = 0;
        remote
            .transact(
                &a,
                None,
                now(),
                |p| {
                    runs += 1;
                    p.revoke("alice", None, now())
                },
                |_, _| vec![],
            )
            .unwrap();
        assert_eq!(runs, 2, "applied again after the lost index write");
        let snap = remote.snapshot().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        remote
            .materialize(&snap, scratch.path(), false, None)
            .unwrap();
        let pki = Pki::open(scratch.path()).unwrap();
        assert!(
            !pki.health().unwrap().crl_stale,
            "the CRL agrees with the index"
        );
        assert!(pki.revoked_entirely("alice").unwrap());
        // The other working copy learns of it at its next refresh.
        remote.refresh(&b).unwrap();
        assert!(!Layout::new(&b).cert("alice").exists());
        assert!(Layout::new(&b).cert("bob").exists());
    }

    #[test]
    fn a_scratch_left_by_a_kill_is_swept_and_the_key_it_held_saved() {
        let (dir, remote) = store_with_pki();
        let work = dir.path().join("work");
        remote
            .transact(
                &work,
                None,
                now(),
                |p| p.issue(&["zed".into()], 30, None, false, now()),
                |_, _| vec![],
            )
            .unwrap();
        // As if killed after the index landed and before the key reached the working copy:
        // the key and certificate only in a scratch directory (with a CA key beside them).
        let layout = Layout::new(&work);
        let dead = Layout::new(work.join(".txn-dead").join("pki"));
        fsx::ensure_dir(&dead.private_dir(), 0o700).unwrap();
        fsx::ensure_dir(&dead.issued_dir(), 0o700).unwrap();
        let key = fsx::read_to_string(&layout.key("zed")).unwrap();
        std::fs::rename(layout.key("zed"), dead.key("zed")).unwrap();
        std::fs::rename(layout.cert("zed"), dead.cert("zed")).unwrap();
        std::fs::write(dead.ca_key(), "secret").unwrap();
        remote.refresh(&work).unwrap();
        assert_eq!(fsx::read_to_string(&layout.key("zed")).unwrap(), key);
        assert!(
            !work.join(".txn-dead").exists(),
            "the scratch (and its CA key) is gone"
        );
        // A scratch a live process holds is left alone.
        let live = Scratch::new(&work).unwrap();
        remote.refresh(&work).unwrap();
        assert!(live.dir.exists());
    }

    #[test]
    fn an_attempt_that_lost_its_race_leaves_no_valid_certificate_behind() {
        let (dir, remote) = store_with_pki();
        let mem = Arc::new(MemObjects::default());
        for k in remote.objects.list("").unwrap() {
            let o = remote.objects.get(&k).unwrap().unwrap();
            mem.put(&k, &o.body, Cond::Any).unwrap();
        }
        mem.lose.lock().unwrap().push((INDEX.to_string(), 2));
        let remote = Remote::new(mem.clone());
        remote
            .transact(
                &dir.path().join("w"),
                None,
                now(),
                |p| p.issue(&["alice".into()], 30, None, false, now()),
                |_, _| vec![],
            )
            .unwrap();
        let snap = remote.snapshot().unwrap();
        let indexed: BTreeSet<String> = snap
            .entries
            .iter()
            .map(|e| cert_object(&e.serial))
            .collect();
        let stored: BTreeSet<String> = mem.list("certs/").unwrap().into_iter().collect();
        assert_eq!(stored, indexed, "every stored certificate is in the index");
    }

    #[test]
    fn a_store_is_never_replaced_by_a_push() {
        let (dir, remote) = store_with_pki();
        let e = remote
            .push_dir(&dir.path().join("local"), "t", now(), true)
            .unwrap_err();
        assert_eq!(e.exit_code(), 3, "{e}");
    }
}

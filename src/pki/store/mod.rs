//! The on-disk PKI: the only module that reads or writes `pki/`. Layout as easy-rsa users
//! expect (`ca.crt`, `private/`, `issued/`, `index.txt`, `crl.pem`), plus `vpnctl.json` for
//! vpnctl's own settings. Every mutation validates first and builds everything in memory, then
//! writes under an exclusive lock in an order chosen so that a process killed at any step
//! leaves a PKI that the next command repairs (`repair`): intent first (the journal, then the
//! index, which must know a serial before any file holds a certificate with it), derived files
//! after (the CRL is a function of the index, the CA and the CRL number), files last.
//!
//! `init` creates or replaces a whole PKI, `issue` adds certificates, `revoke` revokes, renews
//! and regenerates the CRL, `repair` finishes or rolls back what a killed process left.

mod init;
mod issue;
mod repair;
mod revoke;
#[cfg(test)]
mod tests;

pub use repair::{Health, retire_files};
pub use revoke::Merged;

use super::cert::{self, Ca, CertInfo, Serial};
use super::index::{self, Entry};
use super::keyenc::{self, Passphrase};
use super::names;
use crate::error::{Error, Result};
use crate::fsx::{self, Lock, Overwrite, PUBLIC};
use rcgen::KeyPair;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

pub const DEFAULT_CA_DAYS: u32 = 3650;
pub const DEFAULT_CERT_DAYS: u32 = 825;
pub const DEFAULT_CRL_DAYS: u32 = 1825;
pub const MAX_DAYS: u32 = 36500;
/// Certificates, the CA and the CRL expiring within this many days are flagged.
pub const WARN_DAYS: i64 = 30;

/// The PKI directory and `issued/`: certificates are public, but the index of who holds one is
/// nobody else's business, and the directory also holds `private/`.
pub const DIR_MODE: u32 = 0o700;
/// Written into every PKI directory that has none: key material never goes into git.
pub const GITIGNORE: &str = "# Key material never goes into git.\n*\n!README.md\n!.gitignore\n";
const PRIVATE_DIR_MODE: u32 = 0o700;
pub const SERVER: &str = "server";

/// Paths inside a PKI directory.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Layout {
        Layout { root: root.into() }
    }
    pub fn ca_cert(&self) -> PathBuf {
        self.root.join("ca.crt")
    }
    pub fn private_dir(&self) -> PathBuf {
        self.root.join("private")
    }
    pub fn issued_dir(&self) -> PathBuf {
        self.root.join("issued")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.private_dir().join("ca.key")
    }
    /// `stem` is a user name or "server".
    pub fn cert(&self, stem: &str) -> PathBuf {
        self.issued_dir().join(format!("{stem}.crt"))
    }
    pub fn key(&self, stem: &str) -> PathBuf {
        self.private_dir().join(format!("{stem}.key"))
    }
    pub fn index(&self) -> PathBuf {
        self.root.join("index.txt")
    }
    pub fn crl(&self) -> PathBuf {
        self.root.join("crl.pem")
    }
    pub fn meta(&self) -> PathBuf {
        self.root.join("vpnctl.json")
    }
    pub fn lock(&self) -> PathBuf {
        self.root.join(".lock")
    }
    /// The journal of the mutation in progress (see `repair`).
    pub fn pending(&self) -> PathBuf {
        self.root.join(".pending.json")
    }
    /// Retired material (revoked or renewed), kept by serial as easy-rsa does.
    pub fn retired_cert(&self, why: &str, serial: &Serial) -> PathBuf {
        self.root
            .join(why)
            .join("certs_by_serial")
            .join(format!("{serial}.crt"))
    }
    pub fn retired_key(&self, why: &str, serial: &Serial) -> PathBuf {
        self.root
            .join(why)
            .join("private_by_serial")
            .join(format!("{serial}.key"))
    }
    /// Profiles live beside the PKI, not inside it: they are handed out, the PKI is not.
    pub fn profiles_dir(&self) -> PathBuf {
        let parent = self
            .root
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        parent.join("profiles")
    }
    pub fn profile(&self, user: &str) -> PathBuf {
        self.profiles_dir().join(format!("{user}.ovpn"))
    }
    /// The entries whose presence means "a PKI lives here".
    fn markers(&self) -> Vec<PathBuf> {
        vec![
            self.meta(),
            self.ca_cert(),
            self.private_dir(),
            self.issued_dir(),
            self.index(),
            self.crl(),
            self.root.join("revoked"),
            self.root.join("renewed"),
        ]
    }
}

/// vpnctl's settings for one PKI.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub format: u32,
    pub deployment: String,
    pub server_name: String,
    pub crl_days: u32,
    pub ca_key_encrypted: bool,
    /// A floor for the next CRL number: the next CRL gets a number above both this and the
    /// number of `crl.pem` (which a killed process may have written without updating this),
    /// and `merge-crl` raises it above a CRL merged from elsewhere.
    pub crl_number: u64,
    /// Set in the working copy of an S3 store (`s3://BUCKET/PREFIX`): the store is the PKI,
    /// this directory only mirrors it (and holds the keys of users issued here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// `kms:ARN` when the CA key is an AWS KMS key (never on disk); absent for
    /// `private/ca.key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_key: Option<String>,
}

impl Meta {
    /// The KMS key holding the CA key, if it is one.
    pub fn kms_key(&self) -> Option<&str> {
        self.ca_key.as_deref().and_then(|k| k.strip_prefix("kms:"))
    }
}

#[derive(Debug, Clone)]
pub struct InitOptions {
    pub deployment: String,
    pub server_name: Option<String>,
    pub ca_days: u32,
    pub server_days: u32,
    pub crl_days: u32,
    pub force: bool,
    pub passphrase: Option<Passphrase>,
    /// The CA key in KMS instead of `private/ca.key`.
    pub kms: Option<std::sync::Arc<dyn super::cert::RemoteKey>>,
}

/// A certificate just issued.
#[derive(Debug, Clone)]
pub struct Issued {
    pub name: String,
    pub serial: Serial,
    pub not_after: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Valid,
    Revoked,
    Expired,
}

impl Status {
    pub fn of(e: &Entry, now: OffsetDateTime) -> Status {
        if e.is_revoked() {
            Status::Revoked
        } else if e.not_after <= now {
            Status::Expired
        } else {
            Status::Valid
        }
    }
}

/// Whole days from `now` to `t` (negative when past).
pub fn days_left(t: OffsetDateTime, now: OffsetDateTime) -> i64 {
    (t - now).whole_days()
}

pub fn check_days(days: u32, flag: &str) -> Result<()> {
    if days == 0 || days > MAX_DAYS {
        return Err(Error::invalid(
            format!("{flag} {days} is out of range"),
            format!("give a number of days from 1 to {MAX_DAYS}"),
        ));
    }
    Ok(())
}

/// What a profile embeds for one user.
#[derive(Debug, Clone)]
pub struct UserMaterial {
    pub user: String,
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

/// An opened PKI.
#[derive(Clone)]
pub struct Pki {
    pub layout: Layout,
    pub meta: Meta,
    /// What the last mutation repaired before it started (left by an interrupted command), for
    /// the command layer to report.
    pub repaired: Vec<String>,
    /// The CA key in KMS, when `meta` says so (given by the command layer, which reaches AWS).
    pub kms: Option<std::sync::Arc<dyn super::cert::RemoteKey>>,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("layout", &self.layout)
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

/// The latest entry per name (a name's current certificate), in first-appearance order.
pub fn latest_per_name(entries: Vec<Entry>) -> Vec<Entry> {
    let mut latest: BTreeMap<String, (usize, Entry)> = BTreeMap::new();
    for (i, e) in entries.into_iter().enumerate() {
        let first = latest.get(&e.cn).map(|(f, _)| *f).unwrap_or(i);
        latest.insert(e.cn.clone(), (first, e));
    }
    let mut v: Vec<_> = latest.into_values().collect();
    v.sort_by_key(|(i, _)| *i);
    v.into_iter().map(|(_, e)| e).collect()
}

pub(crate) fn read_meta(layout: &Layout) -> Result<Meta> {
    let text = fsx::read_to_string(&layout.meta())?;
    serde_json::from_str(&text).map_err(|e| {
        Error::corrupt(
            format!("{} is not valid ({e})", layout.meta().display()),
            "restore vpnctl.json from a backup",
        )
    })
}

pub(crate) fn write_meta(layout: &Layout, meta: &Meta) -> Result<()> {
    let text = serde_json::to_string_pretty(meta).unwrap_or_default() + "\n";
    fsx::write_atomic(&layout.meta(), text.as_bytes(), PUBLIC, Overwrite::Replace)
}

/// Whether a PKI exists in `dir`.
pub fn exists(dir: &Path) -> bool {
    Layout::new(dir).markers().iter().any(|p| p.exists())
}

impl Pki {
    pub fn open(dir: &Path) -> Result<Pki> {
        let layout = Layout::new(dir);
        // An init (or init --force) that was killed after its commit point is finished first:
        // until it is, the directory holds parts of two PKIs.
        init::finish_interrupted(&layout)?;
        if !layout.meta().exists() {
            let hint = if layout.ca_cert().exists() && layout.index().exists() {
                format!(
                    "this looks like an easy-rsa PKI: adopt it with `vpnctl pki import-easyrsa \
                        {}` into a new --pki directory",
                    dir.display()
                )
            } else {
                "create one with `vpnctl pki init` (or point --pki / VPNCTL_PKI at an existing one)"
                    .to_string()
            };
            return Err(Error::not_found(
                format!("no vpnctl PKI in {}", dir.display()),
                hint,
            ));
        }
        let meta = read_meta(&layout)?;
        Ok(Pki {
            layout,
            meta,
            repaired: Vec::new(),
            kms: None,
        })
    }

    /// Take the PKI's lock for a mutation that signs with `ca`, refusing if the PKI was
    /// replaced (`init --force`) while this process waited, and re-read the settings.
    fn lock(&mut self, ca: &Ca) -> Result<Lock> {
        let lock = Lock::acquire(&self.layout.lock())?;
        init::finish_committed(&self.layout)?;
        if !crate::pki::crl::same_pem(&self.ca_pem()?, &ca.cert_pem) {
            return Err(Error::conflict(
                format!(
                    "the PKI in {} was replaced while this command waited for it",
                    self.layout.root.display()
                ),
                "run the command again: it works on the PKI that is there now",
            ));
        }
        self.meta = self.read_meta()?;
        Ok(lock)
    }

    /// The settings as they are now on disk (read again under the lock by every mutation:
    /// another process may have moved the CRL number on since `open`).
    fn read_meta(&self) -> Result<Meta> {
        read_meta(&self.layout)
    }

    pub fn ca_pem(&self) -> Result<String> {
        fsx::read_to_string(&self.layout.ca_cert())
    }

    pub fn ca_info(&self) -> Result<CertInfo> {
        cert::inspect(&self.ca_pem()?, "ca.crt")
    }

    /// The CA, ready to sign. Needs the passphrase when the key is encrypted.
    pub fn load_ca(&self, pass: Option<&Passphrase>) -> Result<Ca> {
        let cert_pem = self.ca_pem()?;
        if let Some(arn) = self.meta.kms_key() {
            let Some(key) = &self.kms else {
                return Err(Error::invalid(
                    format!("the CA key is the KMS key {arn}: signing needs AWS"),
                    "run the command with AWS credentials (and --region) that may use the key",
                ));
            };
            return Ca::load_signer(&cert_pem, cert::Signer::remote(key.clone())?);
        }
        let key_pem = fsx::read_to_string(&self.layout.ca_key())?;
        let key = keyenc::load_key(&key_pem, pass, "private/ca.key")?;
        Ca::load(&cert_pem, key)
    }

    pub fn index(&self) -> Result<Vec<Entry>> {
        let entries = index::parse(&fsx::read_to_string(&self.layout.index())?)?;
        // Every vpnctl PKI's index holds at least its server certificate.
        if !entries.iter().any(|e| e.cn == self.meta.server_name) {
            return Err(Error::corrupt(
                format!(
                    "index.txt has no entry for the server certificate {} (empty or truncated?)",
                    self.meta.server_name
                ),
                "restore index.txt from a backup (it is openssl's index format, one line per \
                    certificate)",
            ));
        }
        Ok(entries)
    }

    /// The file stem of a certificate's CN: "server" for the server, else the user name.
    fn stem<'a>(&self, cn: &'a str) -> &'a str {
        if cn == self.meta.server_name {
            SERVER
        } else {
            cn
        }
    }

    /// A user's current certificate and key, checked to belong together, to chain to the CA
    /// and to be valid now.
    pub fn user_material(&self, user: &str, now: OffsetDateTime) -> Result<UserMaterial> {
        let mut all = self.materials(std::slice::from_ref(&user.to_string()), now)?;
        all.pop().ok_or_else(|| {
            Error::not_found(
                format!("no certificate for user '{user}'"),
                "see `vpnctl pki list`",
            )
        })
    }

    /// `user_material` for many users, reading the index and the CA once.
    pub fn materials(&self, users: &[String], now: OffsetDateTime) -> Result<Vec<UserMaterial>> {
        let entries = self.index()?;
        let ca_pem = self.ca_pem()?;
        cert::inspect(&ca_pem, "ca.crt")?;
        // The latest entry per name, found once (a team's index holds thousands).
        let mut latest: std::collections::HashMap<&str, &Entry> = std::collections::HashMap::new();
        for e in &entries {
            latest.insert(&e.cn, e);
        }
        users
            .iter()
            .map(|u| self.material_of(u, latest.get(u.as_str()).copied(), &ca_pem, now))
            .collect()
    }

    fn material_of(
        &self,
        user: &str,
        latest: Option<&Entry>,
        ca_pem: &str,
        now: OffsetDateTime,
    ) -> Result<UserMaterial> {
        names::validate_user(user)?;
        match latest {
            None => {
                return Err(Error::not_found(
                    format!("no certificate for user '{user}'"),
                    format!("issue one first: `vpnctl pki issue {user}`"),
                ));
            }
            Some(e) if e.is_revoked() => {
                return Err(Error::conflict(
                    format!("user '{user}' is revoked"),
                    format!(
                        "a revoked user gets no profile; `vpnctl pki issue {user}` gives them a \
                            new certificate"
                    ),
                ));
            }
            Some(e) if e.not_after <= now => {
                return Err(Error::conflict(
                    format!(
                        "the certificate of '{user}' expired on {}",
                        date(e.not_after)
                    ),
                    format!("renew it: `vpnctl pki renew {user}`"),
                ));
            }
            Some(_) => {}
        }
        let cert_pem = fsx::read_to_string(&self.layout.cert(user))?;
        let info = cert::inspect(&cert_pem, &format!("issued/{user}.crt"))?;
        if latest.map(|e| &e.serial) != Some(&info.serial) {
            return Err(Error::corrupt(
                format!(
                    "issued/{user}.crt holds serial {}, not the one index.txt records for {user}",
                    info.serial
                ),
                format!("renew the user: `vpnctl pki renew {user}`"),
            ));
        }
        let key_pem = fsx::read_to_string(&self.layout.key(user))?;
        let key = cert::parse_key(&key_pem, &format!("private/{user}.key"))?;
        if !cert::key_matches(&key, &info) {
            return Err(Error::corrupt(
                format!("private/{user}.key does not belong to issued/{user}.crt"),
                format!("renew the user: `vpnctl pki renew {user}`"),
            ));
        }
        if !cert::signed_by(&cert_pem, ca_pem) {
            return Err(Error::corrupt(
                format!("issued/{user}.crt is not signed by this PKI's CA"),
                format!("renew the user: `vpnctl pki renew {user}`"),
            ));
        }
        Ok(UserMaterial {
            user: user.to_string(),
            ca_pem: ca_pem.to_string(),
            cert_pem,
            key_pem,
        })
    }

    /// Users whose current certificate is valid now and whose certificate and key are here, in
    /// index order; and the valid ones without their files (adopted from easy-rsa without a
    /// key, say), which get no profile but must not break the others.
    pub fn live_users(&self, now: OffsetDateTime) -> Result<(Vec<String>, Vec<String>)> {
        let (here, elsewhere) = self
            .current_entries()?
            .into_iter()
            .filter(|e| e.cn != self.meta.server_name && Status::of(e, now) == Status::Valid)
            .map(|e| e.cn)
            .partition(|u| self.layout.cert(u).is_file() && self.layout.key(u).is_file());
        Ok((here, elsewhere))
    }

    /// Record `deployment` as the one this PKI serves (setup with another --name, when the
    /// recorded one has no deployment), under the lock.
    pub fn record_deployment(&mut self, deployment: &str) -> Result<()> {
        names::validate_deployment(deployment)?;
        let _lock = Lock::acquire(&self.layout.lock())?;
        let mut meta = self.read_meta()?;
        meta.deployment = deployment.to_string();
        write_meta(&self.layout, &meta)?;
        self.meta = meta;
        Ok(())
    }

    /// Whether `user` has certificates and every one of them is revoked.
    pub fn revoked_entirely(&self, user: &str) -> Result<bool> {
        let entries = self.index()?;
        let mine: Vec<&Entry> = entries.iter().filter(|e| e.cn == user).collect();
        Ok(!mine.is_empty() && mine.iter().all(|e| e.is_revoked()))
    }

    /// The latest index entry per name, in first-appearance order.
    pub fn current_entries(&self) -> Result<Vec<Entry>> {
        Ok(latest_per_name(self.index()?))
    }

    pub fn server_cert_pem(&self) -> Result<String> {
        fsx::read_to_string(&self.layout.cert(SERVER))
    }
    pub fn server_key_pem(&self) -> Result<String> {
        fsx::read_to_string(&self.layout.key(SERVER))
    }
    pub fn crl_pem(&self) -> Result<String> {
        fsx::read_to_string(&self.layout.crl())
    }

    /// Where the current certificate of a user (or "server") is.
    pub fn cert_path(&self, name: &str) -> PathBuf {
        self.layout.cert(self.stem(name))
    }
}

/// Generate `n` RSA keys on all cores. Key generation is a random prime search (35–280 ms
/// each), so workers pull from a shared counter rather than taking fixed shares.
pub fn generate_keys(n: usize) -> Result<Vec<KeyPair>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let workers = std::thread::available_parallelism()
        .map(|c| c.get())
        .unwrap_or(1)
        .min(n)
        .max(1);
    let next = AtomicUsize::new(0);
    let results: Vec<Result<Vec<(usize, KeyPair)>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            return Ok(mine);
                        }
                        mine.push((i, cert::new_key()?));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(Error::corrupt("a key generation thread panicked", "retry"))
                })
            })
            .collect()
    });
    let mut all = Vec::with_capacity(n);
    for r in results {
        all.extend(r?);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, k)| k).collect())
}

pub fn date(t: OffsetDateTime) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

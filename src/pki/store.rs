//! The on-disk PKI: the only module that reads or writes `pki/`. Layout as easy-rsa users
//! expect (`ca.crt`, `private/` 0700, `issued/`, `index.txt`, `crl.pem`), plus `vpnctl.json`
//! for vpnctl's own settings. Every mutation validates first, builds everything in memory,
//! stages files, then commits under an exclusive lock, so bad input leaves the directory
//! byte-identical and concurrent vpnctl processes never corrupt the index or repeat a serial.

use super::cert::{self, Ca, CertInfo, Leaf, Serial};
use super::index::{self, Entry};
use super::keyenc::{self, Passphrase};
use super::names;
use crate::error::{Error, Result};
use crate::fsx::{self, Lock, Overwrite, PUBLIC, SECRET};
use rcgen::KeyPair;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

pub const DEFAULT_CA_DAYS: u32 = 3650;
pub const DEFAULT_CERT_DAYS: u32 = 825;
pub const DEFAULT_CRL_DAYS: u32 = 1825;
pub const MAX_DAYS: u32 = 36500;
/// Certificates, the CA and the CRL expiring within this many days are flagged.
pub const WARN_DAYS: i64 = 30;

const DIR_MODE: u32 = 0o755;
/// Written into every PKI directory that has none: key material never goes into git.
pub const GITIGNORE: &str = "# Key material never goes into git.\n*\n!README.md\n!.gitignore\n";
const PRIVATE_DIR_MODE: u32 = 0o700;
const SERVER: &str = "server";

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
    pub crl_number: u64,
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
#[derive(Debug, Clone)]
pub struct Pki {
    pub layout: Layout,
    pub meta: Meta,
}

/// Whether a PKI exists in `dir`.
pub fn exists(dir: &Path) -> bool {
    Layout::new(dir).markers().iter().any(|p| p.exists())
}

impl Pki {
    /// Create a CA, a server certificate and an empty CRL in `dir`.
    pub fn init(dir: &Path, opts: &InitOptions, now: OffsetDateTime) -> Result<Pki> {
        names::validate_deployment(&opts.deployment)?;
        let server_name = opts
            .server_name
            .clone()
            .unwrap_or_else(|| names::default_server_name(&opts.deployment));
        names::validate_server_name(&server_name)?;
        check_days(opts.ca_days, "--ca-days")?;
        check_days(opts.server_days, "--server-days")?;
        check_days(opts.crl_days, "--crl-days")?;
        let layout = Layout::new(dir);
        if dir.is_file() {
            return Err(Error::invalid(
                format!("{} is a file, not a directory", dir.display()),
                "choose a directory with --pki",
            ));
        }
        let existing: Vec<PathBuf> = layout
            .markers()
            .into_iter()
            .filter(|p| p.exists())
            .collect();
        if !existing.is_empty() && !opts.force {
            return Err(Error::conflict(
                format!("a PKI already exists in {}", dir.display()),
                "vpnctl never replaces a CA silently: use it as it is, choose another --pki, or pass --force (the old PKI is moved to a replaced-<time>-<random>/ folder)",
            ));
        }

        // Everything in memory first.
        let ca_key = cert::new_key()?;
        let server_key = cert::new_key()?;
        let ca_cn = format!("{} vpnctl CA", opts.deployment);
        let ca_pem = cert::make_ca(&ca_cn, &ca_key, &Serial::random()?, now, opts.ca_days)?;
        let ca_key_pem = keyenc::key_to_pem(&ca_key, opts.passphrase.as_ref())?;
        let ca = Ca::load(&ca_pem, ca_key)?;
        let server_serial = Serial::random()?;
        let server_pem = ca.sign(
            Leaf::Server(&server_name),
            &server_key,
            &server_serial,
            now,
            opts.server_days,
        )?;
        let server_info = cert::inspect(&server_pem, "the server certificate")?;
        let meta = Meta {
            format: 1,
            deployment: opts.deployment.clone(),
            server_name: server_name.clone(),
            crl_days: opts.crl_days,
            ca_key_encrypted: opts.passphrase.is_some(),
            crl_number: 1,
        };
        let crl_pem = ca.crl(
            &[],
            now,
            now + Duration::days(i64::from(opts.crl_days)),
            meta.crl_number,
        )?;
        let index_text = index::render(&[Entry::valid(
            &server_name,
            server_serial,
            server_info.not_after,
        )]);

        fsx::ensure_dir(dir, DIR_MODE)?;
        if !existing.is_empty() {
            // Another vpnctl must not issue into the PKI while it is moved aside.
            let _lock = Lock::acquire(&layout.lock())?;
            // A fresh folder every time (create_dir fails on an existing one), so a second
            // --force within the same second can never overwrite the first one's copy.
            let aside = loop {
                let mut r = [0u8; 3];
                fsx::random(&mut r)?;
                let candidate = dir.join(format!(
                    "replaced-{}-{}",
                    now.unix_timestamp(),
                    fsx::hex(&r)
                ));
                match std::fs::create_dir(&candidate) {
                    Ok(()) => break candidate,
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(Error::io("create", &candidate, e)),
                }
            };
            fsx::ensure_dir(&aside, PRIVATE_DIR_MODE)?;
            for p in &existing {
                let to = aside.join(p.file_name().unwrap_or_default());
                std::fs::rename(p, &to).map_err(|e| Error::io("move aside", p, e))?;
            }
        }
        fsx::ensure_dir(&layout.private_dir(), PRIVATE_DIR_MODE)?;
        fsx::ensure_dir(&layout.issued_dir(), DIR_MODE)?;
        let gitignore = dir.join(".gitignore");
        if !gitignore.exists() {
            fsx::write_atomic(&gitignore, GITIGNORE.as_bytes(), PUBLIC, Overwrite::Refuse)?;
        }
        fsx::write_atomic(
            &layout.ca_key(),
            ca_key_pem.as_bytes(),
            SECRET,
            Overwrite::Refuse,
        )?;
        fsx::write_atomic(
            &layout.key(SERVER),
            server_key.serialize_pem().as_bytes(),
            SECRET,
            Overwrite::Refuse,
        )?;
        fsx::write_atomic(
            &layout.ca_cert(),
            ca_pem.as_bytes(),
            PUBLIC,
            Overwrite::Refuse,
        )?;
        fsx::write_atomic(
            &layout.cert(SERVER),
            server_pem.as_bytes(),
            PUBLIC,
            Overwrite::Refuse,
        )?;
        fsx::write_atomic(&layout.crl(), crl_pem.as_bytes(), PUBLIC, Overwrite::Refuse)?;
        fsx::write_atomic(
            &layout.index(),
            index_text.as_bytes(),
            PUBLIC,
            Overwrite::Refuse,
        )?;
        let pki = Pki { layout, meta };
        pki.write_meta()?;
        Ok(pki)
    }

    pub fn open(dir: &Path) -> Result<Pki> {
        let layout = Layout::new(dir);
        if !layout.meta().exists() {
            let hint = if layout.ca_cert().exists() && layout.index().exists() {
                format!(
                    "this looks like an easy-rsa PKI: adopt it with `vpnctl pki import-easyrsa {}` into a new --pki directory",
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
        let text = fsx::read_to_string(&layout.meta())?;
        let meta: Meta = serde_json::from_str(&text).map_err(|e| {
            Error::corrupt(
                format!("{} is not valid ({e})", layout.meta().display()),
                "restore vpnctl.json from a backup",
            )
        })?;
        Ok(Pki { layout, meta })
    }

    fn write_meta(&self) -> Result<()> {
        let text = serde_json::to_string_pretty(&self.meta).unwrap_or_default() + "\n";
        fsx::write_atomic(
            &self.layout.meta(),
            text.as_bytes(),
            PUBLIC,
            Overwrite::Replace,
        )
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
                "restore index.txt from a backup (it is openssl's index format, one line per certificate)",
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

    /// Issue one client certificate per user. Keys are generated in parallel across cores,
    /// outside the lock; serials and the index are settled under it.
    pub fn issue(
        &self,
        users: &[String],
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
                    format!("user '{u}' is named twice"),
                    "name each user once",
                ));
            }
        }
        let ca = self.load_ca(pass)?;
        self.check_issuable(users, &self.index()?, force, now)?;

        let keys = generate_keys(users.len())?;

        let _lock = Lock::acquire(&self.layout.lock())?;
        let mut entries = self.index()?;
        self.check_issuable(users, &entries, force, now)?;
        let mut taken: HashSet<Serial> = entries.iter().map(|e| e.serial.clone()).collect();
        let mut staged = Vec::new();
        let mut issued = Vec::new();
        for (user, key) in users.iter().zip(&keys) {
            let serial = loop {
                let s = Serial::random()?;
                if taken.insert(s.clone()) {
                    break s;
                }
            };
            let pem = ca.sign(Leaf::Client(user), key, &serial, now, days)?;
            let not_after = cert::inspect(&pem, "a new certificate")?.not_after;
            staged.push(fsx::stage(
                &self.layout.key(user),
                key.serialize_pem().as_bytes(),
                SECRET,
            )?);
            staged.push(fsx::stage(&self.layout.cert(user), pem.as_bytes(), PUBLIC)?);
            entries.push(Entry::valid(user, serial.clone(), not_after));
            issued.push(Issued {
                name: user.clone(),
                serial,
                not_after,
            });
        }
        let overwrite = if force {
            Overwrite::Replace
        } else {
            Overwrite::Refuse
        };
        fsx::commit_all(staged, overwrite)?;
        fsx::write_atomic(
            &self.layout.index(),
            index::render(&entries).as_bytes(),
            PUBLIC,
            Overwrite::Replace,
        )?;
        Ok(issued)
    }

    fn check_issuable(
        &self,
        users: &[String],
        entries: &[Entry],
        force: bool,
        now: OffsetDateTime,
    ) -> Result<()> {
        for u in users {
            if let Some(e) = entries
                .iter()
                .rev()
                .find(|e| e.cn.eq_ignore_ascii_case(u) && !e.is_revoked() && e.is_live(now))
            {
                let what = if &e.cn == u {
                    format!(
                        "user '{u}' already has a valid certificate (serial {}, until {})",
                        e.serial,
                        date(e.not_after)
                    )
                } else {
                    format!(
                        "user '{u}' clashes with existing user '{}' (names differ only in case)",
                        e.cn
                    )
                };
                return Err(Error::conflict(
                    what,
                    format!(
                        "to replace it use `vpnctl pki renew {}`; to remove it, `vpnctl pki revoke {}`",
                        e.cn, e.cn
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
                            "it is left from an interrupted or expired issue: move it away, or pass --force to replace it",
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Revoke every unrevoked certificate of `user`, retire its files, regenerate the CRL and
    /// remove its profile (which would only fail to connect).
    pub fn revoke(
        &self,
        user: &str,
        pass: Option<&Passphrase>,
        now: OffsetDateTime,
    ) -> Result<Vec<Serial>> {
        if user == SERVER || user == self.meta.server_name {
            return Err(Error::invalid(
                "the server certificate is not revoked this way",
                "to replace it, run `vpnctl pki renew server`",
            ));
        }
        names::validate_user(user)?;
        let ca = self.load_ca(pass)?;
        let _lock = Lock::acquire(&self.layout.lock())?;
        let mut entries = self.index()?;
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
                        e.revoked_at.map(date).unwrap_or_default()
                    ),
                    format!(
                        "nothing to do; to give '{user}' access again, `vpnctl pki issue {user}`"
                    ),
                ),
                None => Error::not_found(
                    format!("no certificate for user '{user}'"),
                    "see the users with `vpnctl pki list`",
                ),
            });
        }
        let mut serials = Vec::new();
        for i in targets {
            entries[i].revoke(now, "cessationOfOperation");
            serials.push(entries[i].serial.clone());
        }
        let crl = self.build_crl(&ca, &entries, now, self.meta.crl_days)?;
        self.commit_index_and_crl(&entries, &crl, self.meta.crl_days)?;
        let current = serials.last().cloned();
        if let Some(serial) = current {
            self.retire(user, "revoked", &serial)?;
        }
        let profile = self.layout.profile(user);
        if profile.exists() {
            std::fs::remove_file(&profile).map_err(|e| Error::io("remove", &profile, e))?;
        }
        Ok(serials)
    }

    fn retire(&self, stem: &str, why: &str, serial: &Serial) -> Result<()> {
        let cert = self.layout.cert(stem);
        if cert.exists() {
            fsx::move_file(&cert, &self.layout.retired_cert(why, serial), DIR_MODE)?;
        }
        let key = self.layout.key(stem);
        if key.exists() {
            fsx::move_file(
                &key,
                &self.layout.retired_key(why, serial),
                PRIVATE_DIR_MODE,
            )?;
        }
        Ok(())
    }

    fn build_crl(
        &self,
        ca: &Ca,
        entries: &[Entry],
        now: OffsetDateTime,
        crl_days: u32,
    ) -> Result<String> {
        let revoked = index::revoked(entries, now);
        ca.crl(
            &revoked,
            now,
            now + Duration::days(i64::from(crl_days)),
            self.meta.crl_number + 1,
        )
    }

    /// Index first, then the CRL: after a crash in between, `list` sees the CRL disagree with
    /// the index and says to run `vpnctl pki crl`.
    fn commit_index_and_crl(&self, entries: &[Entry], crl: &str, crl_days: u32) -> Result<()> {
        let old_index = fsx::read_to_string(&self.layout.index())?;
        let new_index = fsx::stage(
            &self.layout.index(),
            index::render(entries).as_bytes(),
            PUBLIC,
        )?;
        let new_crl = fsx::stage(&self.layout.crl(), crl.as_bytes(), PUBLIC)?;
        new_index.commit(Overwrite::Replace)?;
        if let Err(e) = new_crl.commit(Overwrite::Replace) {
            // A revocation the CRL does not carry must not look done: put the index back.
            let _ = fsx::write_atomic(
                &self.layout.index(),
                old_index.as_bytes(),
                PUBLIC,
                Overwrite::Replace,
            );
            return Err(e);
        }
        let mut pki = self.clone();
        pki.meta.crl_number += 1;
        pki.meta.crl_days = crl_days;
        pki.write_meta()
    }

    /// Regenerate the CRL from the index, e.g. to push its next-update further out.
    pub fn regenerate_crl(
        &self,
        crl_days: Option<u32>,
        pass: Option<&Passphrase>,
        now: OffsetDateTime,
    ) -> Result<OffsetDateTime> {
        let days = crl_days.unwrap_or(self.meta.crl_days);
        check_days(days, "--days")?;
        let ca = self.load_ca(pass)?;
        let _lock = Lock::acquire(&self.layout.lock())?;
        let entries = self.index()?;
        let crl = self.build_crl(&ca, &entries, now, days)?;
        self.commit_index_and_crl(&entries, &crl, days)?;
        Ok(now + Duration::days(i64::from(days)))
    }

    /// A new key and certificate with the same name. The old certificate is revoked as
    /// superseded (so an old profile stops working once the CRL is deployed) and its files are
    /// kept under `renewed/`. The server keeps its CN, so `verify-x509-name` in existing
    /// profiles still matches.
    pub fn renew(
        &self,
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
                "a new CA is a new PKI: `vpnctl pki init --force` (every user then needs a new certificate and profile)",
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
        let _lock = Lock::acquire(&self.layout.lock())?;
        let mut entries = self.index()?;
        let Some(i) = entries.iter().rposition(|e| e.cn == cn && !e.is_revoked()) else {
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
        };
        let taken: HashSet<Serial> = entries.iter().map(|e| e.serial.clone()).collect();
        let serial = loop {
            let s = Serial::random()?;
            if !taken.contains(&s) {
                break s;
            }
        };
        let leaf = if is_server {
            Leaf::Server(&cn)
        } else {
            Leaf::Client(&cn)
        };
        let pem = ca.sign(leaf, &key, &serial, now, days)?;
        let not_after = cert::inspect(&pem, "the new certificate")?.not_after;
        let stem = self.stem(&cn).to_string();
        let new_key = fsx::stage(
            &self.layout.key(&stem),
            key.serialize_pem().as_bytes(),
            SECRET,
        )?;
        let new_cert = fsx::stage(&self.layout.cert(&stem), pem.as_bytes(), PUBLIC)?;
        let old_serial = entries[i].serial.clone();
        entries[i].revoke(now, "superseded");
        entries.push(Entry::valid(&cn, serial.clone(), not_after));
        let crl = self.build_crl(&ca, &entries, now, self.meta.crl_days)?;
        // Index and CRL first (they roll back together); the files follow.
        self.commit_index_and_crl(&entries, &crl, self.meta.crl_days)?;
        self.retire(&stem, "renewed", &old_serial)?;
        new_key.commit(Overwrite::Refuse)?;
        new_cert.commit(Overwrite::Refuse)?;
        Ok(Issued {
            name: cn,
            serial,
            not_after,
        })
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
        users
            .iter()
            .map(|u| self.material_of(u, &entries, &ca_pem, now))
            .collect()
    }

    fn material_of(
        &self,
        user: &str,
        entries: &[Entry],
        ca_pem: &str,
        now: OffsetDateTime,
    ) -> Result<UserMaterial> {
        names::validate_user(user)?;
        match entries.iter().rev().find(|e| e.cn == user) {
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
                        "a revoked user gets no profile; `vpnctl pki issue {user}` gives them a new certificate"
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

    /// Users whose current certificate is valid now, in index order.
    pub fn live_users(&self, now: OffsetDateTime) -> Result<Vec<String>> {
        Ok(self
            .current_entries()?
            .into_iter()
            .filter(|e| e.cn != self.meta.server_name && Status::of(e, now) == Status::Valid)
            .map(|e| e.cn)
            .collect())
    }

    /// The latest index entry per name, in first-appearance order.
    pub fn current_entries(&self) -> Result<Vec<Entry>> {
        let mut latest: BTreeMap<String, (usize, Entry)> = BTreeMap::new();
        for (i, e) in self.index()?.into_iter().enumerate() {
            let first = latest.get(&e.cn).map(|(f, _)| *f).unwrap_or(i);
            latest.insert(e.cn.clone(), (first, e));
        }
        let mut v: Vec<_> = latest.into_values().collect();
        v.sort_by_key(|(i, _)| *i);
        Ok(v.into_iter().map(|(_, e)| e).collect())
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

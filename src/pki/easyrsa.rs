//! Adoption of an easy-rsa 3 PKI (what AWS's own Client VPN guide tells people to create):
//! the CA, the server certificate, every user's certificate and key, and the index's whole
//! history — every serial, date and revocation, and names with several certificates (revoked
//! and issued again, or renewed with the old certificate still valid). The source is only read.
//!
//! The adopted PKI is built complete in a hidden folder beside the destination
//! (`.NAME.import-PID-RANDOM/`, on the same file system) and renamed into place in one step:
//! a killed import leaves either no PKI at the destination or the whole one. The folder a
//! killed import leaves behind is removed by the next import.

use super::cert::{self, Ca, CertInfo, Leaf, Serial};
use super::index::{self, Entry};
use super::keyenc::{self, Passphrase};
use super::names;
use super::store::{self, Layout, Meta, Pki};
use crate::error::{Error, Result};
use crate::fsx::{self, Overwrite, PUBLIC, SECRET};
use std::collections::{HashMap, HashSet};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// The PKI directory, `private/` and `issued/`, as `store` makes them.
const DIR_MODE: u32 = 0o700;
const STAGING_INFIX: &str = ".import-";

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub deployment: String,
    /// The easy-rsa entity (file name) of the server certificate, when it is not obvious.
    pub server: Option<String>,
    /// Issue a new server certificate with this FQDN from the imported CA (needed when the
    /// easy-rsa one would be refused by AWS, e.g. CN "server").
    pub server_name: Option<String>,
    pub crl_days: u32,
}

#[derive(Debug, Default)]
pub struct ImportReport {
    pub server_name: String,
    pub server_reissued: bool,
    pub users: Vec<String>,
    pub revoked: usize,
    /// Entries kept in the index but whose files were not adopted, with why.
    pub skipped: Vec<(String, String)>,
    /// Older certificates of an adopted name that are still valid (the CA vouches for them
    /// until they expire or are revoked), kept `V` in the index without files: name and serial.
    /// `easyrsa renew` leaves one behind.
    pub kept_valid: Vec<(String, Serial)>,
}

impl ImportReport {
    /// One line per `kept_valid` certificate, for the command to print.
    pub fn kept_valid_lines(&self) -> Vec<String> {
        self.kept_valid
            .iter()
            .map(|(name, serial)| {
                if *name == self.server_name {
                    format!(
                        "kept valid in the index: older server certificate {name} \
                         (serial {serial}); it stays valid until it expires"
                    )
                } else {
                    format!(
                        "kept valid in the index: older certificate of {name} (serial {serial}); \
                         `vpnctl pki revoke {name}` revokes every one"
                    )
                }
            })
            .collect()
    }
}

/// A certificate file of the source and where its key would be.
struct Found {
    /// Relative to the source, for messages.
    rel: String,
    /// The easy-rsa entity, for a file named by it (`issued/ENTITY.crt`).
    entity: Option<String>,
    info: CertInfo,
    pem: String,
    /// Relative to the source.
    key: Option<PathBuf>,
}

/// Where a certificate's key is, given the certificate's file stem.
#[derive(Clone, Copy)]
enum KeyAt {
    /// `DIR/STEM.key`, the stem being the entity.
    Entity(&'static str),
    /// `DIR/STEM.key`, the stem being the serial.
    Serial(&'static str),
    /// `private/CN.key` (openssl names its copies by serial only).
    Cn,
}

/// Where easy-rsa keeps certificates, most authoritative first: `issued/` (the current ones),
/// where `renew` moves the old one (3.1: `renewed/issued/`; 3.0: `renewed/certs_by_serial/`),
/// where `revoke` moves it, and openssl's own copy of every certificate it signed.
const PLACES: &[(&str, &str, KeyAt)] = &[
    ("issued", "crt", KeyAt::Entity("private")),
    ("renewed/issued", "crt", KeyAt::Entity("renewed/private")),
    (
        "renewed/certs_by_serial",
        "crt",
        KeyAt::Serial("renewed/private_by_serial"),
    ),
    (
        "revoked/certs_by_serial",
        "crt",
        KeyAt::Serial("revoked/private_by_serial"),
    ),
    ("certs_by_serial", "pem", KeyAt::Cn),
];

/// Every readable certificate in `PLACES`, in that order and by file name within a place.
/// An unreadable file in `issued/` is reported; elsewhere it is ignored.
fn scan(root: &Path, report: &mut ImportReport) -> Vec<Found> {
    let mut found = Vec::new();
    for (dir, ext, key_at) in PLACES {
        let Ok(rd) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut files: Vec<(String, PathBuf)> = rd
            .flatten()
            .filter_map(|f| {
                let path = f.path();
                let stem = path.file_stem()?.to_str()?.to_string();
                path.extension()
                    .is_some_and(|e| e == *ext)
                    .then_some((stem, path))
            })
            .collect();
        files.sort();
        for (stem, path) in files {
            let rel = format!("{dir}/{stem}.{ext}");
            let info = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|pem| match cert::inspect(&pem, &rel) {
                    Ok(info) => Ok((info, pem)),
                    Err(e) => Err(e.to_string()),
                });
            let (info, pem) = match info {
                Ok(x) => x,
                Err(why) => {
                    if *dir == "issued" {
                        report
                            .skipped
                            .push((rel, format!("not a readable certificate ({why})")));
                    }
                    continue;
                }
            };
            let (entity, key) = match key_at {
                KeyAt::Entity(d) => (
                    Some(stem.clone()),
                    Some(Path::new(d).join(format!("{stem}.key"))),
                ),
                KeyAt::Serial(d) => (None, Some(Path::new(d).join(format!("{stem}.key")))),
                // The CN becomes a path only when it is a name vpnctl would adopt anyway.
                KeyAt::Cn => (
                    None,
                    names::validate_user(&info.cn)
                        .ok()
                        .map(|_| Path::new("private").join(format!("{}.key", info.cn))),
                ),
            };
            found.push(Found {
                rel,
                entity,
                info,
                pem,
                key,
            });
        }
    }
    found
}

/// One name of the index and its certificates that are not revoked.
struct Name {
    cn: String,
    /// Index positions of its entries that are not revoked.
    valid: Vec<usize>,
    /// Of those, the current one: the newest whose certificate was found (latest notBefore,
    /// then latest in the index). Its files are the ones adopted.
    current: Option<usize>,
}

/// The names of `entries` in order of first appearance, with their current certificates.
/// `cert_of[i]` is the certificate found for entry `i`.
fn names_of(entries: &[Entry], cert_of: &[Option<&Found>]) -> Vec<Name> {
    let mut names: Vec<Name> = Vec::new();
    let mut at: HashMap<&str, usize> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        let k = *at.entry(&e.cn).or_insert_with(|| {
            names.push(Name {
                cn: e.cn.clone(),
                valid: Vec::new(),
                current: None,
            });
            names.len() - 1
        });
        if !e.is_revoked() {
            names[k].valid.push(i);
        }
    }
    for n in &mut names {
        n.current = n
            .valid
            .iter()
            .filter_map(|&i| cert_of[i].map(|f| (f.info.not_before, i)))
            .max()
            .map(|(_, i)| i);
    }
    names
}

/// The index with each name's current entry moved after every other entry of that name, since
/// vpnctl takes a name's last entry as its current certificate (easy-rsa's order can put a
/// revoked entry after the valid one). Nothing else moves.
fn current_last(entries: Vec<Entry>, names: &[Name]) -> Vec<Entry> {
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        last.insert(&e.cn, i);
    }
    let current: HashSet<usize> = names.iter().filter_map(|n| n.current).collect();
    let mut keyed: Vec<((usize, bool), Entry)> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let key = if current.contains(&i) {
                (last[e.cn.as_str()], true)
            } else {
                (i, false)
            };
            (key, e.clone())
        })
        .collect();
    keyed.sort_by_key(|(k, _)| *k);
    keyed.into_iter().map(|(_, e)| e).collect()
}

/// Where the adopted PKI goes.
struct Target {
    /// The destination as given, and resolved (symbolic links followed).
    given: PathBuf,
    path: PathBuf,
    parent: PathBuf,
    name: String,
}

impl Target {
    /// Refuse a destination that holds a PKI or anything else: the import never mixes its
    /// files with others, and a rename can replace only an empty directory.
    fn resolve(dest: &Path) -> Result<Target> {
        let path = if std::fs::symlink_metadata(dest).is_ok() {
            std::fs::canonicalize(dest).map_err(|e| Error::io("resolve", dest, e))?
        } else {
            dest.to_path_buf()
        };
        if path.exists() && !path.is_dir() {
            return Err(Error::invalid(
                format!("{} is a file, not a directory", dest.display()),
                "choose a directory with --pki",
            ));
        }
        if store::exists(&path) {
            return Err(Error::conflict(
                format!("a PKI already exists in {}", dest.display()),
                "import into a new directory with --pki DIR",
            ));
        }
        if path.is_dir() {
            let mut rd = std::fs::read_dir(&path).map_err(|e| Error::io("read", dest, e))?;
            if rd.next().is_some() {
                return Err(Error::conflict(
                    format!("{} is not empty (it holds no PKI)", dest.display()),
                    format!(
                        "the import writes a whole PKI into a new or empty directory: choose \
                         another --pki, or move what is in {} elsewhere first",
                        dest.display()
                    ),
                ));
            }
            let cwd = std::env::current_dir()
                .ok()
                .and_then(|d| d.canonicalize().ok());
            if cwd.is_some_and(|d| d.starts_with(&path)) {
                return Err(Error::invalid(
                    format!("{} is the current directory", dest.display()),
                    "import into a new directory below it: --pki pki",
                ));
            }
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| n != "..")
            .ok_or_else(|| {
                Error::invalid(
                    format!("{} names no directory", dest.display()),
                    "give --pki a directory name, e.g. --pki adopted",
                )
            })?;
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        Ok(Target {
            given: dest.to_path_buf(),
            path,
            parent,
            name,
        })
    }
}

/// The hidden folder the PKI is built in; removed unless it was renamed into place.
struct Staging {
    dir: PathBuf,
    published: bool,
}

impl Staging {
    fn create(t: &Target) -> Result<Staging> {
        if !t.parent.exists() {
            std::fs::create_dir_all(&t.parent)
                .map_err(|e| Error::io("create directory", &t.parent, e))?;
        }
        remove_stale(t);
        loop {
            let mut r = [0u8; 6];
            fsx::random(&mut r)?;
            let dir = t.parent.join(format!(
                ".{}{STAGING_INFIX}{}-{}",
                t.name,
                std::process::id(),
                fsx::hex(&r)
            ));
            match std::fs::DirBuilder::new().mode(DIR_MODE).create(&dir) {
                Ok(()) => {
                    let staging = Staging {
                        dir,
                        published: false,
                    };
                    set_mode(&staging.dir, DIR_MODE)?;
                    return Ok(staging);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io("create directory", &dir, e)),
            }
        }
    }

    /// Write the PKI's files (paths relative to the PKI) and make them durable.
    fn fill(&self, files: &[(PathBuf, String, u32)]) -> Result<()> {
        for sub in ["private", "issued"] {
            let d = self.dir.join(sub);
            std::fs::DirBuilder::new()
                .mode(DIR_MODE)
                .create(&d)
                .map_err(|e| Error::io("create directory", &d, e))?;
            set_mode(&d, DIR_MODE)?;
        }
        for (rel, data, mode) in files {
            fsx::write_atomic(
                &self.dir.join(rel),
                data.as_bytes(),
                *mode,
                Overwrite::Refuse,
            )?;
        }
        for d in [
            self.dir.join("private"),
            self.dir.join("issued"),
            self.dir.clone(),
        ] {
            sync_dir(&d)?;
        }
        Ok(())
    }

    /// Rename the folder into place: the one step that makes the PKI appear, whole.
    fn publish(mut self, t: &Target) -> Result<()> {
        std::fs::rename(&self.dir, &t.path).map_err(|e| {
            use std::io::ErrorKind::{AlreadyExists, DirectoryNotEmpty};
            if matches!(e.kind(), AlreadyExists | DirectoryNotEmpty) {
                Error::conflict(
                    format!(
                        "{} was filled by something else during the import",
                        t.given.display()
                    ),
                    "nothing was imported; run the import again into a new directory",
                )
            } else {
                Error::io("move the imported PKI to", &t.path, e)
            }
        })?;
        self.published = true;
        sync_dir(&t.parent)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Remove the staging folders of imports into the same destination whose process is gone
/// (killed). Without /proc a live import cannot be told from a dead one: they stay.
fn remove_stale(t: &Target) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let prefix = format!(".{}{STAGING_INFIX}", t.name);
    let Ok(rd) = std::fs::read_dir(&t.parent) else {
        return;
    };
    for f in rd.flatten() {
        let name = f.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let gone = pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists();
        if gone && f.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir_all(f.path());
        }
    }
}

fn set_mode(p: &Path, mode: u32) -> Result<()> {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io("set permissions of", p, e))
}

fn sync_dir(d: &Path) -> Result<()> {
    std::fs::File::open(d)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io("sync", d, e))
}

/// The CRL number of the adopted PKI's first CRL: above easy-rsa's `crlnumber` (the next
/// number openssl would use) and above the number of its `crl.pem`, so that a CRL vpnctl makes
/// supersedes easy-rsa's wherever both are seen.
fn first_crl_number(root: &Path) -> Result<u64> {
    let file = std::fs::read_to_string(root.join("crlnumber"))
        .ok()
        .and_then(|s| u64::from_str_radix(s.trim(), 16).ok());
    let crl = std::fs::read_to_string(root.join("crl.pem"))
        .ok()
        .and_then(|pem| cert::crl_number(&pem));
    let floor = file.into_iter().chain(crl).max().unwrap_or(0);
    floor.checked_add(1).ok_or_else(|| {
        Error::invalid(
            "the easy-rsa CRL number is too large for vpnctl (more than 64 bits)",
            "import a PKI whose crlnumber and crl.pem number fit in 64 bits",
        )
    })
}

pub fn import(
    src_dir: &Path,
    dest: &Path,
    opts: &ImportOptions,
    pass: Option<&Passphrase>,
    now: OffsetDateTime,
) -> Result<(Pki, ImportReport)> {
    names::validate_deployment(&opts.deployment)?;
    store::check_days(opts.crl_days, "--crl-days")?;
    if let Some(n) = &opts.server_name {
        names::validate_server_name(n)?;
    }
    let root = src_dir;
    for need in ["ca.crt", "private/ca.key", "index.txt"] {
        if !root.join(need).exists() {
            return Err(Error::not_found(
                format!(
                    "{} is not an easy-rsa PKI: {need} is missing",
                    src_dir.display()
                ),
                "point at the easy-rsa 'pki' directory (the one holding ca.crt, private/ and \
                 index.txt)",
            ));
        }
    }
    let target = Target::resolve(dest)?;

    let ca_pem = fsx::read_to_string(&root.join("ca.crt"))?;
    let ca_key_pem = fsx::read_to_string(&root.join("private/ca.key"))?;
    let ca = Ca::load(
        &ca_pem,
        keyenc::load_key(&ca_key_pem, pass, "the easy-rsa CA key")?,
    )?;
    let mut entries = index::parse(&fsx::read_to_string(&root.join("index.txt"))?)?;
    let crl_number = first_crl_number(root)?;

    let mut report = ImportReport {
        revoked: entries.iter().filter(|e| e.is_revoked()).count(),
        ..ImportReport::default()
    };
    // easy-rsa names files by entity, which is usually but not always the CN, and moves
    // renewed and revoked certificates elsewhere: find each entry's certificate by serial.
    let found = scan(root, &mut report);
    let mut by_serial: HashMap<&Serial, Vec<&Found>> = HashMap::new();
    for f in &found {
        by_serial.entry(&f.info.serial).or_default().push(f);
    }
    let mut cert_of: Vec<Option<&Found>> = vec![None; entries.len()];
    for (i, e) in entries.iter().enumerate() {
        if e.is_revoked() {
            continue;
        }
        // Of several copies, the first whose key is there (`issued/ALICE.crt` may copy
        // `issued/alice.crt`).
        let Some(copies) = by_serial.get(&e.serial) else {
            continue;
        };
        let has_key = |f: &&&Found| f.key.as_ref().is_some_and(|k| root.join(k).is_file());
        let f = copies.iter().find(has_key).unwrap_or(&copies[0]);
        if !cert::signed_by(&f.pem, &ca_pem) {
            return Err(Error::corrupt(
                format!("{} is not signed by this CA", f.rel),
                "the easy-rsa directory mixes PKIs; import a consistent one",
            ));
        }
        if f.info.cn == e.cn {
            cert_of[i] = Some(f);
        } else {
            report.skipped.push((
                e.cn.clone(),
                format!(
                    "{} has serial {} but CN '{}' (it stays in the index)",
                    f.rel, e.serial, f.info.cn
                ),
            ));
        }
    }
    let names = names_of(&entries, &cert_of);
    let current = |n: &Name| n.current.and_then(|i| cert_of[i]);

    // The server: the name given, else the one current certificate with serverAuth only.
    let servers: Vec<(usize, &Found)> = names
        .iter()
        .enumerate()
        .filter_map(|(k, n)| current(n).map(|f| (k, f)))
        .filter(|(_, f)| match &opts.server {
            Some(s) => f.entity.as_ref() == Some(s) || &f.info.cn == s,
            None => f.info.server_auth && !f.info.client_auth,
        })
        .collect();
    let (server_k, s) = match servers.as_slice() {
        [one] => *one,
        [] => {
            return Err(Error::not_found(
                match &opts.server {
                    Some(n) => format!("no valid certificate '{n}' in the easy-rsa PKI"),
                    None => "the easy-rsa PKI has no valid server certificate".to_string(),
                },
                "name it with --server ENTITY, or give --server-name FQDN to issue a new one \
                 from the imported CA",
            ));
        }
        many => {
            return Err(Error::invalid(
                format!(
                    "the easy-rsa PKI has {} server certificates ({})",
                    many.len(),
                    many.iter()
                        .map(|(k, _)| names[*k].cn.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "choose one with --server ENTITY",
            ));
        }
    };

    // Paths relative to the PKI directory.
    let layout = Layout::new("");
    let mut files: Vec<(PathBuf, String, u32)> = Vec::new();
    let s_name = &names[server_k];
    let problems = cert::aws_server_problems(&s.info);
    let mut new_server: Option<Entry> = None;
    let server_name = if problems.is_empty()
        && opts.server_name.as_ref().is_none_or(|n| n == &s.info.cn)
    {
        let key_pem = match &s.key {
            Some(k) => fsx::read_to_string(&root.join(k))?,
            None => {
                return Err(Error::not_found(
                    format!("the easy-rsa server key for {} is not found", s.rel),
                    "give --server-name FQDN to issue a new server certificate from the \
                     imported CA",
                ));
            }
        };
        if !cert::key_matches(
            &cert::parse_key(&key_pem, "the easy-rsa server key")?,
            &s.info,
        ) {
            return Err(Error::corrupt(
                "the easy-rsa server key does not match its certificate",
                "fix the easy-rsa PKI or give --server-name to issue a new server certificate",
            ));
        }
        files.push((layout.cert("server"), s.pem.clone(), PUBLIC));
        files.push((layout.key("server"), key_pem, SECRET));
        s.info.cn.clone()
    } else {
        let Some(name) = opts.server_name.clone() else {
            return Err(Error::invalid(
                format!(
                    "AWS Client VPN would refuse the easy-rsa server certificate '{}': {}",
                    s.info.cn,
                    problems.join("; ")
                ),
                "give --server-name FQDN (e.g. vpn.example.internal) to issue an acceptable one \
                 from the imported CA",
            ));
        };
        let key = cert::new_key()?;
        let serial = loop {
            let s = Serial::random()?;
            if entries.iter().all(|e| e.serial != s) {
                break s;
            }
        };
        let pem = ca.sign(
            Leaf::Server(&name),
            &key,
            &serial,
            now,
            store::DEFAULT_CERT_DAYS,
        )?;
        let not_after = cert::inspect(&pem, "the new server certificate")?.not_after;
        new_server = Some(Entry::valid(&name, serial, not_after));
        files.push((layout.cert("server"), pem, PUBLIC));
        files.push((layout.key("server"), key.serialize_pem(), SECRET));
        report.server_reissued = true;
        name
    };
    report.server_name = server_name.clone();

    // Users: every other name with a current certificate. The first of two names that differ
    // only in case keeps it; on a case-insensitive file system their files would be one.
    let mut taken: HashMap<String, String> = HashMap::new();
    for (k, n) in names.iter().enumerate() {
        if k == server_k {
            continue;
        }
        let Some(f) = current(n) else {
            // (A certificate found under another CN was reported above.)
            if !n.valid.is_empty() && !report.skipped.iter().any(|(c, _)| *c == n.cn) {
                let serials: Vec<String> =
                    n.valid.iter().map(|&i| entries[i].serial.hex()).collect();
                report.skipped.push((
                    n.cn.clone(),
                    format!(
                        "no certificate with serial {} in issued/, renewed/, revoked/ or \
                         certs_by_serial/ (it stays valid in the index)",
                        serials.join(", ")
                    ),
                ));
            }
            continue;
        };
        if let Err(why) = adoptable(n, f, &server_name, &s_name.cn, &mut taken) {
            report.skipped.push((n.cn.clone(), why));
            continue;
        }
        match user_key(root, n, f) {
            Ok(key_pem) => {
                files.push((layout.cert(&n.cn), f.pem.clone(), PUBLIC));
                files.push((layout.key(&n.cn), key_pem, SECRET));
                report.users.push(n.cn.clone());
            }
            Err(why) => report.skipped.push((n.cn.clone(), why)),
        }
    }

    // Older certificates still valid stay so; a replaced server's are superseded.
    for (k, n) in names.iter().enumerate() {
        for &i in &n.valid {
            if Some(i) == n.current || !entries[i].is_live(now) {
                continue;
            }
            if k == server_k && report.server_reissued {
                continue;
            }
            if n.current.is_some() {
                report
                    .kept_valid
                    .push((n.cn.clone(), entries[i].serial.clone()));
            }
        }
    }
    if report.server_reissued {
        for &i in &s_name.valid {
            entries[i].revoke(now, "superseded");
        }
    }
    let mut entries = current_last(entries, &names);
    entries.extend(new_server);

    let crl = ca.crl(
        &index::revoked(&entries, now),
        now,
        now + Duration::days(i64::from(opts.crl_days)),
        crl_number,
    )?;
    let ca_key_encrypted = keyenc::is_encrypted(&ca_key_pem);
    // An encrypted key is written again in vpnctl's scheme (PBES2 with AES-256 and 600,000
    // PBKDF2 rounds), not left in easy-rsa's (3DES in 3.1). Done last: it is slow on purpose.
    let ca_key_out = match pass {
        Some(p) if ca_key_encrypted => keyenc::key_to_pem(
            &keyenc::load_key(&ca_key_pem, pass, "the easy-rsa CA key")?,
            Some(p),
        )?,
        _ => ca_key_pem,
    };
    let meta = Meta {
        format: 1,
        deployment: opts.deployment.clone(),
        server_name,
        crl_days: opts.crl_days,
        ca_key_encrypted,
        crl_number,
        store: None,
        ca_key: None,
    };
    files.push((layout.ca_cert(), ca_pem, PUBLIC));
    files.push((layout.ca_key(), ca_key_out, SECRET));
    files.push((layout.crl(), crl, PUBLIC));
    files.push((layout.index(), index::render(&entries), PUBLIC));
    files.push((
        PathBuf::from(".gitignore"),
        store::GITIGNORE.to_string(),
        PUBLIC,
    ));
    // Last, as everywhere: vpnctl.json is what makes a directory a vpnctl PKI.
    files.push((
        layout.meta(),
        serde_json::to_string_pretty(&meta).unwrap_or_default() + "\n",
        PUBLIC,
    ));

    let staging = Staging::create(&target)?;
    staging.fill(&files)?;
    staging.publish(&target)?;
    Ok((Pki::open(&target.given)?, report))
}

/// Why the user `n`, whose current certificate is `f`, cannot be adopted, if it cannot.
/// `taken` maps the lower-case names adopted so far to their spelling.
fn adoptable(
    n: &Name,
    f: &Found,
    server_name: &str,
    old_server_cn: &str,
    taken: &mut HashMap<String, String>,
) -> std::result::Result<(), String> {
    names::validate_user(&n.cn).map_err(|e| e.to_string())?;
    if n.cn.eq_ignore_ascii_case(server_name) || n.cn.eq_ignore_ascii_case(old_server_cn) {
        return Err("it is the server's name".to_string());
    }
    if let Some(first) = taken.get(&n.cn.to_ascii_lowercase()) {
        return Err(format!(
            "its name differs from '{first}' only in case, and on a case-insensitive file \
             system their files would be the same files (it stays in the index)"
        ));
    }
    if !f.info.client_auth {
        return Err("not a client certificate (no clientAuth)".to_string());
    }
    taken.insert(n.cn.to_ascii_lowercase(), n.cn.clone());
    Ok(())
}

/// The key of a user's current certificate, as its original bytes (a PKCS#1 key re-serialised
/// by rcgen would be mislabelled), or why there is none to adopt.
fn user_key(root: &Path, n: &Name, f: &Found) -> std::result::Result<String, String> {
    let stays = "(its certificate stays valid in the index; `vpnctl pki renew NAME` issues a \
                 new one)"
        .replace("NAME", &n.cn);
    let Some(rel) = &f.key else {
        return Err(format!("no key is known for {} {stays}", f.rel));
    };
    let Ok(key_pem) = std::fs::read_to_string(root.join(rel)) else {
        return Err(format!("{} not found {stays}", rel.display()));
    };
    let matches = !keyenc::is_encrypted(&key_pem)
        && cert::parse_key(&key_pem, &rel.display().to_string())
            .is_ok_and(|k| cert::key_matches(&k, &f.info));
    if !matches {
        return Err(format!(
            "{} is encrypted, unreadable or does not match {} {stays}",
            rel.display(),
            f.rel
        ));
    }
    Ok(key_pem)
}

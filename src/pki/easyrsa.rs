//! Adoption of an easy-rsa 3 PKI (what AWS's own Client VPN guide tells people to create):
//! the CA, the server certificate, every user's certificate and key, keeping serials, dates and
//! revocations. The source is only read; the adopted copy is a normal vpnctl PKI.

use super::cert::{self, Ca, CertInfo, Leaf, Serial};
use super::index::{self, Entry};
use super::keyenc::{self, Passphrase};
use super::names;
use super::store::{self, Layout, Meta, Pki};
use crate::error::{Error, Result};
use crate::fsx::{self, Overwrite, PUBLIC, SECRET};
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

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
}

struct Source {
    root: PathBuf,
}

impl Source {
    fn key(&self, entity: &str) -> PathBuf {
        self.root.join("private").join(format!("{entity}.key"))
    }
    fn read(&self, p: &Path) -> Result<String> {
        fsx::read_to_string(p)
    }
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
    let src = Source {
        root: src_dir.to_path_buf(),
    };
    for need in ["ca.crt", "private/ca.key", "index.txt"] {
        if !src.root.join(need).exists() {
            return Err(Error::not_found(
                format!(
                    "{} is not an easy-rsa PKI: {need} is missing",
                    src_dir.display()
                ),
                "point at the easy-rsa 'pki' directory (the one holding ca.crt, private/ and index.txt)",
            ));
        }
    }
    if store::exists(dest) {
        return Err(Error::conflict(
            format!("a PKI already exists in {}", dest.display()),
            "import into a new directory with --pki DIR",
        ));
    }

    let ca_pem = src.read(&src.root.join("ca.crt"))?;
    let ca_key_pem = src.read(&src.root.join("private/ca.key"))?;
    let ca = Ca::load(
        &ca_pem,
        keyenc::load_key(&ca_key_pem, pass, "the easy-rsa CA key")?,
    )?;
    let mut entries = index::parse(&src.read(&src.root.join("index.txt"))?)?;

    // Each index entry's certificate, read from issued/<CN>.crt when it is the same serial.
    let mut report = ImportReport::default();
    // easy-rsa names files by entity, which is usually but not always the CN: find each
    // index entry's certificate by serial among issued/*.crt.
    let mut issued: Vec<(String, CertInfo, String)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir(src.root.join("issued")) {
        for f in dir.flatten() {
            let path = f.path();
            let Some(stem) = path
                .file_stem()
                .and_then(|s| s.to_str())
                .filter(|_| path.extension().is_some_and(|e| e == "crt"))
            else {
                continue;
            };
            let pem = src.read(&path)?;
            let info = cert::inspect(&pem, &path.display().to_string())?;
            issued.push((stem.to_string(), info, pem));
        }
    }
    let mut live: Vec<(usize, CertInfo, String, String)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if e.is_revoked() {
            report.revoked += 1;
            continue;
        }
        let Some((entity, info, pem)) = issued.iter().find(|(_, info, _)| info.serial == e.serial)
        else {
            report.skipped.push((
                e.cn.clone(),
                format!("no certificate with serial {} in issued/", e.serial),
            ));
            continue;
        };
        if !cert::signed_by(pem, &ca_pem) {
            return Err(Error::corrupt(
                format!("issued/{entity}.crt is not signed by this CA"),
                "the easy-rsa directory mixes PKIs; import a consistent one",
            ));
        }
        live.push((i, info.clone(), pem.clone(), entity.clone()));
    }

    // The server: the entity named, else the one certificate with serverAuth.
    let servers: Vec<usize> = live
        .iter()
        .enumerate()
        .filter(|(_, (_, info, _, entity))| match &opts.server {
            Some(name) => entity == name || &info.cn == name,
            None => info.server_auth && !info.client_auth,
        })
        .map(|(k, _)| k)
        .collect();
    let server_k = match servers.as_slice() {
        [k] => *k,
        [] => {
            return Err(Error::not_found(
                match &opts.server {
                    Some(n) => format!("no valid certificate '{n}' in the easy-rsa PKI"),
                    None => "the easy-rsa PKI has no valid server certificate".to_string(),
                },
                "name it with --server ENTITY, or give --server-name FQDN to issue a new one from the imported CA",
            ));
        }
        many => {
            return Err(Error::invalid(
                format!(
                    "the easy-rsa PKI has {} server certificates ({})",
                    many.len(),
                    many.iter()
                        .map(|k| live[*k].1.cn.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "choose one with --server ENTITY",
            ));
        }
    };

    let mut files: Vec<(PathBuf, String, u32)> = Vec::new();
    let layout = Layout::new(dest);
    let (s_i, s_info, s_pem, s_entity) = live[server_k].clone();
    let problems = cert::aws_server_problems(&s_info);
    let server_name = if problems.is_empty()
        && opts.server_name.as_ref().is_none_or(|n| n == &s_info.cn)
    {
        let key_pem = src.read(&src.key(&s_entity))?;
        if !cert::key_matches(
            &cert::parse_key(&key_pem, "the easy-rsa server key")?,
            &s_info,
        ) {
            return Err(Error::corrupt(
                "the easy-rsa server key does not match its certificate",
                "fix the easy-rsa PKI or give --server-name to issue a new server certificate",
            ));
        }
        files.push((layout.cert("server"), s_pem, PUBLIC));
        files.push((layout.key("server"), key_pem, SECRET));
        s_info.cn.clone()
    } else {
        let Some(name) = opts.server_name.clone() else {
            return Err(Error::invalid(
                format!(
                    "AWS Client VPN would refuse the easy-rsa server certificate '{}': {}",
                    s_info.cn,
                    problems.join("; ")
                ),
                "give --server-name FQDN (e.g. vpn.example.internal) to issue an acceptable one from the imported CA",
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
        entries[s_i].revoke(now, "superseded");
        entries.push(Entry::valid(&name, serial, not_after));
        files.push((layout.cert("server"), pem, PUBLIC));
        files.push((layout.key("server"), key.serialize_pem(), SECRET));
        report.server_reissued = true;
        name
    };
    report.server_name = server_name.clone();

    for (k, (_, info, pem, entity)) in live.iter().enumerate() {
        if k == server_k {
            continue;
        }
        if let Err(e) = names::validate_user(&info.cn) {
            report.skipped.push((info.cn.clone(), e.to_string()));
            continue;
        }
        if !info.client_auth {
            report.skipped.push((
                info.cn.clone(),
                "not a client certificate (no clientAuth)".to_string(),
            ));
            continue;
        }
        let key_path = src.key(entity);
        let Ok(key_pem) = std::fs::read_to_string(&key_path) else {
            report.skipped.push((
                info.cn.clone(),
                format!(
                    "{} not found (its certificate is kept in the index)",
                    key_path.display()
                ),
            ));
            continue;
        };
        // Keep the original bytes: a PKCS#1 key re-serialised by rcgen would be mislabelled.
        if keyenc::is_encrypted(&key_pem)
            || !cert::key_matches(
                &cert::parse_key(&key_pem, &key_path.display().to_string())?,
                info,
            )
        {
            report.skipped.push((
                info.cn.clone(),
                "its key is encrypted or does not match the certificate".to_string(),
            ));
            continue;
        }
        files.push((layout.cert(&info.cn), pem.clone(), PUBLIC));
        files.push((layout.key(&info.cn), key_pem, SECRET));
        report.users.push(info.cn.clone());
    }

    let crl_number = std::fs::read_to_string(src.root.join("crlnumber"))
        .ok()
        .and_then(|s| u64::from_str_radix(s.trim(), 16).ok())
        .unwrap_or(1);
    let meta = Meta {
        format: 1,
        deployment: opts.deployment.clone(),
        server_name,
        crl_days: opts.crl_days,
        ca_key_encrypted: keyenc::is_encrypted(&ca_key_pem),
        crl_number,
    };
    let revoked = index::revoked(&entries, now);
    let crl = ca.crl(
        &revoked,
        now,
        now + Duration::days(i64::from(opts.crl_days)),
        crl_number,
    )?;

    // Stage everything, then commit: a failure leaves no half-made PKI behind.
    fsx::ensure_dir(dest, 0o755)?;
    fsx::ensure_dir(&layout.private_dir(), 0o700)?;
    fsx::ensure_dir(&layout.issued_dir(), 0o755)?;
    files.push((layout.ca_cert(), ca_pem, PUBLIC));
    files.push((layout.ca_key(), ca_key_pem, SECRET));
    files.push((layout.crl(), crl, PUBLIC));
    files.push((layout.index(), index::render(&entries), PUBLIC));
    files.push((
        layout.meta(),
        serde_json::to_string_pretty(&meta).unwrap_or_default() + "\n",
        PUBLIC,
    ));
    let gitignore = dest.join(".gitignore");
    if !gitignore.exists() {
        files.push((gitignore, store::GITIGNORE.to_string(), PUBLIC));
    }
    let staged = files
        .iter()
        .map(|(p, data, mode)| fsx::stage(p, data.as_bytes(), *mode))
        .collect::<Result<Vec<_>>>()?;
    for s in staged {
        s.commit(Overwrite::Refuse)?;
    }
    Ok((Pki { layout, meta }, report))
}

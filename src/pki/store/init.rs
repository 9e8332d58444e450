//! `pki init` (and `init --force`): a new CA, server certificate, index, CRL and settings.
//!
//! The whole new PKI is first written into a staging folder inside the PKI directory
//! (`.init-RANDOM/`). Writing `READY` into it is the commit point; then the old PKI's entries
//! move into `replaced-TIME-RANDOM/` and the new ones into place, `vpnctl.json` last. Each move
//! is a rename, and the sequence can be resumed from any point: a staging folder with `READY`
//! is finished by the next command that opens the PKI; one without is an init that never
//! committed and is removed.

use super::{
    DIR_MODE, GITIGNORE, InitOptions, Layout, Meta, PRIVATE_DIR_MODE, Pki, SERVER, check_days,
};
use crate::error::{Error, Result};
use crate::fsx::{self, Lock, Overwrite, PUBLIC, SECRET};
use crate::pki::cert::{self, Ca, Leaf, Serial};
use crate::pki::index::{self, Entry};
use crate::pki::{keyenc, names};
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

const STAGING_PREFIX: &str = ".init-";
const READY: &str = "READY";
/// The top-level entries of a PKI, in the order the new ones are moved in: `vpnctl.json`,
/// whose presence makes a directory a vpnctl PKI, comes last.
const ENTRIES: &[&str] = &[
    "private",
    "issued",
    "ca.crt",
    "index.txt",
    "crl.pem",
    "revoked",
    "renewed",
    ".pending.json",
    "vpnctl.json",
];

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
        if dir.exists() {
            finish_interrupted(&layout)?;
        }
        let refuse_existing = |layout: &Layout| -> Result<bool> {
            let exists = super::exists(&layout.root);
            if exists && !opts.force {
                return Err(Error::conflict(
                    format!("a PKI already exists in {}", layout.root.display()),
                    "vpnctl never replaces a CA silently: use it as it is, choose another --pki, \
                     or pass --force (the old PKI is moved to a replaced-<time>-<random>/ folder)",
                ));
            }
            Ok(exists)
        };
        refuse_existing(&layout)?;

        // Everything in memory first.
        let server_key = cert::new_key()?;
        let ca_cn = format!("{} vpnctl CA", opts.deployment);
        let (ca_pem, ca_key_pem, ca) = match &opts.kms {
            // The CA key never leaves KMS: nothing of it is written here.
            Some(kms) => {
                let signer = cert::Signer::remote(kms.clone())?;
                let pem = cert::make_ca(&ca_cn, &signer, &Serial::random()?, now, opts.ca_days)?;
                let ca = Ca::load_signer(&pem, signer)?;
                (pem, None, ca)
            }
            None => {
                let ca_key = cert::new_key()?;
                let pem = cert::make_ca(&ca_cn, &ca_key, &Serial::random()?, now, opts.ca_days)?;
                let key_pem = keyenc::key_to_pem(&ca_key, opts.passphrase.as_ref())?;
                let ca = Ca::load(&pem, ca_key)?;
                (pem, Some(key_pem), ca)
            }
        };
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
            ca_key_encrypted: opts.passphrase.is_some() && opts.kms.is_none(),
            crl_number: 1,
            store: None,
            ca_key: opts.kms.as_ref().map(|k| format!("kms:{}", k.name())),
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
        let meta_text = serde_json::to_string_pretty(&meta).unwrap_or_default() + "\n";

        fsx::ensure_dir(dir, DIR_MODE)?;
        // Another vpnctl must not issue into the PKI while it is replaced.
        let _lock = Lock::acquire(&layout.lock())?;
        finish_committed(&layout)?;
        let replacing = refuse_existing(&layout)?;
        remove_uncommitted(&layout)?;
        if !replacing {
            // A journal with no PKI beside it (its files were deleted by hand) describes nothing.
            fsx::remove_file(&layout.pending())?;
        }
        let staging = dir.join(format!("{STAGING_PREFIX}{}", random_hex()?));
        let staged = Layout::new(&staging);
        fsx::ensure_dir(&staging, PRIVATE_DIR_MODE)?;
        fsx::ensure_dir(&staged.private_dir(), PRIVATE_DIR_MODE)?;
        fsx::ensure_dir(&staged.issued_dir(), DIR_MODE)?;
        let server_key_pem = server_key.serialize_pem();
        let mut files = vec![
            (staged.key(SERVER), &server_key_pem, SECRET),
            (staged.ca_cert(), &ca_pem, PUBLIC),
            (staged.cert(SERVER), &server_pem, PUBLIC),
            (staged.crl(), &crl_pem, PUBLIC),
            (staged.index(), &index_text, PUBLIC),
            (staged.meta(), &meta_text, PUBLIC),
        ];
        if let Some(k) = &ca_key_pem {
            files.push((staged.ca_key(), k, SECRET));
        }
        for (path, text, mode) in files {
            fsx::write_atomic(&path, text.as_bytes(), mode, Overwrite::Refuse)?;
        }
        fsx::sync_dir(&staged.private_dir());
        fsx::sync_dir(&staged.issued_dir());
        // The commit point: from here on the next command finishes this init.
        let aside = if replacing {
            format!("replaced-{}-{}", now.unix_timestamp(), random_hex()?)
        } else {
            String::new()
        };
        fsx::write_atomic(
            &staging.join(READY),
            aside.as_bytes(),
            PUBLIC,
            Overwrite::Refuse,
        )?;
        finish(&layout, &staging)?;
        let gitignore = dir.join(".gitignore");
        if !gitignore.exists() {
            fsx::write_atomic(&gitignore, GITIGNORE.as_bytes(), PUBLIC, Overwrite::Replace)?;
        }
        Ok(Pki {
            layout,
            meta,
            repaired: Vec::new(),
            kms: opts.kms.clone(),
        })
    }
}

fn random_hex() -> Result<String> {
    let mut r = [0u8; 4];
    fsx::random(&mut r)?;
    Ok(fsx::hex(&r))
}

/// The staging folders in `layout.root`, with whether each reached its commit point.
fn staging_folders(layout: &Layout) -> Vec<(PathBuf, bool)> {
    let Ok(rd) = std::fs::read_dir(&layout.root) else {
        return Vec::new();
    };
    let mut found: Vec<(PathBuf, bool)> = rd
        .flatten()
        .filter(|f| f.file_name().to_string_lossy().starts_with(STAGING_PREFIX))
        .filter(|f| f.file_type().is_ok_and(|t| t.is_dir()))
        .map(|f| {
            let ready = f.path().join(READY).is_file();
            (f.path(), ready)
        })
        .collect();
    found.sort();
    found
}

/// Finish an init that was killed after its commit point (takes the PKI's lock to do so).
pub(super) fn finish_interrupted(layout: &Layout) -> Result<()> {
    if !staging_folders(layout).iter().any(|(_, ready)| *ready) {
        return Ok(());
    }
    let _lock = Lock::acquire(&layout.lock())?;
    finish_committed(layout)
}

/// `finish_interrupted` for a caller that holds the lock: a mutation that waited for the lock
/// while an `init --force` was killed must not work on a half-swapped PKI.
pub(super) fn finish_committed(layout: &Layout) -> Result<()> {
    for (staging, ready) in staging_folders(layout) {
        if ready {
            finish(layout, &staging)?;
        }
    }
    Ok(())
}

/// Remove staging folders of inits that never reached their commit point (under the lock).
fn remove_uncommitted(layout: &Layout) -> Result<()> {
    for (staging, ready) in staging_folders(layout) {
        if !ready {
            std::fs::remove_dir_all(&staging).map_err(|e| Error::io("remove", &staging, e))?;
        }
    }
    Ok(())
}

/// Move the old PKI aside and the staged one into place. Idempotent: an entry still in the
/// staging folder has not been moved in yet, so whatever has its name in the PKI is old.
fn finish(layout: &Layout, staging: &Path) -> Result<()> {
    let aside_name = fsx::read_to_string(&staging.join(READY))?;
    let root = &layout.root;
    let staged = |name: &str| staging.join(name);
    let old: Vec<&str> = ENTRIES
        .iter()
        .copied()
        .filter(|n| root.join(n).exists() && (staged(n).exists() || !new_entry(n)))
        .collect();
    if !old.is_empty() {
        if aside_name.trim().is_empty() {
            return Err(Error::conflict(
                format!(
                    "{} holds PKI files that an interrupted `pki init` did not expect",
                    root.display()
                ),
                format!(
                    "move {} away, then run `vpnctl pki init` again",
                    staging.display()
                ),
            ));
        }
        let aside = root.join(aside_name.trim());
        fsx::ensure_dir(&aside, PRIVATE_DIR_MODE)?;
        for name in old {
            fsx::rename(&root.join(name), &aside.join(name))?;
        }
    }
    for name in ENTRIES {
        if staged(name).exists() {
            fsx::rename(&staged(name), &root.join(name))?;
        }
    }
    fsx::remove_file(&staging.join(READY))?;
    std::fs::remove_dir_all(staging).map_err(|e| Error::io("remove", staging, e))?;
    fsx::sync_dir(root);
    Ok(())
}

/// Whether a new PKI has this entry (a new one has no `revoked/`, `renewed/` or journal).
fn new_entry(name: &str) -> bool {
    !matches!(name, "revoked" | "renewed" | ".pending.json")
}

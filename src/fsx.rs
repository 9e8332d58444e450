//! File-system primitives with the guarantees vpnctl promises: atomic writes (temp file in the
//! same directory, fsync, rename, fsync of the directory), explicit modes (never the umask's
//! choice for key material), no silent overwrite, and an advisory lock for the PKI.

use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode for private keys and profiles (which embed a key).
pub const SECRET: u32 = 0o600;
/// Mode for certificates, the index and the CRL.
pub const PUBLIC: u32 = 0o644;

/// What to do when the destination exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    Refuse,
    Replace,
}

/// Write `data` to `path` atomically with `mode`. With `Overwrite::Refuse` an existing file is an
/// error and is left untouched.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32, overwrite: Overwrite) -> Result<()> {
    let staged = stage(path, data, mode)?;
    staged.commit(overwrite)
}

/// A file written and synced under a temporary name beside its destination, not yet visible.
/// Staging every file of an operation first means a failure leaves the destination untouched.
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

pub fn stage(path: &Path, data: &[u8], mode: u32) -> Result<Staged> {
    stage_with(path, data, mode, true)
}

/// `stage` without the fsync of the file's data: for a copy of what the PKI already holds
/// durably (a certificate handed out beside its request), which a crash could only lose, never
/// tear (the rename or link still happens only after the whole file is written).
pub fn stage_copy(path: &Path, data: &[u8], mode: u32) -> Result<Staged> {
    stage_with(path, data, mode, false)
}

fn stage_with(path: &Path, data: &[u8], mode: u32, durable: bool) -> Result<Staged> {
    let dir = parent_of(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut rand = [0u8; 6];
    random(&mut rand)?;
    let tmp = dir.join(format!(".{name}.tmp-{}", hex(&rand)));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| Error::io("write", path, e))?;
    let staged = Staged {
        tmp,
        dest: path.to_path_buf(),
        committed: false,
    };
    // The mode given to open() is filtered by the umask; set it explicitly.
    file.set_permissions(fs::Permissions::from_mode(mode))
        .and_then(|_| file.write_all(data))
        .and_then(|_| if durable { file.sync_all() } else { Ok(()) })
        .map_err(|e| Error::io("write", path, e))?;
    Ok(staged)
}

impl Staged {
    /// Make the staged file visible under its destination name.
    pub fn commit(mut self, overwrite: Overwrite) -> Result<()> {
        self.publish(overwrite)?;
        sync_dir(parent_of(&self.dest));
        Ok(())
    }

    fn publish(&mut self, overwrite: Overwrite) -> Result<()> {
        match overwrite {
            Overwrite::Replace => {
                fs::rename(&self.tmp, &self.dest).map_err(|e| Error::io("write", &self.dest, e))?
            }
            Overwrite::Refuse => {
                // A hard link fails if the destination exists, so there is no window in which
                // an existing file could be replaced.
                fs::hard_link(&self.tmp, &self.dest).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::AlreadyExists {
                        Error::conflict(
                            format!("{} already exists", self.dest.display()),
                            "vpnctl never overwrites it silently: remove it first or pass --force",
                        )
                    } else {
                        Error::io("write", &self.dest, e)
                    }
                })?;
                let _ = fs::remove_file(&self.tmp);
            }
        }
        self.committed = true;
        Ok(())
    }
}

/// Commit many staged files, syncing each directory once at the end rather than once per file
/// (issuing 100 users is 200 files in two directories).
pub fn commit_all(staged: Vec<Staged>, overwrite: Overwrite) -> Result<()> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for mut s in staged {
        s.publish(overwrite)?;
        let dir = parent_of(&s.dest).to_path_buf();
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    for d in dirs {
        sync_dir(&d);
    }
    Ok(())
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Create `dir` (and parents) with `mode`. An existing directory is only ever tightened: its
/// mode becomes `existing & mode`, so a 0700 directory never becomes 0755 because a later
/// command asked for less.
pub fn ensure_dir(dir: &Path, mode: u32) -> Result<()> {
    // Missing parents get the same mode (a new revoked/ is as private as its certs_by_serial/).
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(|e| Error::io("create directory", dir, e))?;
    let now = fs::metadata(dir)
        .map_err(|e| Error::io("read the permissions of", dir, e))?
        .permissions()
        .mode()
        & 0o7777;
    let want = now & mode;
    if want != now {
        fs::set_permissions(dir, fs::Permissions::from_mode(want))
            .map_err(|e| Error::io("set permissions of", dir, e))?;
    }
    Ok(())
}

/// Remove a file if it exists and sync its directory; a missing file is not an error.
pub fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => {
            sync_dir(parent_of(path));
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

/// Whether `name` is one of `stage`'s temporary names (`.NAME.tmp-RANDOM`).
pub fn is_staging_name(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp-")
}

/// Remove the temporary files that a killed process left in `dir` (staged, never committed).
/// Only call this while holding the lock that every stager of `dir` holds.
pub fn remove_stale_staging(dir: &Path) -> Result<usize> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Ok(0);
    };
    let mut n = 0;
    for f in rd.flatten() {
        let name = f.file_name();
        if is_staging_name(&name.to_string_lossy()) && f.file_type().is_ok_and(|t| t.is_file()) {
            remove_file(&f.path())?;
            n += 1;
        }
    }
    Ok(n)
}

/// Rename within one file system and make both directories durable.
pub fn rename(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).map_err(|e| Error::io("move", from, e))?;
    sync_dir(parent_of(to));
    if parent_of(from) != parent_of(to) {
        sync_dir(parent_of(from));
    }
    Ok(())
}

/// Move a file, creating the destination directory; used to retire revoked/renewed material.
pub fn move_file(from: &Path, to: &Path, dir_mode: u32) -> Result<()> {
    ensure_dir(parent_of(to), dir_mode)?;
    rename(from, to)
}

pub fn read_to_string(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| Error::io("read", path, e))
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Fill `buf` from the operating system's random source.
pub fn random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| {
        Error::io(
            "read randomness from",
            Path::new("the operating system"),
            std::io::Error::other(e.to_string()),
        )
    })
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An exclusive advisory lock on a file, released on drop. Several vpnctl processes mutating
/// one PKI serialise here, so the index and serials stay consistent.
#[derive(Debug)]
pub struct Lock {
    file: File,
}

impl Lock {
    pub fn acquire(path: &Path) -> Result<Lock> {
        let file = open_lock_file(path)?;
        file.lock().map_err(|e| Error::io("lock", path, e))?;
        Ok(Lock { file })
    }

    /// The lock if it is free now, else None (never waits); creates the lock's directory
    /// (0700) if needed.
    pub fn try_acquire(path: &Path) -> Result<Option<Lock>> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            ensure_dir(dir, 0o700)?;
        }
        let file = open_lock_file(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Lock { file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io("lock", path, e)),
        }
    }
}

fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io("open lock file", path, e))
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

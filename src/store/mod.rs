//! Where the PKI lives: the local directory (the default, offline) or an S3 prefix a team
//! shares (`s3://BUCKET/PREFIX`). The S3 store keeps the same logical content as a local PKI
//! (settings, CA certificate, index, CRL, certificates, the audit log) as objects, and the same
//! invariants: a change is made by the very code that changes a local PKI, run on a private
//! scratch copy of the store's current state, and lands only if nobody changed the index since
//! it was read (S3 conditional writes: `If-Match` on the ETag read, `If-None-Match: *` for new
//! objects). A lost race re-reads, re-applies and retries; the CRL is regenerated from the
//! index until it agrees with it, so a concurrent revocation is never lost (`remote`).
//!
//! The `--pki` directory of an S3-backed PKI is a working copy: the store's public content,
//! and the private keys of the users issued on this machine (client keys never go to S3). It
//! never holds the CA key.
//!
//! `Objects` is the narrow trait over the bucket (the SDK adapter implements it; `MemObjects` is
//! a stateful fake for unit tests).

pub mod audit;
pub mod remote;

use crate::error::{Error, Result};

/// A store named on the command line, in `VPNCTL_STORE` or in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Uri {
    pub bucket: String,
    /// Without leading or trailing slashes; empty for the bucket's root.
    pub prefix: String,
}

impl S3Uri {
    /// `s3://BUCKET[/PREFIX]`, with AWS's bucket-name rules checked here (a bad name is a
    /// clear error before any call).
    pub fn parse(text: &str) -> Result<S3Uri> {
        let rest = text.strip_prefix("s3://").ok_or_else(|| {
            Error::invalid(
                format!("'{text}' is not an S3 store"),
                "name the store as s3://BUCKET/PREFIX (or give a local directory with --pki)",
            )
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        check_bucket(bucket)?;
        let prefix = prefix.trim_matches('/').to_string();
        if prefix.split('/').any(|p| p == "." || p == "..")
            || prefix.contains("//")
            || prefix.chars().any(|c| c.is_control())
            || prefix.len() > 512
        {
            return Err(Error::invalid(
                format!("'{prefix}' is not a usable key prefix"),
                "use a plain path such as s3://BUCKET/team-vpn (no empty, '.' or '..' parts)",
            ));
        }
        Ok(S3Uri {
            bucket: bucket.to_string(),
            prefix,
        })
    }

    /// The object key of `name` (a path inside the store).
    pub fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }
}

impl std::fmt::Display for S3Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// AWS's general purpose bucket naming rules (S3 User Guide, "General purpose bucket naming
/// rules"): 3–63 characters of lowercase letters, digits, dots and hyphens, starting and
/// ending with a letter or digit, no two adjacent dots, not an IP address.
fn check_bucket(bucket: &str) -> Result<()> {
    let bad = |why: &str| {
        Error::invalid(
            format!("'{bucket}' is not a valid S3 bucket name: {why}"),
            "bucket names have 3 to 63 lowercase letters, digits, dots or hyphens and start and \
             end with a letter or digit",
        )
    };
    if !(3..=63).contains(&bucket.len()) {
        return Err(bad("it must have 3 to 63 characters"));
    }
    if !bucket
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return Err(bad("only lowercase letters, digits, dots and hyphens"));
    }
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge(bucket.chars().next()) || !edge(bucket.chars().last()) {
        return Err(bad("it must start and end with a letter or digit"));
    }
    if bucket.contains("..") {
        return Err(bad("two adjacent dots"));
    }
    if bucket.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(bad("it looks like an IP address"));
    }
    Ok(())
}

/// The condition of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond<'a> {
    /// Unconditional (objects only one writer ever writes: the audit log's, state caches).
    Any,
    /// `If-None-Match: *`: create, never replace.
    Absent,
    /// `If-Match: ETAG`: replace only the version that was read.
    Matches(&'a str),
}

/// The outcome of a conditional write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Put {
    /// Written; its new ETag.
    Done(String),
    /// The condition did not hold (412 `PreconditionFailed`, or 409
    /// `ConditionalRequestConflict` for a write racing another): nothing was written.
    Lost,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub body: Vec<u8>,
    pub etag: String,
}

impl Object {
    pub fn text(&self, what: &str) -> Result<String> {
        String::from_utf8(self.body.clone()).map_err(|_| {
            Error::corrupt(
                format!("{what} in the store is not text"),
                "restore the object from an earlier version (the bucket keeps versions)",
            )
        })
    }
}

/// The bucket, as the store uses it. Keys are relative to the store's prefix.
pub trait Objects: Send + Sync {
    fn get(&self, key: &str) -> Result<Option<Object>>;
    fn put(&self, key: &str, body: &[u8], cond: Cond<'_>) -> Result<Put>;
    /// The keys under `prefix` (relative), in key order.
    fn list(&self, prefix: &str) -> Result<Vec<String>>;
    fn delete(&self, key: &str) -> Result<()>;
    /// The store, for messages: `s3://BUCKET/PREFIX`.
    fn name(&self) -> String;
    /// Who is making the changes (STS's ARN of the caller), for the audit log.
    fn caller(&self) -> Result<String>;
    /// A link anyone can GET `key` with until `expires` from now.
    fn presign_get(&self, key: &str, expires: std::time::Duration) -> Result<String>;
    /// When the credentials that sign links expire (temporary ones: SSO, an assumed role);
    /// a presigned link stops working then, whatever its own expiry.
    fn links_until(&self) -> Option<std::time::SystemTime> {
        None
    }
}

/// A stateful in-memory bucket for unit tests: ETags change with every write and the
/// conditions hold as S3's do.
#[derive(Debug, Default)]
pub struct MemObjects {
    objects: std::sync::Mutex<std::collections::BTreeMap<String, Object>>,
    writes: std::sync::atomic::AtomicU64,
    /// Writes that answer `Lost` regardless, for tests of the retry: (key, how many).
    pub lose: std::sync::Mutex<Vec<(String, usize)>>,
}

impl Objects for MemObjects {
    fn get(&self, key: &str) -> Result<Option<Object>> {
        Ok(self
            .objects
            .lock()
            .map(|m| m.get(key).cloned())
            .ok()
            .flatten())
    }
    fn put(&self, key: &str, body: &[u8], cond: Cond<'_>) -> Result<Put> {
        let mut m = self
            .objects
            .lock()
            .map_err(|_| Error::corrupt("poisoned", "retry"))?;
        if let Ok(mut lose) = self.lose.lock()
            && let Some(i) = lose.iter().position(|(k, n)| k == key && *n > 0)
        {
            lose[i].1 -= 1;
            return Ok(Put::Lost);
        }
        let current = m.get(key).map(|o| o.etag.clone());
        let holds = match cond {
            Cond::Any => true,
            Cond::Absent => current.is_none(),
            Cond::Matches(e) => current.as_deref() == Some(e),
        };
        if !holds {
            return Ok(Put::Lost);
        }
        let n = self
            .writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let etag = format!("\"{n:x}\"");
        m.insert(
            key.to_string(),
            Object {
                body: body.to_vec(),
                etag: etag.clone(),
            },
        );
        Ok(Put::Done(etag))
    }
    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self
            .objects
            .lock()
            .map(|m| {
                m.keys()
                    .filter(|k| k.starts_with(prefix))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }
    fn delete(&self, key: &str) -> Result<()> {
        if let Ok(mut m) = self.objects.lock() {
            m.remove(key);
        }
        Ok(())
    }
    fn name(&self) -> String {
        "s3://memory/test".to_string()
    }
    fn caller(&self) -> Result<String> {
        Ok("arn:aws:iam::123456789012:user/test".to_string())
    }
    fn presign_get(&self, key: &str, expires: std::time::Duration) -> Result<String> {
        Ok(format!("memory://{key}?expires={}", expires.as_secs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_names_are_checked_before_any_call() {
        let u = S3Uri::parse("s3://team-vpn/pki/").unwrap();
        assert_eq!((u.bucket.as_str(), u.prefix.as_str()), ("team-vpn", "pki"));
        assert_eq!(u.key("index.txt"), "pki/index.txt");
        assert_eq!(u.to_string(), "s3://team-vpn/pki");
        assert_eq!(
            S3Uri::parse("s3://team-vpn").unwrap().key("ca.crt"),
            "ca.crt"
        );
        for bad in [
            "team-vpn",
            "s3://",
            "s3://ab",
            "s3://Team",
            "s3://-team",
            "s3://a..b",
            "s3://192.168.1.1",
            "s3://team/a/../b",
            "s3://team/a//b",
        ] {
            let e = S3Uri::parse(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}: {e}");
        }
    }

    #[test]
    fn the_fake_bucket_keeps_s3s_conditions() {
        let m = MemObjects::default();
        let Put::Done(e1) = m.put("k", b"1", Cond::Absent).unwrap() else {
            panic!()
        };
        assert_eq!(m.put("k", b"2", Cond::Absent).unwrap(), Put::Lost);
        assert_eq!(m.put("k", b"2", Cond::Matches("\"x\"")).unwrap(), Put::Lost);
        assert!(matches!(
            m.put("k", b"2", Cond::Matches(&e1)).unwrap(),
            Put::Done(_)
        ));
        assert_eq!(m.get("k").unwrap().unwrap().body, b"2");
        assert_eq!(m.put("k", b"3", Cond::Matches(&e1)).unwrap(), Put::Lost);
    }
}

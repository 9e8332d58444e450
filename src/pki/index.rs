//! The certificate index, in openssl's `index.txt` format (what easy-rsa and `openssl ca` keep),
//! so a person can read it and openssl tools understand it:
//! `V|R|E <TAB> notAfter <TAB> revokedAt[,reason] <TAB> SERIAL <TAB> unknown <TAB> /CN=name`.
//! Pure parsing and rendering.

use super::cert::Serial;
use crate::error::{Error, Result};
use rcgen::RevocationReason;
use time::{
    OffsetDateTime, PrimitiveDateTime, format_description::FormatItem, macros::format_description,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    Valid,
    Revoked,
    /// Marked expired by `openssl ca -updatedb`; vpnctl computes expiry itself.
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub flag: Flag,
    pub not_after: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub reason: Option<String>,
    pub serial: Serial,
    pub cn: String,
}

impl Entry {
    pub fn valid(cn: &str, serial: Serial, not_after: OffsetDateTime) -> Entry {
        Entry {
            flag: Flag::Valid,
            not_after,
            revoked_at: None,
            reason: None,
            serial,
            cn: cn.to_string(),
        }
    }
    pub fn is_revoked(&self) -> bool {
        self.flag == Flag::Revoked
    }
    /// Valid now: not revoked, not past its not-after.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        !self.is_revoked() && self.not_after > now
    }
    pub fn revoke(&mut self, at: OffsetDateTime, reason: &str) {
        self.flag = Flag::Revoked;
        self.revoked_at = Some(at);
        self.reason = Some(reason.to_string());
    }
    pub fn rcgen_reason(&self) -> Option<RevocationReason> {
        Some(match self.reason.as_deref()? {
            "keyCompromise" => RevocationReason::KeyCompromise,
            "CACompromise" => RevocationReason::CaCompromise,
            "affiliationChanged" => RevocationReason::AffiliationChanged,
            "superseded" => RevocationReason::Superseded,
            "cessationOfOperation" => RevocationReason::CessationOfOperation,
            "certificateHold" => RevocationReason::CertificateHold,
            "removeFromCRL" => RevocationReason::RemoveFromCrl,
            "privilegeWithdrawn" => RevocationReason::PrivilegeWithdrawn,
            _ => RevocationReason::Unspecified,
        })
    }
}

/// The revoked entries as a CRL lists them: serial, time, reason.
pub fn revoked(
    entries: &[Entry],
    now: OffsetDateTime,
) -> Vec<(Serial, OffsetDateTime, Option<RevocationReason>)> {
    entries
        .iter()
        .filter(|e| e.is_revoked())
        .map(|e| {
            (
                e.serial.clone(),
                e.revoked_at.unwrap_or(now),
                e.rcgen_reason(),
            )
        })
        .collect()
}

const UTC_TIME: &[FormatItem<'static>] =
    format_description!("[year repr:last_two][month][day][hour][minute][second]Z");
const GEN_TIME: &[FormatItem<'static>] =
    format_description!("[year][month][day][hour][minute][second]Z");

/// openssl writes UTCTime before 2050 and GeneralizedTime after, as X.509 does.
fn fmt_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let f = if t.year() < 2050 { UTC_TIME } else { GEN_TIME };
    t.format(f).unwrap_or_default()
}

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    match s.len() {
        13 => {
            let yy: i32 = s[..2].parse().ok()?;
            let century = if yy >= 50 { "19" } else { "20" };
            PrimitiveDateTime::parse(&format!("{century}{s}"), GEN_TIME)
                .ok()
                .map(|t| t.assume_utc())
        }
        15 => PrimitiveDateTime::parse(s, GEN_TIME)
            .ok()
            .map(|t| t.assume_utc()),
        _ => None,
    }
}

pub fn parse(text: &str) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |what: &str| {
            Error::corrupt(
                format!("index.txt line {} is malformed ({what})", n + 1),
                "restore index.txt from a backup, or fix that line by hand (openssl index format)",
            )
        };
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 6 {
            return Err(bad("expected 6 tab-separated fields"));
        }
        let flag = match f[0] {
            "V" => Flag::Valid,
            "R" => Flag::Revoked,
            "E" => Flag::Expired,
            _ => return Err(bad("status is not V, R or E")),
        };
        let not_after = parse_time(f[1]).ok_or_else(|| bad("bad expiry date"))?;
        let (revoked_at, reason) = if f[2].is_empty() {
            (None, None)
        } else {
            let mut parts = f[2].splitn(2, ',');
            let at = parts
                .next()
                .and_then(parse_time)
                .ok_or_else(|| bad("bad revocation date"))?;
            (Some(at), parts.next().map(str::to_string))
        };
        if flag == Flag::Revoked && revoked_at.is_none() {
            return Err(bad("revoked without a revocation date"));
        }
        let serial = Serial::parse_hex(f[3]).ok_or_else(|| bad("bad serial"))?;
        let subject = f[5..].join("\t");
        let cn = subject
            .split('/')
            .find_map(|part| part.strip_prefix("CN="))
            .ok_or_else(|| bad("subject has no CN"))?
            .to_string();
        entries.push(Entry {
            flag,
            not_after,
            revoked_at,
            reason,
            serial,
            cn,
        });
    }
    Ok(entries)
}

pub fn render(entries: &[Entry]) -> String {
    let mut out = String::new();
    for e in entries {
        let flag = match e.flag {
            Flag::Valid => "V",
            Flag::Revoked => "R",
            Flag::Expired => "E",
        };
        let revoked = match (e.revoked_at, &e.reason) {
            (Some(at), Some(r)) => format!("{},{r}", fmt_time(at)),
            (Some(at), None) => fmt_time(at),
            _ => String::new(),
        };
        out.push_str(&format!(
            "{flag}\t{}\t{revoked}\t{}\tunknown\t/CN={}\n",
            fmt_time(e.not_after),
            e.serial.hex(),
            e.cn
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn round_trip_and_easyrsa_lines() {
        let text = "V\t270301120000Z\t\t0A1B\tunknown\t/CN=alice\n\
                    R\t270301120000Z\t250101000000Z,superseded\t0C\tunknown\t/CN=bob\n\
                    V\t20600101000000Z\t\t7F\tunknown\t/CN=server.x.y\n";
        let e = parse(text).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].cn, "alice");
        assert_eq!(e[0].not_after, datetime!(2027-03-01 12:00 UTC));
        assert!(e[1].is_revoked());
        assert_eq!(e[1].revoked_at, Some(datetime!(2025-01-01 0:00 UTC)));
        assert_eq!(e[1].rcgen_reason(), Some(RevocationReason::Superseded));
        assert_eq!(e[2].not_after.year(), 2060);
        assert_eq!(render(&e), text);
    }

    #[test]
    fn malformed_lines_are_errors() {
        for bad in [
            "X\t270301120000Z\t\t0A\tunknown\t/CN=a",
            "V\t2703\t\t0A\tunknown\t/CN=a",
            "V\t270301120000Z\t\tZZ\tunknown\t/CN=a",
            "V\t270301120000Z\t\t0A\tunknown",
            "R\t270301120000Z\t\t0A\tunknown\t/CN=a",
            "V\t270301120000Z\t\t0A\tunknown\t/O=x",
        ] {
            assert!(matches!(parse(bad), Err(Error::Corrupt { .. })), "{bad:?}");
        }
    }
}

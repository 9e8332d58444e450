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

const GEN_TIME: &[FormatItem<'static>] =
    format_description!("[year][month][day][hour][minute][second]Z");

/// openssl writes UTCTime from 1950 to 2049 and GeneralizedTime otherwise, as X.509 does:
/// UTCTime's two-digit year cannot say 1949 (it would read back as 2049).
fn fmt_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let (year, rest) = (
        t.year(),
        (u8::from(t.month()), t.day(), t.hour(), t.minute()),
    );
    let (mo, d, h, mi) = rest;
    let sec = t.second();
    // By hand rather than with a format description: a team's index holds thousands of dates,
    // and every revoke writes them all.
    if (1950..2050).contains(&year) {
        format!("{:02}{mo:02}{d:02}{h:02}{mi:02}{sec:02}Z", year % 100)
    } else if (0..=9999).contains(&year) {
        format!("{year:04}{mo:02}{d:02}{h:02}{mi:02}{sec:02}Z")
    } else {
        t.format(GEN_TIME).unwrap_or_default()
    }
}

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    // YYMMDDHHMMSSZ (UTCTime, 1950–2049) or YYYYMMDDHHMMSSZ (GeneralizedTime), digits only.
    let digits = s.strip_suffix('Z')?.as_bytes();
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let num = |b: &[u8]| b.iter().fold(0i32, |n, d| n * 10 + i32::from(d - b'0'));
    let (year, rest) = match digits.len() {
        12 => {
            let yy = num(&digits[..2]);
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &digits[2..])
        }
        14 => (num(&digits[..4]), &digits[4..]),
        _ => return None,
    };
    let part = |i: usize| u8::try_from(num(&rest[i..i + 2])).ok();
    let date =
        time::Date::from_calendar_date(year, time::Month::try_from(part(0)?).ok()?, part(2)?)
            .ok()?;
    let t = time::Time::from_hms(part(4)?, part(6)?, part(8)?).ok()?;
    Some(PrimitiveDateTime::new(date, t).assume_utc())
}

pub fn parse(text: &str) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for (n, line) in text.lines().enumerate() {
        // `lines` strips "\r\n" but not a last line's lone "\r" (a CRLF file cut before its
        // final "\n"), nor a second "\r"; left on, they ended the CN and vanished when the
        // index was written back.
        let line = line.trim_end_matches('\r');
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

    /// Found by fuzzing: a 13-byte time whose two-digit year holds a multi-byte character
    /// sliced `s[..2]` inside the character and panicked.
    #[test]
    fn utc_time_with_a_multibyte_year_is_an_error_not_a_panic() {
        for bad in [
            "2㆐11111111Z",
            "1é030112000Z",
            "é7030112000Z",
            "+70301120000Z",
        ] {
            assert_eq!(bad.len(), 13);
            let line = format!("V\t{bad}\t\t0A\tunknown\t/CN=a");
            let err = parse(&line).unwrap_err();
            assert!(matches!(err, Error::Corrupt { .. }), "{bad:?}");
            assert!(err.to_string().contains("bad expiry date"), "{err}");
            let line = format!("R\t270301120000Z\t{bad}\t0A\tunknown\t/CN=a");
            assert!(
                matches!(parse(&line), Err(Error::Corrupt { .. })),
                "{bad:?}"
            );
        }
    }

    /// Found by fuzzing: a last line ending in a lone "\r" kept it in the CN, and rendering
    /// the index dropped it (`lines` then read "\r\n" as the line end): "a\r" became "a".
    #[test]
    fn a_crlf_file_without_its_last_newline_keeps_its_cns() {
        let e = parse(
            "V\t270301120000Z\t\t0A\tunknown\t/CN=a\r\nV\t270301120000Z\t\t0B\tunknown\t/CN=b\r\r",
        )
        .unwrap();
        assert_eq!(e[0].cn, "a");
        assert_eq!(e[1].cn, "b");
        assert_eq!(parse(&render(&e)).unwrap(), e);
    }

    /// Found by fuzzing: a date before 1950 (GeneralizedTime in the file) was rendered as
    /// UTCTime, whose two-digit year reads back a century later: an entry that expired in 1949
    /// came back valid until 2049 after any rewrite of the index.
    #[test]
    fn dates_before_1950_survive_a_rewrite() {
        let text = "V\t19491231235959Z\t\t0A\tunknown\t/CN=old\n\
                    R\t20270301120000Z\t00010101000000Z,superseded\t0B\tunknown\t/CN=b\n";
        let e = parse(text).unwrap();
        assert_eq!(e[0].not_after, datetime!(1949-12-31 23:59:59 UTC));
        assert_eq!(e[1].revoked_at, Some(datetime!(0001-01-01 0:00 UTC)));
        let rendered = render(&e);
        assert_eq!(parse(&rendered).unwrap(), e);
        assert!(rendered.starts_with("V\t19491231235959Z\t"), "{rendered}");
        // 1950 to 2049 stay UTCTime, as openssl writes them.
        let e = parse("V\t500101000000Z\t\t0A\tunknown\t/CN=a\n").unwrap();
        assert_eq!(e[0].not_after.year(), 1950);
        assert_eq!(render(&e), "V\t500101000000Z\t\t0A\tunknown\t/CN=a\n");
    }
}

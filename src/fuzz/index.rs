//! `index.txt` (`pki::index::parse`), as vpnctl, easy-rsa and `openssl ca` write it: mutated
//! files, lines built field by field, and entries rendered and parsed back. An index that
//! parses also goes through what its callers do next: the revoked list and a signed CRL.

use super::fixtures::{self, NOW};
use super::{fuzz, text_from};
use crate::pki::cert::{Ca, Serial};
use crate::pki::index::{self, Entry, Flag};
use proptest::prelude::*;
use std::sync::OnceLock;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

fn seeds() -> Vec<String> {
    vec![
        fixtures::pem().index.clone(),
        // easy-rsa 3: 16-byte serials, UTCTime and GeneralizedTime, a reason on revocation.
        "V\t270301120000Z\t\t0A1B2C3D4E5F60718293A4B5C6D7E8F9\tunknown\t/CN=server\n\
         R\t270301120000Z\t250101000000Z,superseded\t0C\tunknown\t/CN=bob\n\
         E\t200101000000Z\t\t0D\tunknown\t/CN=old\n\
         V\t20600101000000Z\t\t7F\tunknown\t/C=US/O=Lab/CN=carol/emailAddress=c@x\n"
            .to_string(),
        "R\t491231235959Z\t500101000000Z\t01\tunknown\t/CN=a\tb\n".to_string(),
        "\n\nV\t99991231235959Z\t\t00\tunknown\t/CN=\n\n".to_string(),
    ]
}

/// A CA to sign CRLs from parsed indexes with, loaded once.
fn ca() -> &'static Ca {
    static CA: OnceLock<Ca> = OnceLock::new();
    CA.get_or_init(|| {
        let p = fixtures::pem();
        let key = rcgen::KeyPair::from_pem(&p.ca_key).unwrap();
        Ca::load(&p.ca_cert, key).unwrap()
    })
}

/// What callers do with a parsed index: the CRL's revoked list, signed.
fn use_entries(entries: &[Entry]) -> Result<(), TestCaseError> {
    let revoked = index::revoked(entries, NOW);
    let signed = ca().crl(&revoked, NOW, NOW + time::Duration::days(30), 2);
    prop_assert!(signed.is_ok(), "{:?}", signed.err());
    Ok(())
}

#[test]
fn index_parse_mutated_files() {
    fuzz(
        "index::parse (mutated files)",
        1,
        text_from(seeds()),
        |text| {
            let Ok(entries) = index::parse(&text) else {
                return Ok(false);
            };
            // What parses renders to text that parses to the same entries.
            let rendered = index::render(&entries);
            prop_assert_eq!(index::parse(&rendered).ok(), Some(entries.clone()));
            use_entries(&entries)?;
            Ok(true)
        },
    );
}

/// A time as index.txt writes it (UTCTime or GeneralizedTime), or one that is not.
fn time_field() -> impl Strategy<Value = String> {
    let utc = "[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9])([01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]Z";
    let general =
        "[0-9]{4}(0[1-9]|1[0-2])(0[1-9]|[12][0-9])([01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]Z";
    // 13 bytes (UTCTime's length) with a character of any width in the two-digit year.
    let odd_year = ("\\PC", any::<bool>()).prop_map(|(c, first)| {
        let digits = "1".repeat(12usize.saturating_sub(c.len()));
        if first {
            format!("{c}{digits}Z")
        } else {
            format!("2{c}{}Z", digits.get(1..).unwrap_or(""))
        }
    });
    prop_oneof![
        4 => utc,
        2 => general,
        1 => odd_year,
        1 => "[0-9]{11,15}Z?",
        1 => "[0-9+-]{2}[0-9]{10}Z",
        1 => "\\PC{0,16}",
        1 => Just(String::new()),
    ]
}

fn line() -> impl Strategy<Value = String> {
    let flag = prop_oneof![
        3 => prop::sample::select(vec!["V", "R", "E"]).prop_map(str::to_string),
        1 => "\\PC{0,2}",
    ];
    let revoked = prop_oneof![
        2 => Just(String::new()),
        2 => time_field(),
        2 => (time_field(), "[a-zA-Z]{0,20}").prop_map(|(t, r)| format!("{t},{r}")),
        1 => (time_field(), "\\PC{0,24}").prop_map(|(t, r)| format!("{t},{r}")),
    ];
    let serial = prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 1..20).prop_map(|b| Serial::from_bytes(&b).hex()),
        1 => "[0-9a-fA-F]{1,40}",
        1 => "\\PC{0,8}",
    ];
    let subject = prop_oneof![
        4 => "(/[A-Za-z]{1,12}=[^/\t\n]{0,12}){0,3}/CN=[^/\n]{0,20}",
        1 => "\\PC{0,20}",
    ];
    (flag, time_field(), revoked, serial, "\\PC{0,8}", subject)
        .prop_map(|(f, t, r, s, u, c)| format!("{f}\t{t}\t{r}\t{s}\t{u}\t{c}"))
}

#[test]
fn index_parse_lines_built_field_by_field() {
    let text = prop::collection::vec(line(), 1..4).prop_map(|l| l.join("\n"));
    fuzz("index::parse (built lines)", 1, text, |text| {
        let Ok(entries) = index::parse(&text) else {
            return Ok(false);
        };
        prop_assert_eq!(
            index::parse(&index::render(&entries)).ok(),
            Some(entries.clone())
        );
        use_entries(&entries)?;
        Ok(true)
    });
}

/// Any second index.txt can hold: year 0 to 9999.
fn datetime() -> impl Strategy<Value = OffsetDateTime> {
    (0..=9999i32, 1..=12u8, 1..=28u8, 0..24u8, 0..60u8, 0..60u8).prop_map(|(y, mo, d, h, mi, s)| {
        let month = Month::try_from(mo).unwrap_or(Month::January);
        let date = Date::from_calendar_date(y, month, d).unwrap();
        let time = Time::from_hms(h, mi, s).unwrap();
        PrimitiveDateTime::new(date, time).assume_utc()
    })
}

fn entry() -> impl Strategy<Value = Entry> {
    let flag = prop_oneof![Just(Flag::Valid), Just(Flag::Revoked), Just(Flag::Expired)];
    let reason = proptest::option::of("[A-Za-z]{0,20}");
    let serial = prop::collection::vec(any::<u8>(), 1..20).prop_map(|b| Serial::from_bytes(&b));
    (
        flag,
        datetime(),
        datetime(),
        reason,
        serial,
        "[^/\t\n\r]{0,20}",
    )
        .prop_map(|(flag, not_after, at, reason, serial, cn)| {
            let revoked = flag == Flag::Revoked;
            Entry {
                flag,
                not_after,
                revoked_at: revoked.then_some(at),
                reason: if revoked { reason } else { None },
                serial,
                cn,
            }
        })
}

#[test]
fn index_render_then_parse_is_the_identity() {
    let entries = prop::collection::vec(entry(), 0..5);
    fuzz("index::render/parse round trip", 1, entries, |entries| {
        let text = index::render(&entries);
        prop_assert_eq!(index::parse(&text).ok(), Some(entries.clone()), "{}", text);
        Ok(true)
    });
}

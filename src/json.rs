//! The conventions of every `--json` output: times as RFC 3339 strings in UTC, numbers as
//! numbers, money in US dollars as a number with four decimals (`0.1000`), and the same field
//! names for the same things across commands (`not_after`, `per_hour`, `accrued`, `created`).

use serde::Serializer;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Dollars, serialized with four decimals.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Usd(pub f64);

impl serde::Serialize for Usd {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = format!("{:.4}", self.0 + 0.0);
        match text.parse::<serde_json::Number>() {
            Ok(n) => n.serialize(s),
            Err(_) => s.serialize_f64(self.0),
        }
    }
}

/// Unix seconds as RFC 3339 (`2026-12-02T13:00:00Z`).
pub fn time(t: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
}

/// A date-time as RFC 3339 in UTC.
pub fn datetime(t: OffsetDateTime) -> Option<String> {
    t.to_offset(time::UtcOffset::UTC).format(&Rfc3339).ok()
}

/// `serialize_with` for an optional unix time.
pub fn opt_time<S: Serializer>(t: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match t.and_then(time) {
        Some(text) => s.serialize_str(&text),
        None => s.serialize_none(),
    }
}

/// `serialize_with` for a unix time.
pub fn unix<S: Serializer>(t: &i64, s: S) -> Result<S::Ok, S::Error> {
    opt_time(&Some(*t), s)
}

/// `serialize_with` for dollars held as `f64`.
pub fn usd<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&Usd(*v), s)
}

/// `serialize_with` for optional dollars.
pub fn opt_usd<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => usd(v, s),
        None => s.serialize_none(),
    }
}

/// `serialize_with` for a time as AWS writes it in some answers (`2026-12-02 13:00:00`, UTC):
/// RFC 3339 when it parses, else as given.
pub fn aws_time<S: Serializer>(t: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(raw) => match crate::aws::sdk::parse_aws_time(raw).and_then(time) {
            Some(text) => s.serialize_str(&text),
            None => s.serialize_str(raw),
        },
        None => s.serialize_none(),
    }
}

/// `serialize_with` for a count AWS answers as a string (bytes in and out): a number.
pub fn opt_count<S: Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match v.as_deref().map(|t| t.trim().parse::<u64>()) {
        Some(Ok(n)) => s.serialize_u64(n),
        Some(Err(_)) => s.serialize_str(v.as_deref().unwrap_or_default()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_has_four_decimals_and_times_are_rfc3339() {
        #[derive(serde::Serialize)]
        struct T {
            #[serde(serialize_with = "usd")]
            a: f64,
            b: Usd,
            #[serde(serialize_with = "opt_time")]
            at: Option<i64>,
            #[serde(serialize_with = "opt_time")]
            never: Option<i64>,
        }
        let text = serde_json::to_string(&T {
            a: 0.1,
            b: Usd(-0.0),
            at: Some(3600),
            never: None,
        })
        .unwrap();
        assert_eq!(
            text,
            r#"{"a":0.1000,"b":0.0000,"at":"1970-01-01T01:00:00Z","never":null}"#
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["a"].as_f64(), Some(0.1));
    }
}

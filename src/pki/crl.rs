//! The rules for replacing the CRL a deployment's endpoint holds with this PKI's CRL. Pure: the
//! caller brings both PEMs (the endpoint's exported one, `crl.pem`) and the CA certificate.
//!
//! A revocation must survive every copy of the PKI. So this PKI's CRL may replace the
//! endpoint's only when it is signed by the same CA, carries a higher CRL number, and keeps
//! every serial the endpoint's CRL revokes. Anything else means this copy is behind (or went
//! its own way): `vpnctl pki merge-crl` brings the endpoint's revocations into it first.

use super::cert::{self, Serial};
use crate::error::{Error, Result};
use std::collections::BTreeSet;

/// What to do with the endpoint's CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The endpoint already holds exactly this CRL: importing it again would only reset every
    /// live connection.
    Same,
    /// Import this PKI's CRL (the endpoint has none, or an older one that it supersedes).
    Import,
}

/// The revoked serials and number of a CRL signed by the CA in `ca_pem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub number: u64,
    pub revoked: BTreeSet<Serial>,
}

impl Facts {
    pub fn of(pem: &str, ca_pem: &str, what: &str) -> Result<Facts> {
        let info = cert::inspect_crl(pem, ca_pem).map_err(|e| {
            Error::conflict(
                format!("{what} is not a CRL of this PKI's CA ({e})"),
                "use the PKI that set this deployment up (--pki DIR), or check which endpoint \
                 the deployment name (--name) finds",
            )
        })?;
        Ok(Facts {
            number: info.number.unwrap_or(0),
            revoked: info.revoked.into_iter().collect(),
        })
    }
}

/// The one check before a CRL reaches an endpoint (setup, wake, revoke, merge-crl alike). With
/// an empty `ca_pem` the signatures are not checked (the executor's last look before it
/// imports, after the plan checked them).
pub fn check_replace(endpoint: Option<&str>, local: &str, ca_pem: &str) -> Result<Verdict> {
    let Some(theirs) = endpoint.filter(|t| !t.trim().is_empty()) else {
        return Ok(Verdict::Import);
    };
    if same_pem(theirs, local) {
        return Ok(Verdict::Same);
    }
    let ours = Facts::of(local, ca_pem, "pki/crl.pem")?;
    let theirs = Facts::of(theirs, ca_pem, "the endpoint's CRL")?;
    let lost: Vec<String> = theirs
        .revoked
        .difference(&ours.revoked)
        .map(Serial::hex)
        .collect();
    let fix = "this copy of the PKI is behind another one: `vpnctl pki merge-crl` adds the \
               endpoint's revocations to it (signed by the same CA), then run this command again";
    let (e, o) = (theirs.number, ours.number);
    if !lost.is_empty() {
        return Err(Error::conflict(
            format!(
                "refusing to replace the endpoint's CRL (number {e}) with this PKI's (number {o}): \
                 it would un-revoke {} certificate(s) that only the endpoint's CRL revokes: {}",
                lost.len(),
                lost.join(", ")
            ),
            fix,
        ));
    }
    if e > o {
        return Err(Error::conflict(
            format!(
                "refusing to replace the endpoint's CRL: its number {e} is newer than this \
                 PKI's {o}"
            ),
            fix,
        ));
    }
    if e == o {
        return Err(Error::conflict(
            format!(
                "refusing to replace the endpoint's CRL: it and this PKI's both have number {o} \
                 but differ (two copies of the PKI changed it independently)"
            ),
            fix,
        ));
    }
    Ok(Verdict::Import)
}

/// Whether `endpoint` (read back after an import) revokes every serial `local` does; the
/// error names what it lacks. Signatures are not checked here: `local` was checked before the
/// import, and the question is only whether it arrived.
pub fn revokes_all(endpoint: Option<&str>, local: &str) -> std::result::Result<(), String> {
    let serials = |pem: &str| -> Option<BTreeSet<Serial>> {
        cert::inspect_crl(pem, "")
            .ok()
            .map(|c| c.revoked.into_iter().collect())
    };
    let Some(back) = endpoint.filter(|b| !b.trim().is_empty()) else {
        return Err("any CRL".to_string());
    };
    if same_pem(back, local) {
        return Ok(());
    }
    let (Some(theirs), Some(ours)) = (serials(back), serials(local)) else {
        return Err("the CRL that was imported (it holds another one)".to_string());
    };
    let missing: Vec<String> = ours.difference(&theirs).map(Serial::hex).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("revoked serial(s) {}", missing.join(", ")))
    }
}

/// Two PEM texts hold the same DER (whitespace and line breaks aside).
pub fn same_pem(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.split_whitespace().collect::<String>();
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::pki::cert::{Ca, new_key};
    use time::{Duration, OffsetDateTime, macros::datetime};

    const NOW: OffsetDateTime = datetime!(2026-12-01 12:00 UTC);

    fn ca(cn: &str) -> Ca {
        let key = new_key().unwrap();
        let pem = cert::make_ca(cn, &key, &Serial::random().unwrap(), NOW, 3650).unwrap();
        Ca::load(&pem, key).unwrap()
    }

    fn crl(ca: &Ca, number: u64, serials: &[u8]) -> String {
        let revoked: Vec<_> = serials
            .iter()
            .map(|s| (Serial::from_bytes(&[0x40, *s]), NOW, None))
            .collect();
        ca.crl(&revoked, NOW, NOW + Duration::days(30), number)
            .unwrap()
    }

    #[test]
    fn the_rules_for_replacing_an_endpoints_crl() {
        let ours = ca("ours");
        let ca_pem = ours.cert_pem.clone();
        let base = crl(&ours, 5, &[1, 2]);
        // (what the endpoint holds, what this PKI has, expected verdict or error words)
        let cases: Vec<(Option<String>, String, Result<Verdict, &str>)> = vec![
            (None, base.clone(), Ok(Verdict::Import)),
            (Some(String::new()), base.clone(), Ok(Verdict::Import)),
            (
                Some(base.clone()),
                base.replace('\n', "\r\n"),
                Ok(Verdict::Same),
            ),
            (
                Some(base.clone()),
                crl(&ours, 6, &[1, 2, 3]),
                Ok(Verdict::Import),
            ),
            // Only next-update moved on: still a newer CRL, still imported.
            (
                Some(base.clone()),
                crl(&ours, 6, &[1, 2]),
                Ok(Verdict::Import),
            ),
            (Some(base.clone()), crl(&ours, 6, &[1]), Err("un-revoke 1")),
            (Some(base.clone()), crl(&ours, 9, &[3]), Err("un-revoke 2")),
            (
                Some(base.clone()),
                crl(&ours, 4, &[1, 2, 3]),
                Err("newer than"),
            ),
            (
                Some(base.clone()),
                crl(&ours, 5, &[1, 2, 3]),
                Err("both have number 5"),
            ),
            (
                Some(crl(&ca("theirs"), 1, &[])),
                base.clone(),
                Err("not a CRL of this PKI's CA"),
            ),
            (
                Some("garbage".into()),
                base.clone(),
                Err("not a CRL of this PKI's CA"),
            ),
        ];
        for (i, (endpoint, local, want)) in cases.into_iter().enumerate() {
            let got = check_replace(endpoint.as_deref(), &local, &ca_pem);
            match (want, got) {
                (Ok(w), Ok(g)) => assert_eq!(w, g, "case {i}"),
                (Err(words), Err(e)) => {
                    assert!(matches!(e, Error::Conflict { .. }), "case {i}: {e}");
                    assert!(e.to_string().contains(words), "case {i}: {e}");
                    assert!(
                        e.hint().contains("merge-crl") || e.hint().contains("--pki"),
                        "{i}"
                    );
                }
                (w, g) => panic!("case {i}: want {w:?}, got {g:?}"),
            }
        }
    }

    #[test]
    fn a_refusal_names_both_numbers_and_the_lost_serials() {
        let ours = ca("ours");
        let e = check_replace(
            Some(&crl(&ours, 7, &[1, 2])),
            &crl(&ours, 8, &[2]),
            &ours.cert_pem,
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("number 7") && text.contains("number 8"),
            "{text}"
        );
        assert!(text.contains("4001"), "the lost serial is named: {text}");
    }

    #[test]
    fn read_back_checks_every_serial() {
        let ours = ca("ours");
        let local = crl(&ours, 3, &[1, 2]);
        assert_eq!(revokes_all(Some(&local), &local), Ok(()));
        assert_eq!(
            revokes_all(Some(&crl(&ours, 4, &[1, 2, 3])), &local),
            Ok(())
        );
        let err = revokes_all(Some(&crl(&ours, 2, &[1])), &local).unwrap_err();
        assert!(err.contains("4002"), "{err}");
        assert!(revokes_all(None, &local).is_err());
    }
}

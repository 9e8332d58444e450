//! Fuzzing of every parser that reads outside input: `index.txt`, PEM certificates, CRLs and
//! keys (plain and encrypted), `vpnctl.json`, `vpnctl.toml`, the state file, an easy-rsa
//! directory, AWS's exported client configuration and the other text AWS hands back (times,
//! tags), a profile template, and the command-line values parsed by hand.
//!
//! The property is the same everywhere: any input gives `Ok` or an `Error`, never a panic (and,
//! where it means something, a round trip holds). There is no nightly toolchain in CI, so this is
//! proptest on stable rather than cargo-fuzz. The generators know the formats: most inputs are a
//! valid file made by vpnctl's own code (or in easy-rsa's and AWS's shape) and then mutated by
//! truncation, byte flips, deleted, duplicated or swapped ranges, swapped lines and fields, and
//! inserted tokens (unicode, huge and negative numbers, separators, PEM armour); PEM inputs are
//! also mutated below the base64, at the DER level. The rest are random strings and bytes.
//!
//! `VPNCTL_FUZZ_CASES` sets the number of cases per parser (default 256, a few seconds in all,
//! so `cargo test` runs it in CI); `benches/fuzz.sh` runs a long job and prints, per parser, the
//! inputs tried. A failure prints the smallest input proptest could shrink it to: turn it into a
//! regression test named after the bug, beside the parser.

#![allow(clippy::print_stderr)]

mod aws;
mod easyrsa;
mod files;
mod fixtures;
mod index;
mod pem;
mod profile;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::cell::Cell;

/// Cases per parser: `VPNCTL_FUZZ_CASES`, default 256.
pub fn cases() -> u32 {
    std::env::var("VPNCTL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(256)
}

/// What one case did with its input: the parser accepted it or returned an error. Counted so a
/// run shows the generators reach past the first check.
pub type Outcome = Result<bool, TestCaseError>;

/// Run `test` on `cases() / cost` inputs from `strategy` (at least 16), and report how many were
/// tried. `cost` divides the count for parsers whose cases do real file-system or crypto work.
pub fn fuzz<S: Strategy>(name: &str, cost: u32, strategy: S, test: impl Fn(S::Value) -> Outcome) {
    let config = Config {
        cases: (cases() / cost.max(1)).max(16),
        // Failures are turned into named regression tests, not files in the tree.
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let (tried, accepted) = (Cell::new(0u64), Cell::new(0u64));
    let result = runner.run(&strategy, |input| {
        tried.set(tried.get() + 1);
        let ok = test(input)?;
        accepted.set(accepted.get() + u64::from(ok));
        Ok(())
    });
    eprintln!(
        "fuzz {name}: {} inputs tried ({} accepted, {} errors){}",
        tried.get(),
        accepted.get(),
        tried.get() - accepted.get(),
        if result.is_ok() { ", no panic" } else { "" }
    );
    if let Err(e) = result {
        panic!("fuzz {name} failed: {e}");
    }
}

/// Tokens that break parsers: separators, unicode of every width, numbers at and past the
/// limits of every integer type, empty and whitespace, PEM armour, JSON and TOML punctuation.
const TOKENS: &[&str] = &[
    "",
    "\t",
    "\n",
    "\r\n",
    " ",
    "\0",
    ",",
    "/",
    "=",
    ":",
    ";",
    ">",
    "\"",
    "'",
    "\\",
    "[",
    "]",
    "{",
    "}",
    "#",
    "*",
    ".",
    "-",
    "é",
    "日本",
    "🦀",
    "\u{feff}",
    "\u{202e}",
    "\u{fffd}",
    "0",
    "-1",
    "00",
    "+1",
    "255",
    "256",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999999999",
    "FFFFFFFFFFFFFFFF",
    "1e309",
    "-0.0",
    "NaN",
    "inf",
    "null",
    "true",
    "[]",
    "{}",
    "Z",
    "CN=",
    "/CN=",
    "unknown",
    "V",
    "R",
    "E",
    "991231235959Z",
    "500101000000Z",
    "19491231235959Z",
    "99991231235959Z",
    "00000101000000Z",
    "-----BEGIN CERTIFICATE-----\n",
    "-----END CERTIFICATE-----\n",
    // Split so that no line of the source looks like key material to a scanner.
    concat!("-----BEGIN ENCRYPTED ", "PRIVATE KEY-----\n"),
    "-----BEGIN X509 CRL-----\n",
    "Proc-Type: 4,ENCRYPTED\n",
    "remote ",
    "proto tcp\n",
    "{{ user }}",
    "{% if %}",
    "{{",
    "[lab]\n",
    "[prices.x]\n",
];

/// DER bytes that break ASN.1 parsers: long-form and indefinite lengths, huge lengths, empty and
/// negative integers, tags of every class.
const DER_TOKENS: &[&[u8]] = &[
    &[0x00],
    &[0xff],
    &[0x80],
    &[0x81, 0xff],
    &[0x82, 0xff, 0xff],
    &[0x84, 0xff, 0xff, 0xff, 0xff],
    &[0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    &[0x30, 0x80],
    &[0x30, 0x00],
    &[0x02, 0x00],
    &[0x02, 0x01, 0x00],
    &[0x02, 0x01, 0x80],
    &[
        0x02, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ],
    &[0x04, 0x00],
    &[0x05, 0x00],
    &[0x06, 0x00],
    &[0x17, 0x00],
    &[0x18, 0x00],
    &[0xa0, 0x00],
    &[0xa3, 0x00],
    &[0x1f, 0xff, 0xff, 0xff],
];

/// One mutation. Positions are `Index`es, scaled to the input when applied, so a mutation list
/// shrinks independently of the seed it is applied to.
#[derive(Debug, Clone)]
pub enum Op {
    Truncate(Index),
    Delete(Index, u8),
    Insert(Index, Vec<u8>),
    Replace(Index, u8, Vec<u8>),
    Flip(Index, u8),
    /// Copy `len` bytes at the first index to the second.
    Duplicate(Index, u8, Index),
    SwapLines(Index, Index),
    /// Split on a separator and swap two of the pieces (fields of a line, list items).
    SwapPieces(u8, Index, Index),
}

fn text_payload() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        4 => prop::sample::select(TOKENS).prop_map(|t| t.as_bytes().to_vec()),
        1 => "\\PC{0,6}".prop_map(String::into_bytes),
        1 => "[0-9]{8,40}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..6),
    ]
    .boxed()
}

fn der_payload() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        3 => prop::sample::select(DER_TOKENS).prop_map(<[u8]>::to_vec),
        1 => prop::collection::vec(any::<u8>(), 0..6),
    ]
    .boxed()
}

fn op(payload: BoxedStrategy<Vec<u8>>) -> impl Strategy<Value = Op> {
    let sep = prop::sample::select(&b"\t\n,;/= :\"."[..]);
    prop_oneof![
        any::<Index>().prop_map(Op::Truncate),
        (any::<Index>(), 1..64u8).prop_map(|(i, n)| Op::Delete(i, n)),
        (any::<Index>(), payload.clone()).prop_map(|(i, p)| Op::Insert(i, p)),
        (any::<Index>(), 1..16u8, payload).prop_map(|(i, n, p)| Op::Replace(i, n, p)),
        (any::<Index>(), 1..=255u8).prop_map(|(i, m)| Op::Flip(i, m)),
        (any::<Index>(), 1..64u8, any::<Index>()).prop_map(|(a, n, b)| Op::Duplicate(a, n, b)),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Op::SwapLines(a, b)),
        (sep, any::<Index>(), any::<Index>()).prop_map(|(s, a, b)| Op::SwapPieces(s, a, b)),
    ]
}

/// 1 to 4 text mutations.
pub fn text_ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(text_payload()), 1..=4)
}

/// 1 to 4 DER mutations.
pub fn der_ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(der_payload()), 1..=4)
}

fn at(i: &Index, len: usize) -> usize {
    // `len + 1` so the end is a position too.
    i.index(len + 1)
}

fn swap_pieces(b: &[u8], sep: u8, x: &Index, y: &Index) -> Vec<u8> {
    let mut pieces: Vec<&[u8]> = b.split(|c| *c == sep).collect();
    let (i, j) = (x.index(pieces.len()), y.index(pieces.len()));
    pieces.swap(i, j);
    pieces.join(&sep)
}

/// `seed` with `ops` applied in order.
pub fn apply(seed: &[u8], ops: &[Op]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for op in ops {
        match op {
            Op::Truncate(i) => b.truncate(at(i, b.len())),
            Op::Delete(i, n) => {
                let s = at(i, b.len());
                let e = (s + usize::from(*n)).min(b.len());
                b.drain(s..e);
            }
            Op::Insert(i, p) => {
                let s = at(i, b.len());
                b.splice(s..s, p.iter().copied());
            }
            Op::Replace(i, n, p) => {
                let s = at(i, b.len());
                let e = (s + usize::from(*n)).min(b.len());
                b.splice(s..e, p.iter().copied());
            }
            Op::Flip(i, m) => {
                if !b.is_empty() {
                    let k = i.index(b.len());
                    b[k] ^= m;
                }
            }
            Op::Duplicate(i, n, to) => {
                let s = at(i, b.len());
                let e = (s + usize::from(*n)).min(b.len());
                let piece = b[s..e].to_vec();
                let t = at(to, b.len());
                b.splice(t..t, piece);
            }
            Op::SwapLines(x, y) => b = swap_pieces(&b, b'\n', x, y),
            Op::SwapPieces(sep, x, y) => b = swap_pieces(&b, *sep, x, y),
        }
    }
    b
}

pub fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Text inputs for a parser: mostly one of `seeds` mutated, some seeds as they are, some random.
pub fn text_from(seeds: Vec<String>) -> BoxedStrategy<String> {
    let pick = prop::sample::select(seeds);
    prop_oneof![
        8 => (pick.clone(), text_ops()).prop_map(|(s, ops)| lossy(&apply(s.as_bytes(), &ops))),
        1 => pick,
        1 => any::<String>(),
        1 => prop::collection::vec(any::<u8>(), 0..512).prop_map(|b| lossy(&b)),
    ]
    .boxed()
}

/// PEM inputs: `seeds` (PEM texts) mutated as text, or decoded, mutated as DER and armoured
/// again with the same label, so the mutation reaches the ASN.1 parser.
pub fn pem_from(seeds: Vec<String>) -> BoxedStrategy<String> {
    let pick = prop::sample::select(seeds);
    prop_oneof![
        3 => (pick.clone(), text_ops()).prop_map(|(s, ops)| lossy(&apply(s.as_bytes(), &ops))),
        6 => (pick.clone(), der_ops()).prop_map(|(s, ops)| mutate_der(&s, &ops)),
        1 => pick,
        1 => prop::collection::vec(any::<u8>(), 0..1024).prop_map(|b| armour("CERTIFICATE", &b)),
        1 => any::<String>(),
    ]
    .boxed()
}

/// A PEM block of `der` under `label`.
pub fn armour(label: &str, der: &[u8]) -> String {
    pkcs8::der::pem::encode_string(label, pkcs8::LineEnding::LF, der).unwrap_or_default()
}

/// `pem` decoded, its DER mutated, armoured again under the same label.
pub fn mutate_der(pem: &str, ops: &[Op]) -> String {
    match pkcs8::der::pem::decode_vec(pem.as_bytes()) {
        Ok((label, der)) => armour(label, &apply(&der, ops)),
        Err(_) => lossy(&apply(pem.as_bytes(), ops)),
    }
}

#[test]
fn mutations_stay_in_bounds_on_empty_and_short_inputs() {
    fuzz(
        "fuzz::apply",
        1,
        (
            prop::collection::vec(any::<u8>(), 0..4),
            prop::collection::vec(op(text_payload()), 0..8),
        ),
        |(seed, ops)| {
            let _ = apply(&seed, &ops);
            Ok(true)
        },
    );
}

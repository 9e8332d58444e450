//! The one integration-test binary (one link of the large AWS-enabled crate instead of many).
//! Each module tests one area from the outside, through the real `vpnctl` binary, real files,
//! the real `openssl` and `openvpn`, and (for AWS) the emulator.

#![allow(clippy::unwrap_used)]

mod emulator;
mod harness;
mod live;

mod adopt;
mod aws;
mod bad_input;
mod calls;
mod certificates;
mod concurrency;
mod confirm;
mod conventions;
mod crash;
mod deadlines;
mod deployments;
mod docs;
mod doctor;
mod easyrsa;
mod interrupt;
mod kms;
mod nat;
mod openvpn;
mod options;
mod permissions;
mod pki_lifecycle;
mod realism;
mod revocation;
mod shell;
mod team;
mod usability;

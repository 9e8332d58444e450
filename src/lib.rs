//! vpnctl: an AWS Client VPN into a private subnet in one command, and the billing part gone
//! again in one command.
//!
//! Data flows one way: CLI (`cli`) → settings (`commands::Ctx`) → the pure cores (`pki`,
//! `profile`) → the one store that touches disk (`pki::store`) → the one printer (`printer`).

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod aws;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod fsx;
pub mod pki;
pub mod printer;
pub mod profile;
pub mod state;

pub use error::{Error, Result};

use clap::Parser;
use std::ffi::OsString;

/// Run vpnctl with `args` (including the program name); returns the process exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> i32 {
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let printer = printer::Printer::new(cli.quiet);
    match commands::dispatch(cli, &printer) {
        Ok(()) => 0,
        Err(err) => {
            printer.error(&err);
            err.exit_code()
        }
    }
}

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
#[cfg(test)]
mod fuzz;
pub mod json;
pub mod pki;
pub mod printer;
pub mod profile;
pub mod state;
pub mod store;

pub use error::{Error, Result};

use clap::Parser;
use std::ffi::OsString;

/// Run vpnctl with `args` (including the program name); returns the process exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> i32 {
    let argv: Vec<OsString> = args.into_iter().collect();
    let env = commands::Environment::read(&argv);
    let cli = match cli::Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return 0;
        }
        // (MissingSubcommand too: clap counts a VPNCTL_* variable as an argument given.)
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                    | clap::error::ErrorKind::MissingSubcommand
            ) =>
        {
            // A bare `vpnctl`, `vpnctl pki` or `vpnctl nat` asks what there is: the help, on
            // stdout, and success.
            let help = match e.kind() {
                clap::error::ErrorKind::MissingSubcommand => help_for(&e),
                _ => e.render().to_string(),
            };
            printer::Printer::default().data(help.trim_end());
            return 0;
        }
        Err(e) => {
            printer::Printer::default().error(&usage_error(&e));
            return 2;
        }
    };
    let printer = printer::Printer::new(cli.quiet);
    let printer = if cli.verbose || cli.debug {
        printer.without_live()
    } else {
        printer
    };
    aws::trace::init(cli.verbose, cli.debug);
    match commands::dispatch(cli, env, &printer) {
        Ok(()) => 0,
        Err(err) => {
            printer.error(&err);
            err.exit_code()
        }
    }
}

/// A command-line mistake as vpnctl's own one-line error: clap's message folded onto one line,
/// and the usage of the command as the hint.
fn usage_error(e: &clap::Error) -> Error {
    let text = e.render().to_string();
    let text = text.replace("For more information, try '--help'.", "");
    let (head, rest) = text.split_once("\n\nUsage:").unwrap_or((text.as_str(), ""));
    let message = head
        .trim_start_matches("error:")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let usage = rest.lines().next().map(str::trim).filter(|u| !u.is_empty());
    let hint = match usage {
        Some(u) => format!("usage: {u} (more: --help)"),
        None => "run the command with --help to see its flags and values".to_string(),
    };
    Error::invalid(message, hint)
}

/// The help of the command whose subcommand is missing (clap's error names only its usage).
fn help_for(e: &clap::Error) -> String {
    use clap::CommandFactory;
    let usage = e.render().to_string();
    let mut cmd = cli::Cli::command();
    for name in ["pki", "nat"] {
        if usage.contains(&format!("vpnctl {name} "))
            && let Some(sub) = cmd.find_subcommand_mut(name)
        {
            return sub.render_help().to_string();
        }
    }
    cmd.render_help().to_string()
}

//! The command layer: turns parsed arguments into calls on the library and reports results
//! through the one `Printer`. The only layer that prints.

pub mod pki;
pub mod profile;

use crate::cli::{Cli, Command};
use crate::error::{Error, Result};
use crate::pki::{Passphrase, Pki, names};
use crate::printer::Printer;
use std::path::PathBuf;
use time::OffsetDateTime;

pub const DEFAULT_DEPLOYMENT: &str = "default";
pub const DEFAULT_PKI_DIR: &str = "pki";

/// Settings every command shares, resolved once from flags and the environment.
pub struct Ctx<'a> {
    pub printer: &'a Printer,
    pub pki_dir: PathBuf,
    pub deployment: String,
    pub passphrase: Option<Passphrase>,
    pub now: OffsetDateTime,
}

impl Ctx<'_> {
    pub fn open_pki(&self) -> Result<Pki> {
        Pki::open(&self.pki_dir)
    }
}

fn passphrase(file: Option<&PathBuf>) -> Result<Option<Passphrase>> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io("read the CA passphrase file", path, e))?;
        return Ok(Some(Passphrase::new(text)));
    }
    Ok(std::env::var("VPNCTL_CA_PASSPHRASE")
        .ok()
        .filter(|s| !s.is_empty())
        .map(Passphrase::new))
}

pub fn dispatch(cli: Cli, printer: &Printer) -> Result<()> {
    let deployment = cli
        .name
        .clone()
        .unwrap_or_else(|| DEFAULT_DEPLOYMENT.to_string());
    names::validate_deployment(&deployment)?;
    let ctx = Ctx {
        printer,
        pki_dir: cli
            .pki
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PKI_DIR)),
        deployment,
        passphrase: passphrase(cli.ca_passphrase_file.as_ref())?,
        now: OffsetDateTime::now_utc(),
    };
    match cli.command {
        Command::Pki { command } => pki::run(&ctx, command),
        Command::Profile(args) => profile::run(&ctx, &args),
    }
}

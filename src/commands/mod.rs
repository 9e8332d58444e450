//! The command layer: turns parsed arguments into calls on the library and reports results
//! through the one `Printer`. The only layer that prints.

pub mod live;
pub mod nat;
pub mod pki;
pub mod profile;
pub mod setup;
pub mod status;
pub mod teardown;

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
    pub config: crate::config::ConfigFile,
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
        if text.trim_end_matches(['\n', '\r']).is_empty() {
            return Err(Error::invalid(
                format!("the CA passphrase file {} is empty", path.display()),
                "write the passphrase into it (one line), or use VPNCTL_CA_PASSPHRASE",
            ));
        }
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
    let config = crate::config::ConfigFile::load(cli.config.as_deref())?;
    let pki_dir = cli
        .pki
        .clone()
        .or_else(|| config.deployment(&deployment).pki)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PKI_DIR));
    let ctx = Ctx {
        printer,
        config,
        pki_dir,
        deployment,
        passphrase: passphrase(cli.ca_passphrase_file.as_ref())?,
        now: OffsetDateTime::now_utc(),
    };
    match cli.command {
        Command::Pki { command } => pki::run(&ctx, command),
        Command::Profile(args) => profile::run(&ctx, &args),
        Command::Setup(args) => setup::run(&ctx, &args),
        Command::Status(args) => status::run(&ctx, &args),
        Command::Teardown(args) => teardown::run(&ctx, &args),
        Command::Nat { command } => nat::run(&ctx, &command),
        Command::Connections(args) => live::connections(&ctx, &args),
        Command::Kick(args) => live::kick(&ctx, &args),
        Command::Sleep(args) => live::sleep(&ctx, &args.aws),
        Command::Wake(args) => live::wake(&ctx, &args.aws),
    }
}

/// A single-threaded async runtime for the AWS commands: their concurrency is joined
/// futures (calls and waits), not threads.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            Error::io(
                "start the async runtime for",
                std::path::Path::new("AWS calls"),
                e,
            )
        })
}

/// The cloud for a command, reached as the AWS CLI would: flags, then the config file, then
/// the AWS defaults. Returns the region too (prices and messages name it).
pub async fn connect(
    ctx: &Ctx<'_>,
    aws: &crate::cli::AwsArgs,
) -> Result<(crate::aws::sdk::AwsCloud, String)> {
    let dc = ctx.config.deployment(&ctx.deployment);
    let profile = aws.profile.clone().or(dc.profile);
    let region = aws.region.clone().or(dc.region);
    crate::aws::sdk::connect(profile.as_deref(), region.as_deref())
        .await
        .map_err(crate::aws::to_error)
}

/// One vpnctl at a time changes a deployment from this machine: a second `setup` waits for the
/// first and then finds its endpoint, rather than creating another. (Across machines the tags
/// still keep it findable; `setup` refuses two endpoints of one deployment.)
pub fn deployment_lock(ctx: &Ctx<'_>) -> Result<crate::fsx::Lock> {
    let path = crate::state::path(&ctx.pki_dir, &ctx.deployment).with_extension("lock");
    crate::fsx::Lock::acquire_noting(&path, || {
        ctx.printer.info(format!(
            "waiting for another vpnctl working on deployment '{}'…",
            ctx.deployment
        ))
    })
}

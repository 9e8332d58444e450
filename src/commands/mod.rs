//! The command layer: turns parsed arguments into calls on the library and reports results
//! through the one `Printer`. The only layer that prints.

pub mod adopt;
pub mod deadline;
pub mod deployment;
pub mod doctor;
pub mod list;
pub mod live;
pub mod nat;
pub mod pki;
pub mod plan_report;
pub mod profile;
pub use plan_report::{execute, show_plan};
pub mod setup;
pub mod status;
pub mod store;
pub mod teardown;
pub mod tools;

use crate::cli::{Cli, Command};
use crate::error::{Error, Result};
use crate::pki::{Passphrase, Pki, names};
use crate::printer::Printer;
use std::path::PathBuf;
use time::OffsetDateTime;

pub const DEFAULT_DEPLOYMENT: &str = deployment::DEFAULT;
pub const DEFAULT_PKI_DIR: &str = "pki";

/// What the process environment says, read once at the start (nothing below the command
/// layer reads the environment): the command line, and the variables vpnctl itself defines.
/// (The AWS SDK reads the AWS_* variables through its own config loader.)
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// The command line as given (for "run the same command again").
    pub argv: Vec<String>,
    /// `VPNCTL_POLL_INTERVAL` (decimal seconds): every AWS wait polls this often.
    pub poll_interval: Option<std::time::Duration>,
    /// `VPNCTL_TEMPLATES`: a directory whose client.ovpn.tera overrides the built-in one.
    pub templates: Option<PathBuf>,
    /// `VPNCTL_CA_PASSPHRASE`.
    pub ca_passphrase: Option<String>,
    /// `USER` (else `LOGNAME`): who a local PKI's audit log names.
    pub user: Option<String>,
}

impl Environment {
    pub fn read(argv: &[std::ffi::OsString]) -> Environment {
        Environment {
            argv: argv
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            poll_interval: std::env::var("VPNCTL_POLL_INTERVAL")
                .ok()
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s > 0.0 && *s < 3600.0)
                .map(std::time::Duration::from_secs_f64),
            templates: std::env::var_os("VPNCTL_TEMPLATES")
                .filter(|t| !t.is_empty())
                .map(Into::into),
            ca_passphrase: std::env::var("VPNCTL_CA_PASSPHRASE")
                .ok()
                .filter(|s| !s.is_empty()),
            user: std::env::var("USER")
                .or_else(|_| std::env::var("LOGNAME"))
                .ok()
                .filter(|s| !s.is_empty()),
        }
    }
}

/// Settings every command shares, resolved once from flags and the environment.
pub struct Ctx<'a> {
    pub printer: &'a Printer,
    pub config: crate::config::ConfigFile,
    pub pki_dir: PathBuf,
    pub deployment: String,
    /// From --ca-passphrase-file or VPNCTL_CA_PASSPHRASE.
    pub passphrase: Option<Passphrase>,
    /// Typed at the prompt, once per run.
    prompted: std::cell::OnceCell<Passphrase>,
    /// `--config`, as given, for hints that must run on the same thing when pasted.
    pub config_path: Option<PathBuf>,
    /// `--yes`: destructive commands do not ask.
    pub yes: bool,
    pub env: Environment,
    pub now: OffsetDateTime,
    /// The S3 store in effect (`--store`, `VPNCTL_STORE`, the config's `store`, or the one the
    /// working copy in `pki_dir` records); None for a local PKI.
    pub store: Option<crate::store::S3Uri>,
    /// Its connection, made on first use.
    remote: std::cell::OnceCell<crate::store::remote::Remote>,
    /// Whether the working copy was brought up to date in this run.
    refreshed: std::cell::Cell<bool>,
}

impl Ctx<'_> {
    /// The PKI: a local one, or the working copy of the S3 store, brought up to date with the
    /// store once per run (and after each change this run makes).
    pub fn open_pki(&self) -> Result<Pki> {
        if let Some(remote) = self.remote()?
            && !self.refreshed.get()
        {
            remote.refresh(&self.pki_dir)?;
            self.refreshed.set(true);
        }
        let mut pki = Pki::open(&self.pki_dir)?;
        if let Some(arn) = pki.meta.kms_key() {
            pki.kms = Some(self.kms_for()(arn));
        }
        Ok(pki)
    }

    /// The CA key in KMS by ARN, reached (DescribeKey, GetPublicKey) only when something signs.
    pub fn kms_for(&self) -> crate::store::remote::KmsFor {
        let dc = self.config.deployment(&self.deployment);
        let (profile, region) = (dc.profile, dc.region);
        std::sync::Arc::new(move |arn: &str| {
            // A KMS key is regional: its ARN names the region to ask, whatever the config says.
            let in_arn = arn
                .strip_prefix("arn:")
                .and_then(|a| a.split(':').nth(2))
                .filter(|r| !r.is_empty())
                .map(str::to_string);
            std::sync::Arc::new(LazyKms {
                profile: profile.clone(),
                region: in_arn.or_else(|| region.clone()),
                id: arn.to_string(),
                key: std::sync::OnceLock::new(),
            }) as std::sync::Arc<dyn crate::pki::cert::RemoteKey>
        })
    }

    /// The S3 store's connection, if the PKI lives in one.
    pub fn remote(&self) -> Result<Option<&crate::store::remote::Remote>> {
        let Some(uri) = &self.store else {
            return Ok(None);
        };
        if let Some(r) = self.remote.get() {
            return Ok(Some(r));
        }
        // Mirroring the store here would overwrite a PKI of its own (and remove its CA key).
        if crate::pki::store::exists(&self.pki_dir)
            && crate::pki::store::read_meta(&crate::pki::Layout::new(&self.pki_dir))
                .is_ok_and(|m| m.store.is_none())
        {
            return Err(Error::conflict(
                format!(
                    "{} holds a local PKI, not a working copy of {uri}",
                    self.pki_dir.display()
                ),
                format!(
                    "move it into the store with `vpnctl --pki {dir} store push {uri}`, or give \
                     the store's working copy another directory (--pki)",
                    dir = shell_word(&self.pki_dir.display().to_string())
                ),
            ));
        }
        let objects = self.s3_objects(uri, None)?;
        let mut remote = crate::store::remote::Remote::new(std::sync::Arc::new(objects));
        remote.kms_for = Some(self.kms_for());
        let _ = self.remote.set(remote);
        Ok(self.remote.get())
    }

    /// A connection to the bucket of `uri`, with `aws`'s profile and region over the
    /// deployment's config.
    pub fn s3_objects(
        &self,
        uri: &crate::store::S3Uri,
        aws: Option<&crate::cli::AwsArgs>,
    ) -> Result<crate::aws::sdk::S3Objects> {
        let dc = self.config.deployment(&self.deployment);
        let profile = aws.and_then(|a| a.profile.clone()).or(dc.profile);
        let region = aws.and_then(|a| a.region.clone()).or(dc.region);
        let uri = uri.clone();
        crate::aws::sdk::block_on(async move {
            crate::aws::sdk::S3Objects::new(profile.as_deref(), region.as_deref(), uri).await
        })
        .map_err(crate::aws::to_error)
    }

    /// Who the audit log names: the caller's ARN for a store, else the local user.
    pub fn who(&self) -> String {
        match self.remote() {
            Ok(Some(r)) => r.objects.caller().unwrap_or_else(|_| "unknown".into()),
            _ => format!("local:{}", self.env.user.as_deref().unwrap_or("unknown")),
        }
    }

    /// Change the PKI with `f` (given the PKI and the CA's passphrase) and log `records` of
    /// its outcome. Locally: once, on the directory. In an S3 store: on a scratch copy of the
    /// store, landed by conditional writes, again on the newest state after a lost race (`f`
    /// must be repeatable); the working copy is up to date afterwards. Returns the outcome and
    /// the PKI as it is now.
    pub fn change_pki<T>(
        &self,
        f: impl FnMut(&mut Pki, Option<&Passphrase>) -> Result<T>,
        records: impl FnOnce(&T, &str) -> Vec<crate::store::audit::Record>,
    ) -> Result<(T, Pki)> {
        self.change_pki_keys(false, f, records)
    }

    /// `change_pki`; with `keys_to_store` (an S3 store only) the keys of the users it issues
    /// are kept in the store too.
    pub fn change_pki_keys<T>(
        &self,
        keys_to_store: bool,
        mut f: impl FnMut(&mut Pki, Option<&Passphrase>) -> Result<T>,
        records: impl FnOnce(&T, &str) -> Vec<crate::store::audit::Record>,
    ) -> Result<(T, Pki)> {
        let mut pki = self.open_pki()?;
        let pass = self.ca_passphrase(&pki)?;
        match self.remote()? {
            None => {
                let out = f(&mut pki, pass.as_ref());
                self.report_repairs(&mut pki);
                let out = out?;
                crate::store::audit::append_local(&self.pki_dir, &records(&out, &self.who()))?;
                Ok((out, pki))
            }
            Some(remote) => {
                let out = remote.transact_keys(
                    &self.pki_dir,
                    pass.as_ref(),
                    self.now,
                    keys_to_store,
                    |p| f(p, pass.as_ref()),
                    records,
                )?;
                self.refreshed.set(true);
                let mut pki = Pki::open(&self.pki_dir)?;
                self.attach_kms(&mut pki);
                Ok((out, pki))
            }
        }
    }

    /// The passphrase for `pki`'s CA key: the file or the environment; else, when the key is
    /// encrypted and stdin is a terminal, a prompt (no echo). A script never blocks: without a
    /// terminal it gets the "needs a passphrase" error.
    pub fn ca_passphrase(&self, pki: &Pki) -> Result<Option<Passphrase>> {
        self.passphrase_if(pki.meta.ca_key_encrypted)
    }

    /// `ca_passphrase` for a CA key that is `encrypted` or not.
    pub fn passphrase_if(&self, encrypted: bool) -> Result<Option<Passphrase>> {
        if self.passphrase.is_some() || !encrypted {
            return Ok(self.passphrase.clone());
        }
        self.prompt("passphrase of the CA key", false)
    }

    /// Repair what an interrupted PKI command left before a CRL goes to AWS, asking for the
    /// passphrase only if the repair has to sign.
    /// Give `pki` its KMS CA key when it has one (a PKI opened without `open_pki`).
    pub fn attach_kms(&self, pki: &mut Pki) {
        if pki.kms.is_none()
            && let Some(arn) = pki.meta.kms_key()
        {
            pki.kms = Some(self.kms_for()(arn));
        }
    }

    pub fn repaired_pki(&self, pki: &mut Pki) -> Result<()> {
        self.attach_kms(pki);
        let encrypted = pki.meta.ca_key_encrypted;
        if let Some(remote) = self.remote()? {
            // The store's CRL is made to agree with its index (a change killed half-way, or
            // another admin's in flight), then mirrored here.
            remote.refresh(&self.pki_dir)?;
            if pki.health()?.crl_stale {
                let pass = self.passphrase_if(encrypted)?;
                remote.sync_crl(&self.pki_dir, pass.as_ref(), self.now)?;
                remote.refresh(&self.pki_dir)?;
            }
            // The mirror may have brought new settings (the CRL number).
            *pki = Pki::open(&self.pki_dir)?;
            self.attach_kms(pki);
            return Ok(());
        }
        let done = pki.ensure_consistent(|| self.passphrase_if(encrypted), self.now);
        self.report_repairs(pki);
        done
    }

    /// A passphrase for a CA key about to be encrypted: the file or the environment, else
    /// typed twice at a terminal.
    pub fn new_passphrase(&self) -> Result<Option<Passphrase>> {
        if self.passphrase.is_some() {
            return Ok(self.passphrase.clone());
        }
        self.prompt("passphrase for the new CA key", true)
    }

    fn prompt(&self, what: &str, confirm: bool) -> Result<Option<Passphrase>> {
        use std::io::IsTerminal;
        if let Some(p) = self.prompted.get() {
            return Ok(Some(p.clone()));
        }
        if !std::io::stdin().is_terminal() {
            return Ok(None);
        }
        let ask = |label: &str| {
            rpassword::prompt_password(format!("{label}: ")).map_err(|e| {
                Error::io(
                    "read the passphrase from",
                    std::path::Path::new("the terminal"),
                    e,
                )
            })
        };
        let first = ask(&format!("vpnctl: {what}"))?;
        if first.is_empty() {
            return Err(Error::invalid(
                "the passphrase is empty",
                "type the passphrase, or set VPNCTL_CA_PASSPHRASE / --ca-passphrase-file",
            ));
        }
        if confirm && ask("vpnctl: the same passphrase again")? != first {
            return Err(Error::invalid(
                "the two passphrases differ",
                "run the command again and type the same passphrase twice",
            ));
        }
        let p = Passphrase::new(first);
        let _ = self.prompted.set(p.clone());
        Ok(Some(p))
    }

    /// `vpnctl REST` with the global flags in effect (`--pki`, `--name`, `--config`), so that a
    /// hint pasted back runs on the same PKI and deployment.
    pub fn vpnctl(&self, rest: &str) -> String {
        let mut cmd = String::from("vpnctl");
        if self.pki_dir != std::path::Path::new(DEFAULT_PKI_DIR) {
            cmd.push_str(&format!(
                " --pki {}",
                shell_word(&self.pki_dir.display().to_string())
            ));
        }
        if self.deployment != DEFAULT_DEPLOYMENT {
            cmd.push_str(&format!(" --name {}", self.deployment));
        }
        if let Some(c) = &self.config_path {
            cmd.push_str(&format!(
                " --config {}",
                shell_word(&c.display().to_string())
            ));
        }
        format!("{cmd} {rest}")
    }

    /// `vpnctl` for an AWS command: also `--profile` and `--region` when given.
    pub fn vpnctl_aws(&self, rest: &str, aws: &crate::cli::AwsArgs) -> String {
        self.vpnctl(rest) + &aws_flags(aws)
    }

    /// Whether `confirm` would ask: no `--yes`, and a terminal to ask on (stdin for the answer,
    /// stderr for the question: a question nobody sees must not wait).
    pub fn will_ask(&self) -> bool {
        use std::io::IsTerminal;
        !self.yes && std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
    }

    /// Before a destructive change: on a terminal, show `what` (the plan, what ends, what stops
    /// billing) and ask `question`; anything but y/yes changes nothing (exit 9). With `--yes`,
    /// or when stdin is not a terminal (scripts, CI), it does not ask. The question goes to the
    /// terminal even with `--quiet`: a hidden question would look like a hang.
    pub fn confirm(&self, what: &[String], question: &str) -> Result<()> {
        use std::io::{BufRead, Write};
        if !self.will_ask() {
            return Ok(());
        }
        // Through the printer (hints get the flags in effect), even with --quiet: a hidden
        // question would look like a hang.
        for line in what {
            self.printer.ask(line);
        }
        self.printer.ask(&format!("{question} [y/N] "));
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| {
                Error::io(
                    "read the answer from",
                    std::path::Path::new("the terminal"),
                    e,
                )
            })?;
        match answer.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => Ok(()),
            _ => Err(Error::declined(
                "not confirmed; nothing was changed",
                "answer y to go ahead, or add --yes to skip the question",
            )),
        }
    }

    /// Report what a PKI command repaired before it started (left by an interrupted one).
    pub fn report_repairs(&self, pki: &mut Pki) {
        for r in pki.repaired.drain(..) {
            self.printer.warn(r);
        }
    }
}

fn passphrase(file: Option<&PathBuf>, env: &Environment) -> Result<Option<Passphrase>> {
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
    Ok(env.ca_passphrase.clone().map(Passphrase::new))
}

pub fn dispatch(cli: Cli, env: Environment, printer: &Printer) -> Result<()> {
    // The commands about vpnctl itself need no PKI, deployment or config.
    match &cli.command {
        Command::IamPolicy(args) => return tools::iam_policy(printer, args),
        Command::Completions(args) => return tools::completions(printer, args),
        Command::Man(args) => return tools::man(printer, args),
        _ => {}
    }
    if let Some(name) = &cli.name {
        names::validate_deployment(name)?;
    }
    let config = crate::config::ConfigFile::load(cli.config.as_deref())?;
    // The PKI directory can come from the deployment's config table, so it is settled with
    // the deployment: resolved once with the directory the flag (or the named or only table)
    // gives, and again if the deployment that won names another directory.
    // `--store DIR` is a local PKI, as `--pki DIR` is; `--store s3://…` a team's.
    let local_store = match cli.store.as_deref() {
        Some(s) if !s.contains("://") => {
            let dir = PathBuf::from(s);
            if cli.pki.as_ref().is_some_and(|p| p != &dir) {
                return Err(Error::invalid(
                    format!(
                        "--store {s} and --pki {} name two PKIs",
                        cli.pki
                            .as_ref()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default()
                    ),
                    "give one of them",
                ));
            }
            Some(dir)
        }
        _ => None,
    };
    let pki_flag = local_store.or(cli.pki.clone());
    let pki_for = |name: Option<&str>| {
        pki_flag
            .clone()
            .or_else(|| name.and_then(|n| config.deployment(n).pki))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PKI_DIR))
    };
    let only_table = match config.deployments.keys().collect::<Vec<_>>()[..] {
        [only] => Some(only.clone()),
        _ => None,
    };
    let mut pki_dir = pki_for(cli.name.as_deref().or(only_table.as_deref()));
    // `list` is about every deployment: it needs none chosen, and several are no conflict.
    let settle = |dir: &std::path::Path| match settle(&cli, &config, dir) {
        Err(_) if matches!(cli.command, Command::List(_)) => Ok((
            DEFAULT_DEPLOYMENT.to_string(),
            deployment::Rule::Flag,
            deployment::Evidence::default(),
        )),
        r => r,
    };
    let (mut deployment, mut rule, mut evidence) = settle(&pki_dir)?;
    let settled_dir = pki_for(Some(&deployment));
    if settled_dir != pki_dir {
        pki_dir = settled_dir;
        (deployment, rule, evidence) = settle(&pki_dir)?;
    }
    names::validate_deployment(&deployment)?;
    let known = evidence.known();
    let is_list = matches!(cli.command, Command::List(_));
    if !is_list && rule != deployment::Rule::Flag && deployment != DEFAULT_DEPLOYMENT {
        printer.info(format!("deployment '{deployment}' ({})", rule.reason()));
    }
    if !is_list && !known.is_empty() && !known.iter().any(|(n, _)| *n == deployment) {
        printer.info(format!(
            "deployment '{deployment}' has no trace here; this directory knows {}",
            known
                .iter()
                .map(|(n, _)| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let store = resolve_store(
        cli.store.as_deref().filter(|s| s.contains("://")),
        config.deployment(&deployment).store.as_deref(),
        &pki_dir,
    )?;
    let ctx = Ctx {
        printer,
        config,
        pki_dir,
        deployment,
        passphrase: passphrase(cli.ca_passphrase_file.as_ref(), &env)?,
        prompted: std::cell::OnceCell::new(),
        config_path: cli.config.clone(),
        yes: cli.yes,
        env,
        now: OffsetDateTime::now_utc(),
        store,
        remote: std::cell::OnceCell::new(),
        refreshed: std::cell::Cell::new(false),
    };
    let flags = aws_args(&cli.command).map(aws_flags).unwrap_or_default();
    printer.set_command(ctx.vpnctl("").trim_end().to_string(), flags);
    if plan_as_json(&cli.command) {
        printer.set_json_mode();
    }
    // The store's own commands and a new PKI have no deployment state to bring along.
    let stateful = !matches!(
        cli.command,
        Command::Store { .. }
            | Command::Pki {
                command: crate::cli::PkiCommand::Init(_)
                    | crate::cli::PkiCommand::Request(_)
                    | crate::cli::PkiCommand::Assemble(_)
                    | crate::cli::PkiCommand::Log(_)
            }
    );
    // A store's working copy exists before any command looks for a PKI in it (setup would
    // otherwise make a local one).
    if stateful && ctx.store.is_some() {
        ctx.open_pki()?;
    }
    let state_before = if stateful {
        store_state_in(&ctx)?
    } else {
        None
    };
    let done = run_command(&ctx, cli.command);
    if stateful {
        // The command's own error comes first; a state that did not reach the store only warns.
        if let Err(e) = store_state_out(&ctx, state_before) {
            if done.is_err() {
                printer.warn(format!(
                    "the deployment's state did not reach the store: {e}"
                ));
            } else {
                return Err(e);
            }
        }
    }
    done
}

fn run_command(ctx: &Ctx, command: Command) -> Result<()> {
    match command {
        Command::Store { command } => store::run(ctx, command),
        Command::Pki { command } => pki::run(ctx, command),
        Command::Profile(args) => profile::run(ctx, &args),
        Command::Setup(args) => setup::run(ctx, &args),
        Command::Status(args) => status::run(ctx, &args),
        Command::List(args) => list::run(ctx, &args),
        Command::Teardown(args) => teardown::run(ctx, &args),
        Command::Nat { command } => nat::run(ctx, &command),
        Command::Connections(args) => live::connections(ctx, &args),
        Command::Kick(args) => live::kick(ctx, &args),
        Command::Sleep(args) => live::sleep(ctx, &args),
        Command::Wake(args) => live::wake(ctx, &args),
        Command::Extend(args) => deadline::extend(ctx, &args),
        Command::Schedule(args) => deadline::schedule(ctx, &args),
        Command::Adopt(args) => adopt::run(ctx, &args),
        Command::Doctor(args) => doctor::run(ctx, &args),
        Command::IamPolicy(_) | Command::Completions(_) | Command::Man(_) => {
            unreachable!("answered before the deployment is settled")
        }
    }
}

/// The S3 store in effect: the flag (or `VPNCTL_STORE`), else the config's, else the one the
/// working copy in `pki_dir` records. A flag that names another store than the working copy's
/// is refused (the directory would mirror two PKIs).
fn resolve_store(
    flag: Option<&str>,
    config: Option<&str>,
    pki_dir: &std::path::Path,
) -> Result<Option<crate::store::S3Uri>> {
    use crate::store::S3Uri;
    let recorded = std::fs::read_to_string(pki_dir.join("vpnctl.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<crate::pki::store::Meta>(&t).ok())
        .and_then(|m| m.store);
    let chosen = match flag.or(config) {
        Some(t) => Some(S3Uri::parse(t)?),
        None => None,
    };
    match (chosen, recorded) {
        (Some(c), Some(r)) if c.to_string() != r => Err(Error::conflict(
            format!(
                "{} is the working copy of {r}, not of {c}",
                pki_dir.display()
            ),
            "use another --pki directory for that store",
        )),
        (Some(c), _) => Ok(Some(c)),
        (None, Some(r)) => Ok(Some(S3Uri::parse(&r)?)),
        (None, None) => Ok(None),
    }
}

/// A KMS CA key made on first use: `pki list` and `profile` never call KMS.
struct LazyKms {
    profile: Option<String>,
    region: Option<String>,
    id: String,
    key: std::sync::OnceLock<crate::aws::sdk::KmsKey>,
}

impl LazyKms {
    fn get(&self) -> Result<&crate::aws::sdk::KmsKey> {
        if let Some(k) = self.key.get() {
            return Ok(k);
        }
        let k = crate::aws::sdk::KmsKey::existing(
            self.profile.clone(),
            self.region.clone(),
            self.id.clone(),
        )?;
        Ok(self.key.get_or_init(|| k))
    }
}

impl crate::pki::cert::RemoteKey for LazyKms {
    fn public_key(&self) -> Result<Vec<u8>> {
        self.get()?.public_key()
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        self.get()?.sign(message)
    }
    fn name(&self) -> String {
        self.id.clone()
    }
}

/// With an S3 store, the deployment's state (what AWS holds, cached) comes from the store, so
/// every admin's AWS commands find the deployment; returns the text as it was brought in.
fn store_state_in(ctx: &Ctx) -> Result<Option<String>> {
    let Some(remote) = ctx.remote()? else {
        return Ok(None);
    };
    let path = crate::state::path(&ctx.pki_dir, &ctx.deployment);
    let local = std::fs::read_to_string(&path).ok();
    match remote.load_state(&ctx.deployment)? {
        // Never saved to the store: this machine's copy (if any) stays, and goes up if a
        // command changes it.
        None => Ok(local),
        // Torn down from another machine.
        Some(None) => {
            crate::state::remove(&ctx.pki_dir, &ctx.deployment)?;
            Ok(None)
        }
        Some(Some(t)) => {
            if local.as_ref() != Some(&t) {
                if let Some(dir) = path.parent() {
                    crate::fsx::ensure_dir(dir, 0o700)?;
                }
                crate::fsx::write_atomic(
                    &path,
                    t.as_bytes(),
                    0o600,
                    crate::fsx::Overwrite::Replace,
                )?;
            }
            Ok(Some(t))
        }
    }
}

/// The state back into the store when the command changed it (or removed it: teardown).
fn store_state_out(ctx: &Ctx, before: Option<String>) -> Result<()> {
    let Some(remote) = ctx.remote.get() else {
        return Ok(());
    };
    let now = std::fs::read_to_string(crate::state::path(&ctx.pki_dir, &ctx.deployment)).ok();
    if now != before {
        remote.save_state(&ctx.deployment, now.as_deref())?;
    }
    Ok(())
}

/// `--json` of a command that changes AWS: its plan or outcome is the one document on stdout.
fn plan_as_json(command: &Command) -> bool {
    match command {
        Command::Setup(a) => a.json,
        Command::Teardown(a) => a.json,
        Command::Kick(a) => a.json,
        Command::Sleep(a) => a.json,
        Command::Wake(a) => a.json,
        Command::Extend(a) => a.json,
        Command::Schedule(a) => a.json,
        Command::Adopt(a) => a.json,
        Command::Nat {
            command: crate::cli::NatCommand::On(a),
        } => a.json,
        Command::Nat {
            command: crate::cli::NatCommand::Off(a),
        } => a.json,
        Command::Pki {
            command: crate::cli::PkiCommand::Revoke(a),
        } => a.json,
        Command::Pki {
            command: crate::cli::PkiCommand::MergeCrl(a),
        } => a.json,
        _ => false,
    }
}

/// ` --profile P --region R` as given (empty when neither is).
fn aws_flags(aws: &crate::cli::AwsArgs) -> String {
    let mut flags = String::new();
    if let Some(p) = &aws.profile {
        flags.push_str(&format!(" --profile {}", shell_word(p)));
    }
    if let Some(r) = &aws.region {
        flags.push_str(&format!(" --region {}", shell_word(r)));
    }
    flags
}

/// The `--profile`/`--region` flags of the command, if it reaches AWS.
fn aws_args(command: &Command) -> Option<&crate::cli::AwsArgs> {
    use crate::cli::{NatCommand, PkiCommand};
    match command {
        Command::Setup(a) => Some(&a.aws),
        Command::Status(a) => Some(&a.aws),
        Command::List(a) => Some(&a.aws),
        Command::Teardown(a) => Some(&a.aws),
        Command::Connections(a) => Some(&a.aws),
        Command::Kick(a) => Some(&a.aws),
        Command::Sleep(a) => Some(&a.aws),
        Command::Wake(a) => Some(&a.aws),
        Command::Extend(a) => Some(&a.aws),
        Command::Schedule(a) => Some(&a.aws),
        Command::Adopt(a) => Some(&a.aws),
        Command::Doctor(a) => Some(&a.aws),
        Command::Nat {
            command: NatCommand::On(a),
        } => Some(&a.aws),
        Command::Nat {
            command: NatCommand::Off(a),
        } => Some(&a.aws),
        Command::Pki {
            command: PkiCommand::Revoke(a),
        } => Some(&a.aws),
        Command::Pki {
            command: PkiCommand::MergeCrl(a),
        } => Some(&a.aws),
        _ => None,
    }
}

/// The deployment for a PKI directory, the rule that chose it, and the evidence. A PKI that
/// exists but cannot be read is an error (guessing `default` would act on the wrong
/// deployment), except for the commands that replace it.
fn settle(
    cli: &Cli,
    config: &crate::config::ConfigFile,
    pki_dir: &std::path::Path,
) -> Result<(String, deployment::Rule, deployment::Evidence)> {
    let replaces_pki = matches!(
        &cli.command,
        Command::Pki {
            command: crate::cli::PkiCommand::Init(_) | crate::cli::PkiCommand::ImportEasyrsa(_)
        }
    );
    let recorded = if crate::pki::store::exists(pki_dir) {
        match Pki::open(pki_dir) {
            Ok(p) => Some(p.meta.deployment),
            Err(_) if replaces_pki => None,
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    let evidence = deployment::Evidence {
        flag: cli.name.clone(),
        pki: recorded,
        config: config.deployments.keys().cloned().collect(),
        state: crate::state::list(pki_dir),
    };
    let (name, rule) = deployment::resolve(&evidence)?;
    Ok((name, rule, evidence))
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
    let mut region = aws.region.clone().or(dc.region);
    // Neither the flag, the config, the environment nor the profile names a region: the one
    // recorded when this deployment was set up is the one the user means.
    if region.is_none()
        && crate::aws::sdk::default_region(profile.as_deref())
            .await
            .is_none()
        && let Some(recorded) =
            crate::state::load(&ctx.pki_dir, &ctx.deployment).and_then(|st| st.region)
    {
        ctx.printer.info(format!(
            "region {recorded} (recorded for deployment '{}' in {})",
            ctx.deployment,
            crate::state::path(&ctx.pki_dir, &ctx.deployment).display()
        ));
        region = Some(recorded);
    }
    let (cloud, region) = crate::aws::sdk::connect(profile.as_deref(), region.as_deref())
        .await
        .map_err(crate::aws::to_error)?;
    if tracing::enabled!(target: crate::aws::trace::TARGET, tracing::Level::DEBUG) {
        // Only a log line: a command that works without -v must work with it.
        let account = match cloud.account_id().await {
            Ok(a) => a,
            Err(e) => format!("unknown ({e})"),
        };
        tracing::debug!(
            target: crate::aws::trace::TARGET,
            "using account {account} in {region}{}",
            profile.map(|p| format!(", profile {p}")).unwrap_or_default()
        );
    }
    Ok((cloud, region))
}

/// The one Ctrl-C path of every command that changes AWS: run `work`; on a delivered SIGINT,
/// and only then, stop with exit 8 and the command line to run again (everything changed so
/// far is tagged, so the same command continues), plus `undo` when there is one. Should the
/// signal handler fail to install, Ctrl-C keeps its default (the process ends); a failed
/// installation never reads as "interrupted".
pub async fn interruptible<T>(
    ctx: &Ctx<'_>,
    undo: Option<String>,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::select! {
        r = work => r,
        Ok(()) = tokio::signal::ctrl_c() => Err(Error::incomplete(
            "interrupted; everything changed so far is tagged and will be found again",
            format!(
                "run `{}` again to continue where it stopped{}",
                same_command(&ctx.env.argv),
                undo.map(|u| format!(", or `{u}` to undo it")).unwrap_or_default()
            ),
        )),
    }
}

/// The command line this process was started with, as `vpnctl …` for a shell.
pub fn same_command(argv: &[String]) -> String {
    std::iter::once("vpnctl".to_string())
        .chain(argv.iter().skip(1).map(|a| shell_word(a)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// For a destructive command: ask (on a terminal) before taking the deployment lock, so a
/// question left open blocks no other vpnctl; then take the lock, observe and plan again, and
/// stop if the plan is no longer the one the user said yes to. `observe` returns what is seen
/// and the plan (with live connections when asked to); `lines` renders a plan for comparison;
/// `ask` gives the question for a plan, or None when there is nothing to ask about.
pub async fn confirmed_and_locked<P>(
    ctx: &Ctx<'_>,
    dry_run: bool,
    mut observe: impl AsyncFnMut(bool) -> Result<(crate::aws::plan::Observed, P)>,
    lines: impl Fn(&P) -> Vec<String>,
    ask: impl Fn(&crate::aws::plan::Observed, &P) -> Option<(Vec<String>, String)>,
) -> Result<(Option<crate::fsx::Lock>, crate::aws::plan::Observed, P)> {
    // The plan the user saw (asked about, or with nothing to ask about).
    let mut agreed = None;
    if !dry_run && ctx.will_ask() {
        let (seen, plan) = observe(true).await?;
        if let Some((what, question)) = ask(&seen, &plan) {
            ctx.confirm(&what, &question)?;
        }
        agreed = Some(lines(&plan));
    }
    let lock = if dry_run {
        None
    } else {
        Some(deployment_lock(ctx).await?)
    };
    let (seen, plan) = observe(false).await?;
    // A plan that changed while waiting runs only if it needs no question (nothing to do).
    if let Some(agreed) = agreed
        && agreed != lines(&plan)
        && ask(&seen, &plan).is_some()
    {
        return Err(Error::conflict(
            "the deployment changed while the question was open; nothing was changed",
            "run the command again to see the current plan",
        ));
    }
    Ok((lock, seen, plan))
}

/// The executor every AWS-changing command runs its plan with.
pub fn executor<'a>(
    ctx: &'a Ctx<'_>,
    cloud: &'a crate::aws::sdk::AwsCloud,
) -> crate::aws::exec::Executor<'a, crate::aws::sdk::AwsCloud> {
    let mut policies = crate::aws::exec::Policies::polling(ctx.env.poll_interval);
    for (kind, value) in &ctx.config.timeouts {
        // Checked when the config was read.
        if let Some(secs) = crate::config::duration_secs(value) {
            policies.set_timeout(kind, std::time::Duration::from_secs(secs.unsigned_abs()));
        }
    }
    crate::aws::exec::Executor {
        cloud,
        policies,
        reporter: ctx.printer,
        deployment: &ctx.deployment,
    }
}

/// One vpnctl at a time changes a deployment from this machine: a second `setup` waits for the
/// first and then finds its endpoint, rather than creating another. (Across machines the tags
/// still keep it findable; `setup` refuses two endpoints of one deployment.)
pub async fn deployment_lock(ctx: &Ctx<'_>) -> Result<crate::fsx::Lock> {
    let path = match try_deployment_lock(ctx)? {
        Ok(lock) => return Ok(lock),
        Err(path) => path,
    };
    // The wait blocks a thread: not the runtime's.
    tokio::task::spawn_blocking(move || crate::fsx::Lock::acquire(&path))
        .await
        .map_err(|e| {
            Error::io(
                "wait for the deployment lock",
                std::path::Path::new("a blocking thread"),
                std::io::Error::other(e.to_string()),
            )
        })?
}

/// `deployment_lock` outside the runtime: for the sections that do blocking work under the
/// lock (repairing and reading the PKI) between two runs of the runtime.
pub fn deployment_lock_blocking(ctx: &Ctx<'_>) -> Result<crate::fsx::Lock> {
    match try_deployment_lock(ctx)? {
        Ok(lock) => Ok(lock),
        Err(path) => crate::fsx::Lock::acquire(&path),
    }
}

/// The lock if it is free; else its path, once the wait is said.
fn try_deployment_lock(
    ctx: &Ctx<'_>,
) -> Result<std::result::Result<crate::fsx::Lock, std::path::PathBuf>> {
    let path = crate::state::path(&ctx.pki_dir, &ctx.deployment).with_extension("lock");
    if let Some(lock) = crate::fsx::Lock::try_acquire(&path)? {
        return Ok(Ok(lock));
    }
    ctx.printer.info(format!(
        "waiting for another vpnctl working on deployment '{}'…",
        ctx.deployment
    ));
    Ok(Err(path))
}

/// A plan as people read it: `title`, then one numbered line per step.
pub fn numbered<S: std::fmt::Display>(title: String, steps: &[S]) -> Vec<String> {
    std::iter::once(title)
        .chain(
            steps
                .iter()
                .enumerate()
                .map(|(i, s)| format!("{:>3}. {s}", i + 1)),
        )
        .collect()
}

/// What a destructive command's confirmation says stops: the live connections that end (of
/// the endpoints observed with connections) and the hourly cost of the charges `keep` selects.
pub fn stops(
    ctx: &Ctx<'_>,
    seen: &crate::aws::plan::Observed,
    region: &str,
    keep: impl Fn(&status::Charge) -> bool,
) -> Vec<String> {
    let prices = crate::aws::price::for_region(region, &ctx.config.prices);
    let st = crate::state::load(&ctx.pki_dir, &ctx.deployment).unwrap_or_default();
    let bill = status::charges(seen, &prices, &st.associated_at, ctx.now.unix_timestamp());
    let per_hour: f64 = bill.iter().filter(|c| keep(c)).map(|c| c.per_hour).sum();
    let live = seen
        .endpoints
        .iter()
        .flat_map(|v| &v.connections)
        .filter(|c| c.state == crate::aws::model::ConnectionState::Active)
        .count();
    let mut out = Vec::new();
    if live > 0 {
        out.push(format!("{live} live connection(s) end"));
    }
    out.push(format!(
        "billing that stops: {}/h",
        crate::aws::price::dollars(per_hour)
    ));
    out
}

/// `s` quoted for a POSIX shell when it needs it.
pub fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@=,+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_command_is_quoted_for_a_shell_and_polling_reaches_every_wait() {
        let argv: Vec<String> = [
            "/usr/bin/vpnctl",
            "--pki",
            "my pki",
            "setup",
            "--vpc",
            "it's",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            same_command(&argv),
            r"vpnctl --pki 'my pki' setup --vpc 'it'\''s'"
        );
        let fast = std::time::Duration::from_millis(50);
        let p = crate::aws::exec::Policies::polling(Some(fast));
        for w in [
            p.association,
            p.rule,
            p.endpoint,
            p.certificate_in_use,
            p.nat,
        ] {
            assert_eq!(w.interval, fast);
            assert!(w.timeout > fast);
        }
        let slow = crate::aws::exec::Policies::polling(None);
        assert!(slow.association.interval > fast);
    }
}

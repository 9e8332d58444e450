//! The commands about vpnctl itself: its IAM policy, shell completions and manual pages. They
//! read no PKI, deployment or config and call no AWS.

use crate::cli::{Cli, CompletionsArgs, IamPolicyArgs, ManArgs};
use crate::error::{Error, Result};
use crate::printer::Printer;
use clap::CommandFactory;

/// `vpnctl iam-policy [COMMAND…]`: the policy document on stdout.
pub fn iam_policy(printer: &Printer, args: &IamPolicyArgs) -> Result<()> {
    let commands = crate::aws::permissions::select(&args.commands)?;
    printer.json(&crate::aws::permissions::policy(&commands));
    Ok(())
}

/// `vpnctl completions SHELL`: the script on stdout.
pub fn completions(printer: &Printer, args: &CompletionsArgs) -> Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "vpnctl", &mut script);
    printer.data(String::from_utf8_lossy(&script).trim_end());
    Ok(())
}

/// `vpnctl man --out DIR`: vpnctl.1 and a page per command and subcommand.
pub fn man(printer: &Printer, args: &ManArgs) -> Result<()> {
    let dir = &args.out;
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create the directory", dir, e))?;
    let mut written = Vec::new();
    // Built, so that every subcommand has the global flags and its full name (`vpnctl nat on`).
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    write_pages(root, dir, &mut written)?;
    printer.info(format!(
        "wrote {} manual pages to {} (read one with `man -l {}`)",
        written.len(),
        dir.display(),
        dir.join("vpnctl.1").display()
    ));
    Ok(())
}

/// The page of `cmd` (named by its path, `vpnctl-nat-on.1`), then its subcommands' pages.
fn write_pages(
    cmd: clap::Command,
    dir: &std::path::Path,
    written: &mut Vec<std::path::PathBuf>,
) -> Result<()> {
    let name = cmd
        .get_bin_name()
        .unwrap_or(cmd.get_name())
        .replace(' ', "-");
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .title(name.to_uppercase())
        .render(&mut page)
        .map_err(|e| Error::io("render the manual page of", std::path::Path::new(&name), e))?;
    let path = dir.join(format!("{name}.1"));
    crate::fsx::write_atomic(&path, &page, 0o644, crate::fsx::Overwrite::Replace)?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub.clone(), dir, written)?;
    }
    Ok(())
}

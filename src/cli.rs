//! The command line's shape, and nothing else: clap types only. Validation happens in the
//! commands and the pure modules they call.

use crate::profile::Proto;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "vpnctl",
    version,
    about = "An AWS Client VPN into a private subnet in one command, and the billing part gone again in one command."
)]
pub struct Cli {
    /// The PKI directory.
    #[arg(long, global = true, env = "VPNCTL_PKI", value_name = "DIR")]
    pub pki: Option<PathBuf>,
    /// The deployment name (tags, default server name, state).
    #[arg(long, global = true, env = "VPNCTL_NAME", value_name = "NAME")]
    pub name: Option<String>,
    /// File holding the CA key's passphrase (else VPNCTL_CA_PASSPHRASE; vpnctl never prompts).
    #[arg(long, global = true, value_name = "FILE")]
    pub ca_passphrase_file: Option<PathBuf>,
    /// Only errors and warnings on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The local certificate authority, server and user certificates.
    Pki {
        #[command(subcommand)]
        command: PkiCommand,
    },
    /// Render ready `.ovpn` profiles with the user's certificate and key embedded.
    Profile(ProfileArgs),
}

#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Create the CA, the server certificate and an empty CRL.
    Init(InitArgs),
    /// Issue one client certificate per user (in parallel).
    Issue(IssueArgs),
    /// Users, server, CA and CRL with their status and expiry.
    List(ListArgs),
    /// One certificate in detail: a user, `server` or `ca`.
    Show(ShowArgs),
    /// Revoke a user and regenerate the CRL.
    Revoke(RevokeArgs),
    /// A new certificate with the same name for a user or `server`.
    Renew(RenewArgs),
    /// Regenerate the CRL (e.g. to move its next-update further out).
    Crl(CrlArgs),
    /// Adopt an existing easy-rsa PKI, keeping serials and revocations.
    ImportEasyrsa(ImportArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Replace an existing PKI (the old one is moved to replaced-TIME/ inside the directory).
    #[arg(long)]
    pub force: bool,
    /// The server certificate's CN and SAN DNS name (a fully qualified name).
    #[arg(long, value_name = "FQDN")]
    pub server_name: Option<String>,
    #[arg(long, value_name = "DAYS", default_value_t = crate::pki::store::DEFAULT_CA_DAYS)]
    pub ca_days: u32,
    #[arg(long, value_name = "DAYS", default_value_t = crate::pki::store::DEFAULT_CERT_DAYS)]
    pub server_days: u32,
    /// How far ahead the CRL's next-update lies. An expired CRL locks every user out.
    #[arg(long, value_name = "DAYS", default_value_t = crate::pki::store::DEFAULT_CRL_DAYS)]
    pub crl_days: u32,
    /// Keep the CA key encrypted (PKCS#8) with the passphrase from --ca-passphrase-file or
    /// VPNCTL_CA_PASSPHRASE.
    #[arg(long)]
    pub encrypt_ca_key: bool,
}

#[derive(Debug, Args)]
pub struct IssueArgs {
    /// User names: letters, digits, '.', '_', '-', '@'.
    #[arg(required = true, value_name = "USER")]
    pub users: Vec<String>,
    #[arg(long, value_name = "DAYS", default_value_t = crate::pki::store::DEFAULT_CERT_DAYS)]
    pub days: u32,
    /// Replace key or certificate files left behind by an interrupted issue.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long)]
    pub json: bool,
    /// Also superseded and earlier certificates, not only each name's current one.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A user name, `server` or `ca`.
    pub which: String,
    #[arg(long)]
    pub json: bool,
    /// Print the certificate PEM (never the key).
    #[arg(long)]
    pub pem: bool,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    pub user: String,
}

#[derive(Debug, Args)]
pub struct RenewArgs {
    /// A user name or `server`.
    pub which: String,
    #[arg(long, value_name = "DAYS")]
    pub days: Option<u32>,
}

#[derive(Debug, Args)]
pub struct CrlArgs {
    /// Days until the new CRL's next-update (default: the PKI's setting).
    #[arg(long, value_name = "DAYS")]
    pub days: Option<u32>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The easy-rsa `pki` directory.
    pub source: PathBuf,
    /// The easy-rsa entity (file name) of the server certificate, if there are several.
    #[arg(long, value_name = "ENTITY")]
    pub server: Option<String>,
    /// Issue a new server certificate with this FQDN from the imported CA.
    #[arg(long, value_name = "FQDN")]
    pub server_name: Option<String>,
    #[arg(long, value_name = "DAYS", default_value_t = crate::pki::store::DEFAULT_CRL_DAYS)]
    pub crl_days: u32,
}

#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// The users to render profiles for.
    #[arg(value_name = "USER", required_unless_present = "all")]
    pub users: Vec<String>,
    /// Every user with a valid certificate.
    #[arg(long, conflicts_with = "users")]
    pub all: bool,
    /// The VPN endpoint's host name or IP.
    #[arg(long, value_name = "HOST")]
    pub remote: Option<String>,
    #[arg(long, default_value_t = 443)]
    pub port: u16,
    #[arg(long, value_enum, default_value_t = Proto::Udp)]
    pub proto: Proto,
    /// Output file (one user only); default profiles/USER.ovpn beside the PKI.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// A directory whose client.ovpn.tera overrides the built-in template.
    #[arg(long, env = "VPNCTL_TEMPLATES", value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Replace an existing profile file that holds other key material.
    #[arg(long)]
    pub force: bool,
}

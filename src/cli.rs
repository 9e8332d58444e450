//! The command line's shape, and nothing else: clap types only. Validation happens in the
//! commands and the pure modules they call.

use crate::profile::Proto;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "vpnctl",
    version,
    arg_required_else_help = true,
    about = "An AWS Client VPN into a private subnet in one command, and the billing part gone \
        again in one command."
)]
pub struct Cli {
    /// The PKI directory.
    #[arg(long, global = true, env = "VPNCTL_PKI", value_name = "DIR")]
    pub pki: Option<PathBuf>,
    /// The deployment name (tags, default server name, state).
    #[arg(long, global = true, env = "VPNCTL_NAME", value_name = "NAME")]
    pub name: Option<String>,
    /// File holding the CA key's passphrase (else VPNCTL_CA_PASSPHRASE, else a prompt when
    /// stdin is a terminal).
    #[arg(long, global = true, value_name = "FILE")]
    pub ca_passphrase_file: Option<PathBuf>,
    /// The config file (default ./vpnctl.toml when present).
    #[arg(long, global = true, env = "VPNCTL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Only errors and warnings on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Answer yes to the question `teardown`, `sleep`, `nat off` and `pki revoke` ask on a
    /// terminal (without a terminal they never ask).
    #[arg(long, short, global = true)]
    pub yes: bool,
    /// Log each AWS call (service, operation, duration, request id, error code) to stderr.
    #[arg(long, short, global = true, conflicts_with = "debug")]
    pub verbose: bool,
    /// `--verbose`, plus the AWS SDK's own debug log (credentials and retries).
    #[arg(long, global = true)]
    pub debug: bool,
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of its largest variant (setup's flags) costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The local certificate authority, server and user certificates.
    #[command(arg_required_else_help = true)]
    Pki {
        #[command(subcommand)]
        command: PkiCommand,
    },
    /// Render ready `.ovpn` profiles with the user's certificate and key embedded.
    Profile(ProfileArgs),
    /// Create (or converge) the Client VPN endpoint, its associations, rules and routes, and
    /// write a ready profile per user.
    Setup(SetupArgs),
    /// Every resource of the deployment, its state, and what bills now.
    Status(StatusArgs),
    /// The deployments this directory knows and those tagged in the region: state, bill.
    List(ListDeploymentsArgs),
    /// Remove everything of the deployment that bills, in the order AWS requires.
    Teardown(TeardownArgs),
    /// Who is connected, since when, from where, bytes in/out.
    Connections(ConnectionsArgs),
    /// End a user's live connections.
    Kick(KickArgs),
    /// Disassociate every subnet: association billing stops, the endpoint and profiles stay.
    Sleep(AwsOnly),
    /// Associate the subnets again and restore the routes and rules the deployment had.
    Wake(WakeArgs),
    /// Push every pending deadline of the deployment later (`setup --ttl`, `nat on --ttl`).
    Extend(ExtendArgs),
    /// Working hours: sleep and wake every day (or as cron says), server-side.
    #[command(arg_required_else_help = true)]
    Schedule(ScheduleArgs),
    /// Temporary internet for a private subnet through a NAT gateway.
    #[command(arg_required_else_help = true)]
    Nat {
        #[command(subcommand)]
        command: NatCommand,
    },
}

#[derive(Debug, Args)]
pub struct ConnectionsArgs {
    #[arg(long)]
    pub json: bool,
    /// Also terminated connections (AWS keeps them listed for a while).
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct KickArgs {
    /// Print the plan (with --dry-run) or the outcome as one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
    pub user: String,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct AwsOnly {
    /// Print the plan (with --dry-run) or the outcome as one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct WakeArgs {
    /// Arm a deadline again, this long from now (e.g. 8h; `none`: no deadline). Default: the
    /// duration `setup --ttl` recorded on the endpoint, else the config file's `ttl`.
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
    /// Print the plan (with --dry-run) or the outcome as one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct ExtendArgs {
    /// How much later (e.g. 2h, 30m, 1d).
    #[arg(value_name = "DURATION")]
    pub by: String,
    /// Print the plan (with --dry-run) or the outcome as one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// When the deployment sleeps: an EventBridge Scheduler cron expression (minutes hours
    /// day-of-month month day-of-week year), e.g. "0 19 ? * MON-FRI *".
    #[arg(long, value_name = "CRON", requires = "wake", conflicts_with = "off")]
    pub sleep: Option<String>,
    /// When it wakes, e.g. "0 7 ? * MON-FRI *": as `vpnctl wake` leaves it.
    #[arg(long, value_name = "CRON", requires = "sleep", conflicts_with = "off")]
    pub wake: Option<String>,
    /// The time zone the expressions are read in (IANA name).
    #[arg(long, value_name = "TZ", default_value = "UTC")]
    pub timezone: String,
    /// Remove the working hours.
    #[arg(long)]
    pub off: bool,
    /// Print the plan (with --dry-run) or the outcome as one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Subcommand)]
pub enum NatCommand {
    /// Elastic IP + NAT gateway in a public subnet + 0.0.0.0/0 of the private subnet's route table.
    On(NatOnArgs),
    /// Remove the route (restoring a replaced one), delete the NAT gateway, release the Elastic IP.
    Off(NatOffArgs),
}

#[derive(Debug, Args, Clone)]
pub struct NatOnArgs {
    /// The private subnet that needs the internet, by id or Name tag.
    #[arg(long, value_name = "ID|NAME")]
    pub subnet: String,
    /// The public subnet for the NAT gateway (default: the one subnet of the VPC routed to an
    /// internet gateway).
    #[arg(long, value_name = "ID|NAME")]
    pub via: Option<String>,
    /// How long the NAT gateway lives (e.g. 30m, 2h; default 4h): at the deadline AWS itself
    /// deletes it, releases its Elastic IP and puts the route back (EventBridge Scheduler).
    /// `none`: no deadline.
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
    /// Replace a 0.0.0.0/0 route vpnctl did not create (`nat off` restores it).
    #[arg(long)]
    pub force: bool,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the plan (with --dry-run) or the outcome as one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct NatOffArgs {
    /// Print the plan (with --dry-run) or the outcome as one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// How to reach AWS, as in the AWS CLI.
#[derive(Debug, Args, Clone, Default)]
pub struct AwsArgs {
    /// A named profile of the AWS config (else AWS_PROFILE, else the default chain).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// The AWS region (else AWS_REGION or the profile's region).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
}

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// The VPC, by id or Name tag.
    #[arg(long, value_name = "ID|NAME")]
    pub vpc: Option<String>,
    /// A subnet to associate, by id or Name tag (repeat for more; one per Availability Zone).
    #[arg(long, value_name = "ID|NAME")]
    pub subnet: Vec<String>,
    /// Addresses for VPN clients: /12 to /22, not overlapping the VPC.
    #[arg(long, value_name = "CIDR")]
    pub client_cidr: Option<String>,
    /// Send all client traffic through the VPN (split tunnel off, 0.0.0.0/0 routed and authorized).
    #[arg(long)]
    pub full_tunnel: bool,
    /// More destination CIDRs to authorize, besides the VPC's (repeatable).
    #[arg(long, value_name = "CIDR")]
    pub authorize: Vec<String>,
    /// A destination beyond the VPC to route through the VPN (a peered VPC, a transit
    /// gateway, on-premises): a route via each subnet plus its authorization (repeatable).
    #[arg(long, value_name = "CIDR")]
    pub route: Vec<String>,
    /// DNS servers for clients (at most two; default: the VPC resolver, base address + 2).
    #[arg(long, value_name = "IP")]
    pub dns_server: Vec<String>,
    #[arg(long, value_enum)]
    pub transport: Option<Proto>,
    /// The VPN port: 443 (default) or 1194.
    #[arg(long)]
    pub port: Option<u16>,
    /// Security groups for the endpoint's network interfaces, by id, group name or Name tag
    /// (repeatable; default the VPC's default).
    #[arg(long, value_name = "SG")]
    pub security_group: Vec<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// Turn connection logging on, to this CloudWatch Logs group.
    #[arg(long, value_name = "GROUP")]
    pub log_group: Option<String>,
    /// Also turn on temporary internet for this private subnet (`nat on`), concurrently.
    #[arg(long, value_name = "ID|NAME")]
    pub nat: Option<String>,
    /// Stop the billing this long from now, server-side (e.g. 8h, 1d): AWS itself removes
    /// every association at the deadline, as `vpnctl sleep` does (EventBridge Scheduler);
    /// `vpnctl wake` brings it back. `none`: remove the deadline. Also `ttl` in the config.
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
    /// Put the deployment to sleep, server-side, once no client has been connected for this
    /// long (checked every 5 minutes by a Step Functions state machine). `none`: off. Also
    /// `idle_sleep` in the config.
    #[arg(long, value_name = "DURATION")]
    pub idle_sleep: Option<String>,
    /// The server certificate's name when setup creates the PKI.
    #[arg(long, value_name = "FQDN")]
    pub server_name: Option<String>,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the plan (with --dry-run) or the outcome as one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct ListDeploymentsArgs {
    #[arg(long)]
    pub json: bool,
    /// Only what this directory knows: no AWS call.
    #[arg(long)]
    pub local: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct TeardownArgs {
    /// Print the plan (with --dry-run) or the outcome as one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
    /// Report each failure and carry on with the remaining steps.
    #[arg(long)]
    pub keep_going: bool,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
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
    /// Catch up with revocations another copy of this PKI made: from its crl.pem, or (without
    /// FILE) from the deployment's endpoint, whose CRL then gets the merged one.
    MergeCrl(MergeCrlArgs),
}

#[derive(Debug, Args)]
pub struct MergeCrlArgs {
    /// A CRL of this PKI's CA (another copy's pki/crl.pem); default: the endpoint's.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Print what would be merged and the push to the endpoint; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the plan (with --dry-run) or the outcome of the push to the endpoint as one
    /// JSON document on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Replace an existing PKI (the old one is moved to a new replaced-TIME-RANDOM/ inside the
    /// directory).
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
    /// Only the local PKI: do not give the new CRL to the deployment's endpoint nor end the
    /// user's sessions.
    #[arg(long)]
    pub local_only: bool,
    /// Print what would happen (locally and on the endpoint) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the plan (with --dry-run) or the outcome of the push to the endpoint as one
    /// JSON document on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
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
    /// The port (default 443, or the deployment's).
    #[arg(long)]
    pub port: Option<u16>,
    /// udp or tcp (default udp, or the deployment's).
    #[arg(long, value_enum)]
    pub proto: Option<Proto>,
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

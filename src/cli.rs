//! The command line's shape, and nothing else: clap types only. Validation happens in the
//! commands and the pure modules they call.

use crate::profile::Proto;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// The heading of the flags every command takes, apart from each command's own.
pub const GLOBAL: &str = "Global options";

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
    #[arg(long, global = true, env = "VPNCTL_PKI", value_name = "DIR", help_heading = GLOBAL)]
    pub pki: Option<PathBuf>,
    /// Where the PKI lives: s3://BUCKET/PREFIX for a PKI a team shares (the --pki directory
    /// is then this machine's working copy); default: the --pki directory itself.
    #[arg(
        long,
        global = true,
        env = "VPNCTL_STORE",
        value_name = "s3://BUCKET/PREFIX",
        help_heading = GLOBAL
    )]
    pub store: Option<String>,
    /// The deployment name (tags, default server name, state).
    #[arg(long, global = true, env = "VPNCTL_NAME", value_name = "NAME", help_heading = GLOBAL)]
    pub name: Option<String>,
    /// File holding the CA key's passphrase (else VPNCTL_CA_PASSPHRASE, else a prompt when
    /// stdin is a terminal).
    #[arg(long, global = true, value_name = "FILE", help_heading = GLOBAL)]
    pub ca_passphrase_file: Option<PathBuf>,
    /// The config file (default ./vpnctl.toml when present).
    #[arg(long, global = true, env = "VPNCTL_CONFIG", value_name = "FILE", help_heading = GLOBAL)]
    pub config: Option<PathBuf>,
    /// Only errors and warnings on stderr.
    #[arg(long, short, global = true, help_heading = GLOBAL)]
    pub quiet: bool,
    /// Answer yes to the question `teardown`, `sleep`, `nat off` and `pki revoke` ask on a
    /// terminal (without a terminal they never ask).
    #[arg(long, short, global = true, help_heading = GLOBAL)]
    pub yes: bool,
    /// Log each AWS call (service, operation, duration, request id, error code) to stderr.
    #[arg(long, short, global = true, conflicts_with = "debug", help_heading = GLOBAL)]
    pub verbose: bool,
    /// `--verbose`, plus the AWS SDK's own debug log (credentials and retries).
    #[arg(long, global = true, help_heading = GLOBAL)]
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
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl profile alice",
        "\n  vpnctl profile --all",
        "\n  vpnctl profile bob --remote vpn.example.com -o bob.ovpn",
        "\n  vpnctl profile carol --share --expires 2h",
    ))]
    Profile(ProfileArgs),
    /// Create (or converge) the Client VPN endpoint, its associations, rules and routes, and
    /// write a ready profile per user.
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl setup --vpc lab-vpc --subnet lab-private-subnet --client-cidr 10.83.0.0/16",
        "\n  vpnctl setup --ttl 8h --idle-sleep 1h",
        "\n  vpnctl setup --dry-run",
    ))]
    Setup(SetupArgs),
    /// Every resource of the deployment, its state, and what bills now.
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl status",
        "\n  vpnctl status --json",
    ))]
    Status(StatusArgs),
    /// The deployments this directory knows and those tagged in the region: state, bill.
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl list",
        "\n  vpnctl list --local",
    ))]
    List(ListDeploymentsArgs),
    /// Remove everything of the deployment that bills, in the order AWS requires.
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl teardown --dry-run",
        "\n  vpnctl teardown --yes",
        "\n  vpnctl teardown --keep-going",
    ))]
    Teardown(TeardownArgs),
    /// Who is connected, since when, from where, bytes in/out.
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl connections",
        "\n  vpnctl connections --all --json",
    ))]
    Connections(ConnectionsArgs),
    /// End a user's live connections.
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl kick alice",
        "\n  vpnctl kick alice --dry-run",
    ))]
    Kick(KickArgs),
    /// Disassociate every subnet: association billing stops, the endpoint and profiles stay.
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl sleep",
        "\n  vpnctl sleep --yes --json",
    ))]
    Sleep(AwsOnly),
    /// Associate the subnets again and restore the routes and rules the deployment had.
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl wake",
        "\n  vpnctl wake --ttl 8h",
    ))]
    Wake(WakeArgs),
    /// Push every pending deadline of the deployment later (`setup --ttl`, `nat on --ttl`).
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl extend 2h",
        "\n  vpnctl extend 1d --dry-run",
    ))]
    Extend(ExtendArgs),
    /// Working hours: sleep and wake every day (or as cron says), server-side.
    #[command(arg_required_else_help = true)]
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl schedule --sleep \"0 19 ? * MON-FRI *\" --wake \"0 7 ? * MON-FRI *\"",
        "\n  vpnctl schedule --sleep \"0 18 ? * * *\" --wake \"0 8 ? * * *\" \\",
        "\n      --timezone Europe/Oslo",
        "\n  vpnctl schedule --off",
    ))]
    Schedule(ScheduleArgs),
    /// Bring a Client VPN endpoint made elsewhere (e.g. by hand from AWS's guide) under the
    /// deployment: only tags change. Adopt its PKI first (`pki import-easyrsa`).
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl adopt --endpoint cvpn-endpoint-0123456789abcdef0 --dry-run",
        "\n  vpnctl adopt --endpoint cvpn-endpoint-0123456789abcdef0",
    ))]
    Adopt(AdoptArgs),
    /// Check what would break before it does: credentials, clock, permissions, quota,
    /// certificate and CRL expiry, and the endpoint against the local PKI and profiles.
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl doctor",
        "\n  vpnctl doctor --json",
    ))]
    Doctor(DoctorArgs),
    /// The PKI in S3 for a team: create the bucket, move a local PKI in or a copy out, and the
    /// IAM policy its admins need.
    #[command(arg_required_else_help = true, after_help = concat!(
        "Examples:",
        "\n  vpnctl store init s3://acme-vpn-pki/team",
        "\n  vpnctl store push s3://acme-vpn-pki/team",
    ))]
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// The least-privilege IAM policy (JSON) for the commands named; all of them by default.
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl iam-policy",
        "\n  vpnctl iam-policy setup status sleep wake teardown",
        "\n  vpnctl iam-policy nat pki revoke > vpnctl-nat-and-revoke.json",
    ))]
    IamPolicy(IamPolicyArgs),
    /// Shell completions, on stdout.
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl completions bash > ~/.local/share/bash-completion/completions/vpnctl",
        "\n  vpnctl completions zsh > ~/.zfunc/_vpnctl",
        "\n  vpnctl completions fish > ~/.config/fish/completions/vpnctl.fish",
    ))]
    Completions(CompletionsArgs),
    /// Write the manual pages: vpnctl.1 and one page per command (vpnctl-setup.1, …).
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl man --out ~/.local/share/man/man1",
        "\n  vpnctl man --out /tmp/man && man -l /tmp/man/vpnctl-setup.1",
    ))]
    Man(ManArgs),
    /// Temporary internet for a private subnet through a NAT gateway.
    #[command(arg_required_else_help = true)]
    Nat {
        #[command(subcommand)]
        command: NatCommand,
    },
}

#[derive(Debug, Args)]
pub struct AdoptArgs {
    /// The endpoint's id (cvpn-endpoint-…).
    #[arg(long, value_name = "ID")]
    pub endpoint: String,
    /// Print the tags it would add and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the plan (with --dry-run) or the outcome as one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Every check as one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
    /// Do not count this check (repeatable), e.g. `permissions` for an identity that only
    /// looks (its DryRuns of the changes are refused by design).
    #[arg(long, value_name = "CHECK")]
    pub skip: Vec<String>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct IamPolicyArgs {
    /// Commands as typed after `vpnctl` (`setup`, `nat on`, `pki revoke`), or a group (`nat`,
    /// `pki`) for all of its commands that reach AWS.
    #[arg(value_name = "COMMAND")]
    pub commands: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The directory to write the pages into (created if missing; pages there are replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
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
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl nat on --subnet lab-private-subnet",
        "\n  vpnctl nat on --subnet lab-private-subnet --ttl 1h",
    ))]
    On(NatOnArgs),
    /// Remove the route (restoring a replaced one), delete the NAT gateway, release the Elastic IP.
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl nat off",
        "\n  vpnctl nat off --dry-run",
    ))]
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
#[command(next_help_heading = "AWS options")]
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
    /// More destination CIDRs to authorize, besides the VPC's (repeatable); `CIDR=GROUP`
    /// authorizes only the members of a SAML or Active Directory group.
    #[arg(long, value_name = "CIDR[=GROUP]")]
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
    /// How long a session lasts before the client must reconnect: 8h, 10h, 12h or 24h
    /// (AWS's default).
    #[arg(long, value_name = "HOURS")]
    pub session_timeout: Option<String>,
    /// At the session timeout, ask the user to reconnect (true, AWS's default) or reconnect
    /// by itself (false).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub disconnect_on_session_timeout: Option<bool>,
    /// A text the AWS-provided client shows when a session starts (at most 1400 characters);
    /// `none`: no banner.
    #[arg(long, value_name = "TEXT")]
    pub banner: Option<String>,
    /// The AWS-provided client (5.2.0 or later) keeps the endpoint's routes on the device,
    /// undoing local changes to them.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub client_route_enforcement: Option<bool>,
    /// Also sign in through SAML (Okta, Entra ID, IAM Identity Center…): the ARN of the IAM
    /// SAML provider. Set when the endpoint is created.
    #[arg(long, value_name = "ARN", conflicts_with = "directory_id")]
    pub saml_provider: Option<String>,
    /// With --saml-provider: the self-service portal, where users sign in and download the
    /// AWS-provided client and their profile (`false` turns it off).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub self_service_portal: Option<bool>,
    /// Also sign in with an Active Directory user and password (AWS Directory Service id,
    /// d-…). Set when the endpoint is created.
    #[arg(long, value_name = "ID")]
    pub directory_id: Option<String>,
    /// With --saml-provider or --directory-id: `false` signs users in by that alone, with no
    /// client certificate (one profile for everyone). Set when the endpoint is created.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub client_certificates: Option<bool>,
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
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl pki init",
        "\n  vpnctl pki init --server-name vpn.example.com --encrypt-ca-key",
        "\n  vpnctl pki init --ca-key kms --region eu-west-1",
    ))]
    Init(InitArgs),
    /// Issue one client certificate per user (in parallel).
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl pki issue alice bob",
        "\n  vpnctl pki issue carol --days 90",
    ))]
    Issue(IssueArgs),
    /// Users, server, CA and CRL with their status and expiry.
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl pki list",
        "\n  vpnctl pki list --all --json",
    ))]
    List(ListArgs),
    /// One certificate in detail: a user, `server` or `ca`.
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl pki show alice",
        "\n  vpnctl pki show ca --pem",
    ))]
    Show(ShowArgs),
    /// Revoke a user and regenerate the CRL.
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl pki revoke alice",
        "\n  vpnctl pki revoke alice --local-only",
        "\n  vpnctl pki revoke alice --dry-run",
    ))]
    Revoke(RevokeArgs),
    /// A new certificate with the same name for a user or `server`.
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl pki renew server",
        "\n  vpnctl pki renew alice --days 30",
    ))]
    Renew(RenewArgs),
    /// Regenerate the CRL (e.g. to move its next-update further out).
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl pki crl",
        "\n  vpnctl pki crl --days 365",
    ))]
    Crl(CrlArgs),
    /// Adopt an existing easy-rsa PKI, keeping serials and revocations.
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl pki import-easyrsa ~/easy-rsa/pki",
        "\n  vpnctl pki import-easyrsa ./pki-old --server server --crl-days 180",
    ))]
    ImportEasyrsa(ImportArgs),
    /// Catch up with revocations another copy of this PKI made: from its crl.pem, or (without
    /// FILE) from the deployment's endpoint, whose CRL then gets the merged one.
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl pki merge-crl",
        "\n  vpnctl pki merge-crl ../laptop-copy/pki/crl.pem --dry-run",
    ))]
    MergeCrl(MergeCrlArgs),
    /// Who changed what in the PKI, oldest first: issues, revocations, renewals, CRLs,
    /// signed requests and pushes.
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl pki log",
        "\n  vpnctl pki log --user alice --json",
    ))]
    Log(LogArgs),
    /// On the user's machine: a new key and a certificate request (CSR) to send to an admin;
    /// the key never leaves this machine.
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl pki request alice",
        "\n  vpnctl pki request alice --out ~/vpn",
    ))]
    Request(RequestArgs),
    /// Sign a user's certificate request (from `pki request`): the certificate, to send back.
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl pki sign alice.csr",
        "\n  vpnctl pki sign requests/*.csr --days 90",
    ))]
    Sign(SignArgs),
    /// On the user's machine: put the user's own key into the profile `pki sign` made for
    /// them (it holds everything else), checked to belong to its certificate.
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl pki assemble alice.ovpn --key alice.key",
    ))]
    Assemble(AssembleArgs),
}

#[derive(Debug, Args)]
pub struct AssembleArgs {
    /// The profile from the admin (USER.ovpn, made by `pki sign`).
    pub profile: PathBuf,
    /// The key `pki request` made.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Where the complete profile goes (mode 0600); default: PROFILE itself.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only the records about this user.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RequestArgs {
    /// The user's name (the certificate's CN).
    pub user: String,
    /// The directory for USER.key and USER.csr.
    #[arg(long, short, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// Replace an existing USER.key / USER.csr.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// Certificate requests (PEM CSR files); each certificate is written beside its request
    /// as NAME.crt.
    #[arg(required = true, value_name = "REQUEST")]
    pub requests: Vec<PathBuf>,
    #[arg(long, value_name = "DAYS", default_value_t = crate::pki::store::DEFAULT_CERT_DAYS)]
    pub days: u32,
    /// The VPN endpoint's host name for the profile written beside each certificate (default:
    /// the deployment's endpoint; without either, no profile is written).
    #[arg(long, value_name = "HOST")]
    pub remote: Option<String>,
}

/// `vpnctl store …`: the PKI in S3 for a team.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Create (or converge) the bucket: versioning, default encryption, public access blocked,
    /// tagged.
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl store init s3://acme-vpn-pki/team",
        "\n  vpnctl store init s3://acme-vpn-pki/team --kms-key alias/vpn-pki",
    ))]
    Init(StoreInitArgs),
    /// Move the local PKI (--pki) into an empty S3 store, keeping serials, history, the CRL
    /// number and the log; the directory becomes the store's working copy (no CA key).
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl store push s3://acme-vpn-pki/team",
    ))]
    Push(StorePushArgs),
    /// A complete local copy of the store (with the CA key, when the store holds it) for
    /// offline work; its revocations go back with `pki merge-crl`.
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl store pull ./pki-offline --region eu-west-1",
    ))]
    Pull(StorePullArgs),
    /// The least-privilege IAM policy for an admin of the store.
    #[command(after_help = concat!(
        "Examples:",
        "\n  vpnctl store policy s3://acme-vpn-pki/team > vpn-pki-admin.json",
    ))]
    Policy(StorePolicyArgs),
}

#[derive(Debug, Args)]
pub struct StoreInitArgs {
    /// s3://BUCKET/PREFIX
    pub uri: String,
    /// Encrypt with this KMS key (SSE-KMS) instead of S3's own keys (SSE-S3).
    #[arg(long, value_name = "KEY-ID|ALIAS|ARN")]
    pub kms_key: Option<String>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct StorePushArgs {
    /// s3://BUCKET/PREFIX (an empty prefix: a store is never replaced)
    pub uri: String,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct StorePullArgs {
    /// A new (or empty) directory for the copy.
    pub dest: PathBuf,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct StorePolicyArgs {
    /// s3://BUCKET/PREFIX (default: the --store in effect).
    pub uri: Option<String>,
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
    /// Where the CA key lives: `file` (private/ca.key), `kms` (a new AWS KMS key, created
    /// and tagged), or `kms:KEY` (an existing RSA_2048 SIGN_VERIFY key: id, alias or ARN). A
    /// KMS key never leaves KMS; every signature is a KMS call.
    #[arg(long, value_name = "file|kms|kms:KEY", default_value = "file")]
    pub ca_key: String,
    /// The region of the KMS key (else the config's or AWS_REGION).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// A named profile of the AWS config, for the KMS key.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
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
    /// With an S3 store: keep the users' keys in the store too (encrypted at rest), so every
    /// admin can make their profiles. Without it a client key stays on this machine only.
    #[arg(long)]
    pub key_in_store: bool,
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
    /// Upload the profile to the team's S3 store (encrypted at rest) and print an HTTPS link
    /// that expires, instead of writing a file; one user.
    #[arg(long, conflicts_with_all = ["all", "output"])]
    pub share: bool,
    /// How long the --share link works: 30m, 1h, 2d (at most 7d, S3's limit).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "1h",
        requires = "share"
    )]
    pub expires: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Words of an example as a shell splits them (double quotes only; no expansion).
    fn words(line: &str) -> Vec<String> {
        let mut out = Vec::new();
        let (mut cur, mut quoted, mut any) = (String::new(), false, false);
        for c in line.chars() {
            match c {
                '"' => (quoted, any) = (!quoted, true),
                c if c.is_whitespace() && !quoted => {
                    if any {
                        out.push(std::mem::take(&mut cur));
                    }
                    any = false;
                }
                c => (cur, any) = (cur + &c.to_string(), true),
            }
        }
        if any {
            out.push(cur);
        }
        out
    }

    /// Every command people run has examples, and every example parses as written.
    #[test]
    fn every_command_shows_examples_that_parse() {
        fn visit(cmd: &clap::Command, path: String, checked: &mut usize) {
            let leaf = !cmd.has_subcommands();
            let help = cmd
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            if leaf {
                assert!(help.starts_with("Examples:"), "`{path}` has no examples");
            }
            let text = help.replace("\\\n", " ");
            for example in text.lines().skip(1).map(str::trim) {
                assert!(
                    example.starts_with(&path),
                    "`{example}` is not an example of {path}"
                );
                // The vpnctl part of a shell line: before a redirection or a next command.
                let command = example.split(['>', '&', '|']).next().unwrap_or_default();
                let args = words(command);
                if let Err(e) = Cli::try_parse_from(&args) {
                    panic!("the example `{example}` does not parse: {e}");
                }
                *checked += 1;
            }
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                visit(sub, format!("{path} {}", sub.get_name()), checked);
            }
        }
        let mut checked = 0;
        visit(&Cli::command(), "vpnctl".into(), &mut checked);
        assert!(checked > 40, "{checked} examples");
    }

    /// The flags every command takes are under their own heading, apart from the command's.
    #[test]
    fn global_flags_have_their_own_heading() {
        let mut root = Cli::command();
        root.build();
        let setup = root.find_subcommand("setup").unwrap();
        for arg in setup.get_arguments() {
            let global = arg.is_global_set();
            let heading = arg.get_help_heading();
            match arg.get_id().as_str() {
                "help" | "version" => {}
                _ if global => assert_eq!(heading, Some(GLOBAL), "{}", arg.get_id()),
                "profile" | "region" => assert_eq!(heading, Some("AWS options")),
                id => assert_eq!(heading, None, "setup's own --{id}"),
            }
        }
    }
}

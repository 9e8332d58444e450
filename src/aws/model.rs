//! vpnctl's own view of the AWS resources it manages. The cloud traits speak these types,
//! never SDK types, so the planner and executor do not depend on the SDK.

use ipnet::Ipv4Net;
use serde::Serialize;
use std::collections::BTreeMap;

pub const TAG_DEPLOYMENT: &str = "vpnctl:deployment";
pub const TAG_MANAGED_BY: &str = "vpnctl:managed-by";
pub const MANAGED_BY: &str = "vpnctl";
/// What an adopted ACM certificate is to the endpoint, when it is not its server certificate:
/// `client-root` (the CA clients chain to). Such a one is never taken for the server's.
pub const TAG_CERT_ROLE: &str = "vpnctl:certificate-role";
/// Set on NAT gateways and Elastic IPs created by `nat on --ttl`.
pub const TAG_EXPIRES: &str = "vpnctl:expires";

pub type Tags = BTreeMap<String, String>;

/// The tags every resource of `deployment` carries: the source of truth for finding them.
pub fn tags_for(deployment: &str, name: &str) -> Tags {
    let mut t = Tags::new();
    t.insert(TAG_DEPLOYMENT.to_string(), deployment.to_string());
    t.insert(TAG_MANAGED_BY.to_string(), MANAGED_BY.to_string());
    t.insert("Name".to_string(), name.to_string());
    t
}

/// Whether `tags` mark a resource as vpnctl's, of `deployment`.
pub fn is_ours(tags: &Tags, deployment: &str) -> bool {
    tags.get(TAG_DEPLOYMENT).map(String::as_str) == Some(deployment)
        && tags.get(TAG_MANAGED_BY).map(String::as_str) == Some(MANAGED_BY)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vpc {
    pub id: String,
    pub name: Option<String>,
    pub cidrs: Vec<Ipv4Net>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subnet {
    pub id: String,
    pub name: Option<String>,
    pub vpc_id: String,
    pub az: String,
    pub cidr: Option<Ipv4Net>,
    /// Free IPv4 addresses (`AvailableIpAddressCount`), when known.
    pub available_ips: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Certificate {
    pub arn: String,
    pub tags: Tags,
    pub domain: Option<String>,
    /// Unix seconds (RFC 3339 in JSON, as every time below).
    #[serde(serialize_with = "crate::json::opt_time")]
    pub not_after: Option<i64>,
    #[serde(serialize_with = "crate::json::opt_time")]
    pub created: Option<i64>,
    pub in_use_by: Vec<String>,
}

/// What vpnctl uploads to ACM: the server certificate, its key, and the CA as chain. One
/// import serves as both the endpoint's server certificate and its client root chain, since
/// the same CA issues the server and every client.
#[derive(Clone)]
pub struct CertUpload {
    pub cert_pem: String,
    pub key_pem: String,
    pub chain_pem: String,
}

impl std::fmt::Debug for CertUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertUpload")
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Udp,
    Tcp,
}

/// How the endpoint should be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointSpec {
    pub name: String,
    pub client_cidr: Ipv4Net,
    pub vpc_id: String,
    pub split_tunnel: bool,
    pub dns_servers: Vec<std::net::Ipv4Addr>,
    pub transport: Transport,
    pub port: u16,
    pub security_groups: Vec<String>,
    pub description: String,
    /// CloudWatch log group for connection logging; None = logging off.
    pub log_group: Option<String>,
    pub options: EndpointOptions,
    /// Sign-in by SAML or Active Directory (fixed at creation).
    pub user_auth: Option<UserAuth>,
    /// Client certificates (mutual authentication) too: `Some(false)` signs users in by
    /// `user_auth` alone; `None` keeps the endpoint's (with certificates on a new one).
    pub certificates: Option<bool>,
}

impl EndpointSpec {
    /// The sign-in as a describe of a new endpoint made from this spec shows it.
    pub fn observed_auth(&self) -> Option<UserAuth> {
        self.user_auth.clone().map(|a| match a {
            UserAuth::Saml { provider_arn, .. } => UserAuth::Saml {
                provider_arn,
                self_service_portal: self.options.self_service_portal == Some(true),
            },
            other => other,
        })
    }
}

/// The endpoint's session and client options as setup wants them: each one given (flag or
/// config) is set, at creation or in place (`ModifyClientVpnEndpoint`); one not given is left
/// as the endpoint has it (AWS's default on a new endpoint).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EndpointOptions {
    /// 8, 10, 12 or 24 (AWS's default).
    pub session_timeout_hours: Option<u8>,
    /// At the session timeout the client asks to reconnect (true, AWS's default) or
    /// reconnects by itself (false).
    pub disconnect_on_session_timeout: Option<bool>,
    /// A text the AWS-provided client shows when a session starts; `Some(None)`: no banner.
    pub banner: Option<Option<String>>,
    /// The AWS-provided client (5.2.0+) keeps the endpoint's routes on the device.
    pub client_route_enforcement: Option<bool>,
    /// With SAML: the self-service portal (vpnctl creates endpoints without it unless asked).
    pub self_service_portal: Option<bool>,
}

impl EndpointOptions {
    /// As a describe of a new endpoint made with them would show them (AWS's defaults for
    /// what is not given).
    pub fn observed(&self) -> ObservedOptions {
        ObservedOptions {
            session_timeout_hours: Some(self.session_timeout_hours.unwrap_or(24)),
            disconnect_on_session_timeout: Some(self.disconnect_on_session_timeout.unwrap_or(true)),
            banner: self.banner.clone().flatten(),
            client_route_enforcement: Some(self.client_route_enforcement.unwrap_or(false)),
        }
    }
}

/// The options as AWS describes them: `None` for what the answer leaves out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ObservedOptions {
    pub session_timeout_hours: Option<u8>,
    pub disconnect_on_session_timeout: Option<bool>,
    /// The banner's text while the banner is on.
    pub banner: Option<String>,
    pub client_route_enforcement: Option<bool>,
}

/// A user-based sign-in AWS combines with certificate (mutual) authentication: both must
/// pass. AWS allows either, not both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum UserAuth {
    /// SAML 2.0 federation through an IAM SAML provider (Okta, Entra ID, IAM Identity
    /// Center…), with the self-service portal on or off.
    Saml {
        provider_arn: String,
        self_service_portal: bool,
    },
    /// AWS Directory Service (Active Directory) user name and password.
    Directory { directory_id: String },
}

impl UserAuth {
    pub fn kind(&self) -> &'static str {
        match self {
            UserAuth::Saml { .. } => "saml",
            UserAuth::Directory { .. } => "directory",
        }
    }

    /// As people name it: `SAML` or `Active Directory`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            UserAuth::Saml { .. } => "SAML",
            UserAuth::Directory { .. } => "Active Directory",
        }
    }

    /// The provider's ARN or the directory's id.
    pub fn id(&self) -> &str {
        match self {
            UserAuth::Saml { provider_arn, .. } => provider_arn,
            UserAuth::Directory { directory_id } => directory_id,
        }
    }
}

impl std::fmt::Display for UserAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserAuth::Saml { provider_arn, .. } => write!(f, "certificate + SAML ({provider_arn})"),
            UserAuth::Directory { directory_id } => {
                write!(f, "certificate + Active Directory ({directory_id})")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub id: String,
    /// pending-associate, available, deleting, deleted.
    pub state: EndpointState,
    pub dns_name: Option<String>,
    pub client_cidr: Option<Ipv4Net>,
    pub vpc_id: Option<String>,
    pub split_tunnel: bool,
    pub dns_servers: Vec<String>,
    pub transport: Option<Transport>,
    pub port: Option<u16>,
    pub security_groups: Vec<String>,
    pub description: Option<String>,
    pub server_cert_arn: Option<String>,
    /// The CloudWatch Logs group when connection logging is on.
    pub log_group: Option<String>,
    pub options: ObservedOptions,
    pub user_auth: Option<UserAuth>,
    /// Whether it has certificate (mutual) authentication.
    pub certificates: bool,
    #[serde(serialize_with = "crate::json::opt_time")]
    pub created: Option<i64>,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Association {
    pub id: String,
    pub subnet_id: String,
    /// associating, associated, association-failed, disassociating, disassociated.
    pub state: AssociationState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthRule {
    pub cidr: String,
    /// The SAML or Active Directory group it admits; None: every client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub description: Option<String>,
    /// authorizing, active, failed, revoking.
    pub state: RuleState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    pub cidr: String,
    pub description: Option<String>,
    pub subnet_id: String,
    pub origin: String,
    /// creating, active, failed, deleting.
    pub state: RouteState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Connection {
    pub id: String,
    /// Who: the certificate's CommonName with certificate authentication (AWS gives a
    /// Username only for directory/SAML authentication).
    pub username: Option<String>,
    pub client_ip: Option<String>,
    pub state: ConnectionState,
    #[serde(serialize_with = "crate::json::aws_time")]
    pub established: Option<String>,
    #[serde(serialize_with = "crate::json::opt_count")]
    pub ingress_bytes: Option<String>,
    #[serde(serialize_with = "crate::json::opt_count")]
    pub egress_bytes: Option<String>,
}

/// The description vpnctl gives the authorization rules and routes it creates: how setup
/// tells its own from ones a person added to the endpoint (only its own are ever removed).
pub fn owned_description(deployment: &str) -> String {
    format!("vpnctl {deployment}")
}

/// The description of a route someone added by hand that wake put back: not vpnctl's own
/// (`owned_description`), so setup never prunes it.
pub const RESTORED_DESCRIPTION: &str = "restored by vpnctl wake (added by hand)";

/// Billing-relevant states.
/// An AWS resource state vpnctl branches on: parsed once, at the adapter boundary, into an
/// enum whose `Unknown` arm keeps a state AWS adds later, so it is shown, never mis-handled
/// as one vpnctl knows. Displayed and serialized as AWS writes it.
macro_rules! aws_state {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $($variant,)+
            /// A state this vpnctl does not know (or none given), as AWS wrote it.
            Unknown(String),
        }

        impl Default for $name {
            fn default() -> Self {
                Self::Unknown(String::new())
            }
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Unknown(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $($text => Self::$variant,)+
                    other => Self::Unknown(other.to_string()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

aws_state!(
    /// A Client VPN endpoint's status code.
    EndpointState {
        PendingAssociate = "pending-associate",
        Available = "available",
        Deleting = "deleting",
        Deleted = "deleted",
    }
);

aws_state!(
    /// A target network association's status code.
    AssociationState {
        Associating = "associating",
        Associated = "associated",
        AssociationFailed = "association-failed",
        Disassociating = "disassociating",
        Disassociated = "disassociated",
    }
);

aws_state!(
    /// An authorization rule's status code.
    RuleState {
        Authorizing = "authorizing",
        Active = "active",
        Failed = "failed",
        Revoking = "revoking",
    }
);

aws_state!(
    /// A Client VPN route's status code.
    RouteState {
        Creating = "creating",
        Active = "active",
        Failed = "failed",
        Deleting = "deleting",
    }
);

aws_state!(
    /// A client connection's status code.
    ConnectionState {
        Active = "active",
        FailedToTerminate = "failed-to-terminate",
        Terminating = "terminating",
        Terminated = "terminated",
    }
);

aws_state!(
    /// A NAT gateway's state.
    NatState {
        Pending = "pending",
        Failed = "failed",
        Available = "available",
        Deleting = "deleting",
        Deleted = "deleted",
    }
);

/// Whether an association in this state bills (AWS charges from the moment it is requested
/// until it is gone). An unknown state counts as billing: better a warning too many.
pub fn association_bills(state: &AssociationState) -> bool {
    !matches!(
        state,
        AssociationState::Disassociated | AssociationState::AssociationFailed
    )
}

impl NatState {
    /// Pending or available: it bills and it is the deployment's live NAT gateway.
    pub fn is_live(&self) -> bool {
        matches!(self, NatState::Pending | NatState::Available)
    }
}

/// Where a route sends traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "kebab-case")]
pub enum RouteTarget {
    Local,
    /// Internet or virtual private gateway (`igw-…`, `vgw-…`).
    Gateway(String),
    Nat(String),
    Interface(String),
    TransitGateway(String),
    Peering(String),
    Instance(String),
    LocalGateway(String),
    CarrierGateway(String),
    /// A target vpnctl cannot point a route back at (so `nat on --force` refuses to replace it).
    Other(String),
}

impl RouteTarget {
    /// Parse the id vpnctl keeps in the `vpnctl:replaced-route` tag.
    pub fn from_id(id: &str) -> RouteTarget {
        match id.split('-').next().unwrap_or("") {
            "local" => RouteTarget::Local,
            // Gateway Load Balancer endpoints (vpce-) are given as GatewayId too.
            "igw" | "vgw" | "vpce" => RouteTarget::Gateway(id.to_string()),
            "lgw" => RouteTarget::LocalGateway(id.to_string()),
            "cagw" => RouteTarget::CarrierGateway(id.to_string()),
            "nat" => RouteTarget::Nat(id.to_string()),
            "eni" => RouteTarget::Interface(id.to_string()),
            "tgw" => RouteTarget::TransitGateway(id.to_string()),
            "pcx" => RouteTarget::Peering(id.to_string()),
            "i" => RouteTarget::Instance(id.to_string()),
            _ => RouteTarget::Other(id.to_string()),
        }
    }
    pub fn id(&self) -> &str {
        match self {
            RouteTarget::Local => "local",
            RouteTarget::Gateway(i)
            | RouteTarget::Nat(i)
            | RouteTarget::Interface(i)
            | RouteTarget::TransitGateway(i)
            | RouteTarget::Peering(i)
            | RouteTarget::Instance(i)
            | RouteTarget::LocalGateway(i)
            | RouteTarget::CarrierGateway(i)
            | RouteTarget::Other(i) => i,
        }
    }
    /// Whether vpnctl can set a route to this target again (to restore it after `nat off`).
    pub fn restorable(&self) -> bool {
        !matches!(self, RouteTarget::Local | RouteTarget::Other(_))
    }
    pub fn is_internet_gateway(&self) -> bool {
        matches!(self, RouteTarget::Gateway(i) if i.starts_with("igw-"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableRoute {
    pub destination: String,
    pub target: RouteTarget,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteTable {
    pub id: String,
    pub vpc_id: String,
    pub main: bool,
    pub subnets: Vec<String>,
    pub routes: Vec<TableRoute>,
}

impl RouteTable {
    pub fn default_route(&self) -> Option<&RouteTarget> {
        self.routes
            .iter()
            .find(|r| r.destination == "0.0.0.0/0")
            .map(|r| &r.target)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NatGateway {
    pub id: String,
    /// pending, available, deleting, deleted, failed.
    pub state: NatState,
    pub subnet_id: String,
    pub vpc_id: String,
    pub allocation_id: Option<String>,
    pub public_ip: Option<String>,
    #[serde(serialize_with = "crate::json::opt_time")]
    pub created: Option<i64>,
    pub tags: Tags,
    /// Why AWS failed it (state `failed`): `FailureCode` and `FailureMessage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Address {
    pub allocation_id: String,
    pub public_ip: Option<String>,
    pub association_id: Option<String>,
    pub tags: Tags,
}

/// Tags on the NAT gateway that let `nat off` undo `nat on` with no local state.
pub const TAG_ROUTE_TABLE: &str = "vpnctl:route-table";
pub const TAG_REPLACED_ROUTE: &str = "vpnctl:replaced-route";
pub const TAG_PRIVATE_SUBNET: &str = "vpnctl:private-subnet";

/// What vpnctl writes on the endpoint when a deadline (`setup --ttl`) put it to sleep:
/// `deadline <RFC 3339 time>`. Cleared by wake with the rest of the sleep record.
pub const TAG_SLEPT_BY: &str = "vpnctl:slept-by";
/// The deployment's deadline duration (`setup --ttl 8h`), on the endpoint: what `wake` arms
/// again. Empty when the deployment has no deadline.
pub const TAG_TTL: &str = "vpnctl:ttl";

/// One EventBridge Scheduler schedule of a deployment's group, as vpnctl writes and reads it:
/// a universal target (`arn:aws:scheduler:::aws-sdk:<action>`) whose `input` is the API's own
/// parameters as JSON, run as the deployment's scheduler role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Schedule {
    pub name: String,
    /// `at(2026-12-02T20:00:00)`, `cron(0 19 ? * MON-FRI *)`, `rate(5 minutes)`.
    pub expression: String,
    /// The expression's IANA time zone; `None`: UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// `<service>:<apiAction>`, as in the universal target's ARN: `ec2:deleteNatGateway`.
    pub action: String,
    /// The API's request parameters, JSON.
    pub input: String,
    pub role_arn: String,
    pub enabled: bool,
    /// `ActionAfterCompletion` DELETE: gone once it has run for the last time.
    pub delete_after: bool,
    /// The retry policy: at most this many retries, for at most this many seconds after the
    /// scheduled time.
    pub retries: u32,
    pub max_age_secs: u32,
}

impl Schedule {
    /// The universal target's ARN.
    pub fn target_arn(&self) -> String {
        format!("arn:aws:scheduler:::aws-sdk:{}", self.action)
    }

    /// The action from a universal target's ARN (`None` for any other target).
    pub fn action_of(arn: &str) -> Option<&str> {
        arn.strip_prefix("arn:aws:scheduler:::aws-sdk:")
    }

    /// When a one-time schedule runs (Unix seconds; its `at()` is read in its time zone, UTC
    /// when none: vpnctl writes UTC), `None` for a recurring one.
    pub fn at(&self) -> Option<i64> {
        let t = self.expression.strip_prefix("at(")?.strip_suffix(')')?;
        if self.timezone.as_deref().is_some_and(|z| z != "UTC") {
            return None;
        }
        let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
        time::PrimitiveDateTime::parse(t, &f)
            .ok()
            .map(|p| p.assume_utc().unix_timestamp())
    }

    /// The `at()` expression for Unix time `t`, in UTC.
    pub fn at_expression(t: i64) -> String {
        let d = time::OffsetDateTime::from_unix_timestamp(t)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        format!(
            "at({:04}-{:02}-{:02}T{:02}:{:02}:{:02})",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        )
    }
}

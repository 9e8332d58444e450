//! Narrow traits over the cloud, a few methods each, in vpnctl's own types. The SDK adapter
//! (`sdk`) implements them for AWS; nothing else knows the SDK.

use super::model::*;
use ipnet::Ipv4Net;

/// What kind of failure a cloud call met: what vpnctl branches on (done, retry, stop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    NotFound,
    InUse,
    NoCredentials,
    /// No answer: connection refused, DNS, TLS, a timeout.
    Unreachable,
    /// `RequestLimitExceeded`, `Throttling…`: too many calls, slow down.
    Throttled,
    /// `ConcurrentMutationLimitExceeded`: too many changes under way on one endpoint.
    Busy,
    /// AWS failed on its side (`InternalError`, `ServiceUnavailable`, HTTP 5xx).
    ServerError,
    /// Any other refusal: the request itself is wrong for what AWS holds.
    Api,
}

impl Kind {
    /// The kind of AWS's answer `code` (EC2 models no error types: the code string is the only
    /// handle), with its message and HTTP status. IAM says `NoSuchEntity` for "not found",
    /// Step Functions `StateMachineDoesNotExist`.
    pub fn of(code: &str, message: &str, status: Option<u16>) -> Kind {
        if code.contains("NotFound")
            || code == "ResourceNotFoundException"
            || code == "NoSuchEntity"
            || code == "StateMachineDoesNotExist"
        {
            Kind::NotFound
        } else if code == "ResourceInUseException" || code == "DependencyViolation" {
            Kind::InUse
        } else if code.contains("Throttl") || code == "RequestLimitExceeded" {
            Kind::Throttled
        } else if code == "ConcurrentMutationLimitExceeded" {
            Kind::Busy
        } else if code.contains("AuthFailure") && message.contains("credentials")
            || code == "UnrecognizedClientException"
            || code == "InvalidClientTokenId"
        {
            Kind::NoCredentials
        } else if matches!(
            code,
            "InternalError" | "InternalFailure" | "ServiceUnavailable" | "Unavailable"
        ) || status.is_some_and(|s| s >= 500)
        {
            Kind::ServerError
        } else {
            Kind::Api
        }
    }
}

/// The call AWS answered with an error: which service and operation, AWS's code and message,
/// the HTTP status and the request id (what AWS support asks for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub service: String,
    pub operation: String,
    pub code: String,
    pub message: String,
    pub status: Option<u16>,
    pub request_id: Option<String>,
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} answered", self.service, self.operation)?;
        if let Some(s) = self.status {
            write!(f, " HTTP {s}")?;
        }
        write!(f, " {}", self.code)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Call {}

/// A failed cloud call, classified. The adapter is the only place SDK errors become these; the
/// call AWS answered (when it answered) is kept as the cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudError {
    pub kind: Kind,
    /// The resource (`NotFound`, `InUse`) or what went wrong, in a line.
    pub what: String,
    pub call: Option<Box<Call>>,
}

impl std::fmt::Display for CloudError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let w = &self.what;
        match (self.kind, &self.call) {
            (Kind::NotFound, _) => write!(f, "{w} not found"),
            (Kind::InUse, _) => write!(f, "{w} is in use"),
            (Kind::NoCredentials, _) => write!(f, "no AWS credentials found ({w})"),
            (Kind::Unreachable, _) => write!(f, "cannot reach AWS: {w}"),
            (Kind::Throttled, _) => write!(f, "throttled by AWS: {w}"),
            (Kind::Busy, _) => write!(f, "AWS is busy with other changes: {w}"),
            (Kind::ServerError, _) => write!(f, "AWS failed: {w}"),
            (Kind::Api, Some(c)) => write!(f, "AWS refused {}: {}: {}", c.operation, c.code, w),
            (Kind::Api, None) => write!(f, "AWS refused: {w}"),
        }
    }
}

impl std::error::Error for CloudError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.call.as_deref().map(|c| c as _)
    }
}

impl CloudError {
    pub fn new(kind: Kind, what: impl Into<String>) -> Self {
        CloudError {
            kind,
            what: what.into(),
            call: None,
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, what)
    }

    pub fn in_use(what: impl Into<String>) -> Self {
        Self::new(Kind::InUse, what)
    }

    /// A refusal of `operation` with AWS's `code` and `message` (or vpnctl's own, for an
    /// answer it cannot use).
    pub fn api(
        operation: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let message = message.into();
        CloudError {
            kind: Kind::Api,
            what: message.clone(),
            call: Some(Box::new(Call {
                service: String::new(),
                operation: operation.into(),
                code: code.into(),
                message,
                status: None,
                request_id: None,
            })),
        }
    }

    /// AWS's answer `code` to `operation` of `service`, classified as the adapter classifies
    /// it (the fake cloud answers with these too).
    pub fn answered(service: &str, operation: &str, code: &str, message: &str) -> Self {
        let kind = Kind::of(code, message, None);
        CloudError {
            kind,
            what: message.to_string(),
            call: Some(Box::new(Call {
                service: service.to_string(),
                operation: operation.to_string(),
                code: code.to_string(),
                message: message.to_string(),
                status: None,
                request_id: None,
            })),
        }
    }

    pub fn is(&self, kind: Kind) -> bool {
        self.kind == kind
    }

    /// AWS's error code, when AWS answered.
    pub fn code(&self) -> Option<&str> {
        self.call.as_deref().map(|c| c.code.as_str())
    }

    /// The operation that failed, when known.
    pub fn operation(&self) -> Option<&str> {
        self.call.as_deref().map(|c| c.operation.as_str())
    }

    /// Worth another attempt after a pause: AWS asked to slow down, was busy, failed on its
    /// side, or did not answer.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            Kind::Throttled | Kind::Busy | Kind::ServerError | Kind::Unreachable
        )
    }
}

pub type CloudResult<T> = Result<T, CloudError>;

#[allow(async_fn_in_trait)]
pub trait Network {
    /// A VPC by id (`vpc-…`) or by its Name tag.
    async fn find_vpc(&self, id_or_name: &str) -> CloudResult<Vpc>;
    /// A subnet by id (`subnet-…`) or by its Name tag.
    async fn find_subnet(&self, id_or_name: &str) -> CloudResult<Subnet>;
    /// A security group of `vpc` by id (`sg-…`), group name (`default`) or Name tag: its id.
    async fn find_security_group(&self, vpc: &str, id_or_name: &str) -> CloudResult<String>;
}

/// Which ACM certificates `Certificates::tagged_certificates` reads the tags of. ACM has no tag
/// filter: ListCertificates gives every certificate of the region with its domain, and each
/// certificate whose tags are read costs one ListTagsForCertificate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CertScope<'a> {
    /// Every certificate of the region: every one tagged for the deployment is found, whatever
    /// its domain (teardown must delete them all; setup must see another PKI's). The calls grow
    /// with the account.
    #[default]
    All,
    /// The certificates for `domain` (the PKI's server name, as the domain or a subject
    /// alternative name) and those in `arns` (the ones the deployment's endpoints use): a fixed
    /// number of calls, whatever else the account holds.
    Named { domain: &'a str, arns: &'a [String] },
}

impl CertScope<'_> {
    /// Whether an endpoint of the deployment uses `arn` (known only to the narrowed scope).
    pub fn uses(&self, arn: &str) -> bool {
        matches!(self, CertScope::Named { arns, .. } if arns.iter().any(|a| a == arn))
    }

    /// Whether the certificate `arn`, listed with `names` (its domain and subject alternative
    /// names), is one whose tags are read.
    pub fn admits<'n>(&self, arn: &str, mut names: impl Iterator<Item = &'n str>) -> bool {
        match self {
            CertScope::All => true,
            CertScope::Named { domain, arns } => {
                arns.iter().any(|a| a == arn) || names.any(|n| n.eq_ignore_ascii_case(domain))
            }
        }
    }
}

/// What `exec::observe` reads besides the deployment's tagged resources. `true` and `false`
/// convert to it: with or without each endpoint's connections, every certificate, the server
/// certificate's body and the scheduler role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reads<'a> {
    /// Each endpoint's connections.
    pub connections: bool,
    /// Only the certificates for this server name and those the deployment's endpoints use
    /// (`CertScope::Named`); `None`: every certificate of the region (`CertScope::All`).
    pub server_name: Option<&'a str>,
    /// The body ACM holds for the server certificate (what setup's plan compares with the PKI's).
    pub server_cert_body: bool,
    /// Whether the deployment's scheduler role exists (what teardown removes).
    pub scheduler_role: bool,
}

impl From<bool> for Reads<'_> {
    fn from(connections: bool) -> Self {
        Reads {
            connections,
            server_name: None,
            server_cert_body: true,
            scheduler_role: true,
        }
    }
}

#[allow(async_fn_in_trait)]
pub trait Certificates {
    /// The ACM certificates tagged for `deployment`, among those `scope` admits. A certificate
    /// whose tags AWS refuses to give is left out: it does not fail the listing.
    async fn tagged_certificates(
        &self,
        deployment: &str,
        scope: CertScope<'_>,
    ) -> CloudResult<Vec<Certificate>>;
    /// Import, or re-import in place when `arn` is given (the ARN, and so the endpoint, stay).
    async fn import_certificate(
        &self,
        upload: &CertUpload,
        arn: Option<&str>,
        tags: &Tags,
    ) -> CloudResult<String>;
    /// The certificate body as ACM holds it.
    async fn certificate_body(&self, arn: &str) -> CloudResult<String>;
    async fn delete_certificate(&self, arn: &str) -> CloudResult<()>;
    /// Add `tags` to a certificate (others it has stay): `adopt` marks one made elsewhere.
    async fn tag_certificate(&self, arn: &str, tags: &Tags) -> CloudResult<()>;
}

#[allow(async_fn_in_trait)]
pub trait Endpoints {
    /// Every Client VPN endpoint tagged for `deployment` (deleted ones left out).
    async fn tagged_endpoints(&self, deployment: &str) -> CloudResult<Vec<Endpoint>>;
    /// How many Client VPN endpoints the region holds, whoever made them (the quota counts
    /// them all).
    async fn endpoints_in_region(&self) -> CloudResult<usize>;
    /// `token` is the idempotency token (`ClientToken`): the same token repeated (a retry
    /// after no answer) gives the endpoint the first call made, not a second one.
    async fn create_endpoint(
        &self,
        spec: &EndpointSpec,
        server_cert_arn: &str,
        tags: &Tags,
        token: &str,
    ) -> CloudResult<Endpoint>;
    async fn modify_endpoint(&self, id: &str, spec: &EndpointSpec) -> CloudResult<()>;
    async fn delete_endpoint(&self, id: &str) -> CloudResult<()>;
    async fn associations(&self, endpoint: &str) -> CloudResult<Vec<Association>>;
    /// `token`: as for `create_endpoint`.
    async fn associate(
        &self,
        endpoint: &str,
        subnet: &str,
        token: &str,
    ) -> CloudResult<Association>;
    async fn disassociate(&self, endpoint: &str, association: &str) -> CloudResult<()>;
    async fn rules(&self, endpoint: &str) -> CloudResult<Vec<AuthRule>>;
    /// Authorize `cidr` for every client, or (`group`) for the members of one SAML or Active
    /// Directory group.
    async fn authorize(
        &self,
        endpoint: &str,
        cidr: Ipv4Net,
        group: Option<&str>,
        description: &str,
    ) -> CloudResult<()>;
    async fn revoke_ingress(
        &self,
        endpoint: &str,
        cidr: &str,
        group: Option<&str>,
    ) -> CloudResult<()>;
    async fn routes(&self, endpoint: &str) -> CloudResult<Vec<Route>>;
    async fn delete_client_route(
        &self,
        endpoint: &str,
        cidr: &str,
        subnet: &str,
    ) -> CloudResult<()>;
    async fn create_route(
        &self,
        endpoint: &str,
        cidr: Ipv4Net,
        subnet: &str,
        description: &str,
    ) -> CloudResult<()>;
    async fn export_configuration(&self, endpoint: &str) -> CloudResult<String>;
    async fn connections(&self, endpoint: &str) -> CloudResult<Vec<Connection>>;
    /// Terminate every live connection of `username`; returns the connection ids ended.
    async fn terminate_user(&self, endpoint: &str, username: &str) -> CloudResult<Vec<String>>;
    async fn import_crl(&self, endpoint: &str, crl_pem: &str) -> CloudResult<()>;
    /// The CRL the endpoint holds, if any.
    async fn export_crl(&self, endpoint: &str) -> CloudResult<Option<String>>;
    /// Add or overwrite tags on the endpoint (vpnctl's own records, such as what `sleep` removed).
    async fn tag_endpoint(&self, endpoint: &str, tags: &Tags) -> CloudResult<()>;
}

/// NAT gateways, Elastic IPs and the route tables they are wired into.
#[allow(async_fn_in_trait)]
pub trait Nat {
    async fn subnets_of(&self, vpc: &str) -> CloudResult<Vec<Subnet>>;
    async fn route_tables(&self, vpc: &str) -> CloudResult<Vec<RouteTable>>;
    async fn tagged_nat_gateways(&self, deployment: &str) -> CloudResult<Vec<NatGateway>>;
    async fn tagged_addresses(&self, deployment: &str) -> CloudResult<Vec<Address>>;
    async fn allocate_address(&self, tags: &Tags) -> CloudResult<Address>;
    /// `token`: as for `Endpoints::create_endpoint`.
    async fn create_nat_gateway(
        &self,
        subnet: &str,
        allocation: &str,
        tags: &Tags,
        token: &str,
    ) -> CloudResult<NatGateway>;
    async fn delete_nat_gateway(&self, id: &str) -> CloudResult<()>;
    async fn release_address(&self, allocation: &str) -> CloudResult<()>;
    /// Point `destination` of `table` at `target`, creating the route or replacing it.
    async fn set_route(
        &self,
        table: &str,
        destination: &str,
        target: &RouteTarget,
        replace: bool,
    ) -> CloudResult<()>;
    async fn delete_route(&self, table: &str, destination: &str) -> CloudResult<()>;
    /// The state of any NAT gateway (tagged or not), None when AWS does not know it.
    async fn nat_gateway_state(&self, id: &str) -> CloudResult<Option<NatState>>;
    /// Add or overwrite tags on a NAT gateway or Elastic IP vpnctl created.
    async fn tag_resource(&self, id: &str, tags: &Tags) -> CloudResult<()>;
}

/// Server-side deadlines: EventBridge Scheduler schedules in the deployment's schedule group,
/// and the IAM role they run as. Schedules carry no tags of their own: the group does.
#[allow(async_fn_in_trait)]
pub trait Deadlines {
    /// Every schedule of `group`, read whole; empty when there is no such group.
    async fn schedules(&self, group: &str) -> CloudResult<Vec<Schedule>>;
    /// Create `group` with `tags`; a group that exists already is left as it is.
    async fn create_schedule_group(&self, group: &str, tags: &Tags) -> CloudResult<()>;
    /// Create the schedule in `group`, or update it in place when one of its name exists.
    async fn put_schedule(&self, group: &str, schedule: &Schedule) -> CloudResult<()>;
    async fn delete_schedule(&self, group: &str, name: &str) -> CloudResult<()>;
    async fn delete_schedule_group(&self, group: &str) -> CloudResult<()>;
    /// The role's ARN, `None` when there is no role of that name.
    async fn role(&self, name: &str) -> CloudResult<Option<String>>;
    /// Create the role with the trust policy `trust` and `tags` (or give an existing one that
    /// trust policy), then put its inline policy `policy_name`; the role's ARN.
    async fn put_role(
        &self,
        name: &str,
        trust: &str,
        policy_name: &str,
        policy: &str,
        tags: &Tags,
    ) -> CloudResult<String>;
    /// Delete the role's inline policies, then the role; "not found" is an error to the
    /// caller (the executor treats it as done).
    async fn delete_role(&self, name: &str) -> CloudResult<()>;
    /// The state machines whose names are among `names`: (name, ARN).
    async fn state_machines(&self, names: &[String]) -> CloudResult<Vec<(String, String)>>;
    /// Create the state machine (an express workflow when `express`, else a standard one, run
    /// as `role`, with `tags`), or update the definition and role of the one of that name; its
    /// ARN.
    async fn put_state_machine(
        &self,
        name: &str,
        definition: &str,
        role: &str,
        express: bool,
        tags: &Tags,
    ) -> CloudResult<String>;
    /// "not found" is an error to the caller (the executor treats it as done).
    async fn delete_state_machine(&self, arn: &str) -> CloudResult<()>;
}

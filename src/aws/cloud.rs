//! Narrow traits over the cloud, a few methods each, in vpnctl's own types. The SDK adapter
//! (`sdk`) implements them for AWS; nothing else knows the SDK.

use super::model::*;
use ipnet::Ipv4Net;

/// A failed cloud call, classified. The adapter is the only place SDK errors become these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloudError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} is in use")]
    InUse(String),
    #[error("no AWS credentials found ({0})")]
    NoCredentials(String),
    #[error("cannot reach AWS: {0}")]
    Unreachable(String),
    #[error("throttled by AWS: {0}")]
    Throttled(String),
    #[error("AWS refused {action}: {code}: {message}")]
    Api {
        action: String,
        code: String,
        message: String,
    },
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

#[allow(async_fn_in_trait)]
pub trait Certificates {
    /// Every ACM certificate tagged for `deployment`.
    async fn tagged_certificates(&self, deployment: &str) -> CloudResult<Vec<Certificate>>;
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
}

#[allow(async_fn_in_trait)]
pub trait Endpoints {
    /// Every Client VPN endpoint tagged for `deployment` (deleted ones left out).
    async fn tagged_endpoints(&self, deployment: &str) -> CloudResult<Vec<Endpoint>>;
    async fn create_endpoint(
        &self,
        spec: &EndpointSpec,
        server_cert_arn: &str,
        tags: &Tags,
    ) -> CloudResult<Endpoint>;
    async fn modify_endpoint(&self, id: &str, spec: &EndpointSpec) -> CloudResult<()>;
    async fn delete_endpoint(&self, id: &str) -> CloudResult<()>;
    async fn associations(&self, endpoint: &str) -> CloudResult<Vec<Association>>;
    async fn associate(&self, endpoint: &str, subnet: &str) -> CloudResult<Association>;
    async fn disassociate(&self, endpoint: &str, association: &str) -> CloudResult<()>;
    async fn rules(&self, endpoint: &str) -> CloudResult<Vec<AuthRule>>;
    async fn authorize(&self, endpoint: &str, cidr: Ipv4Net, description: &str) -> CloudResult<()>;
    async fn revoke_ingress(&self, endpoint: &str, cidr: &str) -> CloudResult<()>;
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
    async fn create_nat_gateway(
        &self,
        subnet: &str,
        allocation: &str,
        tags: &Tags,
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

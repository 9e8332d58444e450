//! A stateful in-memory cloud for unit tests: the cloud traits over real state that moves
//! with tokio's clock, so a test under `#[tokio::test(start_paused = true)]` lives through
//! AWS's minutes in no time and asserts on what the cloud holds afterwards, not on the calls
//! that were made.
//!
//! What it models follows the emulator (`tests/emulator/README.md`, which cites AWS for each):
//!
//! - Transitional states last a configurable delay per kind (`Delays`) and are worked out
//!   from tokio's clock whenever the cloud is touched; a create's own answer always shows the
//!   transitional state. Associations go associating → associated and disassociating → gone;
//!   an endpoint is pending-associate until one association is associated, and deleting →
//!   gone; rules go authorizing → active and revoking → gone; routes creating → active and
//!   deleting → gone; NAT gateways pending → available (or failed, when asked) and deleting →
//!   deleted; connections terminating → terminated.
//! - Associating adds the subnet's VPC route (origin `associate`); disassociating deletes that
//!   subnet's routes. Importing a CRL resets every live connection of the endpoint.
//! - AWS's refusals, as the SDK adapter classifies them: deleting an endpoint that still has
//!   associations (`IncorrectState`), deleting a certificate an endpoint uses (`InUse`),
//!   releasing an Elastic IP a NAT gateway holds, even a deleting one (`InUse`), a second
//!   subnet in one AZ, a subnet outside the endpoint's VPC, a route to a subnet that is not
//!   associated, unknown ids (`NotFound`). Duplicate rules and routes are no error (the adapter
//!   turns AWS's duplicate codes into success).
//! - Faults: the next N calls of an action (AWS's action name) fail with a given error and
//!   change nothing. An optional per-endpoint limit of operations under way refuses a further
//!   mutating call with `ConcurrentMutationLimitExceeded`, and the highest count of operations
//!   under way on any endpoint is recorded.
//! - Deadlines: schedule groups, their schedules and IAM roles, stored as AWS stores them (no
//!   schedule is ever run). A schedule needs its group; deleting a group deletes its schedules;
//!   a missing schedule, group or role is AWS's `ResourceNotFoundException` (scheduler) or
//!   `NoSuchEntity` (IAM). Writing a schedule or role that exists makes the calls the adapter
//!   makes (CreateSchedule then UpdateSchedule; CreateRole then UpdateAssumeRolePolicy and
//!   GetRole), each counted and faultable.

use super::cloud::*;
use super::model::*;
use ipnet::Ipv4Net;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use tokio::time::{Duration, Instant};

/// How long each transitional state lasts (the emulator's kinds).
#[derive(Debug, Clone, Copy)]
pub struct Delays {
    pub association: Duration,
    pub disassociation: Duration,
    pub authorization: Duration,
    pub revocation: Duration,
    pub route_creation: Duration,
    pub route_deletion: Duration,
    pub endpoint_deletion: Duration,
    pub nat_creation: Duration,
    pub nat_deletion: Duration,
    pub connection_termination: Duration,
}

impl Delays {
    /// Roughly what AWS takes: minutes for associations and NAT gateways.
    pub fn aws() -> Delays {
        Delays {
            association: Duration::from_secs(5 * 60),
            disassociation: Duration::from_secs(2 * 60),
            authorization: Duration::from_secs(20),
            revocation: Duration::from_secs(20),
            route_creation: Duration::from_secs(30),
            route_deletion: Duration::from_secs(30),
            endpoint_deletion: Duration::from_secs(60),
            nat_creation: Duration::from_secs(2 * 60),
            nat_deletion: Duration::from_secs(60),
            connection_termination: Duration::from_secs(5),
        }
    }
}

/// A state and, while it is transitional, when it ends.
#[derive(Debug, Clone)]
pub struct Timed<S> {
    pub state: S,
    pub until: Option<Instant>,
}

impl<S> Timed<S> {
    fn now(state: S) -> Self {
        Timed { state, until: None }
    }
    fn for_(state: S, d: Duration) -> Self {
        Timed {
            state,
            until: Some(Instant::now() + d),
        }
    }
    fn due(&self, now: Instant) -> bool {
        self.until.is_some_and(|u| now >= u)
    }
}

#[derive(Debug, Clone)]
pub struct FakeCertificate {
    pub arn: String,
    pub body: String,
    pub chain: String,
    pub tags: Tags,
    pub created: i64,
    /// How many times it was imported (1 = never re-imported).
    pub imports: u32,
}

#[derive(Debug, Clone)]
pub struct FakeAssociation {
    pub id: String,
    pub subnet: String,
    pub state: Timed<AssociationState>,
}

#[derive(Debug, Clone)]
pub struct FakeRule {
    pub cidr: String,
    pub group: Option<String>,
    pub description: String,
    pub state: Timed<RuleState>,
}

#[derive(Debug, Clone)]
pub struct FakeRoute {
    pub cidr: String,
    pub subnet: String,
    pub origin: String,
    pub description: Option<String>,
    pub state: Timed<RouteState>,
}

#[derive(Debug, Clone)]
pub struct FakeConnection {
    pub id: String,
    pub common_name: String,
    pub state: Timed<ConnectionState>,
}

#[derive(Debug, Clone)]
pub struct FakeEndpoint {
    pub endpoint: Endpoint,
    /// Set once DeleteClientVpnEndpoint was accepted.
    pub deleting: Option<Timed<()>>,
    pub associations: Vec<FakeAssociation>,
    pub rules: Vec<FakeRule>,
    pub routes: Vec<FakeRoute>,
    pub connections: Vec<FakeConnection>,
    pub crl: Option<String>,
}

impl FakeEndpoint {
    /// Operations under way, as the emulator counts them for the concurrency quota.
    pub fn in_flight(&self) -> usize {
        self.associations
            .iter()
            .filter(|a| a.state.until.is_some())
            .count()
            + self
                .rules
                .iter()
                .filter(|r| r.state.until.is_some())
                .count()
            + self
                .routes
                .iter()
                .filter(|r| r.state.until.is_some())
                .count()
    }

    pub fn association_of(&self, subnet: &str) -> Option<&FakeAssociation> {
        self.associations.iter().find(|a| a.subnet == subnet)
    }

    pub fn rule(&self, cidr: &str) -> Option<&FakeRule> {
        self.rules.iter().find(|r| r.cidr == cidr)
    }
}

#[derive(Debug, Clone)]
pub struct FakeNat {
    pub gateway: NatGateway,
    pub state: Timed<NatState>,
    /// Goes to `failed` instead of `available` (an injected asynchronous failure).
    pub fails: bool,
}

#[derive(Debug, Clone)]
pub struct FakeAddress {
    pub address: Address,
    /// The NAT gateway holding it.
    pub holder: Option<String>,
}

/// An IAM role: its ARN, trust policy, inline policies (name → document) and tags.
#[derive(Debug, Clone)]
pub struct FakeRole {
    pub arn: String,
    pub trust: String,
    pub policies: BTreeMap<String, String>,
    pub tags: Tags,
}

/// A pending fault: the next `count` calls of `action` fail with `error`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub action: String,
    pub error: CloudError,
    pub count: usize,
}

/// Everything the fake cloud holds. Tests read it through `FakeCloud::world`.
#[derive(Debug, Default)]
pub struct World {
    pub vpcs: Vec<Vpc>,
    pub subnets: Vec<Subnet>,
    /// (vpc, id, group name)
    pub security_groups: Vec<(String, String, String)>,
    /// Internet and other gateways a route may point at.
    pub gateways: Vec<String>,
    pub route_tables: Vec<RouteTable>,
    pub certificates: Vec<FakeCertificate>,
    pub endpoints: Vec<FakeEndpoint>,
    pub nat_gateways: Vec<FakeNat>,
    pub addresses: Vec<FakeAddress>,
    /// EventBridge Scheduler schedule groups: name → tags.
    pub schedule_groups: BTreeMap<String, Tags>,
    /// Schedules: group → name → schedule.
    pub schedules: BTreeMap<String, BTreeMap<String, Schedule>>,
    /// IAM roles by name.
    pub roles: BTreeMap<String, FakeRole>,
    /// Step Functions state machines: name → (ARN, definition).
    pub state_machines: BTreeMap<String, (String, String)>,
    /// When resources went: (id, what it became, when), e.g. ("cvpn-assoc-…", "gone", t).
    pub history: Vec<(String, String, Instant)>,
    pub faults: VecDeque<Fault>,
    /// Calls per action (faulted ones included).
    pub calls: BTreeMap<String, usize>,
    /// Per endpoint, refuse a mutating call while this many operations are under way.
    pub concurrent_mutation_limit: Option<usize>,
    /// The most operations seen under way on one endpoint at once.
    pub peak_in_flight: usize,
    /// The next this many NAT gateways go to `failed` instead of `available`.
    pub nat_failures: usize,
    /// Idempotency tokens (`ClientToken`) seen, with what each made: a repeated token gives
    /// back the first call's resource, as AWS does.
    pub tokens: BTreeMap<String, String>,
    next_id: u64,
}

impl World {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{:017x}", self.next_id)
    }

    fn record(&mut self, id: &str, what: &str, at: Instant) {
        self.history.push((id.to_string(), what.to_string(), at));
    }

    /// When `id` first became `what`, if it did.
    pub fn when(&self, id: &str, what: &str) -> Option<Instant> {
        self.history
            .iter()
            .find(|(i, w, _)| i == id && w == what)
            .map(|(_, _, t)| *t)
    }

    pub fn endpoint(&self, id: &str) -> Option<&FakeEndpoint> {
        self.endpoints.iter().find(|e| e.endpoint.id == id)
    }

    pub fn nat(&self, id: &str) -> Option<&FakeNat> {
        self.nat_gateways.iter().find(|n| n.gateway.id == id)
    }

    pub fn address(&self, allocation: &str) -> Option<&FakeAddress> {
        self.addresses
            .iter()
            .find(|a| a.address.allocation_id == allocation)
    }

    pub fn table(&self, id: &str) -> Option<&RouteTable> {
        self.route_tables.iter().find(|t| t.id == id)
    }

    /// Move every transitional state whose time has come (the emulator's lazy clock).
    fn settle(&mut self, now: Instant) {
        let mut history = Vec::new();
        let mut ended_endpoints = Vec::new();
        for e in &mut self.endpoints {
            let mut dropped_subnets = Vec::new();
            e.associations.retain_mut(|a| {
                if !a.state.due(now) {
                    return true;
                }
                match a.state.state {
                    AssociationState::Associating => {
                        a.state = Timed::now(AssociationState::Associated);
                        history.push((a.id.clone(), "associated".to_string(), now));
                        true
                    }
                    AssociationState::Disassociating => {
                        history.push((a.id.clone(), "gone".to_string(), now));
                        dropped_subnets.push(a.subnet.clone());
                        false
                    }
                    _ => true,
                }
            });
            e.rules.retain_mut(|r| {
                if !r.state.due(now) {
                    return true;
                }
                match r.state.state {
                    RuleState::Authorizing => {
                        r.state = Timed::now(RuleState::Active);
                        true
                    }
                    RuleState::Revoking => false,
                    _ => true,
                }
            });
            e.routes.retain_mut(|r| {
                if !r.state.due(now) {
                    return true;
                }
                match r.state.state {
                    RouteState::Creating => {
                        r.state = Timed::now(RouteState::Active);
                        true
                    }
                    RouteState::Deleting => false,
                    _ => true,
                }
            });
            for c in &mut e.connections {
                if c.state.due(now) && c.state.state == ConnectionState::Terminating {
                    c.state = Timed::now(ConnectionState::Terminated);
                }
            }
            // The last association gone ends every connection (AWS-FACTS §5 via the emulator).
            if !dropped_subnets.is_empty() && e.associations.is_empty() {
                for c in &mut e.connections {
                    if c.state.state == ConnectionState::Active {
                        c.state = Timed::now(ConnectionState::Terminated);
                    }
                }
            }
            if let Some(d) = &e.deleting {
                if d.due(now) {
                    ended_endpoints.push(e.endpoint.id.clone());
                    history.push((e.endpoint.id.clone(), "gone".to_string(), now));
                }
                e.endpoint.state = EndpointState::Deleting;
            } else if e
                .associations
                .iter()
                .any(|a| a.state.state == AssociationState::Associated)
            {
                e.endpoint.state = EndpointState::Available;
            } else {
                e.endpoint.state = EndpointState::PendingAssociate;
            }
        }
        self.endpoints
            .retain(|e| !ended_endpoints.contains(&e.endpoint.id));
        for n in &mut self.nat_gateways {
            if !n.state.due(now) {
                continue;
            }
            match n.state.state {
                NatState::Pending if n.fails => {
                    n.state = Timed::now(NatState::Failed);
                    // AWS's FailureCode and FailureMessage (API reference, NatGateway).
                    n.gateway.failure_code = Some("InsufficientFreeAddressesInSubnet".into());
                    n.gateway.failure_message = Some(
                        "Subnet has insufficient free addresses to create this NAT gateway".into(),
                    );
                    history.push((n.gateway.id.clone(), "failed".to_string(), now));
                }
                NatState::Pending => {
                    n.state = Timed::now(NatState::Available);
                    history.push((n.gateway.id.clone(), "available".to_string(), now));
                }
                NatState::Deleting => {
                    n.state = Timed::now(NatState::Deleted);
                    history.push((n.gateway.id.clone(), "deleted".to_string(), now));
                }
                _ => {}
            }
            n.gateway.state = n.state.state.clone();
        }
        // A deleted or failed gateway no longer holds its Elastic IP (it stays allocated).
        for a in &mut self.addresses {
            let free = a.holder.as_ref().is_some_and(|h| {
                self.nat_gateways.iter().any(|n| {
                    &n.gateway.id == h
                        && matches!(n.state.state, NatState::Deleted | NatState::Failed)
                })
            });
            if free {
                a.holder = None;
                a.address.association_id = None;
            }
        }
        for (id, what, at) in history {
            self.record(&id, &what, at);
        }
    }

    fn endpoint_mut(&mut self, id: &str) -> CloudResult<&mut FakeEndpoint> {
        self.endpoints
            .iter_mut()
            .find(|e| e.endpoint.id == id)
            .ok_or_else(|| CloudError::not_found(id.to_string()))
    }

    /// The concurrency quota, checked right after the endpoint is found (as the emulator).
    fn mutable_endpoint(&mut self, id: &str, action: &str) -> CloudResult<&mut FakeEndpoint> {
        let limit = self.concurrent_mutation_limit;
        let e = self.endpoint_mut(id)?;
        if let Some(n) = limit
            && e.in_flight() >= n
        {
            return Err(CloudError::answered(
                "ec2",
                action,
                "ConcurrentMutationLimitExceeded",
                "Cannot initiate another change for this endpoint at this time. Please try \
                 again later.",
            ));
        }
        Ok(e)
    }

    fn note_in_flight(&mut self) {
        let most = self
            .endpoints
            .iter()
            .map(FakeEndpoint::in_flight)
            .max()
            .unwrap_or(0);
        self.peak_in_flight = self.peak_in_flight.max(most);
    }

    fn certificate_users(&self, arn: &str) -> Vec<String> {
        self.endpoints
            .iter()
            .filter(|e| e.endpoint.server_cert_arn.as_deref() == Some(arn))
            .map(|e| e.endpoint.id.clone())
            .collect()
    }
}

fn api(action: &str, code: &str, message: impl Into<String>) -> CloudError {
    CloudError::api(action.to_string(), code.to_string(), message.into())
}

/// The fake cloud. Cheap to build; every test gets its own.
pub struct FakeCloud {
    world: Mutex<World>,
    pub delays: Delays,
}

impl FakeCloud {
    /// An empty account with AWS-like delays.
    pub fn new() -> FakeCloud {
        FakeCloud {
            world: Mutex::new(World::default()),
            delays: Delays::aws(),
        }
    }

    /// A lab network: `vpc-1` (10.0.0.0/16, Name `lab-vpc`) with private subnets `subnet-a`
    /// (us-east-1a) and `subnet-b` (us-east-1b) on the main table `rtb-main` (local route
    /// only), the public subnet `subnet-pub` (us-east-1a) on `rtb-pub` (0.0.0.0/0 → igw-1),
    /// the default security group `sg-default`, and `tgw-1` (a transit gateway).
    pub fn lab() -> FakeCloud {
        let cloud = FakeCloud::new();
        {
            let mut w = cloud.lock();
            w.vpcs.push(Vpc {
                id: "vpc-1".into(),
                name: Some("lab-vpc".into()),
                cidrs: vec![net("10.0.0.0/16")],
            });
            for (id, az, cidr) in [
                ("subnet-a", "us-east-1a", "10.0.1.0/24"),
                ("subnet-b", "us-east-1b", "10.0.2.0/24"),
                ("subnet-pub", "us-east-1a", "10.0.0.0/24"),
            ] {
                w.subnets.push(Subnet {
                    id: id.into(),
                    name: Some(format!("lab-{id}")),
                    vpc_id: "vpc-1".into(),
                    az: az.into(),
                    cidr: Some(net(cidr)),
                    available_ips: Some(251),
                });
            }
            w.security_groups
                .push(("vpc-1".into(), "sg-default".into(), "default".into()));
            w.gateways.push("igw-1".into());
            w.gateways.push("tgw-1".into());
            let local = TableRoute {
                destination: "10.0.0.0/16".into(),
                target: RouteTarget::Local,
            };
            w.route_tables.push(RouteTable {
                id: "rtb-main".into(),
                vpc_id: "vpc-1".into(),
                main: true,
                subnets: vec![],
                routes: vec![local.clone()],
            });
            w.route_tables.push(RouteTable {
                id: "rtb-pub".into(),
                vpc_id: "vpc-1".into(),
                main: false,
                subnets: vec!["subnet-pub".into()],
                routes: vec![
                    local,
                    TableRoute {
                        destination: "0.0.0.0/0".into(),
                        target: RouteTarget::Gateway("igw-1".into()),
                    },
                ],
            });
        }
        cloud
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        match self.world.lock() {
            Ok(g) => g,
            // A test that panicked while holding it poisons nothing of interest.
            Err(p) => p.into_inner(),
        }
    }

    /// The world as it is now (transitions due by now applied).
    pub fn world(&self) -> MutexGuard<'_, World> {
        let mut w = self.lock();
        w.settle(Instant::now());
        w
    }

    /// The next `count` calls of `action` (AWS's name, e.g. `AuthorizeClientVpnIngress`) fail
    /// with `error` and change nothing.
    pub fn fail_next(&self, action: &str, count: usize, error: CloudError) {
        self.lock().faults.push_back(Fault {
            action: action.to_string(),
            error,
            count,
        });
    }

    /// Enter a call: apply the clock, count it, and fail it if a fault is pending.
    fn enter(&self, action: &str) -> CloudResult<MutexGuard<'_, World>> {
        let mut w = self.world();
        *w.calls.entry(action.to_string()).or_default() += 1;
        if let Some(i) = w.faults.iter().position(|f| f.action == action) {
            let f = &mut w.faults[i];
            let error = f.error.clone();
            f.count -= 1;
            if f.count == 0 {
                w.faults.remove(i);
            }
            return Err(error);
        }
        Ok(w)
    }

    /// A client connected with certificate CN `common_name` (the emulator's control API).
    pub fn connect_client(&self, endpoint: &str, common_name: &str) -> String {
        let mut w = self.world();
        let id = w.id("cvpn-connection");
        let e = w
            .endpoints
            .iter_mut()
            .find(|e| e.endpoint.id == endpoint)
            .expect("connect_client: no such endpoint");
        e.connections.push(FakeConnection {
            id: id.clone(),
            common_name: common_name.to_string(),
            state: Timed::now(ConnectionState::Active),
        });
        id
    }
}

impl Default for FakeCloud {
    fn default() -> Self {
        FakeCloud::new()
    }
}

fn net(s: &str) -> Ipv4Net {
    s.parse().expect("a valid CIDR")
}

impl Network for FakeCloud {
    async fn find_vpc(&self, id_or_name: &str) -> CloudResult<Vpc> {
        let w = self.enter("DescribeVpcs")?;
        w.vpcs
            .iter()
            .find(|v| v.id == id_or_name || v.name.as_deref() == Some(id_or_name))
            .cloned()
            .ok_or_else(|| CloudError::not_found(format!("VPC {id_or_name}")))
    }

    async fn find_subnet(&self, id_or_name: &str) -> CloudResult<Subnet> {
        let w = self.enter("DescribeSubnets")?;
        w.subnets
            .iter()
            .find(|s| s.id == id_or_name || s.name.as_deref() == Some(id_or_name))
            .cloned()
            .ok_or_else(|| CloudError::not_found(format!("subnet {id_or_name}")))
    }

    async fn find_security_group(&self, vpc: &str, id_or_name: &str) -> CloudResult<String> {
        let w = self.enter("DescribeSecurityGroups")?;
        w.security_groups
            .iter()
            .find(|(v, id, name)| v == vpc && (id == id_or_name || name == id_or_name))
            .map(|(_, id, _)| id.clone())
            .ok_or_else(|| CloudError::not_found(format!("security group {id_or_name}")))
    }
}

impl Certificates for FakeCloud {
    async fn tagged_certificates(
        &self,
        deployment: &str,
        scope: CertScope<'_>,
    ) -> CloudResult<Vec<Certificate>> {
        let w = self.enter("ListCertificates")?;
        Ok(w.certificates
            .iter()
            .filter(|c| scope.admits(&c.arn, std::iter::once("server.vpnctl")))
            .filter(|c| is_ours(&c.tags, deployment))
            .map(|c| Certificate {
                arn: c.arn.clone(),
                tags: c.tags.clone(),
                domain: Some("server.vpnctl".into()),
                not_after: None,
                created: Some(c.created),
                in_use_by: w.certificate_users(&c.arn),
            })
            .collect())
    }

    async fn import_certificate(
        &self,
        upload: &CertUpload,
        arn: Option<&str>,
        tags: &Tags,
    ) -> CloudResult<String> {
        let mut w = self.enter("ImportCertificate")?;
        match arn {
            // A re-import keeps the ARN and the tags (ACM refuses tags on a re-import).
            Some(arn) => {
                let c = w
                    .certificates
                    .iter_mut()
                    .find(|c| c.arn == arn)
                    .ok_or_else(|| CloudError::not_found(arn.to_string()))?;
                c.body = upload.cert_pem.clone();
                c.chain = upload.chain_pem.clone();
                c.imports += 1;
                Ok(arn.to_string())
            }
            None => {
                let n = w.id("cert");
                let arn = format!("arn:aws:acm:us-east-1:123456789012:certificate/{n}");
                let created = w.certificates.len() as i64 + 1;
                w.certificates.push(FakeCertificate {
                    arn: arn.clone(),
                    body: upload.cert_pem.clone(),
                    chain: upload.chain_pem.clone(),
                    tags: tags.clone(),
                    created,
                    imports: 1,
                });
                Ok(arn)
            }
        }
    }

    async fn certificate_body(&self, arn: &str) -> CloudResult<String> {
        let w = self.enter("GetCertificate")?;
        w.certificates
            .iter()
            .find(|c| c.arn == arn)
            .map(|c| c.body.clone())
            .ok_or_else(|| CloudError::not_found(arn.to_string()))
    }

    async fn delete_certificate(&self, arn: &str) -> CloudResult<()> {
        let mut w = self.enter("DeleteCertificate")?;
        if !w.certificates.iter().any(|c| c.arn == arn) {
            return Err(CloudError::not_found(arn.to_string()));
        }
        // ACM refuses while an endpoint (a deleting one too) uses it: ResourceInUseException.
        if !w.certificate_users(arn).is_empty() {
            return Err(CloudError::in_use(arn.to_string()));
        }
        w.certificates.retain(|c| c.arn != arn);
        let now = Instant::now();
        w.record(arn, "gone", now);
        Ok(())
    }

    async fn tag_certificate(&self, arn: &str, tags: &Tags) -> CloudResult<()> {
        let mut w = self.enter("AddTagsToCertificate")?;
        let c = w
            .certificates
            .iter_mut()
            .find(|c| c.arn == arn)
            .ok_or_else(|| CloudError::not_found(arn.to_string()))?;
        c.tags
            .extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(())
    }
}

impl Endpoints for FakeCloud {
    async fn endpoints_in_region(&self) -> CloudResult<usize> {
        let w = self.enter("DescribeClientVpnEndpoints")?;
        Ok(w.endpoints.len())
    }

    async fn tagged_endpoints(&self, deployment: &str) -> CloudResult<Vec<Endpoint>> {
        let w = self.enter("DescribeClientVpnEndpoints")?;
        Ok(w.endpoints
            .iter()
            .filter(|e| is_ours(&e.endpoint.tags, deployment))
            .map(|e| e.endpoint.clone())
            .collect())
    }

    async fn create_endpoint(
        &self,
        spec: &EndpointSpec,
        server_cert_arn: &str,
        tags: &Tags,
        token: &str,
    ) -> CloudResult<Endpoint> {
        const ACTION: &str = "CreateClientVpnEndpoint";
        let mut w = self.enter(ACTION)?;
        let made = w.tokens.get(token).and_then(|id| w.endpoint(id));
        if let Some(e) = made {
            return Ok(e.endpoint.clone());
        }
        if !w.certificates.iter().any(|c| c.arn == server_cert_arn) {
            return Err(api(
                ACTION,
                "InvalidParameterValue",
                format!("Certificate {server_cert_arn} does not exist"),
            ));
        }
        let Some(vpc) = w.vpcs.iter().find(|v| v.id == spec.vpc_id).cloned() else {
            return Err(CloudError::not_found(spec.vpc_id.clone()));
        };
        let p = spec.client_cidr.prefix_len();
        if !(12..=22).contains(&p) || vpc.cidrs.iter().any(|c| overlaps(c, &spec.client_cidr)) {
            return Err(api(
                ACTION,
                "InvalidParameterValue",
                format!("invalid client CIDR {}", spec.client_cidr),
            ));
        }
        if (spec.port != 443 && spec.port != 1194) || spec.dns_servers.len() > 2 {
            return Err(api(ACTION, "InvalidParameterValue", "port or DNS servers"));
        }
        let id = w.id("cvpn-endpoint");
        let security_groups = if spec.security_groups.is_empty() {
            w.security_groups
                .iter()
                .filter(|(v, _, name)| v == &vpc.id && name == "default")
                .map(|(_, id, _)| id.clone())
                .collect()
        } else {
            spec.security_groups.clone()
        };
        let endpoint = Endpoint {
            id: id.clone(),
            state: EndpointState::PendingAssociate,
            dns_name: Some(format!("*.{id}.prod.clientvpn.us-east-1.amazonaws.com")),
            client_cidr: Some(spec.client_cidr),
            vpc_id: Some(spec.vpc_id.clone()),
            split_tunnel: spec.split_tunnel,
            dns_servers: spec.dns_servers.iter().map(|d| d.to_string()).collect(),
            transport: Some(spec.transport),
            port: Some(spec.port),
            security_groups,
            description: Some(spec.description.clone()),
            server_cert_arn: Some(server_cert_arn.to_string()),
            log_group: spec.log_group.clone(),
            options: spec.options.observed(),
            user_auth: spec.observed_auth(),
            certificates: spec.certificates != Some(false),
            created: Some(0),
            tags: tags.clone(),
        };
        w.endpoints.push(FakeEndpoint {
            endpoint: endpoint.clone(),
            deleting: None,
            associations: vec![],
            rules: vec![],
            routes: vec![],
            connections: vec![],
            crl: None,
        });
        w.tokens.insert(token.to_string(), endpoint.id.clone());
        Ok(endpoint)
    }

    async fn modify_endpoint(&self, id: &str, spec: &EndpointSpec) -> CloudResult<()> {
        const ACTION: &str = "ModifyClientVpnEndpoint";
        let mut w = self.enter(ACTION)?;
        let e = w.mutable_endpoint(id, ACTION)?;
        if e.endpoint.vpc_id.as_deref() != Some(spec.vpc_id.as_str()) && !e.associations.is_empty()
        {
            return Err(api(
                ACTION,
                "InvalidParameterValue",
                "VPC change while associated",
            ));
        }
        let ep = &mut e.endpoint;
        ep.split_tunnel = spec.split_tunnel;
        ep.dns_servers = spec.dns_servers.iter().map(|d| d.to_string()).collect();
        ep.port = Some(spec.port);
        ep.description = Some(spec.description.clone());
        ep.log_group = spec.log_group.clone();
        let (o, want) = (&mut ep.options, &spec.options);
        if let Some(h) = want.session_timeout_hours {
            o.session_timeout_hours = Some(h);
        }
        if let Some(d) = want.disconnect_on_session_timeout {
            o.disconnect_on_session_timeout = Some(d);
        }
        if let Some(b) = &want.banner {
            o.banner = b.clone();
        }
        if let Some(e) = want.client_route_enforcement {
            o.client_route_enforcement = Some(e);
        }
        if let (
            Some(UserAuth::Saml {
                self_service_portal,
                ..
            }),
            Some(p),
        ) = (ep.user_auth.as_mut(), want.self_service_portal)
        {
            *self_service_portal = p;
        }
        if !spec.security_groups.is_empty() {
            ep.security_groups = spec.security_groups.clone();
        }
        Ok(())
    }

    async fn delete_endpoint(&self, id: &str) -> CloudResult<()> {
        const ACTION: &str = "DeleteClientVpnEndpoint";
        let delay = self.delays.endpoint_deletion;
        let mut w = self.enter(ACTION)?;
        let e = w.mutable_endpoint(id, ACTION)?;
        if !e.associations.is_empty() {
            return Err(api(
                ACTION,
                "IncorrectState",
                format!("{id} has target network associations"),
            ));
        }
        if e.deleting.is_none() {
            e.deleting = Some(Timed::for_((), delay));
            e.endpoint.state = EndpointState::Deleting;
        }
        Ok(())
    }

    async fn associations(&self, endpoint: &str) -> CloudResult<Vec<Association>> {
        let w = self.enter("DescribeClientVpnTargetNetworks")?;
        let e = w
            .endpoint(endpoint)
            .ok_or_else(|| CloudError::not_found(endpoint.to_string()))?;
        Ok(e.associations
            .iter()
            .map(|a| Association {
                id: a.id.clone(),
                subnet_id: a.subnet.clone(),
                state: a.state.state.clone(),
            })
            .collect())
    }

    async fn associate(
        &self,
        endpoint: &str,
        subnet: &str,
        token: &str,
    ) -> CloudResult<Association> {
        const ACTION: &str = "AssociateClientVpnTargetNetwork";
        let (up, route_up) = (self.delays.association, self.delays.route_creation);
        let mut w = self.enter(ACTION)?;
        let made = w.tokens.get(token).and_then(|id| {
            w.endpoint(endpoint)?
                .associations
                .iter()
                .find(|a| &a.id == id)
        });
        if let Some(a) = made {
            return Ok(Association {
                id: a.id.clone(),
                subnet_id: a.subnet.clone(),
                state: a.state.state.clone(),
            });
        }
        w.mutable_endpoint(endpoint, ACTION)?;
        let id = w.id("cvpn-assoc");
        let Some(s) = w.subnets.iter().find(|s| s.id == subnet).cloned() else {
            return Err(CloudError::not_found(subnet.to_string()));
        };
        let e = w
            .endpoint(endpoint)
            .ok_or_else(|| CloudError::not_found(endpoint.to_string()))?;
        if e.endpoint.vpc_id.as_deref().is_some_and(|v| v != s.vpc_id) {
            // InvalidClientVpnSubnetId.NotFound
            return Err(CloudError::not_found(subnet.to_string()));
        }
        if e.associations.iter().any(|a| a.subnet == subnet) {
            return Err(api(
                ACTION,
                "InvalidClientVpnDuplicateAssociationException",
                format!("{subnet} is already associated"),
            ));
        }
        let same_az = e
            .associations
            .iter()
            .any(|a| w.subnets.iter().any(|x| x.id == a.subnet && x.az == s.az));
        if same_az {
            return Err(api(
                ACTION,
                "InvalidClientVpnSubnetId.DuplicateAz",
                format!("a subnet of {} is already associated", s.az),
            ));
        }
        let vpc_cidr = w
            .vpcs
            .iter()
            .find(|v| v.id == s.vpc_id)
            .and_then(|v| v.cidrs.first().copied());
        let e = w.mutable_endpoint(endpoint, ACTION)?;
        e.endpoint.vpc_id.get_or_insert(s.vpc_id.clone());
        e.associations.push(FakeAssociation {
            id: id.clone(),
            subnet: subnet.to_string(),
            state: Timed::for_(AssociationState::Associating, up),
        });
        if let Some(c) = vpc_cidr {
            e.routes.push(FakeRoute {
                cidr: c.to_string(),
                subnet: subnet.to_string(),
                origin: "associate".into(),
                description: Some("Default Route".into()),
                state: Timed::for_(RouteState::Creating, route_up),
            });
        }
        w.note_in_flight();
        w.tokens.insert(token.to_string(), id.clone());
        Ok(Association {
            id,
            subnet_id: subnet.to_string(),
            state: AssociationState::Associating,
        })
    }

    async fn disassociate(&self, endpoint: &str, association: &str) -> CloudResult<()> {
        const ACTION: &str = "DisassociateClientVpnTargetNetwork";
        let (down, route_down) = (self.delays.disassociation, self.delays.route_deletion);
        let mut w = self.enter(ACTION)?;
        let e = w.mutable_endpoint(endpoint, ACTION)?;
        let a = e
            .associations
            .iter_mut()
            .find(|a| a.id == association)
            .ok_or_else(|| CloudError::not_found(association.to_string()))?;
        if a.state.state == AssociationState::Disassociating {
            return Ok(());
        }
        a.state = Timed::for_(AssociationState::Disassociating, down);
        let subnet = a.subnet.clone();
        for r in e.routes.iter_mut().filter(|r| r.subnet == subnet) {
            if r.state.state != RouteState::Deleting {
                r.state = Timed::for_(RouteState::Deleting, route_down);
            }
        }
        w.note_in_flight();
        Ok(())
    }

    async fn rules(&self, endpoint: &str) -> CloudResult<Vec<AuthRule>> {
        let w = self.enter("DescribeClientVpnAuthorizationRules")?;
        let e = w
            .endpoint(endpoint)
            .ok_or_else(|| CloudError::not_found(endpoint.to_string()))?;
        Ok(e.rules
            .iter()
            .map(|r| AuthRule {
                cidr: r.cidr.clone(),
                group: r.group.clone(),
                description: Some(r.description.clone()),
                state: r.state.state.clone(),
            })
            .collect())
    }

    async fn authorize(
        &self,
        endpoint: &str,
        cidr: Ipv4Net,
        group: Option<&str>,
        description: &str,
    ) -> CloudResult<()> {
        const ACTION: &str = "AuthorizeClientVpnIngress";
        let up = self.delays.authorization;
        let mut w = self.enter(ACTION)?;
        let e = w.mutable_endpoint(endpoint, ACTION)?;
        // InvalidClientVpnDuplicateAuthorizationRule: the adapter makes it success.
        if e.rules
            .iter()
            .any(|r| r.cidr == cidr.to_string() && r.group.as_deref() == group)
        {
            return Ok(());
        }
        e.rules.push(FakeRule {
            cidr: cidr.to_string(),
            group: group.map(str::to_string),
            description: description.to_string(),
            state: Timed::for_(RuleState::Authorizing, up),
        });
        w.note_in_flight();
        Ok(())
    }

    async fn revoke_ingress(
        &self,
        endpoint: &str,
        cidr: &str,
        group: Option<&str>,
    ) -> CloudResult<()> {
        const ACTION: &str = "RevokeClientVpnIngress";
        let down = self.delays.revocation;
        let mut w = self.enter(ACTION)?;
        let e = w.mutable_endpoint(endpoint, ACTION)?;
        let r = e
            .rules
            .iter_mut()
            .find(|r| r.cidr == cidr && r.group.as_deref() == group)
            .ok_or_else(|| CloudError::not_found(cidr.to_string()))?;
        if r.state.state != RuleState::Revoking {
            r.state = Timed::for_(RuleState::Revoking, down);
        }
        w.note_in_flight();
        Ok(())
    }

    async fn routes(&self, endpoint: &str) -> CloudResult<Vec<Route>> {
        let w = self.enter("DescribeClientVpnRoutes")?;
        let e = w
            .endpoint(endpoint)
            .ok_or_else(|| CloudError::not_found(endpoint.to_string()))?;
        Ok(e.routes
            .iter()
            .map(|r| Route {
                cidr: r.cidr.clone(),
                description: r.description.clone(),
                subnet_id: r.subnet.clone(),
                origin: r.origin.clone(),
                state: r.state.state.clone(),
            })
            .collect())
    }

    async fn delete_client_route(
        &self,
        endpoint: &str,
        cidr: &str,
        subnet: &str,
    ) -> CloudResult<()> {
        const ACTION: &str = "DeleteClientVpnRoute";
        let down = self.delays.route_deletion;
        let mut w = self.enter(ACTION)?;
        let e = w.mutable_endpoint(endpoint, ACTION)?;
        let r = e
            .routes
            .iter_mut()
            .find(|r| r.cidr == cidr && r.subnet == subnet)
            .ok_or_else(|| CloudError::not_found(cidr.to_string()))?;
        if r.state.state != RouteState::Deleting {
            r.state = Timed::for_(RouteState::Deleting, down);
        }
        w.note_in_flight();
        Ok(())
    }

    async fn create_route(
        &self,
        endpoint: &str,
        cidr: Ipv4Net,
        subnet: &str,
        description: &str,
    ) -> CloudResult<()> {
        const ACTION: &str = "CreateClientVpnRoute";
        let up = self.delays.route_creation;
        let mut w = self.enter(ACTION)?;
        let e = w.mutable_endpoint(endpoint, ACTION)?;
        // InvalidClientVpnActiveAssociationNotFound (classified as not found).
        if !e
            .associations
            .iter()
            .any(|a| a.subnet == subnet && a.state.state != AssociationState::Disassociating)
        {
            return Err(CloudError::not_found(subnet.to_string()));
        }
        // InvalidClientVpnDuplicateRoute: the adapter makes it success.
        if e.routes
            .iter()
            .any(|r| r.cidr == cidr.to_string() && r.subnet == subnet)
        {
            return Ok(());
        }
        e.routes.push(FakeRoute {
            cidr: cidr.to_string(),
            subnet: subnet.to_string(),
            origin: "add-route".into(),
            description: Some(description.to_string()),
            state: Timed::for_(RouteState::Creating, up),
        });
        w.note_in_flight();
        Ok(())
    }

    async fn export_configuration(&self, endpoint: &str) -> CloudResult<String> {
        let w = self.enter("ExportClientVpnClientConfiguration")?;
        let e = w
            .endpoint(endpoint)
            .ok_or_else(|| CloudError::not_found(endpoint.to_string()))?;
        let ep = &e.endpoint;
        let chain = w
            .certificates
            .iter()
            .find(|c| Some(&c.arn) == ep.server_cert_arn.as_ref())
            .map(|c| c.chain.clone())
            .unwrap_or_default();
        let proto = match ep.transport {
            Some(Transport::Tcp) => "tcp",
            _ => "udp",
        };
        Ok(format!(
            "client\ndev tun\nproto {proto}\nremote {}.prod.clientvpn.us-east-1.amazonaws.com \
             {}\nremote-random-hostname\nresolv-retry infinite\nnobind\nremote-cert-tls server\n\
             cipher AES-256-GCM\nverb 3\n<ca>\n{chain}\n</ca>\nreneg-sec 0\n",
            ep.id,
            ep.port.unwrap_or(443)
        ))
    }

    async fn connections(&self, endpoint: &str) -> CloudResult<Vec<Connection>> {
        let w = self.enter("DescribeClientVpnConnections")?;
        let e = w
            .endpoint(endpoint)
            .ok_or_else(|| CloudError::not_found(endpoint.to_string()))?;
        Ok(e.connections
            .iter()
            .map(|c| Connection {
                id: c.id.clone(),
                username: Some(c.common_name.clone()),
                client_ip: None,
                state: c.state.state.clone(),
                established: None,
                ingress_bytes: None,
                egress_bytes: None,
            })
            .collect())
    }

    async fn terminate_user(&self, endpoint: &str, username: &str) -> CloudResult<Vec<String>> {
        let down = self.delays.connection_termination;
        let mut w = self.enter("TerminateClientVpnConnections")?;
        let e = w.endpoint_mut(endpoint)?;
        let mut ended = Vec::new();
        for c in e
            .connections
            .iter_mut()
            .filter(|c| c.common_name == username && c.state.state == ConnectionState::Active)
        {
            c.state = Timed::for_(ConnectionState::Terminating, down);
            ended.push(c.id.clone());
        }
        Ok(ended)
    }

    async fn import_crl(&self, endpoint: &str, crl_pem: &str) -> CloudResult<()> {
        const ACTION: &str = "ImportClientVpnClientCertificateRevocationList";
        let down = self.delays.connection_termination;
        let mut w = self.enter(ACTION)?;
        let e = w.mutable_endpoint(endpoint, ACTION)?;
        if !crl_pem.contains("-----BEGIN X509 CRL-----") {
            return Err(api(ACTION, "InvalidParameterValue", "not a PEM CRL"));
        }
        e.crl = Some(crl_pem.to_string());
        // "Uploading a client certificate revocation list resets existing client connections."
        for c in &mut e.connections {
            if c.state.state == ConnectionState::Active {
                c.state = Timed::for_(ConnectionState::Terminating, down);
            }
        }
        Ok(())
    }

    async fn export_crl(&self, endpoint: &str) -> CloudResult<Option<String>> {
        let w = self.enter("ExportClientVpnClientCertificateRevocationList")?;
        let e = w
            .endpoint(endpoint)
            .ok_or_else(|| CloudError::not_found(endpoint.to_string()))?;
        Ok(e.crl.clone())
    }

    async fn tag_endpoint(&self, endpoint: &str, tags: &Tags) -> CloudResult<()> {
        let mut w = self.enter("CreateTags")?;
        let e = w.endpoint_mut(endpoint)?;
        e.endpoint
            .tags
            .extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(())
    }
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

impl Nat for FakeCloud {
    async fn subnets_of(&self, vpc: &str) -> CloudResult<Vec<Subnet>> {
        let w = self.enter("DescribeSubnets")?;
        Ok(w.subnets
            .iter()
            .filter(|s| s.vpc_id == vpc)
            .cloned()
            .collect())
    }

    async fn route_tables(&self, vpc: &str) -> CloudResult<Vec<RouteTable>> {
        let w = self.enter("DescribeRouteTables")?;
        Ok(w.route_tables
            .iter()
            .filter(|t| t.vpc_id == vpc)
            .cloned()
            .collect())
    }

    async fn tagged_nat_gateways(&self, deployment: &str) -> CloudResult<Vec<NatGateway>> {
        let w = self.enter("DescribeNatGateways")?;
        Ok(w.nat_gateways
            .iter()
            .filter(|n| is_ours(&n.gateway.tags, deployment) && n.state.state != NatState::Deleted)
            .map(|n| n.gateway.clone())
            .collect())
    }

    async fn tagged_addresses(&self, deployment: &str) -> CloudResult<Vec<Address>> {
        let w = self.enter("DescribeAddresses")?;
        Ok(w.addresses
            .iter()
            .filter(|a| is_ours(&a.address.tags, deployment))
            .map(|a| a.address.clone())
            .collect())
    }

    async fn allocate_address(&self, tags: &Tags) -> CloudResult<Address> {
        let mut w = self.enter("AllocateAddress")?;
        let id = w.id("eipalloc");
        let n = w.next_id;
        let address = Address {
            allocation_id: id,
            public_ip: Some(format!("198.51.100.{}", n % 250 + 1)),
            association_id: None,
            tags: tags.clone(),
        };
        w.addresses.push(FakeAddress {
            address: address.clone(),
            holder: None,
        });
        Ok(address)
    }

    async fn create_nat_gateway(
        &self,
        subnet: &str,
        allocation: &str,
        tags: &Tags,
        token: &str,
    ) -> CloudResult<NatGateway> {
        const ACTION: &str = "CreateNatGateway";
        let up = self.delays.nat_creation;
        let mut w = self.enter(ACTION)?;
        let made = w.tokens.get(token).and_then(|id| w.nat(id));
        if let Some(n) = made {
            return Ok(n.gateway.clone());
        }
        let Some(s) = w.subnets.iter().find(|s| s.id == subnet).cloned() else {
            return Err(CloudError::not_found(subnet.to_string()));
        };
        let id = w.id("nat");
        let assoc = w.id("eipassoc");
        let fails = w.nat_failures > 0;
        if fails {
            w.nat_failures -= 1;
        }
        let a = w
            .addresses
            .iter_mut()
            .find(|a| a.address.allocation_id == allocation)
            .ok_or_else(|| CloudError::not_found(allocation.to_string()))?;
        if a.holder.is_some() {
            return Err(api(
                ACTION,
                "Resource.AlreadyAssociated",
                format!("{allocation} is already associated"),
            ));
        }
        a.holder = Some(id.clone());
        a.address.association_id = Some(assoc);
        let gateway = NatGateway {
            id: id.clone(),
            state: NatState::Pending,
            subnet_id: subnet.to_string(),
            vpc_id: s.vpc_id.clone(),
            allocation_id: Some(allocation.to_string()),
            public_ip: a.address.public_ip.clone(),
            created: Some(0),
            tags: tags.clone(),
            failure_code: None,
            failure_message: None,
        };
        w.nat_gateways.push(FakeNat {
            gateway: gateway.clone(),
            state: Timed::for_(NatState::Pending, up),
            fails,
        });
        w.tokens.insert(token.to_string(), gateway.id.clone());
        Ok(gateway)
    }

    async fn delete_nat_gateway(&self, id: &str) -> CloudResult<()> {
        let down = self.delays.nat_deletion;
        let mut w = self.enter("DeleteNatGateway")?;
        let n = w
            .nat_gateways
            .iter_mut()
            .find(|n| n.gateway.id == id)
            .ok_or_else(|| CloudError::not_found(id.to_string()))?;
        if matches!(n.state.state, NatState::Deleting | NatState::Deleted) {
            return Ok(());
        }
        n.state = Timed::for_(NatState::Deleting, down);
        n.gateway.state = NatState::Deleting;
        Ok(())
    }

    async fn release_address(&self, allocation: &str) -> CloudResult<()> {
        let mut w = self.enter("ReleaseAddress")?;
        let a = w
            .address(allocation)
            .ok_or_else(|| CloudError::not_found(allocation.to_string()))?;
        // AuthFailure while a NAT gateway, even a deleting one, holds it (the adapter: InUse).
        if a.holder.is_some() {
            return Err(CloudError::in_use(allocation.to_string()));
        }
        w.addresses
            .retain(|a| a.address.allocation_id != allocation);
        let now = Instant::now();
        w.record(allocation, "released", now);
        Ok(())
    }

    async fn set_route(
        &self,
        table: &str,
        destination: &str,
        target: &RouteTarget,
        replace: bool,
    ) -> CloudResult<()> {
        let action = if replace {
            "ReplaceRoute"
        } else {
            "CreateRoute"
        };
        let mut w = self.enter(action)?;
        match target {
            RouteTarget::Local | RouteTarget::Other(_) => {
                return Err(api(
                    action,
                    "UnsupportedTarget",
                    format!("vpnctl cannot route to '{}'", target.id()),
                ));
            }
            // InvalidNatGatewayID.NotFound for an unknown or deleted gateway.
            RouteTarget::Nat(id)
                if !w.nat(id).is_some_and(|n| {
                    !matches!(n.state.state, NatState::Deleted | NatState::Failed)
                }) =>
            {
                return Err(CloudError::not_found(id.clone()));
            }
            RouteTarget::Gateway(id) | RouteTarget::TransitGateway(id)
                if !w.gateways.contains(id) =>
            {
                return Err(CloudError::not_found(id.clone()));
            }
            _ => {}
        }
        let t = w
            .route_tables
            .iter_mut()
            .find(|t| t.id == table)
            .ok_or_else(|| CloudError::not_found(table.to_string()))?;
        let existing = t.routes.iter_mut().find(|r| r.destination == destination);
        match (existing, replace) {
            (Some(_), false) => Err(api(
                action,
                "RouteAlreadyExists",
                format!("the route {destination} already exists in {table}"),
            )),
            (None, true) => Err(api(
                action,
                "InvalidParameterValue",
                format!("there is no route defined for '{destination}' in {table}"),
            )),
            (Some(r), true) => {
                r.target = target.clone();
                Ok(())
            }
            (None, false) => {
                t.routes.push(TableRoute {
                    destination: destination.to_string(),
                    target: target.clone(),
                });
                Ok(())
            }
        }
    }

    async fn delete_route(&self, table: &str, destination: &str) -> CloudResult<()> {
        let mut w = self.enter("DeleteRoute")?;
        let t = w
            .route_tables
            .iter_mut()
            .find(|t| t.id == table)
            .ok_or_else(|| CloudError::not_found(table.to_string()))?;
        // InvalidRoute.NotFound
        let before = t.routes.len();
        t.routes.retain(|r| r.destination != destination);
        if t.routes.len() == before {
            return Err(CloudError::not_found(format!("{destination} in {table}")));
        }
        Ok(())
    }

    async fn nat_gateway_state(&self, id: &str) -> CloudResult<Option<NatState>> {
        let w = self.enter("DescribeNatGateways")?;
        Ok(w.nat(id).map(|n| n.state.state.clone()))
    }

    async fn tag_resource(&self, id: &str, tags: &Tags) -> CloudResult<()> {
        let mut w = self.enter("CreateTags")?;
        let extend = |t: &mut Tags| t.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        if let Some(n) = w.nat_gateways.iter_mut().find(|n| n.gateway.id == id) {
            extend(&mut n.gateway.tags);
            return Ok(());
        }
        if let Some(a) = w
            .addresses
            .iter_mut()
            .find(|a| a.address.allocation_id == id)
        {
            extend(&mut a.address.tags);
            return Ok(());
        }
        Err(CloudError::not_found(id.to_string()))
    }
}

fn no_schedule_group(action: &str, group: &str) -> CloudError {
    CloudError::answered(
        "scheduler",
        action,
        "ResourceNotFoundException",
        &format!("Schedule group {group} does not exist."),
    )
}

fn no_role(action: &str, name: &str) -> CloudError {
    CloudError::answered(
        "iam",
        action,
        "NoSuchEntity",
        &format!("The role with name {name} cannot be found."),
    )
}

impl Deadlines for FakeCloud {
    async fn schedules(&self, group: &str) -> CloudResult<Vec<Schedule>> {
        let w = self.enter("ListSchedules")?;
        Ok(w.schedules
            .get(group)
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn create_schedule_group(&self, group: &str, tags: &Tags) -> CloudResult<()> {
        let mut w = self.enter("CreateScheduleGroup")?;
        // ConflictException for a group that exists: the adapter leaves it as it is.
        if !w.schedule_groups.contains_key(group) {
            w.schedule_groups.insert(group.to_string(), tags.clone());
        }
        Ok(())
    }

    async fn put_schedule(&self, group: &str, schedule: &Schedule) -> CloudResult<()> {
        // As the adapter: CreateSchedule, and UpdateSchedule (the whole definition) when
        // CreateSchedule answers ConflictException.
        let exists = {
            let w = self.enter("CreateSchedule")?;
            if !w.schedule_groups.contains_key(group) {
                return Err(no_schedule_group("CreateSchedule", group));
            }
            w.schedules
                .get(group)
                .is_some_and(|all| all.contains_key(&schedule.name))
        };
        let action = if exists {
            "UpdateSchedule"
        } else {
            "CreateSchedule"
        };
        let mut w = if exists {
            self.enter(action)?
        } else {
            self.world()
        };
        if !w.schedule_groups.contains_key(group) {
            return Err(no_schedule_group(action, group));
        }
        if !["at(", "cron(", "rate("]
            .iter()
            .any(|p| schedule.expression.starts_with(p))
        {
            return Err(api(
                action,
                "ValidationException",
                format!("Invalid Schedule Expression {}", schedule.expression),
            ));
        }
        w.schedules
            .entry(group.to_string())
            .or_default()
            .insert(schedule.name.clone(), schedule.clone());
        Ok(())
    }

    async fn delete_schedule(&self, group: &str, name: &str) -> CloudResult<()> {
        const ACTION: &str = "DeleteSchedule";
        let mut w = self.enter(ACTION)?;
        if !w.schedule_groups.contains_key(group) {
            return Err(no_schedule_group(ACTION, group));
        }
        let removed = w.schedules.get_mut(group).and_then(|all| all.remove(name));
        if removed.is_none() {
            return Err(CloudError::answered(
                "scheduler",
                ACTION,
                "ResourceNotFoundException",
                &format!("Schedule {name} does not exist."),
            ));
        }
        let now = Instant::now();
        w.record(name, "gone", now);
        Ok(())
    }

    async fn delete_schedule_group(&self, group: &str) -> CloudResult<()> {
        const ACTION: &str = "DeleteScheduleGroup";
        let mut w = self.enter(ACTION)?;
        if w.schedule_groups.remove(group).is_none() {
            return Err(no_schedule_group(ACTION, group));
        }
        // Deleting a group deletes its schedules.
        w.schedules.remove(group);
        let now = Instant::now();
        w.record(group, "gone", now);
        Ok(())
    }

    async fn role(&self, name: &str) -> CloudResult<Option<String>> {
        let w = self.enter("GetRole")?;
        Ok(w.roles.get(name).map(|r| r.arn.clone()))
    }

    async fn put_role(
        &self,
        name: &str,
        trust: &str,
        policy_name: &str,
        policy: &str,
        tags: &Tags,
    ) -> CloudResult<String> {
        // As the adapter: CreateRole; on EntityAlreadyExists, UpdateAssumeRolePolicy and
        // GetRole; then PutRolePolicy.
        let exists = {
            let mut w = self.enter("CreateRole")?;
            let exists = w.roles.contains_key(name);
            if !exists {
                w.roles.insert(
                    name.to_string(),
                    FakeRole {
                        arn: format!("arn:aws:iam::123456789012:role/{name}"),
                        trust: trust.to_string(),
                        policies: BTreeMap::new(),
                        tags: tags.clone(),
                    },
                );
            }
            exists
        };
        if exists {
            const ACTION: &str = "UpdateAssumeRolePolicy";
            let mut w = self.enter(ACTION)?;
            let r = w.roles.get_mut(name).ok_or_else(|| no_role(ACTION, name))?;
            r.trust = trust.to_string();
            drop(w);
            let w = self.enter("GetRole")?;
            w.roles.get(name).ok_or_else(|| no_role("GetRole", name))?;
        }
        const ACTION: &str = "PutRolePolicy";
        let mut w = self.enter(ACTION)?;
        let r = w.roles.get_mut(name).ok_or_else(|| no_role(ACTION, name))?;
        r.policies
            .insert(policy_name.to_string(), policy.to_string());
        Ok(r.arn.clone())
    }

    async fn delete_role(&self, name: &str) -> CloudResult<()> {
        // As the adapter: list and delete the inline policies, list the attached ones (the
        // fake attaches none), then delete the role.
        let policies: Vec<String> = {
            let w = self.enter("ListRolePolicies")?;
            let r = w
                .roles
                .get(name)
                .ok_or_else(|| no_role("ListRolePolicies", name))?;
            r.policies.keys().cloned().collect()
        };
        for p in policies {
            const ACTION: &str = "DeleteRolePolicy";
            let mut w = self.enter(ACTION)?;
            let r = w.roles.get_mut(name).ok_or_else(|| no_role(ACTION, name))?;
            r.policies.remove(&p);
        }
        {
            let w = self.enter("ListAttachedRolePolicies")?;
            if !w.roles.contains_key(name) {
                return Err(no_role("ListAttachedRolePolicies", name));
            }
        }
        const ACTION: &str = "DeleteRole";
        let mut w = self.enter(ACTION)?;
        let r = w.roles.get(name).ok_or_else(|| no_role(ACTION, name))?;
        // IAM refuses to delete a role that still has policies.
        if !r.policies.is_empty() {
            return Err(api(
                ACTION,
                "DeleteConflict",
                "Cannot delete entity, must delete policies first.",
            ));
        }
        w.roles.remove(name);
        let now = Instant::now();
        w.record(name, "gone", now);
        Ok(())
    }

    async fn state_machines(&self, names: &[String]) -> CloudResult<Vec<(String, String)>> {
        let w = self.enter("ListStateMachines")?;
        Ok(w.state_machines
            .iter()
            .filter(|(n, _)| names.contains(n))
            .map(|(n, (arn, _))| (n.clone(), arn.clone()))
            .collect())
    }

    async fn put_state_machine(
        &self,
        name: &str,
        definition: &str,
        _role: &str,
        _express: bool,
        _tags: &Tags,
    ) -> CloudResult<String> {
        let exists = self
            .enter("ListStateMachines")?
            .state_machines
            .contains_key(name);
        let action = if exists {
            "UpdateStateMachine"
        } else {
            "CreateStateMachine"
        };
        let mut w = self.enter(action)?;
        let arn = format!("arn:aws:states:us-east-1:123456789012:stateMachine:{name}");
        w.state_machines
            .insert(name.to_string(), (arn.clone(), definition.to_string()));
        Ok(arn)
    }

    async fn delete_state_machine(&self, arn: &str) -> CloudResult<()> {
        let mut w = self.enter("DeleteStateMachine")?;
        let before = w.state_machines.len();
        w.state_machines.retain(|_, (a, _)| a != arn);
        if w.state_machines.len() == before {
            return Err(api(
                "DeleteStateMachine",
                "StateMachineDoesNotExist",
                format!("State Machine Does Not Exist: '{arn}'"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The fake's own rules, where no executor test reaches them.
    use super::*;

    fn spec() -> EndpointSpec {
        EndpointSpec {
            name: "lab".into(),
            client_cidr: net("10.83.0.0/16"),
            vpc_id: "vpc-1".into(),
            split_tunnel: true,
            dns_servers: vec![],
            transport: Transport::Udp,
            port: 443,
            security_groups: vec![],
            description: "vpnctl lab".into(),
            log_group: None,
            options: Default::default(),
            user_auth: None,
            certificates: None,
        }
    }

    async fn endpoint(cloud: &FakeCloud) -> String {
        let upload = CertUpload {
            cert_pem: "cert".into(),
            key_pem: "key".into(),
            chain_pem: "ca".into(),
        };
        let tags = tags_for("lab", "lab");
        let arn = cloud
            .import_certificate(&upload, None, &tags)
            .await
            .expect("import");
        cloud
            .create_endpoint(&spec(), &arn, &tags, "t-1")
            .await
            .expect("create")
            .id
    }

    #[tokio::test(start_paused = true)]
    async fn the_concurrency_limit_refuses_a_further_change_until_one_finishes() {
        let cloud = FakeCloud::lab();
        cloud.world().concurrent_mutation_limit = Some(2);
        let e = endpoint(&cloud).await;
        // The association and its VPC route: two operations under way.
        cloud
            .associate(&e, "subnet-a", "t-2")
            .await
            .expect("associate");
        match cloud.authorize(&e, net("10.0.0.0/16"), None, "x").await {
            Err(e) => {
                assert_eq!(e.code(), Some("ConcurrentMutationLimitExceeded"));
                assert!(e.is(Kind::Busy), "{e:?}");
            }
            other => panic!("{other:?}"),
        }
        tokio::time::sleep(cloud.delays.association).await;
        cloud
            .authorize(&e, net("10.0.0.0/16"), None, "x")
            .await
            .expect("allowed once the association is done");
        assert_eq!(cloud.world().peak_in_flight, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_crl_import_resets_live_connections_and_an_endpoint_in_use_keeps_its_certificate() {
        let cloud = FakeCloud::lab();
        let e = endpoint(&cloud).await;
        let c = cloud.connect_client(&e, "alice");
        cloud
            .import_crl(&e, "-----BEGIN X509 CRL-----\nx\n-----END X509 CRL-----\n")
            .await
            .expect("import");
        tokio::time::sleep(cloud.delays.connection_termination).await;
        let all = cloud.connections(&e).await.expect("connections");
        assert_eq!(all.len(), 1);
        assert_eq!(
            (all[0].id.as_str(), &all[0].state),
            (c.as_str(), &ConnectionState::Terminated)
        );
        let arn = cloud.world().certificates[0].arn.clone();
        assert!(matches!(
            cloud.delete_certificate(&arn).await,
            Err(e) if e.is(Kind::InUse)
        ));
        cloud.delete_endpoint(&e).await.expect("delete");
        // Deleting, still in use; gone, free.
        assert!(cloud.delete_certificate(&arn).await.is_err());
        tokio::time::sleep(cloud.delays.endpoint_deletion).await;
        cloud
            .delete_certificate(&arn)
            .await
            .expect("free once the endpoint is gone");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_nat_gateway_lets_its_address_go() {
        let cloud = FakeCloud::lab();
        cloud.world().nat_failures = 1;
        let tags = tags_for("lab", "lab-nat");
        let a = cloud.allocate_address(&tags).await.expect("allocate");
        let n = cloud
            .create_nat_gateway("subnet-pub", &a.allocation_id, &tags, "t-3")
            .await
            .expect("create");
        assert_eq!(n.state, NatState::Pending);
        assert!(matches!(
            cloud.release_address(&a.allocation_id).await,
            Err(e) if e.is(Kind::InUse)
        ));
        tokio::time::sleep(cloud.delays.nat_creation).await;
        assert_eq!(
            cloud.nat_gateway_state(&n.id).await.expect("state"),
            Some(NatState::Failed)
        );
        cloud
            .release_address(&a.allocation_id)
            .await
            .expect("a failed gateway holds no address");
    }

    fn deadline(name: &str, at: i64) -> Schedule {
        Schedule {
            name: name.into(),
            expression: Schedule::at_expression(at),
            timezone: None,
            action: "ec2:deleteNatGateway".into(),
            input: r#"{"NatGatewayId":"nat-1"}"#.into(),
            role_arn: "arn:aws:iam::123456789012:role/vpnctl-lab".into(),
            enabled: true,
            delete_after: true,
            retries: 185,
            max_age_secs: 86_400,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_schedule_needs_its_group_and_a_second_put_updates_it_in_place() {
        let cloud = FakeCloud::new();
        let s = deadline("vpnctl-lab-nat", 1_800_000_000);
        match cloud.put_schedule("vpnctl-lab", &s).await {
            Err(e) => {
                assert!(e.is(Kind::NotFound), "{e:?}");
                assert_eq!(e.code(), Some("ResourceNotFoundException"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(cloud.schedules("vpnctl-lab").await.expect("list"), vec![]);
        let tags = tags_for("lab", "lab");
        cloud
            .create_schedule_group("vpnctl-lab", &tags)
            .await
            .expect("group");
        // A second create leaves the group as it was.
        cloud
            .create_schedule_group("vpnctl-lab", &Tags::new())
            .await
            .expect("group again");
        assert_eq!(cloud.world().schedule_groups.get("vpnctl-lab"), Some(&tags));
        cloud.put_schedule("vpnctl-lab", &s).await.expect("create");
        let later = Schedule {
            enabled: false,
            ..deadline("vpnctl-lab-nat", 1_800_003_600)
        };
        cloud
            .put_schedule("vpnctl-lab", &later)
            .await
            .expect("update");
        assert_eq!(
            cloud.schedules("vpnctl-lab").await.expect("list"),
            vec![later]
        );
        let w = cloud.world();
        assert_eq!(w.calls.get("CreateSchedule"), Some(&3));
        assert_eq!(w.calls.get("UpdateSchedule"), Some(&1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_update_leaves_the_schedule_as_it_was() {
        let cloud = FakeCloud::new();
        let s = deadline("vpnctl-lab-nat", 1_800_000_000);
        cloud
            .create_schedule_group("vpnctl-lab", &Tags::new())
            .await
            .expect("group");
        cloud.put_schedule("vpnctl-lab", &s).await.expect("create");
        cloud.fail_next(
            "UpdateSchedule",
            1,
            CloudError::answered(
                "scheduler",
                "UpdateSchedule",
                "InternalServerException",
                "x",
            ),
        );
        let later = deadline("vpnctl-lab-nat", 1_800_003_600);
        assert!(cloud.put_schedule("vpnctl-lab", &later).await.is_err());
        assert_eq!(cloud.schedules("vpnctl-lab").await.expect("list"), vec![s]);
    }

    #[tokio::test(start_paused = true)]
    async fn deleting_a_group_deletes_its_schedules_and_a_second_delete_is_not_found() {
        let cloud = FakeCloud::new();
        cloud
            .create_schedule_group("vpnctl-lab", &Tags::new())
            .await
            .expect("group");
        for n in ["a", "b"] {
            cloud
                .put_schedule("vpnctl-lab", &deadline(n, 1_800_000_000))
                .await
                .expect("put");
        }
        cloud
            .delete_schedule("vpnctl-lab", "a")
            .await
            .expect("delete a");
        match cloud.delete_schedule("vpnctl-lab", "a").await {
            Err(e) => {
                assert!(e.is(Kind::NotFound), "{e:?}");
                assert_eq!(e.code(), Some("ResourceNotFoundException"));
            }
            other => panic!("{other:?}"),
        }
        cloud
            .delete_schedule_group("vpnctl-lab")
            .await
            .expect("delete group");
        assert_eq!(cloud.schedules("vpnctl-lab").await.expect("list"), vec![]);
        assert!(cloud.world().schedules.is_empty());
        assert!(matches!(
            cloud.delete_schedule_group("vpnctl-lab").await,
            Err(e) if e.is(Kind::NotFound)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_role_is_created_then_given_the_new_trust_and_deleted_with_its_policies() {
        let cloud = FakeCloud::new();
        assert_eq!(cloud.role("vpnctl-lab").await.expect("role"), None);
        let tags = tags_for("lab", "lab");
        let arn = cloud
            .put_role("vpnctl-lab", "trust-1", "deadlines", "policy-1", &tags)
            .await
            .expect("create");
        assert_eq!(arn, "arn:aws:iam::123456789012:role/vpnctl-lab");
        let again = cloud
            .put_role(
                "vpnctl-lab",
                "trust-2",
                "deadlines",
                "policy-2",
                &Tags::new(),
            )
            .await
            .expect("update");
        assert_eq!(again, arn);
        assert_eq!(cloud.role("vpnctl-lab").await.expect("role"), Some(arn));
        {
            let w = cloud.world();
            let r = &w.roles["vpnctl-lab"];
            assert_eq!(r.trust, "trust-2");
            assert_eq!(
                r.policies.get("deadlines").map(String::as_str),
                Some("policy-2")
            );
            assert_eq!(r.tags, tags, "an existing role keeps its tags");
            assert_eq!(w.calls.get("UpdateAssumeRolePolicy"), Some(&1));
        }
        cloud.delete_role("vpnctl-lab").await.expect("delete");
        assert_eq!(cloud.role("vpnctl-lab").await.expect("role"), None);
        assert_eq!(cloud.world().calls.get("DeleteRolePolicy"), Some(&1));
        match cloud.delete_role("vpnctl-lab").await {
            Err(e) => {
                assert!(e.is(Kind::NotFound), "{e:?}");
                assert_eq!(e.code(), Some("NoSuchEntity"));
            }
            other => panic!("{other:?}"),
        }
    }
}

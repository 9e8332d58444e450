//! The executor against the stateful fake cloud (`aws::fake`) under tokio's paused clock:
//! AWS's minutes of associating, deleting and NAT creation pass at once, and every test
//! asserts on what the cloud holds afterwards.
use super::*;
use crate::aws::fake::FakeCloud;
use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::sync::Mutex;
use tokio::time::Instant;

const CERT: &str = "-----BEGIN CERTIFICATE-----\nU0VSVkVS\n-----END CERTIFICATE-----\n";
const CA: &str = "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n";
const CRL: &str = "-----BEGIN X509 CRL-----\nQ1JM\n-----END X509 CRL-----\n";
const VPC_CIDR: &str = "10.0.0.0/16";

#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Reporter for Recorder {
    fn progress(&self, line: &str) {
        self.0.lock().expect("recorder").push(line.to_string());
    }
}

fn executor<'a>(cloud: &'a FakeCloud, reporter: &'a Recorder) -> Executor<'a, FakeCloud> {
    Executor {
        cloud,
        policies: Policies::default(),
        reporter,
        deployment: "lab",
    }
}

async fn desired(cloud: &FakeCloud, full_tunnel: bool) -> Desired {
    let vpc = cloud.find_vpc("lab-vpc").await.expect("vpc");
    let mut subnets = Vec::new();
    for s in ["subnet-a", "subnet-b"] {
        subnets.push(cloud.find_subnet(s).await.expect("subnet"));
    }
    let mut authorize: Vec<Ipv4Net> = vec![VPC_CIDR.parse().expect("cidr")];
    if full_tunnel {
        authorize.push("0.0.0.0/0".parse().expect("cidr"));
    }
    Desired {
        deployment: "lab".into(),
        endpoint: EndpointSpec {
            name: "lab".into(),
            client_cidr: "10.83.0.0/16".parse().expect("cidr"),
            vpc_id: vpc.id.clone(),
            split_tunnel: !full_tunnel,
            dns_servers: vec!["10.0.0.2".parse().expect("ip")],
            transport: Transport::Udp,
            port: 443,
            security_groups: vec![],
            description: "vpnctl lab".into(),
            log_group: None,
            options: Default::default(),
            user_auth: None,
            certificates: None,
        },
        vpc,
        subnets,
        authorize,
        groups: Vec::new(),
        full_tunnel,
        routes: vec![],
        server_cert_pem: CERT.into(),
        crl_pem: CRL.into(),
        ca_pem: CA.into(),
    }
}

fn upload() -> CertUpload {
    CertUpload {
        cert_pem: CERT.into(),
        key_pem: "(no key: the fake cloud keeps what it is given and never reads it)".into(),
        chain_pem: CA.into(),
    }
}

/// Observe, plan and run setup once.
async fn setup(cloud: &FakeCloud, want: &Desired) -> Result<Ran, StepError> {
    let r = Recorder::default();
    let seen = observe(cloud, "lab", false).await.expect("observe");
    let steps = plan_setup(want, &seen).expect("plan");
    let upload = upload();
    let inputs = Inputs {
        endpoint: Some(&want.endpoint),
        upload: Some(&upload),
        crl_pem: Some(&want.crl_pem),
        ..Inputs::default()
    };
    executor(cloud, &r)
        .run(&steps, &seen, &inputs, false)
        .await
        .into_result()
}

/// Run a plan that needs no inputs (teardown, nat on/off, sleep, kick) and return the
/// failures.
async fn run(cloud: &FakeCloud, steps: &[Step], keep_going: bool) -> Vec<StepError> {
    let r = Recorder::default();
    let seen = observe(cloud, "lab", false).await.expect("observe");
    executor(cloud, &r)
        .run(steps, &seen, &Inputs::default(), keep_going)
        .await
        .failures
}

async fn replan(cloud: &FakeCloud, want: &Desired) -> Vec<Action> {
    let seen = observe(cloud, "lab", false).await.expect("observe");
    plan_setup(want, &seen)
        .expect("plan")
        .into_iter()
        .map(|s| s.action)
        .collect()
}

async fn nat_want(cloud: &FakeCloud, force: bool) -> NatWant {
    let private = cloud.find_subnet("subnet-a").await.expect("subnet");
    let subnets = cloud.subnets_of("vpc-1").await.expect("subnets");
    let tables = cloud.route_tables("vpc-1").await.expect("tables");
    NatWant {
        public: infer_public(&private, &subnets, &tables).expect("public subnet"),
        table: table_of(&private, &tables).expect("table").clone(),
        private,
        expires: None,
        force,
    }
}

async fn nat_on(cloud: &FakeCloud, force: bool) -> Result<Ran, StepError> {
    let r = Recorder::default();
    let want = nat_want(cloud, force).await;
    let seen = observe(cloud, "lab", false).await.expect("observe");
    let steps = plan_nat_on(&want, &seen).expect("plan");
    executor(cloud, &r)
        .run(&steps, &seen, &Inputs::default(), false)
        .await
        .into_result()
}

/// A whole deployment: endpoint with two associations, rule, CRL, and a NAT gateway.
async fn deployed(cloud: &FakeCloud) {
    let want = desired(cloud, false).await;
    setup(cloud, &want).await.expect("setup");
    nat_on(cloud, false).await.expect("nat on");
}

fn default_route(cloud: &FakeCloud, table: &str) -> Option<RouteTarget> {
    cloud
        .world()
        .table(table)
        .and_then(|t| t.default_route().cloned())
}

#[tokio::test(start_paused = true)]
async fn setup_from_nothing_converges_and_a_second_plan_changes_nothing() {
    for full_tunnel in [false, true] {
        let cloud = FakeCloud::lab();
        let want = desired(&cloud, full_tunnel).await;
        let start = Instant::now();
        let applied = setup(&cloud, &want).await.expect("setup");
        // It waited for AWS rather than returning with associations still associating.
        assert!(start.elapsed() >= cloud.delays.association);
        {
            let w = cloud.world();
            assert_eq!(w.endpoints.len(), 1, "one endpoint");
            let e = &w.endpoints[0];
            assert_eq!(
                e.endpoint.id,
                applied.endpoint.as_ref().expect("endpoint").id
            );
            assert_eq!(e.endpoint.state, EndpointState::Available);
            assert!(is_ours(&e.endpoint.tags, "lab"));
            for s in ["subnet-a", "subnet-b"] {
                assert_eq!(
                    e.association_of(s).map(|a| a.state.state.clone()),
                    Some(AssociationState::Associated),
                    "{s}"
                );
            }
            for cidr in &want.authorize {
                let rule = e.rule(&cidr.to_string()).expect("rule");
                assert_eq!(rule.state.state, RuleState::Active, "{cidr}");
                assert_eq!(rule.description, owned_description("lab"));
            }
            let full: Vec<_> = e
                .routes
                .iter()
                .filter(|r| r.cidr == "0.0.0.0/0" && r.origin == "add-route")
                .map(|r| (r.subnet.as_str(), r.state.state.clone()))
                .collect();
            if full_tunnel {
                assert_eq!(
                    full,
                    [
                        ("subnet-a", RouteState::Active),
                        ("subnet-b", RouteState::Active)
                    ]
                );
            } else {
                assert!(full.is_empty(), "{full:?}");
            }
            assert_eq!(e.crl.as_deref(), Some(CRL));
            assert_eq!(w.certificates.len(), 1);
            assert_eq!(
                Some(&w.certificates[0].arn),
                applied.certificate_arn.as_ref()
            );
            assert_eq!(w.certificates[0].body, CERT);
            assert!(
                applied
                    .client_configuration
                    .as_deref()
                    .is_some_and(|c| c.contains(&e.endpoint.id) && c.contains(CA.trim())),
                "{:?}",
                applied.client_configuration
            );
        }
        // Converged: nothing left to change, only the profiles to write again.
        assert_eq!(
            replan(&cloud, &want).await,
            [Action::WriteProfiles],
            "full_tunnel={full_tunnel}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn setup_runs_the_steps_of_a_phase_concurrently() {
    let cloud = FakeCloud::lab();
    let want = desired(&cloud, false).await;
    let start = Instant::now();
    let applied = setup(&cloud, &want).await.expect("setup");
    let w = cloud.world();
    let e = w
        .endpoint(&applied.endpoint.as_ref().expect("endpoint").id)
        .expect("endpoint");
    let associated = |s: &str| {
        let a = e.association_of(s).expect("association");
        w.when(&a.id, "associated").expect("associated")
    };
    // Both associations were under way together: they finished within one association
    // delay of each other, and the whole setup took less than two delays.
    let (a, b) = (associated("subnet-a"), associated("subnet-b"));
    let apart = if a > b { a - b } else { b - a };
    assert!(apart < cloud.delays.association, "{apart:?}");
    assert!(start.elapsed() < cloud.delays.association * 2);
    // Two associations with their VPC routes, and the rule.
    assert!(w.peak_in_flight >= 5, "{}", w.peak_in_flight);
}

#[tokio::test(start_paused = true)]
async fn an_injected_failure_surfaces_as_a_step_error_naming_the_step() {
    let cloud = FakeCloud::lab();
    let want = desired(&cloud, false).await;
    cloud.fail_next(
        "AuthorizeClientVpnIngress",
        1,
        CloudError::answered(
            "ec2",
            "AuthorizeClientVpnIngress",
            "InvalidParameterValue",
            "The value for parameter TargetNetworkCidr is not valid",
        ),
    );
    let e = setup(&cloud, &want)
        .await
        .expect_err("the fault fails setup");
    assert_eq!(e.step, format!("authorize access to {VPC_CIDR}"));
    match &e.error {
        WaitError::Cloud(e) => assert_eq!(e.code(), Some("InvalidParameterValue")),
        other => panic!("expected the injected error, got {other:?}"),
    }
    // The faulted call changed nothing: the endpoint exists, the rule does not.
    {
        let w = cloud.world();
        assert_eq!(w.endpoints.len(), 1);
        assert!(w.endpoints[0].rule(VPC_CIDR).is_none());
    }
    // Running again continues where it stopped and converges.
    assert!(replan(&cloud, &want).await.contains(&Action::Authorize {
        cidr: VPC_CIDR.into(),
        group: None
    }));
    setup(&cloud, &want).await.expect("second setup");
    assert_eq!(replan(&cloud, &want).await, [Action::WriteProfiles]);
    assert_eq!(cloud.world().endpoints.len(), 1, "no second endpoint");
}

#[tokio::test(start_paused = true)]
async fn teardown_removes_everything_in_the_order_aws_requires() {
    let cloud = FakeCloud::lab();
    deployed(&cloud).await;
    let (endpoint, associations, nat, allocation) = {
        let w = cloud.world();
        let e = &w.endpoints[0];
        (
            e.endpoint.id.clone(),
            e.associations
                .iter()
                .map(|a| a.id.clone())
                .collect::<Vec<_>>(),
            w.nat_gateways[0].gateway.id.clone(),
            w.addresses[0].address.allocation_id.clone(),
        )
    };
    assert_eq!(associations.len(), 2);
    let seen = observe(&cloud, "lab", false).await.expect("observe");
    let failures = run(&cloud, &plan_teardown(&seen), false).await;
    assert!(failures.is_empty(), "{failures:?}");
    let w = cloud.world();
    assert!(w.endpoints.is_empty(), "{:?}", w.endpoints);
    assert!(w.certificates.is_empty());
    assert_eq!(
        w.nat(&nat).map(|n| n.state.state.clone()),
        Some(NatState::Deleted)
    );
    assert!(w.addresses.is_empty(), "{:?}", w.addresses);
    drop(w);
    assert_eq!(default_route(&cloud, "rtb-main"), None);
    // The order, from when things went: the endpoint's deletion (which AWS refuses while
    // associations exist) began only once every association was gone, and the Elastic IP
    // was released only once the NAT gateway was deleted.
    let w = cloud.world();
    let endpoint_gone = w.when(&endpoint, "gone").expect("endpoint gone");
    for a in &associations {
        let gone = w.when(a, "gone").expect("association gone");
        assert!(
            gone + cloud.delays.endpoint_deletion <= endpoint_gone,
            "{a} gone at {gone:?}, endpoint at {endpoint_gone:?}"
        );
    }
    let nat_deleted = w.when(&nat, "deleted").expect("NAT deleted");
    let released = w.when(&allocation, "released").expect("EIP released");
    assert!(nat_deleted <= released);
    assert!(
        w.when(&seen.certificates[0].arn, "gone")
            .expect("cert gone")
            >= endpoint_gone
    );
}

/// Observe, plan setup with a deadline at `at` (and the NAT's), and run it.
async fn setup_with_deadline(cloud: &FakeCloud, want: &Desired, at: i64) -> Ran {
    let r = Recorder::default();
    let seen = observe(cloud, "lab", false).await.expect("observe");
    let mut steps = plan_setup(want, &seen).expect("plan");
    let ttl = Want::At {
        at,
        ttl: "2h".into(),
    };
    let deadline = plan_endpoint_deadline(&seen, &ttl, &steps);
    steps = ordered([steps, deadline].concat());
    let upload = upload();
    let inputs = Inputs {
        endpoint: Some(&want.endpoint),
        upload: Some(&upload),
        crl_pem: Some(&want.crl_pem),
        account: Some("123456789012"),
        region: Some("us-east-1"),
    };
    executor(cloud, &r).run(&steps, &seen, &inputs, false).await
}

/// The schedules of the deployment's group in the fake, by name.
fn schedules(cloud: &FakeCloud) -> BTreeMap<String, Schedule> {
    cloud
        .world()
        .schedules
        .get("vpnctl-lab")
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(start_paused = true)]
async fn a_deadline_is_armed_after_the_lanes_naming_the_associations_they_made() {
    let cloud = FakeCloud::lab();
    let want = desired(&cloud, false).await;
    let at = 1_900_000_000;
    let ran = setup_with_deadline(&cloud, &want, at).await;
    assert!(ran.failures.is_empty(), "{:?}", ran.failures);
    assert_eq!(ran.deadlines, vec![(Deadline::Endpoint, at)]);
    let made: Vec<String> = cloud.world().endpoints[0]
        .associations
        .iter()
        .map(|a| a.id.clone())
        .collect();
    assert_eq!(made.len(), 2);
    let all = schedules(&cloud);
    for a in &made {
        let s = all
            .get(&format!("sleep-{a}"))
            .expect("a schedule per association");
        assert!(s.input.contains(a.as_str()), "{s:?}");
        assert_eq!(s.at(), Some(at));
    }
    assert!(all.contains_key("sleep-record"), "{all:?}");
    let role = cloud.world().roles.get("vpnctl-lab-scheduler").cloned();
    let role = role.expect("the role");
    assert!(
        role.trust.contains("scheduler.amazonaws.com"),
        "{}",
        role.trust
    );
    assert!(all.values().all(|s| s.role_arn == role.arn));
    // The endpoint records the duration for wake.
    assert_eq!(
        cloud.world().endpoints[0].endpoint.tags.get(TAG_TTL),
        Some(&"2h".to_string())
    );
}

#[tokio::test(start_paused = true)]
async fn a_deadline_armed_after_the_sleep_record_is_cleared_never_records_it_again() {
    let cloud = FakeCloud::lab();
    let want = desired(&cloud, false).await;
    deployed(&cloud).await;
    // A record left by an earlier sleep, naming a subnet the settings no longer have: setup
    // clears it, and the deadline armed in the same run must record only what is there now.
    let id = cloud.world().endpoints[0].endpoint.id.clone();
    let stale: Tags = [(TAG_ASLEEP_SUBNETS.to_string(), "subnet-dropped".to_string())]
        .into_iter()
        .collect();
    cloud.tag_endpoint(&id, &stale).await.expect("tag");
    let ran = setup_with_deadline(&cloud, &want, 1_900_000_000).await;
    assert!(ran.failures.is_empty(), "{:?}", ran.failures);
    let record = schedules(&cloud)
        .remove("sleep-record")
        .expect("the sleep record's schedule");
    assert!(!record.input.contains("subnet-dropped"), "{}", record.input);
    assert!(
        record.input.contains(TAG_ASLEEP_SUBNETS),
        "{}",
        record.input
    );
}

#[tokio::test(start_paused = true)]
async fn a_deadline_whose_time_passed_during_the_run_is_armed_for_just_after_now() {
    let cloud = FakeCloud::lab();
    let want = desired(&cloud, false).await;
    // `setup --ttl 1m` whose associations took longer than a minute.
    let ran = setup_with_deadline(&cloud, &want, 1_000).await;
    assert!(ran.failures.is_empty(), "{:?}", ran.failures);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let armed = schedules(&cloud);
    assert!(!armed.is_empty());
    for s in armed.values() {
        let at = s.at().expect("a one-time schedule");
        assert!(at > now && at <= now + 300, "{s:?}");
    }
    assert!(
        ran.deadlines.iter().all(|(_, at)| *at > now),
        "{:?}",
        ran.deadlines
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_lane_still_arms_but_never_removes_a_deadline() {
    let cloud = FakeCloud::lab();
    let want = desired(&cloud, false).await;
    let at = 1_900_000_000;
    // A rule AWS refuses: the endpoint's lane fails, and what it made still gets a deadline.
    cloud.fail_next(
        "AuthorizeClientVpnIngress",
        1,
        CloudError::answered(
            "ec2",
            "AuthorizeClientVpnIngress",
            "InvalidParameterValue",
            "no",
        ),
    );
    let ran = setup_with_deadline(&cloud, &want, at).await;
    assert_eq!(ran.failures.len(), 1, "{:?}", ran.failures);
    assert!(
        schedules(&cloud).keys().any(|k| k.starts_with("sleep-")),
        "{:?}",
        schedules(&cloud)
    );
    // A teardown whose endpoint lane fails keeps the deadlines and the role.
    let seen = observe(&cloud, "lab", false).await.expect("observe");
    let steps = ordered([plan_teardown(&seen), plan_remove_deadlines(&seen)].concat());
    assert!(
        steps
            .iter()
            .any(|s| matches!(s.action, Action::DeleteSchedules { .. }))
    );
    cloud.fail_next(
        "DeleteClientVpnEndpoint",
        1,
        CloudError::answered(
            "ec2",
            "DeleteClientVpnEndpoint",
            "InvalidParameterValue",
            "no",
        ),
    );
    let r = Recorder::default();
    let ran = executor(&cloud, &r)
        .run(&steps, &seen, &Inputs::default(), false)
        .await;
    assert_eq!(ran.failures.len(), 1, "{:?}", ran.failures);
    assert!(!schedules(&cloud).is_empty());
    assert!(cloud.world().roles.contains_key("vpnctl-lab-scheduler"));
    // The next teardown succeeds and removes them.
    let seen = observe(&cloud, "lab", false).await.expect("observe");
    let steps = ordered([plan_teardown(&seen), plan_remove_deadlines(&seen)].concat());
    let failures = run(&cloud, &steps, false).await;
    assert!(failures.is_empty(), "{failures:?}");
    assert!(schedules(&cloud).is_empty());
    assert!(cloud.world().schedule_groups.is_empty());
    assert!(cloud.world().roles.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_schedule_refused_while_the_new_role_propagates_is_put_again() {
    let cloud = FakeCloud::lab();
    let want = desired(&cloud, false).await;
    // AWS's answer to a CreateSchedule whose role IAM does not show the Scheduler yet.
    cloud.fail_next(
        "CreateSchedule",
        2,
        CloudError::answered(
            "scheduler",
            "CreateSchedule",
            "ValidationException",
            "The execution role you provide must allow AWS EventBridge Scheduler to assume the role.",
        ),
    );
    let ran = setup_with_deadline(&cloud, &want, 1_900_000_000).await;
    assert!(ran.failures.is_empty(), "{:?}", ran.failures);
    assert!(schedules(&cloud).contains_key("sleep-record"));
    // Any other refusal is not retried.
    cloud.fail_next(
        "CreateSchedule",
        1,
        CloudError::answered(
            "scheduler",
            "CreateSchedule",
            "ValidationException",
            "bad input",
        ),
    );
    let ran = setup_with_deadline(&cloud, &want, 1_900_000_100).await;
    assert_eq!(ran.failures.len(), 1, "{:?}", ran.failures);
}

#[tokio::test(start_paused = true)]
async fn release_waits_while_a_deleting_nat_gateway_holds_the_address() {
    let cloud = FakeCloud::lab();
    let applied = nat_on(&cloud, false).await.expect("nat on");
    let nat = applied.nat.expect("a NAT gateway").id;
    let allocation = cloud.world().addresses[0].address.allocation_id.clone();
    // Deleting, not deleted: AWS refuses to release the address until it is.
    cloud.delete_nat_gateway(&nat).await.expect("delete");
    let start = Instant::now();
    let release = Step::new(Action::ReleaseAddress {
        allocation: allocation.clone(),
    });
    let failures = run(&cloud, &[release], false).await;
    assert!(failures.is_empty(), "{failures:?}");
    let w = cloud.world();
    assert!(w.address(&allocation).is_none(), "released");
    let deleted = w.when(&nat, "deleted").expect("NAT deleted");
    assert!(deleted <= w.when(&allocation, "released").expect("released"));
    assert!(start.elapsed() >= cloud.delays.nat_deletion);
}

fn route_fault() -> CloudError {
    CloudError::answered(
        "ec2",
        "DeleteRoute",
        "UnauthorizedOperation",
        "You are not authorized to perform this operation",
    )
}

#[tokio::test(start_paused = true)]
async fn without_keep_going_a_failure_stops_its_lane_and_the_other_lane_runs_on() {
    let cloud = FakeCloud::lab();
    deployed(&cloud).await;
    cloud.fail_next("DeleteRoute", 1, route_fault());
    let seen = observe(&cloud, "lab", false).await.expect("observe");
    let failures = run(&cloud, &plan_teardown(&seen), false).await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(
        failures[0].step,
        "remove the 0.0.0.0/0 route to the NAT gateway from rtb-main"
    );
    let w = cloud.world();
    // The NAT lane stopped at its first phase: the gateway and its address are left alone.
    assert_eq!(w.nat_gateways[0].state.state, NatState::Available);
    assert_eq!(w.addresses.len(), 1);
    // The endpoint's lane needs nothing of the NAT gateway: it ran to its end.
    assert!(w.endpoints.is_empty(), "{:?}", w.endpoints);
    assert!(w.certificates.is_empty());
}

#[tokio::test(start_paused = true)]
async fn without_keep_going_a_failing_phase_runs_to_its_end_and_ends_the_lane() {
    let cloud = FakeCloud::lab();
    deployed(&cloud).await;
    let nat = cloud.world().nat_gateways[0].gateway.id.clone();
    cloud.fail_next(
        "DisassociateClientVpnTargetNetwork",
        1,
        CloudError::answered(
            "ec2",
            "DisassociateClientVpnTargetNetwork",
            "UnauthorizedOperation",
            "You are not authorized to perform this operation",
        ),
    );
    let seen = observe(&cloud, "lab", false).await.expect("observe");
    let steps = plan_teardown(&seen);
    let r = Recorder::default();
    let ran = executor(&cloud, &r)
        .run(&steps, &seen, &Inputs::default(), false)
        .await;
    let failures = &ran.failures;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0].step.starts_with("disassociate subnet"),
        "{}",
        failures[0].step
    );
    let status = |action: fn(&Action) -> bool| -> Vec<StepStatus> {
        steps
            .iter()
            .zip(&ran.status)
            .filter(|(s, _)| action(&s.action))
            .map(|(_, st)| *st)
            .collect()
    };
    let mut disassociations = status(|a| matches!(a, Action::Disassociate { .. }));
    disassociations.sort_by_key(|s| *s == StepStatus::Done);
    assert_eq!(disassociations, [StepStatus::Failed, StepStatus::Done]);
    assert_eq!(
        status(|a| matches!(
            a,
            Action::DeleteEndpoint { .. } | Action::DeleteCertificate { .. }
        )),
        [StepStatus::NotRun, StepStatus::NotRun]
    );
    let w = cloud.world();
    // The failed sibling did not stop the other disassociation: its billing stopped.
    assert_eq!(
        w.endpoints[0].associations.len(),
        1,
        "one left, the failed one"
    );
    // The endpoint's later phases did not run: no deletion of the endpoint or certificate.
    assert_eq!(w.endpoints.len(), 1);
    assert!(w.endpoints[0].deleting.is_none(), "endpoint left alone");
    assert_eq!(w.certificates.len(), 1);
    // The NAT lane stopped its bill.
    assert_eq!(
        w.nat(&nat).map(|n| n.state.state.clone()),
        Some(NatState::Deleted)
    );
    assert!(w.addresses.is_empty());
}

#[tokio::test(start_paused = true)]
async fn with_keep_going_teardown_attempts_every_step_after_a_failure() {
    let cloud = FakeCloud::lab();
    deployed(&cloud).await;
    let nat = cloud.world().nat_gateways[0].gateway.id.clone();
    cloud.fail_next("DeleteRoute", 1, route_fault());
    let seen = observe(&cloud, "lab", false).await.expect("observe");
    let failures = run(&cloud, &plan_teardown(&seen), true).await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(
        failures[0].step,
        "remove the 0.0.0.0/0 route to the NAT gateway from rtb-main"
    );
    let w = cloud.world();
    assert!(w.endpoints.is_empty());
    assert!(w.certificates.is_empty());
    assert_eq!(
        w.nat(&nat).map(|n| n.state.state.clone()),
        Some(NatState::Deleted)
    );
    assert!(w.addresses.is_empty());
    drop(w);
    // Only the failed step's work is left: the route to the (now deleted) NAT gateway.
    assert_eq!(
        default_route(&cloud, "rtb-main"),
        Some(RouteTarget::Nat(nat))
    );
}

#[tokio::test(start_paused = true)]
async fn nat_on_then_nat_off_round_trip() {
    let cloud = FakeCloud::lab();
    let applied = nat_on(&cloud, false).await.expect("nat on");
    let nat = applied.nat.expect("a NAT gateway");
    {
        let w = cloud.world();
        assert_eq!(w.nat_gateways.len(), 1);
        let n = &w.nat_gateways[0];
        assert_eq!(n.gateway.id, nat.id);
        assert_eq!(n.state.state, NatState::Available);
        assert_eq!(n.gateway.subnet_id, "subnet-pub");
        assert_eq!(
            n.gateway.tags.get(TAG_PRIVATE_SUBNET).map(String::as_str),
            Some("subnet-a")
        );
        assert_eq!(
            n.gateway.tags.get(TAG_ROUTE_TABLE).map(String::as_str),
            Some("rtb-main")
        );
        assert_eq!(w.addresses.len(), 1);
        assert_eq!(w.addresses[0].holder.as_deref(), Some(nat.id.as_str()));
    }
    assert_eq!(
        default_route(&cloud, "rtb-main"),
        Some(RouteTarget::Nat(nat.id.clone()))
    );
    // On is on: a second plan does nothing.
    let want = nat_want(&cloud, false).await;
    let seen = observe(&cloud, "lab", false).await.expect("observe");
    assert_eq!(plan_nat_on(&want, &seen).expect("plan"), []);

    let failures = run(&cloud, &plan_nat_off(&seen), false).await;
    assert!(failures.is_empty(), "{failures:?}");
    {
        let w = cloud.world();
        assert_eq!(
            w.nat(&nat.id).map(|n| n.state.state.clone()),
            Some(NatState::Deleted)
        );
        assert!(w.addresses.is_empty(), "EIP released");
    }
    assert_eq!(default_route(&cloud, "rtb-main"), None);
    // Off is off.
    let seen = observe(&cloud, "lab", false).await.expect("observe");
    assert_eq!(plan_nat_off(&seen), []);
}

#[tokio::test(start_paused = true)]
async fn nat_on_force_then_nat_off_restores_the_replaced_route() {
    let cloud = FakeCloud::lab();
    cloud
        .set_route(
            "rtb-main",
            "0.0.0.0/0",
            &RouteTarget::TransitGateway("tgw-1".into()),
            false,
        )
        .await
        .expect("route");
    let nat = nat_on(&cloud, true)
        .await
        .expect("nat on --force")
        .nat
        .expect("a NAT gateway");
    assert_eq!(
        default_route(&cloud, "rtb-main"),
        Some(RouteTarget::Nat(nat.id.clone()))
    );
    let seen = observe(&cloud, "lab", false).await.expect("observe");
    let failures = run(&cloud, &plan_nat_off(&seen), false).await;
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(
        default_route(&cloud, "rtb-main"),
        Some(RouteTarget::TransitGateway("tgw-1".into()))
    );
    assert!(cloud.world().addresses.is_empty());
}

fn answer(action: &str, code: &str) -> CloudError {
    CloudError::answered("ec2", action, code, "injected")
}

#[tokio::test(start_paused = true)]
async fn transient_answers_are_retried_and_the_run_converges() {
    let cloud = FakeCloud::lab();
    let want = desired(&cloud, true).await;
    // AWS failing on its side, throttling a create, and busy with the endpoint's changes.
    cloud.fail_next(
        "AuthorizeClientVpnIngress",
        2,
        answer("AuthorizeClientVpnIngress", "InternalError"),
    );
    cloud.fail_next(
        "AssociateClientVpnTargetNetwork",
        2,
        answer("AssociateClientVpnTargetNetwork", "RequestLimitExceeded"),
    );
    cloud.fail_next(
        "CreateClientVpnRoute",
        1,
        answer("CreateClientVpnRoute", "ConcurrentMutationLimitExceeded"),
    );
    let r = Recorder::default();
    let seen = observe(&cloud, "lab", false).await.expect("observe");
    let steps = plan_setup(&want, &seen).expect("plan");
    let upload = upload();
    let inputs = Inputs {
        endpoint: Some(&want.endpoint),
        upload: Some(&upload),
        crl_pem: Some(&want.crl_pem),
        ..Inputs::default()
    };
    executor(&cloud, &r)
        .run(&steps, &seen, &inputs, false)
        .await
        .into_result()
        .expect("setup survives transient answers");
    assert_eq!(replan(&cloud, &want).await, [Action::WriteProfiles]);
    let w = cloud.world();
    // Each faulted call was made once more per fault, and no more.
    assert_eq!(w.calls.get("AuthorizeClientVpnIngress"), Some(&(2 + 2)));
    assert_eq!(
        w.calls.get("AssociateClientVpnTargetNetwork"),
        Some(&(2 + 2))
    );
    assert_eq!(w.calls.get("CreateClientVpnRoute"), Some(&(2 + 1)));
    drop(w);
    let lines = r.0.lock().expect("lines").clone();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("AWS failed: injected; again in")),
        "{lines:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_create_is_repeated_with_its_token_or_not_at_all() {
    // The endpoint's create carries a token: repeated after AWS's failure, one endpoint.
    let cloud = FakeCloud::lab();
    let want = desired(&cloud, false).await;
    cloud.fail_next(
        "CreateClientVpnEndpoint",
        1,
        answer("CreateClientVpnEndpoint", "InternalError"),
    );
    setup(&cloud, &want).await.expect("retried with its token");
    assert_eq!(cloud.world().calls.get("CreateClientVpnEndpoint"), Some(&2));
    assert_eq!(cloud.world().endpoints.len(), 1);
    // An Elastic IP takes no token: an internal error may hide one that was made, so it is
    // not repeated; the next run finds what there is by its tags and goes on.
    cloud.fail_next(
        "AllocateAddress",
        1,
        answer("AllocateAddress", "InternalError"),
    );
    let e = nat_on(&cloud, false).await.expect_err("not retried");
    assert_eq!(e.step, "allocate an Elastic IP");
    assert_eq!(cloud.world().calls.get("AllocateAddress"), Some(&1));
    nat_on(&cloud, false).await.expect("second run");
    assert_eq!(cloud.world().addresses.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_endpoint_never_has_more_changes_under_way_than_the_budget() {
    for limit in [None, Some(10), Some(3)] {
        let cloud = FakeCloud::lab();
        cloud.world().concurrent_mutation_limit = limit;
        let mut want = desired(&cloud, true).await;
        for i in 0..20u8 {
            want.authorize
                .push(format!("10.{}.0.0/16", 100 + i).parse().expect("cidr"));
        }
        setup(&cloud, &want)
            .await
            .unwrap_or_else(|e| panic!("limit {limit:?}: {e:?}"));
        let budget = Policies::default().retry.endpoint_budget as usize;
        let w = cloud.world();
        // The budget counts an association twice, as AWS does with its VPC route; the fake
        // counts the route as a route of its own.
        assert!(
            w.peak_in_flight <= budget,
            "limit {limit:?}: peak {} over the budget {budget}",
            w.peak_in_flight
        );
        assert!(w.peak_in_flight >= budget.min(limit.unwrap_or(budget)) - 1);
        assert_eq!(
            w.endpoints[0].rules.len(),
            want.authorize.len(),
            "limit {limit:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_nat_gateway_is_reported_with_aws_reason() {
    let cloud = FakeCloud::lab();
    cloud.world().nat_failures = 1;
    let e = nat_on(&cloud, false).await.expect_err("the NAT fails");
    match &e.error {
        WaitError::Cloud(c) => {
            assert!(
                c.what.contains("InsufficientFreeAddressesInSubnet") && c.what.contains("nat off"),
                "{c}"
            );
        }
        other => panic!("{other:?}"),
    }
    // The failed gateway let its address go: the next nat on reuses it.
    nat_on(&cloud, false).await.expect("second nat on");
    assert_eq!(
        cloud.world().addresses.len(),
        1,
        "the Elastic IP was reused"
    );
}

/// "No mutation of AWS outside the executor", checked over the source: every method of the
/// cloud traits is classified here (a new one fails this test until it is), and no file but
/// the executor's steps, the adapters (`sdk`, `fake`) and the traits calls a mutating one.
#[test]
fn only_the_executor_calls_a_mutating_cloud_method() {
    const READS: &[&str] = &[
        "find_vpc",
        "find_subnet",
        "find_security_group",
        "tagged_certificates",
        "certificate_body",
        "tagged_endpoints",
        "endpoints_in_region",
        "associations",
        "rules",
        "routes",
        "export_configuration",
        "connections",
        "export_crl",
        "subnets_of",
        "route_tables",
        "tagged_nat_gateways",
        "tagged_addresses",
        "nat_gateway_state",
        "schedules",
        "role",
        "state_machines",
    ];
    const MUTATES: &[&str] = &[
        "import_certificate",
        "delete_certificate",
        "create_endpoint",
        "modify_endpoint",
        "delete_endpoint",
        "associate",
        "disassociate",
        "authorize",
        "revoke_ingress",
        "delete_client_route",
        "create_route",
        "terminate_user",
        "import_crl",
        "tag_endpoint",
        "tag_certificate",
        "allocate_address",
        "create_nat_gateway",
        "delete_nat_gateway",
        "release_address",
        "set_route",
        "delete_route",
        "tag_resource",
        "create_schedule_group",
        "put_schedule",
        "delete_schedule",
        "delete_schedule_group",
        "put_role",
        "delete_role",
        "put_state_machine",
        "delete_state_machine",
    ];
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let traits = std::fs::read_to_string(root.join("aws/cloud.rs")).expect("cloud.rs");
    for line in traits.lines() {
        if let Some(rest) = line.trim().strip_prefix("async fn ") {
            let name = rest.split(['(', '<']).next().unwrap_or_default();
            assert!(
                READS.contains(&name) || MUTATES.contains(&name),
                "classify the cloud method `{name}` as a read or a mutation in this test"
            );
        }
    }
    let allowed = [
        "aws/exec/steps.rs",
        "aws/exec/tests.rs",
        "aws/fake.rs",
        "aws/cloud.rs",
    ];
    let mut files = vec![root.clone()];
    let mut offenders = Vec::new();
    let mut scanned = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read_dir") {
                files.push(entry.expect("entry").path());
            }
            continue;
        }
        let rel = path.strip_prefix(&root).expect("under src");
        let rel = rel.to_string_lossy().replace('\\', "/");
        if !rel.ends_with(".rs") || rel.starts_with("aws/sdk/") || allowed.contains(&&*rel) {
            continue;
        }
        scanned += 1;
        let text = std::fs::read_to_string(&path).expect("source");
        for (n, line) in text.lines().enumerate() {
            for m in MUTATES {
                if line.contains(&format!(".{m}(")) {
                    offenders.push(format!("src/{rel}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(scanned > 30, "scanned only {scanned} files");
    assert!(offenders.is_empty(), "{offenders:#?}");
}

#[tokio::test(start_paused = true)]
async fn working_hours_arm_the_machines_and_schedules_and_teardown_removes_them() {
    let cloud = FakeCloud::lab();
    let want = desired(&cloud, false).await;
    setup(&cloud, &want).await.expect("setup");
    let hours = Recurring::Hours {
        sleep: "cron(0 19 ? * MON-FRI *)".into(),
        wake: "cron(0 7 ? * MON-FRI *)".into(),
        timezone: "Europe/Berlin".into(),
    };
    let seen = observe(&cloud, "lab", false).await.expect("observe");
    let steps = ordered(plan_recurring(hours.clone()));
    let inputs = Inputs {
        account: Some("123456789012"),
        region: Some("us-east-1"),
        ..Inputs::default()
    };
    let r = Recorder::default();
    let ran = executor(&cloud, &r)
        .run(&steps, &seen, &inputs, false)
        .await;
    assert!(ran.failures.is_empty(), "{:?}", ran.failures);
    assert_eq!(ran.recurring, vec![hours.clone()]);
    let machines = cloud.world().state_machines.clone();
    assert_eq!(
        machines.keys().collect::<Vec<_>>(),
        ["vpnctl-lab-idle", "vpnctl-lab-sleep", "vpnctl-lab-wake"]
    );
    // The machines run as a role of their own, which only Step Functions may assume.
    let roles = cloud.world().roles.clone();
    assert_eq!(
        roles.keys().collect::<Vec<_>>(),
        ["vpnctl-lab-scheduler", "vpnctl-lab-states"]
    );
    assert!(
        roles["vpnctl-lab-states"]
            .trust
            .contains("states.amazonaws.com")
    );
    assert!(
        !roles["vpnctl-lab-states"]
            .trust
            .contains("scheduler.amazonaws.com")
    );
    let all = schedules(&cloud);
    let wake = all.get(HOURS_WAKE).expect("the wake schedule");
    assert!(
        wake.input.contains(&machines["vpnctl-lab-wake"].0),
        "{wake:?}"
    );
    assert_eq!(
        recurring_of(&all.values().cloned().collect::<Vec<_>>()),
        vec![hours]
    );
    // Off removes the schedules; teardown the machines and the rest.
    let seen = observe(&cloud, "lab", false).await.expect("observe");
    let off = plan_recurring_off(&seen, RecurringKind::Hours);
    assert!(run(&cloud, &off, false).await.is_empty());
    assert!(schedules(&cloud).is_empty());
    let seen = observe(&cloud, "lab", false).await.expect("observe");
    assert_eq!(seen.state_machines.len(), 3);
    let steps = ordered([plan_teardown(&seen), plan_remove_deadlines(&seen)].concat());
    assert!(run(&cloud, &steps, false).await.is_empty());
    assert!(cloud.world().state_machines.is_empty());
    assert!(cloud.world().roles.is_empty());
}

//! Table tests of every planner, with plain `Observed` values.

use super::*;
use crate::error::Error;
use std::collections::BTreeSet;

fn desired(full_tunnel: bool) -> Desired {
    let vpc = Vpc {
        id: "vpc-1".into(),
        name: Some("lab-vpc".into()),
        cidrs: vec!["10.0.0.0/16".parse().unwrap()],
    };
    let subnets = vec![
        Subnet {
            id: "subnet-a".into(),
            name: None,
            vpc_id: "vpc-1".into(),
            az: "us-east-1a".into(),
            cidr: None,
            available_ips: None,
        },
        Subnet {
            id: "subnet-b".into(),
            name: None,
            vpc_id: "vpc-1".into(),
            az: "us-east-1b".into(),
            cidr: None,
            available_ips: None,
        },
    ];
    let mut authorize = vec!["10.0.0.0/16".parse().unwrap()];
    if full_tunnel {
        authorize.push("0.0.0.0/0".parse().unwrap());
    }
    Desired {
        deployment: "lab".into(),
        endpoint: EndpointSpec {
            name: "lab".into(),
            client_cidr: "10.83.0.0/16".parse().unwrap(),
            vpc_id: vpc.id.clone(),
            split_tunnel: !full_tunnel,
            dns_servers: vec!["10.0.0.2".parse().unwrap()],
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
        server_cert_pem: "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n".into(),
        crl_pem: "-----BEGIN X509 CRL-----\nCRL\n-----END X509 CRL-----\n".into(),
        ca_pem: String::new(),
    }
}

fn endpoint(want: &Desired) -> Endpoint {
    Endpoint {
        id: "cvpn-endpoint-1".into(),
        state: "available".into(),
        dns_name: Some("*.cvpn-endpoint-1.prod.clientvpn.us-east-1.amazonaws.com".into()),
        client_cidr: Some(want.endpoint.client_cidr),
        vpc_id: Some("vpc-1".into()),
        split_tunnel: want.endpoint.split_tunnel,
        dns_servers: vec!["10.0.0.2".into()],
        transport: Some(Transport::Udp),
        port: Some(443),
        security_groups: vec!["sg-1".into()],
        description: Some("vpnctl lab".into()),
        server_cert_arn: Some("arn:cert".into()),
        log_group: None,
        options: Default::default(),
        user_auth: None,
        certificates: true,
        created: Some(0),
        tags: tags_for("lab", "lab"),
    }
}

fn converged(want: &Desired) -> Observed {
    let routes: Vec<Route> = want
        .routed()
        .into_iter()
        .flat_map(|cidr| {
            want.subnets.iter().map(move |s| Route {
                description: Some(owned_description("lab")),
                cidr: cidr.clone(),
                subnet_id: s.id.clone(),
                origin: "add-route".into(),
                state: "active".into(),
            })
        })
        .collect();
    Observed {
        certificates: vec![Certificate {
            arn: "arn:cert".into(),
            tags: tags_for("lab", "lab"),
            domain: None,
            not_after: None,
            created: Some(1),
            in_use_by: vec![],
        }],
        endpoints: vec![EndpointView {
            endpoint: Some(endpoint(want)),
            associations: want
                .subnets
                .iter()
                .map(|s| Association {
                    id: format!("assoc-{}", s.id),
                    subnet_id: s.id.clone(),
                    state: "associated".into(),
                })
                .collect(),
            rules: want
                .authorize
                .iter()
                .map(|c| AuthRule {
                    group: None,
                    description: Some(owned_description("lab")),
                    cidr: c.to_string(),
                    state: "active".into(),
                })
                .collect(),
            routes,
            connections: vec![],
            crl: Some(want.crl_pem.clone()),
        }],
        server_cert_body: Some(want.server_cert_pem.replace('\n', "\r\n")),
        ..Default::default()
    }
}

fn actions(steps: &[Step]) -> Vec<Action> {
    steps.iter().map(|s| s.action.clone()).collect()
}

/// A sleep plan's record (empty when it records nothing).
fn record_of(steps: &[Step]) -> Tags {
    steps
        .iter()
        .find_map(|s| match &s.action {
            Action::RecordSleep { record } => Some(record.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

#[test]
fn from_nothing_everything_in_dependency_order() {
    let want = desired(true);
    let steps = plan_setup(&want, &Observed::default()).unwrap();
    let phases: Vec<Phase> = steps.iter().map(|s| s.phase).collect();
    assert!(phases.windows(2).all(|w| w[0] <= w[1]));
    let a = actions(&steps);
    assert_eq!(a[0], Action::ImportCertificate { reimport_arn: None });
    assert_eq!(a[1], Action::CreateEndpoint);
    assert_eq!(
        a.iter()
            .filter(|x| matches!(x, Action::Associate { .. }))
            .count(),
        2
    );
    assert_eq!(
        a.iter()
            .filter(|x| matches!(x, Action::Authorize { .. }))
            .count(),
        2
    );
    assert_eq!(
        a.iter()
            .filter(|x| matches!(x, Action::CreateRoute { .. }))
            .count(),
        2
    );
    assert_eq!(a.last(), Some(&Action::WriteProfiles));
}

#[test]
fn converged_state_plans_only_profiles() {
    for full in [false, true] {
        let want = desired(full);
        let steps = plan_setup(&want, &converged(&want)).unwrap();
        assert_eq!(
            actions(&steps),
            vec![Action::WriteProfiles],
            "full_tunnel={full}"
        );
    }
}

#[test]
fn interrupted_setup_continues_with_waits() {
    let want = desired(false);
    let mut seen = converged(&want);
    seen.endpoints[0].associations[0].state = "associating".into();
    seen.endpoints[0].associations.remove(1);
    seen.endpoints[0].rules[0].state = "authorizing".into();
    let a = actions(&plan_setup(&want, &seen).unwrap());
    assert!(a.contains(&Action::WaitAssociation {
        subnet: "subnet-a".into(),
        state: "associating".into()
    }));
    assert!(a.contains(&Action::Associate {
        subnet: "subnet-b".into(),
        az: "us-east-1b".into()
    }));
    assert!(a.contains(&Action::WaitRule {
        cidr: "10.0.0.0/16".into(),
        group: None,
        state: "authorizing".into()
    }));
    assert!(!a.contains(&Action::CreateEndpoint));
}

#[test]
fn renewed_server_certificate_is_reimported_to_the_same_arn() {
    use crate::pki::cert::{self, Ca, Leaf, Serial};
    let now = time::OffsetDateTime::now_utc();
    let make_ca = |cn: &str| {
        let key = cert::new_key().unwrap();
        let pem = cert::make_ca(cn, &key, &Serial::random().unwrap(), now, 30).unwrap();
        Ca::load(&pem, key).unwrap()
    };
    let server = |ca: &Ca| {
        ca.sign(
            Leaf::Server("vpn.lab.internal"),
            &cert::new_key().unwrap(),
            &Serial::random().unwrap(),
            now,
            10,
        )
        .unwrap()
    };
    let ours = make_ca("ours");
    let mut want = desired(false);
    want.ca_pem = ours.cert_pem.clone();
    want.server_cert_pem = server(&ours);
    // ACM holds an older server certificate of the same CA: a renewal, re-imported in place.
    let mut seen = converged(&want);
    seen.server_cert_body = Some(server(&ours));
    let a = actions(&plan_setup(&want, &seen).unwrap());
    assert_eq!(
        a[0],
        Action::ImportCertificate {
            reimport_arn: Some("arn:cert".into())
        }
    );
    // ACM holds one of another CA: another PKI uses this deployment name. Refuse.
    seen.server_cert_body = Some(server(&make_ca("theirs")));
    assert!(matches!(
        plan_setup(&want, &seen),
        Err(Error::Conflict { .. })
    ));
}

#[test]
fn drift_that_cannot_be_modified_is_an_error_and_the_rest_is_modified() {
    let want = desired(false);
    let mut seen = converged(&want);
    seen.endpoints[0].endpoint.as_mut().unwrap().client_cidr =
        Some("10.99.0.0/16".parse().unwrap());
    assert!(matches!(
        plan_setup(&want, &seen),
        Err(Error::Conflict { .. })
    ));
    let mut seen = converged(&want);
    seen.endpoints[0].endpoint.as_mut().unwrap().split_tunnel = false;
    let a = actions(&plan_setup(&want, &seen).unwrap());
    assert!(matches!(&a[0], Action::ModifyEndpoint { changes }
            if changes[0].contains("split tunnel")));
    let mut seen = converged(&want);
    let dup = seen.endpoints[0].clone();
    seen.endpoints.push(dup);
    assert!(matches!(
        plan_setup(&want, &seen),
        Err(Error::Conflict { .. })
    ));
}

#[test]
fn unwanted_associations_are_removed_and_full_tunnel_routes_restored() {
    let mut want = desired(true);
    let mut seen = converged(&want);
    seen.endpoints[0].routes.clear(); // e.g. after a disassociation deleted them
    want.subnets.pop();
    let a = actions(&plan_setup(&want, &seen).unwrap());
    assert!(a.contains(&Action::Disassociate {
        subnet: "subnet-b".into(),
        association: "assoc-subnet-b".into()
    }));
    assert!(a.contains(&Action::CreateRoute {
        cidr: "0.0.0.0/0".into(),
        subnet: "subnet-a".into()
    }));
    assert!(
        !a.iter()
            .any(|x| matches!(x, Action::CreateRoute { subnet, .. } if subnet == "subnet-b"))
    );
}

#[test]
fn teardown_orders_associations_endpoint_certificates() {
    let want = desired(true);
    let seen = converged(&want);
    let t = plan_teardown(&seen);
    let phases: Vec<Phase> = t.iter().map(|s| s.phase).collect();
    assert_eq!(
        phases,
        vec![Phase::Prune, Phase::Prune, Phase::Delete, Phase::Release]
    );
    assert!(t.iter().all(|s| s.action.lane() == Lane::Endpoint));
    // The endpoint's steps name it: they run after it is known, whatever else the run binds.
    assert!(
        t.iter()
            .filter(|s| !matches!(s.action, Action::DeleteCertificate { .. }))
            .all(|s| s.endpoint.as_deref() == Some("cvpn-endpoint-1"))
    );
    assert!(plan_teardown(&Observed::default()).is_empty());
}

fn subnet(id: &str, vpc: &str) -> Subnet {
    Subnet {
        id: id.into(),
        name: Some(id.into()),
        vpc_id: vpc.into(),
        az: "us-east-1a".into(),
        cidr: None,
        available_ips: None,
    }
}

fn table(id: &str, main: bool, subnets: &[&str], default: Option<RouteTarget>) -> RouteTable {
    RouteTable {
        id: id.into(),
        vpc_id: "vpc-1".into(),
        main,
        subnets: subnets.iter().map(|s| s.to_string()).collect(),
        routes: default
            .into_iter()
            .map(|t| TableRoute {
                destination: "0.0.0.0/0".into(),
                target: t,
            })
            .collect(),
    }
}

#[test]
fn nat_public_subnet_inference_and_route_tables() {
    let private = subnet("priv", "vpc-1");
    let public = subnet("pub", "vpc-1");
    let tables = vec![
        table("rtb-main", true, &[], None),
        table(
            "rtb-pub",
            false,
            &["pub"],
            Some(RouteTarget::Gateway("igw-1".into())),
        ),
    ];
    assert_eq!(table_of(&private, &tables).unwrap().id, "rtb-main");
    assert_eq!(table_of(&public, &tables).unwrap().id, "rtb-pub");
    assert_eq!(
        infer_public(&private, &[private.clone(), public.clone()], &tables)
            .unwrap()
            .id,
        "pub"
    );
    // No internet gateway route anywhere: a clear error.
    let no_igw = vec![table("rtb-main", true, &[], None)];
    assert!(infer_public(&private, &[private.clone(), public.clone()], &no_igw).is_err());
    // Two public subnets: ambiguous.
    let tables2 = vec![table(
        "rtb-main",
        true,
        &[],
        Some(RouteTarget::Gateway("igw-1".into())),
    )];
    assert!(
        infer_public(
            &private,
            &[private.clone(), public.clone(), subnet("pub2", "vpc-1")],
            &tables2
        )
        .is_err()
    );
}

fn nat(id: &str, state: &str, tags: Tags) -> NatGateway {
    NatGateway {
        id: id.into(),
        state: state.into(),
        subnet_id: "pub".into(),
        vpc_id: "vpc-1".into(),
        allocation_id: Some("eipalloc-1".into()),
        public_ip: None,
        created: Some(0),
        tags,
        failure_code: None,
        failure_message: None,
    }
}

#[test]
fn nat_on_plans_and_refuses_foreign_routes_without_force() {
    let want = |default: Option<RouteTarget>, force| NatWant {
        private: subnet("priv", "vpc-1"),
        public: subnet("pub", "vpc-1"),
        table: table("rtb-main", true, &[], default),
        expires: None,
        force,
    };
    let steps = plan_nat_on(&want(None, false), &Observed::default()).unwrap();
    assert_eq!(
        actions(&steps),
        vec![
            Action::AllocateAddress,
            Action::CreateNatGateway {
                subnet: "pub".into(),
                private: "priv".into(),
                table: "rtb-main".into(),
                replaced: None,
                expires: None,
            },
            Action::SetDefaultRoute {
                table: "rtb-main".into(),
                replace: false
            }
        ]
    );
    assert!(steps.iter().all(|s| s.action.lane() == Lane::Nat));
    let foreign = Some(RouteTarget::Gateway("igw-9".into()));
    assert!(matches!(
        plan_nat_on(&want(foreign.clone(), false), &Observed::default()),
        Err(Error::Conflict { .. })
    ));
    let steps = plan_nat_on(&want(foreign, true), &Observed::default()).unwrap();
    let steps = actions(&steps);
    assert!(steps.contains(&Action::CreateNatGateway {
        subnet: "pub".into(),
        private: "priv".into(),
        table: "rtb-main".into(),
        replaced: Some("igw-9".into()),
        expires: None,
    }));
    assert!(steps.contains(&Action::SetDefaultRoute {
        table: "rtb-main".into(),
        replace: true
    }));
    // Already on: nothing to do.
    let mut tags = tags_for("lab", "lab-nat");
    tags.insert(TAG_PRIVATE_SUBNET.into(), "priv".into());
    let seen = Observed {
        nat_gateways: vec![nat("nat-1", "available", tags)],
        ..Default::default()
    };
    assert!(
        plan_nat_on(&want(Some(RouteTarget::Nat("nat-1".into())), false), &seen)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn nat_off_restores_a_replaced_route_and_releases_the_address() {
    let mut tags = tags_for("lab", "lab-nat");
    tags.insert(TAG_ROUTE_TABLE.into(), "rtb-main".into());
    tags.insert(TAG_REPLACED_ROUTE.into(), "igw-9".into());
    let seen = Observed {
        nat_gateways: vec![nat("nat-1", "available", tags)],
        addresses: vec![Address {
            allocation_id: "eipalloc-1".into(),
            public_ip: None,
            association_id: Some("a".into()),
            tags: Tags::new(),
        }],
        route_tables: vec![table(
            "rtb-main",
            true,
            &[],
            Some(RouteTarget::Nat("nat-1".into())),
        )],
        ..Default::default()
    };
    let steps = plan_nat_off(&seen);
    assert_eq!(
        actions(&steps),
        vec![
            Action::RestoreDefaultRoute {
                table: "rtb-main".into(),
                target: "igw-9".into()
            },
            Action::DeleteNatGateway {
                nat: "nat-1".into()
            },
            Action::ReleaseAddress {
                allocation: "eipalloc-1".into()
            },
        ]
    );
    assert!(
        plan_teardown(&seen)
            .iter()
            .all(|s| s.action.lane() == Lane::Nat)
    );
}

#[test]
fn sleep_records_what_wake_restores() {
    let want = desired(true);
    let awake = converged(&want);
    let mut awake = awake;
    // The automatic VPC route of each association is not recorded; added routes are.
    awake.endpoints[0].routes.push(Route {
        description: None,
        cidr: "10.0.0.0/16".into(),
        subnet_id: "subnet-a".into(),
        origin: "associate".into(),
        state: "active".into(),
    });
    let (id, steps) = plan_sleep(&awake).unwrap();
    assert_eq!(id, "cvpn-endpoint-1");
    // The record first, in its own phase, then the two disassociations.
    assert_eq!(steps.len(), 3);
    assert!(matches!(steps[0].action, Action::RecordSleep { .. }));
    assert!(steps[1..].iter().all(|s| s.phase > steps[0].phase));
    let record = record_of(&steps);
    assert_eq!(record[TAG_ASLEEP_SUBNETS], "subnet-a,subnet-b");
    // A route through every subnet is said once.
    assert_eq!(record[TAG_ASLEEP_ROUTES], "0.0.0.0/0>subnet-a,subnet-b");
    assert_eq!(record[TAG_ASLEEP_RULES], "0.0.0.0/0,10.0.0.0/16");
    // Asleep: no associations, no routes (disassociation deleted them), rules kept.
    let mut asleep = awake.clone();
    asleep.endpoints[0].associations.clear();
    asleep.endpoints[0].routes.clear();
    asleep.endpoints[0]
        .endpoint
        .as_mut()
        .unwrap()
        .tags
        .extend(record);
    let (_, steps) = plan_wake(&asleep, None).unwrap();
    let a = actions(&steps);
    assert_eq!(a.last(), Some(&Action::ClearSleepRecord), "{a:?}");
    assert_eq!(
        a.iter()
            .filter(|x| matches!(x, Action::Associate { .. }))
            .count(),
        2
    );
    assert_eq!(
        a.iter()
            .filter(|x| matches!(x, Action::CreateRoute { .. }))
            .count(),
        2
    );
    assert!(
        !a.iter().any(|x| matches!(x, Action::Authorize { .. })),
        "rules survive a sleep"
    );
    let first_route = steps.iter().position(|s| s.phase == Phase::Routes).unwrap();
    assert!(
        steps[..first_route]
            .iter()
            .all(|s| s.phase == Phase::Network),
        "routes wait for the associations"
    );
    // Sleeping twice does nothing; waking an endpoint that never slept is an error.
    let (_, again) = plan_sleep(&asleep).unwrap();
    assert!(again.is_empty());
    assert!(
        plan_wake(&converged(&want), None).unwrap().1.is_empty(),
        "awake: nothing to do"
    );
    let mut bare = converged(&want);
    bare.endpoints[0].associations.clear();
    assert!(
        plan_wake(&bare, None).is_err(),
        "no record and no association: say to run setup"
    );
}

#[test]
fn switching_full_tunnel_off_removes_its_rule_and_routes() {
    let full = desired(true);
    let seen = converged(&full);
    let split = desired(false);
    let a = actions(&plan_setup(&split, &seen).unwrap());
    assert!(
        a.contains(&Action::RevokeRule {
            cidr: "0.0.0.0/0".into(),
            group: None
        }),
        "{a:?}"
    );
    assert!(a.contains(&Action::DeleteRoute {
        cidr: "0.0.0.0/0".into(),
        subnet: "subnet-a".into()
    }));
    assert!(a.contains(&Action::DeleteRoute {
        cidr: "0.0.0.0/0".into(),
        subnet: "subnet-b".into()
    }));
    assert!(!a.contains(&Action::RevokeRule {
        cidr: "10.0.0.0/16".into(),
        group: None
    }));
}

#[test]
fn rules_and_routes_vpnctl_did_not_create_are_left_alone() {
    let want = desired(false);
    let mut seen = converged(&want);
    seen.endpoints[0].rules.push(AuthRule {
        group: None,
        cidr: "172.31.0.0/16".into(),
        description: Some("added by hand".into()),
        state: "active".into(),
    });
    seen.endpoints[0].routes.push(Route {
        cidr: "172.31.0.0/16".into(),
        description: None,
        subnet_id: "subnet-a".into(),
        origin: "add-route".into(),
        state: "active".into(),
    });
    let a = actions(&plan_setup(&want, &seen).unwrap());
    assert_eq!(a, vec![Action::WriteProfiles], "{a:?}");
}

#[test]
fn an_interrupted_sleep_keeps_what_it_recorded() {
    let want = desired(true);
    let awake = converged(&want);
    let record = record_of(&plan_sleep(&awake).unwrap().1);
    // subnet-a went (with its route); the process died before subnet-b.
    let mut half = awake.clone();
    half.endpoints[0]
        .associations
        .retain(|a| a.subnet_id == "subnet-b");
    half.endpoints[0]
        .routes
        .retain(|r| r.subnet_id == "subnet-b");
    half.endpoints[0]
        .endpoint
        .as_mut()
        .unwrap()
        .tags
        .extend(record.clone());
    let (_, steps) = plan_sleep(&half).unwrap();
    assert_eq!(steps.len(), 2, "the record and one disassociation");
    let again = record_of(&steps);
    assert_eq!(
        again, record,
        "the second sleep must keep subnet-a and its route"
    );
    // Once awake with the record cleared, wake is a no-op rather than an error.
    let mut woken = awake.clone();
    let tags = &mut woken.endpoints[0].endpoint.as_mut().unwrap().tags;
    tags.extend(record);
    let cleared = cleared_sleep_record(tags);
    tags.extend(cleared);
    assert!(plan_wake(&woken, None).unwrap().1.is_empty());
}

/// An endpoint of `n_rules` authorization rules and 20 added routes (eight destinations via
/// both subnets, two via each one alone), every CIDR as long as an IPv4 CIDR gets (18
/// characters), carrying `extra` tags of its user's own.
fn large(n_rules: usize, extra: usize) -> Observed {
    let want = desired(false);
    let mut seen = converged(&want);
    let v = &mut seen.endpoints[0];
    v.rules = (0..n_rules)
        .map(|i| AuthRule {
            group: None,
            description: Some(owned_description("lab")),
            cidr: format!("192.168.{}.{}/32", 100 + i / 100, 100 + i % 100),
            state: "active".into(),
        })
        .collect();
    let route = |cidr: String, subnet: &str| Route {
        description: Some(owned_description("lab")),
        cidr,
        subnet_id: subnet.into(),
        origin: "add-route".into(),
        state: "active".into(),
    };
    for i in 0..8 {
        for s in ["subnet-a", "subnet-b"] {
            v.routes
                .push(route(format!("172.100.{}.128/25", 100 + i), s));
        }
    }
    for (i, s) in ["subnet-a", "subnet-a", "subnet-b", "subnet-b"]
        .iter()
        .enumerate()
    {
        v.routes
            .push(route(format!("172.200.{}.128/25", 100 + i), s));
    }
    // AWS's own automatic route comes back with the association: not recorded.
    v.routes.push(Route {
        description: None,
        cidr: "10.0.0.0/16".into(),
        subnet_id: "subnet-a".into(),
        origin: "associate".into(),
        state: "active".into(),
    });
    let tags = &mut v.endpoint.as_mut().unwrap().tags;
    tags.extend((0..extra).map(|i| (format!("team:label-{i}"), "x".repeat(256))));
    // Reserved for AWS: not counted against the 50.
    tags.insert("aws:cloudformation:stack-name".into(), "lab".into());
    seen
}

/// The endpoint as `sleep` leaves it: the record written, no association, no added route;
/// `rules_gone` also takes the rules away, so that wake has to restore them from the record.
fn asleep(awake: &Observed, record: &Tags, rules_gone: bool) -> Observed {
    let mut asleep = awake.clone();
    let v = &mut asleep.endpoints[0];
    v.associations.clear();
    v.routes.clear();
    if rules_gone {
        v.rules.clear();
    }
    v.endpoint.as_mut().unwrap().tags.extend(record.clone());
    asleep
}

/// What a wake plan restores: subnets, rules and routes.
type Restored = (
    BTreeSet<String>,
    BTreeSet<String>,
    BTreeSet<(String, String)>,
);

fn restored(steps: &[Step]) -> Restored {
    let mut r = Restored::default();
    for s in steps {
        match &s.action {
            Action::Associate { subnet, .. } => {
                r.0.insert(subnet.clone());
            }
            Action::Authorize { cidr, .. } => {
                r.1.insert(cidr.clone());
            }
            Action::CreateRoute { cidr, subnet } | Action::RestoreForeignRoute { cidr, subnet } => {
                r.2.insert((cidr.clone(), subnet.clone()));
            }
            _ => {}
        }
    }
    r
}

/// What the endpoint had before it slept, as wake should restore it.
fn had(awake: &Observed) -> Restored {
    let v = &awake.endpoints[0];
    (
        v.associations.iter().map(|a| a.subnet_id.clone()).collect(),
        v.rules.iter().map(|r| r.cidr.clone()).collect(),
        v.routes
            .iter()
            .filter(|r| r.origin != "associate")
            .map(|r| (r.cidr.clone(), r.subnet_id.clone()))
            .collect(),
    )
}

#[test]
fn a_large_record_fits_the_tags_and_wake_restores_exactly_it() {
    // 200 rules (AWS's default quota) and 20 routes, beside 10 tags of the user's own.
    let awake = large(200, 10);
    let (_, steps) = plan_sleep(&awake).unwrap();
    let record = record_of(&steps);
    let before = &awake.endpoints[0].endpoint.as_ref().unwrap().tags;
    // Every value within AWS's limit, split only between items: each part reads on its own.
    for (key, value) in &record {
        assert!(is_sleep_record_key(key), "{key}");
        assert!(
            value.chars().count() <= TAG_VALUE_MAX,
            "{key} has {} characters",
            value.len()
        );
        let cidrs: Vec<&str> = if key.starts_with(TAG_ASLEEP_ROUTES) {
            value
                .split(';')
                .filter(|i| !i.is_empty())
                .flat_map(|item| {
                    let (cidrs, subnets) = item.split_once('>').expect(item);
                    assert!(subnets.split(',').all(|s| s.starts_with("subnet-")));
                    cidrs.split(',')
                })
                .collect()
        } else if key.starts_with(TAG_ASLEEP_RULES) {
            value.split(',').filter(|c| !c.is_empty()).collect()
        } else {
            vec![]
        };
        for c in cidrs {
            assert!(c.parse::<ipnet::Ipv4Net>().is_ok(), "{key}: {c:?}");
        }
    }
    // The numbered parts follow on from the first, without a gap.
    let rule_parts = record
        .keys()
        .filter(|k| k.starts_with(TAG_ASLEEP_RULES))
        .count();
    assert!(rule_parts > 1, "200 rules take more than one value");
    for n in 2..=rule_parts {
        assert!(
            record.contains_key(&format!("{TAG_ASLEEP_RULES}-{n}")),
            "{n}"
        );
    }
    // The endpoint keeps within AWS's 50 tags (its `aws:` tag does not count).
    let after: BTreeSet<&String> = before.keys().chain(record.keys()).collect();
    let counted = after.iter().filter(|k| !k.starts_with("aws:")).count();
    assert!(counted <= TAGS_PER_RESOURCE, "{counted} tags");
    // A route through both subnets is said once.
    assert!(
        record[TAG_ASLEEP_ROUTES].contains(">subnet-a,subnet-b"),
        "{record:?}"
    );

    // Wake restores exactly what was recorded, all of it when the rules went too.
    let (_, steps) = plan_wake(&asleep(&awake, &record, true), None).unwrap();
    assert_eq!(restored(&steps), had(&awake));
    assert_eq!(steps.last().unwrap().action, Action::ClearSleepRecord);
    let (_, steps) = plan_wake(&asleep(&awake, &record, false), None).unwrap();
    let (subnets, rules, routes) = restored(&steps);
    assert_eq!((subnets, routes), (had(&awake).0, had(&awake).2));
    assert!(
        rules.is_empty(),
        "rules still there are not authorized again"
    );

    // An interrupted sleep reads its own multi-part record back and writes the same one.
    let mut half = awake.clone();
    let v = &mut half.endpoints[0];
    v.associations.retain(|a| a.subnet_id == "subnet-b");
    v.routes.retain(|r| r.subnet_id == "subnet-b");
    v.endpoint.as_mut().unwrap().tags.extend(record.clone());
    assert_eq!(record_of(&plan_sleep(&half).unwrap().1), record);

    // Clearing empties every part: no record is left to read or to merge.
    let mut woken = asleep(&awake, &record, false);
    let tags = &mut woken.endpoints[0].endpoint.as_mut().unwrap().tags;
    let cleared = cleared_sleep_record(tags);
    assert!(
        record
            .keys()
            .all(|k| cleared.get(k) == Some(&String::new()))
    );
    assert!(cleared.keys().all(|k| is_sleep_record_key(k)));
    tags.extend(cleared);
    assert!(!has_sleep_record(
        woken.endpoints[0].endpoint.as_ref().unwrap()
    ));
    assert!(plan_wake(&woken, None).is_err(), "nothing left to restore");
}

#[test]
fn at_aws_default_quotas_the_record_fits_when_routes_go_via_every_subnet() {
    // AWS's default quotas: 200 rules an endpoint, 100 routes a subnet association (its own
    // automatic route among them), and (the emulator's assumption) 5 associated subnets; every
    // id and CIDR as long as it gets.
    let want = desired(false);
    let mut seen = converged(&want);
    let v = &mut seen.endpoints[0];
    let subnets: Vec<String> = (0..5)
        .map(|i| format!("subnet-0{i}23456789abcdef0"))
        .collect();
    v.associations = subnets
        .iter()
        .map(|s| Association {
            id: format!("cvpn-assoc-0{s}"),
            subnet_id: s.clone(),
            state: "associated".into(),
        })
        .collect();
    v.rules = (0..200)
        .map(|i| AuthRule {
            group: None,
            description: None,
            cidr: format!("192.168.{}.{}/32", 100 + i / 100, 100 + i % 100),
            state: "active".into(),
        })
        .collect();
    // vpnctl's (`--route`): a route added by hand is recorded with a mark of its own.
    v.routes = (0..99)
        .flat_map(|i| {
            subnets.iter().map(move |s| Route {
                description: Some(owned_description("lab")),
                cidr: format!("172.{}.{}.128/25", 100 + i / 50, 100 + i % 50),
                subnet_id: s.clone(),
                origin: "add-route".into(),
                state: "active".into(),
            })
        })
        .collect();
    let record = record_of(&plan_sleep(&seen).unwrap().1);
    // docs/commands.md (sleep) and ARCHITECTURE.md give this number: change them with it.
    assert_eq!(record.len(), 34, "{record:?}");
    assert!(record.len() + 3 <= TAGS_PER_RESOURCE);
    let (_, steps) = plan_wake(&asleep(&seen, &record, true), None).unwrap();
    assert_eq!(restored(&steps), had(&seen));
    // Different routes through each subnet at the same quotas cannot be written in 50 tags
    // of 256 characters: refused, not failed half-way.
    let v = &mut seen.endpoints[0];
    for (n, r) in v.routes.iter_mut().enumerate() {
        r.cidr = format!("10.{}.{}.128/25", 100 + n / 100, 100 + n % 100);
    }
    let err = plan_sleep(&seen).unwrap_err();
    assert_eq!(err.exit_code(), 3);
}

#[test]
fn a_record_in_the_old_single_tag_form_is_still_read() {
    // As an older vpnctl left it: one tag a list, routes as CIDR>SUBNET;…
    let want = desired(false);
    let awake = converged(&want);
    let old: Tags = [
        (TAG_ASLEEP_SUBNETS, "subnet-a,subnet-b"),
        (
            TAG_ASLEEP_ROUTES,
            "0.0.0.0/0>subnet-a;0.0.0.0/0>subnet-b;10.9.0.0/16>subnet-a",
        ),
        (TAG_ASLEEP_RULES, "0.0.0.0/0,10.0.0.0/16,10.9.0.0/16"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let (_, steps) = plan_wake(&asleep(&awake, &old, true), None).unwrap();
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
    let route = |c: &str, s: &str| (c.to_string(), s.to_string());
    assert_eq!(
        restored(&steps),
        (
            strings(&["subnet-a", "subnet-b"]),
            strings(&["0.0.0.0/0", "10.0.0.0/16", "10.9.0.0/16"]),
            [
                route("0.0.0.0/0", "subnet-a"),
                route("0.0.0.0/0", "subnet-b"),
                route("10.9.0.0/16", "subnet-a"),
            ]
            .into_iter()
            .collect()
        )
    );
    // A sleep interrupted by an older vpnctl and finished by this one keeps the old record,
    // rewritten in the new form.
    let mut half = awake.clone();
    half.endpoints[0]
        .associations
        .retain(|a| a.subnet_id == "subnet-b");
    half.endpoints[0]
        .endpoint
        .as_mut()
        .unwrap()
        .tags
        .extend(old.clone());
    let record = record_of(&plan_sleep(&half).unwrap().1);
    assert_eq!(
        record[TAG_ASLEEP_ROUTES],
        "0.0.0.0/0>subnet-a,subnet-b;10.9.0.0/16>subnet-a"
    );
    assert_eq!(
        record[TAG_ASLEEP_RULES],
        "0.0.0.0/0,10.0.0.0/16,10.9.0.0/16"
    );
    assert_eq!(
        restored(&plan_wake(&asleep(&awake, &old, true), None).unwrap().1),
        restored(&plan_wake(&asleep(&awake, &record, true), None).unwrap().1),
    );
}

#[test]
fn parts_of_an_earlier_longer_record_are_emptied_and_never_read() {
    // An older vpnctl's wake cleared only the first part of each list of a longer record.
    let want = desired(false);
    let mut awake = converged(&want);
    let tags = &mut awake.endpoints[0].endpoint.as_mut().unwrap().tags;
    for (k, v) in [
        (TAG_ASLEEP_SUBNETS.to_string(), ""),
        (TAG_ASLEEP_RULES.to_string(), ""),
        (format!("{TAG_ASLEEP_RULES}-2"), "10.66.0.0/16"),
        (format!("{TAG_ASLEEP_ROUTES}-3"), "10.66.0.0/16>subnet-z"),
    ] {
        tags.insert(k, v.into());
    }
    let record = record_of(&plan_sleep(&awake).unwrap().1);
    assert_eq!(record[TAG_ASLEEP_RULES], "10.0.0.0/16");
    assert_eq!(record[&format!("{TAG_ASLEEP_RULES}-2")], "");
    assert_eq!(record[&format!("{TAG_ASLEEP_ROUTES}-3")], "");
    assert!(!record.values().any(|v| v.contains("10.66.")), "{record:?}");
    // Split tunnel: no route to record, and no tag spent on an empty list.
    assert!(!record.contains_key(TAG_ASLEEP_ROUTES), "{record:?}");
}

#[test]
fn a_record_that_cannot_fit_is_refused_before_any_change() {
    // 45 tags of the user's own leave no room for 200 rules (a dozen values and more).
    let awake = large(200, 45);
    let err = plan_sleep(&awake).unwrap_err();
    assert_eq!(err.exit_code(), 3, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("50 tags a resource") && text.contains("cvpn-endpoint-1"),
        "{text}"
    );
    assert!(err.hint().contains("nothing was changed"), "{}", err.hint());
    // With room, the same endpoint sleeps.
    assert!(plan_sleep(&large(200, 20)).is_ok());
}

#[test]
fn turning_connection_logging_on_modifies_the_endpoint() {
    let mut want = desired(false);
    let seen = converged(&want);
    want.endpoint.log_group = Some("/vpn/lab".into());
    let a = actions(&plan_setup(&want, &seen).unwrap());
    assert!(
        matches!(&a[0], Action::ModifyEndpoint { changes }
            if changes.iter().any(|c| c.contains("/vpn/lab"))),
        "{a:?}"
    );
}

#[test]
fn preflight_refuses_what_aws_would_refuse_before_anything_is_made() {
    let quotas = crate::config::Quotas::default();
    let mut want = desired(false);
    // A /28, and a /27 with too few free addresses, are not target networks.
    want.subnets[0].cidr = Some("10.0.9.0/28".parse().unwrap());
    let e = preflight(&want, &Observed::default(), &quotas, Some(0)).unwrap_err();
    assert!(
        matches!(&e, Error::Invalid { message, .. } if message.contains("smaller than a /27")),
        "{e}"
    );
    want.subnets[0].cidr = Some("10.0.9.0/27".parse().unwrap());
    want.subnets[0].available_ips = Some(19);
    let e = preflight(&want, &Observed::default(), &quotas, Some(0)).unwrap_err();
    assert!(e.to_string().contains("19 free IP address(es)"), "{e}");
    // Associated already: its addresses are its own, nothing more is needed.
    let seen = converged(&want);
    assert!(preflight(&want, &seen, &quotas, None).is_ok());
    want.subnets[0].available_ips = Some(20);
    // A new endpoint in a full Region, unless the account's quota was raised.
    let e = preflight(&want, &Observed::default(), &quotas, Some(5)).unwrap_err();
    assert!(
        matches!(&e, Error::Conflict { hint, .. } if hint.contains("endpoints_per_region")),
        "{e}"
    );
    let raised = crate::config::Quotas {
        endpoints_per_region: Some(10),
        ..quotas
    };
    assert!(preflight(&want, &Observed::default(), &raised, Some(5)).is_ok());
    // The endpoint exists: the Region's count does not matter.
    assert!(preflight(&want, &seen, &quotas, Some(5)).is_ok());
    // More rules than the quota.
    for i in 0..200u8 {
        want.authorize
            .push(format!("172.{}.{i}.0/24", 16 + i % 16).parse().unwrap());
    }
    let e = preflight(&want, &seen, &quotas, None).unwrap_err();
    assert!(e.to_string().contains("pass its quota of 200"), "{e}");
    // The endpoint holds them all already (a quota raised at AWS): a re-run adds none.
    assert!(preflight(&want, &converged(&want), &quotas, None).is_ok());
    // More routed destinations than routes an association holds (the VPC's route counts).
    let mut want = desired(false);
    want.routes = (0..100u8)
        .map(|i| format!("10.{}.0.0/16", 100 + i).parse().unwrap())
        .collect();
    let e = preflight(&want, &Observed::default(), &quotas, Some(0)).unwrap_err();
    assert!(e.to_string().contains("101 routes via each subnet"), "{e}");
    want.routes.pop();
    assert!(preflight(&want, &Observed::default(), &quotas, Some(0)).is_ok());
}

#[test]
fn a_routed_destination_gets_a_route_via_each_subnet_and_goes_when_no_longer_listed() {
    let mut want = desired(false);
    let peer: ipnet::Ipv4Net = "10.50.0.0/16".parse().unwrap();
    want.routes.push(peer);
    want.authorize.push(peer);
    let a = actions(&plan_setup(&want, &converged(&desired(false))).unwrap());
    for subnet in ["subnet-a", "subnet-b"] {
        assert!(
            a.contains(&Action::CreateRoute {
                cidr: "10.50.0.0/16".into(),
                subnet: subnet.into()
            }),
            "{a:?}"
        );
    }
    assert!(a.contains(&Action::Authorize {
        cidr: "10.50.0.0/16".into(),
        group: None
    }));
    // Converged with it: nothing to do. Dropped from the settings: its routes and rule go.
    let seen = converged(&want);
    assert_eq!(
        actions(&plan_setup(&want, &seen).unwrap()),
        [Action::WriteProfiles]
    );
    let a = actions(&plan_setup(&desired(false), &seen).unwrap());
    assert!(a.contains(&Action::RevokeRule {
        cidr: "10.50.0.0/16".into(),
        group: None
    }));
    assert_eq!(
        a.iter()
            .filter(|x| matches!(x, Action::DeleteRoute { cidr, .. } if cidr == "10.50.0.0/16"))
            .count(),
        2,
        "{a:?}"
    );
}

#[test]
fn a_route_added_by_hand_comes_back_as_theirs_after_a_sleep() {
    let want = desired(false);
    let mut awake = converged(&want);
    awake.endpoints[0].routes.push(Route {
        description: Some("to the office".into()),
        cidr: "192.168.50.0/24".into(),
        subnet_id: "subnet-a".into(),
        origin: "add-route".into(),
        state: "active".into(),
    });
    let record = record_of(&plan_sleep(&awake).unwrap().1);
    assert!(
        record
            .values()
            .any(|v| v.contains("!192.168.50.0/24>subnet-a")),
        "{record:?}"
    );
    let mut asleep = awake.clone();
    asleep.endpoints[0].associations.clear();
    asleep.endpoints[0].routes.clear();
    asleep.endpoints[0]
        .endpoint
        .as_mut()
        .unwrap()
        .tags
        .extend(record);
    let a = actions(&plan_wake(&asleep, None).unwrap().1);
    assert!(
        a.contains(&Action::RestoreForeignRoute {
            cidr: "192.168.50.0/24".into(),
            subnet: "subnet-a".into()
        }),
        "{a:?}"
    );
    assert!(
        !a.iter()
            .any(|x| matches!(x, Action::CreateRoute { cidr, .. } if cidr.contains("192.168.50"))),
        "never restored as vpnctl's own: {a:?}"
    );
}

/// The schedule's input, parsed.
fn input(s: &Schedule) -> serde_json::Value {
    serde_json::from_str(&s.input).expect("input is JSON")
}

/// The tags the `CreateTags` schedules write, merged.
fn tags_written(schedules: &[Schedule]) -> Tags {
    schedules
        .iter()
        .filter(|s| s.action == "ec2:createTags")
        .flat_map(|s| {
            input(s)["Tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    (
                        t["Key"].as_str().unwrap().to_string(),
                        t["Value"].as_str().unwrap().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_endpoint_deadline_does_server_side_exactly_what_sleep_does() {
    let at = 1_900_000_000;
    for seen in [converged(&desired(true)), large(180, 0)] {
        let (e, v) = the_endpoint(&seen).unwrap();
        let schedules = sleep_schedules(e, v, at, "arn:role").unwrap();
        let (_, sleep) = plan_sleep(&seen).unwrap();
        // The same record, marked as the deadline's, on the endpoint.
        let mut record = record_of(&sleep);
        record.insert(TAG_SLEPT_BY.into(), slept_by(at));
        assert_eq!(tags_written(&schedules), record);
        // The same disassociations, by association id.
        let mut gone: Vec<String> = schedules
            .iter()
            .filter(|s| s.action == "ec2:disassociateClientVpnTargetNetwork")
            .map(|s| {
                assert_eq!(input(s)["ClientVpnEndpointId"], e.id.as_str());
                input(s)["AssociationId"].as_str().unwrap().to_string()
            })
            .collect();
        gone.sort();
        let mut want: Vec<String> = sleep
            .iter()
            .filter_map(|s| match &s.action {
                Action::Disassociate { association, .. } => Some(association.clone()),
                _ => None,
            })
            .collect();
        want.sort();
        assert_eq!(gone, want);
        for s in &schedules {
            assert!(
                s.input.len() <= INPUT_MAX,
                "{} is {} long",
                s.name,
                s.input.len()
            );
            assert_eq!(s.at(), Some(at), "{s:?}");
            assert!(s.delete_after && s.enabled && s.retries > 0, "{s:?}");
            assert_eq!(Deadline::of(s), Some(Deadline::Endpoint), "{s:?}");
            assert!(s.name.len() <= 64, "{}", s.name);
        }
    }
    // A large record does not fit one input: it is split, and every part is written.
    let big = large(400, 0);
    let (e, v) = the_endpoint(&big).unwrap();
    let parts = sleep_schedules(e, v, at, "arn:role")
        .unwrap()
        .iter()
        .filter(|s| s.action == "ec2:createTags")
        .count();
    assert!(parts > 1, "{parts}");
    // Nothing associated: nothing to stop.
    let mut idle = converged(&desired(false));
    idle.endpoints[0].associations.clear();
    let (e, v) = the_endpoint(&idle).unwrap();
    assert!(sleep_schedules(e, v, at, "arn:role").unwrap().is_empty());
}

#[test]
fn the_nat_deadline_puts_the_route_back_deletes_the_gateway_then_releases_its_address() {
    let at = 1_900_000_000;
    let mut tags = tags_for("lab", "lab-nat");
    tags.insert(TAG_ROUTE_TABLE.into(), "rtb-1".into());
    let added = nat_schedules(&nat("nat-1", "available", tags.clone()), at, "arn:role");
    let by_name = |s: &[Schedule], n: &str| s.iter().find(|x| x.name == n).cloned().unwrap();
    let route = by_name(&added, "nat-route");
    assert_eq!(route.action, "ec2:deleteRoute");
    assert_eq!(
        input(&route),
        serde_json::json!({"RouteTableId": "rtb-1", "DestinationCidrBlock": "0.0.0.0/0"})
    );
    assert_eq!(
        input(&by_name(&added, "nat-delete")),
        serde_json::json!({"NatGatewayId": "nat-1"})
    );
    let release = by_name(&added, "nat-release");
    assert_eq!(
        input(&release),
        serde_json::json!({"AllocationId": "eipalloc-1"})
    );
    assert_eq!(release.at(), Some(at + RELEASE_AFTER));
    // A route `nat on --force` replaced is put back, to its own kind of target.
    for (old, key) in [
        ("igw-9", "GatewayId"),
        ("tgw-9", "TransitGatewayId"),
        ("eni-9", "NetworkInterfaceId"),
        ("pcx-9", "VpcPeeringConnectionId"),
    ] {
        tags.insert(TAG_REPLACED_ROUTE.into(), old.into());
        let s = nat_schedules(&nat("nat-1", "available", tags.clone()), at, "arn:role");
        let route = by_name(&s, "nat-route");
        assert_eq!(route.action, "ec2:replaceRoute");
        assert_eq!(input(&route)[key], old, "{route:?}");
    }
    let p = pending(&added);
    assert_eq!(
        p,
        vec![Pending {
            deadline: Deadline::Nat,
            at,
            schedules: 3
        }]
    );
}

#[test]
fn the_deadlines_mark_counts_against_the_endpoints_fifty_tags() {
    let mut seen = converged(&desired(false));
    fn tags(seen: &mut Observed) -> &mut Tags {
        &mut seen.endpoints[0].endpoint.as_mut().unwrap().tags
    }
    let mut i = 0;
    // Tags of the user's own until `vpnctl sleep` has exactly no room left.
    while plan_sleep(&seen).is_ok() {
        tags(&mut seen).insert(format!("own-{i}"), "x".into());
        i += 1;
    }
    tags(&mut seen).remove(&format!("own-{}", i - 1));
    assert!(plan_sleep(&seen).is_ok());
    let (e, v) = the_endpoint(&seen).unwrap();
    let err = sleep_schedules(e, v, 1_900_000_000, "arn:role").unwrap_err();
    assert!(err.to_string().contains("AWS allows 50"), "{err}");
    // One tag of the user's fewer, and the deadline fits.
    tags(&mut seen).remove(&format!("own-{}", i - 2));
    let (e, v) = the_endpoint(&seen).unwrap();
    assert!(sleep_schedules(e, v, 1_900_000_000, "arn:role").is_ok());
}

#[test]
fn a_nat_deadline_counts_only_while_the_gateway_it_names_is_live() {
    let mut seen = converged(&desired(false));
    let at = 1_900_000_000;
    let tags = tags_for("lab", "lab-nat");
    seen.schedules = nat_schedules(&nat("nat-1", "available", tags.clone()), at, "arn:role");
    assert!(!nat_deadline_holds(&seen), "no NAT gateway is there");
    seen.nat_gateways = vec![nat("nat-1", "available", tags.clone())];
    assert!(nat_deadline_holds(&seen));
    // The deadline fired (only the release is left) or the gateway was deleted by hand and a
    // new one made: the new one has no deadline.
    seen.nat_gateways = vec![
        nat("nat-1", "deleted", tags.clone()),
        nat("nat-2", "pending", tags.clone()),
    ];
    assert!(!nat_deadline_holds(&seen));
    seen.schedules.retain(|s| s.name == "nat-release");
    seen.nat_gateways = vec![nat("nat-1", "available", tags)];
    assert!(!nat_deadline_holds(&seen));
}

#[test]
fn deadline_plans_arm_keep_move_and_remove() {
    let mut seen = converged(&desired(false));
    let at = 1_900_000_000;
    let arm = plan_deadline(
        &seen,
        Deadline::Endpoint,
        &Want::At {
            at,
            ttl: "2h".into(),
        },
        &[],
    );
    assert_eq!(
        actions(&arm),
        vec![
            Action::PutSchedulerRole,
            Action::CreateScheduleGroup,
            Action::ArmDeadline {
                deadline: Deadline::Endpoint,
                at
            }
        ]
    );
    assert!(arm.iter().all(|s| s.action.lane() == Lane::Deadline));
    // Nothing pending: keep and off plan nothing; extend has nothing to move.
    assert!(plan_deadline(&seen, Deadline::Endpoint, &Want::Keep, &[]).is_empty());
    assert!(plan_deadline(&seen, Deadline::Endpoint, &Want::Off, &[]).is_empty());
    assert!(matches!(
        plan_extend(&seen, 60),
        Err(Error::NotFound { .. })
    ));
    // Pending: keep re-arms it at its own time (the associations may have changed).
    let (e, v) = the_endpoint(&seen).unwrap();
    seen.schedules = sleep_schedules(e, v, at, "arn:role").unwrap();
    // Pending and matching what AWS holds: a converged setup leaves it alone.
    assert!(plan_deadline(&seen, Deadline::Endpoint, &Want::Keep, &[]).is_empty());
    // Keep re-arms it at its own time when the plan changes what it stops, or when what AWS
    // holds changed since (here an association made by hand).
    let rearmed = Step::new(Action::ArmDeadline {
        deadline: Deadline::Endpoint,
        at,
    });
    let associate = Step::new(Action::Associate {
        subnet: "subnet-c".into(),
        az: String::new(),
    });
    let kept = plan_deadline(&seen, Deadline::Endpoint, &Want::Keep, &[associate]);
    assert!(kept.contains(&rearmed), "{kept:?}");
    let mut by_hand = seen.clone();
    by_hand.endpoints[0].associations.push(Association {
        id: "assoc-by-hand".into(),
        subnet_id: "subnet-c".into(),
        state: "associated".into(),
    });
    let kept = plan_deadline(&by_hand, Deadline::Endpoint, &Want::Keep, &[]);
    assert!(kept.contains(&rearmed), "{kept:?}");
    assert_eq!(
        actions(&plan_deadline(&seen, Deadline::Endpoint, &Want::Off, &[])),
        vec![Action::DisarmDeadline {
            deadline: Deadline::Endpoint
        }]
    );
    assert!(plan_deadline(&seen, Deadline::Nat, &Want::Off, &[]).is_empty());
    // Moved, the deadline's schedules are what arming at the new time makes: a converged
    // setup then finds nothing stale.
    let mut extended = seen.clone();
    extended.schedules = seen.schedules.iter().map(|s| moved(s, 1800)).collect();
    let (e, v) = the_endpoint(&seen).unwrap();
    assert_eq!(
        extended.schedules,
        sleep_schedules(e, v, at + 1800, "arn:role").unwrap()
    );
    assert!(plan_deadline(&extended, Deadline::Endpoint, &Want::Keep, &[]).is_empty());
    assert_eq!(
        actions(&plan_extend(&seen, 1800).unwrap()),
        vec![Action::MoveDeadline {
            deadline: Deadline::Endpoint,
            from: at,
            to: at + 1800
        }]
    );
    // Setup records the duration for wake; `none` clears it.
    let with_ttl = plan_endpoint_deadline(
        &seen,
        &Want::At {
            at,
            ttl: "2h".into(),
        },
        &[],
    );
    assert!(with_ttl.contains(&Step::new(Action::RecordTtl { ttl: "2h".into() })));
    seen.endpoints[0]
        .endpoint
        .as_mut()
        .unwrap()
        .tags
        .insert(TAG_TTL.into(), "2h".into());
    assert_eq!(recorded_ttl(&seen), Some("2h"));
    let off = plan_endpoint_deadline(&seen, &Want::Off, &[]);
    assert!(off.contains(&Step::new(Action::RecordTtl { ttl: String::new() })));
    // Teardown: every schedule with its group, then the role.
    seen.scheduler_role = Some("arn:aws:iam::1:role/vpnctl-lab-scheduler".into());
    let n = seen.schedules.len();
    assert_eq!(
        actions(&plan_remove_deadlines(&seen)),
        vec![
            Action::DeleteSchedules { schedules: n },
            Action::DeleteSchedulerRole {
                role: "arn:aws:iam::1:role/vpnctl-lab-scheduler".into()
            }
        ]
    );
}

#[test]
fn the_roles_are_for_the_scheduler_and_the_machines_of_this_deployment_only() {
    let trust: serde_json::Value =
        serde_json::from_str(&trust_policy("lab", "123456789012", "eu-west-1")).unwrap();
    assert_eq!(trust["Statement"].as_array().unwrap().len(), 1);
    let st = &trust["Statement"][0];
    assert_eq!(st["Principal"]["Service"], "scheduler.amazonaws.com");
    assert_eq!(st["Action"], "sts:AssumeRole");
    assert_eq!(
        st["Condition"]["StringEquals"]["aws:SourceAccount"],
        "123456789012"
    );
    assert_eq!(
        st["Condition"]["ArnLike"]["aws:SourceArn"],
        "arn:aws:scheduler:eu-west-1:123456789012:schedule-group/vpnctl-lab"
    );
    let trust: serde_json::Value =
        serde_json::from_str(&states_trust_policy("lab", "123456789012", "eu-west-1")).unwrap();
    assert_eq!(trust["Statement"].as_array().unwrap().len(), 1);
    let st = &trust["Statement"][0];
    assert_eq!(st["Principal"]["Service"], "states.amazonaws.com");
    let machines = serde_json::json!([
        "arn:aws:states:eu-west-1:123456789012:stateMachine:vpnctl-lab-sleep",
        "arn:aws:states:eu-west-1:123456789012:stateMachine:vpnctl-lab-wake",
        "arn:aws:states:eu-west-1:123456789012:stateMachine:vpnctl-lab-idle"
    ]);
    assert_eq!(st["Condition"]["ArnLike"]["aws:SourceArn"], machines);
    assert_eq!(
        st["Condition"]["StringEquals"]["aws:SourceAccount"],
        "123456789012"
    );
    let actions = |policy: &str| -> (BTreeSet<String>, Vec<serde_json::Value>) {
        let p: serde_json::Value = serde_json::from_str(policy).unwrap();
        let statements = p["Statement"].as_array().unwrap().clone();
        let actions = statements
            .iter()
            .flat_map(|s| s["Action"].as_array().unwrap().clone())
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        (actions, statements)
    };
    // Each role allows exactly what its callers call, nothing more: read from them.
    let iam = |service: &str, api: &str| {
        let mut c = api.chars();
        let first = c.next().unwrap().to_ascii_uppercase();
        format!("{service}:{first}{}", c.as_str())
    };
    let mut scheduled = BTreeSet::new();
    let seen = converged(&desired(false));
    let (e, v) = the_endpoint(&seen).unwrap();
    let mut tags = tags_for("lab", "lab-nat");
    tags.insert(TAG_ROUTE_TABLE.into(), "rtb-1".into());
    let mut schedules = sleep_schedules(e, v, 1, "r").unwrap();
    schedules.extend(nat_schedules(
        &nat("nat-1", "available", tags.clone()),
        1,
        "r",
    ));
    tags.insert(TAG_REPLACED_ROUTE.into(), "igw-1".into());
    schedules.extend(nat_schedules(&nat("nat-1", "available", tags), 1, "r"));
    let arn = |m: Machine| format!("arn:m:{m:?}");
    for r in [
        Recurring::Idle { after: 600 },
        Recurring::Hours {
            sleep: "cron(0 19 ? * MON-FRI *)".into(),
            wake: "cron(0 7 ? * MON-FRI *)".into(),
            timezone: "UTC".into(),
        },
    ] {
        schedules.extend(recurring_schedules("lab", &r, e, v, "r", arn).unwrap());
    }
    for s in &schedules {
        let (service, api) = s.action.split_once(':').unwrap();
        let service = if service == "sfn" { "states" } else { service };
        scheduled.insert(iam(service, api));
    }
    let (allowed, statements) = actions(&role_policy(
        "lab",
        "123456789012",
        "eu-west-1",
        &["rtb-1".into()],
    ));
    assert_eq!(allowed, scheduled);
    for s in &statements {
        let tagged = s["Condition"]["StringEquals"]["aws:ResourceTag/vpnctl:deployment"] == "lab";
        let table = s["Resource"]
            == serde_json::json!(["arn:aws:ec2:eu-west-1:123456789012:route-table/rtb-1"]);
        let ours = s["Resource"] == machines;
        assert!(tagged || table || ours, "{s}");
    }
    fn tasks(v: &serde_json::Value, out: &mut BTreeSet<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(r) = m.get("Resource").and_then(|r| r.as_str())
                    && let Some(api) = r.strip_prefix("arn:aws:states:::aws-sdk:ec2:")
                {
                    let mut c = api.chars();
                    let first = c.next().unwrap().to_ascii_uppercase();
                    out.insert(format!("ec2:{first}{}", c.as_str()));
                }
                m.values().for_each(|x| tasks(x, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| tasks(x, out)),
            _ => {}
        }
    }
    let mut called = BTreeSet::new();
    for m in Machine::ALL {
        tasks(&serde_json::from_str(&m.definition()).unwrap(), &mut called);
    }
    let (allowed, statements) = actions(&states_role_policy("lab", "123456789012", "eu-west-1"));
    assert_eq!(allowed, called);
    for s in &statements {
        let tagged = s["Condition"]["StringEquals"]["aws:ResourceTag/vpnctl:deployment"] == "lab";
        let reads = s["Action"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a.as_str().unwrap().starts_with("ec2:Describe"));
        let subnets = s["Resource"] == "arn:aws:ec2:eu-west-1:123456789012:subnet/*";
        assert!(tagged || reads || subnets, "{s}");
    }
}

#[test]
fn at_expressions_read_back() {
    let t = 1_900_000_000;
    let s = Schedule {
        name: "x".into(),
        expression: Schedule::at_expression(t),
        timezone: None,
        action: "ec2:deleteNatGateway".into(),
        input: "{}".into(),
        role_arn: "r".into(),
        enabled: true,
        delete_after: true,
        retries: 1,
        max_age_secs: 60,
    };
    assert_eq!(s.expression, "at(2030-03-17T17:46:40)");
    assert_eq!(s.at(), Some(t));
    let other = Schedule {
        timezone: Some("Europe/Berlin".into()),
        ..s.clone()
    };
    assert_eq!(
        other.at(),
        None,
        "vpnctl reads only the UTC times it writes"
    );
    let cron = Schedule {
        expression: "cron(0 19 ? * MON-FRI *)".into(),
        ..s
    };
    assert_eq!(cron.at(), None);
    assert_eq!(Deadline::of(&cron), None);
}

#[test]
fn working_hours_are_scheduler_cron_in_an_iana_zone() {
    assert_eq!(
        cron("0 19 ? * MON-FRI *", "--sleep").unwrap(),
        "cron(0 19 ? * MON-FRI *)"
    );
    assert_eq!(
        cron(" cron(0 7 1 * ? *) ", "--wake").unwrap(),
        "cron(0 7 1 * ? *)"
    );
    for bad in [
        "0 19 * * MON-FRI *",
        "0 19 ? * ? *",
        "0 19 ? * MON-FRI",
        "0 19 ? * MON-FRI * *",
        "0 19 ? * MON;FRI *",
        "",
    ] {
        let e = cron(bad, "--sleep").unwrap_err();
        assert_eq!(e.exit_code(), 2, "{bad}");
        assert!(e.to_string().contains("--sleep"), "{e}");
    }
    assert_eq!(timezone("Europe/Berlin").unwrap(), "Europe/Berlin");
    assert_eq!(timezone("UTC").unwrap(), "UTC");
    for bad in ["Berlin", "Europe/", "Europe/Ber lin", ""] {
        assert!(timezone(bad).is_err(), "{bad}");
    }
    assert_eq!(Recurring::checks(1800), 6);
    assert_eq!(Recurring::checks(1801), 7);
    assert_eq!(Recurring::checks(60), 1);
}

#[test]
fn recurring_schedules_start_the_machines_with_what_wake_restores() {
    let seen = converged(&desired(false));
    let (e, v) = the_endpoint(&seen).unwrap();
    let hours = Recurring::Hours {
        sleep: "cron(0 19 ? * MON-FRI *)".into(),
        wake: "cron(0 7 ? * MON-FRI *)".into(),
        timezone: "Europe/Berlin".into(),
    };
    let arn = |m: Machine| format!("arn:machine:{m:?}");
    let made = recurring_schedules("lab", &hours, e, v, "arn:role", arn).unwrap();
    assert_eq!(
        made.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        [HOURS_WAKE, HOURS_SLEEP]
    );
    let input = |s: &Schedule| -> serde_json::Value {
        let outer: serde_json::Value = serde_json::from_str(&s.input).unwrap();
        serde_json::from_str(outer["input"].as_str().unwrap()).unwrap()
    };
    let wake = input(&made[0]);
    // What wake restores is what `vpnctl sleep` would record now.
    let (_, record) = sleep_record(e, v).unwrap().unwrap();
    let subnets: BTreeSet<String> = record[TAG_ASLEEP_SUBNETS]
        .split(',')
        .map(str::to_string)
        .collect();
    let woken: BTreeSet<String> = wake["subnets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert_eq!(woken, subnets);
    assert!(made.iter().all(|s| !s.delete_after
        && s.action == "sfn:startExecution"
        && s.timezone.as_deref() == Some("Europe/Berlin")));
    // Read back as armed; idle sleep too.
    let idle = Recurring::Idle { after: 3600 };
    let mut all = made.clone();
    all.extend(recurring_schedules("lab", &idle, e, v, "arn:role", arn).unwrap());
    assert_eq!(recurring_of(&all), vec![hours.clone(), idle.clone()]);
    assert_eq!(input(&all[2])["checks"], 12);
    // Not deadlines: `pending` and `extend` leave them alone.
    let mut with = seen.clone();
    with.schedules = all;
    assert!(pending(&with.schedules).is_empty());
    // A setup that changes the endpoint arms them again, with their own times.
    let associate = Step::new(Action::Associate {
        subnet: "subnet-c".into(),
        az: String::new(),
    });
    let again = actions(&plan_recurring_keep(
        &with,
        std::slice::from_ref(&associate),
        &[],
    ));
    assert!(again.contains(&Action::ArmRecurring { recurring: hours }));
    assert!(again.contains(&Action::ArmRecurring { recurring: idle }));
    assert!(plan_recurring_keep(&with, &[], &[]).is_empty());
    assert!(
        !actions(&plan_recurring_keep(
            &with,
            &[associate],
            &[RecurringKind::Idle]
        ))
        .iter()
        .any(|a| matches!(
            a,
            Action::ArmRecurring {
                recurring: Recurring::Idle { .. }
            }
        ))
    );
    // An endpoint with nothing associated and no record has nothing to restore.
    let mut bare = seen.clone();
    bare.endpoints[0].associations.clear();
    let (e, v) = the_endpoint(&bare).unwrap();
    assert!(recurring_schedules("lab", &Recurring::Idle { after: 600 }, e, v, "r", arn).is_err());
    // Teardown removes the machines, between the schedules and the role.
    with.state_machines = vec![("vpnctl-lab-sleep".into(), "arn:m".into())];
    with.scheduler_role = Some("arn:role".into());
    let steps = ordered(plan_remove_deadlines(&with));
    let pos = |f: fn(&Action) -> bool| steps.iter().position(|s| f(&s.action)).unwrap();
    assert!(
        pos(|a| matches!(a, Action::DeleteSchedules { .. }))
            < pos(|a| matches!(a, Action::DeleteStateMachines { .. }))
    );
    assert!(
        pos(|a| matches!(a, Action::DeleteStateMachines { .. }))
            < pos(|a| matches!(a, Action::DeleteSchedulerRole { .. }))
    );
}

#[test]
fn the_state_machines_are_valid_json_and_every_next_names_a_state() {
    fn check(states: &serde_json::Map<String, serde_json::Value>, start: &str) {
        assert!(states.contains_key(start), "StartAt {start}");
        for (name, s) in states {
            for key in ["Next", "Default"] {
                if let Some(n) = s.get(key).and_then(|n| n.as_str()) {
                    assert!(states.contains_key(n), "{name}: {key} {n}");
                }
            }
            for c in s
                .get("Choices")
                .or(s.get("Catch"))
                .and_then(|c| c.as_array())
                .into_iter()
                .flatten()
            {
                let n = c["Next"].as_str().unwrap();
                assert!(states.contains_key(n), "{name}: {n}");
            }
            assert!(
                s.get("Next").is_some() || s.get("End").is_some() || {
                    let t = s["Type"].as_str().unwrap();
                    t == "Choice" || t == "Fail" || t == "Succeed"
                },
                "{name} neither ends nor goes on"
            );
            if let Some(p) = s.get("ItemProcessor") {
                check(
                    p["States"].as_object().unwrap(),
                    p["StartAt"].as_str().unwrap(),
                );
            }
        }
    }
    // State names are unique in the whole machine, item processors included (AWS refuses a
    // definition otherwise), and at most 80 characters.
    fn names(states: &serde_json::Map<String, serde_json::Value>, out: &mut Vec<String>) {
        for (name, s) in states {
            out.push(name.clone());
            if let Some(p) = s.get("ItemProcessor") {
                names(p["States"].as_object().unwrap(), out);
            }
        }
    }
    for m in Machine::ALL {
        let d: serde_json::Value = serde_json::from_str(&m.definition()).unwrap();
        check(
            d["States"].as_object().unwrap(),
            d["StartAt"].as_str().unwrap(),
        );
        let mut all = Vec::new();
        names(d["States"].as_object().unwrap(), &mut all);
        let unique: BTreeSet<&String> = all.iter().collect();
        assert_eq!(unique.len(), all.len(), "{m:?}: {all:?}");
        assert!(all.iter().all(|n| n.len() <= 80), "{all:?}");
    }
}

#[test]
fn only_the_options_given_are_converged_and_a_given_sign_in_must_match() {
    let mut want = desired(false);
    let mut seen = converged(&want);
    let e = seen.endpoints[0].endpoint.as_mut().unwrap();
    e.options = ObservedOptions {
        session_timeout_hours: Some(12),
        disconnect_on_session_timeout: Some(false),
        banner: Some("by hand".into()),
        client_route_enforcement: Some(true),
    };
    let modify = |want: &Desired, seen: &Observed| -> Option<Vec<String>> {
        plan_setup(want, seen)
            .unwrap()
            .into_iter()
            .find_map(|s| match s.action {
                Action::ModifyEndpoint { changes } => Some(changes),
                _ => None,
            })
    };
    // Nothing given: whatever the endpoint has stays (a banner set by hand included).
    assert_eq!(modify(&want, &seen), None);
    // Given and equal: nothing; given and different: exactly those.
    want.endpoint.options.session_timeout_hours = Some(12);
    want.endpoint.options.banner = Some(Some("by hand".into()));
    assert_eq!(modify(&want, &seen), None);
    want.endpoint.options.session_timeout_hours = Some(8);
    want.endpoint.options.banner = Some(None);
    want.endpoint.options.client_route_enforcement = Some(false);
    assert_eq!(
        modify(&want, &seen).unwrap(),
        [
            "session timeout → 8h",
            "login banner off",
            "client route enforcement off"
        ]
    );
    // A portal asked for on an endpoint without SAML changes nothing there.
    let mut portal = desired(false);
    portal.endpoint.options.self_service_portal = Some(true);
    assert_eq!(modify(&portal, &converged(&portal)), None);
    // A sign-in given must be the endpoint's; none given keeps the endpoint's.
    let mut saml = desired(false);
    saml.endpoint.user_auth = Some(UserAuth::Saml {
        provider_arn: "arn:aws:iam::1:saml-provider/idp".into(),
        self_service_portal: false,
    });
    let err = plan_setup(&saml, &converged(&desired(false))).unwrap_err();
    assert_eq!(err.exit_code(), 3, "{err}");
    let mut seen_saml = converged(&desired(false));
    seen_saml.endpoints[0].endpoint.as_mut().unwrap().user_auth = saml.endpoint.user_auth.clone();
    assert_eq!(modify(&desired(false), &seen_saml), None);
    saml.endpoint.options.self_service_portal = Some(true);
    assert_eq!(
        modify(&saml, &seen_saml).unwrap(),
        ["self-service portal on"]
    );
}

#[test]
fn group_rules_are_recorded_encoded_and_wake_never_widens_a_rule_to_every_client() {
    // A directory group's distinguished name holds commas: encoded in the list, read back whole.
    let dn = "CN=VPN Users,OU=Groups,DC=example,DC=com 100%";
    let item = rule_item("10.1.0.0/16", Some(dn));
    assert!(!item.contains(','), "{item}");
    assert_eq!(
        parse_rule_item(&item),
        ("10.1.0.0/16".to_string(), Some(dn.to_string()))
    );
    assert_eq!(parse_rule_item("10.1.0.0/16"), ("10.1.0.0/16".into(), None));

    let want = desired(false);
    let mut seen = converged(&want);
    let v = &mut seen.endpoints[0];
    v.associations.clear();
    v.routes.clear();
    let rule = |cidr: &str, group: Option<&str>| AuthRule {
        group: group.map(str::to_string),
        cidr: cidr.into(),
        description: None,
        state: "active".into(),
    };
    // The group's rule survives; a record an older vpnctl wrote lists it as a bare CIDR.
    v.rules.push(rule("10.1.0.0/16", Some(dn)));
    let e = v.endpoint.as_mut().unwrap();
    e.tags.insert(TAG_ASLEEP_SUBNETS.into(), "subnet-a".into());
    e.tags.insert(
        TAG_ASLEEP_RULES.into(),
        format!(
            "10.0.0.0/16,10.1.0.0/16,{}",
            rule_item("10.2.0.0/16", Some("ops"))
        ),
    );
    let (_, steps) = plan_wake(&seen, None).unwrap();
    let authorized: Vec<(String, Option<String>)> = actions(&steps)
        .into_iter()
        .filter_map(|a| match a {
            Action::Authorize { cidr, group } => Some((cidr, group)),
            _ => None,
        })
        .collect();
    // Not 10.1.0.0/16 for everyone: only the missing group rule comes back, for its group.
    assert_eq!(
        authorized,
        [("10.2.0.0/16".to_string(), Some("ops".to_string()))]
    );
    let _ = rule("x", None);
}

//! Table tests of every planner, with plain `Observed` values.

use super::*;
use crate::error::Error;

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
        },
        vpc,
        subnets,
        authorize,
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
    assert_eq!(
        record[TAG_ASLEEP_ROUTES],
        "0.0.0.0/0>subnet-a;0.0.0.0/0>subnet-b"
    );
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
            cidr: "0.0.0.0/0".into()
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
        cidr: "10.0.0.0/16".into()
    }));
}

#[test]
fn rules_and_routes_vpnctl_did_not_create_are_left_alone() {
    let want = desired(false);
    let mut seen = converged(&want);
    seen.endpoints[0].rules.push(AuthRule {
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
    woken.endpoints[0]
        .endpoint
        .as_mut()
        .unwrap()
        .tags
        .extend(cleared_sleep_record());
    assert!(plan_wake(&woken, None).unwrap().1.is_empty());
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
        cidr: "10.50.0.0/16".into()
    }));
    // Converged with it: nothing to do. Dropped from the settings: its routes and rule go.
    let seen = converged(&want);
    assert_eq!(
        actions(&plan_setup(&want, &seen).unwrap()),
        [Action::WriteProfiles]
    );
    let a = actions(&plan_setup(&desired(false), &seen).unwrap());
    assert!(a.contains(&Action::RevokeRule {
        cidr: "10.50.0.0/16".into()
    }));
    assert_eq!(
        a.iter()
            .filter(|x| matches!(x, Action::DeleteRoute { cidr, .. } if cidr == "10.50.0.0/16"))
            .count(),
        2,
        "{a:?}"
    );
}

//! The IAM permissions each command needs: one table, printed as a least-privilege policy by
//! `vpnctl iam-policy`, and checked by the tests against the calls each command makes on the
//! emulator (which counts them by IAM action name).

use crate::error::{Error, Result};
use serde_json::json;
use std::collections::BTreeSet;

/// Each command that reaches AWS (as typed after `vpnctl`) and the blocks of IAM actions it
/// may call on any of its paths. The blocks also hold the permissions AWS checks for a call's
/// side effect without a call of their own: `iam:PassRole` when a schedule or state machine is
/// given a role, `iam:CreateServiceLinkedRole` for an account's first endpoint, and each
/// service's tagging permission (`ec2:CreateTags`, `acm:AddTagsToCertificate`,
/// `iam:TagRole`, `scheduler:TagResource`, `states:TagResource`) for tags given at creation.
pub const TABLE: &[(&str, &[&[&str]])] = &[
    ("setup", &[OBSERVE, SETUP, DEADLINES, MACHINES, NAT_ON]),
    ("status", &[OBSERVE]),
    ("list", &[OBSERVE]),
    ("connections", &[OBSERVE]),
    ("kick", &[OBSERVE, END_SESSIONS]),
    ("sleep", &[OBSERVE, SLEEP, DISARM]),
    ("wake", &[OBSERVE, WAKE, PUSH_CRL, DEADLINES]),
    ("extend", &[OBSERVE, DEADLINES]),
    ("schedule", &[OBSERVE, DEADLINES, MACHINES]),
    ("nat on", &[OBSERVE, NAT_ON, DEADLINES]),
    ("nat off", &[OBSERVE, NAT_OFF, DISARM]),
    ("teardown", &[OBSERVE, TEARDOWN, SLEEP, NAT_OFF, DISARM]),
    ("pki revoke", &[OBSERVE, PUSH_CRL, END_SESSIONS]),
    ("pki merge-crl", &[OBSERVE, PUSH_CRL]),
    ("adopt", &[OBSERVE, ADOPT]),
    // Its DryRuns of the Client VPN changes ask whether the identity may make them: the
    // answer it wants, not a permission it needs.
    ("doctor", &[OBSERVE]),
];

/// Tagging an endpoint and the ACM certificates it uses (reads as observe's).
const ADOPT: &[&str] = &["ec2:CreateTags", "acm:AddTagsToCertificate"];

/// What every command reads to find the deployment by its tags (`aws::exec::observe`).
const OBSERVE: &[&str] = &[
    "sts:GetCallerIdentity",
    "ec2:DescribeClientVpnEndpoints",
    "ec2:DescribeClientVpnTargetNetworks",
    "ec2:DescribeClientVpnAuthorizationRules",
    "ec2:DescribeClientVpnRoutes",
    "ec2:DescribeClientVpnConnections",
    "ec2:ExportClientVpnClientCertificateRevocationList",
    "ec2:DescribeNatGateways",
    "ec2:DescribeAddresses",
    "acm:ListCertificates",
    "acm:ListTagsForCertificate",
    "acm:DescribeCertificate",
    "acm:GetCertificate",
    "scheduler:ListSchedules",
    "scheduler:GetSchedule",
    "iam:GetRole",
    "states:ListStateMachines",
];

/// Creating and converging the endpoint. The first endpoint of an account makes AWS create the
/// service-linked role AWSServiceRoleForClientVPN, which the caller must be allowed to; a SAML
/// sign-in's provider is looked up before anything is made.
const SETUP: &[&str] = &[
    "iam:CreateServiceLinkedRole",
    "iam:GetSAMLProvider",
    "ec2:DescribeVpcs",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "acm:ImportCertificate",
    "acm:AddTagsToCertificate",
    "ec2:CreateClientVpnEndpoint",
    "ec2:ModifyClientVpnEndpoint",
    "ec2:CreateTags",
    "ec2:AssociateClientVpnTargetNetwork",
    "ec2:DisassociateClientVpnTargetNetwork",
    "ec2:AuthorizeClientVpnIngress",
    "ec2:RevokeClientVpnIngress",
    "ec2:CreateClientVpnRoute",
    "ec2:DeleteClientVpnRoute",
    "ec2:ImportClientVpnClientCertificateRevocationList",
    "ec2:ExportClientVpnClientConfiguration",
];

/// Disassociating, with the record of what to restore in the endpoint's tags.
const SLEEP: &[&str] = &["ec2:DisassociateClientVpnTargetNetwork", "ec2:CreateTags"];

/// Associating again, restoring rules and routes, clearing the record.
const WAKE: &[&str] = &[
    "ec2:AssociateClientVpnTargetNetwork",
    "ec2:AuthorizeClientVpnIngress",
    "ec2:CreateClientVpnRoute",
    "ec2:CreateTags",
];

/// A new CRL to the endpoint (revoke, merge, or a repair of an interrupted PKI command).
const PUSH_CRL: &[&str] = &["ec2:ImportClientVpnClientCertificateRevocationList"];

const END_SESSIONS: &[&str] = &["ec2:TerminateClientVpnConnections"];

/// Arming deadlines: the schedule group, the role the Scheduler runs as, the schedules.
const DEADLINES: &[&str] = &[
    "scheduler:CreateScheduleGroup",
    "scheduler:TagResource",
    "scheduler:CreateSchedule",
    "scheduler:UpdateSchedule",
    "scheduler:DeleteSchedule",
    "iam:CreateRole",
    "iam:TagRole",
    "iam:PutRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:PassRole",
];

/// Removing the deadlines that no longer apply.
const DISARM: &[&str] = &["scheduler:DeleteSchedule"];

/// Working hours and idle sleep: the state machines the schedules start.
const MACHINES: &[&str] = &[
    "states:CreateStateMachine",
    "states:UpdateStateMachine",
    "states:DeleteStateMachine",
    "states:TagResource",
];

const NAT_ON: &[&str] = &[
    "ec2:DescribeSubnets",
    "ec2:DescribeRouteTables",
    "ec2:AllocateAddress",
    "ec2:CreateNatGateway",
    "ec2:CreateTags",
    "ec2:CreateRoute",
    "ec2:ReplaceRoute",
];

const NAT_OFF: &[&str] = &[
    "ec2:DescribeRouteTables",
    "ec2:DeleteRoute",
    "ec2:ReplaceRoute",
    "ec2:DeleteNatGateway",
    "ec2:ReleaseAddress",
];

/// Everything else teardown deletes.
const TEARDOWN: &[&str] = &[
    "ec2:DeleteClientVpnEndpoint",
    "acm:DeleteCertificate",
    "scheduler:DeleteScheduleGroup",
    "states:DeleteStateMachine",
    "iam:ListRolePolicies",
    "iam:DeleteRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:DetachRolePolicy",
    "iam:DeleteRole",
];

/// The roles vpnctl creates and passes: `vpnctl-<deployment>-scheduler` and `-states`.
const ROLES: &str = "arn:aws:iam::*:role/vpnctl-*";

/// The services vpnctl's roles are handed to.
const PASSED_TO: &[&str] = &["scheduler.amazonaws.com", "states.amazonaws.com"];

/// Every command name the table knows, in its order.
pub fn commands() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|(c, _)| *c)
}

/// The table's commands that `words` name: a command as typed (`setup`, `nat on`,
/// `pki revoke`), or a group (`nat`, `pki`) for every command of it; none for all of them.
pub fn select(words: &[String]) -> Result<Vec<&'static str>> {
    if words.is_empty() {
        return Ok(commands().collect());
    }
    let mut chosen = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let word = words[i].trim();
        let pair = words
            .get(i + 1)
            .map(|next| format!("{word} {}", next.trim()));
        let (found, used): (Vec<&str>, usize) =
            if let Some(c) = pair.as_deref().and_then(|p| commands().find(|c| *c == p)) {
                (vec![c], 2)
            } else if let Some(c) = commands().find(|c| *c == word) {
                (vec![c], 1)
            } else {
                let group: Vec<&str> = commands()
                    .filter(|c| c.split(' ').next() == Some(word) && c.contains(' '))
                    .collect();
                (group, 1)
            };
        if found.is_empty() {
            return Err(Error::invalid(
                format!("`{word}` is not a vpnctl command that calls AWS"),
                format!(
                    "name some of: {} (or none, for all of them)",
                    commands().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        for c in found {
            if !chosen.contains(&c) {
                chosen.push(c);
            }
        }
        i += used;
    }
    Ok(chosen)
}

/// The actions `commands` need, sorted, implied ones included.
pub fn actions(commands: &[&str]) -> BTreeSet<&'static str> {
    TABLE
        .iter()
        .filter(|(c, _)| commands.contains(c))
        .flat_map(|(_, blocks)| blocks.iter().flat_map(|b| b.iter().copied()))
        .collect()
}

/// The least-privilege policy for `commands`: IAM actions only on vpnctl's own roles (and a
/// role passed only to the services vpnctl hands it to), the SAML providers a sign-in names,
/// and Client VPN's service-linked role; everything else on any resource, since vpnctl finds
/// its resources by tag and creates them with names AWS picks.
pub fn policy(commands: &[&str]) -> serde_json::Value {
    let all = actions(commands);
    let (iam, other): (Vec<&str>, Vec<&str>) = all.iter().partition(|a| a.starts_with("iam:"));
    let special = [
        "iam:PassRole",
        "iam:GetSAMLProvider",
        "iam:CreateServiceLinkedRole",
    ];
    let roles: Vec<&str> = iam
        .iter()
        .copied()
        .filter(|a| !special.contains(a))
        .collect();
    let has = |a: &str| iam.contains(&a);
    let mut statements = Vec::new();
    if !other.is_empty() {
        statements.push(json!({
            "Sid": "VpnctlResources",
            "Effect": "Allow",
            "Action": other,
            "Resource": "*",
        }));
    }
    if !roles.is_empty() {
        statements.push(json!({
            "Sid": "VpnctlRoles",
            "Effect": "Allow",
            "Action": roles,
            "Resource": ROLES,
        }));
    }
    if has("iam:PassRole") {
        statements.push(json!({
            "Sid": "VpnctlPassRoles",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": ROLES,
            "Condition": {"StringEquals": {"iam:PassedToService": PASSED_TO}},
        }));
    }
    if has("iam:GetSAMLProvider") {
        statements.push(json!({
            "Sid": "VpnctlSamlProviders",
            "Effect": "Allow",
            "Action": ["iam:GetSAMLProvider"],
            "Resource": "arn:aws:iam::*:saml-provider/*",
        }));
    }
    if has("iam:CreateServiceLinkedRole") {
        statements.push(json!({
            "Sid": "VpnctlClientVpnServiceRole",
            "Effect": "Allow",
            "Action": ["iam:CreateServiceLinkedRole"],
            "Resource": "arn:aws:iam::*:role/aws-service-role/clientvpn.amazonaws.com/*",
            "Condition": {"StringEquals": {"iam:AWSServiceName": "clientvpn.amazonaws.com"}},
        }));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn commands_are_named_as_typed_or_by_group() {
        assert_eq!(select(&[]).unwrap().len(), TABLE.len());
        assert_eq!(select(&words(&["nat", "on"])).unwrap(), ["nat on"]);
        assert_eq!(select(&words(&["nat"])).unwrap(), ["nat on", "nat off"]);
        assert_eq!(
            select(&words(&["status", "pki", "status"])).unwrap(),
            ["status", "pki revoke", "pki merge-crl"]
        );
        // "nat" then "status": the pair is no command, so the group and then status.
        assert_eq!(
            select(&words(&["nat", "status"])).unwrap(),
            ["nat on", "nat off", "status"]
        );
        for bad in [&["pki", "issue"][..], &["frobnicate"], &["on"]] {
            let e = select(&words(bad)).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn roles_are_only_vpnctl_s_and_passed_only_to_its_services() {
        let p = policy(&["setup"]);
        let st = p["Statement"].as_array().unwrap();
        let by_sid = |sid: &str| st.iter().find(|s| s["Sid"] == sid).unwrap();
        let other = by_sid("VpnctlResources")["Action"].as_array().unwrap();
        assert!(
            other
                .iter()
                .all(|a| !a.as_str().unwrap().starts_with("iam:"))
        );
        assert!(other.contains(&json!("ec2:CreateClientVpnEndpoint")));
        assert_eq!(by_sid("VpnctlRoles")["Resource"], ROLES);
        let pass = by_sid("VpnctlPassRoles");
        assert_eq!(pass["Action"], json!(["iam:PassRole"]));
        assert_eq!(
            pass["Condition"]["StringEquals"]["iam:PassedToService"],
            json!(PASSED_TO)
        );
        // A read-only command gets reads only, and no role to pass.
        let status = policy(&["status"]);
        let sids: Vec<&str> = status["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Sid"].as_str().unwrap())
            .collect();
        assert_eq!(sids, ["VpnctlResources", "VpnctlRoles"]);
        let acts = actions(&["status"]);
        assert!(
            acts.iter()
                .all(|a| !a.contains(":Create") && !a.contains(":Delete"))
        );
    }
}

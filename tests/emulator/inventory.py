"""Everything in the emulator that carries vpnctl's tags for a deployment (or, with --all,
every Client VPN endpoint and ACM certificate), observed with boto3: an observer for vpnctl's
tests that shares no code with vpnctl.

Usage: python inventory.py --endpoint http://127.0.0.1:PORT [--deployment NAME | --all |
       --tags CERTIFICATE_ARN]
"""

import argparse
import json

import boto3


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--deployment")
    p.add_argument("--all", action="store_true")
    p.add_argument("--tags", metavar="CERTIFICATE_ARN", help="only that certificate's tags")
    a = p.parse_args()
    kw = dict(endpoint_url=a.endpoint, region_name=a.region, aws_access_key_id="testing", aws_secret_access_key="testing")
    ec2 = boto3.client("ec2", **kw)
    acm = boto3.client("acm", **kw)
    if a.tags:
        tags = acm.list_tags_for_certificate(CertificateArn=a.tags).get("Tags", [])
        print(json.dumps({t["Key"]: t.get("Value", "") for t in tags}))
        return

    def ours(tags):
        t = {x["Key"]: x["Value"] for x in tags or []}
        if a.all:
            return True
        return t.get("vpnctl:deployment") == a.deployment and t.get("vpnctl:managed-by") == "vpnctl"

    out = {"endpoints": [], "certificates": [], "certificate_bodies": {}, "nat_gateways": [], "addresses": []}
    for e in ec2.describe_client_vpn_endpoints()["ClientVpnEndpoints"]:
        if e["Status"]["Code"] == "deleted" or not ours(e.get("Tags")):
            continue
        eid = e["ClientVpnEndpointId"]
        nets = ec2.describe_client_vpn_target_networks(ClientVpnEndpointId=eid)["ClientVpnTargetNetworks"]
        rules = ec2.describe_client_vpn_authorization_rules(ClientVpnEndpointId=eid)["AuthorizationRules"]
        routes = ec2.describe_client_vpn_routes(ClientVpnEndpointId=eid)["Routes"]
        conns = ec2.describe_client_vpn_connections(ClientVpnEndpointId=eid)["Connections"]
        crl = ec2.export_client_vpn_client_certificate_revocation_list(ClientVpnEndpointId=eid).get("CertificateRevocationList")
        out["endpoints"].append({
            "id": eid,
            "state": e["Status"]["Code"],
            "dns_name": e.get("DnsName"),
            "server_certificate_arn": e.get("ServerCertificateArn"),
            "associations": [{"subnet": n["TargetNetworkId"], "state": n["Status"]["Code"]} for n in nets],
            "rules": [{"cidr": r["DestinationCidr"], "state": r["Status"]["Code"],
                       **({} if r.get("AccessAll") else {"group": r.get("GroupId")})} for r in rules],
            "routes": [{"cidr": r["DestinationCidr"], "subnet": r["TargetSubnet"], "state": r["Status"]["Code"]} for r in routes],
            "connections": [{"username": c.get("CommonName") or c.get("Username"), "state": c["Status"]["Code"]} for c in conns],
            "crl": crl,
            "tags": {t["Key"]: t["Value"] for t in e.get("Tags", [])},
            "options": {
                "session_timeout_hours": e.get("SessionTimeoutHours"),
                "disconnect_on_session_timeout": e.get("DisconnectOnSessionTimeout"),
                "banner": (e.get("ClientLoginBannerOptions") or {}).get("BannerText")
                if (e.get("ClientLoginBannerOptions") or {}).get("Enabled") else None,
                "client_route_enforcement": (e.get("ClientRouteEnforcementOptions") or {}).get("Enforced"),
                "self_service_portal_url": e.get("SelfServicePortalUrl"),
                "authentication": sorted(a["Type"] for a in e.get("AuthenticationOptions", [])),
            },
        })
    for c in acm.list_certificates(Includes={"keyTypes": ["RSA_1024", "RSA_2048", "EC_prime256v1"]})["CertificateSummaryList"]:
        tags = acm.list_tags_for_certificate(CertificateArn=c["CertificateArn"]).get("Tags", [])
        if ours(tags):
            out["certificates"].append(c["CertificateArn"])
            out["certificate_bodies"][c["CertificateArn"]] = acm.get_certificate(CertificateArn=c["CertificateArn"])["Certificate"]
    for n in ec2.describe_nat_gateways()["NatGateways"]:
        if n["State"] not in ("deleted",) and ours(n.get("Tags")):
            out["nat_gateways"].append({"id": n["NatGatewayId"], "state": n["State"]})
    for addr in ec2.describe_addresses()["Addresses"]:
        if ours(addr.get("Tags")):
            out["addresses"].append({"allocation_id": addr.get("AllocationId"), "association_id": addr.get("AssociationId")})
    out["route_tables"] = []
    for t in ec2.describe_route_tables()["RouteTables"]:
        default = next((r for r in t.get("Routes", []) if r.get("DestinationCidrBlock") == "0.0.0.0/0"), None)
        target = None
        if default:
            target = default.get("NatGatewayId") or default.get("GatewayId") or default.get("NetworkInterfaceId")
        out["route_tables"].append({
            "id": t["RouteTableId"],
            "vpc": t["VpcId"],
            "main": any(a.get("Main") for a in t.get("Associations", [])),
            "subnets": [a["SubnetId"] for a in t.get("Associations", []) if a.get("SubnetId")],
            "default": target,
        })
    # The deployment's deadlines: its schedule group and schedules, and its scheduler role
    # with its inline policies (vpnctl names them vpnctl-<deployment>…).
    out["schedule_groups"], out["schedules"], out["roles"] = [], [], []
    out["state_machines"] = []
    if a.deployment:
        sch = boto3.client("scheduler", **kw)
        iam = boto3.client("iam", **kw)
        prefix = f"vpnctl-{a.deployment}"
        for g in sch.list_schedule_groups()["ScheduleGroups"]:
            if g["Name"] != prefix:
                continue
            out["schedule_groups"].append(g["Name"])
            for s in sch.list_schedules(GroupName=g["Name"])["Schedules"]:
                full = sch.get_schedule(Name=s["Name"], GroupName=g["Name"])
                out["schedules"].append({
                    "name": full["Name"],
                    "expression": full["ScheduleExpression"],
                    "action": full["Target"]["Arn"].rsplit(":", 1)[-1],
                    "input": json.loads(full["Target"].get("Input") or "null"),
                    "role": full["Target"]["RoleArn"],
                    "after": full.get("ActionAfterCompletion"),
                    "retry": full["Target"].get("RetryPolicy"),
                })
        for r in iam.list_roles()["Roles"]:
            if r["RoleName"].startswith(prefix):
                policies = iam.list_role_policies(RoleName=r["RoleName"])["PolicyNames"]
                doc = r["AssumeRolePolicyDocument"]
                out["roles"].append({
                    "name": r["RoleName"],
                    "arn": r["Arn"],
                    "trust": doc if isinstance(doc, dict) else json.loads(doc),
                    "policies": policies,
                })
        # Its Step Functions state machines (working hours, idle sleep): vpnctl-<deployment>-…,
        # with their executions, newest first.
        sfn = boto3.client("stepfunctions", **kw)
        for m in sfn.list_state_machines()["stateMachines"]:
            if m["name"] in (f"{prefix}-sleep", f"{prefix}-wake", f"{prefix}-idle"):
                runs = sfn.list_executions(stateMachineArn=m["stateMachineArn"])["executions"]
                # Each execution's status as DescribeExecution gives it (the listing's may lag).
                out["state_machines"].append({
                    "name": m["name"],
                    "arn": m["stateMachineArn"],
                    "executions": [{"status": sfn.describe_execution(executionArn=x["executionArn"])["status"],
                                    "arn": x["executionArn"]}
                                   for x in sorted(runs, key=lambda x: x["startDate"], reverse=True)],
                })
    print(json.dumps(out))


if __name__ == "__main__":
    main()

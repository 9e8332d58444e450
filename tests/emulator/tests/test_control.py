"""The control API: configuration, delays per kind of transition, injected faults, call counts."""
import json
import time
from xml.etree import ElementTree

import pytest
from botocore.exceptions import ClientError

from conftest import code_of, expect

DEFAULTS = {"delay_seconds": 0.0, "delays": {}, "concurrent_mutation_limit": 0,
            "consistency_seconds": 0.0, "quotas": False, "clock_offset_seconds": 0.0,
            "scheduler_realtime": False}


# ---------------------------------------------------------------- configuration
def test_config_round_trip_and_reset(emulator):
    assert emulator.control("/_emulator/config") == (200, DEFAULTS)
    settings = {"delay_seconds": 0.5, "delays": {"association": 2, "nat_deletion": 0},
                "concurrent_mutation_limit": 3, "consistency_seconds": 1.5, "quotas": True,
                "clock_offset_seconds": -90.0, "scheduler_realtime": True}
    assert emulator.configure(**settings) == dict(settings, delays={"association": 2.0, "nat_deletion": 0.0})
    assert emulator.control("/_emulator/config")[1]["delays"] == {"association": 2.0, "nat_deletion": 0.0}
    # Settings not given keep their value; "delays" replaces the whole map.
    assert emulator.configure(delays={"revocation": 1})["delays"] == {"revocation": 1.0}
    assert emulator.control("/_emulator/config")[1]["quotas"] is True
    status, body = emulator.control("/_emulator/reset", {})
    assert status == 200 and {k: body[k] for k in DEFAULTS} == DEFAULTS
    assert emulator.control("/_emulator/config") == (200, DEFAULTS)


@pytest.mark.parametrize("bad", [
    {"delay_seconds": -1},
    {"delay_seconds": "soon"},
    {"delay_seconds": True},
    {"delays": {"associating": 1}},
    {"delays": {"association": -0.1}},
    {"delays": {"association": "x"}},
    {"delays": [1]},
    {"concurrent_mutation_limit": -1},
    {"concurrent_mutation_limit": 1.5},
    {"concurrent_mutation_limit": "2"},
    {"consistency_seconds": -2},
    {"quotas": "yes"},
    {"quotas": 1},
    {"scheduler_realtime": "on"},
    {"scheduler_realtime": 0},
    {"quota": True},
    # One bad setting refuses the good ones with it.
    {"delay_seconds": 3, "delays": {"nope": 1}},
])
def test_config_refuses_bad_settings(emulator, bad):
    status, body = emulator.control("/_emulator/config", bad)
    assert status == 400 and body["error"], body
    assert emulator.control("/_emulator/config") == (200, DEFAULTS)


def test_each_kind_of_transition_has_its_own_delay(emulator, ec2, make_endpoint, net):
    emulator.configure(delay_seconds=0, delays={"association": 0.4, "revocation": 0.4})
    ep = make_endpoint()
    ec2.associate_client_vpn_target_network(ClientVpnEndpointId=ep, SubnetId=net["a"])
    ec2.authorize_client_vpn_ingress(ClientVpnEndpointId=ep, TargetNetworkCidr="10.0.0.0/16", AuthorizeAllGroups=True)

    def states():
        tn = ec2.describe_client_vpn_target_networks(ClientVpnEndpointId=ep)["ClientVpnTargetNetworks"]
        rules = ec2.describe_client_vpn_authorization_rules(ClientVpnEndpointId=ep)["AuthorizationRules"]
        routes = ec2.describe_client_vpn_routes(ClientVpnEndpointId=ep)["Routes"]
        return ([t["Status"]["Code"] for t in tn], [r["Status"]["Code"] for r in rules],
                [r["Status"]["Code"] for r in routes])

    # The association's own VPC route is a route creation: delay_seconds (0), not the association's.
    assert states() == (["associating"], ["active"], ["active"])
    ec2.revoke_client_vpn_ingress(ClientVpnEndpointId=ep, TargetNetworkCidr="10.0.0.0/16", RevokeAllGroups=True)
    assert states()[1] == ["revoking"]
    time.sleep(0.5)
    assert states() == (["associated"], [], ["active"])
    # The kinds not named follow delay_seconds.
    emulator.configure(delay_seconds=0.4, delays={"nat_creation": 0, "connection_termination": 0})
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=net["b"], AllocationId=eip)["NatGateway"]["NatGatewayId"]
    assert ec2.describe_nat_gateways(NatGatewayIds=[nat])["NatGateways"][0]["State"] == "available"
    ec2.delete_nat_gateway(NatGatewayId=nat)
    assert ec2.describe_nat_gateways(NatGatewayIds=[nat])["NatGateways"][0]["State"] == "deleting"
    _, c = emulator.control("/_emulator/connections", {"client_vpn_endpoint_id": ep, "common_name": "u"})
    ec2.terminate_client_vpn_connections(ClientVpnEndpointId=ep, ConnectionId=c["connection_id"])
    assert ec2.describe_client_vpn_connections(ClientVpnEndpointId=ep)["Connections"][0]["Status"]["Code"] == "terminated"


def test_revocation_delay_keeps_the_rule_revoking(emulator, ec2, make_endpoint):
    ep = make_endpoint()
    ec2.authorize_client_vpn_ingress(ClientVpnEndpointId=ep, TargetNetworkCidr="10.0.0.0/16", AuthorizeAllGroups=True)
    emulator.configure(delays={"revocation": 0.4})
    ec2.revoke_client_vpn_ingress(ClientVpnEndpointId=ep, TargetNetworkCidr="10.0.0.0/16", RevokeAllGroups=True)
    # A second revoke while the first is under way finds no rule to revoke.
    expect("InvalidClientVpnEndpointAuthorizationRuleNotFound", ec2.revoke_client_vpn_ingress,
           ClientVpnEndpointId=ep, TargetNetworkCidr="10.0.0.0/16", RevokeAllGroups=True)
    rules = ec2.describe_client_vpn_authorization_rules(ClientVpnEndpointId=ep)["AuthorizationRules"]
    assert [r["Status"]["Code"] for r in rules] == ["revoking"]
    time.sleep(0.5)
    assert ec2.describe_client_vpn_authorization_rules(ClientVpnEndpointId=ep)["AuthorizationRules"] == []


# ---------------------------------------------------------------- faults
def test_ec2_fault_answers_in_ec2_format_with_aws_status(emulator, make_endpoint):
    ec2 = emulator.client("ec2", attempts=1)
    assert emulator.fault(action="DescribeClientVpnEndpoints", code="RequestLimitExceeded", count=2) == {
        "action": "DescribeClientVpnEndpoints", "code": "RequestLimitExceeded", "count": 2}
    for left in (1, 0):
        with pytest.raises(ClientError) as e:
            ec2.describe_client_vpn_endpoints()
        assert code_of(e) == "RequestLimitExceeded"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        pending = emulator.control("/_emulator/faults")[1]
        assert pending == ([{"action": "DescribeClientVpnEndpoints", "code": "RequestLimitExceeded", "count": 1}]
                           if left else [])
    ec2.describe_client_vpn_endpoints()  # used up: the next call is served
    # Only the named action fails; the status follows the code.
    for code, status in (("InternalError", 500), ("ServiceUnavailable", 503),
                         ("InvalidClientVpnEndpointId.NotFound", 400), ("UnauthorizedOperation", 400)):
        emulator.fault(action="DescribeVpcs", code=code, count=1)
        ec2.describe_client_vpn_endpoints()
        with pytest.raises(ClientError) as e:
            ec2.describe_vpcs()
        assert code_of(e) == code
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_ec2_fault_body_is_ec2_query_xml(emulator):
    emulator.fault(action="DescribeVpcs", code="RequestLimitExceeded", count=1)
    status, body = emulator.raw("ec2", {"Content-Type": "application/x-www-form-urlencoded"},
                                "Action=DescribeVpcs&Version=2016-11-15")
    assert status == 503, body
    root = ElementTree.fromstring(body)
    strip = lambda tag: tag.split("}")[-1]  # noqa: E731 (the EC2 namespace)
    assert strip(root.tag) == "Response", body
    path = [strip(e.tag) for e in root.iter()]
    assert path[:4] == ["Response", "Errors", "Error", "Code"] and "RequestID" in path, body
    assert root[0][0][0].text == "RequestLimitExceeded"


def test_acm_fault_answers_in_json(emulator, acm, pki):
    emulator.fault(action="ListCertificates", code="ThrottlingException", count=1)
    status, body = emulator.raw("acm", {"Content-Type": "application/x-amz-json-1.1",
                                        "X-Amz-Target": "CertificateManager.ListCertificates"}, "{}")
    assert status == 400 and json.loads(body)["__type"].endswith("ThrottlingException"), body
    emulator.fault(action="ImportCertificate", code="InternalError", count=1)
    cert, key = pki.leaf("server.vpnctl.internal", ["server.vpnctl.internal"])
    with pytest.raises(ClientError) as e:
        emulator.client("acm", attempts=1).import_certificate(Certificate=cert, PrivateKey=key)
    assert code_of(e) == "InternalError"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert acm.list_certificates()["CertificateSummaryList"] == []


def test_sdk_retries_absorb_a_short_throttle(emulator, ec2):
    emulator.control("/_emulator/calls", method="DELETE")
    emulator.fault(action="DescribeVpcs", code="RequestLimitExceeded", count=1)
    ec2.describe_vpcs()  # boto3 retries RequestLimitExceeded by itself
    assert emulator.calls() == {"DescribeVpcs": 2}


def test_faults_queue_list_clear_and_validate(emulator):
    emulator.fault(action="CreateClientVpnRoute", code="ConcurrentMutationLimitExceeded", count=3)
    emulator.fault(action="CreateClientVpnRoute", code="InternalError")  # count defaults to 1
    emulator.fault(action="CreateNatGateway", async_state="failed", count=2)
    assert emulator.control("/_emulator/faults")[1] == [
        {"action": "CreateClientVpnRoute", "code": "ConcurrentMutationLimitExceeded", "count": 3},
        {"action": "CreateClientVpnRoute", "code": "InternalError", "count": 1},
        {"action": "CreateNatGateway", "async_state": "failed", "code": "InsufficientFreeAddressesInSubnet", "count": 2},
    ]
    assert emulator.control("/_emulator/faults", method="DELETE") == (200, [])
    assert emulator.control("/_emulator/faults")[1] == []
    for bad in ({"code": "InternalError"}, {"action": "describe_vpcs", "code": "InternalError"},
                {"action": "DescribeVpcs"}, {"action": "DescribeVpcs", "code": ""},
                {"action": "DescribeVpcs", "code": "InternalError", "count": 0},
                {"action": "DescribeVpcs", "code": "InternalError", "count": "2"},
                {"action": "DescribeVpcs", "code": "InternalError", "when": "now"},
                {"action": "CreateClientVpnEndpoint", "async_state": "failed"},
                {"action": "CreateNatGateway", "async_state": "pending"},
                {"action": "CreateNatGateway", "async_state": "failed", "code": "RequestLimitExceeded"}):
        status, body = emulator.control("/_emulator/faults", bad)
        assert status == 400 and body["error"], (bad, body)
    emulator.fault(action="DescribeVpcs", code="InternalError")
    emulator.control("/_emulator/reset", {})
    assert emulator.control("/_emulator/faults")[1] == []


def test_nat_gateway_async_failure(emulator, ec2, net):
    emulator.configure(delays={"nat_creation": 0.3})
    emulator.fault(action="CreateNatGateway", async_state="failed", count=1)
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=net["a"], AllocationId=eip)["NatGateway"]
    assert nat["State"] == "pending" and "FailureCode" not in nat
    assert emulator.control("/_emulator/faults")[1] == []

    def describe(nid):
        return ec2.describe_nat_gateways(NatGatewayIds=[nid])["NatGateways"][0]

    assert describe(nat["NatGatewayId"])["State"] == "pending"
    time.sleep(0.4)
    failed = describe(nat["NatGatewayId"])
    assert failed["State"] == "failed"
    assert failed["FailureCode"] == "InsufficientFreeAddressesInSubnet"
    assert failed["FailureMessage"] == "Subnet has insufficient free addresses to create this NAT gateway"
    # The failed gateway no longer holds the address: it can be used again, or released.
    assert "AssociationId" not in ec2.describe_addresses(AllocationIds=[eip])["Addresses"][0]
    emulator.fault(action="CreateNatGateway", async_state="failed", code="Gateway.NotAttached")
    other = ec2.create_nat_gateway(SubnetId=net["a"], AllocationId=eip)["NatGateway"]["NatGatewayId"]
    time.sleep(0.4)
    assert describe(other)["FailureMessage"] == f"Network {net['vpc']} has no Internet gateway attached"
    third = ec2.create_nat_gateway(SubnetId=net["a"], AllocationId=eip)["NatGateway"]["NatGatewayId"]
    time.sleep(0.4)
    assert describe(third)["State"] == "available" and "FailureCode" not in describe(third)
    # A failed gateway can be deleted like any other.
    ec2.delete_nat_gateway(NatGatewayId=nat["NatGatewayId"])
    assert describe(nat["NatGatewayId"])["State"] == "deleted"


def test_a_synchronous_fault_leaves_the_async_one_pending(emulator, ec2, net):
    emulator.fault(action="CreateNatGateway", async_state="failed")
    emulator.fault(action="CreateNatGateway", code="InternalError")
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    expect("InternalError", emulator.client("ec2", attempts=1).create_nat_gateway, SubnetId=net["a"], AllocationId=eip)
    assert [f.get("async_state") for f in emulator.control("/_emulator/faults")[1]] == ["failed"]


def test_the_date_header_moves_by_the_clock_offset(emulator, ec2):
    import email.utils
    import time

    def skew():
        response = ec2.describe_vpcs()
        date = response["ResponseMetadata"]["HTTPHeaders"]["date"]
        return email.utils.parsedate_to_datetime(date).timestamp() - time.time()

    assert abs(skew()) < 3
    emulator.configure(clock_offset_seconds=-600)
    assert -603 < skew() < -597
    for bad in ("soon", True, 10 ** 9):
        assert emulator.control("/_emulator/config", {"clock_offset_seconds": bad})[0] == 400
    emulator.control("/_emulator/reset", {})
    assert abs(skew()) < 3


# ---------------------------------------------------------------- call counts
def test_calls_are_counted_per_action_across_services(emulator, ec2, acm, make_endpoint, net):
    make_endpoint()  # imports and the endpoint, before the count starts
    assert emulator.control("/_emulator/calls", method="DELETE") == (200, {})
    emulator.control("/_emulator/config")  # the control API is not counted
    ec2.describe_vpcs()
    ec2.describe_vpcs()
    acm.list_certificates()
    ep = ec2.describe_client_vpn_endpoints()["ClientVpnEndpoints"][0]["ClientVpnEndpointId"]
    ec2.associate_client_vpn_target_network(ClientVpnEndpointId=ep, SubnetId=net["a"])
    emulator.fault(action="DescribeSubnets", code="InvalidSubnetID.NotFound")
    with pytest.raises(ClientError):
        ec2.describe_subnets()  # a failed call is a call
    assert emulator.calls() == {"DescribeVpcs": 2, "ListCertificates": 1, "DescribeClientVpnEndpoints": 1,
                                "AssociateClientVpnTargetNetwork": 1, "DescribeSubnets": 1}
    # The same calls as IAM names them: the service's prefix, Step Functions' as "states".
    assert emulator.control("/_emulator/actions")[1] == {
        "ec2:DescribeVpcs": 2, "acm:ListCertificates": 1, "ec2:DescribeClientVpnEndpoints": 1,
        "ec2:AssociateClientVpnTargetNetwork": 1, "ec2:DescribeSubnets": 1}
    emulator.client("stepfunctions").list_state_machines()
    assert emulator.control("/_emulator/actions")[1]["states:ListStateMachines"] == 1
    emulator.control("/_emulator/reset", {})
    assert emulator.calls() == {}
    assert emulator.control("/_emulator/actions")[1] == {}

"""AWS behaviours a test switches on through the control API (concurrent-operation limit,
eventual consistency, quotas), and the CRL import's connection reset, which is always on."""
import time

import pytest

from conftest import expect, import_cert


def connection_states(ec2, ep):
    return sorted(c["Status"]["Code"] for c in ec2.describe_client_vpn_connections(ClientVpnEndpointId=ep)["Connections"])


def connect(emulator, ep, name):
    status, body = emulator.control("/_emulator/connections", {"client_vpn_endpoint_id": ep, "common_name": name})
    assert status == 200, body
    return body["connection_id"]


# ---------------------------------------------------------------- CRL import resets connections
def test_crl_import_resets_every_connection(emulator, ec2, make_endpoint, pki):
    ep = make_endpoint()
    ended = connect(emulator, ep, "carol")
    ec2.terminate_client_vpn_connections(ClientVpnEndpointId=ep, ConnectionId=ended)
    connect(emulator, ep, "alice")
    connect(emulator, ep, "bob")
    emulator.configure(delays={"connection_termination": 0.3})
    ec2.import_client_vpn_client_certificate_revocation_list(ClientVpnEndpointId=ep, CertificateRevocationList=pki.crl())
    assert connection_states(ec2, ep) == ["terminated", "terminating", "terminating"]
    time.sleep(0.4)
    assert connection_states(ec2, ep) == ["terminated"] * 3
    # A refused import resets nothing.
    connect(emulator, ep, "dave")
    expect("InvalidParameterValue", ec2.import_client_vpn_client_certificate_revocation_list,
           ClientVpnEndpointId=ep, CertificateRevocationList="junk")
    assert connection_states(ec2, ep) == ["active"] + ["terminated"] * 3


def test_crl_import_resets_only_its_endpoint(emulator, ec2, make_endpoint, pki):
    a, b = make_endpoint(), make_endpoint()
    connect(emulator, a, "alice")
    connect(emulator, b, "bob")
    ec2.import_client_vpn_client_certificate_revocation_list(ClientVpnEndpointId=a, CertificateRevocationList=pki.crl())
    assert (connection_states(ec2, a), connection_states(ec2, b)) == (["terminated"], ["active"])


# ---------------------------------------------------------------- concurrent operations
def test_concurrent_mutation_limit(emulator, ec2, make_endpoint, net, pki):
    ep, other = make_endpoint(), make_endpoint()
    connect(emulator, ep, "alice")
    emulator.configure(delay_seconds=0.5, concurrent_mutation_limit=3)
    # The association and its VPC route are two operations under way, the rule a third.
    ec2.associate_client_vpn_target_network(ClientVpnEndpointId=ep, SubnetId=net["a"])
    ec2.authorize_client_vpn_ingress(ClientVpnEndpointId=ep, TargetNetworkCidr="10.0.0.0/16", AuthorizeAllGroups=True)
    busy = "ConcurrentMutationLimitExceeded"
    message = expect(busy, ec2.authorize_client_vpn_ingress, ClientVpnEndpointId=ep,
                     TargetNetworkCidr="10.1.0.0/16", AuthorizeAllGroups=True)
    assert message == "Cannot initiate another change for this endpoint at this time. Please try again later."
    for call, kwargs in (
        (ec2.create_client_vpn_route, dict(DestinationCidrBlock="0.0.0.0/0", TargetVpcSubnetId=net["a"])),
        (ec2.revoke_client_vpn_ingress, dict(TargetNetworkCidr="10.0.0.0/16", RevokeAllGroups=True)),
        (ec2.associate_client_vpn_target_network, dict(SubnetId=net["b"])),
        (ec2.modify_client_vpn_endpoint, dict(Description="x")),
        (ec2.import_client_vpn_client_certificate_revocation_list, dict(CertificateRevocationList=pki.crl())),
        (ec2.delete_client_vpn_endpoint, {}),
    ):
        expect(busy, call, ClientVpnEndpointId=ep, **kwargs)
    # Reading, ending sessions and other endpoints are not held up.
    assert len(ec2.describe_client_vpn_routes(ClientVpnEndpointId=ep)["Routes"]) == 1
    cid = ec2.describe_client_vpn_connections(ClientVpnEndpointId=ep)["Connections"][0]["ConnectionId"]
    ec2.terminate_client_vpn_connections(ClientVpnEndpointId=ep, ConnectionId=cid)
    ec2.authorize_client_vpn_ingress(ClientVpnEndpointId=other, TargetNetworkCidr="10.0.0.0/16", AuthorizeAllGroups=True)
    time.sleep(0.6)
    ec2.create_client_vpn_route(ClientVpnEndpointId=ep, DestinationCidrBlock="0.0.0.0/0", TargetVpcSubnetId=net["a"])


def test_no_limit_by_default(emulator, ec2, make_endpoint):
    ep = make_endpoint()
    emulator.configure(delay_seconds=1)
    for i in range(12):
        ec2.authorize_client_vpn_ingress(ClientVpnEndpointId=ep, TargetNetworkCidr=f"10.{i}.0.0/16", AuthorizeAllGroups=True)


def test_quotas_bring_aws_limit_of_ten_operations(emulator, ec2, make_endpoint):
    ep = make_endpoint()
    emulator.configure(delay_seconds=1, quotas=True)
    for i in range(10):
        ec2.authorize_client_vpn_ingress(ClientVpnEndpointId=ep, TargetNetworkCidr=f"10.{i}.0.0/16", AuthorizeAllGroups=True)
    expect("ConcurrentMutationLimitExceeded", ec2.authorize_client_vpn_ingress, ClientVpnEndpointId=ep,
           TargetNetworkCidr="10.10.0.0/16", AuthorizeAllGroups=True)
    # An explicit limit wins over the quota.
    emulator.configure(concurrent_mutation_limit=11)
    ec2.authorize_client_vpn_ingress(ClientVpnEndpointId=ep, TargetNetworkCidr="10.10.0.0/16", AuthorizeAllGroups=True)


# ---------------------------------------------------------------- eventual consistency
WINDOW = 0.6


def after_window():
    time.sleep(WINDOW + 0.1)


def test_new_client_vpn_resources_are_not_found_at_first(emulator, ec2, make_endpoint, net):
    emulator.configure(consistency_seconds=WINDOW)
    ep = make_endpoint()
    missing = "InvalidClientVpnEndpointId.NotFound"
    assert ec2.describe_client_vpn_endpoints()["ClientVpnEndpoints"] == []
    expect(missing, ec2.describe_client_vpn_endpoints, ClientVpnEndpointIds=[ep])
    expect(missing, ec2.associate_client_vpn_target_network, ClientVpnEndpointId=ep, SubnetId=net["a"])
    expect(missing, ec2.describe_client_vpn_routes, ClientVpnEndpointId=ep)
    expect(missing, ec2.create_tags, Resources=[ep], Tags=[{"Key": "a", "Value": "b"}])
    after_window()
    assert [e["ClientVpnEndpointId"] for e in ec2.describe_client_vpn_endpoints()["ClientVpnEndpoints"]] == [ep]

    assoc = ec2.associate_client_vpn_target_network(ClientVpnEndpointId=ep, SubnetId=net["a"])["AssociationId"]
    ec2.authorize_client_vpn_ingress(ClientVpnEndpointId=ep, TargetNetworkCidr="10.0.0.0/16", AuthorizeAllGroups=True)
    assert ec2.describe_client_vpn_target_networks(ClientVpnEndpointId=ep)["ClientVpnTargetNetworks"] == []
    assert ec2.describe_client_vpn_routes(ClientVpnEndpointId=ep)["Routes"] == []
    assert ec2.describe_client_vpn_authorization_rules(ClientVpnEndpointId=ep)["AuthorizationRules"] == []
    expect("InvalidClientVpnAssociationIdNotFound", ec2.disassociate_client_vpn_target_network,
           ClientVpnEndpointId=ep, AssociationId=assoc)
    expect("InvalidClientVpnActiveAssociationNotFound", ec2.create_client_vpn_route,
           ClientVpnEndpointId=ep, DestinationCidrBlock="0.0.0.0/0", TargetVpcSubnetId=net["a"])
    expect("InvalidClientVpnEndpointAuthorizationRuleNotFound", ec2.revoke_client_vpn_ingress,
           ClientVpnEndpointId=ep, TargetNetworkCidr="10.0.0.0/16", RevokeAllGroups=True)
    # The service itself knows them: creating them again is a duplicate.
    expect("InvalidClientVpnDuplicateAssociationException", ec2.associate_client_vpn_target_network,
           ClientVpnEndpointId=ep, SubnetId=net["a"])
    after_window()
    assert len(ec2.describe_client_vpn_target_networks(ClientVpnEndpointId=ep)["ClientVpnTargetNetworks"]) == 1
    assert len(ec2.describe_client_vpn_authorization_rules(ClientVpnEndpointId=ep)["AuthorizationRules"]) == 1

    ec2.create_client_vpn_route(ClientVpnEndpointId=ep, DestinationCidrBlock="0.0.0.0/0", TargetVpcSubnetId=net["a"])
    routes = ec2.describe_client_vpn_routes(ClientVpnEndpointId=ep)["Routes"]
    assert [r["Origin"] for r in routes] == ["associate"]
    expect("InvalidClientVpnRouteNotFound", ec2.delete_client_vpn_route, ClientVpnEndpointId=ep,
           DestinationCidrBlock="0.0.0.0/0", TargetVpcSubnetId=net["a"])
    after_window()
    assert len(ec2.describe_client_vpn_routes(ClientVpnEndpointId=ep)["Routes"]) == 2
    ec2.delete_client_vpn_route(ClientVpnEndpointId=ep, DestinationCidrBlock="0.0.0.0/0", TargetVpcSubnetId=net["a"])


def test_new_nat_gateways_and_addresses_are_not_found_at_first(emulator, ec2, net):
    emulator.configure(consistency_seconds=WINDOW)
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    assert ec2.describe_addresses()["Addresses"] == []
    expect("InvalidAllocationID.NotFound", ec2.describe_addresses, AllocationIds=[eip])
    expect("InvalidAllocationID.NotFound", ec2.create_nat_gateway, SubnetId=net["a"], AllocationId=eip)
    expect("InvalidAllocationID.NotFound", ec2.create_tags, Resources=[eip], Tags=[{"Key": "a", "Value": "b"}])
    expect("InvalidAllocationID.NotFound", ec2.release_address, AllocationId=eip)
    after_window()
    nat = ec2.create_nat_gateway(SubnetId=net["a"], AllocationId=eip)["NatGateway"]["NatGatewayId"]
    assert ec2.describe_nat_gateways()["NatGateways"] == []
    for call, kwargs in ((ec2.describe_nat_gateways, dict(NatGatewayIds=[nat])),
                         (ec2.delete_nat_gateway, dict(NatGatewayId=nat)),
                         (ec2.create_tags, dict(Resources=[nat], Tags=[{"Key": "a", "Value": "b"}]))):
        expect("NatGatewayNotFound", call, **kwargs)
    after_window()
    assert [n["NatGatewayId"] for n in ec2.describe_nat_gateways()["NatGateways"]] == [nat]
    assert ec2.describe_addresses(AllocationIds=[eip])["Addresses"][0]["AllocationId"] == eip


def test_new_certificates_are_not_found_at_first(emulator, acm, pki):
    emulator.configure(consistency_seconds=WINDOW)
    arn = import_cert(acm, pki, "server.vpnctl.internal", ["server.vpnctl.internal"])
    assert acm.list_certificates()["CertificateSummaryList"] == []
    for call in (acm.describe_certificate, acm.get_certificate, acm.list_tags_for_certificate,
                 acm.delete_certificate):
        expect("ResourceNotFoundException", call, CertificateArn=arn)
    cert, key = pki.leaf("server.vpnctl.internal", ["server.vpnctl.internal"])
    expect("ResourceNotFoundException", acm.import_certificate, CertificateArn=arn, Certificate=cert, PrivateKey=key)
    after_window()
    assert [c["CertificateArn"] for c in acm.list_certificates()["CertificateSummaryList"]] == [arn]
    # Re-importing is no creation: the certificate stays visible.
    acm.import_certificate(CertificateArn=arn, Certificate=cert, PrivateKey=key, CertificateChain=pki.ca_pem)
    acm.describe_certificate(CertificateArn=arn)


def test_everything_is_visible_at_once_by_default(ec2, acm, make_endpoint, net):
    ep = make_endpoint()
    ec2.associate_client_vpn_target_network(ClientVpnEndpointId=ep, SubnetId=net["a"])
    assert len(ec2.describe_client_vpn_target_networks(ClientVpnEndpointId=ep)["ClientVpnTargetNetworks"]) == 1
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=net["a"], AllocationId=eip)["NatGateway"]["NatGatewayId"]
    assert ec2.describe_nat_gateways(NatGatewayIds=[nat])["NatGateways"]
    assert len(acm.list_certificates()["CertificateSummaryList"]) == 2


# ---------------------------------------------------------------- quotas
@pytest.fixture
def quotas(emulator):
    emulator.configure(quotas=True)


def test_quotas_are_off_by_default(ec2, make_endpoint):
    for _ in range(6):
        make_endpoint()
    vpc = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    small = ec2.create_subnet(VpcId=vpc, CidrBlock="10.60.0.0/28", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    ep = make_endpoint(VpcId=vpc, SecurityGroupIds=None)
    ec2.associate_client_vpn_target_network(ClientVpnEndpointId=ep, SubnetId=small)
    ec2.create_tags(Resources=[ep], Tags=[{"Key": "k" * 129, "Value": "v" * 257}])


def test_endpoints_per_region(quotas, emulator, ec2, make_endpoint):
    made = [make_endpoint() for _ in range(5)]
    expect("ClientVpnEndpointLimitExceeded", make_endpoint)
    # An endpoint being deleted still counts, until it is gone.
    emulator.configure(delays={"endpoint_deletion": 0.3})
    ec2.delete_client_vpn_endpoint(ClientVpnEndpointId=made[0])
    expect("ClientVpnEndpointLimitExceeded", make_endpoint)
    time.sleep(0.4)
    make_endpoint()


def test_authorization_rules_per_endpoint(quotas, ec2, make_endpoint):
    ep = make_endpoint()
    for i in range(200):
        ec2.authorize_client_vpn_ingress(ClientVpnEndpointId=ep, TargetNetworkCidr=f"10.{i}.0.0/16", AuthorizeAllGroups=True)
    expect("ClientVpnAuthorizationRuleLimitExceeded", ec2.authorize_client_vpn_ingress, ClientVpnEndpointId=ep,
           TargetNetworkCidr="10.200.0.0/16", AuthorizeAllGroups=True)


def test_routes_per_target_network(quotas, ec2, make_endpoint, net):
    ep = make_endpoint()
    ec2.associate_client_vpn_target_network(ClientVpnEndpointId=ep, SubnetId=net["a"])
    ec2.associate_client_vpn_target_network(ClientVpnEndpointId=ep, SubnetId=net["b"])
    # The association's own VPC route is one of the 100.
    for i in range(99):
        ec2.create_client_vpn_route(ClientVpnEndpointId=ep, DestinationCidrBlock=f"172.16.{i}.0/24",
                                    TargetVpcSubnetId=net["a"])
    expect("ClientVpnRouteLimitExceeded", ec2.create_client_vpn_route, ClientVpnEndpointId=ep,
           DestinationCidrBlock="172.17.0.0/24", TargetVpcSubnetId=net["a"])
    ec2.create_client_vpn_route(ClientVpnEndpointId=ep, DestinationCidrBlock="172.17.0.0/24", TargetVpcSubnetId=net["b"])


def test_target_network_size_and_free_addresses(quotas, ec2, make_endpoint):
    vpc = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]

    def subnet(cidr, zone):
        return ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=f"us-east-1{zone}")["Subnet"]["SubnetId"]

    ep = make_endpoint(VpcId=vpc, SecurityGroupIds=None)
    small = subnet("10.60.0.0/28", "a")
    expect("InvalidParameterValue", ec2.associate_client_vpn_target_network, ClientVpnEndpointId=ep, SubnetId=small)
    crowded = subnet("10.60.1.0/27", "b")  # 27 usable addresses
    for _ in range(8):
        ec2.create_network_interface(SubnetId=crowded)
    expect("InsufficientFreeAddressesInSubnet", ec2.associate_client_vpn_target_network,
           ClientVpnEndpointId=ep, SubnetId=crowded)
    ec2.associate_client_vpn_target_network(ClientVpnEndpointId=ep, SubnetId=subnet("10.60.2.0/27", "c"))


def test_associated_subnets_per_endpoint(quotas, ec2, make_endpoint):
    vpc = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    ep = make_endpoint(VpcId=vpc, SecurityGroupIds=None)
    for i, zone in enumerate("abcdef"):
        sub = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.60.{i}.0/24", AvailabilityZone=f"us-east-1{zone}")
        associate = lambda: ec2.associate_client_vpn_target_network(  # noqa: E731
            ClientVpnEndpointId=ep, SubnetId=sub["Subnet"]["SubnetId"])
        if i < 5:
            associate()
        else:
            expect("ResourceLimitExceeded", associate)


def test_tag_restrictions(quotas, ec2, make_endpoint):
    ep = make_endpoint()
    ec2.create_tags(Resources=[ep], Tags=[{"Key": "k" * 128, "Value": "v" * 256}])
    message = expect("InvalidParameterValue", ec2.create_tags, Resources=[ep], Tags=[{"Key": "k" * 129, "Value": "v"}])
    assert message == "Tag key exceeds the maximum length of 128 characters"
    message = expect("InvalidParameterValue", ec2.create_tags, Resources=[ep], Tags=[{"Key": "k", "Value": "v" * 257}])
    assert message == "Tag value exceeds the maximum length of 256 characters"
    expect("TagLimitExceeded", ec2.create_tags, Resources=[ep], Tags=[{"Key": f"k{i}", "Value": ""} for i in range(50)])
    # At creation the endpoint is refused, not made without its tags.
    expect("InvalidParameterValue", make_endpoint, TagSpecifications=[
        {"ResourceType": "client-vpn-endpoint", "Tags": [{"Key": "k" * 129, "Value": "v"}]}])
    assert len(ec2.describe_client_vpn_endpoints()["ClientVpnEndpoints"]) == 1
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    expect("InvalidParameterValue", ec2.create_tags, Resources=[eip], Tags=[{"Key": "n", "Value": "v" * 300}])


@pytest.fixture(scope="session")
def big_crl(pki):
    return pki.crl(revoked=20001)


def test_crl_entries(quotas, ec2, make_endpoint, big_crl, pki):
    ep = make_endpoint()
    expect("ClientVpnCertificateRevocationListLimitExceeded", ec2.import_client_vpn_client_certificate_revocation_list,
           ClientVpnEndpointId=ep, CertificateRevocationList=big_crl)
    assert "CertificateRevocationList" not in ec2.export_client_vpn_client_certificate_revocation_list(ClientVpnEndpointId=ep)
    ec2.import_client_vpn_client_certificate_revocation_list(ClientVpnEndpointId=ep, CertificateRevocationList=pki.crl(20000))

import time

import pytest

DELAY = 0.3


@pytest.fixture
def slow(emulator):
    emulator.set_delay(DELAY)
    yield
    emulator.set_delay(0)


def wait_past():
    time.sleep(DELAY + 0.1)


def ep_status(ec2, ep):
    return ec2.describe_client_vpn_endpoints(ClientVpnEndpointIds=[ep])["ClientVpnEndpoints"][0]["Status"]["Code"]


def test_association_and_endpoint_life_cycle(slow, ec2, make_endpoint, net):
    ep = make_endpoint()
    assoc = ec2.associate_client_vpn_target_network(ClientVpnEndpointId=ep, SubnetId=net["a"])["AssociationId"]
    tn = ec2.describe_client_vpn_target_networks(ClientVpnEndpointId=ep)["ClientVpnTargetNetworks"]
    assert tn[0]["Status"]["Code"] == "associating"
    assert ep_status(ec2, ep) == "pending-associate"
    assert ec2.describe_client_vpn_routes(ClientVpnEndpointId=ep)["Routes"][0]["Status"]["Code"] == "creating"
    wait_past()
    tn = ec2.describe_client_vpn_target_networks(ClientVpnEndpointId=ep)["ClientVpnTargetNetworks"]
    assert tn[0]["Status"]["Code"] == "associated"
    assert ep_status(ec2, ep) == "available"
    assert ec2.describe_client_vpn_routes(ClientVpnEndpointId=ep)["Routes"][0]["Status"]["Code"] == "active"

    ec2.disassociate_client_vpn_target_network(ClientVpnEndpointId=ep, AssociationId=assoc)
    tn = ec2.describe_client_vpn_target_networks(ClientVpnEndpointId=ep)["ClientVpnTargetNetworks"]
    assert tn[0]["Status"]["Code"] == "disassociating"
    assert ec2.describe_client_vpn_routes(ClientVpnEndpointId=ep)["Routes"][0]["Status"]["Code"] == "deleting"
    assert ep_status(ec2, ep) == "pending-associate"
    wait_past()
    assert ec2.describe_client_vpn_target_networks(ClientVpnEndpointId=ep)["ClientVpnTargetNetworks"] == []
    assert ec2.describe_client_vpn_routes(ClientVpnEndpointId=ep)["Routes"] == []

    ec2.delete_client_vpn_endpoint(ClientVpnEndpointId=ep)
    assert ep_status(ec2, ep) == "deleting"
    wait_past()
    assert ec2.describe_client_vpn_endpoints()["ClientVpnEndpoints"] == []


def test_rules_and_routes_life_cycle(slow, ec2, make_endpoint, net):
    ep = make_endpoint()
    ec2.associate_client_vpn_target_network(ClientVpnEndpointId=ep, SubnetId=net["a"])
    ec2.authorize_client_vpn_ingress(ClientVpnEndpointId=ep, TargetNetworkCidr="10.0.0.0/16", AuthorizeAllGroups=True)
    ec2.create_client_vpn_route(ClientVpnEndpointId=ep, DestinationCidrBlock="0.0.0.0/0", TargetVpcSubnetId=net["a"])
    rules = ec2.describe_client_vpn_authorization_rules(ClientVpnEndpointId=ep)["AuthorizationRules"]
    assert rules[0]["Status"]["Code"] == "authorizing"
    route = [r for r in ec2.describe_client_vpn_routes(ClientVpnEndpointId=ep)["Routes"] if r["Origin"] == "add-route"][0]
    assert route["Status"]["Code"] == "creating"
    wait_past()
    assert ec2.describe_client_vpn_authorization_rules(ClientVpnEndpointId=ep)["AuthorizationRules"][0]["Status"]["Code"] == "active"
    assert all(r["Status"]["Code"] == "active" for r in ec2.describe_client_vpn_routes(ClientVpnEndpointId=ep)["Routes"])
    ec2.revoke_client_vpn_ingress(ClientVpnEndpointId=ep, TargetNetworkCidr="10.0.0.0/16", RevokeAllGroups=True)
    ec2.delete_client_vpn_route(ClientVpnEndpointId=ep, DestinationCidrBlock="0.0.0.0/0", TargetVpcSubnetId=net["a"])
    assert ec2.describe_client_vpn_authorization_rules(ClientVpnEndpointId=ep)["AuthorizationRules"][0]["Status"]["Code"] == "revoking"
    route = [r for r in ec2.describe_client_vpn_routes(ClientVpnEndpointId=ep)["Routes"] if r["Origin"] == "add-route"][0]
    assert route["Status"]["Code"] == "deleting"
    wait_past()
    assert ec2.describe_client_vpn_authorization_rules(ClientVpnEndpointId=ep)["AuthorizationRules"] == []
    assert [r["Origin"] for r in ec2.describe_client_vpn_routes(ClientVpnEndpointId=ep)["Routes"]] == ["associate"]


def test_connection_terminating_then_terminated(slow, emulator, ec2, make_endpoint):
    ep = make_endpoint()
    _, c = emulator.control("/_emulator/connections", {"client_vpn_endpoint_id": ep, "username": "u", "client_ip": "10.83.0.9"})
    ec2.terminate_client_vpn_connections(ClientVpnEndpointId=ep, ConnectionId=c["connection_id"])
    assert ec2.describe_client_vpn_connections(ClientVpnEndpointId=ep)["Connections"][0]["Status"]["Code"] == "terminating"
    wait_past()
    assert ec2.describe_client_vpn_connections(ClientVpnEndpointId=ep)["Connections"][0]["Status"]["Code"] == "terminated"


def test_nat_gateway_life_cycle(slow, ec2, net):
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ngw = ec2.create_nat_gateway(SubnetId=net["a"], AllocationId=eip)["NatGateway"]
    assert ngw["State"] == "pending"
    nid = ngw["NatGatewayId"]
    def state():
        return ec2.describe_nat_gateways(NatGatewayIds=[nid])["NatGateways"][0]["State"]
    assert state() == "pending"
    wait_past()
    assert state() == "available"
    ec2.delete_nat_gateway(NatGatewayId=nid)
    assert state() == "deleting"
    with pytest.raises(Exception) as e:
        ec2.release_address(AllocationId=eip)
    assert e.value.response["Error"]["Code"] == "AuthFailure"
    wait_past()
    assert state() == "deleted"
    addr = ec2.describe_addresses(AllocationIds=[eip])["Addresses"][0]
    assert "AssociationId" not in addr and not addr.get("NetworkInterfaceId")
    ec2.release_address(AllocationId=eip)


def test_connections_end_when_the_last_association_goes(emulator, ec2, make_endpoint, net):
    ep = make_endpoint()
    ec2.associate_client_vpn_target_network(ClientVpnEndpointId=ep, SubnetId=net["a"])
    _, c = emulator.control("/_emulator/connections", {"client_vpn_endpoint_id": ep, "common_name": "u", "client_ip": "10.83.0.9"})
    assoc = ec2.describe_client_vpn_target_networks(ClientVpnEndpointId=ep)["ClientVpnTargetNetworks"][0]["AssociationId"]
    ec2.disassociate_client_vpn_target_network(ClientVpnEndpointId=ep, AssociationId=assoc)
    conns = ec2.describe_client_vpn_connections(ClientVpnEndpointId=ep)["Connections"]
    assert [x["Status"]["Code"] for x in conns] == ["terminated"]

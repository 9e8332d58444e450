import re

import pytest
from botocore.exceptions import ClientError

from conftest import code_of


def test_create_describe_endpoint(ec2, make_endpoint, certs, net):
    ep = make_endpoint(DnsServers=["10.0.0.2"], Description="vpnctl", TransportProtocol="tcp")
    assert re.fullmatch(r"cvpn-endpoint-[0-9a-f]{17}", ep)
    d = ec2.describe_client_vpn_endpoints(ClientVpnEndpointIds=[ep])["ClientVpnEndpoints"][0]
    assert d["Status"]["Code"] == "pending-associate"
    assert d["DnsName"] == f"*.{ep}.prod.clientvpn.us-east-1.amazonaws.com"
    assert d["ClientCidrBlock"] == "10.83.0.0/22"
    assert d["DnsServers"] == ["10.0.0.2"]
    assert d["TransportProtocol"] == "tcp" and d["VpnPort"] == 443 and d["VpnProtocol"] == "openvpn"
    assert d["ServerCertificateArn"] == certs["server"]
    assert d["AuthenticationOptions"][0]["MutualAuthentication"]["ClientRootCertificateChain"] == certs["client"]
    assert d["VpcId"] == net["vpc"] and d["SecurityGroupIds"] == [net["sg"]]
    assert d["SplitTunnel"] is False and d["Description"] == "vpnctl"


def test_create_response_shape(ec2, certs, net):
    r = ec2.create_client_vpn_endpoint(
        ClientCidrBlock="10.83.0.0/22", ServerCertificateArn=certs["server"],
        AuthenticationOptions=[{"Type": "certificate-authentication",
                                "MutualAuthentication": {"ClientRootCertificateChainArn": certs["client"]}}],
        ConnectionLogOptions={"Enabled": False},
    )
    assert r["Status"]["Code"] == "pending-associate"
    assert r["DnsName"].startswith("*.cvpn-endpoint-")


def test_default_security_group_when_only_vpc(ec2, make_endpoint, net):
    ep = make_endpoint(SecurityGroupIds=None)
    d = ec2.describe_client_vpn_endpoints(ClientVpnEndpointIds=[ep])["ClientVpnEndpoints"][0]
    default = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [net["vpc"]]},
                                                    {"Name": "group-name", "Values": ["default"]}])
    assert d["SecurityGroupIds"] == [default["SecurityGroups"][0]["GroupId"]]


def test_modify_endpoint(ec2, make_endpoint, net):
    ep = make_endpoint()
    assert ec2.modify_client_vpn_endpoint(
        ClientVpnEndpointId=ep, Description="new", SplitTunnel=True,
        DnsServers={"CustomDnsServers": ["10.0.0.2", "1.1.1.1"], "Enabled": True}, VpnPort=1194,
    )["Return"] is True
    d = ec2.describe_client_vpn_endpoints(ClientVpnEndpointIds=[ep])["ClientVpnEndpoints"][0]
    assert d["Description"] == "new" and d["SplitTunnel"] is True and d["VpnPort"] == 1194
    assert d["DnsServers"] == ["10.0.0.2", "1.1.1.1"]


def test_delete_endpoint(ec2, make_endpoint):
    ep = make_endpoint()
    assert ec2.delete_client_vpn_endpoint(ClientVpnEndpointId=ep)["Status"]["Code"] == "deleting"
    assert ec2.describe_client_vpn_endpoints()["ClientVpnEndpoints"] == []
    with pytest.raises(ClientError) as e:
        ec2.describe_client_vpn_endpoints(ClientVpnEndpointIds=[ep])
    assert code_of(e) == "InvalidClientVpnEndpointId.NotFound"


def test_associate_disassociate(ec2, make_endpoint, net):
    ep = make_endpoint()
    r = ec2.associate_client_vpn_target_network(ClientVpnEndpointId=ep, SubnetId=net["a"])
    assert r["Status"]["Code"] == "associating"
    assert r["AssociationId"].startswith("cvpn-assoc-")
    tn = ec2.describe_client_vpn_target_networks(ClientVpnEndpointId=ep)["ClientVpnTargetNetworks"]
    assert len(tn) == 1 and tn[0]["Status"]["Code"] == "associated"
    assert tn[0]["TargetNetworkId"] == net["a"] and tn[0]["VpcId"] == net["vpc"]
    assert tn[0]["SecurityGroups"] == [net["sg"]]
    d = ec2.describe_client_vpn_endpoints(ClientVpnEndpointIds=[ep])["ClientVpnEndpoints"][0]
    assert d["Status"]["Code"] == "available"
    routes = ec2.describe_client_vpn_routes(ClientVpnEndpointId=ep)["Routes"]
    assert [(x["DestinationCidr"], x["TargetSubnet"], x["Origin"], x["Status"]["Code"]) for x in routes] == [
        ("10.0.0.0/16", net["a"], "associate", "active")]
    with pytest.raises(ClientError) as e:
        ec2.delete_client_vpn_endpoint(ClientVpnEndpointId=ep)
    assert code_of(e) == "IncorrectState"
    d = ec2.disassociate_client_vpn_target_network(ClientVpnEndpointId=ep, AssociationId=r["AssociationId"])
    assert d["Status"]["Code"] == "disassociating"
    assert ec2.describe_client_vpn_target_networks(ClientVpnEndpointId=ep)["ClientVpnTargetNetworks"] == []
    assert ec2.describe_client_vpn_routes(ClientVpnEndpointId=ep)["Routes"] == []
    d = ec2.describe_client_vpn_endpoints(ClientVpnEndpointIds=[ep])["ClientVpnEndpoints"][0]
    assert d["Status"]["Code"] == "pending-associate"
    ec2.delete_client_vpn_endpoint(ClientVpnEndpointId=ep)


def test_association_sets_vpc_when_endpoint_has_none(ec2, make_endpoint, net):
    ep = make_endpoint(VpcId=None, SecurityGroupIds=None)
    ec2.associate_client_vpn_target_network(ClientVpnEndpointId=ep, SubnetId=net["b"])
    d = ec2.describe_client_vpn_endpoints(ClientVpnEndpointIds=[ep])["ClientVpnEndpoints"][0]
    assert d["VpcId"] == net["vpc"] and len(d["SecurityGroupIds"]) == 1


def test_authorization_rules(ec2, make_endpoint):
    ep = make_endpoint()
    assert ec2.authorize_client_vpn_ingress(
        ClientVpnEndpointId=ep, TargetNetworkCidr="10.0.0.0/16", AuthorizeAllGroups=True, Description="all"
    )["Status"]["Code"] == "authorizing"
    ec2.authorize_client_vpn_ingress(ClientVpnEndpointId=ep, TargetNetworkCidr="10.1.0.0/16", AccessGroupId="admins")
    rules = ec2.describe_client_vpn_authorization_rules(ClientVpnEndpointId=ep)["AuthorizationRules"]
    assert {(r["DestinationCidr"], r["AccessAll"], r["GroupId"], r["Status"]["Code"]) for r in rules} == {
        ("10.0.0.0/16", True, "", "active"), ("10.1.0.0/16", False, "admins", "active")}
    f = ec2.describe_client_vpn_authorization_rules(
        ClientVpnEndpointId=ep, Filters=[{"Name": "group-id", "Values": ["admins"]}])["AuthorizationRules"]
    assert [r["DestinationCidr"] for r in f] == ["10.1.0.0/16"]
    f = ec2.describe_client_vpn_authorization_rules(
        ClientVpnEndpointId=ep, Filters=[{"Name": "description", "Values": ["all"]}])["AuthorizationRules"]
    assert [r["DestinationCidr"] for r in f] == ["10.0.0.0/16"]
    f = ec2.describe_client_vpn_authorization_rules(
        ClientVpnEndpointId=ep, Filters=[{"Name": "destination-cidr", "Values": ["10.1.0.0/16"]}])["AuthorizationRules"]
    assert len(f) == 1
    assert ec2.revoke_client_vpn_ingress(
        ClientVpnEndpointId=ep, TargetNetworkCidr="10.0.0.0/16", RevokeAllGroups=True)["Status"]["Code"] == "revoking"
    rules = ec2.describe_client_vpn_authorization_rules(ClientVpnEndpointId=ep)["AuthorizationRules"]
    assert [r["DestinationCidr"] for r in rules] == ["10.1.0.0/16"]
    with pytest.raises(ClientError) as e:
        ec2.revoke_client_vpn_ingress(ClientVpnEndpointId=ep, TargetNetworkCidr="10.0.0.0/16", RevokeAllGroups=True)
    assert code_of(e) == "InvalidClientVpnEndpointAuthorizationRuleNotFound"
    with pytest.raises(ClientError) as e:
        ec2.authorize_client_vpn_ingress(ClientVpnEndpointId=ep, TargetNetworkCidr="10.1.0.0/16", AccessGroupId="admins")
    assert code_of(e) == "InvalidClientVpnDuplicateAuthorizationRule"


def test_routes(ec2, make_endpoint, net):
    ep = make_endpoint()
    ec2.associate_client_vpn_target_network(ClientVpnEndpointId=ep, SubnetId=net["a"])
    assert ec2.create_client_vpn_route(
        ClientVpnEndpointId=ep, DestinationCidrBlock="0.0.0.0/0", TargetVpcSubnetId=net["a"], Description="internet"
    )["Status"]["Code"] == "creating"
    routes = ec2.describe_client_vpn_routes(ClientVpnEndpointId=ep)["Routes"]
    assert {(r["DestinationCidr"], r["Origin"]) for r in routes} == {("10.0.0.0/16", "associate"), ("0.0.0.0/0", "add-route")}
    f = ec2.describe_client_vpn_routes(ClientVpnEndpointId=ep, Filters=[{"Name": "origin", "Values": ["add-route"]}])
    assert [r["DestinationCidr"] for r in f["Routes"]] == ["0.0.0.0/0"]
    f = ec2.describe_client_vpn_routes(ClientVpnEndpointId=ep, Filters=[{"Name": "destination-cidr", "Values": ["10.0.0.0/16"]}])
    assert [r["Origin"] for r in f["Routes"]] == ["associate"]
    f = ec2.describe_client_vpn_routes(ClientVpnEndpointId=ep, Filters=[{"Name": "target-subnet", "Values": [net["b"]]}])
    assert f["Routes"] == []
    with pytest.raises(ClientError) as e:
        ec2.create_client_vpn_route(ClientVpnEndpointId=ep, DestinationCidrBlock="0.0.0.0/0", TargetVpcSubnetId=net["a"])
    assert code_of(e) == "InvalidClientVpnDuplicateRoute"
    with pytest.raises(ClientError) as e:
        ec2.create_client_vpn_route(ClientVpnEndpointId=ep, DestinationCidrBlock="0.0.0.0/0", TargetVpcSubnetId=net["b"])
    assert code_of(e) == "InvalidClientVpnActiveAssociationNotFound"
    assert ec2.delete_client_vpn_route(
        ClientVpnEndpointId=ep, DestinationCidrBlock="0.0.0.0/0", TargetVpcSubnetId=net["a"])["Status"]["Code"] == "deleting"
    assert len(ec2.describe_client_vpn_routes(ClientVpnEndpointId=ep)["Routes"]) == 1
    with pytest.raises(ClientError) as e:
        ec2.delete_client_vpn_route(ClientVpnEndpointId=ep, DestinationCidrBlock="0.0.0.0/0", TargetVpcSubnetId=net["a"])
    assert code_of(e) == "InvalidClientVpnRouteNotFound"


def test_export_client_configuration(ec2, make_endpoint, pki):
    ep = make_endpoint()
    cfg = ec2.export_client_vpn_client_configuration(ClientVpnEndpointId=ep)["ClientConfiguration"]
    lines = cfg.splitlines()
    assert lines[:10] == [
        "client", "dev tun", "proto udp",
        f"remote {ep}.prod.clientvpn.us-east-1.amazonaws.com 443",
        "remote-random-hostname", "resolv-retry infinite", "nobind", "remote-cert-tls server",
        "cipher AES-256-GCM", "verb 3",
    ]
    ca = cfg.split("<ca>\n", 1)[1].split("\n</ca>", 1)[0]
    assert ca.strip() == pki.ca_pem.decode().strip()
    assert "reneg-sec 0" in lines
    assert "verify-x509-name server.vpnctl.internal name" in lines


def test_crl_import_export(ec2, make_endpoint, pki):
    ep = make_endpoint()
    assert "CertificateRevocationList" not in ec2.export_client_vpn_client_certificate_revocation_list(ClientVpnEndpointId=ep)
    crl = pki.crl()
    assert ec2.import_client_vpn_client_certificate_revocation_list(
        ClientVpnEndpointId=ep, CertificateRevocationList=crl)["Return"] is True
    out = ec2.export_client_vpn_client_certificate_revocation_list(ClientVpnEndpointId=ep)
    assert out["CertificateRevocationList"] == crl and out["Status"]["Code"] == "active"
    with pytest.raises(ClientError) as e:
        ec2.import_client_vpn_client_certificate_revocation_list(ClientVpnEndpointId=ep, CertificateRevocationList="junk")
    assert code_of(e) == "InvalidParameterValue"


def test_tags(ec2, make_endpoint):
    ep = make_endpoint(TagSpecifications=[{"ResourceType": "client-vpn-endpoint",
                                           "Tags": [{"Key": "Name", "Value": "vpnctl"}, {"Key": "env", "Value": "dev"}]}])
    d = ec2.describe_client_vpn_endpoints(ClientVpnEndpointIds=[ep])["ClientVpnEndpoints"][0]
    assert {t["Key"]: t["Value"] for t in d["Tags"]} == {"Name": "vpnctl", "env": "dev"}
    ec2.create_tags(Resources=[ep], Tags=[{"Key": "owner", "Value": "me"}])
    ec2.delete_tags(Resources=[ep], Tags=[{"Key": "env"}])
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [ep]}])["Tags"]
    assert {(t["Key"], t["Value"], t["ResourceType"]) for t in tags} == {
        ("Name", "vpnctl", "client-vpn-endpoint"), ("owner", "me", "client-vpn-endpoint")}
    tags = ec2.describe_tags(Filters=[{"Name": "resource-type", "Values": ["client-vpn-endpoint"]}])["Tags"]
    assert len(tags) == 2
    other = make_endpoint()
    f = ec2.describe_client_vpn_endpoints(Filters=[{"Name": "tag:Name", "Values": ["vpnctl"]}])["ClientVpnEndpoints"]
    assert [x["ClientVpnEndpointId"] for x in f] == [ep]
    f = ec2.describe_client_vpn_endpoints(Filters=[{"Name": "tag-key", "Values": ["owner"]}])["ClientVpnEndpoints"]
    assert [x["ClientVpnEndpointId"] for x in f] == [ep]
    assert other
    with pytest.raises(ClientError) as e:
        ec2.create_tags(Resources=["cvpn-endpoint-0123456789abcdef0"], Tags=[{"Key": "a", "Value": "b"}])
    assert code_of(e) == "InvalidClientVpnEndpointId.NotFound"
    with pytest.raises(ClientError) as e:
        make_endpoint(TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "a", "Value": "b"}]}])
    assert code_of(e) == "InvalidParameterValue"


def test_endpoint_filters(ec2, make_endpoint):
    udp = make_endpoint()
    tcp = make_endpoint(TransportProtocol="tcp")
    f = ec2.describe_client_vpn_endpoints(Filters=[{"Name": "transport-protocol", "Values": ["tcp"]}])
    assert [x["ClientVpnEndpointId"] for x in f["ClientVpnEndpoints"]] == [tcp]
    f = ec2.describe_client_vpn_endpoints(Filters=[{"Name": "endpoint-id", "Values": [udp]}])
    assert [x["ClientVpnEndpointId"] for x in f["ClientVpnEndpoints"]] == [udp]
    with pytest.raises(ClientError) as e:
        ec2.describe_client_vpn_endpoints(Filters=[{"Name": "bogus", "Values": ["x"]}])
    assert code_of(e) == "InvalidParameterValue"


def test_target_network_filters(ec2, make_endpoint, net):
    ep = make_endpoint()
    a = ec2.associate_client_vpn_target_network(ClientVpnEndpointId=ep, SubnetId=net["a"])["AssociationId"]
    ec2.associate_client_vpn_target_network(ClientVpnEndpointId=ep, SubnetId=net["b"])
    def ids(filters):
        return [t["TargetNetworkId"] for t in ec2.describe_client_vpn_target_networks(
            ClientVpnEndpointId=ep, Filters=filters)["ClientVpnTargetNetworks"]]
    assert ids([{"Name": "association-id", "Values": [a]}]) == [net["a"]]
    assert ids([{"Name": "target-network-id", "Values": [net["b"]]}]) == [net["b"]]
    assert sorted(ids([{"Name": "vpc-id", "Values": [net["vpc"]]}])) == sorted([net["a"], net["b"]])
    assert ids([{"Name": "vpc-id", "Values": ["vpc-nope"]}]) == []
    assert [t["AssociationId"] for t in ec2.describe_client_vpn_target_networks(
        ClientVpnEndpointId=ep, AssociationIds=[a])["ClientVpnTargetNetworks"]] == [a]


def test_pagination(ec2, make_endpoint):
    made = {make_endpoint() for _ in range(7)}
    p1 = ec2.describe_client_vpn_endpoints(MaxResults=5)
    assert len(p1["ClientVpnEndpoints"]) == 5 and p1["NextToken"]
    p2 = ec2.describe_client_vpn_endpoints(MaxResults=5, NextToken=p1["NextToken"])
    assert len(p2["ClientVpnEndpoints"]) == 2 and "NextToken" not in p2
    assert {e["ClientVpnEndpointId"] for e in p1["ClientVpnEndpoints"] + p2["ClientVpnEndpoints"]} == made
    paginator = ec2.get_paginator("describe_client_vpn_endpoints")
    seen = [e["ClientVpnEndpointId"] for page in paginator.paginate(PaginationConfig={"PageSize": 5})
            for e in page["ClientVpnEndpoints"]]
    assert set(seen) == made and len(seen) == 7
    ep = next(iter(made))
    for i in range(6):
        ec2.authorize_client_vpn_ingress(ClientVpnEndpointId=ep, TargetNetworkCidr=f"10.{i}.0.0/16", AuthorizeAllGroups=True)
    r = ec2.describe_client_vpn_authorization_rules(ClientVpnEndpointId=ep, MaxResults=5)
    assert len(r["AuthorizationRules"]) == 5
    r = ec2.describe_client_vpn_authorization_rules(ClientVpnEndpointId=ep, MaxResults=5, NextToken=r["NextToken"])
    assert len(r["AuthorizationRules"]) == 1


def test_client_token_idempotency(ec2, make_endpoint, net):
    a = make_endpoint(ClientToken="tok-1")
    b = make_endpoint(ClientToken="tok-1")
    assert a == b
    assert len(ec2.describe_client_vpn_endpoints()["ClientVpnEndpoints"]) == 1
    with pytest.raises(ClientError) as e:
        make_endpoint(ClientToken="tok-1", Description="different")
    assert code_of(e) == "IdempotentParameterMismatch"
    r1 = ec2.associate_client_vpn_target_network(ClientVpnEndpointId=a, SubnetId=net["a"], ClientToken="assoc")
    r2 = ec2.associate_client_vpn_target_network(ClientVpnEndpointId=a, SubnetId=net["a"], ClientToken="assoc")
    assert r1["AssociationId"] == r2["AssociationId"]
    for _ in range(2):
        ec2.authorize_client_vpn_ingress(ClientVpnEndpointId=a, TargetNetworkCidr="10.0.0.0/16",
                                         AuthorizeAllGroups=True, ClientToken="rule")
        ec2.create_client_vpn_route(ClientVpnEndpointId=a, DestinationCidrBlock="0.0.0.0/0",
                                    TargetVpcSubnetId=net["a"], ClientToken="route")
    assert len(ec2.describe_client_vpn_authorization_rules(ClientVpnEndpointId=a)["AuthorizationRules"]) == 1
    assert len(ec2.describe_client_vpn_routes(ClientVpnEndpointId=a)["Routes"]) == 2


def test_connections(emulator, ec2, make_endpoint):
    ep = make_endpoint()
    status, body = emulator.control("/_emulator/connections", {
        "client_vpn_endpoint_id": ep, "username": "alice", "client_ip": "10.83.0.5",
        "connection_established_time": "2026-01-02T03:04:05Z"})
    assert status == 200 and body["connection_id"].startswith("cvpn-connection-")
    alice = body["connection_id"]
    _, bob1 = emulator.control("/_emulator/connections", {"client_vpn_endpoint_id": ep, "username": "bob", "client_ip": "10.83.0.6"})
    _, bob2 = emulator.control("/_emulator/connections", {"client_vpn_endpoint_id": ep, "username": "bob", "client_ip": "10.83.0.7"})
    conns = ec2.describe_client_vpn_connections(ClientVpnEndpointId=ep)["Connections"]
    assert len(conns) == 3 and all(c["Status"]["Code"] == "active" for c in conns)
    a = [c for c in conns if c["ConnectionId"] == alice][0]
    # Certificate authentication: the client is its certificate's CommonName; no Username.
    assert a["CommonName"] == "alice" and "Username" not in a and a["ClientIp"] == "10.83.0.5"
    assert a["ConnectionEstablishedTime"] == "2026-01-02 03:04:05"
    f = ec2.describe_client_vpn_connections(ClientVpnEndpointId=ep, Filters=[{"Name": "username", "Values": ["bob"]}])
    assert len(f["Connections"]) == 0
    f = ec2.describe_client_vpn_connections(ClientVpnEndpointId=ep, Filters=[{"Name": "connection-id", "Values": [alice]}])
    assert len(f["Connections"]) == 1
    t = ec2.terminate_client_vpn_connections(ClientVpnEndpointId=ep, ConnectionId=alice)
    assert t["ConnectionStatuses"] == [{"ConnectionId": alice, "PreviousStatus": {"Code": "active"},
                                        "CurrentStatus": {"Code": "terminating"}}]
    # Terminating by Username finds nobody on a certificate-authenticated endpoint.
    with pytest.raises(ClientError) as e:
        ec2.terminate_client_vpn_connections(ClientVpnEndpointId=ep, Username="bob")
    assert code_of(e) == "InvalidClientVpnConnection.UserNotFound"
    for b in (bob1, bob2):
        ec2.terminate_client_vpn_connections(ClientVpnEndpointId=ep, ConnectionId=b["connection_id"])
    conns = ec2.describe_client_vpn_connections(ClientVpnEndpointId=ep)["Connections"]
    assert len(conns) == 3 and all(c["Status"]["Code"] == "terminated" for c in conns)
    with pytest.raises(ClientError) as e:
        ec2.terminate_client_vpn_connections(ClientVpnEndpointId=ep, ConnectionId="cvpn-connection-0123456789abcdef0")
    assert code_of(e) == "InvalidClientVpnConnection.IdNotFound"
    status, _ = emulator.control("/_emulator/connections", {"client_vpn_endpoint_id": "cvpn-endpoint-0000", "username": "x"})
    assert status == 404

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from conftest import code_of, expect, import_cert

MISSING_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-4000-8000-000000000000"


def test_unknown_endpoint_everywhere(ec2):
    missing = "cvpn-endpoint-0123456789abcdef0"
    for call in (
        lambda: ec2.describe_client_vpn_endpoints(ClientVpnEndpointIds=[missing]),
        lambda: ec2.modify_client_vpn_endpoint(ClientVpnEndpointId=missing, Description="x"),
        lambda: ec2.delete_client_vpn_endpoint(ClientVpnEndpointId=missing),
        lambda: ec2.describe_client_vpn_target_networks(ClientVpnEndpointId=missing),
        lambda: ec2.describe_client_vpn_routes(ClientVpnEndpointId=missing),
        lambda: ec2.describe_client_vpn_authorization_rules(ClientVpnEndpointId=missing),
        lambda: ec2.describe_client_vpn_connections(ClientVpnEndpointId=missing),
        lambda: ec2.export_client_vpn_client_configuration(ClientVpnEndpointId=missing),
        lambda: ec2.associate_client_vpn_target_network(ClientVpnEndpointId=missing, SubnetId="subnet-1"),
    ):
        expect("InvalidClientVpnEndpointId.NotFound", call)


def test_vpc_must_exist(make_endpoint):
    expect("InvalidVpcID.NotFound", make_endpoint, VpcId="vpc-0123456789abcdef0", SecurityGroupIds=None)


def test_security_group_must_exist(make_endpoint):
    expect("InvalidGroup.NotFound", make_endpoint, SecurityGroupIds=["sg-0123456789abcdef0"])


def test_security_group_must_be_in_vpc(ec2, make_endpoint):
    other = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    sg = ec2.create_security_group(GroupName="x", Description="x", VpcId=other)["GroupId"]
    expect("InvalidParameterValue", make_endpoint, SecurityGroupIds=[sg])


@pytest.mark.parametrize("cidr", ["10.83.0.0/23", "10.0.0.0/11", "not-a-cidr"])
def test_client_cidr_size(make_endpoint, cidr):
    expect("InvalidParameterValue", make_endpoint, ClientCidrBlock=cidr)


def test_client_cidr_bounds_ok(make_endpoint):
    make_endpoint(ClientCidrBlock="172.16.0.0/12")
    make_endpoint(ClientCidrBlock="192.168.100.0/22")


def test_client_cidr_overlapping_vpc_at_create(make_endpoint):
    expect("InvalidParameterValue", make_endpoint, ClientCidrBlock="10.0.0.0/22")


def test_client_cidr_overlapping_vpc_at_association(ec2, make_endpoint, net):
    ep = make_endpoint(ClientCidrBlock="10.0.0.0/22", VpcId=None, SecurityGroupIds=None)
    expect("InvalidClientVpnSubnetId.OverlappingCidr", ec2.associate_client_vpn_target_network,
           ClientVpnEndpointId=ep, SubnetId=net["a"])


def test_subnet_must_exist(ec2, make_endpoint):
    ep = make_endpoint()
    expect("InvalidSubnetID.NotFound", ec2.associate_client_vpn_target_network,
           ClientVpnEndpointId=ep, SubnetId="subnet-0123456789abcdef0")


def test_subnet_in_endpoint_vpc(ec2, make_endpoint):
    ep = make_endpoint()
    other = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=other, CidrBlock="10.9.1.0/24", AvailabilityZone="us-east-1c")["Subnet"]["SubnetId"]
    expect("InvalidClientVpnSubnetId.NotFound", ec2.associate_client_vpn_target_network,
           ClientVpnEndpointId=ep, SubnetId=sub)


def test_one_association_per_az_and_no_duplicates(ec2, make_endpoint, net):
    ep = make_endpoint()
    ec2.associate_client_vpn_target_network(ClientVpnEndpointId=ep, SubnetId=net["a"])
    expect("InvalidClientVpnDuplicateAssociationException", ec2.associate_client_vpn_target_network,
           ClientVpnEndpointId=ep, SubnetId=net["a"])
    expect("InvalidClientVpnSubnetId.DuplicateAz", ec2.associate_client_vpn_target_network,
           ClientVpnEndpointId=ep, SubnetId=net["a2"])
    ec2.associate_client_vpn_target_network(ClientVpnEndpointId=ep, SubnetId=net["b"])


def test_unknown_association(ec2, make_endpoint):
    ep = make_endpoint()
    expect("InvalidClientVpnAssociationIdNotFound", ec2.disassociate_client_vpn_target_network,
           ClientVpnEndpointId=ep, AssociationId="cvpn-assoc-0123456789abcdef0")


def test_server_certificate_must_exist(make_endpoint):
    expect("InvalidParameterValue", make_endpoint, ServerCertificateArn=MISSING_ARN)


def test_client_root_certificate_must_exist(make_endpoint):
    expect("InvalidParameterValue", make_endpoint, AuthenticationOptions=[{
        "Type": "certificate-authentication",
        "MutualAuthentication": {"ClientRootCertificateChainArn": MISSING_ARN}}])


def test_certificate_in_other_region_is_not_found(emulator, pki, make_endpoint):
    arn = import_cert(emulator.client("acm", "eu-west-1"), pki, "server.vpnctl.internal", ["server.vpnctl.internal"])
    expect("InvalidParameterValue", make_endpoint, ServerCertificateArn=arn)


def test_server_certificate_without_domain(acm, pki, make_endpoint):
    arn = import_cert(acm, pki, "server")
    msg = expect("InvalidParameterValue", make_endpoint, ServerCertificateArn=arn)
    assert msg == f"Certificate {arn} does not have a domain"


def test_server_certificate_with_san_only_domain_is_fine(acm, pki, make_endpoint):
    make_endpoint(ServerCertificateArn=import_cert(acm, pki, "server", ["vpn.vpnctl.internal"]))


def test_server_certificate_ec_key_refused(acm, pki, make_endpoint):
    arn = import_cert(acm, pki, "server.vpnctl.internal", ["server.vpnctl.internal"],
                      key=ec.generate_private_key(ec.SECP256R1()))
    expect("InvalidParameterValue", make_endpoint, ServerCertificateArn=arn)


def test_server_certificate_rsa4096_refused(acm, pki, make_endpoint):
    arn = import_cert(acm, pki, "server.vpnctl.internal", ["server.vpnctl.internal"],
                      key=rsa.generate_private_key(public_exponent=65537, key_size=4096))
    expect("InvalidParameterValue", make_endpoint, ServerCertificateArn=arn)


def test_modify_validates_certificate(ec2, acm, pki, make_endpoint):
    ep = make_endpoint()
    arn = import_cert(acm, pki, "server")
    expect("InvalidParameterValue", ec2.modify_client_vpn_endpoint, ClientVpnEndpointId=ep, ServerCertificateArn=arn)


def test_at_most_two_dns_servers(ec2, make_endpoint):
    expect("InvalidParameterValue", make_endpoint, DnsServers=["10.0.0.2", "1.1.1.1", "8.8.8.8"])
    ep = make_endpoint(DnsServers=["10.0.0.2", "1.1.1.1"])
    expect("InvalidParameterValue", ec2.modify_client_vpn_endpoint, ClientVpnEndpointId=ep,
           DnsServers={"CustomDnsServers": ["1.1.1.1", "8.8.8.8", "9.9.9.9"], "Enabled": True})


def test_vpn_port(make_endpoint):
    expect("InvalidParameterValue", make_endpoint, VpnPort=8443)
    make_endpoint(VpnPort=1194)


def test_cannot_delete_endpoint_with_associations(ec2, make_endpoint, net):
    ep = make_endpoint()
    ec2.associate_client_vpn_target_network(ClientVpnEndpointId=ep, SubnetId=net["a"])
    expect("IncorrectState", ec2.delete_client_vpn_endpoint, ClientVpnEndpointId=ep)


def test_acm_certificate_in_use_cannot_be_deleted(acm, certs, make_endpoint, ec2):
    ep = make_endpoint()
    for arn in (certs["server"], certs["client"]):
        with pytest.raises(ClientError) as e:
            acm.delete_certificate(CertificateArn=arn)
        assert code_of(e) == "ResourceInUseException"
    assert ep in acm.describe_certificate(CertificateArn=certs["server"])["Certificate"]["InUseBy"]
    ec2.delete_client_vpn_endpoint(ClientVpnEndpointId=ep)
    acm.delete_certificate(CertificateArn=certs["server"])
    acm.delete_certificate(CertificateArn=certs["client"])


def test_authorize_needs_exactly_one_group_option(ec2, make_endpoint):
    ep = make_endpoint()
    expect("InvalidParameterValue", ec2.authorize_client_vpn_ingress, ClientVpnEndpointId=ep, TargetNetworkCidr="10.0.0.0/16")
    expect("InvalidParameterValue", ec2.authorize_client_vpn_ingress, ClientVpnEndpointId=ep,
           TargetNetworkCidr="10.0.0.0/16", AccessGroupId="g", AuthorizeAllGroups=True)


def test_modify_vpc_with_associations_refused(ec2, make_endpoint, net):
    ep = make_endpoint()
    ec2.associate_client_vpn_target_network(ClientVpnEndpointId=ep, SubnetId=net["a"])
    other = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    expect("InvalidParameterValue", ec2.modify_client_vpn_endpoint, ClientVpnEndpointId=ep, VpcId=other)


def test_reimport_to_the_same_arn_keeps_arn_and_tags(acm, pki):
    cert, key = pki.leaf("server.vpnctl.internal", ["server.vpnctl.internal"])
    arn = acm.import_certificate(
        Certificate=cert, PrivateKey=key, CertificateChain=pki.ca_pem,
        Tags=[{"Key": "vpnctl:deployment", "Value": "lab"}],
    )["CertificateArn"]
    cert2, key2 = pki.leaf("server.vpnctl.internal", ["server.vpnctl.internal"])
    again = acm.import_certificate(CertificateArn=arn, Certificate=cert2, PrivateKey=key2, CertificateChain=pki.ca_pem)["CertificateArn"]
    assert again == arn
    assert acm.get_certificate(CertificateArn=arn)["Certificate"].strip() == cert2.decode().strip()
    tags = acm.list_tags_for_certificate(CertificateArn=arn)["Tags"]
    assert {"Key": "vpnctl:deployment", "Value": "lab"} in tags


# ---------------------------------------------------------------- options and sign-in
def test_session_timeout_and_banner_are_checked_on_create_and_modify(ec2, make_endpoint):
    expect("InvalidParameterValue", make_endpoint, SessionTimeoutHours=9)
    expect("InvalidParameterValue", make_endpoint,
           ClientLoginBannerOptions={"Enabled": True, "BannerText": "x" * 1401})
    expect("InvalidParameterValue", make_endpoint, ClientLoginBannerOptions={"Enabled": True})
    # 1400 characters, whatever their bytes.
    ep = make_endpoint(ClientLoginBannerOptions={"Enabled": True, "BannerText": "é" * 1400},
                       SessionTimeoutHours=12, ClientRouteEnforcementOptions={"Enforced": True},
                       DisconnectOnSessionTimeout=False)
    got = ec2.describe_client_vpn_endpoints(ClientVpnEndpointIds=[ep])["ClientVpnEndpoints"][0]
    assert got["ClientLoginBannerOptions"] == {"Enabled": True, "BannerText": "é" * 1400}
    assert got["SessionTimeoutHours"] == 12
    assert got["ClientRouteEnforcementOptions"] == {"Enforced": True}
    assert got["DisconnectOnSessionTimeout"] is False
    assert "SelfServicePortalUrl" not in got or not got["SelfServicePortalUrl"]
    expect("InvalidParameterValue", ec2.modify_client_vpn_endpoint, ClientVpnEndpointId=ep,
           SessionTimeoutHours=7)
    expect("InvalidParameterValue", ec2.modify_client_vpn_endpoint, ClientVpnEndpointId=ep,
           ClientLoginBannerOptions={"Enabled": True, "BannerText": "y" * 1401})
    # A refused modify changes nothing.
    again = ec2.describe_client_vpn_endpoints(ClientVpnEndpointIds=[ep])["ClientVpnEndpoints"][0]
    assert again["SessionTimeoutHours"] == 12 and again["ClientLoginBannerOptions"]["BannerText"] == "é" * 1400
    ec2.modify_client_vpn_endpoint(ClientVpnEndpointId=ep, SessionTimeoutHours=8,
                                   ClientLoginBannerOptions={"Enabled": False},
                                   ClientRouteEnforcementOptions={"Enforced": False})
    got = ec2.describe_client_vpn_endpoints(ClientVpnEndpointIds=[ep])["ClientVpnEndpoints"][0]
    assert got["SessionTimeoutHours"] == 8
    assert got["ClientLoginBannerOptions"]["Enabled"] is False
    assert got["ClientRouteEnforcementOptions"] == {"Enforced": False}


def saml_provider(emulator, name="idp"):
    import importlib.util, pathlib
    spec = importlib.util.spec_from_file_location(
        "saml_provider", pathlib.Path(__file__).resolve().parents[1] / "saml_provider.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    iam = emulator.client("iam")
    return iam.create_saml_provider(SAMLMetadataDocument=module.METADATA, Name=name)["SAMLProviderArn"]


def test_sign_in_combinations_and_the_saml_provider_are_checked(emulator, ec2, certs, make_endpoint):
    mutual = {"Type": "certificate-authentication",
              "MutualAuthentication": {"ClientRootCertificateChainArn": certs["client"]}}
    directory = {"Type": "directory-service-authentication", "ActiveDirectory": {"DirectoryId": "d-1234567890"}}
    missing = "arn:aws:iam::123456789012:saml-provider/nobody"
    federated = lambda arn: {"Type": "federated-authentication", "FederatedAuthentication": {"SAMLProviderArn": arn}}
    expect("InvalidParameterValue", make_endpoint, AuthenticationOptions=[mutual, federated(missing)])
    arn = saml_provider(emulator)
    expect("InvalidParameterValue", make_endpoint, AuthenticationOptions=[directory, federated(arn)])
    expect("InvalidParameterValue", make_endpoint, AuthenticationOptions=[mutual, mutual])
    # No portal for certificates alone.
    expect("InvalidParameterValue", make_endpoint, SelfServicePortal="enabled")
    ep = make_endpoint(AuthenticationOptions=[mutual, federated(arn)], SelfServicePortal="enabled")
    got = ec2.describe_client_vpn_endpoints(ClientVpnEndpointIds=[ep])["ClientVpnEndpoints"][0]
    assert got["SelfServicePortalUrl"] == f"https://self-service.clientvpn.amazonaws.com/endpoints/{ep}"
    fed = [a for a in got["AuthenticationOptions"] if a["Type"] == "federated-authentication"][0]
    assert fed["FederatedAuthentication"]["SamlProviderArn"] == arn
    config = ec2.export_client_vpn_client_configuration(ClientVpnEndpointId=ep)["ClientConfiguration"]
    assert "\nauth-federate\n" in config
    ec2.modify_client_vpn_endpoint(ClientVpnEndpointId=ep, SelfServicePortal="disabled")
    got = ec2.describe_client_vpn_endpoints(ClientVpnEndpointIds=[ep])["ClientVpnEndpoints"][0]
    assert not got.get("SelfServicePortalUrl")
    plain = make_endpoint(ClientCidrBlock="10.84.0.0/22")
    expect("InvalidParameterValue", ec2.modify_client_vpn_endpoint, ClientVpnEndpointId=plain,
           SelfServicePortal="enabled")

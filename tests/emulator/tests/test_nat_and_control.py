import pytest
from botocore.exceptions import ClientError

from conftest import code_of


def test_nat_gateway_with_delay_zero(ec2, net):
    eip = ec2.allocate_address(Domain="vpc", TagSpecifications=[
        {"ResourceType": "elastic-ip", "Tags": [{"Key": "Name", "Value": "vpnctl-nat"}]}])["AllocationId"]
    ngw = ec2.create_nat_gateway(SubnetId=net["a"], AllocationId=eip, TagSpecifications=[
        {"ResourceType": "natgateway", "Tags": [{"Key": "Name", "Value": "vpnctl"}, {"Key": "owner", "Value": "me"}]}])["NatGateway"]
    assert ngw["State"] == "pending"  # the create response shows the transitional state
    nid = ngw["NatGatewayId"]
    other = ec2.create_nat_gateway(SubnetId=net["b"], AllocationId=ec2.allocate_address(Domain="vpc")["AllocationId"])
    d = ec2.describe_nat_gateways(NatGatewayIds=[nid])["NatGateways"][0]
    assert d["State"] == "available"
    assert {t["Key"]: t["Value"] for t in d["Tags"]} == {"Name": "vpnctl", "owner": "me"}
    assert d["NatGatewayAddresses"][0]["AllocationId"] == eip
    tagged = ec2.describe_nat_gateways(Filter=[{"Name": "tag:Name", "Values": ["vpnctl"]}])["NatGateways"]
    assert [n["NatGatewayId"] for n in tagged] == [nid]
    tagged = ec2.describe_nat_gateways(Filter=[{"Name": "tag-key", "Values": ["owner"]}])["NatGateways"]
    assert [n["NatGatewayId"] for n in tagged] == [nid]
    assert ec2.describe_nat_gateways(Filter=[{"Name": "tag:Name", "Values": ["nope"]}])["NatGateways"] == []
    assert other
    addrs = ec2.describe_addresses(Filters=[{"Name": "tag:Name", "Values": ["vpnctl-nat"]}])["Addresses"]
    assert [a["AllocationId"] for a in addrs] == [eip]
    addrs = ec2.describe_addresses(Filters=[{"Name": "tag-key", "Values": ["Name"]}])["Addresses"]
    assert [a["AllocationId"] for a in addrs] == [eip]
    assert addrs[0]["AssociationId"]
    with pytest.raises(ClientError) as e:
        ec2.release_address(AllocationId=eip)
    assert code_of(e) == "AuthFailure"
    with pytest.raises(ClientError) as e:
        ec2.disassociate_address(AssociationId=addrs[0]["AssociationId"])
    assert code_of(e) == "AuthFailure"
    with pytest.raises(ClientError) as e:
        ec2.create_nat_gateway(SubnetId="subnet-0123456789abcdef0", AllocationId=eip)
    assert code_of(e) == "InvalidSubnetID.NotFound"
    ec2.delete_nat_gateway(NatGatewayId=nid)
    assert ec2.describe_nat_gateways(NatGatewayIds=[nid])["NatGateways"][0]["State"] == "deleted"
    addr = ec2.describe_addresses(AllocationIds=[eip])["Addresses"][0]
    assert "AssociationId" not in addr  # still allocated, no longer associated
    ec2.release_address(AllocationId=eip)
    with pytest.raises(ClientError) as e:
        ec2.delete_nat_gateway(NatGatewayId="nat-0123456789abcdef0")
    assert code_of(e) == "NatGatewayNotFound"


def test_health_config_and_startup(emulator):
    assert emulator.startup_seconds < 8, emulator.startup_seconds
    assert emulator.control("/_emulator/health") == (200, {"status": "ok"})
    assert emulator.control("/_emulator/config") == (200, {
        "delay_seconds": 0.0, "delays": {}, "concurrent_mutation_limit": 0,
        "consistency_seconds": 0.0, "quotas": False, "clock_offset_seconds": 0.0,
        "scheduler_realtime": False})
    assert emulator.control("/_emulator/config", {"delay_seconds": -1})[0] == 400
    assert emulator.control("/_emulator/nope")[0] == 404


def test_reset_wipes_everything(emulator, ec2, make_endpoint):
    ep = make_endpoint()
    emulator.set_delay(2)
    assert emulator.control("/_emulator/reset", {})[0] == 200
    assert emulator.control("/_emulator/config")[1]["delay_seconds"] == 0.0
    assert ec2.describe_client_vpn_endpoints()["ClientVpnEndpoints"] == []
    assert ep


def test_moto_reset_also_wipes_client_vpn(emulator, ec2, make_endpoint):
    import urllib.request
    make_endpoint()
    urllib.request.urlopen(urllib.request.Request(emulator.url + "/moto-api/reset", data=b"", method="POST")).read()
    assert ec2.describe_client_vpn_endpoints()["ClientVpnEndpoints"] == []


def test_state_is_per_region(emulator, make_endpoint):
    make_endpoint()
    west = emulator.client("ec2", "us-west-2")
    assert west.describe_client_vpn_endpoints()["ClientVpnEndpoints"] == []


def test_endpoint_uses_moto_state(ec2, make_endpoint, net):
    """Associations see subnets created through stock moto; the VPC is moto's object."""
    ep = make_endpoint()
    ec2.associate_client_vpn_target_network(ClientVpnEndpointId=ep, SubnetId=net["b"])
    ec2.delete_subnet  # exists
    assert ec2.describe_vpcs(VpcIds=[net["vpc"]])["Vpcs"][0]["CidrBlock"] == "10.0.0.0/16"


def test_dry_run(ec2, make_endpoint):
    with pytest.raises(ClientError) as e:
        ec2.describe_client_vpn_endpoints(DryRun=True)
    assert code_of(e) == "DryRunOperation"


def test_missing_moto_hook_fails_loudly():
    import subprocess
    import sys
    from pathlib import Path
    code = (
        "import moto.ec2.models.nat_gateways as m\n"
        "del m.NatGatewayBackend.delete_nat_gateway\n"
        "from vpnctl_emulator.server import main\n"
        "main(['--port', '1'])\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 3
    assert "NatGatewayBackend.delete_nat_gateway is missing" in r.stderr
    assert "emulator ready" not in r.stdout

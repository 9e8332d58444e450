"""Make a Client VPN endpoint the way AWS's own guide does, from an easy-rsa PKI, with no
vpnctl involved (what `vpnctl adopt` takes over): import the server certificate and one client
certificate to ACM, each with ca.crt as its chain
(https://docs.aws.amazon.com/vpn/latest/clientvpn-admin/mutual.html), create the endpoint with
mutual authentication whose client root is the client certificate's ARN, associate a subnet,
authorize the VPC's CIDR (https://docs.aws.amazon.com/vpn/latest/clientvpn-admin/cvpn-getting-started.html).

Prints {"endpoint": ID, "server": ARN, "client": ARN, "subnet": ID, "vpc": ID}.
Usage: python by_hand.py --endpoint http://127.0.0.1:PORT --pki EASYRSA_PKI --server ENTITY
       --client ENTITY --vpc-name lab-vpc --subnet-name lab-public-subnet --client-cidr CIDR
"""

import argparse
import json
import os

import boto3


def read(path):
    with open(path, "rb") as f:
        return f.read()


def by_name(items, key, name):
    for item in items:
        if any(t["Key"] == "Name" and t["Value"] == name for t in item.get("Tags", [])):
            return item[key]
    raise SystemExit(f"no {key} named {name}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--region", default=os.environ.get("AWS_REGION", "us-east-1"))
    p.add_argument("--pki", required=True)
    p.add_argument("--server", required=True)
    p.add_argument("--client", required=True)
    p.add_argument("--vpc-name", default="lab-vpc")
    p.add_argument("--subnet-name", default="lab-public-subnet")
    p.add_argument("--client-cidr", default="10.77.0.0/22")
    p.add_argument("--cert-name", help="a Name tag for the imported certificates")
    p.add_argument("--server-pki", help="take the server certificate from this PKI instead")
    p.add_argument("--client-arn", help="use this ACM certificate as the client root (shared)")
    p.add_argument("--directory-only", action="store_true",
                   help="Active Directory sign-in only, no certificate authentication")
    p.add_argument("--no-associate", action="store_true")
    a = p.parse_args()
    kw = dict(endpoint_url=a.endpoint, region_name=a.region,
              aws_access_key_id="testing", aws_secret_access_key="testing")
    acm = boto3.client("acm", **kw)
    ec2 = boto3.client("ec2", **kw)

    def upload(entity, pki=a.pki):
        extra = {"Tags": [{"Key": "Name", "Value": a.cert_name}]} if a.cert_name else {}
        return acm.import_certificate(
            Certificate=read(os.path.join(pki, "issued", f"{entity}.crt")),
            PrivateKey=read(os.path.join(pki, "private", f"{entity}.key")),
            CertificateChain=read(os.path.join(pki, "ca.crt")), **extra)["CertificateArn"]

    server = upload(a.server, a.server_pki or a.pki)
    client = a.client_arn or upload(a.client)
    vpcs = ec2.describe_vpcs()["Vpcs"]
    vpc = by_name(vpcs, "VpcId", a.vpc_name)
    subnet = by_name(ec2.describe_subnets()["Subnets"], "SubnetId", a.subnet_name)
    cidr = next(v["CidrBlock"] for v in vpcs if v["VpcId"] == vpc)
    ep = ec2.create_client_vpn_endpoint(
        ClientCidrBlock=a.client_cidr,
        ServerCertificateArn=server,
        AuthenticationOptions=[{"Type": "directory-service-authentication",
                                "ActiveDirectory": {"DirectoryId": "d-1234567890"}}]
        if a.directory_only else
        [{"Type": "certificate-authentication",
          "MutualAuthentication": {"ClientRootCertificateChainArn": client}}],
        ConnectionLogOptions={"Enabled": False},
        VpcId=vpc,
        SplitTunnel=True,
        Description="made by hand from AWS's guide",
        TagSpecifications=[{"ResourceType": "client-vpn-endpoint",
                            "Tags": [{"Key": "Name", "Value": "by-hand"}]}],
    )["ClientVpnEndpointId"]
    if not a.no_associate:
        ec2.associate_client_vpn_target_network(ClientVpnEndpointId=ep, SubnetId=subnet)
    ec2.authorize_client_vpn_ingress(ClientVpnEndpointId=ep, TargetNetworkCidr=cidr,
                                     AuthorizeAllGroups=True)
    print(json.dumps({"endpoint": ep, "server": server, "client": client, "subnet": subnet,
                      "vpc": vpc}))


if __name__ == "__main__":
    main()

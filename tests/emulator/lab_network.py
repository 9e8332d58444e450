"""Create the lab's network in the emulator (the network of the AWS Client VPN lab):
lab-vpc 10.0.0.0/16, lab-public-subnet 10.0.1.0/24 and lab-private-subnet 10.0.2.0/24,
an internet gateway and a public route table with 0.0.0.0/0 through it.

With --extra it also makes what vpnctl's tests need besides: a second public subnet in
another Availability Zone (lab-public-b, 10.0.3.0/24), a separate VPC without an internet
gateway (other-vpc, 10.1.0.0/16) with other-subnet, and a VPC whose private subnet already
has a default route vpnctl did not make (foreign-vpc 10.2.0.0/16: foreign-public routed to
its internet gateway, foreign-private with its own route table sending 0.0.0.0/0 there too),
and a security group of lab-vpc named by its Name tag only (group name "vpn-clients", Name tag
lab-vpn-sg).

Prints the ids as JSON. Usage: python lab_network.py --endpoint http://127.0.0.1:PORT [--extra]
"""

import argparse
import json
import os

import boto3


def tag(name):
    return [{"Key": "Name", "Value": name}]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--region", default=os.environ.get("AWS_REGION", "us-east-1"))
    p.add_argument("--extra", action="store_true")
    a = p.parse_args()
    ec2 = boto3.client(
        "ec2",
        endpoint_url=a.endpoint,
        region_name=a.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    az = lambda s: f"{a.region}{s}"
    out = {}
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": tag("lab-vpc")}])["Vpc"]["VpcId"]
    out["vpc"] = vpc
    def subnet(name, cidr, zone, vpc_id):
        return ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone,
                                 TagSpecifications=[{"ResourceType": "subnet", "Tags": tag(name)}])["Subnet"]["SubnetId"]
    out["public"] = subnet("lab-public-subnet", "10.0.1.0/24", az("a"), vpc)
    out["private"] = subnet("lab-private-subnet", "10.0.2.0/24", az("a"), vpc)
    igw = ec2.create_internet_gateway(TagSpecifications=[{"ResourceType": "internet-gateway", "Tags": tag("lab-igw")}])["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    rt = ec2.create_route_table(VpcId=vpc, TagSpecifications=[{"ResourceType": "route-table", "Tags": tag("lab-public-rt")}])["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=rt, SubnetId=out["public"])
    out["igw"] = igw
    out["public_route_table"] = rt
    if a.extra:
        out["public_b"] = subnet("lab-public-b", "10.0.3.0/24", az("b"), vpc)
        # Too small for a Client VPN target network (AWS needs a /27 or larger).
        out["tiny"] = subnet("lab-tiny-subnet", "10.0.4.0/28", az("c"), vpc)
        other = ec2.create_vpc(CidrBlock="10.1.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": tag("other-vpc")}])["Vpc"]["VpcId"]
        out["other_vpc"] = other
        out["other_subnet"] = subnet("other-subnet", "10.1.1.0/24", az("a"), other)
        fvpc = ec2.create_vpc(CidrBlock="10.2.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": tag("foreign-vpc")}])["Vpc"]["VpcId"]
        fpub = subnet("foreign-public", "10.2.1.0/24", az("a"), fvpc)
        fpriv = subnet("foreign-private", "10.2.2.0/24", az("a"), fvpc)
        figw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=figw, VpcId=fvpc)
        for name, sub in (("foreign-public-rt", fpub), ("foreign-private-rt", fpriv)):
            t = ec2.create_route_table(VpcId=fvpc, TagSpecifications=[{"ResourceType": "route-table", "Tags": tag(name)}])["RouteTable"]["RouteTableId"]
            ec2.create_route(RouteTableId=t, DestinationCidrBlock="0.0.0.0/0", GatewayId=figw)
            ec2.associate_route_table(RouteTableId=t, SubnetId=sub)
            out[name.replace("-", "_")] = t
        out.update(foreign_vpc=fvpc, foreign_public=fpub, foreign_private=fpriv, foreign_igw=figw)
        out["vpn_sg"] = ec2.create_security_group(
            GroupName="vpn-clients", Description="for the VPN endpoint", VpcId=vpc,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tag("lab-vpn-sg")}],
        )["GroupId"]
        out["default_sg"] = ec2.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}]
        )["SecurityGroups"][0]["GroupId"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()

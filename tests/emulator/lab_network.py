"""Create the lab's network in the emulator (the network of the AWS Client VPN lab):
lab-vpc 10.0.0.0/16, lab-public-subnet 10.0.1.0/24 and lab-private-subnet 10.0.2.0/24,
an internet gateway and a public route table with 0.0.0.0/0 through it.

With --extra it also makes what vpnctl's tests need besides: a second public subnet in
another Availability Zone (lab-public-b, 10.0.3.0/24) and a separate VPC (other-vpc,
10.1.0.0/16) with other-subnet.

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
        other = ec2.create_vpc(CidrBlock="10.1.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": tag("other-vpc")}])["Vpc"]["VpcId"]
        out["other_vpc"] = other
        out["other_subnet"] = subnet("other-subnet", "10.1.1.0/24", az("a"), other)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

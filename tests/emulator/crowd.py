"""Fill the emulator's account with resources that are not the deployment's, as a shared AWS
account holds them: CERTS imported ACM certificates (self-signed RSA-2048, one shared key,
each with its own domain; every other one tagged for another vpnctl deployment, the rest
untagged) and ENDPOINTS Client VPN endpoints using the first of them (every other one tagged
for another vpnctl deployment). vpnctl's call counts must not grow with them
(benches/api-calls.sh, tests/it/calls.rs).

Prints the ARNs and ids made, in order: {"certificates": [...], "endpoints": [...]}.
Usage: python crowd.py --endpoint http://127.0.0.1:PORT [--certs 200] [--endpoints 4]
       [--deployment other]
"""

import argparse
import datetime
import json
import os

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def self_signed(key, name, serial):
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--region", default=os.environ.get("AWS_REGION", "us-east-1"))
    p.add_argument("--certs", type=int, default=200)
    p.add_argument("--endpoints", type=int, default=4)
    p.add_argument("--deployment", default="other")
    a = p.parse_args()
    kw = dict(endpoint_url=a.endpoint, region_name=a.region,
              aws_access_key_id="testing", aws_secret_access_key="testing")
    acm = boto3.client("acm", **kw)
    ec2 = boto3.client("ec2", **kw)
    theirs = [{"Key": "vpnctl:deployment", "Value": a.deployment},
              {"Key": "vpnctl:managed-by", "Value": "vpnctl"}]

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    arns = []
    for i in range(a.certs):
        cert = self_signed(key, f"host-{i}.unrelated.example", i + 1)
        extra = {"Tags": theirs} if i % 2 else {}
        arns.append(acm.import_certificate(Certificate=cert, PrivateKey=key_pem,
                                           **extra)["CertificateArn"])
    ids = []
    for i in range(a.endpoints if arns else 0):
        extra = {"TagSpecifications": [{"ResourceType": "client-vpn-endpoint", "Tags": theirs}]} \
            if i % 2 else {}
        ids.append(ec2.create_client_vpn_endpoint(
            ClientCidrBlock=f"172.{16 + i}.0.0/22",
            ServerCertificateArn=arns[0],
            AuthenticationOptions=[{"Type": "certificate-authentication",
                                    "MutualAuthentication": {"ClientRootCertificateChainArn": arns[0]}}],
            ConnectionLogOptions={"Enabled": False},
            Description=f"unrelated endpoint {i}",
            **extra,
        )["ClientVpnEndpointId"])
    print(json.dumps({"certificates": arns, "endpoints": ids}))

if __name__ == "__main__":
    main()

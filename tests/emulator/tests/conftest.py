import datetime
import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

HERE = Path(__file__).resolve().parent.parent
REGION = "us-east-1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulator:
    def __init__(self, url, startup_seconds):
        self.url = url
        self.startup_seconds = startup_seconds
        self._clients = {}

    def control(self, path, body=None, method=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path, data=data, method=method or ("POST" if data is not None else "GET"),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def session(self, region=REGION):
        return boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing",
            aws_session_token="testing", region_name=region,
        )

    def client(self, service, region=REGION, attempts=None):
        """A shared client (loading botocore's EC2 model takes ~0.5 s); `attempts` caps the
        SDK's own retries, so a test sees an injected 5xx or throttling error itself."""
        key = (service, region, attempts)
        if key not in self._clients:
            config = Config(retries={"mode": "standard", "total_max_attempts": attempts}) if attempts else None
            self._clients[key] = self.session(region).client(service, endpoint_url=self.url, config=config)
        return self._clients[key]

    def configure(self, **settings):
        status, body = self.control("/_emulator/config", settings)
        assert status == 200, body
        return body

    def fault(self, **fault):
        status, body = self.control("/_emulator/faults", fault)
        assert status == 200, body
        return body

    def calls(self):
        return self.control("/_emulator/calls")[1]

    def raw(self, service, headers, body):
        """A signed-looking request (moto checks no signature) and the raw (status, body)."""
        auth = f"AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0"
        req = urllib.request.Request(self.url + "/", data=body.encode(), method="POST",
                                     headers={"Authorization": auth, **headers})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def set_delay(self, seconds):
        status, body = self.control("/_emulator/config", {"delay_seconds": seconds})
        assert status == 200 and body["delay_seconds"] == seconds


@pytest.fixture(scope="session")
def emulator():
    port = free_port()
    # Schedules run only when a test asks (POST /_emulator/scheduler/run), never by the clock.
    env = dict(os.environ, EMULATOR_DELAY_SECONDS="0", EMULATOR_SCHEDULER_REALTIME="0")
    for k in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        env.pop(k, None)
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [str(HERE / "run"), "--port", str(port)], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    ready_line = proc.stdout.readline().strip()
    assert ready_line == f"emulator ready on {url}", ready_line
    emu = None
    for _ in range(200):
        try:
            with urllib.request.urlopen(url + "/_emulator/health", timeout=1) as r:
                if r.status == 200:
                    emu = Emulator(url, time.monotonic() - t0)
                    break
        except OSError:
            time.sleep(0.05)
    assert emu is not None, "emulator never became healthy"
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
    yield emu
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(autouse=True)
def _reset(emulator):
    status, _ = emulator.control("/_emulator/reset", {})
    assert status == 200
    yield


@pytest.fixture
def ec2(emulator):
    return emulator.client("ec2")


@pytest.fixture
def acm(emulator):
    return emulator.client("acm")


# ---------------------------------------------------------------- certificates
def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL
        if isinstance(key, rsa.RSAPrivateKey) else serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class PKI:
    def __init__(self):
        now = datetime.datetime.now(datetime.timezone.utc)
        self.nb, self.na = now - datetime.timedelta(days=1), now + datetime.timedelta(days=365)
        self.ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ca_cert = (
            x509.CertificateBuilder().subject_name(_name("vpnctl test CA")).issuer_name(_name("vpnctl test CA"))
            .public_key(self.ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(self.nb).not_valid_after(self.na)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.ca_key, hashes.SHA256())
        )
        self.ca_pem = self.ca_cert.public_bytes(serialization.Encoding.PEM)
        self._rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def leaf(self, cn, sans=(), key=None):
        key = key or self._rsa
        b = (
            x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(self.ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(self.nb).not_valid_after(self.na)
        )
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
        cert = b.sign(self.ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)

    def crl(self, revoked=0):
        b = (
            x509.CertificateRevocationListBuilder().issuer_name(self.ca_cert.subject)
            .last_update(self.nb).next_update(self.na)
        )
        for serial in range(1, revoked + 1):
            b = b.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(self.nb).build())
        return b.sign(self.ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="session")
def pki():
    return PKI()


def import_cert(acm, pki, cn, sans=(), key=None):
    cert, priv = pki.leaf(cn, sans, key)
    return acm.import_certificate(Certificate=cert, PrivateKey=priv, CertificateChain=pki.ca_pem)["CertificateArn"]


@pytest.fixture
def certs(acm, pki):
    return {
        "server": import_cert(acm, pki, "server.vpnctl.internal", ["server.vpnctl.internal"]),
        "client": import_cert(acm, pki, "client1.vpnctl.internal", ["client1.vpnctl.internal"]),
    }


@pytest.fixture
def net(ec2):
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24", AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
    a2 = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.3.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="vpn", Description="vpn", VpcId=vpc)["GroupId"]
    return {"vpc": vpc, "a": a, "b": b, "a2": a2, "sg": sg}


@pytest.fixture
def make_endpoint(ec2, certs, net):
    def make(**overrides):
        params = dict(
            ClientCidrBlock="10.83.0.0/22",
            ServerCertificateArn=certs["server"],
            AuthenticationOptions=[{
                "Type": "certificate-authentication",
                "MutualAuthentication": {"ClientRootCertificateChainArn": certs["client"]},
            }],
            ConnectionLogOptions={"Enabled": False},
            VpcId=net["vpc"],
            SecurityGroupIds=[net["sg"]],
        )
        params.update(overrides)
        params = {k: v for k, v in params.items() if v is not None}
        return ec2.create_client_vpn_endpoint(**params)["ClientVpnEndpointId"]
    return make


def code_of(excinfo):
    return excinfo.value.response["Error"]["Code"]


def expect(code, fn, *args, **kwargs):
    """Call fn, which must fail with this AWS error code; returns the error's message."""
    with pytest.raises(ClientError) as e:
        fn(*args, **kwargs)
    assert code_of(e) == code, e.value.response["Error"]
    return e.value.response["Error"]["Message"]

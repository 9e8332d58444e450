#!/usr/bin/env python3
"""Grow a vpnctl PKI (made by `vpnctl pki init`, CA key unencrypted) to N users, R of them
revoked, fast: one RSA key is shared by every user (key generation is not what the benchmark
measures), each certificate is signed by the PKI's CA with its own random serial, and the
index and the files look exactly as `vpnctl pki issue` and `revoke` leave them. Run
`vpnctl pki crl` afterwards so crl.pem lists the revoked serials.

    make-big-pki.py PKI_DIR N R

Needs the `cryptography` package (the emulator's virtualenv has it).
"""
import datetime
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def main():
    pki, n, revoked = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with open(os.path.join(pki, "ca.crt"), "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(pki, "private", "ca.key"), "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    now = datetime.datetime.now(datetime.timezone.utc)
    not_after = now + datetime.timedelta(days=825)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    lines = []
    for sub in ("revoked/certs_by_serial", "revoked/private_by_serial"):
        os.makedirs(os.path.join(pki, sub), mode=0o700, exist_ok=True)
    for i in range(n):
        name = f"user{i:05d}"
        raw = bytearray(os.urandom(16))
        raw[0] = (raw[0] & 0x7F) | 0x40
        serial = int.from_bytes(raw, "big")
        hexs = raw.hex().upper()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False), True
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
            .add_extension(ski, False)
            .add_extension(aki, False)
            .sign(ca_key, hashes.SHA256())
        )
        pem = cert.public_bytes(serialization.Encoding.PEM)
        expiry = not_after.strftime("%y%m%d%H%M%SZ")
        if i < revoked:
            at = now.strftime("%y%m%d%H%M%SZ")
            lines.append(f"R\t{expiry}\t{at},cessationOfOperation\t{hexs}\tunknown\t/CN={name}\n")
            cert_path = os.path.join(pki, "revoked/certs_by_serial", f"{hexs}.crt")
            key_path = os.path.join(pki, "revoked/private_by_serial", f"{hexs}.key")
        else:
            lines.append(f"V\t{expiry}\t\t{hexs}\tunknown\t/CN={name}\n")
            cert_path = os.path.join(pki, "issued", f"{name}.crt")
            key_path = os.path.join(pki, "private", f"{name}.key")
        with open(cert_path, "wb") as f:
            f.write(pem)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem)
    with open(os.path.join(pki, "index.txt"), "a") as f:
        f.writelines(lines)


if __name__ == "__main__":
    main()

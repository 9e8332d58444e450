"""KMS Sign as the API reference has it: DIGEST signed as given, RAW at most 4096 bytes, a
digest of the wrong length refused. Signatures are checked with cryptography, never with KMS's
own Verify (moto's has the same DIGEST bug)."""
import hashlib

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from conftest import code_of

ALG = "RSASSA_PKCS1_V1_5_SHA_256"


@pytest.fixture
def key(emulator):
    kms = emulator.client("kms")
    key_id = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    return kms, key_id, public


def test_raw_and_digest_signatures_both_verify_over_the_message(key):
    kms, key_id, public = key
    message = b"tbsCertificate" * 100
    raw = kms.sign(KeyId=key_id, Message=message, MessageType="RAW", SigningAlgorithm=ALG)
    public.verify(raw["Signature"], message, padding.PKCS1v15(), hashes.SHA256())
    digest = kms.sign(KeyId=key_id, Message=hashlib.sha256(message).digest(),
                      MessageType="DIGEST", SigningAlgorithm=ALG)
    public.verify(digest["Signature"], message, padding.PKCS1v15(), hashes.SHA256())


def test_raw_over_4096_bytes_and_a_short_digest_are_refused(key):
    kms, key_id, _ = key
    for message, kind in ((b"x" * 4097, "RAW"), (b"x" * 31, "DIGEST")):
        with pytest.raises(ClientError) as e:
            kms.sign(KeyId=key_id, Message=message, MessageType=kind, SigningAlgorithm=ALG)
        assert code_of(e) == "ValidationException"


def test_a_digest_needs_a_signing_key(emulator):
    kms = emulator.client("kms")
    key_id = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as e:
        kms.sign(KeyId=key_id, Message=b"x" * 32, MessageType="DIGEST", SigningAlgorithm=ALG)
    assert code_of(e) == "ValidationException"

"""S3 for the team store: conditional writes as AWS answers them, call counts under IAM action
names, injected faults in S3's format, and presigned links that expire."""
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import code_of

BUCKET = "team-store-test"


@pytest.fixture
def s3(emulator):
    client = emulator.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def test_conditional_writes_answer_412_and_leave_the_object(emulator, s3):
    first = s3.put_object(Bucket=BUCKET, Key="index.txt", Body=b"1", IfNoneMatch="*")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=BUCKET, Key="index.txt", Body=b"2", IfNoneMatch="*")
    assert code_of(e) == "PreconditionFailed"
    second = s3.put_object(Bucket=BUCKET, Key="index.txt", Body=b"2", IfMatch=first["ETag"])
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=BUCKET, Key="index.txt", Body=b"3", IfMatch=first["ETag"])
    assert code_of(e) == "PreconditionFailed"
    got = s3.get_object(Bucket=BUCKET, Key="index.txt")
    assert got["Body"].read() == b"2" and got["ETag"] == second["ETag"]


def test_s3_calls_are_counted_by_iam_action_and_faults_answer_in_s3_format(emulator, s3):
    emulator.control("/_emulator/calls", method="DELETE")
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x")
    s3.list_objects_v2(Bucket=BUCKET, Prefix="k")
    s3.head_bucket(Bucket=BUCKET)
    s3.put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    _, actions = emulator.control("/_emulator/actions")
    assert actions == {"s3:PutObject": 1, "s3:ListBucket": 2, "s3:PutEncryptionConfiguration": 1}
    emulator.control("/_emulator/faults", {"action": "PutObject", "code": "AccessDenied", "count": 1})
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=BUCKET, Key="k", Body=b"y")
    assert code_of(e) == "AccessDenied"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # The fault was used up and nothing was written.
    assert s3.get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"x"


def test_a_presigned_link_works_until_it_expires(emulator, s3):
    s3.put_object(Bucket=BUCKET, Key="share.ovpn", Body=b"profile")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "share.ovpn"},
                                    ExpiresIn=2)
    assert urllib.request.urlopen(url).read() == b"profile"
    time.sleep(3)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url)
    assert e.value.code == 403
    assert b"Request has expired" in e.value.read()

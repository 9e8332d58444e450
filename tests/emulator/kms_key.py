"""Create a KMS key in the emulator as a test fixture (any spec and usage), print its id.

    kms_key.py --endpoint URL --spec SYMMETRIC_DEFAULT --usage ENCRYPT_DECRYPT
"""
import argparse
import json

import boto3

parser = argparse.ArgumentParser()
parser.add_argument("--endpoint", required=True)
parser.add_argument("--spec", default="RSA_2048")
parser.add_argument("--usage", default="SIGN_VERIFY")
args = parser.parse_args()
kms = boto3.client("kms", endpoint_url=args.endpoint, region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
meta = kms.create_key(KeySpec=args.spec, KeyUsage=args.usage)["KeyMetadata"]
print(json.dumps({"KeyId": meta["KeyId"], "Arn": meta["Arn"]}))

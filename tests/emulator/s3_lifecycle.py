"""Print a bucket's lifecycle rule ids as JSON (a test fixture's look at what `store init` set).

    s3_lifecycle.py --endpoint URL --bucket NAME
"""
import argparse
import json

import boto3

parser = argparse.ArgumentParser()
parser.add_argument("--endpoint", required=True)
parser.add_argument("--bucket", required=True)
args = parser.parse_args()
s3 = boto3.client("s3", endpoint_url=args.endpoint, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
rules = s3.get_bucket_lifecycle_configuration(Bucket=args.bucket)["Rules"]
print(json.dumps({"ids": sorted(r["ID"] for r in rules)}))

"""S3 as vpnctl's team store uses it, made as strict as AWS where moto is not.

moto's S3 does not pass `BaseResponse.call_action` (its REST dispatch is its own), so the
control API's call counts, IAM action names and injected faults would never see an S3 call.
This WSGI wrapper names each S3 request's operation from its method, path and query (the
operations vpnctl calls, plus the common ones), counts it, and answers a pending fault in S3's
XML error format before moto sees the request.

It also refuses a presigned URL past its expiry: moto 5.2.5 serves it anyway. AWS answers 403
`AccessDenied` "Request has expired" (S3 User Guide, "Sharing objects with presigned URLs":
"If you try to use a presigned URL after it expires, you get an error").
"""
import datetime
import time
from urllib.parse import parse_qs

from . import control

# S3 operation name -> IAM action (Service Authorization Reference, "Actions defined by Amazon
# S3"): most are s3:<Operation>; these differ.
IAM_ACTION = {
    "ListObjectsV2": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "HeadObject": "s3:GetObject",
    "PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "DeleteObjects": "s3:DeleteObject",
    "PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
}

STATUS = {
    "AccessDenied": 403,
    "NoSuchBucket": 404,
    "NoSuchKey": 404,
    "PreconditionFailed": 412,
    "ConditionalRequestConflict": 409,
    "SlowDown": 503,
    "ServiceUnavailable": 503,
    "InternalError": 500,
}

MESSAGES = {
    "AccessDenied": "Access Denied",
    "NoSuchBucket": "The specified bucket does not exist",
    "SlowDown": "Please reduce your request rate.",
    "InternalError": "We encountered an internal error. Please try again.",
}


def is_s3(environ) -> bool:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    query = environ.get("QUERY_STRING", "")
    sigv2 = auth.startswith("AWS ") or ("AWSAccessKeyId=" in query and "Signature=" in query)
    return "/s3/aws4_request" in auth or "%2Fs3%2Faws4_request" in query or sigv2


def operation(environ) -> str:
    """The S3 operation of a path-style request (`/bucket[/key]`)."""
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "/").lstrip("/")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    has_key = "/" in path and path.split("/", 1)[1] != ""
    if has_key:
        return {"GET": "GetObject", "PUT": "PutObject", "HEAD": "HeadObject",
                "DELETE": "DeleteObject", "POST": "PostObject"}.get(method, method)
    sub = {
        "versioning": "BucketVersioning",
        "encryption": "BucketEncryption",
        "publicAccessBlock": "PublicAccessBlock",
        "tagging": "BucketTagging",
        "policy": "BucketPolicy",
        "lifecycle": "BucketLifecycleConfiguration",
    }
    for q, name in sub.items():
        if q in query:
            verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}.get(method, method)
            return verb + name
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    if method == "GET":
        return "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"
    return {"PUT": "CreateBucket", "HEAD": "HeadBucket", "DELETE": "DeleteBucket"}.get(method, method)


def expired(environ) -> bool:
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "AWSAccessKeyId" in query and "Expires" in query:  # SigV2 query auth: an epoch
        try:
            return time.time() > int(query["Expires"][0])
        except ValueError:
            return True
    date, expires = query.get("X-Amz-Date"), query.get("X-Amz-Expires")
    if not date or not expires:
        return False
    try:
        start = datetime.datetime.strptime(date[0], "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        seconds = int(expires[0])
    except ValueError:
        return True
    now = datetime.datetime.now(datetime.timezone.utc)
    return now > start + datetime.timedelta(seconds=seconds)


def error(start_response, code: str, message: str):
    status = STATUS.get(code, 400)
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>vpnctl-emulator</RequestId></Error>"
    ).encode()
    reason = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
              412: "Precondition Failed", 500: "Internal Server Error", 503: "Service Unavailable"}
    start_response(f"{status} {reason.get(status, 'Error')}",
                   [("Content-Type", "application/xml"), ("Content-Length", str(len(body))),
                    ("x-amz-request-id", "vpnctl-emulator")])
    return [body]


def wrap(app):
    def s3_app(environ, start_response):
        if not is_s3(environ):
            return app(environ, start_response)
        if expired(environ):
            return error(start_response, "AccessDenied", "Request has expired")
        op = operation(environ)
        fault = control.on_call(op, None, iam=IAM_ACTION.get(op, f"s3:{op}"))
        if fault is not None:
            code = fault["code"]
            return error(start_response, code, MESSAGES.get(code, f"{code} (a fault injected through the emulator's control API)"))
        return app(environ, start_response)

    return s3_app

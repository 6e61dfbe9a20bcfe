"""The tests' own SigV4-checking proxy, proven right independently of awsfs.

* botocore's S3 signer keeps the raw path (the premise of the checker);
* the checker agrees with the published AWS SigV4 test suite;
* requests signed by boto3 itself pass through it to moto for awkward S3 keys
  and for DynamoDB, SQS (query and JSON protocol) and SSM calls, and are
  counted under the right operation;
* wrong secrets, unknown keys, tampered requests, skewed clocks and wrong
  payload hashes are refused in each service's error format and never reach
  moto;
* answers are relayed unchanged; the fault hook can answer or drop.

Needs only moto and boto3/botocore (no awsfs binary).
"""

import datetime
import hashlib
import http.client
import json
import os
import random
import time
import urllib.parse

import boto3
import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, EndpointConnectionError, ConnectionClosedError

import sigproxy
from harness import REGION, REPO, TEST_KEY, TEST_KEY2, TEST_SECRET, TEST_SECRET2

AWKWARD_KEYS = [
    "a b", "a+b", "100%", "~x", "résumé", "a//b", "/lead", "dir/sub/file.txt",
    "q?x=1&y=2", "we!rd$(1)*;,:@['", "#hash", "tab\tand=eq", "日本語/ファイル",
    "end/", "..", "a/./b/../c",
]


def client(proxy, service, key=TEST_KEY, secret=TEST_SECRET, token=None, **cfg):
    config = Config(s3={"addressing_style": "path", **cfg.pop("s3", {})},
                    retries={"total_max_attempts": 1}, **cfg)
    return boto3.session.Session(
        aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
        region_name=REGION).client(service, endpoint_url=proxy.url, config=config)


def assert_all_verified(proxy):
    bad = [(r, d) for r, d in zip(proxy.requests, proxy.details)
           if d is None or d.error_code]
    assert not bad, "requests the proxy refused or did not finish: %r" % bad


# ---------------------------------------------------------------------------
# the premise and the published test suite
# ---------------------------------------------------------------------------

def test_botocore_s3_signer_keeps_raw_path():
    creds = Credentials("AKID", "SECRET")
    raw = "/bkt/a//b/./c/../d%2Bx%20y~z"
    req = AWSRequest(method="GET", url="http://127.0.0.1:1" + raw,
                     headers={"X-Amz-Content-SHA256": hashlib.sha256(b"").hexdigest()})
    req.context["timestamp"] = "20240101T000000Z"
    s3 = S3SigV4Auth(creds, "s3", REGION)
    assert s3._normalize_url_path(raw) == raw
    assert s3.canonical_request(req).split("\n")[1] == raw
    # while the generic signer normalizes (and re-quotes: %2B -> %252B)
    other = SigV4Auth(creds, "dynamodb", REGION).canonical_request(req).split("\n")[1]
    assert other != raw and "//" not in other and "%252B" in other


def _vectors_dir():
    return os.environ.get("AWSFS_SIGV4_TESTDATA") or os.path.join(
        REPO, "..", "shared", "testdata", "sigv4")


def _parse_vector(raw):
    head, _, body = raw.partition(b"\n\n")
    lines = head.decode("utf-8").split("\n")
    method = lines[0].split(" ", 1)[0]
    target = lines[0][len(method) + 1:lines[0].rindex(" ")]
    headers = []
    for ln in lines[1:]:
        if ln[:1] in (" ", "\t") and headers:  # folded value
            n, v = headers[-1]
            headers[-1] = (n, v + "\r\n" + ln)
        elif ln:
            n, _, v = ln.partition(":")
            headers.append((n, v.strip()))
    return method, target, headers, body


def _on_the_wire(target, normalize):
    """Whether a vector's request-target could be sent as is: the proxy
    checks the raw target, so raw spaces or UTF-8 only work where the
    signer re-encodes (normalized paths)."""
    path, _, query = target.partition("?")
    ok = lambda s: all(33 <= ord(c) < 127 for c in s)  # noqa: E731
    return ok(query) and (normalize or ok(path))


def test_published_sigv4_vectors():
    d = _vectors_dir()
    if not os.path.isdir(d):
        pytest.skip("SigV4 test vectors not found at %s" % d)
    checked = 0
    for case in sorted(os.listdir(d)):
        p = os.path.join(d, case)
        if not os.path.isfile(os.path.join(p, "header-signed-request.txt")):
            continue
        with open(os.path.join(p, "context.json")) as f:
            ctx = json.load(f)
        with open(os.path.join(p, "header-signed-request.txt"), "rb") as f:
            method, target, headers, body = _parse_vector(f.read().replace(b"\r\n", b"\n"))
        if not _on_the_wire(target, ctx["normalize"]):
            continue
        with open(os.path.join(p, "header-canonical-request.txt")) as f:
            expected_cr = f.read()
        now = datetime.datetime.strptime(ctx["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
        keys = {ctx["credentials"]["access_key_id"]: ctx["credentials"]["secret_access_key"]}
        v = sigproxy.verify_request(method, target, headers, body, keys, now=now,
                                    normalize=ctx["normalize"], check_encoding=False)
        assert v.ok, "%s: %r\n%s" % (case, v, v.canonical_request)
        assert v.canonical_request == expected_cr, case
        # one flipped hex digit of the signature must fail
        auth = [(n, v2) for n, v2 in headers if n.lower() == "authorization"][0][1]
        flipped = auth[:-1] + ("0" if auth[-1] != "0" else "1")
        bad = [(n, flipped if n.lower() == "authorization" else v2) for n, v2 in headers]
        v = sigproxy.verify_request(method, target, bad, body, keys, now=now,
                                    normalize=ctx["normalize"], check_encoding=False)
        assert not v.ok and v.code == "SignatureDoesNotMatch", case
        # and so must a day later (skew)
        v = sigproxy.verify_request(method, target, headers, body, keys, now=now + 86400,
                                    normalize=ctx["normalize"], check_encoding=False)
        assert v.code == "RequestTimeTooSkewed", case
        checked += 1
    assert checked >= 30, "only %d vectors checked" % checked


# ---------------------------------------------------------------------------
# boto3 through the proxy
# ---------------------------------------------------------------------------

def test_boto3_s3_awkward_keys(proxy, boto):
    s3 = client(proxy, "s3")
    s3.create_bucket(Bucket="bkt")
    for i, key in enumerate(AWKWARD_KEYS):
        body = ("body of %r" % key).encode()
        s3.put_object(Bucket="bkt", Key=key, Body=body, Metadata={"n": str(i)})
        assert s3.get_object(Bucket="bkt", Key=key)["Body"].read() == body
        assert s3.head_object(Bucket="bkt", Key=key)["ContentLength"] == len(body)
        assert s3.get_object(Bucket="bkt", Key=key, Range="bytes=0-3")["Body"].read() \
            == body[:4]
        # the key really is what boto3 meant (checked straight at moto)
        assert boto.s3.get_object(Bucket="bkt", Key=key)["Body"].read() == body
    listed = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="bkt", PaginationConfig={
            "PageSize": 3}):
        listed += [o["Key"] for o in page.get("Contents", [])]
    assert sorted(listed) == sorted(AWKWARD_KEYS)
    for prefix in ("", "dir/", "a", "日本語/", "a b", "q?x"):
        r = s3.list_objects_v2(Bucket="bkt", Prefix=prefix, Delimiter="/")
        assert r["KeyCount"] >= 1, prefix
    r = s3.list_objects(Bucket="bkt", Prefix="dir/", Delimiter="/")
    assert [p["Prefix"] for p in r.get("CommonPrefixes", [])] == ["dir/sub/"]
    for key in AWKWARD_KEYS:
        s3.copy_object(Bucket="bkt", Key=key + ".copy",
                       CopySource={"Bucket": "bkt", "Key": key})
        assert s3.get_object(Bucket="bkt", Key=key + ".copy")["Body"].read() == \
            ("body of %r" % key).encode()
    s3.delete_objects(Bucket="bkt", Delete={"Objects": [{"Key": k + ".copy"}
                                                        for k in AWKWARD_KEYS]})
    for key in AWKWARD_KEYS:
        s3.delete_object(Bucket="bkt", Key=key)
    assert boto.s3.list_objects_v2(Bucket="bkt")["KeyCount"] == 0
    assert_all_verified(proxy)
    c = proxy.counts()
    n = len(AWKWARD_KEYS)
    assert c[("s3", "CreateBucket")] == 1
    assert c[("s3", "PutObject")] == n
    assert c[("s3", "GetObject")] == 3 * n
    assert c[("s3", "HeadObject")] == n
    assert c[("s3", "CopyObject")] == n
    assert c[("s3", "DeleteObject")] == n
    assert c[("s3", "DeleteObjects")] == 1
    assert c[("s3", "ListObjects")] == 1
    assert c[("s3", "ListObjectsV2")] == 6 + (n + 2) // 3


def test_boto3_s3_bucket_and_multipart_operations(proxy, boto):
    s3 = client(proxy, "s3")
    s3.create_bucket(Bucket="mpu")
    s3.head_bucket(Bucket="mpu")
    s3.get_bucket_location(Bucket="mpu")
    assert "mpu" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    part1 = os.urandom(5 * 1024 * 1024)
    part2 = os.urandom(1000)
    key = "big file+1.bin"
    up = s3.create_multipart_upload(Bucket="mpu", Key=key)["UploadId"]
    e1 = s3.upload_part(Bucket="mpu", Key=key, UploadId=up, PartNumber=1, Body=part1)["ETag"]
    e2 = s3.upload_part(Bucket="mpu", Key=key, UploadId=up, PartNumber=2, Body=part2)["ETag"]
    s3.complete_multipart_upload(Bucket="mpu", Key=key, UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    got = boto.s3.get_object(Bucket="mpu", Key=key)["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(part1 + part2).digest()
    # a copy of it in parts, and an aborted upload
    up2 = s3.create_multipart_upload(Bucket="mpu", Key="copy")["UploadId"]
    e = s3.upload_part_copy(Bucket="mpu", Key="copy", UploadId=up2, PartNumber=1,
                            CopySource={"Bucket": "mpu", "Key": key},
                            CopySourceRange="bytes=0-5242879")["CopyPartResult"]["ETag"]
    s3.complete_multipart_upload(Bucket="mpu", Key="copy", UploadId=up2, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e}]})
    up3 = s3.create_multipart_upload(Bucket="mpu", Key="gone")["UploadId"]
    s3.abort_multipart_upload(Bucket="mpu", Key="gone", UploadId=up3)
    for k in (key, "copy"):
        s3.delete_object(Bucket="mpu", Key=k)
    s3.delete_bucket(Bucket="mpu")
    assert_all_verified(proxy)
    c = proxy.counts()
    for op, n in [("CreateBucket", 1), ("HeadBucket", 1), ("GetBucketLocation", 1),
                  ("ListBuckets", 1), ("CreateMultipartUpload", 3), ("UploadPart", 2),
                  ("UploadPartCopy", 1), ("CompleteMultipartUpload", 2),
                  ("AbortMultipartUpload", 1), ("DeleteObject", 2), ("DeleteBucket", 1)]:
        assert c.get(("s3", op)) == n, (op, c)
    assert sum(c.values()) == 16
    recs = proxy.requests
    assert recs[0] == ("s3", "CreateBucket", "PUT", "/mpu", 200)
    assert all(r.status in (200, 204) for r in recs), recs


def test_boto3_unsigned_payload_and_session_token(proxy, boto):
    s3 = client(proxy, "s3", s3={"payload_signing_enabled": False},
                token="FwoGZXIvYXdzEXAMPLEtoken/+=")
    s3.create_bucket(Bucket="uuu")
    s3.put_object(Bucket="uuu", Key="k", Body=b"unsigned body")
    assert boto.s3.get_object(Bucket="uuu", Key="k")["Body"].read() == b"unsigned body"
    assert_all_verified(proxy)
    d = proxy.details[-1]
    assert "x-amz-security-token" in d.signed_headers
    assert d.security_token == "FwoGZXIvYXdzEXAMPLEtoken/+="


def test_boto3_second_key(proxy):
    s3 = client(proxy, "s3", key=TEST_KEY2, secret=TEST_SECRET2)
    s3.create_bucket(Bucket="second")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["second"]
    assert {d.access_key for d in proxy.details} == {TEST_KEY2}
    assert_all_verified(proxy)


def test_boto3_dynamodb(proxy, boto):
    ddb = client(proxy, "dynamodb")
    ddb.create_table(TableName="tbl", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    ddb.put_item(TableName="tbl", Item={"id": {"S": "a/ü"}, "n": {"N": "3.140"}})
    item = ddb.get_item(TableName="tbl", Key={"id": {"S": "a/ü"}})["Item"]
    assert item["n"] == {"N": "3.14"} or item["n"] == {"N": "3.140"}
    assert ddb.list_tables()["TableNames"] == ["tbl"]
    assert ddb.scan(TableName="tbl")["Count"] == 1
    assert boto.dynamodb.describe_table(TableName="tbl")["Table"]["TableName"] == "tbl"
    assert_all_verified(proxy)
    assert proxy.counts() == {("dynamodb", "CreateTable"): 1, ("dynamodb", "PutItem"): 1,
                              ("dynamodb", "GetItem"): 1, ("dynamodb", "ListTables"): 1,
                              ("dynamodb", "Scan"): 1}


def test_boto3_sqs(proxy, boto):
    sqs = client(proxy, "sqs")
    url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hello + world & more")
    msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert msgs[0]["Body"] == "hello + world & more"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=msgs[0]["ReceiptHandle"])
    assert_all_verified(proxy)
    c = proxy.counts()
    assert c == {("sqs", "CreateQueue"): 1, ("sqs", "SendMessage"): 1,
                 ("sqs", "ReceiveMessage"): 1, ("sqs", "DeleteMessage"): 1}, c


def test_boto3_ssm(proxy, boto):
    ssm = client(proxy, "ssm")
    ssm.put_parameter(Name="/app/db url", Value="postgres://x?y=1&z=%20", Type="String")
    ssm.put_parameter(Name="/app/key", Value="s3cr3t", Type="SecureString")
    got = ssm.get_parameter(Name="/app/key", WithDecryption=True)["Parameter"]["Value"]
    assert got == "s3cr3t"
    names = [p["Name"] for p in ssm.get_parameters_by_path(Path="/app")["Parameters"]]
    assert sorted(names) == ["/app/db url", "/app/key"]
    assert len(ssm.describe_parameters()["Parameters"]) == 2
    assert_all_verified(proxy)
    assert proxy.counts() == {("ssm", "PutParameter"): 2, ("ssm", "GetParameter"): 1,
                              ("ssm", "GetParametersByPath"): 1,
                              ("ssm", "DescribeParameters"): 1}


# ---------------------------------------------------------------------------
# hand-signed requests (for what boto3 will not do)
# ---------------------------------------------------------------------------

def sign(service, method, url, headers=None, body=b"", key=TEST_KEY, secret=TEST_SECRET,
         timestamp=None, token=None):
    """Sign like botocore's add_auth, at a chosen time.  Returns AWSRequest."""
    req = AWSRequest(method=method, url=url, headers=headers or {}, data=body)
    signer_cls = S3SigV4Auth if service == "s3" else SigV4Auth
    signer = signer_cls(Credentials(key, secret, token), service, REGION)
    t = timestamp or datetime.datetime.now(datetime.timezone.utc)
    req.context["timestamp"] = t.strftime("%Y%m%dT%H%M%SZ")
    signer._modify_request_before_signing(req)
    cr = signer.canonical_request(req)
    sig = signer.signature(signer.string_to_sign(req, cr), req)
    signer._inject_signature_to_request(req, sig)
    return req


def send(proxy, req, path=None, headers=None, body=None, chunked=False):
    """Send req to the proxy, optionally with a different path, headers, body.
    Returns (status, {lower header: value}, body)."""
    u = urllib.parse.urlsplit(req.url)
    target = path or (u.path + ("?" + u.query if u.query else ""))
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
    try:
        conn.putrequest(req.method, target, skip_host=True, skip_accept_encoding=True)
        hdrs = dict(req.headers.items())
        hdrs.update(headers or {})
        data = req.body if body is None else body
        for n, v in hdrs.items():
            conn.putheader(n, v)
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            for i in range(0, len(data), 7):
                piece = data[i:i + 7]
                conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            conn.send(b"0\r\n\r\n")
        else:
            if data:
                conn.putheader("Content-Length", str(len(data)))
            conn.endheaders(data or None)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def s3url(proxy, path):
    return proxy.url + path


def json_req(proxy, service, target, payload, **kw):
    ctype = "application/x-amz-json-1.1" if service == "ssm" else "application/x-amz-json-1.0"
    return sign(service, "POST", proxy.url + "/",
                headers={"Content-Type": ctype, "X-Amz-Target": target,
                         "Host": "127.0.0.1:%d" % proxy.port},
                body=json.dumps(payload).encode(), **kw)


def test_sqs_json_protocol(proxy, boto):
    st, h, b = send(proxy, json_req(proxy, "sqs", "AmazonSQS.CreateQueue",
                                    {"QueueName": "jq"}))
    assert st == 200, b
    url = json.loads(b)["QueueUrl"]
    st, h, b = send(proxy, json_req(proxy, "sqs", "AmazonSQS.ListQueues", {}))
    assert st == 200 and url in json.loads(b)["QueueUrls"]
    assert proxy.counts() == {("sqs", "CreateQueue"): 1, ("sqs", "ListQueues"): 1}
    st, h, b = send(proxy, json_req(proxy, "sqs", "AmazonSQS.ListQueues", {},
                                    secret="wrong"))
    assert st == 403
    assert json.loads(b)["__type"].endswith("#InvalidSignatureException")
    assert h["content-type"] == "application/x-amz-json-1.0" and h["x-amzn-requestid"]


def _host(proxy):
    return {"Host": "127.0.0.1:%d" % proxy.port}


def test_tampered_path_is_refused(proxy, boto):
    boto.s3.create_bucket(Bucket="ttt")
    boto.s3.put_object(Bucket="ttt", Key="a+b", Body=b"x")
    req = sign("s3", "GET", s3url(proxy, "/ttt/a%2Bb"), headers=_host(proxy))
    assert send(proxy, req)[0] == 200
    st, h, b = send(proxy, req, path="/ttt/a+b")  # same meaning to some, not to SigV4
    assert st == 403 and b"<Code>SignatureDoesNotMatch</Code>" in b
    st, h, b = send(proxy, req, path="/ttt/a%2bb")  # lower-case hex
    assert st == 403 and b"SignatureDoesNotMatch" in b
    # signed over a non-canonical form: what AWS would recompute differs
    req = sign("s3", "GET", s3url(proxy, "/ttt/a+b"), headers=_host(proxy))
    st, h, b = send(proxy, req)
    assert st == 403 and b"canonical" in b
    req = sign("s3", "GET", s3url(proxy, "/ttt?list-type=2&prefix=a/b"), headers=_host(proxy))
    st, h, b = send(proxy, req)
    assert st == 403 and b"canonical" in b
    req = sign("s3", "GET", s3url(proxy, "/ttt?list-type=2&prefix=a%2Fb"), headers=_host(proxy))
    assert send(proxy, req)[0] == 200
    assert [r.op for r in proxy.requests] == ["GetObject"] * 4 + ["ListObjectsV2"] * 2
    assert [r.status for r in proxy.requests] == [200, 403, 403, 403, 403, 200]


def test_tampered_headers(proxy, boto):
    boto.s3.create_bucket(Bucket="hhh")
    req = sign("s3", "PUT", s3url(proxy, "/hhh/k"), body=b"data",
               headers={**_host(proxy), "x-amz-meta-color": "red"})
    st, _, _ = send(proxy, req, headers={"x-amz-meta-color": "blue"})
    assert st == 403
    st, _, _ = send(proxy, req, headers={"User-Agent": "whatever/1.0"})  # unsigned
    assert st == 200
    assert boto.s3.head_object(Bucket="hhh", Key="k")["Metadata"] == {"color": "red"}
    # a header named in SignedHeaders but missing from the request
    req2 = sign("s3", "GET", s3url(proxy, "/hhh/k"), headers={**_host(proxy), "Range": "bytes=0-1"})
    del req2.headers["Range"]
    st, _, b = send(proxy, req2)
    assert st == 403 and b"range" in b


def test_payload_hash_and_body(proxy, boto):
    boto.s3.create_bucket(Bucket="ppp")
    req = sign("s3", "PUT", s3url(proxy, "/ppp/k"), body=b"right", headers=_host(proxy))
    st, _, b = send(proxy, req, body=b"wrong")
    assert st == 400 and b"XAmzContentSHA256Mismatch" in b
    # a chunked request body is verified and forwarded whole
    st, _, b = send(proxy, req, chunked=True)
    assert st == 200, b
    assert boto.s3.get_object(Bucket="ppp", Key="k")["Body"].read() == b"right"
    # JSON services: the body is in the signature
    req = json_req(proxy, "dynamodb", "DynamoDB_20120810.ListTables", {})
    st, _, b = send(proxy, req, body=b'{"Limit": 1}')
    assert st == 403 and b"InvalidSignatureException" in b
    assert send(proxy, req)[0] == 200


def test_clock_skew(proxy, boto):
    boto.s3.create_bucket(Bucket="ccc")
    now = datetime.datetime.now(datetime.timezone.utc)
    old = now - datetime.timedelta(minutes=16)
    st, h, b = send(proxy, sign("s3", "GET", s3url(proxy, "/ccc"), headers=_host(proxy),
                                timestamp=old))
    assert st == 403 and b"<Code>RequestTimeTooSkewed</Code>" in b and "date" in h
    near = now - datetime.timedelta(minutes=14)
    assert send(proxy, sign("s3", "GET", s3url(proxy, "/ccc"), headers=_host(proxy),
                            timestamp=near))[0] == 200
    st, h, b = send(proxy, json_req(proxy, "ssm", "AmazonSSM.DescribeParameters", {},
                                    timestamp=now + datetime.timedelta(minutes=20)))
    assert st == 403 and "Signature expired" in json.loads(b)["message"]
    # the proxy's clock is replaceable (for skew tests of awsfs)
    proxy.now = lambda: time.time() + 3600
    assert send(proxy, sign("s3", "GET", s3url(proxy, "/ccc"), headers=_host(proxy)))[0] == 403


def test_unsigned_and_malformed(proxy, boto):
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    conn.request("GET", "/")
    r = conn.getresponse()
    assert r.status == 403 and b"MissingAuthenticationToken" in r.read()
    conn.request("GET", "/", headers={"Authorization": "AWS4-HMAC-SHA256 Credential=x"})
    r = conn.getresponse()
    assert r.status == 400 and b"AuthorizationHeaderMalformed" in r.read()
    conn.close()


@pytest.mark.parametrize("service", ["s3", "dynamodb", "sqs", "ssm"])
def test_wrong_secret_and_unknown_key(proxy, boto, service):
    calls = {
        "s3": lambda c: c.create_bucket(Bucket="never"),
        "dynamodb": lambda c: c.list_tables(),
        "sqs": lambda c: c.create_queue(QueueName="never"),
        "ssm": lambda c: c.put_parameter(Name="/never", Value="x", Type="String"),
    }
    expect = {
        "s3": ("SignatureDoesNotMatch", "InvalidAccessKeyId"),
        "dynamodb": ("InvalidSignatureException", "UnrecognizedClientException"),
        "sqs": ("SignatureDoesNotMatch", "InvalidClientTokenId"),  # query protocol
        "ssm": ("InvalidSignatureException", "UnrecognizedClientException"),
    }[service]
    for c, code in ((client(proxy, service, secret="not-the-secret"), expect[0]),
                    (client(proxy, service, key="AKIDUNKNOWN000000000"), expect[1])):
        with pytest.raises(ClientError) as ei:
            calls[service](c)
        err = ei.value.response
        assert err["Error"]["Code"] == code
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 403
        rid = err["ResponseMetadata"]["RequestId"]
        assert rid and rid in [d.request_id for d in proxy.rejected()]
    # nothing reached moto
    assert boto.s3.list_buckets()["Buckets"] == []
    assert boto.sqs.list_queues().get("QueueUrls", []) == []
    assert boto.ssm.describe_parameters()["Parameters"] == []
    assert all(r.status == 403 for r in proxy.requests) and len(proxy.requests) == 2


def test_head_error_has_no_body(proxy, boto):
    boto.s3.create_bucket(Bucket="hdb")
    boto.s3.put_object(Bucket="hdb", Key="k", Body=b"x")
    c = client(proxy, "s3", secret="nope")
    with pytest.raises(ClientError) as ei:
        c.head_object(Bucket="hdb", Key="k")
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # the connection is still usable after a HEAD error (no stray body)
    good = client(proxy, "s3")
    for _ in range(3):
        assert good.head_object(Bucket="hdb", Key="k")["ContentLength"] == 1
    assert proxy.counts() == {("s3", "HeadObject"): 4}


# ---------------------------------------------------------------------------
# relaying and bookkeeping
# ---------------------------------------------------------------------------

def test_relay_is_exact(proxy, boto):
    boto.s3.create_bucket(Bucket="rrr")
    data = random.Random(7).randbytes(3 * 1024 * 1024 + 17)
    boto.s3.put_object(Bucket="rrr", Key="blob", Body=data, ContentType="x-test/blob",
                       Metadata={"m": "v"})
    via = client(proxy, "s3").get_object(Bucket="rrr", Key="blob")
    direct = boto.s3.get_object(Bucket="rrr", Key="blob")
    assert via["Body"].read() == data
    hv, hd = via["ResponseMetadata"]["HTTPHeaders"], direct["ResponseMetadata"]["HTTPHeaders"]
    for name in ("etag", "content-type", "content-length", "x-amz-meta-m", "last-modified"):
        assert hv[name] == hd[name], name
    r = client(proxy, "s3").get_object(Bucket="rrr", Key="blob", Range="bytes=10-19")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert r["Body"].read() == data[10:20]
    # an emulator error is relayed as is, not turned into the proxy's own
    with pytest.raises(ClientError) as ei:
        client(proxy, "s3").get_object(Bucket="rrr", Key="missing")
    assert ei.value.response["Error"]["Code"] == "NoSuchKey"
    assert proxy.requests[-1] == ("s3", "GetObject", "GET", "/rrr/missing", 404)
    assert not proxy.rejected()


def test_keep_alive_and_concurrency(proxy, boto):
    boto.s3.create_bucket(Bucket="kkk")
    s3 = client(proxy, "s3", max_pool_connections=4)
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        list(ex.map(lambda i: s3.put_object(Bucket="kkk", Key="o%d" % i, Body=b"%d" % i),
                    range(40)))
    assert boto.s3.list_objects_v2(Bucket="kkk")["KeyCount"] == 40
    assert proxy.count("s3", "PutObject") == 40
    assert len(proxy._conns) <= 4


def test_counts_and_reset(proxy, boto):
    s3 = client(proxy, "s3")
    s3.list_buckets()
    s3.list_buckets()
    client(proxy, "ssm").describe_parameters()
    assert proxy.count() == 3 and proxy.count("s3") == 2
    assert proxy.count(op="DescribeParameters") == 1
    assert proxy.requests[0] == ("s3", "ListBuckets", "GET", "/", 200)
    proxy.reset()
    assert proxy.counts() == {} and proxy.requests == [] and proxy.count() == 0


def test_fault_hook_can_answer_or_drop(proxy, boto):
    boto.s3.create_bucket(Bucket="fff")
    seen = []

    def hook(info):
        seen.append((info.service, info.op, info.access_key))
        if info.op == "ListObjectsV2":
            return sigproxy.CannedResponse(
                503, [("Content-Type", "application/xml")],
                b"<Error><Code>SlowDown</Code><Message>slow</Message></Error>")
        if info.op == "HeadBucket":
            return sigproxy.DROP
        return None

    proxy.fault_hook = hook
    s3 = client(proxy, "s3")
    with pytest.raises(ClientError) as ei:
        s3.list_objects_v2(Bucket="fff")
    assert ei.value.response["Error"]["Code"] == "SlowDown"
    with pytest.raises((EndpointConnectionError, ConnectionClosedError, ClientError)):
        s3.head_bucket(Bucket="fff")
    assert s3.list_buckets()["Buckets"][0]["Name"] == "fff"
    assert seen == [("s3", "ListObjectsV2", TEST_KEY), ("s3", "HeadBucket", TEST_KEY),
                    ("s3", "ListBuckets", TEST_KEY)]
    assert [r.status for r in proxy.requests] == [503, 0, 200]


def test_s3_operation_names():
    op = lambda m, t, h=(): sigproxy.s3_operation(m, t, [("Host", "127.0.0.1:1"), *h])  # noqa
    assert op("GET", "/") == "ListBuckets"
    assert op("GET", "/b?list-type=2&prefix=x") == "ListObjectsV2"
    assert op("GET", "/b") == "ListObjects"
    assert op("GET", "/b/") == "ListObjects"
    assert op("HEAD", "/b") == "HeadBucket"
    assert op("PUT", "/b") == "CreateBucket"
    assert op("DELETE", "/b") == "DeleteBucket"
    assert op("GET", "/b?location") == "GetBucketLocation"
    assert op("POST", "/b?delete") == "DeleteObjects"
    assert op("GET", "/b/k") == "GetObject"
    assert op("HEAD", "/b/k/x") == "HeadObject"
    assert op("PUT", "/b/k") == "PutObject"
    assert op("PUT", "/b/k", [("x-amz-copy-source", "/b/j")]) == "CopyObject"
    assert op("DELETE", "/b/k") == "DeleteObject"
    assert op("POST", "/b/k?uploads") == "CreateMultipartUpload"
    assert op("PUT", "/b/k?partNumber=1&uploadId=u") == "UploadPart"
    assert op("PUT", "/b/k?partNumber=1&uploadId=u",
              [("x-amz-copy-source", "/b/j")]) == "UploadPartCopy"
    assert op("POST", "/b/k?uploadId=u") == "CompleteMultipartUpload"
    assert op("DELETE", "/b/k?uploadId=u") == "AbortMultipartUpload"
    assert op("GET", "/b/k?uploadId=u") == "ListParts"
    assert op("GET", "/b?uploads") == "ListMultipartUploads"
    assert op("GET", "/b/k?tagging") == "GetObjectTagging"
    assert sigproxy.s3_operation("GET", "/k", [("Host", "bkt.localhost:9")]) == "GetObject"

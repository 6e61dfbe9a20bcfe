"""sigproxy: the integration tests' HTTP proxy between awsfs and the emulator.

awsfs -> SigProxy (127.0.0.1, a thread inside pytest) -> moto

For every request the proxy

  * checks the SigV4 ``Authorization`` header on its own, with botocore's
    signer, from the request *exactly as received*: the method, the raw
    request-target of the request line (path and query, never re-quoted),
    the headers named in SignedHeaders and the body.  A request that does
    not verify never reaches the emulator: the proxy answers 403 itself, in
    the service's error format (S3 XML, JSON ``__type``, SQS query XML);
  * counts it per (service, operation) and keeps a list of
    ``Record(service, op, method, path, status)``;
  * forwards it unchanged and relays the answer (status, headers, body)
    unchanged, streaming the response body.

Fault injection hooks in through ``SigProxy.fault_hook``: a callable given a
``RequestInfo`` for every request that passed the signature check, which
returns ``None`` (forward as usual), a ``CannedResponse`` (answer that
instead) or ``DROP`` (close the connection without an answer).  The clock
(``SigProxy.now``) is replaceable for skew tests.

Only the standard library and botocore are used, so the module runs under
Debian's python3 (python3-botocore) as well as under pyenv's.
"""

import datetime
import hashlib
import hmac
import http.client
import http.server
import json
import socket
import sys
import threading
import time
import urllib.parse
import uuid
from typing import NamedTuple
from xml.sax.saxutils import escape as xml_escape

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

MAX_SKEW_SECONDS = 15 * 60
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_SIGNED = ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
                    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
                    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER")

# X-Amz-Target prefixes of the JSON services awsfs speaks to.
TARGET_PREFIXES = {
    "dynamodb_": "dynamodb",      # DynamoDB_20120810.Op
    "dynamodbstreams_": "dynamodb",
    "amazonsqs": "sqs",           # AmazonSQS.Op
    "amazonssm": "ssm",           # AmazonSSM.Op
    "awssecuritytokenservicev": "sts",
}
JSON_CONTENT_TYPES = {
    "dynamodb": "application/x-amz-json-1.0",
    "sqs": "application/x-amz-json-1.0",
    "ssm": "application/x-amz-json-1.1",
}
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authenticate",
              "proxy-authorization", "te", "trailer", "trailers",
              "transfer-encoding", "upgrade"}


# --------------------------------------------------------------------------
# Signature verification (pure functions: usable without a server)
# --------------------------------------------------------------------------

class Verdict:
    """Outcome of verify_request.  ok is True when the request may pass."""

    def __init__(self, ok=True, status=200, code="", message="", **extra):
        self.ok = ok
        self.status = status
        self.code = code
        self.message = message
        self.service = extra.get("service")
        self.access_key = extra.get("access_key")
        self.region = extra.get("region")
        self.signed_headers = extra.get("signed_headers", [])
        self.signature = extra.get("signature")
        self.canonical_request = extra.get("canonical_request")
        self.string_to_sign = extra.get("string_to_sign")
        self.extra_xml = extra.get("extra_xml", [])

    def __repr__(self):
        return "Verdict(ok=%r, status=%r, code=%r, message=%r)" % (
            self.ok, self.status, self.code, self.message)


class _ExactSignedHeaders:
    """Canonical headers are exactly the request's SignedHeaders, as a
    server does.  (botocore's client side never signs expect, user-agent
    and x-amzn-trace-id; a server must still honour a client that does.)"""

    def headers_to_sign(self, request):
        out = HTTPHeaders()
        for name in request.context["signed_headers"]:
            for value in request.context["header_values"].get(name, []):
                out[name] = value
        return out


class _JsonSigner(_ExactSignedHeaders, SigV4Auth):
    pass


class _S3Signer(_ExactSignedHeaders, S3SigV4Auth):
    pass


def parse_authorization(value):
    """Split 'AWS4-HMAC-SHA256 Credential=.., SignedHeaders=.., Signature=..'.

    Returns a dict with access_key, date, region, service, terminal,
    signed_headers (list) and signature; raises ValueError when malformed."""
    if not value:
        raise ValueError("no Authorization header")
    algo, _, rest = value.strip().partition(" ")
    if algo != "AWS4-HMAC-SHA256":
        raise ValueError("unsupported algorithm %r" % algo)
    parts = {}
    for item in rest.split(","):
        item = item.strip()
        if not item:
            continue
        k, eq, v = item.partition("=")
        if not eq:
            raise ValueError("malformed component %r" % item)
        parts[k.strip()] = v.strip()
    for k in ("Credential", "SignedHeaders", "Signature"):
        if k not in parts:
            raise ValueError("missing %s" % k)
    scope = parts["Credential"].split("/")
    if len(scope) != 5:
        raise ValueError("malformed Credential %r" % parts["Credential"])
    akid, date, region, service, terminal = scope
    if terminal != "aws4_request":
        raise ValueError("credential scope must end in aws4_request")
    signed = parts["SignedHeaders"].split(";")
    if any(h != h.lower() or not h for h in signed):
        raise ValueError("SignedHeaders must be lower case and non-empty")
    if signed != sorted(signed):
        raise ValueError("SignedHeaders must be sorted")
    return {"access_key": akid, "date": date, "region": region,
            "service": service, "signed_headers": signed,
            "signature": parts["Signature"]}


def _uri_canonical(raw, safe):
    return urllib.parse.quote(urllib.parse.unquote_to_bytes(raw), safe=safe)


def encoding_problem(service, target):
    """A request-target whose path (S3) or query is not already in SigV4's
    canonical encoding passes a raw-target check but fails at AWS, which
    decodes and re-encodes: report it.  Returns None or a sentence."""
    path, _, query = target.partition("?")
    if service == "s3":
        canon = _uri_canonical(path, "/~")
        if canon != path:
            return ("request path %r is not in canonical SigV4 encoding "
                    "(AWS computes over %r)" % (path, canon))
    if query:
        for pair in query.split("&"):
            k, _, v = pair.partition("=")
            ck, cv = _uri_canonical(k, "-_.~"), _uri_canonical(v, "-_.~")
            if (ck, cv) != (k, v):
                return ("query parameter %r is not in canonical SigV4 encoding "
                        "(AWS computes over %r)" % (pair, ck + "=" + cv))
    return None


def _header_map(headers):
    """[(name, value)] -> {lower name: [values in order]}."""
    out = {}
    for name, value in headers:
        out.setdefault(name.lower(), []).append(value)
    return out


def _amz_date(value):
    return datetime.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def verify_request(method, target, headers, body, keys, now=None,
                   normalize=None, check_encoding=True,
                   max_skew=MAX_SKEW_SECONDS, expected_region=None):
    """Check one request's SigV4 header signature.

    method, target: as on the request line (target raw: path[?query]).
    headers: list of (name, value) as received.  body: bytes.
    keys: {access key id: secret}.  now: epoch seconds (default time.time()).
    normalize: None picks by service (S3: raw path; others: normalized, as
    botocore and AWS do); True/False forces it (the published test suite).
    Returns a Verdict; on failure status/code/message say what to answer."""
    now = time.time() if now is None else now
    hmap = _header_map(headers)
    auth = hmap.get("authorization", [None])[0]
    try:
        a = parse_authorization(auth)
    except ValueError as e:
        if auth is None:
            return Verdict(False, 403, "MissingAuthenticationToken",
                           "Request is missing Authentication Token")
        return Verdict(False, 400, "AuthorizationHeaderMalformed",
                       "The authorization header is malformed: %s" % e)
    service = a["service"]
    info = dict(service=service, access_key=a["access_key"], region=a["region"],
                signed_headers=a["signed_headers"], signature=a["signature"])

    def fail(status, code, message, **more):
        d = dict(info)
        d.update(more)
        return Verdict(False, status, code, message, **d)

    secret = keys.get(a["access_key"])
    if secret is None:
        return fail(403, "InvalidAccessKeyId",
                    "The AWS Access Key Id you provided does not exist in our records.",
                    extra_xml=[("AWSAccessKeyId", a["access_key"])])
    if expected_region and a["region"] != expected_region:
        return fail(400, "AuthorizationHeaderMalformed",
                    "The authorization header is malformed; the region '%s' is wrong; "
                    "expecting '%s'" % (a["region"], expected_region),
                    extra_xml=[("Region", expected_region)])
    if "host" not in a["signed_headers"]:
        return fail(403, "SignatureDoesNotMatch", "'Host' must be a signed header")
    for name in a["signed_headers"]:
        if name not in hmap:
            return fail(403, "SignatureDoesNotMatch",
                        "signed header %r is not in the request" % name)
    amz_date = hmap.get("x-amz-date", [None])[0]
    if amz_date is None:
        return fail(403, "AccessDenied", "AWS authentication requires a valid Date or "
                    "x-amz-date header (this proxy checks X-Amz-Date only)")
    if "x-amz-date" not in a["signed_headers"]:
        return fail(403, "SignatureDoesNotMatch", "X-Amz-Date must be a signed header")
    try:
        t = _amz_date(amz_date)
    except ValueError:
        return fail(403, "AccessDenied", "X-Amz-Date %r is not YYYYMMDDTHHMMSSZ" % amz_date)
    if abs(now - t) > max_skew:
        server = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        return fail(403, "RequestTimeTooSkewed",
                    "The difference between the request time and the current time "
                    "is too large (request %s, server %s)" % (amz_date, server),
                    extra_xml=[("RequestTime", amz_date), ("ServerTime", server),
                               ("MaxAllowedSkewMilliseconds", str(max_skew * 1000))])
    if a["date"] != amz_date[:8]:
        return fail(403, "SignatureDoesNotMatch",
                    "credential scope date %s does not match X-Amz-Date %s"
                    % (a["date"], amz_date))

    content_sha = hmap.get("x-amz-content-sha256", [None])[0]
    if service == "s3" and content_sha is None:
        return fail(400, "InvalidRequest",
                    "Missing required header for this request: x-amz-content-sha256")
    if content_sha is not None:
        if content_sha in STREAMING_SIGNED:
            return fail(400, "NotImplemented",
                        "%s (aws-chunked with chunk signatures) is not supported by "
                        "the test proxy" % content_sha)
        if content_sha in (UNSIGNED_PAYLOAD, STREAMING_UNSIGNED_TRAILER):
            if service != "s3":
                return fail(400, "InvalidSignatureException",
                            "%s is only valid for S3" % content_sha)
        else:
            actual = hashlib.sha256(body or b"").hexdigest()
            if content_sha != actual:
                return fail(400, "XAmzContentSHA256Mismatch",
                            "The provided 'x-amz-content-sha256' header does not match "
                            "what was computed.",
                            extra_xml=[("ClientComputedContentSHA256", content_sha),
                                       ("S3ComputedContentSHA256", actual)])
        if service == "s3" and "x-amz-content-sha256" not in a["signed_headers"]:
            return fail(403, "SignatureDoesNotMatch",
                        "x-amz-content-sha256 must be a signed header")

    if check_encoding:
        problem = encoding_problem(service, target)
        if problem:
            return fail(403, "SignatureDoesNotMatch", problem)

    if normalize is None:
        normalize = service != "s3"
    signer_cls = _JsonSigner if normalize else _S3Signer
    signer = signer_cls(Credentials(a["access_key"], secret), service, a["region"])
    host = hmap["host"][0]
    req = AWSRequest(method=method, url="http://%s%s" % (host, target),
                     data=body or b"")
    # Only the signed headers, plus x-amz-content-sha256 whose value is the
    # payload hash of the canonical request when present (as at AWS).
    for name in a["signed_headers"]:
        for value in hmap[name]:
            req.headers[name] = value
    if content_sha is not None and "x-amz-content-sha256" not in a["signed_headers"]:
        req.headers["x-amz-content-sha256"] = content_sha
    req.context["timestamp"] = amz_date
    req.context["signed_headers"] = a["signed_headers"]
    req.context["header_values"] = {n: hmap[n] for n in a["signed_headers"]}
    canonical = signer.canonical_request(req)
    sts = signer.string_to_sign(req, canonical)
    expected = signer.signature(sts, req)
    if not hmac.compare_digest(expected, a["signature"]):
        return fail(403, "SignatureDoesNotMatch",
                    "The request signature we calculated does not match the signature "
                    "you provided. Check your key and signing method.",
                    canonical_request=canonical, string_to_sign=sts,
                    extra_xml=[("AWSAccessKeyId", a["access_key"]),
                               ("StringToSign", sts),
                               ("SignatureProvided", a["signature"]),
                               ("CanonicalRequest", canonical)])
    return Verdict(True, 200, "", "", canonical_request=canonical,
                   string_to_sign=sts, **info)


# --------------------------------------------------------------------------
# Which operation a request is
# --------------------------------------------------------------------------

def _query_keys(query):
    out = {}
    if not query:
        return out
    for pair in query.split("&"):
        k, _, v = pair.partition("=")
        out[urllib.parse.unquote(k)] = urllib.parse.unquote(v)
    return out


def guess_service(headers, body):
    """The service of a request without a usable credential scope."""
    hmap = _header_map(headers)
    target = hmap.get("x-amz-target", [""])[0].lower()
    for prefix, svc in TARGET_PREFIXES.items():
        if target.startswith(prefix):
            return svc
    ctype = hmap.get("content-type", [""])[0]
    if ctype.startswith("application/x-www-form-urlencoded") and b"Action=" in (body or b""):
        return "sqs"
    return "s3"


def s3_operation(method, target, headers):
    """The S3 operation name of a (path-style or virtual-host) request."""
    hmap = _header_map(headers)
    path, _, query = target.partition("?")
    q = _query_keys(query)
    host = hmap.get("host", [""])[0].rsplit(":", 1)[0].lower()
    bucket = None
    if host.endswith(".localhost") or ".s3." in host or ".s3-" in host:
        bucket = host.split(".", 1)[0]
        key = path[1:]
    else:
        rest = path[1:]
        if rest:
            bucket, _, key = rest.partition("/")
        else:
            key = ""
    copy = "x-amz-copy-source" in hmap
    m = method.upper()
    if not bucket:
        return "ListBuckets" if m == "GET" else "%s /" % m

    if not key:
        sub = [
            ("location", {"GET": "GetBucketLocation"}),
            ("versioning", {"GET": "GetBucketVersioning", "PUT": "PutBucketVersioning"}),
            ("uploads", {"GET": "ListMultipartUploads"}),
            ("versions", {"GET": "ListObjectVersions"}),
            ("acl", {"GET": "GetBucketAcl", "PUT": "PutBucketAcl"}),
            ("policy", {"GET": "GetBucketPolicy", "PUT": "PutBucketPolicy",
                        "DELETE": "DeleteBucketPolicy"}),
            ("tagging", {"GET": "GetBucketTagging", "PUT": "PutBucketTagging",
                         "DELETE": "DeleteBucketTagging"}),
            ("lifecycle", {"GET": "GetBucketLifecycleConfiguration",
                           "PUT": "PutBucketLifecycleConfiguration",
                           "DELETE": "DeleteBucketLifecycle"}),
            ("encryption", {"GET": "GetBucketEncryption", "PUT": "PutBucketEncryption",
                            "DELETE": "DeleteBucketEncryption"}),
            ("cors", {"GET": "GetBucketCors", "PUT": "PutBucketCors",
                      "DELETE": "DeleteBucketCors"}),
            ("notification", {"GET": "GetBucketNotificationConfiguration",
                              "PUT": "PutBucketNotificationConfiguration"}),
            ("delete", {"POST": "DeleteObjects"}),
        ]
        for name, ops in sub:
            if name in q and m in ops:
                return ops[m]
        if m == "GET":
            return "ListObjectsV2" if q.get("list-type") == "2" else "ListObjects"
        return {"HEAD": "HeadBucket", "PUT": "CreateBucket",
                "DELETE": "DeleteBucket", "POST": "PostObject"}.get(m, "%s bucket" % m)

    if "uploadId" in q:
        if m == "PUT" and "partNumber" in q:
            return "UploadPartCopy" if copy else "UploadPart"
        return {"GET": "ListParts", "POST": "CompleteMultipartUpload",
                "DELETE": "AbortMultipartUpload"}.get(m, "%s upload" % m)
    if m == "POST" and "uploads" in q:
        return "CreateMultipartUpload"
    sub = [
        ("tagging", {"GET": "GetObjectTagging", "PUT": "PutObjectTagging",
                     "DELETE": "DeleteObjectTagging"}),
        ("acl", {"GET": "GetObjectAcl", "PUT": "PutObjectAcl"}),
        ("attributes", {"GET": "GetObjectAttributes"}),
        ("retention", {"GET": "GetObjectRetention", "PUT": "PutObjectRetention"}),
        ("legal-hold", {"GET": "GetObjectLegalHold", "PUT": "PutObjectLegalHold"}),
        ("restore", {"POST": "RestoreObject"}),
        ("select", {"POST": "SelectObjectContent"}),
    ]
    for name, ops in sub:
        if name in q and m in ops:
            return ops[m]
    if m == "PUT":
        return "CopyObject" if copy else "PutObject"
    return {"GET": "GetObject", "HEAD": "HeadObject",
            "DELETE": "DeleteObject"}.get(m, "%s object" % m)


def classify(method, target, headers, body, service=None):
    """(service, operation) of a request.  service: from the credential
    scope when known, else guessed."""
    if not service:
        service = guess_service(headers, body)
    hmap = _header_map(headers)
    if service == "s3":
        return service, s3_operation(method, target, headers)
    amz_target = hmap.get("x-amz-target", [None])[0]
    if amz_target:
        return service, amz_target.rpartition(".")[2]
    # Query protocol (SQS/STS/IAM): Action in the body or the query.
    params = {}
    ctype = hmap.get("content-type", [""])[0]
    if ctype.startswith("application/x-www-form-urlencoded") and body:
        params.update(urllib.parse.parse_qs(body.decode("latin-1")))
    params.update(urllib.parse.parse_qs(target.partition("?")[2]))
    action = params.get("Action", [None])[0]
    return service, action or ("%s %s" % (method, target.partition("?")[0]))


# --------------------------------------------------------------------------
# Error bodies
# --------------------------------------------------------------------------

def new_request_id(service):
    if service == "s3":
        return uuid.uuid4().hex[:16].upper()
    return str(uuid.uuid4())


def error_response(service, code, message, status, request_id, extra_xml=(),
                   query_protocol=False, now=None):
    """(status, [(name, value)], body) for an error in service's format."""
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                         time.gmtime(time.time() if now is None else now))
    if service == "s3":
        parts = ["<Code>%s</Code>" % xml_escape(code),
                 "<Message>%s</Message>" % xml_escape(message)]
        for name, value in extra_xml:
            parts.append("<%s>%s</%s>" % (name, xml_escape(value), name))
        parts.append("<RequestId>%s</RequestId>" % request_id)
        parts.append("<HostId>awsfs-sigproxy</HostId>")
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error>%s</Error>'
                % "".join(parts)).encode()
        headers = [("Content-Type", "application/xml"),
                   ("x-amz-request-id", request_id),
                   ("x-amz-id-2", "awsfs-sigproxy"), ("Date", date)]
    elif query_protocol:
        code = {"InvalidAccessKeyId": "InvalidClientTokenId",
                "AccessDenied": "MissingAuthenticationToken"}.get(code, code)
        if code == "InvalidClientTokenId":
            message = "The security token included in the request is invalid."
        body = ('<?xml version="1.0"?><ErrorResponse><Error><Type>Sender</Type>'
                "<Code>%s</Code><Message>%s</Message><Detail/></Error>"
                "<RequestId>%s</RequestId></ErrorResponse>"
                % (xml_escape(code), xml_escape(message), request_id)).encode()
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id),
                   ("Date", date)]
    else:
        json_code = {"InvalidAccessKeyId": "UnrecognizedClientException",
                     "SignatureDoesNotMatch": "InvalidSignatureException",
                     "RequestTimeTooSkewed": "InvalidSignatureException",
                     "XAmzContentSHA256Mismatch": "InvalidSignatureException",
                     "AuthorizationHeaderMalformed": "IncompleteSignatureException",
                     "AccessDenied": "MissingAuthenticationTokenException",
                     "MissingAuthenticationToken": "MissingAuthenticationTokenException",
                     }.get(code, code)
        if code == "RequestTimeTooSkewed":
            message = "Signature expired: " + message
        if code == "InvalidAccessKeyId":
            message = "The security token included in the request is invalid."
        body = json.dumps({"__type": "com.amazon.coral.service#" + json_code,
                           "message": message}).encode()
        headers = [("Content-Type", JSON_CONTENT_TYPES.get(service,
                                                           "application/x-amz-json-1.0")),
                   ("x-amzn-RequestId", request_id), ("Date", date)]
    return status, headers, body


# --------------------------------------------------------------------------
# The proxy
# --------------------------------------------------------------------------

class CannedResponse:
    """An answer a fault hook gives instead of forwarding."""

    def __init__(self, status, headers=(), body=b""):
        self.status = status
        self.headers = list(headers)
        self.body = body


DROP = object()  # fault_hook return value: close the connection, no answer


class Truncate:
    """Forward, but cut the answer's body after `keep` of its bytes (a
    fraction in (0, 1)) and close: a Content-Length that lies."""

    def __init__(self, keep=0.5):
        self.keep = keep


class Stall:
    """Say nothing for `seconds`, then close without an answer."""

    def __init__(self, seconds):
        self.seconds = seconds


class RequestInfo:
    """What a fault hook sees of one request (already verified)."""

    def __init__(self, seq, service, op, method, target, headers, body, access_key):
        self.seq = seq
        self.service = service
        self.op = op
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.access_key = access_key


class Record(NamedTuple):
    service: str
    op: str
    method: str
    path: str
    status: int  # 0: connection dropped / no answer


class Detail(NamedTuple):
    """More about a request than Record: for debugging and secrets checks."""
    record_index: int
    access_key: str
    signed_headers: tuple
    signature: str
    request_id: str     # the proxy's own request id when it answered itself
    error_code: str     # the proxy's own error code, "" when forwarded
    message: str
    security_token: str


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "awsfs-sigproxy"
    timeout = 300  # idle keep-alive connections

    # Python's http.server rewrites a leading '//' of self.path; the raw
    # request line is what was signed, so use that.
    def _raw_target(self):
        words = self.requestline.split()
        target = words[1] if len(words) >= 2 else self.path
        if target.startswith(("http://", "https://")):  # absolute-form
            target = "/" + target.split("/", 3)[3] if target.count("/") >= 3 else "/"
        return target

    def setup(self):
        super().setup()
        self.proxy = self.server.sigproxy
        self.upstream = None
        self.proxy._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.proxy._track(self.connection, False)
            if self.upstream is not None:
                self.upstream.close()

    def log_message(self, fmt, *args):
        if self.proxy.verbose:
            sys.stderr.write("sigproxy: " + (fmt % args) + "\n")

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _handle(self):
        p = self.proxy
        target = self._raw_target()
        headers = list(self.headers.items())
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        verdict = verify_request(self.command, target, headers, body, p.keys,
                                 now=p.now(), check_encoding=p.strict_encoding,
                                 max_skew=p.max_skew, expected_region=p.expected_region)
        service, op = classify(self.command, target, headers, body,
                               verdict.service if verdict.service else None)
        hmap = _header_map(headers)
        token = hmap.get("x-amz-security-token", [""])[0]
        query_protocol = (service != "s3" and "x-amz-target" not in hmap)
        idx = p._record_start(service, op, self.command, target)
        done = []

        # The record is completed before the answer goes out, so that a test
        # reading it right after its call returns sees the final status.
        def commit(status, request_id="", error_code="", message=""):
            if not done:
                done.append(status)
                p._record_end(idx, status, Detail(
                    idx, verdict.access_key or "", tuple(verdict.signed_headers),
                    verdict.signature or "", request_id, error_code, message, token))

        try:
            if not verdict.ok:
                request_id = new_request_id(service)
                status = verdict.status
                if service != "s3" and p.json_auth_status:
                    status = p.json_auth_status
                status, rh, rb = error_response(service, verdict.code, verdict.message,
                                                status, request_id,
                                                verdict.extra_xml, query_protocol,
                                                now=p.now())
                commit(status, request_id, verdict.code, verdict.message)
                self._send(status, rh, rb)
                return
            hook = p.fault_hook
            if hook is not None:
                action = hook(RequestInfo(idx, service, op, self.command, target,
                                          headers, body, verdict.access_key))
                if action is DROP:
                    commit(0, error_code="Dropped")
                    self.close_connection = True
                    return
                if isinstance(action, CannedResponse):
                    commit(action.status, error_code="Canned")
                    self._send(action.status, action.headers, action.body)
                    return
                if isinstance(action, Stall):
                    commit(0, error_code="Stalled")
                    time.sleep(action.seconds)
                    self.close_connection = True
                    return
                if isinstance(action, Truncate):
                    self._forward(target, headers, body, commit, cut=action.keep)
                    return
            self._forward(target, headers, body, commit)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            commit(0, error_code="Aborted")

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = _handle

    def _send(self, status, headers, body):
        self.send_response_only(status)
        names = set()
        for name, value in headers:
            names.add(name.lower())
            self.send_header(name, value)
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
        self.wfile.flush()

    def _upstream_request(self, target, headers, body):
        fwd = [(n, v) for n, v in headers
               if n.lower() not in HOP_BY_HOP and n.lower() not in ("expect", "content-length")]
        for attempt in (0, 1):
            if self.upstream is None:
                self.upstream = http.client.HTTPConnection(
                    self.proxy.upstream_host, self.proxy.upstream_port,
                    timeout=self.proxy.upstream_timeout)
            conn = self.upstream
            try:
                conn.putrequest(self.command, target, skip_host=True,
                                skip_accept_encoding=True)
                for n, v in fwd:
                    conn.putheader(n, v)
                if body or self.command in ("PUT", "POST", "PATCH"):
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body if body else None)
                return conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError, http.client.BadStatusLine):
                # A keep-alive connection the emulator closed: once more.
                conn.close()
                self.upstream = None
                if attempt:
                    raise

    def _forward(self, target, headers, body, commit, cut=None):
        try:
            resp = self._upstream_request(target, headers, body)
        except OSError as e:
            rid = new_request_id("s3")
            commit(502, rid, "UpstreamFailed", str(e))
            self._send(502, [("Content-Type", "text/plain"), ("x-amz-request-id", rid)],
                       ("sigproxy: upstream failed: %s\n" % e).encode())
            return 502
        if cut is not None:
            return self._forward_cut(resp, commit, cut)
        commit(resp.status)
        self.send_response_only(resp.status, resp.reason)
        length = None
        for name, value in resp.getheaders():
            if name.lower() in HOP_BY_HOP:
                continue
            if name.lower() == "content-length":
                length = value
            self.send_header(name, value)
        no_body = (self.command == "HEAD" or resp.status in (204, 304)
                   or 100 <= resp.status < 200)
        chunked = length is None and not no_body
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if not no_body:
            while True:
                data = resp.read(65536)
                if not data:
                    break
                if chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                else:
                    self.wfile.write(data)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        else:
            resp.read()
        self.wfile.flush()
        if resp.will_close:
            self.upstream.close()
            self.upstream = None
        return resp.status


    def _forward_cut(self, resp, commit, keep):
        # The whole answer is read, announced whole, and sent in part.
        data = resp.read()
        commit(resp.status, error_code="Truncated")
        self.send_response_only(resp.status, resp.reason)
        for name, value in resp.getheaders():
            if name.lower() in HOP_BY_HOP or name.lower() == "content-length":
                continue
            self.send_header(name, value)
        if self.command == "HEAD":
            # A HEAD's Content-Length is the object's size, not a body to cut
            self.send_header("Content-Length", resp.getheader("Content-Length", "0"))
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data[:int(len(data) * keep)])
        self.wfile.flush()
        self.close_connection = True
        if self.upstream is not None and resp.will_close:
            self.upstream.close()
            self.upstream = None
        return resp.status


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class SigProxy:
    """The proxy.  keys: {access key id: secret}; upstream: 'http://host:port'."""

    def __init__(self, upstream, keys, host="127.0.0.1", port=0, verbose=False):
        u = urllib.parse.urlsplit(upstream)
        self.upstream_host = u.hostname
        self.upstream_port = u.port or 80
        self.upstream_timeout = 120
        self.keys = dict(keys)
        self.verbose = verbose
        self.strict_encoding = True
        self.max_skew = MAX_SKEW_SECONDS
        self.expected_region = None
        # Status of the proxy's own refusals for the JSON and query services
        # (None: as verify_request says).  403 as the tests' contract says;
        # real DynamoDB/SSM answer their signature errors with 400, so an
        # awsfs that maps errors by code, not status, passes either way.
        self.json_auth_status = 403
        self.now = time.time
        self.fault_hook = None
        self._lock = threading.Lock()
        self._records = []
        self._details = []
        self._counts = {}
        self._conns = set()
        self._server = _Server((host, port), _Handler)
        self._server.sigproxy = self
        self._thread = None

    @property
    def url(self):
        host, port = self._server.server_address[:2]
        return "http://%s:%d" % (host, port)

    @property
    def port(self):
        return self._server.server_address[1]

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name="sigproxy", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:  # idle keep-alive clients: let them see the close
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread:
            self._thread.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # bookkeeping -------------------------------------------------------

    def _track(self, conn, add):
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def _record_start(self, service, op, method, path):
        with self._lock:
            self._counts[(service, op)] = self._counts.get((service, op), 0) + 1
            self._records.append(Record(service, op, method, path, -1))
            self._details.append(None)
            return len(self._records) - 1

    def _record_end(self, idx, status, detail):
        with self._lock:
            if idx < len(self._records):
                self._records[idx] = self._records[idx]._replace(status=status)
                self._details[idx] = detail

    # what tests read ---------------------------------------------------

    def reset(self):
        """Forget counts, records and details."""
        with self._lock:
            self._counts.clear()
            self._records.clear()
            self._details.clear()

    def counts(self):
        """{(service, op): n} since the last reset."""
        with self._lock:
            return dict(self._counts)

    def count(self, service=None, op=None):
        with self._lock:
            return sum(n for (s, o), n in self._counts.items()
                       if (service is None or s == service) and (op is None or o == op))

    @property
    def requests(self):
        """[Record(service, op, method, path, status)] since the last reset."""
        with self._lock:
            return list(self._records)

    @property
    def details(self):
        with self._lock:
            return list(self._details)

    def rejected(self):
        """Details of the requests the proxy refused itself."""
        return [d for d in self.details if d is not None and d.request_id]


def _main():
    import argparse
    ap = argparse.ArgumentParser(description="SigV4-checking proxy (tests only)")
    ap.add_argument("upstream")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--key", action="append", default=[], help="AKID:SECRET")
    args = ap.parse_args()
    keys = dict(k.split(":", 1) for k in args.key)
    with SigProxy(args.upstream, keys, port=args.port, verbose=True) as p:
        print(p.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    _main()

"""The bad-input matrix: hostile answers, hostile names, broken transfers.

One parametrized row per case, across the four services. Each row mounts
one service (behind the SigV4-checking proxy, with a short retry budget),
arranges what the emulator holds, sets a fault (sigproxy.Rewrite/RawAnswer
answers made by faults.py, or a hook of its own), runs what a user runs and
asserts

  (a) the errno the user's program sees (0: it works, e.g. a hostile name
      is left out of a listing and the rest is shown),
  (b) exactly one log line (error, or warn for a name left out) naming the
      service, the operation and the reason,
  (c) that nothing stored changed (every bucket, object, table, item,
      queue, message count and parameter, read with boto3 straight from
      moto, before and after),

and that the daemon is still up and answers once the fault is gone.

Rows that live elsewhere and are not repeated here (they assert the same
three things): test_dynamodb.py BAD_WRITES (malformed JSON, not an object,
wrong key type, key disagreeing with the name, empty, over 400 KB,
duplicate names), test_sqs.py test_send_over_the_queue_maximum_is_efbig_and_
sends_nothing and test_bad_input_is_refused_with_a_log_line, test_ssm.py
test_value_over_the_tier_limit_is_efbig_and_changes_nothing (4 KB standard,
8 KB advanced) and test_invalid_names_are_einval, test_s3.py
test_1024_byte_keys_and_longer and test_failed_upload_is_eio_and_keeps_the_data.
"""

import errno
import hashlib
import json
import os
import re
import subprocess
import time
from typing import Callable, NamedTuple, Optional

import pytest

from faults import Faults, malformed
from sigproxy import DROP, RawAnswer, Rewrite, Stall

MiB = 1 << 20
BUCKET = "bk-bad"
TABLE = "users"
QUEUE = "q"


# --------------------------------------------------------------------------
# what the emulator holds
# --------------------------------------------------------------------------

def seed(boto, service, big=False):
    if service == "s3":
        boto.s3.create_bucket(Bucket=BUCKET)
        for k, v in (("dir/a.txt", b"alpha"), ("dir/b.txt", b"beta"), ("top.txt", b"top")):
            boto.s3.put_object(Bucket=BUCKET, Key=k, Body=v)
        if big:  # an object a failed multipart upload must leave as it was
            boto.s3.put_object(Bucket=BUCKET, Key="big.bin", Body=b"B" * (12 * MiB))
    elif service == "dynamodb":
        boto.dynamodb.create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
        for k in ("k1", "k2"):
            boto.dynamodb.put_item(TableName=TABLE, Item={"id": {"S": k}, "v": {"N": "1"}})
    elif service == "sqs":
        url = boto.sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
        boto.sqs.send_message(QueueUrl=url, MessageBody="keep me")
        boto.sqs.create_queue(QueueName="q256", Attributes={"MaximumMessageSize": "262144"})
    elif service == "ssm":
        boto.ssm.put_parameter(Name="/app/db", Value="postgres://db", Type="String")
        boto.ssm.put_parameter(Name="/app/key", Value="s3cr3t-value", Type="SecureString")


def stored(boto):
    """Everything the emulator holds, in a comparable form."""
    out = {}
    for b in boto.s3.list_buckets().get("Buckets", []):
        name = b["Name"]
        objs = {}
        for page in boto.s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            for o in page.get("Contents", []):
                body = boto.s3.get_object(Bucket=name, Key=o["Key"])["Body"].read()
                objs[o["Key"]] = hashlib.sha256(body).hexdigest()
        uploads = boto.s3.list_multipart_uploads(Bucket=name).get("Uploads", [])
        out["s3/" + name] = (objs, len(uploads))
    for t in boto.dynamodb.list_tables()["TableNames"]:
        items = boto.dynamodb.scan(TableName=t, ConsistentRead=True)["Items"]
        out["dynamodb/" + t] = sorted(json.dumps(i, sort_keys=True) for i in items)
    for url in boto.sqs.list_queues().get("QueueUrls", []):
        a = boto.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        out["sqs/" + url.rsplit("/", 1)[1]] = (
            int(a["ApproximateNumberOfMessages"]) +
            int(a["ApproximateNumberOfMessagesNotVisible"]))
    for p in boto.ssm.describe_parameters(MaxResults=50).get("Parameters", []):
        v = boto.ssm.get_parameter(Name=p["Name"], WithDecryption=True)["Parameter"]
        out["ssm" + p["Name"]] = (v["Value"], v["Type"], v["Version"])
    return out


# --------------------------------------------------------------------------
# what a user runs
# --------------------------------------------------------------------------

def errno_of(fn):
    try:
        fn()
    except OSError as e:
        return e.errno
    return 0


def cat(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def ls(path):
    return sorted(os.listdir(path))


def log_lines(m):
    return [ln for ln in m.log().splitlines() if re.search(r"\bawsfs (error|warn):", ln)]


# --------------------------------------------------------------------------
# faults of the rows
# --------------------------------------------------------------------------

def on(service, op, kind, **kw):
    """Every request of service/op gets the malformed answer `kind`."""
    return Faults(rate=1.0, kinds=[kind], services=[service], ops=[op], **kw)


def rewrite(service, op, fn):
    """The real answer of service/op passes through fn(body) -> body."""
    def hook(info):
        if info.service == service and info.op == op:
            return Rewrite(lambda st, h, body: RawAnswer(st, h, fn(body)))
        return None
    return hook


def nth(service, op, n, action):
    """The n-th request of service/op (1-based) and every later one gets
    `action` (a server that goes away and stays away)."""
    seen = []

    def hook(info):
        if info.service == service and info.op == op:
            seen.append(1)
            if len(seen) >= n:
                return action
        return None
    return hook


def json_sub(path, value):
    """A body rewriter: the member at path (a list of keys and indexes) of a
    JSON answer set to value."""
    def fn(body):
        doc = json.loads(body)
        node = doc
        try:
            for k in path[:-1]:
                node = node[k]
            node[path[-1]]
        except (KeyError, IndexError, TypeError):
            return body  # not in this answer (an empty page, another segment)
        node[path[-1]] = value
        return json.dumps(doc).encode()
    return fn


def xml_sub(old, new):
    def fn(body):
        return body.replace(old, new)
    return fn


def ddb_key(value):
    """A DynamoDB Scan/Query answer whose first item's key is value."""
    return json_sub(["Items", 0, "id"], {"S": value})


class Row(NamedTuple):
    id: str
    service: str
    fault: Optional[Callable]       # a proxy.fault_hook
    act: Callable                   # act(mount root) -> errno (0 when it works)
    errno: int
    op: str                         # the operation the log line names
    reason: str                     # a regular expression the log line matches
    warm: Optional[Callable] = None  # run before the fault is set
    opts: str = ""
    level: str = "error"            # "warn": a name left out, no error


def S(*parts):
    return os.path.join("s3", BUCKET, *parts)


def ls_at(*parts):
    return lambda root: errno_of(lambda: ls(os.path.join(root, *parts)))


def cat_at(*parts):
    return lambda root: errno_of(lambda: cat(os.path.join(root, *parts)))


def write_at(data, *parts):
    return lambda root: errno_of(lambda: write(os.path.join(root, *parts), data))


def ls_without(name, *parts):
    """ls works and does not show name (nor anything unexpected)."""
    def act(root):
        names = ls(os.path.join(root, *parts))
        assert name not in names and ".." not in names, names
        return 0
    return act


def mv_at(src, dst):
    return lambda root: errno_of(lambda: os.rename(os.path.join(root, *src),
                                                   os.path.join(root, *dst)))


def _long_multipart(root):
    """Overwrite big.bin with 18 MiB: three parts of 8 MiB (multipart_size)."""
    return errno_of(lambda: write(os.path.join(root, S("big.bin")), os.urandom(18 * MiB)))


EIO, EINVAL, ENOENT = errno.EIO, errno.EINVAL, errno.ENOENT

ROWS = [
    # ---- S3: malformed answers --------------------------------------------
    Row("s3-list-xml-cut-in-half", "s3", on("s3", "ListObjectsV2", "cut_body"),
        ls_at(S("dir")), EIO, "ListObjectsV2", r"malformed|XML"),
    Row("s3-list-length-longer", "s3", on("s3", "ListObjectsV2", "long_length"),
        ls_at(S("dir")), EIO, "ListObjectsV2", r"gave up"),
    Row("s3-list-length-shorter", "s3", on("s3", "ListObjectsV2", "short_length"),
        ls_at(S("dir")), EIO, "ListObjectsV2", r"malformed|XML"),
    Row("s3-list-200-error-body", "s3", on("s3", "ListObjectsV2", "error_200"),
        ls_at(S("dir")), EIO, "ListObjectsV2", r"InternalError"),
    Row("s3-list-wrong-types", "s3", on("s3", "ListObjectsV2", "wrong_types"),
        ls_at(S("dir")), EIO, "ListObjectsV2", r"malformed|Size"),
    Row("s3-list-over-the-cap", "s3", on("s3", "ListObjectsV2", "huge_body"),
        ls_at(S("dir")), EIO, "ListObjectsV2", r"ResponseTooLarge"),
    Row("s3-list-gigantic-header", "s3", on("s3", "ListObjectsV2", "huge_header"),
        ls_at(S("dir")), EIO, "ListObjectsV2", r"ResponseTooLarge"),
    Row("s3-buckets-xml-cut", "s3", on("s3", "ListBuckets", "cut_body"),
        ls_at("s3"), EIO, "ListBuckets", r"malformed|XML"),
    Row("s3-head-200-error-body-on-copy", "s3", on("s3", "CopyObject", "error_200"),
        mv_at([S("top.txt")], [S("moved.txt")]), EIO, "CopyObject", r"InternalError"),
    Row("s3-complete-multipart-200-error-body", "s3",
        on("s3", "CompleteMultipartUpload", "error_200"),
        _long_multipart, EIO, "CompleteMultipartUpload", r"InternalError"),
    # ---- S3: hostile names from the server --------------------------------
    Row("s3-list-key-dotdot", "s3", rewrite("s3", "ListObjectsV2",
                                           xml_sub(b"<Key>dir/b.txt</Key>", b"<Key>dir/..</Key>")),
        ls_without("..", S("dir")), 0, "ListObjectsV2", r"\.\.", level="warn"),
    Row("s3-list-key-nul", "s3", rewrite("s3", "ListObjectsV2",
                                        xml_sub(b"<Key>dir/b.txt</Key>",
                                                b"<Key>dir/b&#0;.txt</Key>")),
        ls_at(S("dir")), EIO, "ListObjectsV2", r"malformed|XML"),
    Row("s3-list-key-2000-bytes", "s3", rewrite("s3", "ListObjectsV2",
                                               xml_sub(b"<Key>dir/b.txt</Key>",
                                                       b"<Key>dir/" + b"n" * 2000 + b"</Key>")),
        ls_without("n" * 2000, S("dir")), 0, "ListObjectsV2", r"longer than 255",
        level="warn"),
    Row("s3-list-key-invalid-utf8", "s3", rewrite("s3", "ListObjectsV2",
                                                 xml_sub(b"<Key>dir/b.txt</Key>",
                                                         b"<Key>dir/b\xff\xfe.txt</Key>")),
        ls_at(S("dir")), EIO, "ListObjectsV2", r"malformed|UTF-8"),
    # ---- S3: hostile names from the user ----------------------------------
    Row("s3-user-name-invalid-utf8", "s3", None,
        lambda root: errno_of(lambda: write(os.path.join(root.encode(), S("dir").encode(),
                                                         b"bad\xff\xfe"), b"x")),
        EINVAL, "create", r"UTF-8"),
    Row("s3-user-key-over-1024-bytes", "s3", None,
        lambda root: errno_of(lambda: os.mkdir(os.path.join(root, S(*["d" * 250] * 5)))),
        errno.ENAMETOOLONG, "lookup", r"1024",
        warm=lambda root: os.makedirs(os.path.join(root, S(*["d" * 250] * 4)))),
    # ---- S3: writes that fail half way, a server that goes away -----------
    Row("s3-multipart-fails-after-the-first-part", "s3",
        nth("s3", "UploadPart", 2, malformed("cut_body", 500, [], b"<Error>")),
        _long_multipart, EIO, "UploadPart", r"upload failed|gave up"),
    Row("s3-server-closes-mid-upload", "s3", nth("s3", "UploadPart", 2, DROP),
        _long_multipart, EIO, "UploadPart", r"NetworkError"),
    Row("s3-server-stops-answering-mid-upload", "s3", nth("s3", "UploadPart", 2, Stall(4)),
        _long_multipart, EIO, "UploadPart", r"NetworkError", opts="readwrite_timeout=1"),
    Row("s3-server-closes-on-put", "s3", nth("s3", "PutObject", 1, DROP),
        write_at(b"new text", S("top.txt")), EIO, "PutObject", r"NetworkError"),

    # ---- DynamoDB: malformed answers --------------------------------------
    Row("ddb-getitem-json-cut", "dynamodb", on("dynamodb", "GetItem", "cut_body"),
        cat_at("dynamodb", TABLE, "k1.json"), EIO, "GetItem", r"malformed JSON"),
    Row("ddb-getitem-wrong-types", "dynamodb", on("dynamodb", "GetItem", "wrong_types"),
        cat_at("dynamodb", TABLE, "k1.json"), EIO, "GetItem", r"malformed|Item"),
    Row("ddb-getitem-attribute-wrong-type", "dynamodb",
        rewrite("dynamodb", "GetItem", json_sub(["Item", "v"], {"N": 5})),
        cat_at("dynamodb", TABLE, "k1.json"), EIO, "GetItem", r"cannot show"),
    Row("ddb-getitem-length-shorter", "dynamodb", on("dynamodb", "GetItem", "short_length"),
        cat_at("dynamodb", TABLE, "k1.json"), EIO, "GetItem", r"malformed JSON"),
    Row("ddb-getitem-200-error-body", "dynamodb", on("dynamodb", "GetItem", "error_200"),
        cat_at("dynamodb", TABLE, "k1.json"), EIO, "GetItem", r"InternalError"),
    Row("ddb-getitem-over-the-cap", "dynamodb", on("dynamodb", "GetItem", "huge_body"),
        cat_at("dynamodb", TABLE, "k1.json"), EIO, "GetItem", r"ResponseTooLarge"),
    Row("ddb-scan-wrong-types", "dynamodb", on("dynamodb", "Scan", "wrong_types"),
        ls_at("dynamodb", TABLE), EIO, "Scan", r"malformed|Items"),
    Row("ddb-scan-length-longer", "dynamodb", on("dynamodb", "Scan", "long_length"),
        ls_at("dynamodb", TABLE), EIO, "Scan", r"gave up"),
    Row("ddb-describe-wrong-types", "dynamodb", on("dynamodb", "DescribeTable", "wrong_types"),
        cat_at("dynamodb", TABLE, ".table.json"), EIO, "DescribeTable", r"malformed|Table"),
    Row("ddb-listtables-json-cut", "dynamodb", on("dynamodb", "ListTables", "cut_body"),
        ls_at("dynamodb"), EIO, "ListTables", r"malformed JSON"),
    Row("ddb-getitem-gigantic-header", "dynamodb", on("dynamodb", "GetItem", "huge_header"),
        cat_at("dynamodb", TABLE, "k1.json"), EIO, "GetItem", r"ResponseTooLarge"),
    Row("ddb-scan-key-2000-bytes", "dynamodb", rewrite("dynamodb", "Scan", ddb_key("n" * 2000)),
        ls_without("n" * 2000 + ".json", "dynamodb", TABLE), 0, "Scan", r"too long",
        level="warn"),
    Row("ddb-scan-key-invalid-utf8", "dynamodb",
        rewrite("dynamodb", "Scan", lambda b: json_sub(["Items", 0, "id"], {"S": "@@"})(b)
                .replace(b'"@@"', b'"b\xff\xfe"')),
        ls_at("dynamodb", TABLE), EIO, "Scan", r"malformed JSON|UTF-8"),
    # ---- DynamoDB: hostile input from the user ----------------------------
    Row("ddb-user-name-invalid-utf8", "dynamodb", None,
        lambda root: errno_of(lambda: write(os.path.join(root.encode(), b"dynamodb",
                                                         TABLE.encode(), b"b\xff.json"),
                                            b'{"v": 2}')),
        EINVAL, "create", r"UTF-8"),
    Row("ddb-user-json-nested-100000-deep", "dynamodb", None,
        write_at(b'{"v": ' + b"[" * 100000 + b"]" * 100000 + b"}", "dynamodb", TABLE,
                 "k1.json"), EINVAL, "PutItem", r"malformed JSON|deep"),
    Row("ddb-user-json-invalid-utf8", "dynamodb", None,
        write_at(b'{"v": "b\xff\xfe"}', "dynamodb", TABLE, "k1.json"), EINVAL, "PutItem",
        r"malformed JSON|UTF-8"),
    Row("ddb-user-json-nul", "dynamodb", None,
        write_at(b'{"v": "a"}\x00{"v": 3}', "dynamodb", TABLE, "k1.json"), EINVAL, "PutItem",
        r"malformed JSON"),
    Row("ddb-server-closes-on-put", "dynamodb", nth("dynamodb", "PutItem", 1, DROP),
        write_at(b'{"v": 7}', "dynamodb", TABLE, "k1.json"), EIO, "PutItem", r"NetworkError"),

    # ---- SQS ---------------------------------------------------------------
    Row("sqs-listqueues-json-cut", "sqs", on("sqs", "ListQueues", "cut_body"),
        ls_at("sqs"), EIO, "ListQueues", r"malformed"),
    Row("sqs-listqueues-wrong-types", "sqs", on("sqs", "ListQueues", "wrong_types"),
        ls_at("sqs"), EIO, "ListQueues", r"malformed|QueueUrls"),
    Row("sqs-receive-wrong-types", "sqs", on("sqs", "ReceiveMessage", "wrong_types"),
        ls_at("sqs", QUEUE, "messages"), EIO, "ReceiveMessage", r"malformed|Messages"),
    Row("sqs-receive-body-wrong-type", "sqs",
        rewrite("sqs", "ReceiveMessage", json_sub(["Messages", 0, "Body"], 5)),
        ls_at("sqs", QUEUE, "messages"), 0, "ReceiveMessage", r"left in the queue",
        level="warn"),
    Row("sqs-receive-length-longer", "sqs", on("sqs", "ReceiveMessage", "long_length"),
        ls_at("sqs", QUEUE, "messages"), EIO, "ReceiveMessage", r"gave up"),
    Row("sqs-receive-over-the-cap", "sqs",  # SQS answers may hold 10 x 1 MiB, escaped
        on("sqs", "ReceiveMessage", "huge_body", huge_bytes=41 << 20),
        ls_at("sqs", QUEUE, "messages"), EIO, "ReceiveMessage", r"ResponseTooLarge"),
    Row("sqs-receive-id-dotdot", "sqs",
        rewrite("sqs", "ReceiveMessage", json_sub(["Messages", 0, "MessageId"], "..")),
        ls_without("..", "sqs", QUEUE, "messages"), 0, "ReceiveMessage", r"left in the queue",
        level="warn"),
    Row("sqs-receive-id-2000-bytes", "sqs",
        rewrite("sqs", "ReceiveMessage", json_sub(["Messages", 0, "MessageId"], "i" * 2000)),
        ls_without("i" * 2000, "sqs", QUEUE, "messages"), 0, "ReceiveMessage", r"left in the queue",
        level="warn"),
    Row("sqs-receive-id-nul", "sqs",
        rewrite("sqs", "ReceiveMessage", json_sub(["Messages", 0, "MessageId"], "a\u0000b")),
        ls_at("sqs", QUEUE, "messages"), EIO, "ReceiveMessage", r"malformed JSON"),
    Row("sqs-attributes-wrong-types", "sqs", on("sqs", "GetQueueAttributes", "wrong_types"),
        cat_at("sqs", QUEUE, "attributes.json"), EIO, "GetQueueAttributes",
        r"malformed|Attributes"),
    Row("sqs-send-200-error-body", "sqs", on("sqs", "SendMessage", "error_200"),
        write_at(b"hello", "sqs", QUEUE, "send"), EIO, "SendMessage", r"InternalError"),
    Row("sqs-send-message-over-1-mib", "sqs", None,
        write_at(b"m" * ((1 << 20) + 1), "sqs", QUEUE, "send"), errno.EFBIG, "send",
        r"MaximumMessageSize"),
    Row("sqs-send-message-over-256-kib-queue", "sqs", None,
        write_at(b"m" * (256 * 1024 + 1), "sqs", "q256", "send"), errno.EFBIG, "send",
        r"MaximumMessageSize \(262144 bytes\)"),
    Row("sqs-malformed-json-to-attributes", "sqs", None,
        write_at(b'{"VisibilityTimeout": ', "sqs", QUEUE, "attributes.json"), errno.EPERM,
        "open", r"attributes.json: read-only"),
    Row("sqs-server-closes-on-send", "sqs", nth("sqs", "SendMessage", 1, DROP),
        write_at(b"hello", "sqs", QUEUE, "send"), EIO, "SendMessage", r"NetworkError"),

    # ---- SSM ---------------------------------------------------------------
    # A SecureString is fetched alone (GetParameter) ...
    Row("ssm-getparameter-json-cut", "ssm", on("ssm", "GetParameter", "cut_body"),
        cat_at("ssm", "app", "key"), EIO, "GetParameter", r"malformed JSON"),
    Row("ssm-getparameter-wrong-types", "ssm", on("ssm", "GetParameter", "wrong_types"),
        cat_at("ssm", "app", "key"), EIO, "GetParameter", r"malformed|Parameter"),
    Row("ssm-value-wrong-type", "ssm",
        rewrite("ssm", "GetParameter", json_sub(["Parameter", "Value"], 5)),
        cat_at("ssm", "app", "key"), EIO, "GetParameter", r"without a value"),
    Row("ssm-getparameter-length-shorter", "ssm", on("ssm", "GetParameter", "short_length"),
        cat_at("ssm", "app", "key"), EIO, "GetParameter", r"malformed JSON"),
    Row("ssm-getparameter-200-error-body", "ssm", on("ssm", "GetParameter", "error_200"),
        cat_at("ssm", "app", "key"), EIO, "GetParameter", r"InternalError"),
    Row("ssm-value-over-8-kb", "ssm",
        rewrite("ssm", "GetParameter", json_sub(["Parameter", "Value"], "v" * 20000)),
        cat_at("ssm", "app", "key"), EIO, "GetParameter", r"more than SSM allows"),
    # ... a String with its neighbours (GetParameters).
    Row("ssm-getparameters-json-cut", "ssm", on("ssm", "GetParameters", "cut_body"),
        cat_at("ssm", "app", "db"), EIO, "GetParameters", r"malformed JSON"),
    Row("ssm-getparameters-wrong-types", "ssm", on("ssm", "GetParameters", "wrong_types"),
        cat_at("ssm", "app", "db"), EIO, "GetParameters", r"malformed|Parameters"),
    Row("ssm-batch-value-wrong-type", "ssm",
        rewrite("ssm", "GetParameters", json_sub(["Parameters", 0, "Value"], 5)),
        cat_at("ssm", "app", "db"), EIO, "GetParameters", r"without a value"),
    Row("ssm-getparameters-length-shorter", "ssm", on("ssm", "GetParameters", "short_length"),
        cat_at("ssm", "app", "db"), EIO, "GetParameters", r"malformed JSON"),
    Row("ssm-getparameters-200-error-body", "ssm", on("ssm", "GetParameters", "error_200"),
        cat_at("ssm", "app", "db"), EIO, "GetParameters", r"InternalError"),
    Row("ssm-batch-value-over-8-kb", "ssm",
        rewrite("ssm", "GetParameters", json_sub(["Parameters", 0, "Value"], "v" * 20000)),
        cat_at("ssm", "app", "db"), EIO, "GetParameters", r"more than SSM allows"),
    Row("ssm-listing-wrong-types", "ssm", on("ssm", "DescribeParameters", "wrong_types"),
        ls_at("ssm", "app"), EIO, "DescribeParameters", r"malformed|Parameters"),
    Row("ssm-listing-over-the-cap", "ssm", on("ssm", "DescribeParameters", "huge_body"),
        ls_at("ssm", "app"), EIO, "DescribeParameters", r"ResponseTooLarge"),
    Row("ssm-listing-name-dotdot", "ssm",
        rewrite("ssm", "DescribeParameters",
                json_sub(["Parameters", 0, "Name"], "/app/../../etc/passwd")),
        ls_without("..", "ssm", "app"), 0, "DescribeParameters", r"no place", level="warn"),
    Row("ssm-listing-name-2000-bytes", "ssm",
        rewrite("ssm", "DescribeParameters",
                json_sub(["Parameters", 0, "Name"], "/app/" + "n" * 2000)),
        ls_without("n" * 2000, "ssm", "app"), 0, "DescribeParameters", r"no place",
        level="warn"),
    Row("ssm-listing-name-nul", "ssm",
        rewrite("ssm", "DescribeParameters",
                json_sub(["Parameters", 0, "Name"], "/app/a\u0000b")),
        ls_at("ssm", "app"), EIO, "DescribeParameters", r"malformed JSON"),
    Row("ssm-listing-name-forging-a-log-line", "ssm",
        rewrite("ssm", "DescribeParameters",
                json_sub(["Parameters", 0, "Name"],
                         "/app/../x\n2026-01-01T00:00:00.000Z awsfs error: forged")),
        ls_without("x", "ssm", "app"), 0, "DescribeParameters", r"no place", level="warn"),
    Row("ssm-user-name-invalid-utf8", "ssm", None,
        lambda root: errno_of(lambda: write(os.path.join(root.encode(), b"ssm", b"app",
                                                         b"b\xff"), b"v")),
        EINVAL, "create", r"not a name SSM accepts"),
    Row("ssm-user-value-invalid-utf8", "ssm", None,
        write_at(b"v\xff\xfe", "ssm", "app", "db"), EINVAL, "PutParameter", r"UTF-8"),
    Row("ssm-server-closes-on-put", "ssm", nth("ssm", "PutParameter", 1, DROP),
        write_at(b"new", "ssm", "app", "db"), EIO, "PutParameter", r"NetworkError"),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_input(row, mount, proxy, boto):
    seed(boto, row.service, big=row.act is _long_multipart)
    opts = "services=%s,retries=2,retry_budget=5" % row.service
    if row.opts:
        opts += "," + row.opts
    m = mount("-o", opts)
    root = m.path
    if row.warm:
        row.warm(root)
    before = stored(boto)
    nlines = len(log_lines(m))
    proxy.fault_hook = row.fault
    try:
        got = row.act(root)
    finally:
        proxy.fault_hook = None
    # (a) the errno
    assert got == row.errno, "%s: errno %s (%s), want %s\n%s" % (
        row.id, got, os.strerror(got) if got else "ok", os.strerror(row.errno) if row.errno
        else "ok", "\n".join(log_lines(m)[nlines:]))
    # (b) one line saying why (a release is not waited for by close(2))
    deadline = time.time() + 3
    while True:
        new = log_lines(m)[nlines:]
        if new or time.time() > deadline:
            break
        time.sleep(0.05)
    time.sleep(0.2)
    new = log_lines(m)[nlines:]
    assert len(new) == 1, "%s: want one log line, got:\n%s" % (row.id, "\n".join(new))
    line = new[0]
    assert "awsfs %s:" % row.level in line, line
    assert re.search(r"\b%s\b" % row.service, line), line
    assert row.op in line, line
    assert re.search(row.reason, line), line
    # (c) nothing stored changed
    assert stored(boto) == before
    # the daemon is up and answers
    assert m.alive()
    assert row.service in os.listdir(root)
    assert isinstance(os.listdir(os.path.join(root, row.service)), list)


def test_rm_of_an_open_file_removes_it(mount, proxy, boto):
    """rm while a file is open (and after every close, whose release the
    kernel sends later) removes it: no .fuse_hidden copy in S3, no EPERM
    for an SQS message read and removed at once (the consumer loop)."""
    seed(boto, "s3")
    url = boto.sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    for i in range(20):
        boto.sqs.send_message(QueueUrl=url, MessageBody="m%d" % i)
    m = mount("-o", "services=s3,sqs")
    p = os.path.join(m.path, S("top.txt"))
    with open(p, "rb") as f:
        os.unlink(p)
        assert not os.path.exists(p)
    keys = sorted(o["Key"] for o in boto.s3.list_objects_v2(Bucket=BUCKET)["Contents"])
    assert keys == ["dir/a.txt", "dir/b.txt"]
    assert proxy.count("s3", "CopyObject") == 0
    d = os.path.join(m.path, "sqs", QUEUE, "messages")
    done = 0
    while done < 20:
        names = os.listdir(d)
        assert names, "messages lost: %d of 20 removed" % done
        for n in names:
            with open(os.path.join(d, n), "rb") as f:
                assert f.read().startswith(b"m")
            os.unlink(os.path.join(d, n))  # at once: the release may not be in yet
            done += 1
    assert [ln for ln in log_lines(m)] == []
    a = boto.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert int(a["ApproximateNumberOfMessages"]) + int(
        a["ApproximateNumberOfMessagesNotVisible"]) == 0


def test_retried_rm_of_a_parameter_is_not_enoent(mount, proxy, boto):
    """The answer to DeleteParameter is lost (the body cut short) after SSM
    deleted it: the retry finds nothing. rm succeeded and must say so (the
    soak test met an ENOENT rm here)."""
    from sigproxy import Truncate
    seed(boto, "ssm")
    m = mount("-o", "services=ssm,retries=3")
    path = os.path.join(m.path, "ssm", "app", "db")
    assert cat(path) == b"postgres://db"
    first = []
    proxy.fault_hook = lambda info: (first.append(1) or Truncate(0.5)) if (
        info.op == "DeleteParameter" and not first) else None
    try:
        os.unlink(path)
    finally:
        proxy.fault_hook = None
    assert proxy.count("ssm", "DeleteParameter") == 2
    assert not os.path.exists(path)
    assert [p["Name"] for p in boto.ssm.describe_parameters()["Parameters"]] == ["/app/key"]
    assert log_lines(m) == []

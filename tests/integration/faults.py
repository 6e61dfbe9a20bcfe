"""Fault injection for the tests' proxy: install a Faults as proxy.fault_hook.

Each request the proxy has verified is offered to the injector; with a
seeded rate it answers with one of the chosen fault kinds instead of
forwarding, so a run is repeatable. Kinds:

  slowdown   the service's throttle: S3 503 SlowDown; DynamoDB 400
             ProvisionedThroughputExceededException; SSM 400
             ThrottlingException; SQS 400 RequestThrottled
  error500   500 InternalError (S3 XML or JSON __type)
  reset      the connection closed before any answer
  truncate   the real answer, its body cut in half (Content-Length lies)
  stall      silence for `stall_seconds`, then the connection closed

Malformed answers (BAD_KINDS; the real answer, rewritten, then the
connection closed):

  cut_body      the body cut in half, Content-Length telling the cut length
                (XML or JSON that ends in the middle)
  long_length   the whole body, Content-Length 1000 bytes longer
  short_length  the whole body, Content-Length half of it
  error_200     status 200 with the service's error document (InternalError)
  huge_header   the real answer plus one header of `huge_bytes` (1 MiB)
  huge_body     the real answer padded with spaces to `huge_bytes` (17 MiB:
                over awsfs's 16 MiB cap of an answer)
  wrong_types   JSON: every top-level member of another type (string ->
                number, number/bool -> string, list -> object, object ->
                list); XML: every number, date and boolean replaced by text

Every fault injected is counted per (service, op, kind).
"""

import collections
import random
import threading

import json
import re

from sigproxy import (DROP, CannedResponse, RawAnswer, Rewrite, Stall, Truncate,
                      error_response, new_request_id)

KINDS = ("slowdown", "error500", "reset", "truncate", "stall")
BAD_KINDS = ("cut_body", "long_length", "short_length", "error_200", "huge_header",
             "huge_body", "wrong_types")
HUGE_BYTES = 17 << 20

THROTTLE = {
    "s3": (503, "SlowDown", "Please reduce your request rate."),
    "dynamodb": (400, "ProvisionedThroughputExceededException",
                 "The level of configured provisioned throughput for the table was exceeded."),
    "ssm": (400, "ThrottlingException", "Rate exceeded"),
    "sqs": (400, "RequestThrottled", "Request is throttled."),
    "sts": (400, "Throttling", "Rate exceeded"),
}


class Faults:
    def __init__(self, rate=0.2, kinds=KINDS, seed=1, ops=None, services=None,
                 stall_seconds=3.0, limit=None, huge_bytes=HUGE_BYTES):
        self.rate = rate
        self.kinds = tuple(kinds)
        self.random = random.Random(seed)
        self.ops = set(ops) if ops else None
        self.services = set(services) if services else None
        self.stall_seconds = stall_seconds
        self.limit = limit  # stop injecting after this many faults
        self.huge_bytes = huge_bytes
        self.lock = threading.Lock()
        self.injected = collections.Counter()

    def total(self, kind=None):
        with self.lock:
            return sum(n for (s, o, k), n in self.injected.items() if kind in (None, k))

    def __call__(self, info):
        if self.services and info.service not in self.services:
            return None
        if self.ops and info.op not in self.ops:
            return None
        with self.lock:
            if self.limit is not None and sum(self.injected.values()) >= self.limit:
                return None
            if self.random.random() >= self.rate:
                return None
            kind = self.random.choice(self.kinds)
            self.injected[(info.service, info.op, kind)] += 1
        return self.answer(info, kind)

    def answer(self, info, kind):
        service = info.service if info.service in THROTTLE else "s3"
        query = service != "s3" and not any(n.lower() == "x-amz-target" for n, _ in info.headers)
        if kind == "slowdown":
            status, code, message = THROTTLE[service]
        elif kind == "error500":
            status, code, message = 500, "InternalError", "We encountered an internal error."
        elif kind == "reset":
            return DROP
        elif kind == "truncate":
            return Truncate(0.5)
        elif kind == "stall":
            return Stall(self.stall_seconds)
        elif kind in BAD_KINDS:
            return self.bad_answer(info, kind, service, query)
        else:
            raise ValueError(kind)
        status, headers, body = error_response(service, code, message, status,
                                               new_request_id(service), (), query)
        return CannedResponse(status, headers, body)

    def bad_answer(self, info, kind, service, query):
        if kind == "error_200":
            _, headers, body = error_response(service, "InternalError",
                                              "We encountered an internal error.", 500,
                                              new_request_id(service), (), query)
            return RawAnswer(200, headers, body)
        huge = self.huge_bytes
        return Rewrite(lambda status, headers, body: malformed(kind, status, headers, body,
                                                               huge))


def retype_json(body):
    """Every top-level member of a JSON object with a value of another type."""
    doc = json.loads(body or b"{}")
    if not isinstance(doc, dict):
        return b'{"not": "an object"}'
    out = {}
    for k, v in doc.items():
        if isinstance(v, str):
            out[k] = 12345
        elif isinstance(v, (bool, int, float)) or v is None:
            out[k] = "not-a-number"
        elif isinstance(v, list):
            out[k] = {"not": "a list"}
        else:
            out[k] = ["not", "an", "object"]
    return json.dumps(out).encode()


XML_TYPED = ("Size", "KeyCount", "MaxKeys", "IsTruncated", "LastModified",
             "CreationDate", "PartNumber", "ContentLength")


def retype_xml(body):
    """Every number, date and boolean of an XML answer replaced by text."""
    return re.sub(rb"<(%s)>[^<]*</\1>" % b"|".join(t.encode() for t in XML_TYPED),
                  rb"<\1>not-a-number</\1>", body)


def malformed(kind, status, headers, body, huge=HUGE_BYTES):
    """The RawAnswer of one BAD_KINDS kind made from a real answer."""
    if kind == "cut_body":
        return RawAnswer(status, headers, body[:len(body) // 2])
    if kind == "long_length":
        return RawAnswer(status, headers, body, content_length=len(body) + 1000)
    if kind == "short_length":
        return RawAnswer(status, headers, body, content_length=len(body) // 2)
    if kind == "huge_header":
        return RawAnswer(status, headers + [("x-amz-meta-huge", "h" * huge)], body)
    if kind == "huge_body":
        return RawAnswer(status, headers, body + b" " * max(0, huge - len(body)))
    if kind == "wrong_types":
        stripped = body.lstrip()
        if stripped.startswith(b"{"):
            return RawAnswer(status, headers, retype_json(body))
        return RawAnswer(status, headers, retype_xml(body))
    raise ValueError(kind)

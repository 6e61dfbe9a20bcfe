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

Every fault injected is counted per (service, op, kind).
"""

import collections
import random
import threading

from sigproxy import DROP, CannedResponse, Stall, Truncate, error_response, new_request_id

KINDS = ("slowdown", "error500", "reset", "truncate", "stall")

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
                 stall_seconds=3.0, limit=None):
        self.rate = rate
        self.kinds = tuple(kinds)
        self.random = random.Random(seed)
        self.ops = set(ops) if ops else None
        self.services = set(services) if services else None
        self.stall_seconds = stall_seconds
        self.limit = limit  # stop injecting after this many faults
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
        else:
            raise ValueError(kind)
        status, headers, body = error_response(service, code, message, status,
                                               new_request_id(service), (), query)
        return CannedResponse(status, headers, body)

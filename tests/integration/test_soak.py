"""A bounded soak: mixed work on all four services for a few minutes, with
faults injected at a moderate rate, while the daemon's memory (VmRSS) and
file descriptors (/proc/PID/fd) are sampled.

Asserts: every operation that returned success did what it said (data read
back is what was written, in the mount and in moto); errors that reach the
program are rare and only EIO/EAGAIN (faults past the retries); after a
warm-up, RSS (the floor of 10 samples) grows by less than max(10 MiB, 20 %); at rest, the descriptors
that are not sockets are exactly the baseline's, and the sockets (pooled
connections) no more than the baseline's plus the pool's working set.

In an ASan build the RSS bound is not asserted (ASan's allocator keeps
freed memory): LeakSanitizer runs at the daemon's exit instead.

AWSFS_SOAK_SECONDS sets the length (default 150).
"""

import errno
import hashlib
import json
import os
import random
import re
import time

from faults import Faults
from harness import error_lines

SECONDS = float(os.environ.get("AWSFS_SOAK_SECONDS", "150"))
WARMUP = min(30.0, SECONDS / 4)
MiB = 1 << 20


def _is_asan_build():
    from harness import awsfs_bin
    with open(awsfs_bin(), "rb") as f:
        return b"__asan_init" in f.read()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def fds(pid):
    """(non-socket fd targets sorted, number of sockets)."""
    other, sockets = [], 0
    d = "/proc/%d/fd" % pid
    for n in os.listdir(d):
        try:
            t = os.readlink(os.path.join(d, n))
        except FileNotFoundError:
            continue
        if t.startswith("socket:"):
            sockets += 1
        else:
            other.append(re.sub(r"\d+", "N", t) if t.startswith(("pipe:", "anon_inode:"))
                         else t)
    return sorted(other), sockets


class Soak:
    def __init__(self, m, boto, rnd):
        self.m, self.boto, self.rnd = m, boto, rnd
        self.ok = 0
        self.failed = []
        self.files = {}      # S3 name -> sha256 of what was written
        self.items = {}      # item key -> value
        self.params = {}     # parameter name -> value

    def p(self, *parts):
        return os.path.join(self.m.path, *parts)

    def attempt(self, what, fn):
        try:
            fn()
            self.ok += 1
        except OSError as e:
            assert e.errno in (errno.EIO, errno.EAGAIN), (what, e)
            self.failed.append((what, e.errno))

    # --- one round of each service ----------------------------------------
    def s3(self, i):
        b = self.p("s3", "bk-soak")
        name = "f%03d.bin" % (i % 40)
        size = self.rnd.choice([0, 100, 4096, 200 * 1024, 1 * MiB])
        if i % 25 == 0:
            size = 12 * MiB  # multipart
        data = self.rnd.randbytes(size)

        def write():
            with open(os.path.join(b, name), "wb") as f:
                f.write(data)
            self.files[name] = hashlib.sha256(data).hexdigest()
        self.attempt("s3 write", write)

        def read():
            if name in self.files:
                with open(os.path.join(b, name), "rb") as f:
                    assert hashlib.sha256(f.read()).hexdigest() == self.files[name], name
        self.attempt("s3 read", read)
        self.attempt("s3 ls", lambda: os.listdir(b))
        if i % 7 == 3 and name in self.files:
            def mv():
                os.rename(os.path.join(b, name), os.path.join(b, "moved-" + name))
                self.files["moved-" + name] = self.files.pop(name)
            self.attempt("s3 mv", mv)
        if i % 5 == 4:
            victims = [n for n in self.files if n.startswith("moved-")]
            if victims:
                def rm():
                    os.unlink(os.path.join(b, victims[0]))
                    del self.files[victims[0]]
                self.attempt("s3 rm", rm)

    def ddb(self, i):
        t = self.p("dynamodb", "soak")
        key = "k%02d" % (i % 30)
        value = {"n": i, "s": "v" * self.rnd.randrange(1, 2000), "l": [i, str(i)]}

        def write():
            with open(os.path.join(t, key + ".json"), "w") as f:
                json.dump(value, f)
            self.items[key] = value
        self.attempt("ddb write", write)

        def read():
            if key in self.items:
                with open(os.path.join(t, key + ".json")) as f:
                    got = json.load(f)
                assert {k: got[k] for k in ("n", "s", "l")} == self.items[key], key
        self.attempt("ddb read", read)
        self.attempt("ddb ls", lambda: os.listdir(t))
        if i % 6 == 5 and key in self.items:
            def rm():
                os.unlink(os.path.join(t, key + ".json"))
                del self.items[key]
            self.attempt("ddb rm", rm)

    def sqs(self, i):
        q = self.p("sqs", "soak")

        def send():
            with open(os.path.join(q, "send"), "wb") as f:
                f.write(b"message %d " % i + b"x" * self.rnd.randrange(0, 4000))
        self.attempt("sqs send", send)

        def consume():
            d = os.path.join(q, "messages")
            for n in os.listdir(d)[:5]:
                with open(os.path.join(d, n), "rb") as f:
                    assert f.read().startswith(b"message ")
                os.unlink(os.path.join(d, n))
        self.attempt("sqs receive", consume)
        if i % 10 == 0:
            self.attempt("sqs attributes", lambda: json.load(open(os.path.join(
                q, "attributes.json"))))

    def ssm(self, i):
        d = self.p("ssm", "soak")
        name = "p%02d" % (i % 20)
        value = "value-%d-%s" % (i, "z" * self.rnd.randrange(0, 3000))

        def write():
            with open(os.path.join(d, name), "w") as f:
                f.write(value)
            self.params[name] = value
        self.attempt("ssm write", write)

        def read():
            if name in self.params:
                with open(os.path.join(d, name)) as f:
                    assert f.read() == self.params[name], name
        self.attempt("ssm read", read)
        self.attempt("ssm ls", lambda: os.listdir(d))
        if i % 9 == 8 and name in self.params:
            def rm():
                os.unlink(os.path.join(d, name))
                del self.params[name]
            self.attempt("ssm rm", rm)

    def control(self, i):
        with open(self.p(".awsfs", "stats")) as f:
            json.load(f)
        if i % 10 == 0:
            with open(self.p(".awsfs", "invalidate"), "w") as f:
                f.write("/*\n")


def test_soak_memory_and_descriptors_stay_flat(mount, proxy, boto, aws_env):
    boto.s3.create_bucket(Bucket="bk-soak")
    boto.dynamodb.create_table(
        TableName="soak", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    boto.sqs.create_queue(QueueName="soak", Attributes={"VisibilityTimeout": "2"})
    boto.ssm.put_parameter(Name="/soak/seed", Value="seed", Type="String")
    # In an ASan build RSS says little (a quarantine of freed blocks, size
    # class regions never given back): there LeakSanitizer checks for leaks
    # instead, at the daemon's exit (the mount fixture fails on its report).
    asan = _is_asan_build()
    env = dict(aws_env, ASAN_OPTIONS=":".join(
        x for x in (aws_env.get("ASAN_OPTIONS"), "quarantine_size_mb=8",
                    "detect_leaks=1") if x))
    # A small memory cache fills during the warm-up: what grows after it is
    # not the cache doing its job.
    m = mount("-o", "retries=10,readwrite_timeout=5,cache_mem=8M", env=env, log_level=os.environ.get("AWSFS_SOAK_LOG", "info"))
    pid = m.proc.pid
    faults = Faults(rate=0.04, seed=5, kinds=["slowdown", "error500", "reset", "truncate"])
    proxy.fault_hook = faults
    soak = Soak(m, boto, random.Random(9))
    samples = []         # (seconds since start, rss KiB)
    t0 = time.monotonic()
    baseline_fds = None
    i = 0
    while True:
        now = time.monotonic() - t0
        if now >= SECONDS:
            break
        if baseline_fds is None and now >= WARMUP:
            time.sleep(1)  # at rest: every file closed, uploads done
            baseline_fds = fds(pid)
        for step in (soak.s3, soak.ddb, soak.sqs, soak.ssm, soak.control):
            step(i)
        samples.append((time.monotonic() - t0, rss_kib(pid)))
        i += 1
    proxy.fault_hook = None
    time.sleep(2)
    end_fds = fds(pid)
    assert m.alive()

    # The work was real and correct.
    assert i >= 20, "only %d rounds in %ss" % (i, SECONDS)
    assert faults.total() >= 20, faults.injected
    assert soak.ok >= 10 * i
    assert len(soak.failed) <= max(3, soak.ok // 100), soak.failed[:20]
    for name, digest in soak.files.items():
        body = boto.s3.get_object(Bucket="bk-soak", Key=name)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == digest, name
    for name, value in soak.params.items():
        assert boto.ssm.get_parameter(Name="/soak/" + name)["Parameter"]["Value"] == value
    assert not [ln for ln in error_lines(m.log()) if "upload failed" in ln]

    # Memory: flat after the warm-up. The floor of a window of samples is
    # compared (a leak raises it; a transient buffer or, in an ASan build,
    # the quarantine only makes peaks).
    after = [kib for t, kib in samples if t >= WARMUP]
    assert len(after) >= 20, samples
    start = min(after[:10])
    end = min(after[-10:])
    allowed = max(10 * 1024, start * 0.2)
    assert asan or end - start < allowed, (
        "RSS grew from %d KiB to %d KiB after the warm-up (allowed %d KiB); samples: %s"
        % (start, end, allowed, [kib for _, kib in samples][::max(1, len(samples) // 30)]))
    # Descriptors: back to the baseline at rest.
    assert end_fds[0] == baseline_fds[0], (baseline_fds[0], end_fds[0])
    assert end_fds[1] <= baseline_fds[1] + 16, (baseline_fds[1], end_fds[1])
    print("soak%s: %d rounds, %d ok, %d failed, %d faults, RSS %d -> %d KiB, fds %d+%d -> %d+%d"
          % (" (ASan: RSS not judged, LeakSanitizer at exit)" if asan else "",
             i, soak.ok, len(soak.failed), faults.total(), start, end,
             len(baseline_fds[0]), baseline_fds[1], len(end_fds[0]), end_fds[1]))

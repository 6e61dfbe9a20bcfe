"""The retry core through a real mount, with faults injected by the proxy.

What exists of every service today is the bucket list, so these drive
ListBuckets; the S3, DynamoDB and SSM suites add data-path fault tests.
Each test checks what a user sees (the listing, the errno, the log line)
and what the proxy counted (retries really happened, and stopped).
"""

import errno
import json
import os
import time

import pytest

from faults import Faults
from harness import error_lines

BUCKETS = ["bk-retry-1", "bk-retry-2", "bk-retry-3"]


@pytest.fixture
def buckets(boto):
    s3 = boto.client("s3")
    for b in BUCKETS:
        s3.create_bucket(Bucket=b)
    return BUCKETS


def stats(m):
    with open(os.path.join(m.path, ".awsfs", "stats")) as f:
        return json.load(f)


def test_mixed_faults_listing_is_complete(mount, proxy, buckets):
    """A quarter of the answers are faults of every kind: each listing
    still comes out whole, and the retries show in the proxy's counts and
    in stats."""
    m = mount("-o", "readwrite_timeout=1,retries=10")
    faults = Faults(rate=0.25, seed=7, stall_seconds=2)
    proxy.fault_hook = faults
    proxy.reset()
    for _ in range(12):
        assert sorted(os.listdir(os.path.join(m.path, "s3"))) == buckets
    proxy.fault_hook = None
    injected = faults.total()
    assert injected > 0
    # Every fault cost exactly one extra request, and nothing else did.
    assert proxy.count("s3", "ListBuckets") == 12 + injected
    st = stats(m)["s3"]["ListBuckets"]
    assert st["retries"] == injected
    assert st["throttles"] == faults.total("slowdown")
    assert st["errors"] == 0
    assert error_lines(m.log()) == []


def test_persistent_5xx_gives_eio_after_the_attempts(mount, proxy, buckets):
    m = mount("-o", "retries=3")
    proxy.fault_hook = Faults(rate=1.0, kinds=["error500"])
    proxy.reset()
    with pytest.raises(OSError) as e:
        os.listdir(os.path.join(m.path, "s3"))
    assert e.value.errno == errno.EIO
    assert proxy.count("s3", "ListBuckets") == 3
    lines = [ln for ln in error_lines(m.log()) if "ListBuckets" in ln]
    assert len(lines) == 1
    assert "InternalError" in lines[0] and "gave up" in lines[0]
    # The daemon is still there and recovers when the service does.
    proxy.fault_hook = None
    assert sorted(os.listdir(os.path.join(m.path, "s3"))) == buckets


def test_throttle_storm_gives_eagain_within_budget(mount, proxy, buckets):
    """Throttled past a short budget: EAGAIN, not EIO, and not much later
    than the budget (the retry sleeps respect it)."""
    m = mount("-o", "retries=50,retry_budget=3")
    proxy.fault_hook = Faults(rate=1.0, kinds=["slowdown"])
    proxy.reset()
    t0 = time.monotonic()
    with pytest.raises(OSError) as e:
        os.listdir(os.path.join(m.path, "s3"))
    took = time.monotonic() - t0
    assert e.value.errno == errno.EAGAIN
    assert took < 3 + 2
    n = proxy.count("s3", "ListBuckets")
    assert 2 <= n < 50
    assert stats(m)["s3"]["ListBuckets"]["throttles"] == n - 1
    lines = [ln for ln in error_lines(m.log()) if "ListBuckets" in ln]
    assert len(lines) == 1 and "SlowDown" in lines[0] and "time budget" in lines[0]


def test_retry_quota_stops_retries_against_a_sick_service(mount, proxy, buckets):
    """With the service failing every call, the 500-token quota (5 a retry)
    runs dry: after it, errors come back at once, without retries."""
    m = mount("-o", "retries=2")
    proxy.fault_hook = Faults(rate=1.0, kinds=["error500"])
    proxy.reset()
    for _ in range(100):  # each listing: 1 retry, 5 tokens
        with pytest.raises(OSError):
            os.listdir(os.path.join(m.path, "s3"))
    assert proxy.count("s3", "ListBuckets") == 200
    for _ in range(5):
        with pytest.raises(OSError) as e:
            os.listdir(os.path.join(m.path, "s3"))
        assert e.value.errno == errno.EIO
    assert proxy.count("s3", "ListBuckets") == 205
    assert "retry quota exhausted" in m.log()


def test_clock_skew_is_corrected(mount, proxy, buckets):
    """The proxy's clock is an hour ahead: the first answer is
    RequestTimeTooSkewed; awsfs takes the offset from Date and re-signs."""
    m = mount()
    proxy.now = lambda: time.time() + 3600
    proxy.reset()
    assert sorted(os.listdir(os.path.join(m.path, "s3"))) == buckets
    assert proxy.count("s3", "ListBuckets") == 2
    # Remembered: the next listing is signed right the first time.
    proxy.reset()
    assert sorted(os.listdir(os.path.join(m.path, "s3"))) == buckets
    assert proxy.count("s3", "ListBuckets") == 1
    assert "clock is 3600 s off" in m.log() or "clock is 3599 s off" in m.log()


def test_stall_longer_than_the_timeout_is_retried(mount, proxy, buckets):
    m = mount("-o", "readwrite_timeout=1")
    proxy.fault_hook = Faults(rate=1.0, kinds=["stall"], stall_seconds=3, limit=1)
    proxy.reset()
    t0 = time.monotonic()
    assert sorted(os.listdir(os.path.join(m.path, "s3"))) == buckets
    assert time.monotonic() - t0 < 3
    assert proxy.count("s3", "ListBuckets") == 2


def _tree(root, rnd, n_small=190, n_large=10):
    """200 files: most from 1 KiB to 256 KiB, ten from 1 MiB to 20 MiB (the
    largest go multipart); returns {relative path: sha256}."""
    import hashlib
    sums = {}
    sizes = [int(1024 * 2 ** rnd.uniform(0, 8)) for _ in range(n_small)]
    sizes += [int((1 << 20) * 2 ** rnd.uniform(0, 4.33)) for _ in range(n_large - 1)]
    sizes.append(20 << 20)
    for i, size in enumerate(sizes):
        rel = "d%d/f%03d.bin" % (i % 7, i)
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        data = rnd.randbytes(size)
        with open(p, "wb") as f:
            f.write(data)
        sums[rel] = hashlib.sha256(data).hexdigest()
    return sums


def _sums(root):
    import hashlib
    out = {}
    for d, _, files in os.walk(root):
        for name in files:
            p = os.path.join(d, name)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def test_s3_copy_in_and_out_through_faults(mount, proxy, boto, tmp_path):
    """A fifth of S3 requests fail (throttles, 500s, resets, bodies cut
    short): 200 files copied into the bucket through the mount and back out
    come out identical, in S3 too, and the proxy saw the retries."""
    import random
    import subprocess
    boto.client("s3").create_bucket(Bucket="bk-faults")
    src = tmp_path / "src"
    sums = _tree(str(src), random.Random(11))
    m = mount("-o", "retries=10")
    faults = Faults(rate=0.2, seed=3, kinds=["slowdown", "error500", "reset", "truncate"],
                    services=["s3"])
    proxy.fault_hook = faults
    dst = os.path.join(m.path, "s3", "bk-faults", "tree")
    subprocess.run(["cp", "-r", str(src), dst], check=True, timeout=900)
    back = tmp_path / "back"
    subprocess.run(["cp", "-r", dst, str(back)], check=True, timeout=900)
    proxy.fault_hook = None
    assert _sums(str(back)) == sums
    s3 = boto.client("s3")
    import hashlib
    for rel in ("d0/f000.bin", "d3/f199.bin"):
        body = s3.get_object(Bucket="bk-faults", Key="tree/" + rel)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == sums[rel]
    assert faults.total() > 50
    assert faults.total("truncate") > 0 and faults.total("reset") > 0
    # Not every fault costs a retry (a cut of an empty body is no fault, a
    # failed read-ahead is simply fetched again later), but retries and
    # throttles were counted.
    st = stats(m)["s3"]
    assert sum(op["retries"] for op in st.values()) > 50
    assert sum(op["throttles"] for op in st.values()) > 0
    assert [ln for ln in error_lines(m.log()) if "gave up" in ln] == []


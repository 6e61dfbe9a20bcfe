"""The retry core through a real mount, with faults injected by the proxy.

What exists of every service today is the bucket list, so these drive
ListBuckets; the S3, DynamoDB and SSM suites add data-path fault tests.
Each test checks what a user sees (the listing, the errno, the log line)
and what the proxy counted (retries really happened, and stopped).
"""

import errno
import os
import time

import pytest

from faults import Faults
from harness import error_lines, mount_stats

BUCKETS = ["bk-retry-1", "bk-retry-2", "bk-retry-3"]


@pytest.fixture
def buckets(boto):
    s3 = boto.client("s3")
    for b in BUCKETS:
        s3.create_bucket(Bucket=b)
    return BUCKETS


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
    st = mount_stats(m)["s3"]["ListBuckets"]
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
    assert mount_stats(m)["s3"]["ListBuckets"]["throttles"] == n - 1
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
    st = mount_stats(m)["s3"]
    assert sum(op["retries"] for op in st.values()) > 50
    assert sum(op["throttles"] for op in st.values()) > 0
    assert [ln for ln in error_lines(m.log()) if "gave up" in ln] == []



# ---------------------------------------------------------------------------
# Every request failing: the caller hears within the budget, nothing is lost
# ---------------------------------------------------------------------------

MiB = 1 << 20
BUDGET = 3
# One budget for the call that fails, plus slack for the kernel, the
# sanitizer build and a loaded machine; far less than a budget per page.
WITHIN = BUDGET + 3

OUTAGES = [("error500", errno.EIO), ("slowdown", errno.EAGAIN)]


def _run_timed(argv):
    import subprocess
    t0 = time.monotonic()
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
    return r, time.monotonic() - t0


@pytest.mark.parametrize("kind,err", OUTAGES, ids=[k for k, _ in OUTAGES])
def test_outage_cat_and_cp_fail_within_the_budget(mount, proxy, boto, tmp_path, kind, err):
    """S3 fails every request: cat and cp of a 3 MiB object stop with the
    errno of the failure (EIO for 5xx, EAGAIN for throttles) within about
    one retry budget, not one budget per page the kernel retries; the
    daemon stays up and serves the object once S3 is back."""
    s3 = boto.client("s3")
    s3.create_bucket(Bucket="bk-down")
    data = os.urandom(3 * MiB)
    s3.put_object(Bucket="bk-down", Key="obj", Body=data)
    m = mount("-o", "services=s3,retries=50,retry_budget=%d" % BUDGET)
    p = os.path.join(m.path, "s3", "bk-down", "obj")
    assert os.stat(p).st_size == len(data)
    proxy.fault_hook = Faults(rate=1.0, kinds=[kind], services=["s3"])
    proxy.reset()
    for argv in (["cat", p], ["cp", p, str(tmp_path / "copy")]):
        r, took = _run_timed(argv)
        assert r.returncode != 0, argv
        assert os.strerror(err) in r.stderr.decode(), (argv, r.stderr)
        assert took < WITHIN, (argv, took)
    assert proxy.count("s3") > 2  # the calls were retried before giving up
    # One line each, saying why: the kernel's page-by-page retries of the
    # failed read neither waited nor logged again.
    lines = error_lines(m.log())
    assert len(lines) == 2, lines
    code = "SlowDown" if kind == "slowdown" else "InternalError"
    assert all("GetObject" in ln and code in ln and "gave up" in ln for ln in lines), lines
    # S3 is back: the daemon answers and the bytes are right.
    proxy.fault_hook = None
    with open(p, "rb") as f:
        assert f.read() == data
    assert m.mounted()


@pytest.mark.parametrize("kind,err", OUTAGES, ids=[k for k, _ in OUTAGES])
@pytest.mark.parametrize("size", [1 * MiB, 24 * MiB], ids=["put", "multipart"])
def test_outage_while_writing_keeps_the_staged_data(mount, proxy, boto, tmp_path, kind, err,
                                                    size):
    """S3 goes down while a file is being written: close() reports the
    errno within about a budget, the staged bytes are kept (0600) where the
    log line says, nothing half-written appears in the bucket, and the
    mount still works afterwards."""
    s3 = boto.client("s3")
    s3.create_bucket(Bucket="bk-down")
    staging = tmp_path / "staging"
    m = mount("-o", "services=s3,retries=50,retry_budget=%d,staging_dir=%s"
              % (BUDGET, staging))
    p = os.path.join(m.path, "s3", "bk-down", "new.bin")
    data = os.urandom(size)
    f = open(p, "wb")
    proxy.fault_hook = Faults(rate=1.0, kinds=[kind], services=["s3"])
    t0 = time.monotonic()
    with pytest.raises(OSError) as e:
        f.write(data)
        f.close()
    took = time.monotonic() - t0
    assert e.value.errno == err
    # A multipart upload may give up on a part while the writer is still
    # writing and again at close: still about one budget in all.
    assert took < WITHIN + BUDGET
    proxy.fault_hook = None
    kept = list(staging.iterdir())
    assert len(kept) == 1
    assert kept[0].read_bytes() == data
    assert oct(kept[0].stat().st_mode & 0o777) == "0o600"
    assert str(kept[0]) in m.log()
    assert s3.list_objects_v2(Bucket="bk-down").get("KeyCount", 0) == 0
    assert s3.list_multipart_uploads(Bucket="bk-down").get("Uploads", []) == []
    with open(os.path.join(m.path, "s3", "bk-down", "after.txt"), "wb") as g:
        g.write(b"back")
    assert s3.get_object(Bucket="bk-down", Key="after.txt")["Body"].read() == b"back"


def test_multipart_retries_only_the_failed_part(mount, proxy, boto):
    """A part that fails once is sent again by itself: the upload is not
    restarted and every other part goes once."""
    import hashlib
    s3 = boto.client("s3")
    s3.create_bucket(Bucket="bk-parts")
    m = mount("-o", "services=s3,multipart_threshold=5M,multipart_size=5M")
    failed = []

    def fault(info):
        # The third part, once, with a 500.
        if info.op == "UploadPart" and "partNumber=3" in info.target and not failed:
            failed.append(1)
            return Faults(rate=1.0, kinds=["error500"], services=["s3"]).answer(info,
                                                                                 "error500")
        return None
    proxy.fault_hook = fault
    proxy.reset()
    data = os.urandom(22 * MiB)  # 5 parts: 4 of 5 MiB and one of 2 MiB
    with open(os.path.join(m.path, "s3", "bk-parts", "big"), "wb") as f:
        f.write(data)
    proxy.fault_hook = None
    assert failed == [1]
    assert proxy.count("s3", "CreateMultipartUpload") == 1
    assert proxy.count("s3", "UploadPart") == 5 + 1
    assert proxy.count("s3", "CompleteMultipartUpload") == 1
    assert proxy.count("s3", "PutObject") == 0
    body = s3.get_object(Bucket="bk-parts", Key="big")["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
    assert mount_stats(m)["s3"]["UploadPart"]["retries"] == 1

"""The CloudFront-like cache through a real mount (issue 8's done-when list).

moto behind the counting proxy: what a user notices is how many requests a
repeated `ls -l` or `cat` costs, whether a change made behind the mount's
back shows (after the TTL, or at once after .awsfs/invalidate), whether
what the mount itself writes shows at once whatever the TTL, and whether
memory and disk stay within cache_mem and cache_size.
"""

import json
import os
import stat
import subprocess
import time

import pytest

from harness import mount_stats
from sigproxy import CannedResponse

BUCKET = "cachebk"
KiB = 1 << 10
MiB = 1 << 20


def s3ops(proxy):
    return {op: n for (svc, op), n in proxy.counts().items() if svc == "s3"}


def ls_l(path):
    r = subprocess.run(["ls", "-l", path], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def cat(path):
    with open(path, "rb") as f:
        return f.read()


def stats(m):
    return mount_stats(m)["cache"]


def invalidate(m, *patterns):
    with open(m.join(".awsfs", "invalidate"), "w") as f:
        f.write("".join(p + "\n" for p in patterns))


@pytest.fixture
def bucket(boto):
    boto.s3.create_bucket(Bucket=BUCKET)
    return boto


def mount_s3(mount, opts):
    m = mount("-o", "services=s3," + opts)
    return m, m.join("s3", BUCKET)


# ---------------------------------------------------------------------------
# S3
# ---------------------------------------------------------------------------

def test_second_ls_l_within_the_ttl_makes_no_request(mount, proxy, bucket):
    for i in range(40):
        bucket.s3.put_object(Bucket=BUCKET, Key="logs/f%02d.txt" % i, Body=b"x" * i)
    bucket.s3.put_object(Bucket=BUCKET, Key="logs/sub/deep.txt", Body=b"d")
    m, b = mount_s3(mount, "s3_ttl=60")
    first = ls_l(os.path.join(b, "logs"))
    assert "f39.txt" in first and "sub" in first
    time.sleep(1.5)  # past the kernel's own attribute cache: the lookups reach awsfs
    before = stats(m)["s3"]
    proxy.reset()
    assert ls_l(os.path.join(b, "logs")) == first
    assert proxy.requests == [], proxy.requests
    after = stats(m)["s3"]
    assert after["hits"] > before["hits"]
    # a name the complete listing lacks is absent without a request either
    assert not os.path.exists(os.path.join(b, "logs", "nothere.txt"))
    assert proxy.requests == [], proxy.requests


def test_unchanged_object_after_the_ttl_costs_one_304_and_no_get(mount, proxy, bucket):
    data = os.urandom(200 * KiB)
    bucket.s3.put_object(Bucket=BUCKET, Key="same.bin", Body=data)
    m, b = mount_s3(mount, "s3_ttl=2")
    p = os.path.join(b, "same.bin")
    assert cat(p) == data
    proxy.reset()
    assert cat(p) == data  # within the TTL: nothing asked
    assert proxy.requests == [], proxy.requests
    time.sleep(2.5)
    before = stats(m)["s3"]["revalidations"]
    proxy.reset()
    assert cat(p) == data
    recs = [r for r in proxy.requests if r.service == "s3"]
    # one conditional request answered 304 (no body: Not Modified), no GET of data
    assert [(r.op, r.status) for r in recs] in ([("HeadObject", 304)],
                                                [("GetObject", 304)]), recs
    assert stats(m)["s3"]["revalidations"] > before


def test_changed_object_reads_new_bytes_after_the_ttl(mount, proxy, bucket):
    bucket.s3.put_object(Bucket=BUCKET, Key="doc.txt", Body=b"version one\n")
    m, b = mount_s3(mount, "s3_ttl=2")
    p = os.path.join(b, "doc.txt")
    assert cat(p) == b"version one\n"
    bucket.s3.put_object(Bucket=BUCKET, Key="doc.txt", Body=b"version two, longer\n")
    assert cat(p) == b"version one\n"  # the cache still believes it
    time.sleep(2.5)
    assert cat(p) == b"version two, longer\n"
    assert os.stat(p).st_size == len(b"version two, longer\n")


def test_invalidate_shows_a_change_at_once(mount, proxy, bucket):
    bucket.s3.put_object(Bucket=BUCKET, Key="logs/a.txt", Body=b"old a\n")
    bucket.s3.put_object(Bucket=BUCKET, Key="top.txt", Body=b"old top\n")
    m, b = mount_s3(mount, "s3_ttl=3600")
    a, top = os.path.join(b, "logs", "a.txt"), os.path.join(b, "top.txt")
    assert cat(a) == b"old a\n" and cat(top) == b"old top\n"
    assert os.listdir(os.path.join(b, "logs")) == ["a.txt"]
    bucket.s3.put_object(Bucket=BUCKET, Key="logs/a.txt", Body=b"new a, longer\n")
    bucket.s3.put_object(Bucket=BUCKET, Key="logs/b.txt", Body=b"b\n")
    bucket.s3.put_object(Bucket=BUCKET, Key="top.txt", Body=b"new top\n")
    time.sleep(1.2)
    assert cat(a) == b"old a\n"
    assert os.listdir(os.path.join(b, "logs")) == ["a.txt"]
    # one path
    invalidate(m, "/s3/%s/top.txt" % BUCKET)
    assert cat(top) == b"new top\n"
    assert cat(a) == b"old a\n"  # only what was named
    # a folder's subtree, CloudFront's trailing '*'
    invalidate(m, "/s3/%s/logs/*" % BUCKET)
    assert cat(a) == b"new a, longer\n"
    assert sorted(os.listdir(os.path.join(b, "logs"))) == ["a.txt", "b.txt"]
    # a '*' elsewhere is refused
    with pytest.raises(OSError):
        invalidate(m, "/s3/*/x")


def test_what_the_mount_writes_shows_at_once_with_a_one_day_ttl(mount, proxy, bucket):
    bucket.s3.put_object(Bucket=BUCKET, Key="d/old.txt", Body=b"old\n")
    m, b = mount_s3(mount, "default_ttl=86400,max_ttl=86400")
    d = os.path.join(b, "d")
    assert os.listdir(d) == ["old.txt"]
    assert not os.path.exists(os.path.join(d, "new.txt"))  # cached as absent
    assert cat(os.path.join(d, "old.txt")) == b"old\n"
    # create
    with open(os.path.join(d, "new.txt"), "wb") as f:
        f.write(b"written here\n")
    assert cat(os.path.join(d, "new.txt")) == b"written here\n"
    assert sorted(os.listdir(d)) == ["new.txt", "old.txt"]
    # overwrite
    with open(os.path.join(d, "old.txt"), "wb") as f:
        f.write(b"replaced, longer\n")
    assert cat(os.path.join(d, "old.txt")) == b"replaced, longer\n"
    assert os.stat(os.path.join(d, "old.txt")).st_size == len(b"replaced, longer\n")
    # rename
    os.rename(os.path.join(d, "new.txt"), os.path.join(d, "moved.txt"))
    assert sorted(os.listdir(d)) == ["moved.txt", "old.txt"]
    assert not os.path.exists(os.path.join(d, "new.txt"))
    assert cat(os.path.join(d, "moved.txt")) == b"written here\n"
    # delete
    os.unlink(os.path.join(d, "old.txt"))
    assert os.listdir(d) == ["moved.txt"]
    assert not os.path.exists(os.path.join(d, "old.txt"))
    # mkdir, rmdir, a rename of a folder
    os.mkdir(os.path.join(d, "sub"))
    assert stat.S_ISDIR(os.stat(os.path.join(d, "sub")).st_mode)
    assert os.listdir(os.path.join(d, "sub")) == []
    with open(os.path.join(d, "sub", "in.txt"), "wb") as f:
        f.write(b"in\n")
    os.rename(os.path.join(d, "sub"), os.path.join(d, "sub2"))
    assert sorted(os.listdir(d)) == ["moved.txt", "sub2"]
    assert cat(os.path.join(d, "sub2", "in.txt")) == b"in\n"
    os.unlink(os.path.join(d, "sub2", "in.txt"))
    os.rmdir(os.path.join(d, "sub2"))
    assert os.listdir(d) == ["moved.txt"]
    # setxattr
    os.setxattr(os.path.join(d, "moved.txt"), "user.colour", b"blue")
    assert os.getxattr(os.path.join(d, "moved.txt"), "user.colour") == b"blue"
    # and S3 has all of it
    keys = sorted(o["Key"] for o in bucket.s3.list_objects_v2(Bucket=BUCKET)["Contents"])
    assert keys == ["d/moved.txt"]


def _vm(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _sanitized(pid):
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


N_KEYS = 50000


def _listing_hook(n):
    """The proxy answers ListObjectsV2 of big/ itself: n keys in pages of
    1,000 (moto would take minutes to hold them); the rest goes to moto."""
    from urllib.parse import parse_qs, urlsplit

    def hook(info):
        if info.op != "ListObjectsV2":
            return None
        q = parse_qs(urlsplit(info.target).query)
        if q.get("prefix", [""])[0] != "big/" or q.get("delimiter", [""])[0] != "/":
            return None
        limit = int(q.get("max-keys", ["1000"])[0])
        start = int(q.get("continuation-token", ["0"])[0])
        end = min(start + limit, n)
        items = "".join(
            "<Contents><Key>big/key-%08d-%s</Key><LastModified>2024-01-02T03:04:05.000Z"
            "</LastModified><ETag>&quot;e%d&quot;</ETag><Size>%d</Size>"
            "<StorageClass>STANDARD</StorageClass></Contents>" % (i, "p" * 24, i, i % 977)
            for i in range(start, end))
        more = end < n
        body = ('<?xml version="1.0" encoding="UTF-8"?><ListBucketResult '
                'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>%s</Name>'
                '<Prefix>big/</Prefix><KeyCount>%d</KeyCount><MaxKeys>%d</MaxKeys>'
                '<Delimiter>/</Delimiter><IsTruncated>%s</IsTruncated>%s%s'
                '</ListBucketResult>' % (BUCKET, end - start, limit,
                                         "true" if more else "false", items,
                                         "<NextContinuationToken>%d</NextContinuationToken>"
                                         % end if more else ""))
        return CannedResponse(200, [("Content-Type", "application/xml")], body.encode())
    return hook


def pages(proxy):
    """Pages of big/'s listing asked, as (page 1 asked?, tokened pages asked).
    A lookup's folder probe is page 1 and the readdir that follows goes on
    from it; a slow daemon (ASan) may see the kernel look big up again
    mid-listing after its attributes left the 2M cache, and that probe's
    page 1 is kept for the next readdir. So page 1 shows once at most, and
    a listing asked again shows as every tokened page asked again."""
    from urllib.parse import parse_qs, urlsplit

    first = tokened = 0
    for r in proxy.requests:
        if r.op != "ListObjectsV2" or "delimiter=" not in r.path:
            continue
        q = parse_qs(urlsplit(r.path).query)
        if q.get("prefix") != ["big/"]:
            continue  # another folder: a probe of big/key-.../ after a HEAD 404
        if q.get("continuation-token"):
            tokened += 1
        else:
            first = 1
    return first, tokened


def _listing_growth(mount, proxy, aws_env, cache_mem):
    """VmHWM growth of a daemon listing big/ (ls -l's lookups included) twice."""
    m = mount("-o", "services=s3,s3_ttl=600,cache_mem=%s" % cache_mem, log_level="warn",
              env=dict(aws_env, MALLOC_ARENA_MAX="1"))
    pid = m.proc.pid
    proxy.fault_hook = _listing_hook(N_KEYS)
    d = m.join("s3", BUCKET, "big")
    # counted from the lookup of big/ on: its folder probe is the listing's
    # first page, which the scandir below goes on from
    proxy.reset()
    bucket_dir_ok = os.path.isdir(d)
    with os.scandir(m.join("s3", BUCKET)) as it:  # warm up threads and connections
        list(it)
    base = _vm(pid, "VmHWM")
    n = 0
    with os.scandir(d) as it:
        for e in it:
            n += 1
            if n % 97 == 0:
                e.stat()  # ls -l's lookups
            if n % 10000 == 0 and os.environ.get("AWSFS_DEBUG_MEM"):
                print(n, (_vm(pid, "VmRSS") - base) >> 10, (_vm(pid, "VmHWM") - base) >> 10)
    assert n == N_KEYS
    first_lists = pages(proxy)
    proxy.reset()
    with os.scandir(d) as it:
        assert sum(1 for _ in it) == N_KEYS
    again = pages(proxy)
    growth = _vm(pid, "VmHWM") - base
    proxy.fault_hook = None
    return bucket_dir_ok, first_lists, again, growth, _sanitized(pid)


def test_cache_mem_bounds_a_listing_of_50000_keys(mount, proxy, bucket, aws_env):
    bucket.s3.put_object(Bucket=BUCKET, Key="big/key-00000000-" + "p" * 24, Body=b"")
    ok, first, again, small, san = _listing_growth(mount, proxy, aws_env, "2M")
    assert ok and first == (1, N_KEYS // 1000 - 1)
    # too long to keep whole in 2M: listed again, in the same bounded memory
    # (its page 1 may be one a lookup's probe fetched during the first listing)
    assert again[1] == N_KEYS // 1000 - 1, again
    ok, first, again_big, large, _ = _listing_growth(mount, proxy, aws_env, "256M")
    # room for it: the second listing comes from the cache
    assert again_big == (0, 0)
    if not san:
        # 2M of cache plus what any listing needs (threads, pages in flight)
        assert small < 16 * MiB, small
        # what the larger cache_mem holds shows in the memory: the cap is what bounds it
        assert large > small + 16 * MiB, (small, large)


def test_disk_cache_stays_under_cache_size(mount, proxy, bucket, tmp_path):
    cdir = tmp_path / "cache"
    blobs = {}
    for i in range(12):
        blobs["obj%02d.bin" % i] = os.urandom(256 * KiB)
        bucket.s3.put_object(Bucket=BUCKET, Key="obj%02d.bin" % i, Body=blobs["obj%02d.bin" % i])
    m, b = mount_s3(mount, "s3_ttl=600,cache_dir=%s,cache_size=1M" % cdir)
    peak = 0
    for name, data in blobs.items():  # 3 MiB through a 1 MiB disk cache
        assert cat(os.path.join(b, name)) == data
        files = [cdir / f for f in os.listdir(cdir)]
        peak = max(peak, sum(f.stat().st_size for f in files))
        for f in files:
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert stat.S_IMODE(cdir.stat().st_mode) == 0o700
    assert 512 * KiB <= peak <= 1 * MiB, peak
    du = subprocess.run(["du", "-sb", str(cdir)], capture_output=True, text=True)
    assert int(du.stdout.split()[0]) <= 1 * MiB + 4096, du.stdout
    # the latest object comes from the disk: no GET
    proxy.reset()
    assert cat(os.path.join(b, "obj11.bin")) == blobs["obj11.bin"]
    assert "GetObject" not in s3ops(proxy), proxy.requests
    assert stats(m)["bytes_disk"] <= 1 * MiB


# ---------------------------------------------------------------------------
# DynamoDB
# ---------------------------------------------------------------------------

@pytest.fixture
def table(boto):
    boto.dynamodb.create_table(TableName="users",
                               KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                               AttributeDefinitions=[{"AttributeName": "id",
                                                      "AttributeType": "S"}],
                               BillingMode="PAY_PER_REQUEST")
    for i in range(30):
        boto.dynamodb.put_item(TableName="users",
                               Item={"id": {"S": "u%02d" % i}, "v": {"N": str(i)}})
    return boto


def test_dynamodb_second_ls_within_the_ttl_makes_no_request(mount, proxy, table):
    m = mount("-o", "services=dynamodb,ddb_ttl=60")
    d = m.join("dynamodb", "users")
    first = ls_l(d)
    assert "u29.json" in first
    assert "users" in ls_l(m.join("dynamodb"))
    time.sleep(1.5)
    proxy.reset()
    assert ls_l(d) == first
    assert "users" in ls_l(m.join("dynamodb"))
    assert proxy.requests == [], proxy.requests
    s = stats(m)["dynamodb"]
    assert s["hits"] > 0 and s["misses"] > 0


def test_dynamodb_change_shows_after_the_ttl_and_after_invalidate(mount, proxy, table):
    m = mount("-o", "services=dynamodb,ddb_ttl=2")
    p = m.join("dynamodb", "users", "u01.json")
    assert json.loads(cat(p)) == {"id": "u01", "v": 1}
    table.dynamodb.put_item(TableName="users", Item={"id": {"S": "u01"}, "v": {"N": "100"}})
    assert json.loads(cat(p)) == {"id": "u01", "v": 1}  # still cached
    time.sleep(2.5)
    assert json.loads(cat(p)) == {"id": "u01", "v": 100}
    # a listing too: a new item shows after the TTL
    assert "new.json" not in os.listdir(m.join("dynamodb", "users"))
    table.dynamodb.put_item(TableName="users", Item={"id": {"S": "new"}})
    time.sleep(2.5)
    assert "new.json" in os.listdir(m.join("dynamodb", "users"))


def test_dynamodb_invalidate_shows_a_change_at_once(mount, proxy, table):
    m = mount("-o", "services=dynamodb,ddb_ttl=3600")
    d = m.join("dynamodb", "users")
    p = os.path.join(d, "u02.json")
    assert json.loads(cat(p)) == {"id": "u02", "v": 2}
    assert "new.json" not in os.listdir(d)
    table.dynamodb.put_item(TableName="users", Item={"id": {"S": "u02"}, "v": {"N": "200"}})
    table.dynamodb.put_item(TableName="users", Item={"id": {"S": "new"}})
    time.sleep(1.2)
    assert json.loads(cat(p)) == {"id": "u02", "v": 2}
    assert "new.json" not in os.listdir(d)
    invalidate(m, "/dynamodb/users/u02.json")
    assert json.loads(cat(p)) == {"id": "u02", "v": 200}
    # (a path's invalidation takes its folder's listing along)
    assert "new.json" in os.listdir(d)
    table.dynamodb.put_item(TableName="users", Item={"id": {"S": "new2"}})
    time.sleep(1.2)
    assert "new2.json" not in os.listdir(d)
    invalidate(m, "/dynamodb/*")
    assert "new2.json" in os.listdir(d)
    # and the mount's own writes show at once whatever the TTL
    with open(os.path.join(d, "mine.json"), "w") as f:
        f.write('{"v": 7}')
    assert "mine.json" in os.listdir(d)
    assert json.loads(cat(os.path.join(d, "mine.json"))) == {"id": "mine", "v": 7}
    os.unlink(os.path.join(d, "mine.json"))
    assert "mine.json" not in os.listdir(d)


# ---------------------------------------------------------------------------
# SSM
# ---------------------------------------------------------------------------

def test_ssm_kept_values_are_hits_and_stay_within_cache_mem(mount, proxy, boto):
    """String values fetched ten at a time are kept within cache_mem: 300
    values of 4 KiB (1.2 MiB) under a 1 MiB cap read back byte for byte,
    the cache never holds more than the cap, and a second read within
    ssm_ttl is served from what is still kept (cache hits), the rest
    fetched again ten a request."""
    vals = {}
    for i in range(300):
        name = "/big/p%03d" % i
        vals[name] = ("%03d" % i) * 1365 + "x"  # 4096 bytes
        boto.ssm.put_parameter(Name=name, Value=vals[name], Type="String")
    m = mount("-o", "services=ssm,ssm_ttl=60,cache_mem=1M")
    d = m.join("ssm", "big")
    os.listdir(d)
    proxy.reset()
    for name, v in vals.items():
        assert cat(m.join("ssm", name[1:])) == v.encode(), name
        assert stats(m)["bytes_mem"] <= MiB
    first = proxy.count("ssm", "GetParameters")
    assert first == 30 and proxy.counts() == {("ssm", "GetParameters"): 30}, proxy.counts()
    hits = stats(m)["ssm"]["hits"]
    proxy.reset()
    for name in reversed(list(vals)):  # the most recent first: still kept
        assert cat(m.join("ssm", name[1:])) == vals[name].encode(), name
    assert stats(m)["bytes_mem"] <= MiB
    assert stats(m)["ssm"]["hits"] > hits
    # About 240 of the 300 fit in 1 MiB (4 KiB and an entry's overhead
    # each); the 60 or so evicted come back ten a request even read
    # backwards (a batch takes the nearest before when none after is due).
    assert 0 < proxy.count("ssm", "GetParameters") <= 10, proxy.counts()

"""S3 through a real mount: listings, attributes, reads, writes, rename,
metadata, xattrs, buckets, odd keys, the single-bucket form.

Each test drives the mount with real programs (ls, cat, cp, dd, mv, rm,
find, rsync, getfattr, setfattr) and checks the result through the mount
and with boto3 straight against moto, and request counts through the
SigV4-checking proxy.

Run: AWSFS_BIN=build/awsfs /usr/bin/python3 -m pytest tests/integration/test_s3.py
"""

import hashlib
import os
import shutil
import stat
import subprocess
import time

import pytest

from harness import error_lines, wait_for  # noqa: F401

BUCKET = "bk-s3"
MiB = 1 << 20


def run(*cmd, check=True, timeout=120, **kw):
    r = subprocess.run(list(cmd), capture_output=True, timeout=timeout,
                       env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                            "LC_ALL": "C.UTF-8"}, **kw)
    if check:
        assert r.returncode == 0, (cmd, r.stdout[-2000:], r.stderr[-2000:])
    return r


def sha(data):
    return hashlib.sha256(data).hexdigest()


def file_sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MiB), b""):
            h.update(chunk)
    return h.hexdigest()


def obj(boto, key, bucket=BUCKET):
    return boto.s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def keys(boto, bucket=BUCKET, prefix=""):
    out = []
    for page in boto.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                   Prefix=prefix):
        out += [o["Key"] for o in page.get("Contents", [])]
    return out


def ops(proxy):
    """{op: count} of the S3 requests since the last reset."""
    return {op: n for (svc, op), n in proxy.counts().items() if svc == "s3"}


@pytest.fixture
def s3(mount, proxy, boto):
    """A bucket BUCKET and a whole-tree mount; returns (mount, bucket path)."""
    boto.s3.create_bucket(Bucket=BUCKET)
    m = mount("-o", "services=s3")
    return m, m.join("s3", BUCKET)


def put_many(boto, prefix, n, body=b"x"):
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda i: boto.s3.put_object(Bucket=BUCKET, Key="%s%05d" % (prefix, i),
                                                 Body=body), range(n)))


# ---------------------------------------------------------------------------
# listings and attributes
# ---------------------------------------------------------------------------

def test_ls_shows_files_prefixes_markers_and_implicit_folders(s3, boto):
    m, b = s3
    boto.s3.put_object(Bucket=BUCKET, Key="top.txt", Body=b"hello")
    boto.s3.put_object(Bucket=BUCKET, Key="marked/", Body=b"",
                       ContentType="application/x-directory")
    boto.s3.put_object(Bucket=BUCKET, Key="implicit/deep/file", Body=b"12345678")
    boto.s3.put_object(Bucket=BUCKET, Key="marked/inner", Body=b"i")
    assert sorted(os.listdir(b)) == ["implicit", "marked", "top.txt"]
    assert stat.S_ISDIR(os.stat(os.path.join(b, "implicit")).st_mode)
    assert stat.S_ISDIR(os.stat(os.path.join(b, "marked")).st_mode)
    assert os.listdir(os.path.join(b, "marked")) == ["inner"]
    assert os.listdir(os.path.join(b, "implicit")) == ["deep"]
    st = os.stat(os.path.join(b, "implicit", "deep", "file"))
    assert stat.S_ISREG(st.st_mode) and st.st_size == 8
    r = run("find", b, "-type", "f")
    assert sorted(r.stdout.decode().split()) == sorted(
        os.path.join(b, p) for p in ("top.txt", "marked/inner", "implicit/deep/file"))


def test_ls_l_of_2500_keys_costs_3_listings_and_nothing_else(s3, boto, proxy):
    m, b = s3
    put_many(boto, "many/k", 2500, body=b"abc")
    head = boto.s3.head_object(Bucket=BUCKET, Key="many/k00007")
    proxy.reset()
    r = run("ls", "-l", "--time-style=+%s", os.path.join(b, "many"))
    lines = [ln for ln in r.stdout.decode().splitlines() if ln.startswith("-")]
    assert len(lines) == 2500
    got = ops(proxy)
    # the lookup of "many" itself: one HEAD (404) and one ListObjectsV2
    assert got.get("GetObject", 0) == 0, got
    assert got.get("ListObjectsV2", 0) == 3 + 1, got
    assert got.get("HeadObject", 0) <= 1, got
    # size and mtime come from the listing
    line = [ln for ln in lines if ln.endswith(" k00007")][0]
    fields = line.split()
    assert fields[4] == "3"
    assert int(fields[5]) == int(head["LastModified"].timestamp())


def test_ls_l_of_a_listed_folder_costs_exactly_ceil_n_over_1000(s3, boto, proxy):
    m, b = s3
    put_many(boto, "f/k", 2500)
    os.listdir(b)  # "f" is known from the bucket's listing
    proxy.reset()
    run("ls", "-l", os.path.join(b, "f"))
    assert ops(proxy) == {"ListObjectsV2": 3}, proxy.requests
    # and a stat right after the listing is free
    proxy.reset()
    os.stat(os.path.join(b, "f", "k01234"))
    assert ops(proxy) == {}


def test_first_page_reaches_the_kernel_before_the_last_is_fetched(s3, boto, proxy):
    m, b = s3
    put_many(boto, "p/k", 2100)
    os.listdir(b)
    proxy.reset()
    with os.scandir(os.path.join(b, "p")) as it:
        first = next(it)
        assert first.name.startswith("k")
        assert ops(proxy) == {"ListObjectsV2": 1}
        rest = list(it)
    assert len(rest) + 1 == 2100
    assert ops(proxy) == {"ListObjectsV2": 3}


def test_stat_of_unlisted_paths(s3, boto, proxy):
    m, b = s3
    boto.s3.put_object(Bucket=BUCKET, Key="a/b/c.txt", Body=b"data")
    proxy.reset()
    st = os.stat(os.path.join(b, "a", "b", "c.txt"))
    assert st.st_size == 4 and stat.S_ISREG(st.st_mode)
    # a file: one HEAD (after the folders' lookups)
    assert stat.S_ISDIR(os.stat(os.path.join(b, "a")).st_mode)
    with pytest.raises(FileNotFoundError):
        os.stat(os.path.join(b, "nope"))
    with pytest.raises(NotADirectoryError):
        os.listdir(os.path.join(b, "a", "b", "c.txt"))


def test_folder_shadowing_a_file_shows_the_folder(s3, boto):
    m, b = s3
    boto.s3.put_object(Bucket=BUCKET, Key="both", Body=b"file")
    boto.s3.put_object(Bucket=BUCKET, Key="both/inner", Body=b"x")
    names = os.listdir(b)
    assert names == ["both"]
    assert stat.S_ISDIR(os.stat(os.path.join(b, "both")).st_mode)
    assert os.listdir(os.path.join(b, "both")) == ["inner"]


def test_df_works(s3):
    m, b = s3
    r = run("df", b)
    assert "awsfs" in r.stdout.decode()
    sv = os.statvfs(b)
    assert sv.f_namemax == 255 and sv.f_bavail > 0

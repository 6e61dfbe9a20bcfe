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


# ---------------------------------------------------------------------------
# reads
# ---------------------------------------------------------------------------

def test_cat_head_tail_dd_read_ranges(s3, boto, proxy):
    m, b = s3
    data = os.urandom(3 * MiB + 123)
    boto.s3.put_object(Bucket=BUCKET, Key="blob.bin", Body=data)
    p = os.path.join(b, "blob.bin")
    assert file_sha(p) == sha(data)
    assert run("head", "-c", "10", p).stdout == data[:10]
    assert run("tail", "-c", "7", p).stdout == data[-7:]
    r = run("dd", "if=" + p, "bs=1000", "skip=2000", "count=3", "status=none")
    assert r.stdout == data[2000000:2003000]
    dst = os.path.join(m.path, "..", "copy.bin")
    shutil.copyfile(p, dst)
    with open(dst, "rb") as f:
        assert f.read() == data
    os.unlink(dst)


def test_one_byte_read_of_a_large_object_is_one_small_range(s3, boto, proxy):
    m, b = s3
    boto.s3.put_object(Bucket=BUCKET, Key="big.bin", Body=os.urandom(24 * MiB))
    p = os.path.join(b, "big.bin")
    os.stat(p)
    proxy.reset()
    with open(p, "rb") as f:
        f.seek(20 * MiB)
        assert len(f.read(1)) == 1
    got = ops(proxy)
    assert got == {"GetObject": 1}, got
    # the answer carried a small range, not the object
    assert proxy.requests[0].status == 206


def test_sequential_read_reads_ahead_in_parallel_parts(s3, boto, proxy):
    m, b = s3
    data = os.urandom(20 * MiB)
    boto.s3.put_object(Bucket=BUCKET, Key="seq.bin", Body=data)
    p = os.path.join(b, "seq.bin")
    os.stat(p)
    proxy.reset()
    assert file_sha(p) == sha(data)
    n = ops(proxy).get("GetObject", 0)
    # parts of 1 MiB, not one request per kernel read (128 KiB)
    assert 15 <= n <= 40, n


def test_read_of_a_missing_object_is_enoent(s3, boto):
    m, b = s3
    boto.s3.put_object(Bucket=BUCKET, Key="gone.txt", Body=b"x")
    p = os.path.join(b, "gone.txt")
    os.stat(p)
    boto.s3.delete_object(Bucket=BUCKET, Key="gone.txt")
    time.sleep(6)  # past the snapshot and the kernel's attribute timeout
    with pytest.raises(FileNotFoundError):
        open(p, "rb").read()


# ---------------------------------------------------------------------------
# writes
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("size", [1, 5 * MiB - 1, 5 * MiB + 1, 64 * MiB])
def test_write_then_read_checksums(s3, boto, proxy, size, tmp_path):
    m, b = s3
    src = tmp_path / "src.bin"
    data = os.urandom(size)
    src.write_bytes(data)
    dst = os.path.join(b, "w%d.bin" % size)
    proxy.reset()
    run("cp", str(src), dst)
    got = ops(proxy)
    assert got.get("HeadObject", 0) <= 1, got  # the kernel's lookup before create
    if size >= 16 * MiB:
        assert got.get("CreateMultipartUpload") == 1, got
        assert got.get("UploadPart") == -(-size // (8 * MiB)), got
        assert got.get("CompleteMultipartUpload") == 1, got
    else:
        assert got.get("PutObject") == 1, got
    assert sha(obj(boto, "w%d.bin" % size)) == sha(data)
    assert file_sha(dst) == sha(data)
    assert os.stat(dst).st_size == size


def test_create_overwrite_append_truncate(s3, boto):
    m, b = s3
    p = os.path.join(b, "f.txt")
    with open(p, "w") as f:
        f.write("one\n")
    assert obj(boto, "f.txt") == b"one\n"
    with open(p, "w") as f:
        f.write("two\n")
    assert obj(boto, "f.txt") == b"two\n"
    run("sh", "-c", "echo three >> '%s'" % p)
    assert obj(boto, "f.txt") == b"two\nthree\n"
    with open(p, "rb") as f:
        assert f.read() == b"two\nthree\n"
    os.truncate(p, 3)
    assert obj(boto, "f.txt") == b"two"
    run("truncate", "-s", "10", p)
    assert obj(boto, "f.txt") == b"two" + b"\0" * 7
    with open(p, "r+b") as f:
        f.seek(5)
        f.write(b"XY")
    assert obj(boto, "f.txt") == b"two\0\0XY\0\0\0"
    assert os.stat(p).st_size == 10
    run("touch", os.path.join(b, "empty"))
    assert obj(boto, "empty") == b""


def test_random_writes_into_a_large_file(s3, boto, tmp_path):
    m, b = s3
    data = bytearray(os.urandom(20 * MiB))
    p = os.path.join(b, "rand.bin")
    with open(p, "wb") as f:
        f.write(data)
    with open(p, "r+b") as f:
        for off in (0, 9 * MiB - 3, 17 * MiB, 20 * MiB - 1):
            f.seek(off)
            f.write(b"ZZZZ")
            data[off:off + 4] = b"ZZZZ"
    assert sha(obj(boto, "rand.bin")) == sha(bytes(data))
    assert file_sha(p) == sha(bytes(data))


def test_cp_r_and_rsync_in(s3, boto, tmp_path):
    m, b = s3
    src = tmp_path / "tree"
    (src / "sub" / "deeper").mkdir(parents=True)
    files = {"a.txt": b"A" * 10, "sub/b.bin": os.urandom(70000),
             "sub/deeper/c": b"", "sub/deeper/d d": b"spaces"}
    for k, v in files.items():
        (src / k).write_bytes(v)
    run("cp", "-r", str(src), os.path.join(b, "cp"))
    for k, v in files.items():
        assert obj(boto, "cp/" + k) == v
        with open(os.path.join(b, "cp", k), "rb") as f:
            assert f.read() == v
    run("rsync", "-a", str(src) + "/", os.path.join(b, "rs") + "/")
    for k, v in files.items():
        assert obj(boto, "rs/" + k) == v
    r = run("rsync", "-a", "-i", str(src) + "/", os.path.join(b, "rs") + "/")
    assert r.stdout.strip() == b"", r.stdout  # nothing left to send
    assert not [k for k in keys(boto, prefix="rs/") if "/." in k]  # no temp files left


def test_no_head_before_or_after_create_in_a_new_folder(s3, boto, proxy):
    m, b = s3
    os.mkdir(os.path.join(b, "fresh"))
    proxy.reset()
    for i in range(5):
        with open(os.path.join(b, "fresh", "n%d" % i), "wb") as f:
            f.write(b"x")
    got = ops(proxy)
    assert got == {"PutObject": 5}, got


def test_failed_upload_is_eio_and_keeps_the_data(mount, proxy, boto, tmp_path):
    boto.s3.create_bucket(Bucket=BUCKET)
    staging = tmp_path / "staging"
    m = mount("-o", "services=s3,staging_dir=%s,retries=1" % staging)
    b = m.join("s3", BUCKET)
    from sigproxy import CannedResponse

    def fault(info):
        if info.op in ("PutObject", "UploadPart"):
            return CannedResponse(500, [("Content-Type", "application/xml")],
                                  b"<Error><Code>InternalError</Code></Error>")
        return None
    proxy.fault_hook = fault
    p = os.path.join(b, "lost.txt")
    f = open(p, "wb")
    f.write(b"precious")
    with pytest.raises(OSError) as e:
        f.close()
    assert e.value.errno == 5  # EIO
    proxy.fault_hook = None
    kept = [x for x in staging.iterdir()]
    assert len(kept) == 1 and kept[0].read_bytes() == b"precious"
    assert oct(staging.stat().st_mode & 0o777) == "0o700"
    assert oct(kept[0].stat().st_mode & 0o777) == "0o600"
    assert str(kept[0]) in m.log()
    assert "upload failed" in m.log()


def test_failed_multipart_upload_is_aborted(mount, proxy, boto, tmp_path):
    boto.s3.create_bucket(Bucket=BUCKET)
    staging = tmp_path / "staging"
    m = mount("-o", "services=s3,staging_dir=%s,retries=1" % staging)
    b = m.join("s3", BUCKET)
    from sigproxy import CannedResponse
    seen = []

    def fault(info):
        if info.op == "UploadPart":
            seen.append(1)
            if len(seen) == 2:
                return CannedResponse(500, [("Content-Type", "application/xml")],
                                      b"<Error><Code>InternalError</Code></Error>")
        return None
    proxy.fault_hook = fault
    data = os.urandom(40 * MiB)
    f = open(os.path.join(b, "big"), "wb")
    f.write(data)
    with pytest.raises(OSError):
        f.close()
    proxy.fault_hook = None
    assert proxy.count("s3", "AbortMultipartUpload") == 1
    assert boto.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    kept = list(staging.iterdir())
    assert len(kept) == 1 and file_sha(kept[0]) == sha(data)

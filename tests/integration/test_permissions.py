"""Who may enter a mount, and what modes awsfs shows mean.

Another user is `nobody`, run with setpriv. The mountpoints live in a folder
every user can traverse (pytest's own tmp folder is 0700, which would keep
nobody out whatever awsfs does, and prove nothing).

- Without allow_other, only the mounting user enters (the kernel's FUSE
  rule; awsfs must not turn it off).
- With allow_other and default_permissions, the kernel checks the modes
  awsfs shows: a SecureString (0600, the mount's uid) is unreadable to
  nobody, a String (0644) readable but not writable; an S3 object stored
  with mode 0666 (x-amz-meta-mode) writable, one without metadata (0644 by
  the umask) not; and a refused access never reaches AWS.
- The disk cache folder is 0700 (made so, even when it existed 0755) and
  the files in it and in the staging folder 0600.
"""

import os
import shutil
import stat
import subprocess
import tempfile

import pytest

from harness import fusermount_u, is_mounted

NOBODY = 65534


def as_nobody(script, *args):
    return subprocess.run(["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY,
                           "--clear-groups", "--", "bash", "-c", script, "sh", *args],
                          capture_output=True, timeout=60, cwd="/")


@pytest.fixture
def open_dir():
    """A folder any user can traverse, for mountpoints."""
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is needed to act as another user")
    if os.geteuid() != 0:
        pytest.fail("these tests switch to uid %d: run them as root" % NOBODY)
    d = tempfile.mkdtemp(prefix="awsfs-perm-")
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        # Never recurse into a mount (this may run before the mount's own
        # teardown): unmount, then remove the empty mountpoints only.
        for name in os.listdir(d):
            p = os.path.join(d, name)
            if is_mounted(p):
                fusermount_u(p)
            os.rmdir(p)
        os.rmdir(d)


@pytest.fixture
def data(boto):
    boto.ssm.put_parameter(Name="/perm/secure", Value="top-secret", Type="SecureString")
    boto.ssm.put_parameter(Name="/perm/plain", Value="public", Type="String")
    boto.s3.create_bucket(Bucket="bk-perm")
    boto.s3.put_object(Bucket="bk-perm", Key="shared.txt", Body=b"shared",
                       Metadata={"mode": str(stat.S_IFREG | 0o666)})
    boto.s3.put_object(Bucket="bk-perm", Key="mine.txt", Body=b"mine")


def mountpoint(open_dir, name):
    p = os.path.join(open_dir, name)
    os.mkdir(p)
    os.chmod(p, 0o755)
    return p


def test_without_allow_other_nobody_cannot_enter(mount, open_dir, data):
    m = mount("-o", "services=s3,ssm", mountpoint=mountpoint(open_dir, "private"))
    assert "ssm" in os.listdir(m.path)  # the owner enters
    for script in ('ls "$1"', 'stat "$1/ssm"', 'cat "$1/ssm/perm/plain"',
                   'cat "$1/s3/bk-perm/shared.txt"', 'echo x > "$1/s3/bk-perm/shared.txt"'):
        r = as_nobody(script, m.path)
        assert r.returncode != 0, (script, r.stdout)
        assert b"Permission denied" in r.stderr, (script, r.stderr)
    # The control case: nobody does reach the folder the mount is in.
    r = as_nobody('ls "$1"', open_dir)
    assert r.returncode == 0 and b"private" in r.stdout, r.stderr


def test_allow_other_with_default_permissions_honours_the_modes(mount, proxy, boto,
                                                                 open_dir, data):
    m = mount("-o", "services=s3,ssm,allow_other,default_permissions",
              mountpoint=mountpoint(open_dir, "shared"))
    ssm = os.path.join(m.path, "ssm", "perm")
    b = os.path.join(m.path, "s3", "bk-perm")
    st = os.stat(os.path.join(ssm, "secure"))
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.getuid()
    assert stat.S_IMODE(os.stat(os.path.join(ssm, "plain")).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(os.path.join(b, "shared.txt")).st_mode) == 0o666
    assert stat.S_IMODE(os.stat(os.path.join(b, "mine.txt")).st_mode) == 0o644
    proxy.reset()

    # nobody enters and lists. (Not the bucket: a listing carries no
    # x-amz-meta-mode, so the modes it gives are the mount's defaults until
    # the next lookup; see awsfs(1), S3.)
    r = as_nobody('ls "$1"; stat -c %n "$2/shared.txt"', ssm, b)
    assert r.returncode == 0, r.stderr
    assert b"secure" in r.stdout and b"shared.txt" in r.stdout
    # 0600 SecureString: no read, and AWS is not even asked
    r = as_nobody('cat "$1/secure"', ssm)
    assert r.returncode != 0 and b"Permission denied" in r.stderr, r
    assert b"top-secret" not in r.stdout
    assert proxy.count("ssm", "GetParameter") == 0
    # 0644: read yes, write no
    r = as_nobody('cat "$1/plain"', ssm)
    assert r.returncode == 0 and r.stdout == b"public", r
    r = as_nobody('echo changed > "$1/plain"', ssm)
    assert r.returncode != 0 and b"Permission denied" in r.stderr, r
    r = as_nobody('echo changed > "$1/mine.txt"', b)
    assert r.returncode != 0 and b"Permission denied" in r.stderr, r
    r = as_nobody('echo new > "$1/new.txt"', b)  # the bucket folder is 0755, root's
    assert r.returncode != 0 and b"Permission denied" in r.stderr, r
    assert proxy.count("ssm", "PutParameter") == 0 and proxy.count("s3", "PutObject") == 0
    # 0666: nobody writes it, and it reaches S3
    r = as_nobody('echo "by nobody" > "$1/shared.txt"', b)
    assert r.returncode == 0, r.stderr
    assert boto.s3.get_object(Bucket="bk-perm", Key="shared.txt")["Body"].read() == \
        b"by nobody\n"
    # Nothing else changed.
    assert boto.ssm.get_parameter(Name="/perm/plain")["Parameter"]["Value"] == "public"
    assert boto.s3.get_object(Bucket="bk-perm", Key="mine.txt")["Body"].read() == b"mine"
    keys = [o["Key"] for o in boto.s3.list_objects_v2(Bucket="bk-perm")["Contents"]]
    assert sorted(keys) == ["mine.txt", "shared.txt"]


def test_allow_other_alone_still_keeps_a_securestring_private(mount, proxy, open_dir, data):
    """allow_other without default_permissions: awsfs adds it, since with
    nothing checking the modes any user could read a 0600 SecureString."""
    m = mount("-o", "services=ssm,allow_other", mountpoint=mountpoint(open_dir, "other"))
    ssm = os.path.join(m.path, "ssm", "perm")
    proxy.reset()
    r = as_nobody('cat "$1/secure"', ssm)
    assert r.returncode != 0 and b"Permission denied" in r.stderr, r
    assert b"top-secret" not in r.stdout
    assert proxy.count("ssm", "GetParameter") == 0
    r = as_nobody('cat "$1/plain"', ssm)
    assert r.returncode == 0 and r.stdout == b"public", r
    with open(os.path.join(ssm, "secure")) as f:  # the owner still reads it
        assert f.read() == "top-secret"
    with open("/proc/mounts") as f:
        (line,) = [ln for ln in f if ln.split()[1] == m.path]
    assert "default_permissions" in line.split()[3].split(",")


def test_cache_and_staging_files_are_private(mount, boto, tmp_path, data):
    cache = tmp_path / "cache"
    cache.mkdir()
    os.chmod(cache, 0o755)  # made too open by someone: awsfs closes it
    staging = tmp_path / "staging"
    m = mount("-o", "services=s3,ssm,cache_dir=%s,staging_dir=%s" % (cache, staging))
    b = os.path.join(m.path, "s3", "bk-perm")
    with open(os.path.join(b, "mine.txt"), "rb") as f:
        assert f.read() == b"mine"
    with open(os.path.join(m.path, "ssm", "perm", "secure"), "rb") as f:
        assert f.read() == b"top-secret"
    # A file open for writing has its staging file.
    f = open(os.path.join(b, "staged.txt"), "wb")
    try:
        f.write(b"staged data")
        f.flush()
        staged = [p for p in staging.iterdir()]
        assert staged, "no staging file while a write is open"
        for p in staged:
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    finally:
        f.close()
    for d in (cache, staging):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
        assert d.stat().st_uid == os.getuid()
        for root, dirs, files in os.walk(d):
            for name in dirs:
                assert stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode) == 0o700
            for name in files:
                try:
                    mode = os.stat(os.path.join(root, name)).st_mode
                except FileNotFoundError:
                    # The staging file goes when the kernel's RELEASE of the
                    # closed file arrives, which may be during this walk.
                    continue
                assert stat.S_IMODE(mode) == 0o600, name
    r = as_nobody('ls "$1"', str(cache))
    assert r.returncode != 0

"""What the foundation of awsfs must do: mount, the root, S3 bucket listing
through a checked signature, errors per call, secrets kept out of the log,
help, version, refusals, and a clean unmount.

Run: AWSFS_BIN=build/awsfs /usr/bin/python3 -m pytest tests/integration
"""

import os
import re
import signal
import stat
import subprocess

import pytest

from harness import (REGION, TEST_KEY, TEST_SECRET, awsfs_version, clean_env,
                     error_lines, free_port, fuse_mounts, fusermount_u, is_mounted,
                     run_awsfs, wait_for)

ROOT = {"s3", "dynamodb", "sqs", "ssm", ".awsfs"}
OPTIONS = ["endpoint", "region", "profile", "passwd_file", "use_path_request_style",
           "ca_file", "no_check_certificate", "services", "log_level",
           "connect_timeout", "readwrite_timeout", "uid", "gid", "umask"]


def ls(path, env=None):
    return subprocess.run(["ls", path], capture_output=True, text=True, timeout=30,
                          env=env or {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                      "LC_ALL": "C"})


# ---------------------------------------------------------------------------
# the tree
# ---------------------------------------------------------------------------

def test_root_shows_every_service_and_control_folder(mount):
    m = mount()
    assert set(os.listdir(m.path)) == ROOT
    assert stat.S_ISDIR(os.stat(m.join(".awsfs")).st_mode)
    for name in ("s3", "dynamodb", "sqs", "ssm"):
        assert stat.S_ISDIR(os.stat(m.join(name)).st_mode), name
    with open(m.join(".awsfs", "version")) as f:
        version = f.read()
    assert version.startswith("awsfs "), version
    assert version.endswith("\n")
    assert awsfs_version() in version


def test_s3_lists_buckets_with_one_request(mount, proxy, boto):
    names = ["bk1", "bk2", "bk3"]  # "b1" is no valid bucket name (3 to 63 chars)
    for b in names:
        boto.s3.create_bucket(Bucket=b)
    m = mount()
    proxy.reset()  # not the mount's own start-up calls
    r = ls(m.join("s3"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == names
    assert proxy.counts() == {("s3", "ListBuckets"): 1}, proxy.requests
    assert [rec.status for rec in proxy.requests] == [200]
    for n in names:
        assert stat.S_ISDIR(os.stat(m.join("s3", n)).st_mode), n


def test_services_option_limits_the_tree(mount):
    m = mount("-o", "services=s3,ssm")
    assert set(os.listdir(m.path)) == {"s3", "ssm", ".awsfs"}


def test_wrong_secret_mounts_and_fails_per_call(mount, proxy, boto, aws_env):
    boto.s3.create_bucket(Bucket="bkt-1")
    env = dict(aws_env, AWS_SECRET_ACCESS_KEY=TEST_SECRET[:-4] + "XXXX")
    m = mount(env=env)
    proxy.reset()
    log_before = len(error_lines(m.log()))
    with pytest.raises(PermissionError):
        os.listdir(m.join("s3"))
    rejected = proxy.rejected()
    assert rejected and all(d.error_code == "SignatureDoesNotMatch" for d in rejected)
    assert proxy.count("s3", "ListBuckets") >= 1
    assert proxy.count() == proxy.count("s3", "ListBuckets"), proxy.requests
    assert wait_for(lambda: len(error_lines(m.log())) > log_before, 5)
    errors = [ln for ln in error_lines(m.log())[log_before:]
              if "SignatureDoesNotMatch" in ln]
    assert len(errors) == 1, m.log()
    line = errors[0]
    assert "ListBuckets" in line, line
    assert any(d.request_id in line for d in rejected), (line, rejected)
    # the daemon lives on
    assert m.alive()
    assert set(os.listdir(m.path)) == ROOT
    assert TEST_SECRET[:-4] not in m.log()


def _assert_no_secrets(m, proxy, secret, token):
    log = m.log()
    assert log.strip(), "empty debug log"
    assert secret not in log
    assert token not in log
    assert not re.search(r"Signature=[0-9a-fA-F]{8}", log), \
        [ln for ln in log.splitlines() if "Signature=" in ln][:3]
    for d in proxy.details:
        assert d is not None
        assert d.signature and d.signature not in log
        assert "x-amz-security-token" in d.signed_headers
        assert d.security_token == token
    for name in ("config", "stats"):
        p = m.join(".awsfs", name)
        if os.path.exists(p):
            with open(p) as f:
                text = f.read()
            assert secret not in text and token not in text, name


@pytest.mark.parametrize("flag", ["-f", "-d"])
def test_no_secret_in_debug_output(mount, proxy, boto, aws_env, random_token, flag):
    boto.s3.create_bucket(Bucket="bkt-1")
    env = dict(aws_env, AWS_SESSION_TOKEN=random_token)
    m = mount(env=env, flag=flag)
    assert ls(m.join("s3")).stdout.split() == ["bkt-1"]
    os.stat(m.join("s3", "bkt-1"))
    assert proxy.count("s3", "ListBuckets") >= 1
    assert not proxy.rejected(), proxy.rejected()
    _assert_no_secrets(m, proxy, TEST_SECRET, random_token)
    assert fusermount_u(m.path)
    m.proc.wait(15)
    _assert_no_secrets(m, proxy, TEST_SECRET, random_token)  # the unmount summary too


# ---------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------

def test_help_lists_every_option(aws_env):
    r = run_awsfs(["--help"], aws_env)
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    missing = [o for o in OPTIONS if not re.search(r"\b%s\b" % o, out)]
    assert not missing, out


def test_version(aws_env):
    r = run_awsfs(["--version"], aws_env)
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    assert re.search(r"\bawsfs\b", out) and awsfs_version() in out, out


def _refusal(args, env, mountpoint):
    """Run awsfs expecting a refusal; returns its one-line message."""
    before = set(fuse_mounts())
    try:
        r = run_awsfs(args, env, timeout=10)
    finally:
        if mountpoint and os.path.isdir(mountpoint) and is_mounted(mountpoint):
            fusermount_u(mountpoint)
            pytest.fail("awsfs mounted %s although it should have refused" % mountpoint)
    assert r.returncode != 0, (args, r.stdout, r.stderr)
    assert set(fuse_mounts()) == before
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    # one line naming the problem; a "Try 'awsfs --help'." hint may follow
    hints = [ln for ln in lines[1:] if re.match(r"^Try .*--help", ln)]
    assert lines and len(lines) - len(hints) == 1, \
        "expected a one-line message, got:\n%s" % r.stderr
    return lines[0]


@pytest.mark.parametrize("case", ["unknown-option", "no-mountpoint", "missing-mountpoint",
                                  "nonempty-mountpoint", "unknown-service", "bad-number"])
def test_bad_options_are_refused(case, proxy, aws_env, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    base = ["-f", "-o", "endpoint=%s" % proxy.url]
    if case == "unknown-option":
        msg = _refusal(base + ["-o", "bogus=1", str(mnt)], aws_env, mnt)
        assert "bogus" in msg
    elif case == "no-mountpoint":
        msg = _refusal(base, aws_env, None)
        assert re.search(r"mount ?point", msg, re.I), msg
    elif case == "missing-mountpoint":
        gone = tmp_path / "does-not-exist"
        msg = _refusal(base + [str(gone)], aws_env, None)
        assert str(gone) in msg or "does-not-exist" in msg, msg
    elif case == "nonempty-mountpoint":
        (mnt / "file").write_text("x")
        msg = _refusal(base + [str(mnt)], aws_env, mnt)
        assert re.search(r"empty", msg, re.I), msg
    elif case == "unknown-service":
        msg = _refusal(base + ["-o", "services=s3,bogusvc", str(mnt)], aws_env, mnt)
        assert "bogusvc" in msg and re.search(r"servic", msg, re.I), msg
    elif case == "bad-number":
        msg = _refusal(base + ["-o", "connect_timeout=abc", str(mnt)], aws_env, mnt)
        assert "connect_timeout" in msg, msg
    assert proxy.count() == 0, proxy.requests


def test_no_credentials_refuses_to_mount(proxy, tmp_path):
    home = tmp_path / "emptyhome"
    home.mkdir()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    # IMDS off; and should it be asked anyway, only a closed loopback port
    env = clean_env(home, AWS_REGION=REGION, AWS_EC2_METADATA_DISABLED="true",
                    AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:%d" % free_port())
    before = set(fuse_mounts())
    r = run_awsfs(["-f", "-o", "endpoint=%s" % proxy.url, str(mnt)], env, timeout=15)
    if is_mounted(mnt):
        fusermount_u(mnt)
        pytest.fail("awsfs mounted without credentials")
    assert r.returncode != 0, r.stderr
    assert set(fuse_mounts()) == before
    msg = r.stderr
    assert re.search(r"\bno\b.*credentials|credentials.*not found", msg, re.I), msg
    assert proxy.count() == 0


# ---------------------------------------------------------------------------
# unmounting
# ---------------------------------------------------------------------------

def test_sigterm_unmounts(mount):
    m = mount()
    os.kill(m.proc.pid, signal.SIGTERM)
    m.proc.wait(10)
    assert m.proc.returncode == 0, m.log()
    assert not is_mounted(m.path), m.log()


def test_fusermount_u_ends_the_daemon(mount):
    m = mount()
    os.listdir(m.path)
    r = subprocess.run(["fusermount3", "-u", m.path], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 0, r.stderr
    m.proc.wait(10)
    assert m.proc.returncode == 0, m.log()
    assert not is_mounted(m.path)


def test_aws_env_is_clean(aws_env):
    """The fixture itself: no profile, the test key, an empty HOME."""
    assert "AWS_PROFILE" not in aws_env
    assert aws_env["AWS_ACCESS_KEY_ID"] == TEST_KEY
    assert aws_env["AWS_REGION"] == REGION
    assert aws_env["AWS_EC2_METADATA_DISABLED"] == "true"
    assert os.listdir(aws_env["HOME"]) == []

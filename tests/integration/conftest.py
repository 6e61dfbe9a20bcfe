"""Fixtures of the awsfs integration tests (helpers live in harness.py).

moto         (session) the emulator's URL: `python3 -m moto.server` on a free
             loopback port, run by the python that has moto (pyenv's), without
             its own auth check; emptied (POST /moto-api/reset) before each
             test that uses it.
proxy        a fresh SigProxy (sigproxy.py) in front of moto per test: checks
             every SigV4 signature against TEST_KEYS and counts requests.
aws_env      a clean environment dict for awsfs: empty HOME, the test key,
             AWS_REGION=us-east-1, IMDS disabled, no profile; CA and sanitizer
             variables kept.
boto         boto3 clients .s3 .dynamodb .sqs .ssm straight to moto.
mount        factory: mount(*extra_args, env=None, expect_fail=False,
             flag="-f", mountpoint=None, endpoint=None, log_level="debug",
             timeout=None) -> harness.Mount.

AWSFS_TEST_LOGDIR: when set, every daemon log is copied there at teardown
(CI scans them for sanitizer reports).
"""

import os
import re
import secrets
import shutil
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (REGION, TEST_KEY, TEST_KEYS, TEST_SECRET,  # noqa: E402
                     Mount, awsfs_bin, clean_env, fusermount_u, is_mounted,
                     moto_python, note_pid, sanitizer_report, start_moto)
from sigproxy import SigProxy  # noqa: E402


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    """The harness.Moto object (url, reset(), log())."""
    python = moto_python()
    if python is None:
        pytest.fail("no python3 with moto found: set AWSFS_MOTO_PYTHON to a python "
                    "that has moto[server] (pyenv's python3 on these machines)")
    logdir = str(tmp_path_factory.mktemp("moto"))
    m, err = None, None
    for _attempt in range(3):  # the port may be taken between pick and bind
        try:
            m = start_moto(python, logdir)
            break
        except RuntimeError as e:
            err = e
    if m is None:
        pytest.fail(str(err))
    try:
        yield m
    finally:
        m.stop()


@pytest.fixture(scope="session")
def moto(moto_server):
    """The emulator's base URL (http://127.0.0.1:PORT)."""
    return moto_server.url


@pytest.fixture(autouse=True)
def _moto_reset(request):
    """Every test that uses moto starts from an empty emulator."""
    if "moto_server" in request.fixturenames:
        request.getfixturevalue("moto_server").reset()
    yield


@pytest.fixture
def proxy(moto):
    """A fresh SigProxy in front of moto with TEST_KEYS; counts start empty."""
    p = SigProxy(moto, TEST_KEYS, verbose=bool(os.environ.get("AWSFS_PROXY_VERBOSE")))
    p.start()
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture
def aws_env(tmp_path):
    """A clean environment for awsfs (a dict for subprocess's env=)."""
    home = tmp_path / "home"
    home.mkdir()
    return clean_env(home, AWS_ACCESS_KEY_ID=TEST_KEY, AWS_SECRET_ACCESS_KEY=TEST_SECRET,
                     AWS_REGION=REGION, AWS_EC2_METADATA_DISABLED="true",
                     # should IMDS be asked anyway: a closed loopback port, never
                     # the link-local address
                     AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:9")


class Boto:
    """boto3 clients straight to moto (not through the proxy)."""

    def __init__(self, url):
        import boto3
        from botocore.config import Config
        self.url = url
        self.session = boto3.session.Session(aws_access_key_id="direct",
                                             aws_secret_access_key="direct",
                                             region_name=REGION)
        self.config = Config(s3={"addressing_style": "path"},
                             retries={"max_attempts": 2})
        self.s3 = self.client("s3")
        self.dynamodb = self.client("dynamodb")
        self.sqs = self.client("sqs")
        self.ssm = self.client("ssm")

    def client(self, name):
        return self.session.client(name, endpoint_url=self.url, config=self.config)


@pytest.fixture
def boto(moto):
    return Boto(moto)


def _copy_log(path, name):
    d = os.environ.get("AWSFS_TEST_LOGDIR")
    if d and os.path.exists(path):
        os.makedirs(d, exist_ok=True)
        shutil.copy(path, os.path.join(d, name))


def _finish(m, test_name):
    """Unmount, reap, check one Mount.  Returns a list of problems."""
    problems = []
    if m.mounted() and not fusermount_u(m.path):
        problems.append("could not unmount %s" % m.path)
    try:
        m.proc.wait(15)
    except subprocess.TimeoutExpired:
        m.proc.kill()
        m.proc.wait(10)
        problems.append("awsfs did not exit within 15 s of the unmount (killed)")
    if m.mounted():
        fusermount_u(m.path)
    log = m.log()
    _copy_log(m.log_path, "%s-%s" % (re.sub(r"[^\w.-]", "_", test_name),
                                     os.path.basename(m.log_path)))
    mark = sanitizer_report(log)
    if mark:
        problems.append("sanitizer report (%s) in the log" % mark)
    if not (m.expect_fail or m.start_failed) and m.proc.returncode != 0:
        problems.append("awsfs exited with %s after unmount (expected 0)"
                        % m.proc.returncode)
    if problems:
        problems.insert(0, "awsfs %s:" % " ".join(m.cmd))
        problems.append("log:\n" + log[-6000:])
    return problems


@pytest.fixture
def mount(proxy, aws_env, tmp_path, request):
    """Factory: mount(*extra_args, env=None, expect_fail=False, flag="-f",
    mountpoint=None, endpoint=None, log_level="debug", timeout=None).

    Runs `awsfs FLAG -o endpoint=<proxy>,log_level=LEVEL EXTRA... MNT` in the
    background, stdout and stderr to a log file, and waits until /proc/mounts
    shows the mount (fuse.awsfs or fuse).  Returns a harness.Mount (.path,
    .proc, .log()).  With expect_fail it waits for the process to exit
    instead and fails the test if it mounted.  Teardown, always: unmount
    (fusermount3 -u, then -uz), wait for the exit (kill after 15 s), and
    fail unless the exit code is 0 and the log has no sanitizer report."""
    started = []

    def _mount(*extra, env=None, expect_fail=False, flag="-f", mountpoint=None,
               endpoint=None, log_level="debug", timeout=None):
        n = len(started) + 1
        if mountpoint is None:
            mnt = str(tmp_path / ("mnt%d" % n))
            os.mkdir(mnt)
        else:
            mnt = str(mountpoint)
        log_path = str(tmp_path / ("awsfs%d.log" % n))
        opts = ["endpoint=%s" % (endpoint or proxy.url)]
        if log_level:
            opts.append("log_level=%s" % log_level)
        cmd = [awsfs_bin()] + ([flag] if flag else []) + ["-o", ",".join(opts)]
        cmd += [*extra, mnt]
        with open(log_path, "wb") as logf:
            proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL,
                                    env=aws_env if env is None else env)
        note_pid(proc.pid)
        m = Mount(mnt, proc, log_path, cmd, expect_fail=expect_fail)
        started.append(m)
        wait = timeout or harness.mount_timeout()
        deadline = time.time() + wait
        if expect_fail:
            while time.time() < deadline and proc.poll() is None and not is_mounted(mnt):
                time.sleep(0.05)
            if is_mounted(mnt):
                pytest.fail("awsfs mounted although it should have refused:\n" + m.log())
            if proc.poll() is None:
                pytest.fail("awsfs did not exit within %ss:\n%s" % (wait, m.log()))
            return m
        while time.time() < deadline:
            if is_mounted(mnt):
                return m
            if proc.poll() is not None:
                m.start_failed = True
                pytest.fail("awsfs exited with %s before mounting (%s):\n%s"
                            % (proc.returncode, " ".join(cmd), m.log()))
            time.sleep(0.05)
        m.start_failed = True
        harness.stop_process(proc)
        pytest.fail("awsfs did not mount within %ss (%s):\n%s"
                    % (wait, " ".join(cmd), m.log()))

    try:
        yield _mount
    finally:
        problems = []
        for m in started:
            try:
                problems += _finish(m, request.node.name)
            except Exception as e:  # go on with the other mounts
                problems.append("teardown of %s: %r" % (m.path, e))
                if m.proc.poll() is None:
                    m.proc.kill()
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def random_token():
    """A session token nobody else knows (to look for in logs)."""
    return "FwoGZXIvYXdzEXAMPLE" + secrets.token_urlsafe(48)

"""Helpers of the awsfs integration tests, shared by conftest.py and the
test files (import them from here, not from conftest).

Environment read here: AWSFS_BIN (the binary; default <repo>/awsfs),
AWSFS_MOTO_PYTHON (the python with moto), AWSFS_MOUNT_TIMEOUT (seconds to
wait for a mount, default 10), AWSFS_TEST_PIDFILE (a file where the PID of
every process the tests start is appended, so a runner can end leftovers).
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

TEST_KEY = "AKIDAWSFSTEST0000001"
TEST_SECRET = "awsfsTEST/secret+key0000000000000000001x"
TEST_KEY2 = "AKIDAWSFSTEST0000002"
TEST_SECRET2 = "awsfsTEST/second+key000000000000000002y"
TEST_KEYS = {TEST_KEY: TEST_SECRET, TEST_KEY2: TEST_SECRET2}
REGION = "us-east-1"

CA_VARS = ("AWS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR",
           "REQUESTS_CA_BUNDLE", "NIX_SSL_CERT_FILE")
KEPT_VARS = ("PATH", "LANG", "TZ", "TMPDIR", "ASAN_OPTIONS", "UBSAN_OPTIONS",
             "LSAN_OPTIONS") + CA_VARS
SANITIZER_MARKS = ("runtime error", "AddressSanitizer", "LeakSanitizer",
                   "UndefinedBehaviorSanitizer")


def mount_timeout():
    return float(os.environ.get("AWSFS_MOUNT_TIMEOUT", "10"))


def awsfs_bin():
    b = os.environ.get("AWSFS_BIN") or os.path.join(REPO, "awsfs")
    return b if os.path.isabs(b) else os.path.join(REPO, b)


def awsfs_version():
    """The version configure.ac gives (AC_INIT), e.g. '0.1.0'."""
    with open(os.path.join(REPO, "configure.ac")) as f:
        m = re.search(r"AC_INIT\(\[awsfs\],\s*\[([^\]]+)\]", f.read())
    return m.group(1) if m else None


def note_pid(pid):
    f = os.environ.get("AWSFS_TEST_PIDFILE")
    if f:
        with open(f, "a") as fh:
            fh.write("%d\n" % pid)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sanitizer_report(text):
    """The first sanitizer mark in text, or None."""
    for mark in SANITIZER_MARKS:
        if mark in text:
            return mark
    return None


def clean_env(home, **extra):
    """A minimal environment: PATH, locale, CA and sanitizer variables, HOME;
    no AWS_* variable unless given in extra."""
    env = {k: os.environ[k] for k in KEPT_VARS if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
    env.update(HOME=str(home), LC_ALL="C.UTF-8",
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    env.update(extra)
    return env


# --------------------------------------------------------------------------
# mounts as the kernel sees them
# --------------------------------------------------------------------------

def _unescape_mount(field):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mounts():
    """[(source, mountpoint, fstype)] from /proc/mounts."""
    out = []
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3:
                out.append((_unescape_mount(parts[0]), _unescape_mount(parts[1]),
                            parts[2]))
    return out


def fuse_mount_at(path):
    """The fstype of a FUSE mount at path ('fuse.awsfs', 'fuse'), or None."""
    path = os.path.abspath(path)
    for _src, mnt, fstype in mounts():
        if mnt == path and (fstype == "fuse" or fstype.startswith("fuse.")):
            return fstype
    return None


def is_mounted(path):
    return fuse_mount_at(path) is not None


def fuse_mounts():
    return [m for m in mounts() if m[2] == "fuse" or m[2].startswith("fuse.")]


def fusermount_u(path, timeout=10):
    """Unmount path: fusermount3 -u, then -uz if busy.  True when gone."""
    for args in (["-u"], ["-uz"]):
        if not is_mounted(path):
            return True
        try:
            subprocess.run(["fusermount3", *args, path], capture_output=True,
                           timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.time() + 3
        while is_mounted(path) and time.time() < deadline:
            time.sleep(0.05)
    return not is_mounted(path)


def wait_for(pred, timeout, interval=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()


# --------------------------------------------------------------------------
# moto
# --------------------------------------------------------------------------

def _has_moto(python):
    try:
        r = subprocess.run([python, "-c", "import sys, moto.server; print(sys.executable)"],
                           capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if r.returncode == 0 and r.stdout.strip():
        return r.stdout.strip().splitlines()[-1]
    return None


def moto_python():
    """The real interpreter path (not a pyenv shim) of a python that imports
    moto.server: AWSFS_MOTO_PYTHON, else python3 from a PATH with pyenv's
    shims first, else this python."""
    cands = []
    if os.environ.get("AWSFS_MOTO_PYTHON"):
        cands.append(os.environ["AWSFS_MOTO_PYTHON"])
    path = os.pathsep.join(["/root/.pyenv/shims", os.path.expanduser("~/.pyenv/shims"),
                            os.environ.get("PATH", "")])
    for name in ("python3", "python"):
        p = shutil.which(name, path=path)
        if p:
            cands.append(p)
    cands.append(sys.executable)
    seen = set()
    for c in cands:
        if c in seen:
            continue
        seen.add(c)
        exe = _has_moto(c)
        if exe:
            return exe
    return None


class Moto:
    """A running moto server: .url, .proc, reset(), log()."""

    def __init__(self, proc, url, log_path):
        self.proc = proc
        self.url = url
        self.log_path = log_path

    def reset(self):
        req = urllib.request.Request(self.url + "/moto-api/reset", data=b"",
                                     method="POST")
        urllib.request.urlopen(req, timeout=30).read()

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self, timeout=10):
        stop_process(self.proc, timeout)


def stop_process(proc, timeout=10):
    """terminate, then kill."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def start_moto(python, logdir, port=None, wait=60):
    """Start `python -m moto.server -H 127.0.0.1 -p PORT` without auth checks
    and wait until it answers.  Raises RuntimeError with its log otherwise."""
    port = port or free_port()
    log_path = os.path.join(logdir, "moto-%d.log" % port)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "MOTO_")) and k != "INITIAL_NO_AUTH_ACTION_COUNT"}
    env.update(AWS_ACCESS_KEY_ID="moto", AWS_SECRET_ACCESS_KEY="moto",
               AWS_DEFAULT_REGION=REGION, AWS_EC2_METADATA_DISABLED="true")
    with open(log_path, "wb") as logf:
        proc = subprocess.Popen([python, "-m", "moto.server", "-H", "127.0.0.1",
                                 "-p", str(port)],
                                stdout=logf, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)
    note_pid(proc.pid)
    url = "http://127.0.0.1:%d" % port
    deadline = time.time() + wait
    while time.time() < deadline and proc.poll() is None:
        try:
            urllib.request.urlopen(url + "/moto-api/data.json", timeout=2).read()
            return Moto(proc, url, log_path)
        except OSError:
            time.sleep(0.2)
    stop_process(proc)
    with open(log_path, errors="replace") as f:
        raise RuntimeError("moto did not start on %s:\n%s" % (url, f.read()[-4000:]))


# --------------------------------------------------------------------------
# awsfs
# --------------------------------------------------------------------------

class Mount:
    """One awsfs process: .path, .proc, .log(), .cmd, .returncode."""

    def __init__(self, path, proc, log_path, cmd, expect_fail=False):
        self.path = path
        self.proc = proc
        self.log_path = log_path
        self.cmd = cmd
        self.expect_fail = expect_fail
        self.start_failed = False

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    @property
    def returncode(self):
        return self.proc.poll()

    def alive(self):
        return self.proc.poll() is None

    def mounted(self):
        return is_mounted(self.path)

    def join(self, *parts):
        return os.path.join(self.path, *parts)

    def __fspath__(self):
        return self.path

    def __str__(self):
        return self.path


def run_awsfs(args, env, timeout=15):
    """Run awsfs to completion (help, version, refusals): CompletedProcess
    with text stdout/stderr.  Fails the test on a hang (cleaning any mount)
    or on a sanitizer report."""
    import pytest
    try:
        r = subprocess.run([awsfs_bin(), *args], env=env, capture_output=True, text=True,
                           errors="replace", timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        for a in args:
            if os.path.isdir(a) and is_mounted(a):
                fusermount_u(a)
        pytest.fail("awsfs %s did not exit within %ss: %s" % (" ".join(args), timeout,
                                                               e.stderr))
    mark = sanitizer_report(r.stderr)
    assert mark is None, "sanitizer report (%s) from awsfs %s:\n%s" % (mark, args, r.stderr)
    return r


def mount_stats(m):
    """The mount's .awsfs/stats, parsed."""
    with open(os.path.join(m.path, ".awsfs", "stats")) as f:
        return json.load(f)


def error_lines(log):
    """The lines of an awsfs log at error level ('... awsfs error: ...')."""
    return [ln for ln in log.splitlines() if re.search(r"\bawsfs error:", ln)]

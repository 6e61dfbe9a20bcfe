"""awsfs as a tool people live with: mount(8) and fstab, the config file,
startup checks that fail before mounting, the unmount summary, and a man
page that documents every option --help lists."""

import os
import re
import shutil
import subprocess
import time

import pytest

import harness
from harness import awsfs_bin, is_mounted, run_awsfs, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAN = os.path.join(ROOT, "man", "awsfs.1")
SHELL_BIN = "/usr/local/bin/awsfs"  # in the PATH mount.fuse3's shell falls back to


@pytest.fixture
def installed_awsfs():
    """mount(8) runs mount.fuse3, whose shell finds `awsfs` only in the
    default PATH: put the binary under test there for the test, and put
    back whatever was there before."""
    backup = SHELL_BIN + ".awsfs-test-backup"
    had = os.path.lexists(SHELL_BIN)
    if had:
        os.rename(SHELL_BIN, backup)
    os.symlink(awsfs_bin(), SHELL_BIN)
    try:
        yield SHELL_BIN
    finally:
        os.unlink(SHELL_BIN)
        if had:
            os.rename(backup, SHELL_BIN)


def daemon_pids(mnt):
    out = subprocess.run(["pgrep", "-f", "awsfs.*%s" % re.escape(str(mnt))],
                         capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def unmount_and_wait(mnt):
    pids = daemon_pids(mnt)
    subprocess.run(["umount", str(mnt)], check=True, timeout=20)
    assert wait_for(lambda: not is_mounted(str(mnt)), 10)
    assert wait_for(lambda: not any(os.path.exists("/proc/%d" % p) for p in pids), 15), \
        "the daemon did not exit after umount"


def mount_cmd(args, env, mnt):
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=30)
    if r.returncode != 0 or not is_mounted(str(mnt)):
        if is_mounted(str(mnt)):
            harness.fusermount_u(str(mnt))
        pytest.fail("%s failed (%d): %s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r


def test_mount_t_fuse_awsfs(installed_awsfs, proxy, aws_env, boto, tmp_path):
    boto.client("s3").create_bucket(Bucket="bk-tool")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mount_cmd(["mount", "-t", "fuse.awsfs", "awsfs", str(mnt), "-o",
               "endpoint=%s,services=s3,_netdev" % proxy.url], aws_env, mnt)
    try:
        assert os.listdir(mnt / "s3") == ["bk-tool"]
        assert sorted(os.listdir(mnt)) == [".awsfs", "s3"]
    finally:
        unmount_and_wait(mnt)


def test_fstab_line(installed_awsfs, proxy, aws_env, boto, tmp_path):
    boto.client("s3").create_bucket(Bucket="bk-fstab")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    fstab = tmp_path / "fstab"
    # A comma inside an option value is escaped for fuse_opt, as in fstab(5) use.
    fstab.write_text("awsfs %s fuse.awsfs _netdev,nofail,endpoint=%s,services=s3\\,ssm 0 0\n"
                     % (mnt, proxy.url))
    mount_cmd(["mount", "-T", str(fstab), str(mnt)], aws_env, mnt)
    try:
        assert sorted(os.listdir(mnt)) == [".awsfs", "s3", "ssm"]
        assert os.listdir(mnt / "s3") == ["bk-fstab"]
    finally:
        unmount_and_wait(mnt)


def test_config_file_and_command_line_precedence(mount, aws_env, tmp_path):
    cfg = tmp_path / "awsfs.conf"
    cfg.write_text("# a comment\n\nservices = ssm\nlog_level=info\nretries=7\n")
    env = dict(aws_env, AWSFS_CONFIG=str(cfg))
    m = mount("-o", "services=s3,retries=3", env=env, log_level=None)
    assert sorted(os.listdir(m.path)) == [".awsfs", "s3"]
    with open(os.path.join(m.path, ".awsfs", "config")) as f:
        shown = dict(line.split("=", 1) for line in f.read().splitlines())
    assert shown["services"] == "s3"      # the command line wins
    assert shown["retries"] == "3"
    assert shown["log_level"] == "info"   # the file fills what the command line left


def test_user_config_file_found_in_home(mount, aws_env):
    home = aws_env["HOME"]
    os.makedirs(os.path.join(home, ".config", "awsfs"))
    with open(os.path.join(home, ".config", "awsfs", "config"), "w") as f:
        f.write("services=dynamodb\n")
    m = mount()
    assert sorted(os.listdir(m.path)) == [".awsfs", "dynamodb"]


def test_config_file_unknown_key(aws_env, tmp_path):
    cfg = tmp_path / "bad.conf"
    cfg.write_text("region=eu-west-1\nfrobnicate=1\n")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = run_awsfs(["-f", str(mnt)], dict(aws_env, AWSFS_CONFIG=str(cfg)))
    assert r.returncode != 0
    assert "%s:2: unknown option 'frobnicate'" % cfg in r.stderr
    assert not is_mounted(str(mnt))


def refused(aws_env, args, *needles):
    t0 = time.monotonic()
    r = run_awsfs(args, aws_env, timeout=30)
    assert r.returncode == 1
    assert time.monotonic() - t0 < 20
    first = r.stderr.strip().splitlines()[0]
    for n in needles:
        assert n in first, "%r not in %r" % (n, r.stderr)
    assert not harness.fuse_mounts() or all(args[-1] not in m for m in harness.fuse_mounts())
    return first


def test_startup_checks_fail_before_mounting(aws_env, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    # Nothing listens on port 9 of loopback.
    refused(aws_env, ["-f", "-o", "endpoint=http://127.0.0.1:9", str(mnt)],
            "endpoint http://127.0.0.1:9", "unreachable")
    afile = tmp_path / "file"
    afile.write_text("x")
    refused(aws_env, ["-f", "-o", "endpoint=http://127.0.0.1:9", str(afile)], "not a folder")
    (mnt / "something").write_text("x")
    refused(aws_env, ["-f", str(mnt)], "not empty")


def test_missing_dev_fuse(aws_env, tmp_path):
    """In a private mount namespace whose /dev has no fuse device."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = 'mount -t tmpfs none /dev && exec "$0" "$@"'
    r = subprocess.run(["unshare", "-m", "sh", "-c", script, awsfs_bin(), "-f", str(mnt)],
                       env=aws_env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "/dev/fuse" in r.stderr


def test_unmount_summary_line(mount, boto):
    boto.client("s3").create_bucket(Bucket="bk-summary")
    m = mount(log_level=None)
    os.listdir(os.path.join(m.path, "s3"))
    harness.fusermount_u(m.path)
    m.proc.wait(timeout=15)
    lines = [ln for ln in m.log().splitlines() if "unmounted" in ln]
    assert len(lines) == 1
    assert re.search(r"notice: unmounted .*: 1 requests, 0 retries, 0 errors", lines[0])


def help_options():
    out = subprocess.run([awsfs_bin(), "--help"], capture_output=True, text=True).stdout
    return set(re.findall(r"^\s+-o ([a-z_0-9]+)(?:=|\s)", out, re.M))


def test_man_page_documents_every_option():
    text = open(MAN).read()
    documented = set(re.findall(r'^\.BI? "?\\-o ([a-z_0-9]+)', text, re.M))
    options = help_options()
    assert len(options) >= 14
    assert options - documented == set(), "in --help, not in awsfs(1)"
    assert documented - options == set(), "in awsfs(1), not in --help"


def test_man_page_lints_clean():
    if not shutil.which("groff"):
        pytest.fail("groff is missing (scripts/install-deps.sh installs it)")
    r = subprocess.run(["groff", "-ww", "-man", "-z", "-t", MAN], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr


def test_invalidate_control_file(mount):
    m = mount()
    path = os.path.join(m.path, ".awsfs", "invalidate")
    assert oct(os.stat(path).st_mode & 0o777) == "0o200"
    with open(path, "w") as f:
        f.write("/s3/bucket/logs/*\n/ssm/app/x\n")
    # A '*' inside the path is not a CloudFront pattern: EINVAL at close.
    f = open(path, "w")
    f.write("/s3/*/logs\n")
    with pytest.raises(OSError) as e:
        f.close()
    assert e.value.errno == 22
    assert "bad pattern '/s3/*/logs'" in m.log()
    with pytest.raises(OSError):
        open(path).read()


def test_stats_show_the_cache(mount):
    import json
    m = mount()
    with open(os.path.join(m.path, ".awsfs", "stats")) as f:
        st = json.load(f)
    for svc in ("s3", "dynamodb", "sqs", "ssm"):
        assert set(st["cache"][svc]) == {"hits", "misses", "revalidations", "evictions"}
    assert "bytes_mem" in st["cache"] and "entries" in st["cache"]

"""SSM Parameter Store through a real mount: MNT/ssm/<path...>.

Every test drives the mount with real programs (ls, find, cat, cp, wc, jq,
echo/printf redirections, rm, mkdir, rmdir, getfattr) and checks the store
with boto3 straight against moto, and the requests through the proxy
(which also checks every SigV4 signature).

Moto 5.2.1 serves DescribeParameters 10 a page whatever MaxResults says;
awsfs asks for 50 (the API's largest page), so the listing tests assert
both: every request asked for 50, and the number of requests is the number
of pages the server hands out (what a real account would give in
ceil(N/50) calls).

Run: AWSFS_BIN=build/awsfs /usr/bin/python3 -m pytest tests/integration/test_ssm.py
"""

import datetime
import errno
import json
import math
import os
import secrets
import stat
import subprocess
import threading
import time

import pytest

from faults import Faults
from harness import error_lines, mount_stats
from sigproxy import CannedResponse, RawAnswer, Rewrite, error_response, new_request_id

TYPES = ("String", "StringList", "SecureString")


def run(script, *args, check=True, input=None):
    """bash -c script with args as $1..; returns CompletedProcess (bytes)."""
    r = subprocess.run(["bash", "-c", script, "bash", *args], capture_output=True,
                       timeout=120, input=input)
    if check:
        assert r.returncode == 0, (script, args, r.returncode, r.stderr)
    return r


def tree_names():
    """300 names: 288 six levels deep, and 12 shallower (1, 2, 3 levels)."""
    names = []
    for a in range(3):
        for b in range(2):
            for c in range(2):
                for d in range(2):
                    for e in range(2):
                        for k in range(6):
                            names.append("/app%d/env%d/svc%d/grp%d/sub%d/p%d"
                                         % (a, b, c, d, e, k))
    for k in range(4):
        names += ["/app0/top%d" % k, "/app1/env0/mid%d" % k, "single%d" % k]
    assert len(names) == 300 and len(set(names)) == 300
    return names


def value_for(i, typ):
    if typ == "StringList":
        return "a%d,b%d,c" % (i, i)
    if typ == "SecureString":
        return "s3cr3t-%d-%s" % (i, "z" * (i % 7))
    return "v%d:%s" % (i, "x" * (i % 50))


@pytest.fixture
def tree(boto):
    """{name: (type, value)} for 300 parameters of all three types."""
    params = {}
    for i, name in enumerate(tree_names()):
        typ = TYPES[i % 3]
        val = value_for(i, typ)
        boto.ssm.put_parameter(Name=name, Value=val, Type=typ)
        params[name] = (typ, val)
    return params


def key_of(name):
    return name[1:] if name.startswith("/") else name


def server_pages(boto, page_size=50):
    """How many DescribeParameters pages the server hands out for a listing."""
    pages, token = 0, None
    while True:
        kw = {"MaxResults": page_size}
        if token:
            kw["NextToken"] = token
        r = boto.ssm.describe_parameters(**kw)
        pages += 1
        token = r.get("NextToken")
        if not token:
            return pages


class BodyLog:
    """A proxy hook that keeps every request body per operation."""

    def __init__(self):
        self.bodies = []

    def __call__(self, info):
        self.bodies.append((info.op, info.body))
        return None

    def of(self, op):
        return [json.loads(b) for o, b in self.bodies if o == op]


def get(boto, name, decrypt=True):
    return boto.ssm.get_parameter(Name=name, WithDecryption=decrypt)["Parameter"]


def describe(boto, name):
    r = boto.ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [name]}])
    assert len(r["Parameters"]) == 1, r
    return r["Parameters"][0]


def absent(boto, name):
    try:
        boto.ssm.get_parameter(Name=name)
    except boto.ssm.exceptions.ParameterNotFound:
        return True
    return False


def all_names(boto):
    """Every parameter name the server holds, sorted."""
    names = set()
    for page in boto.ssm.get_paginator("describe_parameters").paginate():
        names |= {p["Name"] for p in page["Parameters"]}
    return sorted(names)


def write_file(path, data, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC):
    """open/write/close; returns None or the errno of the step that failed."""
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as e:
        return e.errno
    try:
        os.write(fd, data)
    except OSError as e:
        try:
            os.close(fd)
        except OSError as e2:
            assert e2.errno == e.errno  # close tells the same
        return e.errno
    try:
        os.close(fd)
    except OSError as e:
        return e.errno
    return None


# ---------------------------------------------------------------------------
# the tree and what listing it costs
# ---------------------------------------------------------------------------

def test_find_and_ls_R_cost_one_listing(mount, proxy, boto, tree):
    m = mount("-o", "ssm_ttl=60")
    pages = server_pages(boto)
    assert pages >= math.ceil(len(tree) / 50)
    bodies = BodyLog()
    proxy.fault_hook = bodies
    proxy.reset()

    r = run('find "$1" -type f', m.join("ssm"))
    found = set(r.stdout.decode().split())
    assert found == {m.join("ssm", key_of(n)) for n in tree}
    assert proxy.counts() == {("ssm", "DescribeParameters"): pages}, proxy.counts()
    # Every page asked for the API's largest page, 50.
    assert [b.get("MaxResults") for b in bodies.of("DescribeParameters")] == [50] * pages
    tokens = [b.get("NextToken") for b in bodies.of("DescribeParameters")]
    assert tokens[0] is None and all(tokens[1:]) and len(set(tokens[1:])) == pages - 1

    # ls -R and ls -lR over the same tree: no more requests, no values.
    r = run('ls -R "$1"', m.join("ssm"))
    assert b"p5" in r.stdout
    r = run('ls -lR "$1"', m.join("ssm"))
    assert proxy.counts() == {("ssm", "DescribeParameters"): pages}, proxy.counts()
    # Folders are the segments.
    assert sorted(os.listdir(m.join("ssm"))) == sorted(
        ["app0", "app1", "app2", "single0", "single1", "single2", "single3"])
    assert sorted(os.listdir(m.join("ssm", "app1", "env0"))) == sorted(
        ["svc0", "svc1", "mid0", "mid1", "mid2", "mid3"])
    st = os.stat(m.join("ssm", "app2", "env1", "svc1", "grp1", "sub1"))
    assert stat.S_ISDIR(st.st_mode)
    assert sorted(os.listdir(m.join("ssm", "app2", "env1", "svc1", "grp1", "sub1"))) == [
        "p%d" % k for k in range(6)]
    assert proxy.count("ssm", "GetParameter") == 0
    assert proxy.rejected() == []


def test_listing_refreshes_after_ttl(mount, proxy, boto):
    boto.ssm.put_parameter(Name="/t/a", Value="1", Type="String")
    m = mount("-o", "ssm_ttl=1")
    proxy.reset()
    assert os.listdir(m.join("ssm", "t")) == ["a"]
    assert os.listdir(m.join("ssm", "t")) == ["a"]  # within the ttl: no request
    assert proxy.count("ssm", "DescribeParameters") == 1
    boto.ssm.put_parameter(Name="/t/b", Value="2", Type="String")
    time.sleep(1.3)
    assert sorted(os.listdir(m.join("ssm", "t"))) == ["a", "b"]
    assert proxy.count("ssm", "DescribeParameters") == 2


def test_invalidate_lists_again(mount, proxy, boto):
    boto.ssm.put_parameter(Name="/t/a", Value="1", Type="String")
    boto.ssm.put_parameter(Name="/u/a", Value="1", Type="String")
    m = mount("-o", "ssm_ttl=600")
    assert os.listdir(m.join("ssm", "t")) == ["a"]
    boto.ssm.put_parameter(Name="/t/b", Value="2", Type="String")
    proxy.reset()
    os.listdir(m.join("ssm", "t"))
    assert proxy.counts() == {}  # trusted for ssm_ttl
    with open(m.join(".awsfs", "invalidate"), "w") as f:
        f.write("/ssm/u/*\n")
    os.listdir(m.join("ssm", "t"))
    assert proxy.counts() == {}  # another folder's invalidation
    with open(m.join(".awsfs", "invalidate"), "w") as f:
        f.write("/ssm/t/*\n")
    assert sorted(os.listdir(m.join("ssm", "t"))) == ["a", "b"]
    assert proxy.counts() == {("ssm", "DescribeParameters"): 1}


def test_missing_names_cost_nothing_within_ttl(mount, proxy, boto):
    boto.ssm.put_parameter(Name="/t/a", Value="1", Type="String")
    m = mount("-o", "ssm_ttl=60")
    os.listdir(m.join("ssm"))
    proxy.reset()
    for name in ("nope", "t/nope", "t/a/nope", "nope/deeper"):
        assert not os.path.exists(m.join("ssm", name))
    assert proxy.counts() == {}


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------

def test_cat_gives_values_byte_for_byte_with_modes(mount, proxy, boto, tree):
    m = mount("-o", "ssm_ttl=60")
    names = sorted(tree)[::10]  # 30 of them, every type
    assert {tree[n][0] for n in names} == set(TYPES)
    os.listdir(m.join("ssm"))
    proxy.reset()
    for name in names:
        typ, val = tree[name]
        path = m.join("ssm", key_of(name))
        r = run('cat "$1"', path)
        assert r.stdout == get(boto, name)["Value"].encode() == val.encode()
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode == (0o600 if typ == "SecureString" else 0o644), (name, oct(mode))
    # One request (WithDecryption) per cat, nothing else: GetParameter for
    # a SecureString (never fetched with others, never kept), GetParameters
    # for the others (the value and its folder's next ones, kept for the
    # ssm TTL). These names are 10 apart: no cat finds its value kept.
    secure = sum(1 for n in names if tree[n][0] == "SecureString")
    assert proxy.counts() == {("ssm", "GetParameter"): secure,
                              ("ssm", "GetParameters"): len(names) - secure}, proxy.counts()


def test_parallel_reads_and_writes(mount, proxy, boto, tree):
    """Many threads at once: every value comes out right, every write lands,
    and the tree is still listed once."""
    from concurrent.futures import ThreadPoolExecutor
    pages = server_pages(boto)
    m = mount("-o", "ssm_ttl=60")
    proxy.reset()

    def read(name):
        with open(m.join("ssm", key_of(name)), "rb") as f:
            return name, f.read()

    def write(i):
        with open(m.join("ssm", "app0", "par%d" % i), "w") as f:
            f.write("written %d\n" % i)
        return i

    with ThreadPoolExecutor(max_workers=12) as ex:
        writes = [ex.submit(write, i) for i in range(24)]
        for name, data in ex.map(read, sorted(tree)):
            assert data == tree[name][1].encode(), name
        assert sorted(w.result() for w in writes) == list(range(24))
    for i in range(24):
        assert get(boto, "/app0/par%d" % i)["Value"] == "written %d" % i
    listed = os.listdir(m.join("ssm", "app0"))
    assert {"par%d" % i for i in range(24)} <= set(listed)
    # One listing: every thread waited for the same one.
    assert proxy.count("ssm", "DescribeParameters") == pages
    # SecureStrings one GetParameter each; the others in batches, at most
    # one request each even when threads race for the same folder.
    secure = sum(1 for t, _ in tree.values() if t == "SecureString")
    assert proxy.count("ssm", "GetParameter") == secure
    assert proxy.count("ssm", "GetParameters") <= len(tree) - secure
    assert proxy.count("ssm", "PutParameter") == 24


def folder_values(n):
    """n String values that are easy to get wrong: tabs, commas, UTF-8,
    inner newlines, a trailing space, and lengths from 1 to 4096."""
    vals = []
    for i in range(n):
        v = "v%02d\tcomma,\u00e9\u2713 %s" % (i, "y" * (i * 37 % 200))
        if i % 5 == 1:
            v += "\nsecond line "
        vals.append(v)
    vals[3] = "z" * 4096
    vals[4] = "1"
    return vals


def test_grep_r_reads_a_folder_ten_values_a_request(mount, proxy, boto):
    """grep -r over 25 Strings costs 3 GetParameters (10 names at most
    each, WithDecryption), not 25 GetParameter; the SecureStrings beside
    them are fetched alone and never kept; a second grep within ssm_ttl
    asks for nothing but the SecureStrings."""
    vals = folder_values(25)
    for i, v in enumerate(vals):
        boto.ssm.put_parameter(Name="/b/p%02d" % i, Value=v, Type="String")
    boto.ssm.put_parameter(Name="/b/p07s", Value="hush-7", Type="SecureString")
    boto.ssm.put_parameter(Name="/b/p19s", Value="hush-19", Type="SecureString")
    boto.ssm.put_parameter(Name="/b/sub/deeper", Value="below", Type="String")
    m = mount("-o", "ssm_ttl=60")
    os.listdir(m.join("ssm", "b"))
    bodies = BodyLog()
    proxy.fault_hook = bodies
    proxy.reset()

    r = run('grep -r "" "$1"', m.join("ssm", "b"))
    want = {"p%02d" % i: v for i, v in enumerate(vals)}
    want.update({"p07s": "hush-7", "p19s": "hush-19", "sub/deeper": "below"})
    got = {}
    for path in want:
        got[path] = run('cat "$1"', m.join("ssm", "b", path)).stdout.decode()
    assert got == want
    # grep's lines are the values (each line prefixed with its file).
    out = r.stdout.decode()
    for path, v in want.items():
        for line in v.split("\n"):
            assert "%s:%s\n" % (m.join("ssm", "b", path), line) in out, (path, line)
    # The cats above: String values kept (no request), SecureStrings again.
    assert proxy.counts() == {("ssm", "GetParameters"): 4,  # 25 + sub/deeper
                              ("ssm", "GetParameter"): 4}, proxy.counts()
    batches = bodies.of("GetParameters")
    assert all(b["WithDecryption"] is True and 1 <= len(b["Names"]) <= 10 for b in batches)
    asked = [n for b in batches for n in b["Names"]]
    assert sorted(asked) == sorted(["/b/p%02d" % i for i in range(25)] + ["/b/sub/deeper"])
    # p00.., then p10.. with p20..p24 read ahead beside it (those two are
    # in flight together, in either order), then sub/deeper.
    sizes = [len(b["Names"]) for b in batches]
    assert (sizes[0], sorted(sizes[1:3]), sizes[3:]) == (10, [5, 10], [1]), sizes
    assert all(b["Name"] in ("/b/p07s", "/b/p19s") for b in bodies.of("GetParameter"))
    # What was read shows its size now (from the batch, not one by one).
    time.sleep(1.1)  # the kernel's attribute cache
    assert os.stat(m.join("ssm", "b", "p03")).st_size == 4096

    proxy.reset()
    run('grep -r "" "$1"', m.join("ssm", "b"))
    assert proxy.counts() == {("ssm", "GetParameter"): 2}, proxy.counts()
    assert proxy.rejected() == []
    assert error_lines(m.log()) == []


# ---------------------------------------------------------------------------
# read-ahead of a folder being walked
# ---------------------------------------------------------------------------

class Walk:
    """A proxy hook: keeps every request body, holds each GetParameters
    `delay` seconds before forwarding it (so that requests in flight at
    once can be seen), counts the most held at once, and asks `fault`
    (when set) for a fault to answer instead."""

    def __init__(self, delay=0.2, fault=None):
        self.delay = delay
        self.fault = fault
        self.lock = threading.Lock()
        self.bodies = []
        self.held = 0
        self.most = 0

    def __call__(self, info):
        with self.lock:
            self.bodies.append((info.op, info.body))
        if info.op != "GetParameters":
            return None
        action = self.fault(json.loads(info.body)) if self.fault else None
        if action is not None:
            return action
        with self.lock:
            self.held += 1
            self.most = max(self.most, self.held)
        time.sleep(self.delay)
        with self.lock:
            self.held -= 1
        return None

    def of(self, op):
        with self.lock:
            return [json.loads(b) for o, b in self.bodies if o == op]


def grep_values(m, folder):
    """{name below folder: value} as grep -r '' shows them."""
    d = m.join("ssm", folder)
    out = run('grep -r "" "$1"', d).stdout.decode()
    got = {}
    for line in out.splitlines():
        path, _, text = line.partition(":")
        rel = os.path.relpath(path, d)
        got[rel] = got[rel] + "\n" + text if rel in got else text
    return got


def walk_mount(mount, proxy, boto, folder, values, hook, opts="ssm_ttl=60"):
    """Parameters /folder/<name> from values ({name: value}, or {name:
    (value, type)}), a mount that has listed the folder, and hook on the
    proxy with the counts reset: what a walk of the folder then asks is
    what the test sees."""
    for k, v in values.items():
        v, kind = v if isinstance(v, tuple) else (v, "String")
        boto.ssm.put_parameter(Name="/%s/%s" % (folder, k), Value=v, Type=kind)
    m = mount("-o", opts)
    os.listdir(m.join("ssm", folder))
    proxy.fault_hook = hook
    proxy.reset()
    return m


def test_walk_reads_ahead_in_parallel_each_name_once(mount, proxy, boto):
    """grep -r over 60 Strings: every value right, each name in exactly one
    GetParameters (6 of them, 10 names each), and several GetParameters in
    flight at once (the folder is read ahead of grep)."""
    want = {"p%02d" % i: "walked %d %s" % (i, "w" * (i * 13 % 90)) for i in range(60)}
    hook = Walk(delay=0.2)
    m = walk_mount(mount, proxy, boto, "w", want, hook)

    assert grep_values(m, "w") == want
    batches = hook.of("GetParameters")
    asked = [n for b in batches for n in b["Names"]]
    assert sorted(asked) == ["/w/" + k for k in sorted(want)]  # each name once
    assert [len(b["Names"]) for b in batches] == [10] * 6
    assert all(b["WithDecryption"] is True for b in batches)
    assert proxy.counts() == {("ssm", "GetParameters"): 6}, proxy.counts()
    assert hook.most > 1, "no two GetParameters were ever in flight at once"
    # Everything read is kept: a second walk asks for nothing.
    proxy.reset()
    assert grep_values(m, "w") == want
    assert proxy.counts() == {}, proxy.counts()
    assert proxy.rejected() == []
    assert error_lines(m.log()) == []


def test_single_cat_reads_nothing_ahead(mount, proxy, boto):
    hook = Walk(delay=0)
    m = walk_mount(mount, proxy, boto, "one", {"p%02d" % i: "one %d" % i for i in range(40)},
                   hook)
    assert run('cat "$1"', m.join("ssm", "one", "p05")).stdout == b"one 5"
    time.sleep(0.5)  # read-ahead, were there any, would have started by now
    assert proxy.counts() == {("ssm", "GetParameters"): 1}, proxy.counts()
    assert len(hook.of("GetParameters")[0]["Names"]) == 10
    # Going back is no walk either: one more batch, nothing ahead.
    assert run('cat "$1"', m.join("ssm", "one", "p00")).stdout == b"one 0"
    time.sleep(0.5)
    assert proxy.counts() == {("ssm", "GetParameters"): 2}, proxy.counts()
    assert error_lines(m.log()) == []


def test_write_during_a_walk_is_read_back(mount, proxy, boto):
    """A value written through the mount while a read-ahead batch holding
    it is in flight (its answer, with the old value, arrives after the
    write) reads back as written, at once and later."""
    for i in range(40):
        boto.ssm.put_parameter(Name="/wr/p%02d" % i, Value="old %d" % i, Type="String")
    m = mount("-o", "ssm_ttl=60")
    d = m.join("ssm", "wr")
    os.listdir(d)
    held, release = threading.Event(), threading.Event()

    def late(status, headers, body):
        held.set()
        release.wait(20)
        return RawAnswer(status, headers, body)

    def fault(body):
        if "/wr/p35" in body["Names"] and not held.is_set():
            return Rewrite(late)
        return None

    proxy.fault_hook = Walk(delay=0, fault=fault)
    # p00's batch, then p10's: a walk; p20.. and p30.. are read ahead.
    assert run('cat "$1" "$2"', os.path.join(d, "p00"), os.path.join(d, "p10")).stdout \
        == b"old 0old 10"
    try:
        assert held.wait(10), "no read-ahead asked for p35"
        run('printf "new value" > "$1"', os.path.join(d, "p35"))
    finally:
        release.set()
    assert get(boto, "/wr/p35")["Value"] == "new value"
    assert run('cat "$1"', os.path.join(d, "p35")).stdout == b"new value"
    want = {"p%02d" % i: "old %d" % i for i in range(40)}
    want["p35"] = "new value"
    assert grep_values(m, "wr") == want
    time.sleep(0.3)
    assert run('cat "$1"', os.path.join(d, "p35")).stdout == b"new value"
    assert error_lines(m.log()) == []


def test_walk_fetches_secure_strings_alone(mount, proxy, boto):
    params = {"p%02d" % i: ("secret %d" % i, "SecureString") if i % 4 == 2 else
              ("plain %d" % i, "String") for i in range(40)}
    want = {k: v for k, (v, _kind) in params.items()}
    secure = ["/ws/" + k for k, (_v, kind) in params.items() if kind == "SecureString"]
    hook = Walk(delay=0.05)
    m = walk_mount(mount, proxy, boto, "ws", params, hook)
    assert grep_values(m, "ws") == want
    asked = [n for b in hook.of("GetParameters") for n in b["Names"]]
    assert sorted(asked) == sorted("/ws/" + k for k in want if "/ws/" + k not in secure)
    assert sorted(b["Name"] for b in hook.of("GetParameter")) == sorted(secure)
    assert proxy.count("ssm", "GetParameters") == 3
    assert error_lines(m.log()) == []


def test_read_ahead_failures_leave_values_right(mount, proxy, boto):
    """Read-ahead batches that fail (500s, throttles, past -o retries=2)
    are quiet: each value is fetched when opened, right, and kept."""
    want = {"p%02d" % i: "f %d" % i for i in range(60)}
    failed = {"/wf/p25": 0, "/wf/p45": 0}

    def fault(body):
        for name in failed:
            if name in body["Names"] and failed[name] < 2:
                failed[name] += 1
                if name == "/wf/p25":
                    return canned("InternalServerError", "read-ahead fault", 500)
                return canned("ThrottlingException", "Rate exceeded")
        return None

    m = walk_mount(mount, proxy, boto, "wf", want, Walk(delay=0.05, fault=fault),
                   opts="ssm_ttl=60,retries=2")
    assert grep_values(m, "wf") == want
    assert failed == {"/wf/p25": 2, "/wf/p45": 2}
    assert error_lines(m.log()) == []
    proxy.reset()
    assert grep_values(m, "wf") == want
    assert proxy.counts() == {}, proxy.counts()


def test_kept_values_change_after_the_ttl_or_an_invalidation(mount, proxy, boto):
    for k in ("a", "b", "c"):
        boto.ssm.put_parameter(Name="/k/" + k, Value="old " + k, Type="String")
    m = mount("-o", "ssm_ttl=5")
    d = m.join("ssm", "k")
    assert run('cat "$1"', os.path.join(d, "a")).stdout == b"old a"
    for k in ("a", "b", "c"):
        boto.ssm.put_parameter(Name="/k/" + k, Value="new " + k, Overwrite=True)
    proxy.reset()
    # Within ssm_ttl the listing and the values are trusted (as documented).
    assert run('cat "$1"', os.path.join(d, "b")).stdout == b"old b"
    assert proxy.counts() == {}
    # An invalidation shows the change at once: a pattern...
    with open(m.join(".awsfs", "invalidate"), "w") as f:
        f.write("/ssm/k/*\n")
    assert run('cat "$1"', os.path.join(d, "a")).stdout == b"new a"
    assert run('cat "$1"', os.path.join(d, "b")).stdout == b"new b"
    assert proxy.count("ssm", "GetParameters") == 1
    # ... or one path.
    boto.ssm.put_parameter(Name="/k/a", Value="newer a", Overwrite=True)
    with open(m.join(".awsfs", "invalidate"), "w") as f:
        f.write("/ssm/k/a\n")
    assert run('cat "$1"', os.path.join(d, "a")).stdout == b"newer a"
    # After the ttl, the next listing names new versions: kept values go.
    boto.ssm.put_parameter(Name="/k/c", Value="newest c", Overwrite=True)
    assert run('cat "$1"', os.path.join(d, "c")).stdout == b"new c"
    time.sleep(5.5)
    assert run('cat "$1"', os.path.join(d, "c")).stdout == b"newest c"
    assert error_lines(m.log()) == []


def test_what_the_mount_writes_or_removes_is_read_back_at_once(mount, proxy, boto):
    for k in ("a", "b", "c"):
        boto.ssm.put_parameter(Name="/w/" + k, Value="was " + k, Type="String")
    m = mount("-o", "ssm_ttl=600")
    d = m.join("ssm", "w")
    assert run('cat "$1"', os.path.join(d, "a")).stdout == b"was a"
    run('echo "now a" > "$1"', os.path.join(d, "a"))
    run('printf "now b" > "$1"', os.path.join(d, "b"))
    assert run('cat "$1"', os.path.join(d, "a")).stdout == b"now a"
    assert run('cat "$1"', os.path.join(d, "b")).stdout == b"now b"
    assert run('cat "$1"', os.path.join(d, "c")).stdout == b"was c"
    run('echo " more" >> "$1"', os.path.join(d, "b"))
    assert run('cat "$1"', os.path.join(d, "b")).stdout == b"now b more"
    assert get(boto, "/w/b")["Value"] == "now b more"
    # rm, then the same name made elsewhere (version 1 again): the old
    # value is not served for the new parameter.
    run('rm "$1"', os.path.join(d, "c"))
    boto.ssm.put_parameter(Name="/w/c", Value="reborn c", Type="String")
    # A listing that starts within 2 s of the rm may not show it yet, so
    # the mount re-applies its rm to it (and would hide this reborn c).
    time.sleep(2.2)
    with open(m.join(".awsfs", "invalidate"), "w") as f:
        f.write("/ssm/w/*\n")
    assert run('cat "$1"', os.path.join(d, "c")).stdout == b"reborn c"
    assert error_lines(m.log()) == []


def test_a_value_gone_behind_our_back_spoils_only_itself(mount, proxy, boto):
    for k in ("a", "b", "c", "d", "e"):
        boto.ssm.put_parameter(Name="/g/" + k, Value="val " + k, Type="String")
    m = mount("-o", "ssm_ttl=60")
    d = m.join("ssm", "g")
    assert sorted(os.listdir(d)) == ["a", "b", "c", "d", "e"]
    boto.ssm.delete_parameter(Name="/g/b")
    proxy.reset()
    for k in ("a", "c", "d", "e"):
        assert run('cat "$1"', os.path.join(d, k)).stdout == ("val " + k).encode()
    # One batch for a, c, d, e (b was in it and came back InvalidParameters).
    assert proxy.counts() == {("ssm", "GetParameters"): 1}, proxy.counts()
    assert error_lines(m.log()) == []
    r = run('cat "$1"', os.path.join(d, "b"), check=False)
    assert r.returncode != 0 and b"No such file" in r.stderr
    lines = error_lines(m.log())
    assert len(lines) == 1 and "/ssm/g/b" in lines[0] and "ParameterNotFound" in lines[0], lines


def test_tools_read_values_whatever_the_size_shown(mount, proxy, boto):
    doc = {"db": {"host": "db.internal", "port": 5432}, "flags": ["a", "b"],
           "note": "h\u00e9llo \u2713"}
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    boto.ssm.put_parameter(Name="/app/config", Value=text, Type="SecureString")
    boto.ssm.put_parameter(Name="/app/plain", Value="tab\there, end", Type="String")
    m = mount()
    path = m.join("ssm", "app", "config")
    raw = text.encode()
    # The listing carries no values: the size shows 0 until one is read.
    assert os.stat(path).st_size == 0
    r = run('jq -r .db.host "$1"', path)
    assert r.stdout == b"db.internal\n"
    assert run('wc -c < "$1"', path).stdout.split()[0] == str(len(raw)).encode()
    assert run('wc -c "$1"', path).stdout.split()[0] == str(len(raw)).encode()
    out = os.path.join(os.path.dirname(m.path), "copy-out")
    run('cp "$1" "$2"', path, out)
    with open(out, "rb") as f:
        assert f.read() == raw
    assert run('cat "$1"', m.join("ssm", "app", "plain")).stdout == b"tab\there, end"
    # Once read, the real size shows.
    time.sleep(1.1)  # the kernel's attribute cache
    assert os.stat(path).st_size == len(raw)
    assert run('test -s "$1"', path, check=False).returncode == 0


def test_versions_and_labels(mount, proxy, boto):
    for v in ("one", "two", "three"):
        boto.ssm.put_parameter(Name="/ver/x", Value=v, Type="SecureString", Overwrite=True)
    boto.ssm.label_parameter_version(Name="/ver/x", ParameterVersion=1, Labels=["first"])
    m = mount()
    d = m.join("ssm", "ver")
    assert os.listdir(d) == ["x"]  # versions are never listed
    assert run('cat "$1"', os.path.join(d, "x")).stdout == b"three"
    assert run('cat "$1"', os.path.join(d, "x@1")).stdout == b"one"
    assert run('cat "$1"', os.path.join(d, "x@2")).stdout == b"two"
    assert run('cat "$1"', os.path.join(d, "x@first")).stdout == b"one"
    assert run('cat "$1"', os.path.join(d, "x@")).stdout == b"three"
    assert os.getxattr(os.path.join(d, "x@2"), "user.ssm.version") == b"2"
    assert stat.S_IMODE(os.stat(os.path.join(d, "x@1")).st_mode) == 0o400
    for missing in ("x@9", "x@nolabel", "y@1"):
        r = run('cat "$1"', os.path.join(d, missing), check=False)
        assert r.returncode != 0 and b"No such file" in r.stderr, missing
    # A past version cannot be written or removed.
    assert write_file(os.path.join(d, "x@1"), b"new") == errno.EROFS
    with pytest.raises(OSError) as e:
        os.unlink(os.path.join(d, "x@1"))
    assert e.value.errno == errno.EROFS
    assert get(boto, "/ver/x")["Version"] == 3


def test_xattrs(mount, boto):
    boto.ssm.put_parameter(Name="/x/plain", Value="p", Type="String")
    boto.ssm.put_parameter(Name="/x/list", Value="a,b", Type="StringList")
    boto.ssm.put_parameter(Name="/x/big", Value="q" * 5000, Type="SecureString",
                           Tier="Advanced")
    m = mount()
    for name, typ, tier in (("/x/plain", "String", "Standard"),
                            ("/x/list", "StringList", "Standard"),
                            ("/x/big", "SecureString", "Advanced")):
        path = m.join("ssm", key_of(name))
        d = describe(boto, name)
        assert sorted(os.listxattr(path)) == sorted(
            ["user.ssm.type", "user.ssm.version", "user.ssm.last_modified",
             "user.ssm.tier", "user.ssm.data_type"])
        assert os.getxattr(path, "user.ssm.type") == typ.encode()
        assert os.getxattr(path, "user.ssm.version") == str(d["Version"]).encode()
        assert os.getxattr(path, "user.ssm.tier") == tier.encode() == d["Tier"].encode()
        assert os.getxattr(path, "user.ssm.data_type") == b"text"
        lm = os.getxattr(path, "user.ssm.last_modified").decode()
        want = d["LastModifiedDate"].astimezone(datetime.timezone.utc)
        assert lm == want.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (
            want.microsecond // 1000), (lm, want)
        assert int(os.stat(path).st_mtime) == int(want.timestamp())
    r = run('getfattr -d -m "^user.ssm" "$1"', m.join("ssm", "x", "big"))
    assert b'user.ssm.tier="Advanced"' in r.stdout
    assert os.listxattr(m.join("ssm", "x")) == []
    with pytest.raises(OSError):
        os.setxattr(m.join("ssm", "x", "plain"), "user.ssm.type", b"SecureString")


# ---------------------------------------------------------------------------
# names: no leading slash, a name that is also a folder
# ---------------------------------------------------------------------------

def test_names_without_leading_slash(mount, proxy, boto):
    """SSM stores a single name the same with or without a leading slash
    ("/foo" is "foo"); it is ssm/foo either way, and a write to ssm/foo
    makes "foo"."""
    boto.ssm.put_parameter(Name="plain", Value="no slash", Type="String")
    boto.ssm.put_parameter(Name="/slashed", Value="with slash", Type="String")
    m = mount()
    assert sorted(os.listdir(m.join("ssm"))) == ["plain", "slashed"]
    assert run('cat "$1"', m.join("ssm", "plain")).stdout == b"no slash"
    assert run('cat "$1"', m.join("ssm", "slashed")).stdout == b"with slash"
    run('echo made > "$1"', m.join("ssm", "made"))
    assert get(boto, "made")["Value"] == "made"
    assert get(boto, "/made")["Value"] == "made"
    names = [p["Name"] for p in boto.ssm.describe_parameters()["Parameters"]]
    assert "made" in names and "/made" not in names
    # Writing through the other spelling changes the same parameter.
    boto.ssm.put_parameter(Name="/made", Value="again", Overwrite=True)
    assert run('cat "$1"', m.join("ssm", "made")).stdout == b"again"


def test_name_that_is_also_a_folder_shows_with_at(mount, boto):
    boto.ssm.put_parameter(Name="/app/db", Value="the db", Type="String")
    boto.ssm.put_parameter(Name="/app/db/user", Value="admin", Type="String")
    boto.ssm.put_parameter(Name="/app/dbx", Value="other", Type="String")
    m = mount()
    assert sorted(os.listdir(m.join("ssm", "app"))) == ["db", "db@", "dbx"]
    assert stat.S_ISDIR(os.stat(m.join("ssm", "app", "db")).st_mode)
    assert run('cat "$1"', m.join("ssm", "app", "db@")).stdout == b"the db"
    assert run('cat "$1"', m.join("ssm", "app", "db", "user")).stdout == b"admin"
    run('printf new > "$1"', m.join("ssm", "app", "db@"))
    assert get(boto, "/app/db")["Value"] == "new"
    assert get(boto, "/app/db/user")["Value"] == "admin"
    # sed -i renames its temp file onto db@: the parameter, not the folder
    run('sed -i "s/new/newer/" "$1"', m.join("ssm", "app", "db@"))
    assert get(boto, "/app/db")["Value"] == "newer"
    assert get(boto, "/app/db/user")["Value"] == "admin"
    assert sorted(os.listdir(m.join("ssm", "app"))) == ["db", "db@", "dbx"]


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------

def test_echo_creates_and_overwrites_keeping_the_type(mount, proxy, boto):
    boto.ssm.put_parameter(Name="/w/sec", Value="old", Type="SecureString",
                           KeyId="alias/custom")
    boto.ssm.put_parameter(Name="/w/list", Value="a,b", Type="StringList")
    m = mount()
    d = m.join("ssm", "w")
    run('echo v > "$1"', os.path.join(d, "new"))
    p = get(boto, "/w/new")
    assert (p["Value"], p["Type"], p["Version"]) == ("v", "String", 1)
    assert sorted(os.listdir(d)) == ["list", "new", "sec"]  # read-your-writes
    assert run('cat "$1"', os.path.join(d, "new")).stdout == b"v"

    proxy.reset()
    run('echo secret2 > "$1"', os.path.join(d, "sec"))
    # An overwrite is one PutParameter: the old value is never fetched.
    assert proxy.counts() == {("ssm", "PutParameter"): 1}, proxy.counts()
    p = get(boto, "/w/sec")
    assert (p["Value"], p["Type"], p["Version"]) == ("secret2", "SecureString", 2)
    assert describe(boto, "/w/sec")["KeyId"] == "alias/custom"
    run('echo c,d > "$1"', os.path.join(d, "list"))
    assert get(boto, "/w/list")["Type"] == "StringList"

    # Only one trailing newline goes; printf without one is stored as is.
    run('printf "two\\n\\n" > "$1"', os.path.join(d, "new"))
    assert get(boto, "/w/new")["Value"] == "two\n"
    run('printf "no newline" > "$1"', os.path.join(d, "new"))
    assert get(boto, "/w/new")["Value"] == "no newline"
    assert run('cat "$1"', os.path.join(d, "new")).stdout == b"no newline"
    # Appending reads the value first (the kernel does not know its size).
    run('echo " more" >> "$1"', os.path.join(d, "new"))
    assert get(boto, "/w/new")["Value"] == "no newline more"
    assert get(boto, "/w/new")["Version"] == 4

    # cp into the mount.
    src = os.path.join(os.path.dirname(m.path), "src.txt")
    with open(src, "w") as f:
        f.write("from a file\n")
    run('cp "$1" "$2"', src, os.path.join(d, "copied"))
    assert get(boto, "/w/copied")["Value"] == "from a file"
    assert proxy.rejected() == []


def test_new_type_and_kms_key_options(mount, boto):
    m = mount("-o", "ssm_new_type=SecureString,ssm_kms_key=alias/mine")
    run('echo hush > "$1"', m.join("ssm", "s"))
    p = get(boto, "s")
    assert (p["Value"], p["Type"]) == ("hush", "SecureString")
    assert describe(boto, "s")["KeyId"] == "alias/mine"
    assert stat.S_IMODE(os.stat(m.join("ssm", "s")).st_mode) == 0o600


def test_parameter_created_elsewhere_keeps_its_type(mount, proxy, boto):
    m = mount("-o", "ssm_ttl=60")
    os.listdir(m.join("ssm"))  # the snapshot no longer knows what comes next
    boto.ssm.put_parameter(Name="late", Value="s", Type="SecureString")
    run('echo overwritten > "$1"', m.join("ssm", "late"))
    p = get(boto, "late")
    assert (p["Value"], p["Type"]) == ("overwritten", "SecureString")
    assert error_lines(m.log()) == []


def test_value_over_the_tier_limit_is_efbig_and_changes_nothing(mount, proxy, boto):
    boto.ssm.put_parameter(Name="/big/std", Value="keep", Type="String")
    boto.ssm.put_parameter(Name="/big/adv", Value="keep", Type="String", Tier="Advanced")
    m = mount()
    d = m.join("ssm", "big")
    proxy.reset()
    assert write_file(os.path.join(d, "std"), b"x" * 4097) == errno.EFBIG
    assert write_file(os.path.join(d, "std"), b"x" * 5000) == errno.EFBIG
    assert write_file(os.path.join(d, "new"), b"x" * 4097) == errno.EFBIG
    r = run('head -c 9000 /dev/zero | tr "\\0" y > "$1"', os.path.join(d, "adv"),
            check=False)
    assert r.returncode != 0 and b"File too large" in r.stderr
    assert proxy.count("ssm", "PutParameter") == 0
    assert get(boto, "/big/std")["Value"] == "keep"
    assert get(boto, "/big/std")["Version"] == 1
    assert get(boto, "/big/adv")["Value"] == "keep"
    assert absent(boto, "/big/new")
    assert sorted(os.listdir(d)) == ["adv", "std"]
    assert any("4096" in ln for ln in error_lines(m.log()))
    # At the limit it goes through, one trailing newline allowed beyond it.
    assert write_file(os.path.join(d, "std"), b"y" * 4096 + b"\n") is None
    assert get(boto, "/big/std")["Value"] == "y" * 4096
    assert write_file(os.path.join(d, "adv"), b"z" * 8192) is None
    p = get(boto, "/big/adv")
    assert p["Value"] == "z" * 8192 and describe(boto, "/big/adv")["Tier"] == "Advanced"


def test_invalid_names_are_einval(mount, proxy, boto):
    m = mount()
    ssm = m.join("ssm")
    os.mkdir(os.path.join(ssm, "ok"))
    proxy.reset()
    for bad in ("ok/with space", "ok/star*", "ok/caf\u00e9", "awsthing", "SSMthing",
                "ok/colon:x"):
        assert write_file(os.path.join(ssm, bad), b"v") == errno.EINVAL, bad
    for bad in ("ok/bad dir", "aws", "ok/x@y"):
        with pytest.raises(OSError) as e:
            os.mkdir(os.path.join(ssm, bad))
        assert e.value.errno == errno.EINVAL, bad
    # 15 levels: a folder 14 deep takes a parameter, a 15th folder would not.
    deep = os.path.join(ssm, *["l%d" % i for i in range(1, 15)])
    os.makedirs(deep)
    with pytest.raises(OSError) as e:
        os.mkdir(os.path.join(deep, "l15"))
    assert e.value.errno == errno.EINVAL
    assert write_file(os.path.join(deep, "leaf"), b"deep") is None
    name = "/" + "/".join("l%d" % i for i in range(1, 15)) + "/leaf"
    assert get(boto, name)["Value"] == "deep"
    assert proxy.counts() == {("ssm", "PutParameter"): 1}, proxy.counts()
    names = [p["Name"] for p in boto.ssm.describe_parameters()["Parameters"]]
    assert names == [name]


def test_empty_value_is_refused(mount, boto):
    """SSM has no empty values. A write that leaves nothing (a lone newline)
    fails at close with EINVAL; a file only truncated or created, with no
    write at all, is refused when its last descriptor goes (close(2) has
    returned by then: the log says it)."""
    boto.ssm.put_parameter(Name="/e/x", Value="keep", Type="String")
    m = mount()
    assert write_file(m.join("ssm", "e", "x"), b"\n") == errno.EINVAL
    assert write_file(m.join("ssm", "e", "x"), b"") is None
    run(': > "$1"', m.join("ssm", "e", "x"))
    assert get(boto, "/e/x")["Value"] == "keep"
    assert get(boto, "/e/x")["Version"] == 1
    run('touch "$1"', m.join("ssm", "e", "x"))  # an existing file: nothing changes
    assert get(boto, "/e/x")["Version"] == 1
    run('touch "$1"', m.join("ssm", "e", "new"), check=False)
    assert absent(boto, "/e/new")
    assert os.listdir(m.join("ssm", "e")) == ["x"]
    lines = [ln for ln in error_lines(m.log()) if "empty value" in ln]
    assert len(lines) == 4 and all("nothing changed" in ln for ln in lines)


# ---------------------------------------------------------------------------
# removing, folders
# ---------------------------------------------------------------------------

def test_rm_and_rm_r(mount, proxy, boto, tree):
    m = mount("-o", "ssm_ttl=60")
    os.listdir(m.join("ssm"))
    proxy.reset()
    run('rm "$1"', m.join("ssm", "single0"))
    assert absent(boto, "single0")
    assert "single0" not in os.listdir(m.join("ssm"))
    assert proxy.counts() == {("ssm", "DeleteParameter"): 1}

    proxy.reset()
    gone = [n for n in tree if n.startswith("/app1/")]
    run('rm -r "$1"', m.join("ssm", "app1"))
    assert not os.path.exists(m.join("ssm", "app1"))
    assert set(all_names(boto)) == set(tree) - set(gone) - {"single0"}
    # rm(1) removes file by file and waits for each answer: one
    # DeleteParameter each, and no listing (the snapshot is kept current).
    assert proxy.counts() == {("ssm", "DeleteParameter"): len(gone)}, proxy.counts()
    assert "app1" not in os.listdir(m.join("ssm"))


def test_sed_i_edits_values_and_never_sends_a_secret_as_a_string(mount, proxy, boto):
    boto.ssm.put_parameter(Name="/ed/plain", Value="port=1", Type="String")
    boto.ssm.put_parameter(Name="/ed/list", Value="a,b", Type="StringList")
    boto.ssm.put_parameter(Name="/ed/sec", Value="pw=old", Type="SecureString",
                           KeyId="alias/custom")
    m = mount()
    d = m.join("ssm", "ed")
    bodies = BodyLog()
    proxy.fault_hook = bodies
    run('sed -i "s/1/2/" "$1"', os.path.join(d, "plain"))
    run('sed -i "s/b/c/" "$1"', os.path.join(d, "list"))
    run('sed -i "s/old/new/" "$1"', os.path.join(d, "sec"))
    proxy.fault_hook = None
    got = {n: (get(boto, n)["Value"], get(boto, n)["Type"])
           for n in ("/ed/plain", "/ed/list", "/ed/sec")}
    assert got == {"/ed/plain": ("port=2", "String"), "/ed/list": ("a,c", "StringList"),
                   "/ed/sec": ("pw=new", "SecureString")}
    assert describe(boto, "/ed/sec")["KeyId"] == "alias/custom"
    # sed's temp file took the edited file's mode (0600) before the value
    # went into it: every request that carried the secret was a SecureString.
    carrying = [b for b in bodies.of("PutParameter") if b["Value"] == "pw=new"]
    assert len(carrying) == 2 and {b["Type"] for b in carrying} == {"SecureString"}, carrying
    # Each edit: the temp file stored, the value stored under the name, the
    # temp file deleted. Nothing is left behind.
    assert len(bodies.of("PutParameter")) == 6 and len(bodies.of("DeleteParameter")) == 3
    assert all_names(boto) == ["/ed/list", "/ed/plain", "/ed/sec"]
    assert sorted(os.listdir(d)) == ["list", "plain", "sec"]
    assert run('cat "$1"', os.path.join(d, "sec")).stdout == b"pw=new"
    assert stat.S_IMODE(os.stat(os.path.join(d, "sec")).st_mode) == 0o600
    assert error_lines(m.log()) == []


def test_mv_moves_a_parameter_value_and_type(mount, proxy, boto):
    boto.ssm.put_parameter(Name="/mv/a", Value="va", Type="SecureString", KeyId="alias/mvkey")
    boto.ssm.put_parameter(Name="/mv/b", Value="vb\n", Type="String")
    boto.ssm.put_parameter(Name="/mv/c", Value="x,y", Type="StringList")
    boto.ssm.put_parameter(Name="/mv/sub/d", Value="vd", Type="String")
    m = mount("-o", "ssm_kms_key=alias/mountkey")
    d = m.join("ssm", "mv")
    # To a new name: the value, the type and the KMS key go along (the
    # mount's ssm_kms_key is another).
    run('mv "$1" "$2"', os.path.join(d, "a"), os.path.join(d, "a2"))
    assert (get(boto, "/mv/a2")["Value"], get(boto, "/mv/a2")["Type"]) == ("va", "SecureString")
    assert describe(boto, "/mv/a2")["KeyId"] == "alias/mvkey"
    assert absent(boto, "/mv/a")
    # Onto a parameter: it keeps its type and takes the value byte for byte
    # (a stored trailing newline stays).
    run('mv "$1" "$2"', os.path.join(d, "b"), os.path.join(d, "c"))
    assert (get(boto, "/mv/c")["Value"], get(boto, "/mv/c")["Type"]) == ("vb\n", "StringList")
    assert absent(boto, "/mv/b")
    # Into another folder.
    run('mv "$1" "$2"', os.path.join(d, "a2"), os.path.join(d, "sub"))
    assert get(boto, "/mv/sub/a2")["Value"] == "va"
    assert sorted(os.listdir(d)) == ["c", "sub"]
    assert sorted(os.listdir(os.path.join(d, "sub"))) == ["a2", "d"]
    assert stat.S_IMODE(os.stat(os.path.join(d, "sub", "a2")).st_mode) == 0o600
    # Folders do not move; a bad new name is EINVAL; nothing changed.
    with pytest.raises(OSError) as e:
        os.rename(os.path.join(d, "sub"), m.join("ssm", "moved"))
    assert e.value.errno == errno.EPERM
    with pytest.raises(OSError) as e:
        os.rename(os.path.join(d, "c"), os.path.join(d, "bad name"))
    assert e.value.errno == errno.EINVAL
    assert all_names(boto) == ["/mv/c", "/mv/sub/a2", "/mv/sub/d"]
    lines = error_lines(m.log())
    assert len(lines) == 2, lines
    assert "/ssm/mv/sub" in lines[0] and "folders do not move" in lines[0], lines
    assert "bad name" in lines[1] and "not a name SSM accepts" in lines[1], lines


def test_chmod_shows_the_type_and_makes_a_new_file_secure(mount, proxy, boto):
    boto.ssm.put_parameter(Name="/cm/s", Value="1", Type="String")
    boto.ssm.put_parameter(Name="/cm/x", Value="2", Type="SecureString")
    m = mount()
    d = m.join("ssm", "cm")
    os.chmod(os.path.join(d, "s"), 0o644)   # what it shows: accepted (cp -p, rsync -p)
    os.chmod(os.path.join(d, "x"), 0o600)
    for name, mode in (("s", 0o600), ("x", 0o644)):
        with pytest.raises(OSError) as e:
            os.chmod(os.path.join(d, name), mode)
        assert e.value.errno == errno.EPERM
    assert get(boto, "/cm/s")["Type"] == "String" and get(boto, "/cm/x")["Type"] == "SecureString"
    lines = error_lines(m.log())
    assert len(lines) == 2 and all("chmod" in ln for ln in lines), lines
    # A new file made private before its value is written is a SecureString;
    # a later chmod does not make it plain text again.
    fd = os.open(os.path.join(d, "new"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(fd, 0o600)
    assert stat.S_IMODE(os.fstat(fd).st_mode) == 0o600
    os.fchmod(fd, 0o644)
    os.write(fd, b"s3cret")
    os.close(fd)
    assert (get(boto, "/cm/new")["Value"], get(boto, "/cm/new")["Type"]) == (
        "s3cret", "SecureString")
    assert stat.S_IMODE(os.stat(os.path.join(d, "new")).st_mode) == 0o600


def test_mkdir_and_rmdir(mount, proxy, boto):
    boto.ssm.put_parameter(Name="/d/x", Value="1", Type="String")
    m = mount("-o", "ssm_ttl=1")
    d = m.join("ssm", "d")
    os.mkdir(os.path.join(d, "empty"))
    os.mkdir(os.path.join(d, "filled"))
    assert sorted(os.listdir(d)) == ["empty", "filled", "x"]
    with pytest.raises(FileExistsError):
        os.mkdir(os.path.join(d, "empty"))
    with pytest.raises(FileExistsError):
        os.mkdir(os.path.join(d, "x"))
    run('echo inside > "$1"', os.path.join(d, "filled", "y"))
    assert get(boto, "/d/filled/y")["Value"] == "inside"
    with pytest.raises(OSError) as e:
        os.rmdir(os.path.join(d, "filled"))
    assert e.value.errno == errno.ENOTEMPTY
    os.mkdir(os.path.join(d, "gone"))
    os.rmdir(os.path.join(d, "gone"))
    assert sorted(os.listdir(d)) == ["empty", "filled", "x"]
    # The empty folder lives until the first listing after the ttl; the
    # written one is real.
    time.sleep(1.3)
    assert sorted(os.listdir(d)) == ["filled", "x"]
    assert os.listdir(os.path.join(d, "filled")) == ["y"]
    assert proxy.count("ssm", "PutParameter") == 1


# ---------------------------------------------------------------------------
# errors, retries, secrets
# ---------------------------------------------------------------------------

def canned(code, message, status=400):
    st, headers, body = error_response("ssm", code, message, status, new_request_id("ssm"))
    return CannedResponse(st, headers, body)


def test_parameter_limit_exceeded_is_enospc(mount, proxy, boto):
    m = mount()
    os.listdir(m.join("ssm"))
    proxy.fault_hook = lambda info: (canned("ParameterLimitExceeded",
                                            "You have exceeded the number of parameters")
                                     if info.op == "PutParameter" else None)
    assert write_file(m.join("ssm", "one-too-many"), b"v") == errno.ENOSPC
    proxy.fault_hook = None
    assert absent(boto, "one-too-many")
    assert "one-too-many" not in os.listdir(m.join("ssm"))
    assert any("ParameterLimitExceeded" in ln for ln in error_lines(m.log()))


def test_throttling_is_retried(mount, proxy, boto):
    boto.ssm.put_parameter(Name="/r/x", Value="v1", Type="SecureString")
    m = mount()
    os.listdir(m.join("ssm", "r"))
    faults = Faults(rate=1.0, kinds=["slowdown"], services=["ssm"], limit=2,
                    ops=["GetParameter"])
    proxy.fault_hook = faults
    proxy.reset()
    assert run('cat "$1"', m.join("ssm", "r", "x")).stdout == b"v1"
    assert faults.total() == 2
    assert proxy.count("ssm", "GetParameter") == 3
    faults = Faults(rate=1.0, kinds=["slowdown"], services=["ssm"], limit=2,
                    ops=["PutParameter"])
    proxy.fault_hook = faults
    run('echo v2 > "$1"', m.join("ssm", "r", "x"))
    assert faults.total() == 2
    assert get(boto, "/r/x")["Value"] == "v2"
    st = mount_stats(m)["ssm"]
    assert st["GetParameter"]["throttles"] == 2 and st["PutParameter"]["throttles"] == 2
    assert error_lines(m.log()) == []


def test_secure_values_never_reach_the_log(mount, proxy, boto, tmp_path):
    old = "OLDSECRET-" + secrets.token_hex(12)
    new = "NEWSECRET-" + secrets.token_hex(12)
    made = "MADESECRET-" + secrets.token_hex(12)
    boto.ssm.put_parameter(Name="/s/x", Value=old, Type="SecureString")
    cache_dir = tmp_path / "cache"
    m = mount("-o", "ssm_new_type=SecureString,cache_dir=%s" % cache_dir)  # log_level=debug
    assert run('cat "$1"', m.join("ssm", "s", "x")).stdout == old.encode()
    run('echo "$2" > "$1"', m.join("ssm", "s", "x"), new)
    run('echo "$2" > "$1"', m.join("ssm", "s", "made"), made)
    run('cat "$1" "$2"', m.join("ssm", "s", "x"), m.join("ssm", "s", "made"))
    # An error answer that echoes the value (as validation errors do).
    echoed = "ECHOED-" + secrets.token_hex(12)

    def echo_back(info):
        if info.op == "PutParameter":
            v = json.loads(info.body)["Value"]
            return canned("ValidationException", "Value '%s' failed to satisfy" % v)
        return None
    proxy.fault_hook = echo_back
    assert write_file(m.join("ssm", "s", "x"), echoed.encode()) == errno.EINVAL
    proxy.fault_hook = None
    assert get(boto, "/s/x")["Value"] == new
    log = m.log()
    assert "PutParameter" in log and "ValidationException" in log
    for secret in (old, new, made, echoed):
        assert secret not in log
        # No file under the test's folders (HOME, the log, the disk
        # cache) but the mount itself.
        r = subprocess.run(["grep", "-rl", "--exclude-dir=mnt*", secret, str(tmp_path)],
                           capture_output=True)
        assert r.stdout == b"", r.stdout
        for f in ("stats", "config", "version"):
            with open(m.join(".awsfs", f), "rb") as fh:
                assert secret.encode() not in fh.read()
    assert os.path.isdir(cache_dir)

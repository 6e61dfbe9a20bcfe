"""awsfs benchmark: awsfs beside s3fs, rclone mount, raw curl and the AWS CLI.

Run through bench/run (which installs what is needed). Everything runs on
127.0.0.1: s3rver (S3) and moto (DynamoDB, SSM, SQS), started here and
stopped at the end. Each workload runs cold (page cache dropped, a fresh
mount) BENCH_RUNS times per client; a cell holds the median wall time, the
FUSE daemon's CPU seconds (utime+stime from /proc/PID/stat, before and
after), its peak RSS (VmHWM of the fresh daemon) and the requests the server
logged for the run (s3rver's koa log lines, moto's werkzeug access lines:
the servers' own counts, no proxy in the data path).
"""

import datetime
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AWSFS = os.environ.get("AWSFS_BIN") or os.path.join(ROOT, "build", "awsfs")
MOTO_PY = os.environ.get("BENCH_MOTO_PYTHON") or "python3"
QUICK = os.environ.get("BENCH_QUICK") == "1"
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SIZE_MIB = int(os.environ.get("BENCH_SIZE_MIB", "32" if QUICK else "512"))
NKEYS = int(os.environ.get("BENCH_KEYS", "1000" if QUICK else "10000"))
NFOLDERS = int(os.environ.get("BENCH_FOLDERS", "20" if QUICK else "100"))
NTREE = int(os.environ.get("BENCH_TREE_KEYS", "400" if QUICK else "2000"))
NSMALL = int(os.environ.get("BENCH_SMALL_FILES", "100" if QUICK else "500"))
NRAND = int(os.environ.get("BENCH_RANDOM_READS", "200"))
NDDB = int(os.environ.get("BENCH_DDB_ITEMS", "1000" if QUICK else "5000"))
NSSM = int(os.environ.get("BENCH_SSM_PARAMS", "100" if QUICK else "500"))
NSQS = int(os.environ.get("BENCH_SQS_MESSAGES", "100" if QUICK else "500"))
# The CLI pays ~1.3 s a call; its SQS job is ~150 calls: fewer runs by default.
CLI_SQS_RUNS = int(os.environ.get("BENCH_CLI_SQS_RUNS", "1"))
ONLY = [w for w in os.environ.get("BENCH_ONLY", "").split(",") if w]
CLIENTS = [c for c in os.environ.get("BENCH_CLIENTS", "awsfs,s3fs,rclone,curl,cli").split(",")
           if c]
OUT = os.environ.get("BENCH_OUT") or os.path.join(ROOT, "bench", "RESULTS.md")
DATA = os.environ.get("BENCH_DATA", "/dev/shm")
BUCKET = "bench"
KEY_BIG = "big.bin"
REGION = "us-east-1"
S3KEY = "S3RVER"
CLK = os.sysconf("SC_CLK_TCK")
AWSCLI = "/usr/bin/aws" if os.path.exists("/usr/bin/aws") else None

started = []      # Popen objects we own (stopped at exit)
mounted = []      # mountpoints we own


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def base_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(no_proxy="127.0.0.1,localhost", NO_PROXY="127.0.0.1,localhost",
               AWS_EC2_METADATA_DISABLED="true", AWS_DEFAULT_REGION=REGION,
               AWS_REGION=REGION, AWS_PAGER="")
    env.update(extra)
    return env


def stop(proc, timeout=15):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def is_mounted(path):
    path = os.path.abspath(path)
    with open("/proc/mounts") as f:
        return any(line.split()[1] == path for line in f if len(line.split()) > 1)


def unmount(path):
    for args in (["-u"], ["-uz"]):
        if not is_mounted(path):
            return
        subprocess.run(["fusermount3", *args, path], capture_output=True)
        deadline = time.time() + 5
        while is_mounted(path) and time.time() < deadline:
            time.sleep(0.05)


def drop_caches():
    subprocess.run(["sync"])
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


# --------------------------------------------------------------------------
# servers and their request logs
# --------------------------------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;]*m")
SIZE_UNITS = {"b": 1, "kb": 1024, "mb": 1024 ** 2, "gb": 1024 ** 3}


class Server:
    """A server whose log counts requests: mark() then since(mark)."""

    def __init__(self, name, proc, url, log_path, pattern):
        self.name, self.proc, self.url, self.log_path = name, proc, url, log_path
        self.pattern = pattern

    def settle(self):
        """The log's size once the server has stopped writing to it."""
        size, quiet_since = os.path.getsize(self.log_path), time.monotonic()
        while time.monotonic() - quiet_since < 0.5:
            time.sleep(0.1)
            now = os.path.getsize(self.log_path)
            if now != size:
                size, quiet_since = now, time.monotonic()
        return size

    def mark(self):
        return self.settle()

    def since(self, mark):
        """(requests, bytes of GET response bodies when the log says) since mark."""
        self.settle()
        with open(self.log_path, "rb") as f:
            f.seek(mark)
            text = ANSI.sub("", f.read().decode("utf-8", "replace"))
        n, nbytes = 0, 0
        for line in text.splitlines():
            m = self.pattern.search(line)
            if not m:
                continue
            n += 1
            size = m.groupdict().get("size")
            sm = re.match(r"([\d.]+)(b|kb|mb|gb)$", size or "")
            if sm and m.group("method") == "GET":
                nbytes += float(sm.group(1)) * SIZE_UNITS[sm.group(2)]
        return n, int(nbytes)


def start_s3rver(tmp):
    d = os.path.join(ROOT, ".deps", "npm", "node_modules", "s3rver")
    port = free_port()
    data = tempfile.mkdtemp(prefix="awsfs-bench-s3rver-", dir=DATA)
    log_path = os.path.join(tmp, "s3rver.log")
    # FORCE_COLOR: without colours s3rver's logger cuts the method and path off
    env = dict(os.environ, NODE_OPTIONS="--openssl-legacy-provider", FORCE_COLOR="1")
    with open(log_path, "wb") as lf:
        proc = subprocess.Popen(["node", os.path.join(d, "bin", "s3rver.js"), "-d", data,
                                 "-a", "127.0.0.1", "-p", str(port), "--no-vhost-buckets"],
                                stdin=subprocess.DEVNULL, stdout=lf, stderr=lf, env=env)
    started.append(proc)
    url = "http://127.0.0.1:%d" % port
    # s3rver logs one line a response (koa-logger's, coloured, of which it
    # keeps the part after the arrow): "GET /bucket/key 206 3ms 4kb".
    pat = re.compile(r"(?P<method>[A-Z]+) (?P<path>/\S*) (?P<status>\d{3}) "
                     r"[\d,.]+m?s(?: (?P<size>\S+))?\s*$")
    srv = Server("s3rver", proc, url, log_path, pat)
    srv.data = data
    return srv


def start_moto(tmp):
    port = free_port()
    log_path = os.path.join(tmp, "moto.log")
    env = base_env(AWS_ACCESS_KEY_ID="moto", AWS_SECRET_ACCESS_KEY="moto")
    with open(log_path, "wb") as lf:
        proc = subprocess.Popen([MOTO_PY, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                                 str(port)], stdin=subprocess.DEVNULL, stdout=lf, stderr=lf,
                                env=env)
    started.append(proc)
    url = "http://127.0.0.1:%d" % port
    pat = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/1\.[01]" (?P<status>\d{3})')
    return Server("moto", proc, url, log_path, pat)


def wait_server(client_fn, proc, what, timeout=60):
    deadline = time.time() + timeout
    while True:
        try:
            client_fn()
            return
        except Exception:
            if time.time() > deadline or proc.poll() is not None:
                raise SystemExit("bench: %s did not start" % what)
            time.sleep(0.3)


def boto_client(svc, url, key, secret):
    import boto3
    from botocore.config import Config
    return boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret,
                                 region_name=REGION).client(
        svc, endpoint_url=url, config=Config(s3={"addressing_style": "path"},
                                             retries={"max_attempts": 5},
                                             max_pool_connections=16))


# --------------------------------------------------------------------------
# clients: mounts, and processes to measure
# --------------------------------------------------------------------------

def proc_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def proc_rchar(pid):
    """Bytes the process read through read(2) and recv(2) (sockets, /dev/fuse)."""
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                if line.startswith("rchar:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def proc_hwm(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


class Mounted:
    def __init__(self, name, proc, path, root, log_path):
        self.name, self.proc, self.path, self.root, self.log_path = (
            name, proc, path, root, log_path)

    @property
    def pid(self):
        return self.proc.pid

    def close(self):
        unmount(self.path)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            stop(self.proc)
        if self.proc in started:
            started.remove(self.proc)
        if self.path in mounted:
            mounted.remove(self.path)


def mount(kind, s3, moto, tmp, services="s3"):
    path = os.path.join(tmp, "mnt-" + kind)
    os.makedirs(path, exist_ok=True)
    log_path = os.path.join(tmp, "%s.log" % kind)
    if kind == "awsfs":
        if services == "s3":
            env = base_env(AWS_ACCESS_KEY_ID=S3KEY, AWS_SECRET_ACCESS_KEY=S3KEY)
            cmd = [AWSFS, BUCKET, path, "-f", "-o", "endpoint=%s,region=%s" % (s3.url, REGION)]
            root = path
        else:
            env = base_env(AWS_ACCESS_KEY_ID="moto", AWS_SECRET_ACCESS_KEY="moto")
            cmd = [AWSFS, path, "-f", "-o", "endpoint=%s,region=%s,services=%s"
                   % (moto.url, REGION, services)]
            root = path
        extra = os.environ.get("BENCH_AWSFS_OPTS")
        if extra:
            cmd += ["-o", extra]
    elif kind == "s3fs":
        pw = os.path.join(tmp, "s3fs.passwd")
        with open(pw, "w") as f:
            f.write("%s:%s\n" % (S3KEY, S3KEY))
        os.chmod(pw, 0o600)
        env = base_env()
        cmd = ["s3fs", BUCKET, path, "-f", "-o", "url=%s,use_path_request_style,"
               "passwd_file=%s,endpoint=%s" % (s3.url, pw, REGION)]
        root = path
    elif kind == "rclone":
        env = base_env(RCLONE_CONFIG_BENCH_TYPE="s3", RCLONE_CONFIG_BENCH_PROVIDER="Other",
                       RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=S3KEY,
                       RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=S3KEY,
                       RCLONE_CONFIG_BENCH_ENDPOINT=s3.url,
                       RCLONE_CONFIG_BENCH_REGION=REGION,
                       RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE="true",
                       RCLONE_CONFIG=os.path.join(tmp, "rclone.conf"))
        env.pop("AWS_CA_BUNDLE", None)
        cmd = ["env", "-u", "AWS_CA_BUNDLE", "rclone", "mount", "bench:" + BUCKET, path]
        root = path
    else:
        raise ValueError(kind)
    with open(log_path, "ab") as lf:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=lf, stderr=lf, env=env)
    started.append(proc)
    mounted.append(path)
    deadline = time.time() + 30
    while not is_mounted(path):
        if proc.poll() is not None or time.time() > deadline:
            stop(proc)
            with open(log_path, errors="replace") as f:
                raise SystemExit("bench: %s did not mount:\n%s" % (kind, f.read()[-3000:]))
        time.sleep(0.05)
    # `env -u ... rclone` execs: the pid stays rclone's.
    return Mounted(kind, proc, path, root, log_path)


# --------------------------------------------------------------------------
# measurement
# --------------------------------------------------------------------------

class Cell:
    def __init__(self):
        self.times, self.cpus, self.rss, self.reqs, self.nbytes = [], [], [], [], []
        self.rchars, self.srv_cpus = [], []
        self.note = ""

    def add(self, t, cpu, rss, reqs, nbytes, rchar=None, srv_cpu=None):
        self.rchars.append(rchar)
        self.srv_cpus.append(srv_cpu)
        self.times.append(t)
        self.cpus.append(cpu)
        self.rss.append(rss)
        self.reqs.append(reqs)
        self.nbytes.append(nbytes)

    def med(self, xs):
        xs = [x for x in xs if x is not None]
        return statistics.median(xs) if xs else None

    @property
    def time(self):
        return self.med(self.times)

    @property
    def cpu(self):
        return self.med(self.cpus)

    @property
    def peak(self):
        xs = [x for x in self.rss if x]
        return max(xs) if xs else None

    @property
    def req(self):
        return self.med(self.reqs)

    @property
    def mbytes(self):
        return self.med(self.nbytes)

    @property
    def rchar(self):
        return self.med(self.rchars)

    @property
    def srv_cpu(self):
        return self.med(self.srv_cpus)


RESULTS = {}   # (workload, client) -> Cell
ORDER = []     # workloads in order


def cell(work, client):
    if work not in ORDER:
        ORDER.append(work)
    return RESULTS.setdefault((work, client), Cell())


def measure(work, client, server, fn, pid=None, check=None):
    """Time fn() once; account the daemon pid's CPU, the server's requests
    and the server's own CPU (all its threads) over the same span."""
    mark = server.mark()
    srv0 = proc_cpu(server.proc.pid)
    cpu0 = proc_cpu(pid) if pid else None
    rc0 = proc_rchar(pid) if pid else None
    t0 = time.monotonic()
    fn()
    t = time.monotonic() - t0
    cpu = proc_cpu(pid) - cpu0 if pid else None
    rss = proc_hwm(pid) if pid else None
    rc1 = proc_rchar(pid) if pid else None
    rchar = rc1 - rc0 if rc0 is not None and rc1 is not None else None
    n, nbytes = server.since(mark)
    srv = proc_cpu(server.proc.pid) - srv0
    if check:
        check()
    cell(work, client).add(t, cpu, rss, n, nbytes, rchar, srv)
    log("%-26s %-7s %7.2fs  cpu %s  rss %s  requests %d  %s%s" % (
        work, client, t, "%.2f" % cpu if cpu is not None else "-",
        "%.0fM" % (rss / 2 ** 20) if rss else "-", n,
        "answered %.2f MB  " % (nbytes / 1e6) if nbytes else "",
        "server cpu %.2f" % srv))


def sh(cmd, **kw):
    r = subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (cmd, r.returncode,
                                                r.stderr.decode(errors="replace")[-2000:]))
    return r


def want(work):
    return not ONLY or any(work.startswith(o) for o in ONLY)


# --------------------------------------------------------------------------
# S3 workloads (s3rver)
# --------------------------------------------------------------------------

def curl_base(s3):
    return ["curl", "-sSf", "--aws-sigv4", "aws:amz:%s:s3" % REGION,
            "--user", "%s:%s" % (S3KEY, S3KEY), "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]


def seed_s3(s3, c, src):
    log("seeding s3rver: %d MiB object, %d keys, %d keys in %d folders" % (
        SIZE_MIB, NKEYS, NTREE, NFOLDERS))
    c.create_bucket(Bucket=BUCKET)
    sh(curl_base(s3) + ["-T", src, "%s/%s/%s" % (s3.url, BUCKET, KEY_BIG)])
    from concurrent.futures import ThreadPoolExecutor
    keys = ["many/k%05d" % i for i in range(NKEYS)]
    per = max(1, NTREE // NFOLDERS)
    keys += ["tree/d%03d/k%04d" % (i // per, i) for i in range(NTREE)]
    # s3rver leaves a prefix holding only sub-prefixes out of delimiter
    # listings (TESTING.md): one key directly in tree/ keeps it visible.
    keys.append("tree/index")
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda k: c.put_object(Bucket=BUCKET, Key=k, Body=b"0123456789"), keys))


def s3_workloads(s3, tmp, c, src):
    """Each workload: for each run, every client in turn (so that load from
    elsewhere on the machine hits them alike)."""
    size = SIZE_MIB << 20
    kinds = [k for k in ("curl", "awsfs", "s3fs", "rclone", "cli") if k in CLIENTS]
    if not AWSCLI and "cli" in kinds:
        kinds.remove("cli")
    mounts = [k for k in kinds if k not in ("curl", "cli")]
    env_cli = base_env(AWS_ACCESS_KEY_ID=S3KEY, AWS_SECRET_ACCESS_KEY=S3KEY)
    s3cli = [AWSCLI, "--endpoint-url", s3.url, "s3"]
    dl = os.path.join(DATA, "awsfs-bench-cli-%d.bin" % os.getpid())

    def cli_get():
        try:
            sh(s3cli + ["cp", "--quiet", "s3://%s/%s" % (BUCKET, KEY_BIG), dl], env=env_cli)
        finally:
            if os.path.exists(dl):
                os.unlink(dl)
    rng = random.Random(42)
    offsets = [rng.randrange(0, size // 4096) * 4096 for _ in range(NRAND)]
    offs_file = os.path.join(tmp, "offsets.json")
    with open(offs_file, "w") as f:
        json.dump(offsets, f)
    wobj = "w/write.bin"
    url_big = "%s/%s/%s" % (s3.url, BUCKET, KEY_BIG)

    def check_written():
        h = c.head_object(Bucket=BUCKET, Key=wobj)
        assert h["ContentLength"] == size, h

    def delete_written():
        try:
            c.delete_object(Bucket=BUCKET, Key=wobj)
        except Exception:
            pass

    def fresh(kind):
        drop_caches()
        return mount(kind, s3, None, tmp)

    def once(work, kind, body, check=None, after=None):
        if kind in ("curl", "cli"):
            drop_caches()
            measure(work, kind, s3, body, check=check)
        else:
            m = fresh(kind)
            try:
                measure(work, kind, s3, lambda: body(m), pid=m.pid, check=check)
            finally:
                m.close()
        if after:
            after()

    def each(work, bodies, check=None, after=None):
        for _ in range(RUNS):
            for kind in kinds:
                if kind in bodies:
                    once(work, kind, bodies[kind], check=check, after=after)

    seq_read = "sequential read %d MiB" % SIZE_MIB
    seq_write = "sequential write %d MiB" % SIZE_MIB
    rand = "%d random 4 KiB reads" % NRAND
    ls1 = "ls of %d keys" % NKEYS
    ls2 = "ls -l of %d keys" % NKEYS
    find = "find over %d keys in %d folders" % (NTREE, NFOLDERS)
    create = "create %d 1 KiB files" % NSMALL
    delete = "delete %d 1 KiB files" % NSMALL

    def curl_read():
        n = 4
        step = size // n
        procs = [subprocess.Popen(curl_base(s3) + ["-r", "%d-%d" % (
            i * step, size - 1 if i == n - 1 else (i + 1) * step - 1), "-o",
            "/dev/null", url_big]) for i in range(n)]
        if any(p.wait() != 0 for p in procs):
            raise RuntimeError("curl failed")

    def curl_rand():
        args = []
        for i, o in enumerate(offsets):
            if i:
                args.append("--next")
            args += curl_base(s3)[1:] + ["-r", "%d-%d" % (o, o + 4095), "-o", "/dev/null",
                                         url_big]
        sh(["curl"] + args)

    def fs_write(m):
        os.makedirs(os.path.join(m.root, "w"), exist_ok=True)
        sh(["dd", "if=" + src, "of=" + os.path.join(m.root, wobj), "bs=1M", "conv=fsync"])

    def on_mounts(body):
        return {k: body for k in mounts}

    if want(seq_read):
        each(seq_read, dict(on_mounts(lambda m: sh(
            ["dd", "if=" + os.path.join(m.root, KEY_BIG), "of=/dev/null", "bs=1M"])),
            curl=curl_read, cli=cli_get))
        cell(seq_read, "curl").note = "4 ranged GETs in parallel"
    if want(seq_write):
        each(seq_write, dict(on_mounts(fs_write), curl=lambda: sh(
            curl_base(s3) + ["-T", src, "%s/%s/%s" % (s3.url, BUCKET, wobj)]),
            cli=lambda: sh(s3cli + ["cp", "--quiet", src, "s3://%s/%s" % (BUCKET, wobj)],
                           env=env_cli)),
            check=check_written, after=delete_written)
        cell(seq_write, "curl").note = "one PUT"
    if want(rand):
        each(rand, dict(on_mounts(lambda m: sh(
            ["/usr/bin/python3", os.path.join(ROOT, "bench", "randread.py"),
             os.path.join(m.root, KEY_BIG), offs_file])), curl=curl_rand))
        cell(rand, "curl").note = "one curl, %d ranges, one connection" % NRAND
        for k in mounts:
            cell(rand, k).note = "pread() after posix_fadvise(RANDOM), as fio does"
    if want("ls"):
        each(ls1, on_mounts(lambda m: sh(["ls", os.path.join(m.root, "many")])))
        each(ls2, dict(on_mounts(lambda m: sh(["ls", "-l", os.path.join(m.root, "many")])),
                       cli=lambda: sh(s3cli + ["ls", "s3://%s/many/" % BUCKET], env=env_cli)))
        cell(ls2, "cli").note = "aws s3 ls s3://bench/many/ (sizes and dates too)"
    if want("find"):
        each(find, dict(on_mounts(lambda m: sh(["find", os.path.join(m.root, "tree")])),
                        cli=lambda: sh(s3cli + ["ls", "--recursive", "s3://%s/tree/" % BUCKET],
                                       env=env_cli)))
        cell(find, "cli").note = "aws s3 ls --recursive s3://bench/tree/"
    if want("create"):
        tool = os.path.join(ROOT, "bench", "smallfiles.py")
        for run in range(RUNS):
            for kind in mounts:
                d = "small-%s-%d" % (kind, run)
                m = fresh(kind)
                try:
                    os.mkdir(os.path.join(m.root, d))
                    measure(create, kind, s3, lambda: sh(
                        ["/usr/bin/python3", tool, "create", os.path.join(m.root, d),
                         str(NSMALL)]), pid=m.pid)
                finally:
                    m.close()
                got = [o for p in c.get_paginator("list_objects_v2").paginate(
                    Bucket=BUCKET, Prefix=d + "/")
                    for o in p.get("Contents", []) if not o["Key"].endswith("/")]
                assert len(got) == NSMALL, (kind, len(got))
                m = fresh(kind)
                try:
                    measure(delete, kind, s3, lambda: sh(
                        ["/usr/bin/python3", tool, "delete", os.path.join(m.root, d),
                         str(NSMALL)]), pid=m.pid)
                finally:
                    m.close()
                for p in c.get_paginator("list_objects_v2").paginate(Bucket=BUCKET,
                                                                      Prefix=d):
                    for o in p.get("Contents", []):
                        c.delete_object(Bucket=BUCKET, Key=o["Key"])
        for k in mounts:
            cell(create, k).note = "mkdir first (not counted), then open/write/close each"


# --------------------------------------------------------------------------
# DynamoDB, SSM, SQS (moto)
# --------------------------------------------------------------------------

def seed_moto(moto):
    log("seeding moto: %d DynamoDB items, %d SSM parameters" % (NDDB, NSSM))
    ddb = boto_client("dynamodb", moto.url, "moto", "moto")
    ddb.create_table(TableName="benchitems", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    for i in range(0, NDDB, 25):
        ddb.batch_write_item(RequestItems={"benchitems": [
            {"PutRequest": {"Item": {"id": {"S": "item%05d" % j},
                                     "name": {"S": "name of item %d" % j},
                                     "n": {"N": str(j)}}}}
            for j in range(i, min(NDDB, i + 25))]})
    ssm = boto_client("ssm", moto.url, "moto", "moto")
    for i in range(NSSM):
        ssm.put_parameter(Name="/bench/g%02d/p%04d" % (i % 10, i), Value="value-%d" % i,
                          Type="String")


def cli(args, env):
    sh([AWSCLI] + args + ["--output", "json"], env=env)


def moto_workloads(moto, tmp):
    env_cli = base_env(AWS_ACCESS_KEY_ID="moto", AWS_SECRET_ACCESS_KEY="moto",
                       AWS_ENDPOINT_URL=moto.url)
    ep = ["--endpoint-url", moto.url]
    sqs = boto_client("sqs", moto.url, "moto", "moto")
    ddbw = "DynamoDB: list %d items" % NDDB
    ssmw = "SSM: read %d-parameter tree" % NSSM
    sqsw = "SQS: send+receive %d messages" % NSQS

    def fresh():
        drop_caches()
        return mount("awsfs", None, moto, tmp, services="dynamodb,ssm,sqs")

    def with_mount(work, body):
        for _ in range(RUNS):
            m = fresh()
            try:
                measure(work, "awsfs", moto, lambda: body(m), pid=m.pid)
            finally:
                m.close()

    if want("DynamoDB"):
        def ls_table(m):
            out = sh(["ls", os.path.join(m.root, "dynamodb", "benchitems")]).stdout.split()
            assert len(out) >= NDDB, len(out)
        if "awsfs" in CLIENTS:
            with_mount(ddbw, ls_table)
            cell(ddbw, "awsfs").note = "ls of the table folder (keys)"
        if "cli" in CLIENTS and AWSCLI:
            for _ in range(RUNS):
                measure(ddbw, "cli", moto, lambda: cli(
                    ep + ["dynamodb", "scan", "--table-name", "benchitems",
                          "--projection-expression", "id"], env_cli))
            cell(ddbw, "cli").note = "aws dynamodb scan --projection-expression id"
    if want("SSM"):
        def read_tree(m):
            sh(["grep", "-r", "", os.path.join(m.root, "ssm", "bench")])
        if "awsfs" in CLIENTS:
            with_mount(ssmw, read_tree)
            cell(ssmw, "awsfs").note = "grep -r '' (every value read)"
        if "cli" in CLIENTS and AWSCLI:
            for _ in range(RUNS):
                measure(ssmw, "cli", moto, lambda: cli(
                    ep + ["ssm", "get-parameters-by-path", "--path", "/bench", "--recursive",
                          "--with-decryption"], env_cli))
            cell(ssmw, "cli").note = "aws ssm get-parameters-by-path --recursive"
    if want("SQS"):
        def new_queue(name):
            return sqs.create_queue(QueueName=name,
                                    Attributes={"VisibilityTimeout": "30"})["QueueUrl"]

        def left(url):
            a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
            return sum(int(v) for v in a["Attributes"].values())

        if "awsfs" in CLIENTS:
            for run in range(RUNS):
                q = "bench-fs-%d" % run
                url = new_queue(q)
                m = fresh()
                try:
                    measure(sqsw, "awsfs", moto, lambda: sh(
                        ["/usr/bin/python3", os.path.join(ROOT, "bench", "sqsjob.py"),
                         os.path.join(m.root, "sqs", q), str(NSQS)]), pid=m.pid)
                finally:
                    m.close()
                assert left(url) == 0, "messages left in %s" % q
            cell(sqsw, "awsfs").note = "send-lines, then ls messages/ + cat + rm"
        if "cli" in CLIENTS and AWSCLI:
            for run in range(CLI_SQS_RUNS):
                url = new_queue("bench-cli-%d" % run)

                def job():
                    for i in range(0, NSQS, 10):
                        entries = [{"Id": str(j), "MessageBody": "message %d" % j}
                                   for j in range(i, min(NSQS, i + 10))]
                        cli(ep + ["sqs", "send-message-batch", "--queue-url", url,
                                  "--entries", json.dumps(entries)], env_cli)
                    got = 0
                    while got < NSQS:
                        r = sh([AWSCLI] + ep + ["sqs", "receive-message", "--queue-url", url,
                                                "--max-number-of-messages", "10",
                                                "--output", "json"], env=env_cli)
                        msgs = json.loads(r.stdout or b"{}").get("Messages", [])
                        if not msgs:
                            continue
                        got += len(msgs)
                        cli(ep + ["sqs", "delete-message-batch", "--queue-url", url,
                                  "--entries", json.dumps([
                                      {"Id": str(k), "ReceiptHandle": mm["ReceiptHandle"]}
                                      for k, mm in enumerate(msgs)])], env_cli)
                measure(sqsw, "cli", moto, job)
                assert left(url) == 0
            cell(sqsw, "cli").note = ("send-message-batch, receive-message (10), "
                                      "delete-message-batch; %d run(s)" % CLI_SQS_RUNS)


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------

def versions():
    def out(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            return (r.stdout or r.stderr).strip().splitlines()[0]
        except Exception:
            return "?"
    awsfs_v = out([AWSFS, "--version"])
    git = out(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    return [
        ("awsfs", "%s (commit %s)" % (awsfs_v, git)),
        ("s3fs", out(["s3fs", "--version"])),
        ("rclone", out(["rclone", "version"])),
        ("curl", out(["curl", "--version"])),
        ("aws cli", out([AWSCLI, "--version"]) if AWSCLI else "not installed (boto3 stand-in)"),
        ("s3rver", json.load(open(os.path.join(
            ROOT, ".deps/npm/node_modules/s3rver/package.json")))["version"]),
        ("moto", out([MOTO_PY, "-c", "import moto; print(moto.__version__)"])),
        ("fio", out(["fio", "--version"])),
    ]


def machine():
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return "%d cores (%s), %d MiB memory, Linux %s" % (os.cpu_count(), cpu, mem,
                                                       platform.release())


def fmt_cell(c, work):
    if c is None or c.time is None:
        return "-"
    s = "%.2f s" % c.time
    bits = []
    if c.req is not None:
        bits.append("%d req" % round(c.req))
    if "random" in work and c.mbytes is not None:
        bits.append("%.2f MB" % (c.mbytes / 1e6))
    if c.cpu is not None:
        bits.append("cpu %.2f s" % c.cpu)
    if c.peak:
        bits.append("%.0f MiB" % (c.peak / 2 ** 20))
    if c.srv_cpu is not None:
        bits.append("server %.2f s" % c.srv_cpu)
    return s + (" (" + ", ".join(bits) + ")" if bits else "")


def ratio(a, b):
    """How many times faster a is than b (b/a), or None."""
    if a is None or b is None or a.time is None or b.time is None or a.time <= 0:
        return None
    return b.time / a.time


def targets():
    """[(target, figure, met)] for the done-when list of issue 9."""
    out = []

    def get(prefix, client):
        for (w, c), v in RESULTS.items():
            if w.startswith(prefix) and c == client:
                return v
        return None

    def add(name, figure, met):
        out.append((name, figure, "met" if met else "NOT met"))

    a, cu, sf, rc = (get("sequential read", k) for k in ("awsfs", "curl", "s3fs", "rclone"))
    if a and cu and sf:
        r1, r2 = ratio(a, cu), ratio(a, sf)
        add("sequential read >= 0.9x raw curl, >= 1.5x s3fs",
            "%.2fx curl, %.2fx s3fs" % (r1, r2), r1 >= 0.9 and r2 >= 1.5)
    a, cu, sf = (get("sequential write", k) for k in ("awsfs", "curl", "s3fs"))
    if a and cu and sf:
        r1, r2 = ratio(a, cu), ratio(a, sf)
        add("sequential write >= 0.8x raw curl PUT, >= 2x s3fs",
            "%.2fx curl, %.2fx s3fs" % (r1, r2), r1 >= 0.8 and r2 >= 2)
    a, sf = get("ls -l", "awsfs"), get("ls -l", "s3fs")
    if a and sf:
        lim = NKEYS // 1000 + 1
        add("ls -l of %d keys: <= %d requests, >= 4x s3fs" % (NKEYS, lim),
            "%d requests, %.2fx s3fs" % (a.req, ratio(a, sf)),
            a.req <= lim and ratio(a, sf) >= 4)
    a, rc = get("find", "awsfs"), get("find", "rclone")
    if a and rc:
        # find lists every folder it walks: tree/ and its NFOLDERS folders;
        # the +1 is the lookup of tree itself (as ls -l's pages + 1).
        lim = NFOLDERS + 1 + 1
        add("find: <= folders+1 (%d: %d folders with tree/) requests, faster than rclone"
            % (lim, NFOLDERS + 1),
            "%d requests, %.2fx rclone" % (a.req, ratio(a, rc)),
            a.req <= lim and ratio(a, rc) > 1)
    a = get("create", "awsfs")
    if a:
        add("create %d small files: <= 1.05 requests a file" % NSMALL,
            "%.2f requests a file" % (a.req / NSMALL), a.req / NSMALL <= 1.05)
    a, sf = get("%d random" % NRAND, "awsfs"), get("%d random" % NRAND, "s3fs")
    if a and sf:
        fetched = a.mbytes
        add("random reads: <= %d requests, < 2 MB fetched, faster than s3fs" % NRAND,
            "%d requests, %.2f MB, %.2fx s3fs" % (a.req, fetched / 1e6, ratio(a, sf)),
            a.req <= NRAND and fetched < 2e6 and ratio(a, sf) > 1)
    for svc in ("DynamoDB", "SSM", "SQS"):
        a, cl = get(svc, "awsfs"), get(svc, "cli")
        if a and cl:
            add("%s >= 3x the AWS CLI" % svc, "%.2fx" % ratio(a, cl), ratio(a, cl) >= 3)
    # CPU per GiB moved, read and write together.
    for kind in ("read", "write"):
        a, sf = get("sequential " + kind, "awsfs"), get("sequential " + kind, "s3fs")
        if a and sf and a.cpu is not None and sf.cpu:
            add("CPU per GiB (sequential %s) <= 0.5x s3fs" % kind,
                "%.2f s/GiB vs s3fs %.2f s/GiB (%.2fx)" % (
                    a.cpu * 1024 / SIZE_MIB, sf.cpu * 1024 / SIZE_MIB, a.cpu / sf.cpu),
                a.cpu <= 0.5 * sf.cpu)
    a = get("sequential read", "awsfs")
    if a and a.peak:
        ra = 32  # MiB, the default -o readahead=
        add("peak RSS during the read < 64 MiB + readahead (%d MiB)" % ra,
            "%.0f MiB" % (a.peak / 2 ** 20), a.peak < (64 + ra) * 2 ** 20)
    return out


def report(started_at, duration):
    clients = [c for c in ("awsfs", "s3fs", "rclone", "curl", "cli")
               if any(k[1] == c for k in RESULTS)]
    names = {"awsfs": "awsfs", "s3fs": "s3fs", "rclone": "rclone mount", "curl": "raw curl",
             "cli": "aws cli v2" if AWSCLI else "boto3 (stand-in)"}
    lines = []
    lines.append("# awsfs benchmark results\n")
    lines.append("Written by `bench/run` (%s). Median of %d cold runs (page cache dropped, "
                 "fresh mount) per cell%s." % (
                     "quick mode" if QUICK else "full run", RUNS,
                     "" if CLI_SQS_RUNS == RUNS else
                     "; the AWS CLI's SQS job ran %d time(s) (about 150 CLI calls)" %
                     CLI_SQS_RUNS))
    lines.append("")
    lines.append("- date: %s (took %.0f min)" % (started_at.strftime("%Y-%m-%d %H:%M UTC"),
                                                 duration / 60))
    lines.append("- machine: %s; shared with other work while this ran, so absolute "
                 "times are noisy: the ratios within one run are the figure" % machine())
    for k, v in versions():
        lines.append("- %s: %s" % (k, v))
    lines.append("- servers: s3rver (S3, data in %s) and moto (DynamoDB, SSM, SQS) on "
                 "127.0.0.1, started by the bench" % DATA)
    lines.append("")
    lines.append("A cell: median wall time (requests the server logged; for random reads "
                 "the MB of GET answers the server logged (their Content-Length: a client "
                 "that asks for open-ended ranges and hangs up early, as rclone and s3fs "
                 "do, receives less than that); the FUSE daemon's CPU seconds, "
                 "utime+stime; its peak RSS, VmHWM; the server's own CPU seconds over "
                 "the same span, all its threads: s3rver or moto; with 2 cores, a server "
                 "near the wall time is what bounds the cell). Requests are counted from the "
                 "servers' own access logs (s3rver's koa logger, moto's werkzeug log): "
                 "no proxy in the data path. rclone's last open-ended GET of a read can be "
                 "logged after the count was taken. The AWS CLI column is the CLI process "
                 "(about 1.3 s of start-up a call included); its CPU and memory are not "
                 "measured.\n")
    lines.append("| workload | " + " | ".join(names[c] for c in clients) + " |")
    lines.append("| --- | " + " | ".join("---" for _ in clients) + " |")
    for w in ORDER:
        lines.append("| %s | " % w + " | ".join(fmt_cell(RESULTS.get((w, c)), w)
                                                for c in clients) + " |")
    static = [("sequential read", "curl", "4 ranged GETs in parallel"),
              ("sequential read", "cli", "aws s3 cp to a file in /dev/shm"),
              ("sequential write", "curl", "one PUT"),
              ("sequential write", "cli", "aws s3 cp from /dev/shm (multipart)"),
              ("%d random" % NRAND, "curl", "one curl, %d ranges, one connection" % NRAND),
              ("%d random" % NRAND, "", "pread() after posix_fadvise(RANDOM), as fio does"),
              ("ls -l", "cli", "aws s3 ls s3://bench/many/ (sizes and dates too)"),
              ("find", "cli", "aws s3 ls --recursive s3://bench/tree/"),
              ("create", "", "mkdir first (not counted), then open/write/close each"),
              ("DynamoDB", "awsfs", "ls of the table folder (keys)"),
              ("DynamoDB", "cli", "aws dynamodb scan --projection-expression id"),
              ("SSM", "awsfs", "grep -r '' (every value read)"),
              ("SSM", "cli", "aws ssm get-parameters-by-path --recursive --with-decryption")]
    for (w, c), v in RESULTS.items():
        for pre, who, text in static:
            if not v.note and w.startswith(pre) and (who == c or
                                                      (not who and c in ("awsfs", "s3fs",
                                                                         "rclone"))):
                v.note = text
    notes = [(w, c, RESULTS[(w, c)].note) for w in ORDER for c in clients
             if (w, c) in RESULTS and RESULTS[(w, c)].note]
    if notes:
        lines.append("\nHow each job was done where it is not obvious:\n")
        for w, c, n in notes:
            lines.append("- %s, %s: %s" % (w, names[c], n))
    lines.append("\n## Ratios (how many times faster awsfs is; > 1 is better)\n")
    peers = [c for c in clients if c != "awsfs"]
    lines.append("| workload | " + " | ".join("vs " + names[c] for c in peers) + " |")
    lines.append("| --- | " + " | ".join("---" for _ in peers) + " |")
    for w in ORDER:
        a = RESULTS.get((w, "awsfs"))
        row = []
        for c in peers:
            r = ratio(a, RESULTS.get((w, c)))
            row.append("%.2fx" % r if r else "-")
        lines.append("| %s | " % w + " | ".join(row) + " |")
    if os.environ.get("BENCH_FROM_LOG"):
        lines.append("\nCells for workloads not run this time come from the log of an "
                     "earlier run of the same build (BENCH_FROM_LOG).")
    for e in ERRORS:
        lines.append("\n**Error:** %s" % e)
    lines.append("\n## Targets (issue 9, done-when)\n")
    lines.append("| target | figure | |")
    lines.append("| --- | --- | --- |")
    for name, fig, met in targets():
        lines.append("| %s | %s | %s |" % (name, fig, met))
    text = "\n".join(lines) + "\n"
    return text


LOG_LINE = re.compile(r"^bench: (?P<work>.+?) +(?P<client>awsfs|s3fs|rclone|curl|cli) +"
                      r"(?P<t>[\d.]+)s  cpu (?P<cpu>\S+)  rss (?P<rss>\S+)  requests (?P<n>\d+)"
                      r"(?:  answered (?P<mb>[\d.]+) MB)?(?:  server cpu (?P<srv>[\d.]+))?")


def load_log(path):
    """Cells from the lines an earlier run logged (BENCH_FROM_LOG), for the
    workloads this run did not measure: a run cut short by one failing
    workload keeps what it measured, and a run of a few workloads
    (BENCH_ONLY) keeps the others. Called after this run's workloads, so
    that a cell is never a median of two runs."""
    measured = {w for (w, _c) in RESULTS}
    with open(path, errors="replace") as f:
        for line in f:
            m = LOG_LINE.match(line)
            if not m or m.group("work") in measured:
                continue
            rss = m.group("rss")
            cell(m.group("work"), m.group("client")).add(
                float(m.group("t")),
                None if m.group("cpu") == "-" else float(m.group("cpu")),
                None if rss == "-" else float(rss.rstrip("M")) * 2 ** 20,
                int(m.group("n")),
                float(m.group("mb")) * 1e6 if m.group("mb") else 0,
                srv_cpu=float(m.group("srv")) if m.group("srv") else None)


ERRORS = []


def main():
    if os.geteuid() != 0:
        raise SystemExit("bench: run as root (bench/run)")
    started_at = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="awsfs-bench-")
    s3 = moto = None
    src = os.path.join(DATA, "awsfs-bench-src-%d.bin" % os.getpid())
    try:
        def need(families):
            return not ONLY or any(f.startswith(o) or o.startswith(f)
                                   for f in families for o in ONLY)
        need_s3 = need(("sequential", "%d random" % NRAND, "ls", "find", "create"))
        need_moto = need(("DynamoDB", "SSM", "SQS"))
        if need_s3:
            with open(src, "wb") as f:
                for _ in range(SIZE_MIB):
                    f.write(os.urandom(1 << 20))
            s3 = start_s3rver(tmp)
            c = boto_client("s3", s3.url, S3KEY, S3KEY)
            wait_server(c.list_buckets, s3.proc, "s3rver")
            seed_s3(s3, c, src)
            try:
                s3_workloads(s3, tmp, c, src)
            except Exception as e:  # report what was measured anyway
                log("S3 workloads stopped: %r" % e)
                ERRORS.append("S3 workloads stopped: %s" % str(e)[:500])
        if need_moto:
            moto = start_moto(tmp)
            wait_server(lambda: urllib.request.urlopen(moto.url + "/moto-api/data.json",
                                                       timeout=2).read(), moto.proc, "moto")
            seed_moto(moto)
            try:
                moto_workloads(moto, tmp)
            except Exception as e:
                log("moto workloads stopped: %r" % e)
                ERRORS.append("moto workloads stopped: %s" % str(e)[:500])
    finally:
        for p in list(mounted):
            unmount(p)
        for p in list(started):
            stop(p)
        if s3 is not None:
            shutil.rmtree(s3.data, ignore_errors=True)
        if os.path.exists(src):
            os.unlink(src)
    if os.environ.get("BENCH_FROM_LOG"):
        load_log(os.environ["BENCH_FROM_LOG"])
    text = report(started_at, time.monotonic() - t0)
    print(text)
    with open(OUT, "w") as f:
        f.write(text)
    log("wrote %s (logs in %s)" % (OUT, tmp))


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    main()

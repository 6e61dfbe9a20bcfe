"""DynamoDB through a real mount: tables as folders, items as JSON files.

The core suite runs twice: against moto (behind the SigV4-checking,
request-counting proxy) and against dynalite (the second opinion, behind
its own proxy). dynalite normalizes numbers as DynamoDB does (1E-130 comes
back as 0.000...1, 3.140 as 3.14), moto keeps the text it was given: where
a test compares numbers it compares the exact text against moto and the
exact value (Decimal, no rounding) against dynalite. boto3's resource layer
rounds numbers through its Decimal context, so every check here uses the
low-level client.

dynalite comes from scripts/install-deps.sh (into .deps/npm; AWSFS_DYNALITE_DIR
overrides); without it the dynalite half is skipped with a message.
"""

import base64
import decimal
import errno
import json
import os
import shutil
import subprocess
import time

import pytest

from faults import Faults
from harness import (REGION, REPO, TEST_KEYS, error_lines, free_port, note_pid,
                     stop_process)
from sigproxy import RawAnswer, Rewrite, SigProxy

BIG = "12345678901234567890123456789012345678"   # 38 digits: no double holds it
TINY = "1E-130"                                  # DynamoDB's smallest magnitude
DYNALITE_VERSION = "4.0.0"
SEGMENTS = 4                                     # segments of a large table (at most)


# --------------------------------------------------------------------------
# emulators
# --------------------------------------------------------------------------

def dynalite_dir():
    d = os.environ.get("AWSFS_DYNALITE_DIR") or os.path.join(
        REPO, ".deps", "npm", "node_modules", "dynalite")
    return d if os.path.isfile(os.path.join(d, "package.json")) else None


@pytest.fixture(scope="session")
def dynalite_server(tmp_path_factory):
    """dynalite on 127.0.0.1, in memory, tables ACTIVE at once."""
    d, node = dynalite_dir(), shutil.which("node")
    if not d or not node:
        pytest.skip("dynalite %s is not installed (scripts/install-deps.sh puts it in "
                    ".deps/npm; needs node and npm)" % DYNALITE_VERSION)
    port = free_port()
    log_path = str(tmp_path_factory.mktemp("dynalite") / "dynalite.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([node, os.path.join(d, "cli.js"), "--host", "127.0.0.1",
                                 "--port", str(port), "--createTableMs", "0",
                                 "--deleteTableMs", "0", "--updateTableMs", "0"],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    note_pid(proc.pid)
    url = "http://127.0.0.1:%d" % port
    client = _client(url)
    deadline = time.time() + 30
    while True:
        try:
            client.list_tables()
            break
        except Exception:
            if time.time() > deadline or proc.poll() is not None:
                stop_process(proc)
                with open(log_path, errors="replace") as f:
                    pytest.fail("dynalite did not start on %s:\n%s" % (url, f.read()))
            time.sleep(0.2)
    try:
        yield url
    finally:
        stop_process(proc)


def _client(url):
    import boto3
    from botocore.config import Config
    return boto3.client("dynamodb", endpoint_url=url, region_name=REGION,
                        aws_access_key_id="direct", aws_secret_access_key="direct",
                        config=Config(retries={"max_attempts": 2}))


class Emu:
    """One emulator: .kind, .ddb (low-level boto3 client straight to it),
    .proxy (awsfs goes through it; it counts), .mount(*args)."""

    def __init__(self, kind, ddb, proxy, mount):
        self.kind = kind
        self.ddb = ddb
        self.proxy = proxy
        self._mount = mount

    def mount(self, *args, **kw):
        return self._mount("-o", "services=dynamodb", *args, endpoint=self.proxy.url, **kw)

    def table(self, name, pk=("id", "S"), sk=None):
        schema = [{"AttributeName": pk[0], "KeyType": "HASH"}]
        defs = [{"AttributeName": pk[0], "AttributeType": pk[1]}]
        if sk:
            schema.append({"AttributeName": sk[0], "KeyType": "RANGE"})
            defs.append({"AttributeName": sk[0], "AttributeType": sk[1]})
        self.ddb.create_table(TableName=name, KeySchema=schema, AttributeDefinitions=defs,
                              BillingMode="PAY_PER_REQUEST")
        for _ in range(100):
            if self.ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE":
                return name
            time.sleep(0.05)
        raise AssertionError("table %s never became ACTIVE" % name)

    def put(self, table, item):
        self.ddb.put_item(TableName=table, Item=item)

    def put_many(self, table, items):
        for i in range(0, len(items), 25):
            reqs = [{"PutRequest": {"Item": it}} for it in items[i:i + 25]]
            while reqs:
                r = self.ddb.batch_write_item(RequestItems={table: reqs})
                reqs = r.get("UnprocessedItems", {}).get(table, [])

    def get(self, table, key):
        return self.ddb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")

    def count(self, table):
        n, kw = 0, {}
        while True:
            r = self.ddb.scan(TableName=table, Select="COUNT", **kw)
            n += r["Count"]
            if "LastEvaluatedKey" not in r:
                return n
            kw = {"ExclusiveStartKey": r["LastEvaluatedKey"]}

    def same_number(self, got, want):
        """DynamoDB (and dynalite) store the value; moto keeps the text."""
        if self.kind == "moto":
            return got == want
        return decimal.Decimal(got) == decimal.Decimal(want)


@pytest.fixture
def moto_emu(moto_server, boto, proxy, mount):
    moto_server.reset()  # requested through `emu`, the autouse reset misses it
    return Emu("moto", boto.dynamodb, proxy, mount)


@pytest.fixture
def dynalite_emu(dynalite_server, mount):
    p = SigProxy(dynalite_server, TEST_KEYS)
    p.start()
    client = _client(dynalite_server)
    def tables():
        pages = client.get_paginator("list_tables").paginate()
        return [n for page in pages for n in page["TableNames"]]

    for name in tables():                              # a clean slate per test
        client.delete_table(TableName=name)
    for _ in range(200):                               # DELETING, then gone
        if not tables():
            break
        time.sleep(0.05)
    assert not tables(), "dynalite kept tables: %s" % tables()[:5]
    try:
        yield Emu("dynalite", client, p, mount)
    finally:
        p.stop()


@pytest.fixture(params=["moto", "dynalite"])
def emu(request):
    return request.getfixturevalue(request.param + "_emu")


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def cat(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def exact(text):
    """JSON with every number kept as its text."""
    return json.loads(text, parse_int=str, parse_float=str)


def sh(cmd, **kw):
    return subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120,
                          **kw)


def write(path, data, mode="w"):
    with open(path, mode) as f:
        f.write(data)


def ls(path):
    """What `ls` shows: the names not starting with '.', sorted."""
    return sorted(n for n in os.listdir(path) if not n.startswith("."))


def new_errors(m, before, want=1, timeout=3):
    """Error lines logged since the first `before`, waiting (a release is
    not waited for by close(2)) until there are `want` of them."""
    deadline = time.time() + timeout
    while True:
        lines = error_lines(m.log())[before:]
        if len(lines) >= want or time.time() > deadline:
            return lines
        time.sleep(0.05)


def b64(data):
    return base64.b64encode(data).decode()


class Bodies:
    """A proxy hook that keeps the JSON body of each request of some
    operations and lets every request through."""

    def __init__(self, *ops):
        self.ops = ops
        self.seen = []

    def __call__(self, info):
        if info.op in self.ops:
            self.seen.append((info.op, json.loads(info.body)))
        return None


def getfattr(path, name):
    r = subprocess.run(["getfattr", "--only-values", "-n", name, path], capture_output=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


# --------------------------------------------------------------------------
# the core suite (moto and dynalite)
# --------------------------------------------------------------------------

def test_ls_lists_every_table_every_page(emu):
    names = ["tbl-%03d" % i for i in range(103)]  # ListTables pages hold 100
    for n in names:
        emu.table(n)
    m = emu.mount()
    emu.proxy.reset()
    assert ls(m.join("dynamodb")) == names
    assert emu.proxy.counts() == {("dynamodb", "ListTables"): 2}, emu.proxy.requests
    assert os.path.isdir(m.join("dynamodb", "tbl-102"))
    assert not os.path.exists(m.join("dynamodb", "no-such-table"))
    # the listing answered those lookups
    assert emu.proxy.counts() == {("dynamodb", "ListTables"): 2}, emu.proxy.requests


def test_table_json_is_describe_table(emu):
    emu.table("events", pk=("pk", "S"), sk=("ts", "N"))
    emu.put("events", {"pk": {"S": "a"}, "ts": {"N": "1"}})
    m = emu.mount()
    assert ".table.json" in os.listdir(m.join("dynamodb", "events"))
    got = json.loads(cat(m.join("dynamodb", "events", ".table.json")))
    want = emu.ddb.describe_table(TableName="events")["Table"]
    # Debian's botocore drops members its model does not know (WarmThroughput)
    assert set(want) <= set(got), set(want) - set(got)
    for k in ("TableName", "KeySchema", "AttributeDefinitions", "TableStatus", "ItemCount",
              "TableArn"):
        assert got[k] == want[k], k
    assert got["CreationDateTime"] == pytest.approx(want["CreationDateTime"].timestamp())
    r = sh("jq -r '.KeySchema[1].AttributeName' %s" % m.join("dynamodb", "events",
                                                             ".table.json"))
    assert r.stdout == "ts\n", r.stderr
    with pytest.raises(OSError) as e:
        write(m.join("dynamodb", "events", ".table.json"), "{}")
    assert e.value.errno in (errno.EACCES, errno.EPERM)


def test_partition_key_table_items_are_json_files(emu):
    emu.table("users")
    emu.put("users", {"id": {"S": "a1"}, "name": {"S": "Ann"}, "age": {"N": "41"}})
    emu.put("users", {"id": {"S": "a2"}, "name": {"S": "Bob"}})
    emu.put("users", {"id": {"S": "a3"}, "tags": {"L": [{"S": "x"}]}})
    m = emu.mount()
    d = m.join("dynamodb", "users")
    emu.proxy.reset()
    bodies = emu.proxy.fault_hook = Bodies("Scan", "GetItem")
    assert ls(d) == ["a1.json", "a2.json", "a3.json"]
    # one DescribeTable for the key schema, then one Scan: a small table is
    # not worth a parallel scan
    assert emu.proxy.counts() == {("dynamodb", "DescribeTable"): 1,
                                  ("dynamodb", "Scan"): 1}, emu.proxy.requests
    # the whole table, projecting the key attribute only
    scans = [b for op, b in bodies.seen if op == "Scan"]
    for b in scans:
        assert "Segment" not in b and "TotalSegments" not in b
        assert b["TableName"] == "users"
        names = b["ExpressionAttributeNames"]
        assert [names.get(p.strip(), p.strip())
                for p in b["ProjectionExpression"].split(",")] == ["id"]
    assert json.loads(cat(os.path.join(d, "a1.json"))) == {"id": "a1", "name": "Ann",
                                                           "age": 41}
    assert json.loads(cat(os.path.join(d, "a3.json"))) == {"id": "a3", "tags": ["x"]}
    r = sh("jq -r .name %s" % os.path.join(d, "a2.json"))
    assert r.returncode == 0 and r.stdout == "Bob\n", r.stderr
    assert not os.path.exists(os.path.join(d, "zz.json"))
    # reads are strongly consistent (what the mount wrote, it reads)
    gets = [b for op, b in bodies.seen if op == "GetItem"]
    assert gets and all(b["ConsistentRead"] is True for b in gets)
    emu.proxy.fault_hook = None


def test_every_attribute_type_in_the_plain_view(emu):
    emu.table("types")
    item = {
        "id": {"S": "k"},
        "s": {"S": "tab\there \u00e9 \"q\""},
        "big": {"N": BIG},
        "tiny": {"N": TINY},
        "neg": {"N": "-2.5"},
        "bin": {"B": b"\x00\x01\xfe\xff"},
        "yes": {"BOOL": True},
        "no": {"BOOL": False},
        "nothing": {"NULL": True},
        "ss": {"SS": ["pear", "apple", "fig"]},
        "ns": {"NS": ["10", "9", "-1", BIG]},
        "bs": {"BS": [b"\x02", b"\x01"]},
        "l": {"L": [{"S": "x"}, {"N": "1"}, {"L": []}, {"M": {"k": {"NULL": True}}}]},
        "m": {"M": {"inner": {"M": {"n": {"N": "7"}}}, "e": {"M": {}}}},
    }
    emu.put("types", item)
    m = emu.mount()
    text = cat(m.join("dynamodb", "types", "k.json"))
    doc = exact(text)
    stored = emu.get("types", {"id": {"S": "k"}})
    assert doc["id"] == "k"
    assert doc["s"] == "tab\there \u00e9 \"q\""
    assert doc["big"] == BIG and BIG in text
    assert doc["tiny"] == stored["tiny"]["N"] and emu.same_number(doc["tiny"], TINY)
    assert doc["neg"] == "-2.5"
    assert doc["bin"] == b64(b"\x00\x01\xfe\xff")
    assert doc["yes"] is True and doc["no"] is False and doc["nothing"] is None
    assert doc["ss"] == ["apple", "fig", "pear"]          # sets: sorted arrays
    assert doc["ns"] == ["-1", "9", "10", BIG]            # by value
    assert doc["bs"] == [b64(b"\x01"), b64(b"\x02")]
    assert doc["l"] == ["x", "1", [], {"k": None}]
    assert doc["m"] == {"e": {}, "inner": {"n": "7"}}
    assert list(doc) == sorted(doc)                       # names sorted
    assert text.endswith("}\n")
    # jq reads it, big numbers and all
    r = sh("jq -c '[.yes, .l[0], .m.inner.n]' %s" % m.join("dynamodb", "types", "k.json"))
    assert r.stdout == '[true,"x",7]\n', r.stderr


def test_numbers_are_written_exactly(emu):
    emu.table("nums")
    m = emu.mount()
    body = ('{"n": %s, "t": %s, "u": -0.000000000000000000000000000000000000001, '
            '"v": 9.9999999999999999999999999999999999999E+125, '
            '"deep": {"l": [1.5, 99999999999999999999999999999999999999]}}\n' % (BIG, TINY))
    r = sh("echo '%s' > %s" % (body.strip(), m.join("dynamodb", "nums", "k1.json")))
    assert r.returncode == 0, r.stderr
    it = emu.get("nums", {"id": {"S": "k1"}})
    assert it["id"] == {"S": "k1"}                       # the key from the name
    assert it["n"] == {"N": BIG}
    assert emu.same_number(it["t"]["N"], TINY)
    assert emu.same_number(it["u"]["N"], "-0.000000000000000000000000000000000000001")
    assert emu.same_number(it["v"]["N"], "9.9999999999999999999999999999999999999E+125")
    assert it["deep"]["M"]["l"]["L"][1] == {"N": "99999999999999999999999999999999999999"}
    # and they read back as stored
    doc = exact(cat(m.join("dynamodb", "nums", "k1.json")))
    assert doc["n"] == BIG
    assert doc["t"] == it["t"]["N"]
    assert doc["deep"]["l"][1] == "99999999999999999999999999999999999999"


def test_cp_and_echo_are_put_item_with_the_key_from_the_name(emu, tmp_path):
    emu.table("users")
    emu.put("users", {"id": {"S": "old"}, "v": {"N": "1"}})
    m = emu.mount()
    d = m.join("dynamodb", "users")
    src = tmp_path / "item.json"
    src.write_text('{"name": "Cy", "n": 3}\n')
    emu.proxy.reset()
    r = subprocess.run(["cp", str(src), os.path.join(d, "c1.json")], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert emu.get("users", {"id": {"S": "c1"}}) == {"id": {"S": "c1"}, "name": {"S": "Cy"},
                                                     "n": {"N": "3"}}
    assert emu.proxy.count("dynamodb", "PutItem") == 1
    # overwrite with a body that names the same key
    r = sh("""echo '{"id": "old", "v": 2}' > %s""" % os.path.join(d, "old.json"))
    assert r.returncode == 0
    assert emu.get("users", {"id": {"S": "old"}}) == {"id": {"S": "old"}, "v": {"N": "2"}}
    # read-your-writes: the listing and the file show it at once
    assert ls(d) == ["c1.json", "old.json"]
    assert json.loads(cat(os.path.join(d, "old.json"))) == {"id": "old", "v": 2}
    assert error_lines(m.log()) == []


def test_a_write_then_a_read_shows_the_write_every_time(moto_emu):
    # The writer's last handle is released by the kernel after close()
    # returns, so the next open can race it: it must still see the item as
    # written (once it saw an empty file).
    emu = moto_emu
    emu.table("race")
    m = emu.mount()
    p = m.join("dynamodb", "race", "k.json")
    for i in range(150):
        want = {"n": i, "s": "v" * (i % 37 + 1)}
        with open(p, "w") as f:
            json.dump(want, f)
        with open(p) as f:
            text = f.read()
        assert text, "read %d: empty" % i
        got = json.loads(text)
        assert {k: got[k] for k in want} == want, i
    assert error_lines(m.log()) == []


def test_read_edit_write_keeps_sets_and_binary(emu):
    emu.table("kept")
    emu.put("kept", {"id": {"S": "k"}, "tags": {"SS": ["apple", "kiwi"]},
                     "ns": {"NS": ["1", "2"]}, "bin": {"B": b"\x01\x02\x03"},
                     "bs": {"BS": [b"\x09"]},
                     "m": {"M": {"inner": {"SS": ["apple"]}}}, "n": {"N": BIG}})
    m = emu.mount()
    d = m.join("dynamodb", "kept")
    before = ls(d)
    emu.proxy.reset()
    r = subprocess.run(["sed", "-i", "s/apple/apricot/g", os.path.join(d, "k.json")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    it = emu.get("kept", {"id": {"S": "k"}})
    assert sorted(it["tags"]["SS"]) == ["apricot", "kiwi"]
    assert sorted(it["ns"]["NS"]) == ["1", "2"]
    assert it["bin"] == {"B": b"\x01\x02\x03"}
    assert it["bs"] == {"BS": [b"\x09"]}
    assert it["m"] == {"M": {"inner": {"SS": ["apricot"]}}}
    assert it["n"] == {"N": BIG}
    assert emu.proxy.count("dynamodb", "PutItem") == 1
    assert ls(d) == before                 # sed's temporary file is gone
    assert error_lines(m.log()) == []


def test_editor_temp_file_renamed_onto_items(emu):
    emu.table("edt", pk=("pk", "S"), sk=("sk", "N"))
    emu.put("edt", {"pk": {"S": "p"}, "sk": {"N": "1"}, "v": {"S": "old"}})
    m = emu.mount()
    d = m.join("dynamodb", "edt", "p")
    tmp = os.path.join(d, ".1.json.swp")
    write(tmp, '{"v": "new"}')
    assert ".1.json.swp" in os.listdir(d)        # it is there, in memory
    assert emu.count("edt") == 1                   # and nowhere else
    os.rename(tmp, os.path.join(d, "1.json"))
    assert emu.get("edt", {"pk": {"S": "p"}, "sk": {"N": "1"}})["v"] == {"S": "new"}
    write(os.path.join(d, "tmp~"), '{"v": "second"}')
    os.rename(os.path.join(d, "tmp~"), os.path.join(d, "2.json"))
    assert emu.get("edt", {"pk": {"S": "p"}, "sk": {"N": "2"}}) == {
        "pk": {"S": "p"}, "sk": {"N": "2"}, "v": {"S": "second"}}
    assert ls(d) == ["1.json", "2.json"]
    # a temporary file that is no item stays out of DynamoDB and can go
    write(os.path.join(d, "scratch"), "not json")
    os.unlink(os.path.join(d, "scratch"))
    assert ls(d) == ["1.json", "2.json"]
    # mv of an item onto another key moves it
    os.rename(os.path.join(d, "2.json"), os.path.join(d, "3.json"))
    assert emu.get("edt", {"pk": {"S": "p"}, "sk": {"N": "2"}}) is None
    assert emu.get("edt", {"pk": {"S": "p"}, "sk": {"N": "3"}})["v"] == {"S": "second"}


BAD_WRITES = [
    ("malformed JSON", "{bad", errno.EINVAL, "malformed JSON"),
    ("not an object", "[1, 2]", errno.EINVAL, "JSON object"),
    ("wrong key type", '{"id": 5, "v": 0}', errno.EINVAL, "must be a string"),
    ("key disagrees", '{"id": "other", "v": 0}', errno.EINVAL, "in its name"),
    ("empty", "", errno.EINVAL, "empty"),
    ("over 400 KB", '{"v": "%s"}' % ("x" * 410000), errno.EFBIG, "400 KB"),
    ("duplicate names", '{"v": 1, "v": 2}', errno.EINVAL, "twice"),
]


@pytest.mark.parametrize("case", BAD_WRITES, ids=[c[0] for c in BAD_WRITES])
def test_bad_writes_fail_and_leave_the_item(emu, case):
    _name, body, err, reason = case
    emu.table("users")
    original = {"id": {"S": "k1"}, "v": {"N": "1"}, "s": {"SS": ["a"]}}
    emu.put("users", original)
    m = emu.mount()
    path = m.join("dynamodb", "users", "k1.json")
    emu.proxy.reset()
    before = len(error_lines(m.log()))
    with pytest.raises(OSError) as e:
        write(path, body)
    assert e.value.errno == err
    lines = new_errors(m, before)
    assert len(lines) == 1, lines
    assert "/dynamodb/users/k1.json" in lines[0] and reason in lines[0], lines[0]
    assert "unchanged" in lines[0]
    assert emu.get("users", {"id": {"S": "k1"}}) == original
    assert emu.proxy.count("dynamodb", "PutItem") == 0
    # bash ignores close errors: the log still says why, the item still stands
    if len(body) < 200:
        before = len(error_lines(m.log()))
        r = sh("printf '%%s' '%s' > %s" % (body, path))
        assert r.returncode == 0, r.stderr
        lines = new_errors(m, before)
        assert len(lines) == 1 and reason in lines[0], lines
        assert emu.get("users", {"id": {"S": "k1"}}) == original
        assert emu.proxy.count("dynamodb", "PutItem") == 0


def test_rm_is_delete_item_and_rm_r_empties_a_partition(emu):
    emu.table("evs", pk=("pk", "S"), sk=("sk", "N"))
    items = [{"pk": {"S": p}, "sk": {"N": str(i)}} for p in ("p1", "p2") for i in range(5)]
    emu.put_many("evs", items)
    m = emu.mount()
    d = m.join("dynamodb", "evs")
    assert ls(d) == ["p1", "p2"]
    emu.proxy.reset()
    os.unlink(os.path.join(d, "p1", "3.json"))
    assert emu.get("evs", {"pk": {"S": "p1"}, "sk": {"N": "3"}}) is None
    assert emu.proxy.count("dynamodb", "DeleteItem") == 1
    assert ls(os.path.join(d, "p1")) == ["0.json", "1.json", "2.json", "4.json"]
    emu.proxy.reset()
    r = subprocess.run(["rm", "-r", os.path.join(d, "p2")], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert emu.proxy.count("dynamodb", "DeleteItem") == 5
    assert emu.proxy.count("dynamodb", "GetItem") == 0
    assert ls(d) == ["p1"]
    assert emu.count("evs") == 4
    assert error_lines(m.log()) == []


def test_tables_are_not_made_or_removed(emu):
    emu.table("keep")
    emu.put("keep", {"id": {"S": "a"}})
    m = emu.mount()
    for call, arg in ((os.mkdir, m.join("dynamodb", "newtab")),
                      (os.rmdir, m.join("dynamodb", "keep")),
                      (os.mkdir, m.join("dynamodb", "keep", "sub"))):
        with pytest.raises(OSError) as e:
            call(arg)
        assert e.value.errno == errno.EPERM, arg
    assert emu.ddb.list_tables()["TableNames"] == ["keep"]
    assert emu.count("keep") == 1


def test_sort_key_table_partitions_and_query(emu):
    emu.table("evs", pk=("pk", "S"), sk=("ts", "N"))
    emu.put_many("evs", [{"pk": {"S": "p%d" % p}, "ts": {"N": str(t)}, "v": {"S": "x"}}
                        for p in range(3) for t in (1, 20, 300)])
    m = emu.mount()
    d = m.join("dynamodb", "evs")
    assert ls(d) == ["p0", "p1", "p2"]
    assert all(os.path.isdir(os.path.join(d, p)) for p in ("p0", "p1", "p2"))
    emu.proxy.reset()
    bodies = emu.proxy.fault_hook = Bodies("Query")
    assert ls(os.path.join(d, "p1")) == ["1.json", "20.json", "300.json"]
    assert emu.proxy.counts() == {("dynamodb", "Query"): 1}, emu.proxy.requests
    q = bodies.seen[0][1]
    emu.proxy.fault_hook = None
    assert q["ExpressionAttributeValues"] == {":pk": {"S": "p1"}}
    assert sorted(q["ExpressionAttributeNames"].values()) == ["pk", "ts"]
    assert "Segment" not in q
    assert json.loads(cat(os.path.join(d, "p1", "20.json"))) == {"pk": "p1", "ts": 20,
                                                                 "v": "x"}
    assert not os.path.exists(os.path.join(d, "p9"))
    # a new partition: mkdir, then write into it
    os.mkdir(os.path.join(d, "p9"))
    write(os.path.join(d, "p9", "5.json"), '{"v": "new"}')
    assert emu.get("evs", {"pk": {"S": "p9"}, "ts": {"N": "5"}})["v"] == {"S": "new"}
    assert "p9" in os.listdir(d)
    with pytest.raises(OSError) as e:
        os.rmdir(os.path.join(d, "p9"))
    assert e.value.errno == errno.ENOTEMPTY


@pytest.mark.parametrize("segments", [None, SEGMENTS])
def test_3000_items_list_through_scan_pages(emu, segments):
    emu.table("big")
    pad = "x" * 2000  # 3,000 items of 2 KB: 6 MB, several 1 MB pages per segment
    emu.put_many("big", [{"id": {"S": "k%04d" % i}, "pad": {"S": pad}} for i in range(3000)])
    # the default (segments by the table's size) and an explicit count
    m = emu.mount(*(["-o", "ddb_scan_segments=%d" % segments] if segments else []))
    d = m.join("dynamodb", "big")
    emu.proxy.reset()
    bodies = emu.proxy.fault_hook = Bodies("Scan")
    r = sh("ls -l %s" % d)
    assert r.returncode == 0, r.stderr
    emu.proxy.fault_hook = None
    names = ls(d)
    assert names == ["k%04d.json" % i for i in range(3000)]
    scans = emu.proxy.count("dynamodb", "Scan")
    assert scans >= 6, emu.proxy.counts()                 # 6 MB in 1 MB pages
    if segments:
        assert scans >= 2 * segments, emu.proxy.counts()  # every segment paged
        assert sorted(set(b["Segment"] for _, b in bodies.seen)) == list(range(segments))
        assert all(b["TotalSegments"] == segments for _, b in bodies.seen)
    # sizes come from the listing: not one GetItem for ls -l
    assert emu.proxy.count("dynamodb", "GetItem") == 0
    assert emu.proxy.count() == scans + emu.proxy.count("dynamodb", "DescribeTable")


def sized(table_bytes, item_count, seen):
    """A proxy hook: DescribeTable's answer says the table holds table_bytes
    in item_count items (AWS's figures, which moto leaves at 0); the body of
    each Scan request is kept in seen."""
    def figures(status, headers, body):
        ans = json.loads(body)
        ans["Table"].update(TableSizeBytes=table_bytes, ItemCount=item_count)
        return RawAnswer(status, headers, json.dumps(ans).encode())

    def hook(info):
        if info.op == "DescribeTable":
            return Rewrite(figures)
        if info.op == "Scan":
            seen.append(json.loads(info.body))
        return None
    return hook


def test_scan_segments_follow_the_table_size_unless_set(emu):
    emu.table("users")
    emu.put_many("users", [{"id": {"S": "u%03d" % i}} for i in range(200)])
    want = ["u%03d.json" % i for i in range(200)]
    # a table of 100 MB by DescribeTable's figures: a parallel scan
    m = emu.mount()
    seen = []
    emu.proxy.reset()
    emu.proxy.fault_hook = sized(100 << 20, 10000, seen)
    assert ls(m.join("dynamodb", "users")) == want
    emu.proxy.fault_hook = None
    assert emu.proxy.count("dynamodb", "Scan") == SEGMENTS, emu.proxy.counts()
    assert sorted(b["Segment"] for b in seen) == list(range(SEGMENTS))
    assert all(b["TotalSegments"] == SEGMENTS for b in seen)
    # ...of which a listing cut at 100 items reads 1 MB: one Scan
    m = emu.mount("-o", "ddb_list_max=100")
    seen = []
    emu.proxy.reset()
    emu.proxy.fault_hook = sized(100 << 20, 10000, seen)
    assert len(ls(m.join("dynamodb", "users"))) == 100
    emu.proxy.fault_hook = None
    assert emu.proxy.count("dynamodb", "Scan") == 1, emu.proxy.counts()
    assert "TotalSegments" not in seen[0]
    # a small table with ddb_scan_segments set: that many segments, the same names
    m = emu.mount("-o", "ddb_scan_segments=%d" % SEGMENTS)
    seen = []
    emu.proxy.reset()
    emu.proxy.fault_hook = Bodies("Scan")
    assert ls(m.join("dynamodb", "users")) == want
    seen = [b for _, b in emu.proxy.fault_hook.seen]
    emu.proxy.fault_hook = None
    assert emu.proxy.count("dynamodb", "Scan") == SEGMENTS, emu.proxy.counts()
    assert sorted(b["Segment"] for b in seen) == list(range(SEGMENTS))
    # and ddb_scan_segments=1 for a large one: one Scan
    m = emu.mount("-o", "ddb_scan_segments=1")
    seen = []
    emu.proxy.reset()
    emu.proxy.fault_hook = sized(100 << 20, 10000, seen)
    assert ls(m.join("dynamodb", "users")) == want
    emu.proxy.fault_hook = None
    assert emu.proxy.count("dynamodb", "Scan") == 1, emu.proxy.counts()
    assert "TotalSegments" not in seen[0]


def test_one_segment_scan_pages_and_list_max(emu):
    emu.table("big")
    pad = "y" * 2000
    emu.put_many("big", [{"id": {"S": "k%04d" % i}, "pad": {"S": pad}} for i in range(1500)])
    m = emu.mount("-o", "ddb_scan_segments=1")
    emu.proxy.reset()
    assert len(ls(m.join("dynamodb", "big"))) == 1500
    assert emu.proxy.count("dynamodb", "Scan") >= 3                  # 3 MB in 1 MB pages
    m2 = emu.mount("-o", "ddb_list_max=100")
    assert len(ls(m2.join("dynamodb", "big"))) == 100
    cut = [ln for ln in m2.log().splitlines() if "listing cut" in ln]
    assert cut and "ddb_list_max=100" in cut[0], m2.log()[-2000:]


def test_key_values_in_file_names(emu):
    emu.table("skeys")
    keys = ["a/b", ".hidden", "100%", "sp ace", "\u00e9t\u00e9", "x.json", "%2F"]
    for k in keys:
        emu.put("skeys", {"id": {"S": k}, "v": {"S": k}})
    emu.table("nkeys", pk=("n", "N"))
    for n in (BIG, TINY, "-3.5", "0"):
        emu.put("nkeys", {"n": {"N": n}})
    emu.table("bkeys", pk=("b", "B"))
    for b in (b"\xfb\xff\x00", b"hello"):
        emu.put("bkeys", {"b": {"B": b}})
    # moto 5.2.1 answers a parallel Scan of a binary partition key with HTTP
    # 500 (it hashes the key with bytes.encode): one segment there.
    m = emu.mount(*(["-o", "ddb_scan_segments=1"] if emu.kind == "moto" else []))
    d = m.join("dynamodb", "skeys")
    want = ["%252F.json", "%2Ehidden.json", "100%25.json", "a%2Fb.json", "sp ace.json",
            "x.json.json", "\u00e9t\u00e9.json"]
    assert ls(d) == sorted(n for n in want if not n.startswith("."))
    assert sorted(os.listdir(d)) == sorted(want + [".table.json"])
    assert json.loads(cat(os.path.join(d, "a%2Fb.json")))["v"] == "a/b"
    assert json.loads(cat(os.path.join(d, "%2Ehidden.json")))["v"] == ".hidden"
    assert json.loads(cat(os.path.join(d, "100%25.json")))["v"] == "100%"
    assert json.loads(cat(os.path.join(d, "%252F.json")))["v"] == "%2F"
    write(os.path.join(d, "n%2Fm.json"), '{"v": 1}')
    assert emu.get("skeys", {"id": {"S": "n/m"}}) == {"id": {"S": "n/m"}, "v": {"N": "1"}}
    # an item name that encodes nothing: refused, with a reason
    with pytest.raises(OSError) as e:
        write(os.path.join(d, "50%.json"), '{"v": 1}')
    assert e.value.errno == errno.EINVAL
    # numbers as DynamoDB gives them back
    nd = m.join("dynamodb", "nkeys")
    stored = sorted(it["n"]["N"] for it in emu.ddb.scan(TableName="nkeys")["Items"])
    assert ls(nd) == sorted(n + ".json" for n in stored)
    assert BIG + ".json" in os.listdir(nd)
    tiny_name = [n for n in stored if emu.same_number(n, TINY)][0]
    assert exact(cat(os.path.join(nd, tiny_name + ".json")))["n"] == tiny_name
    write(os.path.join(nd, "42.json"), '{"x": true}')
    assert emu.get("nkeys", {"n": {"N": "42"}}) == {"n": {"N": "42"}, "x": {"BOOL": True}}
    # binary keys in base64url
    bd = m.join("dynamodb", "bkeys")
    assert ls(bd) == ["-_8A.json", "aGVsbG8.json"]
    assert json.loads(cat(os.path.join(bd, "-_8A.json")))["b"] == b64(b"\xfb\xff\x00")
    write(os.path.join(bd, "AQI.json"), '{"v": 1}')
    assert emu.get("bkeys", {"b": {"B": b"\x01\x02"}})["v"] == {"N": "1"}
    assert error_lines(m.log())[-1:] and "50%.json" in error_lines(m.log())[-1]


def test_typed_view_shows_and_takes_dynamodb_json(emu):
    emu.table("typed")
    item = {"id": {"S": "k"}, "n": {"N": BIG}, "ss": {"SS": ["b", "a"]},
            "ns": {"NS": ["2", "1"]}, "b": {"B": b"\x01"}, "l": {"L": [{"NULL": True}]},
            "m": {"M": {"x": {"BOOL": False}}}}
    emu.put("typed", item)
    m = emu.mount("-o", "ddb_json=typed")
    d = m.join("dynamodb", "typed")
    doc = json.loads(cat(os.path.join(d, "k.json")))
    assert doc == {"id": {"S": "k"}, "n": {"N": BIG}, "ss": {"SS": ["a", "b"]},
                   "ns": {"NS": ["1", "2"]}, "b": {"B": b64(b"\x01")},
                   "l": {"L": [{"NULL": True}]}, "m": {"M": {"x": {"BOOL": False}}}}
    body = json.dumps({"ss": {"SS": ["only"]}, "bs": {"BS": [b64(b"\x07")]},
                       "t": {"N": TINY}, "s": {"S": "[1]"}})
    write(os.path.join(d, "k2.json"), body)
    it = emu.get("typed", {"id": {"S": "k2"}})
    assert it["ss"] == {"SS": ["only"]} and it["bs"] == {"BS": [b"\x07"]}
    assert emu.same_number(it["t"]["N"], TINY) and it["s"] == {"S": "[1]"}
    with pytest.raises(OSError) as e:
        write(os.path.join(d, "k3.json"), '{"plain": "value"}')
    assert e.value.errno == errno.EINVAL
    assert emu.get("typed", {"id": {"S": "k3"}}) is None


def test_getfattr_size_and_consumed_capacity(emu):
    emu.table("xat")
    emu.put("xat", {"id": {"S": "k"}, "name": {"S": "abcdef"}})
    m = emu.mount()
    p = m.join("dynamodb", "xat", "k.json")
    assert getfattr(p, "user.ddb.size") == str(2 + 1 + 4 + 6)   # names and values
    cap = float(getfattr(p, "user.ddb.consumed_capacity"))
    assert cap > 0
    r = subprocess.run(["getfattr", "-d", p], capture_output=True, text=True, timeout=30)
    assert "user.ddb.size=" in r.stdout and "user.ddb.consumed_capacity=" in r.stdout
    t = m.join("dynamodb", "xat")
    assert getfattr(t, "user.ddb.item_count") == str(
        emu.ddb.describe_table(TableName="xat")["Table"]["ItemCount"])


# --------------------------------------------------------------------------
# moto only: request counts, throttling
# --------------------------------------------------------------------------

def test_cat_costs_one_get_item_and_repeats_cost_nothing(moto_emu):
    emu = moto_emu
    emu.table("users")
    emu.put("users", {"id": {"S": "a"}, "v": {"N": "1"}})
    m = emu.mount()
    emu.proxy.reset()
    assert json.loads(cat(m.join("dynamodb", "users", "a.json"))) == {"id": "a", "v": 1}
    assert emu.proxy.counts() == {("dynamodb", "DescribeTable"): 1,
                                  ("dynamodb", "GetItem"): 1}, emu.proxy.requests
    cat(m.join("dynamodb", "users", "a.json"))
    getfattr(m.join("dynamodb", "users", "a.json"), "user.ddb.size")
    assert emu.proxy.counts() == {("dynamodb", "DescribeTable"): 1,
                                  ("dynamodb", "GetItem"): 1}, emu.proxy.requests
    # what the mount writes is what it reads next, at once
    write(m.join("dynamodb", "users", "a.json"), '{"v": 2}')
    assert json.loads(cat(m.join("dynamodb", "users", "a.json"))) == {"id": "a", "v": 2}


def test_throttling_is_retried(moto_emu):
    emu = moto_emu
    emu.table("users")
    emu.put("users", {"id": {"S": "a"}, "v": {"N": "1"}})
    m = emu.mount()
    faults = Faults(rate=1.0, kinds=["slowdown"], services=["dynamodb"], ops=["GetItem"],
                    limit=2)
    emu.proxy.fault_hook = faults
    emu.proxy.reset()
    assert json.loads(cat(m.join("dynamodb", "users", "a.json"))) == {"id": "a", "v": 1}
    emu.proxy.fault_hook = None
    assert faults.total("slowdown") == 2
    assert emu.proxy.count("dynamodb", "GetItem") == 3
    st = json.loads(cat(m.join(".awsfs", "stats")))["dynamodb"]["GetItem"]
    assert st["throttles"] == 2 and st["retries"] == 2 and st["errors"] == 0
    assert error_lines(m.log()) == []


def test_throttled_past_the_budget_is_eagain(moto_emu):
    emu = moto_emu
    emu.table("users")
    emu.put("users", {"id": {"S": "a"}})
    m = emu.mount("-o", "retries=3")
    os.listdir(m.join("dynamodb", "users"))   # schema known; the item not read yet
    emu.proxy.fault_hook = Faults(rate=1.0, kinds=["slowdown"], services=["dynamodb"],
                                  ops=["GetItem"])
    with pytest.raises(OSError) as e:
        cat(m.join("dynamodb", "users", "a.json"))
    emu.proxy.fault_hook = None
    assert e.value.errno == errno.EAGAIN
    lines = [ln for ln in error_lines(m.log()) if "GetItem" in ln]
    assert len(lines) == 1 and "ProvisionedThroughputExceededException" in lines[0]

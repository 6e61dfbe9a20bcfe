"""No secret anywhere: a mount with a known access key, secret key, session
token and SecureString values, driven through every service at debug level
(-d: FUSE's own trace too, and log_level=debug), then every place awsfs
writes is searched for each secret: the log (stderr of -f/-d), .awsfs/stats,
.awsfs/config, .awsfs/version, and every file under cache_dir and
staging_dir. The secrets: the secret access key, the session token, each
SecureString value (read, written, created, and one echoed back in an error
answer), and the signature of every request (the proxy saw them all).

The existing test_foundation.py test_no_secret_in_debug_output covers the
bucket list alone, test_ssm.py test_secure_values_never_reach_the_log the SSM
values alone; this one is every service in one mount.
"""

import errno
import json
import os
import secrets
import subprocess

from harness import TEST_SECRET, error_lines, fusermount_u
from sigproxy import CannedResponse, error_response, new_request_id


def sh(script, *args, check=True):
    r = subprocess.run(["bash", "-c", script, "sh", *args], capture_output=True, timeout=120)
    if check:
        assert r.returncode == 0, (script, r.stderr)
    return r


def files_under(*roots):
    out = []
    for root in roots:
        for d, _, names in os.walk(root):
            out += [os.path.join(d, n) for n in names]
    return out


def test_no_secret_in_log_stats_config_or_cache(mount, proxy, boto, aws_env, random_token,
                                                tmp_path):
    token = random_token
    old = "SECRET-OLD-" + secrets.token_hex(16)
    new = "SECRET-NEW-" + secrets.token_hex(16)
    made = "SECRET-MADE-" + secrets.token_hex(16)
    echoed = "SECRET-ECHOED-" + secrets.token_hex(16)
    boto.s3.create_bucket(Bucket="bk-sec")
    boto.s3.put_object(Bucket="bk-sec", Key="in/a.txt", Body=b"plain data " * 100)
    boto.dynamodb.create_table(
        TableName="tsec", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    boto.dynamodb.put_item(TableName="tsec", Item={"id": {"S": "k1"}, "v": {"N": "1"}})
    qurl = boto.sqs.create_queue(QueueName="qsec")["QueueUrl"]
    boto.sqs.send_message(QueueUrl=qurl, MessageBody="hello queue")
    boto.ssm.put_parameter(Name="/sec/db", Value=old, Type="SecureString")
    boto.ssm.put_parameter(Name="/sec/plain", Value="not secret", Type="String")

    cache = tmp_path / "cache"
    staging = tmp_path / "staging"
    env = dict(aws_env, AWS_SESSION_TOKEN=token)
    m = mount("-o", "cache_dir=%s,staging_dir=%s,ssm_new_type=SecureString" % (cache, staging),
              env=env, flag="-d")
    proxy.reset()

    # S3: list, read, write, overwrite, rename, xattrs
    b = m.join("s3", "bk-sec")
    assert sorted(os.listdir(b)) == ["in"]
    sh('cat "$1" > /dev/null; echo data > "$2"; cp "$1" "$3"; mv "$3" "$4"',
       os.path.join(b, "in", "a.txt"), os.path.join(b, "new.txt"),
       os.path.join(b, "copy.txt"), os.path.join(b, "moved.txt"))
    sh('getfattr -d "$1" > /dev/null', os.path.join(b, "moved.txt"))
    # DynamoDB: list, describe, read, write, delete
    t = m.join("dynamodb", "tsec")
    sh('ls "$1" > /dev/null; cat "$1/.table.json" "$1/k1.json" > /dev/null; '
       'echo \'{"v": 2}\' > "$1/k2.json"; rm "$1/k2.json"', t)
    # SQS: attributes, send, receive, read, acknowledge
    q = m.join("sqs", "qsec")
    sh('cat "$1/attributes.json" > /dev/null; echo sent > "$1/send"; '
       'for f in "$1"/messages/*; do cat "$f" > /dev/null; rm "$f"; done', q)
    # SSM: read a SecureString, overwrite it, create one, xattrs, list
    s = m.join("ssm", "sec")
    assert sh('cat "$1/db"', s).stdout == old.encode()
    sh('echo "$2" > "$1/db"; echo "$3" > "$1/made"; cat "$1/db" "$1/made" "$1/plain" '
       '> /dev/null; getfattr -d "$1/db" > /dev/null; ls -lR "$1" > /dev/null', s, new, made)
    # An error answer that echoes the value back (validation errors do).

    def echo_back(info):
        if info.op == "PutParameter":
            v = json.loads(info.body)["Value"]
            st, h, body = error_response("ssm", "ValidationException",
                                         "Value '%s' failed to satisfy constraint" % v, 400,
                                         new_request_id("ssm"))
            return CannedResponse(st, h, body)
        return None
    proxy.fault_hook = echo_back
    try:
        with open(os.path.join(s, "db"), "wb") as f:  # bash ignores close errors
            f.write(echoed.encode())
        raise AssertionError("the refused PutParameter did not fail the close")
    except OSError as e:
        assert e.errno == errno.EINVAL, e
    finally:
        proxy.fault_hook = None
    assert any("PutParameter" in ln and "ValidationException" in ln
               for ln in error_lines(m.log()))
    # Control files
    for name in ("stats", "config", "version"):
        with open(m.join(".awsfs", name), "rb") as f:
            f.read()

    # Every service was reached, signed with the session token.
    services = {d.service for d in proxy.requests}
    assert {"s3", "dynamodb", "sqs", "ssm"} <= services, services
    details = [d for d in proxy.details if d is not None and d.signature]
    assert len(details) >= 20
    assert all(d.security_token == token for d in details)
    assert not proxy.rejected(), proxy.rejected()
    assert boto.ssm.get_parameter(Name="/sec/made", WithDecryption=True)["Parameter"][
        "Value"] == made

    secret_texts = [TEST_SECRET, token, old, new, made, echoed]
    secret_texts += sorted({d.signature for d in details})

    def check_everywhere(when):
        places = {"log": m.log().encode()}
        if m.mounted():
            for name in ("stats", "config", "version"):
                with open(m.join(".awsfs", name), "rb") as f:
                    places[".awsfs/" + name] = f.read()
        for p in files_under(str(cache), str(staging)):
            with open(p, "rb") as f:
                places[p] = f.read()
        for text in secret_texts:
            for where, data in places.items():
                assert text.encode() not in data, "%s: %s... found in %s" % (
                    when, text[:12], where)
        return places

    places = check_everywhere("mounted")
    # The search looked at real output: the debug log names every service's
    # calls, the key id (not secret) may appear, stats count requests.
    log = places["log"].decode(errors="replace")
    for op in ("ListObjectsV2", "GetItem", "SendMessage", "GetParameter", "PutParameter"):
        assert op in log, op
    assert b"requests" in places[".awsfs/stats"] or b"ssm" in places[".awsfs/stats"]
    # And after the unmount (the summary line, files left behind).
    assert fusermount_u(m.path)
    m.proc.wait(15)
    check_everywhere("unmounted")

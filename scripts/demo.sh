#!/usr/bin/env bash
# The demo: install what is needed, build awsfs, start a local AWS emulator
# (moto, on 127.0.0.1) with sample data in S3, DynamoDB, SQS and SSM, and
# mount it.
#
#   scripts/demo.sh [MOUNTPOINT]   start (default mountpoint /tmp/awsfs-demo)
#   scripts/demo.sh stop           unmount and stop the emulator
#
# Nothing here talks to real AWS: the demo key only works with the emulator.
# State (PIDs, port, mountpoint) is kept in /tmp/awsfs-demo.state; logs in
# /tmp/awsfs-demo-logs/.
set -euo pipefail
cd "$(dirname "$0")/.."
AWSFS_SCRIPT=demo
. scripts/lib.sh

STATE=${AWSFS_DEMO_STATE:-/tmp/awsfs-demo.state}
LOGDIR=${AWSFS_DEMO_LOGS:-/tmp/awsfs-demo-logs}
DEMO_KEY=AKIDAWSFSDEMO0000001
DEMO_SECRET=awsfs-demo-secret-not-a-real-key

state_get() { # state_get NAME -> value from the state file
	sed -n "s/^$1=//p" "$STATE" 2>/dev/null | tail -n 1
}

pid_is() { # pid_is PID WORD: PID is alive and its command line holds WORD
	local cmd
	[ -n "$1" ] || return 1
	cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") || return 1
	case $cmd in *"$2"*) return 0 ;; esac
	return 1
}

stop_pid() { # stop_pid PID WORD: TERM, wait up to 10 s, KILL
	local pid=$1 word=$2
	pid_is "$pid" "$word" || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 20); do
		pid_is "$pid" "$word" || return 0
		sleep 0.5
	done
	kill -KILL "$pid" 2>/dev/null || true
}

stop_demo() {
	if [ ! -f "$STATE" ]; then
		say "no demo running (no $STATE)"
		return 0
	fi
	local mnt awsfs_pid moto_pid
	mnt=$(state_get MNT)
	awsfs_pid=$(state_get AWSFS_PID)
	moto_pid=$(state_get MOTO_PID)
	if [ -n "$mnt" ] && grep -q " $mnt fuse" /proc/mounts; then
		fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" 2>/dev/null || true
		say "unmounted $mnt"
	fi
	# awsfs exits by itself once unmounted
	for _ in $(seq 20); do
		pid_is "$awsfs_pid" awsfs || break
		sleep 0.5
	done
	stop_pid "$awsfs_pid" awsfs
	stop_pid "$moto_pid" moto.server
	rm -f "$STATE"
	say "stopped"
}

if [ "${1:-}" = stop ]; then
	stop_demo
	exit 0
fi

MNT=${1:-/tmp/awsfs-demo}
case $MNT in /*) ;; *) MNT=$(pwd)/$MNT ;; esac

if [ -f "$STATE" ]; then
	say "a demo is already running: stopping it first"
	stop_demo
fi

bash scripts/install-deps.sh
mkdir -p "$LOGDIR"
build_in build "$LOGDIR" || die "the build failed (logs in $LOGDIR)"
PY=$(find_moto_python) || die "no python3 with moto (run scripts/install-deps.sh for help)"

if grep -q " $MNT fuse" /proc/mounts; then
	die "$MNT is already mounted (fusermount3 -u $MNT)"
fi
mkdir -p "$MNT"
[ -z "$(ls -A "$MNT")" ] || die "$MNT is not empty: give an empty folder (scripts/demo.sh DIR)"

# The port: 5000 when free, else any free one.
PORT=$("$PY" - <<'EOF'
import socket
for port in (5000, 0):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as moto does
    try:
        s.bind(("127.0.0.1", port))
        print(s.getsockname()[1])
        break
    except OSError:
        pass
    finally:
        s.close()
EOF
)
ENDPOINT=http://127.0.0.1:$PORT

ok=0
trap '[ "$ok" = 1 ] || { say "failed: cleaning up"; stop_demo; }' EXIT

# moto without its own auth check (any key works), detached from this shell.
env -u AWS_PROFILE AWS_ACCESS_KEY_ID=moto AWS_SECRET_ACCESS_KEY=moto AWS_DEFAULT_REGION=us-east-1 \
	nohup setsid "$PY" -m moto.server -H 127.0.0.1 -p "$PORT" >"$LOGDIR/moto.log" 2>&1 </dev/null &
MOTO_PID=$!
printf 'MOTO_PID=%s\nPORT=%s\nMNT=%s\n' "$MOTO_PID" "$PORT" "$MNT" >"$STATE"
say "moto on $ENDPOINT (pid $MOTO_PID, log $LOGDIR/moto.log)"
for _ in $(seq 120); do
	curl -sf -o /dev/null "$ENDPOINT/moto-api/data.json" && break
	pid_is "$MOTO_PID" moto.server || die "moto exited: $(tail -n 20 "$LOGDIR/moto.log")"
	sleep 0.25
done
curl -sf -o /dev/null "$ENDPOINT/moto-api/data.json" || die "moto did not answer on $ENDPOINT"

say "seeding sample data"
/usr/bin/python3 - "$ENDPOINT" <<'EOF'
import sys
import boto3

url = sys.argv[1]
s = boto3.session.Session(aws_access_key_id="seed", aws_secret_access_key="seed",
                          region_name="us-east-1")
s3 = s.client("s3", endpoint_url=url)
s3.create_bucket(Bucket="demo-bucket")
for key, body in [
    ("README.txt", "Welcome to the awsfs demo bucket.\n"),
    ("hello world.txt", "A key with a space.\n"),
    ("docs/guide.md", "# Guide\n\nPrefixes show as folders.\n"),
    ("docs/images/logo.svg", '<svg xmlns="http://www.w3.org/2000/svg"/>\n'),
    ("data/2024/report.csv", "month,sales\njan,10\nfeb,12\n"),
    ("data/2024/summary.json", '{"total": 22}\n'),
]:
    s3.put_object(Bucket="demo-bucket", Key=key, Body=body.encode())

ddb = s.client("dynamodb", endpoint_url=url)
ddb.create_table(TableName="demo-users",
                 KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                 AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                 BillingMode="PAY_PER_REQUEST")
for uid, name, age, roles in [("alice", "Alice", 31, ["admin", "dev"]),
                              ("bob", "Bob", 27, ["dev"]),
                              ("carol", "Carol", 45, ["ops"])]:
    ddb.put_item(TableName="demo-users", Item={
        "id": {"S": uid}, "name": {"S": name}, "age": {"N": str(age)},
        "roles": {"SS": roles}, "active": {"BOOL": True}})
ddb.create_table(TableName="demo-orders",
                 KeySchema=[{"AttributeName": "customer", "KeyType": "HASH"},
                            {"AttributeName": "order_id", "KeyType": "RANGE"}],
                 AttributeDefinitions=[{"AttributeName": "customer", "AttributeType": "S"},
                                       {"AttributeName": "order_id", "AttributeType": "S"}],
                 BillingMode="PAY_PER_REQUEST")
for cust, oid, total in [("alice", "o-1001", "19.99"), ("alice", "o-1002", "5.00"),
                         ("bob", "o-2001", "42.50")]:
    ddb.put_item(TableName="demo-orders", Item={
        "customer": {"S": cust}, "order_id": {"S": oid}, "total": {"N": total}})

sqs = s.client("sqs", endpoint_url=url)
q = sqs.create_queue(QueueName="demo-jobs")["QueueUrl"]
for i in range(1, 4):
    sqs.send_message(QueueUrl=q, MessageBody='{"job": %d, "task": "resize"}' % i)

ssm = s.client("ssm", endpoint_url=url)
ssm.put_parameter(Name="/demo/app/db_url", Type="String",
                  Value="postgres://demo@db.internal:5432/app")
ssm.put_parameter(Name="/demo/app/api_key", Type="SecureString", Value="demo-api-key-12345")
ssm.put_parameter(Name="/demo/app/hosts", Type="StringList", Value="web1,web2,web3")
EOF

say "mounting $MNT"
env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_DEFAULT_PROFILE \
	AWS_ACCESS_KEY_ID=$DEMO_KEY AWS_SECRET_ACCESS_KEY=$DEMO_SECRET AWS_REGION=us-east-1 \
	AWS_EC2_METADATA_DISABLED=true \
	nohup setsid build/awsfs -f -o "endpoint=$ENDPOINT" "$MNT" >"$LOGDIR/awsfs.log" 2>&1 </dev/null &
AWSFS_PID=$!
printf 'AWSFS_PID=%s\n' "$AWSFS_PID" >>"$STATE"
for _ in $(seq 100); do
	grep -q " $MNT fuse" /proc/mounts && break
	pid_is "$AWSFS_PID" awsfs || break
	sleep 0.1
done
if ! grep -q " $MNT fuse" /proc/mounts; then
	cat "$LOGDIR/awsfs.log" >&2
	die "awsfs did not mount $MNT"
fi
ok=1

echo
echo "\$ find $MNT -maxdepth 3 | sort"
find "$MNT" -maxdepth 3 2>&1 | sort || true
echo
echo "\$ cat $MNT/.awsfs/version"
cat "$MNT/.awsfs/version" || true
cat <<EOF

awsfs is mounted at $MNT (emulator: $ENDPOINT; logs: $LOGDIR/). Try:
  ls -l $MNT/s3/demo-bucket/docs
  cat $MNT/s3/demo-bucket/README.txt
  jq . $MNT/dynamodb/demo-users/alice.json
  ls $MNT/dynamodb/demo-orders/alice
  cat $MNT/ssm/demo/app/db_url
  echo 'new job' > $MNT/sqs/demo-jobs/send; ls $MNT/sqs/demo-jobs/messages
  cat $MNT/.awsfs/stats
Stop it with: scripts/demo.sh stop
EOF

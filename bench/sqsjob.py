"""sqsjob.py QUEUE_DIR N: through an awsfs mount, send N messages (one
write of N lines to send-lines), then receive them all (list messages/,
read each, rm each) until N have been read."""
import os
import sys
import time

q, n = sys.argv[1], int(sys.argv[2])
with open(os.path.join(q, "send-lines"), "w") as f:
    f.write("".join("message %d\n" % i for i in range(n)))
got, deadline = 0, time.time() + 300
seen = set()
while got < n:
    if time.time() > deadline:
        sys.exit("received %d of %d" % (got, n))
    md = os.path.join(q, "messages")
    for name in os.listdir(md):
        if name in seen:
            continue
        p = os.path.join(md, name)
        with open(p, "rb") as f:
            f.read()
        os.unlink(p)
        seen.add(name)
        got += 1

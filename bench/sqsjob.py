"""sqsjob.py QUEUE_DIR N: through an awsfs mount, send N messages (one
write of N lines to send-lines), then receive them all (list messages/,
read each, rm each) until N have been removed. A message awsfs no longer
holds (rm answers EPERM or ENOENT: its receipt went stale) is left to come
back after the queue's visibility timeout; prints how many did."""
import os
import sys
import time

q, n = sys.argv[1], int(sys.argv[2])
with open(os.path.join(q, "send-lines"), "w") as f:
    f.write("".join("message %d\n" % i for i in range(n)))
done, stale, deadline = set(), 0, time.time() + 600
md = os.path.join(q, "messages")
while len(done) < n:
    if time.time() > deadline:
        sys.exit("received %d of %d" % (len(done), n))
    for name in os.listdir(md):
        if name in done:
            continue
        p = os.path.join(md, name)
        try:
            with open(p, "rb") as f:
                f.read()
            os.unlink(p)
        except (PermissionError, FileNotFoundError):
            stale += 1
            continue
        done.add(name)
print("stale receipts: %d" % stale)

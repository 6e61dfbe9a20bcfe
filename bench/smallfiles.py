"""smallfiles.py create|delete DIR N: make N 1 KiB files in DIR (open,
write, close each) or remove them."""
import os
import sys

op, d, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
body = os.urandom(1024)
for i in range(n):
    p = os.path.join(d, "f%04d" % i)
    if op == "create":
        with open(p, "wb") as f:
            f.write(body)
    else:
        os.unlink(p)

"""randread.py FILE OFFSETS.json: one 4 KiB pread at each offset, in order,
after posix_fadvise(RANDOM) as fio does for a random workload."""
import json
import os
import sys

fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
for off in json.load(open(sys.argv[2])):
    if len(os.pread(fd, 4096, off)) != 4096:
        sys.exit("short read at %d" % off)
os.close(fd)

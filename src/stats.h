/*
 * stats: counters for .awsfs/stats and the unmount summary.
 *
 * Per service and operation: requests, errors, retries, throttles, bytes in
 * and out. A fixed-size table behind one mutex; counting never fails (a
 * table that is full counts into an "other" row).
 */
#ifndef AWSFS_STATS_H
#define AWSFS_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum stats_field {
	STATS_REQUESTS = 0,
	STATS_ERRORS,
	STATS_RETRIES,
	STATS_THROTTLES,
	STATS_BYTES_IN,
	STATS_BYTES_OUT,
	STATS_NFIELDS
};

/* Add n to field of (service, op). service and op are static strings. */
void stats_add(const char *service, const char *op, enum stats_field field, uint64_t n);
/* Total of a field over every row of service (NULL: all services). */
uint64_t stats_total(const char *service, enum stats_field field);
/* The whole table as JSON: {"s3": {"ListBuckets": {"requests": 1, ...}}, "total": {...}}. */
int stats_dump_json(struct buf *out);
/* A section another module adds to the stats JSON: fn appends one JSON
 * value, shown under name. One extra section at most. */
void stats_set_extra(const char *name, int (*fn)(void *arg, struct buf *out), void *arg);

/* Forget everything (tests). */
void stats_reset(void);

#endif

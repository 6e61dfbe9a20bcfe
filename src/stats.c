/*
 * stats: per-service, per-operation counters. See stats.h.
 *
 * A small fixed table searched linearly: awsfs has a few dozen operations,
 * and a lookup is far cheaper than the request it counts.
 */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "stats.h"

#define STATS_MAX_ROWS 256

struct stats_row {
	const char *service;
	const char *op;
	uint64_t v[STATS_NFIELDS];
};

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stats_row rows[STATS_MAX_ROWS]; /* protected by stats_lock */
static size_t nrows;                          /* protected by stats_lock */

static const char *extra_name;                      /* set once at start-up */
static int (*extra_fn)(void *arg, struct buf *out);
static void *extra_arg;

void stats_set_extra(const char *name, int (*fn)(void *arg, struct buf *out), void *arg)
{
	extra_name = name;
	extra_fn = fn;
	extra_arg = arg;
}

static const char *const field_names[STATS_NFIELDS] = {
	"requests", "errors", "retries", "throttles", "bytes_in", "bytes_out",
};

static struct stats_row *row_for(const char *service, const char *op)
{
	for (size_t i = 0; i < nrows; i++)
		if (strcmp(rows[i].service, service) == 0 && strcmp(rows[i].op, op) == 0)
			return &rows[i];
	if (nrows < STATS_MAX_ROWS - 1) {
		rows[nrows].service = service;
		rows[nrows].op = op;
		return &rows[nrows++];
	}
	/* The last row catches whatever does not fit. */
	rows[STATS_MAX_ROWS - 1].service = "other";
	rows[STATS_MAX_ROWS - 1].op = "other";
	nrows = STATS_MAX_ROWS;
	return &rows[STATS_MAX_ROWS - 1];
}

void stats_add(const char *service, const char *op, enum stats_field field, uint64_t n)
{
	pthread_mutex_lock(&stats_lock);
	row_for(service, op)->v[field] += n;
	pthread_mutex_unlock(&stats_lock);
}

uint64_t stats_total(const char *service, enum stats_field field)
{
	uint64_t sum = 0;

	pthread_mutex_lock(&stats_lock);
	for (size_t i = 0; i < nrows; i++)
		if (!service || strcmp(rows[i].service, service) == 0)
			sum += rows[i].v[field];
	pthread_mutex_unlock(&stats_lock);
	return sum;
}

static int dump_fields(struct buf *out, const uint64_t *v)
{
	int rc = buf_putc(out, '{');

	for (int f = 0; f < STATS_NFIELDS && !rc; f++)
		rc = buf_printf(out, "%s\"%s\": %llu", f ? ", " : "", field_names[f],
				(unsigned long long)v[f]);
	return rc ? rc : buf_putc(out, '}');
}

int stats_dump_json(struct buf *out)
{
	uint64_t total[STATS_NFIELDS] = { 0 };
	bool seen[STATS_MAX_ROWS] = { false };
	bool first_service = true;
	int rc;

	pthread_mutex_lock(&stats_lock);
	rc = buf_puts(out, "{\n");
	/* Group rows by service, in order of first appearance. */
	for (size_t i = 0; i < nrows && !rc; i++) {
		bool first_op = true;

		if (seen[i])
			continue;
		rc = buf_printf(out, "%s  \"%s\": {", first_service ? "" : ",\n",
				rows[i].service);
		first_service = false;
		for (size_t j = i; j < nrows && !rc; j++) {
			if (seen[j] || strcmp(rows[j].service, rows[i].service) != 0)
				continue;
			seen[j] = true;
			rc = buf_printf(out, "%s\n    \"%s\": ", first_op ? "" : ",", rows[j].op);
			if (!rc)
				rc = dump_fields(out, rows[j].v);
			for (int f = 0; f < STATS_NFIELDS; f++)
				total[f] += rows[j].v[f];
			first_op = false;
		}
		if (!rc)
			rc = buf_puts(out, "\n  }");
	}
	if (!rc)
		rc = buf_printf(out, "%s  \"total\": ", first_service ? "" : ",\n");
	if (!rc)
		rc = dump_fields(out, total);
	pthread_mutex_unlock(&stats_lock);
	if (!rc && extra_fn) {
		rc = buf_printf(out, ",\n  \"%s\": ", extra_name);
		if (!rc)
			rc = extra_fn(extra_arg, out);
	}
	if (!rc)
		rc = buf_puts(out, "\n}\n");
	return rc;
}

void stats_reset(void)
{
	pthread_mutex_lock(&stats_lock);
	memset(rows, 0, sizeof(rows));
	nrows = 0;
	pthread_mutex_unlock(&stats_lock);
}

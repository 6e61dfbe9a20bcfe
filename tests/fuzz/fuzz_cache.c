/*
 * fuzz_cache: what users and servers hand the cache.
 *
 * First byte, low two bits:
 *   0  a Cache-Control header (S3 objects carry their own): the TTL
 *      cache_ttl_from_header derives is -1 or within [min_ttl, max_ttl].
 *   1  lines written to MNT/.awsfs/invalidate through the control backend
 *      (open, two writes, flush, release), over a cache holding entries.
 *   2-3 "PATH" lines, then a line "--", then invalidation patterns, each
 *      given to cache_invalidate: a pattern is refused (-EINVAL) unless it
 *      is absolute with '*' only at its end, and after it no entry it
 *      matches is left while every other entry stays.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "control.h"
#include "fs.h"
#include "fuzz.h"

#define MIN_TTL 1000
#define MAX_TTL 86400000
#define MAX_LINES 64

static uint64_t fake_now(void *arg)
{
	return 5000000;
}

static struct cache *new_cache(void)
{
	struct cache_opts o = { .min_ttl_ms = MIN_TTL, .default_ttl_ms = 60000,
				.max_ttl_ms = MAX_TTL, .negative_ttl_ms = 5000,
				.mem_bytes = 4u << 20 };
	struct cache_clock clock = { fake_now, NULL };
	struct cache *c = NULL;

	for (int i = 0; i < AWS_SVC_COUNT; i++)
		o.service_ttl_ms[i] = -1;
	FUZZ_CHECK(cache_new(&o, &clock, &c) == 0);
	return c;
}

static bool present(struct cache *c, const char *path)
{
	struct cache_hit hit;
	enum cache_state st = cache_get(c, AWS_SVC_S3, CACHE_ATTR, path, &hit);

	if (st != CACHE_MISS)
		free(hit.data);
	return st != CACHE_MISS;
}

static bool valid_pattern(const char *p)
{
	const char *star = strchr(p, '*');

	return p[0] == '/' && (!star || star[1] == '\0');
}

static bool matches(const char *pattern, const char *path)
{
	size_t n = strlen(pattern);

	if (n && pattern[n - 1] == '*')
		return strncmp(path, pattern, n - 1) == 0;
	return strcmp(path, pattern) == 0;
}

static void run_header(struct cache *c, const char *text)
{
	int64_t ttl = cache_ttl_from_header(c, text);

	FUZZ_CHECK(ttl == -1 || (ttl >= MIN_TTL && ttl <= MAX_TTL));
}

static void run_control(struct cache *c, const uint8_t *data, size_t size)
{
	struct fs_config cfg = { .umask = 022, .cache = c };
	struct backend be;
	void *fh = NULL;
	size_t half = size / 2;
	int rc;

	FUZZ_CHECK(cache_put(c, AWS_SVC_S3, CACHE_ATTR, "/s3/b/logs/x.txt", "x", 1, NULL, 0, -1,
			     0) == 0);
	FUZZ_CHECK(control_new(&cfg, "region=us-east-1\n", &be) == 0);
	rc = be.ops->open(be.be, "invalidate", O_WRONLY | O_TRUNC, &fh);
	FUZZ_CHECK(rc == 0);
	rc = be.ops->write(be.be, fh, (const char *)data, half, 0);
	FUZZ_CHECK(rc == (int)half || rc == -EFBIG);
	rc = be.ops->write(be.be, fh, (const char *)data + half, size - half, (off_t)half);
	FUZZ_CHECK(rc == (int)(size - half) || rc == -EFBIG);
	rc = be.ops->flush(be.be, fh);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	FUZZ_CHECK(be.ops->release(be.be, fh) == 0);
	be.ops->destroy(be.be);
}

static void run_patterns(struct cache *c, char *text)
{
	char *lines[MAX_LINES], *paths[MAX_LINES];
	size_t n = fuzz_split(text, '\n', lines, MAX_LINES), np = 0, i;
	bool alive[MAX_LINES];

	for (i = 0; i < n && strcmp(lines[i], "--") != 0; i++) {
		/* Paths as the backends make them: absolute. */
		if (lines[i][0] != '/')
			continue;
		if (cache_put(c, AWS_SVC_S3, CACHE_ATTR, lines[i], "v", 1, NULL, 0, -1, 0) == 0) {
			paths[np] = lines[i];
			alive[np++] = true;
		}
	}
	for (i++; i < n; i++) {
		long dropped = cache_invalidate(c, lines[i]);

		if (!valid_pattern(lines[i])) {
			FUZZ_CHECK(dropped == -EINVAL);
			continue;
		}
		FUZZ_CHECK(dropped >= 0);
		for (size_t j = 0; j < np; j++)
			if (matches(lines[i], paths[j]))
				alive[j] = false;
	}
	for (size_t j = 0; j < np; j++)
		FUZZ_CHECK(present(c, paths[j]) == alive[j]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cache *c;
	char *text;

	if (size < 1)
		return 0;
	c = new_cache();
	text = fuzz_cstr(data + 1, size - 1);
	switch (data[0] & 3) {
	case 0:
		run_header(c, text);
		break;
	case 1:
		run_control(c, data + 1, size - 1);
		break;
	default:
		run_patterns(c, text);
		break;
	}
	free(text);
	cache_free(c);
	return 0;
}

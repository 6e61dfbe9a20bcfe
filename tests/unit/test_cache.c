/*
 * Unit tests for src/cache.c with a fake clock: TTL arithmetic and
 * clamping, Cache-Control, revalidation states, negative entries, LRU order
 * under the memory cap, CloudFront invalidation patterns, the changed hook,
 * and the disk layer (modes, cap, no-disk entries, opaque file names).
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache.h"

static uint64_t fake_ms;

static uint64_t fake_now(void *arg)
{
	(void)arg;
	return fake_ms;
}

static const struct cache_clock fake_clock = { fake_now, NULL };

static struct cache_opts base_opts(void)
{
	struct cache_opts o = {
		.min_ttl_ms = 1000,
		.default_ttl_ms = 10000,
		.max_ttl_ms = 60000,
		.negative_ttl_ms = 2000,
		.mem_bytes = 1u << 20,
	};

	for (int i = 0; i < AWS_SVC_COUNT; i++)
		o.service_ttl_ms[i] = -1;
	return o;
}

static struct cache *make(struct cache_opts o)
{
	struct cache *c;

	fake_ms = 1000000;
	assert_int_equal(cache_new(&o, &fake_clock, &c), 0);
	return c;
}

static void put(struct cache *c, const char *path, const char *data, const char *etag,
		int64_t ttl)
{
	assert_int_equal(cache_put(c, AWS_SVC_S3, CACHE_DATA, path, data, strlen(data), etag, 0,
				   ttl, 0), 0);
}

static enum cache_state get(struct cache *c, const char *path, char *out, size_t outlen)
{
	struct cache_hit h;
	enum cache_state st = cache_get(c, AWS_SVC_S3, CACHE_DATA, path, &h);

	if (out)
		snprintf(out, outlen, "%.*s", (int)h.len, h.data ? (char *)h.data : "");
	free(h.data);
	return st;
}

static void test_ttl_and_revalidation(void **state)
{
	struct cache *c = make(base_opts());
	char v[64];

	(void)state;
	put(c, "/s3/b/k", "hello", "\"e1\"", -1);
	assert_int_equal(get(c, "/s3/b/k", v, sizeof(v)), CACHE_FRESH);
	assert_string_equal(v, "hello");
	fake_ms += 9999;
	assert_int_equal(get(c, "/s3/b/k", NULL, 0), CACHE_FRESH);
	fake_ms += 1;
	/* Expired with an ETag: revalidate, keeping the bytes. */
	assert_int_equal(get(c, "/s3/b/k", v, sizeof(v)), CACHE_STALE);
	assert_string_equal(v, "hello");
	assert_int_equal(cache_renew(c, AWS_SVC_S3, CACHE_DATA, "/s3/b/k", -1), 0);
	assert_int_equal(get(c, "/s3/b/k", NULL, 0), CACHE_FRESH);
	/* Expired without a validator: a plain miss. */
	put(c, "/s3/b/nov", "x", NULL, -1);
	fake_ms += 10000;
	assert_int_equal(get(c, "/s3/b/nov", NULL, 0), CACHE_MISS);
	assert_int_equal(get(c, "/s3/b/absent", NULL, 0), CACHE_MISS);
	cache_free(c);
}

static void test_ttl_clamping_and_services(void **state)
{
	struct cache_opts o = base_opts();
	struct cache *c;

	(void)state;
	o.service_ttl_ms[AWS_SVC_SSM] = 500;      /* below min */
	o.service_ttl_ms[AWS_SVC_DYNAMODB] = 90000; /* above max */
	c = make(o);
	assert_int_equal(cache_service_ttl(c, AWS_SVC_S3), 10000);
	assert_int_equal(cache_service_ttl(c, AWS_SVC_SSM), 1000);
	assert_int_equal(cache_service_ttl(c, AWS_SVC_DYNAMODB), 60000);
	/* An explicit TTL is clamped too. */
	put(c, "/s3/b/long", "x", "e", 3600 * 1000);
	fake_ms += 60000;
	assert_int_equal(get(c, "/s3/b/long", NULL, 0), CACHE_STALE);
	put(c, "/s3/b/short", "x", "e", 10);
	fake_ms += 999;
	assert_int_equal(get(c, "/s3/b/short", NULL, 0), CACHE_FRESH);
	cache_free(c);
}

static void test_cache_control(void **state)
{
	struct cache *c = make(base_opts());

	(void)state;
	assert_int_equal(cache_ttl_from_header(c, NULL), -1);
	assert_int_equal(cache_ttl_from_header(c, "public"), -1);
	assert_int_equal(cache_ttl_from_header(c, "max-age=30"), 30000);
	assert_int_equal(cache_ttl_from_header(c, "public, max-age=86400"), 60000);
	assert_int_equal(cache_ttl_from_header(c, "max-age=0"), 1000);
	assert_int_equal(cache_ttl_from_header(c, "max-age=100, s-maxage=20"), 20000);
	assert_int_equal(cache_ttl_from_header(c, "no-cache"), 1000);
	assert_int_equal(cache_ttl_from_header(c, "No-Store"), 1000);
	assert_int_equal(cache_ttl_from_header(c, "max-age=99999999999999999999999"), 60000);
	assert_int_equal(cache_ttl_from_header(c, "max-age=abc"), -1);
	cache_free(c);
}

static void test_negative_entries(void **state)
{
	struct cache *c = make(base_opts());
	struct cache_hit h;

	(void)state;
	assert_int_equal(cache_put(c, AWS_SVC_S3, CACHE_ATTR, "/s3/b/missing", NULL, 0, NULL, 0,
				   -1, CACHE_NEGATIVE), 0);
	assert_int_equal(cache_get(c, AWS_SVC_S3, CACHE_ATTR, "/s3/b/missing", &h), CACHE_FRESH);
	assert_true(h.negative);
	assert_null(h.data);
	fake_ms += 2000; /* negative_ttl, shorter than the service's */
	assert_int_equal(cache_get(c, AWS_SVC_S3, CACHE_ATTR, "/s3/b/missing", &h), CACHE_MISS);
	cache_free(c);
}

static void test_lru_under_memory_cap(void **state)
{
	struct cache_opts o = base_opts();
	struct cache *c;
	char data[1000], path[32];
	uint64_t mem;

	(void)state;
	o.mem_bytes = 10 * (1000 + CACHE_ENTRY_OVERHEAD + 16);
	c = make(o);
	memset(data, 'x', sizeof(data) - 1);
	data[sizeof(data) - 1] = '\0';
	for (int i = 0; i < 10; i++) {
		snprintf(path, sizeof(path), "/s3/b/k%02d", i);
		put(c, path, data, "e", -1);
	}
	/* Touch k00 so it becomes the most recent; then add 3 more. */
	assert_int_equal(get(c, "/s3/b/k00", NULL, 0), CACHE_FRESH);
	for (int i = 10; i < 13; i++) {
		snprintf(path, sizeof(path), "/s3/b/k%02d", i);
		put(c, path, data, "e", -1);
	}
	cache_usage(c, &mem, NULL, NULL);
	assert_true(mem <= o.mem_bytes);
	assert_int_equal(get(c, "/s3/b/k00", NULL, 0), CACHE_FRESH);
	assert_int_equal(get(c, "/s3/b/k01", NULL, 0), CACHE_MISS);
	assert_int_equal(get(c, "/s3/b/k03", NULL, 0), CACHE_MISS);
	assert_int_equal(get(c, "/s3/b/k12", NULL, 0), CACHE_FRESH);
	/* One entry bigger than the whole cap is refused, not cached. */
	{
		char *big = calloc(1, o.mem_bytes + 1);

		assert_int_equal(cache_put(c, AWS_SVC_S3, CACHE_DATA, "/s3/b/big", big,
					   o.mem_bytes, NULL, 0, -1, 0), -EFBIG);
		free(big);
	}
	cache_free(c);
}

struct changes {
	char paths[16][64];
	int n;
};

static void on_changed(void *arg, const char *path)
{
	struct changes *ch = arg;

	if (ch->n < 16)
		snprintf(ch->paths[ch->n++], 64, "%s", path);
}

static void test_invalidation_patterns(void **state)
{
	struct cache *c = make(base_opts());
	struct changes ch = { .n = 0 };

	(void)state;
	cache_set_changed_hook(c, on_changed, &ch);
	put(c, "/s3/b/logs/a", "1", "e", -1);
	put(c, "/s3/b/logs/sub/b", "2", "e", -1);
	put(c, "/s3/b/logsx", "3", "e", -1);
	put(c, "/s3/b/other", "4", "e", -1);
	put(c, "/ssm/app/x", "5", "e", -1);
	assert_int_equal(cache_invalidate(c, "/s3/b/logs/*"), 2);
	assert_int_equal(ch.n, 2);
	assert_int_equal(get(c, "/s3/b/logs/sub/b", NULL, 0), CACHE_MISS);
	assert_int_equal(get(c, "/s3/b/logsx", NULL, 0), CACHE_FRESH);
	/* Without '*' only that path. */
	assert_int_equal(cache_invalidate(c, "/s3/b/logs"), 0);
	assert_int_equal(cache_invalidate(c, "/s3/b/other"), 1);
	/* '*' anywhere but the end, or a relative path, is refused. */
	assert_int_equal(cache_invalidate(c, "/s3/*/x"), -EINVAL);
	assert_int_equal(cache_invalidate(c, "s3/b"), -EINVAL);
	assert_int_equal(cache_invalidate(c, ""), -EINVAL);
	assert_int_equal(cache_invalidate(c, "/*"), 2);
	assert_int_equal(get(c, "/ssm/app/x", NULL, 0), CACHE_MISS);
	cache_free(c);
}

static void test_changed_hook_on_new_etag(void **state)
{
	struct cache *c = make(base_opts());
	struct changes ch = { .n = 0 };

	(void)state;
	cache_set_changed_hook(c, on_changed, &ch);
	put(c, "/s3/b/k", "v1", "\"a\"", -1);
	put(c, "/s3/b/k", "v1", "\"a\"", -1); /* same ETag: nothing changed */
	assert_int_equal(ch.n, 0);
	put(c, "/s3/b/k", "v2", "\"b\"", -1);
	assert_int_equal(ch.n, 1);
	assert_string_equal(ch.paths[0], "/s3/b/k");
	cache_free(c);
}

static void test_drop_takes_parent_listing(void **state)
{
	struct cache *c = make(base_opts());
	struct cache_hit h;

	(void)state;
	assert_int_equal(cache_put(c, AWS_SVC_S3, CACHE_LIST, "/s3/b/dir", "l", 1, NULL, 0, -1, 0),
			 0);
	assert_int_equal(cache_put(c, AWS_SVC_S3, CACHE_ATTR, "/s3/b/dir/f", "a", 1, NULL, 0, -1,
				   0), 0);
	put(c, "/s3/b/dir/f", "data", "e", -1);
	cache_drop(c, "/s3/b/dir/f");
	assert_int_equal(cache_get(c, AWS_SVC_S3, CACHE_ATTR, "/s3/b/dir/f", &h), CACHE_MISS);
	assert_int_equal(get(c, "/s3/b/dir/f", NULL, 0), CACHE_MISS);
	assert_int_equal(cache_get(c, AWS_SVC_S3, CACHE_LIST, "/s3/b/dir", &h), CACHE_MISS);
	cache_free(c);
}

static int count_files(const char *dir, mode_t *mode_seen, bool *names_opaque)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while ((de = readdir(d))) {
		char p[512];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		stat(p, &st);
		*mode_seen |= st.st_mode & 0777;
		if (strlen(de->d_name) != 64 || strstr(de->d_name, "secret"))
			*names_opaque = false;
		n++;
	}
	closedir(d);
	return n;
}

static void test_disk_layer(void **state)
{
	struct cache_opts o = base_opts();
	char dir[] = "/tmp/awsfs-cache-test-XXXXXX", sub[64], data[4096], v[16];
	struct cache *c;
	struct stat st;
	mode_t modes = 0;
	bool opaque = true;
	uint64_t disk;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/cache", dir);
	o.dir = sub;
	o.disk_bytes = 3 * sizeof(data);
	c = make(o);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	memset(data, 'd', sizeof(data));
	for (int i = 0; i < 5; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/s3/b/secret-name-%d", i);
		assert_int_equal(cache_put(c, AWS_SVC_S3, CACHE_DATA, path, data, sizeof(data), "e",
					   0, -1, 0), 0);
	}
	cache_usage(c, NULL, &disk, NULL);
	assert_true(disk <= o.disk_bytes);
	assert_int_equal(count_files(sub, &modes, &opaque), 3);
	assert_int_equal(modes, 0600);
	assert_true(opaque);
	assert_int_equal(get(c, "/s3/b/secret-name-0", NULL, 0), CACHE_MISS);
	assert_int_equal(get(c, "/s3/b/secret-name-4", v, sizeof(v)), CACHE_FRESH);
	assert_string_equal(v, "ddddddddddddddd");
	/* A no-disk entry (a SecureString value) never reaches the folder. */
	assert_int_equal(cache_put(c, AWS_SVC_SSM, CACHE_DATA, "/ssm/secret", "hunter2", 7, NULL,
				   0, -1, CACHE_NO_DISK), 0);
	assert_int_equal(count_files(sub, &modes, &opaque), 3);
	cache_free(c);
	/* Freeing the cache removes its files. */
	assert_int_equal(count_files(sub, &modes, &opaque), 0);
	rmdir(sub);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ttl_and_revalidation),
		cmocka_unit_test(test_ttl_clamping_and_services),
		cmocka_unit_test(test_cache_control),
		cmocka_unit_test(test_negative_entries),
		cmocka_unit_test(test_lru_under_memory_cap),
		cmocka_unit_test(test_invalidation_patterns),
		cmocka_unit_test(test_changed_hook_on_new_etag),
		cmocka_unit_test(test_drop_takes_parent_listing),
		cmocka_unit_test(test_disk_layer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

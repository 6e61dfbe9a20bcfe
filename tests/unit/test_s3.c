/*
 * Unit tests for the pure logic of the S3 backend: path to (bucket, key)
 * mapping and its limits, s3fs metadata headers both ways (mode, uid, gid,
 * times with fractions, user metadata, the xattr blob), multipart part
 * planning, and the cached listing format (sorted, found / absent, bounds).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "s3_i.h"

/* ---- paths ---- */

/* Bucket names from a listing that no folder can have are not shown: a
 * '/' in one would fail the kernel's whole readdir with EIO (found by
 * tests/fuzz/fuzz_s3_list). */
static void test_bucket_names(void **state)
{
	char longname[S3_NAME_MAX + 2];

	(void)state;
	assert_true(s3_bucket_name_ok("amzn-s3-demo-bucket"));
	assert_true(s3_bucket_name_ok("Legacy_Bucket.name"));
	assert_false(s3_bucket_name_ok(""));
	assert_false(s3_bucket_name_ok("."));
	assert_false(s3_bucket_name_ok(".."));
	assert_false(s3_bucket_name_ok("amzn-s3-://demo-bucket"));
	assert_false(s3_bucket_name_ok("/"));
	memset(longname, 'b', S3_NAME_MAX);
	longname[S3_NAME_MAX] = '\0';
	assert_true(s3_bucket_name_ok(longname));
	longname[S3_NAME_MAX] = 'b';
	longname[S3_NAME_MAX + 1] = '\0';
	assert_false(s3_bucket_name_ok(longname));
}

static void test_path_whole_tree(void **state)
{
	struct s3_loc loc;

	(void)state;
	assert_int_equal(s3_path_map(NULL, NULL, "", &loc), 0);
	assert_null(loc.bucket); /* the bucket list */
	s3_loc_free(&loc);

	assert_int_equal(s3_path_map(NULL, NULL, "bk", &loc), 0);
	assert_string_equal(loc.bucket, "bk");
	assert_string_equal(loc.key, "");
	s3_loc_free(&loc);

	assert_int_equal(s3_path_map(NULL, NULL, "bk/a b/c+d%#?~ü", &loc), 0);
	assert_string_equal(loc.bucket, "bk");
	assert_string_equal(loc.key, "a b/c+d%#?~ü"); /* unencoded, exactly */
	s3_loc_free(&loc);
}

static void test_path_single_bucket(void **state)
{
	struct s3_loc loc;

	(void)state;
	assert_int_equal(s3_path_map("bk", "", "", &loc), 0);
	assert_string_equal(loc.bucket, "bk");
	assert_string_equal(loc.key, "");
	s3_loc_free(&loc);

	assert_int_equal(s3_path_map("bk", "pre/fix", "x/y", &loc), 0);
	assert_string_equal(loc.key, "pre/fix/x/y");
	s3_loc_free(&loc);

	/* the root of a prefix mount is the prefix folder itself */
	assert_int_equal(s3_path_map("bk", "pre/fix", "", &loc), 0);
	assert_string_equal(loc.key, "pre/fix");
	s3_loc_free(&loc);
}

static void test_path_limits(void **state)
{
	char path[2200], comp[300];
	struct s3_loc loc;
	size_t n = 0;

	(void)state;
	/* a 255-byte component is fine, 256 is not (NAME_MAX) */
	memset(comp, 'a', 255);
	comp[255] = '\0';
	n = (size_t)snprintf(path, sizeof(path), "bk/%s", comp);
	assert_int_equal(s3_path_map(NULL, NULL, path, &loc), 0);
	s3_loc_free(&loc);
	path[n] = 'b';
	path[n + 1] = '\0';
	assert_int_equal(s3_path_map(NULL, NULL, path, &loc), -ENAMETOOLONG);

	/* 1,024 bytes of key in several components is fine, 1,025 is not */
	memset(comp, 'c', 200);
	comp[200] = '\0';
	n = (size_t)snprintf(path, sizeof(path), "bk/%s/%s/%s/%s/%s/", comp, comp, comp, comp,
			     comp);
	while (n < 3 + 1024)
		path[n++] = 'z';
	path[n] = '\0';
	assert_int_equal(s3_path_map(NULL, NULL, path, &loc), 0);
	assert_int_equal(strlen(loc.key), 1024);
	s3_loc_free(&loc);
	path[n] = 'z';
	path[n + 1] = '\0';
	assert_int_equal(s3_path_map(NULL, NULL, path, &loc), -ENAMETOOLONG);

	/* the prefix counts too */
	assert_int_equal(s3_path_map("bk", comp, path + 3 + 201, &loc), -ENAMETOOLONG);
}

static void test_dir_prefix(void **state)
{
	char *p;

	(void)state;
	p = s3_dir_prefix("");
	assert_string_equal(p, "");
	free(p);
	p = s3_dir_prefix("a/b");
	assert_string_equal(p, "a/b/");
	free(p);
}

/* ---- metadata ---- */

static struct http_response response(const char *const *kv, size_t n)
{
	struct http_response r;

	memset(&r, 0, sizeof(r));
	r.headers = calloc(n / 2, sizeof(*r.headers));
	for (size_t i = 0; i + 1 < n; i += 2) {
		r.headers[r.nheaders].name = strdup(kv[i]);
		r.headers[r.nheaders].value = strdup(kv[i + 1]);
		r.nheaders++;
	}
	return r;
}

static void test_meta_parse_s3fs_headers(void **state)
{
	static const char *const kv[] = {
		"content-length", "1234",
		"etag", "\"abc\"",
		"content-type", "text/plain",
		"last-modified", "Sun, 06 Nov 1994 08:49:37 GMT",
		"x-amz-meta-mode", "33184",
		"x-amz-meta-uid", "1001",
		"x-amz-meta-gid", "1002",
		"x-amz-meta-mtime", "1700000000.123456789",
		"x-amz-meta-ctime", "1700000001",
		"x-amz-meta-atime", "1700000002.5",
		"x-amz-meta-color", "blue",
		"x-amz-server-side-encryption", "aws:kms",
		"x-amz-server-side-encryption-aws-kms-key-id", "arn:key/1",
		"x-amz-storage-class", "STANDARD_IA",
	};
	struct http_response r = response(kv, sizeof(kv) / sizeof(kv[0]));
	struct s3_meta m;

	(void)state;
	assert_int_equal(s3_meta_from_headers(&r, &m), 0);
	assert_int_equal(m.size, 1234);
	assert_string_equal(m.etag, "\"abc\"");
	assert_string_equal(m.content_type, "text/plain");
	assert_int_equal(m.last_modified, 784111777);
	assert_true(m.has_mode);
	assert_int_equal(m.mode, S_IFREG | 0640); /* 33184 is a 0640 file */
	assert_int_equal(m.uid, 1001);
	assert_int_equal(m.gid, 1002);
	assert_int_equal(m.mtime.tv_sec, 1700000000);
	assert_int_equal(m.mtime.tv_nsec, 123456789);
	assert_int_equal(m.ctime.tv_sec, 1700000001);
	assert_int_equal(m.ctime.tv_nsec, 0);
	assert_int_equal(m.atime.tv_nsec, 500000000);
	assert_int_equal(m.nuser, 1); /* s3fs's own are not user metadata */
	assert_string_equal(m.user[0].name, "color");
	assert_string_equal(m.user[0].value, "blue");
	assert_string_equal(m.sse, "aws:kms:arn:key/1");
	assert_string_equal(m.storage_class, "STANDARD_IA");
	s3_meta_free(&m);
	http_response_free(&r);
}

static void test_meta_symlink_mode_and_bad_values(void **state)
{
	static const char *const kv[] = {
		"x-amz-meta-mode", "41471",
		"x-amz-meta-uid", "-1",
		"x-amz-meta-mtime", "soon",
		"content-range", "bytes 0-9/5000",
	};
	struct http_response r = response(kv, sizeof(kv) / sizeof(kv[0]));
	struct s3_meta m;

	(void)state;
	assert_int_equal(s3_meta_from_headers(&r, &m), 0);
	assert_true(S_ISLNK(m.mode)); /* 41471 is a symlink, 0777 */
	assert_int_equal(m.mode & 07777, 0777);
	assert_false(m.has_uid);   /* garbage is ignored, not guessed */
	assert_false(m.has_mtime);
	assert_int_equal(m.size, 5000); /* the object's size, not the range's */
	s3_meta_free(&m);
	http_response_free(&r);
}

static void test_meta_time_parse_format(void **state)
{
	struct timespec t;
	char out[48];

	(void)state;
	assert_int_equal(s3_meta_parse_time("1600000000", &t), 0);
	assert_int_equal(t.tv_sec, 1600000000);
	assert_int_equal(t.tv_nsec, 0);
	assert_int_equal(s3_meta_parse_time("1600000000.5", &t), 0);
	assert_int_equal(t.tv_nsec, 500000000);
	assert_int_equal(s3_meta_parse_time("1.0000000019", &t), 0); /* past 9 digits: cut */
	assert_int_equal(t.tv_nsec, 1);
	assert_int_equal(s3_meta_parse_time("", &t), -EINVAL);
	assert_int_equal(s3_meta_parse_time("12.", &t), -EINVAL);
	assert_int_equal(s3_meta_parse_time("12x", &t), -EINVAL);
	assert_int_equal(s3_meta_parse_time("99999999999999999999", &t), -EINVAL);

	t.tv_sec = 1600000000;
	t.tv_nsec = 0;
	s3_meta_format_time(&t, out, sizeof(out));
	assert_string_equal(out, "1600000000");
	t.tv_nsec = 5;
	s3_meta_format_time(&t, out, sizeof(out));
	assert_string_equal(out, "1600000000.000000005");
}

static bool has_line(char **lines, size_t n, const char *want)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(lines[i], want) == 0)
			return true;
	return false;
}

static void test_meta_headers_out(void **state)
{
	struct s3_meta m;
	char **lines = NULL;
	size_t n = 0;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.mode = S_IFDIR | 0750;
	m.has_mode = true;
	m.uid = 7;
	m.has_uid = true;
	m.mtime.tv_sec = 1700000000;
	m.mtime.tv_nsec = 250000000;
	m.has_mtime = true;
	m.content_type = strdup("application/x-directory");
	assert_int_equal(s3_meta_set_user(&m, "Color", "red", 3), 0); /* lower-cased */
	assert_int_equal(s3_meta_set_user(&m, "color", "green", 5), 0); /* replaced */
	assert_int_equal(s3_meta_headers(&m, &lines, &n), 0);
	assert_int_equal(n, 5);
	assert_true(has_line(lines, n, "x-amz-meta-mode: 16872"));
	assert_true(has_line(lines, n, "x-amz-meta-uid: 7"));
	assert_true(has_line(lines, n, "x-amz-meta-mtime: 1700000000.250000000"));
	assert_true(has_line(lines, n, "x-amz-meta-color: green"));
	assert_true(has_line(lines, n, "Content-Type: application/x-directory"));
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	assert_int_equal(s3_meta_set_user(&m, "color", NULL, 0), 0);
	assert_int_equal(m.nuser, 0);
	assert_int_equal(s3_meta_set_user(&m, "color", NULL, 0), -ENODATA);
	s3_meta_free(&m);
}

static void test_meta_user_limit_and_reserved(void **state)
{
	struct s3_meta m;
	char name[16];

	(void)state;
	memset(&m, 0, sizeof(m));
	for (int i = 0; i < S3_MAX_USER_META; i++) {
		snprintf(name, sizeof(name), "k%d", i);
		assert_int_equal(s3_meta_set_user(&m, name, "v", 1), 0);
	}
	assert_int_equal(s3_meta_set_user(&m, "onemore", "v", 1), -E2BIG);
	s3_meta_free(&m);
	assert_true(s3_meta_reserved("mode"));
	assert_true(s3_meta_reserved("MTIME"));
	assert_true(s3_meta_reserved("xattr"));
	assert_false(s3_meta_reserved("color"));
	assert_true(s3_meta_value_ok("plain value", 11));
	assert_false(s3_meta_value_ok("tab\there", 8));
	assert_false(s3_meta_value_ok("ünï", strlen("ünï")));
	assert_false(s3_meta_value_ok(" lead", 5));
}

static void test_meta_s3fs_xattr_blob(void **state)
{
	/* {"user.a":"aGVsbG8=","user.b":""} percent-encoded, as s3fs writes it */
	static const char *const kv[] = {
		"x-amz-meta-xattr",
		"%7B%22user.a%22%3A%22aGVsbG8%3D%22%2C%22user.b%22%3A%22%22%7D",
	};
	struct http_response r = response(kv, 2);
	struct s3_meta m;
	struct buf names;
	char *v = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(s3_meta_from_headers(&r, &m), 0);
	assert_non_null(m.xattr_blob);
	assert_int_equal(s3_meta_blob_get(m.xattr_blob, "user.a", &v, &len), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(v, "hello", 5);
	free(v);
	assert_int_equal(s3_meta_blob_get(m.xattr_blob, "user.zz", &v, &len), -ENODATA);
	buf_init(&names, 4096);
	assert_int_equal(s3_meta_blob_names(m.xattr_blob, &names), 0);
	assert_int_equal(names.len, strlen("user.a") + 1 + strlen("user.b") + 1);
	buf_free(&names);
	s3_meta_free(&m);
	http_response_free(&r);

	assert_int_equal(s3_meta_pct_decode("a%2", &v), -EINVAL);
	assert_int_equal(s3_meta_pct_decode("a%00b", &v), -EINVAL); /* no NUL inside */
}

/* ---- part planning ---- */

static void test_plan_parts(void **state)
{
	uint64_t ps;

	(void)state;
	assert_int_equal(s3_plan_parts(0, 8u << 20, &ps), 0);
	assert_int_equal(s3_plan_parts(1, 8u << 20, &ps), 1);
	assert_int_equal(ps, 8u << 20);
	assert_int_equal(s3_plan_parts(64u << 20, 8u << 20, &ps), 8);
	assert_int_equal(s3_plan_parts((64u << 20) + 1, 8u << 20, &ps), 9);
	/* below S3's 5 MiB minimum, the minimum */
	assert_int_equal(s3_plan_parts(20u << 20, 1u << 20, &ps), 4);
	assert_int_equal(ps, 5u << 20);
	/* 1 TiB in 8 MiB parts would be 131,072 parts: the part grows */
	assert_true(s3_plan_parts(1ull << 40, 8u << 20, &ps) <= S3_MAX_PARTS);
	assert_true(ps * S3_MAX_PARTS >= 1ull << 40);
	assert_int_equal(ps % (1u << 20), 0);
	/* 5 TiB, S3's largest object, still fits */
	assert_true(s3_plan_parts(S3_MAX_OBJECT, 8u << 20, &ps) <= S3_MAX_PARTS);
}

/* ---- the cached listing format ---- */

static const struct fs_config list_cfg = { .uid = 1, .gid = 2, .umask = 022 };

static void test_listing_sorted_found_absent(void **state)
{
	struct buf recs, blob;
	struct stat st, a, d;
	struct s3_ent *v;
	size_t n;

	(void)state;
	buf_init(&recs, 1 << 16);
	buf_init(&blob, 1 << 16);
	fs_file_stat(&list_cfg, &a, 42, 0640);
	a.st_mtim.tv_sec = 1700000000;
	a.st_mtim.tv_nsec = 5;
	fs_dir_stat(&list_cfg, &d);
	/* pages arrive in S3's order, not the names' ("x.txt" < "x/") */
	assert_int_equal(s3_list_add(&recs, "zeta", &a), 0);
	assert_int_equal(s3_list_add(&recs, "x.txt", &a), 0);
	assert_int_equal(s3_list_add(&recs, "x", &a), 0);
	assert_int_equal(s3_list_add(&recs, "x", &d), 0); /* folder and file of one name */
	assert_int_equal(s3_list_add(&recs, "alpha", &d), 0);
	assert_int_equal(s3_list_seal(&recs, &blob), 0);

	assert_int_equal(s3_list_find(&list_cfg, blob.data, blob.len, "zeta", &st), 1);
	assert_int_equal(st.st_size, 42);
	assert_int_equal(st.st_mode, a.st_mode);
	assert_int_equal(st.st_mtim.tv_sec, 1700000000);
	assert_int_equal(st.st_mtim.tv_nsec, 5);
	assert_int_equal(st.st_uid, 1);
	assert_int_equal(s3_list_find(&list_cfg, blob.data, blob.len, "x", &st), 1);
	assert_true(S_ISDIR(st.st_mode)); /* the folder wins */
	assert_int_equal(s3_list_find(&list_cfg, blob.data, blob.len, "nothere", &st), 0);
	assert_int_equal(s3_list_find(&list_cfg, blob.data, blob.len, "", &st), 0);

	assert_int_equal(s3_list_decode(&list_cfg, blob.data, blob.len, &v, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(v[0].name, "alpha");
	assert_string_equal(v[1].name, "x");
	assert_string_equal(v[2].name, "x.txt");
	assert_string_equal(v[3].name, "zeta");
	s3_ents_free(v, n);
	/* a damaged listing is refused, not read past its end */
	assert_int_equal(s3_list_find(&list_cfg, blob.data, 3, "x", &st), -EINVAL);
	assert_int_not_equal(s3_list_decode(&list_cfg, blob.data, 8, &v, &n), 0);
	buf_free(&recs);
	buf_free(&blob);
}

static void test_listing_empty_and_capped(void **state)
{
	struct buf recs, blob;
	struct stat st, a;
	struct s3_ent *v;
	size_t n;
	int rc = 0, added = 0;

	(void)state;
	buf_init(&recs, 4096);
	buf_init(&blob, 1 << 16);
	assert_int_equal(s3_list_seal(&recs, &blob), 0);
	assert_int_equal(s3_list_find(&list_cfg, blob.data, blob.len, "a", &st), 0);
	assert_int_equal(s3_list_decode(&list_cfg, blob.data, blob.len, &v, &n), 0);
	assert_int_equal(n, 0);
	s3_ents_free(v, n);
	/* a listing larger than its cap stops growing (it is then not kept) */
	fs_file_stat(&list_cfg, &a, 1, 0644);
	for (int i = 0; i < 1000 && !rc; i++) {
		char name[32];

		snprintf(name, sizeof(name), "name-%04d", i);
		rc = s3_list_add(&recs, name, &a);
		added += rc == 0;
	}
	assert_int_equal(rc, -EFBIG);
	assert_true(recs.len <= 4096);
	assert_true(added > 10 && added < 1000);
	buf_free(&recs);
	buf_free(&blob);
}

/* Names from a listing asked with encoding-type=url (keys with control
 * characters, which XML 1.0 cannot carry). */
static void test_url_decode(void **state)
{
	char out[16], big[S3_LIST_NAME_BUF];

	(void)state;
	assert_int_equal(s3_url_decode("a%01b", out, sizeof(out)), 0);
	assert_memory_equal(out, "a\x01" "b", 4);
	assert_int_equal(s3_url_decode("cr%0D%0Alf", out, sizeof(out)), 0);
	assert_string_equal(out, "cr\r\nlf");
	/* '+' is a space, as S3 writes it; a real '+' comes as %2B */
	assert_int_equal(s3_url_decode("a+b%2Bc%25d", out, sizeof(out)), 0);
	assert_string_equal(out, "a b+c%d");
	assert_int_equal(s3_url_decode("%C3%a9/x%2F", out, sizeof(out)), 0);
	assert_string_equal(out, "\xc3\xa9/x/");
	assert_int_equal(s3_url_decode("", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	/* bad escapes: never a read past the end */
	assert_int_equal(s3_url_decode("a%", out, sizeof(out)), -EINVAL);
	assert_int_equal(s3_url_decode("a%2", out, sizeof(out)), -EINVAL);
	assert_int_equal(s3_url_decode("a%G1", out, sizeof(out)), -EINVAL);
	assert_int_equal(s3_url_decode("a%1G", out, sizeof(out)), -EINVAL);
	assert_int_equal(s3_url_decode("%%41", out, sizeof(out)), -EINVAL);
	/* a NUL no name can hold */
	assert_int_equal(s3_url_decode("a%00b", out, sizeof(out)), -EILSEQ);
	/* bounded by the output */
	assert_int_equal(s3_url_decode("0123456789abcde", out, sizeof(out)), 0);
	assert_int_equal(s3_url_decode("0123456789abcdef", out, sizeof(out)), -ENAMETOOLONG);
	assert_int_equal(s3_url_decode("%41", out, 1), -ENAMETOOLONG);
	assert_int_equal(s3_url_decode("x", out, 0), -ENAMETOOLONG);
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	{
		char *o = malloc(S3_LIST_NAME_BUF);

		assert_non_null(o);
		assert_int_equal(s3_url_decode(big, o, S3_LIST_NAME_BUF), 0);
		assert_int_equal(strlen(o), S3_LIST_NAME_BUF - 1);
		free(o);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_names),
		cmocka_unit_test(test_path_whole_tree),
		cmocka_unit_test(test_path_single_bucket),
		cmocka_unit_test(test_path_limits),
		cmocka_unit_test(test_dir_prefix),
		cmocka_unit_test(test_meta_parse_s3fs_headers),
		cmocka_unit_test(test_meta_symlink_mode_and_bad_values),
		cmocka_unit_test(test_meta_time_parse_format),
		cmocka_unit_test(test_meta_headers_out),
		cmocka_unit_test(test_meta_user_limit_and_reserved),
		cmocka_unit_test(test_meta_s3fs_xattr_blob),
		cmocka_unit_test(test_plan_parts),
		cmocka_unit_test(test_listing_sorted_found_absent),
		cmocka_unit_test(test_listing_empty_and_capped),
		cmocka_unit_test(test_url_decode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_json: the bounded jansson helpers (src/json.c): caps checked before
 * parsing, one value and nothing after it, exact integers or an error,
 * typed member lookups, and compact dumps into capped buffers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"

#define CAP (1024 * 1024)

static const char describe_table[] =
	"{\"Table\":{\"TableName\":\"music\",\"ItemCount\":42,\"TableSizeBytes\":0,"
	"\"KeySchema\":[{\"AttributeName\":\"Artist\",\"KeyType\":\"HASH\"},"
	"{\"AttributeName\":\"SongTitle\",\"KeyType\":\"RANGE\"}],"
	"\"TableStatus\":\"ACTIVE\",\"Deleted\":false,\"Ratio\":0.5}}";

static int parse(const char *s, size_t max, json_t **out)
{
	return jsonx_parse(s, strlen(s), max, out);
}

static void expect_fail(const char *s, size_t len, size_t max, int err)
{
	json_t *v = json_null(); /* must be reset to NULL, not left alone */

	assert_int_equal(jsonx_parse(s, len, max, &v), err);
	assert_null(v);
}

static void test_parse_ok(void **state)
{
	json_t *v, *table, *ks;
	long long n = -1;

	/* blanks after the value are fine */
	assert_int_equal(jsonx_parse(describe_table, sizeof(describe_table) - 1, CAP, &v), 0);
	table = jsonx_object(v, "Table");
	assert_non_null(table);
	assert_string_equal(jsonx_str(table, "TableName"), "music");
	assert_int_equal(jsonx_int(table, "ItemCount", &n), 0);
	assert_int_equal(n, 42);
	ks = jsonx_array(table, "KeySchema");
	assert_non_null(ks);
	assert_int_equal(json_array_size(ks), 2);
	assert_string_equal(jsonx_str(json_array_get(ks, 1), "KeyType"), "RANGE");
	json_decref(v);

	assert_int_equal(parse(" {\"a\":1} \n\t\r\n", CAP, &v), 0);
	json_decref(v);
}

/* Any value may stand at the top (SSM values, DynamoDB attributes). */
static void test_parse_any_top_level(void **state)
{
	json_t *v;

	assert_int_equal(parse("42", CAP, &v), 0);
	assert_true(json_is_integer(v));
	assert_int_equal(json_integer_value(v), 42);
	json_decref(v);
	assert_int_equal(parse("\"caf\xc3\xa9\"", CAP, &v), 0);
	assert_string_equal(json_string_value(v), "caf\xc3\xa9");
	json_decref(v);
	assert_int_equal(parse("null", CAP, &v), 0);
	assert_true(json_is_null(v));
	json_decref(v);
	assert_int_equal(parse("[]", CAP, &v), 0);
	assert_true(json_is_array(v));
	json_decref(v);
}

static void test_trailing_garbage(void **state)
{
	static const char *const bad[] = {
		"{\"a\":1}x",
		"{\"a\":1}{\"b\":2}",
		"{\"a\":1},",
		"1 2",
		"\"s\"\"t\"",
		"null null",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_fail(bad[i], strlen(bad[i]), CAP, -EINVAL);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"", "{", "{\"a\":}", "{'a':1}", "[1,]", "{\"a\":1,}", "nul", "01",
		"\"\\u0000\"",       /* would cut a C string short */
		"\"\xff\"",          /* not UTF-8 */
		"\"\\ud800\"",       /* a lone surrogate */
		"{\"a\" 1}",
	};
	static const char with_nul[] = "{\"a\":1}\0";
	char *deep = malloc(5001);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_fail(bad[i], strlen(bad[i]), CAP, -EINVAL);
	expect_fail(NULL, 0, CAP, -EINVAL);
	/* a NUL byte after the value is garbage, not an end */
	expect_fail(with_nul, sizeof(with_nul) - 1, CAP, -EINVAL);

	/* deeper than jansson's nesting limit: refused, not a stack overflow */
	assert_non_null(deep);
	memset(deep, '[', 5000);
	deep[5000] = '\0';
	expect_fail(deep, 5000, CAP, -EINVAL);
	free(deep);
}

/* The cap is checked first: a body one byte too long is -EFBIG even when it
 * is not JSON at all, which a parse would have reported as -EINVAL. */
static void test_over_cap(void **state)
{
	static const char valid[] = "{\"a\":\"0123456789\"}"; /* 18 bytes */
	static const char garbage[] = "<html>not json</html>";
	json_t *v;

	assert_int_equal(strlen(valid), 18);
	assert_int_equal(parse(valid, 18, &v), 0);
	json_decref(v);
	expect_fail(valid, 18, 17, -EFBIG);
	expect_fail(garbage, strlen(garbage), strlen(garbage) - 1, -EFBIG);
	expect_fail(garbage, strlen(garbage), 0, -EFBIG);
}

/* Integers are exact or refused: never rounded through a double. */
static void test_integers(void **state)
{
	json_t *v;
	long long n;

	assert_int_equal(parse("{\"n\":9223372036854775807,\"m\":-9223372036854775808}", CAP, &v), 0);
	assert_int_equal(jsonx_int(v, "n", &n), 0);
	assert_true(n == INT64_MAX);
	assert_int_equal(jsonx_int(v, "m", &n), 0);
	assert_true(n == INT64_MIN);
	json_decref(v);

	expect_fail("{\"n\":9223372036854775808}", 25, CAP, -EINVAL);
	expect_fail("-9223372036854775809", 20, CAP, -EINVAL);
	expect_fail("[123456789012345678901234567890]", 32, CAP, -EINVAL);
	/* a real out of a double's range is no better */
	expect_fail("1e400", 5, CAP, -EINVAL);
}

static void test_helpers_missing_and_wrong_type(void **state)
{
	json_t *v, *arr;
	long long n = 7;

	assert_int_equal(parse("{\"s\":\"x\",\"i\":5,\"r\":5.0,\"z\":null,\"b\":true,"
			       "\"a\":[1],\"o\":{\"k\":1},\"q\":\"42\"}", CAP, &v), 0);
	/* missing */
	assert_null(jsonx_str(v, "nope"));
	assert_int_equal(jsonx_int(v, "nope", &n), -ENOENT);
	assert_null(jsonx_array(v, "nope"));
	assert_null(jsonx_object(v, "nope"));
	/* present with the wrong type */
	assert_null(jsonx_str(v, "i"));
	assert_null(jsonx_str(v, "z"));
	assert_null(jsonx_str(v, "o"));
	assert_int_equal(jsonx_int(v, "q", &n), -EINVAL); /* a string of digits */
	assert_int_equal(jsonx_int(v, "r", &n), -EINVAL); /* 5.0 is a real */
	assert_int_equal(jsonx_int(v, "z", &n), -EINVAL);
	assert_int_equal(jsonx_int(v, "b", &n), -EINVAL);
	assert_int_equal(n, 7); /* untouched by the failures */
	assert_null(jsonx_array(v, "o"));
	assert_null(jsonx_object(v, "a"));
	assert_null(jsonx_array(v, "s"));
	/* the right types */
	assert_string_equal(jsonx_str(v, "s"), "x");
	assert_int_equal(jsonx_int(v, "i", &n), 0);
	assert_int_equal(n, 5);
	assert_non_null(jsonx_array(v, "a"));
	assert_non_null(jsonx_object(v, "o"));

	/* not an object, or nothing at all (a chained lookup that failed) */
	arr = jsonx_array(v, "a");
	assert_null(jsonx_str(arr, "s"));
	assert_int_equal(jsonx_int(arr, "i", &n), -ENOENT);
	assert_null(jsonx_object(arr, "o"));
	assert_null(jsonx_str(NULL, "s"));
	assert_int_equal(jsonx_int(jsonx_object(v, "nope"), "k", &n), -ENOENT);
	assert_null(jsonx_array(NULL, "a"));
	json_decref(v);
}

static void test_dump_compact_ordered(void **state)
{
	json_t *o = json_object();
	struct buf b;

	assert_non_null(o);
	/* insertion order, not hash or sorted order */
	json_object_set_new(o, "z", json_integer(1));
	json_object_set_new(o, "a", json_pack("[bn]", 1));
	json_object_set_new(o, "m", json_string("x\"y\xc3\xa9"));
	buf_init(&b, 1024);
	assert_int_equal(buf_puts(&b, "body="), 0);
	assert_int_equal(jsonx_dump(o, &b), 0);
	/* appended, compact, escapes kept, UTF-8 passed through */
	assert_string_equal(b.data, "body={\"z\":1,\"a\":[true,null],\"m\":\"x\\\"y\xc3\xa9\"}");
	assert_int_equal(b.len, strlen(b.data));
	json_decref(o);

	/* a scalar at the top, as jsonx_parse accepts */
	buf_reset(&b);
	o = json_integer(-5);
	assert_int_equal(jsonx_dump(o, &b), 0);
	assert_string_equal(b.data, "-5");
	json_decref(o);
	buf_free(&b);
}

/* Parsing then dumping an AWS answer gives it back byte for byte. */
static void test_round_trip(void **state)
{
	json_t *v;
	struct buf b;

	assert_int_equal(parse(describe_table, CAP, &v), 0);
	buf_init(&b, CAP);
	assert_int_equal(jsonx_dump(v, &b), 0);
	assert_string_equal(b.data, describe_table);
	json_decref(v);
	buf_free(&b);
}

static void test_dump_over_cap(void **state)
{
	json_t *v;
	struct buf b;
	size_t full = sizeof(describe_table) - 1;

	assert_int_equal(parse(describe_table, CAP, &v), 0);

	/* exactly enough room */
	buf_init(&b, full);
	assert_int_equal(jsonx_dump(v, &b), 0);
	assert_int_equal(b.len, full);
	buf_free(&b);

	/* one byte short: -EFBIG and the buffer as it was */
	buf_init(&b, full + 2);
	assert_int_equal(buf_puts(&b, "ab"), 0);
	b.max = full + 1;
	assert_int_equal(jsonx_dump(v, &b), -EFBIG);
	assert_int_equal(b.len, 2);
	assert_string_equal(b.data, "ab");
	buf_free(&b);

	/* a tiny buffer, nothing in it yet */
	buf_init(&b, 8);
	assert_int_equal(jsonx_dump(v, &b), -EFBIG);
	assert_int_equal(b.len, 0);
	assert_true(b.data == NULL || b.data[0] == '\0');
	buf_free(&b);

	json_decref(v);
	buf_init(&b, 8);
	assert_int_equal(jsonx_dump(NULL, &b), -EINVAL);
	buf_free(&b);
}

/*
 * An object key that does not fit: jansson drops the callback's failure
 * while writing a key and goes on with the smaller pieces after it, which
 * fit. The dump must still fail, not return a document with a hole
 * (found by tests/fuzz/fuzz_json).
 */
static void test_dump_over_cap_in_key(void **state)
{
	static const char doc[] = "{\"a long key, longer than the cap\":\"v\",\"k\":[1,2]}";
	json_t *v;
	struct buf b;

	assert_int_equal(parse(doc, CAP, &v), 0);
	buf_init(&b, 20);
	assert_int_equal(buf_puts(&b, "x"), 0);
	assert_int_equal(jsonx_dump(v, &b), -EFBIG);
	assert_int_equal(b.len, 1);
	assert_string_equal(b.data, "x");
	buf_free(&b);
	json_decref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_any_top_level),
		cmocka_unit_test(test_trailing_garbage),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_over_cap),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_helpers_missing_and_wrong_type),
		cmocka_unit_test(test_dump_compact_ordered),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_dump_over_cap),
		cmocka_unit_test(test_dump_over_cap_in_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_buf: the capped buffer (src/buf.c) and the small helpers of
 * src/util.c: hashing, SigV4 URI encoding, base64, time parsing, checked
 * number and size parsing, and capped file reads.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "util.h"

/* ---- buf ---- */

static void test_buf_basic(void **state)
{
	struct buf b;

	buf_init(&b, 100);
	assert_null(b.data); /* nothing allocated yet */
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_puts(&b, "abc"), 0);
	assert_int_equal(buf_putc(&b, '-'), 0);
	assert_int_equal(buf_append(&b, "x\0y", 3), 0); /* binary safe */
	assert_int_equal(b.len, 7);
	assert_memory_equal(b.data, "abc-x\0y", 8); /* and NUL-terminated */
	buf_free(&b);
	assert_null(b.data);
	buf_free(&b); /* twice is harmless */
}

/* Past the cap: -EFBIG and the buffer exactly as it was. */
static void test_buf_cap(void **state)
{
	struct buf b;

	buf_init(&b, 10);
	assert_int_equal(buf_puts(&b, "12345678"), 0);
	assert_int_equal(buf_puts(&b, "abc"), -EFBIG);
	assert_int_equal(b.len, 8);
	assert_string_equal(b.data, "12345678");
	assert_int_equal(buf_printf(&b, "%d", 123), -EFBIG);
	assert_int_equal(b.len, 8);
	assert_string_equal(b.data, "12345678");
	/* a length that would wrap len + n around is refused, not wrapped */
	assert_int_equal(buf_append(&b, "x", SIZE_MAX), -EFBIG);
	assert_int_equal(buf_append(&b, "x", SIZE_MAX - 7), -EFBIG);
	assert_int_equal(b.len, 8);
	/* exactly up to the cap is fine, one more is not */
	assert_int_equal(buf_printf(&b, "%c", '9'), 0);
	assert_int_equal(buf_putc(&b, '0'), 0);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "1234567890");
	assert_int_equal(buf_putc(&b, 'x'), -EFBIG);
	assert_int_equal(buf_append(&b, "", 0), 0);
	assert_string_equal(b.data, "1234567890");
	/* memory is capped too: never more than max plus the NUL */
	assert_true(b.alloc <= 11);
	buf_free(&b);

	buf_init(&b, 0);
	assert_int_equal(buf_append(&b, "", 0), 0);
	assert_int_equal(buf_putc(&b, 'x'), -EFBIG);
	assert_string_equal(b.data, "");
	buf_free(&b);
}

/* A buffer "without" a cap (SIZE_MAX) must still grow normally. */
static void test_buf_no_cap(void **state)
{
	struct buf b;

	buf_init(&b, SIZE_MAX);
	for (int i = 0; i < 100; i++)
		assert_int_equal(buf_puts(&b, "0123456789"), 0);
	assert_int_equal(b.len, 1000);
	assert_true(b.alloc > b.len);
	assert_int_equal(b.data[1000], '\0');
	assert_int_equal(b.data[999], '9');
	buf_free(&b);
}

static void test_buf_printf_growth(void **state)
{
	struct buf b;
	char big[3000], want[8000];
	int n;

	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_printf(&b, "[%s]", "head"), 0);
	/* each of these is larger than what the buffer holds at that moment */
	assert_int_equal(buf_printf(&b, "%s|%d|%s", big, -42, big), 0);
	assert_int_equal(buf_printf(&b, "%05u%%", 7u), 0);
	n = snprintf(want, sizeof(want), "[head]%s|-42|%s00007%%", big, big);
	assert_int_equal(b.len, (size_t)n);
	assert_string_equal(b.data, want);
	/* an empty format still leaves a valid string */
	buf_reset(&b);
	assert_int_equal(buf_printf(&b, "%s", ""), 0);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	buf_free(&b);
}

static void test_buf_reset_detach(void **state)
{
	struct buf b;
	char *mem, *p;

	buf_init(&b, 64);
	assert_int_equal(buf_puts(&b, "hello"), 0);
	mem = b.data;
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_ptr_equal(b.data, mem); /* memory kept */
	assert_string_equal(b.data, "");
	assert_int_equal(buf_puts(&b, "again"), 0);

	p = buf_detach(&b);
	assert_string_equal(p, "again");
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.alloc, 0);
	/* the buffer is reusable, with its cap, and independent of p */
	assert_int_equal(buf_puts(&b, "new"), 0);
	assert_string_equal(p, "again");
	assert_string_equal(b.data, "new");
	free(p);
	buf_free(&b);

	/* detaching a buffer that never held anything gives "", not NULL */
	buf_init(&b, 8);
	p = buf_detach(&b);
	assert_non_null(p);
	assert_string_equal(p, "");
	free(p);
}

/* ---- hashing ---- */

static void test_hashes(void **state)
{
	char hex[SHA256_HEX_LEN + 1];
	unsigned char mac[32];
	char machex[65];

	util_sha256_hex("", 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	util_sha256_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* RFC 4231 test case 2 */
	util_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac);
	util_hex(mac, 32, machex);
	assert_string_equal(machex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

/* ---- URI encoding ---- */

static void expect_uri(const char *in, size_t len, bool keep_slash, const char *want)
{
	struct buf b;

	buf_init(&b, 1024);
	assert_int_equal(util_uri_encode(&b, in, len, keep_slash), 0);
	assert_string_equal(b.data ? b.data : "", want);
	buf_free(&b);
}

static void test_uri_encode(void **state)
{
	static const char unreserved[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~";
	struct buf b;

	expect_uri(unreserved, strlen(unreserved), false, unreserved);
	expect_uri("a b", 3, false, "a%20b"); /* never '+' */
	expect_uri("a/b c", 5, true, "a/b%20c");
	expect_uri("a/b c", 5, false, "a%2Fb%20c");
	expect_uri("+=&%?#*", 7, true, "%2B%3D%26%25%3F%23%2A");
	/* UTF-8 byte by byte, upper-case hex */
	expect_uri("\xe2\x82\xac", 3, false, "%E2%82%AC");
	expect_uri("caf\xc3\xa9", 5, false, "caf%C3%A9");
	expect_uri("\xab\xcd\xef", 3, false, "%AB%CD%EF");
	/* the length rules, not a NUL */
	expect_uri("a\0b", 3, false, "a%00b");
	expect_uri("abc", 0, false, "");

	/* the output buffer's cap holds */
	buf_init(&b, 5);
	assert_int_equal(util_uri_encode(&b, "a b c", 5, false), -EFBIG);
	assert_true(b.len <= 5);
	buf_free(&b);
}

/* ---- base64 ---- */

static void expect_b64(const char *plain, const char *enc)
{
	char *e;
	unsigned char *d;
	size_t dlen;

	assert_int_equal(util_base64_encode(plain, strlen(plain), &e), 0);
	assert_string_equal(e, enc);
	assert_int_equal(util_base64_decode(e, strlen(e), &d, &dlen), 0);
	assert_int_equal(dlen, strlen(plain));
	assert_memory_equal(d, plain, dlen);
	free(e);
	free(d);
}

static void expect_b64_decode(const char *in, const void *want, size_t wantlen)
{
	unsigned char *d;
	size_t dlen;

	assert_int_equal(util_base64_decode(in, strlen(in), &d, &dlen), 0);
	assert_int_equal(dlen, wantlen);
	assert_memory_equal(d, want, wantlen);
	free(d);
}

static void expect_b64_bad(const char *in)
{
	unsigned char *d = NULL;
	size_t dlen = 99;

	assert_int_equal(util_base64_decode(in, strlen(in), &d, &dlen), -EINVAL);
	assert_null(d);
	assert_int_equal(dlen, 99);
}

static void test_base64(void **state)
{
	unsigned char all[256];
	char *e;
	unsigned char *d;
	size_t dlen;

	/* RFC 4648 section 10 */
	expect_b64("", "");
	expect_b64("f", "Zg==");
	expect_b64("fo", "Zm8=");
	expect_b64("foo", "Zm9v");
	expect_b64("foob", "Zm9vYg==");
	expect_b64("fooba", "Zm9vYmE=");
	expect_b64("foobar", "Zm9vYmFy");

	/* every byte value survives the round trip */
	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	assert_int_equal(util_base64_encode(all, sizeof(all), &e), 0);
	assert_int_equal(strlen(e), 4 * ((256 + 2) / 3));
	assert_int_equal(util_base64_decode(e, strlen(e), &d, &dlen), 0);
	assert_int_equal(dlen, 256);
	assert_memory_equal(d, all, 256);
	free(e);
	free(d);

	/* url-safe alphabet and missing padding */
	expect_b64_decode("-_-_", "\xfb\xff\xbf", 3);
	expect_b64_decode("+/+/", "\xfb\xff\xbf", 3);
	expect_b64_decode("Zg", "f", 1);
	expect_b64_decode("Zm8", "fo", 2);

	expect_b64_bad("Zm9v!");
	expect_b64_bad("Z");      /* one char cannot hold a byte */
	expect_b64_bad("Zm9vY");
	expect_b64_bad("Zm=9");   /* padding in the middle */
	expect_b64_bad(" Zm9v");
	expect_b64_bad("Zm9v\n");
}

/* ---- time ---- */

static void test_amz_date(void **state)
{
	char out[17];

	util_amz_date(0, out);
	assert_string_equal(out, "19700101T000000Z");
	util_amz_date(1440938160, out); /* the SigV4 examples' date */
	assert_string_equal(out, "20150830T123600Z");
}

static void expect_iso(const char *s, time_t want)
{
	time_t t = -1;

	assert_int_equal(util_parse_iso8601(s, &t), 0);
	assert_int_equal(t, want);
}

static void expect_iso_bad(const char *s)
{
	time_t t = 12345;

	assert_int_equal(util_parse_iso8601(s, &t), -EINVAL);
	assert_int_equal(t, 12345);
}

static void test_iso8601(void **state)
{
	expect_iso("1970-01-01T00:00:00Z", 0);
	expect_iso("2009-10-12T17:50:30.000Z", 1255369830); /* S3 LastModified */
	expect_iso("2024-01-02T03:04:05Z", 1704164645);
	expect_iso("2024-01-02T03:04:05", 1704164645);
	expect_iso("2024-01-02T03:04:05+00:00", 1704164645);
	expect_iso("2024-01-02 03:04:05.123456Z", 1704164645);
	expect_iso("2024-02-29T23:59:59Z", 1709251199); /* leap day */

	expect_iso_bad("");
	expect_iso_bad("2024-01-02");
	expect_iso_bad("2024/01/02T03:04:05Z");
	expect_iso_bad("2024-01-02T03:04:05+02:00"); /* not UTC */
	expect_iso_bad("2024-01-02T03:04:05Zjunk");
	expect_iso_bad("2024-01-02T03:04:05.5.5Z");
	expect_iso_bad("2024-0a-02T03:04:05Z");
	/* well-formed but impossible: no silent rollover into another date */
	expect_iso_bad("2024-13-02T03:04:05Z");
	expect_iso_bad("2024-00-02T03:04:05Z");
	expect_iso_bad("2024-01-32T03:04:05Z");
	expect_iso_bad("2024-01-02T24:04:05Z");
	expect_iso_bad("2024-01-02T03:60:05Z");
}

static void test_http_date(void **state)
{
	time_t t = -1;

	/* RFC 7231's own example */
	assert_int_equal(util_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
	assert_int_equal(t, 784111777);
	assert_int_equal(util_parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(util_parse_http_date("Tue, 02 Jan 2024 03:04:05 GMT", &t), 0);
	assert_int_equal(t, 1704164645);
	assert_int_equal(util_parse_http_date("Thu, 29 Feb 2024 23:59:59 GMT", &t), 0);
	assert_int_equal(t, 1709251199);

	t = 5;
	assert_int_equal(util_parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT", &t), -EINVAL);
	/* a misaligned piece of the month table is not a month */
	assert_int_equal(util_parse_http_date("Sun, 06 anF 1994 08:49:37 GMT", &t), -EINVAL);
	assert_int_equal(util_parse_http_date("Sun, 06 Nov 1994", &t), -EINVAL);
	/* asctime form (no comma) */
	assert_int_equal(util_parse_http_date("Sun Nov  6 08:49:37 1994", &t), -EINVAL);
	assert_int_equal(util_parse_http_date("", &t), -EINVAL);
	/* Out of range: no int overflow on y - 1900 (found with the fuzz
	 * target's UBSan build), no silent roll-over by timegm. */
	assert_int_equal(util_parse_http_date("Mon, 01 Jan -2147483648 00:00:00 GMT", &t),
			 -EINVAL);
	assert_int_equal(util_parse_http_date("Mon, 01 Jan 99999999999 00:00:00 GMT", &t),
			 -EINVAL);
	assert_int_equal(util_parse_http_date("Mon, 00 Jan 2024 00:00:00 GMT", &t), -EINVAL);
	assert_int_equal(util_parse_http_date("Mon, 32 Jan 2024 00:00:00 GMT", &t), -EINVAL);
	assert_int_equal(util_parse_http_date("Mon, 01 Jan 2024 24:00:00 GMT", &t), -EINVAL);
	assert_int_equal(util_parse_http_date("Mon, 01 Jan 2024 00:60:00 GMT", &t), -EINVAL);
	assert_int_equal(util_parse_http_date("Mon, 01 Jan 2024 00:00:61 GMT", &t), -EINVAL);
	assert_int_equal(util_parse_http_date("Mon, 01 Jan 2024 -1:00:00 GMT", &t), -EINVAL);
	assert_int_equal(t, 5);
	/* A leap second is a real time. */
	assert_int_equal(util_parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT", &t), 0);
	assert_int_equal(t, 1483228800);
}

/* ---- numbers ---- */

static void test_parse_ll(void **state)
{
	long long v = 77;

	assert_int_equal(util_parse_ll("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(util_parse_ll("-5", -10, 10, &v), 0);
	assert_int_equal(v, -5);
	assert_int_equal(util_parse_ll("9223372036854775807", LLONG_MIN, LLONG_MAX, &v), 0);
	assert_true(v == LLONG_MAX);
	assert_int_equal(util_parse_ll("-9223372036854775808", LLONG_MIN, LLONG_MAX, &v), 0);
	assert_true(v == LLONG_MIN);

	v = 77;
	assert_int_equal(util_parse_ll("", 0, 10, &v), -EINVAL);
	assert_int_equal(util_parse_ll(NULL, 0, 10, &v), -EINVAL);
	assert_int_equal(util_parse_ll("12x", 0, 100, &v), -EINVAL);
	assert_int_equal(util_parse_ll("x", 0, 100, &v), -EINVAL);
	assert_int_equal(util_parse_ll("1 ", 0, 100, &v), -EINVAL);
	assert_int_equal(util_parse_ll("1.5", 0, 100, &v), -EINVAL);
	assert_int_equal(util_parse_ll("9223372036854775808", LLONG_MIN, LLONG_MAX, &v), -ERANGE);
	assert_int_equal(util_parse_ll("-9223372036854775809", LLONG_MIN, LLONG_MAX, &v), -ERANGE);
	assert_int_equal(util_parse_ll("11", 0, 10, &v), -ERANGE);
	assert_int_equal(util_parse_ll("-1", 0, 10, &v), -ERANGE);
	assert_int_equal(v, 77); /* untouched by every failure */
}

static void expect_size(const char *s, uint64_t want)
{
	uint64_t v = 1;

	assert_int_equal(util_parse_size(s, &v), 0);
	assert_true(v == want);
}

static void expect_size_bad(const char *s, int err)
{
	uint64_t v = 99;

	assert_int_equal(util_parse_size(s, &v), err);
	assert_true(v == 99);
}

static void test_parse_size(void **state)
{
	expect_size("0", 0);
	expect_size("1", 1);
	expect_size("4K", 4096);
	expect_size("4k", 4096);
	expect_size("1Ki", 1024);
	expect_size("1KiB", 1024);
	expect_size("1KB", 1024);
	expect_size("8M", 8ull << 20);
	expect_size("8MiB", 8ull << 20);
	expect_size("2G", 2ull << 30);
	expect_size("3GiB", 3ull << 30);
	expect_size("1T", 1ull << 40);
	expect_size("18446744073709551615", UINT64_MAX);
	expect_size("17179869183G", UINT64_MAX - (1ull << 30) + 1);

	expect_size_bad(NULL, -EINVAL);
	expect_size_bad("", -EINVAL);
	expect_size_bad("K", -EINVAL);
	expect_size_bad("-1", -EINVAL);
	expect_size_bad(" -1", -EINVAL); /* strtoull would wrap it to 2^64-1 */
	expect_size_bad("+1", -EINVAL);
	expect_size_bad("1X", -EINVAL);
	expect_size_bad("1.5M", -EINVAL);
	expect_size_bad("1M junk", -EINVAL);
	expect_size_bad("1Kb", -EINVAL);
	expect_size_bad("1KBB", -EINVAL);
	expect_size_bad("1i", -EINVAL);  /* "i" only after a multiplier */
	expect_size_bad("1iB", -EINVAL);
	/* overflow, of the number or of the multiplication */
	expect_size_bad("18446744073709551616", -ERANGE);
	expect_size_bad("17179869184G", -ERANGE);
	expect_size_bad("16777216T", -ERANGE);
}

/* ---- files ---- */

static char *temp_file(const void *data, size_t len)
{
	char *path = strdup("/tmp/test_buf.XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

static void test_read_file(void **state)
{
	char data[5000];
	char *path, *out = NULL;
	size_t len = 0;

	/* more than one read(2) chunk, and binary */
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7);
	path = temp_file(data, sizeof(data));
	assert_int_equal(util_read_file(path, sizeof(data), &out, &len), 0);
	assert_int_equal(len, sizeof(data));
	assert_memory_equal(out, data, sizeof(data));
	assert_int_equal(out[len], '\0');
	free(out);
	out = NULL;
	/* one byte over the cap */
	assert_int_equal(util_read_file(path, sizeof(data) - 1, &out, &len), -EFBIG);
	assert_null(out);
	unlink(path);
	free(path);

	path = temp_file("", 0);
	assert_int_equal(util_read_file(path, 10, &out, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(out, "");
	free(out);
	out = NULL;
	unlink(path);
	free(path);

	assert_int_equal(util_read_file("/nonexistent/awsfs-test", 10, &out, NULL), -ENOENT);
	assert_int_equal(util_read_file("/tmp", 10, &out, NULL), -EISDIR);
	assert_null(out);
}

static void test_small_helpers(void **state)
{
	char hex[7];
	char *s;
	char secret[4] = { 's', 'e', 'c', 'r' };

	util_hex((const unsigned char *)"\x00\xab\xff", 3, hex);
	assert_string_equal(hex, "00abff");
	assert_null(util_strdup0(NULL));
	s = util_strdup0("x");
	assert_string_equal(s, "x");
	free(s);
	util_wipe(secret, sizeof(secret));
	assert_memory_equal(secret, "\0\0\0\0", 4);
	util_wipe(NULL, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_basic),
		cmocka_unit_test(test_buf_cap),
		cmocka_unit_test(test_buf_no_cap),
		cmocka_unit_test(test_buf_printf_growth),
		cmocka_unit_test(test_buf_reset_detach),
		cmocka_unit_test(test_hashes),
		cmocka_unit_test(test_uri_encode),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_amz_date),
		cmocka_unit_test(test_iso8601),
		cmocka_unit_test(test_http_date),
		cmocka_unit_test(test_parse_ll),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_read_file),
		cmocka_unit_test(test_small_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

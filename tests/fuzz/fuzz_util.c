/*
 * fuzz_util: the small parsers of src/util.c, fed what servers and users
 * send: ISO 8601 times (S3 LastModified, CreationDate), HTTP dates (the
 * Date header, used for clock skew), sizes and numbers (-o values,
 * Content-Length, Size), base64 (DynamoDB binary, SQS attributes).
 * The first byte picks the parser; the rest is the text.
 * Checks: results stay in range, a failure writes nothing, base64 decodes
 * what it encodes, URI encoding leaves only unreserved bytes and %XX.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "util.h"

/* 0000-01-01 and 9999-12-31T23:59:60Z: what four year digits can say. */
#define ISO_MIN (-62167219200LL)
#define ISO_MAX 253402300800LL

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

static bool hexdigit(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

static void check_base64(const uint8_t *data, size_t size, const char *s)
{
	unsigned char *bin = NULL, *again = NULL;
	char *enc = NULL;
	size_t n = 7, m = 0;
	int rc;

	rc = util_base64_decode(s, strlen(s), &bin, &n);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	if (rc) {
		FUZZ_CHECK(bin == NULL && n == 7);
	} else {
		FUZZ_CHECK(n <= strlen(s) * 3 / 4 + 1);
		/* Decoding what was encoded gives it back. */
		FUZZ_CHECK(util_base64_encode(bin, n, &enc) == 0);
		FUZZ_CHECK(strlen(enc) == 4 * ((n + 2) / 3));
		FUZZ_CHECK(util_base64_decode(enc, strlen(enc), &again, &m) == 0);
		FUZZ_CHECK(m == n && memcmp(again, bin, n) == 0);
	}
	free(bin);
	free(enc);
	free(again);
	/* Any bytes, NULs included, survive encode + decode. */
	enc = NULL;
	again = NULL;
	FUZZ_CHECK(util_base64_encode(data, size, &enc) == 0);
	FUZZ_CHECK(util_base64_decode(enc, strlen(enc), &again, &m) == 0);
	FUZZ_CHECK(m == size && (size == 0 || memcmp(again, data, size) == 0));
	free(enc);
	free(again);
}

static void check_uri(const char *s, bool keep_slash)
{
	struct buf b;

	buf_init(&b, 3 * strlen(s) + 1);
	FUZZ_CHECK(util_uri_encode(&b, s, strlen(s), keep_slash) == 0);
	for (size_t i = 0; i < b.len; i++) {
		unsigned char c = (unsigned char)b.data[i];

		if (c == '%') {
			FUZZ_CHECK(i + 2 < b.len && hexdigit(b.data[i + 1]) &&
				   hexdigit(b.data[i + 2]));
			i += 2;
		} else {
			FUZZ_CHECK(unreserved(c) || (keep_slash && c == '/'));
		}
	}
	buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	time_t t = 12345;
	long long ll = 12345;
	uint64_t u = 12345;
	int rc;

	if (size < 1)
		return 0;
	s = fuzz_cstr(data + 1, size - 1);
	switch (data[0] % 6) {
	case 0:
		rc = util_parse_iso8601(s, &t);
		FUZZ_CHECK(rc == 0 || rc == -EINVAL);
		if (rc == 0)
			FUZZ_CHECK((long long)t >= ISO_MIN && (long long)t <= ISO_MAX);
		else
			FUZZ_CHECK(t == 12345);
		break;
	case 1:
		rc = util_parse_http_date(s, &t);
		FUZZ_CHECK(rc == 0 || rc == -EINVAL);
		if (rc)
			FUZZ_CHECK(t == 12345);
		break;
	case 2:
		rc = util_parse_size(s, &u);
		FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE);
		if (rc)
			FUZZ_CHECK(u == 12345);
		break;
	case 3: {
		long long lo = (data[0] & 0x80) ? -1000 : 0, hi = (data[0] & 0x40) ? 4096 : INT64_MAX;

		rc = util_parse_ll(s, lo, hi, &ll);
		FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE);
		if (rc == 0)
			FUZZ_CHECK(ll >= lo && ll <= hi);
		else
			FUZZ_CHECK(ll == 12345);
		break;
	}
	case 4:
		check_base64(data + 1, size - 1, s);
		break;
	default:
		check_uri(s, data[0] & 0x80);
		break;
	}
	free(s);
	return 0;
}

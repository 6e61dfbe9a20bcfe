/*
 * fuzz_sigv4: SigV4 canonicalization of any path, query and headers.
 *
 * Input: one flag byte (bit 0: S3 flavour, bit 1: unsigned payload,
 * bit 2: no host header added), then '\n'-separated lines: method, path,
 * query, and "name:value" header lines. Paths and queries are what file
 * names and listing tokens turn into; header values include what a user
 * sets (x-amz-meta-*). Checks: the same input gives the same bytes, a
 * failure leaves the output buffer as it was, a success is well formed
 * (the six parts, sorted lower-case signed headers) and signs.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sigv4.h"

#define MAX_LINES 64
#define PREFIX "kept\n"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

/* The canonical request's lines: method, uri, query, headers..., "",
 * signed headers, payload hash. */
static void check_shape(const struct sigv4_input *in, const char *creq)
{
	const char *last = strrchr(creq, '\n');
	const char *signed_line, *p;

	FUZZ_CHECK(strncmp(creq, in->method, strlen(in->method)) == 0);
	FUZZ_CHECK(creq[strlen(in->method)] == '\n');
	FUZZ_CHECK(creq[strlen(in->method) + 1] == '/' || in->s3);
	FUZZ_CHECK(last && strcmp(last + 1, in->payload_hash) == 0);
	/* The signed header list: lower case, sorted, no duplicates, host in it. */
	for (signed_line = last; signed_line > creq && signed_line[-1] != '\n'; signed_line--)
		;
	FUZZ_CHECK(signed_line > creq + 1 && signed_line[-2] == '\n');
	for (p = signed_line; p < last; p++)
		FUZZ_CHECK(!(*p >= 'A' && *p <= 'Z'));
	{
		const char *prev = NULL, *s = signed_line;
		size_t prev_len = 0;
		bool host = false;

		while (s < last) {
			const char *semi = memchr(s, ';', (size_t)(last - s));
			size_t n = semi ? (size_t)(semi - s) : (size_t)(last - s);

			FUZZ_CHECK(n > 0);
			if (n == 4 && memcmp(s, "host", 4) == 0)
				host = true;
			if (prev) {
				size_t m = n < prev_len ? n : prev_len;
				int c = memcmp(prev, s, m);

				FUZZ_CHECK(c < 0 || (c == 0 && prev_len < n));
			}
			prev = s;
			prev_len = n;
			s = semi ? semi + 1 : last;
		}
		FUZZ_CHECK(host);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sigv4_header headers[MAX_LINES + 1];
	char *lines[MAX_LINES + 3], *text;
	struct sigv4_input in;
	struct buf a, b, auth;
	size_t n, nh = 0;
	uint8_t flags;
	int rc, rc2;

	if (size < 1)
		return 0;
	flags = data[0];
	text = fuzz_cstr(data + 1, size - 1);
	n = fuzz_split(text, '\n', lines, MAX_LINES + 3);
	if (!(flags & 4))
		headers[nh++] = (struct sigv4_header){ "Host", "examplebucket.s3.amazonaws.com" };
	for (size_t i = 3; i < n; i++) {
		char *colon = strchr(lines[i], ':');

		if (colon)
			*colon = '\0';
		headers[nh++] = (struct sigv4_header){ lines[i], colon ? colon + 1 : NULL };
	}
	in = (struct sigv4_input){
		.method = n > 0 ? lines[0] : "GET",
		.path = n > 1 ? lines[1] : "/",
		.query = n > 2 ? lines[2] : NULL,
		.headers = headers,
		.nheaders = nh,
		.payload_hash = flags & 2 ? "UNSIGNED-PAYLOAD" : EMPTY_SHA256,
		.now = 1440938160,
		.region = "us-east-1",
		.service = flags & 1 ? "s3" : "service",
		.s3 = flags & 1,
	};

	buf_init(&a, 1u << 22);
	buf_init(&b, 1u << 22);
	FUZZ_CHECK(buf_puts(&a, PREFIX) == 0);
	rc = sigv4_canonical_request(&in, &a);
	rc2 = sigv4_canonical_request(&in, &b);
	FUZZ_CHECK(rc <= 0 && rc == rc2);
	FUZZ_CHECK(strncmp(a.data, PREFIX, strlen(PREFIX)) == 0);
	if (rc) {
		FUZZ_CHECK(a.len == strlen(PREFIX));
		FUZZ_CHECK(b.len == 0);
	} else {
		FUZZ_CHECK(a.len == strlen(PREFIX) + b.len);
		FUZZ_CHECK(memcmp(a.data + strlen(PREFIX), b.data, b.len) == 0);
		check_shape(&in, b.data);
	}

	buf_init(&auth, 1u << 22);
	FUZZ_CHECK(buf_puts(&auth, PREFIX) == 0);
	rc2 = sigv4_authorization(&in, "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
				  &auth, NULL);
	FUZZ_CHECK(rc2 == rc || (rc == 0 && rc2 == -EFBIG));
	if (rc2 == 0)
		FUZZ_CHECK(strncmp(auth.data + strlen(PREFIX), "AWS4-HMAC-SHA256 Credential=", 28) ==
			   0);
	else
		FUZZ_CHECK(auth.len == strlen(PREFIX));

	buf_free(&a);
	buf_free(&b);
	buf_free(&auth);
	free(text);
	return 0;
}

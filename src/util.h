/*
 * util: small helpers shared by every module: hashing, encoding, time,
 * checked string-to-number conversion. Nothing here does I/O.
 */
#ifndef AWSFS_UTIL_H
#define AWSFS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"

#define SHA256_HEX_LEN 64

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void util_hex(const unsigned char *in, size_t n, char *out);
/* SHA-256 of data as 64 hex digits plus NUL. */
void util_sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1]);
/* HMAC-SHA256; out gets 32 bytes. */
void util_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
		      unsigned char out[32]);

/*
 * URI-encode per SigV4: everything but A-Z a-z 0-9 - _ . ~ becomes %XX
 * (upper-case hex). With keep_slash, '/' is left as is (paths).
 * Returns 0 or a buf error.
 */
int util_uri_encode(struct buf *out, const char *s, size_t len, bool keep_slash);

/* Standard base64 (with padding). Caller frees *out. 0 or -ENOMEM. */
int util_base64_encode(const void *in, size_t len, char **out);
/* Decode standard or url-safe base64, padding optional. Caller frees.
 * 0, -EINVAL on bad input or -ENOMEM. */
int util_base64_decode(const char *in, size_t len, unsigned char **out, size_t *outlen);

/* Monotonic clock in milliseconds (for TTLs, timeouts, backoff). */
uint64_t util_mono_ms(void);

/* "20150830T123600Z" (16 chars + NUL) and "20150830" of a UTC time. */
void util_amz_date(time_t t, char out[17]);
/* Parse an ISO 8601 UTC time ("2024-01-02T03:04:05Z", fractions allowed).
 * Returns 0 or -EINVAL. */
int util_parse_iso8601(const char *s, time_t *out);
/* Parse an RFC 7231 HTTP date ("Sun, 06 Nov 1994 08:49:37 GMT"). */
int util_parse_http_date(const char *s, time_t *out);

/* strtoll/strtoull with full checks: the whole string must be a number in
 * [min, max]. Returns 0 or -EINVAL/-ERANGE. */
int util_parse_ll(const char *s, long long min, long long max, long long *out);
/* Sizes with an optional K/M/G suffix (powers of 1024). */
int util_parse_size(const char *s, uint64_t *out);

/* Read a whole file of at most max bytes. Caller frees *out (NUL-terminated).
 * 0, -errno from open/read, or -EFBIG. */
int util_read_file(const char *path, size_t max, char **out, size_t *len);

/* Is s (n bytes) well-formed UTF-8 (no overlong forms, no surrogates, at
 * most U+10FFFF)? NUL bytes are allowed; callers that refuse them check. */
bool util_utf8_valid(const char *s, size_t n);

/* Constant-time-ish zeroing of secret material before free. */
void util_wipe(void *p, size_t n);
/* strdup that survives NULL (returns NULL). */
char *util_strdup0(const char *s);

#endif

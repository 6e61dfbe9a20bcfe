/*
 * sigv4: AWS Signature Version 4 with an Authorization header.
 *
 * Two flavours: the general one (path normalized, each segment URI-encoded
 * again, so an already-encoded path is double-encoded) and S3's (the path is
 * used exactly as sent, no normalization, no double encoding, and
 * x-amz-content-sha256 is always among the signed headers).
 * Pure functions: no I/O, no global state, thread-safe. The caller supplies
 * the time, so tests are exact.
 */
#ifndef AWSFS_SIGV4_H
#define AWSFS_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"

struct sigv4_header {
	const char *name;  /* any case; canonicalized to lower case */
	const char *value; /* leading/trailing blanks trimmed, inner runs folded */
};

struct sigv4_input {
	const char *method;  /* "GET", "PUT", ... */
	const char *path;    /* the path exactly as on the request line, already
			      * percent-encoded (e.g. "/my%20key"); never NULL */
	const char *query;   /* the query string as sent, without '?'; NULL or "" for none */
	const struct sigv4_header *headers; /* every header to sign; must include host */
	size_t nheaders;
	const char *payload_hash; /* hex SHA-256 of the body, or "UNSIGNED-PAYLOAD" */
	time_t now;               /* request time, UTC seconds */
	const char *region;       /* "us-east-1" */
	const char *service;      /* "s3", "dynamodb", "sqs", "ssm", "sts" */
	bool s3;                  /* S3 flavour (see above) */
};

/*
 * Canonical request of in into out. Returns 0, -EINVAL on a malformed input
 * (no host header, a header name that is not an HTTP token, bad percent
 * escape), or a buf error.
 * Multiple headers with the same name are joined with ',' in the order given.
 */
int sigv4_canonical_request(const struct sigv4_input *in, struct buf *out);

/* String to sign for a canonical request (hashes it). */
int sigv4_string_to_sign(const struct sigv4_input *in, const char *canonical_request,
			 struct buf *out);

/*
 * The whole Authorization header value:
 * "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/svc/aws4_request,
 *  SignedHeaders=host;x-amz-date, Signature=<64 hex>".
 * The caller must already have put x-amz-date (and x-amz-security-token when
 * there is a session token, and for S3 x-amz-content-sha256) among the
 * headers. If signature_hex is non-NULL the bare signature is copied there.
 * Returns 0 or a negative errno; out holds nothing useful on failure.
 * The secret key is never copied anywhere but the stack.
 */
int sigv4_authorization(const struct sigv4_input *in, const char *access_key,
			const char *secret_key, struct buf *out, char signature_hex[65]);

#endif

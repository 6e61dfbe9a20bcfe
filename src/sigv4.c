/*
 * sigv4: AWS Signature Version 4, Authorization-header form. See sigv4.h.
 *
 * Canonical request, string to sign and signing-key derivation as in the AWS
 * General Reference ("Create a signed AWS API request"). Pure functions: the
 * caller supplies the time, nothing is cached, every output buffer is left
 * as it was on failure. Presigned (query-string) URLs are not supported.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sigv4.h"
#include "util.h"

/* Fixed strings of the SigV4 specification. */
#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_TERMINATOR "aws4_request"
#define SIGV4_KEY_PREFIX "AWS4"
/* Length of the date part ("20150830") of an amz date. */
#define SIGV4_DATE_LEN 8
/*
 * Cap on the scratch buffers (query pairs, signed-header list, canonical
 * request): servers reject request heads past a few tens of KiB, so 1 MiB
 * only ever trips on a caller bug.
 */
#define SIGV4_MAX_SCRATCH (1024 * 1024)
/* AWS secret keys are 40 characters; anything near this is not a key. */
#define SIGV4_MAX_SECRET 256

/* One path segment kept by the normalizer. */
struct seg {
	const char *p;
	size_t n;
};

/* One query parameter, both halves strictly encoded and NUL-terminated. */
struct qpair {
	const char *name;
	const char *value;
};

/* A header and its position in the input, so the sort is stable. */
struct href {
	const struct sigv4_header *h;
	size_t idx;
};

/* Undo a partial append so a failed call leaves out as it was. */
static void truncate_to(struct buf *out, size_t len)
{
	out->len = len;
	if (out->data)
		out->data[len] = '\0';
}

/* Blanks folded by the header-value trimming (what botocore's split() eats). */
static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* ASCII-only lower case: header names are tokens, the locale must not matter. */
static unsigned char lower(char c)
{
	unsigned char u = (unsigned char)c;

	return u >= 'A' && u <= 'Z' ? (unsigned char)(u + ('a' - 'A')) : u;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * General-flavour canonical URI: RFC 3986 dot-segment removal plus the
 * AWS rule that empty segments ("//") vanish, then every segment encoded.
 * The result keeps a trailing '/' when the input's last segment was empty,
 * "." or "..", as RFC 3986 section 5.2.4 does; an empty result is "/".
 */
static int put_normalized_path(struct buf *out, const char *path)
{
	struct seg *stack;
	size_t nseg = 1, top = 0;
	bool dir = false;
	const char *s = path;
	int rc = 0;

	for (const char *p = path; *p; p++)
		if (*p == '/')
			nseg++;
	stack = calloc(nseg, sizeof(*stack));
	if (!stack)
		return -ENOMEM;

	for (;;) {
		const char *slash = strchr(s, '/');
		size_t n = slash ? (size_t)(slash - s) : strlen(s);

		if (n == 0 || (n == 1 && s[0] == '.')) {
			dir = true;
		} else if (n == 2 && s[0] == '.' && s[1] == '.') {
			if (top > 0)
				top--;
			dir = true;
		} else {
			stack[top].p = s;
			stack[top].n = n;
			top++;
			dir = false;
		}
		if (!slash)
			break;
		s = slash + 1;
	}

	for (size_t i = 0; i < top && rc == 0; i++) {
		rc = buf_putc(out, '/');
		if (rc == 0)
			rc = util_uri_encode(out, stack[i].p, stack[i].n, false);
	}
	if (rc == 0 && (top == 0 || dir))
		rc = buf_putc(out, '/');
	free(stack);
	return rc;
}

static int put_canonical_uri(const struct sigv4_input *in, struct buf *out)
{
	if (in->path[0] == '\0')
		return buf_putc(out, '/');
	/* S3 signs the request-target path byte for byte. */
	if (in->s3)
		return buf_puts(out, in->path);
	return put_normalized_path(out, in->path);
}

/* Percent-decode s[0..n) into out; a '%' not followed by two hex digits is
 * -EINVAL. '+' stays '+': SigV4 queries are not form-encoded. */
static int put_decoded(struct buf *out, const char *s, size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		if (s[i] != '%') {
			rc = buf_putc(out, s[i]);
			continue;
		}
		if (n - i < 3 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
			return -EINVAL;
		rc = buf_putc(out, (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2])));
		i += 2;
	}
	return rc;
}

/* Decode s[0..n), re-encode it strictly into arena and NUL-terminate it. */
static int put_reencoded(struct buf *arena, struct buf *scratch, const char *s, size_t n)
{
	int rc;

	buf_reset(scratch);
	rc = put_decoded(scratch, s, n);
	if (rc == 0 && scratch->len > 0)
		rc = util_uri_encode(arena, scratch->data, scratch->len, false);
	if (rc == 0)
		rc = buf_putc(arena, '\0');
	return rc;
}

static int qpair_cmp(const void *a, const void *b)
{
	const struct qpair *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	return r ? r : strcmp(x->value, y->value);
}

/*
 * Canonical query string. Each parameter is decoded and re-encoded so that
 * "%7e", "~" and "%7E" all sign the same, then sorted by name, then value.
 * Empty parameters ("a=1&&b=2") carry nothing and are dropped.
 */
static int put_canonical_query(struct buf *out, const char *query)
{
	struct buf arena, scratch;
	struct qpair *pairs = NULL;
	size_t *offs = NULL;
	size_t npairs = 0, cap = 1;
	const char *s = query;
	int rc = 0;

	if (!query || !*query)
		return 0;
	buf_init(&arena, SIGV4_MAX_SCRATCH);
	buf_init(&scratch, SIGV4_MAX_SCRATCH);
	for (const char *p = query; *p; p++)
		if (*p == '&')
			cap++;
	pairs = calloc(cap, sizeof(*pairs));
	/* Offsets into the arena: its data moves while it grows. */
	offs = calloc(cap * 2, sizeof(*offs));
	if (!pairs || !offs) {
		rc = -ENOMEM;
		goto fail;
	}

	for (;;) {
		const char *amp = strchr(s, '&');
		size_t n = amp ? (size_t)(amp - s) : strlen(s);
		const char *eq = memchr(s, '=', n);
		size_t nlen = eq ? (size_t)(eq - s) : n;

		if (n > 0) {
			offs[2 * npairs] = arena.len;
			rc = put_reencoded(&arena, &scratch, s, nlen);
			if (rc)
				goto fail;
			offs[2 * npairs + 1] = arena.len;
			/* A bare key ("acl") signs as "acl=". */
			rc = put_reencoded(&arena, &scratch, eq ? eq + 1 : s + n,
					   eq ? n - nlen - 1 : 0);
			if (rc)
				goto fail;
			npairs++;
		}
		if (!amp)
			break;
		s = amp + 1;
	}

	for (size_t i = 0; i < npairs; i++) {
		pairs[i].name = arena.data + offs[2 * i];
		pairs[i].value = arena.data + offs[2 * i + 1];
	}
	qsort(pairs, npairs, sizeof(*pairs), qpair_cmp);
	for (size_t i = 0; i < npairs && rc == 0; i++)
		rc = buf_printf(out, "%s%s=%s", i ? "&" : "", pairs[i].name, pairs[i].value);

fail:
	free(pairs);
	free(offs);
	buf_free(&arena);
	buf_free(&scratch);
	return rc;
}

/* Compare header names as their lower-case forms would compare. */
static int name_cmp(const char *a, const char *b)
{
	while (*a && lower(*a) == lower(*b)) {
		a++;
		b++;
	}
	return (int)lower(*a) - (int)lower(*b);
}

static int href_cmp(const void *a, const void *b)
{
	const struct href *x = a, *y = b;
	int r = name_cmp(x->h->name, y->h->name);

	if (r)
		return r;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * A header name must be a non-empty token (RFC 9110 section 5.6.2: letters,
 * digits and !#$%&'*+-.^_`|~). Anything else cannot be sent as a name, and
 * a ';' would even split it in two in the SignedHeaders list.
 */
static bool valid_name(const char *name)
{
	if (!name || !*name)
		return false;
	for (const char *p = name; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", c)))
			return false;
	}
	return true;
}

static int put_lower(struct buf *out, const char *s)
{
	int rc = 0;

	for (; *s && rc == 0; s++)
		rc = buf_putc(out, (char)lower(*s));
	return rc;
}

/* Value with outer blanks trimmed and inner runs folded to one space. */
static int put_folded(struct buf *out, const char *v)
{
	bool gap = false, started = false;
	int rc = 0;

	for (; v && *v && rc == 0; v++) {
		if (is_blank(*v)) {
			gap = started;
			continue;
		}
		if (gap)
			rc = buf_putc(out, ' ');
		if (rc == 0)
			rc = buf_putc(out, *v);
		gap = false;
		started = true;
	}
	return rc;
}

/*
 * Canonical header block (each line ending in '\n') into out and the
 * ';'-joined signed header list into signed_list.
 */
static int put_canonical_headers(const struct sigv4_input *in, struct buf *out,
				 struct buf *signed_list)
{
	struct href *refs;
	bool have_host = false;
	int rc = 0;

	if (in->nheaders == 0 || !in->headers)
		return -EINVAL;
	refs = calloc(in->nheaders, sizeof(*refs));
	if (!refs)
		return -ENOMEM;
	for (size_t i = 0; i < in->nheaders; i++) {
		if (!valid_name(in->headers[i].name)) {
			rc = -EINVAL;
			goto fail;
		}
		if (name_cmp(in->headers[i].name, "host") == 0)
			have_host = true;
		refs[i].h = &in->headers[i];
		refs[i].idx = i;
	}
	if (!have_host) {
		rc = -EINVAL;
		goto fail;
	}
	qsort(refs, in->nheaders, sizeof(*refs), href_cmp);

	for (size_t i = 0; i < in->nheaders && rc == 0; i++) {
		const struct sigv4_header *h = refs[i].h;

		/* Repeated names are one line, values in the order given. */
		if (i > 0 && name_cmp(refs[i - 1].h->name, h->name) == 0) {
			rc = buf_putc(out, ',');
		} else {
			if (i > 0)
				rc = buf_putc(out, '\n');
			if (rc == 0 && i > 0)
				rc = buf_putc(signed_list, ';');
			if (rc == 0)
				rc = put_lower(out, h->name);
			if (rc == 0)
				rc = put_lower(signed_list, h->name);
			if (rc == 0)
				rc = buf_putc(out, ':');
		}
		if (rc == 0)
			rc = put_folded(out, h->value);
	}
	if (rc == 0)
		rc = buf_putc(out, '\n');
fail:
	free(refs);
	return rc;
}

/* The canonical request into out, its signed-header list into signed_list. */
static int build_canonical(const struct sigv4_input *in, struct buf *out,
			   struct buf *signed_list)
{
	size_t start = out->len, sstart = signed_list->len;
	int rc;

	if (!in->method || !*in->method || !in->path || !in->payload_hash)
		return -EINVAL;
	rc = buf_printf(out, "%s\n", in->method);
	if (rc)
		goto fail;
	rc = put_canonical_uri(in, out);
	if (rc)
		goto fail;
	rc = buf_putc(out, '\n');
	if (rc)
		goto fail;
	rc = put_canonical_query(out, in->query);
	if (rc)
		goto fail;
	rc = buf_putc(out, '\n');
	if (rc)
		goto fail;
	rc = put_canonical_headers(in, out, signed_list);
	if (rc)
		goto fail;
	rc = buf_printf(out, "\n%s\n%s", signed_list->data ? signed_list->data : "",
			in->payload_hash);
fail:
	if (rc) {
		truncate_to(out, start);
		truncate_to(signed_list, sstart);
	}
	return rc;
}

int sigv4_canonical_request(const struct sigv4_input *in, struct buf *out)
{
	struct buf signed_list;
	int rc;

	buf_init(&signed_list, SIGV4_MAX_SCRATCH);
	rc = build_canonical(in, out, &signed_list);
	buf_free(&signed_list);
	return rc;
}

int sigv4_string_to_sign(const struct sigv4_input *in, const char *canonical_request,
			 struct buf *out)
{
	char date[17];
	char hash[SHA256_HEX_LEN + 1];
	size_t start = out->len;
	int rc;

	if (!canonical_request || !in->region || !in->service)
		return -EINVAL;
	util_amz_date(in->now, date);
	util_sha256_hex(canonical_request, strlen(canonical_request), hash);
	rc = buf_printf(out, "%s\n%s\n%.*s/%s/%s/%s\n%s", SIGV4_ALGORITHM, date,
			SIGV4_DATE_LEN, date, in->region, in->service, SIGV4_TERMINATOR, hash);
	if (rc)
		truncate_to(out, start);
	return rc;
}

int sigv4_authorization(const struct sigv4_input *in, const char *access_key,
			const char *secret_key, struct buf *out, char signature_hex[65])
{
	unsigned char key[sizeof(SIGV4_KEY_PREFIX) - 1 + SIGV4_MAX_SECRET];
	unsigned char k1[32], k2[32], mac[32];
	char date[17], sig[SHA256_HEX_LEN + 1];
	struct buf creq, signed_list, sts;
	size_t start = out->len, slen;
	int rc;

	buf_init(&creq, SIGV4_MAX_SCRATCH);
	buf_init(&signed_list, SIGV4_MAX_SCRATCH);
	buf_init(&sts, SIGV4_MAX_SCRATCH);
	if (!access_key || !*access_key || !secret_key || !in->region || !in->service) {
		rc = -EINVAL;
		goto fail;
	}
	slen = strlen(secret_key);
	if (slen > SIGV4_MAX_SECRET) {
		rc = -EINVAL;
		goto fail;
	}
	rc = build_canonical(in, &creq, &signed_list);
	if (rc)
		goto fail;
	rc = sigv4_string_to_sign(in, creq.data, &sts);
	if (rc)
		goto fail;

	/* kSigning = HMAC chain over date, region, service, "aws4_request". */
	util_amz_date(in->now, date);
	memcpy(key, SIGV4_KEY_PREFIX, sizeof(SIGV4_KEY_PREFIX) - 1);
	memcpy(key + sizeof(SIGV4_KEY_PREFIX) - 1, secret_key, slen);
	util_hmac_sha256(key, sizeof(SIGV4_KEY_PREFIX) - 1 + slen, date, SIGV4_DATE_LEN, k1);
	util_hmac_sha256(k1, sizeof(k1), in->region, strlen(in->region), k2);
	util_hmac_sha256(k2, sizeof(k2), in->service, strlen(in->service), k1);
	util_hmac_sha256(k1, sizeof(k1), SIGV4_TERMINATOR, strlen(SIGV4_TERMINATOR), k2);
	util_hmac_sha256(k2, sizeof(k2), sts.data, sts.len, mac);
	util_hex(mac, sizeof(mac), sig);

	rc = buf_printf(out, "%s Credential=%s/%.*s/%s/%s/%s, SignedHeaders=%s, Signature=%s",
			SIGV4_ALGORITHM, access_key, SIGV4_DATE_LEN, date, in->region,
			in->service, SIGV4_TERMINATOR, signed_list.data, sig);
	if (rc)
		goto fail;
	if (signature_hex)
		memcpy(signature_hex, sig, sizeof(sig));
fail:
	if (rc)
		truncate_to(out, start);
	util_wipe(key, sizeof(key));
	util_wipe(k1, sizeof(k1));
	util_wipe(k2, sizeof(k2));
	buf_free(&creq);
	buf_free(&signed_list);
	buf_free(&sts);
	return rc;
}

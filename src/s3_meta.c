/*
 * s3_meta: an object's metadata as s3fs stores it, and the xattrs built on
 * it. Pure logic: headers in, headers out, no requests.
 *
 * s3fs 1.90 writes x-amz-meta-mode, -uid, -gid in decimal and -mtime,
 * -ctime, -atime in seconds with an optional ".nnnnnnnnn" fraction; its
 * xattrs live in one x-amz-meta-xattr header, a percent-encoded JSON object
 * of base64 values. awsfs reads all of these and writes the first set; its
 * own xattrs are plain x-amz-meta-NAME headers (as goofys writes them).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json.h"
#include "s3_i.h"
#include "util.h"

#define META_PREFIX "x-amz-meta-"
#define META_MAX_VALUE 2048 /* S3 allows 2 KB of user metadata in all */

static const char *const reserved[] = { "mode", "uid", "gid", "mtime", "ctime", "atime",
					"xattr" };

bool s3_meta_reserved(const char *name)
{
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strcasecmp(name, reserved[i]) == 0)
			return true;
	return false;
}

void s3_meta_free(struct s3_meta *m)
{
	if (!m)
		return;
	free(m->etag);
	free(m->content_type);
	free(m->version_id);
	free(m->storage_class);
	free(m->sse);
	for (size_t i = 0; i < m->nuser; i++) {
		free(m->user[i].name);
		free(m->user[i].value);
	}
	free(m->user);
	free(m->xattr_blob);
	memset(m, 0, sizeof(*m));
}

int s3_meta_copy(struct s3_meta *dst, const struct s3_meta *src)
{
	*dst = *src;
	dst->etag = util_strdup0(src->etag);
	dst->content_type = util_strdup0(src->content_type);
	dst->version_id = util_strdup0(src->version_id);
	dst->storage_class = util_strdup0(src->storage_class);
	dst->sse = util_strdup0(src->sse);
	dst->xattr_blob = util_strdup0(src->xattr_blob);
	dst->user = NULL;
	dst->nuser = 0;
	if ((src->etag && !dst->etag) || (src->content_type && !dst->content_type) ||
	    (src->version_id && !dst->version_id) || (src->storage_class && !dst->storage_class) ||
	    (src->sse && !dst->sse) || (src->xattr_blob && !dst->xattr_blob))
		goto nomem;
	if (src->nuser) {
		dst->user = calloc(src->nuser, sizeof(*dst->user));
		if (!dst->user)
			goto nomem;
		for (size_t i = 0; i < src->nuser; i++) {
			dst->user[i].name = strdup(src->user[i].name);
			dst->user[i].value = strdup(src->user[i].value);
			dst->nuser++;
			if (!dst->user[i].name || !dst->user[i].value)
				goto nomem;
		}
	}
	return 0;
nomem:
	s3_meta_free(dst);
	return -ENOMEM;
}

int s3_meta_parse_time(const char *s, struct timespec *out)
{
	long long sec = 0, nsec = 0;
	const char *p = s;
	bool neg = false;
	int digits = 0;

	if (*p == '-') {
		neg = true;
		p++;
	}
	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (sec > 922337203685LL) /* keep far from overflow */
			return -EINVAL;
		sec = sec * 10 + (*p - '0');
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 9)
				nsec = nsec * 10 + (*p - '0');
		if (digits == 0)
			return -EINVAL;
		for (int i = digits; i < 9; i++)
			nsec *= 10;
	}
	if (*p)
		return -EINVAL;
	out->tv_sec = (time_t)(neg ? -sec : sec);
	out->tv_nsec = (long)nsec;
	return 0;
}

void s3_meta_format_time(const struct timespec *t, char *out, size_t outlen)
{
	if (t->tv_nsec)
		snprintf(out, outlen, "%lld.%09ld", (long long)t->tv_sec, t->tv_nsec);
	else
		snprintf(out, outlen, "%lld", (long long)t->tv_sec);
}

static int set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = v ? strdup(v) : NULL;
	return v && !*dst ? -ENOMEM : 0;
}

bool s3_meta_value_ok(const char *value, size_t len)
{
	if (len > META_MAX_VALUE)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)value[i] < 0x20 || (unsigned char)value[i] > 0x7e)
			return false;
	/* A header value loses its leading and trailing blanks on the way. */
	if (len && (value[0] == ' ' || value[len - 1] == ' '))
		return false;
	return true;
}

int s3_meta_set_user(struct s3_meta *m, const char *name, const char *value, size_t len)
{
	size_t i;
	char *v = NULL, *n;

	for (i = 0; i < m->nuser; i++)
		if (strcasecmp(m->user[i].name, name) == 0)
			break;
	if (!value) {
		if (i == m->nuser)
			return -ENODATA;
		free(m->user[i].name);
		free(m->user[i].value);
		memmove(&m->user[i], &m->user[i + 1], (m->nuser - i - 1) * sizeof(m->user[0]));
		m->nuser--;
		return 0;
	}
	v = strndup(value, len);
	if (!v)
		return -ENOMEM;
	if (i < m->nuser) {
		free(m->user[i].value);
		m->user[i].value = v;
		return 0;
	}
	if (m->nuser >= S3_MAX_USER_META) {
		free(v);
		return -E2BIG;
	}
	n = strdup(name);
	if (n) {
		for (char *p = n; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	}
	{
		struct s3_kv *grown = n ? realloc(m->user, (m->nuser + 1) * sizeof(*grown)) : NULL;

		if (!grown) {
			free(n);
			free(v);
			return -ENOMEM;
		}
		m->user = grown;
	}
	m->user[m->nuser].name = n;
	m->user[m->nuser].value = v;
	m->nuser++;
	return 0;
}

static int parse_uint(const char *v, long long max, long long *out)
{
	return util_parse_ll(v, 0, max, out);
}

int s3_meta_from_headers(const struct http_response *r, struct s3_meta *m)
{
	const char *v;
	long long n;
	int rc = 0;

	memset(m, 0, sizeof(*m));
	if ((v = http_response_header(r, "content-length")) && parse_uint(v, S3_MAX_OBJECT, &n) == 0)
		m->size = (off_t)n;
	/* A ranged GET: the object's size is after the '/'. */
	if ((v = http_response_header(r, "content-range"))) {
		const char *slash = strrchr(v, '/');

		if (slash && parse_uint(slash + 1, S3_MAX_OBJECT, &n) == 0)
			m->size = (off_t)n;
	}
	if ((v = http_response_header(r, "last-modified")))
		util_parse_http_date(v, &m->last_modified);
	rc |= set_str(&m->etag, http_response_header(r, "etag"));
	rc |= set_str(&m->content_type, http_response_header(r, "content-type"));
	rc |= set_str(&m->version_id, http_response_header(r, "x-amz-version-id"));
	rc |= set_str(&m->storage_class, http_response_header(r, "x-amz-storage-class"));
	if ((v = http_response_header(r, "x-amz-server-side-encryption"))) {
		const char *kid = http_response_header(r, "x-amz-server-side-encryption-aws-kms-key-id");
		struct buf b;

		buf_init(&b, 4096);
		rc |= buf_puts(&b, v);
		if (kid && *kid)
			rc |= buf_printf(&b, ":%s", kid);
		free(m->sse);
		m->sse = buf_detach(&b);
		if (!m->sse)
			rc = -ENOMEM;
	}
	for (size_t i = 0; i < r->nheaders && rc == 0; i++) {
		const char *name = r->headers[i].name, *val = r->headers[i].value;
		struct timespec ts;

		if (strncmp(name, META_PREFIX, strlen(META_PREFIX)) != 0)
			continue;
		name += strlen(META_PREFIX);
		if (strcmp(name, "mode") == 0) {
			if (parse_uint(val, 0xffffffffLL, &n) == 0) {
				m->mode = (mode_t)n;
				m->has_mode = true;
			}
		} else if (strcmp(name, "uid") == 0) {
			if (parse_uint(val, 0xffffffffLL, &n) == 0) {
				m->uid = (uid_t)n;
				m->has_uid = true;
			}
		} else if (strcmp(name, "gid") == 0) {
			if (parse_uint(val, 0xffffffffLL, &n) == 0) {
				m->gid = (gid_t)n;
				m->has_gid = true;
			}
		} else if (strcmp(name, "mtime") == 0) {
			if (s3_meta_parse_time(val, &ts) == 0) {
				m->mtime = ts;
				m->has_mtime = true;
			}
		} else if (strcmp(name, "ctime") == 0) {
			if (s3_meta_parse_time(val, &ts) == 0) {
				m->ctime = ts;
				m->has_ctime = true;
			}
		} else if (strcmp(name, "atime") == 0) {
			if (s3_meta_parse_time(val, &ts) == 0) {
				m->atime = ts;
				m->has_atime = true;
			}
		} else if (strcmp(name, "xattr") == 0) {
			free(m->xattr_blob);
			m->xattr_blob = NULL;
			rc = s3_meta_pct_decode(val, &m->xattr_blob);
			if (rc == -EINVAL)
				rc = 0; /* unreadable: ignored */
		} else if (*name) {
			rc = s3_meta_set_user(m, name, val, strlen(val));
			if (rc == -E2BIG)
				rc = 0; /* more than awsfs keeps: the rest is not shown */
		}
	}
	if (rc) {
		s3_meta_free(m);
		return -ENOMEM;
	}
	return 0;
}

/* Append "x-amz-meta-NAME: VALUE" (meta) or "NAME: VALUE". */
static int add_line(char ***lines, size_t *n, bool meta, const char *a, const char *b)
{
	char **grown = realloc(*lines, (*n + 1) * sizeof(*grown));
	struct buf l;

	if (!grown)
		return -ENOMEM;
	*lines = grown;
	buf_init(&l, 8192);
	if (buf_printf(&l, "%s%s: %s", meta ? META_PREFIX : "", a, b))
		return -ENOMEM;
	grown[*n] = buf_detach(&l);
	if (!grown[*n])
		return -ENOMEM;
	(*n)++;
	return 0;
}

int s3_meta_headers(const struct s3_meta *m, char ***lines, size_t *n)
{
	char num[48];
	int rc = 0;

	if (m->has_mode) {
		snprintf(num, sizeof(num), "%u", (unsigned)m->mode);
		rc = add_line(lines, n, true, "mode", num);
	}
	if (!rc && m->has_uid) {
		snprintf(num, sizeof(num), "%u", (unsigned)m->uid);
		rc = add_line(lines, n, true, "uid", num);
	}
	if (!rc && m->has_gid) {
		snprintf(num, sizeof(num), "%u", (unsigned)m->gid);
		rc = add_line(lines, n, true, "gid", num);
	}
	if (!rc && m->has_mtime) {
		s3_meta_format_time(&m->mtime, num, sizeof(num));
		rc = add_line(lines, n, true, "mtime", num);
	}
	if (!rc && m->has_ctime) {
		s3_meta_format_time(&m->ctime, num, sizeof(num));
		rc = add_line(lines, n, true, "ctime", num);
	}
	if (!rc && m->has_atime) {
		s3_meta_format_time(&m->atime, num, sizeof(num));
		rc = add_line(lines, n, true, "atime", num);
	}
	for (size_t i = 0; i < m->nuser && !rc; i++)
		rc = add_line(lines, n, true, m->user[i].name, m->user[i].value);
	if (!rc && m->xattr_blob) {
		struct buf enc;

		/* s3fs percent-encodes its blob; so does awsfs when it keeps one. */
		buf_init(&enc, 16384);
		rc = util_uri_encode(&enc, m->xattr_blob, strlen(m->xattr_blob), false);
		if (!rc)
			rc = add_line(lines, n, true, "xattr", enc.data ? enc.data : "");
		buf_free(&enc);
	}
	if (!rc && m->content_type && *m->content_type)
		rc = add_line(lines, n, false, "Content-Type", m->content_type);
	return rc;
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
 * Percent-decode in into out (outlen bytes, the NUL included); plus_space:
 * '+' is a space (a listing's url encoding). 0, -EINVAL for a bad escape,
 * -ENAMETOOLONG when out is too small, -EILSEQ when it holds a NUL (out is
 * complete, cut there for C). Never reads past in's NUL.
 */
static int pct_decode(const char *in, bool plus_space, char *out, size_t outlen)
{
	size_t j = 0;
	bool nul = false;

	if (!outlen)
		return -ENAMETOOLONG;
	for (size_t i = 0; in[i]; i++) {
		int c = (unsigned char)in[i];

		if (c == '%') {
			int hi = hexval(in[i + 1]);
			int lo = hi >= 0 ? hexval(in[i + 2]) : -1;

			if (hi < 0 || lo < 0)
				return -EINVAL; /* (in[i + 1] is at worst the NUL: no read past it) */
			c = hi * 16 + lo;
			i += 2;
			nul = nul || c == 0;
		} else if (c == '+' && plus_space) {
			c = ' '; /* S3 writes a space as '+' (and '+' as %2B) */
		}
		if (j + 1 >= outlen)
			return -ENAMETOOLONG;
		out[j++] = (char)c;
	}
	out[j] = '\0';
	return nul ? -EILSEQ : 0;
}

int s3_meta_pct_decode(const char *in, char **out)
{
	size_t len = strlen(in);
	char *o = malloc(len + 1);
	int rc;

	if (!o)
		return -ENOMEM;
	rc = pct_decode(in, false, o, len + 1); /* never longer than in */
	if (rc) {
		free(o);
		return -EINVAL; /* a bad escape, or a NUL inside */
	}
	*out = o;
	return 0;
}

int s3_meta_blob_get(const char *blob, const char *name, char **value, size_t *len)
{
	json_t *root = NULL;
	const char *b64;
	unsigned char *dec = NULL;
	size_t n = 0;
	int rc;

	if (!blob)
		return -ENODATA;
	rc = jsonx_parse(blob, strlen(blob), 64u << 10, &root);
	if (rc)
		return rc == -ENOMEM ? rc : -ENODATA;
	b64 = jsonx_str(root, name);
	if (!b64) {
		json_decref(root);
		return -ENODATA;
	}
	rc = util_base64_decode(b64, strlen(b64), &dec, &n);
	json_decref(root);
	if (rc)
		return rc == -ENOMEM ? rc : -ENODATA;
	*value = (char *)dec;
	*len = n;
	return 0;
}

int s3_meta_blob_names(const char *blob, struct buf *out)
{
	json_t *root = NULL, *v;
	const char *k;
	int rc;

	if (!blob)
		return 0;
	if (jsonx_parse(blob, strlen(blob), 64u << 10, &root) || !json_is_object(root)) {
		json_decref(root);
		return 0;
	}
	rc = 0;
	json_object_foreach(root, k, v) {
		if (rc)
			break;
		rc = buf_append(out, k, strlen(k) + 1);
	}
	json_decref(root);
	return rc;
}

int s3_url_decode(const char *in, char *out, size_t outlen)
{
	return pct_decode(in, true, out, outlen);
}

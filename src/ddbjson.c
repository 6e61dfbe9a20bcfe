/*
 * ddbjson: DynamoDB items as JSON files, key values as file names. See
 * ddbjson.h.
 *
 * Why a JSON reader of its own: the plain view must read
 * {"n": 12345678901234567890123456789012345678, "t": 1E-130} and store
 * exactly those digits. jansson turns a number into a json_int_t (64 bits)
 * or a double, so it rejects the first and rounds the second
 * (JSON_DECODE_INT_AS_REAL only trades the error for lost digits); it has
 * no way to hand out a number's text. The reader below builds a small tree
 * (struct jnode) that keeps each number exactly as written, with caps on
 * depth (DDBJSON_MAX_DEPTH), values (DDBJSON_MAX_NODES) and, by the
 * caller, the text's length. DynamoDB's typed JSON holds numbers as strings,
 * so answers from DynamoDB go through jansson as usual; output is written by
 * the pretty writer below (struct jw), so numbers are never formatted from
 * a double either.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ddbjson.h"
#include "util.h"

/* A number with more significant digits than this is no DynamoDB number
 * (38 digits, exponents to 125 even written out in full). */
#define DDBJSON_NUM_MAX_DIGITS 160
/* Exponents beyond this are no DynamoDB number (its range is 1E-130 to
 * 9.99E+125) and would only risk overflow. */
#define DDBJSON_NUM_MAX_EXP 100000L
/* The typed view doubles the nesting of an item; DescribeTable is shallow. */
#define JW_MAX_DEPTH (2 * DDBJSON_MAX_DEPTH + 8)
/* DynamoDB's size accounting (Developer Guide, "Item sizes and formats"). */
#define DDB_SIZE_CONTAINER 3 /* a List or Map, whatever it holds */
#define DDB_SIZE_ELEMENT 1   /* each element of a List or Map */
#define DDB_SIZE_SCALAR 1    /* a BOOL or NULL */

/* ------------------------------------------------------------------ */
/* UTF-8                                                               */
/* ------------------------------------------------------------------ */

/* Whether s holds well-formed UTF-8 (no overlongs, surrogates or values
 * past U+10FFFF): DynamoDB strings must be, and so must names. */
static bool utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		unsigned c = *p;
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if ((size_t)(end - p) <= n)
			return false;
		for (size_t i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += n + 1;
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* Numbers, as decimal text                                            */
/* ------------------------------------------------------------------ */

/* A number as 0.DIGITS x 10^exp, DIGITS without leading or trailing
 * zeros (none at all for zero). */
struct dec {
	bool neg;
	long exp;
	size_t n;
	char d[DDBJSON_NUM_MAX_DIGITS];
};

/* Parse what DynamoDB accepts: [+-] digits [. [digits]] | [+-] . digits,
 * then [eE [+-] digits]. 0 or -EINVAL. */
static int dec_parse(const char *s, size_t len, struct dec *out)
{
	const char *p = s, *end = s + len;
	size_t mant = 0;
	long point = 0, exp = 0;
	bool seen_point = false, lead = true;

	memset(out, 0, sizeof(*out));
	if (p < end && (*p == '+' || *p == '-'))
		out->neg = *p++ == '-';
	for (; p < end; p++) {
		if (*p == '.' && !seen_point) {
			seen_point = true;
			continue;
		}
		if (*p < '0' || *p > '9')
			break;
		mant++;
		if (lead && *p == '0') {
			if (seen_point)
				point--; /* 0.001: each zero after the point moves it */
			continue;
		}
		lead = false;
		if (out->n >= DDBJSON_NUM_MAX_DIGITS)
			return -EINVAL;
		out->d[out->n++] = *p;
		if (!seen_point)
			point++;
	}
	if (mant == 0)
		return -EINVAL;
	if (p < end && (*p == 'e' || *p == 'E')) {
		bool eneg = false;
		size_t edigits = 0;

		p++;
		if (p < end && (*p == '+' || *p == '-'))
			eneg = *p++ == '-';
		for (; p < end && *p >= '0' && *p <= '9'; p++, edigits++) {
			exp = exp * 10 + (*p - '0');
			if (exp > DDBJSON_NUM_MAX_EXP)
				return -EINVAL;
		}
		if (edigits == 0)
			return -EINVAL;
		if (eneg)
			exp = -exp;
	}
	if (p != end)
		return -EINVAL;
	while (out->n > 0 && out->d[out->n - 1] == '0')
		out->n--;
	if (out->n == 0) {
		out->neg = false;
		out->exp = 0;
		return 0;
	}
	out->exp = point + exp;
	return 0;
}

/* JSON's own number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool json_num_grammar(const char *s, size_t len)
{
	const char *p = s, *end = s + len;

	if (p < end && *p == '-')
		p++;
	if (p >= end)
		return false;
	if (*p == '0') {
		p++;
	} else if (*p >= '1' && *p <= '9') {
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	} else {
		return false;
	}
	if (p < end && *p == '.') {
		const char *q = ++p;

		while (p < end && *p >= '0' && *p <= '9')
			p++;
		if (p == q)
			return false;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		const char *q;

		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		q = p;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		if (p == q)
			return false;
	}
	return p == end;
}

static int dec_cmp(const struct dec *a, const struct dec *b)
{
	int sign, c;
	size_t n;

	if (a->n == 0 || b->n == 0) {
		if (a->n == 0 && b->n == 0)
			return 0;
		if (a->n == 0)
			return b->neg ? 1 : -1;
		return a->neg ? -1 : 1;
	}
	if (a->neg != b->neg)
		return a->neg ? -1 : 1;
	sign = a->neg ? -1 : 1;
	if (a->exp != b->exp)
		return a->exp < b->exp ? -sign : sign;
	n = a->n < b->n ? a->n : b->n;
	c = memcmp(a->d, b->d, n);
	if (c)
		return c < 0 ? -sign : sign;
	if (a->n != b->n)
		return a->n < b->n ? -sign : sign;
	return 0;
}

bool ddbjson_num_valid(const char *s, size_t len)
{
	struct dec d;

	return dec_parse(s, len, &d) == 0;
}

int ddbjson_num_cmp(const char *a, const char *b, int *cmp)
{
	struct dec da, db;

	if (dec_parse(a, strlen(a), &da) || dec_parse(b, strlen(b), &db))
		return -EINVAL;
	*cmp = dec_cmp(&da, &db);
	return 0;
}

/* Bytes DynamoDB counts for a number: one per two significant digits, plus
 * one. */
static size_t num_size(const char *s, size_t len)
{
	struct dec d;

	if (dec_parse(s, len, &d) || d.n == 0)
		return 2;
	return (d.n + 1) / 2 + 1;
}

/* ------------------------------------------------------------------ */
/* base64                                                              */
/* ------------------------------------------------------------------ */

/* Whether s is base64 (either alphabet, padding optional) that encodes its
 * bytes canonically: "AQI=" is, "AQJ=" (stray low bits) and "A" are not.
 * *nbytes gets the decoded length. */
static bool b64_canonical(const char *s, size_t len, size_t *nbytes)
{
	unsigned char *bin = NULL;
	char *again = NULL;
	size_t n = 0, stripped = len;
	bool ok = false;

	while (stripped > 0 && s[stripped - 1] == '=')
		stripped--;
	if (len - stripped > 2 || (len != stripped && len % 4 != 0))
		return false;
	if (util_base64_decode(s, stripped, &bin, &n))
		return false;
	if (util_base64_encode(bin, n, &again) == 0) {
		size_t alen = strlen(again);

		while (alen > 0 && again[alen - 1] == '=')
			alen--;
		ok = alen == stripped;
		for (size_t i = 0; ok && i < stripped; i++) {
			char c = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];

			ok = c == again[i];
		}
	}
	free(again);
	free(bin);
	if (ok && nbytes)
		*nbytes = n;
	return ok;
}

/* Bytes of a base64 text without checking it (sizes only). */
static size_t b64_bytes(const char *s, size_t len)
{
	while (len > 0 && s[len - 1] == '=')
		len--;
	return len * 3 / 4;
}

/* ------------------------------------------------------------------ */
/* The pretty writer                                                   */
/* ------------------------------------------------------------------ */

struct jw {
	struct buf *out;
	int rc;
	int depth;
	bool want_value;        /* a member name was just written */
	bool first[JW_MAX_DEPTH + 1];
	bool inl[JW_MAX_DEPTH + 1]; /* members on one line: {"S": "x"} */
};

static void jw_init(struct jw *w, struct buf *out)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
}

static void jw_raw(struct jw *w, const char *s, size_t n)
{
	if (!w->rc)
		w->rc = buf_append(w->out, s, n);
}

static void jw_indent(struct jw *w, int depth)
{
	jw_raw(w, "\n", 1);
	for (int i = 0; i < depth; i++)
		jw_raw(w, "  ", 2);
}

/* Before a value or a member name. */
static void jw_sep(struct jw *w)
{
	bool first;

	if (w->want_value) {
		w->want_value = false;
		return;
	}
	if (w->depth == 0)
		return;
	first = w->first[w->depth];
	w->first[w->depth] = false;
	if (!first)
		jw_raw(w, ",", 1);
	if (w->inl[w->depth]) {
		if (!first)
			jw_raw(w, " ", 1);
	} else {
		jw_indent(w, w->depth);
	}
}

static void jw_open(struct jw *w, char c, bool inl)
{
	jw_sep(w);
	if (w->depth >= JW_MAX_DEPTH) {
		if (!w->rc)
			w->rc = -EINVAL;
		return;
	}
	jw_raw(w, &c, 1);
	w->depth++;
	w->first[w->depth] = true;
	w->inl[w->depth] = inl || w->inl[w->depth - 1];
}

static void jw_close(struct jw *w, char c)
{
	if (w->depth == 0)
		return;
	if (!w->first[w->depth] && !w->inl[w->depth])
		jw_indent(w, w->depth - 1);
	jw_raw(w, &c, 1);
	w->depth--;
}

/* A JSON string of n bytes (any bytes; the caller vouches for UTF-8). */
static void jw_quoted(struct jw *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;

	jw_raw(w, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6];
		size_t elen = 2;

		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
			continue;
		jw_raw(w, s + run, i - run);
		run = i + 1;
		esc[0] = '\\';
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		default:
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			elen = 6;
		}
		jw_raw(w, esc, elen);
	}
	jw_raw(w, s + run, n - run);
	jw_raw(w, "\"", 1);
}

static void jw_string(struct jw *w, const char *s, size_t n)
{
	jw_sep(w);
	jw_quoted(w, s, n);
}

static void jw_key(struct jw *w, const char *s, size_t n)
{
	jw_sep(w);
	jw_quoted(w, s, n);
	jw_raw(w, ": ", 2);
	w->want_value = true;
}

static void jw_literal(struct jw *w, const char *s, size_t n)
{
	jw_sep(w);
	jw_raw(w, s, n);
}

/* A DynamoDB number as a JSON number, its text untouched when JSON allows
 * it; otherwise (".5", "+1", "5." from a lenient server) the same value in
 * JSON's form, and as a string if it is no number at all. */
static void jw_number(struct jw *w, const char *s, size_t n)
{
	struct dec d;
	char tail[32];

	if (json_num_grammar(s, n)) {
		jw_literal(w, s, n);
		return;
	}
	if (dec_parse(s, n, &d)) {
		jw_string(w, s, n);
		return;
	}
	jw_sep(w);
	if (d.n == 0) {
		jw_raw(w, "0", 1);
		return;
	}
	if (d.neg)
		jw_raw(w, "-", 1);
	jw_raw(w, d.d, 1);
	if (d.n > 1) {
		jw_raw(w, ".", 1);
		jw_raw(w, d.d + 1, d.n - 1);
	}
	if (d.exp != 1) {
		int k = snprintf(tail, sizeof(tail), "E%ld", d.exp - 1);

		jw_raw(w, tail, (size_t)k);
	}
}

/* ------------------------------------------------------------------ */
/* The reader: JSON text into a tree that keeps number text            */
/* ------------------------------------------------------------------ */

enum jtype { J_NULL, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ };

struct jnode {
	enum jtype t;
	char *s;      /* J_STR: the decoded bytes (NUL-terminated, may hold NUL);
		       * J_NUM: the number's text */
	size_t len;
	char *key;    /* member name inside an object (decoded, NUL-terminated) */
	size_t keylen;
	struct jnode *kids;
	size_t n, cap;
};

struct reader {
	const char *start, *p, *end;
	size_t nodes;
	int err;
	char *why;
};

static void jnode_clear(struct jnode *n)
{
	for (size_t i = 0; i < n->n; i++)
		jnode_clear(&n->kids[i]);
	free(n->kids);
	free(n->s);
	free(n->key);
	memset(n, 0, sizeof(*n));
}

static void jnode_free(struct jnode *n)
{
	if (n) {
		jnode_clear(n);
		free(n);
	}
}

static int rfail(struct reader *r, int err, const char *what)
{
	if (!r->err) {
		r->err = err;
		if (err == -EINVAL)
			snprintf(r->why, DDBJSON_WHY_MAX, "malformed JSON at byte %zu: %s",
				 (size_t)(r->p - r->start), what);
		else if (err == -EFBIG)
			snprintf(r->why, DDBJSON_WHY_MAX, "%s", what);
		else
			snprintf(r->why, DDBJSON_WHY_MAX, "out of memory");
	}
	return r->err;
}

static void skip_ws(struct reader *r)
{
	while (r->p < r->end &&
	       (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static int hex4(const char *p, uint32_t *out)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -EINVAL;
	}
	*out = v;
	return 0;
}

static int put_utf8(struct buf *b, uint32_t cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_append(b, u, n);
}

/* A string at r->p (on the opening quote): its decoded bytes. */
static int read_string(struct reader *r, char **out, size_t *outlen)
{
	struct buf b;
	int rc = 0;

	buf_init(&b, (size_t)(r->end - r->p) + 1);
	r->p++;
	for (;;) {
		const char *run = r->p;

		while (r->p < r->end && *r->p != '"' && *r->p != '\\' &&
		       (unsigned char)*r->p >= 0x20)
			r->p++;
		if (r->p > run && (rc = buf_append(&b, run, (size_t)(r->p - run))))
			break;
		if (r->p >= r->end) {
			rc = rfail(r, -EINVAL, "unterminated string");
			break;
		}
		if (*r->p == '"') {
			r->p++;
			break;
		}
		if ((unsigned char)*r->p < 0x20) {
			rc = rfail(r, -EINVAL, "control character in a string");
			break;
		}
		/* a backslash */
		if (r->end - r->p < 2) {
			rc = rfail(r, -EINVAL, "unterminated string");
			break;
		}
		r->p++;
		switch (*r->p) {
		case '"': rc = buf_putc(&b, '"'); break;
		case '\\': rc = buf_putc(&b, '\\'); break;
		case '/': rc = buf_putc(&b, '/'); break;
		case 'b': rc = buf_putc(&b, '\b'); break;
		case 'f': rc = buf_putc(&b, '\f'); break;
		case 'n': rc = buf_putc(&b, '\n'); break;
		case 'r': rc = buf_putc(&b, '\r'); break;
		case 't': rc = buf_putc(&b, '\t'); break;
		case 'u': {
			uint32_t cp, lo;

			if (r->end - r->p < 5 || hex4(r->p + 1, &cp)) {
				rc = rfail(r, -EINVAL, "bad \\u escape");
				break;
			}
			r->p += 4;
			if (cp >= 0xdc00 && cp <= 0xdfff) {
				rc = rfail(r, -EINVAL, "lone low surrogate");
				break;
			}
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (r->end - r->p < 7 || r->p[1] != '\\' || r->p[2] != 'u' ||
				    hex4(r->p + 3, &lo) || lo < 0xdc00 || lo > 0xdfff) {
					rc = rfail(r, -EINVAL, "lone high surrogate");
					break;
				}
				r->p += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			rc = put_utf8(&b, cp);
			break;
		}
		default:
			rc = rfail(r, -EINVAL, "bad escape");
		}
		if (rc)
			break;
		r->p++;
	}
	if (!rc && !utf8_valid(b.data ? b.data : "", b.len))
		rc = rfail(r, -EINVAL, "a string is not UTF-8");
	if (rc) {
		if (rc == -ENOMEM || rc == -EFBIG)
			rfail(r, -ENOMEM, "");
		buf_free(&b);
		return r->err ? r->err : rc;
	}
	*outlen = b.len;
	*out = b.data ? buf_detach(&b) : strdup("");
	return *out ? 0 : rfail(r, -ENOMEM, "");
}

static int read_value(struct reader *r, struct jnode *n, int depth);

static struct jnode *add_kid(struct reader *r, struct jnode *n)
{
	if (n->n == n->cap) {
		size_t cap = n->cap ? n->cap * 2 : 4;
		struct jnode *k = realloc(n->kids, cap * sizeof(*k));

		if (!k) {
			rfail(r, -ENOMEM, "");
			return NULL;
		}
		n->kids = k;
		n->cap = cap;
	}
	memset(&n->kids[n->n], 0, sizeof(n->kids[0]));
	return &n->kids[n->n++];
}

static int cmp_kid_keys(const void *a, const void *b)
{
	const struct jnode *x = *(const struct jnode *const *)a;
	const struct jnode *y = *(const struct jnode *const *)b;
	size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
	int c = memcmp(x->key, y->key, n);

	return c ? c : (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

/* An object with the same name twice is ambiguous: refuse it. */
static int check_duplicates(struct reader *r, struct jnode *n)
{
	struct jnode **v;
	int rc = 0;

	if (n->n < 2)
		return 0;
	v = malloc(n->n * sizeof(*v));
	if (!v)
		return rfail(r, -ENOMEM, "");
	for (size_t i = 0; i < n->n; i++)
		v[i] = &n->kids[i];
	qsort(v, n->n, sizeof(*v), cmp_kid_keys);
	for (size_t i = 1; i < n->n && !rc; i++) {
		if (cmp_kid_keys(&v[i - 1], &v[i]) == 0) {
			r->err = -EINVAL;
			snprintf(r->why, DDBJSON_WHY_MAX, "the name \"%.64s\" appears twice in "
				 "one object", v[i]->key);
			rc = -EINVAL;
		}
	}
	free(v);
	return rc;
}

static int read_container(struct reader *r, struct jnode *n, int depth, bool obj)
{
	char close = obj ? '}' : ']';

	n->t = obj ? J_OBJ : J_ARR;
	r->p++;
	skip_ws(r);
	if (r->p < r->end && *r->p == close) {
		r->p++;
		return 0;
	}
	for (;;) {
		struct jnode *k = add_kid(r, n);
		char *key = NULL;
		size_t keylen = 0;

		if (!k)
			return r->err;
		if (obj) {
			skip_ws(r);
			if (r->p >= r->end || *r->p != '"')
				return rfail(r, -EINVAL, "expected a member name");
			if (read_string(r, &key, &keylen))
				return r->err;
			k->key = key;
			k->keylen = keylen;
			skip_ws(r);
			if (r->p >= r->end || *r->p != ':')
				return rfail(r, -EINVAL, "expected ':'");
			r->p++;
		}
		if (read_value(r, k, depth + 1))
			return r->err;
		skip_ws(r);
		if (r->p < r->end && *r->p == ',') {
			r->p++;
			continue;
		}
		if (r->p < r->end && *r->p == close) {
			r->p++;
			break;
		}
		return rfail(r, -EINVAL, obj ? "expected ',' or '}'" : "expected ',' or ']'");
	}
	return obj ? check_duplicates(r, n) : 0;
}

static int read_number(struct reader *r, struct jnode *n)
{
	const char *s = r->p;

	while (r->p < r->end && (strchr("+-.eE", *r->p) || (*r->p >= '0' && *r->p <= '9')))
		r->p++;
	if (!json_num_grammar(s, (size_t)(r->p - s))) {
		r->p = s;
		return rfail(r, -EINVAL, "bad number");
	}
	n->t = J_NUM;
	n->len = (size_t)(r->p - s);
	n->s = strndup(s, n->len);
	return n->s ? 0 : rfail(r, -ENOMEM, "");
}

static int read_word(struct reader *r, const char *word, size_t len)
{
	if ((size_t)(r->end - r->p) < len || memcmp(r->p, word, len) != 0)
		return rfail(r, -EINVAL, "unexpected character");
	r->p += len;
	return 0;
}

static int read_value(struct reader *r, struct jnode *n, int depth)
{
	if (depth > DDBJSON_MAX_DEPTH)
		return rfail(r, -EINVAL, "nested too deeply (DynamoDB allows 32 levels)");
	if (++r->nodes > DDBJSON_MAX_NODES)
		return rfail(r, -EFBIG, "too many values for one item");
	skip_ws(r);
	if (r->p >= r->end)
		return rfail(r, -EINVAL, "unexpected end of the text");
	switch (*r->p) {
	case '{':
		return read_container(r, n, depth, true);
	case '[':
		return read_container(r, n, depth, false);
	case '"':
		n->t = J_STR;
		return read_string(r, &n->s, &n->len);
	case 't':
		n->t = J_TRUE;
		return read_word(r, "true", 4);
	case 'f':
		n->t = J_FALSE;
		return read_word(r, "false", 5);
	case 'n':
		n->t = J_NULL;
		return read_word(r, "null", 4);
	default:
		if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9'))
			return read_number(r, n);
		return rfail(r, -EINVAL, "unexpected character");
	}
}

/* Parse one JSON value, nothing after it but blanks. *out: caller frees
 * with jnode_free. */
static int jnode_parse(const char *text, size_t len, struct jnode **out, char *why)
{
	struct reader r = { text, text, text + len, 0, 0, why };
	struct jnode *n = calloc(1, sizeof(*n));

	*out = NULL;
	why[0] = '\0';
	if (!n)
		return rfail(&r, -ENOMEM, "");
	if (read_value(&r, n, 0) == 0) {
		skip_ws(&r);
		if (r.p != r.end)
			rfail(&r, -EINVAL, "text after the JSON value");
	}
	if (r.err) {
		jnode_free(n);
		return r.err;
	}
	*out = n;
	return 0;
}

static void jnode_print(struct jw *w, const struct jnode *n)
{
	switch (n->t) {
	case J_NULL: jw_literal(w, "null", 4); break;
	case J_TRUE: jw_literal(w, "true", 4); break;
	case J_FALSE: jw_literal(w, "false", 5); break;
	case J_NUM: jw_literal(w, n->s, n->len); break;
	case J_STR: jw_string(w, n->s, n->len); break;
	case J_ARR:
	case J_OBJ:
		jw_open(w, n->t == J_OBJ ? '{' : '[', false);
		for (size_t i = 0; i < n->n; i++) {
			if (n->t == J_OBJ)
				jw_key(w, n->kids[i].key, n->kids[i].keylen);
			jnode_print(w, &n->kids[i]);
		}
		jw_close(w, n->t == J_OBJ ? '}' : ']');
		break;
	}
}

int ddbjson_pretty(const char *text, size_t len, const char *member, struct buf *out)
{
	char why[DDBJSON_WHY_MAX];
	struct jnode *root;
	const struct jnode *n;
	struct jw w;
	int rc = jnode_parse(text, len, &root, why);

	if (rc)
		return rc;
	n = root;
	if (member) {
		n = NULL;
		for (size_t i = 0; root->t == J_OBJ && i < root->n; i++)
			if (strcmp(root->kids[i].key, member) == 0)
				n = &root->kids[i];
	}
	if (!n) {
		jnode_free(root);
		return -EINVAL;
	}
	jw_init(&w, out);
	jnode_print(&w, n);
	jw_raw(&w, "\n", 1);
	jnode_free(root);
	return w.rc;
}

/* ------------------------------------------------------------------ */
/* AttributeValues                                                     */
/* ------------------------------------------------------------------ */

/* The type name of an AttributeValue ({"S": ...} is "S"), its value in *v. */
static const char *av_type(const json_t *av, json_t **v)
{
	const char *key;
	json_t *val;

	if (!json_is_object(av) || json_object_size(av) != 1)
		return NULL;
	json_object_foreach((json_t *)av, key, val) {
		if (v)
			*v = val;
		return key;
	}
	return NULL;
}

static bool type_is(const char *t, const char *name)
{
	return t && strcmp(t, name) == 0;
}

static int cmp_json_str(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	size_t xl = json_string_length(x), yl = json_string_length(y);
	int c = memcmp(json_string_value(x), json_string_value(y), xl < yl ? xl : yl);

	return c ? c : (xl > yl) - (xl < yl);
}

static int cmp_json_num(const void *a, const void *b)
{
	const char *x = json_string_value(*(json_t *const *)a);
	const char *y = json_string_value(*(json_t *const *)b);
	int c;

	if (ddbjson_num_cmp(x, y, &c))
		return strcmp(x, y);
	return c;
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The members of an object's names, sorted. Caller frees the array. */
static const char **sorted_keys(const json_t *obj, size_t *n)
{
	const char **keys = malloc((json_object_size(obj) + 1) * sizeof(*keys));
	const char *key;
	json_t *val;
	size_t i = 0;

	if (!keys)
		return NULL;
	json_object_foreach((json_t *)obj, key, val)
		keys[i++] = key;
	qsort(keys, i, sizeof(*keys), cmp_cstr);
	*n = i;
	return keys;
}

static int render_av(struct jw *w, const json_t *av, enum ddbjson_view view);

/* A set's members, sorted (strings and base64 bytewise, numbers by value). */
static int render_set(struct jw *w, const char *t, const json_t *arr, enum ddbjson_view view)
{
	size_t n = json_array_size(arr);
	json_t **v;

	if (!json_is_array(arr))
		return -EIO;
	v = malloc((n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		v[i] = json_array_get(arr, i);
		if (!json_is_string(v[i])) {
			free(v);
			return -EIO;
		}
	}
	qsort(v, n, sizeof(*v), t[0] == 'N' ? cmp_json_num : cmp_json_str);
	if (view == DDBJSON_TYPED) {
		jw_open(w, '{', false);
		jw_key(w, t, 2);
	}
	jw_open(w, '[', false);
	for (size_t i = 0; i < n; i++) {
		if (t[0] == 'N' && view == DDBJSON_PLAIN)
			jw_number(w, json_string_value(v[i]), json_string_length(v[i]));
		else
			jw_string(w, json_string_value(v[i]), json_string_length(v[i]));
	}
	jw_close(w, ']');
	if (view == DDBJSON_TYPED)
		jw_close(w, '}');
	free(v);
	return 0;
}

/* A map of attribute names to AttributeValues, names sorted. */
static int render_map(struct jw *w, const json_t *map, enum ddbjson_view view)
{
	size_t n = 0;
	const char **keys;
	int rc = 0;

	if (!json_is_object(map))
		return -EIO;
	keys = sorted_keys(map, &n);
	if (!keys)
		return -ENOMEM;
	jw_open(w, '{', false);
	for (size_t i = 0; i < n && !rc; i++) {
		jw_key(w, keys[i], strlen(keys[i]));
		rc = render_av(w, json_object_get(map, keys[i]), view);
	}
	jw_close(w, '}');
	free(keys);
	return rc;
}

static int render_av(struct jw *w, const json_t *av, enum ddbjson_view view)
{
	json_t *v = NULL;
	const char *t = av_type(av, &v);
	bool typed = view == DDBJSON_TYPED;
	int rc = 0;

	if (!t)
		return -EIO;
	if (type_is(t, "SS") || type_is(t, "NS") || type_is(t, "BS"))
		return render_set(w, t, v, view);
	if (typed) {
		bool scalar = !type_is(t, "L") && !type_is(t, "M");

		jw_open(w, '{', scalar);
		jw_key(w, t, strlen(t));
	}
	if (type_is(t, "S") || type_is(t, "B")) {
		if (!json_is_string(v))
			return -EIO;
		jw_string(w, json_string_value(v), json_string_length(v));
	} else if (type_is(t, "N")) {
		if (!json_is_string(v))
			return -EIO;
		if (typed)
			jw_string(w, json_string_value(v), json_string_length(v));
		else
			jw_number(w, json_string_value(v), json_string_length(v));
	} else if (type_is(t, "BOOL")) {
		if (!json_is_boolean(v))
			return -EIO;
		jw_literal(w, json_is_true(v) ? "true" : "false", json_is_true(v) ? 4 : 5);
	} else if (type_is(t, "NULL")) {
		if (typed)
			jw_literal(w, "true", 4);
		else
			jw_literal(w, "null", 4);
	} else if (type_is(t, "L")) {
		if (!json_is_array(v))
			return -EIO;
		jw_open(w, '[', false);
		for (size_t i = 0; i < json_array_size(v) && !rc; i++)
			rc = render_av(w, json_array_get(v, i), view);
		jw_close(w, ']');
	} else if (type_is(t, "M")) {
		rc = render_map(w, v, view);
	} else {
		return -EIO;
	}
	if (typed)
		jw_close(w, '}');
	return rc;
}

int ddbjson_render(const json_t *item, enum ddbjson_view view, struct buf *out)
{
	size_t start = out->len;
	struct jw w;
	int rc;

	jw_init(&w, out);
	rc = render_map(&w, item, view);
	jw_raw(&w, "\n", 1);
	if (!rc)
		rc = w.rc;
	if (rc) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* Reading an item                                                     */
/* ------------------------------------------------------------------ */

struct perr {
	char *why;
	const char *attr; /* the top-level attribute being read */
};

static int pfail(struct perr *e, int err, const char *what)
{
	if (err == -ENOMEM)
		snprintf(e->why, DDBJSON_WHY_MAX, "out of memory");
	else if (e->attr)
		snprintf(e->why, DDBJSON_WHY_MAX, "attribute \"%.64s\": %s", e->attr, what);
	else
		snprintf(e->why, DDBJSON_WHY_MAX, "%s", what);
	return err;
}

/* {type: value}, taking value's reference. NULL when out of memory. */
static json_t *av_new(const char *type, json_t *value)
{
	json_t *av;

	if (!value)
		return NULL;
	av = json_object();
	if (!av || json_object_set_new(av, type, value)) {
		json_decref(av);
		return NULL;
	}
	return av;
}

/* Append value (reference taken) to arr; -ENOMEM. */
static int push(json_t *arr, json_t *value)
{
	return value && json_array_append_new(arr, value) == 0 ? 0 : -ENOMEM;
}

static bool node_is_b64(const struct jnode *n)
{
	return n->t == J_STR && b64_canonical(n->s, n->len, NULL);
}

/* Whether an array's members make a set of type t: at least one, all of
 * the right kind, no two equal. */
static bool fits_set(const struct jnode *arr, const char *t)
{
	bool ok = arr->n > 0;

	for (size_t i = 0; ok && i < arr->n; i++) {
		const struct jnode *k = &arr->kids[i];

		if (t[0] == 'N')
			ok = k->t == J_NUM;
		else if (t[0] == 'B')
			ok = node_is_b64(k);
		else
			ok = k->t == J_STR;
		for (size_t j = 0; ok && j < i; j++) {
			const struct jnode *o = &arr->kids[j];
			int c = 1;

			if (t[0] == 'N')
				ddbjson_num_cmp(k->s, o->s, &c);
			else
				c = k->len != o->len || memcmp(k->s, o->s, k->len);
			ok = c != 0;
		}
	}
	return ok;
}

static json_t *set_from_nodes(const struct jnode *arr)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < arr->n; i++) {
		if (push(a, json_stringn(arr->kids[i].s, arr->kids[i].len))) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static int check_name(struct perr *e, const struct jnode *k)
{
	if (k->keylen == 0)
		return pfail(e, -EINVAL, "an attribute name is empty");
	if (memchr(k->key, '\0', k->keylen))
		return pfail(e, -EINVAL, "an attribute name holds NUL");
	return 0;
}

static int plain_av(const struct jnode *n, const json_t *hint, struct perr *e, json_t **out);

static int plain_list(const struct jnode *n, const json_t *hint, struct perr *e, json_t **out)
{
	json_t *hv = NULL;
	const char *ht = av_type(hint, &hv);
	json_t *a = json_array();

	if (!a)
		return pfail(e, -ENOMEM, "");
	if (!type_is(ht, "L") || !json_is_array(hv))
		hv = NULL;
	for (size_t i = 0; i < n->n; i++) {
		json_t *v = NULL;
		int rc = plain_av(&n->kids[i], hv ? json_array_get(hv, i) : NULL, e, &v);

		if (!rc && push(a, v))
			rc = pfail(e, -ENOMEM, "");
		if (rc) {
			json_decref(a);
			return rc;
		}
	}
	*out = av_new("L", a);
	return *out ? 0 : pfail(e, -ENOMEM, "");
}

static int plain_map(const struct jnode *n, const json_t *hintmap, struct perr *e, json_t **out)
{
	json_t *m = json_object();

	if (!m)
		return pfail(e, -ENOMEM, "");
	for (size_t i = 0; i < n->n; i++) {
		const struct jnode *k = &n->kids[i];
		json_t *v = NULL;
		int rc = check_name(e, k);

		if (!rc)
			rc = plain_av(k, json_is_object(hintmap) ? json_object_get(hintmap, k->key)
								 : NULL, e, &v);
		if (!rc && json_object_set_new(m, k->key, v))
			rc = pfail(e, -ENOMEM, "");
		if (rc) {
			json_decref(m);
			return rc;
		}
	}
	*out = m;
	return 0;
}

/* A plain JSON value as an AttributeValue; hint is the value stored before
 * at the same place (NULL: none), whose set or binary type is kept when the
 * new value fits it. */
static int plain_av(const struct jnode *n, const json_t *hint, struct perr *e, json_t **out)
{
	json_t *hv = NULL, *m = NULL;
	const char *ht = av_type(hint, &hv);
	int rc;

	*out = NULL;
	switch (n->t) {
	case J_NULL:
		*out = av_new("NULL", json_true());
		break;
	case J_TRUE:
	case J_FALSE:
		*out = av_new("BOOL", json_boolean(n->t == J_TRUE));
		break;
	case J_NUM:
		/* As the typed view checks N: JSON's grammar alone lets through
		 * 1e-389012345678, which no DynamoDB number is. */
		if (!ddbjson_num_valid(n->s, n->len))
			return pfail(e, -EINVAL, "a number DynamoDB cannot hold");
		*out = av_new("N", json_stringn(n->s, n->len));
		break;
	case J_STR:
		if (type_is(ht, "B") && node_is_b64(n))
			*out = av_new("B", json_stringn(n->s, n->len));
		else
			*out = av_new("S", json_stringn(n->s, n->len));
		break;
	case J_ARR:
		if ((type_is(ht, "SS") || type_is(ht, "NS") || type_is(ht, "BS")) &&
		    fits_set(n, ht)) {
			*out = av_new(ht, set_from_nodes(n));
			break;
		}
		return plain_list(n, hint, e, out);
	case J_OBJ:
		rc = plain_map(n, type_is(ht, "M") ? hv : NULL, e, &m);
		if (rc)
			return rc;
		*out = av_new("M", m);
		break;
	}
	return *out ? 0 : pfail(e, -ENOMEM, "");
}

static const char *const av_types[] = { "S", "N", "B", "SS", "NS", "BS",
					"M", "L", "NULL", "BOOL" };

static int typed_av(const struct jnode *n, struct perr *e, json_t **out);

static int typed_map(const struct jnode *n, struct perr *e, json_t **out)
{
	json_t *m = json_object();

	if (!m)
		return pfail(e, -ENOMEM, "");
	for (size_t i = 0; i < n->n; i++) {
		const struct jnode *k = &n->kids[i];
		json_t *v = NULL;
		int rc = check_name(e, k);

		if (!rc)
			rc = typed_av(k, e, &v);
		if (!rc && json_object_set_new(m, k->key, v))
			rc = pfail(e, -ENOMEM, "");
		if (rc) {
			json_decref(m);
			return rc;
		}
	}
	*out = m;
	return 0;
}

/* A number written in the typed view: DynamoDB's string, or (kindly) a
 * JSON number, whose text is kept all the same. */
static bool typed_num(const struct jnode *n)
{
	return (n->t == J_STR || n->t == J_NUM) && ddbjson_num_valid(n->s, n->len);
}

static int typed_av(const struct jnode *n, struct perr *e, json_t **out)
{
	const struct jnode *v;
	const char *t;
	json_t *inner = NULL;
	size_t i;
	int rc;

	*out = NULL;
	if (n->t != J_OBJ || n->n != 1)
		return pfail(e, -EINVAL, "each value must be an object of one type "
			     "({\"S\": \"text\"}, {\"N\": \"1\"}, ...)");
	t = n->kids[0].key;
	v = &n->kids[0];
	for (i = 0; i < sizeof(av_types) / sizeof(av_types[0]); i++)
		if (strcmp(t, av_types[i]) == 0)
			break;
	if (i == sizeof(av_types) / sizeof(av_types[0]))
		return pfail(e, -EINVAL, "unknown DynamoDB type");
	if (type_is(t, "S")) {
		if (v->t != J_STR)
			return pfail(e, -EINVAL, "S takes a string");
		inner = json_stringn(v->s, v->len);
	} else if (type_is(t, "N")) {
		if (!typed_num(v))
			return pfail(e, -EINVAL, "N takes a number as a string");
		inner = json_stringn(v->s, v->len);
	} else if (type_is(t, "B")) {
		if (!node_is_b64(v))
			return pfail(e, -EINVAL, "B takes base64");
		inner = json_stringn(v->s, v->len);
	} else if (type_is(t, "BOOL")) {
		if (v->t != J_TRUE && v->t != J_FALSE)
			return pfail(e, -EINVAL, "BOOL takes true or false");
		inner = json_boolean(v->t == J_TRUE);
	} else if (type_is(t, "NULL")) {
		if (v->t != J_TRUE)
			return pfail(e, -EINVAL, "NULL takes true");
		inner = json_true();
	} else if (type_is(t, "M")) {
		if (v->t != J_OBJ)
			return pfail(e, -EINVAL, "M takes an object");
		rc = typed_map(v, e, &inner);
		if (rc)
			return rc;
	} else if (type_is(t, "L")) {
		if (v->t != J_ARR)
			return pfail(e, -EINVAL, "L takes an array");
		inner = json_array();
		for (size_t k = 0; inner && k < v->n; k++) {
			json_t *el = NULL;

			rc = typed_av(&v->kids[k], e, &el);
			if (!rc && push(inner, el))
				rc = pfail(e, -ENOMEM, "");
			if (rc) {
				json_decref(inner);
				return rc;
			}
		}
	} else { /* SS, NS, BS */
		bool ok = v->t == J_ARR && v->n > 0;

		for (size_t k = 0; ok && k < v->n; k++) {
			const struct jnode *el = &v->kids[k];

			ok = t[0] == 'N' ? typed_num(el) : t[0] == 'B' ? node_is_b64(el)
								      : el->t == J_STR;
		}
		if (!ok)
			return pfail(e, -EINVAL, t[0] == 'N' ? "NS takes numbers as strings"
					 : t[0] == 'B' ? "BS takes base64 strings"
						       : "SS takes strings");
		for (size_t a = 0; a < v->n; a++) {
			for (size_t b = 0; b < a; b++) {
				int c = 1;

				if (t[0] == 'N')
					ddbjson_num_cmp(v->kids[a].s, v->kids[b].s, &c);
				else
					c = v->kids[a].len != v->kids[b].len ||
					    memcmp(v->kids[a].s, v->kids[b].s, v->kids[a].len);
				if (c == 0)
					return pfail(e, -EINVAL,
						     "a set holds the same value twice");
			}
		}
		inner = set_from_nodes(v);
	}
	*out = av_new(t, inner);
	return *out ? 0 : pfail(e, -ENOMEM, "");
}

int ddbjson_parse_item(const char *text, size_t len, enum ddbjson_view view,
		       const json_t *old, const struct ddbjson_key *keys, size_t nkeys,
		       json_t **out, char why[DDBJSON_WHY_MAX])
{
	struct perr e = { why, NULL };
	struct jnode *root = NULL;
	json_t *item = NULL;
	int rc;

	*out = NULL;
	why[0] = '\0';
	if (len == 0 || !text)
		return pfail(&e, -EINVAL, "the file is empty");
	rc = jnode_parse(text, len, &root, why);
	if (rc)
		return rc;
	if (root->t != J_OBJ) {
		jnode_free(root);
		return pfail(&e, -EINVAL, "an item must be a JSON object");
	}
	item = json_object();
	if (!item)
		rc = pfail(&e, -ENOMEM, "");
	for (size_t i = 0; !rc && i < root->n; i++) {
		const struct jnode *k = &root->kids[i];
		json_t *hint = NULL, *keyhint = NULL, *v = NULL;

		e.attr = NULL;
		rc = check_name(&e, k);
		if (rc)
			break;
		e.attr = k->key;
		if (view == DDBJSON_TYPED) {
			rc = typed_av(k, &e, &v);
		} else {
			hint = json_is_object(old) ? json_object_get(old, k->key) : NULL;
			for (size_t j = 0; j < nkeys; j++)
				if (keys[j].type == 'B' && strcmp(keys[j].name, k->key) == 0)
					hint = keyhint = av_new("B", json_string(""));
			rc = plain_av(k, hint, &e, &v);
			json_decref(keyhint);
		}
		if (!rc && json_object_set_new(item, k->key, v))
			rc = pfail(&e, -ENOMEM, "");
	}
	jnode_free(root);
	if (rc) {
		json_decref(item);
		return rc;
	}
	*out = item;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Sizes                                                               */
/* ------------------------------------------------------------------ */

static size_t av_size(const json_t *av)
{
	json_t *v = NULL;
	const char *t = av_type(av, &v);
	size_t size = 0, i;
	const char *key;
	json_t *val;

	if (!t)
		return 0;
	if (type_is(t, "S"))
		return json_string_length(v);
	if (type_is(t, "N"))
		return num_size(json_string_value(v), json_string_length(v));
	if (type_is(t, "B"))
		return b64_bytes(json_string_value(v), json_string_length(v));
	if (type_is(t, "BOOL") || type_is(t, "NULL"))
		return DDB_SIZE_SCALAR;
	if (type_is(t, "SS") || type_is(t, "NS") || type_is(t, "BS")) {
		json_array_foreach(v, i, val) {
			const char *s = json_string_value(val);
			size_t n = json_string_length(val);

			size += t[0] == 'S' ? n : t[0] == 'N' ? num_size(s ? s : "", n)
							      : b64_bytes(s ? s : "", n);
		}
		return size;
	}
	size = DDB_SIZE_CONTAINER;
	if (type_is(t, "L")) {
		json_array_foreach(v, i, val)
			size += DDB_SIZE_ELEMENT + av_size(val);
	} else if (type_is(t, "M")) {
		json_object_foreach(v, key, val)
			size += DDB_SIZE_ELEMENT + strlen(key) + av_size(val);
	}
	return size;
}

size_t ddbjson_item_size(const json_t *item)
{
	const char *key;
	json_t *val;
	size_t size = 0;

	json_object_foreach((json_t *)item, key, val)
		size += strlen(key) + av_size(val);
	return size;
}

/* ------------------------------------------------------------------ */
/* Key values and file names                                           */
/* ------------------------------------------------------------------ */

char ddbjson_key_type(const json_t *av)
{
	json_t *v = NULL;
	const char *t = av_type(av, &v);

	/* t is one of "S", "N", "B": an empty type name has no t[1] */
	if (!t || t[0] == '\0' || t[1] != '\0' || !json_is_string(v))
		return 0;
	return t[0] == 'S' || t[0] == 'N' || t[0] == 'B' ? t[0] : 0;
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

int ddbjson_name_decode(const char *name, size_t len, char type, json_t **out)
{
	struct buf b;
	unsigned char *bin = NULL;
	char *std = NULL;
	size_t n = 0;
	int rc = 0;

	*out = NULL;
	if (len == 0)
		return -EINVAL;
	if (type == 'B') {
		/* base64url without padding, canonical: one name per value */
		for (size_t i = 0; i < len; i++)
			if (name[i] == '+' || name[i] == '/' || name[i] == '=')
				return -EINVAL;
		if (!b64_canonical(name, len, NULL))
			return -EINVAL;
		rc = util_base64_decode(name, len, &bin, &n);
		if (!rc)
			rc = util_base64_encode(bin, n, &std);
		free(bin);
		if (rc)
			return rc;
		*out = av_new("B", json_string(std));
		free(std);
		return *out ? 0 : -ENOMEM;
	}
	if (type != 'S' && type != 'N')
		return -EINVAL;
	buf_init(&b, len + 1);
	for (size_t i = 0; i < len && !rc; i++) {
		if (name[i] == '%') {
			int hi = i + 2 < len ? hexval(name[i + 1]) : -1;
			int lo = i + 2 < len ? hexval(name[i + 2]) : -1;

			if (hi < 0 || lo < 0) {
				rc = -EINVAL;
				break;
			}
			rc = buf_putc(&b, (char)(hi << 4 | lo));
			i += 2;
		} else {
			rc = buf_putc(&b, name[i]);
		}
	}
	if (!rc && (b.len == 0 || !utf8_valid(b.data, b.len)))
		rc = -EINVAL;
	if (!rc && type == 'N' &&
	    (memchr(b.data, '\0', b.len) || !ddbjson_num_valid(b.data, b.len)))
		rc = -EINVAL;
	if (!rc) {
		*out = av_new(type == 'S' ? "S" : "N", json_stringn(b.data, b.len));
		if (!*out)
			rc = -ENOMEM;
	}
	buf_free(&b);
	return rc;
}

int ddbjson_name_encode(const json_t *av, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	json_t *v = NULL;
	char type = ddbjson_key_type(av);
	const char *s;
	size_t n;
	int rc = 0;

	if (!type)
		return -EINVAL;
	av_type(av, &v);
	s = json_string_value(v);
	n = json_string_length(v);
	if (type == 'B') {
		unsigned char *bin = NULL;
		char *enc = NULL;
		size_t blen = 0;

		rc = util_base64_decode(s, n, &bin, &blen);
		if (rc)
			return -EINVAL;
		rc = util_base64_encode(bin, blen, &enc);
		free(bin);
		if (rc)
			return rc;
		for (char *p = enc; *p && !rc; p++) {
			if (*p == '=')
				break;
			rc = buf_putc(out, *p == '+' ? '-' : *p == '/' ? '_' : *p);
		}
		free(enc);
		return rc;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%' || c == '/' || c == '\0' || (i == 0 && c == '.')) {
			char esc[3] = { '%', hex[c >> 4], hex[c & 15] };

			rc = buf_append(out, esc, 3);
		} else {
			rc = buf_putc(out, (char)c);
		}
	}
	return rc;
}

bool ddbjson_key_equal(const json_t *a, const json_t *b)
{
	json_t *va = NULL, *vb = NULL;
	char ta = ddbjson_key_type(a), tb = ddbjson_key_type(b);
	unsigned char *x = NULL, *y = NULL;
	size_t xn = 0, yn = 0;
	bool eq;
	int c;

	if (!ta || ta != tb)
		return false;
	av_type(a, &va);
	av_type(b, &vb);
	if (ta == 'N')
		return ddbjson_num_cmp(json_string_value(va), json_string_value(vb), &c) == 0 &&
		       c == 0;
	if (ta == 'S')
		return json_string_length(va) == json_string_length(vb) &&
		       memcmp(json_string_value(va), json_string_value(vb),
			      json_string_length(va)) == 0;
	if (util_base64_decode(json_string_value(va), json_string_length(va), &x, &xn) ||
	    util_base64_decode(json_string_value(vb), json_string_length(vb), &y, &yn)) {
		free(x);
		return false;
	}
	eq = xn == yn && memcmp(x, y, xn) == 0;
	free(x);
	free(y);
	return eq;
}

/* A short, printable form of a key value for a message. */
static void key_show(const json_t *av, char *out, size_t size)
{
	json_t *v = NULL;
	const char *t = av_type(av, &v);

	if (!t || !json_is_string(v)) {
		snprintf(out, size, "(%s)", t ? t : "?");
		return;
	}
	snprintf(out, size, "%s \"%.32s\"", t, json_string_value(v));
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = '?';
}

int ddbjson_apply_key(json_t *item, const struct ddbjson_key *keys, size_t nkeys,
		      const json_t *name_key, char why[DDBJSON_WHY_MAX])
{
	static const char *const tnames[] = { "a string (S)", "a number (N)", "binary (B)" };

	why[0] = '\0';
	for (size_t i = 0; i < nkeys; i++) {
		json_t *have = json_object_get(item, keys[i].name);
		json_t *want = json_object_get(name_key, keys[i].name), *wv = NULL;
		char t = ddbjson_key_type(have);
		char a[64], b[64];

		if (!want)
			return -EINVAL;
		av_type(want, &wv);
		if (keys[i].type == 'S' &&
		    memchr(json_string_value(wv), '\0', json_string_length(wv))) {
			snprintf(why, DDBJSON_WHY_MAX, "key attribute \"%.64s\" holds NUL, which "
				 "listings cannot show", keys[i].name);
			return -EINVAL;
		}
		if (!have)
			continue;
		if (t != keys[i].type) {
			snprintf(why, DDBJSON_WHY_MAX, "key attribute \"%.64s\" must be %s",
				 keys[i].name,
				 tnames[keys[i].type == 'S' ? 0 : keys[i].type == 'N' ? 1 : 2]);
			return -EINVAL;
		}
		if (!ddbjson_key_equal(have, want)) {
			key_show(have, a, sizeof(a));
			key_show(want, b, sizeof(b));
			snprintf(why, DDBJSON_WHY_MAX, "key attribute \"%.48s\" is %.60s in the "
				 "file but %.60s in its name", keys[i].name, a, b);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < nkeys; i++) {
		if (json_object_get(item, keys[i].name))
			continue;
		if (json_object_set(item, keys[i].name, json_object_get(name_key, keys[i].name)))
			return -ENOMEM;
	}
	return 0;
}

/*
 * util: hashing, encoding, time and parsing helpers. See util.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "util.h"

void util_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void util_sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1])
{
	unsigned char md[32];
	unsigned int mdlen = sizeof(md);

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	util_hex(md, 32, out);
}

void util_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
		      unsigned char out[32])
{
	unsigned int outlen = 32;

	HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, out, &outlen);
}

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
}

int util_uri_encode(struct buf *out, const char *s, size_t len, bool keep_slash)
{
	static const char digits[] = "0123456789ABCDEF";
	int rc = 0;

	for (size_t i = 0; i < len && rc == 0; i++) {
		unsigned char c = (unsigned char)s[i];

		if (unreserved(c) || (keep_slash && c == '/')) {
			rc = buf_putc(out, (char)c);
		} else {
			char esc[3] = { '%', digits[c >> 4], digits[c & 15] };
			rc = buf_append(out, esc, 3);
		}
	}
	return rc;
}

int util_base64_encode(const void *in, size_t len, char **out)
{
	size_t olen = 4 * ((len + 2) / 3);
	char *p = malloc(olen + 1);

	if (!p)
		return -ENOMEM;
	EVP_EncodeBlock((unsigned char *)p, in, (int)len);
	p[olen] = '\0';
	*out = p;
	return 0;
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

int util_base64_decode(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
	unsigned char *p;
	uint32_t acc = 0;
	size_t n = 0, bits = 0;

	while (len > 0 && in[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return -EINVAL;
	p = malloc(len * 3 / 4 + 1);
	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		int v = b64val((unsigned char)in[i]);

		if (v < 0) {
			free(p);
			return -EINVAL;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			p[n++] = (unsigned char)(acc >> bits);
		}
	}
	p[n] = '\0';
	*out = p;
	*outlen = n;
	return 0;
}

uint64_t util_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void util_amz_date(time_t t, char out[17])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static int parse_digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int util_parse_iso8601(const char *s, time_t *out)
{
	struct tm tm;
	int y, mo, d, h, mi, sec;
	const char *p;

	memset(&tm, 0, sizeof(tm));
	if (strlen(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') ||
	    s[13] != ':' || s[16] != ':')
		return -EINVAL;
	if (parse_digits(s, 4, &y) || parse_digits(s + 5, 2, &mo) ||
	    parse_digits(s + 8, 2, &d) || parse_digits(s + 11, 2, &h) ||
	    parse_digits(s + 14, 2, &mi) || parse_digits(s + 17, 2, &sec))
		return -EINVAL;
	/* timegm would silently roll "2024-13-01" into the next year */
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	p = s + 19;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (strcmp(p, "Z") != 0 && *p != '\0' && strcmp(p, "+00:00") != 0)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = timegm(&tm);
	return 0;
}

int util_parse_http_date(const char *s, time_t *out)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct tm tm;
	char mon[4];
	int d, y, h, mi, sec;
	const char *comma = strchr(s, ',');
	const char *m;

	if (!comma)
		return -EINVAL;
	memset(&tm, 0, sizeof(tm));
	/* Field widths: a server's "Date" must not overflow an int (y - 1900). */
	if (sscanf(comma + 1, " %2d %3s %4d %2d:%2d:%2d", &d, mon, &y, &h, &mi, &sec) != 6)
		return -EINVAL;
	m = strstr(months, mon);
	if (!m || strlen(mon) != 3 || (m - months) % 3)
		return -EINVAL;
	if (d < 1 || d > 31 || y < 1900 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 ||
	    sec > 60)
		return -EINVAL;
	tm.tm_mday = d;
	tm.tm_mon = (int)(m - months) / 3;
	tm.tm_year = y - 1900;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = timegm(&tm);
	return 0;
}

int util_parse_ll(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end != '\0' || end == s)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int util_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mult = 1;

	/* a digit first: strtoull skips blanks and wraps " -1" to 2^64-1 */
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mult = 1ull << 10; end++; break;
	case 'm': case 'M': mult = 1ull << 20; end++; break;
	case 'g': case 'G': mult = 1ull << 30; end++; break;
	case 't': case 'T': mult = 1ull << 40; end++; break;
	default: return -EINVAL;
	}
	if (*end == 'i')
		end++;
	if (*end == 'B')
		end++;
	if (*end != '\0')
		return -EINVAL;
	if (v > UINT64_MAX / mult)
		return -ERANGE;
	*out = v * mult;
	return 0;
}

int util_read_file(const char *path, size_t max, char **out, size_t *len)
{
	struct buf b;
	char chunk[4096];
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf_init(&b, max);
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		rc = buf_append(&b, chunk, (size_t)n);
		if (rc)
			break;
	}
	close(fd);
	if (rc) {
		buf_free(&b);
		return rc;
	}
	if (len)
		*len = b.len;
	*out = buf_detach(&b);
	return *out ? 0 : -ENOMEM;
}

void util_wipe(void *p, size_t n)
{
	if (p)
		OPENSSL_cleanse(p, n);
}

char *util_strdup0(const char *s)
{
	return s ? strdup(s) : NULL;
}

bool util_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		unsigned char c = p[i];
		unsigned cp;
		size_t k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1fu;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0fu;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07u;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + j] & 0x3fu);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

/*
 * fuzz_net: canned HTTP answers in place of src/http.c. See fuzz.h.
 *
 * Defines http_perform, http_response_header, http_response_free and
 * http_thread_cleanup, the http.h functions the library calls (main.c
 * aside), so the linker never takes http.o from libawsfs.a. Each request also has its shape
 * checked: no CR/LF in a header (a response value must never be able to
 * inject one), no blank or control byte in the URL, and a JSON-protocol
 * body that parses.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "creds.h"
#include "fuzz.h"
#include "json.h"
#include "retry.h"

/* src/http.c's limits, mirrored so the stand-in fails where it would. */
#define FUZZ_MAX_HEADER_BYTES (64u << 10)
#define FUZZ_DEFAULT_MAX_BODY (16u << 20)
/* Signing time of every request: 2015-08-30T12:36:00Z (the AWS examples'). */
#define FUZZ_FIXED_TIME 1440938160

static const char *trim_end(const char *s, const char *end)
{
	while (end > s && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	return end;
}

static bool word_is(const char *s, const char *end, const char *w)
{
	size_t n = strlen(w);

	return (size_t)(end - s) >= n && memcmp(s, w, n) == 0;
}

void fuzz_parse_reply(const char *p, size_t n, struct fuzz_reply *r)
{
	const char *end = p + n, *line = p, *eol, *le;
	size_t header_bytes = 0;
	long status = 0;
	int digits = 0;

	memset(r, 0, sizeof(*r));
	r->status = 200;
	eol = memchr(line, '\n', (size_t)(end - line));
	if (!eol)
		eol = end;
	le = trim_end(line, eol);
	if (word_is(line, le, "refused")) {
		r->kind = FUZZ_REPLY_REFUSED;
	} else if (word_is(line, le, "reset")) {
		r->kind = FUZZ_REPLY_RESET;
	} else if (word_is(line, le, "timeout")) {
		r->kind = FUZZ_REPLY_TIMEOUT;
	} else {
		const char *s = line;

		if (word_is(line, le, "cut")) {
			r->kind = FUZZ_REPLY_CUT;
			s += 3;
			while (s < le && *s == ' ')
				s++;
		}
		for (; s < le && *s >= '0' && *s <= '9' && digits < 3; s++, digits++)
			status = status * 10 + (*s - '0');
		if (digits)
			r->status = status;
	}
	line = eol < end ? eol + 1 : end;

	/* Header lines up to an empty line; the rest is the body. */
	while (line < end) {
		const char *colon;

		eol = memchr(line, '\n', (size_t)(end - line));
		if (!eol)
			eol = end;
		le = trim_end(line, eol);
		if (le == line) {
			line = eol < end ? eol + 1 : end;
			break;
		}
		header_bytes += (size_t)(eol - line) + 2;
		colon = memchr(line, ':', (size_t)(le - line));
		if (colon && r->nheaders < FUZZ_MAX_REPLY_HEADERS) {
			const char *v = colon + 1;

			while (v < le && (*v == ' ' || *v == '\t'))
				v++;
			r->names[r->nheaders] = line;
			r->name_len[r->nheaders] = (size_t)(colon - line);
			r->values[r->nheaders] = v;
			r->value_len[r->nheaders] = (size_t)(le - v);
			r->nheaders++;
		} else if (colon) {
			r->headers_too_big = true; /* more than src/http.c keeps */
		}
		line = eol < end ? eol + 1 : end;
	}
	if (header_bytes > FUZZ_MAX_HEADER_BYTES)
		r->headers_too_big = true;
	r->body = line;
	r->body_len = (size_t)(end - line);
}

static char *dup_or_die(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (!p)
		abort();
	return p;
}

int fuzz_fill_response(const struct fuzz_reply *r, size_t max, http_sink_fn sink,
		       void *sink_arg, struct http_response *resp)
{
	size_t body_len = r->body_len;
	int rc;

	memset(resp, 0, sizeof(*resp));
	buf_init(&resp->body, max ? max : FUZZ_DEFAULT_MAX_BODY);
	switch (r->kind) {
	case FUZZ_REPLY_REFUSED:
		resp->error = HTTP_ERR_CONNECT;
		snprintf(resp->errmsg, sizeof(resp->errmsg), "Connection refused");
		return -ECONNREFUSED;
	case FUZZ_REPLY_RESET:
		resp->error = HTTP_ERR_RESET;
		snprintf(resp->errmsg, sizeof(resp->errmsg), "Connection reset by peer");
		return -ECONNRESET;
	case FUZZ_REPLY_TIMEOUT:
		resp->error = HTTP_ERR_TIMEOUT;
		snprintf(resp->errmsg, sizeof(resp->errmsg), "Operation timed out");
		return -ETIMEDOUT;
	case FUZZ_REPLY_HTTP:
	case FUZZ_REPLY_CUT:
		break;
	}
	resp->status = r->status;
	if (r->headers_too_big) {
		resp->error = HTTP_ERR_TOOBIG;
		snprintf(resp->errmsg, sizeof(resp->errmsg), "response headers too large");
		return -EFBIG;
	}
	if (r->nheaders) {
		resp->headers = calloc(r->nheaders, sizeof(*resp->headers));
		if (!resp->headers)
			abort();
	}
	for (size_t i = 0; i < r->nheaders; i++) {
		struct http_response_header *h = &resp->headers[i];

		h->name = dup_or_die(r->names[i], r->name_len[i]);
		h->value = dup_or_die(r->values[i], r->value_len[i]);
		for (char *p = h->name; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		resp->nheaders++;
	}
	if (r->kind == FUZZ_REPLY_CUT)
		body_len /= 2;
	/* Streamed in two pieces, as curl would, when the caller has a sink
	 * and the answer is a 2xx; else collected under the cap. */
	if (sink && r->status >= 200 && r->status < 300) {
		size_t half = body_len / 2;

		if ((half && sink(sink_arg, r->body, half)) ||
		    (body_len - half && sink(sink_arg, r->body + half, body_len - half))) {
			resp->error = HTTP_ERR_ABORTED;
			snprintf(resp->errmsg, sizeof(resp->errmsg), "aborted by the sink");
			return -ECANCELED;
		}
		resp->bytes_in = body_len;
	} else {
		rc = buf_append(&resp->body, r->body, body_len);
		if (rc == -EFBIG) {
			resp->error = HTTP_ERR_TOOBIG;
			snprintf(resp->errmsg, sizeof(resp->errmsg), "response too large");
			return -EFBIG;
		}
		if (rc)
			abort();
		resp->bytes_in = body_len;
	}
	if (r->kind == FUZZ_REPLY_CUT) {
		resp->error = HTTP_ERR_TRUNCATED;
		snprintf(resp->errmsg, sizeof(resp->errmsg), "transfer closed early");
		return -EIO;
	}
	return 0;
}

/* The answers of the current input. Backends with worker threads (s3's
 * pool) may ask from several threads: one lock, answers in arrival order. */
static pthread_mutex_t net_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	const char *data;
	size_t len;
	size_t pos;
	bool done;
	unsigned requests;
} net;

void fuzz_net_load(const uint8_t *data, size_t n)
{
	pthread_mutex_lock(&net_lock);
	net.data = (const char *)data;
	net.len = n;
	net.pos = 0;
	net.done = data == NULL;
	net.requests = 0;
	pthread_mutex_unlock(&net_lock);
}

void fuzz_net_reset(void)
{
	fuzz_net_load(NULL, 0);
}

unsigned fuzz_net_requests(void)
{
	unsigned n;

	pthread_mutex_lock(&net_lock);
	n = net.requests;
	pthread_mutex_unlock(&net_lock);
	return n;
}

/* The next answer's bytes, or false past the last one. */
static bool next_reply(const char **p, size_t *n)
{
	const char *start, *sep;
	size_t left;

	if (net.done)
		return false;
	start = net.data + net.pos;
	left = net.len - net.pos;
	sep = left ? memmem(start, left, FUZZ_REPLY_SEP, strlen(FUZZ_REPLY_SEP)) : NULL;
	if (sep) {
		*n = (size_t)(sep - start);
		net.pos += *n + strlen(FUZZ_REPLY_SEP);
	} else {
		*n = left;
		net.done = true;
	}
	*p = start;
	return true;
}

static void check_request(const struct http_request *req)
{
	bool json = false;

	FUZZ_CHECK(req->method && req->url);
	for (const char *p = req->url; *p; p++) {
		if ((unsigned char)*p <= ' ' || (unsigned char)*p == 0x7f)
			fuzz_note("%s %s", req->method, req->url);
		FUZZ_CHECK((unsigned char)*p > ' ' && (unsigned char)*p != 0x7f);
	}
	for (size_t i = 0; i < req->nheaders; i++) {
		const char *h = req->headers[i];

		FUZZ_CHECK(h && strchr(h, ':'));
		if (strpbrk(h, "\r\n"))
			fuzz_note("%s %s: header %s", req->method, req->url, h);
		FUZZ_CHECK(!strpbrk(h, "\r\n"));
		if (strncasecmp(h, "content-type: application/x-amz-json", 36) == 0)
			json = true;
	}
	if (json && req->body_len) {
		json_t *v = NULL;

		FUZZ_CHECK(jsonx_parse(req->body, req->body_len, 16u << 20, &v) == 0);
		json_decref(v);
	}
}

int http_perform(const struct http_request *req, struct http_response *resp)
{
	struct fuzz_reply *r;
	const char *p;
	size_t n;
	int rc;

	check_request(req);
	r = calloc(1, sizeof(*r));
	if (!r)
		abort();
	pthread_mutex_lock(&net_lock);
	net.requests++;
	if (next_reply(&p, &n))
		fuzz_parse_reply(p, n, r);
	else
		r->kind = FUZZ_REPLY_REFUSED;
	pthread_mutex_unlock(&net_lock);
	rc = fuzz_fill_response(r, req->max_response, req->sink, req->sink_arg, resp);
	resp->bytes_out = req->body_len;
	free(r);
	return rc;
}

const char *http_response_header(const struct http_response *resp, const char *name)
{
	for (size_t i = 0; i < resp->nheaders; i++)
		if (strcasecmp(resp->headers[i].name, name) == 0)
			return resp->headers[i].value;
	return NULL;
}

void http_response_free(struct http_response *resp)
{
	for (size_t i = 0; i < resp->nheaders; i++) {
		free(resp->headers[i].name);
		free(resp->headers[i].value);
	}
	free(resp->headers);
	resp->headers = NULL;
	resp->nheaders = 0;
	buf_free(&resp->body);
	resp->status = 0;
}

void http_thread_cleanup(void)
{
}

/* A clock that moves only when the retry core sleeps. */
static uint64_t fake_now_ms;

static uint64_t fake_now(void *arg)
{
	return fake_now_ms;
}

static double fake_random(void *arg)
{
	return 0.5;
}

static void fake_sleep(void *arg, uint64_t ms)
{
	fake_now_ms += ms;
}

static struct creds_provider *fuzz_creds;

struct aws_client *fuzz_client_new(unsigned max_attempts)
{
	static const struct retry_env env = { fake_now, fake_random, fake_sleep, NULL };
	struct aws_client_options o = {
		.region = "us-east-1",
		.max_attempts = max_attempts,
	};
	struct aws_client *c = NULL;

	if (!fuzz_creds) {
		struct creds_options co = { .region = "us-east-1", .no_imds = true };

		/* The AWS documentation's example keys: the environment source. */
		setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
		setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
		unsetenv("AWS_SESSION_TOKEN");
		if (creds_provider_new(&co, &fuzz_creds))
			abort();
	}
	if (aws_client_new(&o, fuzz_creds, &c))
		abort();
	aws_client_set_time(c, FUZZ_FIXED_TIME);
	aws_client_set_retry_env(c, &env);
	fake_now_ms = 1000;
	return c;
}

void fuzz_client_free(struct aws_client *c)
{
	aws_client_free(c);
}

/*
 * http: libcurl behind a small interface. See http.h.
 *
 * Each thread keeps one easy handle (curl_easy_reset between requests keeps
 * its connections warm); a share handle lets every thread reuse DNS
 * answers, TLS sessions and pooled connections. Response headers and bodies
 * are capped: a server cannot make awsfs allocate without bound.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "http.h"
#include "log.h"

#define HTTP_BIG_BUFFER (256L << 10)        /* receive buffer for streamed bodies */
#define HTTP_BIG_UPLOAD_BUFFER (1L << 20)   /* send buffer for large bodies */

#define HTTP_DEFAULT_MAX_BODY (16u << 20)   /* 16 MiB */
#define HTTP_MAX_HEADERS 128                /* per response */
#define HTTP_MAX_HEADER_BYTES (64u << 10)   /* all header lines together */
#define HTTP_DEFAULT_CONNECT_MS 10000
#define HTTP_DEFAULT_STALL_S 30

static struct {
	CURLSH *share;
	pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
	pthread_key_t key;
	char *ca_file;
	bool insecure;
	long connect_timeout_ms;
	long stall_s;
	bool ready;
} http;

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *u)
{
	(void)h; (void)access; (void)u;
	pthread_mutex_lock(&http.locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *u)
{
	(void)h; (void)u;
	pthread_mutex_unlock(&http.locks[data]);
}

static void handle_destroy(void *p)
{
	if (p)
		curl_easy_cleanup(p);
}

int http_global_init(const struct http_options *opts)
{
	if (http.ready)
		return 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -EIO;
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&http.locks[i], NULL);
	http.share = curl_share_init();
	if (!http.share)
		return -ENOMEM;
	curl_share_setopt(http.share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(http.share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(http.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(http.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(http.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	if (pthread_key_create(&http.key, handle_destroy))
		return -ENOMEM;
	http.ca_file = opts && opts->ca_file ? strdup(opts->ca_file) : NULL;
	http.insecure = opts && opts->insecure;
	http.connect_timeout_ms = opts && opts->connect_timeout_ms > 0
		? opts->connect_timeout_ms : HTTP_DEFAULT_CONNECT_MS;
	http.stall_s = opts && opts->low_speed_time_s > 0
		? opts->low_speed_time_s : HTTP_DEFAULT_STALL_S;
	http.ready = true;
	return 0;
}

void http_thread_cleanup(void)
{
	CURL *h;

	if (!http.ready)
		return;
	h = pthread_getspecific(http.key);
	if (h) {
		curl_easy_cleanup(h);
		pthread_setspecific(http.key, NULL);
	}
}

void http_global_cleanup(void)
{
	if (!http.ready)
		return;
	http_thread_cleanup();
	curl_share_cleanup(http.share);
	http.share = NULL;
	pthread_key_delete(http.key);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&http.locks[i]);
	free(http.ca_file);
	http.ca_file = NULL;
	curl_global_cleanup();
	http.ready = false;
}

static CURL *thread_handle(void)
{
	CURL *h = pthread_getspecific(http.key);

	if (h) {
		curl_easy_reset(h);
		return h;
	}
	h = curl_easy_init();
	if (!h)
		return NULL;
	if (pthread_setspecific(http.key, h)) {
		curl_easy_cleanup(h);
		return NULL;
	}
	return h;
}

struct transfer {
	CURL *h;
	const struct http_request *req;
	struct http_response *resp;
	size_t header_bytes;
	bool too_big;
	bool aborted;
};

static void headers_free(struct http_response *resp)
{
	for (size_t i = 0; i < resp->nheaders; i++) {
		free(resp->headers[i].name);
		free(resp->headers[i].value);
	}
	free(resp->headers);
	resp->headers = NULL;
	resp->nheaders = 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct transfer *t = arg;
	struct http_response *resp = t->resp;
	size_t len = size * n, nlen, vstart, vend;
	const char *colon;
	struct http_response_header *hs;

	t->header_bytes += len;
	if (t->header_bytes > HTTP_MAX_HEADER_BYTES) {
		t->too_big = true;
		return 0;
	}
	/* A new status line starts a new response (after 100 Continue). */
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		headers_free(resp);
		return len;
	}
	colon = memchr(data, ':', len);
	if (!colon)
		return len;
	if (resp->nheaders >= HTTP_MAX_HEADERS) {
		t->too_big = true;
		return 0;
	}
	nlen = (size_t)(colon - data);
	vstart = nlen + 1;
	vend = len;
	while (vstart < vend && (data[vstart] == ' ' || data[vstart] == '\t'))
		vstart++;
	while (vend > vstart && (data[vend - 1] == '\r' || data[vend - 1] == '\n' ||
				 data[vend - 1] == ' ' || data[vend - 1] == '\t'))
		vend--;
	hs = realloc(resp->headers, (resp->nheaders + 1) * sizeof(*hs));
	if (!hs)
		return 0;
	resp->headers = hs;
	hs = &resp->headers[resp->nheaders];
	hs->name = strndup(data, nlen);
	hs->value = strndup(data + vstart, vend - vstart);
	if (!hs->name || !hs->value) {
		free(hs->name);
		free(hs->value);
		return 0;
	}
	for (char *p = hs->name; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	resp->nheaders++;
	return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct transfer *t = arg;
	size_t len = size * n;
	int rc;

	if (t->req->sink) {
		long status = 0;

		/* Only a 2xx body is streamed; an error body is collected so the
		 * caller can read the AWS error code. */
		curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 200 && status < 300) {
			if (t->req->sink(t->req->sink_arg, data, len)) {
				t->aborted = true;
				return 0;
			}
			return len;
		}
	}
	rc = buf_append(&t->resp->body, data, len);
	if (rc == -EFBIG) {
		t->too_big = true;
		return 0;
	}
	return rc ? 0 : len;
}

static int map_curl_error(CURLcode cc, struct transfer *t, struct http_response *resp)
{
	if (t->too_big) {
		resp->error = HTTP_ERR_TOOBIG;
		return -EFBIG;
	}
	if (t->aborted) {
		resp->error = HTTP_ERR_ABORTED;
		return -ECANCELED;
	}
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		resp->error = HTTP_ERR_CONNECT;
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		resp->error = HTTP_ERR_TIMEOUT;
		return -ETIMEDOUT;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		resp->error = HTTP_ERR_RESET;
		return -ECONNRESET;
	case CURLE_PARTIAL_FILE:
		resp->error = HTTP_ERR_TRUNCATED;
		return -EIO;
	case CURLE_OUT_OF_MEMORY:
		/* Once the status line is in, this is curl refusing a header line
		 * over its own limit (100 KB): an answer too big, not our memory. */
		if (t->header_bytes > 0) {
			resp->error = HTTP_ERR_TOOBIG;
			return -EFBIG;
		}
		resp->error = HTTP_ERR_OTHER;
		return -ENOMEM;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
		resp->error = HTTP_ERR_TLS;
		return -EIO;
	default:
		resp->error = HTTP_ERR_OTHER;
		return -EIO;
	}
}

int http_perform(const struct http_request *req, struct http_response *resp)
{
	struct curl_slist *hl = NULL, *tmp;
	struct transfer t = { .req = req, .resp = resp };
	bool has_ctype = false;
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode cc;
	CURL *h;
	int rc = 0;

	memset(resp, 0, sizeof(*resp));
	buf_init(&resp->body, req->max_response ? req->max_response : HTTP_DEFAULT_MAX_BODY);
	if (!http.ready)
		return -EINVAL;
	h = thread_handle();
	if (!h)
		return -ENOMEM;
	t.h = h;

	for (size_t i = 0; i < req->nheaders; i++) {
		if (strncasecmp(req->headers[i], "content-type:", 13) == 0)
			has_ctype = true;
		tmp = curl_slist_append(hl, req->headers[i]);
		if (!tmp)
			goto nomem;
		hl = tmp;
	}
	/* No "Expect: 100-continue" round trip, and no invented Content-Type. */
	if (!(tmp = curl_slist_append(hl, "Expect:")))
		goto nomem;
	hl = tmp;
	if (!has_ctype) {
		if (!(tmp = curl_slist_append(hl, "Content-Type:")))
			goto nomem;
		hl = tmp;
	}

	curl_easy_setopt(h, CURLOPT_SHARE, http.share);
	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	/* S3 keys may hold "." and ".." segments: send the path untouched. */
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, http.connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, http.stall_s);
	if (req->timeout_ms > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req->timeout_ms);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, http.insecure ? 0L : 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, http.insecure ? 0L : 2L);
	if (http.ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, http.ca_file);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	/* Streamed and large bodies move in big pieces: fewer system calls
	 * and wake-ups per MiB. Other requests keep curl's small buffers. */
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE,
			 req->sink ? HTTP_BIG_BUFFER : (long)CURL_MAX_WRITE_SIZE);
	curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE,
			 req->body_len >= (size_t)HTTP_BIG_BUFFER ? HTTP_BIG_UPLOAD_BUFFER : 65536L);

	if (strcmp(req->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(req->method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
		if (req->body || strcmp(req->method, "DELETE") != 0) {
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t)req->body_len);
			curl_easy_setopt(h, CURLOPT_POSTFIELDS,
					 req->body ? req->body : (const void *)"");
		}
	}

	cc = curl_easy_perform(h);
	/* The status is known once headers are in, even if the body failed. */
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	{
		curl_off_t dn = 0, up = 0;

		curl_easy_getinfo(h, CURLINFO_SIZE_DOWNLOAD_T, &dn);
		curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &up);
		resp->bytes_in = (size_t)dn;
		resp->bytes_out = (size_t)up;
	}
	if (cc != CURLE_OK) {
		rc = map_curl_error(cc, &t, resp);
		snprintf(resp->errmsg, sizeof(resp->errmsg), "%s",
			 errbuf[0] ? errbuf : curl_easy_strerror(cc));
	}
	/* The pointer to our stack buffer must not outlive this call. */
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hl);
	return rc;

nomem:
	curl_slist_free_all(hl);
	return -ENOMEM;
}

int http_probe(const char *url, char *errmsg, size_t errlen)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode cc;
	CURL *h;

	if (!http.ready)
		return -EINVAL;
	h = curl_easy_init();
	if (!h)
		return -ENOMEM;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, http.connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, http.insecure ? 0L : 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, http.insecure ? 0L : 2L);
	if (http.ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, http.ca_file);
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK)
		snprintf(errmsg, errlen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
	curl_easy_cleanup(h);
	return cc == CURLE_OK ? 0 : -EIO;
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
	headers_free(resp);
	buf_free(&resp->body);
	resp->status = 0;
}

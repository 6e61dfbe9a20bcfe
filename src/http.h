/*
 * http: the only module that speaks to libcurl.
 *
 * One easy handle per thread, kept for keep-alive, with DNS, TLS sessions
 * and the connection pool shared between threads through a curl share
 * handle. TLS peers are verified unless the user turned it off.
 * Transport failures are classified (connect, timeout, reset, truncated)
 * so that the retry core can tell them apart.
 */
#ifndef AWSFS_HTTP_H
#define AWSFS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

struct http_options {
	const char *ca_file;     /* NULL: system default */
	bool insecure;           /* skip TLS verification (never by default) */
	long connect_timeout_ms; /* 0: 10 s */
	long low_speed_time_s;   /* abort a transfer stalled this long; 0: 30 s */
};

/* Process-wide set-up and tear-down; call once each from main(). */
int http_global_init(const struct http_options *opts);
void http_global_cleanup(void);

/* A transport outcome for a request that got no complete HTTP response. */
enum http_error {
	HTTP_OK = 0,        /* a whole response arrived (any status) */
	HTTP_ERR_CONNECT,   /* refused, unreachable, DNS */
	HTTP_ERR_TIMEOUT,   /* connect or transfer timed out / stalled */
	HTTP_ERR_RESET,     /* connection reset or closed early */
	HTTP_ERR_TRUNCATED, /* body shorter than Content-Length */
	HTTP_ERR_TLS,       /* certificate or handshake failure */
	HTTP_ERR_TOOBIG,    /* response over the caller's cap */
	HTTP_ERR_ABORTED,   /* the caller's sink asked to stop */
	HTTP_ERR_OTHER,
};

/* Streaming sink for a response body: return 0 to go on, non-zero to abort. */
typedef int (*http_sink_fn)(void *arg, const char *data, size_t len);

struct http_request {
	const char *method;          /* "GET", "PUT", "POST", "HEAD", "DELETE" */
	const char *url;             /* full URL, already encoded */
	const char *const *headers;  /* "Name: value" lines */
	size_t nheaders;
	const void *body;            /* request body or NULL */
	size_t body_len;
	size_t max_response;         /* cap on the collected body; 0: 16 MiB */
	http_sink_fn sink;           /* when set, the body goes here instead */
	void *sink_arg;
	long timeout_ms;             /* whole-transfer timeout; 0: none (stall check only) */
};

struct http_response_header {
	char *name;  /* lower case */
	char *value; /* trimmed */
};

struct http_response {
	long status;                 /* 0 when no response arrived */
	enum http_error error;
	char errmsg[256];            /* curl's words for a transport error */
	struct buf body;             /* collected body (unless a sink was used) */
	struct http_response_header *headers; /* of the final response */
	size_t nheaders;
	size_t bytes_in;             /* body bytes received */
	size_t bytes_out;            /* body bytes sent */
};

/*
 * Perform one request on this thread's handle. Returns 0 when a complete
 * response arrived (whatever its status), or a negative errno (-EIO,
 * -ETIMEDOUT, -ECONNREFUSED, -ECONNRESET, -EFBIG, -ECANCELED, -ENOMEM)
 * with resp->error and resp->errmsg saying what happened.
 * resp must be zeroed or freshly freed; call http_response_free after.
 */
int http_perform(const struct http_request *req, struct http_response *resp);

/* Value of a response header (name in lower case) or NULL. */
const char *http_response_header(const struct http_response *resp, const char *name);
void http_response_free(struct http_response *resp);

/*
 * Can a connection to url's host and port be opened (and TLS set up for
 * https)? Nothing is sent. 0, or -EIO with curl's words in errmsg.
 */
int http_probe(const char *url, char *errmsg, size_t errlen);

/* Drop this thread's handle (at thread exit; also called at cleanup). */
void http_thread_cleanup(void);

#endif

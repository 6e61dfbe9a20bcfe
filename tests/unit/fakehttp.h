/*
 * fakehttp: a tiny HTTP/1.1 server for unit tests.
 *
 * Listens on 127.0.0.1 on an ephemeral port and serves from its own thread.
 * Several connections may be open at once (libcurl keeps some warm); their
 * requests are handled one at a time, in arrival order, by the test's
 * handler. Keep-alive, Content-Length and chunked request bodies and
 * "Expect: 100-continue" are understood. Test code only: no TLS, no limits
 * worth the name beyond a 64 MiB cap per request.
 */
#ifndef AWSFS_FAKEHTTP_H
#define AWSFS_FAKEHTTP_H

#include <stddef.h>

struct fakehttp;

struct fakehttp_request {
	char method[16];
	char target[4096]; /* path + query as sent */
	char *headers;     /* raw header block, NUL-terminated */
	char *body;        /* NUL-terminated too (not counted in body_len) */
	size_t body_len;
};

struct fakehttp_reply {
	int status;          /* 0 means 200 */
	const char *headers; /* extra "Name: value\r\n" lines or NULL; when they
			      * hold a Content-Length or Transfer-Encoding, none
			      * is added (so a test can send a short body) */
	const char *body;
	size_t body_len;
	int close;           /* close the connection after replying */
	int drop;            /* close without replying */
	int delay_ms;        /* wait this long before replying (or dropping) */
};

/*
 * Called on the server thread for each request; reply arrives zeroed. The
 * request and everything it points to are valid during the call only; the
 * reply's strings must stay valid until the handler is called again or the
 * server stops.
 */
typedef void (*fakehttp_handler)(void *arg, const struct fakehttp_request *req,
				 struct fakehttp_reply *reply);

/* Start a server. Caller stops it with fakehttp_stop. 0 or -errno. */
int fakehttp_start(fakehttp_handler h, void *arg, struct fakehttp **out);
/* The port it listens on (host byte order). */
int fakehttp_port(const struct fakehttp *s);
/* Value of a request header (case-insensitive name), trimmed, copied into
 * out (truncated to outlen - 1 bytes). 0 or -ENOENT. */
int fakehttp_header(const struct fakehttp_request *req, const char *name, char *out,
		    size_t outlen);
/* Requests handled so far (counted before the reply is sent, so a client
 * that has its answer sees the count including its request). */
unsigned fakehttp_requests(const struct fakehttp *s);
/* Stop the thread, close every socket and free s. NULL is fine. */
void fakehttp_stop(struct fakehttp *s);

#endif

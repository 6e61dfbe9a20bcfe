/*
 * fakehttp: a tiny HTTP/1.1 server for unit tests. See fakehttp.h.
 *
 * One thread polls the listening socket, every open connection and a wake
 * pipe; bytes are gathered per connection until a whole request is in, then
 * the handler runs and the reply is written (blocking) before the next
 * request is looked at. Stopping writes to the wake pipe and joins.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, accept4, pipe2 */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fakehttp.h"

#define FH_MAX_CONNS 32
#define FH_MAX_HEADER (64u << 10)   /* request line + headers */
#define FH_MAX_REQUEST (64u << 20)  /* whole request, body included */
#define FH_READ_CHUNK 16384

struct fh_conn {
	int fd;            /* -1: free slot */
	char *in;          /* bytes received, not yet consumed */
	size_t len;
	size_t alloc;
	bool sent_continue;
};

struct fakehttp {
	int lfd;
	int wake[2];
	int port;
	bool stopping;     /* server thread only */
	pthread_t thread;
	fakehttp_handler handler;
	void *arg;
	unsigned requests; /* atomic */
	struct fh_conn conns[FH_MAX_CONNS];
};

/* Outcome of looking at a connection's buffer. */
enum fh_parse { FH_NEED_MORE, FH_DONE, FH_CLOSE };

static void conn_close(struct fh_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	c->fd = -1;
	c->in = NULL;
	c->len = 0;
	c->alloc = 0;
	c->sent_continue = false;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static const char *reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 412: return "Precondition Failed";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Status";
	}
}

/* Find a header line "name:" in a raw block; returns the start of its value
 * (not trimmed) and its length up to the line end, or NULL. */
static const char *find_header(const char *block, const char *name, size_t *vlen)
{
	size_t nlen = strlen(name);
	const char *line = block;

	while (line && *line) {
		const char *eol = strstr(line, "\r\n");
		const char *end = eol ? eol : line + strlen(line);

		if ((size_t)(end - line) > nlen && strncasecmp(line, name, nlen) == 0 &&
		    line[nlen] == ':') {
			*vlen = (size_t)(end - line - (ptrdiff_t)nlen - 1);
			return line + nlen + 1;
		}
		line = eol ? eol + 2 : NULL;
	}
	return NULL;
}

int fakehttp_header(const struct fakehttp_request *req, const char *name, char *out,
		    size_t outlen)
{
	size_t vlen = 0;
	const char *v = req->headers ? find_header(req->headers, name, &vlen) : NULL;

	if (!v)
		return -ENOENT;
	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t' || v[vlen - 1] == '\r'))
		vlen--;
	if (outlen == 0)
		return 0;
	if (vlen > outlen - 1)
		vlen = outlen - 1;
	memcpy(out, v, vlen);
	out[vlen] = '\0';
	return 0;
}

static bool header_has_token(const char *block, const char *name, const char *token)
{
	size_t vlen = 0;
	const char *v = find_header(block, name, &vlen);
	size_t tlen = strlen(token);

	if (!v)
		return false;
	for (size_t i = 0; i + tlen <= vlen; i++)
		if (strncasecmp(v + i, token, tlen) == 0)
			return true;
	return false;
}

/* Parse a decimal Content-Length. -1 when malformed. */
static long long parse_length(const char *v, size_t vlen)
{
	long long n = 0;
	size_t i = 0;
	bool any = false;

	while (i < vlen && (v[i] == ' ' || v[i] == '\t'))
		i++;
	for (; i < vlen && v[i] >= '0' && v[i] <= '9'; i++) {
		n = n * 10 + (v[i] - '0');
		if (n > (long long)FH_MAX_REQUEST)
			return -1;
		any = true;
	}
	while (i < vlen && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r'))
		i++;
	return any && i == vlen ? n : -1;
}

/*
 * Decode a chunked body starting at p (avail bytes). FH_DONE with the body
 * in *out (malloc'd) and the bytes used in *used; FH_NEED_MORE; FH_CLOSE on
 * garbage.
 */
static enum fh_parse dechunk(const char *p, size_t avail, char **out, size_t *outlen,
			     size_t *used)
{
	size_t pos = 0, total = 0;
	char *body = NULL;

	for (;;) {
		const char *eol = memmem(p + pos, avail - pos, "\r\n", 2);
		size_t size = 0;
		char *nb;

		if (!eol)
			goto more;
		for (const char *q = p + pos; q < eol && *q != ';'; q++) {
			int d;

			if (*q >= '0' && *q <= '9')
				d = *q - '0';
			else if (*q >= 'a' && *q <= 'f')
				d = *q - 'a' + 10;
			else if (*q >= 'A' && *q <= 'F')
				d = *q - 'A' + 10;
			else if (*q == ' ' || *q == '\t')
				continue;
			else
				goto bad;
			size = size * 16 + (size_t)d;
			if (size > FH_MAX_REQUEST)
				goto bad;
		}
		pos = (size_t)(eol - p) + 2;
		if (size == 0) {
			/* Trailers, then an empty line. */
			for (;;) {
				eol = memmem(p + pos, avail - pos, "\r\n", 2);
				if (!eol)
					goto more;
				if (eol == p + pos) {
					pos += 2;
					break;
				}
				pos = (size_t)(eol - p) + 2;
			}
			break;
		}
		if (avail - pos < size + 2)
			goto more;
		if (total + size > FH_MAX_REQUEST)
			goto bad;
		nb = realloc(body, total + size + 1);
		if (!nb)
			goto bad;
		body = nb;
		memcpy(body + total, p + pos, size);
		total += size;
		pos += size + 2;
	}
	if (!body && !(body = malloc(1)))
		goto bad;
	body[total] = '\0';
	*out = body;
	*outlen = total;
	*used = pos;
	return FH_DONE;
more:
	free(body);
	return FH_NEED_MORE;
bad:
	free(body);
	return FH_CLOSE;
}

/* Sleep up to ms, waking early when the server is being stopped. */
static void fh_delay(struct fakehttp *s, int ms)
{
	struct pollfd pf = { .fd = s->wake[0], .events = POLLIN };

	if (ms > 0 && poll(&pf, 1, ms) > 0)
		s->stopping = true;
}

static int send_reply(int fd, const struct fakehttp_request *req,
		      const struct fakehttp_reply *r)
{
	const char *extra = r->headers ? r->headers : "";
	int status = r->status ? r->status : 200;
	size_t vlen;
	bool own_length = !find_header(extra, "content-length", &vlen) &&
			  !find_header(extra, "transfer-encoding", &vlen);
	bool no_body = strcmp(req->method, "HEAD") == 0 || status == 204 || status == 304 ||
		       (status >= 100 && status < 200);
	size_t cap = strlen(extra) + 256;
	char *head = malloc(cap);
	int n, rc;

	if (!head)
		return -ENOMEM;
	n = snprintf(head, cap, "HTTP/1.1 %d %s\r\n", status, reason(status));
	if (own_length && status != 204 && status != 304)
		n += snprintf(head + n, cap - (size_t)n, "Content-Length: %zu\r\n", r->body_len);
	if (r->close)
		n += snprintf(head + n, cap - (size_t)n, "Connection: close\r\n");
	n += snprintf(head + n, cap - (size_t)n, "%s\r\n", extra);
	rc = send_all(fd, head, (size_t)n);
	free(head);
	if (rc == 0 && !no_body && r->body && r->body_len)
		rc = send_all(fd, r->body, r->body_len);
	return rc;
}

static void send_status_and_close(struct fh_conn *c, int status)
{
	char line[128];
	int n = snprintf(line, sizeof(line),
			 "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
			 status, reason(status));

	send_all(c->fd, line, (size_t)n);
	conn_close(c);
}

/*
 * Look at what c has received: serve one request if it is all there.
 * FH_DONE when one was served and the connection stays open.
 */
static enum fh_parse serve_one(struct fakehttp *s, struct fh_conn *c)
{
	struct fakehttp_request req;
	struct fakehttp_reply reply;
	const char *hend, *eol, *sp1, *sp2, *v;
	size_t hlen, vlen, used = 0, blockoff;
	bool keep;
	enum fh_parse st;

	if (!c->in)
		return FH_NEED_MORE;
	/* Tolerate stray CRLFs between requests (RFC 9112 2.2). */
	while (c->len >= 2 && c->in[0] == '\r' && c->in[1] == '\n') {
		memmove(c->in, c->in + 2, c->len - 2);
		c->len -= 2;
	}
	hend = memmem(c->in, c->len, "\r\n\r\n", 4);
	if (!hend) {
		if (c->len > FH_MAX_HEADER) {
			send_status_and_close(c, 431);
			return FH_CLOSE;
		}
		return FH_NEED_MORE;
	}
	hlen = (size_t)(hend - c->in) + 4;
	eol = memmem(c->in, hlen, "\r\n", 2);
	sp1 = memchr(c->in, ' ', (size_t)(eol - c->in));
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (!sp1 || !sp2 || (size_t)(sp1 - c->in) >= sizeof(req.method)) {
		send_status_and_close(c, 400);
		return FH_CLOSE;
	}
	if ((size_t)(sp2 - sp1 - 1) >= sizeof(req.target)) {
		send_status_and_close(c, 414);
		return FH_CLOSE;
	}
	memset(&req, 0, sizeof(req));
	memcpy(req.method, c->in, (size_t)(sp1 - c->in));
	memcpy(req.target, sp1 + 1, (size_t)(sp2 - sp1 - 1));
	blockoff = (size_t)(eol - c->in) + 2;
	/* The block keeps each line's CRLF but not the final empty line. */
	req.headers = malloc(hlen - 2 - blockoff + 1);
	if (!req.headers) {
		conn_close(c);
		return FH_CLOSE;
	}
	memcpy(req.headers, c->in + blockoff, hlen - 2 - blockoff);
	req.headers[hlen - 2 - blockoff] = '\0';

	if (header_has_token(req.headers, "transfer-encoding", "chunked")) {
		st = dechunk(c->in + hlen, c->len - hlen, &req.body, &req.body_len, &used);
		if (st == FH_CLOSE) {
			free(req.headers);
			send_status_and_close(c, 400);
			return FH_CLOSE;
		}
	} else {
		long long clen = 0;

		v = find_header(req.headers, "content-length", &vlen);
		if (v && (clen = parse_length(v, vlen)) < 0) {
			free(req.headers);
			send_status_and_close(c, 413);
			return FH_CLOSE;
		}
		if (c->len - hlen < (size_t)clen) {
			st = FH_NEED_MORE;
		} else {
			st = FH_DONE;
			req.body = malloc((size_t)clen + 1);
			if (!req.body) {
				free(req.headers);
				conn_close(c);
				return FH_CLOSE;
			}
			memcpy(req.body, c->in + hlen, (size_t)clen);
			req.body[clen] = '\0';
			req.body_len = (size_t)clen;
			used = (size_t)clen;
		}
	}
	if (st == FH_NEED_MORE) {
		if (!c->sent_continue && header_has_token(req.headers, "expect", "100-continue")) {
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

			send_all(c->fd, cont, sizeof(cont) - 1);
			c->sent_continue = true;
		}
		free(req.headers);
		return FH_NEED_MORE;
	}

	if (memmem(sp2 + 1, (size_t)(eol - sp2 - 1), "HTTP/1.0", 8))
		keep = header_has_token(req.headers, "connection", "keep-alive");
	else
		keep = !header_has_token(req.headers, "connection", "close");

	memset(&reply, 0, sizeof(reply));
	s->handler(s->arg, &req, &reply);
	__atomic_add_fetch(&s->requests, 1, __ATOMIC_SEQ_CST);
	fh_delay(s, reply.delay_ms);
	if (reply.drop || s->stopping) {
		st = FH_CLOSE;
	} else if (send_reply(c->fd, &req, &reply) != 0) {
		st = FH_CLOSE;
	} else {
		st = keep && !reply.close ? FH_DONE : FH_CLOSE;
	}
	free(req.headers);
	free(req.body);
	if (st == FH_CLOSE) {
		conn_close(c);
		return FH_CLOSE;
	}
	memmove(c->in, c->in + hlen + used, c->len - hlen - used);
	c->len -= hlen + used;
	c->sent_continue = false;
	return FH_DONE;
}

/* Read what is waiting on c; serve every complete request. */
static void conn_readable(struct fakehttp *s, struct fh_conn *c)
{
	char chunk[FH_READ_CHUNK];
	ssize_t n = recv(c->fd, chunk, sizeof(chunk), 0);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0 || c->len + (size_t)n > FH_MAX_HEADER + FH_MAX_REQUEST) {
		conn_close(c);
		return;
	}
	if (c->len + (size_t)n + 1 > c->alloc) {
		size_t want = c->alloc ? c->alloc : FH_READ_CHUNK;
		char *p;

		while (want < c->len + (size_t)n + 1)
			want *= 2;
		p = realloc(c->in, want);
		if (!p) {
			conn_close(c);
			return;
		}
		c->in = p;
		c->alloc = want;
	}
	memcpy(c->in + c->len, chunk, (size_t)n);
	c->len += (size_t)n;
	while (!s->stopping && c->fd >= 0 && serve_one(s, c) == FH_DONE)
		;
}

static void *fh_thread(void *arg)
{
	struct fakehttp *s = arg;
	struct pollfd pf[FH_MAX_CONNS + 2];
	int slot[FH_MAX_CONNS + 2];

	while (!s->stopping) {
		nfds_t n = 0;
		int nopen = 0;

		pf[n].fd = s->wake[0];
		pf[n].events = POLLIN;
		slot[n++] = -1;
		for (int i = 0; i < FH_MAX_CONNS; i++) {
			if (s->conns[i].fd < 0)
				continue;
			pf[n].fd = s->conns[i].fd;
			pf[n].events = POLLIN;
			slot[n++] = i;
			nopen++;
		}
		if (nopen < FH_MAX_CONNS) {
			pf[n].fd = s->lfd;
			pf[n].events = POLLIN;
			slot[n++] = -2;
		}
		if (poll(pf, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[0].revents)
			break;
		for (nfds_t i = 1; i < n && !s->stopping; i++) {
			if (!pf[i].revents)
				continue;
			if (slot[i] == -2) {
				int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC), one = 1;

				if (fd < 0)
					continue;
				/* Head and body go in separate writes: no Nagle wait. */
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				for (int j = 0; j < FH_MAX_CONNS; j++) {
					if (s->conns[j].fd < 0) {
						s->conns[j].fd = fd;
						fd = -1;
						break;
					}
				}
				if (fd >= 0)
					close(fd);
			} else if (s->conns[slot[i]].fd >= 0) {
				conn_readable(s, &s->conns[slot[i]]);
			}
		}
	}
	return NULL;
}

int fakehttp_start(fakehttp_handler h, void *arg, struct fakehttp **out)
{
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	struct fakehttp *s;
	int one = 1, rc;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->handler = h;
	s->arg = arg;
	s->wake[0] = s->wake[1] = -1;
	for (int i = 0; i < FH_MAX_CONNS; i++)
		s->conns[i].fd = -1;
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->lfd < 0)
		goto fail_errno;
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0;
	if (bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s->lfd, 64) < 0 ||
	    getsockname(s->lfd, (struct sockaddr *)&sa, &salen) < 0)
		goto fail_errno;
	s->port = ntohs(sa.sin_port);
	if (pipe2(s->wake, O_CLOEXEC) < 0)
		goto fail_errno;
	rc = pthread_create(&s->thread, NULL, fh_thread, s);
	if (rc) {
		rc = -rc;
		goto fail;
	}
	*out = s;
	return 0;

fail_errno:
	rc = -errno;
fail:
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->wake[0] >= 0) {
		close(s->wake[0]);
		close(s->wake[1]);
	}
	free(s);
	return rc;
}

int fakehttp_port(const struct fakehttp *s)
{
	return s->port;
}

unsigned fakehttp_requests(const struct fakehttp *s)
{
	return __atomic_load_n(&s->requests, __ATOMIC_SEQ_CST);
}

void fakehttp_stop(struct fakehttp *s)
{
	ssize_t w;

	if (!s)
		return;
	do
		w = write(s->wake[1], "x", 1);
	while (w < 0 && errno == EINTR);
	pthread_join(s->thread, NULL);
	for (int i = 0; i < FH_MAX_CONNS; i++)
		conn_close(&s->conns[i]);
	close(s->lfd);
	close(s->wake[0]);
	close(s->wake[1]);
	free(s);
}

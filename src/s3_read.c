/*
 * s3_read: reading objects with ranged GETs.
 *
 * Each open handle has a reader. A read that continues the previous ones
 * (sequential, with some slack for the kernel's out-of-order async reads)
 * grows a read-ahead window from 1 MiB up to -o readahead=, fetched in
 * parts by the worker threads; any other read fetches what it asks plus a
 * small block, in the calling thread. So a 1-byte read of a huge object
 * is one small request. Memory per reader: the window plus a few parts.
 * Reads past the end answer 0 (S3's 416 InvalidRange is EOF).
 *
 * A fetch that gave up (its retry budget spent) is remembered for
 * S3_FAIL_HOLD_MS: the kernel answers a failed read by asking again page
 * by page, and each of those must not wait out a budget of its own, so
 * meanwhile reads that need the network fail at once with the same errno.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "s3_i.h"
#include "stats.h"
#include "util.h"

#define S3_RA_START (1u << 20)      /* first read-ahead window */
#define S3_RA_MIN_PART (1u << 20)   /* read-ahead part size, at least */
#define S3_MIN_FETCH (8u << 10)     /* a random read fetches at least this */
#define S3_EXTRA_FETCH (4u << 10)   /* ... and this much past what it asked */
#define S3_SEQ_SLACK (2u << 20)     /* async reads arrive a little out of order */
#define S3_FAIL_HOLD_MS 3000u       /* a give-up answers the next reads this long */
#define S3_SPARE_PARTS 2            /* full-size part buffers kept for reuse */

enum part_state { PART_PENDING, PART_READY, PART_FAILED };

struct rpart {
	struct s3_job job;          /* must stay first */
	struct s3_reader *rd;
	off_t off;
	size_t len;
	char *data;
	size_t got;
	enum part_state state;      /* protected by rd->lock */
	int err;
	unsigned waiters;           /* reads asleep on it: not freed meanwhile (rd->lock) */
	struct rpart *next;         /* protected by rd->lock */
};

struct s3_reader {
	struct s3 *s;
	struct s3_loc loc;
	char *path;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* everything below: protected by lock */
	off_t size;                 /* -1: not known yet */
	off_t next_seq;             /* where a sequential read would start */
	unsigned streak;            /* sequential reads in a row */
	uint64_t window;
	off_t ra_end;               /* read-ahead scheduled up to here */
	struct rpart *parts;
	size_t bytes;               /* allocated by parts */
	unsigned pending;           /* parts with a job in flight */
	uint64_t part_size;
	int fail_err;               /* the last give-up (-EIO, -EAGAIN) or 0 */
	uint64_t fail_ms;           /* when it happened */
	/* Buffers of part_size from consumed parts: reused, so a long read
	 * does not fault in and zero fresh pages for every part. */
	char *spare[S3_SPARE_PARTS];
	unsigned nspare;
};

struct range_sink {
	char *data;
	size_t len, got;
};

static int range_sink(void *arg, const char *data, size_t len)
{
	struct range_sink *rs = arg;
	size_t n = len < rs->len - rs->got ? len : rs->len - rs->got;

	memcpy(rs->data + rs->got, data, n);
	rs->got += n;
	return n < len; /* more than asked (a server ignoring Range): stop */
}

/* GET [off, off+len) into data. *got bytes arrived (fewer at the end);
 * *size set when the answer tells the object's size. */
static int fetch_range_once(struct s3 *s, const struct s3_loc *loc, const char *path,
			    off_t off, size_t len, char *data, size_t *got, off_t *size)
{
	char range[80];
	const char *hdr[1] = { range };
	struct range_sink rs = { data, len, 0 };
	struct aws_request req = {
		.svc = AWS_SVC_S3,
		.op = "GetObject",
		.method = "GET",
		.bucket = loc->bucket,
		.key = loc->key,
		.headers = hdr,
		.nheaders = 1,
		.path = path,
		.sink = range_sink,
		.sink_arg = &rs,
		.max_response = 64u << 10,
		.quiet_errors = true,
	};
	struct aws_response resp;
	struct s3_meta m;
	int rc;

	snprintf(range, sizeof(range), "Range: bytes=%lld-%lld", (long long)off,
		 (long long)(off + (off_t)len - 1));
	rc = aws_call(s->client, &req, &resp);
	*got = rs.got;
	if (rc == -ECANCELED && rs.got == len && off == 0)
		rc = 0; /* a 200 with the whole object: we have what we asked for */
	if (rc == 0 && resp.status == 200 && off != 0) {
		rc = -EIO;
		log_error("s3 %s: the server ignored a Range request", path);
	}
	if (rc == 0 && s3_meta_from_headers(&resp.http, &m) == 0) {
		if (http_response_header(&resp.http, "content-range") || resp.status == 200)
			*size = m.size;
		s3_meta_free(&m);
	} else if (resp.status == 416) {
		/* Past the end: "Content-Range: bytes * / SIZE" when given. */
		const char *cr = http_response_header(&resp.http, "content-range");
		const char *slash = cr ? strrchr(cr, '/') : NULL;
		long long n;

		*got = 0;
		if (slash && util_parse_ll(slash + 1, 0, (long long)S3_MAX_OBJECT, &n) == 0)
			*size = (off_t)n;
		rc = 0;
	} else if (rc && rs.got == 0 && !resp.logged) {
		/* A body cut after some bytes is resumed by fetch_range. */
		log_error("s3 GetObject %s: %s: %s (HTTP %ld, request id %s)", path,
			  resp.code[0] ? resp.code : "error", resp.message, resp.status,
			  resp.request_id[0] ? resp.request_id : "-");
	}
	aws_response_free(&resp);
	return rc;
}

/* Times a GET cut mid-body is resumed from the byte it reached. */
#define S3_READ_RESUMES 8

/*
 * GET [off, off+len) into data, resuming a body cut short (a reset, a
 * Content-Length that lied) from the byte it reached rather than starting
 * over: aws_call cannot retry what it already handed to the sink.
 */
static int fetch_range(struct s3 *s, const struct s3_loc *loc, const char *path, off_t off,
		       size_t len, char *data, size_t *got, off_t *size)
{
	size_t total = 0, part = 0;
	int rc, resumes = 0;

	for (;;) {
		rc = fetch_range_once(s, loc, path, off + (off_t)total, len - total, data + total,
				      &part, size);
		total += part;
		if (rc == 0 || part == 0 || total >= len || rc == -ENOMEM)
			break;
		if (++resumes > S3_READ_RESUMES) {
			log_error("s3 GetObject %s: the body was cut short %d times; gave up at "
				  "byte %lld", path, resumes - 1, (long long)(off + (off_t)total));
			break;
		}
		log_debug("s3 GetObject %s: body cut at byte %lld, resuming", path,
			  (long long)(off + (off_t)total));
		stats_add("s3", "GetObject", STATS_RETRIES, 1);
	}
	*got = total;
	return rc;
}

int s3_reader_new(struct s3 *s, const struct s3_loc *loc, const char *path, off_t size,
		  struct s3_reader **out)
{
	struct s3_reader *rd = calloc(1, sizeof(*rd));

	if (!rd)
		return -ENOMEM;
	rd->s = s;
	rd->loc.bucket = strdup(loc->bucket);
	rd->loc.key = strdup(loc->key);
	rd->path = strdup(path);
	if (!rd->loc.bucket || !rd->loc.key || !rd->path) {
		s3_loc_free(&rd->loc);
		free(rd->path);
		free(rd);
		return -ENOMEM;
	}
	pthread_mutex_init(&rd->lock, NULL);
	pthread_cond_init(&rd->cond, NULL);
	rd->size = size;
	rd->next_seq = 0;
	rd->part_size = s->opt.readahead / 8;
	if (rd->part_size < S3_RA_MIN_PART)
		rd->part_size = S3_RA_MIN_PART;
	*out = rd;
	return 0;
}

static void part_free(struct s3_reader *rd, struct rpart *p)
{
	rd->bytes -= p->len;
	if (p->len == rd->part_size && rd->nspare < S3_SPARE_PARTS)
		rd->spare[rd->nspare++] = p->data;
	else
		free(p->data);
	free(p);
}

static void unlink_part(struct s3_reader *rd, struct rpart *p)
{
	struct rpart **pp = &rd->parts;

	while (*pp && *pp != p)
		pp = &(*pp)->next;
	if (*pp)
		*pp = p->next;
}

void s3_reader_free(struct s3_reader *rd)
{
	if (!rd)
		return;
	pthread_mutex_lock(&rd->lock);
	while (rd->pending)
		pthread_cond_wait(&rd->cond, &rd->lock);
	while (rd->parts) {
		struct rpart *p = rd->parts;

		rd->parts = p->next;
		part_free(rd, p);
	}
	while (rd->nspare)
		free(rd->spare[--rd->nspare]);
	pthread_mutex_unlock(&rd->lock);
	pthread_mutex_destroy(&rd->lock);
	pthread_cond_destroy(&rd->cond);
	s3_loc_free(&rd->loc);
	free(rd->path);
	free(rd);
}

/* A part finished (on a worker or in the reading thread). rd->lock held. */
static void part_done(struct s3_reader *rd, struct rpart *p, int rc, size_t got, off_t size)
{
	p->got = got;
	p->err = rc;
	p->state = rc ? PART_FAILED : PART_READY;
	if (rc == -EIO || rc == -EAGAIN) {
		rd->fail_err = rc;
		rd->fail_ms = util_mono_ms();
	}
	if (rc == 0 && size >= 0)
		rd->size = size;
	if (rc == 0 && got < p->len && rd->size < 0)
		rd->size = p->off + (off_t)got;
	pthread_cond_broadcast(&rd->cond);
}

static void part_run(struct s3_job *job)
{
	struct rpart *p = (struct rpart *)job;
	struct s3_reader *rd = p->rd;
	off_t size = -1;
	size_t got = 0;
	int rc = fetch_range(rd->s, &rd->loc, rd->path, p->off, p->len, p->data, &got, &size);

	pthread_mutex_lock(&rd->lock);
	part_done(rd, p, rc, got, size);
	rd->pending--;
	pthread_cond_broadcast(&rd->cond);
	pthread_mutex_unlock(&rd->lock);
}

static struct rpart *find_part(struct s3_reader *rd, off_t pos)
{
	for (struct rpart *p = rd->parts; p; p = p->next)
		if (pos >= p->off && pos < p->off + (off_t)p->len)
			return p;
	return NULL;
}

static struct rpart *part_new(struct s3_reader *rd, off_t off, size_t len)
{
	struct rpart *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	if (len == rd->part_size && rd->nspare)
		p->data = rd->spare[--rd->nspare];
	else
		p->data = malloc(len ? len : 1);
	if (!p->data) {
		free(p);
		return NULL;
	}
	p->rd = rd;
	p->off = off;
	p->len = len;
	p->state = PART_PENDING;
	p->job.run = part_run;
	p->next = rd->parts;
	rd->parts = p;
	rd->bytes += len;
	return p;
}

/* The errno of a recent give-up, or 0 when the network may be tried. */
static int recent_failure(struct s3_reader *rd)
{
	if (rd->fail_err && util_mono_ms() - rd->fail_ms < S3_FAIL_HOLD_MS)
		return rd->fail_err;
	rd->fail_err = 0;
	return 0;
}

/* Read-ahead parts for [from, to) that are not there yet. */
static void schedule(struct s3_reader *rd, off_t from, off_t to)
{
	off_t pos = rd->ra_end > from ? rd->ra_end : from;

	while (pos < to && (rd->size < 0 || pos < rd->size)) {
		struct rpart *have = find_part(rd, pos);
		/* parts grow with the window: 1 MiB first, up to part_size */
		size_t len = rd->window < rd->part_size ? (size_t)rd->window : rd->part_size;
		struct rpart *p;

		if (have) {
			pos = have->off + (off_t)have->len;
			continue;
		}
		if (rd->size >= 0 && pos + (off_t)len > rd->size)
			len = (size_t)(rd->size - pos);
		/* never overlap a part that starts inside this one */
		for (struct rpart *q = rd->parts; q; q = q->next)
			if (q->off > pos && q->off < pos + (off_t)len)
				len = (size_t)(q->off - pos);
		p = part_new(rd, pos, len);
		if (!p)
			break;
		if (s3_submit(rd->s, &p->job)) {
			/* no worker: the reads fetch for themselves */
			unlink_part(rd, p);
			part_free(rd, p);
			break;
		}
		rd->pending++;
		pos += (off_t)len;
	}
	if (pos > rd->ra_end)
		rd->ra_end = pos;
}

/* Drop finished parts outside [keep_from, keep_to) while over the budget. */
static void trim(struct s3_reader *rd, off_t keep_from, off_t keep_to)
{
	size_t budget = rd->s->opt.readahead + 2 * rd->part_size + S3_MIN_FETCH;
	struct rpart *p, *next;

	for (p = rd->parts; p; p = next) {
		next = p->next;
		if (p->state == PART_PENDING || p->waiters)
			continue;
		/* consumed: behind the reader */
		if (p->off + (off_t)p->len <= keep_from - (off_t)S3_SEQ_SLACK || p->state == PART_FAILED) {
			unlink_part(rd, p);
			part_free(rd, p);
		}
	}
	while (rd->bytes > budget) {
		struct rpart *victim = NULL;

		for (p = rd->parts; p; p = p->next) {
			if (p->state == PART_PENDING || p->waiters ||
			    (p->off < keep_to && p->off + (off_t)p->len > keep_from))
				continue;
			if (!victim || p->off < victim->off)
				victim = p;
		}
		if (!victim)
			break;
		unlink_part(rd, victim);
		part_free(rd, victim);
	}
}

int s3_reader_read(struct s3_reader *rd, char *buf, size_t size, off_t off)
{
	off_t pos = off, end = off + (off_t)size;
	size_t copied = 0;
	bool seq;
	int rc = 0;

	pthread_mutex_lock(&rd->lock);
	if (rd->size >= 0 && end > rd->size)
		end = rd->size;
	if (pos >= end) {
		pthread_mutex_unlock(&rd->lock);
		return 0;
	}
	seq = off + (off_t)S3_SEQ_SLACK >= rd->next_seq && off <= rd->next_seq + (off_t)S3_SEQ_SLACK &&
	      (rd->streak > 0 || off == rd->next_seq);
	if (seq && (off > 0 || rd->streak > 0)) {
		rd->streak++;
		rd->window = rd->window ? rd->window * 2 : S3_RA_START;
		if (rd->window > rd->s->opt.readahead)
			rd->window = rd->s->opt.readahead;
	} else if (!seq) {
		rd->streak = 0;
		rd->window = 0;
		rd->ra_end = 0;
	}
	if (off + (off_t)size > rd->next_seq || !seq)
		rd->next_seq = off + (off_t)size;
	if (rd->window && !recent_failure(rd))
		schedule(rd, off, end + (off_t)rd->window);

	while (pos < end) {
		struct rpart *p = find_part(rd, pos);
		size_t n;

		if (!p) {
			size_t len = (size_t)(end - pos) + S3_EXTRA_FETCH;
			off_t fsize = -1;
			size_t got = 0;

			rc = recent_failure(rd);
			if (rc)
				break;
			if (len < S3_MIN_FETCH)
				len = S3_MIN_FETCH;
			if (rd->size >= 0 && pos + (off_t)len > rd->size)
				len = (size_t)(rd->size - pos);
			for (struct rpart *q = rd->parts; q; q = q->next)
				if (q->off > pos && q->off < pos + (off_t)len)
					len = (size_t)(q->off - pos);
			p = part_new(rd, pos, len);
			if (!p) {
				rc = -ENOMEM;
				break;
			}
			rd->pending++;
			pthread_mutex_unlock(&rd->lock);
			rc = fetch_range(rd->s, &rd->loc, rd->path, p->off, p->len, p->data, &got,
					 &fsize);
			pthread_mutex_lock(&rd->lock);
			part_done(rd, p, rc, got, fsize);
			rd->pending--;
			rc = 0;
		}
		/* Another read may drop a finished part while this one sleeps
		 * (trim, or its own failure): counted, it stays until we wake. */
		p->waiters++;
		while (p->state == PART_PENDING)
			pthread_cond_wait(&rd->cond, &rd->lock);
		p->waiters--;
		if (p->state == PART_FAILED) {
			rc = p->err == -ENOENT ? -ENOENT : (p->err ? p->err : -EIO);
			if (rc != -ENOMEM && rc != -ENOENT && rc != -EACCES && rc != -EAGAIN)
				rc = -EIO;
			/* Dropped so that a later read asks again; freed by the
			 * last read that saw it fail. */
			unlink_part(rd, p);
			if (!p->waiters)
				part_free(rd, p);
			break;
		}
		if (pos >= p->off + (off_t)p->got)
			break; /* the end of the object */
		n = (size_t)(p->off + (off_t)p->got - pos);
		if (n > (size_t)(end - pos))
			n = (size_t)(end - pos);
		memcpy(buf + copied, p->data + (pos - p->off), n);
		copied += n;
		pos += (off_t)n;
		if (p->got < p->len && pos >= p->off + (off_t)p->got)
			break;
	}
	trim(rd, off, off + (off_t)size + (off_t)rd->window);
	pthread_mutex_unlock(&rd->lock);
	if (copied)
		return (int)copied;
	return rc;
}

/* ------------------------------------------------------------------ */

struct fd_sink {
	int fd;
	off_t pos;
	int err;
};

static int fd_sink(void *arg, const char *data, size_t len)
{
	struct fd_sink *fs = arg;

	while (len) {
		ssize_t n = pwrite(fs->fd, data, len, fs->pos);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fs->err = -errno;
			return 1;
		}
		data += n;
		len -= (size_t)n;
		fs->pos += n;
	}
	return 0;
}

int s3_download(struct s3 *s, const struct s3_loc *loc, const char *path, int fd, off_t *size,
		struct s3_meta *m)
{
	struct fd_sink fs = { fd, 0, 0 };
	struct aws_request req = {
		.svc = AWS_SVC_S3,
		.op = "GetObject",
		.method = "GET",
		.bucket = loc->bucket,
		.key = loc->key,
		.path = path,
		.sink = fd_sink,
		.sink_arg = &fs,
		.max_response = 64u << 10,
	};
	struct aws_response resp;
	int rc = aws_call(s->client, &req, &resp);

	if (rc == -ECANCELED && fs.err)
		rc = fs.err;
	if (rc == 0) {
		rc = s3_meta_from_headers(&resp.http, m);
		*size = fs.pos;
		if (rc == 0)
			m->size = fs.pos;
	}
	aws_response_free(&resp);
	return rc;
}

int s3_get_small(struct s3 *s, const struct s3_loc *loc, const char *path, size_t max,
		 char **out, size_t *len)
{
	struct aws_request req = {
		.svc = AWS_SVC_S3,
		.op = "GetObject",
		.method = "GET",
		.bucket = loc->bucket,
		.key = loc->key,
		.path = path,
		.max_response = max,
	};
	struct aws_response resp;
	int rc = aws_call(s->client, &req, &resp);

	if (rc == 0) {
		*len = resp.http.body.len;
		*out = malloc(*len + 1);
		if (!*out) {
			rc = -ENOMEM;
		} else {
			memcpy(*out, resp.http.body.data ? resp.http.body.data : "", *len);
			(*out)[*len] = '\0';
		}
	} else if (rc == -EFBIG) {
		rc = -ENAMETOOLONG;
	}
	aws_response_free(&resp);
	return rc;
}

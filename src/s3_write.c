/*
 * s3_write: writes staged on local disk, uploaded at flush/fsync/release.
 *
 * A file open for writing gets a staging file (0600, in a 0700 folder);
 * opening an existing object without O_TRUNC downloads it there at the
 * first write. An upload below -o multipart_threshold= is one PutObject;
 * above, a multipart upload whose parts (-o multipart_size=, >= 5 MiB) go
 * up in parallel on the worker threads - already while the application
 * writes, when it writes sequentially; a part changed after it went up is
 * sent again before CompleteMultipartUpload. A failed upload aborts the
 * multipart upload, keeps the staging file and logs where it is; the
 * caller gets EIO. Copies (rename, metadata changes) are CopyObject, or
 * UploadPartCopy above -o singlepart_copy_limit=.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "s3_i.h"
#include "util.h"
#include "xml.h"

#define S3_MAX_EXTRA_HEADERS 30      /* aws.c takes 32 */
#define S3_ANSWER_NODES 4096
#define S3_MPU_SPARE 4               /* part buffers an upload keeps for its next parts */

struct mpart {
	unsigned gen;      /* bumped by every change to the part's bytes */
	unsigned up_gen;   /* the gen that was uploaded */
	bool uploaded;
	bool running;
	char *etag;
};

struct s3_mpu {
	char *upload_id;
	uint64_t part_size;
	struct mpart *parts;
	unsigned nparts;           /* allocated entries */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned running;          /* protected by lock */
	int err;                   /* first part failure; protected by lock */
	char errline[LOG_LINE_MAX];/* its log line, written by the upload's end */
	/* Buffers of part_size from finished parts (protected by lock): a
	 * fresh one is mmap'd, and faulting in and zeroing its pages, then
	 * unmapping them, cost as much CPU as hashing the part. Freed with
	 * the upload, so RSS comes back after it. */
	char *spare[S3_MPU_SPARE];
	unsigned nspare;
};

unsigned s3_plan_parts(uint64_t size, uint64_t min_part, uint64_t *part_size)
{
	uint64_t ps = min_part < S3_MIN_PART ? S3_MIN_PART : min_part;

	if (size == 0) {
		*part_size = ps;
		return 0;
	}
	/* At most 10,000 parts: grow the part size, in whole MiB. */
	if ((size + ps - 1) / ps > S3_MAX_PARTS) {
		ps = (size + S3_MAX_PARTS - 1) / S3_MAX_PARTS;
		ps = (ps + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);
	}
	*part_size = ps;
	return (unsigned)((size + ps - 1) / ps);
}

/* ------------------------------------------------------------------ */
/* staging                                                             */
/* ------------------------------------------------------------------ */

int s3_staging_init(struct s3 *s)
{
	const char *base = s->opt.staging_dir;
	struct stat st;
	struct buf b;

	buf_init(&b, 4096);
	if (base) {
		if (buf_puts(&b, base))
			return -ENOMEM;
	} else {
		const char *tmp = getenv("TMPDIR");

		if (!tmp || !*tmp)
			tmp = "/var/tmp";
		if (buf_printf(&b, "%s/awsfs-%u", tmp, (unsigned)getuid()))
			return -ENOMEM;
	}
	s->staging_dir = buf_detach(&b);
	if (!s->staging_dir)
		return -ENOMEM;
	if (mkdir(s->staging_dir, 0700) != 0 && errno != EEXIST) {
		log_error("s3: staging folder %s: %s", s->staging_dir, strerror(errno));
		return -errno;
	}
	if (lstat(s->staging_dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid()) {
		log_error("s3: staging folder %s is not a folder of this user", s->staging_dir);
		return -EACCES;
	}
	if ((st.st_mode & 077) && chmod(s->staging_dir, 0700) != 0) {
		log_error("s3: staging folder %s: %s", s->staging_dir, strerror(errno));
		return -errno;
	}
	return 0;
}

int s3_file_stage(struct s3 *s, struct s3_file *f)
{
	struct buf b;
	int fd;

	if (f->fd >= 0)
		return 0;
	buf_init(&b, 4096);
	if (buf_printf(&b, "%s/stage-XXXXXX", s->staging_dir))
		return -ENOMEM;
	fd = mkstemp(b.data); /* 0600 */
	if (fd < 0) {
		int err = errno;

		log_error("s3 %s: cannot make a staging file in %s: %s", f->path, s->staging_dir,
			  strerror(err));
		buf_free(&b);
		return -err;
	}
	free(f->staging);
	f->staging = buf_detach(&b);
	f->fd = fd;
	return 0;
}

static void mpu_free(struct s3_mpu *mpu)
{
	if (!mpu)
		return;
	for (unsigned i = 0; i < mpu->nparts; i++)
		free(mpu->parts[i].etag);
	while (mpu->nspare)
		free(mpu->spare[--mpu->nspare]);
	free(mpu->parts);
	free(mpu->upload_id);
	pthread_mutex_destroy(&mpu->lock);
	pthread_cond_destroy(&mpu->cond);
	free(mpu);
}

static void mpu_wait(struct s3_mpu *mpu)
{
	pthread_mutex_lock(&mpu->lock);
	while (mpu->running)
		pthread_cond_wait(&mpu->cond, &mpu->lock);
	pthread_mutex_unlock(&mpu->lock);
}

static int mpu_abort(struct s3 *s, const struct s3_loc *loc, const char *path,
		     const char *upload_id);

void s3_file_discard(struct s3_file *f)
{
	if (f->mpu) {
		mpu_wait(f->mpu);
		mpu_free(f->mpu); /* aborted by whoever failed; see upload */
		f->mpu = NULL;
	}
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	if (f->staging && !f->failed)
		unlink(f->staging);
	free(f->staging);
	f->staging = NULL;
}

/* ------------------------------------------------------------------ */
/* requests                                                            */
/* ------------------------------------------------------------------ */

/* Header lines for an object's creation: metadata, sse, storage class.
 * lines[0..*n) point into *owned (caller frees with free_lines). */
static int creation_headers(struct s3 *s, const struct s3_meta *m, const char **lines,
			    size_t max, size_t *n, char ***owned, size_t *nowned)
{
	int rc = 0;

	*owned = NULL;
	*nowned = 0;
	if (m)
		rc = s3_meta_headers(m, owned, nowned);
	if (rc)
		return rc;
	if (*nowned + *n > max)
		return -E2BIG;
	for (size_t i = 0; i < *nowned; i++)
		lines[(*n)++] = (*owned)[i];
	*n += s3_sse_headers(s, lines + *n, max - *n);
	return 0;
}

static void free_lines(char **lines, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

int s3_put(struct s3 *s, const struct s3_loc *loc, const char *path, const void *body,
	   size_t len, const struct s3_meta *m)
{
	const char *hdr[S3_MAX_EXTRA_HEADERS];
	char **owned = NULL;
	size_t n = 0, nowned = 0;
	struct aws_request req = {
		.svc = AWS_SVC_S3,
		.op = "PutObject",
		.method = "PUT",
		.bucket = loc->bucket,
		.key = loc->key,
		.body = body,
		.body_len = len,
		.path = path,
	};
	struct aws_response resp;
	int rc = creation_headers(s, m, hdr, S3_MAX_EXTRA_HEADERS, &n, &owned, &nowned);

	if (rc) {
		free_lines(owned, nowned);
		return rc;
	}
	req.headers = hdr;
	req.nheaders = n;
	rc = aws_call(s->client, &req, &resp);
	aws_response_free(&resp);
	free_lines(owned, nowned);
	return rc;
}

/* An XML answer of a 200 that may still be an error (S3's Complete and
 * Copy can fail after the 200 went out). 0 or -errno. */
static int check_answer(struct aws_response *resp, const char *op, const char *path,
			struct xml_doc **doc)
{
	const struct xml_node *root;
	int rc;

	rc = xml_parse(resp->http.body.data ? resp->http.body.data : "", resp->http.body.len,
		       S3_ANSWER_NODES, doc);
	if (rc) {
		log_error("s3 %s %s: unreadable answer", op, path);
		return -EIO;
	}
	root = xml_root(*doc);
	if (strcmp(xml_name(root), "Error") == 0) {
		const char *code = xml_child_text(root, "Code");

		log_error("s3 %s %s: %s: %s", op, path, code ? code : "?",
			  xml_child_text(root, "Message") ? xml_child_text(root, "Message") : "");
		rc = aws_errno_for(code, 500);
		return rc == -EIO || rc == -EAGAIN ? rc : -EIO;
	}
	return 0;
}

static int mpu_create(struct s3 *s, const struct s3_loc *loc, const char *path,
		      const struct s3_meta *m, char **upload_id)
{
	const char *hdr[S3_MAX_EXTRA_HEADERS];
	char **owned = NULL;
	size_t n = 0, nowned = 0;
	struct aws_request req = {
		.svc = AWS_SVC_S3,
		.op = "CreateMultipartUpload",
		.method = "POST",
		.bucket = loc->bucket,
		.key = loc->key,
		.query = "uploads=",
		.path = path,
	};
	struct aws_response resp;
	struct xml_doc *doc = NULL;
	int rc = creation_headers(s, m, hdr, S3_MAX_EXTRA_HEADERS, &n, &owned, &nowned);

	if (rc) {
		free_lines(owned, nowned);
		return rc;
	}
	req.headers = hdr;
	req.nheaders = n;
	rc = aws_call(s->client, &req, &resp);
	if (rc == 0)
		rc = check_answer(&resp, req.op, path, &doc);
	if (rc == 0) {
		const char *id = xml_child_text(xml_root(doc), "UploadId");

		*upload_id = id && *id ? strdup(id) : NULL;
		if (!*upload_id)
			rc = id && *id ? -ENOMEM : -EIO;
	}
	xml_free(doc);
	aws_response_free(&resp);
	free_lines(owned, nowned);
	return rc;
}

static int upload_query(struct buf *q, unsigned part, const char *upload_id)
{
	char num[16];
	int rc = 0;

	if (part) {
		snprintf(num, sizeof(num), "%u", part);
		rc = aws_query_add(q, "partNumber", num);
	}
	if (!rc)
		rc = aws_query_add(q, "uploadId", upload_id);
	return rc;
}

static int mpu_abort(struct s3 *s, const struct s3_loc *loc, const char *path,
		     const char *upload_id)
{
	struct aws_request req = {
		.svc = AWS_SVC_S3,
		.op = "AbortMultipartUpload",
		.method = "DELETE",
		.bucket = loc->bucket,
		.key = loc->key,
		.path = path,
	};
	struct aws_response resp;
	struct buf q;
	int rc;

	buf_init(&q, 4096);
	rc = upload_query(&q, 0, upload_id);
	if (!rc) {
		req.query = q.data;
		rc = aws_call(s->client, &req, &resp);
		aws_response_free(&resp);
	}
	buf_free(&q);
	return rc;
}

static int mpu_complete(struct s3 *s, const struct s3_loc *loc, const char *path,
			struct s3_mpu *mpu, unsigned nparts)
{
	struct aws_request req = {
		.svc = AWS_SVC_S3,
		.op = "CompleteMultipartUpload",
		.method = "POST",
		.bucket = loc->bucket,
		.key = loc->key,
		.path = path,
	};
	struct aws_response resp;
	struct xml_doc *doc = NULL;
	struct buf q, body;
	int rc;

	buf_init(&q, 4096);
	buf_init(&body, 256u * (nparts + 2));
	rc = upload_query(&q, 0, mpu->upload_id);
	if (!rc)
		rc = buf_puts(&body, "<CompleteMultipartUpload>");
	for (unsigned i = 0; i < nparts && !rc; i++) {
		/* An ETag is a quoted hex digest: nothing to escape. */
		rc = buf_printf(&body, "<Part><PartNumber>%u</PartNumber><ETag>%s</ETag></Part>",
				i + 1, mpu->parts[i].etag ? mpu->parts[i].etag : "");
	}
	if (!rc)
		rc = buf_puts(&body, "</CompleteMultipartUpload>");
	if (rc)
		goto out;
	req.query = q.data;
	req.body = body.data;
	req.body_len = body.len;
	rc = aws_call(s->client, &req, &resp);
	if (rc == 0)
		rc = check_answer(&resp, req.op, path, &doc);
	aws_response_free(&resp);
out:
	xml_free(doc);
	buf_free(&q);
	buf_free(&body);
	return rc;
}

/* One part: from a staging file (upload) or from another object (copy). */
struct part_job {
	struct s3_job job;          /* must stay first */
	struct s3 *s;
	struct s3_mpu *mpu;
	unsigned idx;
	unsigned gen;
	struct s3_loc loc;          /* copies */
	char *path;
	int fd;                     /* upload: the staging file */
	char *copy_source;          /* copy: "x-amz-copy-source: ..." */
	off_t off;
	size_t len;
};

static void part_job_free(struct part_job *pj)
{
	s3_loc_free(&pj->loc);
	free(pj->path);
	free(pj->copy_source);
	free(pj);
}

static int read_range(int fd, char *buf, size_t len, off_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, off + (off_t)got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0) {
			memset(buf + got, 0, len - got); /* cut short meanwhile */
			break;
		}
		got += (size_t)n;
	}
	return 0;
}

static void part_run(struct s3_job *job)
{
	struct part_job *pj = (struct part_job *)job;
	struct s3_mpu *mpu = pj->mpu;
	char range[96];
	const char *hdr[2];
	struct aws_request req = {
		.svc = AWS_SVC_S3,
		.method = "PUT",
		.bucket = pj->loc.bucket,
		.key = pj->loc.key,
		.path = pj->path,
	};
	struct aws_response resp;
	struct xml_doc *doc = NULL;
	char *data = NULL, *etag = NULL;
	struct log_capture *cap = malloc(sizeof(*cap));
	struct buf q;
	int rc;

	/* A part's failure is told once, by the end of the upload or copy. */
	if (cap)
		log_capture_begin(cap);
	buf_init(&q, 4096);
	rc = upload_query(&q, pj->idx + 1, mpu->upload_id);
	if (rc)
		goto done;
	req.query = q.data;
	if (pj->copy_source) {
		snprintf(range, sizeof(range), "x-amz-copy-source-range: bytes=%lld-%lld",
			 (long long)pj->off, (long long)(pj->off + (off_t)pj->len - 1));
		hdr[0] = pj->copy_source;
		hdr[1] = range;
		req.headers = hdr;
		req.nheaders = 2;
		req.op = "UploadPartCopy";
	} else {
		req.op = "UploadPart";
		pthread_mutex_lock(&mpu->lock);
		if (pj->len == mpu->part_size && mpu->nspare)
			data = mpu->spare[--mpu->nspare];
		pthread_mutex_unlock(&mpu->lock);
		if (!data)
			data = malloc(pj->len ? pj->len : 1);
		if (!data) {
			rc = -ENOMEM;
			goto done;
		}
		rc = read_range(pj->fd, data, pj->len, pj->off);
		if (rc)
			goto done;
		req.body = data;
		req.body_len = pj->len;
	}
	rc = aws_call(pj->s->client, &req, &resp);
	if (rc == 0 && pj->copy_source) {
		rc = check_answer(&resp, req.op, pj->path, &doc);
		if (rc == 0) {
			const char *e = xml_child_text(xml_root(doc), "ETag");

			etag = e ? strdup(e) : NULL;
		}
	} else if (rc == 0) {
		const char *e = http_response_header(&resp.http, "etag");

		etag = e ? strdup(e) : NULL;
	}
	if (rc == 0 && !etag)
		rc = -EIO;
	aws_response_free(&resp);
done:
	xml_free(doc);
	buf_free(&q);
	pthread_mutex_lock(&mpu->lock);
	if (data && pj->len == mpu->part_size && mpu->nspare < S3_MPU_SPARE)
		mpu->spare[mpu->nspare++] = data;
	else
		free(data);
	mpu->parts[pj->idx].running = false;
	if (rc == 0) {
		free(mpu->parts[pj->idx].etag);
		mpu->parts[pj->idx].etag = etag;
		mpu->parts[pj->idx].uploaded = true;
		mpu->parts[pj->idx].up_gen = pj->gen;
		etag = NULL;
	} else if (!mpu->err) {
		mpu->err = rc;
		if (cap && cap->n)
			snprintf(mpu->errline, sizeof(mpu->errline), "%s", cap->line);
		else
			snprintf(mpu->errline, sizeof(mpu->errline), "s3 %s %s: %s", req.op,
				 pj->path, strerror(-rc));
	}
	if (cap) {
		log_capture_end(cap);
		if (rc == 0)
			log_capture_emit(cap); /* warnings of a part that went through */
		free(cap);
	}
	mpu->running--;
	pthread_cond_broadcast(&mpu->cond);
	pthread_mutex_unlock(&mpu->lock);
	free(etag);
	part_job_free(pj);
}

static struct s3_mpu *mpu_new(char *upload_id, uint64_t part_size, unsigned nparts)
{
	struct s3_mpu *mpu = calloc(1, sizeof(*mpu));

	if (!mpu)
		return NULL;
	mpu->parts = calloc(nparts ? nparts : 1, sizeof(*mpu->parts));
	if (!mpu->parts) {
		free(mpu);
		return NULL;
	}
	mpu->nparts = nparts ? nparts : 1;
	mpu->upload_id = upload_id;
	mpu->part_size = part_size;
	pthread_mutex_init(&mpu->lock, NULL);
	pthread_cond_init(&mpu->cond, NULL);
	return mpu;
}

/* Make room for part idx. mpu->lock held. */
static int mpu_grow(struct s3_mpu *mpu, unsigned idx)
{
	unsigned n = mpu->nparts;
	struct mpart *grown;

	if (idx < n)
		return 0;
	if (idx >= S3_MAX_PARTS)
		return -EFBIG;
	while (n <= idx)
		n *= 2;
	if (n > S3_MAX_PARTS)
		n = S3_MAX_PARTS;
	grown = realloc(mpu->parts, n * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	memset(grown + mpu->nparts, 0, (n - mpu->nparts) * sizeof(*grown));
	mpu->parts = grown;
	mpu->nparts = n;
	return 0;
}

/* Submit part idx of [off, off+len). mpu->lock held. */
static int submit_part(struct s3 *s, struct s3_mpu *mpu, const struct s3_loc *loc,
		       const char *path, unsigned idx, int fd, const char *copy_source, off_t off,
		       size_t len)
{
	struct part_job *pj = calloc(1, sizeof(*pj));

	if (!pj)
		return -ENOMEM;
	pj->job.run = part_run;
	pj->s = s;
	pj->mpu = mpu;
	pj->idx = idx;
	pj->gen = mpu->parts[idx].gen;
	pj->fd = fd;
	pj->off = off;
	pj->len = len;
	pj->loc.bucket = strdup(loc->bucket);
	pj->loc.key = strdup(loc->key);
	pj->path = strdup(path);
	pj->copy_source = copy_source ? strdup(copy_source) : NULL;
	if (!pj->loc.bucket || !pj->loc.key || !pj->path || (copy_source && !pj->copy_source)) {
		part_job_free(pj);
		return -ENOMEM;
	}
	mpu->parts[idx].running = true;
	mpu->running++;
	if (s3_submit(s, &pj->job)) {
		mpu->parts[idx].running = false;
		mpu->running--;
		part_job_free(pj);
		return -EAGAIN;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* the staged file                                                     */
/* ------------------------------------------------------------------ */

/* Bring the object's content into the staging file (once). */
static int ensure_loaded(struct s3 *s, struct s3_file *f)
{
	struct s3_meta m;
	off_t size = 0;
	int rc;

	if (f->loaded)
		return 0;
	rc = s3_file_stage(s, f);
	if (rc)
		return rc;
	if (f->exists) {
		rc = s3_download(s, &f->loc, f->path, f->fd, &size, &m);
		if (rc == -ENOENT) {
			f->exists = false;
			size = 0;
			rc = 0;
		} else if (rc) {
			return rc;
		} else {
			if (!f->meta_known) {
				s3_meta_free(&f->meta);
				f->meta = m;
				f->meta_known = true;
			} else {
				s3_meta_free(&m);
			}
		}
	}
	if (ftruncate(f->fd, size) != 0)
		return -errno;
	f->size = size;
	f->seq_end = size;
	f->loaded = true;
	return 0;
}

/* The metadata for the next upload, known (HEAD when the object exists). */
static int ensure_meta(struct s3 *s, struct s3_file *f)
{
	int rc;

	if (f->meta_known)
		return 0;
	s3_meta_free(&f->meta);
	if (f->exists) {
		rc = s3_head(s, &f->loc, f->path, true, &f->meta);
		if (rc && rc != -ENOENT)
			return rc;
	}
	rc = s3_meta_guess_type(s, &f->meta, f->loc.key);
	if (rc)
		return rc;
	f->meta_known = true;
	return 0;
}

static void touch_parts(struct s3_file *f, off_t from, off_t to)
{
	struct s3_mpu *mpu = f->mpu;
	uint64_t first, last;

	if (!mpu || to <= from)
		return;
	first = (uint64_t)from / mpu->part_size;
	last = (uint64_t)(to - 1) / mpu->part_size;
	pthread_mutex_lock(&mpu->lock);
	for (uint64_t i = first; i <= last && i < mpu->nparts; i++)
		mpu->parts[i].gen++;
	pthread_mutex_unlock(&mpu->lock);
}

/* Sequential writer: start the multipart upload and send full parts. */
static void stream_parts(struct s3 *s, struct s3_file *f)
{
	struct s3_mpu *mpu = f->mpu;
	uint64_t nfull;
	int rc = 0;

	if (!f->sequential || f->unlinked || f->stream_failed)
		return;
	if (!mpu) {
		char *id = NULL;

		if ((uint64_t)f->size < s->opt.multipart_threshold)
			return;
		if (ensure_meta(s, f) || mpu_create(s, &f->loc, f->path, &f->meta, &id)) {
			/* Already retried for a whole budget: do not make every
			 * write that follows pay another; flush tries again. */
			f->stream_failed = true;
			return;
		}
		mpu = mpu_new(id, s->opt.multipart_size, 16);
		if (!mpu) {
			mpu_abort(s, &f->loc, f->path, id);
			free(id);
			return;
		}
		f->mpu = mpu;
	}
	nfull = (uint64_t)f->seq_end / mpu->part_size;
	pthread_mutex_lock(&mpu->lock);
	if (mpu->err)
		f->stream_failed = true;
	for (uint64_t i = 0; i < nfull && !rc && !mpu->err; i++) {
		rc = mpu_grow(mpu, (unsigned)i);
		if (rc || mpu->parts[i].running || mpu->parts[i].uploaded)
			continue;
		rc = submit_part(s, mpu, &f->loc, f->path, (unsigned)i, f->fd, NULL,
				 (off_t)(i * mpu->part_size), mpu->part_size);
	}
	pthread_mutex_unlock(&mpu->lock);
}

int s3_file_write(struct s3 *s, struct s3_file *f, const char *buf, size_t size, off_t off)
{
	size_t done = 0;
	int rc = ensure_loaded(s, f);

	if (rc)
		return rc;
	if ((uint64_t)off + size > S3_MAX_OBJECT)
		return -EFBIG;
	while (done < size) {
		ssize_t n = pwrite(f->fd, buf + done, size - done, off + (off_t)done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			log_error("s3 %s: staging file %s: %s", f->path, f->staging, strerror(-rc));
			return rc;
		}
		done += (size_t)n;
	}
	if (off == f->seq_end)
		f->seq_end = off + (off_t)size;
	else
		f->sequential = false;
	if (off + (off_t)size > f->size)
		f->size = off + (off_t)size;
	f->dirty = true;
	f->failed = false;
	if (f->meta_known) {
		clock_gettime(CLOCK_REALTIME, &f->meta.mtime);
		f->meta.has_mtime = true;
	}
	touch_parts(f, off, off + (off_t)size);
	stream_parts(s, f);
	return (int)size;
}

int s3_file_read(struct s3_file *f, char *buf, size_t size, off_t off)
{
	size_t got = 0;

	if (off >= f->size)
		return 0;
	if ((off_t)size > f->size - off)
		size = (size_t)(f->size - off);
	while (got < size) {
		ssize_t n = pread(f->fd, buf + got, size - got, off + (off_t)got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (int)got;
}

int s3_file_truncate(struct s3 *s, struct s3_file *f, off_t size)
{
	int rc;

	if (size < 0)
		return -EINVAL;
	if ((uint64_t)size > S3_MAX_OBJECT)
		return -EFBIG;
	if (!f->loaded && size == 0) {
		/* Nothing to download; only the metadata to keep. */
		rc = ensure_meta(s, f);
		if (!rc)
			rc = s3_file_stage(s, f);
		if (rc)
			return rc;
		f->loaded = true;
	} else {
		rc = ensure_loaded(s, f);
		if (rc)
			return rc;
	}
	if (ftruncate(f->fd, size) != 0)
		return -errno;
	if (size < f->size)
		touch_parts(f, size, f->size);
	else
		touch_parts(f, f->size, size);
	if (size != f->seq_end && size != 0)
		f->sequential = false;
	if (size < f->seq_end || size == 0)
		f->seq_end = size;
	f->size = size;
	f->dirty = true;
	f->failed = false;
	if (f->meta_known) {
		clock_gettime(CLOCK_REALTIME, &f->meta.mtime);
		f->meta.has_mtime = true;
	}
	{
		struct stat st;

		s3_stat_from_meta(s, &f->meta, false, &st);
		st.st_size = f->size;
		st.st_blocks = (f->size + 511) / 512;
		s3_note_object(s, &f->loc, &st);
	}
	return 0;
}

/* Multipart upload of the whole staged file. */
static int upload_multipart(struct s3 *s, struct s3_file *f)
{
	uint64_t ps;
	unsigned nparts = s3_plan_parts((uint64_t)f->size, s->opt.multipart_size, &ps);
	struct s3_mpu *mpu = f->mpu;
	int rc = 0;

	if (mpu && (mpu->part_size != ps && (uint64_t)f->size / mpu->part_size >= S3_MAX_PARTS)) {
		/* The streamed part size cannot hold the file: start over. */
		mpu_wait(mpu);
		mpu_abort(s, &f->loc, f->path, mpu->upload_id);
		mpu_free(mpu);
		f->mpu = mpu = NULL;
	}
	if (!mpu) {
		char *id = NULL;

		rc = mpu_create(s, &f->loc, f->path, &f->meta, &id);
		if (rc)
			return rc;
		mpu = mpu_new(id, ps, nparts);
		if (!mpu) {
			mpu_abort(s, &f->loc, f->path, id);
			free(id);
			return -ENOMEM;
		}
		f->mpu = mpu;
	}
	ps = mpu->part_size;
	nparts = (unsigned)(((uint64_t)f->size + ps - 1) / ps);
	mpu_wait(mpu);
	pthread_mutex_lock(&mpu->lock);
	/* A part that failed while the file was written is sent again now
	 * (the parts that went up stay): a new operation, a new budget. */
	mpu->err = 0;
	rc = nparts ? mpu_grow(mpu, nparts - 1) : 0;
	for (unsigned i = 0; i < nparts && !rc && !mpu->err; i++) {
		off_t off = (off_t)(i * ps);
		size_t len = (size_t)((uint64_t)f->size - (uint64_t)off < ps
					      ? (uint64_t)f->size - (uint64_t)off : ps);

		if (mpu->parts[i].uploaded && mpu->parts[i].up_gen == mpu->parts[i].gen &&
		    (i + 1 < nparts || len == ps))
			continue; /* the last, partial part always goes up again */
		rc = submit_part(s, mpu, &f->loc, f->path, i, f->fd, NULL, off, len);
	}
	while (mpu->running)
		pthread_cond_wait(&mpu->cond, &mpu->lock);
	if (!rc)
		rc = mpu->err;
	pthread_mutex_unlock(&mpu->lock);
	if (!rc)
		rc = mpu_complete(s, &f->loc, f->path, mpu, nparts);
	return rc;
}

static int file_upload(struct s3 *s, struct s3_file *f, char *why, size_t whylen,
		       bool *failed)
{
	char *body = NULL;
	struct stat st;
	int rc;

	if (f->unlinked) {
		if (f->mpu) {
			mpu_wait(f->mpu);
			mpu_abort(s, &f->loc, f->path, f->mpu->upload_id);
			mpu_free(f->mpu);
			f->mpu = NULL;
		}
		return 0;
	}
	if (!f->dirty && !f->meta_dirty)
		return 0;
	f->stream_failed = false; /* writes after this flush may stream again */
	rc = ensure_meta(s, f);
	if (rc)
		goto fail;
	if (!f->dirty) {
		/* Only the metadata changed: copy the object onto itself. */
		rc = s3_copy(s, &f->loc, &f->loc, f->path, f->size, &f->meta);
		if (rc)
			return rc;
		f->meta_dirty = false;
		return 0;
	}
	rc = ensure_loaded(s, f);
	if (rc)
		goto fail;
	if (f->size == 0 && f->mpu) {
		mpu_wait(f->mpu);
		mpu_abort(s, &f->loc, f->path, f->mpu->upload_id);
		mpu_free(f->mpu);
		f->mpu = NULL;
	}
	if (!f->mpu && (uint64_t)f->size < s->opt.multipart_threshold) {
		body = malloc(f->size ? (size_t)f->size : 1);
		if (!body) {
			rc = -ENOMEM;
			goto fail;
		}
		rc = read_range(f->fd, body, (size_t)f->size, 0);
		if (!rc)
			rc = s3_put(s, &f->loc, f->path, body, (size_t)f->size, &f->meta);
		free(body);
	} else {
		rc = upload_multipart(s, f);
	}
	if (rc)
		goto fail;
	if (f->mpu) {
		mpu_free(f->mpu);
		f->mpu = NULL;
	}
	f->dirty = false;
	f->meta_dirty = false;
	f->exists = true;
	f->failed = false;
	s3_stat_from_meta(s, &f->meta, false, &st);
	st.st_size = f->size;
	st.st_blocks = (f->size + 511) / 512;
	s3_note_object(s, &f->loc, &st);
	return 0;
fail:
	if (f->mpu) {
		mpu_wait(f->mpu);
		pthread_mutex_lock(&f->mpu->lock);
		if (f->mpu->err)
			snprintf(why, whylen, "%s", f->mpu->errline);
		pthread_mutex_unlock(&f->mpu->lock);
		mpu_abort(s, &f->loc, f->path, f->mpu->upload_id);
		mpu_free(f->mpu);
		f->mpu = NULL;
	}
	f->failed = true;
	*failed = true;
	/* Throttled past the budget is EAGAIN (try later), not a failure. */
	return rc == -ENOMEM || rc == -EAGAIN ? rc : -EIO;
}

/*
 * Upload f. A failure writes one line: why (the request's own error line,
 * held while uploading) and where the data is kept.
 */
int s3_file_upload(struct s3 *s, struct s3_file *f)
{
	struct log_capture *cap = malloc(sizeof(*cap));
	char why[LOG_LINE_MAX] = "";
	bool failed = false;
	int rc;

	if (cap)
		log_capture_begin(cap);
	rc = file_upload(s, f, why, sizeof(why), &failed);
	if (cap)
		log_capture_end(cap);
	if (failed) {
		if (!why[0] && cap && cap->n)
			snprintf(why, sizeof(why), "%s", cap->line);
		if (!why[0])
			snprintf(why, sizeof(why), "%s", strerror(-rc));
		log_error("s3 %s: upload failed (%s); what was written is kept in %s", f->path,
			  why, f->staging ? f->staging : "(no staging file)");
	} else if (cap) {
		log_capture_emit(cap);
	}
	free(cap);
	return rc;
}

/* ------------------------------------------------------------------ */
/* copies                                                              */
/* ------------------------------------------------------------------ */

static char *copy_source_header(const struct s3_loc *src)
{
	struct buf b;

	buf_init(&b, 4 * S3_MAX_KEY + 512);
	if (buf_puts(&b, "x-amz-copy-source: /") ||
	    util_uri_encode(&b, src->bucket, strlen(src->bucket), false) || buf_putc(&b, '/') ||
	    util_uri_encode(&b, src->key, strlen(src->key), true)) {
		buf_free(&b);
		return NULL;
	}
	return buf_detach(&b);
}

static int copy_multipart(struct s3 *s, const struct s3_loc *src, const struct s3_loc *dst,
			  const char *path, off_t size, const struct s3_meta *m, const char *cs)
{
	struct s3_meta own = { 0 };
	struct s3_mpu *mpu;
	char *id = NULL;
	uint64_t ps;
	unsigned nparts = s3_plan_parts((uint64_t)size, s->opt.multipart_size, &ps);
	int rc;

	if (!m) {
		/* COPY semantics: the source's own metadata. */
		rc = s3_head(s, src, path, false, &own);
		if (rc)
			return rc;
		m = &own;
	}
	rc = mpu_create(s, dst, path, m, &id);
	s3_meta_free(&own);
	if (rc)
		return rc;
	mpu = mpu_new(id, ps, nparts);
	if (!mpu) {
		mpu_abort(s, dst, path, id);
		free(id);
		return -ENOMEM;
	}
	pthread_mutex_lock(&mpu->lock);
	for (unsigned i = 0; i < nparts && !rc && !mpu->err; i++) {
		off_t off = (off_t)(i * ps);
		size_t len = (size_t)((uint64_t)size - (uint64_t)off < ps
					      ? (uint64_t)size - (uint64_t)off : ps);

		rc = submit_part(s, mpu, dst, path, i, -1, cs, off, len);
	}
	while (mpu->running)
		pthread_cond_wait(&mpu->cond, &mpu->lock);
	if (!rc && mpu->err) {
		rc = mpu->err;
		log_error("%s", mpu->errline);
	}
	pthread_mutex_unlock(&mpu->lock);
	if (!rc)
		rc = mpu_complete(s, dst, path, mpu, nparts);
	if (rc)
		mpu_abort(s, dst, path, mpu->upload_id);
	mpu_free(mpu);
	return rc;
}

int s3_copy(struct s3 *s, const struct s3_loc *src, const struct s3_loc *dst, const char *path,
	    off_t size, const struct s3_meta *m)
{
	const char *hdr[S3_MAX_EXTRA_HEADERS];
	char **owned = NULL;
	size_t n = 0, nowned = 0;
	struct aws_request req = {
		.svc = AWS_SVC_S3,
		.op = "CopyObject",
		.method = "PUT",
		.bucket = dst->bucket,
		.key = dst->key,
		.path = path,
	};
	struct aws_response resp;
	struct xml_doc *doc = NULL;
	char *cs = copy_source_header(src);
	int rc;

	if (!cs)
		return -ENOMEM;
	if ((uint64_t)size > s->opt.singlepart_copy_limit) {
		rc = copy_multipart(s, src, dst, path, size, m, cs);
		free(cs);
		return rc;
	}
	hdr[n++] = cs;
	hdr[n++] = m ? "x-amz-metadata-directive: REPLACE" : "x-amz-metadata-directive: COPY";
	rc = creation_headers(s, m, hdr, S3_MAX_EXTRA_HEADERS, &n, &owned, &nowned);
	if (rc)
		goto out;
	req.headers = hdr;
	req.nheaders = n;
	rc = aws_call(s->client, &req, &resp);
	if (rc == 0)
		rc = check_answer(&resp, req.op, path, &doc);
	aws_response_free(&resp);
out:
	xml_free(doc);
	free_lines(owned, nowned);
	free(cs);
	return rc;
}

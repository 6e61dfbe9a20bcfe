/*
 * s3_change: what changes the namespace or an object's metadata: delete,
 * mkdir and rmdir (markers and buckets), rename (CopyObject + DeleteObject,
 * folders key by key across listing pages), chmod/chown/utimens and xattrs
 * (CopyObject onto itself with REPLACE, or the pending metadata of an open
 * file), and symlinks. Each change updates the cache at once
 * (read-your-writes, s3_cache.c).
 */
#include <errno.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fuse.h>
#include <openssl/evp.h>

#include "json.h"
#include "log.h"
#include "mime.h"
#include "paginate.h"
#include "s3_i.h"
#include "util.h"

#define S3_MAX_SYMLINK 4096u       /* PATH_MAX */
#define S3_XATTR_PREFIX "user."
#define S3_XATTR_RO_PREFIX "user.s3."

/* ------------------------------------------------------------------ */
/* delete, mkdir, rmdir                                                */
/* ------------------------------------------------------------------ */

int s3_delete_key(struct s3 *s, const char *bucket, const char *key, const char *path)
{
	struct aws_request req = {
		.svc = AWS_SVC_S3,
		.op = "DeleteObject",
		.method = "DELETE",
		.bucket = bucket,
		.key = key,
		.path = path,
	};
	struct aws_response resp;
	int rc = aws_call(s->client, &req, &resp);

	aws_response_free(&resp);
	return rc;
}

int s3_unlink(void *be, const char *path)
{
	struct s3 *s = be;
	struct s3_loc loc;
	struct s3_file *f;
	int rc = s3_path_map(s->opt.bucket, s->prefix, path, &loc);

	if (rc)
		return rc;
	if (!loc.bucket || !*loc.key) {
		s3_loc_free(&loc);
		return -EISDIR;
	}
	f = s3_file_get(s, path);
	if (f) {
		/* An open file goes away now; its handles stop uploading. */
		pthread_mutex_lock(&f->lock);
		f->unlinked = true;
		f->exists = false;
		pthread_mutex_unlock(&f->lock);
		if (s3_file_unref(s, f))
			s3_file_free(f);
	}
	rc = s3_delete_key(s, loc.bucket, loc.key, path);
	if (rc == 0)
		s3_note_gone(s, &loc);
	s3_loc_free(&loc);
	return rc;
}

int s3_meta_guess_type(const struct s3 *s, struct s3_meta *m, const char *key)
{
	const char *type;

	if (m->content_type || !s->mime)
		return 0;
	type = mime_lookup(s->mime, key);
	if (!type)
		return 0; /* S3 then says binary/octet-stream */
	m->content_type = strdup(type);
	return m->content_type ? 0 : -ENOMEM;
}

/* The metadata a new object or marker gets: the caller's owner, now. */
void s3_meta_new(struct s3_meta *m, mode_t mode)
{
	struct fuse_context *ctx = fuse_get_context();
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	memset(m, 0, sizeof(*m));
	m->mode = mode;
	m->has_mode = true;
	m->uid = ctx ? ctx->uid : getuid();
	m->gid = ctx ? ctx->gid : getgid();
	m->has_uid = m->has_gid = true;
	m->mtime = m->ctime = m->atime = now;
	m->has_mtime = m->has_ctime = m->has_atime = true;
	m->last_modified = now.tv_sec;
}

int s3_mkdir(void *be, const char *path, mode_t mode)
{
	struct s3 *s = be;
	struct s3_loc loc, marker = { 0 };
	struct s3_meta m;
	struct stat st;
	int rc = s3_path_map(s->opt.bucket, s->prefix, path, &loc);

	if (rc)
		return rc;
	if (!loc.bucket || (!*loc.key && s->opt.bucket)) {
		rc = -EEXIST;
		goto out;
	}
	if (!*loc.key) {
		rc = s3_bucket_create(s, loc.bucket, path);
		goto out;
	}
	if (strlen(loc.key) + 1 > S3_MAX_KEY) {
		rc = -ENAMETOOLONG;
		goto out;
	}
	rc = s3_check_new_key("mkdir", path, &loc);
	if (rc)
		goto out;
	marker.bucket = loc.bucket;
	marker.key = s3_dir_prefix(loc.key);
	if (!marker.key) {
		rc = -ENOMEM;
		goto out;
	}
	s3_meta_new(&m, S_IFDIR | (mode & 07777));
	m.content_type = strdup(S3_DIR_CONTENT_TYPE);
	rc = m.content_type ? s3_put(s, &marker, path, "", 0, &m) : -ENOMEM;
	if (rc == 0) {
		s3_stat_from_meta(s, &m, true, &st);
		s3_note_object(s, &loc, &st);
		/* A new folder is empty: lookups inside cost nothing. */
		s3_note_empty_dir(s, &loc);
	}
	s3_meta_free(&m);
	free(marker.key);
out:
	s3_loc_free(&loc);
	return rc;
}

int s3_rmdir(void *be, const char *path)
{
	struct s3 *s = be;
	struct s3_loc loc;
	char *marker;
	int rc = s3_path_map(s->opt.bucket, s->prefix, path, &loc);

	if (rc)
		return rc;
	if (!loc.bucket || (!*loc.key && s->opt.bucket)) {
		rc = -EBUSY;
		goto out;
	}
	if (!*loc.key) {
		rc = s3_bucket_delete(s, loc.bucket, path);
		goto out;
	}
	rc = s3_folder_has_children(s, &loc, path);
	if (rc == 1)
		rc = -ENOTEMPTY;
	if (rc)
		goto out;
	marker = s3_dir_prefix(loc.key);
	if (!marker) {
		rc = -ENOMEM;
		goto out;
	}
	rc = s3_delete_key(s, loc.bucket, marker, path);
	free(marker);
	if (rc == 0) {
		s3_note_tree(s, &loc);
		s3_note_gone(s, &loc);
	}
out:
	s3_loc_free(&loc);
	return rc;
}

/* ------------------------------------------------------------------ */
/* rename                                                              */
/* ------------------------------------------------------------------ */

struct move_ctx {
	struct s3 *s;
	const struct s3_loc *from, *to;
	const char *path;
	size_t from_len;   /* length of from's "key/" prefix */
	char *to_prefix;   /* to's "key/" prefix */
	size_t moved;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned pending;  /* copies on the workers; protected by lock */
};

/* One key of the page being moved. */
struct move_item {
	struct s3_job job; /* must stay first */
	struct move_ctx *mc;
	struct s3_loc src, dst;
	off_t size;
	int rc;
};

static void move_copy_run(struct s3_job *job)
{
	struct move_item *it = (struct move_item *)job;
	struct move_ctx *mc = it->mc;
	int rc = s3_copy(mc->s, &it->src, &it->dst, mc->path, it->size, NULL);

	pthread_mutex_lock(&mc->lock);
	it->rc = rc;
	mc->pending--;
	pthread_cond_broadcast(&mc->cond);
	pthread_mutex_unlock(&mc->lock);
}

/* Can key travel in a DeleteObjects body? XML 1.0 has no way to carry most
 * control characters. */
static bool xml_safe_key(const char *key)
{
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
			return false;
	return true;
}

static int xml_put_escaped(struct buf *b, const char *text)
{
	int rc = 0;

	for (const char *p = text; *p && !rc; p++) {
		switch (*p) {
		case '&': rc = buf_puts(b, "&amp;"); break;
		case '<': rc = buf_puts(b, "&lt;"); break;
		case '>': rc = buf_puts(b, "&gt;"); break;
		case '"': rc = buf_puts(b, "&quot;"); break;
		case '\'': rc = buf_puts(b, "&apos;"); break;
		/* character references, so no parser folds them into '\n' */
		case '\t': rc = buf_puts(b, "&#9;"); break;
		case '\n': rc = buf_puts(b, "&#10;"); break;
		case '\r': rc = buf_puts(b, "&#13;"); break;
		default: rc = buf_putc(b, *p); break;
		}
	}
	return rc;
}

/* DeleteObjects for keys[0..n) (n <= 1000, every key xml_safe_key) in one
 * request. 0 when each is gone; else the errno of the first key S3 could
 * not delete (one log line for all of them). */
static int delete_objects(struct s3 *s, const char *bucket, char *const *keys, size_t n,
			  const char *path)
{
	unsigned char md5[EVP_MAX_MD_SIZE];
	unsigned int md5len = 0;
	char *md5b64 = NULL, md5hdr[64];
	const char *hdr[2] = { md5hdr, "Content-Type: application/xml" };
	struct aws_request req = {
		.svc = AWS_SVC_S3,
		.op = "DeleteObjects",
		.method = "POST",
		.bucket = bucket,
		.path = path,
		.headers = hdr,
		.nheaders = 2,
	};
	struct aws_response resp;
	struct xml_doc *doc = NULL;
	struct buf body, q;
	int rc;

	buf_init(&body, (n + 1) * (6 * S3_MAX_KEY + 64));
	buf_init(&q, 64);
	rc = buf_puts(&body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Delete><Quiet>true</Quiet>");
	for (size_t i = 0; i < n && !rc; i++) {
		rc = buf_puts(&body, "<Object><Key>");
		if (!rc)
			rc = xml_put_escaped(&body, keys[i]);
		if (!rc)
			rc = buf_puts(&body, "</Key></Object>");
	}
	if (!rc)
		rc = buf_puts(&body, "</Delete>");
	if (!rc)
		rc = aws_query_add(&q, "delete", NULL);
	if (!rc && !EVP_Digest(body.data, body.len, md5, &md5len, EVP_md5(), NULL))
		rc = -ENOMEM;
	if (!rc)
		rc = util_base64_encode(md5, md5len, &md5b64);
	if (rc) {
		buf_free(&body);
		buf_free(&q);
		return rc == -EFBIG ? -ENOMEM : rc;
	}
	snprintf(md5hdr, sizeof(md5hdr), "Content-MD5: %s", md5b64);
	free(md5b64);
	req.query = q.data;
	req.body = body.data;
	req.body_len = body.len;
	rc = aws_call(s->client, &req, &resp);
	if (rc == 0 &&
	    xml_parse(resp.http.body.data ? resp.http.body.data : "", resp.http.body.len,
		      4 * n + 64, &doc) == 0) {
		const struct xml_node *root = xml_root(doc), *e;
		size_t nerr = 0;

		if (strcmp(xml_name(root), "Error") == 0) {
			e = root; /* a 200 whose body is an error */
			nerr = n;
		} else {
			e = xml_child(root, "Error");
			for (const struct xml_node *x = e; x; x = xml_next(x, "Error"))
				nerr++;
		}
		if (nerr) {
			const char *code = xml_child_text(e, "Code");

			log_error("s3 DeleteObjects %s: %zu of %zu keys not deleted, the first %s: %s "
				  "(request id %s)", path, nerr, n,
				  xml_child_text(e, "Key") ? xml_child_text(e, "Key") : "?",
				  code ? code : "?", resp.request_id[0] ? resp.request_id : "-");
			rc = aws_errno_for(code, 500);
			if (rc == 0)
				rc = -EIO;
		}
	} else if (rc == 0) {
		log_error("s3 DeleteObjects %s: unreadable answer", path);
		rc = -EIO;
	}
	xml_free(doc);
	aws_response_free(&resp);
	buf_free(&body);
	buf_free(&q);
	return rc;
}

static void move_item_free(struct move_item *it)
{
	free(it->src.key);
	free(it->dst.key);
}

/*
 * Move one listing page: the copies run on the worker threads (those over
 * the single-copy limit, which are multipart copies themselves, here), then
 * the sources that were copied go in one DeleteObjects. A key whose copy
 * failed is left where it was.
 */
static int move_page(void *arg, const struct xml_node *root, size_t *items, bool *stop)
{
	struct move_ctx *mc = arg;
	const struct xml_node *n;
	struct move_item *it = NULL;
	char **gone = NULL;
	size_t count = 0, ngone = 0, i;
	bool url = s3_list_encoded(root);
	char kbuf[S3_LIST_NAME_BUF];
	int rc = 0;

	(void)stop;
	*items = 0;
	for (n = xml_child(root, "Contents"); n; n = xml_next(n, "Contents"))
		count++;
	*items = count;
	if (!count)
		return 0;
	it = calloc(count, sizeof(*it));
	gone = calloc(count, sizeof(*gone));
	if (!it || !gone) {
		free(it);
		free(gone);
		return -ENOMEM;
	}
	/* Items a failure leaves unvisited count as not copied (and have no key). */
	for (i = 0; i < count; i++)
		it[i].rc = 1;
	for (i = 0, n = xml_child(root, "Contents"); n && !rc; n = xml_next(n, "Contents"), i++) {
		const char *key;
		const char *size = xml_child_text(n, "Size");
		long long sz = 0;
		struct buf k;
		int trc;

		it[i].mc = mc;
		trc = s3_list_text(n, "Key", url, kbuf, "ListObjectsV2", mc->path, &key);
		if (trc == -EIO) {
			rc = trc;
			break;
		}
		if (trc == -EILSEQ) {
			/* A key holding a NUL cannot be named in a request: it stays. */
			log_warn("s3 %s: a key holding a NUL byte cannot be moved; it stays",
				 mc->path);
			continue;
		}
		if (!key || strlen(key) < mc->from_len)
			continue;
		if (size)
			util_parse_ll(size, 0, (long long)S3_MAX_OBJECT, &sz);
		buf_init(&k, S3_MAX_KEY);
		rc = buf_puts(&k, mc->to_prefix);
		if (!rc)
			rc = buf_puts(&k, key + mc->from_len);
		if (rc) {
			buf_free(&k);
			rc = rc == -EFBIG ? -ENAMETOOLONG : rc;
			break;
		}
		it[i].src.bucket = (char *)mc->from->bucket;
		it[i].src.key = strdup(key);
		it[i].dst.bucket = (char *)mc->to->bucket;
		it[i].dst.key = buf_detach(&k);
		it[i].size = (off_t)sz;
		if (!it[i].src.key || !it[i].dst.key) {
			rc = -ENOMEM;
			break;
		}
		it[i].job.run = move_copy_run;
		if ((uint64_t)sz <= mc->s->opt.singlepart_copy_limit) {
			pthread_mutex_lock(&mc->lock);
			mc->pending++;
			pthread_mutex_unlock(&mc->lock);
			if (s3_submit(mc->s, &it[i].job) == 0)
				continue;
			pthread_mutex_lock(&mc->lock);
			mc->pending--;
			pthread_mutex_unlock(&mc->lock);
		}
		it[i].rc = s3_copy(mc->s, &it[i].src, &it[i].dst, mc->path, it[i].size, NULL);
	}
	pthread_mutex_lock(&mc->lock);
	while (mc->pending)
		pthread_cond_wait(&mc->cond, &mc->lock);
	pthread_mutex_unlock(&mc->lock);

	for (i = 0; i < count; i++) {
		if (it[i].rc == 0 && xml_safe_key(it[i].src.key)) {
			gone[ngone++] = it[i].src.key;
		} else if (it[i].rc == 0) {
			int drc = s3_delete_key(mc->s, mc->from->bucket, it[i].src.key, mc->path);

			if (drc == 0)
				mc->moved++;
			else if (!rc)
				rc = drc;
		} else if (it[i].rc < 0 && !rc) {
			rc = it[i].rc;
		}
	}
	if (ngone) {
		int drc = delete_objects(mc->s, mc->from->bucket, gone, ngone, mc->path);

		if (drc == 0)
			mc->moved += ngone;
		else if (!rc)
			rc = drc;
	}
	for (i = 0; i < count; i++)
		move_item_free(&it[i]);
	free(it);
	free(gone);
	return rc;
}

static int move_folder(struct s3 *s, const struct s3_loc *from, const struct s3_loc *to,
		       const char *path)
{
	struct aws_request req = {
		.svc = AWS_SVC_S3,
		.op = "ListObjectsV2",
		.bucket = from->bucket,
		.path = path,
	};
	struct move_ctx mc = { .s = s, .from = from, .to = to, .path = path };
	char *from_prefix = s3_dir_prefix(from->key);
	struct buf q;
	int rc;

	mc.to_prefix = s3_dir_prefix(to->key);
	if (!from_prefix || !mc.to_prefix) {
		free(from_prefix);
		free(mc.to_prefix);
		return -ENOMEM;
	}
	pthread_mutex_init(&mc.lock, NULL);
	pthread_cond_init(&mc.cond, NULL);
	mc.from_len = strlen(from_prefix);
	buf_init(&q, 4 * S3_MAX_KEY);
	rc = aws_query_add(&q, "list-type", "2");
	if (!rc)
		rc = aws_query_add(&q, "encoding-type", S3_LIST_ENCODING);
	if (!rc)
		rc = aws_query_add(&q, "prefix", from_prefix);
	if (!rc) {
		/* Each page is moved before the next is asked for: the token
		 * names the last key listed, so deleting behind it is safe. */
		req.query = q.data;
		rc = paginate_xml(s->client, &req, &paginate_s3_list_objects_v2, NULL, move_page, &mc,
				  NULL);
	}
	if (rc)
		log_error("s3 %s: moving the folder stopped after %zu objects (%s); the rest is "
			  "still at the old name", path, mc.moved, strerror(-rc));
	buf_free(&q);
	free(from_prefix);
	free(mc.to_prefix);
	pthread_mutex_destroy(&mc.lock);
	pthread_cond_destroy(&mc.cond);
	return rc;
}

int s3_rename(void *be, const char *from, const char *to, unsigned int flags)
{
	struct s3 *s = be;
	struct s3_loc a = { 0 }, b = { 0 };
	struct stat sa, sb;
	struct s3_file *f;
	int rc, rcb;

	if (flags & RENAME_EXCHANGE)
		return -EINVAL;
	rc = s3_path_map(s->opt.bucket, s->prefix, from, &a);
	if (!rc)
		rc = s3_path_map(s->opt.bucket, s->prefix, to, &b);
	if (!rc)
		rc = s3_check_new_key("rename", to, &b);
	if (rc)
		goto out;
	if (!a.bucket || !b.bucket || !*a.key || !*b.key) {
		rc = -EPERM; /* buckets cannot be renamed */
		goto out;
	}
	rc = s3_getattr(s, from, &sa);
	if (rc)
		goto out;
	rcb = s3_getattr(s, to, &sb);
	if (rcb && rcb != -ENOENT) {
		rc = rcb;
		goto out;
	}
	if (rcb == 0 && (flags & RENAME_NOREPLACE)) {
		rc = -EEXIST;
		goto out;
	}
	if (S_ISDIR(sa.st_mode)) {
		if (rcb == 0 && !S_ISDIR(sb.st_mode)) {
			rc = -ENOTDIR;
			goto out;
		}
		if (rcb == 0) {
			rc = s3_folder_has_children(s, &b, to);
			if (rc == 1)
				rc = -ENOTEMPTY;
			if (rc)
				goto out;
		}
		rc = move_folder(s, &a, &b, from);
		s3_note_tree(s, &a);
		s3_note_tree(s, &b);
		if (rc == 0) {
			s3_note_gone(s, &a);
			s3_note_object(s, &b, &sa);
		}
		goto out;
	}
	if (rcb == 0 && S_ISDIR(sb.st_mode)) {
		rc = -EISDIR;
		goto out;
	}
	/* Data still staged goes up first: the copy must carry it. */
	f = s3_file_get(s, from);
	if (f) {
		pthread_mutex_lock(&f->lock);
		rc = s3_file_upload(s, f);
		/* Only staged content has a size of its own: a handle that
		 * has read nothing yet knows none (f->size is 0 there). */
		if (f->loaded) {
			sa.st_size = f->size;
			sa.st_blocks = (f->size + 511) / 512;
		}
		pthread_mutex_unlock(&f->lock);
		if (s3_file_unref(s, f))
			s3_file_free(f);
		if (rc)
			goto out;
	}
	rc = s3_copy(s, &a, &b, from, sa.st_size, NULL);
	if (rc == 0)
		rc = s3_delete_key(s, a.bucket, a.key, from);
	if (rc == 0) {
		s3_note_gone(s, &a);
		s3_note_object(s, &b, &sa);
		/* Open handles follow the file to its new name. */
		pthread_mutex_lock(&s->lock);
		f = s3_file_find_locked(s, from);
		if (f) {
			char *np = strdup(to), *nk = strdup(b.key), *nb = strdup(b.bucket);

			if (np && nk && nb) {
				pthread_mutex_lock(&f->lock);
				free(f->path);
				f->path = np;
				free(f->loc.key);
				f->loc.key = nk;
				free(f->loc.bucket);
				f->loc.bucket = nb;
				pthread_mutex_unlock(&f->lock);
			} else {
				free(np);
				free(nk);
				free(nb);
			}
		}
		pthread_mutex_unlock(&s->lock);
	}
out:
	s3_loc_free(&a);
	s3_loc_free(&b);
	return rc;
}

/* ------------------------------------------------------------------ */
/* metadata changes                                                    */
/* ------------------------------------------------------------------ */

typedef int (*meta_edit_fn)(struct s3_meta *m, void *arg);

/*
 * Change path's metadata with edit: for an open file with staged data, in
 * its pending metadata; otherwise CopyObject onto itself with the new
 * headers (REPLACE). A folder's metadata lives on its marker, which is
 * made when missing.
 */
static int edit_meta(struct s3 *s, const char *path, meta_edit_fn edit, void *arg)
{
	struct s3_loc loc, target = { 0 };
	struct s3_meta m;
	struct s3_file *f;
	struct stat st;
	bool is_dir;
	int rc = s3_path_map(s->opt.bucket, s->prefix, path, &loc);

	if (rc)
		return rc;
	if (!loc.bucket || !*loc.key) {
		s3_loc_free(&loc);
		return -EPERM;
	}
	f = s3_file_get(s, path);
	if (f) {
		pthread_mutex_lock(&f->lock);
		if (f->dirty && f->meta_known) {
			rc = edit(&f->meta, arg);
			if (rc == 0) {
				f->meta_dirty = true;
				s3_file_stat_locked(s, f, &st);
				s3_note_object(s, &loc, &st);
			}
			pthread_mutex_unlock(&f->lock);
			if (s3_file_unref(s, f))
				s3_file_free(f);
			s3_loc_free(&loc);
			return rc;
		}
		pthread_mutex_unlock(&f->lock);
		if (s3_file_unref(s, f))
			s3_file_free(f);
	}
	rc = s3_getattr(s, path, &st);
	if (rc)
		goto out;
	is_dir = S_ISDIR(st.st_mode);
	target.bucket = loc.bucket;
	target.key = is_dir ? s3_dir_prefix(loc.key) : strdup(loc.key);
	if (!target.key) {
		rc = -ENOMEM;
		goto out;
	}
	rc = s3_head(s, &target, path, is_dir, &m);
	if (rc == -ENOENT && is_dir) {
		/* An implicit folder: its marker is made to hold the metadata. */
		s3_meta_new(&m, S_IFDIR | (st.st_mode & 07777));
		m.content_type = strdup(S3_DIR_CONTENT_TYPE);
		rc = m.content_type ? edit(&m, arg) : -ENOMEM;
		if (rc == 0)
			rc = s3_put(s, &target, path, "", 0, &m);
	} else if (rc == 0) {
		if (!m.has_mode)
			m.mode = st.st_mode; /* the type, should chmod set the rest */
		rc = edit(&m, arg);
		if (rc == 0)
			rc = s3_copy(s, &target, &target, path, m.size, &m);
	}
	if (rc == 0) {
		s3_stat_from_meta(s, &m, is_dir, &st);
		s3_note_object(s, &loc, &st);
		f = s3_file_get(s, path);
		if (f) {
			/* The open file uploads these next time. */
			pthread_mutex_lock(&f->lock);
			if (f->meta_known)
				edit(&f->meta, arg);
			pthread_mutex_unlock(&f->lock);
			if (s3_file_unref(s, f))
				s3_file_free(f);
		}
	}
	s3_meta_free(&m);
out:
	free(target.key);
	s3_loc_free(&loc);
	return rc;
}

static void touch_ctime(struct s3_meta *m)
{
	clock_gettime(CLOCK_REALTIME, &m->ctime);
	m->has_ctime = true;
}

static int edit_chmod(struct s3_meta *m, void *arg)
{
	mode_t mode = *(mode_t *)arg;

	m->mode = (m->mode & S_IFMT) | (mode & 07777);
	m->has_mode = true;
	touch_ctime(m);
	return 0;
}

int s3_chmod(void *be, const char *path, mode_t mode)
{
	return edit_meta(be, path, edit_chmod, &mode);
}

struct owner {
	uid_t uid;
	gid_t gid;
};

static int edit_chown(struct s3_meta *m, void *arg)
{
	struct owner *o = arg;

	if (o->uid != (uid_t)-1) {
		m->uid = o->uid;
		m->has_uid = true;
	}
	if (o->gid != (gid_t)-1) {
		m->gid = o->gid;
		m->has_gid = true;
	}
	touch_ctime(m);
	return 0;
}

int s3_chown(void *be, const char *path, uid_t uid, gid_t gid)
{
	struct owner o = { uid, gid };

	return edit_meta(be, path, edit_chown, &o);
}

static int edit_times(struct s3_meta *m, void *arg)
{
	const struct timespec *tv = arg;
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	if (tv[0].tv_nsec != UTIME_OMIT) {
		m->atime = tv[0].tv_nsec == UTIME_NOW ? now : tv[0];
		m->has_atime = true;
	}
	if (tv[1].tv_nsec != UTIME_OMIT) {
		m->mtime = tv[1].tv_nsec == UTIME_NOW ? now : tv[1];
		m->has_mtime = true;
	}
	return 0;
}

int s3_utimens(void *be, const char *path, const struct timespec tv[2])
{
	struct timespec copy[2];

	if (tv) {
		copy[0] = tv[0];
		copy[1] = tv[1];
	} else {
		copy[0].tv_nsec = copy[1].tv_nsec = UTIME_NOW;
	}
	return edit_meta(be, path, edit_times, copy);
}

/* ------------------------------------------------------------------ */
/* xattrs                                                              */
/* ------------------------------------------------------------------ */

/* The metadata of path for the xattr calls: the open file's, or a HEAD. */
static int meta_of(struct s3 *s, const char *path, struct s3_meta *m)
{
	struct s3_loc loc, target = { 0 };
	struct s3_file *f;
	struct stat st;
	int rc = s3_path_map(s->opt.bucket, s->prefix, path, &loc);

	if (rc)
		return rc;
	if (!loc.bucket || !*loc.key) {
		s3_loc_free(&loc);
		memset(m, 0, sizeof(*m));
		return 0;
	}
	f = s3_file_get(s, path);
	if (f) {
		rc = -EAGAIN;
		pthread_mutex_lock(&f->lock);
		if (f->meta_known)
			rc = s3_meta_copy(m, &f->meta);
		pthread_mutex_unlock(&f->lock);
		if (s3_file_unref(s, f))
			s3_file_free(f);
		if (rc != -EAGAIN) {
			s3_loc_free(&loc);
			return rc;
		}
	}
	rc = s3_getattr(s, path, &st);
	if (rc == 0) {
		target.bucket = loc.bucket;
		target.key = S_ISDIR(st.st_mode) ? s3_dir_prefix(loc.key) : strdup(loc.key);
		rc = target.key ? s3_head(s, &target, path, true, m) : -ENOMEM;
		if (rc == -ENOENT && S_ISDIR(st.st_mode)) {
			memset(m, 0, sizeof(*m)); /* an implicit folder has none */
			rc = 0;
		}
		free(target.key);
	}
	s3_loc_free(&loc);
	return rc;
}

static const char *ro_value(const struct s3_meta *m, const char *attr)
{
	if (strcmp(attr, "etag") == 0)
		return m->etag;
	if (strcmp(attr, "version_id") == 0)
		return m->version_id;
	if (strcmp(attr, "storage_class") == 0)
		return m->storage_class ? m->storage_class : (m->etag ? "STANDARD" : NULL);
	if (strcmp(attr, "content_type") == 0)
		return m->content_type;
	if (strcmp(attr, "sse") == 0)
		return m->sse;
	return NULL;
}

static const char *const ro_names[] = { "etag", "version_id", "storage_class", "content_type",
					"sse" };

static int reply_value(const char *v, size_t len, char *buf, size_t size)
{
	if (size == 0)
		return (int)len;
	if (len > size)
		return -ERANGE;
	memcpy(buf, v, len);
	return (int)len;
}

int s3_getxattr(void *be, const char *path, const char *name, char *buf, size_t size)
{
	struct s3 *s = be;
	struct s3_meta m;
	int rc;

	if (strncmp(name, S3_XATTR_PREFIX, strlen(S3_XATTR_PREFIX)) != 0)
		return -ENODATA; /* security.*, system.*: never a request */
	rc = meta_of(s, path, &m);
	if (rc)
		return rc;
	if (strncmp(name, S3_XATTR_RO_PREFIX, strlen(S3_XATTR_RO_PREFIX)) == 0) {
		const char *v = ro_value(&m, name + strlen(S3_XATTR_RO_PREFIX));

		rc = v ? reply_value(v, strlen(v), buf, size) : -ENODATA;
	} else {
		const char *attr = name + strlen(S3_XATTR_PREFIX);
		char *bv = NULL;
		size_t blen = 0;

		rc = -ENODATA;
		for (size_t i = 0; i < m.nuser; i++) {
			if (strcasecmp(m.user[i].name, attr) == 0) {
				rc = reply_value(m.user[i].value, strlen(m.user[i].value), buf,
						 size);
				break;
			}
		}
		if (rc == -ENODATA && s3_meta_blob_get(m.xattr_blob, name, &bv, &blen) == 0) {
			rc = reply_value(bv, blen, buf, size);
			free(bv);
		}
	}
	s3_meta_free(&m);
	return rc;
}

int s3_listxattr(void *be, const char *path, char *buf, size_t size)
{
	struct s3 *s = be;
	struct s3_meta m;
	struct buf out;
	int rc = meta_of(s, path, &m);

	if (rc)
		return rc;
	buf_init(&out, 64u << 10);
	for (size_t i = 0; i < sizeof(ro_names) / sizeof(ro_names[0]) && !rc; i++)
		if (ro_value(&m, ro_names[i]))
			rc = buf_printf(&out, "%s%s%c", S3_XATTR_RO_PREFIX, ro_names[i], '\0');
	for (size_t i = 0; i < m.nuser && !rc; i++)
		rc = buf_printf(&out, "%s%s%c", S3_XATTR_PREFIX, m.user[i].name, '\0');
	if (!rc)
		rc = s3_meta_blob_names(m.xattr_blob, &out);
	if (!rc)
		rc = reply_value(out.data ? out.data : "", out.len, buf, size);
	buf_free(&out);
	s3_meta_free(&m);
	return rc;
}

/* Characters of an HTTP header name (RFC 9110 token). */
static bool xattr_name_ok(const char *n)
{
	if (!*n || strlen(n) > 128)
		return false;
	for (; *n; n++) {
		unsigned char c = (unsigned char)*n;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", c)))
			return false;
	}
	return true;
}

struct xattr_edit {
	const char *name;  /* without "user." */
	const char *full;  /* with it */
	const char *value; /* NULL: remove */
	size_t len;
	int flags;
};

/* Remove name from s3fs's blob; 0 when it was there. */
static int blob_remove(struct s3_meta *m, const char *full)
{
	json_t *root = NULL;
	struct buf b;
	int rc;

	if (!m->xattr_blob || jsonx_parse(m->xattr_blob, strlen(m->xattr_blob), 64u << 10, &root))
		return -ENODATA;
	if (!json_is_object(root) || json_object_del(root, full) != 0) {
		json_decref(root);
		return -ENODATA;
	}
	free(m->xattr_blob);
	m->xattr_blob = NULL;
	rc = 0;
	if (json_object_size(root)) {
		buf_init(&b, 64u << 10);
		rc = jsonx_dump(root, &b);
		m->xattr_blob = buf_detach(&b);
		if (!rc && !m->xattr_blob)
			rc = -ENOMEM;
	}
	json_decref(root);
	return rc;
}

static int edit_xattr(struct s3_meta *m, void *arg)
{
	struct xattr_edit *x = arg;
	bool exists = false;
	char *bv = NULL;
	size_t blen;

	for (size_t i = 0; i < m->nuser; i++)
		if (strcasecmp(m->user[i].name, x->name) == 0)
			exists = true;
	if (!exists && s3_meta_blob_get(m->xattr_blob, x->full, &bv, &blen) == 0) {
		exists = true;
		free(bv);
	}
	if (!x->value) {
		int rc = s3_meta_set_user(m, x->name, NULL, 0);

		return rc == -ENODATA ? blob_remove(m, x->full) : rc;
	}
	if ((x->flags & XATTR_CREATE) && exists)
		return -EEXIST;
	if ((x->flags & XATTR_REPLACE) && !exists)
		return -ENODATA;
	blob_remove(m, x->full); /* a plain header replaces an s3fs value */
	return s3_meta_set_user(m, x->name, x->value, x->len);
}

static int check_user_xattr(const char *name)
{
	const char *attr;

	if (strncmp(name, S3_XATTR_PREFIX, strlen(S3_XATTR_PREFIX)) != 0)
		return -ENOTSUP;
	if (strncmp(name, S3_XATTR_RO_PREFIX, strlen(S3_XATTR_RO_PREFIX)) == 0)
		return -EPERM;
	attr = name + strlen(S3_XATTR_PREFIX);
	if (s3_meta_reserved(attr))
		return -EPERM; /* s3fs's own: set them with chmod, chown, touch */
	if (!xattr_name_ok(attr))
		return -EINVAL;
	return 0;
}

int s3_setxattr(void *be, const char *path, const char *name, const char *value,
		       size_t size, int flags)
{
	struct xattr_edit x = { name + strlen(S3_XATTR_PREFIX), name, value, size, flags };
	int rc = check_user_xattr(name);

	if (rc)
		return rc;
	if (!s3_meta_value_ok(value, size)) {
		log_error("s3 %s: xattr %s: S3 metadata holds printable ASCII only (at most 2 KB, "
			  "no leading or trailing space)", path, name);
		return -EINVAL;
	}
	return edit_meta(be, path, edit_xattr, &x);
}

int s3_removexattr(void *be, const char *path, const char *name)
{
	struct xattr_edit x = { name + strlen(S3_XATTR_PREFIX), name, NULL, 0, 0 };
	int rc = check_user_xattr(name);

	if (rc)
		return rc == -EINVAL ? -ENODATA : rc;
	return edit_meta(be, path, edit_xattr, &x);
}

/* ------------------------------------------------------------------ */
/* symlinks                                                            */
/* ------------------------------------------------------------------ */

int s3_symlink(void *be, const char *target, const char *path)
{
	struct s3 *s = be;
	struct s3_loc loc;
	struct s3_meta m;
	struct stat st;
	int rc = s3_path_map(s->opt.bucket, s->prefix, path, &loc);

	if (rc)
		return rc;
	if (!loc.bucket || !*loc.key) {
		s3_loc_free(&loc);
		return -EEXIST;
	}
	if ((rc = s3_check_new_key("symlink", path, &loc))) {
		s3_loc_free(&loc);
		return rc;
	}
	s3_meta_new(&m, S_IFLNK | 0777);
	m.size = (off_t)strlen(target);
	rc = s3_put(s, &loc, path, target, strlen(target), &m);
	if (rc == 0) {
		s3_stat_from_meta(s, &m, false, &st);
		s3_note_object(s, &loc, &st);
	}
	s3_meta_free(&m);
	s3_loc_free(&loc);
	return rc;
}

int s3_readlink(void *be, const char *path, char *buf, size_t size)
{
	struct s3 *s = be;
	struct s3_loc loc;
	char *target = NULL;
	size_t len = 0;
	int rc = s3_path_map(s->opt.bucket, s->prefix, path, &loc);

	if (rc)
		return rc;
	if (!loc.bucket || !*loc.key) {
		s3_loc_free(&loc);
		return -EINVAL;
	}
	rc = s3_get_small(s, &loc, path, S3_MAX_SYMLINK, &target, &len);
	if (rc == 0 && size > 0) {
		size_t n = len < size - 1 ? len : size - 1;

		memcpy(buf, target, n);
		buf[n] = '\0';
	}
	free(target);
	s3_loc_free(&loc);
	return rc;
}

/*
 * s3: S3 as files: the namespace. See s3.h and s3_i.h.
 *
 * Paths map to (bucket, key); folders are common prefixes and "dir/"
 * markers. Listings are ListObjectsV2 with delimiter "/", streamed to the
 * kernel page by page, and their attributes land in the cache
 * (s3_cache.c) so that the lookups that follow cost nothing; a listing
 * that reached its end is kept whole and answers the next readdir. A
 * lookup the cache cannot answer is a HEAD on the key (If-None-Match when
 * an expired entry has an ETag) and, when that finds nothing, the folder
 * probe: the first page of "key/"'s own listing, the very request readdir
 * sends first, kept for the readdir that usually follows (whole when it is
 * the whole folder, else with the token of page 2). Also here: the bucket list,
 * mkdir/rmdir of buckets, and the backend's operations table (the other
 * operations live in s3_file.c and s3_change.c).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fuse.h>

#include "json.h"
#include "log.h"
#include "mime.h"
#include "paginate.h"
#include "s3_i.h"
#include "util.h"

#define S3_MAX_BUCKETS 100000u     /* AWS allows 10,000 per account; a bound */
#define S3_LIST_PAGE 1000u         /* ListObjectsV2's largest page */

/* ------------------------------------------------------------------ */
/* paths                                                               */
/* ------------------------------------------------------------------ */

void s3_loc_free(struct s3_loc *loc)
{
	free(loc->bucket);
	free(loc->key);
	loc->bucket = loc->key = NULL;
}

static int check_components(const char *p)
{
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n > S3_NAME_MAX)
			return -ENAMETOOLONG;
		p += n;
		if (*p == '/')
			p++;
	}
	return 0;
}

int s3_path_map(const char *fixed_bucket, const char *prefix, const char *path,
		struct s3_loc *loc)
{
	const char *rest = path;
	struct buf key;
	int rc;

	memset(loc, 0, sizeof(*loc));
	rc = check_components(path);
	if (rc)
		return rc;
	if (fixed_bucket) {
		loc->bucket = strdup(fixed_bucket);
	} else {
		size_t n = strcspn(path, "/");

		if (n == 0)
			return 0; /* the bucket list */
		loc->bucket = strndup(path, n);
		rest = path[n] ? path + n + 1 : "";
	}
	if (!loc->bucket)
		return -ENOMEM;
	buf_init(&key, S3_MAX_KEY);
	rc = buf_puts(&key, "");
	if (!rc && *rest && prefix && *prefix) {
		rc = buf_puts(&key, prefix);
		if (!rc && prefix[strlen(prefix) - 1] != '/')
			rc = buf_putc(&key, '/');
	}
	if (!rc)
		rc = buf_puts(&key, rest);
	if (!rc && !*rest && prefix && *prefix) {
		/* the root of the single-bucket form: the prefix itself */
		size_t n = strlen(prefix);

		rc = buf_append(&key, prefix, prefix[n - 1] == '/' ? n - 1 : n);
	}
	if (rc) {
		buf_free(&key);
		s3_loc_free(loc);
		return rc == -EFBIG ? -ENAMETOOLONG : rc;
	}
	loc->key = buf_detach(&key);
	if (!loc->key) {
		s3_loc_free(loc);
		return -ENOMEM;
	}
	return 0;
}

char *s3_dir_prefix(const char *key)
{
	size_t n = strlen(key);
	char *p;

	if (n == 0)
		return strdup("");
	p = malloc(n + 2);
	if (!p)
		return NULL;
	memcpy(p, key, n);
	p[n] = '/';
	p[n + 1] = '\0';
	return p;
}

/* ------------------------------------------------------------------ */
/* attributes                                                          */
/* ------------------------------------------------------------------ */

void s3_stat_from_meta(struct s3 *s, const struct s3_meta *m, bool is_dir, struct stat *st)
{
	if (is_dir) {
		fs_dir_stat(s->cfg, st);
	} else {
		fs_file_stat(s->cfg, st, m->size, 0666);
	}
	if (m->last_modified)
		st->st_mtime = st->st_ctime = st->st_atime = m->last_modified;
	if (m->has_mode) {
		mode_t type = m->mode & S_IFMT;

		/* The stored type counts only where it agrees with S3's view. */
		if (is_dir)
			type = S_IFDIR;
		else if (type != S_IFLNK)
			type = S_IFREG;
		st->st_mode = type | (m->mode & 07777);
	}
	if (m->has_uid)
		st->st_uid = m->uid;
	if (m->has_gid)
		st->st_gid = m->gid;
	if (m->has_mtime) {
		st->st_mtim = m->mtime;
		st->st_ctim = m->mtime;
		st->st_atim = m->mtime;
	}
	if (m->has_ctime)
		st->st_ctim = m->ctime;
	if (m->has_atime)
		st->st_atim = m->atime;
}

int s3_head(struct s3 *s, const struct s3_loc *loc, const char *path, bool quiet,
	    struct s3_meta *m)
{
	struct aws_request req = {
		.svc = AWS_SVC_S3,
		.op = "HeadObject",
		.method = "HEAD",
		.bucket = loc->bucket,
		.key = loc->key,
		.path = path,
		.quiet_errors = quiet,
	};
	struct aws_response resp;
	int rc = aws_call(s->client, &req, &resp);

	if (rc == 0)
		rc = s3_meta_from_headers(&resp.http, m);
	aws_response_free(&resp);
	return rc;
}

/* ------------------------------------------------------------------ */
/* listings' names                                                     */
/* ------------------------------------------------------------------ */

bool s3_list_encoded(const struct xml_node *root)
{
	const char *e = xml_child_text(root, "EncodingType");

	return e && strcmp(e, S3_LIST_ENCODING) == 0;
}

int s3_list_text(const struct xml_node *n, const char *name, bool url, char *buf,
		 const char *op, const char *path, const char **out)
{
	const char *t = xml_child_text(n, name);
	int rc;

	*out = t;
	if (!t || !url)
		return 0;
	rc = s3_url_decode(t, buf, S3_LIST_NAME_BUF);
	if (rc == 0 || rc == -EILSEQ) {
		*out = buf;
		return rc;
	}
	log_error("s3 %s %s: malformed listing page: %s \"%.32s\" is not %s", op, path, name, t,
		  rc == -EINVAL ? "percent-encoded" : "a key (too long)");
	return -EIO;
}

/* ------------------------------------------------------------------ */
/* buckets                                                             */
/* ------------------------------------------------------------------ */

static void bucket_list_free(struct s3_bucket *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i].name);
	free(list);
}

struct bucket_page {
	struct s3_bucket *list;
	size_t n;
	size_t skipped; /* names no folder can have */
};

/* A bucket name that can be a folder name: S3 allows only [a-z0-9.-] (and
 * legacy names of 255 bytes at most), but a listing is server data, and
 * one name with a '/' makes the kernel fail the whole readdir with EIO. */
bool s3_bucket_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n <= S3_NAME_MAX && !strchr(name, '/') && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0;
}

static int bucket_page(void *arg, const struct xml_node *root, size_t *items, bool *stop)
{
	struct bucket_page *bp = arg;
	const struct xml_node *buckets = xml_child(root, "Buckets"), *b;

	(void)stop;
	*items = 0;
	if (!buckets)
		return 0;
	for (b = xml_child(buckets, "Bucket"); b; b = xml_next(b, "Bucket")) {
		const char *name = xml_child_text(b, "Name");
		const char *date = xml_child_text(b, "CreationDate");
		struct s3_bucket *grown;

		if (!name || !*name)
			continue;
		if (!s3_bucket_name_ok(name)) {
			bp->skipped++;
			continue;
		}
		if (bp->n >= S3_MAX_BUCKETS)
			return -EFBIG;
		grown = realloc(bp->list, (bp->n + 1) * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		bp->list = grown;
		grown[bp->n].created = 0;
		if (date)
			util_parse_iso8601(date, &grown[bp->n].created);
		grown[bp->n].name = strdup(name);
		if (!grown[bp->n].name)
			return -ENOMEM;
		bp->n++;
		(*items)++;
	}
	return 0;
}

static int refresh_buckets(struct s3 *s)
{
	struct aws_request req = {
		.svc = AWS_SVC_S3,
		.op = "ListBuckets",
		.method = "GET",
		.path = "/s3",
	};
	struct bucket_page bp = { NULL, 0, 0 };
	int rc;

	rc = paginate_xml(s->client, &req, &paginate_s3_list_buckets, NULL, bucket_page, &bp,
			  NULL);
	if (rc) {
		bucket_list_free(bp.list, bp.n);
		return rc;
	}
	if (bp.skipped)
		log_warn("s3 /s3: %zu bucket name(s) that cannot be folder names are not shown",
			 bp.skipped);
	pthread_mutex_lock(&s->lock);
	bucket_list_free(s->buckets, s->nbuckets);
	s->buckets = bp.list;
	s->nbuckets = bp.n;
	s->buckets_fetched_ms = util_mono_ms();
	pthread_mutex_unlock(&s->lock);
	s3c_buckets_listed(s, true);
	return 0;
}

/* 1 found, 0 not; *fresh says whether the list is recent. */
static int find_bucket(struct s3 *s, const char *name, time_t *created, bool *fresh)
{
	int found = 0;

	*fresh = s3c_buckets_fresh(s);
	pthread_mutex_lock(&s->lock);
	*fresh = *fresh && s->buckets_fetched_ms;
	for (size_t i = 0; i < s->nbuckets; i++) {
		if (strcmp(s->buckets[i].name, name) == 0) {
			*created = s->buckets[i].created;
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

static void bucket_list_change(struct s3 *s, const char *name, bool add)
{
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->nbuckets; i++) {
		if (strcmp(s->buckets[i].name, name) == 0) {
			if (!add) {
				free(s->buckets[i].name);
				s->buckets[i] = s->buckets[--s->nbuckets];
			}
			pthread_mutex_unlock(&s->lock);
			return;
		}
	}
	if (add) {
		struct s3_bucket *grown = realloc(s->buckets, (s->nbuckets + 1) * sizeof(*grown));

		if (grown) {
			s->buckets = grown;
			grown[s->nbuckets].name = strdup(name);
			grown[s->nbuckets].created = time(NULL);
			if (grown[s->nbuckets].name)
				s->nbuckets++;
		}
	}
	pthread_mutex_unlock(&s->lock);
}

static int bucket_getattr(struct s3 *s, const char *name, struct stat *st)
{
	time_t created = 0;
	bool fresh;
	int rc;

	if (!find_bucket(s, name, &created, &fresh)) {
		if (fresh)
			return -ENOENT;
		rc = refresh_buckets(s);
		if (rc)
			return rc;
		if (!find_bucket(s, name, &created, &fresh))
			return -ENOENT;
	}
	fs_dir_stat(s->cfg, st);
	st->st_mtime = st->st_ctime = st->st_atime = created;
	return 0;
}

int s3_bucket_create(struct s3 *s, const char *name, const char *path)
{
	const char *region = aws_client_region(s->client);
	struct aws_request req = {
		.svc = AWS_SVC_S3,
		.op = "CreateBucket",
		.method = "PUT",
		.bucket = name,
		.path = path,
	};
	struct aws_response resp;
	struct buf body;
	int rc = 0;

	buf_init(&body, 1024);
	/* us-east-1 is the one region that takes no LocationConstraint. */
	if (strcmp(region, "us-east-1") != 0) {
		rc = buf_printf(&body,
				"<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/"
				"2006-03-01/\"><LocationConstraint>%s</LocationConstraint>"
				"</CreateBucketConfiguration>",
				region);
		req.body = body.data;
		req.body_len = body.len;
	}
	if (!rc)
		rc = aws_call(s->client, &req, &resp);
	if (!rc || rc != -ENOMEM)
		aws_response_free(&resp);
	buf_free(&body);
	if (rc == 0)
		bucket_list_change(s, name, true);
	return rc;
}

int s3_bucket_delete(struct s3 *s, const char *name, const char *path)
{
	struct aws_request req = {
		.svc = AWS_SVC_S3,
		.op = "DeleteBucket",
		.method = "DELETE",
		.bucket = name,
		.path = path,
	};
	struct aws_response resp;
	int rc = aws_call(s->client, &req, &resp);

	aws_response_free(&resp);
	if (rc == 0 || rc == -ENOENT) {
		struct s3_loc loc = { (char *)name, (char *)"" };

		bucket_list_change(s, name, false);
		s3_note_tree(s, &loc);
	}
	return rc;
}

int s3_check_bucket(struct aws_client *client, const char *bucket, char *code, size_t codelen)
{
	struct aws_request req = {
		.svc = AWS_SVC_S3,
		.op = "HeadBucket",
		.method = "HEAD",
		.bucket = bucket,
		.path = bucket,
		.quiet_errors = true,
	};
	struct aws_response resp;
	int rc = aws_call(client, &req, &resp);

	snprintf(code, codelen, "%s", rc ? resp.code : "");
	aws_response_free(&resp);
	return rc;
}

/* ------------------------------------------------------------------ */
/* getattr                                                             */
/* ------------------------------------------------------------------ */

/* HEAD, conditional when etag is set: 0 (*m filled), 1 (304: unchanged),
 * or -errno. *ttl: from the answer's Cache-Control (-1: the S3 TTL). */
static int head_cond(struct s3 *s, const struct s3_loc *loc, const char *path,
		     const char *etag, struct s3_meta *m, int64_t *ttl)
{
	char cond[256];
	const char *hdr[1] = { cond };
	struct aws_request req = {
		.svc = AWS_SVC_S3,
		.op = "HeadObject",
		.method = "HEAD",
		.bucket = loc->bucket,
		.key = loc->key,
		.path = path,
		.quiet_errors = true,
	};
	struct aws_response resp;
	int rc;

	if (etag && s3c_cond_header(etag, 0, cond, sizeof(cond))) {
		req.headers = hdr;
		req.nheaders = 1;
	}
	rc = aws_call(s->client, &req, &resp);
	*ttl = -1;
	if (rc == 0 && s->cfg->cache)
		*ttl = cache_ttl_from_header(s->cfg->cache,
					     http_response_header(&resp.http, "cache-control"));
	if (rc == 0 && resp.status == 304)
		rc = req.nheaders ? 1 : -EIO;
	else if (rc == 0)
		rc = s3_meta_from_headers(&resp.http, m);
	aws_response_free(&resp);
	return rc;
}

static int folder_probe(struct s3 *s, const struct s3_loc *loc, const char *path,
			const char *cpath, time_t *mtime);

static int lookup(struct s3 *s, const char *path, const struct s3_loc *loc, struct stat *st)
{
	char etag[128];
	struct s3_meta m;
	char *cpath;
	time_t mtime;
	int64_t ttl;
	int rc;

	if (s3_open_file_stat(s, path, st))
		return 0;
	cpath = s3c_path(loc);
	if (!cpath)
		return -ENOMEM;
	rc = s3c_lookup(s, cpath, st, etag, sizeof(etag));
	if (rc == 0 || rc == -ENOENT)
		goto out;
	rc = head_cond(s, loc, path, rc == 2 ? etag : NULL, &m, &ttl);
	if (rc == 1) {
		/* 304: the cached attributes (and bytes) stand. */
		s3c_renewed(s, cpath, ttl);
		rc = 0;
		goto out;
	}
	if (etag[0] && (rc == 0 ? !m.etag || strcmp(m.etag, etag) != 0 : rc == -ENOENT))
		s3c_changed(s, cpath); /* another version, or gone */
	if (rc == 0) {
		bool is_dir = m.content_type && m.size == 0 &&
			      strncmp(m.content_type, S3_DIR_CONTENT_TYPE,
				      strlen(S3_DIR_CONTENT_TYPE)) == 0;

		s3_stat_from_meta(s, &m, is_dir, st);
		s3c_put_attr(s, cpath, st, m.etag, ttl);
		s3_meta_free(&m);
		goto out;
	}
	if (rc != -ENOENT)
		goto out;
	rc = folder_probe(s, loc, path, cpath, &mtime);
	if (rc == 1) {
		fs_dir_stat(s->cfg, st);
		if (mtime)
			st->st_mtime = st->st_ctime = st->st_atime = mtime;
		s3c_put_attr(s, cpath, st, NULL, -1);
		rc = 0;
	} else if (rc == 0) {
		s3c_put_absent(s, cpath);
		rc = -ENOENT;
	}
out:
	free(cpath);
	return rc;
}

int s3_check_new_key(const char *op, const char *path, const struct s3_loc *loc)
{
	if (loc->key && !util_utf8_valid(loc->key, strlen(loc->key))) {
		log_error("s3 %s %s: not a name S3 can store: keys are UTF-8 text", op, path);
		return -EINVAL;
	}
	return 0;
}

int s3_getattr(void *be, const char *path, struct stat *st)
{
	struct s3 *s = be;
	struct s3_loc loc;
	int rc = s3_path_map(s->opt.bucket, s->prefix, path, &loc);

	if (rc == -ENAMETOOLONG)
		log_error("s3 lookup %s: a name over %d bytes, or a key over S3's %d bytes",
			  path, S3_NAME_MAX, S3_MAX_KEY);
	if (rc)
		return rc;
	if (!loc.bucket) {
		fs_dir_stat(s->cfg, st);
	} else if (!*loc.key) {
		if (s->opt.bucket)
			fs_dir_stat(s->cfg, st);
		else
			rc = bucket_getattr(s, loc.bucket, st);
	} else {
		rc = lookup(s, path, &loc, st);
	}
	s3_loc_free(&loc);
	return rc;
}

/* ------------------------------------------------------------------ */
/* listings                                                            */
/* ------------------------------------------------------------------ */

struct s3_dirh {
	pthread_mutex_t lock;
	struct s3_loc loc;
	char *path;
	char *prefix;      /* ListObjectsV2 prefix */
	char *cdir;        /* the folder's cache path */
	bool buckets;      /* the bucket list */
	bool started, done;
	char *token;       /* where the next page starts */
	uint64_t gen;      /* cache change generation when the listing began */
	struct buf recs;   /* the whole listing so far, for the cache */
	bool recs_ok;      /* every entry is in recs */
	struct s3_ent *ents;
	size_t n;          /* entries of the current page */
	off_t base;        /* number of the page's first entry, from 0 */
	size_t skipped_long;
	size_t skipped_dots; /* keys naming "." or ".." */
	size_t skipped_nul;  /* keys holding a NUL (%00), which no name can */
	size_t listed;     /* keys and prefixes the last page held, shown or not */
	time_t marker_mtime; /* the folder's own "key/" marker's date, when listed */
	bool probe;        /* a lookup's folder probe, not a readdir */
};

static void ents_free(struct s3_dirh *d)
{
	s3_ents_free(d->ents, d->n);
	d->ents = NULL;
	d->n = 0;
}

static int ent_cmp(const void *a, const void *b)
{
	const struct s3_ent *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	/* Same name: the folder first (it wins, as in s3fs). */
	if (c == 0)
		return S_ISDIR(y->st.st_mode) - S_ISDIR(x->st.st_mode);
	return c;
}

struct page_ctx {
	struct s3 *s;
	struct s3_dirh *d;
	struct s3_ent *ents;
	size_t n, cap;
};

static int page_add(struct page_ctx *pc, const char *name, size_t len, const struct stat *st,
		    const char *etag)
{
	struct s3_ent *e;

	if (len == 0)
		return 0;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.')) {
		pc->d->skipped_dots++;
		return 0;
	}
	if (len > S3_NAME_MAX) {
		pc->d->skipped_long++;
		return 0;
	}
	if (pc->n == pc->cap) {
		size_t cap = pc->cap ? pc->cap * 2 : 256;
		struct s3_ent *grown = realloc(pc->ents, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		pc->ents = grown;
		pc->cap = cap;
	}
	e = &pc->ents[pc->n];
	e->name = strndup(name, len);
	e->etag = etag ? strdup(etag) : NULL;
	if (!e->name || (etag && !e->etag)) {
		free(e->name);
		free(e->etag);
		return -ENOMEM;
	}
	e->st = *st;
	pc->n++;
	return 0;
}

/* The name in element elem of a listing entry, decoded (kbuf): *out NULL
 * for an entry to pass over (none, or a NUL in it: counted), or -EIO. */
static int page_name(struct page_ctx *pc, const struct xml_node *n, const char *elem, bool url,
		     char *kbuf, const char **out)
{
	int rc = s3_list_text(n, elem, url, kbuf, "ListObjectsV2", pc->d->path, out);

	if (rc == -EILSEQ) {
		pc->d->skipped_nul++;
		*out = NULL;
		rc = 0;
	}
	return rc;
}

static int list_page(void *arg, const struct xml_node *root, size_t *items, bool *stop)
{
	struct page_ctx *pc = arg;
	struct s3 *s = pc->s;
	size_t plen = strlen(pc->d->prefix), suffix = strlen(S3_FOLDER_SUFFIX);
	const struct xml_node *n;
	bool url = s3_list_encoded(root);
	char kbuf[S3_LIST_NAME_BUF];
	int rc = 0;

	(void)stop;
	*items = 0;
	for (n = xml_child(root, "Contents"); n && !rc; n = xml_next(n, "Contents")) {
		const char *key;
		const char *size = xml_child_text(n, "Size");
		const char *lm = xml_child_text(n, "LastModified");
		const char *etag = xml_child_text(n, "ETag");
		const char *name;
		long long sz = 0;
		time_t t = 0;
		struct stat st;
		size_t len;

		(*items)++;
		rc = page_name(pc, n, "Key", url, kbuf, &key);
		if (rc)
			return rc;
		if (!key || strncmp(key, pc->d->prefix, plen) != 0)
			continue;
		name = key + plen;
		len = strlen(name);
		if (len == 0 && lm)
			util_parse_iso8601(lm, &pc->d->marker_mtime);
		if (size && util_parse_ll(size, 0, (long long)S3_MAX_OBJECT, &sz) != 0) {
			/* A listing that lies about sizes would show wrong files. */
			log_error("s3 ListObjectsV2 %s: malformed listing page: Size \"%.32s\" is "
				  "not a size", pc->d->path, size);
			return -EIO;
		}
		if (lm)
			util_parse_iso8601(lm, &t);
		if (strchr(name, '/')) {
			continue; /* the folder's own marker, or a key the delimiter missed */
		} else if (len > suffix && strcmp(name + len - suffix, S3_FOLDER_SUFFIX) == 0) {
			fs_dir_stat(s->cfg, &st);
			len -= suffix;
			etag = NULL;
		} else {
			fs_file_stat(s->cfg, &st, (off_t)sz, 0666);
		}
		if (t)
			st.st_mtime = st.st_ctime = st.st_atime = t;
		rc = page_add(pc, name, len, &st, etag);
	}
	for (n = xml_child(root, "CommonPrefixes"); n && !rc; n = xml_next(n, "CommonPrefixes")) {
		const char *p;
		struct stat st;
		size_t len;

		(*items)++;
		rc = page_name(pc, n, "Prefix", url, kbuf, &p);
		if (rc)
			return rc;
		if (!p || strncmp(p, pc->d->prefix, plen) != 0)
			continue;
		len = strlen(p + plen);
		/* One name, its '/' last: a server that ignored the delimiter
		 * (or an odd prefix) must not make a name with a '/' in it. */
		if (len < 1 || p[plen + len - 1] != '/' || memchr(p + plen, '/', len - 1))
			continue;
		fs_dir_stat(s->cfg, &st);
		rc = page_add(pc, p + plen, len - 1, &st, NULL);
	}
	return rc;
}

static void page_landed(struct s3 *s, struct s3_dirh *d);

/* Fetch the next page of d into d->ents (replacing the last); a readdir's
 * lands in the cache (page_landed), a probe's is the caller's. */
static int fetch_page(struct s3 *s, struct s3_dirh *d)
{
	struct aws_request req = {
		.svc = AWS_SVC_S3,
		.op = "ListObjectsV2",
		.bucket = d->loc.bucket,
		.path = d->path,
	};
	struct paginate_opts po = {
		.page_size = S3_LIST_PAGE,
		.max_pages = 1,
		.start_token = d->token,
		.want_next_token = true,
	};
	struct paginate_result res = { 0 };
	struct page_ctx pc = { .s = s, .d = d };
	struct buf q;
	size_t k = 0;
	int rc;

	buf_init(&q, 4 * S3_MAX_KEY);
	rc = aws_query_add(&q, "list-type", "2");
	if (!rc)
		rc = aws_query_add(&q, "delimiter", "/");
	if (!rc)
		rc = aws_query_add(&q, "encoding-type", S3_LIST_ENCODING);
	if (!rc && *d->prefix)
		rc = aws_query_add(&q, "prefix", d->prefix);
	if (rc) {
		buf_free(&q);
		return rc;
	}
	req.query = q.data;
	rc = paginate_xml(s->client, &req, &paginate_s3_list_objects_v2, &po, list_page, &pc, &res);
	buf_free(&q);
	if (rc) {
		s3_ents_free(pc.ents, pc.n);
		free(res.next_token);
		return rc;
	}
	/* Sorted by name, a folder and a file of one name: the folder only. */
	if (pc.n)
		qsort(pc.ents, pc.n, sizeof(*pc.ents), ent_cmp);
	for (size_t i = 0; i < pc.n; i++) {
		if (k && strcmp(pc.ents[k - 1].name, pc.ents[i].name) == 0) {
			free(pc.ents[i].name);
			free(pc.ents[i].etag);
			continue;
		}
		pc.ents[k++] = pc.ents[i];
	}
	pc.n = k;

	d->base += (off_t)d->n;
	ents_free(d);
	d->ents = pc.ents;
	d->n = pc.n;
	free(d->token);
	d->token = res.next_token;
	d->done = d->token == NULL;
	d->started = true;
	d->listed = res.items;
	if (!d->probe)
		page_landed(s, d);
	return 0;
}

/* A page of d's listing is in d->ents: into the cache before the kernel
 * sees it (libfuse looks each readdirplus entry up, getattr, while
 * filling), into the whole listing, and the listing kept at its end. */
static void page_landed(struct s3 *s, struct s3_dirh *d)
{
	s3c_list_page(s, d->cdir, d->gen, d->ents, d->n);
	for (size_t i = 0; i < d->n && d->recs_ok; i++)
		if (s3_list_add(&d->recs, d->ents[i].name, &d->ents[i].st))
			d->recs_ok = false; /* too long to keep whole */
	if (d->done && d->recs_ok)
		s3c_list_done(s, d->cdir, d->gen, &d->recs);
	if (d->done && d->skipped_long)
		log_warn("s3 ListObjectsV2 %s: %zu names longer than %d bytes are not shown",
			 d->path, d->skipped_long, S3_NAME_MAX);
	if (d->done && d->skipped_dots)
		log_warn("s3 ListObjectsV2 %s: %zu keys naming \".\" or \"..\" are not shown",
			 d->path, d->skipped_dots);
	if (d->done && d->skipped_nul)
		log_warn("s3 ListObjectsV2 %s: %zu keys holding a NUL byte are not shown", d->path,
			 d->skipped_nul);
}

/*
 * The folder probe of a lookup that found no object: the first page of
 * "key/"'s listing, exactly as readdir asks for it. Anything under "key/"
 * (its marker too) makes it a folder. The page is not wasted: it is kept
 * (s3c_page_put), whole or with the token of page 2, for the readdir that
 * usually follows. Its entries reach the attribute cache only then, as any
 * listing's: a lookup of a child before a listing still HEADs it and sees
 * its mode, owner and symlink type. 1 a folder (*mtime: its marker's date,
 * or 0), 0 none, or -errno.
 */
static int folder_probe(struct s3 *s, const struct s3_loc *loc, const char *path,
			const char *cpath, time_t *mtime)
{
	struct s3_dirh d;
	int rc;

	memset(&d, 0, sizeof(d));
	*mtime = 0;
	d.loc = *loc; /* borrowed: not freed here */
	d.path = (char *)path;
	d.cdir = (char *)cpath;
	d.probe = true;
	d.prefix = s3_dir_prefix(loc->key);
	if (!d.prefix)
		return -ENOMEM;
	d.gen = s3c_list_gen(s, cpath);
	rc = fetch_page(s, &d);
	if (rc == 0) {
		rc = d.listed || !d.done ? 1 : 0;
		*mtime = d.marker_mtime;
		if (rc)
			s3c_page_put(s, cpath, d.gen, d.ents, d.n, d.token, d.skipped_long,
				     d.skipped_dots);
	}
	ents_free(&d);
	free(d.prefix);
	free(d.token);
	return rc;
}

static int fetch_buckets(struct s3 *s, struct s3_dirh *d)
{
	/* Listing /s3 always asks (one small request); lookups of buckets use
	 * the list for the TTL. */
	int rc = refresh_buckets(s);

	if (rc)
		return rc;
	ents_free(d);
	pthread_mutex_lock(&s->lock);
	d->ents = calloc(s->nbuckets ? s->nbuckets : 1, sizeof(*d->ents));
	for (size_t i = 0; d->ents && i < s->nbuckets; i++) {
		d->ents[i].name = strdup(s->buckets[i].name);
		if (!d->ents[i].name)
			break;
		fs_dir_stat(s->cfg, &d->ents[i].st);
		d->ents[i].st.st_mtime = d->ents[i].st.st_ctime = d->ents[i].st.st_atime =
			s->buckets[i].created;
		d->n++;
	}
	pthread_mutex_unlock(&s->lock);
	if (!d->ents || d->n < s->nbuckets)
		return -ENOMEM;
	d->done = d->started = true;
	return 0;
}

static void dirh_free(struct s3_dirh *d)
{
	if (!d)
		return;
	ents_free(d);
	s3_loc_free(&d->loc);
	free(d->path);
	free(d->prefix);
	free(d->cdir);
	buf_free(&d->recs);
	free(d->token);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

static int s3_opendir(void *be, const char *path, void **dh)
{
	struct s3 *s = be;
	struct s3_dirh *d = calloc(1, sizeof(*d));
	struct stat st;
	int rc;

	if (!d)
		return -ENOMEM;
	pthread_mutex_init(&d->lock, NULL);
	rc = s3_path_map(s->opt.bucket, s->prefix, path, &d->loc);
	if (rc)
		goto fail;
	d->path = strdup(path);
	if (!d->path) {
		rc = -ENOMEM;
		goto fail;
	}
	if (!d->loc.bucket) {
		d->buckets = true;
		*dh = d;
		return 0;
	}
	rc = s3_getattr(s, path, &st);
	if (rc)
		goto fail;
	if (!S_ISDIR(st.st_mode)) {
		rc = -ENOTDIR;
		goto fail;
	}
	d->prefix = s3_dir_prefix(d->loc.key);
	d->cdir = s3c_path(&d->loc);
	if (!d->prefix || !d->cdir) {
		rc = -ENOMEM;
		goto fail;
	}
	*dh = d;
	return 0;
fail:
	dirh_free(d);
	return rc;
}

static int s3_readdir_at(void *be, void *dh, off_t off, backend_fill_at_fn fill, void *sink)
{
	struct s3 *s = be;
	struct s3_dirh *d = dh;
	int rc = 0;

	pthread_mutex_lock(&d->lock);
	if (off == 0 || off < d->base || !d->started) {
		/* From the start (also after a rewinddir). */
		ents_free(d);
		free(d->token);
		d->token = NULL;
		d->base = 0;
		d->started = d->done = false;
		d->skipped_long = 0;
		d->skipped_dots = 0;
		if (d->buckets) {
			rc = fetch_buckets(s, d);
		} else if (s3c_list_get(s, d->cdir, &d->ents, &d->n) == 0) {
			d->started = d->done = true; /* the cache has it whole */
		} else if (s3c_page_take(s, d->cdir, &d->gen, &d->ents, &d->n, &d->token,
					 &d->skipped_long, &d->skipped_dots) == 0) {
			/* Page 1 came with the lookup's probe: on from page 2. */
			buf_free(&d->recs);
			buf_init(&d->recs, s3c_list_cap(s));
			d->recs_ok = s3c_list_cap(s) > 0;
			d->started = true;
			d->done = d->token == NULL;
			page_landed(s, d);
		} else {
			d->gen = s3c_list_gen(s, d->cdir);
			buf_free(&d->recs);
			buf_init(&d->recs, s3c_list_cap(s));
			d->recs_ok = s3c_list_cap(s) > 0;
			rc = fetch_page(s, d);
		}
	}
	while (rc == 0) {
		size_t i;

		if (off >= d->base + (off_t)d->n) {
			if (d->done)
				break;
			rc = fetch_page(s, d);
			continue;
		}
		for (i = (size_t)(off - d->base); i < d->n; i++) {
			if (fill(sink, d->ents[i].name, &d->ents[i].st, d->base + (off_t)i + 1))
				goto full;
		}
		off = d->base + (off_t)d->n;
	}
full:
	pthread_mutex_unlock(&d->lock);
	return rc;
}

static void s3_releasedir(void *be, void *dh)
{
	(void)be;
	dirh_free(dh);
}

/* Is there anything under folder loc but its own marker? 1 yes, 0 no. */
int s3_folder_has_children(struct s3 *s, const struct s3_loc *loc, const char *path)
{
	struct aws_request req = {
		.svc = AWS_SVC_S3,
		.op = "ListObjectsV2",
		.bucket = loc->bucket,
		.path = path,
	};
	struct aws_response resp;
	struct xml_doc *doc = NULL;
	char *prefix = s3_dir_prefix(loc->key);
	struct buf q;
	int rc;

	if (!prefix)
		return -ENOMEM;
	buf_init(&q, 4 * S3_MAX_KEY);
	rc = aws_query_add(&q, "list-type", "2");
	if (!rc)
		rc = aws_query_add(&q, "max-keys", "2");
	if (!rc)
		rc = aws_query_add(&q, "encoding-type", S3_LIST_ENCODING);
	if (!rc && *prefix)
		rc = aws_query_add(&q, "prefix", prefix);
	if (rc)
		goto out;
	req.query = q.data;
	rc = aws_call(s->client, &req, &resp);
	if (rc == 0) {
		if (xml_parse(resp.http.body.data ? resp.http.body.data : "", resp.http.body.len,
			      1000, &doc)) {
			rc = -EIO;
		} else {
			const struct xml_node *c;
			bool url = s3_list_encoded(xml_root(doc));
			char kbuf[S3_LIST_NAME_BUF];

			for (c = xml_child(xml_root(doc), "Contents"); c; c = xml_next(c, "Contents")) {
				const char *k;
				int trc = s3_list_text(c, "Key", url, kbuf, "ListObjectsV2", path, &k);

				if (trc == -EIO) {
					rc = trc;
					break;
				}
				/* (a key with a NUL is still something under the folder) */
				if (k && (trc || strcmp(k, prefix) != 0)) {
					rc = 1;
					break;
				}
			}
		}
	}
	aws_response_free(&resp);
out:
	xml_free(doc);
	buf_free(&q);
	free(prefix);
	return rc;
}

/* ------------------------------------------------------------------ */
/* the backend                                                         */
/* ------------------------------------------------------------------ */

int s3_submit(struct s3 *s, struct s3_job *job)
{
	struct s3_pool *p;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if (!s->pool)
		rc = s3_pool_new(s->opt.parallel, &s->pool);
	p = s->pool;
	pthread_mutex_unlock(&s->lock);
	if (rc) {
		log_error("s3: cannot start worker threads: %s", strerror(-rc));
		return rc;
	}
	s3_pool_submit(p, job);
	return 0;
}

size_t s3_sse_headers(struct s3 *s, const char **lines, size_t max)
{
	static const char *const kms = "x-amz-server-side-encryption: aws:kms";
	size_t n = 0;

	if (s->opt.sse && n < max) {
		if (strcmp(s->opt.sse, "AES256") == 0) {
			lines[n++] = "x-amz-server-side-encryption: AES256";
		} else {
			lines[n++] = kms;
			if (s->sse_kms_header && n < max)
				lines[n++] = s->sse_kms_header;
		}
	}
	if (s->storage_class_header && n < max)
		lines[n++] = s->storage_class_header;
	return n;
}

static void s3_destroy(void *be)
{
	struct s3 *s = be;

	/* Files still open at unmount (a lazy unmount, a killed program whose
	 * release never came): what they staged goes up now, or stays on disk
	 * with a log line; never silently lost. */
	while (s->files) {
		struct s3_file *f = s->files;

		s->files = f->next;
		pthread_mutex_lock(&f->lock);
		if (f->dirty || f->meta_dirty) {
			log_warn("s3 %s: still open at unmount; uploading what was written", f->path);
			s3_file_upload(s, f);
		}
		pthread_mutex_unlock(&f->lock);
		s3_file_free(f);
	}
	s3_pool_free(s->pool);
	bucket_list_free(s->buckets, s->nbuckets);
	pthread_mutex_destroy(&s->list_lock);
	pthread_mutex_destroy(&s->lock);
	free((char *)s->opt.bucket);
	free((char *)s->opt.prefix);
	free((char *)s->opt.staging_dir);
	free((char *)s->opt.sse);
	free((char *)s->opt.storage_class);
	free(s->sse_kms_header);
	free(s->storage_class_header);
	mime_free(s->mime);
	free(s->prefix);
	free(s->staging_dir);
	free(s);
}

static const struct backend_ops s3_ops = {
	.name = "s3",
	.getattr = s3_getattr,
	.opendir = s3_opendir,
	.readdir_at = s3_readdir_at,
	.releasedir = s3_releasedir,
	.open = s3_open,
	.create = s3_create,
	.read = s3_read,
	.write = s3_write,
	.flush = s3_flush,
	.fsync = s3_flush,
	.release = s3_release,
	.truncate = s3_truncate,
	.unlink = s3_unlink,
	.mkdir = s3_mkdir,
	.rmdir = s3_rmdir,
	.rename = s3_rename,
	.symlink = s3_symlink,
	.readlink = s3_readlink,
	.chmod = s3_chmod,
	.chown = s3_chown,
	.utimens = s3_utimens,
	.getxattr = s3_getxattr,
	.setxattr = s3_setxattr,
	.listxattr = s3_listxattr,
	.removexattr = s3_removexattr,
	.statfs = s3_statfs,
	.destroy = s3_destroy,
};

static int dup_opt(const char **dst, const char *src)
{
	*dst = src ? strdup(src) : NULL;
	return src && !*dst ? -ENOMEM : 0;
}

/* The Content-Type table for new objects. A missing default file only
 * turns guessing off (a minimal system); a file the user named must load. */
static int load_mime(struct s3 *s, const char *file)
{
	int rc;

	if (!file || !*file || strcmp(file, "none") == 0)
		return 0;
	rc = mime_load(file, &s->mime);
	if (rc == -ENOENT && strcmp(file, S3_DEFAULT_MIME_TYPES) == 0) {
		log_info("s3: no %s: new objects get no Content-Type", file);
		return 0;
	}
	if (rc == -ENOMEM)
		return rc;
	if (rc) {
		log_error("mime_types=%s: %s", file, strerror(-rc));
		return -EINVAL;
	}
	log_debug("s3: %zu Content-Types from %s", mime_count(s->mime), file);
	return 0;
}

int s3_new(struct aws_client *client, const struct fs_config *cfg, const struct s3_options *opt,
	   struct backend *out)
{
	struct s3 *s = calloc(1, sizeof(*s));
	int rc = -ENOMEM;

	if (!s)
		return -ENOMEM;
	s->client = client;
	s->cfg = cfg;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->list_lock, NULL);
	s->opt = *opt;
	s->opt.bucket = s->opt.prefix = s->opt.staging_dir = s->opt.sse = NULL;
	s->opt.storage_class = NULL;
	if (dup_opt(&s->opt.bucket, opt->bucket) || dup_opt(&s->opt.prefix, opt->prefix) ||
	    dup_opt(&s->opt.staging_dir, opt->staging_dir) || dup_opt(&s->opt.sse, opt->sse) ||
	    dup_opt(&s->opt.storage_class, opt->storage_class))
		goto fail;
	if (!s->opt.readahead)
		s->opt.readahead = S3_DEFAULT_READAHEAD;
	if (!s->opt.multipart_threshold)
		s->opt.multipart_threshold = S3_DEFAULT_MULTIPART_THRESHOLD;
	if (!s->opt.multipart_size)
		s->opt.multipart_size = S3_DEFAULT_MULTIPART_SIZE;
	if (s->opt.multipart_size < S3_MIN_PART)
		s->opt.multipart_size = S3_MIN_PART;
	if (!s->opt.singlepart_copy_limit || s->opt.singlepart_copy_limit > S3_MAX_SINGLE_COPY)
		s->opt.singlepart_copy_limit = S3_MAX_SINGLE_COPY;
	if (!s->opt.parallel)
		s->opt.parallel = S3_DEFAULT_PARALLEL;
	/* The prefix of the single-bucket form, with one trailing '/'. */
	{
		const char *p = opt->prefix ? opt->prefix : "";
		size_t n;

		while (*p == '/')
			p++;
		n = strlen(p);
		while (n && p[n - 1] == '/')
			n--;
		s->prefix = strndup(p, n);
		if (!s->prefix)
			goto fail;
	}
	if (s->opt.sse) {
		if (strcmp(s->opt.sse, "AES256") == 0) {
			;
		} else if (strncmp(s->opt.sse, "aws:kms", 7) == 0 &&
			   (s->opt.sse[7] == '\0' || s->opt.sse[7] == ':')) {
			if (s->opt.sse[7] == ':' && s->opt.sse[8]) {
				struct buf b;

				buf_init(&b, 4096);
				if (buf_printf(&b, "x-amz-server-side-encryption-aws-kms-key-id: %s",
					       s->opt.sse + 8))
					goto fail;
				s->sse_kms_header = buf_detach(&b);
				if (!s->sse_kms_header)
					goto fail;
			}
		} else {
			rc = -EINVAL;
			goto fail;
		}
	}
	if (s->opt.storage_class) {
		struct buf b;

		buf_init(&b, 256);
		if (buf_printf(&b, "x-amz-storage-class: %s", s->opt.storage_class))
			goto fail;
		s->storage_class_header = buf_detach(&b);
		if (!s->storage_class_header)
			goto fail;
	}
	rc = load_mime(s, opt->mime_types);
	if (rc)
		goto fail;
	rc = s3_staging_init(s);
	if (rc)
		goto fail;
	/* The worker threads start with the first transfer that needs them:
	 * threads made now would not survive the fork that daemonizes. */
	out->ops = &s3_ops;
	out->be = s;
	return 0;
fail:
	s3_destroy(s);
	return rc;
}

/*
 * s3_cache: S3 on the shared cache (cache.c), in place of a cache of its own.
 *
 * Keys are mount paths "/s3/BUCKET/KEY" ("/s3/BUCKET" for a bucket's root)
 * whatever the mount form, so one .awsfs/invalidate pattern reaches them:
 *   CACHE_ATTR "/s3/b/k"   a struct stat; validator: the object's ETag
 *                          (S3C_LISTED before it when a listing brought it:
 *                          then without metadata, so replaced by a HEAD, not
 *                          renewed; folders: S3C_DIR_TAG, never revalidated);
 *                          or negative (the name does not exist);
 *   CACHE_LIST "/s3/b/dir/" a listing that reached its end (s3_list_* format
 *                          below, validator S3C_LIST_TAG): it answers readdir,
 *                          and lookups of names it lacks with "absent"; or
 *                          (validator S3C_PAGE_TAG) the first page a
 *                          lookup's folder probe fetched (the whole folder,
 *                          or with the token of page 2): the readdir that
 *                          follows takes it once (see s3c_page_put);
 *   CACHE_LIST "/s3/"      the bucket list's freshness (the list is s3.c's);
 *   CACHE_DATA "/s3/b/k"   a small object's bytes, the ETag as validator.
 * The mount's own changes update these at once (read-your-writes), under
 * s3.list_lock so two changes in one folder never lose each other, and bump
 * the folder's generation (s3.dir_gen; s3.list_gen for a whole subtree) so
 * a listing that began before a change does not store what it saw over it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "s3_i.h"
#include "util.h"

#define S3C_ROOT "/s3"
#define S3C_KEY_MAX (S3_MAX_KEY + 600)

/* A folder's listing lives at its path and a '/': "/s3/b/logs/" then '*'
 * (CloudFront's "everything under logs/") reaches it. */
static void lkey(const char *dir, char *out, size_t size)
{
	snprintf(out, size, "%s/", dir);
}
#define S3C_LIST_UPDATE_MAX (1u << 20) /* larger listings are dropped, not edited */

/* ------------------------------------------------------------------ */
/* the listing format                                                  */
/* ------------------------------------------------------------------ */

/*
 * A listing is [u32 n][u32 off[n]][records], off[] sorted by name; a record
 * is [i64 size][i64 mtime][i64 mtime_ns][u32 mode][u32 uid][u32 gid] then
 * the name and a NUL. Fields are copied with memcpy (no alignment).
 */
#define S3L_FIXED (3 * 8 + 3 * 4)

int s3_list_add(struct buf *recs, const char *name, const struct stat *st)
{
	unsigned char rec[S3L_FIXED];
	int64_t v64[3] = { (int64_t)st->st_size, (int64_t)st->st_mtim.tv_sec,
			   (int64_t)st->st_mtim.tv_nsec };
	uint32_t v32[3] = { (uint32_t)st->st_mode, (uint32_t)st->st_uid, (uint32_t)st->st_gid };
	size_t old = recs->len;
	int rc;

	memcpy(rec, v64, sizeof(v64));
	memcpy(rec + sizeof(v64), v32, sizeof(v32));
	rc = buf_append(recs, rec, sizeof(rec));
	if (!rc)
		rc = buf_append(recs, name, strlen(name) + 1);
	if (rc)
		recs->len = old;
	return rc;
}

static const char *rec_name(const char *recs, uint32_t off)
{
	return recs + off + S3L_FIXED;
}

static int rec_cmp(const char *recs, uint32_t a, uint32_t b)
{
	int c = strcmp(rec_name(recs, a), rec_name(recs, b));
	uint32_t ma, mb;

	if (c)
		return c;
	/* One name as a folder and a file: the folder first (it wins). */
	memcpy(&ma, recs + a + 24, 4);
	memcpy(&mb, recs + b + 24, 4);
	return (int)S_ISDIR(mb) - (int)S_ISDIR(ma);
}

/* Shell sort of offsets by record (qsort has no context argument). */
static void sort_offs(const char *recs, uint32_t *off, size_t n)
{
	static const size_t gaps[] = { 1750, 701, 301, 132, 57, 23, 10, 4, 1 };

	for (size_t g = 0; g < sizeof(gaps) / sizeof(gaps[0]); g++) {
		size_t gap = gaps[g];

		for (size_t i = gap; i < n; i++) {
			uint32_t t = off[i];
			size_t j = i;

			for (; j >= gap && rec_cmp(recs, off[j - gap], t) > 0; j -= gap)
				off[j] = off[j - gap];
			off[j] = t;
		}
	}
}

int s3_list_seal(const struct buf *recs, struct buf *out)
{
	uint32_t *off = NULL, n = 0, k = 0, hdr;
	size_t cap = 0, pos = 0;
	const char *r = recs->data ? recs->data : "";
	int rc = 0;

	if (recs->len > UINT32_MAX / 2)
		return -EFBIG;
	while (pos < recs->len) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			uint32_t *g = realloc(off, ncap * sizeof(*g));

			if (!g) {
				free(off);
				return -ENOMEM;
			}
			off = g;
			cap = ncap;
		}
		off[n++] = (uint32_t)pos;
		pos += S3L_FIXED + strlen(r + pos + S3L_FIXED) + 1;
	}
	if (n > 1)
		sort_offs(r, off, n);
	/* Drop repeated names (a folder and a file of one name: the folder). */
	for (uint32_t i = 0; i < n; i++) {
		if (k && strcmp(rec_name(r, off[k - 1]), rec_name(r, off[i])) == 0)
			continue;
		off[k++] = off[i];
	}
	hdr = (uint32_t)(4 + 4 * (size_t)k);
	for (uint32_t i = 0; i < k; i++)
		off[i] += hdr;
	rc = buf_append(out, &k, 4);
	if (!rc && k)
		rc = buf_append(out, off, 4 * (size_t)k);
	if (!rc && recs->len)
		rc = buf_append(out, recs->data, recs->len);
	free(off);
	return rc;
}

/* Check a sealed listing's frame. n set; 0 or -EINVAL. */
static int list_frame(const char *blob, size_t len, uint32_t *n)
{
	if (len < 4)
		return -EINVAL;
	memcpy(n, blob, 4);
	if ((size_t)*n > (len - 4) / 4 || (len && blob[len - 1] != '\0' && *n))
		return -EINVAL;
	return 0;
}

static int rec_at(const char *blob, size_t len, uint32_t i, const char **name, uint32_t *roff)
{
	uint32_t o;

	memcpy(&o, blob + 4 + 4 * (size_t)i, 4);
	if ((size_t)o + S3L_FIXED >= len)
		return -EINVAL;
	*roff = o;
	*name = blob + o + S3L_FIXED;
	return 0;
}

static void rec_stat(const struct fs_config *cfg, const char *blob, uint32_t o, struct stat *st)
{
	int64_t v64[3];
	uint32_t v32[3];

	memcpy(v64, blob + o, sizeof(v64));
	memcpy(v32, blob + o + sizeof(v64), sizeof(v32));
	if (S_ISDIR(v32[0]))
		fs_dir_stat(cfg, st);
	else
		fs_file_stat(cfg, st, (off_t)v64[0], 0666);
	st->st_mode = (mode_t)v32[0];
	st->st_uid = (uid_t)v32[1];
	st->st_gid = (gid_t)v32[2];
	st->st_mtim.tv_sec = (time_t)v64[1];
	st->st_mtim.tv_nsec = (long)v64[2];
	st->st_ctim = st->st_atim = st->st_mtim;
}

int s3_list_find(const struct fs_config *cfg, const void *blob, size_t len, const char *name,
		 struct stat *st)
{
	const char *b = blob;
	uint32_t n, lo = 0, hi, o;
	const char *nm;

	if (list_frame(b, len, &n))
		return -EINVAL;
	hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c;

		if (rec_at(b, len, mid, &nm, &o))
			return -EINVAL;
		c = strcmp(nm, name);
		if (c == 0) {
			rec_stat(cfg, b, o, st);
			return 1;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

int s3_list_decode(const struct fs_config *cfg, const void *blob, size_t len,
		   struct s3_ent **out, size_t *count)
{
	const char *b = blob;
	struct s3_ent *v;
	uint32_t n, o;
	const char *nm;

	*out = NULL;
	*count = 0;
	if (list_frame(b, len, &n))
		return -EINVAL;
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		if (rec_at(b, len, i, &nm, &o) || !(v[i].name = strdup(nm))) {
			s3_ents_free(v, i);
			return -ENOMEM;
		}
		rec_stat(cfg, b, o, &v[i].st);
	}
	*out = v;
	*count = n;
	return 0;
}

void s3_ents_free(struct s3_ent *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].name);
		free(v[i].etag);
	}
	free(v);
}

/* ------------------------------------------------------------------ */
/* paths                                                               */
/* ------------------------------------------------------------------ */

char *s3c_path(const struct s3_loc *loc)
{
	struct buf b;

	buf_init(&b, S3_MAX_KEY + 512);
	if (buf_printf(&b, "%s/%s%s%s", S3C_ROOT, loc->bucket, *loc->key ? "/" : "", loc->key)) {
		buf_free(&b);
		return NULL;
	}
	return buf_detach(&b);
}

char *s3c_child(const char *dir, const char *name)
{
	struct buf b;

	buf_init(&b, S3_MAX_KEY + 512);
	if (buf_printf(&b, "%s/%s", dir, name)) {
		buf_free(&b);
		return NULL;
	}
	return buf_detach(&b);
}

/* The folder holding cpath and cpath's name in it. Caller frees *dir. */
static int split_parent(const char *cpath, char **dir, const char **name)
{
	const char *slash = strrchr(cpath, '/');

	if (!slash || slash == cpath)
		return -EINVAL;
	*dir = strndup(cpath, (size_t)(slash - cpath));
	*name = slash + 1;
	return *dir ? 0 : -ENOMEM;
}

/* ------------------------------------------------------------------ */
/* lookups                                                             */
/* ------------------------------------------------------------------ */

static int page_lookup(const void *blob, size_t len, const char *name);

int s3c_lookup(struct s3 *s, const char *cpath, struct stat *st, char *etag, size_t etaglen)
{
	struct cache *c = s->cfg->cache;
	struct cache_hit hit;
	enum cache_state cs;
	const char *name;
	char *dir, key[S3C_KEY_MAX];
	int rc = 1;

	if (etaglen)
		etag[0] = '\0';
	if (!c)
		return 1;
	cs = cache_get(c, AWS_SVC_S3, CACHE_ATTR, cpath, &hit);
	if (cs != CACHE_MISS && !hit.negative && hit.len == sizeof(*st)) {
		memcpy(st, hit.data, sizeof(*st));
		if (cs == CACHE_FRESH) {
			rc = 0;
		} else if (hit.etag[0] == S3C_LISTED) {
			/* A listing's attributes lack the object's metadata: a
			 * 304 could not renew them, a plain HEAD replaces them. */
			snprintf(etag, etaglen, "%s", hit.etag + 1);
		} else if (strcmp(hit.etag, S3C_DIR_TAG) != 0 && hit.etag[0]) {
			snprintf(etag, etaglen, "%s", hit.etag);
			rc = 2;
		}
	} else if (cs == CACHE_FRESH && hit.negative) {
		rc = -ENOENT;
	}
	free(hit.data);
	if (rc != 1)
		return rc;
	/* A complete listing of the folder answers too. */
	if (split_parent(cpath, &dir, &name))
		return 1;
	lkey(dir, key, sizeof(key));
	cs = cache_get(c, AWS_SVC_S3, CACHE_LIST, key, &hit);
	if (cs == CACHE_FRESH && hit.data && strcmp(hit.etag, S3C_LIST_TAG) == 0) {
		int found = s3_list_find(s->cfg, hit.data, hit.len, name, st);

		rc = found == 1 ? 0 : found == 0 ? -ENOENT : 1;
	} else if (cs == CACHE_FRESH && strcmp(hit.etag, S3C_PAGE_TAG) == 0) {
		rc = page_lookup(hit.data, hit.len, name);
	}
	free(hit.data);
	free(dir);
	return rc;
}

void s3c_put_attr(struct s3 *s, const char *cpath, const struct stat *st, const char *etag,
		  int64_t ttl_ms)
{
	if (s->cfg->cache)
		cache_put(s->cfg->cache, AWS_SVC_S3, CACHE_ATTR, cpath, st, sizeof(*st),
			  S_ISDIR(st->st_mode) ? S3C_DIR_TAG : etag, 0, ttl_ms, 0);
}

void s3c_put_absent(struct s3 *s, const char *cpath)
{
	if (s->cfg->cache)
		cache_put(s->cfg->cache, AWS_SVC_S3, CACHE_ATTR, cpath, NULL, 0, NULL, 0, -1,
			  CACHE_NEGATIVE);
}

void s3c_renewed(struct s3 *s, const char *cpath, int64_t ttl_ms)
{
	if (!s->cfg->cache)
		return;
	cache_renew(s->cfg->cache, AWS_SVC_S3, CACHE_ATTR, cpath, ttl_ms);
	/* The bytes are the same version: fresh again without another request. */
	cache_renew(s->cfg->cache, AWS_SVC_S3, CACHE_DATA, cpath, ttl_ms);
}

void s3c_changed(struct s3 *s, const char *cpath)
{
	if (!s->cfg->cache)
		return;
	/* Every layer forgets the old version, the kernel's too (the hook). */
	cache_invalidate(s->cfg->cache, cpath); /* (the folder's listing too: its size) */
}

/* ------------------------------------------------------------------ */
/* listings                                                            */
/* ------------------------------------------------------------------ */

static size_t gen_slot(const struct s3 *s, const char *dir)
{
	uint64_t h = 1469598103934665603ull;

	for (const unsigned char *p = (const unsigned char *)dir; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return (size_t)(h % (sizeof(s->dir_gen) / sizeof(s->dir_gen[0])));
}

/* Both only grow: the sum changes when either does. list_lock held. */
static uint64_t gen_locked(const struct s3 *s, const char *dir)
{
	return s->list_gen + s->dir_gen[gen_slot(s, dir)];
}

uint64_t s3c_list_gen(struct s3 *s, const char *dir)
{
	uint64_t g;

	pthread_mutex_lock(&s->list_lock);
	g = gen_locked(s, dir);
	pthread_mutex_unlock(&s->list_lock);
	return g;
}

int s3c_list_get(struct s3 *s, const char *dir, struct s3_ent **ents, size_t *n)
{
	struct cache_hit hit;
	char key[S3C_KEY_MAX];
	int rc = 1;

	*ents = NULL;
	*n = 0;
	if (!s->cfg->cache)
		return 1;
	lkey(dir, key, sizeof(key));
	if (cache_get(s->cfg->cache, AWS_SVC_S3, CACHE_LIST, key, &hit) == CACHE_FRESH &&
	    hit.data && strcmp(hit.etag, S3C_LIST_TAG) == 0)
		rc = s3_list_decode(s->cfg, hit.data, hit.len, ents, n) == 0 ? 0 : 1;
	free(hit.data);
	return rc;
}

void s3c_list_page(struct s3 *s, const char *dir, uint64_t gen, const struct s3_ent *ents,
		   size_t n)
{
	if (!s->cfg->cache)
		return;
	/* Under list_lock: no change of the mount's can slip between the
	 * check and the puts. */
	pthread_mutex_lock(&s->list_lock);
	if (gen_locked(s, dir) != gen)
		n = 0; /* the mount changed the folder since: its entries stand */
	for (size_t i = 0; i < n; i++) {
		char *p = s3c_child(dir, ents[i].name);
		char tag[130];

		snprintf(tag, sizeof(tag), "%c%s", S3C_LISTED, ents[i].etag ? ents[i].etag : "");
		if (p)
			s3c_put_attr(s, p, &ents[i].st, ents[i].etag ? tag : NULL, -1);
		free(p);
	}
	pthread_mutex_unlock(&s->list_lock);
}

void s3c_list_done(struct s3 *s, const char *dir, uint64_t gen, const struct buf *recs)
{
	struct buf sealed;
	char key[S3C_KEY_MAX];

	if (!s->cfg->cache)
		return;
	buf_init(&sealed, recs->max + 4 * recs->max / S3L_FIXED + 8);
	pthread_mutex_lock(&s->list_lock);
	lkey(dir, key, sizeof(key));
	if (gen_locked(s, dir) == gen && s3_list_seal(recs, &sealed) == 0) {
		/* (a first page kept there is replaced without the changed hook:
		 * nothing the kernel holds came from it alone) */
		cache_forget(s->cfg->cache, AWS_SVC_S3, CACHE_LIST, key);
		cache_put(s->cfg->cache, AWS_SVC_S3, CACHE_LIST, key, sealed.data, sealed.len,
			  S3C_LIST_TAG, 0, -1, 0);
	}
	pthread_mutex_unlock(&s->list_lock);
	buf_free(&sealed);
}

/*
 * A probed first page is [u64 gen][u64 skipped_long][u64 skipped_dots]
 * [u32 toklen][token][records], a record being s3_list_add's then the ETag
 * and a NUL ("" for a folder), in the page's order (sorted, each name once).
 * toklen 0: the page is the whole folder. It is stored at the listing's own
 * key, so every invalidation, eviction and TTL that reaches a complete
 * listing reaches it too; but it answers no lookup but "absent" (the
 * children's attributes reach the cache only when a readdir takes the page,
 * as for any listing: until then a lookup's HEAD sees their metadata).
 */
#define S3C_PAGE_FIXED (3 * 8 + 4)
#define S3C_TOKEN_MAX 4096 /* S3's tokens are a few hundred bytes */

struct page_view {
	uint64_t gen, skipped_long, skipped_dots;
	const char *token;      /* not NUL-terminated */
	uint32_t toklen;
	const char *recs, *end;
};

/* Check a page's frame. 0 or -EINVAL. */
static int page_view(const void *blob, size_t len, struct page_view *v)
{
	const char *b = blob;
	uint64_t h[3];

	if (!b || len < S3C_PAGE_FIXED)
		return -EINVAL;
	memcpy(h, b, sizeof(h));
	memcpy(&v->toklen, b + sizeof(h), 4);
	if (v->toklen > S3C_TOKEN_MAX || v->toklen > len - S3C_PAGE_FIXED)
		return -EINVAL;
	v->gen = h[0];
	v->skipped_long = h[1];
	v->skipped_dots = h[2];
	v->token = b + S3C_PAGE_FIXED;
	v->recs = v->token + v->toklen;
	v->end = b + len;
	return 0;
}

/* The record at *p: name, etag (NUL-terminated, inside the blob) and its
 * offset for rec_stat; *p moves past it. 0, 1 at the end, -EINVAL. */
static int page_next(const struct page_view *v, const char **p, const char **name,
		     const char **etag, const char **rec)
{
	const char *q = *p, *nul;

	if (q == v->end)
		return 1;
	if ((size_t)(v->end - q) < S3L_FIXED + 2)
		return -EINVAL;
	*rec = q;
	*name = q + S3L_FIXED;
	nul = memchr(*name, '\0', (size_t)(v->end - *name));
	if (!nul || nul + 1 >= v->end)
		return -EINVAL;
	*etag = nul + 1;
	nul = memchr(*etag, '\0', (size_t)(v->end - *etag));
	if (!nul)
		return -EINVAL;
	*p = nul + 1;
	return 0;
}

/* A probed page that is the whole folder and lacks name: -ENOENT; else 1. */
static int page_lookup(const void *blob, size_t len, const char *name)
{
	struct page_view v;
	const char *p, *nm, *et, *rec;
	int rc;

	if (page_view(blob, len, &v) || v.toklen)
		return 1;
	for (p = v.recs; (rc = page_next(&v, &p, &nm, &et, &rec)) == 0;)
		if (strcmp(nm, name) == 0)
			return 1;
	return rc == 1 ? -ENOENT : 1;
}

void s3c_page_put(struct s3 *s, const char *dir, uint64_t gen, const struct s3_ent *ents,
		  size_t n, const char *token, size_t skipped_long, size_t skipped_dots)
{
	size_t cap = s3c_list_cap(s), toklen = token ? strlen(token) : 0;
	uint64_t hdr64[3] = { gen, skipped_long, skipped_dots };
	uint32_t tl = (uint32_t)toklen;
	struct buf blob;
	char key[S3C_KEY_MAX];
	int rc;

	if (!cap || toklen > S3C_TOKEN_MAX)
		return;
	buf_init(&blob, cap);
	rc = buf_append(&blob, hdr64, sizeof(hdr64));
	if (!rc)
		rc = buf_append(&blob, &tl, sizeof(tl));
	if (!rc && toklen)
		rc = buf_append(&blob, token, toklen);
	for (size_t i = 0; i < n && !rc; i++) {
		const char *et = ents[i].etag ? ents[i].etag : "";

		rc = s3_list_add(&blob, ents[i].name, &ents[i].st);
		if (!rc)
			rc = buf_append(&blob, et, strlen(et) + 1);
	}
	lkey(dir, key, sizeof(key));
	pthread_mutex_lock(&s->list_lock);
	if (!rc && gen_locked(s, dir) == gen) {
		struct cache_hit hit;

		/* Never over a complete listing that is still fresh. */
		if (cache_get(s->cfg->cache, AWS_SVC_S3, CACHE_LIST, key, &hit) != CACHE_FRESH ||
		    strcmp(hit.etag, S3C_LIST_TAG) != 0) {
			cache_forget(s->cfg->cache, AWS_SVC_S3, CACHE_LIST, key);
			cache_put(s->cfg->cache, AWS_SVC_S3, CACHE_LIST, key, blob.data, blob.len,
				  S3C_PAGE_TAG, 0, -1, 0);
		}
		free(hit.data);
	}
	pthread_mutex_unlock(&s->list_lock);
	buf_free(&blob);
}

/* The page's entries, ETags included. 0 or -EINVAL / -ENOMEM. */
static int page_decode(const struct s3 *s, const struct page_view *v, struct s3_ent **out,
		       size_t *count)
{
	const char *p, *nm, *et, *rec;
	struct s3_ent *e = NULL;
	size_t n = 0, cap = 0;
	int rc;

	for (p = v->recs; (rc = page_next(v, &p, &nm, &et, &rec)) == 0;) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct s3_ent *g = realloc(e, ncap * sizeof(*g));

			if (!g) {
				rc = -ENOMEM;
				break;
			}
			e = g;
			cap = ncap;
		}
		e[n].name = strdup(nm);
		e[n].etag = *et ? strdup(et) : NULL;
		if (!e[n].name || (*et && !e[n].etag)) {
			free(e[n].name);
			free(e[n].etag);
			rc = -ENOMEM;
			break;
		}
		rec_stat(s->cfg, rec, 0, &e[n].st);
		n++;
	}
	if (rc != 1) {
		s3_ents_free(e, n);
		return rc ? rc : -EINVAL;
	}
	*out = e;
	*count = n;
	return 0;
}

int s3c_page_take(struct s3 *s, const char *dir, uint64_t *gen, struct s3_ent **ents,
		  size_t *n, char **token, size_t *skipped_long, size_t *skipped_dots)
{
	struct cache_hit hit;
	char key[S3C_KEY_MAX];
	enum cache_state cs;
	struct page_view v;
	int rc = 1;

	*ents = NULL;
	*n = 0;
	*token = NULL;
	if (!s->cfg->cache)
		return 1;
	lkey(dir, key, sizeof(key));
	pthread_mutex_lock(&s->list_lock);
	cs = cache_get(s->cfg->cache, AWS_SVC_S3, CACHE_LIST, key, &hit);
	if (cs != CACHE_MISS && strcmp(hit.etag, S3C_PAGE_TAG) == 0) {
		/* Taken once, used or not: the readdir that follows owns it. */
		cache_forget(s->cfg->cache, AWS_SVC_S3, CACHE_LIST, key);
		/* A change of the mount's in the folder since the probe makes
		 * the page old. */
		if (cs == CACHE_FRESH && page_view(hit.data, hit.len, &v) == 0 &&
		    v.gen == gen_locked(s, dir))
			rc = 0;
		if (rc == 0 && v.toklen && !(*token = strndup(v.token, v.toklen)))
			rc = -ENOMEM;
		if (rc == 0)
			rc = page_decode(s, &v, ents, n);
		if (rc == 0) {
			*gen = v.gen;
			*skipped_long = (size_t)v.skipped_long;
			*skipped_dots = (size_t)v.skipped_dots;
		}
	}
	pthread_mutex_unlock(&s->list_lock);
	free(hit.data);
	if (rc) {
		free(*token);
		*token = NULL;
		rc = 1;
	}
	return rc;
}

size_t s3c_list_cap(struct s3 *s)
{
	/* A listing may take a quarter of the cache; beyond that it is not
	 * kept whole (lookups still find its entries' attributes). */
	return s->cfg->cache ? (size_t)(cache_mem_cap(s->cfg->cache) / 4) : 0;
}

/*
 * Under list_lock: change name in the folder's cached listing (st NULL:
 * remove it). A listing too large to edit cheaply, or an expired one, is
 * dropped instead.
 */
static void list_edit_locked(struct s3 *s, const char *dir, const char *name,
			     const struct stat *st)
{
	struct cache *c = s->cfg->cache;
	struct cache_hit hit;
	char key[S3C_KEY_MAX];
	enum cache_state cs;
	struct s3_ent *v = NULL;
	struct buf recs, sealed;
	size_t n = 0;
	bool put = false, done = false;
	int rc = -1;

	lkey(dir, key, sizeof(key));
	cs = cache_get(c, AWS_SVC_S3, CACHE_LIST, key, &hit);
	if (cs == CACHE_MISS)
		return;
	buf_init(&recs, 2 * S3C_LIST_UPDATE_MAX);
	buf_init(&sealed, 3 * S3C_LIST_UPDATE_MAX);
	if (cs == CACHE_FRESH && hit.data && hit.len <= S3C_LIST_UPDATE_MAX &&
	    strcmp(hit.etag, S3C_LIST_TAG) == 0 && s3_list_decode(s->cfg, hit.data, hit.len, &v, &n) == 0) {
		rc = 0;
		for (size_t i = 0; i < n && !rc; i++) {
			if (strcmp(v[i].name, name) == 0) {
				done = true;
				if (st)
					rc = s3_list_add(&recs, name, st);
			} else {
				rc = s3_list_add(&recs, v[i].name, &v[i].st);
			}
		}
		if (!rc && st && !done)
			rc = s3_list_add(&recs, name, st);
		if (!rc)
			rc = s3_list_seal(&recs, &sealed);
		put = rc == 0;
	}
	/* Edited, not fetched: it expires when the listing would have. */
	if (put && hit.ttl_left_ms)
		rc = cache_put(c, AWS_SVC_S3, CACHE_LIST, key, sealed.data, sealed.len,
			       S3C_LIST_TAG, 0, (int64_t)hit.ttl_left_ms, 0);
	if (rc)
		cache_forget(c, AWS_SVC_S3, CACHE_LIST, key);
	s3_ents_free(v, n);
	buf_free(&recs);
	buf_free(&sealed);
	free(hit.data);
}

/* ------------------------------------------------------------------ */
/* the mount's own changes                                             */
/* ------------------------------------------------------------------ */

static void note(struct s3 *s, const struct s3_loc *loc, const struct stat *st)
{
	struct cache *c = s->cfg->cache;
	const char *name;
	char *cpath, *dir = NULL;

	if (!c || !loc->bucket || !*loc->key || !(cpath = s3c_path(loc)))
		return;
	pthread_mutex_lock(&s->list_lock);
	for (int k = 0; k < CACHE_NKINDS; k++)
		cache_forget(c, AWS_SVC_S3, (enum cache_kind)k, cpath);
	if (st)
		s3c_put_attr(s, cpath, st, NULL, -1);
	else
		s3c_put_absent(s, cpath);
	if (split_parent(cpath, &dir, &name) == 0) {
		s->dir_gen[gen_slot(s, dir)]++;
		list_edit_locked(s, dir, name, st);
	} else {
		s->list_gen++;
	}
	pthread_mutex_unlock(&s->list_lock);
	free(dir);
	free(cpath);
}

void s3_note_object(struct s3 *s, const struct s3_loc *loc, const struct stat *st)
{
	note(s, loc, st);
}

void s3_note_gone(struct s3 *s, const struct s3_loc *loc)
{
	note(s, loc, NULL);
}

void s3_note_tree(struct s3 *s, const struct s3_loc *loc)
{
	struct buf b;
	char *cpath;

	if (!s->cfg->cache || !loc->bucket || !(cpath = s3c_path(loc)))
		return;
	pthread_mutex_lock(&s->list_lock);
	s->list_gen++;
	pthread_mutex_unlock(&s->list_lock);
	buf_init(&b, S3_MAX_KEY + 512);
	if (buf_printf(&b, "%s/*", cpath) == 0)
		cache_invalidate(s->cfg->cache, b.data);
	for (int k = 0; k < CACHE_NKINDS; k++)
		cache_forget(s->cfg->cache, AWS_SVC_S3, (enum cache_kind)k, cpath);
	buf_free(&b);
	free(cpath);
}

void s3_note_empty_dir(struct s3 *s, const struct s3_loc *loc)
{
	struct buf recs, sealed;
	char *cpath, key[S3C_KEY_MAX];

	if (!s->cfg->cache || !loc->bucket || !(cpath = s3c_path(loc)))
		return;
	lkey(cpath, key, sizeof(key));
	buf_init(&recs, 16);
	buf_init(&sealed, 16);
	pthread_mutex_lock(&s->list_lock);
	cache_forget(s->cfg->cache, AWS_SVC_S3, CACHE_LIST, key);
	if (s3_list_seal(&recs, &sealed) == 0)
		cache_put(s->cfg->cache, AWS_SVC_S3, CACHE_LIST, key, sealed.data, sealed.len,
			  S3C_LIST_TAG, 0, -1, 0);
	pthread_mutex_unlock(&s->list_lock);
	buf_free(&recs);
	buf_free(&sealed);
	free(cpath);
}

/* ------------------------------------------------------------------ */
/* the bucket list                                                     */
/* ------------------------------------------------------------------ */

bool s3c_buckets_fresh(struct s3 *s)
{
	struct cache_hit hit;
	bool fresh;

	if (!s->cfg->cache)
		return false;
	fresh = cache_get(s->cfg->cache, AWS_SVC_S3, CACHE_LIST, S3C_ROOT "/", &hit) == CACHE_FRESH;
	free(hit.data);
	return fresh;
}

void s3c_buckets_listed(struct s3 *s, bool fresh)
{
	if (!s->cfg->cache)
		return;
	if (fresh)
		cache_put(s->cfg->cache, AWS_SVC_S3, CACHE_LIST, S3C_ROOT "/", "1", 1, S3C_LIST_TAG,
			  0, -1, 0);
	else
		cache_forget(s->cfg->cache, AWS_SVC_S3, CACHE_LIST, S3C_ROOT "/");
}

/* ------------------------------------------------------------------ */
/* object data                                                         */
/* ------------------------------------------------------------------ */

size_t s3c_data_max(struct s3 *s)
{
	struct cache *c = s->cfg->cache;
	size_t max;

	if (!c)
		return 0;
	max = cache_has_disk(c) ? S3C_DATA_MAX_DISK : S3C_DATA_MAX;
	/* An object that would push most of the memory cache out is read
	 * straight through instead. */
	if (!cache_has_disk(c) && max > cache_mem_cap(c) / 8)
		max = (size_t)(cache_mem_cap(c) / 8);
	return max;
}

/* "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT" (English names, whatever
 * the locale). */
static void ims_header(time_t t, char *out, size_t outlen)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(out, outlen, "If-Modified-Since: %s, %02d %s %04d %02d:%02d:%02d GMT",
		 days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
		 tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int s3c_cond_header(const char *etag, time_t last_modified, char *out, size_t outlen)
{
	if (etag && *etag) {
		if (strlen(etag) + 16 > outlen || strpbrk(etag, "\r\n"))
			return 0;
		snprintf(out, outlen, "If-None-Match: %s", etag);
		return 1;
	}
	if (last_modified > 0) {
		ims_header(last_modified, out, outlen);
		return 1;
	}
	return 0;
}

/* The object's total size from a 206's Content-Range ("bytes 0-9/10"). */
static int total_size(const struct aws_response *resp, size_t got, uint64_t *total)
{
	const char *cr = http_response_header(&resp->http, "content-range");
	const char *slash = cr ? strrchr(cr, '/') : NULL;
	long long n;

	if (resp->status == 200 || !cr) {
		*total = got;
		return 0;
	}
	if (!slash || util_parse_ll(slash + 1, 0, (long long)S3_MAX_OBJECT, &n))
		return -EIO;
	*total = (uint64_t)n;
	return 0;
}

/* Do the cached attributes name the same version (ETag) as etag? */
static bool attr_agrees(struct cache *c, const char *cpath, const char *etag)
{
	struct cache_hit a;
	bool ok = true;

	const char *t;

	if (cache_get(c, AWS_SVC_S3, CACHE_ATTR, cpath, &a) == CACHE_FRESH && !a.negative &&
	    a.etag[0] && etag[0]) {
		t = a.etag[0] == S3C_LISTED ? a.etag + 1 : a.etag;
		ok = strcmp(t, S3C_DIR_TAG) == 0 || strcmp(t, etag) == 0;
	}
	free(a.data);
	return ok;
}

int s3c_object_get(struct s3 *s, const struct s3_loc *loc, const char *path, size_t max,
		   char **data, size_t *len)
{
	struct cache *c = s->cfg->cache;
	struct cache_hit hit;
	enum cache_state cs;
	char range[80], cond[256];
	const char *hdr[2] = { range, cond };
	struct aws_request req = {
		.svc = AWS_SVC_S3,
		.op = "GetObject",
		.method = "GET",
		.bucket = loc->bucket,
		.key = loc->key,
		.headers = hdr,
		.nheaders = 1,
		.path = path,
		.max_response = max + 1,
		.quiet_errors = true,
	};
	struct aws_response resp;
	struct s3_meta m;
	char *cpath = s3c_path(loc);
	uint64_t total = 0;
	int64_t ttl;
	int rc;

	*data = NULL;
	*len = 0;
	if (!c || !cpath) {
		free(cpath);
		return -ENOMEM;
	}
	cs = cache_get(c, AWS_SVC_S3, CACHE_DATA, cpath, &hit);
	if (cs == CACHE_FRESH && !attr_agrees(c, cpath, hit.etag)) {
		/* A listing saw another version since: these bytes are old. */
		s3c_changed(s, cpath);
		free(hit.data);
		cs = cache_get(c, AWS_SVC_S3, CACHE_DATA, cpath, &hit);
	}
	if (cs == CACHE_FRESH && !hit.negative) {
		*data = hit.data;
		*len = hit.len;
		free(cpath);
		return 0;
	}
	snprintf(range, sizeof(range), "Range: bytes=0-%zu", max - 1);
	if (cs == CACHE_STALE && s3c_cond_header(hit.etag, hit.last_modified, cond, sizeof(cond)))
		req.nheaders = 2;
	rc = aws_call(s->client, &req, &resp);
	if (rc == -EIO && strcmp(resp.code, "ResponseTooLarge") == 0)
		rc = -EFBIG; /* a server that ignored Range: read it the streaming way */
	if (rc && resp.status == 416) {
		rc = 0; /* empty now: nothing to keep */
		goto out;
	}
	if (rc == 0 && resp.status == 304 && cs == CACHE_STALE) {
		/* Unchanged: renewed, no bytes moved. */
		const char *cc = http_response_header(&resp.http, "cache-control");

		s3c_renewed(s, cpath, cache_ttl_from_header(c, cc));
		*data = hit.data;
		*len = hit.len;
		hit.data = NULL;
		goto out;
	}
	if (rc == 0 && resp.status == 304)
		rc = -EIO; /* a 304 we did not ask for */
	if (rc == 0)
		rc = total_size(&resp, resp.http.body.len, &total);
	if (rc == 0 && total > resp.http.body.len)
		rc = -EFBIG; /* it grew: read it the streaming way */
	if (rc == 0 || rc == -EFBIG || rc == -ENOENT) {
		const char *etag = rc == -ENOENT ? NULL : http_response_header(&resp.http, "etag");

		/* A different version than the one cached: every layer forgets it. */
		if (cs == CACHE_STALE && (!etag || strcmp(etag, hit.etag) != 0))
			s3c_changed(s, cpath);
	}
	if (rc == 0) {
		const char *cc = http_response_header(&resp.http, "cache-control");
		const char *etag = http_response_header(&resp.http, "etag");
		time_t lm = 0;
		const char *lms = http_response_header(&resp.http, "last-modified");

		if (lms)
			util_parse_http_date(lms, &lm);
		ttl = cache_ttl_from_header(c, cc);
		*len = resp.http.body.len;
		*data = malloc(*len ? *len : 1);
		if (!*data) {
			rc = -ENOMEM;
			goto out;
		}
		memcpy(*data, resp.http.body.data ? resp.http.body.data : "", *len);
		cache_put(c, AWS_SVC_S3, CACHE_DATA, cpath, *data, *len, etag, lm, ttl, 0);
		/* Its attributes as this answer tells them. */
		if (s3_meta_from_headers(&resp.http, &m) == 0) {
			struct stat st;
			bool is_dir = false;

			m.size = (off_t)total;
			s3_stat_from_meta(s, &m, is_dir, &st);
			s3c_put_attr(s, cpath, &st, etag, ttl);
			s3_meta_free(&m);
		}
	} else if (rc != -EFBIG && rc != -ENOENT) {
		log_error("s3 GetObject %s: %s: %s (HTTP %ld, request id %s)", path,
			  resp.code[0] ? resp.code : "error", resp.message, resp.status,
			  resp.request_id[0] ? resp.request_id : "-");
	}
out:
	aws_response_free(&resp);
	free(hit.data);
	free(cpath);
	return rc;
}

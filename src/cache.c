/*
 * cache: TTL + LRU, revalidation, invalidation, memory and disk bounds.
 * See cache.h.
 *
 * One hash table of entries keyed by (kind, path), one LRU list through
 * them, one mutex. An entry's bytes live in memory, or (CACHE_DATA with a
 * cache_dir) in a file named by the SHA-256 of its key, so no path and no
 * content ever shows in a file name. Counters feed .awsfs/stats.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cache.h"
#include "log.h"
#include "stats.h"
#include "util.h"

#define CACHE_INITIAL_BUCKETS 1024u

struct entry {
	struct entry *hnext;          /* hash chain */
	struct entry *prev, *next;    /* LRU: head is most recent */
	enum aws_service svc;
	enum cache_kind kind;
	char *path;
	unsigned char *data;          /* NULL when on disk or negative */
	size_t len;
	bool negative;
	bool on_disk;
	char etag[128];
	time_t last_modified;
	uint64_t expires_ms;
	uint64_t ttl_ms;
};

/* What cache_mem counts of an entry must be what it costs: the record and
 * the allocator's headers of its three blocks, not just the bytes. */
_Static_assert(sizeof(struct entry) + 3 * 16 <= CACHE_ENTRY_OVERHEAD,
	       "CACHE_ENTRY_OVERHEAD undercounts an entry");

struct svc_counters {
	uint64_t hits, misses, revalidations, evictions;
};

struct cache {
	pthread_mutex_t lock;
	struct cache_opts opts;
	char *dir;
	struct cache_clock clock;
	cache_changed_fn changed;
	void *changed_arg;
	/* protected by lock: */
	struct entry **buckets;
	size_t nbuckets;
	size_t nentries;
	struct entry *lru_head, *lru_tail;
	uint64_t mem, disk;
	struct svc_counters count[AWS_SVC_COUNT];
};

static uint64_t real_now(void *arg)
{
	(void)arg;
	return util_mono_ms();
}

static uint64_t hash_key(enum cache_kind kind, const char *path)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)kind;

	for (const unsigned char *p = (const unsigned char *)path; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return h;
}

static uint64_t entry_cost(const struct entry *e)
{
	return CACHE_ENTRY_OVERHEAD + strlen(e->path) + (e->on_disk ? 0 : e->len);
}

/* The disk file of an entry: <dir>/<sha256 of kind and path>. */
static void disk_name(const struct cache *c, const struct entry *e, char *out, size_t outlen)
{
	char key[SHA256_HEX_LEN + 1];
	struct buf b;

	buf_init(&b, 1u << 16);
	if (buf_printf(&b, "%d:%s", (int)e->kind, e->path) == 0)
		util_sha256_hex(b.data, b.len, key);
	else
		key[0] = '\0';
	buf_free(&b);
	snprintf(out, outlen, "%s/%s", c->dir, key);
}

static void lru_unlink(struct cache *c, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->lru_head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->lru_tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push_front(struct cache *c, struct entry *e)
{
	e->prev = NULL;
	e->next = c->lru_head;
	if (c->lru_head)
		c->lru_head->prev = e;
	c->lru_head = e;
	if (!c->lru_tail)
		c->lru_tail = e;
}

static struct entry **slot_of(struct cache *c, enum cache_kind kind, const char *path)
{
	struct entry **pp = &c->buckets[hash_key(kind, path) % c->nbuckets];

	while (*pp && ((*pp)->kind != kind || strcmp((*pp)->path, path) != 0))
		pp = &(*pp)->hnext;
	return pp;
}

/* Unlink e from everything and free it (removing its disk file). */
static void entry_remove(struct cache *c, struct entry *e)
{
	struct entry **pp = slot_of(c, e->kind, e->path);

	if (*pp == e)
		*pp = e->hnext;
	lru_unlink(c, e);
	c->mem -= entry_cost(e);
	if (e->on_disk) {
		char name[4096];

		disk_name(c, e, name, sizeof(name));
		unlink(name);
		c->disk -= e->len;
	}
	c->nentries--;
	free(e->data);
	free(e->path);
	free(e);
}

static void grow_table(struct cache *c)
{
	size_t n = c->nbuckets * 2;
	struct entry **nb = calloc(n, sizeof(*nb));

	if (!nb)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct entry *e = c->buckets[i], *next;

		for (; e; e = next) {
			size_t slot = hash_key(e->kind, e->path) % n;

			next = e->hnext;
			e->hnext = nb[slot];
			nb[slot] = e;
		}
	}
	free(c->buckets);
	c->buckets = nb;
	c->nbuckets = n;
}

/* Evict from the LRU tail until memory and disk are within their caps. */
static void enforce_caps(struct cache *c, const struct entry *keep)
{
	struct entry *e = c->lru_tail, *prev;

	for (; e && (c->mem > c->opts.mem_bytes ||
		     (c->opts.disk_bytes && c->disk > c->opts.disk_bytes)); e = prev) {
		prev = e->prev;
		if (e == keep)
			continue;
		if (c->mem <= c->opts.mem_bytes && !e->on_disk)
			continue; /* only the disk is over: evict disk entries */
		c->count[e->svc].evictions++;
		entry_remove(c, e);
	}
}

int cache_new(const struct cache_opts *opts, const struct cache_clock *clock,
	      struct cache **out)
{
	struct cache *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->opts = *opts;
	if (c->opts.max_ttl_ms < c->opts.min_ttl_ms)
		c->opts.max_ttl_ms = c->opts.min_ttl_ms;
	c->clock = clock ? *clock : (struct cache_clock){ real_now, NULL };
	c->nbuckets = CACHE_INITIAL_BUCKETS;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (!c->buckets)
		goto nomem;
	if (opts->dir) {
		struct stat st;

		c->dir = strdup(opts->dir);
		if (!c->dir)
			goto nomem;
		if (mkdir(c->dir, 0700) != 0 && errno != EEXIST) {
			int err = errno;

			log_error("cache_dir %s: %s", c->dir, strerror(err));
			cache_free(c);
			return -err;
		}
		/* The folder may hold other users' data: only ours, only us. */
		if (stat(c->dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
		    chmod(c->dir, 0700) != 0) {
			log_error("cache_dir %s: not a folder of ours", c->dir);
			cache_free(c);
			return -EACCES;
		}
	}
	c->opts.dir = c->dir;
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
nomem:
	cache_free(c);
	return -ENOMEM;
}

void cache_free(struct cache *c)
{
	if (!c)
		return;
	if (c->buckets) {
		while (c->lru_head)
			entry_remove(c, c->lru_head);
		pthread_mutex_destroy(&c->lock);
	}
	free(c->buckets);
	free(c->dir);
	free(c);
}

void cache_set_changed_hook(struct cache *c, cache_changed_fn fn, void *arg)
{
	c->changed = fn;
	c->changed_arg = arg;
}

uint64_t cache_service_ttl(const struct cache *c, enum aws_service svc)
{
	int64_t t = c->opts.service_ttl_ms[svc];
	uint64_t ttl = t >= 0 ? (uint64_t)t : c->opts.default_ttl_ms;

	if (ttl < c->opts.min_ttl_ms)
		ttl = c->opts.min_ttl_ms;
	if (ttl > c->opts.max_ttl_ms)
		ttl = c->opts.max_ttl_ms;
	return ttl;
}

static uint64_t clamp_ttl(const struct cache *c, enum aws_service svc, int64_t ttl_ms,
			  unsigned flags)
{
	uint64_t ttl;

	if (flags & CACHE_NEGATIVE)
		return c->opts.negative_ttl_ms;
	if (ttl_ms < 0)
		return cache_service_ttl(c, svc);
	ttl = (uint64_t)ttl_ms;
	if (ttl < c->opts.min_ttl_ms)
		ttl = c->opts.min_ttl_ms;
	if (ttl > c->opts.max_ttl_ms)
		ttl = c->opts.max_ttl_ms;
	return ttl;
}

int64_t cache_ttl_from_header(const struct cache *c, const char *cc)
{
	const char *p;
	long long age;

	if (!cc || !*cc)
		return -1;
	if (strcasestr(cc, "no-cache") || strcasestr(cc, "no-store") || strcasestr(cc, "private"))
		return (int64_t)c->opts.min_ttl_ms;
	/* s-maxage is the shared caches' own; CloudFront prefers it too. */
	p = strcasestr(cc, "s-maxage=");
	if (p)
		p += strlen("s-maxage=");
	else if ((p = strcasestr(cc, "max-age=")))
		p += strlen("max-age=");
	if (!p)
		return -1;
	{
		char num[24];
		size_t n = strspn(p, "0123456789");

		if (n == 0)
			return -1;
		if (n > 12) /* beyond any max_ttl: the cap */
			return (int64_t)c->opts.max_ttl_ms;
		memcpy(num, p, n);
		num[n] = '\0';
		if (util_parse_ll(num, 0, (long long)(INT64_MAX / 1000), &age))
			return -1;
	}
	return (int64_t)clamp_ttl(c, AWS_SVC_S3, age * 1000, 0);
}

/* Read an entry's disk file. 0, or -errno (the entry should be dropped). */
static int disk_read(const struct cache *c, const struct entry *e, void **data)
{
	char name[4096];
	char *text = NULL;
	size_t len = 0;
	int rc;

	disk_name(c, e, name, sizeof(name));
	rc = util_read_file(name, e->len, &text, &len);
	if (rc == 0 && len != e->len) {
		free(text);
		rc = -EIO;
	}
	if (rc == 0)
		*data = text;
	return rc;
}

enum cache_state cache_get(struct cache *c, enum aws_service svc, enum cache_kind kind,
			   const char *path, struct cache_hit *out)
{
	enum cache_state st = CACHE_MISS;
	struct entry *e;
	uint64_t now;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&c->lock);
	now = c->clock.now_ms(c->clock.arg);
	e = *slot_of(c, kind, path);
	if (!e)
		goto miss;
	if (now >= e->expires_ms && !e->etag[0] && !e->last_modified) {
		entry_remove(c, e); /* expired, nothing to revalidate with */
		goto miss;
	}
	st = now < e->expires_ms ? CACHE_FRESH : CACHE_STALE;
	out->negative = e->negative;
	out->len = e->len;
	snprintf(out->etag, sizeof(out->etag), "%s", e->etag);
	out->last_modified = e->last_modified;
	out->ttl_left_ms = st == CACHE_FRESH ? e->expires_ms - now : 0;
	if (e->on_disk) {
		if (disk_read(c, e, &out->data) != 0) {
			entry_remove(c, e);
			st = CACHE_MISS;
			memset(out, 0, sizeof(*out));
			goto miss;
		}
	} else if (e->data || e->len) {
		out->data = malloc(e->len ? e->len : 1);
		if (!out->data) {
			memset(out, 0, sizeof(*out));
			st = CACHE_MISS;
			goto miss;
		}
		memcpy(out->data, e->data, e->len);
	}
	lru_unlink(c, e);
	lru_push_front(c, e);
	if (st == CACHE_FRESH)
		c->count[svc].hits++;
	pthread_mutex_unlock(&c->lock);
	return st;
miss:
	c->count[svc].misses++;
	pthread_mutex_unlock(&c->lock);
	return st;
}

/* Write data to e's disk file, keeping the free-space floor. */
static int disk_write(struct cache *c, struct entry *e, const void *data, size_t len)
{
	char name[4096], tmp[4200];
	struct statvfs vfs;
	ssize_t n;
	size_t done = 0;
	int fd, rc = 0;

	if (statvfs(c->dir, &vfs) == 0 &&
	    (uint64_t)vfs.f_bavail * vfs.f_frsize < c->opts.disk_free_floor + len)
		return -ENOSPC;
	disk_name(c, e, name, sizeof(name));
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	while (done < len) {
		n = write(fd, (const char *)data + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		done += (size_t)n;
	}
	if (close(fd) != 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, name) != 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

int cache_put(struct cache *c, enum aws_service svc, enum cache_kind kind, const char *path,
	      const void *data, size_t len, const char *etag, time_t last_modified,
	      int64_t ttl_ms, unsigned flags)
{
	bool negative = flags & CACHE_NEGATIVE;
	bool to_disk = c->dir && kind == CACHE_DATA && !negative && !(flags & CACHE_NO_DISK);
	struct entry *e, *old;
	char *changed = NULL;
	uint64_t ttl = clamp_ttl(c, svc, ttl_ms, flags), now;

	if (ttl == 0)
		return 0; /* min_ttl=0 and no-cache: nothing to keep */
	if (!to_disk && CACHE_ENTRY_OVERHEAD + strlen(path) + len > c->opts.mem_bytes)
		return -EFBIG;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->path = strdup(path);
	if (!e->path || (!negative && !to_disk && !(e->data = malloc(len ? len : 1)))) {
		free(e->path);
		free(e);
		return -ENOMEM;
	}
	if (e->data && len)
		memcpy(e->data, data, len);
	e->svc = svc;
	e->kind = kind;
	e->len = negative ? 0 : len;
	e->negative = negative;
	snprintf(e->etag, sizeof(e->etag), "%s", etag ? etag : "");
	e->last_modified = last_modified;
	e->ttl_ms = ttl;

	pthread_mutex_lock(&c->lock);
	now = c->clock.now_ms(c->clock.arg);
	e->expires_ms = now + ttl;
	old = *slot_of(c, kind, path);
	if (old) {
		/* New content under a known name: the kernel must forget the old. */
		if (old->negative != negative || strcmp(old->etag, e->etag) != 0 ||
		    !e->etag[0])
			changed = strdup(path);
		entry_remove(c, old);
	}
	if (to_disk) {
		int rc = disk_write(c, e, data, len);

		if (rc) {
			/* No room on disk: keep it in memory if it fits there. */
			e->data = malloc(len ? len : 1);
			if (!e->data || CACHE_ENTRY_OVERHEAD + strlen(path) + len > c->opts.mem_bytes) {
				pthread_mutex_unlock(&c->lock);
				free(e->data);
				free(e->path);
				free(e);
				free(changed);
				return rc == -ENOSPC ? 0 : rc;
			}
			memcpy(e->data, data, len);
		} else {
			e->on_disk = true;
			c->disk += len;
		}
	}
	*slot_of(c, kind, path) = e;
	lru_push_front(c, e);
	c->mem += entry_cost(e);
	c->nentries++;
	if (c->nentries > c->nbuckets)
		grow_table(c);
	enforce_caps(c, e);
	pthread_mutex_unlock(&c->lock);
	if (changed && c->changed)
		c->changed(c->changed_arg, changed);
	free(changed);
	return 0;
}

int cache_renew(struct cache *c, enum aws_service svc, enum cache_kind kind, const char *path,
		int64_t ttl_ms)
{
	struct entry *e;
	int rc = -ENOENT;

	pthread_mutex_lock(&c->lock);
	e = *slot_of(c, kind, path);
	if (e) {
		if (ttl_ms >= 0)
			e->ttl_ms = clamp_ttl(c, svc, ttl_ms, 0);
		e->expires_ms = c->clock.now_ms(c->clock.arg) + e->ttl_ms;
		c->count[svc].revalidations++;
		c->count[svc].hits++;
		rc = 0;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

static void drop_path_locked(struct cache *c, const char *path)
{
	for (int k = 0; k < CACHE_NKINDS; k++) {
		struct entry *e = *slot_of(c, (enum cache_kind)k, path);

		if (e)
			entry_remove(c, e);
	}
}

void cache_drop(struct cache *c, const char *path)
{
	char *parent = strdup(path), *slash;

	pthread_mutex_lock(&c->lock);
	drop_path_locked(c, path);
	if (parent && (slash = strrchr(parent, '/'))) {
		*(slash == parent ? slash + 1 : slash) = '\0';
		drop_path_locked(c, parent);
	}
	pthread_mutex_unlock(&c->lock);
	free(parent);
}

void cache_forget(struct cache *c, enum aws_service svc, enum cache_kind kind, const char *path)
{
	struct entry *e;

	(void)svc;
	pthread_mutex_lock(&c->lock);
	e = *slot_of(c, kind, path);
	if (e)
		entry_remove(c, e);
	pthread_mutex_unlock(&c->lock);
}

uint64_t cache_mem_cap(const struct cache *c)
{
	return c->opts.mem_bytes;
}

bool cache_has_disk(const struct cache *c)
{
	return c->dir != NULL;
}

long cache_invalidate(struct cache *c, const char *pattern)
{
	size_t plen = strlen(pattern), n = 0, cap = 0;
	const char *star = strchr(pattern, '*');
	bool prefix = star != NULL;
	char **paths = NULL;
	long dropped = 0;

	if (plen == 0 || pattern[0] != '/')
		return -EINVAL;
	if (star && star != pattern + plen - 1)
		return -EINVAL; /* CloudFront: '*' only at the end */
	if (prefix)
		plen--;

	pthread_mutex_lock(&c->lock);
	for (struct entry *e = c->lru_head, *next; e; e = next) {
		next = e->next;
		if (prefix ? strncmp(e->path, pattern, plen) != 0 : strcmp(e->path, pattern) != 0)
			continue;
		/* Remember each distinct path for the kernel (bounded: the hook
		 * is advice, the drop is what matters). */
		if (c->changed && n < 4096) {
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				char **g = realloc(paths, ncap * sizeof(*g));

				if (g) {
					paths = g;
					cap = ncap;
				}
			}
			if (n < cap && (paths[n] = strdup(e->path)))
				n++;
		}
		entry_remove(c, e);
		dropped++;
	}
	if (!prefix) {
		/* The folder's listing holds what it knew of the path (an S3
		 * object's size): it goes too, as "/a/b/" or "/a/b". */
		char *parent = strdup(pattern), *slash;

		if (parent && (slash = strrchr(parent, '/')) && slash != parent) {
			struct entry *e;

			slash[1] = '\0';
			if ((e = *slot_of(c, CACHE_LIST, parent))) {
				entry_remove(c, e);
				dropped++;
			}
			slash[0] = '\0';
			if ((e = *slot_of(c, CACHE_LIST, parent))) {
				entry_remove(c, e);
				dropped++;
			}
		}
		free(parent);
	}
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < n; i++) {
		c->changed(c->changed_arg, paths[i]);
		free(paths[i]);
	}
	free(paths);
	return dropped;
}

void cache_usage(struct cache *c, uint64_t *mem, uint64_t *disk, size_t *entries)
{
	pthread_mutex_lock(&c->lock);
	if (mem)
		*mem = c->mem;
	if (disk)
		*disk = c->disk;
	if (entries)
		*entries = c->nentries;
	pthread_mutex_unlock(&c->lock);
}

int cache_stats_json(struct cache *c, struct buf *out)
{
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = buf_putc(out, '{');
	for (int i = 0; i < AWS_SVC_COUNT && !rc; i++) {
		const struct svc_counters *k = &c->count[i];

		if (i == AWS_SVC_STS)
			continue;
		rc = buf_printf(out,
				"\"%s\": {\"hits\": %llu, \"misses\": %llu, \"revalidations\": %llu, "
				"\"evictions\": %llu}, ",
				aws_service_name((enum aws_service)i), (unsigned long long)k->hits,
				(unsigned long long)k->misses, (unsigned long long)k->revalidations,
				(unsigned long long)k->evictions);
	}
	if (!rc)
		rc = buf_printf(out, "\"bytes_mem\": %llu, \"bytes_disk\": %llu, \"entries\": %zu}",
				(unsigned long long)c->mem, (unsigned long long)c->disk,
				c->nentries);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/*
 * cache: the CloudFront-like cache under every backend.
 *
 * Entries are keyed by (kind, path) where path is the mount path
 * ("/s3/bucket/key"); each has a TTL chosen within [min_ttl, max_ttl] from
 * the service's TTL or the object's own Cache-Control, an ETag or
 * Last-Modified for revalidation, and may be negative (the name does not
 * exist). Memory is bounded (LRU over cache_mem bytes); object data may
 * also live on disk under cache_dir (LRU over cache_size bytes, files 0600
 * in a 0700 folder, never for entries marked CACHE_NO_DISK such as
 * SecureString values). Invalidation takes CloudFront's patterns. Lookups
 * copy out, so nothing returned is shared with another thread.
 * Thread-safe; the clock is injectable for tests.
 */
#ifndef AWSFS_CACHE_H
#define AWSFS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "aws.h"

enum cache_kind {
	CACHE_ATTR = 0, /* a struct stat or a backend's attribute record */
	CACHE_LIST,     /* a folder listing */
	CACHE_DATA,     /* object bytes */
	CACHE_VALUE,    /* a value (parameter, item, attributes.json) */
	CACHE_NKINDS
};

/* Bytes counted against cache_mem per entry beyond its path and data. */
#define CACHE_ENTRY_OVERHEAD 288u

/* cache_put flags */
#define CACHE_NEGATIVE 0x1 /* the name does not exist */
#define CACHE_NO_DISK 0x2  /* never write this entry to the disk cache */

struct cache_opts {
	uint64_t min_ttl_ms;
	uint64_t default_ttl_ms;
	uint64_t max_ttl_ms;
	int64_t service_ttl_ms[AWS_SVC_COUNT]; /* -1: default_ttl */
	uint64_t negative_ttl_ms;              /* for CACHE_NEGATIVE entries */
	uint64_t mem_bytes;                    /* cap on memory held by entries */
	const char *dir;                       /* disk cache folder or NULL */
	uint64_t disk_bytes;                   /* cap on the disk cache */
	uint64_t disk_free_floor;              /* keep this much free on its disk */
};

struct cache_clock {
	uint64_t (*now_ms)(void *arg); /* monotonic */
	void *arg;
};

/* Called (without the cache lock) when an entry is dropped because its
 * content changed or was invalidated, so the kernel's caches can be
 * dropped too. path is the mount path. */
typedef void (*cache_changed_fn)(void *arg, const char *path);

struct cache;

/* Make a cache. clock NULL: CLOCK_MONOTONIC. Creates dir (0700) if set.
 * 0 or -errno. */
int cache_new(const struct cache_opts *opts, const struct cache_clock *clock,
	      struct cache **out);
void cache_free(struct cache *c);
void cache_set_changed_hook(struct cache *c, cache_changed_fn fn, void *arg);

enum cache_state {
	CACHE_MISS = 0, /* nothing usable: fetch */
	CACHE_FRESH,    /* within its TTL: use it */
	CACHE_STALE,    /* expired, with a validator: revalidate, then renew or put */
};

struct cache_hit {
	void *data;        /* malloc'ed copy (caller frees), NULL for negatives */
	size_t len;
	bool negative;
	char etag[128];    /* "" when none */
	time_t last_modified; /* 0 when none */
	uint64_t ttl_left_ms; /* FRESH: how long it stays so */
};

/*
 * Look (svc, kind, path) up. FRESH and STALE fill *out (caller frees
 * out->data); an expired entry without a validator counts as a MISS.
 * Counts a hit, a miss or (STALE) nothing until renew/put says which.
 */
enum cache_state cache_get(struct cache *c, enum aws_service svc, enum cache_kind kind,
			   const char *path, struct cache_hit *out);

/*
 * Store a copy of data. ttl_ms < 0: the service's TTL; the TTL is clamped
 * to [min_ttl, max_ttl] (negatives use negative_ttl). etag/last_modified
 * may be NULL/0. Replacing an entry whose ETag differs calls the changed
 * hook. Returns 0, -EFBIG when the entry alone exceeds the memory cap (it is
 * then not cached), or -ENOMEM.
 */
int cache_put(struct cache *c, enum aws_service svc, enum cache_kind kind, const char *path,
	      const void *data, size_t len, const char *etag, time_t last_modified,
	      int64_t ttl_ms, unsigned flags);

/* A revalidation answered 304: the entry is fresh again for ttl_ms (< 0:
 * as before). Counts a revalidation. 0 or -ENOENT. */
int cache_renew(struct cache *c, enum aws_service svc, enum cache_kind kind, const char *path,
		int64_t ttl_ms);

/* Drop every kind of entry for path (what the mount itself changed), and
 * the listing of its parent folder. */
void cache_drop(struct cache *c, const char *path);

/* Drop the one entry (svc, kind, path), without calling the changed hook:
 * the mount changed it itself and says what it is now. */
void cache_forget(struct cache *c, enum aws_service svc, enum cache_kind kind, const char *path);

/* The memory cap (cache_mem) and whether a disk layer (cache_dir) is in use. */
uint64_t cache_mem_cap(const struct cache *c);
bool cache_has_disk(const struct cache *c);

/*
 * CloudFront-style invalidation: "/s3/b/logs/x.txt" drops that path; a
 * pattern ending in '*' drops everything whose path starts with the text
 * before the '*', across '/' ("/s3/b/logs/" then '*' drops the folder's
 * whole subtree, "/" then '*' everything). An exact path also drops the
 * CACHE_LIST of its folder ("/s3/b/logs/" and "/s3/b/logs"), which holds
 * what the listing said of it. A '*' elsewhere is -EINVAL. Returns
 * the number of entries dropped (>= 0) or -EINVAL. Calls the changed hook
 * for each path dropped.
 */
long cache_invalidate(struct cache *c, const char *pattern);

/*
 * The TTL (ms) for an object with this Cache-Control header, as CloudFront
 * does: max-age (or s-maxage) clamped to [min_ttl, max_ttl]; no-cache,
 * no-store or private give min_ttl; none gives -1 (the service default).
 */
int64_t cache_ttl_from_header(const struct cache *c, const char *cache_control);

/* TTL in force for a service (after clamping). */
uint64_t cache_service_ttl(const struct cache *c, enum aws_service svc);

/* The counters per service as a JSON object ({"s3": {"hits": ...}, ...,
 * "bytes_mem": N, "bytes_disk": N, "entries": N}) appended to out. */
int cache_stats_json(struct cache *c, struct buf *out);

/* Bytes held in memory and on disk, and the number of entries. */
void cache_usage(struct cache *c, uint64_t *mem, uint64_t *disk, size_t *entries);

#endif

/*
 * s3_snap: what the last listings of a few folders said, for a few seconds.
 *
 * A listing fills a folder's snapshot page by page; the lookups that follow
 * (libfuse asks getattr for each readdirplus entry, ls -l asks lstat) are
 * answered from it without a request, and a fresh listing that reached its
 * end also answers "absent". What the mount writes updates it at once
 * (read-your-writes). Bounded: at most max_entries entries over every
 * folder (a longer listing keeps only its latest pages) and S3_SNAP_DIRS
 * folders; the oldest goes first. The cache issue replaces this module.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "s3_i.h"
#include "util.h"

#define S3_SNAP_DIRS 64

struct snap_ent {
	char *name;
	struct stat st;
	uint64_t t_ms;    /* when learnt */
	bool gone;        /* known absent (the mount removed it) */
};

struct snap_dir {
	char *dir;
	uint64_t gen;      /* listing generation */
	uint64_t list_ms;  /* when the listing began; 0: none */
	uint64_t used_ms;  /* for eviction */
	bool complete;     /* the listing reached its end */
	bool dropped;      /* entries of this listing were dropped for room */
	struct snap_ent *ents;
	size_t n, cap;
	size_t *index;     /* open addressing, entry index + 1; 0 empty */
	size_t nindex;     /* power of two, >= 2n */
};

struct s3_snap {
	pthread_mutex_t lock;
	uint64_t ttl_ms;
	size_t max_entries;
	size_t total;
	uint64_t next_gen;
	struct snap_dir *dirs[S3_SNAP_DIRS];
	size_t ndirs;
};

static uint64_t hash_name(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

static void dir_clear(struct s3_snap *s, struct snap_dir *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->ents[i].name);
	s->total -= d->n;
	free(d->ents);
	free(d->index);
	d->ents = NULL;
	d->index = NULL;
	d->n = d->cap = d->nindex = 0;
	d->complete = false;
}

static void dir_free(struct s3_snap *s, struct snap_dir *d)
{
	dir_clear(s, d);
	free(d->dir);
	free(d);
}

static void remove_dir_at(struct s3_snap *s, size_t i)
{
	dir_free(s, s->dirs[i]);
	s->dirs[i] = s->dirs[--s->ndirs];
}

struct s3_snap *s3_snap_new(uint64_t ttl_ms, size_t max_entries)
{
	struct s3_snap *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	s->ttl_ms = ttl_ms;
	s->max_entries = max_entries;
	return s;
}

void s3_snap_clear(struct s3_snap *s)
{
	pthread_mutex_lock(&s->lock);
	while (s->ndirs)
		remove_dir_at(s, 0);
	pthread_mutex_unlock(&s->lock);
}

void s3_snap_free(struct s3_snap *s)
{
	if (!s)
		return;
	s3_snap_clear(s);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static struct snap_dir *find_dir(struct s3_snap *s, const char *dir)
{
	for (size_t i = 0; i < s->ndirs; i++)
		if (strcmp(s->dirs[i]->dir, dir) == 0)
			return s->dirs[i];
	return NULL;
}

/* Find or make dir's record; NULL when out of memory. */
static struct snap_dir *get_dir(struct s3_snap *s, const char *dir, uint64_t now)
{
	struct snap_dir *d = find_dir(s, dir);

	if (d)
		return d;
	if (s->ndirs == S3_SNAP_DIRS) {
		size_t oldest = 0;

		for (size_t i = 1; i < s->ndirs; i++)
			if (s->dirs[i]->used_ms < s->dirs[oldest]->used_ms)
				oldest = i;
		remove_dir_at(s, oldest);
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->dir = strdup(dir);
	if (!d->dir) {
		free(d);
		return NULL;
	}
	d->used_ms = now;
	s->dirs[s->ndirs++] = d;
	return d;
}

static struct snap_ent *find_ent(struct snap_dir *d, const char *name)
{
	size_t mask, i;

	if (!d->nindex)
		return NULL;
	mask = d->nindex - 1;
	for (i = hash_name(name) & mask; d->index[i]; i = (i + 1) & mask) {
		struct snap_ent *e = &d->ents[d->index[i] - 1];

		if (strcmp(e->name, name) == 0)
			return e;
	}
	return NULL;
}

static int reindex(struct snap_dir *d, size_t want)
{
	size_t n = 16, mask;
	size_t *idx;

	while (n < want * 2)
		n *= 2;
	idx = calloc(n, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	mask = n - 1;
	for (size_t k = 0; k < d->n; k++) {
		size_t i = hash_name(d->ents[k].name) & mask;

		while (idx[i])
			i = (i + 1) & mask;
		idx[i] = k + 1;
	}
	free(d->index);
	d->index = idx;
	d->nindex = n;
	return 0;
}

/* Make room for one more entry in the whole snapshot, never dropping keep. */
static void make_room(struct s3_snap *s, struct snap_dir *keep)
{
	while (s->total >= s->max_entries) {
		size_t victim = s->ndirs;

		for (size_t i = 0; i < s->ndirs; i++) {
			if (s->dirs[i] == keep || !s->dirs[i]->n)
				continue;
			if (victim == s->ndirs || s->dirs[i]->used_ms < s->dirs[victim]->used_ms)
				victim = i;
		}
		if (victim == s->ndirs) {
			/* keep alone is too long: it keeps its latest pages only. */
			dir_clear(s, keep);
			keep->dropped = true;
			return;
		}
		remove_dir_at(s, victim);
	}
}

/* Set (or replace) one entry. */
static void put_ent(struct s3_snap *s, struct snap_dir *d, const char *name,
		    const struct stat *st, bool gone, uint64_t now)
{
	struct snap_ent *e = find_ent(d, name);

	if (!e) {
		make_room(s, d);
		if (d->n == d->cap) {
			size_t cap = d->cap ? d->cap * 2 : 64;
			struct snap_ent *grown = realloc(d->ents, cap * sizeof(*grown));

			if (!grown)
				return;
			d->ents = grown;
			d->cap = cap;
		}
		if ((d->n + 1) * 2 > d->nindex && reindex(d, d->n + 1))
			return;
		e = &d->ents[d->n];
		e->name = strdup(name);
		if (!e->name)
			return;
		{
			size_t mask = d->nindex - 1, i = hash_name(name) & mask;

			while (d->index[i])
				i = (i + 1) & mask;
			d->index[i] = d->n + 1;
		}
		d->n++;
		s->total++;
	}
	if (st)
		e->st = *st;
	e->gone = gone;
	e->t_ms = now;
}

enum s3_snap_answer s3_snap_get(struct s3_snap *s, const char *dir, const char *name,
				struct stat *st)
{
	enum s3_snap_answer a = S3_SNAP_UNKNOWN;
	uint64_t now = util_mono_ms();
	struct snap_dir *d;
	struct snap_ent *e;

	pthread_mutex_lock(&s->lock);
	d = find_dir(s, dir);
	if (d) {
		e = find_ent(d, name);
		if (e && now - e->t_ms < s->ttl_ms) {
			a = e->gone ? S3_SNAP_ABSENT : S3_SNAP_FOUND;
			if (!e->gone)
				*st = e->st;
		} else if (!e && d->complete && d->list_ms && now - d->list_ms < s->ttl_ms) {
			a = S3_SNAP_ABSENT;
		}
		d->used_ms = now;
	}
	pthread_mutex_unlock(&s->lock);
	return a;
}

uint64_t s3_snap_begin(struct s3_snap *s, const char *dir)
{
	uint64_t now = util_mono_ms(), gen;
	struct snap_dir *d;

	pthread_mutex_lock(&s->lock);
	gen = ++s->next_gen;
	d = get_dir(s, dir, now);
	if (d) {
		/* Entries the mount itself changed since stay until the pages
		 * replace them; the rest is refilled by the listing. */
		dir_clear(s, d);
		d->dropped = false;
		d->gen = gen;
		d->list_ms = now;
		d->used_ms = now;
	}
	pthread_mutex_unlock(&s->lock);
	return gen;
}

void s3_snap_add_page(struct s3_snap *s, const char *dir, uint64_t gen, const char *const *names,
		      const struct stat *sts, size_t n, bool last)
{
	uint64_t now = util_mono_ms();
	struct snap_dir *d;

	pthread_mutex_lock(&s->lock);
	d = find_dir(s, dir);
	if (d && d->gen == gen) {
		for (size_t i = 0; i < n; i++)
			put_ent(s, d, names[i], &sts[i], false, now);
		d->used_ms = now;
		/* Complete only if nothing was dropped on the way. */
		if (last)
			d->complete = !d->dropped;
	}
	pthread_mutex_unlock(&s->lock);
}

void s3_snap_put(struct s3_snap *s, const char *dir, const char *name, const struct stat *st)
{
	uint64_t now = util_mono_ms();
	struct snap_dir *d;

	pthread_mutex_lock(&s->lock);
	d = get_dir(s, dir, now);
	if (d)
		put_ent(s, d, name, st, false, now);
	pthread_mutex_unlock(&s->lock);
}

void s3_snap_remove(struct s3_snap *s, const char *dir, const char *name)
{
	uint64_t now = util_mono_ms();
	struct snap_dir *d;

	pthread_mutex_lock(&s->lock);
	d = get_dir(s, dir, now);
	if (d)
		put_ent(s, d, name, NULL, true, now);
	pthread_mutex_unlock(&s->lock);
}

void s3_snap_drop(struct s3_snap *s, const char *dir, bool recursive)
{
	size_t len = strlen(dir);

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->ndirs;) {
		const char *d = s->dirs[i]->dir;

		if (strcmp(d, dir) == 0 || (recursive && strncmp(d, dir, len) == 0))
			remove_dir_at(s, i);
		else
			i++;
	}
	pthread_mutex_unlock(&s->lock);
}

/*
 * fuzz_walk: walk a backend the way ls -lR, cat and a write do, checking
 * every readdir entry is a name the kernel takes. See fuzz.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Longest name a readdir may hand the kernel: past FUSE_NAME_MAX (linux
 * fs/fuse/readdir.c) the whole listing fails with EIO, as it does for a
 * name with a '/'. (Past NAME_MAX, 255, the entry shows but cannot be
 * opened: ENAMETOOLONG, the user's to see.) */
#define FUSE_NAME_MAX 1024
#define WALK_MAX_VISIT 48 /* entries looked at per input */
#define WALK_MAX_DEPTH 4
#define WALK_READ_MAX (16u << 10)

struct walk {
	const struct fuzz_walk_opts *o;
	const struct backend *be;
	size_t visited;
	char first_file[4096];
};

struct names {
	char **v;
	size_t n;
};

static int collect(void *sink, const char *name, const struct stat *st)
{
	struct names *ns = sink;
	char **grown;

	FUZZ_CHECK(name && *name);
	FUZZ_CHECK(strcmp(name, ".") != 0 && strcmp(name, "..") != 0);
	FUZZ_CHECK(!strchr(name, '/'));
	FUZZ_CHECK(strlen(name) <= FUSE_NAME_MAX);
	if (st)
		FUZZ_CHECK(S_ISDIR(st->st_mode) || S_ISREG(st->st_mode) || S_ISLNK(st->st_mode));
	if (ns->n >= WALK_MAX_VISIT)
		return 1;
	grown = realloc(ns->v, (ns->n + 1) * sizeof(*grown));
	if (!grown)
		abort();
	ns->v = grown;
	ns->v[ns->n] = strdup(name);
	if (!ns->v[ns->n])
		abort();
	ns->n++;
	return 0;
}

/* A kernel buffer that takes a few entries per readdir_at call, so a
 * listing is resumed from its offsets as getdents does. */
#define WALK_ENTRIES_PER_CALL 5
#define WALK_MAX_CALLS 64

struct at_sink {
	struct names *ns;
	int taken;      /* entries taken in this call */
	off_t last;     /* offset after the last entry taken */
	bool done;      /* enough names */
};

static int fill_at(void *sink, const char *name, const struct stat *st, off_t next)
{
	struct at_sink *a = sink;

	if (a->taken == WALK_ENTRIES_PER_CALL)
		return 1; /* buffer full: this entry comes again */
	FUZZ_CHECK(next > a->last); /* offsets only grow */
	if (collect(a->ns, name, st)) {
		a->done = true;
		return 1;
	}
	a->last = next;
	a->taken++;
	return 0;
}

/* The listing of dir through opendir/readdir_at/releasedir, or readdir. */
static int list_dir(const struct backend *be, const char *dir, struct names *ns)
{
	const struct backend_ops *ops = be->ops;
	struct at_sink a = { .ns = ns };
	void *dh = NULL;
	int rc;

	if (!ops->opendir || !ops->readdir_at)
		return ops->readdir ? ops->readdir(be->be, dir, collect, ns) : -ENOTDIR;
	rc = ops->opendir(be->be, dir, &dh);
	FUZZ_CHECK(rc <= 0);
	if (rc)
		return rc;
	for (int call = 0; call < WALK_MAX_CALLS && !a.done; call++) {
		a.taken = 0;
		rc = ops->readdir_at(be->be, dh, a.last, fill_at, &a);
		FUZZ_CHECK(rc <= 0);
		if (rc || a.taken < WALK_ENTRIES_PER_CALL)
			break;
	}
	if (ops->releasedir)
		ops->releasedir(be->be, dh);
	return rc;
}

static void read_file(struct walk *w, const char *path)
{
	const struct backend_ops *ops = w->be->ops;
	void *fh = NULL;
	char buf[4096];
	int rc;

	if (!ops->open)
		return;
	rc = ops->open(w->be->be, path, O_RDONLY, &fh);
	FUZZ_CHECK(rc <= 0);
	if (rc)
		return;
	for (off_t off = 0; off < (off_t)WALK_READ_MAX;) {
		int n = ops->read(w->be->be, fh, buf, sizeof(buf), off);

		FUZZ_CHECK(n <= (int)sizeof(buf));
		if (n <= 0)
			break;
		off += n;
	}
	if (ops->flush)
		FUZZ_CHECK(ops->flush(w->be->be, fh) <= 0);
	if (ops->release)
		FUZZ_CHECK(ops->release(w->be->be, fh) <= 0);
}

static void visit(struct walk *w, const char *dir, unsigned depth)
{
	const struct backend_ops *ops = w->be->ops;
	struct names ns = { NULL, 0 };
	int rc = list_dir(w->be, dir, &ns);

	FUZZ_CHECK(rc <= 0);
	for (size_t i = 0; i < ns.n; i++) {
		char path[4096];
		struct stat st;

		if (*dir)
			snprintf(path, sizeof(path), "%s/%s", dir, ns.v[i]);
		else
			snprintf(path, sizeof(path), "%s", ns.v[i]);
		if (w->visited++ < WALK_MAX_VISIT) {
			rc = ops->getattr(w->be->be, path, &st);
			FUZZ_CHECK(rc <= 0);
			if (rc == 0 && S_ISDIR(st.st_mode) && depth < WALK_MAX_DEPTH) {
				visit(w, path, depth + 1);
			} else if (rc == 0 && S_ISREG(st.st_mode)) {
				char list[1024], val[1024];

				if (!w->first_file[0])
					snprintf(w->first_file, sizeof(w->first_file), "%s", path);
				if (ops->listxattr)
					FUZZ_CHECK(ops->listxattr(w->be->be, path, list, sizeof(list)) <=
						   (int)sizeof(list));
				if (ops->getxattr && w->o->xattr)
					FUZZ_CHECK(ops->getxattr(w->be->be, path, w->o->xattr, val,
								 sizeof(val)) <= (int)sizeof(val));
				read_file(w, path);
			}
		}
		free(ns.v[i]);
	}
	free(ns.v);
}

static void write_file(struct walk *w, const char *path)
{
	const struct backend_ops *ops = w->be->ops;
	void *fh = NULL;
	int rc;

	if (!ops->open || !ops->write)
		return;
	rc = ops->open(w->be->be, path, O_WRONLY | O_TRUNC, &fh);
	if (rc == -ENOENT && ops->create)
		rc = ops->create(w->be->be, path, 0644, O_WRONLY | O_CREAT | O_TRUNC, &fh);
	FUZZ_CHECK(rc <= 0);
	if (rc)
		return;
	if (ops->truncate)
		FUZZ_CHECK(ops->truncate(w->be->be, path, 0, fh) <= 0);
	rc = ops->write(w->be->be, fh, w->o->data, w->o->data_len, 0);
	FUZZ_CHECK(rc < 0 || rc == (int)w->o->data_len);
	if (ops->flush)
		FUZZ_CHECK(ops->flush(w->be->be, fh) <= 0);
	if (ops->release)
		FUZZ_CHECK(ops->release(w->be->be, fh) <= 0);
}

void fuzz_walk(const struct backend *be, const struct fuzz_walk_opts *o)
{
	struct walk w = { .o = o, .be = be, .visited = 0 };

	visit(&w, o->root ? o->root : "", 0);
	if (o->data && o->write_path)
		write_file(&w, o->write_path);
	else if (o->data && w.first_file[0])
		write_file(&w, w.first_file);
}

static uint64_t fake_now(void *arg)
{
	return 1000000;
}

void fuzz_env_init(struct fuzz_env *env, unsigned max_attempts)
{
	struct cache_opts copts = { .default_ttl_ms = 60000, .max_ttl_ms = 86400000,
				    .negative_ttl_ms = 5000, .mem_bytes = 8u << 20 };
	struct cache_clock clock = { fake_now, NULL };

	memset(env, 0, sizeof(*env));
	for (int i = 0; i < AWS_SVC_COUNT; i++)
		copts.service_ttl_ms[i] = -1;
	env->cfg.umask = 022;
	env->cfg.mount_time = 1;
	FUZZ_CHECK(cache_new(&copts, &clock, &env->cfg.cache) == 0);
	env->client = fuzz_client_new(max_attempts);
}

void fuzz_env_free(struct fuzz_env *env)
{
	cache_free(env->cfg.cache);
	fuzz_client_free(env->client);
	memset(env, 0, sizeof(*env));
}

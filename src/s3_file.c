/*
 * s3_file: open files. Every handle on one path shares one struct s3_file
 * (staging file, size, pending metadata), so a second open sees what the
 * first wrote; reads go to the staging file once it holds the content,
 * else to the handle's reader (ranged GETs). The last handle to close
 * uploads what is still staged. Also truncate(2) and statfs(2).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "s3_i.h"

/* ------------------------------------------------------------------ */
/* open files                                                          */
/* ------------------------------------------------------------------ */

/* The open file of path, with a reference, or NULL. Caller holds s->lock. */
struct s3_file *s3_file_find_locked(struct s3 *s, const char *path)
{
	for (struct s3_file *f = s->files; f; f = f->next)
		if (strcmp(f->path, path) == 0)
			return f;
	return NULL;
}

struct s3_file *s3_file_get(struct s3 *s, const char *path)
{
	struct s3_file *f;

	pthread_mutex_lock(&s->lock);
	f = s3_file_find_locked(s, path);
	if (f)
		f->refs++;
	pthread_mutex_unlock(&s->lock);
	return f;
}

void s3_file_free(struct s3_file *f)
{
	while (f->handles) { /* only at unmount: the kernel never released them */
		struct s3_handle *h = f->handles;

		f->handles = h->next;
		s3_reader_free(h->rd);
		free(h->data);
		free(h);
	}
	s3_file_discard(f);
	s3_meta_free(&f->meta);
	s3_loc_free(&f->loc);
	pthread_mutex_destroy(&f->lock);
	free(f->path);
	free(f);
}

/* Drop a reference; the last one unlinks it from the table (returns true:
 * caller finishes and frees it). */
bool s3_file_unref(struct s3 *s, struct s3_file *f)
{
	bool last;

	pthread_mutex_lock(&s->lock);
	last = --f->refs == 0;
	if (last) {
		struct s3_file **pp = &s->files;

		while (*pp && *pp != f)
			pp = &(*pp)->next;
		if (*pp)
			*pp = f->next;
	}
	pthread_mutex_unlock(&s->lock);
	return last;
}

/* Find or make the open file of path (one reference). *made says it is new. */
int s3_file_open(struct s3 *s, const char *path, const struct s3_loc *loc,
		     struct s3_file **out, bool *made)
{
	struct s3_file *f;

	pthread_mutex_lock(&s->lock);
	f = s3_file_find_locked(s, path);
	if (f) {
		f->refs++;
		pthread_mutex_unlock(&s->lock);
		*out = f;
		*made = false;
		return 0;
	}
	f = calloc(1, sizeof(*f));
	if (f) {
		f->path = strdup(path);
		f->loc.bucket = strdup(loc->bucket);
		f->loc.key = strdup(loc->key);
	}
	if (!f || !f->path || !f->loc.bucket || !f->loc.key) {
		pthread_mutex_unlock(&s->lock);
		if (f) {
			free(f->path);
			s3_loc_free(&f->loc);
			free(f);
		}
		return -ENOMEM;
	}
	pthread_mutex_init(&f->lock, NULL);
	f->fd = -1;
	f->refs = 1;
	f->sequential = true;
	f->next = s->files;
	s->files = f;
	pthread_mutex_unlock(&s->lock);
	*out = f;
	*made = true;
	return 0;
}

/* Attributes of an open file as the kernel must see them. f->lock held. */
void s3_file_stat_locked(struct s3 *s, struct s3_file *f, struct stat *st)
{
	s3_stat_from_meta(s, &f->meta, false, st);
	st->st_size = f->size;
	st->st_blocks = (f->size + 511) / 512;
}

/* The open file's current attributes when it has staged data. 1 set, 0 not. */
int s3_open_file_stat(struct s3 *s, const char *path, struct stat *st)
{
	struct s3_file *f = s3_file_get(s, path);
	int got = 0;

	if (!f)
		return 0;
	pthread_mutex_lock(&f->lock);
	if (f->loaded && f->meta_known) {
		s3_file_stat_locked(s, f, st);
		got = 1;
	}
	pthread_mutex_unlock(&f->lock);
	if (s3_file_unref(s, f))
		s3_file_free(f);
	return got;
}

/* ------------------------------------------------------------------ */
/* files                                                               */
/* ------------------------------------------------------------------ */

/* Hand h to the kernel: linked to its file until released. */
static void *handle_attach(struct s3_handle *h)
{
	pthread_mutex_lock(&h->f->lock);
	h->next = h->f->handles;
	h->f->handles = h;
	pthread_mutex_unlock(&h->f->lock);
	return h;
}

static int handle_new(struct s3_file *f, int flags, struct s3_handle **out)
{
	struct s3_handle *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->f = f;
	h->flags = flags;
	*out = h;
	return 0;
}

/* The end of a handle: the last one uploads what is still staged. */
static int handle_close(struct s3 *s, struct s3_handle *h)
{
	struct s3_file *f = h->f;
	int rc = 0;

	if (h->rd)
		s3_reader_free(h->rd);
	pthread_mutex_lock(&f->lock);
	for (struct s3_handle **pp = &f->handles; *pp; pp = &(*pp)->next) {
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	}
	if ((h->flags & O_ACCMODE) != O_RDONLY && !f->failed)
		rc = s3_file_upload(s, f);
	pthread_mutex_unlock(&f->lock);
	if (s3_file_unref(s, f))
		s3_file_free(f);
	free(h->data);
	free(h);
	return rc;
}

int s3_create(void *be, const char *path, mode_t mode, int flags, void **fh)
{
	struct s3 *s = be;
	struct s3_loc loc;
	struct s3_file *f;
	struct s3_handle *h;
	struct stat st;
	bool made;
	int rc = s3_path_map(s->opt.bucket, s->prefix, path, &loc);

	if (rc)
		return rc;
	if (!loc.bucket || !*loc.key) {
		s3_loc_free(&loc);
		return -EEXIST;
	}
	rc = s3_check_new_key("create", path, &loc);
	if (rc) {
		s3_loc_free(&loc);
		return rc;
	}
	rc = s3_file_open(s, path, &loc, &f, &made);
	s3_loc_free(&loc);
	if (rc)
		return rc;
	pthread_mutex_lock(&f->lock);
	/* No HEAD: a create makes a new object (O_EXCL is the kernel's). */
	s3_meta_free(&f->meta);
	s3_meta_new(&f->meta, S_IFREG | (mode & 07777));
	f->meta_known = true;
	rc = s3_meta_guess_type(s, &f->meta, f->loc.key);
	if (rc == 0)
		rc = s3_file_stage(s, f);
	if (rc == 0) {
		if (f->fd >= 0 && ftruncate(f->fd, 0) != 0)
			rc = -errno;
		f->size = 0;
		f->loaded = true;
		f->dirty = true;
		f->unlinked = false;
		f->sequential = true;
		f->seq_end = 0;
		s3_file_stat_locked(s, f, &st);
		s3_note_object(s, &f->loc, &st);
	}
	pthread_mutex_unlock(&f->lock);
	if (rc == 0)
		rc = handle_new(f, flags, &h);
	if (rc) {
		if (s3_file_unref(s, f))
			s3_file_free(f);
		return rc;
	}
	*fh = handle_attach(h);
	return 0;
}

int s3_open(void *be, const char *path, int flags, void **fh)
{
	struct s3 *s = be;
	struct s3_loc loc;
	struct s3_file *f;
	struct s3_handle *h = NULL;
	struct stat st;
	bool made;
	int rc = s3_path_map(s->opt.bucket, s->prefix, path, &loc);

	if (rc)
		return rc;
	if (!loc.bucket || !*loc.key) {
		s3_loc_free(&loc);
		return -EISDIR;
	}
	rc = s3_file_open(s, path, &loc, &f, &made);
	if (rc) {
		s3_loc_free(&loc);
		return rc;
	}
	pthread_mutex_lock(&f->lock);
	if (made)
		f->exists = true; /* the kernel looked it up before opening */
	if ((flags & O_ACCMODE) != O_RDONLY && (flags & O_TRUNC))
		rc = s3_file_truncate(s, f, 0);
	pthread_mutex_unlock(&f->lock);
	if (rc == 0)
		rc = handle_new(f, flags, &h);
	if (rc == 0 && (flags & O_ACCMODE) != O_WRONLY) {
		off_t size = -1;

		if (s3_getattr(s, path, &st) == 0)
			size = st.st_size;
		/* A small object is read whole, through the cache (a large one
		 * streams: its bytes never go through the cache's memory). */
		h->whole = size > 0 && (uint64_t)size <= s3c_data_max(s);
		rc = s3_reader_new(s, &loc, path, size, &h->rd);
	}
	s3_loc_free(&loc);
	if (rc) {
		free(h);
		if (s3_file_unref(s, f))
			s3_file_free(f);
		return rc;
	}
	*fh = handle_attach(h);
	return 0;
}

/* A small object's bytes, whole, from the cache (f->lock held: one fetch
 * for the handle's concurrent reads). -EAGAIN: read it the other way. */
static int read_whole_locked(struct s3 *s, struct s3_handle *h, char *buf, size_t size,
			     off_t off)
{
	if (!h->data) {
		int rc = s3c_object_get(s, &h->f->loc, h->f->path, s3c_data_max(s), &h->data,
					&h->dlen);

		if (rc == -EFBIG) {
			h->whole = false;
			return -EAGAIN;
		}
		if (rc)
			return rc;
	}
	if (off < 0)
		return -EINVAL;
	if ((uint64_t)off >= h->dlen)
		return 0;
	if (size > h->dlen - (size_t)off)
		size = h->dlen - (size_t)off;
	memcpy(buf, h->data + off, size);
	return (int)size;
}

int s3_read(void *be, void *fh, char *buf, size_t size, off_t off)
{
	struct s3_handle *h = fh;
	struct s3_file *f = h->f;
	int rc = -EAGAIN;

	pthread_mutex_lock(&f->lock);
	if (f->loaded)
		rc = s3_file_read(f, buf, size, off);
	else if (h->whole)
		rc = read_whole_locked(be, h, buf, size, off);
	pthread_mutex_unlock(&f->lock);
	if (rc != -EAGAIN)
		return rc;
	if (!h->rd)
		return -EBADF;
	return s3_reader_read(h->rd, buf, size, off);
}

int s3_write(void *be, void *fh, const char *buf, size_t size, off_t off)
{
	struct s3 *s = be;
	struct s3_handle *h = fh;
	struct s3_file *f = h->f;
	int rc;

	pthread_mutex_lock(&f->lock);
	rc = s3_file_write(s, f, buf, size, off);
	pthread_mutex_unlock(&f->lock);
	return rc;
}

int s3_flush(void *be, void *fh)
{
	struct s3 *s = be;
	struct s3_handle *h = fh;
	struct s3_file *f = h->f;
	int rc = 0;

	if ((h->flags & O_ACCMODE) == O_RDONLY)
		return 0;
	pthread_mutex_lock(&f->lock);
	rc = s3_file_upload(s, f);
	pthread_mutex_unlock(&f->lock);
	return rc;
}

int s3_release(void *be, void *fh)
{
	return handle_close(be, fh);
}

int s3_truncate(void *be, const char *path, off_t size, void *fh)
{
	struct s3 *s = be;
	struct s3_handle *h = fh;
	struct s3_loc loc;
	struct s3_file *f;
	bool made;
	int rc;

	if (h) {
		pthread_mutex_lock(&h->f->lock);
		rc = s3_file_truncate(s, h->f, size);
		pthread_mutex_unlock(&h->f->lock);
		return rc;
	}
	rc = s3_path_map(s->opt.bucket, s->prefix, path, &loc);
	if (rc)
		return rc;
	if (!loc.bucket || !*loc.key) {
		s3_loc_free(&loc);
		return -EISDIR;
	}
	/* truncate(2) by path: stage, cut, upload now, even when the file is
	 * open elsewhere (a reader's close may still be on its way, and its
	 * release would upload the cut only then, or a writer's flush later). */
	rc = s3_file_open(s, path, &loc, &f, &made);
	s3_loc_free(&loc);
	if (rc)
		return rc;
	pthread_mutex_lock(&f->lock);
	if (made)
		f->exists = true;
	rc = s3_file_truncate(s, f, size);
	if (rc == 0)
		rc = s3_file_upload(s, f);
	pthread_mutex_unlock(&f->lock);
	if (s3_file_unref(s, f))
		s3_file_free(f);
	return rc;
}

int s3_statfs(void *be, const char *path, struct statvfs *st)
{
	(void)be;
	(void)path;
	/* A bucket has no size: a large, mostly free filesystem (as s3fs). */
	memset(st, 0, sizeof(*st));
	st->f_bsize = 1u << 20;
	st->f_frsize = 1u << 20;
	st->f_blocks = 1ull << 30; /* 1 PiB in 1 MiB blocks */
	st->f_bfree = 1ull << 30;
	st->f_bavail = 1ull << 30;
	st->f_files = 1ull << 32;
	st->f_ffree = 1ull << 32;
	st->f_favail = 1ull << 32;
	st->f_namemax = S3_NAME_MAX;
	return 0;
}

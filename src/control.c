/*
 * control: the .awsfs folder. See control.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cache.h"
#include "config.h"
#include "control.h"
#include "fs.h"
#include "log.h"
#include "stats.h"

#define CONTROL_MAX_FILE (1u << 20)
#define CONTROL_MAX_INVALIDATE (64u << 10) /* one write of patterns */

struct control {
	const struct fs_config *cfg;
	char *config_text;
};

enum control_file { CF_VERSION, CF_STATS, CF_CONFIG, CF_INVALIDATE, CF_COUNT };

static const char *const control_names[CF_COUNT] = { "version", "stats", "config",
						     "invalidate" };

/* An open control file: a snapshot to read, or the patterns being written. */
struct control_fh {
	int which;
	struct buf data;
};

static int lookup(const char *path)
{
	for (int i = 0; i < CF_COUNT; i++)
		if (strcmp(path, control_names[i]) == 0)
			return i;
	return -1;
}

/* The file's current content into out. */
static int render(struct control *c, int which, struct buf *out)
{
	switch (which) {
	case CF_VERSION:
		return buf_printf(out, "%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
	case CF_STATS:
		return stats_dump_json(out);
	case CF_CONFIG:
		return buf_puts(out, c->config_text);
	case CF_INVALIDATE:
		return 0; /* write-only */
	default:
		return -ENOENT;
	}
}

static int control_getattr(void *be, const char *path, struct stat *st)
{
	struct control *c = be;
	struct buf b;
	int which, rc;

	if (!*path) {
		fs_dir_stat(c->cfg, st);
		return 0;
	}
	which = lookup(path);
	if (which < 0)
		return -ENOENT;
	buf_init(&b, CONTROL_MAX_FILE);
	rc = render(c, which, &b);
	if (rc == 0)
		fs_file_stat(c->cfg, st, (off_t)b.len, which == CF_INVALIDATE ? 0200 : 0444);
	buf_free(&b);
	return rc;
}

static int control_readdir(void *be, const char *path, backend_fill_fn fill, void *sink)
{
	struct control *c = be;
	struct stat st;

	if (*path)
		return lookup(path) < 0 ? -ENOENT : -ENOTDIR;
	for (int i = 0; i < CF_COUNT; i++) {
		if (control_getattr(c, control_names[i], &st) == 0 &&
		    fill(sink, control_names[i], &st))
			break;
	}
	return 0;
}

static int control_open(void *be, const char *path, int flags, void **fh)
{
	struct control *c = be;
	struct control_fh *f;
	int which = lookup(path), rc = 0;
	int acc = flags & O_ACCMODE;

	if (which < 0)
		return *path ? -ENOENT : -EISDIR;
	if (which == CF_INVALIDATE ? acc != O_WRONLY : acc != O_RDONLY)
		return -EACCES;
	f = malloc(sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->which = which;
	buf_init(&f->data, which == CF_INVALIDATE ? CONTROL_MAX_INVALIDATE : CONTROL_MAX_FILE);
	if (which != CF_INVALIDATE)
		rc = render(c, which, &f->data);
	if (rc) {
		buf_free(&f->data);
		free(f);
		return rc;
	}
	*fh = f;
	return 0;
}

static int control_read(void *be, void *fh, char *out, size_t size, off_t off)
{
	struct control_fh *f = fh;
	struct buf *b = &f->data;

	(void)be;
	if (f->which == CF_INVALIDATE)
		return -EBADF;
	if (off < 0 || (size_t)off >= b->len)
		return 0;
	if (size > b->len - (size_t)off)
		size = b->len - (size_t)off;
	memcpy(out, b->data + off, size);
	return (int)size;
}

static int control_write(void *be, void *fh, const char *data, size_t size, off_t off)
{
	struct control_fh *f = fh;
	int rc;

	(void)be;
	(void)off; /* patterns are appended whatever the offset */
	if (f->which != CF_INVALIDATE)
		return -EBADF;
	rc = buf_append(&f->data, data, size);
	if (rc == -EFBIG)
		log_error("control .awsfs/invalidate: more than %u bytes of patterns in one write",
			  CONTROL_MAX_INVALIDATE);
	return rc ? rc : (int)size;
}

/* Apply the patterns written so far, one a line. */
static int apply_invalidations(struct control *c, struct control_fh *f)
{
	char *line = f->data.data, *next;
	int rc = 0;

	for (; line && *line; line = next) {
		long n;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		line[strcspn(line, "\r")] = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		if (!*line)
			continue;
		n = c->cfg->cache ? cache_invalidate(c->cfg->cache, line) : 0;
		if (n < 0) {
			log_error("control .awsfs/invalidate: bad pattern '%s' (an absolute path, "
				  "'*' only at the end)", line);
			rc = -EINVAL;
		} else {
			log_info("invalidated %ld cache entries for %s", n, line);
		}
	}
	/* The kernel's copies of those paths are gone too when close(2)
	 * returns, so the next cat reads what the service has now. */
	fs_kernel_forget_wait(2000);
	buf_reset(&f->data);
	return rc;
}

static int control_flush(void *be, void *fh)
{
	struct control_fh *f = fh;

	return f->which == CF_INVALIDATE ? apply_invalidations(be, f) : 0;
}

static int control_truncate(void *be, const char *path, off_t size, void *fh)
{
	(void)be; (void)size; (void)fh;
	/* "echo x > invalidate" truncates first: fine for the write-only file. */
	return lookup(path) == CF_INVALIDATE ? 0 : -EACCES;
}

static int control_release(void *be, void *fh)
{
	struct control_fh *f = fh;

	(void)be;
	buf_free(&f->data);
	free(f);
	return 0;
}

static void control_destroy(void *be)
{
	struct control *c = be;

	free(c->config_text);
	free(c);
}

static const struct backend_ops control_ops = {
	.name = ".awsfs",
	.getattr = control_getattr,
	.readdir = control_readdir,
	.open = control_open,
	.read = control_read,
	.write = control_write,
	.flush = control_flush,
	.truncate = control_truncate,
	.release = control_release,
	.destroy = control_destroy,
};

int control_new(const struct fs_config *cfg, const char *config_text, struct backend *out)
{
	struct control *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->cfg = cfg;
	c->config_text = strdup(config_text ? config_text : "");
	if (!c->config_text) {
		free(c);
		return -ENOMEM;
	}
	out->ops = &control_ops;
	out->be = c;
	return 0;
}

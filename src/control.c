/*
 * control: the .awsfs folder. See control.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "control.h"
#include "stats.h"

#define CONTROL_MAX_FILE (1u << 20)

struct control {
	const struct fs_config *cfg;
	char *config_text;
};

enum control_file { CF_VERSION, CF_STATS, CF_CONFIG, CF_COUNT };

static const char *const control_names[CF_COUNT] = { "version", "stats", "config" };

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
		fs_file_stat(c->cfg, st, (off_t)b.len, 0444);
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
	struct buf *b;
	int which = lookup(path), rc;

	if (which < 0)
		return *path ? -ENOENT : -EISDIR;
	if ((flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	b = malloc(sizeof(*b));
	if (!b)
		return -ENOMEM;
	buf_init(b, CONTROL_MAX_FILE);
	rc = render(c, which, b);
	if (rc) {
		buf_free(b);
		free(b);
		return rc;
	}
	*fh = b;
	return 0;
}

static int control_read(void *be, void *fh, char *out, size_t size, off_t off)
{
	struct buf *b = fh;

	(void)be;
	if (off < 0 || (size_t)off >= b->len)
		return 0;
	if (size > b->len - (size_t)off)
		size = b->len - (size_t)off;
	memcpy(out, b->data + off, size);
	return (int)size;
}

static int control_release(void *be, void *fh)
{
	struct buf *b = fh;

	(void)be;
	buf_free(b);
	free(b);
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

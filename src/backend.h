/*
 * backend: the table of operations every service fills.
 *
 * fs.c routes each FUSE call on MNT/<service>/... to its backend with the
 * path below the service folder, without a leading slash ("" is the service
 * folder itself, "bucket/dir/key" a path inside it). Every operation returns
 * 0 (or a byte count) or a negative errno; an unset operation answers
 * -ENOSYS for files and -EPERM for changes. Operations may be called from
 * any FUSE thread at once.
 */
#ifndef AWSFS_BACKEND_H
#define AWSFS_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>

/* Called by a readdir for each entry; st may be NULL (name only). Returns
 * non-zero when the consumer wants no more entries. */
typedef int (*backend_fill_fn)(void *sink, const char *name, const struct stat *st);

/* Called by readdir_at for each entry, with the offset of the entry after
 * it (entries are numbered from 1). Returns non-zero when the kernel's
 * buffer is full: that entry was not taken and comes again at the next
 * readdir_at, which starts from its offset. */
typedef int (*backend_fill_at_fn)(void *sink, const char *name, const struct stat *st,
				  off_t next);

struct backend_ops {
	const char *name; /* the folder at the root: "s3", "dynamodb", ... */
	bool direct_io;   /* files bypass the page cache: reads go to read() until
			   * it returns 0, whatever size getattr reported */

	int (*getattr)(void *be, const char *path, struct stat *st);
	int (*readdir)(void *be, const char *path, backend_fill_fn fill, void *sink);

	/*
	 * Streaming listings (optional; a backend without them gets readdir).
	 * opendir checks the folder and makes the per-handle state *dh;
	 * readdir_at fills entries from offset off (0: from the start) until
	 * fill says the buffer is full or the listing ends, fetching more only
	 * when needed, so a long listing reaches the kernel page by page in
	 * bounded memory; releasedir frees *dh.
	 */
	int (*opendir)(void *be, const char *path, void **dh);
	int (*readdir_at)(void *be, void *dh, off_t off, backend_fill_at_fn fill, void *sink);
	void (*releasedir)(void *be, void *dh);

	/* Files: *fh is the backend's open-file state. */
	int (*open)(void *be, const char *path, int flags, void **fh);
	int (*create)(void *be, const char *path, mode_t mode, int flags, void **fh);
	int (*read)(void *be, void *fh, char *buf, size_t size, off_t off);
	int (*write)(void *be, void *fh, const char *buf, size_t size, off_t off);
	int (*flush)(void *be, void *fh);
	int (*fsync)(void *be, void *fh);
	int (*release)(void *be, void *fh);

	int (*truncate)(void *be, const char *path, off_t size, void *fh);
	int (*unlink)(void *be, const char *path);
	int (*mkdir)(void *be, const char *path, mode_t mode);
	int (*rmdir)(void *be, const char *path);
	int (*rename)(void *be, const char *from, const char *to, unsigned int flags);
	int (*symlink)(void *be, const char *target, const char *path);
	int (*readlink)(void *be, const char *path, char *buf, size_t size);
	int (*chmod)(void *be, const char *path, mode_t mode);
	int (*chown)(void *be, const char *path, uid_t uid, gid_t gid);
	int (*utimens)(void *be, const char *path, const struct timespec tv[2]);
	int (*getxattr)(void *be, const char *path, const char *name, char *buf, size_t size);
	int (*setxattr)(void *be, const char *path, const char *name, const char *value,
			size_t size, int flags);
	int (*listxattr)(void *be, const char *path, char *buf, size_t size);
	int (*removexattr)(void *be, const char *path, const char *name);
	int (*statfs)(void *be, const char *path, struct statvfs *st);

	void (*destroy)(void *be);
};

struct backend {
	const struct backend_ops *ops;
	void *be;
};

#endif

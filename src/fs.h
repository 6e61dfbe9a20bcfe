/*
 * fs: the FUSE operations. Turns a path into (backend, path below it),
 * answers the root and the empty service folders itself, and hands every
 * other call to the backend. Nothing here speaks HTTP.
 */
#ifndef AWSFS_FS_H
#define AWSFS_FS_H

#include <sys/types.h>

#include <fuse.h>

#include "aws.h"
#include "backend.h"
#include "cache.h"

#define FS_CONTROL_DIR ".awsfs"
#define FS_MAX_IO (1u << 20) /* max_read and max_write: 1 MiB requests */
#define FS_MAX_BACKGROUND 64  /* FUSE requests in flight in the background */

struct fs_config {
	unsigned services_mask;               /* bit per enum aws_service */
	struct backend services[AWS_SVC_COUNT]; /* ops NULL: folder shown empty */
	struct backend control;               /* MNT/.awsfs */
	struct backend single;                /* ops set: the whole mount is this
					       * backend (awsfs BUCKET MNT); only
					       * .awsfs is routed elsewhere */
	uid_t uid;
	gid_t gid;
	mode_t umask;
	double attr_timeout;                  /* seconds the kernel may cache attributes */
	time_t mount_time;                    /* mtime of folders that have none */
	struct cache *cache;                  /* shared by every backend */
};

/* The operations table for fuse_new; private_data must be a struct fs_config. */
const struct fuse_operations *fs_operations(void);

/*
 * Ask the kernel to forget what it caches of a mount path (attributes,
 * pages), as when the cache saw its content change. Queued and done by a
 * worker thread: the kernel may call back into the filesystem, which must
 * not be waiting here. Safe from any thread; a no-op before the loop runs.
 * Matches cache_changed_fn, so it can be the cache's hook (arg unused).
 */
void fs_kernel_forget(void *arg, const char *path);
/* Wait (at most timeout_ms) until every path queued so far has been told to
 * the kernel. Never from a request on one of those paths: the kernel may
 * hold its lock until that request is answered. */
void fs_kernel_forget_wait(unsigned timeout_ms);
/* Start and stop that worker (main, around the FUSE loop). */
int fs_forget_start(struct fuse *fuse);
void fs_forget_stop(void);

/* Attributes of a folder/file as awsfs shows them (owner, umask applied). */
void fs_dir_stat(const struct fs_config *cfg, struct stat *st);
void fs_file_stat(const struct fs_config *cfg, struct stat *st, off_t size, mode_t perm);

#endif

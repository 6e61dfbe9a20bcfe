/*
 * fs: FUSE high-level operations and the path router. See fs.h.
 *
 *   /                      root: one folder per enabled service + .awsfs
 *   /<service>/<rest>      -> services[svc] with path "<rest>"
 *   /.awsfs/<rest>         -> control with path "<rest>"
 *   /<rest>                -> single with path "<rest>" (single-bucket form)
 *
 * Every operation returns 0 or a negative errno straight to FUSE.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fuse.h>

#include "fs.h"
#include "log.h"

struct route {
	struct backend *b;  /* NULL: the root, or a service without a backend */
	const char *rest;   /* path below the backend's folder ("" for itself) */
	bool root;          /* the mount's root folder */
	bool folder_only;   /* a service folder with no backend behind it */
};

struct open_file {
	struct backend *b;
	void *fh;
	struct open_file *prev, *next; /* in opened.files */
};

/* A folder opened on a backend with streaming listings. */
struct open_dir {
	struct backend *b;
	void *dh;
	struct open_dir *prev, *next;  /* in opened.dirs */
};

/* What the kernel holds open, so that whatever it never released (a
 * stop with files open) is freed at unmount; the backends' destroy
 * deals with their own state. */
static struct {
	pthread_mutex_t lock;
	struct open_file *files; /* protected by lock */
	struct open_dir *dirs;   /* protected by lock */
} opened = { .lock = PTHREAD_MUTEX_INITIALIZER };

#define LIST_ADD(head, it) \
	do { \
		pthread_mutex_lock(&opened.lock); \
		(it)->prev = NULL; \
		(it)->next = (head); \
		if (head) \
			(head)->prev = (it); \
		(head) = (it); \
		pthread_mutex_unlock(&opened.lock); \
	} while (0)
#define LIST_DEL(head, it) \
	do { \
		pthread_mutex_lock(&opened.lock); \
		if ((it)->prev) \
			(it)->prev->next = (it)->next; \
		else \
			(head) = (it)->next; \
		if ((it)->next) \
			(it)->next->prev = (it)->prev; \
		pthread_mutex_unlock(&opened.lock); \
	} while (0)

/* Offsets 1 and 2 are "." and ".."; the backend's entry n is n + 2. */
#define FS_DIR_OWN_ENTRIES 2

static struct fs_config *cfg(void)
{
	return fuse_get_context()->private_data;
}

/* Split "/s3/bucket/key" into backend "s3" and "bucket/key". */
static int route(const char *path, struct route *r)
{
	struct fs_config *c = cfg();
	const char *name, *slash;
	size_t len;

	memset(r, 0, sizeof(*r));
	/* libfuse passes no path for a file removed while open (hard_remove). */
	if (!path)
		return -ESTALE;
	if (path[0] != '/')
		return -EINVAL;
	name = path + 1;
	if (c->single.ops && strncmp(name, FS_CONTROL_DIR, strlen(FS_CONTROL_DIR)) != 0) {
		r->b = &c->single;
		r->rest = name;
		return 0;
	}
	if (c->single.ops && name[strlen(FS_CONTROL_DIR)] != '\0' &&
	    name[strlen(FS_CONTROL_DIR)] != '/') {
		r->b = &c->single; /* ".awsfsX": an ordinary name */
		r->rest = name;
		return 0;
	}
	if (*name == '\0') {
		r->root = true;
		r->rest = "";
		return 0;
	}
	slash = strchr(name, '/');
	len = slash ? (size_t)(slash - name) : strlen(name);
	r->rest = slash ? slash + 1 : "";
	if (len == strlen(FS_CONTROL_DIR) && strncmp(name, FS_CONTROL_DIR, len) == 0) {
		r->b = &c->control;
		return 0;
	}
	for (int i = 0; i < AWS_SVC_COUNT; i++) {
		const char *svc = aws_service_name((enum aws_service)i);

		if (!(c->services_mask & (1u << i)) || strlen(svc) != len ||
		    strncmp(name, svc, len) != 0)
			continue;
		if (c->services[i].ops) {
			r->b = &c->services[i];
		} else {
			if (*r->rest)
				return -ENOENT;
			r->folder_only = true;
		}
		return 0;
	}
	return -ENOENT;
}

void fs_dir_stat(const struct fs_config *c, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFDIR | (0777 & ~c->umask);
	st->st_nlink = 2;
	st->st_uid = c->uid;
	st->st_gid = c->gid;
	st->st_blksize = 4096;
	st->st_mtime = st->st_ctime = st->st_atime = c->mount_time;
}

void fs_file_stat(const struct fs_config *c, struct stat *st, off_t size, mode_t perm)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | (perm & ~c->umask);
	st->st_nlink = 1;
	st->st_uid = c->uid;
	st->st_gid = c->gid;
	st->st_size = size;
	st->st_blocks = (size + 511) / 512;
	st->st_blksize = 4096;
	st->st_mtime = st->st_ctime = st->st_atime = c->mount_time;
}

/* Call op on the backend, or answer err when the backend does not have it. */
#define DISPATCH(r, op, err, ...) \
	((r).b && (r).b->ops->op ? (r).b->ops->op((r).b->be, __VA_ARGS__) : (err))

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *fc)
{
	struct fs_config *c = fuse_get_context()->private_data;

	/* Large transfers: fewer, bigger requests to the backend. */
	conn->max_write = FS_MAX_IO;
	if (conn->max_read == 0 || conn->max_read > FS_MAX_IO)
		conn->max_read = FS_MAX_IO;
	/* O_TRUNC comes with open, not as a truncate before it: a backend
	 * that stages writes does not upload an empty file first. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* More of the kernel's read-ahead and writes in flight at once: network
	 * latency, not the CPU, bounds each. */
	conn->max_background = FS_MAX_BACKGROUND;
	conn->congestion_threshold = FS_MAX_BACKGROUND * 3 / 4;
	fc->use_ino = 0;
	/* rm of a file some process still has open (or whose close has not
	 * reached us yet: the kernel sends RELEASE after close returns) removes
	 * it at once. libfuse's default instead renames it to .fuse_hidden*
	 * and removes that at release: a copy of the object where rename is a
	 * copy, refused (EPERM) where there is no rename, so `rm` of an SQS
	 * message just read could fail at random and leave it to be read
	 * again. Open handles keep working from what the backend holds; a
	 * path-based call on such a file gets ESTALE (route()). */
	fc->hard_remove = 1;
	fc->entry_timeout = c->attr_timeout;
	fc->attr_timeout = c->attr_timeout;
	fc->negative_timeout = 0;
	return c;
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct route r;
	int rc = route(path, &r);

	(void)fi;
	if (rc)
		return rc;
	if (r.root || r.folder_only) {
		fs_dir_stat(cfg(), st);
		return 0;
	}
	rc = DISPATCH(r, getattr, -ENOSYS, r.rest, st);
	return rc;
}

struct fill_ctx {
	void *buf;
	fuse_fill_dir_t filler;
};

static int fill_one(void *sink, const char *name, const struct stat *st)
{
	struct fill_ctx *f = sink;

	return f->filler(f->buf, name, st, 0, st ? FUSE_FILL_DIR_PLUS : 0);
}

static int fill_at(void *sink, const char *name, const struct stat *st, off_t next)
{
	struct fill_ctx *f = sink;

	return f->filler(f->buf, name, st, next + FS_DIR_OWN_ENTRIES,
			 st ? FUSE_FILL_DIR_PLUS : 0);
}

/* A streaming listing: "." and ".." here, the rest from the backend. With
 * non-zero offsets libfuse hands each batch to the kernel as it is filled
 * instead of buffering the whole folder. */
static int readdir_stream(struct open_dir *od, void *buf, fuse_fill_dir_t filler, off_t off)
{
	struct fill_ctx f = { buf, filler };
	struct stat st;

	fs_dir_stat(cfg(), &st);
	if (off < 1 && filler(buf, ".", &st, 1, FUSE_FILL_DIR_PLUS))
		return 0;
	if (off < 2 && filler(buf, "..", NULL, 2, 0))
		return 0;
	off = off > FS_DIR_OWN_ENTRIES ? off - FS_DIR_OWN_ENTRIES : 0;
	return od->b->ops->readdir_at(od->b->be, od->dh, off, fill_at, &f);
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct fill_ctx f = { buf, filler };
	struct fs_config *c = cfg();
	struct route r;
	struct stat st;
	int rc = route(path, &r);

	(void)flags;
	if (fi->fh)
		return readdir_stream((struct open_dir *)(uintptr_t)fi->fh, buf, filler, off);
	if (rc)
		return rc;
	fs_dir_stat(c, &st);
	filler(buf, ".", &st, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	if (r.folder_only)
		return 0;
	if (r.root) {
		for (int i = 0; i < AWS_SVC_COUNT; i++)
			if (c->services_mask & (1u << i))
				filler(buf, aws_service_name((enum aws_service)i), &st, 0,
				       FUSE_FILL_DIR_PLUS);
		filler(buf, FS_CONTROL_DIR, &st, 0, FUSE_FILL_DIR_PLUS);
		return 0;
	}
	return DISPATCH(r, readdir, -ENOTDIR, r.rest, fill_one, &f);
}

static int fs_opendir(const char *path, struct fuse_file_info *fi)
{
	struct route r;
	struct stat st;
	int rc = route(path, &r);

	fi->fh = 0;
	if (rc || r.root || r.folder_only)
		return rc;
	if (r.b->ops->opendir && r.b->ops->readdir_at) {
		struct open_dir *od = calloc(1, sizeof(*od));

		if (!od)
			return -ENOMEM;
		rc = r.b->ops->opendir(r.b->be, r.rest, &od->dh);
		if (rc) {
			free(od);
			return rc;
		}
		od->b = r.b;
		LIST_ADD(opened.dirs, od);
		fi->fh = (uint64_t)(uintptr_t)od;
		return 0;
	}
	/* Opening a folder that is not one fails now, not at readdir. */
	rc = DISPATCH(r, getattr, -ENOSYS, r.rest, &st);
	if (rc == 0 && !S_ISDIR(st.st_mode))
		rc = -ENOTDIR;
	return rc;
}

static int fs_releasedir(const char *path, struct fuse_file_info *fi)
{
	struct open_dir *od = (struct open_dir *)(uintptr_t)fi->fh;

	(void)path;
	if (od) {
		LIST_DEL(opened.dirs, od);
		if (od->b->ops->releasedir)
			od->b->ops->releasedir(od->b->be, od->dh);
		free(od);
	}
	return 0;
}

static int open_common(const char *path, struct fuse_file_info *fi, bool create, mode_t mode)
{
	struct open_file *of;
	struct route r;
	void *fh = NULL;
	int rc = route(path, &r);

	if (rc)
		return rc;
	if (r.root || r.folder_only)
		return create ? -EEXIST : -EISDIR;
	of = calloc(1, sizeof(*of));
	if (!of)
		return -ENOMEM;
	if (create)
		rc = DISPATCH(r, create, -EPERM, r.rest, mode, fi->flags, &fh);
	else
		rc = DISPATCH(r, open, -ENOSYS, r.rest, fi->flags, &fh);
	if (rc) {
		free(of);
		return rc;
	}
	of->b = r.b;
	of->fh = fh;
	LIST_ADD(opened.files, of);
	fi->fh = (uint64_t)(uintptr_t)of;
	/* Control files change with every read (stats): no page cache; nor
	 * for backends whose sizes are not known before a read. */
	if (r.b == &cfg()->control || r.b->ops->direct_io)
		fi->direct_io = 1;
	return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	return open_common(path, fi, false, 0);
}

static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return open_common(path, fi, true, mode);
}

static struct open_file *file_of(struct fuse_file_info *fi)
{
	return (struct open_file *)(uintptr_t)fi->fh;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct open_file *of = file_of(fi);

	(void)path;
	if (!of->b->ops->read)
		return -EBADF;
	return of->b->ops->read(of->b->be, of->fh, buf, size, off);
}

static int fs_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct open_file *of = file_of(fi);

	(void)path;
	if (!of->b->ops->write)
		return -EBADF;
	return of->b->ops->write(of->b->be, of->fh, buf, size, off);
}

static int fs_flush(const char *path, struct fuse_file_info *fi)
{
	struct open_file *of = file_of(fi);

	(void)path;
	return of->b->ops->flush ? of->b->ops->flush(of->b->be, of->fh) : 0;
}

static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct open_file *of = file_of(fi);

	(void)path; (void)datasync;
	return of->b->ops->fsync ? of->b->ops->fsync(of->b->be, of->fh) : 0;
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
	struct open_file *of = file_of(fi);
	int rc = 0;

	(void)path;
	LIST_DEL(opened.files, of);
	if (of->b->ops->release)
		rc = of->b->ops->release(of->b->be, of->fh);
	free(of);
	return rc;
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct route r;
	int rc = route(path, &r);

	if (rc)
		return rc;
	if (r.root || r.folder_only)
		return -EISDIR;
	return DISPATCH(r, truncate, -EPERM, r.rest, size, fi ? file_of(fi)->fh : NULL);
}

/* A change on the root or on a service folder itself is refused. */
#define CHANGE_OP(fname, op, ...) \
	do { \
		struct route r; \
		int rc = route(fname, &r); \
		if (rc) \
			return rc; \
		if (r.root || r.folder_only || !*r.rest) \
			return -EPERM; \
		return DISPATCH(r, op, -EPERM, __VA_ARGS__); \
	} while (0)

static int fs_unlink(const char *path)
{
	CHANGE_OP(path, unlink, r.rest);
}

static int fs_mkdir(const char *path, mode_t mode)
{
	CHANGE_OP(path, mkdir, r.rest, mode);
}

static int fs_rmdir(const char *path)
{
	CHANGE_OP(path, rmdir, r.rest);
}

static int fs_readlink(const char *path, char *buf, size_t size)
{
	struct route r;
	int rc = route(path, &r);

	if (rc)
		return rc;
	if (r.root || r.folder_only)
		return -EINVAL;
	return DISPATCH(r, readlink, -EINVAL, r.rest, buf, size);
}

static int fs_symlink(const char *target, const char *path)
{
	CHANGE_OP(path, symlink, target, r.rest);
}

static int fs_rename(const char *from, const char *to, unsigned int flags)
{
	struct route a, b;
	int rc = route(from, &a);

	if (rc)
		return rc;
	rc = route(to, &b);
	if (rc && rc != -ENOENT)
		return rc;
	if (rc || a.b != b.b)
		return -EXDEV; /* across services: mv falls back to copy + delete */
	if (a.root || a.folder_only || !*a.rest || !*b.rest)
		return -EPERM;
	return DISPATCH(a, rename, -EPERM, a.rest, b.rest, flags);
}

static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)fi;
	CHANGE_OP(path, chmod, r.rest, mode);
}

static int fs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	(void)fi;
	CHANGE_OP(path, chown, r.rest, uid, gid);
}

static int fs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	(void)fi;
	CHANGE_OP(path, utimens, r.rest, tv);
}

static int fs_getxattr(const char *path, const char *name, char *buf, size_t size)
{
	struct route r;
	int rc = route(path, &r);

	if (rc)
		return rc;
	if (r.root || r.folder_only)
		return -ENODATA;
	return DISPATCH(r, getxattr, -ENODATA, r.rest, name, buf, size);
}

static int fs_setxattr(const char *path, const char *name, const char *value, size_t size,
		       int flags)
{
	CHANGE_OP(path, setxattr, r.rest, name, value, size, flags);
}

static int fs_listxattr(const char *path, char *buf, size_t size)
{
	struct route r;
	int rc = route(path, &r);

	if (rc)
		return rc;
	if (r.root || r.folder_only)
		return 0;
	return DISPATCH(r, listxattr, 0, r.rest, buf, size);
}

static int fs_removexattr(const char *path, const char *name)
{
	CHANGE_OP(path, removexattr, r.rest, name);
}

static int fs_statfs(const char *path, struct statvfs *st)
{
	struct route r;
	int rc = route(path, &r);

	if (rc == 0 && r.b && r.b->ops->statfs)
		return r.b->ops->statfs(r.b->be, r.rest, st);
	/* Object stores have no size: show a large, mostly free filesystem,
	 * as s3fs does, so df and installers do not refuse to write. */
	memset(st, 0, sizeof(*st));
	st->f_bsize = 4096;
	st->f_frsize = 4096;
	st->f_blocks = 1ull << 32;
	st->f_bfree = 1ull << 32;
	st->f_bavail = 1ull << 32;
	st->f_files = 1ull << 32;
	st->f_ffree = 1ull << 32;
	st->f_favail = 1ull << 32;
	st->f_namemax = 1024;
	return 0;
}

static void fs_destroy(void *private_data)
{
	struct fs_config *c = private_data;

	/* What the kernel never released (awsfs stopped with files open) is
	 * released now, so that backends write out what they hold. */
	pthread_mutex_lock(&opened.lock);
	while (opened.files) {
		struct open_file *of = opened.files;

		opened.files = of->next;
		pthread_mutex_unlock(&opened.lock);
		if (of->b->ops->release)
			of->b->ops->release(of->b->be, of->fh);
		free(of);
		pthread_mutex_lock(&opened.lock);
	}
	while (opened.dirs) {
		struct open_dir *od = opened.dirs;

		opened.dirs = od->next;
		pthread_mutex_unlock(&opened.lock);
		if (od->b->ops->releasedir)
			od->b->ops->releasedir(od->b->be, od->dh);
		free(od);
		pthread_mutex_lock(&opened.lock);
	}
	pthread_mutex_unlock(&opened.lock);
	for (int i = 0; i < AWS_SVC_COUNT; i++)
		if (c->services[i].ops && c->services[i].ops->destroy)
			c->services[i].ops->destroy(c->services[i].be);
	if (c->single.ops && c->single.ops->destroy)
		c->single.ops->destroy(c->single.be);
	if (c->control.ops && c->control.ops->destroy)
		c->control.ops->destroy(c->control.be);
}

static const struct fuse_operations fs_ops = {
	.init = fs_init,
	.destroy = fs_destroy,
	.getattr = fs_getattr,
	.readdir = fs_readdir,
	.opendir = fs_opendir,
	.releasedir = fs_releasedir,
	.open = fs_open,
	.create = fs_create,
	.read = fs_read,
	.write = fs_write,
	.flush = fs_flush,
	.fsync = fs_fsync,
	.release = fs_release,
	.truncate = fs_truncate,
	.unlink = fs_unlink,
	.mkdir = fs_mkdir,
	.rmdir = fs_rmdir,
	.readlink = fs_readlink,
	.symlink = fs_symlink,
	.rename = fs_rename,
	.chmod = fs_chmod,
	.chown = fs_chown,
	.utimens = fs_utimens,
	.getxattr = fs_getxattr,
	.setxattr = fs_setxattr,
	.listxattr = fs_listxattr,
	.removexattr = fs_removexattr,
	.statfs = fs_statfs,
};

/* The kernel-forget worker: a bounded queue of paths and one thread. */
#define FS_FORGET_MAX 10000

struct forget_item {
	struct forget_item *next;
	char path[];
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_cond_t idle_cond;        /* the queue ran dry */
	struct forget_item *head, *tail; /* protected by lock */
	size_t n;                        /* protected by lock */
	bool busy;                       /* an item is being told; protected by lock */
	bool running, stop;              /* protected by lock */
	pthread_t thread;
	struct fuse *fuse;
} forget = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER,
	     .idle_cond = PTHREAD_COND_INITIALIZER };

static void *forget_worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&forget.lock);
	for (;;) {
		struct forget_item *it;

		while (!forget.head && !forget.stop)
			pthread_cond_wait(&forget.cond, &forget.lock);
		if (forget.stop)
			break;
		it = forget.head;
		forget.head = it->next;
		if (!forget.head)
			forget.tail = NULL;
		forget.n--;
		forget.busy = true;
		pthread_mutex_unlock(&forget.lock);
		/* -ENOENT: the kernel did not know the path; nothing to do. */
		fuse_invalidate_path(forget.fuse, it->path);
		free(it);
		pthread_mutex_lock(&forget.lock);
		forget.busy = false;
		if (!forget.head)
			pthread_cond_broadcast(&forget.idle_cond);
	}
	forget.busy = false;
	pthread_cond_broadcast(&forget.idle_cond);
	pthread_mutex_unlock(&forget.lock);
	return NULL;
}

void fs_kernel_forget(void *arg, const char *path)
{
	size_t len = strlen(path) + 1;
	struct forget_item *it;

	(void)arg;
	pthread_mutex_lock(&forget.lock);
	if (!forget.running || forget.n >= FS_FORGET_MAX) {
		pthread_mutex_unlock(&forget.lock);
		return; /* the attribute timeout bounds the staleness anyway */
	}
	it = malloc(sizeof(*it) + len);
	if (it) {
		memcpy(it->path, path, len);
		it->next = NULL;
		if (forget.tail)
			forget.tail->next = it;
		else
			forget.head = it;
		forget.tail = it;
		forget.n++;
		pthread_cond_signal(&forget.cond);
	}
	pthread_mutex_unlock(&forget.lock);
}

void fs_kernel_forget_wait(unsigned timeout_ms)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&forget.lock);
	while (forget.running && (forget.head || forget.busy))
		if (pthread_cond_timedwait(&forget.idle_cond, &forget.lock, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&forget.lock);
}

int fs_forget_start(struct fuse *fuse)
{
	int rc;

	forget.fuse = fuse;
	forget.stop = false;
	rc = pthread_create(&forget.thread, NULL, forget_worker, NULL);
	if (rc)
		return -rc;
	pthread_mutex_lock(&forget.lock);
	forget.running = true;
	pthread_mutex_unlock(&forget.lock);
	return 0;
}

void fs_forget_stop(void)
{
	pthread_mutex_lock(&forget.lock);
	if (!forget.running) {
		pthread_mutex_unlock(&forget.lock);
		return;
	}
	forget.running = false;
	forget.stop = true;
	pthread_cond_signal(&forget.cond);
	pthread_mutex_unlock(&forget.lock);
	pthread_join(forget.thread, NULL);
	while (forget.head) {
		struct forget_item *it = forget.head;

		forget.head = it->next;
		free(it);
	}
	forget.tail = NULL;
	forget.n = 0;
}

const struct fuse_operations *fs_operations(void)
{
	return &fs_ops;
}

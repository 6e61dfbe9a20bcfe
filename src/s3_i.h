/*
 * s3_i: what the S3 backend's files share (not for other modules).
 *
 *   s3.c        paths, attributes, lookups, listings, buckets, the ops table
 *   s3_file.c   open files: the shared per-path state, file operations
 *   s3_change.c delete, mkdir/rmdir, rename, chmod/chown/utimens, xattrs, symlinks
 *   s3_cache.c  S3 on the shared cache: attributes, listings, small objects
 *   s3_read.c   ranged GETs, read-ahead by worker threads
 *   s3_write.c  staging files, PutObject and multipart uploads, copies
 *   s3_meta.c   s3fs-compatible metadata headers and xattrs (pure logic)
 *   s3_pool.c   the worker threads
 *
 * Lock order: s3.lock, then a file's lock, then a reader's lock, then
 * list_lock, then the cache's own. No lock is held across a request except a file's lock
 * (one file's uploads are serialized on purpose).
 */
#ifndef AWSFS_S3_I_H
#define AWSFS_S3_I_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>

#include "aws.h"
#include "buf.h"
#include "fs.h"
#include "http.h"
#include "s3.h"
#include "xml.h"

/* Limits from the S3 documentation. */
#define S3_MAX_KEY 1024                     /* bytes in a key (UTF-8) */
#define S3_NAME_MAX 255                     /* a path component, as NAME_MAX */
#define S3_MIN_PART (5ull << 20)            /* every part but the last */
#define S3_MAX_PARTS 10000u
#define S3_MAX_SINGLE_COPY (5ull << 30)     /* CopyObject's limit */
#define S3_MAX_OBJECT (5ull << 40)          /* 5 TiB */
#define S3_MAX_USER_META 20                 /* x-amz-meta-* headers awsfs sends */
#define S3_DIR_CONTENT_TYPE "application/x-directory"
#define S3_FOLDER_SUFFIX "_$folder$"        /* old s3fs / Hadoop folder marker */

/* ---- metadata (s3_meta.c) ---- */

struct s3_kv {
	char *name;  /* lower case, without "x-amz-meta-" */
	char *value;
};

/* What awsfs knows of one object: from a HEAD, a GET or a listing. */
struct s3_meta {
	off_t size;
	time_t last_modified;
	char *etag;
	char *content_type;
	char *version_id;
	char *storage_class;
	char *sse;                 /* "AES256", "aws:kms", "aws:kms:KEYID" */
	bool has_mode, has_uid, has_gid, has_mtime, has_ctime, has_atime;
	mode_t mode;               /* s3fs x-amz-meta-mode: type and permissions */
	uid_t uid;
	gid_t gid;
	struct timespec mtime, ctime, atime;
	struct s3_kv *user;        /* other x-amz-meta-* (not s3fs's own) */
	size_t nuser;
	char *xattr_blob;          /* s3fs's x-amz-meta-xattr, decoded JSON text */
};

void s3_meta_free(struct s3_meta *m);
/* Deep copy. 0 or -ENOMEM (dst then empty). */
int s3_meta_copy(struct s3_meta *dst, const struct s3_meta *src);
/* Fill m from a HEAD/GET answer (m is reset first). 0 or -ENOMEM. */
int s3_meta_from_headers(const struct http_response *r, struct s3_meta *m);
/* "1700000000", "1700000000.5", "1700000000.123456789": 0 or -EINVAL. */
int s3_meta_parse_time(const char *s, struct timespec *out);
/* Seconds, with ".nnnnnnnnn" when there is a fraction. */
void s3_meta_format_time(const struct timespec *t, char *out, size_t outlen);
/* Is name (without "x-amz-meta-") one of s3fs's own (mode, uid, ...)? */
bool s3_meta_reserved(const char *name);
/* Set or replace (value NULL: remove) a user metadata entry. 0, -ENOMEM,
 * -ENODATA (remove of an absent name), -E2BIG (too many). */
int s3_meta_set_user(struct s3_meta *m, const char *name, const char *value, size_t len);
/*
 * The header lines ("x-amz-meta-mode: 33188", "Content-Type: ...") that
 * store m, appended to *lines (caller frees each line and the array).
 * 0 or -ENOMEM.
 */
int s3_meta_headers(const struct s3_meta *m, char ***lines, size_t *n);
/* Parse s3fs's xattr blob ({"user.a":"base64",...}, percent-encoded).
 * Finds name; *value caller frees. 0, -ENODATA, -EINVAL, -ENOMEM. */
int s3_meta_blob_get(const char *blob, const char *name, char **value, size_t *len);
/* Append the blob's names ("user.a\0user.b\0") to out. */
int s3_meta_blob_names(const char *blob, struct buf *out);
/* Is value storable as a header value (printable ASCII, no leading or
 * trailing blanks)? */
bool s3_meta_value_ok(const char *value, size_t len);
/* Percent-decode (for s3fs's blob). Caller frees. */
int s3_meta_pct_decode(const char *in, char **out);
/*
 * Percent-decode a name from a listing asked with encoding-type=url: "%XX"
 * is a byte, '+' a space (S3 sends a '+' as %2B). Writes at most outlen
 * bytes, the NUL included, into out. 0; -EINVAL for a bad escape ('%' not
 * followed by two hex digits); -ENAMETOOLONG when it does not fit; -EILSEQ
 * when it holds a NUL (%00: out is then cut there; no file name can hold
 * one). Pure, bounded by in's length.
 */
int s3_url_decode(const char *in, char *out, size_t outlen);

/* ---- paths (s3.c) ---- */

/* Where a backend path points. */
struct s3_loc {
	char *bucket;  /* NULL: the bucket list (whole-tree form, path "") */
	char *key;     /* "" for the bucket (or prefix) root itself */
};

/*
 * Map a backend path to bucket and key. fixed_bucket/prefix come from the
 * single-bucket form (NULL/""); prefix has no leading '/'. A component over
 * S3_NAME_MAX or a key over S3_MAX_KEY is -ENAMETOOLONG. Caller frees with
 * s3_loc_free.
 */
int s3_path_map(const char *fixed_bucket, const char *prefix, const char *path,
		struct s3_loc *loc);
void s3_loc_free(struct s3_loc *loc);
/* The listing prefix of a folder key: "" stays "", "a/b" becomes "a/b/". */
char *s3_dir_prefix(const char *key);
/* Whether a bucket name from ListBuckets can be shown as a folder: not
 * empty, "." or "..", no '/', at most S3_NAME_MAX bytes. */
bool s3_bucket_name_ok(const char *name);
/*
 * Listings ask for encoding-type=url: XML 1.0 cannot carry most control
 * characters, which S3 keys may hold, so without it one such key makes the
 * whole page unparseable. The answer says <EncodingType>url</EncodingType>
 * when it honoured that; then Key, Prefix, StartAfter, Delimiter and
 * CommonPrefixes/Prefix are percent-encoded (never the continuation token).
 */
#define S3_LIST_ENCODING "url"
#define S3_LIST_NAME_BUF (4 * S3_MAX_KEY + 1) /* a decoded key from a listing */
/* Does this ListObjectsV2 answer percent-encode its names? */
bool s3_list_encoded(const struct xml_node *root);
/*
 * The text of element name under n, decoded when url: *out is NULL when
 * absent, else points into n or into buf (S3_LIST_NAME_BUF bytes). 0,
 * -EILSEQ (a name holding a NUL: skip it), or -EIO for a bad escape or an
 * overlong name (one log line naming op and path).
 */
int s3_list_text(const struct xml_node *n, const char *name, bool url, char *buf,
		 const char *op, const char *path, const char **out);
/* A key the user makes (create, mkdir, rename, symlink) must be UTF-8, as S3
 * keys are: else -EINVAL and a log line naming op and path. */
int s3_check_new_key(const char *op, const char *path, const struct s3_loc *loc);

/* ---- the cache (s3_cache.c) ---- */

struct s3;

#define S3C_DIR_TAG "dir"            /* a folder's validator: never revalidated */
#define S3C_LIST_TAG "list"          /* a listing's: refetched, never revalidated */
#define S3C_PAGE_TAG "page1"         /* a probed first page (s3c_page_put) */
#define S3C_LISTED '~'               /* before the ETag of attributes a listing brought */
#define S3C_DATA_MAX (1u << 20)      /* whole objects kept in memory up to this */
#define S3C_DATA_MAX_DISK (8u << 20) /* ... and with cache_dir */

/* One listing entry. */
struct s3_ent {
	char *name;
	struct stat st;
	char *etag;    /* NULL for folders */
};

void s3_ents_free(struct s3_ent *v, size_t n);
/* The listing format (pure; see s3_cache.c). Append a record to recs. */
int s3_list_add(struct buf *recs, const char *name, const struct stat *st);
/* Records to a listing sorted by name, repeated names once (a folder wins). */
int s3_list_seal(const struct buf *recs, struct buf *out);
/* 1 found (*st), 0 absent, -EINVAL for a bad listing. */
int s3_list_find(const struct fs_config *cfg, const void *blob, size_t len, const char *name,
		 struct stat *st);
/* Every entry, sorted (caller frees with s3_ents_free). */
int s3_list_decode(const struct fs_config *cfg, const void *blob, size_t len,
		   struct s3_ent **out, size_t *count);

/* The cache path "/s3/BUCKET[/KEY]" of loc, and of name in folder dir.
 * Caller frees; NULL: no memory. */
char *s3c_path(const struct s3_loc *loc);
char *s3c_child(const char *dir, const char *name);
/* What the cache knows of cpath: 0 (*st), -ENOENT (absent), 1 (unknown),
 * 2 (expired with an ETag: *st and etag set, revalidate). */
int s3c_lookup(struct s3 *s, const char *cpath, struct stat *st, char *etag, size_t etaglen);
/* ttl_ms < 0: the S3 TTL. */
void s3c_put_attr(struct s3 *s, const char *cpath, const struct stat *st, const char *etag,
		  int64_t ttl_ms);
void s3c_put_absent(struct s3 *s, const char *cpath);
/* A 304: attributes and bytes fresh again. */
void s3c_renewed(struct s3 *s, const char *cpath, int64_t ttl_ms);
/* Another version than the cached one: every layer, the kernel's too, forgets. */
void s3c_changed(struct s3 *s, const char *cpath);
/* Listings: the change generation of folder dir when one begins; a page's
 * attributes; the whole listing (s3_list_add records) when it reached its
 * end. Neither is stored when the mount changed the folder since. */
uint64_t s3c_list_gen(struct s3 *s, const char *dir);
void s3c_list_page(struct s3 *s, const char *dir, uint64_t gen, const struct s3_ent *ents,
		   size_t n);
void s3c_list_done(struct s3 *s, const char *dir, uint64_t gen, const struct buf *recs);
/*
 * The first page of dir's listing, fetched by a lookup's folder probe (token:
 * the second page's, NULL when the page is the whole folder), kept for the
 * readdir that usually follows. Until then it answers lookups of names it
 * lacks (a whole folder) with "absent" and no others: the entries'
 * attributes reach the cache when a readdir takes it, as for any listing.
 * Not kept when the mount changed the folder since gen, over a fresh
 * complete listing, or when larger than s3c_list_cap.
 */
void s3c_page_put(struct s3 *s, const char *dir, uint64_t gen, const struct s3_ent *ents,
		  size_t n, const char *token, size_t skipped_long, size_t skipped_dots);
/* Take (and forget) that page: 0 (*ents, *token: caller frees; *token NULL:
 * the whole folder; *gen the generation it was fetched at), or 1 when there
 * is none still usable (expired, invalidated, evicted, or the mount changed
 * the folder since). */
int s3c_page_take(struct s3 *s, const char *dir, uint64_t *gen, struct s3_ent **ents,
		  size_t *n, char **token, size_t *skipped_long, size_t *skipped_dots);
/* Bytes a listing may take to be kept whole (0: never). */
size_t s3c_list_cap(struct s3 *s);
/* A fresh cached listing of dir: 0 (*ents, caller frees), else 1. */
int s3c_list_get(struct s3 *s, const char *dir, struct s3_ent **ents, size_t *n);
/* The bucket list: fresh? / just listed (fresh) or changed (!fresh). */
bool s3c_buckets_fresh(struct s3 *s);
void s3c_buckets_listed(struct s3 *s, bool fresh);
/* Objects up to this size are read whole through the cache (0: none). */
size_t s3c_data_max(struct s3 *s);
/* "If-None-Match: ETAG", else "If-Modified-Since: DATE": 1 written, 0 none. */
int s3c_cond_header(const char *etag, time_t last_modified, char *out, size_t outlen);
/* A small object's bytes (at most max), from the cache, revalidated with
 * If-None-Match when expired, else one GET (stored). Caller frees *data.
 * 0, -EFBIG (larger than max: read it the streaming way), -ENOENT, -errno. */
int s3c_object_get(struct s3 *s, const struct s3_loc *loc, const char *path, size_t max,
		   char **data, size_t *len);
/* A folder's subtree changed (rename, rmdir): forget it all. */
void s3_note_tree(struct s3 *s, const struct s3_loc *loc);
/* A folder the mount just made: its listing is known (empty). */
void s3_note_empty_dir(struct s3 *s, const struct s3_loc *loc);

/* ---- worker threads (s3_pool.c) ---- */

struct s3_job {
	void (*run)(struct s3_job *job); /* on a worker; must not wait for jobs */
	struct s3_job *next;
};

struct s3_pool;

int s3_pool_new(unsigned nthreads, struct s3_pool **out);
void s3_pool_submit(struct s3_pool *p, struct s3_job *job);
void s3_pool_free(struct s3_pool *p);

/* ---- the backend ---- */

struct s3_file;

struct s3 {
	struct aws_client *client;
	const struct fs_config *cfg;
	struct s3_options opt;         /* strings owned */
	char *prefix;                  /* single-bucket prefix, "" or "a/b/" */
	char *staging_dir;
	pthread_mutex_t list_lock;     /* serializes the mount's edits of cached listings */
	uint64_t list_gen;             /* protected by list_lock: bumped by a tree's change */
	uint64_t dir_gen[64];          /* protected by list_lock: by a change in a folder
					* (slot: a hash of the folder) */
	struct s3_pool *pool;          /* NULL until first needed; s3_submit */
	pthread_mutex_t lock;
	struct s3_file *files;         /* open files; protected by lock */
	uint64_t staging_seq;          /* protected by lock */
	/* the bucket list */
	struct s3_bucket *buckets;     /* protected by lock */
	size_t nbuckets;               /* protected by lock */
	uint64_t buckets_fetched_ms;   /* protected by lock; 0: never */
	char *sse_kms_header;          /* "x-amz-server-side-encryption-aws-kms-key-id: K" */
	char *storage_class_header;    /* "x-amz-storage-class: C" */
	struct mime_table *mime;       /* Content-Type of new objects, or NULL */
};

struct s3_bucket {
	char *name;
	time_t created;
};

/* An open file, shared by every handle on the same path. */
struct s3_file {
	struct s3_file *next;          /* in s3.files; protected by s3.lock */
	unsigned refs;                 /* protected by s3.lock */
	char *path;                    /* backend path; protected by s3.lock */
	pthread_mutex_t lock;          /* everything below */
	struct s3_loc loc;
	int fd;                        /* staging file, -1 when none */
	char *staging;                 /* its name */
	off_t size;                    /* of the staged content */
	bool exists;                   /* the object exists in S3 */
	bool loaded;                   /* fd holds the whole content */
	bool dirty;                    /* the content differs from S3 */
	bool meta_dirty;               /* metadata to store at the next upload */
	bool failed;                   /* an upload failed: keep the staging file */
	bool unlinked;                 /* removed while open: never upload */
	bool sequential;               /* every write so far continued the last */
	bool stream_failed;            /* the upload begun while writing gave up:
					* no more attempts until flush */
	off_t seq_end;
	struct s3_meta meta;           /* what the next upload stores */
	bool meta_known;
	struct s3_mpu *mpu;            /* a multipart upload in progress */
	struct s3_handle *handles;     /* open on it (freed with it at unmount) */
};

struct s3_handle {
	struct s3_file *f;
	int flags;
	struct s3_reader *rd;          /* read-ahead state (reads from S3) */
	bool whole;                    /* small: read whole through the cache */
	char *data;                    /* its bytes once read; f->lock */
	size_t dlen;
	struct s3_handle *next;        /* in f->handles; protected by f->lock */
};

/* s3.c */
/* Run job on a worker thread (the pool starts at the first call). 0, or
 * -errno when no thread could be started (the job did not run). */
int s3_submit(struct s3 *s, struct s3_job *job);
int s3_getattr(void *be, const char *path, struct stat *st);
/* Anything under folder loc but its own marker? 1 yes, 0 no, or -errno. */
int s3_folder_has_children(struct s3 *s, const struct s3_loc *loc, const char *path);
int s3_bucket_create(struct s3 *s, const char *name, const char *path);
int s3_bucket_delete(struct s3 *s, const char *name, const char *path);
int s3_head(struct s3 *s, const struct s3_loc *loc, const char *path, bool quiet,
	    struct s3_meta *m);
void s3_stat_from_meta(struct s3 *s, const struct s3_meta *m, bool is_dir, struct stat *st);
void s3_note_object(struct s3 *s, const struct s3_loc *loc, const struct stat *st);
void s3_note_gone(struct s3 *s, const struct s3_loc *loc);
/* The headers -o sse= and -o storage_class= add to PUT, multipart and copy.
 * Appended to lines as static strings (not to be freed). */
size_t s3_sse_headers(struct s3 *s, const char **lines, size_t max);

/* s3_file.c: the open-file table (s3.lock) and the file operations */
struct s3_file *s3_file_find_locked(struct s3 *s, const char *path);
/* The open file of path with a reference, or NULL. */
struct s3_file *s3_file_get(struct s3 *s, const char *path);
/* Find or make it (one reference); *made says it is new. */
int s3_file_open(struct s3 *s, const char *path, const struct s3_loc *loc,
		 struct s3_file **out, bool *made);
/* Drop a reference; true: it was the last, call s3_file_free. */
bool s3_file_unref(struct s3 *s, struct s3_file *f);
void s3_file_free(struct s3_file *f);
/* Attributes of an open file as the kernel must see them (f->lock held). */
void s3_file_stat_locked(struct s3 *s, struct s3_file *f, struct stat *st);
/* 1 and *st set when path is open with staged content, else 0. */
int s3_open_file_stat(struct s3 *s, const char *path, struct stat *st);
int s3_create(void *be, const char *path, mode_t mode, int flags, void **fh);
int s3_open(void *be, const char *path, int flags, void **fh);
int s3_read(void *be, void *fh, char *buf, size_t size, off_t off);
int s3_write(void *be, void *fh, const char *buf, size_t size, off_t off);
int s3_flush(void *be, void *fh);
int s3_release(void *be, void *fh);
int s3_truncate(void *be, const char *path, off_t size, void *fh);
int s3_statfs(void *be, const char *path, struct statvfs *st);

/* s3_change.c */
int s3_delete_key(struct s3 *s, const char *bucket, const char *key, const char *path);
/* The metadata of a new object or marker: the caller's owner, now. */
void s3_meta_new(struct s3_meta *m, mode_t mode);
/* A new object's Content-Type from its key's extension when m has none.
 * 0 or -ENOMEM. */
int s3_meta_guess_type(const struct s3 *s, struct s3_meta *m, const char *key);
int s3_unlink(void *be, const char *path);
int s3_mkdir(void *be, const char *path, mode_t mode);
int s3_rmdir(void *be, const char *path);
int s3_rename(void *be, const char *from, const char *to, unsigned int flags);
int s3_chmod(void *be, const char *path, mode_t mode);
int s3_chown(void *be, const char *path, uid_t uid, gid_t gid);
int s3_utimens(void *be, const char *path, const struct timespec tv[2]);
int s3_getxattr(void *be, const char *path, const char *name, char *buf, size_t size);
int s3_setxattr(void *be, const char *path, const char *name, const char *value, size_t size,
		int flags);
int s3_listxattr(void *be, const char *path, char *buf, size_t size);
int s3_removexattr(void *be, const char *path, const char *name);
int s3_symlink(void *be, const char *target, const char *path);
int s3_readlink(void *be, const char *path, char *buf, size_t size);

/* s3_read.c */
struct s3_reader;
int s3_reader_new(struct s3 *s, const struct s3_loc *loc, const char *path, off_t size,
		  struct s3_reader **out);
int s3_reader_read(struct s3_reader *rd, char *buf, size_t size, off_t off);
void s3_reader_free(struct s3_reader *rd);
/* Download the whole object into fd (from offset 0); m gets its metadata.
 * 0 or -errno. */
int s3_download(struct s3 *s, const struct s3_loc *loc, const char *path, int fd,
		off_t *size, struct s3_meta *m);
/* GET a small object whole (symlink targets). Caller frees *out. */
int s3_get_small(struct s3 *s, const struct s3_loc *loc, const char *path, size_t max,
		 char **out, size_t *len);

/* s3_write.c */
int s3_staging_init(struct s3 *s);
int s3_file_stage(struct s3 *s, struct s3_file *f);
int s3_file_write(struct s3 *s, struct s3_file *f, const char *buf, size_t size, off_t off);
int s3_file_read(struct s3_file *f, char *buf, size_t size, off_t off);
int s3_file_truncate(struct s3 *s, struct s3_file *f, off_t size);
int s3_file_upload(struct s3 *s, struct s3_file *f);
void s3_file_discard(struct s3_file *f);
/* PutObject of a small body with m's metadata (and extra headers). */
int s3_put(struct s3 *s, const struct s3_loc *loc, const char *path, const void *body,
	   size_t len, const struct s3_meta *m);
/* Copy src to dst; m NULL keeps the metadata (COPY), else replaces it.
 * size says whether a multipart copy is needed. */
int s3_copy(struct s3 *s, const struct s3_loc *src, const struct s3_loc *dst, const char *path,
	    off_t size, const struct s3_meta *m);

/* Plan the parts of an upload of size bytes: part size of at least
 * min_part (and S3_MIN_PART) so that at most S3_MAX_PARTS parts are needed.
 * Returns the part count (0 for an empty object); *part_size set. */
unsigned s3_plan_parts(uint64_t size, uint64_t min_part, uint64_t *part_size);

#endif

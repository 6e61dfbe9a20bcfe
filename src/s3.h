/*
 * s3: the S3 backend, MNT/s3/<bucket>/<key...> (or, in the single-bucket
 * form, the mount's root is one bucket or a prefix of it).
 *
 * Folders are common prefixes and "dir/" marker objects; listings are
 * streamed page by page and carry the attributes (no HEAD per entry);
 * reads are ranged GETs with read-ahead; writes are staged on local disk
 * and uploaded at flush/fsync/release (PutObject or multipart); metadata
 * and symlinks are stored the s3fs way. See awsfs(1), "S3".
 */
#ifndef AWSFS_S3_H
#define AWSFS_S3_H

#include <stdint.h>

#include "aws.h"
#include "backend.h"
#include "fs.h"

#define S3_DEFAULT_READAHEAD (32ull << 20)
#define S3_DEFAULT_MULTIPART_THRESHOLD (16ull << 20)
#define S3_DEFAULT_MULTIPART_SIZE (8ull << 20)
#define S3_DEFAULT_MIME_TYPES "/etc/mime.types"
#define S3_DEFAULT_PARALLEL 4

struct s3_options {
	const char *bucket;              /* single-bucket form; NULL: every bucket */
	const char *prefix;              /* its prefix, "" or "a/b" */
	uint64_t readahead;              /* largest read-ahead window per file */
	uint64_t multipart_threshold;    /* PutObject below, multipart from here */
	uint64_t multipart_size;         /* part size (>= 5 MiB) */
	uint64_t singlepart_copy_limit;  /* CopyObject up to, UploadPartCopy above */
	unsigned parallel;               /* worker threads (read-ahead, parts) */
	const char *staging_dir;         /* NULL: $TMPDIR or /var/tmp, + awsfs-UID */
	const char *sse;                 /* NULL, "AES256", "aws:kms[:KEYID]" */
	const char *storage_class;       /* NULL: the bucket's default */
	const char *mime_types;          /* Content-Type table; NULL, "" or "none": off */
};

/*
 * Make the backend. client and cfg must outlive it; opt is copied (zero
 * fields take the defaults above). Fails with -EINVAL on a bad sse value
 * and with the errno of the staging folder's creation.
 */
int s3_new(struct aws_client *client, const struct fs_config *cfg, const struct s3_options *opt,
	   struct backend *out);

/* HeadBucket for the single-bucket form: 0, or -errno with the AWS error
 * code in code (may be ""). */
int s3_check_bucket(struct aws_client *client, const char *bucket, char *code, size_t codelen);

#endif

/*
 * opts: the command line and -o options, parsed with fuse_opt.
 *
 * awsfs [options] MOUNTPOINT or awsfs [options] BUCKET[:/PREFIX] MOUNTPOINT.
 * Every awsfs option is one row of a table in opts.c (name, type, field,
 * range, default, help): parsing, --help and .awsfs/config all read that
 * table, so they cannot disagree. Options not awsfs's own (allow_other,
 * default_permissions, ...) are left in the fuse_args for libfuse.
 * Adding an option: a field here, a row in opts.c, a paragraph in awsfs(1).
 */
#ifndef AWSFS_OPTS_H
#define AWSFS_OPTS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <fuse.h>

#include "buf.h"
#include "log.h"

struct awsfs_opts {
	char *mountpoint;   /* absolute path */
	char *bucket;       /* single-bucket form, else NULL */
	char *prefix;       /* its prefix ("" for none) */

	/* Table-driven options (opts.c); strings are NULL when unset. */
	char *endpoint;     /* every service */
	char *region;
	char *profile;
	char *passwd_file;
	char *ca_file;
	char *services;     /* comma list */
	char *log_level;
	int path_style;     /* use_path_request_style */
	int no_check_certificate;
	int connect_timeout;   /* seconds */
	int readwrite_timeout; /* seconds, per attempt; 0: none */
	int uid, gid;          /* -1: the mounting user's */
	int umask;             /* octal */
	int retries;           /* attempts per request, the first included */
	char *retry_mode;      /* "standard" or "adaptive" */
	int retry_budget;      /* seconds one operation may spend retrying */
	/* S3 */
	uint64_t readahead;            /* bytes */
	uint64_t multipart_threshold;  /* bytes */
	uint64_t multipart_size;       /* bytes */
	uint64_t singlepart_copy_limit; /* bytes */
	int parallel_count;
	char *staging_dir;
	char *sse;
	char *storage_class;
	char *mime_types;
	int min_ttl, default_ttl, max_ttl, negative_ttl; /* cache, seconds */
	int s3_ttl, ddb_ttl, ssm_ttl, sqs_ttl;           /* -1: default_ttl */
	uint64_t cache_mem;    /* bytes */
	char *cache_dir;       /* object data on disk, or NULL */
	uint64_t cache_size;   /* bytes of cache_dir */
	char *ddb_json;        /* "plain" or "typed" */
	int ddb_scan_segments; /* parallel Scan segments of a table listing (0: by size) */
	int ddb_list_max;      /* items one DynamoDB listing reads at most */
	char *ssm_new_type;    /* type of new SSM parameters */
	char *ssm_kms_key;     /* KMS key of new SecureStrings */
	int sqs_receive_max;   /* messages one listing of messages/ holds */
	char *sqs_group;       /* MessageGroupId of messages sent to FIFO queues */

	/* Derived after parsing. */
	unsigned services_mask; /* bit per enum aws_service (S3..SSM) */
	enum log_level level;
	int foreground;
	int debug;
	int show_help;
	int show_version;
	int implied_default_permissions; /* allow_other without it: added */
};

/*
 * Parse args (consumed: awsfs's own options are removed, libfuse's kept).
 * On error writes one sentence into err and returns -EINVAL. Defaults are
 * filled in; the mountpoint is made absolute but not checked. *o is always
 * set, so opts_free(o) is right whatever the result.
 */
int opts_parse(struct fuse_args *args, struct awsfs_opts *o, char *err, size_t errlen);
void opts_free(struct awsfs_opts *o);

/*
 * Put the config files' options in front of the command line's (which win):
 * /etc/awsfs.conf, then ~/.config/awsfs/config ($XDG_CONFIG_HOME), or only
 * the file $AWSFS_CONFIG names. Lines are "key=value" or "key" as in -o,
 * '#' starts a comment. A missing file is fine; an unreadable one or an
 * unknown key is -EINVAL with "FILE:LINE: ..." in err.
 */
int opts_load_config(struct fuse_args *args, char *err, size_t errlen);
/* Usage and the list of every option, with defaults. */
void opts_help(FILE *out, const char *progname);
/* key=value lines of what is in force (no secrets). */
int opts_dump(const struct awsfs_opts *o, struct buf *out);

#endif

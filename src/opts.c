/*
 * opts: awsfs's command line. See opts.h.
 *
 * One table describes every awsfs option. From it a fuse_opt spec is built
 * that collects each value as text; each text is then checked and converted
 * by type (a bad number or an unknown service is an error, never a silent
 * zero). --help and .awsfs/config print the same table.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws.h"
#include "opts.h"
#include "util.h"

enum opt_type {
	OT_STR,   /* char * */
	OT_FLAG,  /* int, set to 1 by its bare name */
	OT_INT,   /* int, decimal, within [min, max] */
	OT_OCTAL, /* int, octal, within [min, max] */
	OT_SIZE,  /* uint64_t, bytes, K/M/G suffixes, within [min, max] */
};

struct opt_def {
	const char *name;
	enum opt_type type;
	size_t offset;             /* into struct awsfs_opts */
	long long min, max;
	const char *defval;        /* default as text; NULL: unset */
	const char *arg;           /* placeholder in --help ("SEC") */
	const char *help;          /* lines separated by '\n' */
	const char *const *choices; /* OT_STR limited to these (NULL-terminated) */
};

#define F(field) offsetof(struct awsfs_opts, field)

static const char *const log_levels[] = { "error", "warn", "notice", "info", "debug", NULL };
static const char *const retry_modes[] = { "standard", "adaptive", NULL };
static const char *const ddb_views[] = { "plain", "typed", NULL };
static const char *const ssm_types[] = { "String", "StringList", "SecureString", NULL };

static const struct opt_def opt_table[] = {
	{ "endpoint", OT_STR, F(endpoint), 0, 0, NULL, "URL",
	  "endpoint for every service (default: AWS_ENDPOINT_URL_<SERVICE>,\n"
	  "AWS_ENDPOINT_URL, the profile's endpoint_url, else AWS's own)", NULL },
	{ "region", OT_STR, F(region), 0, 0, NULL, "NAME",
	  "region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's\n"
	  "region, else us-east-1)", NULL },
	{ "profile", OT_STR, F(profile), 0, 0, NULL, "NAME",
	  "profile in ~/.aws/credentials and ~/.aws/config\n"
	  "(default: AWS_PROFILE, else default)", NULL },
	{ "passwd_file", OT_STR, F(passwd_file), 0, 0, NULL, "FILE",
	  "s3fs-style credentials file (ACCESS_KEY:SECRET_KEY)", NULL },
	{ "use_path_request_style", OT_FLAG, F(path_style), 0, 1, NULL, NULL,
	  "S3 path-style addressing (automatic for an IP or\nlocalhost endpoint)", NULL },
	{ "ca_file", OT_STR, F(ca_file), 0, 0, NULL, "FILE",
	  "CA bundle to verify TLS peers with", NULL },
	{ "no_check_certificate", OT_FLAG, F(no_check_certificate), 0, 1, NULL, NULL,
	  "do not verify TLS certificates (unsafe)", NULL },
	{ "services", OT_STR, F(services), 0, 0, "s3,dynamodb,sqs,ssm", "LIST",
	  "services to show, comma-separated", NULL },
	{ "log_level", OT_STR, F(log_level), 0, 0, NULL, "LEVEL",
	  "error, warn, notice, info or debug (default: notice;\ndebug with -d)", log_levels },
	{ "connect_timeout", OT_INT, F(connect_timeout), 1, 3600, "10", "SEC",
	  "TCP/TLS connect timeout", NULL },
	{ "readwrite_timeout", OT_INT, F(readwrite_timeout), 0, 86400, "0", "SEC",
	  "time limit of one request attempt, 0 for none\n"
	  "(a transfer stalled for 30 s fails anyway)", NULL },
	{ "uid", OT_INT, F(uid), 0, INT_MAX, NULL, "N",
	  "owner shown for files and folders (default: the mounting user)", NULL },
	{ "gid", OT_INT, F(gid), 0, INT_MAX, NULL, "N",
	  "group shown (default: the mounting user's group)", NULL },
	{ "umask", OT_OCTAL, F(umask), 0, 0777, "022", "MASK",
	  "octal mask applied to the modes shown", NULL },
	{ "retries", OT_INT, F(retries), 1, 50, "5", "N",
	  "attempts per request, the first included (backoff with\n"
	  "full jitter, the AWS SDKs' retry quota)", NULL },
	{ "retry_mode", OT_STR, F(retry_mode), 0, 0, "standard", "MODE",
	  "standard, or adaptive (adds the SDKs' client-side\nrate limiter)",
	  retry_modes },
	{ "min_ttl", OT_INT, F(min_ttl), 0, 31536000, "0", "SEC",
	  "shortest time anything is cached (CloudFront's Minimum TTL)", NULL },
	{ "default_ttl", OT_INT, F(default_ttl), 0, 31536000, "10", "SEC",
	  "how long entries are cached when nothing else says\n"
	  "(86400 gives CloudFront's one day)", NULL },
	{ "max_ttl", OT_INT, F(max_ttl), 0, 31536000, "31536000", "SEC",
	  "longest time anything is cached, even when an object's\n"
	  "Cache-Control asks for more", NULL },
	{ "negative_ttl", OT_INT, F(negative_ttl), 0, 31536000, "5", "SEC",
	  "how long a name that does not exist is remembered", NULL },
	{ "s3_ttl", OT_INT, F(s3_ttl), -1, 31536000, "-1", "SEC",
	  "TTL of S3 listings, attributes and data (-1: default_ttl)", NULL },
	{ "ddb_ttl", OT_INT, F(ddb_ttl), -1, 31536000, "-1", "SEC",
	  "TTL of DynamoDB tables and items (-1: default_ttl)", NULL },
	{ "ssm_ttl", OT_INT, F(ssm_ttl), -1, 31536000, "-1", "SEC",
	  "TTL of SSM parameters (-1: default_ttl)", NULL },
	{ "sqs_ttl", OT_INT, F(sqs_ttl), -1, 31536000, "-1", "SEC",
	  "TTL of SQS queue lists and attributes (-1: default_ttl)", NULL },
	{ "cache_mem", OT_SIZE, F(cache_mem), 1 << 20, 1ll << 40, "64M", "SIZE",
	  "memory the cache may hold (LRU)", NULL },
	{ "cache_dir", OT_STR, F(cache_dir), 0, 0, NULL, "DIR",
	  "keep object data on disk here too (0700; files 0600)", NULL },
	{ "cache_size", OT_SIZE, F(cache_size), 1 << 20, 1ll << 50, "1G", "SIZE",
	  "disk the cache_dir may use (LRU; 1 GiB of free space is\nalways left)", NULL },
	{ "retry_budget", OT_INT, F(retry_budget), 1, 3600, "60", "SEC",
	  "time one request may spend retrying before the\n"
	  "caller gets EAGAIN (throttled) or EIO", NULL },
	{ "readahead", OT_SIZE, F(readahead), 128 << 10, 1LL << 30, "32M", "SIZE",
	  "S3: largest read-ahead window of a sequential reader", NULL },
	{ "multipart_threshold", OT_SIZE, F(multipart_threshold), 5LL << 20, 1LL << 30, "16M",
	  "SIZE", "S3: files from this size go up as multipart uploads", NULL },
	{ "multipart_size", OT_SIZE, F(multipart_size), 5LL << 20, 5LL << 30, "8M", "SIZE",
	  "S3: part size of multipart uploads and copies (>= 5M)", NULL },
	{ "singlepart_copy_limit", OT_SIZE, F(singlepart_copy_limit), 5LL << 20, 5LL << 30, "5G",
	  "SIZE", "S3: CopyObject up to this size, UploadPartCopy above", NULL },
	{ "parallel_count", OT_INT, F(parallel_count), 1, 64, "4", "N",
	  "S3: worker threads for read-ahead and parts", NULL },
	{ "staging_dir", OT_STR, F(staging_dir), 0, 0, NULL, "DIR",
	  "S3: where writes are staged (default: $TMPDIR or\n/var/tmp, + /awsfs-UID)", NULL },
	{ "sse", OT_STR, F(sse), 0, 0, NULL, "TYPE",
	  "S3: server-side encryption: AES256, aws:kms or\naws:kms:KEYID", NULL },
	{ "storage_class", OT_STR, F(storage_class), 0, 0, NULL, "CLASS",
	  "S3: storage class of new objects (STANDARD_IA, ...)", NULL },
	{ "mime_types", OT_STR, F(mime_types), 0, 0, "/etc/mime.types", "FILE",
	  "S3: Content-Type of new objects by extension from\n"
	  "this table (none: send no Content-Type)", NULL },
	{ "ddb_json", OT_STR, F(ddb_json), 0, 0, "plain", "VIEW",
	  "DynamoDB items as plain JSON, or typed (DynamoDB's\n"
	  "own JSON, which keeps sets and binary apart)", ddb_views },
	{ "ddb_scan_segments", OT_INT, F(ddb_scan_segments), 0, 64, "0", "N",
	  "parallel Scan segments of a DynamoDB table listing;\n"
	  "0: by the table's size, 1 (under 4 MB) to 4", NULL },
	{ "ddb_list_max", OT_INT, F(ddb_list_max), 1, 10000000, "10000", "N",
	  "items one DynamoDB table or partition listing reads\n"
	  "at most (a log line says when one is cut)", NULL },
	{ "ssm_new_type", OT_STR, F(ssm_new_type), 0, 0, "String", "TYPE",
	  "type of parameters created under ssm/: String,\n"
	  "StringList or SecureString (existing ones keep theirs)", ssm_types },
	{ "ssm_kms_key", OT_STR, F(ssm_kms_key), 0, 0, NULL, "KEYID",
	  "KMS key of new SecureString parameters\n(default: the account's alias/aws/ssm)",
	  NULL },
	{ "sqs_receive_max", OT_INT, F(sqs_receive_max), 1, 100000, "100", "N",
	  "SQS messages a queue's messages/ folder holds\n"
	  "(received by listing it, 10 per ReceiveMessage)", NULL },
	{ "sqs_group", OT_STR, F(sqs_group), 0, 0, "awsfs", "ID",
	  "MessageGroupId of messages sent to FIFO queues", NULL },
};

#define NOPTS (sizeof(opt_table) / sizeof(opt_table[0]))

enum {
	KEY_HELP,
	KEY_VERSION,
	KEY_FOREGROUND,
	KEY_DEBUG,
	KEY_LIST_CONT, /* a bare service name after services= (see opt_proc) */
};

struct parse_state {
	char *raw[NOPTS];   /* each option's text, as given */
	int flag[NOPTS];    /* OT_FLAG options seen */
	struct awsfs_opts opts;
	int npos;
	char *pos[2];
	bool allow_other, default_permissions;
	char *err;
	size_t errlen;
};

/* libfuse's own -o options that awsfs passes through. */
static const char *const fuse_passthrough[] = {
	"allow_other", "allow_root", "default_permissions", "auto_unmount", "ro",
	"noatime", "atime", "nodev", "nosuid", "dev", "suid", "exec", "noexec",
	"fsname=", "subtype=", "max_read=", "max_idle_threads=", "max_threads=",
	"clone_fd", "sync", "async", "dirsync", "kernel_cache", "auto_cache",
	"entry_timeout=", "attr_timeout=", "negative_timeout=",
};

/* Options of mount(8) and fstab that mean nothing to FUSE: dropped. */
static const char *const mount_only[] = {
	"_netdev", "nofail", "noauto", "auto", "users", "user", "user=", "x-systemd.",
	"comment=", "defaults", "rw",
};

/* Entries ending in '=' or '.' match as prefixes. */
static bool in_list(const char *arg, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *p = list[i];
		size_t len = strlen(p);

		if (p[len - 1] == '=' || p[len - 1] == '.' ? strncmp(arg, p, len) == 0
							  : strcmp(arg, p) == 0)
			return true;
	}
	return false;
}

#define IN_LIST(arg, list) in_list(arg, list, sizeof(list) / sizeof(list[0]))

static int table_index(const char *name)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (strcmp(opt_table[i].name, name) == 0)
			return (int)i;
	return -1;
}

static bool is_service_word(const char *arg)
{
	enum aws_service svc;

	return aws_service_parse(arg, &svc) == 0 && svc != AWS_SVC_STS;
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct parse_state *st = data;
	struct awsfs_opts *o = &st->opts;
	int svc_idx;

	(void)outargs;
	switch (key) {
	case KEY_HELP:
		o->show_help = 1;
		return 0;
	case KEY_VERSION:
		o->show_version = 1;
		return 0;
	case KEY_FOREGROUND:
		o->foreground = 1;
		return 0;
	case KEY_DEBUG:
		o->foreground = 1;
		o->debug = 1;
		return 0;
	case FUSE_OPT_KEY_NONOPT:
		if (st->npos >= 2) {
			snprintf(st->err, st->errlen, "too many arguments: '%s'", arg);
			return -1;
		}
		st->pos[st->npos] = strdup(arg);
		if (!st->pos[st->npos])
			return -1;
		st->npos++;
		return 0;
	case FUSE_OPT_KEY_OPT:
		if (arg[0] == '-') {
			snprintf(st->err, st->errlen, "unknown option '%s'", arg);
			return -1;
		}
		if (IN_LIST(arg, mount_only))
			return 0;
		/* fuse_opt splits "-o services=s3,ssm" at the comma: a bare
		 * service name continues the list. */
		svc_idx = table_index("services");
		if (st->raw[svc_idx] && is_service_word(arg)) {
			size_t n = strlen(st->raw[svc_idx]) + strlen(arg) + 2;
			char *grown = realloc(st->raw[svc_idx], n);

			if (!grown)
				return -1;
			st->raw[svc_idx] = grown;
			strncat(grown, ",", n - strlen(grown) - 1);
			strncat(grown, arg, n - strlen(grown) - 1);
			return 0;
		}
		if (strcmp(arg, "allow_other") == 0)
			st->allow_other = true;
		if (strcmp(arg, "default_permissions") == 0)
			st->default_permissions = true;
		if (IN_LIST(arg, fuse_passthrough))
			return 1; /* libfuse's */
		if (st->raw[svc_idx] && !strchr(arg, '=')) {
			snprintf(st->err, st->errlen,
				 "unknown service '%s' in services= (s3, dynamodb, sqs, ssm)", arg);
			return -1;
		}
		snprintf(st->err, st->errlen, "unknown option '-o %s' (see awsfs --help)", arg);
		return -1;
	default:
		return 1;
	}
}

/* The fuse_opt spec for the table plus the fixed keys. Caller frees. */
static struct fuse_opt *build_spec(char ***templates)
{
	static const struct fuse_opt keys[] = {
		FUSE_OPT_KEY("-h", KEY_HELP),
		FUSE_OPT_KEY("--help", KEY_HELP),
		FUSE_OPT_KEY("-V", KEY_VERSION),
		FUSE_OPT_KEY("--version", KEY_VERSION),
		FUSE_OPT_KEY("-f", KEY_FOREGROUND),
		FUSE_OPT_KEY("-d", KEY_DEBUG),
		FUSE_OPT_KEY("debug", KEY_DEBUG),
	};
	size_t nkeys = sizeof(keys) / sizeof(keys[0]);
	struct fuse_opt *spec = calloc(NOPTS + nkeys + 1, sizeof(*spec));
	char **tpl = calloc(NOPTS, sizeof(*tpl));

	if (!spec || !tpl)
		goto nomem;
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt_def *d = &opt_table[i];
		size_t n = strlen(d->name) + 4;

		tpl[i] = malloc(n);
		if (!tpl[i])
			goto nomem;
		if (d->type == OT_FLAG) {
			snprintf(tpl[i], n, "%s", d->name);
			spec[i] = (struct fuse_opt){ tpl[i],
				offsetof(struct parse_state, flag) + i * sizeof(int), 1 };
		} else {
			snprintf(tpl[i], n, "%s=%%s", d->name);
			spec[i] = (struct fuse_opt){ tpl[i],
				offsetof(struct parse_state, raw) + i * sizeof(char *), 0 };
		}
	}
	memcpy(spec + NOPTS, keys, sizeof(keys));
	*templates = tpl;
	return spec;
nomem:
	if (tpl)
		for (size_t i = 0; i < NOPTS; i++)
			free(tpl[i]);
	free(tpl);
	free(spec);
	return NULL;
}

/* Convert one option's text into its field. */
static int convert(const struct opt_def *d, const char *text, struct awsfs_opts *o,
		   char *err, size_t errlen)
{
	char *field = (char *)o + d->offset;
	long long v;
	uint64_t sz;
	char *end;

	switch (d->type) {
	case OT_STR:
		if (d->choices) {
			const char *const *c;

			for (c = d->choices; *c && strcmp(*c, text); c++)
				;
			if (!*c) {
				snprintf(err, errlen, "bad value for %s: '%s'", d->name, text);
				return -EINVAL;
			}
		}
		free(*(char **)field);
		*(char **)field = strdup(text);
		return *(char **)field ? 0 : -ENOMEM;
	case OT_FLAG:
		*(int *)field = 1;
		return 0;
	case OT_INT:
		if (util_parse_ll(text, d->min, d->max, &v)) {
			snprintf(err, errlen, "bad value for %s: '%s' (a number from %lld to %lld)",
				 d->name, text, d->min, d->max);
			return -EINVAL;
		}
		*(int *)field = (int)v;
		return 0;
	case OT_OCTAL:
		errno = 0;
		v = strtoll(text, &end, 8);
		if (errno || *end || end == text || v < d->min || v > d->max) {
			snprintf(err, errlen, "bad value for %s: '%s' (an octal mask)", d->name,
				 text);
			return -EINVAL;
		}
		*(int *)field = (int)v;
		return 0;
	case OT_SIZE:
		if (util_parse_size(text, &sz) || sz < (uint64_t)d->min ||
		    sz > (uint64_t)d->max) {
			snprintf(err, errlen,
				 "bad value for %s: '%s' (a size from %lld to %lld bytes; K, M, G)",
				 d->name, text, d->min, d->max);
			return -EINVAL;
		}
		*(uint64_t *)field = sz;
		return 0;
	}
	return -EINVAL;
}

static int parse_services(struct awsfs_opts *o, char *err, size_t errlen)
{
	char *copy, *p, *save = NULL;
	int rc = 0;

	copy = strdup(o->services);
	if (!copy)
		return -ENOMEM;
	o->services_mask = 0;
	for (p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		enum aws_service svc;

		if (!is_service_word(p)) {
			snprintf(err, errlen,
				 "unknown service '%s' in services= (s3, dynamodb, sqs, ssm)", p);
			rc = -EINVAL;
			break;
		}
		aws_service_parse(p, &svc);
		o->services_mask |= 1u << svc;
	}
	free(copy);
	if (!rc && !o->services_mask) {
		snprintf(err, errlen, "services= names no service");
		rc = -EINVAL;
	}
	return rc;
}

/* "awsfs", or a path ending in "/awsfs": mount(8) makes the source an
 * absolute path when a file of that name is in its working folder. A
 * bucket name never holds '/'. */
static bool is_tree_source(const char *src)
{
	const char *colon = strchr(src, ':'), *slash = strrchr(src, '/');

	if (strcmp(src, "awsfs") == 0)
		return true;
	return slash && (!colon || slash < colon) && strcmp(slash + 1, "awsfs") == 0;
}

static int split_bucket(struct awsfs_opts *o, const char *spec, char *err, size_t errlen)
{
	const char *colon = strchr(spec, ':');
	const char *prefix = "";

	if (colon) {
		prefix = colon + 1;
		while (*prefix == '/')
			prefix++;
	}
	o->bucket = colon ? strndup(spec, (size_t)(colon - spec)) : strdup(spec);
	if (!o->bucket)
		return -ENOMEM;
	if (!*o->bucket) {
		snprintf(err, errlen, "empty bucket name in '%s'", spec);
		return -EINVAL;
	}
	o->prefix = strdup(prefix);
	return o->prefix ? 0 : -ENOMEM;
}

int opts_parse(struct fuse_args *args, struct awsfs_opts *out, char *err, size_t errlen)
{
	struct parse_state st = { .err = err, .errlen = errlen };
	struct awsfs_opts *o = &st.opts;
	struct fuse_opt *spec;
	char **templates = NULL;
	int rc = -EINVAL;

	o->uid = -1;
	o->gid = -1;
	err[0] = '\0';
	spec = build_spec(&templates);
	if (!spec) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (fuse_opt_parse(args, &st, spec, opt_proc) == -1) {
		if (!err[0])
			snprintf(err, errlen, "cannot parse the options");
		goto out;
	}
	if (o->show_help || o->show_version) {
		rc = 0;
		goto out;
	}
	/* Other users in, the kernel checks the modes awsfs shows: without
	 * this any of them could read a 0600 SecureString. */
	if (st.allow_other && !st.default_permissions) {
		if (fuse_opt_add_arg(args, "-odefault_permissions") == -1) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		o->implied_default_permissions = 1;
	}

	/* Every option: its text, else its default, through one converter. */
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt_def *d = &opt_table[i];
		const char *text = d->type == OT_FLAG ? (st.flag[i] ? "1" : NULL)
						      : st.raw[i] ? st.raw[i] : d->defval;

		if (text && convert(d, text, o, err, errlen))
			goto out;
	}
	if (parse_services(o, err, errlen))
		goto out;
	o->level = o->debug ? LOG_LVL_DEBUG : LOG_LVL_NOTICE;
	if (o->log_level)
		log_parse_level(o->log_level, &o->level);

	if (st.npos == 0) {
		snprintf(err, errlen, "no mountpoint given (usage: awsfs [options] MOUNTPOINT)");
		goto out;
	}
	/* mount(8) passes the fstab source first: "awsfs" is the whole tree
	 * (a bucket of that name is "awsfs:/"). */
	if (st.npos == 2 && !is_tree_source(st.pos[0]) && split_bucket(o, st.pos[0], err, errlen))
		goto out;
	o->mountpoint = realpath(st.pos[st.npos - 1], NULL);
	if (!o->mountpoint) {
		snprintf(err, errlen, "mountpoint %s: %s", st.pos[st.npos - 1], strerror(errno));
		goto out;
	}
	rc = 0;
out:
	/* The caller gets the options even on failure, to free them. */
	*out = st.opts;
	for (size_t i = 0; i < NOPTS; i++) {
		free(st.raw[i]);
		if (templates)
			free(templates[i]);
	}
	free(templates);
	free(spec);
	free(st.pos[0]);
	free(st.pos[1]);
	return rc;
}

#define OPTS_CONFIG_MAX (64u << 10)

/* key, or key=value, with value's commas escaped for fuse_opt. */
static int config_arg(const char *key, const char *value, char **out)
{
	struct buf b;
	int rc;

	buf_init(&b, 8192);
	rc = buf_puts(&b, key);
	if (!rc && value) {
		rc = buf_putc(&b, '=');
		for (const char *p = value; *p && !rc; p++) {
			if (*p == ',' || *p == '\\')
				rc = buf_putc(&b, '\\');
			if (!rc)
				rc = buf_putc(&b, *p);
		}
	}
	if (rc) {
		buf_free(&b);
		return rc;
	}
	*out = buf_detach(&b);
	return *out ? 0 : -ENOMEM;
}

static bool known_key(const char *key)
{
	char probe[256];

	if (table_index(key) >= 0 || IN_LIST(key, mount_only) || IN_LIST(key, fuse_passthrough))
		return true;
	snprintf(probe, sizeof(probe), "%s=", key);
	return IN_LIST(probe, fuse_passthrough) || IN_LIST(probe, mount_only);
}

/* Insert one file's options at *pos. A missing file is not an error. */
static int load_config_file(struct fuse_args *args, const char *path, int *pos, char *err,
			    size_t errlen)
{
	char *text = NULL, *line, *next;
	unsigned lineno = 0;
	int rc;

	rc = util_read_file(path, OPTS_CONFIG_MAX, &text, NULL);
	if (rc == -ENOENT)
		return 0;
	if (rc) {
		snprintf(err, errlen, "config file %s: %s", path, strerror(-rc));
		return -EINVAL;
	}
	for (line = text; line && *line; line = next) {
		char *key, *value = NULL, *eq, *end, *arg = NULL;

		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		end = line + strlen(line);
		while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			*--end = '\0';
		if (*line == '\0' || *line == '#')
			continue;
		key = line;
		eq = strchr(line, '=');
		if (eq) {
			value = eq + 1;
			while (*value == ' ' || *value == '\t')
				value++;
			for (end = eq; end > key && (end[-1] == ' ' || end[-1] == '\t'); end--)
				;
			*end = '\0';
		}
		if (!known_key(key)) {
			snprintf(err, errlen, "%s:%u: unknown option '%s' (see awsfs --help)", path,
				 lineno, key);
			rc = -EINVAL;
			break;
		}
		rc = config_arg(key, value, &arg);
		if (!rc && (fuse_opt_insert_arg(args, (*pos)++, "-o") ||
			    fuse_opt_insert_arg(args, (*pos)++, arg)))
			rc = -ENOMEM;
		free(arg);
		if (rc) {
			snprintf(err, errlen, "%s:%u: %s", path, lineno, strerror(-rc));
			break;
		}
	}
	free(text);
	return rc ? -EINVAL : 0;
}

int opts_load_config(struct fuse_args *args, char *err, size_t errlen)
{
	const char *only = getenv("AWSFS_CONFIG"), *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	char user[4096];
	int pos = 1, rc;

	err[0] = '\0';
	if (only && *only)
		return load_config_file(args, only, &pos, err, errlen);
	rc = load_config_file(args, "/etc/awsfs.conf", &pos, err, errlen);
	if (rc)
		return rc;
	if (xdg && *xdg)
		snprintf(user, sizeof(user), "%s/awsfs/config", xdg);
	else if (home && *home)
		snprintf(user, sizeof(user), "%s/.config/awsfs/config", home);
	else
		return 0;
	return load_config_file(args, user, &pos, err, errlen);
}

void opts_free(struct awsfs_opts *o)
{
	for (size_t i = 0; i < NOPTS; i++) {
		if (opt_table[i].type == OT_STR) {
			char **field = (char **)((char *)o + opt_table[i].offset);

			free(*field);
			*field = NULL;
		}
	}
	free(o->mountpoint);
	free(o->bucket);
	free(o->prefix);
	memset(o, 0, sizeof(*o));
}

void opts_help(FILE *out, const char *progname)
{
	fprintf(out,
		"usage: %s [options] MOUNTPOINT\n"
		"       %s [options] BUCKET[:/PREFIX] MOUNTPOINT\n"
		"\n"
		"Shows S3, DynamoDB, SQS and SSM Parameter Store as files.\n"
		"\n"
		"general options:\n"
		"    -h, --help             print this help and exit\n"
		"    -V, --version          print the version and exit\n"
		"    -f                     stay in the foreground, log to stderr\n"
		"    -d, -o debug           foreground, debug log (no secrets are logged)\n"
		"    -o opt[,opt...]        mount options\n"
		"\n"
		"awsfs options:\n",
		progname, progname);
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt_def *d = &opt_table[i];
		char head[64];

		if (d->arg)
			snprintf(head, sizeof(head), "%s=%s", d->name, d->arg);
		else
			snprintf(head, sizeof(head), "%s", d->name);
		fprintf(out, "    -o %-24s ", head);
		for (const char *p = d->help; *p; p++) {
			fputc(*p, out);
			if (*p == '\n')
				fprintf(out, "%32s", "");
		}
		if (d->defval)
			fprintf(out, " (default: %s)", d->defval);
		fputc('\n', out);
	}
	fprintf(out,
		"\n"
		"FUSE options passed through: allow_other, allow_root, default_permissions,\n"
		"auto_unmount, ro, max_threads=N, fsname=NAME and the other options of\n"
		"mount.fuse3(8). mount(8)-only options (_netdev, nofail, ...) are ignored.\n"
		"\n"
		"See awsfs(1) for the layout of each service, caching and errors.\n");
}

int opts_dump(const struct awsfs_opts *o, struct buf *out)
{
	int rc = 0;

	if (o->mountpoint)
		rc = buf_printf(out, "mountpoint=%s\n", o->mountpoint);
	if (!rc && o->bucket)
		rc = buf_printf(out, "bucket=%s\nprefix=%s\n", o->bucket, o->prefix);
	for (size_t i = 0; i < NOPTS && !rc; i++) {
		const struct opt_def *d = &opt_table[i];
		const char *field = (const char *)o + d->offset;

		switch (d->type) {
		case OT_STR:
			rc = buf_printf(out, "%s=%s\n", d->name,
					*(char *const *)field ? *(char *const *)field : "");
			break;
		case OT_FLAG:
		case OT_INT:
			rc = buf_printf(out, "%s=%d\n", d->name, *(const int *)field);
			break;
		case OT_OCTAL:
			rc = buf_printf(out, "%s=%03o\n", d->name, (unsigned)*(const int *)field);
			break;
		case OT_SIZE:
			rc = buf_printf(out, "%s=%llu\n", d->name,
					(unsigned long long)*(const uint64_t *)field);
			break;
		}
	}
	return rc;
}

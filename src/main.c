/*
 * main: parse the command line, check everything a mount needs before
 * daemonizing (mountpoint, /dev/fuse, credentials, region, endpoints), build
 * the request core and the backends, then run the FUSE loop until unmount.
 * Exit status: 0 after a clean unmount, 1 for a usage or startup error.
 */
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fuse.h>

#include "aws.h"
#include "cache.h"
#include "config.h"
#include "control.h"
#include "creds.h"
#include "ddb.h"
#include "fs.h"
#include "http.h"
#include "log.h"
#include "opts.h"
#include "s3.h"
#include "sqs.h"
#include "ssm.h"
#include "stats.h"
#include "util.h"

#define MAIN_DEFAULT_REGION "us-east-1"
#define MAIN_ATTR_TIMEOUT_S 1.0
#define MAIN_MAX_THREADS 64
#define CURL_ERROR_SIZE_FOR_PROBE 256
#define MAIN_CACHE_FREE_FLOOR (1ull << 30) /* cache_dir leaves 1 GiB free */
#define MAIN_MMAP_THRESHOLD (1 << 20)      /* malloc: 1 MiB and up is mmap'd */

/* Before daemonizing, errors go to stderr whatever the log target. */
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("awsfs: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void check_mountpoint(const char *mp)
{
	struct stat st;
	struct dirent *de;
	DIR *d;

	if (stat(mp, &st) != 0)
		die("mountpoint %s: %s", mp, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		die("mountpoint %s is not a folder", mp);
	d = opendir(mp);
	if (!d)
		die("mountpoint %s: %s", mp, strerror(errno));
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			closedir(d);
			die("mountpoint %s is not empty (awsfs would hide what is there)", mp);
		}
	}
	closedir(d);
	if (access("/dev/fuse", R_OK | W_OK) != 0)
		die("/dev/fuse: %s (is the fuse module loaded and fuse3 installed?)",
		    strerror(errno));
}

/* A mount whose endpoint cannot be reached would only fail later, call by
 * call: say so now (each distinct endpoint once). */
static void check_endpoints(struct aws_client *client, unsigned mask)
{
	char msg[CURL_ERROR_SIZE_FOR_PROBE];

	for (int i = 0; i < AWS_SVC_STS; i++) {
		const char *url = aws_client_endpoint(client, (enum aws_service)i);
		bool seen = false;

		if (!(mask & (1u << i)))
			continue;
		for (int j = 0; j < i; j++)
			if ((mask & (1u << j)) &&
			    strcmp(url, aws_client_endpoint(client, (enum aws_service)j)) == 0)
				seen = true;
		if (!seen && http_probe(url, msg, sizeof(msg)) != 0)
			die("endpoint %s (%s) is unreachable: %s", url,
			    aws_service_name((enum aws_service)i), msg);
	}
}

/* Endpoint for svc: -o endpoint, AWS_ENDPOINT_URL_<SVC>, AWS_ENDPOINT_URL,
 * the profile's endpoint_url. Caller frees; NULL for AWS's own. */
static char *endpoint_for(const struct awsfs_opts *o, enum aws_service svc)
{
	static const char *const env_names[AWS_SVC_COUNT] = {
		"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS",
		"AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL_STS",
	};
	const char *v;

	if (o->endpoint)
		return strdup(o->endpoint);
	if ((v = getenv(env_names[svc])) && *v)
		return strdup(v);
	if ((v = getenv("AWS_ENDPOINT_URL")) && *v)
		return strdup(v);
	return creds_profile_value(o->profile, "endpoint_url");
}

static int cache_stats(void *arg, struct buf *out)
{
	return cache_stats_json(arg, out);
}

/* The cache every backend shares, from the TTL and size options. */
static struct cache *make_cache(const struct awsfs_opts *o)
{
	const int svc_ttl[AWS_SVC_COUNT] = {
		[AWS_SVC_S3] = o->s3_ttl, [AWS_SVC_DYNAMODB] = o->ddb_ttl,
		[AWS_SVC_SQS] = o->sqs_ttl, [AWS_SVC_SSM] = o->ssm_ttl, [AWS_SVC_STS] = -1,
	};
	struct cache_opts co = {
		.min_ttl_ms = (uint64_t)o->min_ttl * 1000,
		.default_ttl_ms = (uint64_t)o->default_ttl * 1000,
		.max_ttl_ms = (uint64_t)o->max_ttl * 1000,
		.negative_ttl_ms = (uint64_t)o->negative_ttl * 1000,
		.mem_bytes = o->cache_mem,
		.dir = o->cache_dir,
		.disk_bytes = o->cache_size,
		.disk_free_floor = MAIN_CACHE_FREE_FLOOR,
	};
	struct cache *c;
	int rc;

	if (o->min_ttl > o->max_ttl)
		die("min_ttl (%d) is more than max_ttl (%d)", o->min_ttl, o->max_ttl);
	for (int i = 0; i < AWS_SVC_COUNT; i++)
		co.service_ttl_ms[i] = svc_ttl[i] < 0 ? -1 : (int64_t)svc_ttl[i] * 1000;
	rc = cache_new(&co, NULL, &c);
	if (rc)
		die("cache_dir %s: %s", o->cache_dir ? o->cache_dir : "-", strerror(-rc));
	cache_set_changed_hook(c, fs_kernel_forget, NULL);
	stats_set_extra("cache", cache_stats, c);
	return c;
}

static char *config_text(const struct awsfs_opts *o, struct aws_client *client,
			 struct creds_provider *creds)
{
	struct buf b;
	int rc;

	buf_init(&b, 1u << 16);
	rc = opts_dump(o, &b);
	if (!rc)
		rc = buf_printf(&b, "region_in_force=%s\n", aws_client_region(client));
	for (int i = 0; i < AWS_SVC_COUNT && !rc; i++)
		rc = buf_printf(&b, "endpoint_%s=%s\n", aws_service_name((enum aws_service)i),
				aws_client_endpoint(client, (enum aws_service)i));
	if (!rc)
		rc = buf_printf(&b, "credentials=%s\n", creds_source(creds));
	if (rc) {
		buf_free(&b);
		return NULL;
	}
	return buf_detach(&b);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct awsfs_opts o;
	struct fs_config cfg;
	struct aws_client_options copts = { 0 };
	struct creds_options crop = { 0 };
	struct http_options hopts = { 0 };
	struct creds_provider *creds = NULL;
	struct aws_client *client = NULL;
	struct creds probe = { 0 };
	struct fuse_loop_config *loop;
	struct fuse *fuse;
	char *region, *endpoints[AWS_SVC_COUNT] = { NULL }, *ctext;
	char err[512];
	int rc;

#ifdef M_MMAP_THRESHOLD
	/* Part and read-ahead buffers (MiBs) come from mmap and go back to the
	 * system when freed. glibc would raise its threshold after the first
	 * free and keep them in each thread's arena: RSS would grow by a part
	 * size per worker after the first large upload. */
	mallopt(M_MMAP_THRESHOLD, MAIN_MMAP_THRESHOLD);
#endif
	/* An allocated copy, so that config options can be inserted. */
	for (int i = 0; i < argc; i++)
		if (fuse_opt_add_arg(&args, argv[i]))
			die("out of memory");
	if (opts_load_config(&args, err, sizeof(err)) ||
	    opts_parse(&args, &o, err, sizeof(err))) {
		fprintf(stderr, "awsfs: %s\n", err);
		fprintf(stderr, "Try 'awsfs --help'.\n");
		return 1;
	}
	if (o.show_help) {
		opts_help(stdout, "awsfs");
		return 0;
	}
	if (o.show_version) {
		printf("%s %s (FUSE %d.%d)\n", PACKAGE_NAME, PACKAGE_VERSION, FUSE_MAJOR_VERSION,
		       FUSE_MINOR_VERSION);
		return 0;
	}
	log_init(1, o.level);
	check_mountpoint(o.mountpoint);

	region = o.region ? strdup(o.region) : creds_region(o.profile);
	if (!region)
		region = strdup(MAIN_DEFAULT_REGION);
	if (!region)
		die("out of memory");

	hopts.ca_file = o.ca_file;
	hopts.insecure = o.no_check_certificate;
	hopts.connect_timeout_ms = (long)o.connect_timeout * 1000;
	if (http_global_init(&hopts))
		die("cannot initialize libcurl");
	if (o.no_check_certificate)
		log_warn("TLS certificates are not checked (no_check_certificate)");

	crop.profile = o.profile;
	crop.passwd_file = o.passwd_file;
	crop.region = region;
	for (int i = 0; i < AWS_SVC_COUNT; i++)
		endpoints[i] = endpoint_for(&o, (enum aws_service)i);
	crop.sts_endpoint = endpoints[AWS_SVC_STS];
	if (creds_provider_new(&crop, &creds))
		die("out of memory");
	/* Fail now, with a clear message, rather than with a dead mount later. */
	rc = creds_get(creds, &probe);
	if (rc == -ENOKEY)
		die("no AWS credentials found (looked at AWS_ACCESS_KEY_ID, the profile "
		    "'%s' in ~/.aws/credentials and ~/.aws/config, web identity, container "
		    "and instance metadata); see awsfs(1), CREDENTIALS",
		    o.profile ? o.profile : getenv("AWS_PROFILE") ? getenv("AWS_PROFILE")
								 : "default");
	if (rc)
		die("cannot get AWS credentials from %s: %s", creds_source(creds), strerror(-rc));
	creds_clear(&probe);

	copts.region = region;
	copts.path_style = o.path_style;
	copts.request_timeout_ms = (long)o.readwrite_timeout * 1000;
	copts.max_attempts = (unsigned)o.retries;
	copts.retry_budget_ms = (unsigned)o.retry_budget * 1000u;
	copts.adaptive = strcmp(o.retry_mode, "adaptive") == 0;
	for (int i = 0; i < AWS_SVC_COUNT; i++)
		copts.endpoints[i] = endpoints[i];
	rc = aws_client_new(&copts, creds, &client);
	if (rc)
		die("bad endpoint: %s", strerror(-rc));
	check_endpoints(client, o.services_mask);

	memset(&cfg, 0, sizeof(cfg));
	cfg.services_mask = o.services_mask;
	cfg.uid = o.uid >= 0 ? (uid_t)o.uid : getuid();
	cfg.gid = o.gid >= 0 ? (gid_t)o.gid : getgid();
	cfg.umask = o.umask >= 0 ? (mode_t)o.umask : 022;
	cfg.attr_timeout = MAIN_ATTR_TIMEOUT_S;
	cfg.cache = make_cache(&o);
	cfg.mount_time = time(NULL);
	o.uid = (int)cfg.uid;
	o.gid = (int)cfg.gid;
	if (o.bucket || (o.services_mask & (1u << AWS_SVC_S3))) {
		struct s3_options so = {
			.bucket = o.bucket,
			.prefix = o.prefix,
			.readahead = o.readahead,
			.multipart_threshold = o.multipart_threshold,
			.multipart_size = o.multipart_size,
			.singlepart_copy_limit = o.singlepart_copy_limit,
			.parallel = (unsigned)o.parallel_count,
			.staging_dir = o.staging_dir,
			.sse = o.sse,
			.storage_class = o.storage_class,
			.mime_types = o.mime_types,
		};
		char code[128];

		if (o.bucket) {
			/* The single-bucket form checks its bucket before mounting. */
			rc = s3_check_bucket(client, o.bucket, code, sizeof(code));
			if (rc)
				die("bucket %s: %s%s%s", o.bucket, code[0] ? code : "",
				    code[0] ? ": " : "", strerror(-rc));
		}
		rc = s3_new(client, &cfg, &so, o.bucket ? &cfg.single : &cfg.services[AWS_SVC_S3]);
		if (rc == -EINVAL)
			die("bad value for sse: '%s' (AES256, aws:kms or aws:kms:KEYID)", o.sse);
		if (rc)
			die("cannot set up S3: %s", strerror(-rc));
	}
	if (o.services_mask & (1u << AWS_SVC_DYNAMODB)) {
		struct ddb_options dopts = {
			.view = strcmp(o.ddb_json, "typed") == 0 ? DDBJSON_TYPED : DDBJSON_PLAIN,
			.scan_segments = (unsigned)o.ddb_scan_segments,
			.list_max = (size_t)o.ddb_list_max,
		};

		if (ddb_new(client, &cfg, &dopts, &cfg.services[AWS_SVC_DYNAMODB]))
			die("out of memory");
	}
	if ((o.services_mask & (1u << AWS_SVC_SQS)) &&
	    sqs_new(client, &cfg,
		    &(struct sqs_options){ .receive_max = (size_t)o.sqs_receive_max,
					   .group = o.sqs_group },
		    &cfg.services[AWS_SVC_SQS]))
		die("out of memory");
	if (o.services_mask & (1u << AWS_SVC_SSM)) {
		struct ssm_options so = { .new_type = o.ssm_new_type, .kms_key = o.ssm_kms_key };

		if (ssm_new(client, &cfg, &so, &cfg.services[AWS_SVC_SSM]))
			die("out of memory");
	}
	ctext = config_text(&o, client, creds);
	if (!ctext || control_new(&cfg, ctext, &cfg.control))
		die("out of memory");
	free(ctext);

	/* The FUSE name shows in /proc/mounts and df. */
	if (fuse_opt_add_arg(&args, "-osubtype=awsfs,fsname=awsfs") ||
	    fuse_opt_add_arg(&args, "-omax_read=1048576"))
		die("out of memory");
	fuse = fuse_new(&args, fs_operations(), sizeof(struct fuse_operations), &cfg);
	if (!fuse)
		die("cannot set up FUSE (see the message above)");
	if (fuse_mount(fuse, o.mountpoint) != 0)
		die("cannot mount on %s", o.mountpoint);
	log_notice("mounted %s (region %s, credentials from %s)", o.mountpoint, region,
		 creds_source(creds));
	if (fuse_daemonize(o.foreground) != 0) {
		fuse_unmount(fuse);
		die("cannot go to the background");
	}
	if (!o.foreground)
		log_init(0, o.level);
	if (fuse_set_signal_handlers(fuse_get_session(fuse)) != 0) {
		fuse_unmount(fuse);
		die("cannot set signal handlers");
	}

	if (fs_forget_start(fuse) != 0) {
		fuse_unmount(fuse);
		die("cannot start a thread");
	}
	loop = fuse_loop_cfg_create();
	if (!loop) {
		fuse_unmount(fuse);
		die("out of memory");
	}
	fuse_loop_cfg_set_max_threads(loop, MAIN_MAX_THREADS);
	fuse_loop_cfg_set_idle_threads(loop, 8);
	rc = fuse_loop_mt(fuse, loop);
	fuse_loop_cfg_destroy(loop);
	fs_forget_stop();

	fuse_remove_signal_handlers(fuse_get_session(fuse));
	fuse_unmount(fuse);
	fuse_destroy(fuse);
	log_notice("unmounted %s: %llu requests, %llu retries, %llu errors", o.mountpoint,
		 (unsigned long long)stats_total(NULL, STATS_REQUESTS),
		 (unsigned long long)stats_total(NULL, STATS_RETRIES),
		 (unsigned long long)stats_total(NULL, STATS_ERRORS));

	stats_set_extra(NULL, NULL, NULL);
	cache_free(cfg.cache);
	aws_client_free(client);
	creds_provider_free(creds);
	http_global_cleanup();
	for (int i = 0; i < AWS_SVC_COUNT; i++)
		free(endpoints[i]);
	free(region);
	opts_free(&o);
	fuse_opt_free_args(&args);
	/* The loop returns the signal that ended it (SIGTERM, SIGINT): a
	 * clean unmount. Only a negative value is a failure. */
	return rc < 0 ? 1 : 0;
}

/*
 * Unit tests for src/opts.c: what the command line accepts and refuses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "aws.h"
#include "opts.h"

static char tmpdir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/awsfs-opts-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(tmpdir);
}

/* Parse a NULL-terminated argv; returns opts_parse's result. */
static int parse(struct awsfs_opts *o, char *err, struct fuse_args *args, ...)
{
	va_list ap;
	const char *a;

	*args = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
	fuse_opt_add_arg(args, "awsfs");
	va_start(ap, args);
	while ((a = va_arg(ap, const char *)))
		fuse_opt_add_arg(args, a);
	va_end(ap);
	return opts_parse(args, o, err, 256);
}

static bool has_arg(const struct fuse_args *args, const char *needle)
{
	for (int i = 0; i < args->argc; i++)
		if (strstr(args->argv[i], needle))
			return true;
	return false;
}

static void test_defaults(void **state)
{
	struct fuse_args args;
	struct awsfs_opts o;
	char err[256];

	(void)state;
	assert_int_equal(parse(&o, err, &args, tmpdir, NULL), 0);
	assert_string_equal(o.mountpoint, tmpdir);
	assert_null(o.bucket);
	assert_int_equal(o.connect_timeout, 10);
	assert_int_equal(o.uid, -1);
	assert_int_equal(o.umask, 022);
	assert_string_equal(o.services, "s3,dynamodb,sqs,ssm");
	assert_int_equal(o.services_mask, 0xf);
	assert_int_equal(o.level, LOG_LVL_NOTICE);
	opts_free(&o);
	fuse_opt_free_args(&args);
}

static void test_awsfs_options(void **state)
{
	struct fuse_args args;
	struct awsfs_opts o;
	char err[256];

	(void)state;
	assert_int_equal(parse(&o, err, &args, "-o",
			       "endpoint=http://127.0.0.1:9,region=eu-west-1,services=s3,ssm",
			       "-o", "use_path_request_style,connect_timeout=3,umask=027,uid=7",
			       "-o", "log_level=info,allow_other,_netdev", tmpdir, NULL), 0);
	assert_string_equal(o.endpoint, "http://127.0.0.1:9");
	assert_string_equal(o.region, "eu-west-1");
	assert_int_equal(o.services_mask, (1u << AWS_SVC_S3) | (1u << AWS_SVC_SSM));
	assert_int_equal(o.path_style, 1);
	assert_int_equal(o.connect_timeout, 3);
	assert_int_equal(o.umask, 027);
	assert_int_equal(o.uid, 7);
	assert_int_equal(o.level, LOG_LVL_INFO);
	/* libfuse's options stay for libfuse; mount(8)'s are dropped. */
	assert_true(has_arg(&args, "allow_other"));
	assert_false(has_arg(&args, "_netdev"));
	assert_false(has_arg(&args, "endpoint"));
	opts_free(&o);
	fuse_opt_free_args(&args);
}

static void test_debug_and_foreground(void **state)
{
	struct fuse_args args;
	struct awsfs_opts o;
	char err[256];

	(void)state;
	assert_int_equal(parse(&o, err, &args, "-d", tmpdir, NULL), 0);
	assert_true(o.foreground);
	assert_int_equal(o.level, LOG_LVL_DEBUG);
	opts_free(&o);
	fuse_opt_free_args(&args);
}

static void test_bucket_form(void **state)
{
	struct fuse_args args;
	struct awsfs_opts o;
	char err[256];

	(void)state;
	assert_int_equal(parse(&o, err, &args, "mybucket:/logs/2024", tmpdir, NULL), 0);
	assert_string_equal(o.bucket, "mybucket");
	assert_string_equal(o.prefix, "logs/2024");
	opts_free(&o);
	fuse_opt_free_args(&args);

	/* mount -t fuse.awsfs awsfs MNT: the source "awsfs" is the whole tree. */
	assert_int_equal(parse(&o, err, &args, "awsfs", tmpdir, NULL), 0);
	assert_null(o.bucket);
	opts_free(&o);
	fuse_opt_free_args(&args);
	assert_int_equal(parse(&o, err, &args, "awsfs:/", tmpdir, NULL), 0);
	assert_string_equal(o.bucket, "awsfs");
	assert_string_equal(o.prefix, "");
	opts_free(&o);
	fuse_opt_free_args(&args);
}

/* Each refusal names what is wrong. */
static void expect_refused(const char *needle, ...)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct awsfs_opts o;
	char err[256];
	const char *a;
	va_list ap;

	fuse_opt_add_arg(&args, "awsfs");
	va_start(ap, needle);
	while ((a = va_arg(ap, const char *)))
		fuse_opt_add_arg(&args, a);
	va_end(ap);
	assert_int_equal(opts_parse(&args, &o, err, sizeof(err)), -EINVAL);
	if (!strstr(err, needle))
		fail_msg("error '%s' does not mention '%s'", err, needle);
	opts_free(&o);
	fuse_opt_free_args(&args);
}

static void test_refusals(void **state)
{
	(void)state;
	expect_refused("bogus", "-o", "bogus=1", tmpdir, NULL);
	expect_refused("mountpoint", NULL);
	expect_refused("/nonexistent/awsfs", "/nonexistent/awsfs", NULL);
	expect_refused("sns", "-o", "services=s3,sns", tmpdir, NULL);
	expect_refused("service 'sns'", "-o", "services=sns,s3", tmpdir, NULL);
	expect_refused("connect_timeout", "-o", "connect_timeout=abc", tmpdir, NULL);
	expect_refused("connect_timeout", "-o", "connect_timeout=0", tmpdir, NULL);
	expect_refused("umask", "-o", "umask=999", tmpdir, NULL);
	expect_refused("log_level", "-o", "log_level=loud", tmpdir, NULL);
	expect_refused("too many", "a", "b", tmpdir, NULL);
	expect_refused("--frobnicate", "--frobnicate", tmpdir, NULL);
}

static void test_help_lists_every_option(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct buf dump;
	struct awsfs_opts o = { 0 };

	(void)state;
	opts_help(f, "awsfs");
	fclose(f);
	/* Every key .awsfs/config shows is an option --help documents. */
	buf_init(&dump, 1 << 16);
	o.uid = o.gid = -1;
	assert_int_equal(opts_dump(&o, &dump), 0);
	for (char *line = dump.data; line && *line;) {
		char *eq = strchr(line, '='), *nl = strchr(line, '\n');
		char key[64];

		assert_non_null(eq);
		snprintf(key, sizeof(key), "-o %.*s", (int)(eq - line), line);
		if (strncmp(line, "mountpoint", 10) && strncmp(line, "bucket", 6) &&
		    strncmp(line, "prefix", 6) && !strstr(text, key))
			fail_msg("--help does not list %s", key);
		line = nl ? nl + 1 : NULL;
	}
	buf_free(&dump);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_awsfs_options),
		cmocka_unit_test(test_debug_and_foreground),
		cmocka_unit_test(test_bucket_form),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_help_lists_every_option),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * fuzz_opts: the command line, -o strings above all.
 *
 * The input's lines are the arguments after "awsfs" (so "-o" on one line
 * and "region=x,services=s3,ssm" on the next, or "-oretries=3", or a
 * BUCKET:/PREFIX and a mountpoint). Checks: opts_parse answers 0 or
 * -EINVAL with one terminated sentence, a success has a mountpoint, a
 * services mask within the four services and values inside each option's
 * range, opts_dump can print it, and opts_free frees all of it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "fuzz.h"
#include "opts.h"

#define MAX_ARGS 64

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	char *text = fuzz_cstr(data, size), *words[MAX_ARGS];
	size_t n = fuzz_split(text, '\n', words, MAX_ARGS);
	struct awsfs_opts o;
	char err[512];
	int rc;

	FUZZ_CHECK(fuse_opt_add_arg(&args, "awsfs") == 0);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(fuse_opt_add_arg(&args, words[i]) == 0);
	memset(err, 'x', sizeof(err));
	rc = opts_parse(&args, &o, err, sizeof(err));
	FUZZ_CHECK(memchr(err, '\0', sizeof(err)));
	FUZZ_CHECK(rc == 0 || (rc == -EINVAL && err[0]));
	if (rc == 0 && !o.show_help && !o.show_version) {
		struct buf dump;

		FUZZ_CHECK(o.mountpoint && o.mountpoint[0] == '/');
		FUZZ_CHECK(o.services_mask && !(o.services_mask & ~((1u << AWS_SVC_STS) - 1)));
		FUZZ_CHECK(!o.bucket || (*o.bucket && o.prefix && o.prefix[0] != '/'));
		FUZZ_CHECK(o.connect_timeout >= 1 && o.retries >= 1 && o.umask >= 0 && o.umask <= 0777);
		buf_init(&dump, 1u << 20);
		FUZZ_CHECK(opts_dump(&o, &dump) == 0);
		buf_free(&dump);
	}
	opts_free(&o);
	fuse_opt_free_args(&args);
	free(text);
	return 0;
}

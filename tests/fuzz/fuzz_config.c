/*
 * fuzz_config: the config file (/etc/awsfs.conf, ~/.config/awsfs/config).
 *
 * The input is written to a file that AWSFS_CONFIG names; opts_load_config
 * turns its lines into -o options in front of the command line, and
 * opts_parse then reads the whole command line as main() does. Checks:
 * every error is one terminated sentence naming the file, a file that
 * loads leaves a command line opts_parse can take, and whatever it says,
 * everything is freed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "opts.h"

/* The file lives only as an open descriptor: unlinked at once (libFuzzer
 * ends with _exit, which runs no atexit handler), named by /proc/self/fd. */
static char config_path[64];
static int config_fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char tmpl[] = "/tmp/awsfs-fuzz-config.XXXXXX";

	fuzz_init();
	config_fd = mkstemp(tmpl);
	if (config_fd < 0) {
		perror("mkstemp");
		abort();
	}
	unlink(tmpl);
	snprintf(config_path, sizeof(config_path), "/proc/self/fd/%d", config_fd);
	setenv("AWSFS_CONFIG", config_path, 1);
	return 0;
}

static void write_config(const uint8_t *data, size_t size)
{
	size_t off = 0;

	if (ftruncate(config_fd, 0) != 0)
		abort();
	while (off < size) {
		ssize_t w = pwrite(config_fd, data + off, size - off, (off_t)off);

		if (w <= 0)
			abort();
		off += (size_t)w;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const argv[] = { "awsfs", "-f", "/" };
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct awsfs_opts o;
	char err[512];
	int rc;

	write_config(data, size);
	/* fuse_opt_insert_arg needs an allocated vector: copy ours. */
	for (int i = 0; i < 3; i++)
		FUZZ_CHECK(fuse_opt_add_arg(&args, argv[i]) == 0);
	memset(err, 'x', sizeof(err));
	rc = opts_load_config(&args, err, sizeof(err));
	FUZZ_CHECK(memchr(err, '\0', sizeof(err)));
	if (rc) {
		FUZZ_CHECK(rc == -EINVAL);
		FUZZ_CHECK(strstr(err, config_path) == err);
	} else {
		struct buf dump;

		FUZZ_CHECK(err[0] == '\0');
		/* The command line's own words stay last, in order. */
		FUZZ_CHECK(args.argc >= 3 && strcmp(args.argv[0], "awsfs") == 0);
		FUZZ_CHECK(strcmp(args.argv[args.argc - 2], "-f") == 0 &&
			   strcmp(args.argv[args.argc - 1], "/") == 0);
		rc = opts_parse(&args, &o, err, sizeof(err));
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)));
		FUZZ_CHECK(rc == 0 || (rc == -EINVAL && err[0]));
		buf_init(&dump, 1u << 20);
		if (rc == 0)
			FUZZ_CHECK(opts_dump(&o, &dump) == 0);
		buf_free(&dump);
		opts_free(&o);
	}
	fuse_opt_free_args(&args);
	return 0;
}

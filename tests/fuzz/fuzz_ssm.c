/*
 * fuzz_ssm: the ssm backend on hostile SSM answers, and its name mapping.
 *
 * First byte, low two bits:
 *   0-2  the backend (src/ssm.c) with canned answers (fuzz.h) walked by
 *        fuzz_walk: list ssm/ (DescribeParameters, every page), readdir
 *        each folder, getattr, xattrs and read each file (GetParameters
 *        for Strings, ten names at most, GetParameter for SecureStrings);
 *        with bit 2 set, write a value over the first file (PutParameter),
 *        with bit 3 a value that is not UTF-8. Names like "..", "a//b",
 *        "x@3", 2,000-byte segments or NULs in a page must never reach a
 *        listing in a form the kernel refuses.
 *   3    the rest is an SSM name: ssm_key_of_name, ssm_name_of_key and
 *        ssm_check_new_name, which must agree with each other.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ssm.h"

#define MAX_ATTEMPTS 2

static void run_backend(const uint8_t *data, size_t size, uint8_t flags)
{
	static const char value[] = "new \"value\" with \\ and\n\ttabs, \xc3\xa9t\xc3\xa9\n";
	static const char bad[] = "bytes \xff\xfe\xc3 that are not UTF-8";
	struct fuzz_walk_opts wo = { .xattr = "user.ssm.type" };
	struct ssm_options so = { 0 };
	struct fuzz_env env;
	struct backend be;

	if (flags & 4) {
		wo.data = flags & 8 ? bad : value;
		wo.data_len = flags & 8 ? sizeof(bad) - 1 : sizeof(value) - 1;
	}
	fuzz_env_init(&env, MAX_ATTEMPTS);
	FUZZ_CHECK(ssm_new(env.client, &env.cfg, &so, &be) == 0);
	fuzz_net_load(data, size);
	fuzz_walk(&be, &wo);
	be.ops->destroy(be.be);
	fuzz_net_reset();
	fuzz_env_free(&env);
}

static void run_names(const uint8_t *data, size_t size)
{
	char *name = fuzz_cstr(data, size), *key = NULL, *back, *key2 = NULL;
	int rc = ssm_key_of_name(name, &key);

	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	FUZZ_CHECK((rc == 0) == (key != NULL));
	if (rc == 0) {
		/* A key is a relative path of real segments. */
		FUZZ_CHECK(*key && key[0] != '/' && !strstr(key, "//") && !strchr(key, '@'));
		FUZZ_CHECK(key[strlen(key) - 1] != '/');
		FUZZ_CHECK(strcmp(key, ".") && strncmp(key, "./", 2) && strcmp(key, "..") &&
			   strncmp(key, "../", 3) && !strstr(key, "/./") && !strstr(key, "/../"));
		/* Its name maps back to the same key. */
		back = ssm_name_of_key(key);
		FUZZ_CHECK(back != NULL);
		FUZZ_CHECK(ssm_key_of_name(back, &key2) == 0 && strcmp(key2, key) == 0);
		FUZZ_CHECK(strcmp(back, name) == 0 || (name[0] == '/' && strcmp(back, name + 1) == 0));
		rc = ssm_check_new_name(key, 0);
		FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENAMETOOLONG);
		free(back);
		free(key2);
	}
	free(key);
	free(name);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if ((data[0] & 3) == 3)
		run_names(data + 1, size - 1);
	else
		run_backend(data + 1, size - 1, data[0]);
	return 0;
}

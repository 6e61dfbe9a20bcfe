/*
 * fuzz_ssm: the ssm backend on hostile SSM answers, and its name mapping.
 *
 * First byte, low two bits:
 *   0-2  the backend (src/ssm.c) with canned answers (fuzz.h): list
 *        ssm/ (DescribeParameters, every page), then walk what it shows:
 *        readdir each folder, getattr, listxattr and getxattr each entry,
 *        open and read each file (GetParameter); with bit 2 set, write a
 *        value to the first file and close it (PutParameter), with bit 3
 *        a value that is not UTF-8. Names like "..", "a//b", "x@3",
 *        2,000-byte segments or NULs in a page must never reach a listing
 *        in a form the kernel refuses: every entry is checked.
 *   3    the rest is an SSM name: ssm_key_of_name, ssm_name_of_key and
 *        ssm_check_new_name, which must agree with each other.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cache.h"
#include "fs.h"
#include "fuzz.h"
#include "ssm.h"

#define MAX_ATTEMPTS 2
#define MAX_VISIT 48      /* entries looked at per input */
#define MAX_DEPTH 4
/* Longest name a readdir may hand the kernel: past FUSE_NAME_MAX (linux
 * fs/fuse/readdir.c) the whole listing fails with EIO. (Past NAME_MAX, 255,
 * the entry shows but cannot be opened: ENAMETOOLONG, the user's to see.) */
#define FUSE_NAME_MAX 1024

struct walk {
	struct backend be;
	size_t visited;
	char first_file[4096];
};

struct names {
	char **v;
	size_t n;
};

static int collect(void *sink, const char *name, const struct stat *st)
{
	struct names *ns = sink;
	char **grown;

	FUZZ_CHECK(name && *name);
	FUZZ_CHECK(strcmp(name, ".") != 0 && strcmp(name, "..") != 0);
	FUZZ_CHECK(!strchr(name, '/'));
	FUZZ_CHECK(strlen(name) <= FUSE_NAME_MAX);
	if (ns->n >= MAX_VISIT)
		return 1;
	grown = realloc(ns->v, (ns->n + 1) * sizeof(*grown));
	if (!grown)
		abort();
	ns->v = grown;
	ns->v[ns->n] = strdup(name);
	if (!ns->v[ns->n])
		abort();
	ns->n++;
	return 0;
}

static void read_file(struct walk *w, const char *path)
{
	void *fh = NULL;
	char buf[4096];
	int rc = w->be.ops->open(w->be.be, path, O_RDONLY, &fh);

	FUZZ_CHECK(rc <= 0);
	if (rc)
		return;
	for (off_t off = 0; off < (off_t)(4 * sizeof(buf));) {
		int n = w->be.ops->read(w->be.be, fh, buf, sizeof(buf), off);

		FUZZ_CHECK(n <= (int)sizeof(buf));
		if (n <= 0)
			break;
		off += n;
	}
	if (w->be.ops->flush)
		FUZZ_CHECK(w->be.ops->flush(w->be.be, fh) <= 0);
	FUZZ_CHECK(w->be.ops->release(w->be.be, fh) <= 0);
}

static void visit(struct walk *w, const char *dir, unsigned depth)
{
	struct names ns = { NULL, 0 };
	int rc = w->be.ops->readdir(w->be.be, dir, collect, &ns);

	FUZZ_CHECK(rc <= 0);
	for (size_t i = 0; i < ns.n; i++) {
		char path[4096];
		struct stat st;

		if (*dir)
			snprintf(path, sizeof(path), "%s/%s", dir, ns.v[i]);
		else
			snprintf(path, sizeof(path), "%s", ns.v[i]);
		if (w->visited++ < MAX_VISIT) {
			rc = w->be.ops->getattr(w->be.be, path, &st);
			FUZZ_CHECK(rc <= 0);
			if (rc == 0 && S_ISDIR(st.st_mode) && depth < MAX_DEPTH) {
				visit(w, path, depth + 1);
			} else if (rc == 0 && S_ISREG(st.st_mode)) {
				char list[1024], val[1024];

				if (!w->first_file[0])
					snprintf(w->first_file, sizeof(w->first_file), "%s", path);
				if (w->be.ops->listxattr)
					FUZZ_CHECK(w->be.ops->listxattr(w->be.be, path, list,
									sizeof(list)) <= (int)sizeof(list));
				if (w->be.ops->getxattr)
					FUZZ_CHECK(w->be.ops->getxattr(w->be.be, path, "user.ssm.type",
								       val, sizeof(val)) <=
						   (int)sizeof(val));
				read_file(w, path);
			}
		}
		free(ns.v[i]);
	}
	free(ns.v);
}

static void write_file(struct walk *w, bool not_utf8)
{
	static const char value[] = "new \"value\" with \\ and\n\ttabs, \xc3\xa9t\xc3\xa9\n";
	static const char bad[] = "bytes \xff\xfe\xc3 that are not UTF-8";
	const char *data = not_utf8 ? bad : value;
	size_t len = not_utf8 ? sizeof(bad) - 1 : sizeof(value) - 1;
	void *fh = NULL;
	int rc;

	rc = w->be.ops->open(w->be.be, w->first_file, O_WRONLY | O_TRUNC, &fh);
	FUZZ_CHECK(rc <= 0);
	if (rc)
		return;
	rc = w->be.ops->write(w->be.be, fh, data, len, 0);
	FUZZ_CHECK(rc < 0 || rc == (int)len);
	if (w->be.ops->flush)
		FUZZ_CHECK(w->be.ops->flush(w->be.be, fh) <= 0);
	FUZZ_CHECK(w->be.ops->release(w->be.be, fh) <= 0);
}

static uint64_t fake_now(void *arg)
{
	return 1000000;
}

static void run_backend(const uint8_t *data, size_t size, uint8_t flags)
{
	struct cache_opts copts = { .default_ttl_ms = 60000, .max_ttl_ms = 86400000,
				    .negative_ttl_ms = 5000, .mem_bytes = 8u << 20 };
	struct cache_clock clock = { fake_now, NULL };
	struct fs_config cfg = { .uid = 0, .gid = 0, .umask = 022, .mount_time = 1 };
	struct ssm_options so = { 0 };
	struct walk w = { .visited = 0 };
	struct aws_client *c = fuzz_client_new(MAX_ATTEMPTS);

	for (int i = 0; i < AWS_SVC_COUNT; i++)
		copts.service_ttl_ms[i] = -1;
	FUZZ_CHECK(cache_new(&copts, &clock, &cfg.cache) == 0);
	FUZZ_CHECK(ssm_new(c, &cfg, &so, &w.be) == 0);
	fuzz_net_load(data, size);
	visit(&w, "", 0);
	if ((flags & 4) && w.first_file[0])
		write_file(&w, flags & 8);
	w.be.ops->destroy(w.be.be);
	fuzz_net_reset();
	cache_free(cfg.cache);
	fuzz_client_free(c);
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

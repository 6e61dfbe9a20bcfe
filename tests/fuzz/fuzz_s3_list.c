/*
 * fuzz_s3_list: S3 listing answers through the real request path.
 *
 * Every request (aws_call: sign, "send", retry, parse the error) gets the
 * next canned answer of the input (fuzz.h), so hostile pages, error
 * documents, throttles, cut bodies and lying tokens reach the code exactly
 * as a server would send them. The first byte picks what runs:
 *   mode 0: a ListObjectsV2 listing through paginate_xml (page size and
 *           item cap from the byte), walked the way a backend reads it
 *   mode 1: the s3 backend's bucket list: readdir of s3/, then getattr of
 *           each name it showed and of one it did not (ListBuckets pages)
 *   mode 2: the s3 backend inside a bucket: readdir and getattr there
 *   mode 3: one GetObject streamed to a sink that may stop early
 * Checks: the paginator never asks for more pages than it was allowed,
 * every consumer return reaches the caller, entries and counts agree.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs.h"
#include "fuzz.h"
#include "paginate.h"
#include "s3.h"
#include "util.h"

#define MAX_PAGES 8
#define MAX_ATTEMPTS 3
#define MAX_NAMES 64

struct list_state {
	size_t entries;
	size_t pages;
	bool stop_after_first;
};

/* What a backend takes out of a ListObjectsV2 page. */
static int objects_page(void *arg, const struct xml_node *root, size_t *items, bool *stop)
{
	struct list_state *st = arg;
	const struct xml_node *n;
	const char *s;
	long long ll;

	st->pages++;
	*items = 0;
	FUZZ_CHECK(root != NULL);
	for (n = xml_child(root, "Contents"); n; n = xml_next(n, "Contents")) {
		const char *key = xml_child_text(n, "Key");
		time_t t;

		if (!key)
			continue;
		if ((s = xml_child_text(n, "Size")))
			util_parse_ll(s, 0, INT64_MAX, &ll);
		if ((s = xml_child_text(n, "LastModified")))
			util_parse_iso8601(s, &t);
		(void)xml_child_text(n, "ETag");
		(void)xml_child_text(n, "StorageClass");
		(*items)++;
	}
	for (n = xml_child(root, "CommonPrefixes"); n; n = xml_next(n, "CommonPrefixes"))
		if (xml_child_text(n, "Prefix"))
			(*items)++;
	if ((s = xml_child_text(root, "KeyCount")))
		util_parse_ll(s, 0, 1000000, &ll);
	(void)xml_child_text(root, "IsTruncated");
	st->entries += *items;
	if (st->stop_after_first)
		*stop = true;
	return 0;
}

static void run_objects(struct aws_client *c, uint8_t b)
{
	struct aws_request req = {
		.svc = AWS_SVC_S3,
		.op = "ListObjectsV2",
		.bucket = "bucket",
		.query = "list-type=2&prefix=dir%2F&delimiter=%2F",
		.path = "/s3/bucket/dir",
	};
	struct paginate_opts po = {
		.page_size = (b >> 2) & 3,       /* 0: the API's largest */
		.max_items = (b >> 4) & 7,       /* 0: no cap */
		.max_pages = MAX_PAGES,
	};
	struct list_state st = { .stop_after_first = (b & 0x80) != 0 };
	struct paginate_result res;
	int rc;

	rc = paginate_xml(c, &req, &paginate_s3_list_objects_v2, &po, objects_page, &st, &res);
	FUZZ_CHECK(rc <= 0);
	FUZZ_CHECK(res.pages <= MAX_PAGES);
	FUZZ_CHECK(res.pages <= fuzz_net_requests());
	FUZZ_CHECK(st.pages <= res.pages);
	FUZZ_CHECK(res.items == st.entries);
	if (st.stop_after_first)
		FUZZ_CHECK(st.pages <= 1);
}

struct names {
	char *v[MAX_NAMES];
	size_t n;
	size_t total;
};

static int collect(void *sink, const char *name, const struct stat *st)
{
	struct names *ns = sink;

	FUZZ_CHECK(name != NULL);
	if (st)
		FUZZ_CHECK(S_ISDIR(st->st_mode) || S_ISREG(st->st_mode) || S_ISLNK(st->st_mode));
	ns->total++;
	if (ns->n < MAX_NAMES) {
		ns->v[ns->n] = strdup(name);
		if (!ns->v[ns->n])
			abort();
		ns->n++;
	}
	return 0;
}

static void run_backend(struct aws_client *c, const char *folder, const char *missing)
{
	struct fs_config cfg = { .uid = 0, .gid = 0, .umask = 022, .mount_time = 1 };
	struct names ns = { .n = 0 };
	struct backend be;
	struct stat st;
	int rc;

	FUZZ_CHECK(s3_new(c, &cfg, &be) == 0);
	rc = be.ops->readdir(be.be, folder, collect, &ns);
	FUZZ_CHECK(rc <= 0);
	if (rc)
		FUZZ_CHECK(ns.total == 0);
	for (size_t i = 0; i < ns.n; i++) {
		char path[2048];

		if (*folder)
			snprintf(path, sizeof(path), "%s/%s", folder, ns.v[i]);
		else
			snprintf(path, sizeof(path), "%s", ns.v[i]);
		rc = be.ops->getattr(be.be, path, &st);
		FUZZ_CHECK(rc <= 0);
		free(ns.v[i]);
	}
	rc = be.ops->getattr(be.be, missing, &st);
	FUZZ_CHECK(rc <= 0);
	be.ops->destroy(be.be);
}

struct sink_state {
	size_t got;
	size_t stop_at;
	unsigned streamed_in; /* the request whose answer reached the sink */
};

static int sink(void *arg, const char *data, size_t len)
{
	struct sink_state *s = arg;

	FUZZ_CHECK(data != NULL || len == 0);
	s->got += len;
	if (len)
		s->streamed_in = fuzz_net_requests();
	return s->stop_at && s->got >= s->stop_at;
}

static void run_get(struct aws_client *c, uint8_t b)
{
	struct sink_state s = { .stop_at = (size_t)(b >> 2) * 7 };
	struct aws_request req = {
		.svc = AWS_SVC_S3,
		.op = "GetObject",
		.bucket = "bucket",
		.key = "dir/file name+%.txt",
		.path = "/s3/bucket/dir/file name+%.txt",
		.sink = sink,
		.sink_arg = &s,
	};
	struct aws_response resp;
	int rc;

	rc = aws_call(c, &req, &resp);
	FUZZ_CHECK(rc <= 0);
	FUZZ_CHECK(resp.attempts >= 1 && resp.attempts <= MAX_ATTEMPTS);
	FUZZ_CHECK(fuzz_net_requests() == resp.attempts);
	/* Streamed bytes cannot be taken back: no attempt after one that
	 * reached the sink. */
	if (s.got)
		FUZZ_CHECK(s.streamed_in == resp.attempts);
	aws_response_free(&resp);
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
	struct aws_client *c;

	if (size < 1)
		return 0;
	c = fuzz_client_new(MAX_ATTEMPTS);
	fuzz_net_load(data + 1, size - 1);
	switch (data[0] & 3) {
	case 0:
		run_objects(c, data[0]);
		break;
	case 1:
		run_backend(c, "", "no-such-bucket");
		break;
	case 2:
		run_backend(c, "bucket", "bucket/no/such/key");
		break;
	default:
		run_get(c, data[0]);
		break;
	}
	fuzz_net_reset();
	fuzz_client_free(c);
	return 0;
}

/*
 * fuzz_s3_list: S3 listing answers through the real request path.
 *
 * Every request (aws_call: sign, "send", retry, parse the error) gets the
 * next canned answer of the input (fuzz.h), so hostile pages, error
 * documents, throttles, cut bodies and lying tokens reach the code exactly
 * as a server would send them. The first byte picks what runs:
 *   mode 0: a ListObjectsV2 listing through paginate_xml (page size and
 *           item cap from the byte), walked the way a backend reads it
 *   mode 1: the s3 backend walked from s3/ by fuzz_walk (ListBuckets
 *           pages, then each bucket's listing, HEADs and ranged GETs)
 *   mode 2: the same from inside a bucket, writing over the first file
 *           found when bit 2 is set (PutObject at release)
 *   mode 3: one GetObject streamed to a sink that may stop early
 * Checks: the paginator never asks for more pages than it was allowed,
 * every consumer return reaches the caller, entries and counts agree, and
 * every name a listing shows is one the kernel takes.
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

static void run_backend(const char *root, bool write)
{
	static const char data[] = "written through the mount\n";
	struct fuzz_walk_opts wo = { .root = root, .xattr = "user.s3.etag" };
	struct s3_options so = { .parallel = 1 };
	struct fuzz_env env;
	struct backend be;

	if (write) {
		wo.data = data;
		wo.data_len = sizeof(data) - 1;
	}
	fuzz_env_init(&env, MAX_ATTEMPTS);
	FUZZ_CHECK(s3_new(env.client, &env.cfg, &so, &be) == 0);
	fuzz_walk(&be, &wo);
	be.ops->destroy(be.be);
	fuzz_env_free(&env);
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
	fuzz_net_load(data + 1, size - 1);
	switch (data[0] & 3) {
	case 0:
		c = fuzz_client_new(MAX_ATTEMPTS);
		run_objects(c, data[0]);
		fuzz_client_free(c);
		break;
	case 1:
		run_backend("", false);
		break;
	case 2:
		run_backend("bucket", data[0] & 4);
		break;
	default:
		c = fuzz_client_new(MAX_ATTEMPTS);
		run_get(c, data[0]);
		fuzz_client_free(c);
		break;
	}
	fuzz_net_reset();
	return 0;
}

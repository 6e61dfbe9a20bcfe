/*
 * Unit tests for src/paginate.c: every page fetched with the previous
 * page's token, pages handed over one at a time, page size and item cap
 * honoured, errors and early stops end the listing.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fakehttp.h"
#include "http.h"
#include "json.h"
#include "paginate.h"

#define NPAGES 3

struct fixture {
	struct fakehttp *srv;
	struct creds_provider *creds;
	struct aws_client *client;
	char targets[8][512];  /* request targets (S3) seen, in order */
	char bodies[8][512];   /* request bodies (JSON) seen, in order */
	unsigned nreq;
	char page[4096];
	int fail_at;           /* answer 500 from this request number (1-based), 0: never */
	int fail_count;        /* that many times (0: for ever) */
	bool json;
};

/* S3: page i holds keys k<i>-0..k<i>-1 and a token "tok<i+1>" until the last. */
static void handler(void *arg, const struct fakehttp_request *req, struct fakehttp_reply *reply)
{
	struct fixture *f = arg;
	unsigned i = f->nreq++;
	const char *tok;
	int page = 0;

	if (i < 8) {
		snprintf(f->targets[i], sizeof(f->targets[i]), "%.500s", req->target);
		snprintf(f->bodies[i], sizeof(f->bodies[i]), "%.*s", (int)req->body_len,
			 req->body ? req->body : "");
	}
	if (f->fail_at && (int)(i + 1) >= f->fail_at &&
	    (!f->fail_count || (int)(i + 1) < f->fail_at + f->fail_count)) {
		reply->status = 500;
		reply->body = "<Error><Code>InternalError</Code></Error>";
		reply->body_len = strlen(reply->body);
		return;
	}
	/* The page asked for is the one after the token received. */
	tok = f->json ? strstr(req->body ? req->body : "", "\"tok") :
			strstr(req->target, "=tok");
	if (tok)
		page = atoi(tok + 4);
	if (f->json)
		snprintf(f->page, sizeof(f->page),
			 "{\"Parameters\":[{\"Name\":\"p%d-0\"},{\"Name\":\"p%d-1\"}]%s%s%s}", page,
			 page, page + 1 < NPAGES ? ",\"NextToken\":\"tok" : "",
			 page + 1 < NPAGES ? (char[]){ (char)('0' + page + 1), 0 } : "",
			 page + 1 < NPAGES ? "\"" : "");
	else
		snprintf(f->page, sizeof(f->page),
			 "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/"
			 "doc/2006-03-01/\"><Contents><Key>k%d-0</Key></Contents><Contents><Key>"
			 "k%d-1</Key></Contents>%s%d%s</ListBucketResult>",
			 page, page,
			 page + 1 < NPAGES ? "<NextContinuationToken>tok" : "<!--", page + 1,
			 page + 1 < NPAGES ? "</NextContinuationToken>" : "-->");
	reply->status = 200;
	reply->body = f->page;
	reply->body_len = strlen(f->page);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct aws_client_options o = { .region = "us-east-1" };
	struct creds_options co = { .no_imds = true };
	char url[64];

	setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
	assert_int_equal(http_global_init(NULL), 0);
	assert_int_equal(fakehttp_start(handler, f, &f->srv), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", fakehttp_port(f->srv));
	for (int i = 0; i < AWS_SVC_COUNT; i++)
		o.endpoints[i] = url;
	assert_int_equal(creds_provider_new(&co, &f->creds), 0);
	assert_int_equal(aws_client_new(&o, f->creds, &f->client), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	aws_client_free(f->client);
	creds_provider_free(f->creds);
	fakehttp_stop(f->srv);
	http_global_cleanup();
	free(f);
	return 0;
}

struct seen {
	char keys[16][16];
	unsigned n;
	unsigned pages;
	unsigned stop_after_pages; /* 0: never */
};

static int xml_page(void *arg, const struct xml_node *root, size_t *items, bool *stop)
{
	struct seen *s = arg;

	s->pages++;
	for (const struct xml_node *c = xml_child(root, "Contents"); c; c = xml_next(c, "Contents"))
		if (s->n < 16)
			snprintf(s->keys[s->n++], 16, "%s", xml_child_text(c, "Key"));
	*items = 2;
	if (s->stop_after_pages && s->pages >= s->stop_after_pages)
		*stop = true;
	return 0;
}

static const struct aws_request list_req = {
	.svc = AWS_SVC_S3, .op = "ListObjectsV2", .bucket = "b",
	.query = "delimiter=%2F&list-type=2&prefix=dir%2F", .quiet_errors = true,
};

static void test_xml_every_page_in_order(void **state)
{
	struct fixture *f = *state;
	struct seen s = { 0 };
	struct paginate_result res;

	assert_int_equal(paginate_xml(f->client, &list_req, &paginate_s3_list_objects_v2, NULL,
				      xml_page, &s, &res), 0);
	assert_int_equal(f->nreq, NPAGES);
	assert_int_equal(res.pages, NPAGES);
	assert_int_equal(res.items, 2 * NPAGES);
	assert_false(res.truncated);
	assert_int_equal(s.n, 6);
	assert_string_equal(s.keys[0], "k0-0");
	assert_string_equal(s.keys[5], "k2-1");
	/* The caller's query is kept; the token of page n goes with call n+1. */
	assert_non_null(strstr(f->targets[0], "prefix=dir%2F"));
	assert_non_null(strstr(f->targets[0], "max-keys=1000"));
	assert_null(strstr(f->targets[0], "continuation-token"));
	assert_non_null(strstr(f->targets[1], "continuation-token=tok1"));
	assert_non_null(strstr(f->targets[2], "continuation-token=tok2"));
}

static void test_xml_item_cap_and_page_size(void **state)
{
	struct fixture *f = *state;
	struct paginate_opts opts = { .page_size = 2, .max_items = 3 };
	struct seen s = { 0 };
	struct paginate_result res;

	assert_int_equal(paginate_xml(f->client, &list_req, &paginate_s3_list_objects_v2, &opts,
				      xml_page, &s, &res), 0);
	/* The last call asks only for what is still wanted, as --max-items does. */
	assert_int_equal(f->nreq, 2);
	assert_non_null(strstr(f->targets[0], "max-keys=2"));
	assert_non_null(strstr(f->targets[1], "max-keys=1"));
	assert_true(res.truncated);
}

/* A resumable listing (streaming readdir): one page a call, the token to
 * resume from handed back, the next call starting there. */
static void test_xml_resume_with_token(void **state)
{
	struct fixture *f = *state;
	struct paginate_opts opts = { .max_pages = 1, .want_next_token = true };
	struct seen s = { 0 };
	struct paginate_result res;
	char *token;

	assert_int_equal(paginate_xml(f->client, &list_req, &paginate_s3_list_objects_v2, &opts,
				      xml_page, &s, &res), 0);
	assert_int_equal(f->nreq, 1);
	assert_non_null(res.next_token);
	assert_string_equal(res.next_token, "tok1");
	token = res.next_token;
	opts.start_token = token;
	assert_int_equal(paginate_xml(f->client, &list_req, &paginate_s3_list_objects_v2, &opts,
				      xml_page, &s, &res), 0);
	free(token);
	assert_non_null(strstr(f->targets[1], "continuation-token=tok1"));
	assert_string_equal(s.keys[2], "k1-0");
	token = res.next_token;
	opts.start_token = token;
	assert_int_equal(paginate_xml(f->client, &list_req, &paginate_s3_list_objects_v2, &opts,
				      xml_page, &s, &res), 0);
	free(token);
	assert_null(res.next_token); /* the end */
	assert_int_equal(s.n, 6);
	assert_int_equal(f->nreq, 3);
}

static void test_xml_consumer_stops(void **state)
{
	struct fixture *f = *state;
	struct seen s = { .stop_after_pages = 1 };

	assert_int_equal(paginate_xml(f->client, &list_req, &paginate_s3_list_objects_v2, NULL,
				      xml_page, &s, NULL), 0);
	assert_int_equal(f->nreq, 1);
}

static void test_xml_error_mid_listing(void **state)
{
	struct fixture *f = *state;
	struct seen s = { 0 };
	struct paginate_result res;

	/* Page 2 fails for good: retried, then the listing ends with EIO. */
	f->fail_at = 2;
	assert_int_equal(paginate_xml(f->client, &list_req, &paginate_s3_list_objects_v2, NULL,
				      xml_page, &s, &res), -EIO);
	assert_int_equal(s.pages, 1);
	assert_int_equal(res.pages, 2);
	assert_int_equal(f->nreq, 1 + AWS_DEFAULT_ATTEMPTS);
}

static void test_xml_transient_error_retried(void **state)
{
	struct fixture *f = *state;
	struct seen s = { 0 };

	/* One 500 on page 2: the same page is asked again, nothing is lost. */
	f->fail_at = 2;
	f->fail_count = 1;
	assert_int_equal(paginate_xml(f->client, &list_req, &paginate_s3_list_objects_v2, NULL,
				      xml_page, &s, NULL), 0);
	assert_int_equal(f->nreq, NPAGES + 1);
	assert_int_equal(s.n, 2 * NPAGES);
	assert_non_null(strstr(f->targets[2], "continuation-token=tok1"));
}

static void test_xml_max_pages_bound(void **state)
{
	struct fixture *f = *state;
	struct paginate_opts opts = { .max_pages = 2 };
	struct seen s = { 0 };
	struct paginate_result res;

	assert_int_equal(paginate_xml(f->client, &list_req, &paginate_s3_list_objects_v2, &opts,
				      xml_page, &s, &res), 0);
	assert_int_equal(f->nreq, 2);
	assert_true(res.truncated);
}

static int json_page(void *arg, json_t *page, size_t *items, bool *stop)
{
	struct seen *s = arg;
	json_t *params = jsonx_array(page, "Parameters"), *p;
	size_t i;

	(void)stop;
	s->pages++;
	json_array_foreach(params, i, p)
		if (s->n < 16)
			snprintf(s->keys[s->n++], 16, "%s", jsonx_str(p, "Name"));
	*items = json_array_size(params);
	return 0;
}

static void test_json_next_token(void **state)
{
	struct fixture *f = *state;
	json_t *body = json_pack("{s:s,s:b}", "Path", "/app", "Recursive", 1);
	struct seen s = { 0 };
	struct paginate_result res;

	f->json = true;
	assert_int_equal(paginate_json(f->client, AWS_SVC_SSM, "GetParametersByPath", body, "/ssm",
				       &paginate_ssm_get_parameters_by_path, NULL, json_page, &s,
				       &res), 0);
	assert_int_equal(f->nreq, NPAGES);
	assert_int_equal(s.n, 6);
	assert_string_equal(s.keys[5], "p2-1");
	assert_non_null(strstr(f->bodies[0], "\"MaxResults\":10"));
	assert_null(strstr(f->bodies[0], "NextToken"));
	assert_non_null(strstr(f->bodies[1], "\"NextToken\":\"tok1\""));
	assert_non_null(strstr(f->bodies[2], "\"Path\":\"/app\""));
	/* The caller's body is not modified. */
	assert_null(json_object_get(body, "NextToken"));
	json_decref(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_xml_every_page_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xml_item_cap_and_page_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xml_resume_with_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xml_consumer_stops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xml_error_mid_listing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xml_max_pages_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xml_transient_error_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_next_token, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

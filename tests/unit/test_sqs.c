/*
 * Unit tests for src/sqs.c: names, URLs and bodies, and the backend's
 * operations against a tiny SQS served by fakehttp (JSON protocol):
 * ListQueues paging, send-lines batching with partial failures (retried
 * or reported), receive limits and long-poll, the visibility timeout on an
 * injected clock, EFBIG, rm as DeleteMessage, rmdir of a non-empty queue.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "backend.h"
#include "cache.h"
#include "fakehttp.h"
#include "fs.h"
#include "http.h"
#include "json.h"
#include "sqs.h"

#define NQUEUES 30
#define MAX_MSGS 64
#define MAX_LOG 256

struct fmsg {
	char id[40];
	char body[2048];
	int received; /* times */
	bool gone;
};

struct fqueue {
	char name[96];
	struct fmsg m[MAX_MSGS];
	int n;
	int vis; /* VisibilityTimeout */
	int max_size;
};

struct fixture {
	struct fakehttp *srv;
	struct creds_provider *creds;
	struct aws_client *client;
	struct fs_config cfg;
	struct backend be;
	struct fqueue q[NQUEUES];
	int nq;
	char ops[MAX_LOG][32];
	char bodies[MAX_LOG][512];
	int nops;
	int fail_id;         /* SendMessageBatch: answer this entry Id Failed... */
	int fail_times;      /* ...this many times (-1: always) */
	bool fail_sender;    /* with SenderFault true */
	int next_id;
	char port[8];
	char reply[1 << 16];
};

static uint64_t g_now_ms = 1000000;

static uint64_t now_ms(void)
{
	return g_now_ms;
}

static uint64_t cache_now(void *arg)
{
	(void)arg;
	return g_now_ms;
}

static void reply_json(struct fixture *f, struct fakehttp_reply *r, int status, json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT);

	snprintf(f->reply, sizeof(f->reply), "%s", s);
	free(s);
	json_decref(v);
	r->status = status;
	r->headers = "Content-Type: application/x-amz-json-1.0\r\n";
	r->body = f->reply;
	r->body_len = strlen(f->reply);
}

static struct fqueue *find_q(struct fixture *f, const char *name_or_url)
{
	const char *slash = name_or_url ? strrchr(name_or_url, '/') : NULL;
	const char *name = slash ? slash + 1 : name_or_url;

	for (int i = 0; name && i < f->nq; i++)
		if (strcmp(f->q[i].name, name) == 0)
			return &f->q[i];
	return NULL;
}

static json_t *url_of(struct fixture *f, const struct fqueue *q)
{
	char url[160];

	snprintf(url, sizeof(url), "http://127.0.0.1:%s/123456789012/%s", f->port, q->name);
	return json_string(url);
}

static struct fqueue *add_q(struct fixture *f, const char *name)
{
	struct fqueue *q = &f->q[f->nq++];

	memset(q, 0, sizeof(*q));
	snprintf(q->name, sizeof(q->name), "%s", name);
	q->vis = 30;
	q->max_size = 262144;
	return q;
}

static void add_msg(struct fixture *f, struct fqueue *q, const char *body, size_t len)
{
	struct fmsg *m = &q->m[q->n++];

	snprintf(m->id, sizeof(m->id), "id-%04d", f->next_id++);
	snprintf(m->body, sizeof(m->body), "%.*s", (int)len, body);
}

static void handler(void *arg, const struct fakehttp_request *req, struct fakehttp_reply *r)
{
	struct fixture *f = arg;
	char target[128], op[64];
	json_t *body = NULL, *out = json_object(), *v;
	struct fqueue *q;
	const char *dot;
	size_t i;

	fakehttp_header(req, "x-amz-target", target, sizeof(target));
	dot = strrchr(target, '.');
	snprintf(op, sizeof(op), "%.40s", dot ? dot + 1 : target);
	if (f->nops < MAX_LOG) {
		snprintf(f->ops[f->nops], sizeof(f->ops[0]), "%.30s", op);
		snprintf(f->bodies[f->nops], sizeof(f->bodies[0]), "%.*s", (int)req->body_len,
			 req->body ? req->body : "");
		f->nops++;
	}
	jsonx_parse(req->body, req->body_len, 1 << 22, &body);
	q = find_q(f, jsonx_str(body, "QueueUrl") ? jsonx_str(body, "QueueUrl")
						  : jsonx_str(body, "QueueName"));

	if (strcmp(op, "ListQueues") == 0) {
		long long max = 1000, start = 0;
		const char *tok = jsonx_str(body, "NextToken");
		json_t *urls = json_array();

		jsonx_int(body, "MaxResults", &max);
		if (tok)
			start = strtoll(tok, NULL, 10);
		/* Pages of at most 7, whatever is asked, to make several. */
		if (max > 7)
			max = 7;
		for (long long k = start; k < f->nq && k < start + max; k++)
			json_array_append_new(urls, url_of(f, &f->q[k]));
		json_object_set_new(out, "QueueUrls", urls);
		if (start + max < f->nq) {
			char t[24];

			snprintf(t, sizeof(t), "%lld", start + max);
			json_object_set_new(out, "NextToken", json_string(t));
		}
	} else if (strcmp(op, "CreateQueue") == 0) {
		q = add_q(f, jsonx_str(body, "QueueName"));
		json_object_set_new(out, "QueueUrl", url_of(f, q));
	} else if (!q) {
		json_decref(out);
		json_decref(body);
		reply_json(f, r, 400, json_pack("{s:s, s:s}", "__type",
						"com.amazonaws.sqs#QueueDoesNotExist", "message",
						"The specified queue does not exist."));
		return;
	} else if (strcmp(op, "GetQueueUrl") == 0) {
		json_object_set_new(out, "QueueUrl", url_of(f, q));
	} else if (strcmp(op, "GetQueueAttributes") == 0) {
		int visible = 0, inflight = 0;
		char a[3][24];

		for (int k = 0; k < q->n; k++) {
			if (!q->m[k].gone && q->m[k].received)
				inflight++;
			else if (!q->m[k].gone)
				visible++;
		}
		snprintf(a[0], sizeof(a[0]), "%d", visible);
		snprintf(a[1], sizeof(a[1]), "%d", inflight);
		snprintf(a[2], sizeof(a[2]), "%d", q->max_size);
		json_object_set_new(out, "Attributes",
				    json_pack("{s:s, s:s, s:s, s:s, s:i}",
					      "ApproximateNumberOfMessages", a[0],
					      "ApproximateNumberOfMessagesNotVisible", a[1],
					      "MaximumMessageSize", a[2],
					      "ApproximateNumberOfMessagesDelayed", "0",
					      "VisibilityTimeout", q->vis));
	} else if (strcmp(op, "DeleteQueue") == 0) {
		*q = f->q[--f->nq];
	} else if (strcmp(op, "SendMessage") == 0) {
		v = json_object_get(body, "MessageBody");
		add_msg(f, q, json_string_value(v), json_string_length(v));
	} else if (strcmp(op, "SendMessageBatch") == 0) {
		json_t *ok = json_array(), *bad = json_array();

		json_array_foreach(json_object_get(body, "Entries"), i, v) {
			json_t *mb = json_object_get(v, "MessageBody");
			const char *id = jsonx_str(v, "Id");

			if (f->fail_times != 0 && strtol(id, NULL, 10) == f->fail_id) {
				if (f->fail_times > 0)
					f->fail_times--;
				json_array_append_new(bad, json_pack("{s:s, s:b, s:s, s:s}", "Id", id,
								     "SenderFault", f->fail_sender,
								     "Code", "InternalError",
								     "Message", "injected"));
				continue;
			}
			add_msg(f, q, json_string_value(mb), json_string_length(mb));
			json_array_append_new(ok, json_pack("{s:s, s:s}", "Id", id, "MessageId",
							    q->m[q->n - 1].id));
		}
		json_object_set_new(out, "Successful", ok);
		json_object_set_new(out, "Failed", bad);
	} else if (strcmp(op, "ReceiveMessage") == 0) {
		long long max = 1;
		json_t *msgs = json_array();

		jsonx_int(body, "MaxNumberOfMessages", &max);
		for (int k = 0; k < q->n && (long long)json_array_size(msgs) < max; k++) {
			struct fmsg *m = &q->m[k];
			char rh[64], cnt[16];

			if (m->gone || m->received)
				continue;
			m->received++;
			snprintf(rh, sizeof(rh), "rh-%s-%d", m->id, m->received);
			snprintf(cnt, sizeof(cnt), "%d", m->received);
			json_array_append_new(msgs, json_pack(
				"{s:s, s:s, s:s, s:{s:s, s:s}, s:{s:{s:s, s:s}}}", "MessageId", m->id,
				"ReceiptHandle", rh, "Body", m->body, "Attributes",
				"ApproximateReceiveCount", cnt, "SentTimestamp", "1700000000123",
				"MessageAttributes", "color", "DataType", "String", "StringValue",
				"blue"));
		}
		json_object_set_new(out, "Messages", msgs);
	} else if (strcmp(op, "DeleteMessage") == 0) {
		const char *rh = jsonx_str(body, "ReceiptHandle");

		for (int k = 0; rh && k < q->n; k++)
			if (strncmp(rh + 3, q->m[k].id, strlen(q->m[k].id)) == 0)
				q->m[k].gone = true;
	}
	json_decref(body);
	reply_json(f, r, 200, out);
}

static int setup_with(void **state, size_t receive_max)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct cache_opts copts = { .default_ttl_ms = 10000, .max_ttl_ms = 86400000,
				    .negative_ttl_ms = 5000, .mem_bytes = 64u << 20 };
	struct cache_clock clock = { cache_now, f };
	struct aws_client_options o = { .region = "us-east-1", .max_attempts = 1 };
	struct creds_options co = { .no_imds = true };
	struct sqs_options so = { .receive_max = receive_max, .group = "grp" };
	char url[64];

	setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
	assert_int_equal(http_global_init(NULL), 0);
	assert_int_equal(fakehttp_start(handler, f, &f->srv), 0);
	snprintf(f->port, sizeof(f->port), "%d", fakehttp_port(f->srv));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", fakehttp_port(f->srv));
	for (int i = 0; i < AWS_SVC_COUNT; i++)
		o.endpoints[i] = url;
	assert_int_equal(creds_provider_new(&co, &f->creds), 0);
	assert_int_equal(aws_client_new(&o, f->creds, &f->client), 0);
	f->cfg.umask = 022;
	f->cfg.attr_timeout = 1.0;
	for (int i = 0; i < AWS_SVC_COUNT; i++)
		copts.service_ttl_ms[i] = -1;
	g_now_ms = 1000000;
	assert_int_equal(cache_new(&copts, &clock, &f->cfg.cache), 0);
	assert_int_equal(sqs_new(f->client, &f->cfg, &so, &f->be), 0);
	sqs_set_clock(&f->be, now_ms);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, 0);
}

static int setup_max25(void **state)
{
	return setup_with(state, 25);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	f->be.ops->destroy(f->be.be);
	cache_free(f->cfg.cache);
	aws_client_free(f->client);
	creds_provider_free(f->creds);
	fakehttp_stop(f->srv);
	http_global_cleanup();
	free(f);
	return 0;
}

static int count(const struct fixture *f, const char *op)
{
	int n = 0;

	for (int i = 0; i < f->nops; i++)
		n += strcmp(f->ops[i], op) == 0;
	return n;
}

static const char *last_body(const struct fixture *f, const char *op)
{
	for (int i = f->nops - 1; i >= 0; i--)
		if (strcmp(f->ops[i], op) == 0)
			return f->bodies[i];
	return "";
}

struct names {
	char v[128][64];
	int n;
};

static int collect(void *sink, const char *name, const struct stat *st)
{
	struct names *nm = sink;

	(void)st;
	if (nm->n < 128)
		snprintf(nm->v[nm->n++], sizeof(nm->v[0]), "%s", name);
	return 0;
}

#define OPS(f) ((f)->be.ops)

/* open + write + close (flush, release); the first error, or 0. */
static int write_file(struct fixture *f, const char *path, const char *data, size_t len)
{
	void *fh = NULL;
	int rc = OPS(f)->open(f->be.be, path, O_WRONLY, &fh), wrc = 0;

	if (rc)
		return rc;
	if (len)
		wrc = OPS(f)->write(f->be.be, fh, data, len, 0);
	rc = OPS(f)->flush(f->be.be, fh);
	OPS(f)->release(f->be.be, fh);
	if (wrc < 0)
		return wrc;
	return rc;
}

/* ------------------------------------------------------------ pure parts */

static void test_names(void **state)
{
	char long81[82];
	const char *n;
	size_t len;

	(void)state;
	assert_true(sqs_name_valid("jobs"));
	assert_true(sqs_name_valid("a-b_C9.fifo"));
	assert_false(sqs_name_valid(""));
	assert_false(sqs_name_valid("a b"));
	assert_false(sqs_name_valid("a.b"));
	assert_false(sqs_name_valid(".fifo"));
	memset(long81, 'x', 81);
	long81[81] = '\0';
	assert_false(sqs_name_valid(long81));
	long81[80] = '\0';
	assert_true(sqs_name_valid(long81));

	n = sqs_name_of_url("https://sqs.us-east-1.amazonaws.com/123456789012/jobs", &len);
	assert_non_null(n);
	assert_int_equal(len, 4);
	assert_memory_equal(n, "jobs", 4);
	n = sqs_name_of_url("http://127.0.0.1:4566/000000000000/q.fifo/", &len);
	assert_int_equal(len, 6);
	assert_memory_equal(n, "q.fifo", 6);
	assert_null(sqs_name_of_url("http://host", &len));
	assert_null(sqs_name_of_url("http://host/", &len));
}

static void test_bodies(void **state)
{
	(void)state;
	assert_true(sqs_body_valid("hi\n\t\r", 5));
	assert_true(sqs_body_valid("caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80", 14));
	assert_false(sqs_body_valid("a\0b", 3));           /* NUL */
	assert_false(sqs_body_valid("\x01", 1));           /* control */
	assert_false(sqs_body_valid("\xff", 1));           /* not UTF-8 */
	assert_false(sqs_body_valid("\xc3", 1));           /* cut short */
	assert_false(sqs_body_valid("\xc0\xaf", 2));       /* overlong */
	assert_false(sqs_body_valid("\xed\xa0\x80", 3));   /* surrogate */
	assert_false(sqs_body_valid("\xef\xbf\xbe", 3));   /* U+FFFE */
	assert_false(sqs_body_valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
}

/* ------------------------------------------------------------ the folder */

static void test_list_every_page_then_lookups_are_free(void **state)
{
	struct fixture *f = *state;
	struct names nm = { .n = 0 };
	struct stat st;
	char name[16];

	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "q%02d", i);
		add_q(f, name);
	}
	assert_int_equal(OPS(f)->readdir(f->be.be, "", collect, &nm), 0);
	assert_int_equal(nm.n, 20);
	assert_int_equal(count(f, "ListQueues"), 3); /* 7 + 7 + 6 */
	assert_string_equal(nm.v[19], "q19");
	f->nops = 0;
	assert_int_equal(OPS(f)->getattr(f->be.be, "q05", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(OPS(f)->getattr(f->be.be, "q05/send", &st), 0);
	assert_int_equal(st.st_mode & 0777, 0200);
	assert_int_equal(f->nops, 0);
	/* Missing from the list: asked (it may be new), then known absent. */
	assert_int_equal(OPS(f)->getattr(f->be.be, "nope", &st), -ENOENT);
	assert_int_equal(count(f, "GetQueueUrl"), 1);
	assert_int_equal(OPS(f)->getattr(f->be.be, "nope", &st), -ENOENT);
	assert_int_equal(count(f, "GetQueueUrl"), 1);
	assert_int_equal(OPS(f)->getattr(f->be.be, "bad name", &st), -ENOENT);
	assert_int_equal(f->nops, 1);
}

static void test_mkdir_fifo_and_rmdir_not_empty(void **state)
{
	struct fixture *f = *state;
	struct names nm = { .n = 0 };

	assert_int_equal(OPS(f)->mkdir(f->be.be, "jobs.fifo", 0755), 0);
	assert_non_null(strstr(f->bodies[f->nops - 1], "\"FifoQueue\":\"true\""));
	assert_non_null(strstr(f->bodies[f->nops - 1], "\"ContentBasedDeduplication\":\"true\""));
	assert_int_equal(OPS(f)->mkdir(f->be.be, "bad.name", 0755), -EINVAL);
	assert_int_equal(OPS(f)->mkdir(f->be.be, "jobs.fifo/x", 0755), -EPERM);
	assert_int_equal(OPS(f)->readdir(f->be.be, "", collect, &nm), 0);
	assert_int_equal(nm.n, 1);
	add_msg(f, &f->q[0], "x", 1);
	assert_int_equal(OPS(f)->rmdir(f->be.be, "jobs.fifo"), -ENOTEMPTY);
	assert_int_equal(f->nq, 1);
	f->q[0].m[0].gone = true;
	assert_int_equal(OPS(f)->rmdir(f->be.be, "jobs.fifo"), 0);
	assert_int_equal(f->nq, 0);
	assert_int_equal(OPS(f)->getattr(f->be.be, "jobs.fifo", &(struct stat){ 0 }), -ENOENT);
}

/* ------------------------------------------------------------ sending */

static void test_send_is_one_message_per_close_and_fifo_fields(void **state)
{
	struct fixture *f = *state;
	struct fqueue *q = add_q(f, "o.fifo");

	assert_int_equal(write_file(f, "o.fifo/send", "hello\n", 6), 0);
	assert_int_equal(write_file(f, "o.fifo/send", "", 0), 0); /* empty: nothing */
	assert_int_equal(count(f, "SendMessage"), 1);
	assert_int_equal(q->n, 1);
	assert_string_equal(q->m[0].body, "hello\n");
	/* The group and the content's SHA-256 as deduplication id. */
	assert_non_null(strstr(last_body(f, "SendMessage"), "\"MessageGroupId\":\"grp\""));
	assert_non_null(strstr(last_body(f, "SendMessage"),
			       "\"MessageDeduplicationId\":\"5891b5b522d5df086d0ff0b110fbd9d"
			       "21bb4fc7163af34d08286a2e846f6be03\""));
}

static void test_send_over_max_is_efbig_and_nothing_sent(void **state)
{
	struct fixture *f = *state;
	struct fqueue *q = add_q(f, "small");
	char big[1100];
	void *fh = NULL;

	q->max_size = 1024;
	memset(big, 'x', sizeof(big));
	assert_int_equal(write_file(f, "small/send", big, 1025), -EFBIG);
	assert_int_equal(q->n, 0);
	/* A first write within the cap, a second past it: still nothing. */
	assert_int_equal(OPS(f)->open(f->be.be, "small/send", O_WRONLY, &fh), 0);
	assert_int_equal(OPS(f)->write(f->be.be, fh, big, 1000, 0), 1000);
	assert_int_equal(OPS(f)->write(f->be.be, fh, big, 100, 1000), -EFBIG);
	assert_int_equal(OPS(f)->flush(f->be.be, fh), -EFBIG);
	OPS(f)->release(f->be.be, fh);
	assert_int_equal(q->n, 0);
	assert_int_equal(count(f, "SendMessage"), 0);
	assert_int_equal(write_file(f, "small/send", big, 1024), 0);
	assert_int_equal(q->n, 1);
	/* Not text SQS carries. */
	assert_int_equal(write_file(f, "small/send", "\xff", 1), -EINVAL);
	assert_int_equal(q->n, 1);
}

static void test_send_lines_batches_of_ten(void **state)
{
	struct fixture *f = *state;
	struct fqueue *q = add_q(f, "lines");
	char text[4096];
	size_t len = 0;

	for (int i = 0; i < 25; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "line %d\n", i);
	len += (size_t)snprintf(text + len, sizeof(text) - len, "\nlast");
	assert_int_equal(write_file(f, "lines/send-lines", text, len), 0);
	assert_int_equal(q->n, 26);
	assert_string_equal(q->m[0].body, "line 0");
	assert_string_equal(q->m[25].body, "last");
	assert_int_equal(count(f, "SendMessageBatch"), 3); /* 10, 10, 6 */
}

static void test_send_lines_partial_failure_retried(void **state)
{
	struct fixture *f = *state;
	struct fqueue *q = add_q(f, "flaky");
	const char *ten = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n";

	f->fail_id = 3;
	f->fail_times = 1;
	assert_int_equal(write_file(f, "flaky/send-lines", ten, strlen(ten)), 0);
	assert_int_equal(count(f, "SendMessageBatch"), 2);
	/* The retry held only the failed entry. */
	assert_non_null(strstr(last_body(f, "SendMessageBatch"), "\"MessageBody\":\"d\""));
	assert_null(strstr(last_body(f, "SendMessageBatch"), "\"MessageBody\":\"a\""));
	assert_int_equal(q->n, 10);
}

static void test_send_lines_lost_entries_are_eio(void **state)
{
	struct fixture *f = *state;
	struct fqueue *q = add_q(f, "lossy");
	const char *ten = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n";

	f->fail_id = 3;
	f->fail_times = -1;
	assert_int_equal(write_file(f, "lossy/send-lines", ten, strlen(ten)), -EIO);
	assert_int_equal(count(f, "SendMessageBatch"), 3); /* the tries */
	assert_int_equal(q->n, 9);
	/* The sender's fault is not retried. */
	f->nops = 0;
	f->fail_sender = true;
	assert_int_equal(write_file(f, "lossy/send-lines", ten, strlen(ten)), -EIO);
	assert_int_equal(count(f, "SendMessageBatch"), 1);
}

/* ------------------------------------------------------------ receiving */

static void test_receive_limit_wait_and_visibility(void **state)
{
	struct fixture *f = *state;
	struct fqueue *q = add_q(f, "in");
	struct names nm = { .n = 0 };
	char path[128], buf[64], val[16];
	struct stat st;
	void *fh = NULL;
	int first;

	for (int i = 0; i < 40; i++) {
		snprintf(buf, sizeof(buf), "body %d", i);
		add_msg(f, q, buf, strlen(buf));
	}
	q->vis = 30;
	assert_int_equal(OPS(f)->readdir(f->be.be, "in/messages", collect, &nm), 0);
	assert_int_equal(nm.n, 25);
	assert_int_equal(count(f, "ReceiveMessage"), 3); /* 10 + 10 + 5 */
	for (first = 0; strcmp(f->ops[first], "ReceiveMessage") != 0; first++)
		;
	assert_non_null(strstr(f->bodies[first], "\"WaitTimeSeconds\":1"));
	assert_non_null(strstr(f->bodies[first + 1], "\"WaitTimeSeconds\":0"));
	assert_non_null(strstr(f->bodies[first + 2], "\"MaxNumberOfMessages\":5"));

	/* Full: no receive; the files read back byte for byte. */
	nm.n = 0;
	assert_int_equal(OPS(f)->readdir(f->be.be, "in/messages", collect, &nm), 0);
	assert_int_equal(count(f, "ReceiveMessage"), 3);
	snprintf(path, sizeof(path), "in/messages/%s", q->m[7].id);
	assert_int_equal(OPS(f)->getattr(f->be.be, path, &st), 0);
	assert_int_equal(st.st_size, 6);
	assert_int_equal(OPS(f)->open(f->be.be, path, O_RDONLY, &fh), 0);
	assert_int_equal(OPS(f)->read(f->be.be, fh, buf, sizeof(buf), 0), 6);
	assert_memory_equal(buf, "body 7", 6);
	OPS(f)->release(f->be.be, fh);
	assert_int_equal(OPS(f)->open(f->be.be, path, O_WRONLY, &fh), -EPERM);
	assert_int_equal(OPS(f)->getxattr(f->be.be, path, "user.sqs.receive_count", val,
					  sizeof(val)), 1);
	assert_memory_equal(val, "1", 1);
	assert_int_equal(OPS(f)->getxattr(f->be.be, path, "user.sqs.attr.color", val,
					  sizeof(val)), 4);
	assert_int_equal(OPS(f)->getxattr(f->be.be, path, "user.sqs.message_group_id", val,
					  sizeof(val)), -ENODATA);
	assert_int_equal(OPS(f)->getxattr(f->be.be, path, "user.sqs.attr.color", val, 2),
			 -ERANGE);

	/* rm: DeleteMessage with its receipt handle. */
	assert_int_equal(OPS(f)->unlink(f->be.be, path), 0);
	assert_true(q->m[7].gone);
	assert_int_equal(OPS(f)->getattr(f->be.be, path, &st), -ENOENT);

	/* 30 s visibility, 1 s kernel attribute timeout: gone from the folder
	 * at 29 s, before SQS hands them out again. */
	snprintf(path, sizeof(path), "in/messages/%s", q->m[8].id);
	g_now_ms += 28900;
	assert_int_equal(OPS(f)->getattr(f->be.be, path, &st), 0);
	g_now_ms += 200;
	assert_int_equal(OPS(f)->getattr(f->be.be, path, &st), -ENOENT);
	assert_int_equal(OPS(f)->unlink(f->be.be, path), -ENOENT);
}

static void test_bad_opens(void **state)
{
	struct fixture *f = *state;
	void *fh = NULL;
	char buf[8];

	add_q(f, "q");
	assert_int_equal(OPS(f)->open(f->be.be, "q/send", O_RDONLY, &fh), -EPERM);
	assert_int_equal(OPS(f)->open(f->be.be, "q/send", O_RDWR, &fh), 0);
	assert_int_equal(OPS(f)->read(f->be.be, fh, buf, sizeof(buf), 0), -EBADF);
	OPS(f)->release(f->be.be, fh);
	assert_int_equal(OPS(f)->open(f->be.be, "q/attributes.json", O_WRONLY, &fh), -EPERM);
	assert_int_equal(OPS(f)->create(f->be.be, "q/messages/new", 0644, O_WRONLY, &fh), -EPERM);
	assert_int_equal(OPS(f)->create(f->be.be, "q/other", 0644, O_WRONLY, &fh), -EPERM);
	assert_int_equal(OPS(f)->unlink(f->be.be, "q/send"), -EPERM);
	assert_int_equal(OPS(f)->rmdir(f->be.be, "q/messages"), -EPERM);
	assert_int_equal(OPS(f)->truncate(f->be.be, "q/send", 0, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_bodies),
		cmocka_unit_test_setup_teardown(test_list_every_page_then_lookups_are_free, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mkdir_fifo_and_rmdir_not_empty, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_send_is_one_message_per_close_and_fifo_fields,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_over_max_is_efbig_and_nothing_sent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_send_lines_batches_of_ten, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_lines_partial_failure_retried, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_send_lines_lost_entries_are_eio, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_receive_limit_wait_and_visibility, setup_max25,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_opens, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests for src/ssm.c: the name mapping, and the backend's operations
 * against a tiny Parameter Store served by fakehttp (DescribeParameters
 * honouring MaxResults, GetParameter with name:version, GetParameters,
 * PutParameter with Overwrite, DeleteParameter). Checks what a user of
 * the mount would see and what went over the wire.
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
#include "ssm.h"

#define MAX_PARAMS 256
#define MAX_LOG 64

struct fparam {
	char name[128];
	char type[16];
	char value[9000];
	char tier[16];
	char key_id[64];
	char old[3][64]; /* values of versions 1..3 when overwritten */
	int version;
	double modified;  /* LastModifiedDate the listing says; 0: 1700000000.5 */
};

struct fixture {
	struct fakehttp *srv;
	struct creds_provider *creds;
	struct aws_client *client;
	struct fs_config cfg;
	struct backend be;
	uint64_t now_ms;           /* the cache's clock */
	struct fparam p[MAX_PARAMS];
	int n;
	char ops[MAX_LOG][32];     /* operations seen, in order */
	char bodies[MAX_LOG][1024];
	int nops;
	char reply[65536];
	bool deny_batch;           /* GetParameters: AccessDeniedException */
};

static void reply_json(struct fixture *f, struct fakehttp_reply *r, int status, json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT);

	snprintf(f->reply, sizeof(f->reply), "%s", s);
	free(s);
	json_decref(v);
	r->status = status;
	r->headers = "Content-Type: application/x-amz-json-1.1\r\n";
	r->body = f->reply;
	r->body_len = strlen(f->reply);
}

static void reply_error(struct fixture *f, struct fakehttp_reply *r, const char *code)
{
	reply_json(f, r, 400, json_pack("{s:s, s:s}", "__type", code, "message", code));
}

static struct fparam *find(struct fixture *f, const char *name)
{
	const char *bare = name[0] == '/' && !strchr(name + 1, '/') ? name + 1 : name;

	for (int i = 0; i < f->n; i++)
		if (strcmp(f->p[i].name, bare) == 0)
			return &f->p[i];
	return NULL;
}

static json_t *describe_entry(const struct fparam *p)
{
	json_t *e = json_pack("{s:s, s:s, s:i, s:f, s:s, s:s}", "Name", p->name, "Type", p->type,
			      "Version", p->version, "LastModifiedDate",
			      p->modified ? p->modified : 1700000000.5, "Tier",
			      p->tier, "DataType", "text");

	if (p->key_id[0])
		json_object_set_new(e, "KeyId", json_string(p->key_id));
	return e;
}

static void handler(void *arg, const struct fakehttp_request *req, struct fakehttp_reply *r)
{
	struct fixture *f = arg;
	char target[128], op[64];
	json_t *body = NULL;
	const char *dot;

	fakehttp_header(req, "x-amz-target", target, sizeof(target));
	dot = strrchr(target, '.');
	snprintf(op, sizeof(op), "%.40s", dot ? dot + 1 : target);
	if (f->nops < MAX_LOG) {
		snprintf(f->ops[f->nops], sizeof(f->ops[0]), "%.30s", op);
		snprintf(f->bodies[f->nops], sizeof(f->bodies[0]), "%.*s", (int)req->body_len,
			 req->body ? req->body : "");
		f->nops++;
	}
	jsonx_parse(req->body, req->body_len, 1 << 20, &body);

	if (strcmp(op, "DescribeParameters") == 0) {
		long long max = 50, start = 0;
		const char *tok = jsonx_str(body, "NextToken");
		json_t *out = json_object(), *arr = json_array();

		jsonx_int(body, "MaxResults", &max);
		if (tok)
			start = strtoll(tok, NULL, 10);
		if (json_object_get(body, "ParameterFilters")) {
			const char *want = json_string_value(json_array_get(json_object_get(
				json_array_get(json_object_get(body, "ParameterFilters"), 0),
				"Values"), 0));
			struct fparam *p = find(f, want);

			if (p)
				json_array_append_new(arr, describe_entry(p));
		} else {
			for (long long i = start; i < f->n && i < start + max; i++)
				json_array_append_new(arr, describe_entry(&f->p[i]));
			if (start + max < f->n) {
				char t[24];

				snprintf(t, sizeof(t), "%lld", start + max);
				json_object_set_new(out, "NextToken", json_string(t));
			}
		}
		json_object_set_new(out, "Parameters", arr);
		reply_json(f, r, 200, out);
	} else if (strcmp(op, "GetParameter") == 0) {
		char name[160];
		char *colon;
		struct fparam *p;
		const char *value;
		long version = 0;

		snprintf(name, sizeof(name), "%s", jsonx_str(body, "Name"));
		colon = strchr(name, ':');
		if (colon)
			*colon++ = '\0';
		p = find(f, name);
		if (colon)
			version = strtol(colon, NULL, 10);
		if (!p) {
			reply_error(f, r, "ParameterNotFound");
		} else if (colon && (version < 1 || version > p->version || version > 3)) {
			reply_error(f, r, "ParameterVersionNotFound");
		} else {
			if (!colon)
				version = p->version;
			value = version == p->version ? p->value : p->old[version - 1];
			reply_json(f, r, 200,
				   json_pack("{s:{s:s, s:s, s:s, s:i, s:f, s:s}}", "Parameter",
					     "Name", p->name, "Type", p->type, "Value", value,
					     "Version", (int)version, "LastModifiedDate",
					     1700000001.25, "DataType", "text"));
		}
	} else if (strcmp(op, "GetParameters") == 0) {
		json_t *names = json_object_get(body, "Names"), *n;
		json_t *out = json_pack("{s:[], s:[]}", "Parameters", "InvalidParameters");
		size_t i;

		json_array_foreach(names, i, n) {
			struct fparam *p = find(f, json_string_value(n));

			if (!p)
				json_array_append(json_object_get(out, "InvalidParameters"), n);
			else
				json_array_append_new(
					json_object_get(out, "Parameters"),
					json_pack("{s:s, s:s, s:s, s:i, s:f, s:s}", "Name", p->name,
						  "Type", p->type, "Value", p->value, "Version",
						  p->version, "LastModifiedDate",
						  p->modified ? p->modified : 1700000000.5, "DataType",
						  "text"));
		}
		if (f->deny_batch)
			reply_error(f, r, "AccessDeniedException");
		else if (json_array_size(names) > 10)
			reply_error(f, r, "ValidationException");
		else
			reply_json(f, r, 200, out);
		if (f->deny_batch || json_array_size(names) > 10)
			json_decref(out);
	} else if (strcmp(op, "PutParameter") == 0) {
		const char *name = jsonx_str(body, "Name");
		struct fparam *p = find(f, name);

		if (p && !json_is_true(json_object_get(body, "Overwrite"))) {
			reply_error(f, r, "ParameterAlreadyExists");
		} else {
			if (!p) {
				bool single = name[0] == '/' && !strchr(name + 1, '/');

				p = &f->p[f->n++];
				memset(p, 0, sizeof(*p));
				snprintf(p->name, sizeof(p->name), "%s", single ? name + 1 : name);
			} else if (p->version <= 3) {
				snprintf(p->old[p->version - 1], sizeof(p->old[0]), "%.60s",
					 p->value);
			}
			p->version++;
			snprintf(p->value, sizeof(p->value), "%s", jsonx_str(body, "Value"));
			snprintf(p->type, sizeof(p->type), "%s", jsonx_str(body, "Type"));
			snprintf(p->tier, sizeof(p->tier), "%s",
				 jsonx_str(body, "Tier") ? jsonx_str(body, "Tier") : "Standard");
			reply_json(f, r, 200, json_pack("{s:i, s:s}", "Version", p->version, "Tier",
							p->tier));
		}
	} else if (strcmp(op, "DeleteParameter") == 0) {
		struct fparam *p = find(f, jsonx_str(body, "Name"));

		if (!p) {
			reply_error(f, r, "ParameterNotFound");
		} else {
			*p = f->p[--f->n];
			reply_json(f, r, 200, json_object());
		}
	} else {
		reply_error(f, r, "InvalidAction");
	}
	json_decref(body);
}

static void add(struct fixture *f, const char *name, const char *type, const char *value)
{
	struct fparam *p = &f->p[f->n++];

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->type, sizeof(p->type), "%s", type);
	snprintf(p->value, sizeof(p->value), "%s", value);
	snprintf(p->tier, sizeof(p->tier), "Standard");
	if (strcmp(type, "SecureString") == 0)
		snprintf(p->key_id, sizeof(p->key_id), "alias/aws/ssm");
	p->version = 1;
}

static uint64_t fake_now(void *arg)
{
	return ((struct fixture *)arg)->now_ms;
}

static int setup_with(void **state, const struct ssm_options *so)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct cache_opts copts = { .default_ttl_ms = 60000, .max_ttl_ms = 86400000,
				    .negative_ttl_ms = 5000, .mem_bytes = 64u << 20 };
	struct cache_clock clock = { fake_now, f };
	struct aws_client_options o = { .region = "us-east-1", .max_attempts = 1 };
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
	f->cfg.uid = 1000;
	f->cfg.gid = 1000;
	f->cfg.umask = 022;
	for (int i = 0; i < AWS_SVC_COUNT; i++)
		copts.service_ttl_ms[i] = -1;
	f->now_ms = 1000000;
	assert_int_equal(cache_new(&copts, &clock, &f->cfg.cache), 0);
	assert_int_equal(ssm_new(f->client, &f->cfg, so, &f->be), 0);
	add(f, "/app/prod/db_url", "String", "postgres://db");
	add(f, "/app/prod/password", "SecureString", "hunter2");
	add(f, "/app/list", "StringList", "a,b");
	add(f, "/app/db", "String", "the db");
	add(f, "/app/db/user", "String", "admin");
	add(f, "single", "String", "s");
	*state = f;
	return 0;
}

static int setup(void **state)
{
	struct ssm_options so = { 0 };

	return setup_with(state, &so);
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
	return NULL;
}

struct names {
	char v[64][64];
	int n;       /* kept (64 at most) */
	int total;   /* seen */
	mode_t mode[64];
};

static int collect(void *sink, const char *name, const struct stat *st)
{
	struct names *n = sink;

	n->total++;
	if (n->n == 64)
		return 0;
	snprintf(n->v[n->n], sizeof(n->v[0]), "%s", name);
	n->mode[n->n] = st ? st->st_mode : 0;
	n->n++;
	return 0;
}

static int ls(struct fixture *f, const char *path, struct names *out)
{
	memset(out, 0, sizeof(*out));
	return f->be.ops->readdir(f->be.be, path, collect, out);
}

static bool listed(const struct names *n, const char *name, bool dir)
{
	for (int i = 0; i < n->n; i++)
		if (strcmp(n->v[i], name) == 0)
			return S_ISDIR(n->mode[i]) == dir;
	return false;
}

/* Read a whole file through open/read/release. */
static int cat(struct fixture *f, const char *path, char *out, size_t len)
{
	void *fh = NULL;
	int rc = f->be.ops->open(f->be.be, path, O_RDONLY, &fh), n;

	if (rc)
		return rc;
	n = f->be.ops->read(f->be.be, fh, out, len - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	f->be.ops->release(f->be.be, fh);
	return n;
}

/* ------------------------------------------------------------- names */

static void test_key_of_name(void **state)
{
	char *k;

	(void)state;
	assert_int_equal(ssm_key_of_name("/a/b/c", &k), 0);
	assert_string_equal(k, "a/b/c");
	free(k);
	assert_int_equal(ssm_key_of_name("foo", &k), 0);
	assert_string_equal(k, "foo");
	free(k);
	assert_int_equal(ssm_key_of_name("/foo", &k), 0); /* SSM's own "foo" */
	assert_string_equal(k, "foo");
	free(k);
	assert_int_equal(ssm_key_of_name("/with space/x", &k), 0); /* shown, if listed */
	free(k);
	{
		const char *bad[] = { "a/b", "/", "", "/a//b", "/a/", "/a/./b", "/a/../b",
				      "/a@1", "/..", "//a" };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			assert_int_equal(ssm_key_of_name(bad[i], &k), -EINVAL);
			assert_null(k);
		}
	}
	{
		/* A segment of NAME_MAX bytes is a file name; one more is not,
		 * and 2,000 would fail the whole readdir in the kernel (found by
		 * tests/fuzz/fuzz_ssm). */
		char name[2100];

		name[0] = '/';
		memset(name + 1, 'n', 255);
		memcpy(name + 256, "/x", 3);
		assert_int_equal(ssm_key_of_name(name, &k), 0);
		free(k);
		memset(name + 1, 'n', 256);
		memcpy(name + 257, "/x", 3);
		assert_int_equal(ssm_key_of_name(name, &k), -EINVAL);
		assert_null(k);
		memset(name + 1, 'm', 2000);
		name[2001] = '\0';
		assert_int_equal(ssm_key_of_name(name, &k), -EINVAL);
		assert_null(k);
	}
}

static void test_name_of_key_and_checks(void **state)
{
	char *n;
	char deep[128] = "";
	char longname[1100];

	(void)state;
	n = ssm_name_of_key("a/b");
	assert_string_equal(n, "/a/b");
	free(n);
	n = ssm_name_of_key("foo");
	assert_string_equal(n, "foo");
	free(n);

	assert_int_equal(ssm_check_new_name("app/prod/x-1_2.y", 0), 0);
	assert_int_equal(ssm_check_new_name("app/with space", 0), -EINVAL);
	assert_int_equal(ssm_check_new_name("app/star*", 0), -EINVAL);
	assert_int_equal(ssm_check_new_name("app/caf\xc3\xa9", 0), -EINVAL);
	assert_int_equal(ssm_check_new_name("awsx", 0), -EINVAL);
	assert_int_equal(ssm_check_new_name("AWS/x", 0), -EINVAL);
	assert_int_equal(ssm_check_new_name("Ssm-thing", 0), -EINVAL);
	assert_int_equal(ssm_check_new_name("app//x", 0), -EINVAL);
	for (int i = 1; i <= 15; i++)
		snprintf(deep + strlen(deep), sizeof(deep) - strlen(deep), "%sl%d",
			 i > 1 ? "/" : "", i);
	assert_int_equal(ssm_check_new_name(deep, 0), 0);  /* 15 levels */
	assert_int_equal(ssm_check_new_name(deep, 1), -EINVAL); /* a folder there: no room */
	snprintf(deep + strlen(deep), sizeof(deep) - strlen(deep), "/l16");
	assert_int_equal(ssm_check_new_name(deep, 0), -EINVAL);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(ssm_check_new_name(longname, 0), -ENAMETOOLONG);
}

/* ------------------------------------------------------------ listing */

static void test_tree_from_one_listing(void **state)
{
	struct fixture *f = *state;
	struct names n;
	struct stat st;

	assert_int_equal(ls(f, "", &n), 0);
	assert_int_equal(n.n, 2);
	assert_true(listed(&n, "app", true));
	assert_true(listed(&n, "single", false));
	assert_int_equal(ls(f, "app", &n), 0);
	assert_int_equal(n.n, 4);
	assert_true(listed(&n, "prod", true));
	assert_true(listed(&n, "list", false));
	/* /app/db is a parameter and a folder: the folder keeps the name. */
	assert_true(listed(&n, "db", true));
	assert_true(listed(&n, "db@", false));
	assert_int_equal(ls(f, "app/prod", &n), 0);
	assert_int_equal(n.n, 2);
	assert_int_equal(f->be.ops->getattr(f->be.be, "app/db@", &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(f->be.ops->getattr(f->be.be, "app/db", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(f->be.ops->getattr(f->be.be, "app/nope", &st), -ENOENT);
	assert_int_equal(f->be.ops->getattr(f->be.be, "app/a@b/c", &st), -ENOENT);
	assert_int_equal(ls(f, "app/list", &n), -ENOTDIR);
	assert_int_equal(ls(f, "nope", &n), -ENOENT);
	/* All of it from one DescribeParameters call, 50 asked for. */
	assert_int_equal(f->nops, 1);
	assert_string_equal(f->ops[0], "DescribeParameters");
	assert_non_null(strstr(f->bodies[0], "\"MaxResults\":50"));
}

static void test_ttl_and_invalidation(void **state)
{
	struct fixture *f = *state;
	struct names n;
	struct stat st;

	assert_int_equal(ls(f, "app", &n), 0);
	assert_int_equal(f->be.ops->getattr(f->be.be, "app/prod/db_url", &st), 0);
	f->now_ms += 59000;
	assert_int_equal(ls(f, "app/prod", &n), 0);
	assert_int_equal(count(f, "DescribeParameters"), 1); /* within the ssm TTL */
	f->now_ms += 2000;
	add(f, "/app/later", "String", "l");
	assert_int_equal(ls(f, "app", &n), 0);
	assert_true(listed(&n, "later", false));
	assert_int_equal(count(f, "DescribeParameters"), 2);
	/* .awsfs/invalidate "/ssm/app/prod/" + '*': that folder lists again,
	 * the others are still good. */
	add(f, "/app/prod/new", "String", "n");
	assert_int_equal(cache_invalidate(f->cfg.cache, "/ssm/app/prod/*") > 0, 1);
	assert_int_equal(ls(f, "", &n), 0);
	assert_int_equal(count(f, "DescribeParameters"), 2);
	assert_int_equal(f->be.ops->getattr(f->be.be, "app/prod/new", &st), 0);
	assert_int_equal(count(f, "DescribeParameters"), 3);
	assert_int_equal(cache_invalidate(f->cfg.cache, "/ssm/*") > 0, 1);
	assert_int_equal(ls(f, "", &n), 0);
	assert_int_equal(count(f, "DescribeParameters"), 4);
	/* A selector's answer is cached too, and dropped by a write. */
	assert_int_equal(f->be.ops->getattr(f->be.be, "single@1", &st), 0);
	assert_int_equal(f->be.ops->getattr(f->be.be, "single@1", &st), 0);
	assert_int_equal(f->be.ops->getattr(f->be.be, "single@2", &st), -ENOENT);
	assert_int_equal(f->be.ops->getattr(f->be.be, "single@2", &st), -ENOENT);
	assert_int_equal(count(f, "GetParameter"), 2);
}

static void test_every_page(void **state)
{
	struct fixture *f = *state;
	struct names n;
	char name[64];

	for (int i = 0; i < 120; i++) {
		snprintf(name, sizeof(name), "/many/p%03d", i);
		add(f, name, "String", "v");
	}
	assert_int_equal(ls(f, "many", &n), 0);
	assert_int_equal(n.total, 120);
	assert_int_equal(count(f, "DescribeParameters"), 3); /* 126 at 50 a page */
	assert_non_null(strstr(f->bodies[1], "\"NextToken\":\"50\""));
	assert_non_null(strstr(f->bodies[2], "\"NextToken\":\"100\""));
}

static void test_modes_and_sizes(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	char buf[64];

	assert_int_equal(f->be.ops->getattr(f->be.be, "app/prod/password", &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 0); /* not read yet: unknown */
	assert_int_equal(st.st_mtime, 1700000000);
	assert_int_equal(f->be.ops->getattr(f->be.be, "app/prod/db_url", &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(cat(f, "app/prod/password", buf, sizeof(buf)), 7);
	assert_string_equal(buf, "hunter2");
	assert_non_null(strstr(last_body(f, "GetParameter"), "\"WithDecryption\":true"));
	assert_int_equal(f->be.ops->getattr(f->be.be, "app/prod/password", &st), 0);
	assert_int_equal(st.st_size, 7); /* known now */
}

/* A LastModifiedDate no time_t can hold (or a negative one) is no time at
 * all, not undefined behaviour in a cast (found by tests/fuzz/fuzz_ssm). */
static void test_time_out_of_range(void **state)
{
	struct fixture *f = *state;
	const double bad[] = { 1.6e89, -1.6e89, -5.0, 1e19 };
	struct stat st, dir;
	char name[32];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(name, sizeof(name), "/odd/t%zu", i);
		add(f, name, "String", "v");
		f->p[f->n - 1].modified = bad[i];
	}
	assert_int_equal(f->be.ops->getattr(f->be.be, "", &dir), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(name, sizeof(name), "odd/t%zu", i);
		assert_int_equal(f->be.ops->getattr(f->be.be, name, &st), 0);
		assert_true(st.st_mtime >= 0 && st.st_mtime <= dir.st_mtime + 1);
	}
}

static void test_selectors(void **state)
{
	struct fixture *f = *state;
	struct names n;
	struct stat st;
	char buf[64];
	void *fh;

	f->p[0].version = 3;
	snprintf(f->p[0].old[0], sizeof(f->p[0].old[0]), "first");
	snprintf(f->p[0].old[1], sizeof(f->p[0].old[1]), "second");
	assert_int_equal(cat(f, "app/prod/db_url@1", buf, sizeof(buf)), 5);
	assert_string_equal(buf, "first");
	assert_non_null(strstr(last_body(f, "GetParameter"), "\"/app/prod/db_url:1\""));
	assert_int_equal(f->be.ops->getattr(f->be.be, "app/prod/db_url@2", &st), 0);
	assert_int_equal(st.st_mode & 07777, 0444);
	assert_int_equal(st.st_size, 6);
	assert_int_equal(f->be.ops->getattr(f->be.be, "app/prod/db_url@9", &st), -ENOENT);
	assert_int_equal(f->be.ops->getattr(f->be.be, "app/prod/db_url@bad label", &st),
			 -ENOENT);
	assert_int_equal(f->be.ops->open(f->be.be, "app/prod/db_url@1", O_WRONLY, &fh), -EROFS);
	assert_int_equal(f->be.ops->unlink(f->be.be, "app/prod/db_url@1"), -EROFS);
	assert_int_equal(ls(f, "app/prod", &n), 0);
	assert_int_equal(n.n, 2);
}

/* ------------------------------------------------------------ writing */

static int write_all(struct fixture *f, const char *path, bool create, const char *data,
		     size_t len, int *flush_rc)
{
	void *fh = NULL;
	int rc;

	if (create)
		rc = f->be.ops->create(f->be.be, path, 0644, O_WRONLY | O_CREAT | O_TRUNC, &fh);
	else
		rc = f->be.ops->open(f->be.be, path, O_WRONLY | O_TRUNC, &fh);
	if (rc)
		return rc;
	rc = f->be.ops->write(f->be.be, fh, data, len, 0);
	*flush_rc = f->be.ops->flush(f->be.be, fh);
	f->be.ops->release(f->be.be, fh);
	return rc;
}

static void test_create_drops_one_newline(void **state)
{
	struct fixture *f = *state;
	struct names n;
	int frc;

	assert_int_equal(write_all(f, "app/new", true, "v\n", 2, &frc), 2);
	assert_int_equal(frc, 0);
	assert_string_equal(find(f, "/app/new")->value, "v");
	assert_string_equal(find(f, "/app/new")->type, "String");
	assert_non_null(strstr(last_body(f, "PutParameter"), "\"Overwrite\":false"));
	assert_non_null(strstr(last_body(f, "PutParameter"), "\"Tier\":\"Standard\""));
	assert_int_equal(write_all(f, "app/new", false, "two\n\n", 5, &frc), 5);
	assert_string_equal(find(f, "/app/new")->value, "two\n");
	assert_int_equal(ls(f, "app", &n), 0);
	assert_true(listed(&n, "new", false)); /* read-your-writes, no listing */
	assert_int_equal(count(f, "DescribeParameters"), 1);
	/* A top-level file is a name without a slash. */
	assert_int_equal(write_all(f, "top", true, "t", 1, &frc), 1);
	assert_non_null(strstr(last_body(f, "PutParameter"), "\"Name\":\"top\""));
}

static void test_overwrite_keeps_type_and_key(void **state)
{
	struct fixture *f = *state;
	const char *b;
	int frc;

	assert_int_equal(write_all(f, "app/prod/password", false, "new\n", 4, &frc), 4);
	assert_int_equal(frc, 0);
	b = last_body(f, "PutParameter");
	assert_non_null(strstr(b, "\"Overwrite\":true"));
	assert_non_null(strstr(b, "\"Type\":\"SecureString\""));
	assert_non_null(strstr(b, "\"KeyId\":\"alias/aws/ssm\""));
	assert_string_equal(find(f, "/app/prod/password")->value, "new");
	assert_int_equal(find(f, "/app/prod/password")->version, 2);
}

static void test_new_type_option(void **state)
{
	struct fixture *f = *state;
	struct ssm_options so = { .new_type = "SecureString", .kms_key = "alias/k" };
	struct backend be;
	struct stat st;
	void *fh;

	f->be.ops->destroy(f->be.be);
	assert_int_equal(ssm_new(f->client, &f->cfg, &so, &f->be), 0);
	assert_int_equal(f->be.ops->create(f->be.be, "app/s", 0644, O_WRONLY | O_CREAT, &fh), 0);
	assert_int_equal(f->be.ops->getattr(f->be.be, "app/s", &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(f->be.ops->write(f->be.be, fh, "x", 1, 0), 1);
	assert_int_equal(f->be.ops->release(f->be.be, fh), 0);
	assert_non_null(strstr(last_body(f, "PutParameter"), "\"Type\":\"SecureString\""));
	assert_non_null(strstr(last_body(f, "PutParameter"), "\"KeyId\":\"alias/k\""));
	so.new_type = "Secure";
	assert_int_equal(ssm_new(f->client, &f->cfg, &so, &be), -EINVAL);
}

static void test_too_big_sends_nothing(void **state)
{
	struct fixture *f = *state;
	static char big[5000];
	struct stat st;
	int frc;

	memset(big, 'x', sizeof(big));
	assert_int_equal(write_all(f, "app/list", false, big, 4097, &frc), 4097);
	assert_int_equal(frc, -EFBIG); /* 4097 bytes, no newline to drop */
	assert_int_equal(write_all(f, "app/list", false, big, 4098, &frc), -EFBIG);
	assert_int_equal(frc, -EFBIG);
	assert_int_equal(write_all(f, "app/big", true, big, sizeof(big), &frc), -EFBIG);
	assert_int_equal(count(f, "PutParameter"), 0);
	assert_string_equal(find(f, "/app/list")->value, "a,b");
	assert_int_equal(f->be.ops->getattr(f->be.be, "app/big", &st), -ENOENT);
	big[4096] = '\n';
	assert_int_equal(write_all(f, "app/list", false, big, 4097, &frc), 4097);
	assert_int_equal(frc, 0);
	assert_int_equal(strlen(find(f, "/app/list")->value), 4096);
}

static void test_flush_without_write_defers(void **state)
{
	struct fixture *f = *state;
	void *fh;

	/* bash: open (O_TRUNC), dup2, close (flush), write, close. */
	assert_int_equal(f->be.ops->open(f->be.be, "single", O_WRONLY | O_TRUNC, &fh), 0);
	assert_int_equal(f->be.ops->flush(f->be.be, fh), 0);
	assert_int_equal(count(f, "PutParameter"), 0);
	assert_int_equal(f->be.ops->write(f->be.be, fh, "w\n", 2, 0), 2);
	assert_int_equal(f->be.ops->flush(f->be.be, fh), 0);
	assert_int_equal(f->be.ops->release(f->be.be, fh), 0);
	assert_int_equal(count(f, "PutParameter"), 1);
	assert_string_equal(find(f, "single")->value, "w");
	/* Only truncated: refused at release (empty), nothing sent. */
	assert_int_equal(f->be.ops->open(f->be.be, "single", O_WRONLY | O_TRUNC, &fh), 0);
	assert_int_equal(f->be.ops->flush(f->be.be, fh), 0);
	assert_int_equal(f->be.ops->release(f->be.be, fh), -EINVAL);
	assert_int_equal(count(f, "PutParameter"), 1);
	assert_string_equal(find(f, "single")->value, "w");
}

static void test_append_and_partial_write(void **state)
{
	struct fixture *f = *state;
	void *fh;

	assert_int_equal(f->be.ops->open(f->be.be, "single", O_WRONLY | O_APPEND, &fh), 0);
	assert_int_equal(count(f, "GetParameter"), 0); /* fetched at the first write */
	assert_int_equal(f->be.ops->write(f->be.be, fh, "+more\n", 6, 0), 6);
	assert_int_equal(f->be.ops->release(f->be.be, fh), 0);
	assert_string_equal(find(f, "single")->value, "s+more");
	assert_int_equal(f->be.ops->open(f->be.be, "single", O_WRONLY, &fh), 0);
	assert_int_equal(f->be.ops->write(f->be.be, fh, "S", 1, 0), 1);
	assert_int_equal(f->be.ops->release(f->be.be, fh), 0);
	assert_string_equal(find(f, "single")->value, "S+more");
}

static void test_bad_names_and_values(void **state)
{
	struct fixture *f = *state;
	void *fh;
	int frc;

	assert_int_equal(f->be.ops->create(f->be.be, "app/bad name", 0644, O_WRONLY, &fh), -EINVAL);
	assert_int_equal(f->be.ops->create(f->be.be, "nodir/x", 0644, O_WRONLY, &fh), -ENOENT);
	assert_int_equal(f->be.ops->mkdir(f->be.be, "app/bad*", 0755), -EINVAL);
	assert_int_equal(write_all(f, "single", false, "\xff\xfe", 2, &frc), 2);
	assert_int_equal(frc, -EINVAL);
	assert_int_equal(write_all(f, "single", false, "a\0b", 3, &frc), 3);
	assert_int_equal(frc, -EINVAL);
	assert_int_equal(count(f, "PutParameter"), 0);
}

/* ------------------------------------------------- removing, folders */

static void test_unlink_mkdir_rmdir(void **state)
{
	struct fixture *f = *state;
	struct names n;
	struct stat st;
	int frc;

	assert_int_equal(f->be.ops->unlink(f->be.be, "app/prod/db_url"), 0);
	assert_null(find(f, "/app/prod/db_url"));
	assert_non_null(strstr(last_body(f, "DeleteParameter"), "\"/app/prod/db_url\""));
	assert_int_equal(f->be.ops->unlink(f->be.be, "app/prod"), -EISDIR);
	assert_int_equal(f->be.ops->unlink(f->be.be, "app/prod/password"), 0);
	/* The emptied folder stays until a later listing, for rm -r's rmdir. */
	assert_int_equal(f->be.ops->getattr(f->be.be, "app/prod", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(f->be.ops->rmdir(f->be.be, "app/prod"), 0);
	assert_int_equal(f->be.ops->getattr(f->be.be, "app/prod", &st), -ENOENT);

	assert_int_equal(f->be.ops->mkdir(f->be.be, "app/made", 0755), 0);
	assert_int_equal(f->be.ops->mkdir(f->be.be, "app/made", 0755), -EEXIST);
	assert_int_equal(f->be.ops->mkdir(f->be.be, "app/list", 0755), -EEXIST);
	assert_int_equal(f->be.ops->mkdir(f->be.be, "none/x", 0755), -ENOENT);
	assert_int_equal(f->be.ops->mkdir(f->be.be, "app/made/deeper", 0755), 0);
	assert_int_equal(f->be.ops->rmdir(f->be.be, "app/made"), -ENOTEMPTY);
	assert_int_equal(f->be.ops->rmdir(f->be.be, "app/made/deeper"), 0);
	assert_int_equal(write_all(f, "app/made/x", true, "1", 1, &frc), 1);
	assert_int_equal(f->be.ops->rmdir(f->be.be, "app/made"), -ENOTEMPTY);
	assert_int_equal(f->be.ops->rmdir(f->be.be, "app/list"), -ENOTDIR);
	assert_int_equal(ls(f, "app", &n), 0);
	assert_true(listed(&n, "made", true));
	assert_int_equal(count(f, "DescribeParameters"), 1);
}

/* A folder read file by file: ten Strings a GetParameters, kept for the
 * TTL while the listing names their version; SecureStrings alone, never
 * kept; a neighbour gone since the listing spoils only itself. */
static void test_batched_and_kept_values(void **state)
{
	struct fixture *f = *state;
	struct names n;
	char path[64], want[64], buf[128];

	for (int i = 0; i < 12; i++) {
		snprintf(path, sizeof(path), "/many/p%02d", i);
		snprintf(want, sizeof(want), "value %d, \xc3\xa9", i);
		add(f, path, "String", want);
	}
	add(f, "/many/p05s", "SecureString", "hush");
	add(f, "/many/sub/x", "String", "below");
	assert_int_equal(ls(f, "many", &n), 0);
	assert_int_equal(n.n, 14);
	for (int i = 0; i < n.n; i++) {
		if (strcmp(n.v[i], "sub") == 0)
			continue;
		snprintf(path, sizeof(path), "many/%s", n.v[i]);
		assert_true(cat(f, path, buf, sizeof(buf)) > 0);
		if (strcmp(n.v[i], "p05s") == 0) {
			assert_string_equal(buf, "hush");
		} else {
			snprintf(want, sizeof(want), "value %d, \xc3\xa9", atoi(n.v[i] + 1));
			assert_string_equal(buf, want);
		}
	}
	/* 12 Strings: 10 + 2; the SecureString alone, never with the others. */
	assert_int_equal(count(f, "GetParameters"), 2);
	assert_int_equal(count(f, "GetParameter"), 1);
	assert_non_null(strstr(last_body(f, "GetParameters"), "\"WithDecryption\":true"));
	for (int i = 0; i < f->nops; i++)
		if (strcmp(f->ops[i], "GetParameters") == 0)
			assert_null(strstr(f->bodies[i], "p05s"));
	assert_non_null(strstr(last_body(f, "GetParameter"), "\"/many/p05s\""));
	/* Read again: Strings kept, the SecureString fetched again. */
	assert_int_equal(cat(f, "many/p03", buf, sizeof(buf)), 11);
	assert_int_equal(cat(f, "many/p05s", buf, sizeof(buf)), 4);
	assert_int_equal(count(f, "GetParameters"), 2);
	assert_int_equal(count(f, "GetParameter"), 2);

	/* Changed elsewhere: the kept value serves until the listing names the
	 * new version (after the TTL), then the new one is fetched. */
	snprintf(find(f, "/many/p01")->value, sizeof(f->p[0].value), "changed");
	find(f, "/many/p01")->version = 2;
	assert_int_equal(cat(f, "many/p01", buf, sizeof(buf)), 11);
	f->now_ms += 61000;
	assert_int_equal(cat(f, "many/p01", buf, sizeof(buf)), 7);
	assert_string_equal(buf, "changed");
	assert_int_equal(count(f, "GetParameters"), 3);

	/* Gone since the listing: the others in its batch still read. */
	assert_int_equal(cache_invalidate(f->cfg.cache, "/ssm/many/*") > 0, 1);
	assert_int_equal(ls(f, "many", &n), 0);
	*find(f, "/many/p03") = f->p[--f->n];
	assert_int_equal(cat(f, "many/p02", buf, sizeof(buf)), 11);
	assert_non_null(strstr(last_body(f, "GetParameters"), "\"/many/p03\""));
	assert_int_equal(cat(f, "many/p04", buf, sizeof(buf)), 11);
	assert_int_equal(cat(f, "many/p03", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(count(f, "GetParameters"), 5);

	/* Written through the backend: read back at once. */
	{
		void *fh;

		assert_int_equal(f->be.ops->open(f->be.be, "many/p04", O_WRONLY | O_TRUNC, &fh), 0);
		assert_int_equal(f->be.ops->write(f->be.be, fh, "fresh\n", 6, 0), 6);
		assert_int_equal(f->be.ops->release(f->be.be, fh), 0);
	}
	assert_int_equal(cat(f, "many/p04", buf, sizeof(buf)), 5);
	assert_string_equal(buf, "fresh");
}

/* A folder read file by file in order is read ahead: past the first
 * batch, the next ones are asked for before they are opened, each name
 * once; a single cat elsewhere asks for its batch only. */
static void test_walk_read_ahead(void **state)
{
	struct fixture *f = *state;
	struct names n;
	char path[64], want[64], buf[128];
	int names = 0;

	for (int i = 0; i < 45; i++) {
		snprintf(path, sizeof(path), "/walk/p%02d", i);
		snprintf(want, sizeof(want), "walked %d", i);
		add(f, path, "String", want);
	}
	for (int i = 0; i < 30; i++) {
		snprintf(path, sizeof(path), "/still/p%02d", i);
		add(f, path, "String", "still");
	}
	assert_int_equal(ls(f, "walk", &n), 0);
	assert_int_equal(n.n, 45);
	assert_int_equal(cat(f, "still/p03", buf, sizeof(buf)), 5);
	assert_int_equal(count(f, "GetParameters"), 1);
	for (int i = 0; i < 45; i++) {
		snprintf(path, sizeof(path), "walk/p%02d", i);
		snprintf(want, sizeof(want), "walked %d", i);
		assert_int_equal(cat(f, path, buf, sizeof(buf)), (int)strlen(want));
		assert_string_equal(buf, want);
	}
	/* p00.., p10.. (a walk), and p20.., p30.., p40..p44 ahead of it. */
	assert_int_equal(count(f, "GetParameters"), 6);
	assert_int_equal(count(f, "GetParameter"), 0);
	for (int i = 0; i < 45; i++) {
		int seen = 0;

		snprintf(path, sizeof(path), "\"/walk/p%02d\"", i);
		for (int j = 0; j < f->nops; j++)
			if (strcmp(f->ops[j], "GetParameters") == 0 && strstr(f->bodies[j], path))
				seen++;
		assert_int_equal(seen, 1);
		names += seen;
	}
	assert_int_equal(names, 45);
	/* The single cat read nothing ahead: its folder's others cost a batch. */
	assert_int_equal(cat(f, "still/p20", buf, sizeof(buf)), 5);
	assert_int_equal(count(f, "GetParameters"), 7);
}

/* A policy that allows GetParameter but not GetParameters: values are
 * read one at a time, and the refused call is not tried again. */
static void test_batch_refused_falls_back(void **state)
{
	struct fixture *f = *state;
	char buf[64];

	f->deny_batch = true;
	assert_int_equal(cat(f, "app/prod/db_url", buf, sizeof(buf)), 13);
	assert_string_equal(buf, "postgres://db");
	assert_int_equal(cat(f, "app/list", buf, sizeof(buf)), 3);
	assert_int_equal(cat(f, "app/list", buf, sizeof(buf)), 3); /* kept */
	assert_int_equal(count(f, "GetParameters"), 1);
	assert_int_equal(count(f, "GetParameter"), 2);
}

static void test_xattrs(void **state)
{
	struct fixture *f = *state;
	char buf[256];
	int n;

	n = f->be.ops->getxattr(f->be.be, "app/prod/password", "user.ssm.type", buf, sizeof(buf));
	assert_int_equal(n, 12);
	assert_memory_equal(buf, "SecureString", 12);
	n = f->be.ops->getxattr(f->be.be, "app/prod/password", "user.ssm.last_modified", buf,
				sizeof(buf));
	assert_int_equal(n, 24);
	assert_memory_equal(buf, "2023-11-14T22:13:20.500Z", 24);
	assert_int_equal(f->be.ops->getxattr(f->be.be, "app/prod/password", "user.ssm.tier", NULL,
					     0), 8);
	assert_int_equal(f->be.ops->getxattr(f->be.be, "app/prod/password", "user.ssm.tier", buf,
					     3), -ERANGE);
	assert_int_equal(f->be.ops->getxattr(f->be.be, "app/prod/password", "user.other", buf,
					     sizeof(buf)), -ENODATA);
	n = f->be.ops->listxattr(f->be.be, "app/prod/password", buf, sizeof(buf));
	assert_int_equal(n, (int)(sizeof("user.ssm.type") + sizeof("user.ssm.version") +
				  sizeof("user.ssm.last_modified") + sizeof("user.ssm.tier") +
				  sizeof("user.ssm.data_type")));
	assert_int_equal(f->be.ops->listxattr(f->be.be, "app", buf, sizeof(buf)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_of_name),
		cmocka_unit_test(test_name_of_key_and_checks),
		cmocka_unit_test_setup_teardown(test_tree_from_one_listing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ttl_and_invalidation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modes_and_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_time_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_selectors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_drops_one_newline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overwrite_keeps_type_and_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_type_option, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_big_sends_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_without_write_defers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_and_partial_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_names_and_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unlink_mkdir_rmdir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batched_and_kept_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_walk_read_ahead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_refused_falls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xattrs, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

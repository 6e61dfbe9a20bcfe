/*
 * Unit tests for src/retry.c and the retry loop of src/aws.c: every class,
 * the exact delays for a fixed random source, the quota's arithmetic, clock
 * skew correction, and the give-up rules (attempts, quota, time budget),
 * against a fake AWS on loopback with a fake clock.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aws.h"
#include "fakehttp.h"
#include "retry.h"
#include "stats.h"
#include "util.h"

/* A fake clock that only moves when someone sleeps, and a fixed random. */
struct fake_env {
	uint64_t now;
	double r;
	uint64_t slept[32];
	unsigned nsleeps;
};

static uint64_t fake_now(void *arg)
{
	return ((struct fake_env *)arg)->now;
}

static double fake_random(void *arg)
{
	return ((struct fake_env *)arg)->r;
}

static void fake_sleep(void *arg, uint64_t ms)
{
	struct fake_env *e = arg;

	if (e->nsleeps < 32)
		e->slept[e->nsleeps++] = ms;
	e->now += ms;
}

static struct retry_env make_env(struct fake_env *e)
{
	return (struct retry_env){ fake_now, fake_random, fake_sleep, e };
}

static void test_classify(void **state)
{
	struct retry_outcome o = { 0 };

	(void)state;
	o.status = 200;
	assert_int_equal(retry_classify(&o), RETRY_SUCCESS);
	o.status = 304;
	assert_int_equal(retry_classify(&o), RETRY_SUCCESS);
	o.status = 500;
	o.code = "InternalError";
	assert_int_equal(retry_classify(&o), RETRY_TRANSIENT);
	o.status = 503;
	o.code = "SlowDown";
	assert_int_equal(retry_classify(&o), RETRY_THROTTLE);
	o.status = 503;
	o.code = "ServiceUnavailable";
	assert_int_equal(retry_classify(&o), RETRY_TRANSIENT);
	o.status = 429;
	o.code = "";
	assert_int_equal(retry_classify(&o), RETRY_THROTTLE);
	/* The JSON services throttle with HTTP 400. */
	o.status = 400;
	o.code = "ProvisionedThroughputExceededException";
	assert_int_equal(retry_classify(&o), RETRY_THROTTLE);
	o.code = "ThrottlingException";
	assert_int_equal(retry_classify(&o), RETRY_THROTTLE);
	o.code = "ValidationException";
	assert_int_equal(retry_classify(&o), RETRY_FATAL);
	o.status = 400;
	o.code = "RequestTimeout";
	assert_int_equal(retry_classify(&o), RETRY_TRANSIENT);
	o.status = 403;
	o.code = "RequestTimeTooSkewed";
	assert_int_equal(retry_classify(&o), RETRY_SKEW);
	/* A signature error is skew only when the Date says so. */
	o.code = "SignatureDoesNotMatch";
	o.server_date = 1000000;
	o.local_date = 1000000 + 60;
	assert_int_equal(retry_classify(&o), RETRY_FATAL);
	o.local_date = 1000000 + 600;
	assert_int_equal(retry_classify(&o), RETRY_SKEW);
	o.code = "AccessDenied";
	assert_int_equal(retry_classify(&o), RETRY_FATAL);
	o.status = 404;
	o.code = "NoSuchKey";
	assert_int_equal(retry_classify(&o), RETRY_FATAL);
	/* Transport failures. */
	o = (struct retry_outcome){ .transport = HTTP_ERR_RESET };
	assert_int_equal(retry_classify(&o), RETRY_TRANSIENT);
	o.transport = HTTP_ERR_TIMEOUT;
	assert_int_equal(retry_classify(&o), RETRY_TRANSIENT);
	o.transport = HTTP_ERR_TRUNCATED;
	assert_int_equal(retry_classify(&o), RETRY_TRANSIENT);
	o.transport = HTTP_ERR_CONNECT;
	assert_int_equal(retry_classify(&o), RETRY_TRANSIENT);
	o.transport = HTTP_ERR_TLS;
	assert_int_equal(retry_classify(&o), RETRY_FATAL);
}

static void test_delays_full_jitter(void **state)
{
	struct fake_env e = { .r = 0.5 };
	struct retry_env env = make_env(&e);
	struct retry_state s;

	(void)state;
	retry_state_init(&s, RETRY_MODE_STANDARD, &env);
	/* random * min(20 s, base * 2^(n-1)) */
	assert_int_equal(retry_delay_ms(&s, RETRY_TRANSIENT, 1, 0), 25);
	assert_int_equal(retry_delay_ms(&s, RETRY_TRANSIENT, 2, 0), 50);
	assert_int_equal(retry_delay_ms(&s, RETRY_TRANSIENT, 5, 0), 400);
	assert_int_equal(retry_delay_ms(&s, RETRY_TRANSIENT, 30, 0), 10000);
	assert_int_equal(retry_delay_ms(&s, RETRY_THROTTLE, 1, 0), 250);
	assert_int_equal(retry_delay_ms(&s, RETRY_THROTTLE, 3, 0), 1000);
	assert_int_equal(retry_delay_ms(&s, RETRY_THROTTLE, 10, 0), 10000);
	e.r = 0.999;
	assert_int_equal(retry_delay_ms(&s, RETRY_TRANSIENT, 40, 0), 19980);
	e.r = 0.0;
	assert_int_equal(retry_delay_ms(&s, RETRY_THROTTLE, 4, 0), 0);
	/* A server hint raises the delay, never past the cap. */
	assert_int_equal(retry_delay_ms(&s, RETRY_THROTTLE, 1, 3000), 3000);
	assert_int_equal(retry_delay_ms(&s, RETRY_THROTTLE, 1, 90000), RETRY_CAP_MS);
	assert_int_equal(retry_delay_ms(&s, RETRY_SKEW, 1, 0), 0);
	retry_state_destroy(&s);
}

static void test_quota_arithmetic(void **state)
{
	struct retry_state s;
	int spent = 0, cost;

	(void)state;
	retry_state_init(&s, RETRY_MODE_STANDARD, NULL);
	assert_int_equal(retry_quota_available(&s), 500);
	assert_int_equal(retry_quota_acquire(&s, false), 5);
	assert_int_equal(retry_quota_acquire(&s, true), 10);
	assert_int_equal(retry_quota_available(&s), 485);
	/* A success after a retry refunds what that retry cost. */
	retry_quota_release(&s, 10);
	assert_int_equal(retry_quota_available(&s), 495);
	/* A success without retry gives 1, never above the maximum. */
	retry_quota_release(&s, 0);
	retry_quota_release(&s, 0);
	assert_int_equal(retry_quota_available(&s), 497);
	retry_quota_release(&s, 0);
	retry_quota_release(&s, 0);
	retry_quota_release(&s, 0);
	retry_quota_release(&s, 0);
	assert_int_equal(retry_quota_available(&s), 500);
	/* 100 retries empty the bucket; the 101st is refused. */
	while ((cost = retry_quota_acquire(&s, false)) > 0)
		spent++;
	assert_int_equal(spent, 100);
	assert_int_equal(retry_quota_available(&s), 0);
	retry_quota_release(&s, 0);
	retry_quota_release(&s, 0);
	retry_quota_release(&s, 0);
	retry_quota_release(&s, 0);
	assert_int_equal(retry_quota_acquire(&s, false), 0);
	retry_quota_release(&s, 0);
	assert_int_equal(retry_quota_acquire(&s, false), 5);
	assert_int_equal(retry_quota_acquire(&s, true), 0);
	retry_state_destroy(&s);
}

static void test_adaptive_rate(void **state)
{
	struct fake_env e = { .now = 1000, .r = 0.5 };
	struct retry_env env = make_env(&e);
	struct retry_state s;
	double after_throttle;

	(void)state;
	retry_state_init(&s, RETRY_MODE_ADAPTIVE, &env);
	/* Until the first throttle the limiter lets everything through. */
	for (int i = 0; i < 40; i++) {
		assert_int_equal(retry_rate_acquire(&s), 0);
		retry_rate_update(&s, false);
		e.now += 50; /* 20 requests a second */
	}
	retry_rate_update(&s, true);
	assert_true(s.rate_enabled);
	after_throttle = s.fill_rate;
	/* The new rate is 0.7 of what was measured (~20/s). */
	assert_true(after_throttle > 0.7 * 10 && after_throttle < 0.7 * 25);
	/* Sending faster than the fill rate makes callers wait. */
	{
		uint64_t waited = 0;

		for (int i = 0; i < 20; i++)
			waited += retry_rate_acquire(&s);
		assert_true(waited > 0);
	}
	/* Successes let the rate grow back (CUBIC) over time. */
	for (int i = 0; i < 100; i++) {
		e.now += 100;
		retry_rate_update(&s, false);
	}
	assert_true(s.fill_rate > after_throttle);
	retry_state_destroy(&s);

	/* Standard mode never waits. */
	retry_state_init(&s, RETRY_MODE_STANDARD, &env);
	retry_rate_update(&s, true);
	assert_int_equal(retry_rate_acquire(&s), 0);
	retry_state_destroy(&s);
}

/* aws_call against a fake that answers from a script of replies. */
struct script {
	struct fakehttp_reply replies[16];
	unsigned n, next;
	char dates[16][64]; /* x-amz-date of each request */
};

static void script_handler(void *arg, const struct fakehttp_request *req,
			   struct fakehttp_reply *reply)
{
	struct script *sc = arg;
	unsigned i = sc->next++;

	if (i < 16)
		fakehttp_header(req, "x-amz-date", sc->dates[i], sizeof(sc->dates[i]));
	*reply = i < sc->n ? sc->replies[i] : (struct fakehttp_reply){ .status = 200 };
}

struct fixture {
	struct fakehttp *srv;
	struct creds_provider *creds;
	struct aws_client *client;
	struct script sc;
	struct fake_env env;
};

static int make_fixture(void **state, unsigned attempts, unsigned budget_ms)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct aws_client_options o = { .region = "us-east-1", .max_attempts = attempts,
					.retry_budget_ms = budget_ms };
	struct creds_options co = { .no_imds = true };
	struct retry_env env;
	char url[64];

	setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
	assert_int_equal(http_global_init(NULL), 0);
	assert_int_equal(fakehttp_start(script_handler, &f->sc, &f->srv), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", fakehttp_port(f->srv));
	for (int i = 0; i < AWS_SVC_COUNT; i++)
		o.endpoints[i] = url;
	assert_int_equal(creds_provider_new(&co, &f->creds), 0);
	assert_int_equal(aws_client_new(&o, f->creds, &f->client), 0);
	f->env.r = 0.5;
	env = make_env(&f->env);
	aws_client_set_retry_env(f->client, &env);
	stats_reset();
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return make_fixture(state, 5, 60000);
}

static int setup_short_budget(void **state)
{
	return make_fixture(state, 20, 2000);
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

#define THROTTLE_JSON "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException\"}"

static void add_reply(struct script *sc, int status, const char *body, const char *headers)
{
	sc->replies[sc->n++] = (struct fakehttp_reply){
		.status = status, .body = body, .body_len = body ? strlen(body) : 0,
		.headers = headers };
}

static void test_throttle_then_success(void **state)
{
	struct fixture *f = *state;
	json_t *out = NULL;

	add_reply(&f->sc, 400, THROTTLE_JSON, NULL);
	add_reply(&f->sc, 400, THROTTLE_JSON, NULL);
	add_reply(&f->sc, 200, "{\"Items\":[]}", NULL);
	assert_int_equal(aws_json_call(f->client, AWS_SVC_DYNAMODB, "Scan", NULL, "/ddb/t", &out),
			 0);
	json_decref(out);
	assert_int_equal(f->sc.next, 3);
	/* Throttle backoff: 0.5 * 500 ms, then 0.5 * 1000 ms. */
	assert_int_equal(f->env.nsleeps, 2);
	assert_int_equal(f->env.slept[0], 250);
	assert_int_equal(f->env.slept[1], 500);
	assert_int_equal(stats_total("dynamodb", STATS_RETRIES), 2);
	assert_int_equal(stats_total("dynamodb", STATS_THROTTLES), 2);
	assert_int_equal(stats_total("dynamodb", STATS_ERRORS), 0);
	assert_int_equal(stats_total("dynamodb", STATS_REQUESTS), 3);
}

static void test_fatal_is_not_retried(void **state)
{
	struct fixture *f = *state;
	json_t *out = NULL;

	add_reply(&f->sc, 400,
		  "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ValidationException\"}", NULL);
	assert_int_equal(aws_json_call(f->client, AWS_SVC_DYNAMODB, "PutItem", NULL, NULL, &out),
			 -EINVAL);
	assert_int_equal(f->sc.next, 1);
	assert_int_equal(f->env.nsleeps, 0);
}

static void test_attempts_exhausted(void **state)
{
	struct fixture *f = *state;
	struct aws_request req = { .svc = AWS_SVC_S3, .op = "GetObject", .bucket = "b",
				   .key = "k" };
	struct aws_response resp;

	for (int i = 0; i < 8; i++)
		add_reply(&f->sc, 500, "<Error><Code>InternalError</Code></Error>", NULL);
	assert_int_equal(aws_call(f->client, &req, &resp), -EIO);
	assert_int_equal(resp.attempts, 5);
	aws_response_free(&resp);
	assert_int_equal(f->sc.next, 5);
	/* 0.5 * 50 * 2^(n-1) for retries 1..4 */
	assert_int_equal(f->env.nsleeps, 4);
	assert_int_equal(f->env.slept[0], 25);
	assert_int_equal(f->env.slept[3], 200);
}

static void test_throttle_storm_gives_eagain_within_budget(void **state)
{
	struct fixture *f = *state;
	struct aws_request req = { .svc = AWS_SVC_S3, .op = "PutObject", .method = "PUT",
				   .bucket = "b", .key = "k" };
	struct aws_response resp;

	for (int i = 0; i < 16; i++)
		add_reply(&f->sc, 503, "<Error><Code>SlowDown</Code></Error>", NULL);
	assert_int_equal(aws_call(f->client, &req, &resp), -EAGAIN);
	aws_response_free(&resp);
	/* The 2 s budget stops it long before 20 attempts. */
	assert_true(f->env.now <= 2000);
	assert_true(f->sc.next < 20);
}

static void test_retry_after_hint(void **state)
{
	struct fixture *f = *state;
	struct aws_request req = { .svc = AWS_SVC_S3, .op = "GetObject", .bucket = "b",
				   .key = "k" };
	struct aws_response resp;

	add_reply(&f->sc, 503, "<Error><Code>SlowDown</Code></Error>", "Retry-After: 2\r\n");
	assert_int_equal(aws_call(f->client, &req, &resp), 0);
	aws_response_free(&resp);
	assert_int_equal(f->env.slept[0], 2000);
}

static void test_clock_skew_corrected(void **state)
{
	struct fixture *f = *state;
	struct aws_request req = { .svc = AWS_SVC_S3, .op = "ListBuckets" };
	struct aws_response resp;
	char hdr[128], want[17];
	time_t ahead = time(NULL) + 3600;
	struct tm tm;

	/* AWS's clock is an hour ahead of ours. */
	gmtime_r(&ahead, &tm);
	strftime(hdr, sizeof(hdr), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
	add_reply(&f->sc, 403, "<Error><Code>RequestTimeTooSkewed</Code></Error>", hdr);
	assert_int_equal(aws_call(f->client, &req, &resp), 0);
	aws_response_free(&resp);
	assert_int_equal(f->sc.next, 2);
	assert_int_equal(f->env.nsleeps, 0);
	/* The retry was signed with the corrected time. */
	assert_true(aws_client_skew(f->client) > 3590 && aws_client_skew(f->client) < 3610);
	util_amz_date(ahead, want);
	assert_memory_equal(f->sc.dates[1], want, 11); /* same date and hour */
	/* A second skew error in one call is not retried again. */
	add_reply(&f->sc, 200, NULL, NULL);
	f->sc.n = 0;
	f->sc.next = 0;
	add_reply(&f->sc, 403, "<Error><Code>RequestTimeTooSkewed</Code></Error>", hdr);
	add_reply(&f->sc, 403, "<Error><Code>RequestTimeTooSkewed</Code></Error>", hdr);
	assert_int_equal(aws_call(f->client, &req, &resp), -EACCES);
	aws_response_free(&resp);
	assert_int_equal(f->sc.next, 2);
}

static void test_connection_drop_retried(void **state)
{
	struct fixture *f = *state;
	struct aws_request req = { .svc = AWS_SVC_S3, .op = "ListBuckets" };
	struct aws_response resp;

	f->sc.replies[0] = (struct fakehttp_reply){ .drop = 1 };
	f->sc.n = 1;
	assert_int_equal(aws_call(f->client, &req, &resp), 0);
	assert_int_equal(resp.attempts, 2);
	aws_response_free(&resp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_delays_full_jitter),
		cmocka_unit_test(test_quota_arithmetic),
		cmocka_unit_test(test_adaptive_rate),
		cmocka_unit_test_setup_teardown(test_throttle_then_success, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fatal_is_not_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attempts_exhausted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_throttle_storm_gives_eagain_within_budget,
						setup_short_budget, teardown),
		cmocka_unit_test_setup_teardown(test_retry_after_hint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_skew_corrected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_drop_retried, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests for src/aws.c against a fake AWS on loopback: what goes on the
 * wire (URL, signed headers, protocol headers) and how each error format
 * becomes a code, a request id and an errno.
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
#include "http.h"
#include "sigv4.h"
#include "stats.h"
#include "util.h"

struct fixture {
	struct fakehttp *srv;
	struct creds_provider *creds;
	struct aws_client *client;
	/* what the fake saw last */
	struct fakehttp_request last;
	char last_headers[8192];
	char last_body[4096];
	/* what it answers next */
	struct fakehttp_reply reply;
	/* S3 region redirects: answer 301 to requests not signed for eu-west-1 */
	bool far_bucket;
	unsigned redirects, nreq;
};

static void handler(void *arg, const struct fakehttp_request *req, struct fakehttp_reply *reply)
{
	struct fixture *f = arg;

	f->last = *req;
	snprintf(f->last_headers, sizeof(f->last_headers), "%s", req->headers);
	snprintf(f->last_body, sizeof(f->last_body), "%.*s", (int)req->body_len,
		 req->body ? req->body : "");
	f->last.headers = f->last_headers;
	f->last.body = f->last_body;
	f->nreq++;
	*reply = f->reply;
	if (f->far_bucket && !strstr(req->headers, "/eu-west-1/s3/aws4_request")) {
		f->redirects++;
		reply->status = 301;
		reply->headers = "x-amz-bucket-region: eu-west-1\r\n";
		reply->body = "<Error><Code>PermanentRedirect</Code></Error>";
		reply->body_len = strlen(reply->body);
	}
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct aws_client_options o = { .region = "us-east-1" };
	struct creds_options co = { .no_imds = true };
	char url[64];

	setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secret/TEST+key", 1);
	unsetenv("AWS_SESSION_TOKEN");
	assert_int_equal(http_global_init(NULL), 0);
	assert_int_equal(fakehttp_start(handler, f, &f->srv), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", fakehttp_port(f->srv));
	for (int i = 0; i < AWS_SVC_COUNT; i++)
		o.endpoints[i] = url;
	assert_int_equal(creds_provider_new(&co, &f->creds), 0);
	assert_int_equal(aws_client_new(&o, f->creds, &f->client), 0);
	aws_client_set_time(f->client, 1440938160); /* 2015-08-30T12:36:00Z */
	stats_reset();
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

static const char *header(struct fixture *f, const char *name)
{
	static char v[1024];

	return fakehttp_header(&f->last, name, v, sizeof(v)) == 0 ? v : NULL;
}

static void test_s3_request_on_the_wire(void **state)
{
	struct fixture *f = *state;
	struct aws_request req = {
		.svc = AWS_SVC_S3, .op = "GetObject", .bucket = "bkt",
		.key = "dir/a b+c%~é", .query = "versionId=3",
	};
	struct aws_response resp;
	const char *auth;

	f->reply = (struct fakehttp_reply){ .status = 200, .body = "hello", .body_len = 5 };
	assert_int_equal(aws_call(f->client, &req, &resp), 0);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.http.body.len, 5);
	assert_memory_equal(resp.http.body.data, "hello", 5);
	aws_response_free(&resp);

	/* Path style for an IP endpoint; the key encoded once, '/' kept. */
	assert_string_equal(f->last.method, "GET");
	assert_string_equal(f->last.target, "/bkt/dir/a%20b%2Bc%25~%C3%A9?versionId=3");
	assert_string_equal(header(f, "x-amz-date"), "20150830T123600Z");
	assert_string_equal(header(f, "x-amz-content-sha256"),
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	auth = header(f, "authorization");
	assert_non_null(auth);
	assert_non_null(strstr(auth, "Credential=AKIDTEST/20150830/us-east-1/s3/aws4_request"));
	assert_non_null(strstr(auth, "SignedHeaders=host;x-amz-content-sha256;x-amz-date"));
	/* No secret on the wire, ever. */
	assert_null(strstr(f->last_headers, "secret/TEST+key"));
	assert_null(header(f, "x-amz-security-token"));
	assert_int_equal(stats_total("s3", STATS_REQUESTS), 1);
}

/* The signature on the wire is the one sigv4 computes for what was sent. */
static void test_signature_matches_request(void **state)
{
	struct fixture *f = *state;
	struct aws_request req = { .svc = AWS_SVC_S3, .op = "ListBuckets" };
	struct aws_response resp;
	struct sigv4_header hs[3];
	char host[64], sig[65];
	struct buf want;
	struct sigv4_input in;

	f->reply = (struct fakehttp_reply){ .status = 200 };
	assert_int_equal(aws_call(f->client, &req, &resp), 0);
	aws_response_free(&resp);
	snprintf(host, sizeof(host), "127.0.0.1:%d", fakehttp_port(f->srv));
	hs[0] = (struct sigv4_header){ "host", host };
	hs[1] = (struct sigv4_header){ "x-amz-date", "20150830T123600Z" };
	hs[2] = (struct sigv4_header){
		"x-amz-content-sha256",
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" };
	in = (struct sigv4_input){
		.method = "GET", .path = "/", .headers = hs, .nheaders = 3,
		.payload_hash = hs[2].value, .now = 1440938160, .region = "us-east-1",
		.service = "s3", .s3 = true,
	};
	buf_init(&want, 1024);
	assert_int_equal(sigv4_authorization(&in, "AKIDTEST", "secret/TEST+key", &want, sig), 0);
	assert_string_equal(header(f, "authorization"), want.data);
	buf_free(&want);
}

static void test_session_token_sent(void **state)
{
	struct fixture *f = *state;
	struct aws_request req = { .svc = AWS_SVC_S3, .op = "ListBuckets" };
	struct aws_response resp;

	setenv("AWS_SESSION_TOKEN", "TOKEN123", 1);
	f->reply = (struct fakehttp_reply){ .status = 200 };
	assert_int_equal(aws_call(f->client, &req, &resp), 0);
	aws_response_free(&resp);
	unsetenv("AWS_SESSION_TOKEN");
	assert_string_equal(header(f, "x-amz-security-token"), "TOKEN123");
	assert_non_null(strstr(header(f, "authorization"), "x-amz-security-token"));
}

static void test_json_protocol_headers(void **state)
{
	struct fixture *f = *state;
	json_t *out = NULL, *body = json_pack("{s:s}", "TableName", "t1");

	f->reply = (struct fakehttp_reply){ .status = 200,
					    .body = "{\"Table\":{\"ItemCount\":3}}" };
	f->reply.body_len = strlen(f->reply.body);
	assert_int_equal(aws_json_call(f->client, AWS_SVC_DYNAMODB, "DescribeTable", body,
				       "/dynamodb/t1", &out), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(out, "Table"),
							    "ItemCount")), 3);
	json_decref(out);
	json_decref(body);
	assert_string_equal(f->last.method, "POST");
	assert_string_equal(f->last.target, "/");
	assert_string_equal(header(f, "x-amz-target"), "DynamoDB_20120810.DescribeTable");
	assert_string_equal(header(f, "content-type"), "application/x-amz-json-1.0");
	assert_string_equal(f->last_body, "{\"TableName\":\"t1\"}");
	assert_non_null(strstr(header(f, "authorization"), "/us-east-1/dynamodb/aws4_request"));

	f->reply = (struct fakehttp_reply){ .status = 200, .body = "{}", .body_len = 2 };
	assert_int_equal(aws_json_call(f->client, AWS_SVC_SSM, "GetParameter", NULL, NULL, &out),
			 0);
	json_decref(out);
	assert_string_equal(header(f, "x-amz-target"), "AmazonSSM.GetParameter");
	assert_string_equal(header(f, "content-type"), "application/x-amz-json-1.1");
}

/* Issue an S3 call answered with status/body/headers; return its errno. */
static int s3_error(struct fixture *f, const char *method, int status, const char *body,
		    const char *headers, struct aws_response *resp)
{
	struct aws_request req = { .svc = AWS_SVC_S3, .op = "Test", .method = method,
				   .bucket = "b", .key = "k", .quiet_errors = true };

	f->reply = (struct fakehttp_reply){ .status = status, .body = body,
					    .body_len = body ? strlen(body) : 0,
					    .headers = headers };
	return aws_call(f->client, &req, resp);
}

static void test_s3_xml_error(void **state)
{
	struct fixture *f = *state;
	struct aws_response resp;

	assert_int_equal(s3_error(f, "GET", 403,
				  "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code>"
				  "<Message>The request signature we calculated does not match"
				  "</Message><RequestId>REQ1</RequestId></Error>",
				  "x-amz-request-id: HDRREQ\r\n", &resp), -EACCES);
	assert_string_equal(resp.code, "SignatureDoesNotMatch");
	assert_string_equal(resp.request_id, "HDRREQ");
	assert_non_null(strstr(resp.message, "does not match"));
	aws_response_free(&resp);
	assert_int_equal(stats_total("s3", STATS_ERRORS), 1);

	assert_int_equal(s3_error(f, "GET", 404,
				  "<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>",
				  NULL, &resp), -ENOENT);
	assert_string_equal(resp.code, "NoSuchKey");
	aws_response_free(&resp);

	assert_int_equal(s3_error(f, "DELETE", 409,
				  "<Error><Code>BucketNotEmpty</Code></Error>", NULL, &resp),
			 -ENOTEMPTY);
	aws_response_free(&resp);
}

static void test_head_errors_have_no_body(void **state)
{
	struct fixture *f = *state;
	struct aws_response resp;

	assert_int_equal(s3_error(f, "HEAD", 404, NULL, NULL, &resp), -ENOENT);
	assert_string_equal(resp.code, "NotFound");
	aws_response_free(&resp);
	assert_int_equal(s3_error(f, "HEAD", 403, NULL, NULL, &resp), -EACCES);
	assert_string_equal(resp.code, "Forbidden");
	aws_response_free(&resp);
}

static void test_s3_bucket_in_another_region_is_followed(void **state)
{
	struct fixture *f = *state;
	struct aws_request req = {
		.svc = AWS_SVC_S3, .op = "HeadObject", .method = "HEAD", .bucket = "far",
		.key = "k", .quiet_errors = true,
	};
	struct aws_response resp;

	f->far_bucket = true;
	f->reply = (struct fakehttp_reply){ .status = 200 };
	assert_int_equal(aws_call(f->client, &req, &resp), 0);
	aws_response_free(&resp);
	assert_int_equal(f->redirects, 1);
	assert_int_equal(f->nreq, 2); /* the 301, then the same request re-signed */
	assert_non_null(strstr(f->last_headers, "/eu-west-1/s3/aws4_request"));
	/* remembered: the next call goes straight to the bucket's region */
	assert_int_equal(aws_call(f->client, &req, &resp), 0);
	aws_response_free(&resp);
	assert_int_equal(f->redirects, 1);
	assert_int_equal(f->nreq, 3);
	/* other buckets and services keep the client's region */
	req.bucket = "near";
	f->far_bucket = false;
	assert_int_equal(aws_call(f->client, &req, &resp), 0);
	aws_response_free(&resp);
	assert_non_null(strstr(f->last_headers, "/us-east-1/s3/aws4_request"));
}

static void test_json_and_query_errors(void **state)
{
	struct fixture *f = *state;
	json_t *out = NULL;

	f->reply = (struct fakehttp_reply){
		.status = 400,
		.body = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException\","
			"\"message\":\"Requested resource not found\"}",
		.headers = "x-amzn-RequestId: DDBREQ\r\n",
	};
	f->reply.body_len = strlen(f->reply.body);
	assert_int_equal(aws_json_call(f->client, AWS_SVC_DYNAMODB, "DescribeTable", NULL,
				       "/dynamodb/x", &out), -ENOENT);
	assert_null(out);

	/* SQS's JSON protocol names the legacy code in a header. */
	f->reply = (struct fakehttp_reply){
		.status = 400,
		.body = "{\"__type\":\"com.amazonaws.sqs#QueueDoesNotExist\",\"message\":\"no\"}",
		.headers = "x-amzn-query-error: AWS.SimpleQueueService.NonExistentQueue;Sender\r\n",
	};
	f->reply.body_len = strlen(f->reply.body);
	assert_int_equal(aws_json_call(f->client, AWS_SVC_SQS, "GetQueueUrl", NULL, NULL, &out),
			 -ENOENT);

	f->reply = (struct fakehttp_reply){
		.status = 400,
		.body = "{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}",
	};
	f->reply.body_len = strlen(f->reply.body);
	assert_int_equal(aws_json_call(f->client, AWS_SVC_SSM, "GetParameter", NULL, NULL, &out),
			 -EAGAIN);

	/* Query protocol (STS, old SQS): <ErrorResponse><Error>. */
	{
		struct aws_request req = { .svc = AWS_SVC_STS, .op = "GetCallerIdentity",
					   .method = "POST", .quiet_errors = true };
		struct aws_response resp;

		f->reply = (struct fakehttp_reply){
			.status = 403,
			.body = "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidClientTokenId"
				"</Code><Message>bad</Message></Error><RequestId>Q1</RequestId>"
				"</ErrorResponse>",
		};
		f->reply.body_len = strlen(f->reply.body);
		assert_int_equal(aws_call(f->client, &req, &resp), -EACCES);
		assert_string_equal(resp.code, "InvalidClientTokenId");
		assert_string_equal(resp.request_id, "Q1");
		aws_response_free(&resp);
	}
}

static void test_malformed_and_oversized_answers(void **state)
{
	struct fixture *f = *state;
	struct aws_request req = { .svc = AWS_SVC_S3, .op = "GetObject", .bucket = "b",
				   .key = "k", .max_response = 16, .quiet_errors = true };
	struct aws_response resp;
	json_t *out = NULL;

	/* A body over the caller's cap is an error, not an allocation. */
	f->reply = (struct fakehttp_reply){ .status = 200, .body = "0123456789abcdefXYZ",
					    .body_len = 19 };
	assert_int_equal(aws_call(f->client, &req, &resp), -EIO);
	aws_response_free(&resp);

	/* A 2xx with broken JSON is EIO, not a crash or a half result. */
	f->reply = (struct fakehttp_reply){ .status = 200, .body = "{\"Table\":", .body_len = 9 };
	assert_int_equal(aws_json_call(f->client, AWS_SVC_DYNAMODB, "DescribeTable", NULL, NULL,
				       &out), -EIO);
	assert_null(out);

	/* An error body that is not XML still yields an errno from the status. */
	assert_int_equal(s3_error(f, "GET", 500, "<html>oops", NULL, &resp), -EIO);
	aws_response_free(&resp);
}

static void test_network_errors_are_eio(void **state)
{
	struct fixture *f = *state;
	struct aws_client_options o = { .region = "us-east-1" };
	struct aws_client *dead;
	struct aws_request req = { .svc = AWS_SVC_S3, .op = "ListBuckets", .quiet_errors = true };
	struct aws_response resp;

	/* Port 1 on loopback: nothing listens there. */
	for (int i = 0; i < AWS_SVC_COUNT; i++)
		o.endpoints[i] = "http://127.0.0.1:1";
	assert_int_equal(aws_client_new(&o, f->creds, &dead), 0);
	assert_int_equal(aws_call(dead, &req, &resp), -EIO);
	assert_string_equal(resp.code, "NetworkError");
	aws_response_free(&resp);
	aws_client_free(dead);

	/* A connection dropped without an answer. */
	f->reply = (struct fakehttp_reply){ .drop = 1 };
	assert_int_equal(aws_call(f->client, &req, &resp), -EIO);
	aws_response_free(&resp);
}

/* Only a DNS-compatible bucket goes into the host name: any other is sent
 * path-style, encoded, so a name (from a listing or a user's path) cannot
 * choose the host a signed request goes to (found by
 * tests/fuzz/fuzz_s3_list: "logs.example.cContent-Length: om"). */
static void test_bucket_hostable(void **state)
{
	static const char *const ok[] = { "amzn-s3-demo-bucket", "logs.example.com", "abc",
					   "a-b.c-d", "123", "1.2.3", "my.bucket.2024" };
	static const char *const no[] = { "ab", "Legacy_Bucket", "UPPER", "evil.example:80#",
					   "a..b", ".ab", "ab.", "-ab", "ab-", "a-.b", "a.-b",
					   "192.168.5.4", "a b", "a/b", "a?b", "a@b.c",
					   "logs.example.cContent-Length: om",
					   "a123456789a123456789a123456789a123456789a123456789a123456789abcd" };

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_true(aws_s3_bucket_hostable(ok[i]));
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_false(aws_s3_bucket_hostable(no[i]));
}

static void test_default_endpoints(void **state)
{
	struct fixture *f = *state;
	struct aws_client_options o = { .region = "eu-west-1" };
	struct aws_client *c;

	assert_int_equal(aws_client_new(&o, f->creds, &c), 0);
	assert_string_equal(aws_client_endpoint(c, AWS_SVC_S3), "https://s3.eu-west-1.amazonaws.com");
	assert_string_equal(aws_client_endpoint(c, AWS_SVC_DYNAMODB),
			    "https://dynamodb.eu-west-1.amazonaws.com");
	assert_string_equal(aws_client_endpoint(c, AWS_SVC_SSM), "https://ssm.eu-west-1.amazonaws.com");
	aws_client_free(c);
	o.endpoints[AWS_SVC_S3] = "ftp://example.com";
	assert_int_equal(aws_client_new(&o, f->creds, &c), -EINVAL);
}

static void test_errno_table(void **state)
{
	(void)state;
	assert_int_equal(aws_errno_for("NoSuchBucket", 404), -ENOENT);
	assert_int_equal(aws_errno_for("ParameterNotFound", 400), -ENOENT);
	assert_int_equal(aws_errno_for("AccessDeniedException", 400), -EACCES);
	assert_int_equal(aws_errno_for("EntityTooLarge", 400), -EFBIG);
	assert_int_equal(aws_errno_for("ValidationException", 400), -EINVAL);
	assert_int_equal(aws_errno_for("ConditionalCheckFailedException", 400), -EEXIST);
	assert_int_equal(aws_errno_for("ParameterLimitExceeded", 400), -ENOSPC);
	assert_int_equal(aws_errno_for("ProvisionedThroughputExceededException", 400), -EAGAIN);
	assert_int_equal(aws_errno_for("SlowDown", 503), -EAGAIN);
	assert_int_equal(aws_errno_for("", 503), -EIO);
	assert_int_equal(aws_errno_for("SomethingNew", 404), -ENOENT);
	assert_int_equal(aws_errno_for("SomethingNew", 400), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_s3_request_on_the_wire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signature_matches_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_s3_bucket_in_another_region_is_followed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_session_token_sent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_protocol_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_s3_xml_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_head_errors_have_no_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_and_query_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_and_oversized_answers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_network_errors_are_eio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_endpoints, setup, teardown),
		cmocka_unit_test(test_errno_table),
		cmocka_unit_test(test_bucket_hostable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * fuzz_aws_json: answers of the JSON services through the real request
 * path (aws_json_call and paginate_json): DynamoDB, SQS and SSM pages,
 * their tokens (strings and LastEvaluatedKey objects, which go back into
 * the next request), and their JSON error answers (__type, code,
 * x-amzn-query-error) with retries. Answers come from the input as in
 * fuzz_s3_list; the first byte picks the call:
 *   0 DynamoDB ListTables     1 DynamoDB Scan      2 SQS ListQueues
 *   3 SSM GetParametersByPath 4 SSM DescribeParameters
 *   5 SSM GetParameter (one call, no paging)
 * and, in its high bits, the page size and item cap.
 * Checks: bounded pages, item counts agree, every request body the
 * paginator builds from a token is valid JSON (fuzz_net.c checks that).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "json.h"
#include "paginate.h"
#include "util.h"

#define MAX_PAGES 8
#define MAX_ATTEMPTS 3

struct call {
	enum aws_service svc;
	const char *op;
	const char *body; /* the first request */
	const struct paginate_spec *spec;
	const char *items;  /* the array member holding the entries */
};

static const struct call calls[] = {
	{ AWS_SVC_DYNAMODB, "ListTables", "{}", &paginate_ddb_list_tables, "TableNames" },
	{ AWS_SVC_DYNAMODB, "Scan", "{\"TableName\":\"t\",\"ProjectionExpression\":\"#k\","
	  "\"ExpressionAttributeNames\":{\"#k\":\"id\"}}", &paginate_ddb_scan, "Items" },
	{ AWS_SVC_SQS, "ListQueues", "{\"QueueNamePrefix\":\"\"}", &paginate_sqs_list_queues,
	  "QueueUrls" },
	{ AWS_SVC_SSM, "GetParametersByPath", "{\"Path\":\"/\",\"Recursive\":false,"
	  "\"WithDecryption\":true}", &paginate_ssm_get_parameters_by_path, "Parameters" },
	{ AWS_SVC_SSM, "DescribeParameters", "{}", &paginate_ssm_describe_parameters,
	  "Parameters" },
	{ AWS_SVC_SSM, "GetParameter", "{\"Name\":\"/a/b\",\"WithDecryption\":true}", NULL,
	  "Parameter" },
};

struct state {
	const struct call *call;
	size_t pages;
	size_t entries;
};

/* DynamoDB's typed values: {"S": ...}, {"N": "1.5"}, {"M": {...}}, ... */
static void walk_attr(json_t *av, unsigned depth)
{
	const char *type;
	json_t *v;

	if (!json_is_object(av) || depth > 32)
		return;
	json_object_foreach(av, type, v) {
		if (strcmp(type, "M") == 0 && json_is_object(v)) {
			const char *k;
			json_t *m;

			json_object_foreach(v, k, m)
				walk_attr(m, depth + 1);
		} else if (strcmp(type, "L") == 0 && json_is_array(v)) {
			size_t i;
			json_t *m;

			json_array_foreach(v, i, m)
				walk_attr(m, depth + 1);
		} else if (strcmp(type, "B") == 0 && json_is_string(v)) {
			unsigned char *bin = NULL;
			size_t n;

			if (util_base64_decode(json_string_value(v), json_string_length(v), &bin,
					       &n) == 0)
				free(bin);
		}
	}
}

static void walk_entry(const struct call *call, json_t *e)
{
	long long ll;

	switch (call->svc) {
	case AWS_SVC_DYNAMODB:
		if (json_is_object(e)) {
			const char *k;
			json_t *av;

			json_object_foreach(e, k, av)
				walk_attr(av, 0);
		}
		break;
	case AWS_SVC_SSM:
		(void)jsonx_str(e, "Name");
		(void)jsonx_str(e, "Value");
		(void)jsonx_str(e, "Type");
		jsonx_int(e, "Version", &ll);
		(void)jsonx_str(e, "ARN");
		break;
	default:
		(void)json_string_value(e);
		break;
	}
}

static int page(void *arg, json_t *p, size_t *items, bool *stop)
{
	struct state *st = arg;
	json_t *arr = jsonx_array(p, st->call->items), *e;
	size_t i;

	st->pages++;
	*items = 0;
	FUZZ_CHECK(p != NULL);
	if (arr) {
		json_array_foreach(arr, i, e) {
			walk_entry(st->call, e);
			(*items)++;
		}
	}
	st->entries += *items;
	return 0;
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
	const struct call *call;
	struct aws_client *c;
	json_t *body = NULL;
	int rc;

	if (size < 1)
		return 0;
	call = &calls[(data[0] & 7) % (sizeof(calls) / sizeof(calls[0]))];
	c = fuzz_client_new(MAX_ATTEMPTS);
	fuzz_net_load(data + 1, size - 1);
	FUZZ_CHECK(jsonx_parse(call->body, strlen(call->body), 4096, &body) == 0);
	if (call->spec) {
		struct paginate_opts po = {
			.page_size = (data[0] >> 3) & 3,
			.max_items = (data[0] >> 5) & 7,
			.max_pages = MAX_PAGES,
		};
		struct state st = { .call = call };
		struct paginate_result res;

		rc = paginate_json(c, call->svc, call->op, body, "/fuzz", call->spec, &po, page,
				   &st, &res);
		FUZZ_CHECK(rc <= 0);
		FUZZ_CHECK(res.pages <= MAX_PAGES && st.pages <= res.pages);
		FUZZ_CHECK(res.items == st.entries);
		FUZZ_CHECK(fuzz_net_requests() <= MAX_PAGES * MAX_ATTEMPTS);
	} else {
		json_t *out = NULL;

		rc = aws_json_call(c, call->svc, call->op, body, "/fuzz", &out);
		FUZZ_CHECK(rc <= 0);
		FUZZ_CHECK((rc == 0) == (out != NULL));
		if (out) {
			json_t *p = jsonx_object(out, "Parameter");

			if (p)
				walk_entry(call, p);
			json_decref(out);
		}
	}
	json_decref(body);
	fuzz_net_reset();
	fuzz_client_free(c);
	return 0;
}

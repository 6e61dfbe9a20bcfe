/*
 * aws: one AWS call, the only way awsfs talks to AWS.
 *
 * aws_call builds the URL for the service and region (or the configured
 * endpoint, path- or virtual-host-style for S3), signs with SigV4 using the
 * credential chain, sends it through http, counts it in stats, and turns an
 * error answer (S3 XML, JSON __type, query-protocol XML) into a code, a
 * message, a request id and the errno of SPEC.md's table. Every error that
 * reaches the caller has been logged once, with service, operation, path,
 * code and request id. Thread-safe.
 */
#ifndef AWSFS_AWS_H
#define AWSFS_AWS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "buf.h"
#include "creds.h"
#include "http.h"

enum aws_service {
	AWS_SVC_S3 = 0,
	AWS_SVC_DYNAMODB,
	AWS_SVC_SQS,
	AWS_SVC_SSM,
	AWS_SVC_STS,
	AWS_SVC_COUNT
};

/* "s3", "dynamodb", "sqs", "ssm", "sts": the SigV4 service name. */
const char *aws_service_name(enum aws_service svc);
/* Parse such a name. Returns 0 or -EINVAL. */
int aws_service_parse(const char *name, enum aws_service *out);

struct aws_client_options {
	const char *region;                      /* required */
	const char *endpoints[AWS_SVC_COUNT];    /* NULL: the AWS default */
	bool path_style;                         /* S3 path-style addressing */
	long request_timeout_ms;                 /* per attempt; 0: none */
	unsigned max_attempts;                   /* 0: AWS_DEFAULT_ATTEMPTS */
	unsigned retry_budget_ms;                /* 0: AWS_DEFAULT_RETRY_BUDGET_MS */
	bool adaptive;                           /* retry_mode=adaptive */
};

#define AWS_DEFAULT_ATTEMPTS 5
#define AWS_DEFAULT_RETRY_BUDGET_MS 60000u

struct aws_client;

/*
 * Make a client. Copies every string of opts; takes no ownership of creds,
 * which must outlive the client. Endpoints for IP addresses and localhost
 * switch S3 to path style by themselves.
 */
int aws_client_new(const struct aws_client_options *opts, struct creds_provider *creds,
		   struct aws_client **out);
void aws_client_free(struct aws_client *c);
const char *aws_client_region(const struct aws_client *c);
/* The base URL in force for a service ("https://s3.us-east-1.amazonaws.com"). */
const char *aws_client_endpoint(const struct aws_client *c, enum aws_service svc);

/* Test hook: a fixed wall clock for signing (0 restores the real one). */
void aws_client_set_time(struct aws_client *c, time_t fixed);
struct retry_env;
/* Test hook: the retry core's clock, random source and sleep. */
void aws_client_set_retry_env(struct aws_client *c, const struct retry_env *env);
/* Seconds the local clock is behind AWS's, as measured from a skew error. */
long long aws_client_skew(const struct aws_client *c);

struct aws_request {
	enum aws_service svc;
	const char *op;             /* operation name: "ListObjectsV2"; for the JSON
				     * services also the X-Amz-Target action */
	const char *method;         /* NULL: "POST" for JSON services, "GET" for S3 */
	const char *bucket;         /* S3 only; NULL for service-level calls */
	const char *key;            /* S3 object key, unencoded; NULL for none */
	const char *query;          /* encoded query string without '?', or NULL */
	const char *const *headers; /* extra "Name: value" headers to send and sign */
	size_t nheaders;
	const void *body;
	size_t body_len;
	const char *path;           /* the mount path for log lines, or NULL */
	size_t max_response;        /* cap on the body; 0: 16 MiB */
	http_sink_fn sink;          /* stream the body of a 2xx answer here */
	void *sink_arg;
	bool quiet_errors;          /* the caller logs (e.g. expected ENOENT) */
	bool background;            /* nobody waits for it (read-ahead): even a
				     * failure after every retry is a debug line */
	bool sensitive;             /* the body holds a secret (a parameter value):
				     * error messages, which may echo the input,
				     * are left out of log lines */
};

struct aws_response {
	long status;
	unsigned attempts;          /* tries made (1 without retries) */
	struct http_response http;  /* body, headers (owned) */
	char code[128];             /* AWS error code, "" on success */
	char message[512];          /* AWS error message */
	char request_id[128];
	bool logged;                /* aws_call logged the error at error level */
};

/*
 * Perform req. Returns 0 on a 2xx answer (an error document inside a 200,
 * which S3 sends for CopyObject and CompleteMultipartUpload, counts as a
 * 500, as the SDKs treat it), else the negative errno for the
 * error (see aws_errno_for), with resp->code/message/request_id filled as far
 * as the answer allowed. resp is always initialized; release it with
 * aws_response_free whatever the result.
 */
int aws_call(struct aws_client *c, const struct aws_request *req, struct aws_response *resp);
void aws_response_free(struct aws_response *resp);

/*
 * Does a JSON service's answer have the shape AWS gives it? Every member
 * AWS documents with a type (Items an array, Item an object, NextToken a
 * string, ...) must have that type when present. Returns NULL when it does,
 * else the first member that does not (a static string, for the log line).
 */
const char *aws_json_shape_error(const json_t *root);

/*
 * A JSON-protocol call (DynamoDB JSON 1.0, SQS/SSM JSON 1.0/1.1): sends
 * body (NULL: "{}"), parses a 2xx answer into *out (caller owns). Returns 0
 * or a negative errno as aws_call.
 */
int aws_json_call(struct aws_client *c, enum aws_service svc, const char *op,
		  json_t *body, const char *path, json_t **out);

/* Whether an S3 bucket name can be a DNS name in front of the S3 host
 * (virtual-host style): 3-63 of [a-z0-9.-], dot-separated labels that
 * start and end with a letter or digit, not an IPv4 address. Other names
 * are sent path-style. */
bool aws_s3_bucket_hostable(const char *bucket);

/* Append name=value to a query string, both SigV4-encoded, with '&' between
 * pairs. value NULL appends the bare name ("uploads"). */
int aws_query_add(struct buf *q, const char *name, const char *value);

/* Fill resp->code/message/request_id from an error answer of svc. */
void aws_parse_error(enum aws_service svc, struct aws_response *resp);

/* SPEC.md's errno for an AWS error code and HTTP status (negative). */
int aws_errno_for(const char *code, long status);

#endif

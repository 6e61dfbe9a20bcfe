/*
 * paginate: the one paginator every listing uses.
 *
 * A listing is a sequence of calls, each carrying the token the previous
 * answer returned (S3 continuation-token, DynamoDB LastEvaluatedKey /
 * LastEvaluatedTableName, SQS and SSM NextToken). Each page is parsed and
 * handed to the consumer as soon as it arrives, then freed, so memory is
 * bounded by one page whatever the listing's length. A page size and an item
 * cap work like the AWS CLI's --page-size and --max-items: the last call asks
 * only for what is still wanted. Every loop is bounded (max_pages).
 */
#ifndef AWSFS_PAGINATE_H
#define AWSFS_PAGINATE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "aws.h"
#include "xml.h"

/* How one API pages. Names are parameter / element / member names. */
struct paginate_spec {
	/* S3 (query protocol, XML answers) */
	const char *query_token;   /* request parameter: "continuation-token" */
	const char *query_limit;   /* request parameter: "max-keys" */
	const char *xml_token;     /* answer element: "NextContinuationToken" */
	/* JSON services */
	const char *json_token_in; /* request member: "ExclusiveStartKey", "NextToken" */
	const char *json_token_out;/* answer member: "LastEvaluatedKey", "NextToken" */
	const char *json_limit;    /* request member: "Limit", "MaxResults" */
	size_t max_page_size;      /* the API's largest page (1000, 100, 50...) */
};

extern const struct paginate_spec paginate_s3_list_objects_v2;
extern const struct paginate_spec paginate_s3_list_buckets;
extern const struct paginate_spec paginate_ddb_list_tables;
extern const struct paginate_spec paginate_ddb_scan; /* and Query */
extern const struct paginate_spec paginate_sqs_list_queues;
extern const struct paginate_spec paginate_ssm_describe_parameters;
extern const struct paginate_spec paginate_ssm_get_parameters_by_path;

struct paginate_opts {
	size_t page_size; /* 0: the API's largest */
	size_t max_items; /* 0: no cap */
	size_t max_pages; /* 0: 1,000,000 (a bound, not a policy) */
	/* Resumable listings (S3): start from this token (NULL: the start);
	 * with want_next_token, a listing stopped by max_pages hands the
	 * token to resume from in result->next_token instead of warning. */
	const char *start_token;
	bool want_next_token;
};

/*
 * Consumers get each parsed page. They set *items to the number of entries
 * the page held (for the item cap) and may set *stop to end the listing.
 * A negative return ends the listing with that errno.
 */
typedef int (*paginate_xml_fn)(void *arg, const struct xml_node *root, size_t *items,
			       bool *stop);
typedef int (*paginate_json_fn)(void *arg, json_t *page, size_t *items, bool *stop);

struct paginate_result {
	size_t pages; /* calls made */
	size_t items; /* entries reported by the consumer */
	bool truncated; /* stopped by max_items while more remained */
	char *next_token; /* want_next_token: where to resume, NULL at the end;
			   * caller frees */
};

/*
 * S3-style listing: req is the first call (its query is kept and the token
 * and limit parameters are added to it). Returns 0 or a negative errno;
 * result (may be NULL) says how far it went either way.
 */
int paginate_xml(struct aws_client *c, const struct aws_request *req,
		 const struct paginate_spec *spec, const struct paginate_opts *opts,
		 paginate_xml_fn fn, void *arg, struct paginate_result *result);

/*
 * JSON listing: body is the first request (not modified; copied per page).
 * Returns 0 or a negative errno.
 */
int paginate_json(struct aws_client *c, enum aws_service svc, const char *op,
		  const json_t *body, const char *path, const struct paginate_spec *spec,
		  const struct paginate_opts *opts, paginate_json_fn fn, void *arg,
		  struct paginate_result *result);

#endif

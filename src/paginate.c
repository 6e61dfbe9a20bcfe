/*
 * paginate: one loop for every paged AWS listing. See paginate.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "paginate.h"

#define PAGINATE_DEFAULT_MAX_PAGES 1000000u
#define PAGINATE_XML_MAX_NODES 200000u   /* 1,000 entries of ~10 elements, with room */
#define PAGINATE_MAX_TOKEN 8192u

const struct paginate_spec paginate_s3_list_objects_v2 = {
	.query_token = "continuation-token",
	.query_limit = "max-keys",
	.xml_token = "NextContinuationToken",
	.max_page_size = 1000,
};
const struct paginate_spec paginate_s3_list_buckets = {
	.query_token = "continuation-token",
	.query_limit = "max-buckets",
	.xml_token = "ContinuationToken",
	.max_page_size = 10000,
};
const struct paginate_spec paginate_ddb_list_tables = {
	.json_token_in = "ExclusiveStartTableName",
	.json_token_out = "LastEvaluatedTableName",
	.json_limit = "Limit",
	.max_page_size = 100,
};
const struct paginate_spec paginate_ddb_scan = {
	.json_token_in = "ExclusiveStartKey",
	.json_token_out = "LastEvaluatedKey",
	.json_limit = "Limit",
	.max_page_size = 0, /* DynamoDB pages by size (1 MB), not by count */
};
const struct paginate_spec paginate_sqs_list_queues = {
	.json_token_in = "NextToken",
	.json_token_out = "NextToken",
	.json_limit = "MaxResults",
	.max_page_size = 1000,
};
const struct paginate_spec paginate_ssm_describe_parameters = {
	.json_token_in = "NextToken",
	.json_token_out = "NextToken",
	.json_limit = "MaxResults",
	.max_page_size = 50,
};
const struct paginate_spec paginate_ssm_get_parameters_by_path = {
	.json_token_in = "NextToken",
	.json_token_out = "NextToken",
	.json_limit = "MaxResults",
	.max_page_size = 10,
};

/* How many entries to ask for in the next call: 0 means "let the API choose". */
static size_t next_limit(const struct paginate_spec *spec, const struct paginate_opts *opts,
			 size_t seen)
{
	size_t limit = opts->page_size ? opts->page_size : spec->max_page_size;

	if (spec->max_page_size && limit > spec->max_page_size)
		limit = spec->max_page_size;
	if (opts->max_items) {
		size_t left = opts->max_items - seen;

		if (limit == 0 || left < limit)
			limit = left;
	}
	return limit;
}

static void finish(struct paginate_result *result, size_t pages, size_t items, bool truncated)
{
	if (result) {
		result->pages = pages;
		result->items = items;
		result->truncated = truncated;
	}
}

int paginate_xml(struct aws_client *c, const struct aws_request *first,
		 const struct paginate_spec *spec, const struct paginate_opts *opts,
		 paginate_xml_fn fn, void *arg, struct paginate_result *result)
{
	struct paginate_opts none = { 0 };
	size_t max_pages, pages = 0, items = 0;
	char *token = NULL;
	bool stop = false, truncated = false;
	struct buf query;
	int rc = 0;

	if (!opts)
		opts = &none;
	max_pages = opts->max_pages ? opts->max_pages : PAGINATE_DEFAULT_MAX_PAGES;
	buf_init(&query, 16384);
	if (result)
		result->next_token = NULL;
	if (opts->start_token && !(token = strdup(opts->start_token)))
		return -ENOMEM;

	while (!stop && pages < max_pages) {
		struct aws_request req = *first;
		struct aws_response resp;
		struct xml_doc *doc = NULL;
		const char *next;
		size_t limit = next_limit(spec, opts, items), got = 0;
		char num[24];

		buf_reset(&query);
		if (first->query && *first->query)
			rc = buf_puts(&query, first->query);
		if (!rc && limit) {
			snprintf(num, sizeof(num), "%zu", limit);
			rc = aws_query_add(&query, spec->query_limit, num);
		}
		if (!rc && token)
			rc = aws_query_add(&query, spec->query_token, token);
		if (rc)
			break;
		req.query = query.data;

		rc = aws_call(c, &req, &resp);
		pages++;
		if (!rc) {
			rc = xml_parse(resp.http.body.data ? resp.http.body.data : "",
				       resp.http.body.len, PAGINATE_XML_MAX_NODES, &doc);
			if (rc) {
				log_error("%s %s %s: malformed XML listing page (%s)",
					  aws_service_name(first->svc), first->op,
					  first->path ? first->path : "-", strerror(-rc));
				rc = -EIO;
			}
		}
		aws_response_free(&resp);
		if (rc)
			break;

		rc = fn(arg, xml_root(doc), &got, &stop);
		items += got;
		next = xml_child_text(xml_root(doc), spec->xml_token);
		free(token);
		token = NULL;
		if (!rc && next && *next) {
			if (strlen(next) > PAGINATE_MAX_TOKEN) {
				rc = -EIO;
			} else if (!(token = strdup(next))) {
				rc = -ENOMEM;
			}
		}
		xml_free(doc);
		if (rc || !token)
			break;
		if (opts->max_items && items >= opts->max_items) {
			truncated = true;
			break;
		}
	}
	if (!rc && token && pages >= max_pages && !opts->want_next_token) {
		log_warn("%s %s %s: listing stopped after %zu pages", aws_service_name(first->svc),
			 first->op, first->path ? first->path : "-", pages);
		truncated = true;
	}
	buf_free(&query);
	finish(result, pages, items, truncated);
	if (!rc && token && opts->want_next_token && result)
		result->next_token = token;
	else
		free(token);
	return rc;
}

int paginate_json(struct aws_client *c, enum aws_service svc, const char *op,
		  const json_t *body, const char *path, const struct paginate_spec *spec,
		  const struct paginate_opts *opts, paginate_json_fn fn, void *arg,
		  struct paginate_result *result)
{
	struct paginate_opts none = { 0 };
	size_t max_pages, pages = 0, items = 0;
	json_t *token = NULL;
	bool stop = false, truncated = false;
	int rc = 0;

	if (!opts)
		opts = &none;
	max_pages = opts->max_pages ? opts->max_pages : PAGINATE_DEFAULT_MAX_PAGES;

	while (!stop && pages < max_pages) {
		json_t *req = body ? json_deep_copy(body) : json_object();
		json_t *page = NULL, *next;
		size_t limit = next_limit(spec, opts, items), got = 0;

		if (!req) {
			rc = -ENOMEM;
			break;
		}
		if (limit && spec->json_limit &&
		    json_object_set_new(req, spec->json_limit, json_integer((json_int_t)limit)))
			rc = -ENOMEM;
		if (!rc && token && json_object_set(req, spec->json_token_in, token))
			rc = -ENOMEM;
		if (!rc)
			rc = aws_json_call(c, svc, op, req, path, &page);
		json_decref(req);
		pages++;
		if (rc)
			break;

		rc = fn(arg, page, &got, &stop);
		items += got;
		json_decref(token);
		token = NULL;
		next = json_object_get(page, spec->json_token_out);
		/* A token is a string (NextToken) or an object (LastEvaluatedKey). */
		if (next && !json_is_null(next) &&
		    !(json_is_string(next) && json_string_length(next) == 0))
			token = json_incref(next);
		json_decref(page);
		if (rc || !token)
			break;
		if (opts->max_items && items >= opts->max_items) {
			truncated = true;
			break;
		}
	}
	if (!rc && token && pages >= max_pages) {
		log_warn("%s %s %s: listing stopped after %zu pages", aws_service_name(svc), op,
			 path ? path : "-", pages);
		truncated = true;
	}
	json_decref(token);
	finish(result, pages, items, truncated);
	return rc;
}

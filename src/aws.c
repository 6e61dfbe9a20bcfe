/*
 * aws: build, sign, send one AWS request and make sense of its answer.
 * See aws.h. The only caller of sigv4 and creds on the request path; the
 * only module that knows each service's endpoint, protocol and error format.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws.h"
#include "json.h"
#include "log.h"
#include "retry.h"
#include "sigv4.h"
#include "stats.h"
#include "util.h"
#include "xml.h"

#define AWS_DEFAULT_MAX_RESPONSE (16u << 20)
#define AWS_MAX_URL 8192
#define AWS_MAX_HEADERS 32          /* extra headers a caller may pass */
#define AWS_ERROR_XML_NODES 64      /* an error document is tiny */
#define AWS_MAX_BUCKET_REGIONS 1024 /* buckets remembered outside our region */
#define AWS_MAX_REGION 32

static const char *const service_names[AWS_SVC_COUNT] = {
	"s3", "dynamodb", "sqs", "ssm", "sts",
};

/* X-Amz-Target prefix and Content-Type of the JSON protocols. */
static const struct {
	const char *target;
	const char *content_type;
} json_protocol[AWS_SVC_COUNT] = {
	[AWS_SVC_DYNAMODB] = { "DynamoDB_20120810", "application/x-amz-json-1.0" },
	[AWS_SVC_SQS] = { "AmazonSQS", "application/x-amz-json-1.0" },
	[AWS_SVC_SSM] = { "AmazonSSM", "application/x-amz-json-1.1" },
};

struct aws_client {
	char *region;
	char *endpoint[AWS_SVC_COUNT]; /* base URL, no trailing '/' */
	char *host[AWS_SVC_COUNT];     /* host[:port] of that URL */
	char *scheme[AWS_SVC_COUNT];   /* "http" or "https" */
	bool path_style;
	long request_timeout_ms;
	struct creds_provider *creds;
	time_t fixed_time;             /* test hook; 0: real clock */
	long long skew_s;              /* AWS's clock minus ours (atomic) */
	unsigned max_attempts;
	unsigned retry_budget_ms;
	struct retry_state retry;      /* shared by every thread */
	bool s3_default_endpoint;      /* AWS's own: other regions have other hosts */
	pthread_mutex_t regions_lock;
	struct bucket_region {
		char *bucket;
		char region[AWS_MAX_REGION + 1];
	} *regions;                    /* protected by regions_lock */
	size_t nregions;               /* protected by regions_lock */
};

const char *aws_service_name(enum aws_service svc)
{
	return (unsigned)svc < AWS_SVC_COUNT ? service_names[svc] : "?";
}

int aws_service_parse(const char *name, enum aws_service *out)
{
	for (int i = 0; i < AWS_SVC_COUNT; i++) {
		if (strcmp(name, service_names[i]) == 0) {
			*out = (enum aws_service)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Split "scheme://host[:port][/...]" into its parts. */
static int split_endpoint(const char *url, char **scheme, char **host, char **base)
{
	const char *sep = strstr(url, "://");
	const char *h, *end;
	size_t len;

	if (!sep)
		return -EINVAL;
	h = sep + 3;
	end = h + strcspn(h, "/?#");
	if (end == h)
		return -EINVAL;
	*scheme = strndup(url, (size_t)(sep - url));
	*host = strndup(h, (size_t)(end - h));
	len = strlen(url);
	while (len > 0 && url[len - 1] == '/')
		len--;
	*base = strndup(url, len);
	if (!*scheme || !*host || !*base)
		return -ENOMEM;
	for (char *p = *scheme; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (strcmp(*scheme, "http") != 0 && strcmp(*scheme, "https") != 0)
		return -EINVAL;
	return 0;
}

/* An IP address or localhost cannot carry a bucket in its name. */
static bool host_needs_path_style(const char *host)
{
	size_t n = strcspn(host, ":");

	if (host[0] == '[')
		return true;
	if (n == 9 && strncasecmp(host, "localhost", 9) == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)host[i]) && host[i] != '.')
			return false;
	return true;
}

int aws_client_new(const struct aws_client_options *opts, struct creds_provider *creds,
		   struct aws_client **out)
{
	struct aws_client *c;
	int rc = -ENOMEM;

	if (!opts->region || !*opts->region)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->regions_lock, NULL);
	c->region = strdup(opts->region);
	if (!c->region)
		goto fail;
	c->path_style = opts->path_style;
	c->request_timeout_ms = opts->request_timeout_ms;
	c->creds = creds;
	c->max_attempts = opts->max_attempts ? opts->max_attempts : AWS_DEFAULT_ATTEMPTS;
	c->retry_budget_ms = opts->retry_budget_ms ? opts->retry_budget_ms
						   : AWS_DEFAULT_RETRY_BUDGET_MS;
	retry_state_init(&c->retry, opts->adaptive ? RETRY_MODE_ADAPTIVE : RETRY_MODE_STANDARD,
			 NULL);
	for (int i = 0; i < AWS_SVC_COUNT; i++) {
		char def[256];
		const char *url = opts->endpoints[i];

		if (!url) {
			snprintf(def, sizeof(def), "https://%s.%s.amazonaws.com",
				 service_names[i], c->region);
			url = def;
		}
		rc = split_endpoint(url, &c->scheme[i], &c->host[i], &c->endpoint[i]);
		if (rc)
			goto fail;
		if (i == AWS_SVC_S3 && opts->endpoints[i] && host_needs_path_style(c->host[i]))
			c->path_style = true;
	}
	c->s3_default_endpoint = !opts->endpoints[AWS_SVC_S3];
	*out = c;
	return 0;
fail:
	aws_client_free(c);
	return rc;
}

void aws_client_free(struct aws_client *c)
{
	if (!c)
		return;
	for (int i = 0; i < AWS_SVC_COUNT; i++) {
		free(c->endpoint[i]);
		free(c->host[i]);
		free(c->scheme[i]);
	}
	free(c->region);
	for (size_t i = 0; i < c->nregions; i++)
		free(c->regions[i].bucket);
	free(c->regions);
	pthread_mutex_destroy(&c->regions_lock);
	retry_state_destroy(&c->retry);
	free(c);
}

const char *aws_client_region(const struct aws_client *c)
{
	return c->region;
}

const char *aws_client_endpoint(const struct aws_client *c, enum aws_service svc)
{
	return c->endpoint[svc];
}

void aws_client_set_time(struct aws_client *c, time_t fixed)
{
	c->fixed_time = fixed;
}

void aws_client_set_retry_env(struct aws_client *c, const struct retry_env *env)
{
	enum retry_mode mode = c->retry.mode;

	retry_state_destroy(&c->retry);
	retry_state_init(&c->retry, mode, env);
}

long long aws_client_skew(const struct aws_client *c)
{
	return __atomic_load_n(&c->skew_s, __ATOMIC_RELAXED);
}

/* The time requests are signed with: ours, corrected by the measured skew. */
static time_t signing_time(const struct aws_client *c)
{
	time_t now = c->fixed_time ? c->fixed_time : time(NULL);

	return now + (time_t)aws_client_skew(c);
}

int aws_query_add(struct buf *q, const char *name, const char *value)
{
	int rc = 0;

	if (q->len)
		rc = buf_putc(q, '&');
	if (!rc)
		rc = util_uri_encode(q, name, strlen(name), false);
	if (!rc && value) {
		rc = buf_putc(q, '=');
		if (!rc)
			rc = util_uri_encode(q, value, strlen(value), false);
	}
	return rc;
}

/* The region a request is signed for: an S3 bucket's own when S3 told us
 * it lives elsewhere (301 / x-amz-bucket-region), else the client's. */
static void region_for(struct aws_client *c, const struct aws_request *req,
		       char out[AWS_MAX_REGION + 1])
{
	snprintf(out, AWS_MAX_REGION + 1, "%s", c->region);
	if (req->svc != AWS_SVC_S3 || !req->bucket)
		return;
	pthread_mutex_lock(&c->regions_lock);
	for (size_t i = 0; i < c->nregions; i++) {
		if (strcmp(c->regions[i].bucket, req->bucket) == 0) {
			snprintf(out, AWS_MAX_REGION + 1, "%s", c->regions[i].region);
			break;
		}
	}
	pthread_mutex_unlock(&c->regions_lock);
}

static bool region_ok(const char *r)
{
	size_t n = strlen(r);

	if (n == 0 || n > AWS_MAX_REGION)
		return false;
	for (; *r; r++)
		if (!((*r >= 'a' && *r <= 'z') || (*r >= '0' && *r <= '9') || *r == '-'))
			return false;
	return true;
}

/* Remember that bucket lives in region (bounded; the oldest goes). */
static void remember_region(struct aws_client *c, const char *bucket, const char *region)
{
	size_t i;

	pthread_mutex_lock(&c->regions_lock);
	for (i = 0; i < c->nregions; i++)
		if (strcmp(c->regions[i].bucket, bucket) == 0)
			break;
	if (i == c->nregions) {
		struct bucket_region *grown;
		char *b = strdup(bucket);

		if (c->nregions == AWS_MAX_BUCKET_REGIONS) {
			free(c->regions[0].bucket);
			memmove(c->regions, c->regions + 1, --c->nregions * sizeof(*c->regions));
			i = c->nregions;
		}
		grown = b ? realloc(c->regions, (c->nregions + 1) * sizeof(*grown)) : NULL;
		if (!grown) {
			free(b);
			pthread_mutex_unlock(&c->regions_lock);
			return;
		}
		c->regions = grown;
		grown[i].bucket = b;
		c->nregions++;
	}
	snprintf(c->regions[i].region, sizeof(c->regions[i].region), "%s", region);
	pthread_mutex_unlock(&c->regions_lock);
}

bool aws_s3_bucket_hostable(const char *b)
{
	size_t n = strlen(b), label = 0, labels = 1;
	bool digits_only = true;

	if (n < 3 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = b[i];

		if (ch == '.') {
			/* A label starts and ends with a letter or digit. */
			if (label == 0 || b[i - 1] == '-')
				return false;
			label = 0;
			labels++;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
			return false;
		if (ch == '-' && label == 0)
			return false;
		if (!(ch >= '0' && ch <= '9'))
			digits_only = false;
		label++;
	}
	/* Ends like a label; and "192.168.5.4" is an address, not a name. */
	return label > 0 && b[n - 1] != '-' && !(digits_only && labels == 4);
}

/*
 * The request line's path and the URL. S3 keys are encoded once, '/' kept;
 * virtual-host style moves the bucket into the host name, when the name
 * can be one (as the SDKs do): any other bucket goes in the path, encoded,
 * so that a name like "evil.example:80#" can never choose the host. A bucket in
 * another region than the client's is sent to that region's S3 host
 * (with AWS's own endpoint; a configured endpoint stays as it is).
 */
static int build_target(const struct aws_client *c, const struct aws_request *req,
			const char *region, struct buf *path, struct buf *url, struct buf *host)
{
	enum aws_service svc = req->svc;
	bool vhost = svc == AWS_SVC_S3 && req->bucket && !c->path_style &&
		     aws_s3_bucket_hostable(req->bucket);
	const char *base_path = strstr(c->endpoint[svc], "://") + 3;
	int rc;

	base_path += strcspn(base_path, "/");  /* endpoint may carry a path */
	rc = buf_puts(path, base_path);
	if (!rc && svc == AWS_SVC_S3 && req->bucket && !vhost) {
		rc = buf_putc(path, '/');
		if (!rc)
			rc = util_uri_encode(path, req->bucket, strlen(req->bucket), false);
	}
	if (!rc)
		rc = buf_putc(path, '/');
	if (!rc && svc == AWS_SVC_S3 && req->key)
		rc = util_uri_encode(path, req->key, strlen(req->key), true);
	if (rc)
		return rc;

	if (svc == AWS_SVC_S3 && c->s3_default_endpoint && strcmp(region, c->region) != 0)
		rc = buf_printf(host, "%s%ss3.%s.amazonaws.com", vhost ? req->bucket : "",
				vhost ? "." : "", region);
	else if (vhost)
		rc = buf_printf(host, "%s.%s", req->bucket, c->host[svc]);
	else
		rc = buf_puts(host, c->host[svc]);
	if (!rc)
		rc = buf_printf(url, "%s://%s%s", c->scheme[svc], host->data, path->data);
	if (!rc && req->query && *req->query)
		rc = buf_printf(url, "?%s", req->query);
	return rc;
}

/* Copy the first `cap - 1` bytes of s into dst. */
static void set_field(char *dst, size_t cap, const char *s)
{
	snprintf(dst, cap, "%s", s ? s : "");
}

static void parse_xml_error(struct aws_response *resp)
{
	struct xml_doc *doc = NULL;
	const struct xml_node *root, *err;
	const char *s;

	if (xml_parse(resp->http.body.data, resp->http.body.len, AWS_ERROR_XML_NODES, &doc))
		return;
	root = xml_root(doc);
	/* S3: <Error>; query protocol: <ErrorResponse><Error>. */
	err = strcmp(xml_name(root), "Error") == 0 ? root : xml_child(root, "Error");
	if (err) {
		if ((s = xml_child_text(err, "Code")))
			set_field(resp->code, sizeof(resp->code), s);
		if ((s = xml_child_text(err, "Message")))
			set_field(resp->message, sizeof(resp->message), s);
		if ((s = xml_child_text(err, "RequestId")) && !resp->request_id[0])
			set_field(resp->request_id, sizeof(resp->request_id), s);
	}
	if ((s = xml_child_text(root, "RequestId")) && !resp->request_id[0])
		set_field(resp->request_id, sizeof(resp->request_id), s);
	xml_free(doc);
}

static void parse_json_error(struct aws_response *resp)
{
	json_t *root = NULL;
	const char *type, *msg, *qe;

	/* SQS's JSON protocol also names the legacy query code in a header. */
	qe = http_response_header(&resp->http, "x-amzn-query-error");
	if (qe) {
		size_t n = strcspn(qe, ";");

		snprintf(resp->code, sizeof(resp->code), "%.*s", (int)n, qe);
	}
	if (jsonx_parse(resp->http.body.data, resp->http.body.len, 1u << 20, &root))
		return;
	type = jsonx_str(root, "__type");
	if (!type)
		type = jsonx_str(root, "code");
	if (type && !resp->code[0]) {
		const char *hash = strrchr(type, '#');

		set_field(resp->code, sizeof(resp->code), hash ? hash + 1 : type);
	}
	msg = jsonx_str(root, "message");
	if (!msg)
		msg = jsonx_str(root, "Message");
	if (msg)
		set_field(resp->message, sizeof(resp->message), msg);
	json_decref(root);
}

void aws_parse_error(enum aws_service svc, struct aws_response *resp)
{
	const char *rid, *etype;

	rid = http_response_header(&resp->http, "x-amz-request-id");
	if (!rid)
		rid = http_response_header(&resp->http, "x-amzn-requestid");
	if (rid)
		set_field(resp->request_id, sizeof(resp->request_id), rid);

	if (resp->http.body.len > 0) {
		const char *b = resp->http.body.data;

		while (*b == ' ' || *b == '\n' || *b == '\r' || *b == '\t')
			b++;
		if (*b == '<')
			parse_xml_error(resp);
		else if (*b == '{')
			parse_json_error(resp);
	}
	if (!resp->code[0] && (etype = http_response_header(&resp->http, "x-amzn-errortype")))
		snprintf(resp->code, sizeof(resp->code), "%.*s", (int)strcspn(etype, ":"), etype);
	/* A HEAD has no body: name the status the way the SDKs do. */
	if (!resp->code[0]) {
		const char *name = NULL;

		switch (resp->status) {
		case 301: name = "PermanentRedirect"; break;
		case 304: name = "NotModified"; break;
		case 400: name = "BadRequest"; break;
		case 403: name = "Forbidden"; break;
		case 404: name = "NotFound"; break;
		case 409: name = "Conflict"; break;
		case 412: name = "PreconditionFailed"; break;
		case 429: name = "TooManyRequests"; break;
		case 500: name = "InternalError"; break;
		case 503: name = svc == AWS_SVC_S3 ? "SlowDown" : "ServiceUnavailable"; break;
		default: break;
		}
		if (name)
			set_field(resp->code, sizeof(resp->code), name);
	}
}

struct code_errno {
	const char *code;
	int err;
};

/* SPEC.md, "Errors a user sees". */
static const struct code_errno code_table[] = {
	{ "NoSuchKey", ENOENT },
	{ "NoSuchBucket", ENOENT },
	{ "NoSuchUpload", ENOENT },
	{ "NotFound", ENOENT },
	{ "ResourceNotFoundException", ENOENT },
	{ "ParameterNotFound", ENOENT },
	{ "ParameterVersionNotFound", ENOENT },
	{ "QueueDoesNotExist", ENOENT },
	{ "AWS.SimpleQueueService.NonExistentQueue", ENOENT },
	{ "ReceiptHandleIsInvalid", ENOENT },
	{ "AccessDenied", EACCES },
	{ "AccessDeniedException", EACCES },
	{ "Forbidden", EACCES },
	{ "InvalidAccessKeyId", EACCES },
	{ "SignatureDoesNotMatch", EACCES },
	{ "InvalidSignatureException", EACCES },
	{ "UnrecognizedClientException", EACCES },
	{ "InvalidClientTokenId", EACCES },
	{ "IncompleteSignature", EACCES },
	{ "MissingAuthenticationToken", EACCES },
	{ "ExpiredToken", EACCES },
	{ "ExpiredTokenException", EACCES },
	{ "AllAccessDisabled", EACCES },
	{ "BucketNotEmpty", ENOTEMPTY },
	{ "EntityTooLarge", EFBIG },
	{ "ParameterMaxVersionLimitExceeded", EFBIG },
	{ "ValidationException", EINVAL },
	{ "ValidationError", EINVAL },
	{ "InvalidParameterValue", EINVAL },
	{ "InvalidParameterValueException", EINVAL },
	{ "InvalidParameterCombination", EINVAL },
	{ "InvalidArgument", EINVAL },
	{ "InvalidRequest", EINVAL },
	{ "InvalidBucketName", EINVAL },
	{ "MalformedXML", EINVAL },
	{ "SerializationException", EINVAL },
	{ "HierarchyLevelLimitExceededException", EINVAL },
	{ "HierarchyTypeMismatchException", EINVAL },
	{ "UnsupportedParameterType", EINVAL },
	{ "InvalidAttributeName", EINVAL },
	{ "KeyTooLongError", ENAMETOOLONG },
	{ "ConditionalCheckFailedException", EEXIST },
	{ "BucketAlreadyExists", EEXIST },
	{ "BucketAlreadyOwnedByYou", EEXIST },
	{ "ParameterAlreadyExists", EEXIST },
	{ "QueueAlreadyExists", EEXIST },
	{ "QueueNameExists", EEXIST },
	{ "QueueDeletedRecently", EBUSY },
	{ "ResourceInUseException", EBUSY },
	{ "TransactionConflictException", EBUSY },
	{ "PreconditionFailed", EBUSY },
	{ "ParameterLimitExceeded", ENOSPC },
	{ "TooManyUpdates", EBUSY },
	{ "TooManyBuckets", ENOSPC },
	{ "ServiceQuotaExceededException", EDQUOT },
	{ "ItemCollectionSizeLimitExceededException", EDQUOT },
	/* Throttles that outlived the retry budget. */
	{ "SlowDown", EAGAIN },
	{ "Throttling", EAGAIN },
	{ "ThrottlingException", EAGAIN },
	{ "ThrottledException", EAGAIN },
	{ "RequestThrottledException", EAGAIN },
	{ "TooManyRequestsException", EAGAIN },
	{ "TooManyRequests", EAGAIN },
	{ "ProvisionedThroughputExceededException", EAGAIN },
	{ "RequestLimitExceeded", EAGAIN },
	{ "BandwidthLimitExceeded", EAGAIN },
	{ "LimitExceededException", EAGAIN },
	{ "RequestThrottled", EAGAIN },
	{ "AWS.SimpleQueueService.RequestThrottled", EAGAIN },
	{ "PriorRequestNotComplete", EAGAIN },
	{ "TransactionInProgressException", EAGAIN },
};

int aws_errno_for(const char *code, long status)
{
	if (code && *code) {
		for (size_t i = 0; i < sizeof(code_table) / sizeof(code_table[0]); i++)
			if (strcmp(code_table[i].code, code) == 0)
				return -code_table[i].err;
	}
	if (status == 404)
		return -ENOENT;
	if (status == 401 || status == 403)
		return -EACCES;
	if (status == 429)
		return -EAGAIN;
	if (status == 409 || status == 412)
		return -EBUSY;
	if (status == 413)
		return -EFBIG;
	if (status >= 400 && status < 500)
		return -EINVAL;
	return -EIO;
}

static const char *strip_nl(char *s)
{
	for (char *p = s; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return s;
}

/* Add a header to both the list curl sends and the list SigV4 signs. */
static int add_header(char **lines, struct sigv4_header *sig, size_t *n, const char *name,
		      const char *value)
{
	size_t len = strlen(name) + strlen(value) + 3;

	lines[*n] = malloc(len);
	if (!lines[*n])
		return -ENOMEM;
	snprintf(lines[*n], len, "%s: %s", name, value);
	sig[*n].name = name;
	sig[*n].value = value;
	(*n)++;
	return 0;
}

static int sign_and_send(struct aws_client *c, const struct aws_request *req,
			 struct aws_response *resp, time_t now)
{
	enum aws_service svc = req->svc;
	struct buf path, url, host, auth, target;
	char *lines[AWS_MAX_HEADERS + 8] = { NULL };
	struct sigv4_header sig[AWS_MAX_HEADERS + 8];
	char *xnames[AWS_MAX_HEADERS] = { NULL };
	char date[17], payload_hash[SHA256_HEX_LEN + 1], region[AWS_MAX_REGION + 1];
	struct creds cr = { 0 };
	struct sigv4_input in;
	struct http_request hreq;
	const char *method;
	size_t n = 0;
	int rc;

	buf_init(&path, AWS_MAX_URL);
	buf_init(&url, AWS_MAX_URL);
	buf_init(&host, 512);
	buf_init(&auth, 1024);
	buf_init(&target, 256);

	if (req->nheaders > AWS_MAX_HEADERS) {
		rc = -E2BIG;
		goto out;
	}
	region_for(c, req, region);
	rc = build_target(c, req, region, &path, &url, &host);
	if (rc)
		goto out;
	rc = creds_get(c->creds, &cr);
	if (rc) {
		snprintf(resp->code, sizeof(resp->code), "%s",
			 rc == -ENOKEY ? "NoCredentials" : "CredentialsUnavailable");
		snprintf(resp->message, sizeof(resp->message),
			 "no usable credentials (%s)", strerror(-rc));
		goto out;
	}

	util_amz_date(now, date);
	util_sha256_hex(req->body ? req->body : "", req->body ? req->body_len : 0, payload_hash);
	method = req->method ? req->method : (svc == AWS_SVC_S3 ? "GET" : "POST");

	rc = add_header(lines, sig, &n, "host", host.data);
	if (!rc)
		rc = add_header(lines, sig, &n, "x-amz-date", date);
	if (!rc && svc == AWS_SVC_S3)
		rc = add_header(lines, sig, &n, "x-amz-content-sha256", payload_hash);
	if (!rc && cr.session_token)
		rc = add_header(lines, sig, &n, "x-amz-security-token", cr.session_token);
	if (!rc && json_protocol[svc].target) {
		rc = buf_printf(&target, "%s.%s", json_protocol[svc].target, req->op);
		if (!rc)
			rc = add_header(lines, sig, &n, "x-amz-target", target.data);
		if (!rc)
			rc = add_header(lines, sig, &n, "content-type",
					json_protocol[svc].content_type);
	}
	/* The caller's own headers, "Name: value", signed too. */
	for (size_t i = 0; i < req->nheaders && !rc; i++) {
		const char *h = req->headers[i], *colon = strchr(h, ':');
		const char *v;

		if (!colon) {
			rc = -EINVAL;
			break;
		}
		xnames[i] = strndup(h, (size_t)(colon - h));
		if (!xnames[i]) {
			rc = -ENOMEM;
			break;
		}
		for (v = colon + 1; *v == ' '; v++)
			;
		rc = add_header(lines, sig, &n, xnames[i], v);
	}
	if (rc)
		goto out;

	in = (struct sigv4_input){
		.method = method,
		.path = path.data,
		.query = req->query,
		.headers = sig,
		.nheaders = n,
		.payload_hash = payload_hash,
		.now = now,
		.region = region,
		.service = service_names[svc],
		.s3 = svc == AWS_SVC_S3,
	};
	rc = buf_puts(&auth, "Authorization: ");
	if (!rc)
		rc = sigv4_authorization(&in, cr.access_key, cr.secret_key, &auth, NULL);
	if (rc)
		goto out;
	lines[n++] = auth.data;

	hreq = (struct http_request){
		.method = method,
		.url = url.data,
		.headers = (const char *const *)lines,
		.nheaders = n,
		.body = req->body,
		.body_len = req->body_len,
		.max_response = req->max_response ? req->max_response : AWS_DEFAULT_MAX_RESPONSE,
		.sink = req->sink,
		.sink_arg = req->sink_arg,
		.timeout_ms = c->request_timeout_ms,
	};
	rc = http_perform(&hreq, &resp->http);
	lines[--n] = NULL; /* auth.data is freed below */
	resp->status = resp->http.status;
	if (rc) {
		snprintf(resp->message, sizeof(resp->message), "%s", resp->http.errmsg);
		goto out;
	}
out:
	stats_add(service_names[svc], req->op, STATS_REQUESTS, 1);
	stats_add(service_names[svc], req->op, STATS_BYTES_OUT, resp->http.bytes_out);
	stats_add(service_names[svc], req->op, STATS_BYTES_IN, resp->http.bytes_in);
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	for (size_t i = 0; i < AWS_MAX_HEADERS; i++)
		free(xnames[i]);
	util_wipe(auth.data, auth.len);
	buf_free(&auth);
	buf_free(&path);
	buf_free(&url);
	buf_free(&host);
	buf_free(&target);
	creds_clear(&cr);
	return rc;
}

/* Answers small enough to be an error document are looked into. */
#define AWS_ERROR_IN_200_MAX (64u << 10)

static bool contains(const char *s, size_t n, const char *needle)
{
	size_t k = strlen(needle);

	for (size_t i = 0; i + k <= n; i++)
		if (s[i] == needle[0] && memcmp(s + i, needle, k) == 0)
			return true;
	return false;
}

/*
 * An error document inside a 2xx answer: S3's <Error> root (never an
 * object's own bytes: only answers that are S3's documents are looked at),
 * or a JSON service's object with a top-level "__type".
 */
static bool error_in_200(const struct aws_request *req, const struct aws_response *resp)
{
	const char *b = resp->http.body.data, *end;
	size_t n = resp->http.body.len;
	bool found = false;

	if (req->sink || !b || n == 0 || n > AWS_ERROR_IN_200_MAX)
		return false;
	end = b + n;
	while (b < end && (*b == ' ' || *b == '\n' || *b == '\r' || *b == '\t'))
		b++;
	if (req->svc == AWS_SVC_S3) {
		if (req->key && strcmp(req->op, "CopyObject") != 0 &&
		    strcmp(req->op, "CompleteMultipartUpload") != 0 &&
		    strcmp(req->op, "UploadPartCopy") != 0)
			return false;
		if ((size_t)(end - b) > 5 && strncmp(b, "<?xml", 5) == 0) {
			const char *q = memchr(b, '>', (size_t)(end - b));

			if (!q)
				return false;
			for (b = q + 1; b < end && (*b == ' ' || *b == '\n' || *b == '\r' ||
						   *b == '\t'); b++)
				;
		}
		return (size_t)(end - b) >= 7 && strncmp(b, "<Error", 6) == 0 &&
		       (b[6] == '>' || b[6] == ' ');
	}
	if (json_protocol[req->svc].target && b < end && *b == '{' &&
	    contains(b, (size_t)(end - b), "\"__type\"")) {
		json_t *root = NULL;

		if (jsonx_parse(resp->http.body.data, n, AWS_ERROR_IN_200_MAX, &root) == 0) {
			found = json_is_string(json_object_get(root, "__type"));
			json_decref(root);
		}
	}
	return found;
}

/* One attempt: send, then read an error answer. Returns 0 or -errno. */
static int attempt(struct aws_client *c, const struct aws_request *req,
		   struct aws_response *resp, time_t now)
{
	int rc;

	memset(resp, 0, sizeof(*resp));
	buf_init(&resp->http.body, 0);
	rc = sign_and_send(c, req, resp, now);
	if (rc && resp->http.error != HTTP_OK) {
		/* The network failed us: the user sees EIO (SPEC.md), the log
		 * says how. A cancel is the caller's own doing. */
		set_field(resp->code, sizeof(resp->code),
			  resp->http.error == HTTP_ERR_TOOBIG ? "ResponseTooLarge" : "NetworkError");
		if (rc != -ECANCELED && rc != -ENOMEM)
			rc = -EIO;
	} else if (rc == -ENOKEY || rc == -EACCES) {
		rc = -EACCES; /* no usable credentials */
	} else if (rc == 0 && (resp->status < 200 || resp->status > 299) &&
		   resp->status != 304) {
		/* (304 answers a conditional request: the caller's to read.) */
		aws_parse_error(req->svc, resp);
		rc = aws_errno_for(resp->code, resp->status);
	} else if (rc == 0 && error_in_200(req, resp)) {
		resp->status = 500; /* retried and mapped as the 500 it is */
		aws_parse_error(req->svc, resp);
		if (!resp->code[0])
			set_field(resp->code, sizeof(resp->code), "InternalError");
		rc = aws_errno_for(resp->code, resp->status);
	}
	return rc;
}

/* The server's hint, in ms: x-amz-retry-after (ms) or Retry-After (s). */
static uint64_t retry_hint_ms(const struct aws_response *resp)
{
	const char *v = http_response_header(&resp->http, "x-amz-retry-after");
	long long n;

	if (v && util_parse_ll(v, 0, RETRY_CAP_MS, &n) == 0)
		return (uint64_t)n;
	v = http_response_header(&resp->http, "retry-after");
	if (v && util_parse_ll(v, 0, RETRY_CAP_MS / 1000, &n) == 0)
		return (uint64_t)n * 1000;
	return 0;
}

static const char *const class_names[] = { "success", "transient error", "throttle",
					   "clock skew", "fatal error" };

int aws_call(struct aws_client *c, const struct aws_request *req, struct aws_response *resp)
{
	const char *svcname = aws_service_name(req->svc);
	const char *path = req->path ? req->path : "-";
	struct retry_env *env = &c->retry.env;
	uint64_t t0 = env->now_ms(env->arg), wait;
	const char *why = NULL, *msg;
	bool skew_fixed = false, redirected = false;
	int cost_paid = 0, rc;
	unsigned n;

	for (n = 1;; n++) {
		struct retry_outcome out;
		enum retry_class cls;
		time_t sent = signing_time(c);
		const char *date;
		time_t server = 0;
		int cost;

		if ((wait = retry_rate_acquire(&c->retry)) > 0)
			env->sleep_ms(env->arg, wait);
		rc = attempt(c, req, resp, sent);
		resp->attempts = n;
		/* A bucket in another region: S3 names it; follow once. */
		if (rc && req->svc == AWS_SVC_S3 && req->bucket && !redirected &&
		    (resp->status == 301 || resp->status == 307 || resp->status == 400)) {
			const char *br = http_response_header(&resp->http, "x-amz-bucket-region");
			char used[AWS_MAX_REGION + 1];

			region_for(c, req, used);
			if (br && region_ok(br) && strcmp(br, used) != 0) {
				remember_region(c, req->bucket, br);
				log_info("s3 %s %s: bucket %s is in %s, following", req->op, path,
					 req->bucket, br);
				redirected = true;
				aws_response_free(resp);
				n--;
				continue;
			}
		}
		date = http_response_header(&resp->http, "date");
		if (date)
			util_parse_http_date(date, &server);
		out = (struct retry_outcome){ .status = resp->status,
					      .transport = resp->http.error,
					      .code = resp->code,
					      .server_date = server,
					      .local_date = sent };
		cls = rc == 0 ? RETRY_SUCCESS : retry_classify(&out);
		/* Bytes already handed to a sink cannot be taken back. */
		if (cls != RETRY_SUCCESS && req->sink && resp->http.bytes_in > 0 &&
		    resp->status >= 200 && resp->status < 300)
			cls = RETRY_FATAL;
		if (rc == -ENOMEM || rc == -ECANCELED)
			cls = RETRY_FATAL;
		retry_rate_update(&c->retry, cls == RETRY_THROTTLE);
		if (cls == RETRY_SUCCESS) {
			retry_quota_release(&c->retry, cost_paid);
			break;
		}
		if (cls == RETRY_FATAL)
			break;
		if (n >= c->max_attempts) {
			why = "attempts exhausted";
			break;
		}
		if (cls == RETRY_SKEW) {
			/* Correct the clock once per call; re-signing is the retry. */
			if (skew_fixed || !server) {
				why = "clock skew persists";
				break;
			}
			__atomic_store_n(&c->skew_s, (long long)server - (long long)sent +
					 aws_client_skew(c), __ATOMIC_RELAXED);
			skew_fixed = true;
			log_warn("%s %s %s: local clock is %lld s off AWS's, corrected", svcname,
				 req->op, path, (long long)(server - sent));
			cost = 0;
			wait = 0;
		} else {
			cost = retry_quota_acquire(&c->retry, resp->http.error == HTTP_ERR_TIMEOUT);
			if (!cost) {
				why = "retry quota exhausted";
				break;
			}
			wait = retry_delay_ms(&c->retry, cls, n, retry_hint_ms(resp));
			if (env->now_ms(env->arg) - t0 + wait > c->retry_budget_ms) {
				retry_quota_release(&c->retry, cost);
				why = "time budget exhausted";
				break;
			}
		}
		cost_paid = cost;
		stats_add(svcname, req->op, STATS_RETRIES, 1);
		if (cls == RETRY_THROTTLE)
			stats_add(svcname, req->op, STATS_THROTTLES, 1);
		log_debug("%s %s %s: %s (%s, HTTP %ld), retry %u in %llu ms", svcname, req->op,
			  path, class_names[cls], resp->code, resp->status, n,
			  (unsigned long long)wait);
		aws_response_free(resp);
		if (wait)
			env->sleep_ms(env->arg, wait);
	}

	log_debug("%s %s %s: %s HTTP %ld in %llu ms, %zu bytes, %u attempt%s", svcname, req->op,
		  path, rc ? "failed" : "ok", resp->status,
		  (unsigned long long)(env->now_ms(env->arg) - t0), resp->http.bytes_in, n,
		  n == 1 ? "" : "s");
	if (rc == 0)
		return 0;

	/* A throttle that outlived the budget is EAGAIN whatever its code. */
	if (why && (resp->status == 429 || retry_is_throttle_code(resp->code)))
		rc = -EAGAIN;
	stats_add(svcname, req->op, STATS_ERRORS, 1);
	strip_nl(resp->message);
	msg = req->sensitive ? "(message not logged: the request held a secret)" : resp->message;
	if ((req->quiet_errors && !why) || req->background)
		log_debug("%s %s %s: %s: %s (HTTP %ld, request id %s)", svcname, req->op, path,
			  resp->code, msg, resp->status,
			  resp->request_id[0] ? resp->request_id : "-");
	else
		log_error("%s %s %s: %s: %s (HTTP %ld, request id %s%s%s)", svcname, req->op,
			  path, resp->code, msg, resp->status,
			  resp->request_id[0] ? resp->request_id : "-", why ? "; gave up: " : "",
			  why ? why : "");
	resp->logged = (!req->quiet_errors || why) && !req->background;
	return rc;
}

/* Top-level members of the JSON answers awsfs reads, with their types. */
static const struct {
	const char *name;
	json_type type;
} json_shapes[] = {
	/* DynamoDB */
	{ "Item", JSON_OBJECT },
	{ "Items", JSON_ARRAY },
	{ "LastEvaluatedKey", JSON_OBJECT },
	{ "TableNames", JSON_ARRAY },
	{ "LastEvaluatedTableName", JSON_STRING },
	{ "Table", JSON_OBJECT },
	{ "Count", JSON_INTEGER },
	{ "ScannedCount", JSON_INTEGER },
	{ "Attributes", JSON_OBJECT }, /* and SQS's */
	/* SQS */
	{ "QueueUrls", JSON_ARRAY },
	{ "QueueUrl", JSON_STRING },
	{ "Messages", JSON_ARRAY },
	{ "MessageId", JSON_STRING },
	{ "Successful", JSON_ARRAY },
	{ "Failed", JSON_ARRAY },
	/* SSM */
	{ "Parameter", JSON_OBJECT },
	{ "Parameters", JSON_ARRAY },
	{ "Version", JSON_INTEGER },
	{ "Tier", JSON_STRING },
	/* all */
	{ "NextToken", JSON_STRING },
};

const char *aws_json_shape_error(const json_t *root)
{
	if (!json_is_object(root))
		return "(the answer is not an object)";
	for (size_t i = 0; i < sizeof(json_shapes) / sizeof(json_shapes[0]); i++) {
		const json_t *v = json_object_get(root, json_shapes[i].name);

		if (v && !json_is_null(v) && json_typeof(v) != json_shapes[i].type)
			return json_shapes[i].name;
	}
	return NULL;
}

void aws_response_free(struct aws_response *resp)
{
	http_response_free(&resp->http);
}

int aws_json_call(struct aws_client *c, enum aws_service svc, const char *op,
		  json_t *body, const char *path, json_t **out)
{
	struct aws_response resp;
	struct aws_request req;
	struct buf payload;
	const char *bad;
	int rc;

	*out = NULL;
	buf_init(&payload, 16u << 20);
	rc = body ? jsonx_dump(body, &payload) : buf_puts(&payload, "{}");
	if (rc) {
		buf_free(&payload);
		return rc;
	}
	req = (struct aws_request){
		.svc = svc,
		.op = op,
		.body = payload.data,
		.body_len = payload.len,
		.path = path,
	};
	rc = aws_call(c, &req, &resp);
	if (rc == 0) {
		rc = jsonx_parse(resp.http.body.data ? resp.http.body.data : "{}",
				 resp.http.body.len ? resp.http.body.len : 2,
				 AWS_DEFAULT_MAX_RESPONSE, out);
		if (rc)
			log_error("%s %s %s: malformed JSON answer (%s)", aws_service_name(svc),
				  op, path ? path : "-", strerror(-rc));
		if (rc)
			rc = -EIO;
		if (!rc && (bad = aws_json_shape_error(*out))) {
			log_error("%s %s %s: malformed JSON answer (%s of the wrong type)",
				  aws_service_name(svc), op, path ? path : "-", bad);
			json_decref(*out);
			*out = NULL;
			rc = -EIO;
		}
	}
	aws_response_free(&resp);
	buf_free(&payload);
	return rc;
}

/*
 * sqs: SQS queues as folders. See sqs.h.
 *
 * The queue list, each queue's URL and attributes.json live in the shared
 * cache (sqs_ttl), so lookups after a listing cost nothing and
 * .awsfs/invalidate works on them; what the mount changes drops its
 * entries at once. Received messages are state, not cache: held per queue
 * until removed or until their visibility timeout, counted from before the
 * ReceiveMessage call that brought them, ends (a little early, see
 * receive()): by then SQS may hand them to another consumer, and a delete
 * with an old receipt handle would not mean what the user thinks. Queue
 * records (the held messages) live until unmount, so a pointer to one
 * stays valid without reference counts.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "log.h"
#include "paginate.h"
#include "sqs.h"
#include "util.h"

#define SQS_MAX_QUEUES 1000000u    /* a bound on one listing, not a policy */
#define SQS_NAME_MAX 80            /* AWS: queue names are 1-80 characters */
#define SQS_FIFO_SUFFIX ".fifo"
#define SQS_RECEIVE_BATCH 10       /* AWS: ReceiveMessage MaxNumberOfMessages <= 10 */
#define SQS_SEND_BATCH 10          /* AWS: SendMessageBatch holds <= 10 entries */
/* AWS: the bodies of one batch add up to at most 1 MiB since August 2025,
 * 256 KiB before (and in older emulators): batches stay under the old one. */
#define SQS_BATCH_MAX_BYTES 262144u
/* AWS: MaximumMessageSize defaults to 1 MiB now, 256 KiB before; used only
 * when a queue does not say (the queue's own value is asked first). */
#define SQS_DEFAULT_MAX_SIZE 262144
#define SQS_HARD_MAX_SIZE (1 << 20) /* AWS: MaximumMessageSize is at most 1 MiB */
#define SQS_FIRST_WAIT_S 1         /* a listing's first ReceiveMessage long-polls */
#define SQS_BATCH_TRIES 3          /* sends of a batch's failed entries, first included */
#define SQS_BATCH_BACKOFF_MS 100u  /* before the second try; doubled after */
#define SQS_MAX_RESPONSE (40u << 20) /* 10 bodies of 1 MiB, escaped */
#define SQS_MAX_REQUEST (16u << 20)
#define SQS_MAX_ID 255             /* a message id must be a file name */
#define SQS_XATTR_PREFIX "user.sqs."
#define SQS_XATTR_ATTR_PREFIX "user.sqs.attr."

static const char *const SQS_FILE_ATTRS = "attributes.json";
static const char *const SQS_FILE_SEND = "send";
static const char *const SQS_FILE_SEND_LINES = "send-lines";
static const char *const SQS_DIR_MESSAGES = "messages";

struct sqs_xattr {
	char *name;  /* "user.sqs.receive_count" */
	char *value;
	size_t len;
};

struct sqs_msg {
	char *id;
	char *receipt;
	char *body;
	size_t len;
	uint64_t expires_ms;     /* our clock: when it is back in the queue */
	time_t sent;             /* SentTimestamp, seconds (0: unknown) */
	struct sqs_xattr *xattrs;
	size_t nxattrs;
};

struct sqs_queue {
	char *name;
	struct sqs_msg *msgs;    /* received, not removed, still hidden */
	size_t nmsgs;
	pthread_mutex_t recv_lock; /* one ReceiveMessage loop per queue at a time */
	struct sqs_queue *next;
};

struct sqs {
	struct aws_client *client;
	const struct fs_config *cfg;
	char *group;
	size_t receive_max;
	uint64_t (*clock)(void);
	pthread_mutex_t lock;
	struct sqs_queue *queues; /* protected by lock */
};

enum sqs_kind {
	SK_ROOT,
	SK_QUEUE,
	SK_ATTRS,
	SK_SEND,
	SK_SEND_LINES,
	SK_MSGDIR,
	SK_MSG,
};

struct sqs_path {
	enum sqs_kind kind;
	char queue[SQS_NAME_MAX + 1];
	const char *msg;          /* SK_MSG: the message id (points into the path) */
	char logpath[512];        /* "/sqs/..." for log lines */
};

/* An open file. Reads serve data; send collects body; send-lines splits
 * lines into pending batches. Protected by its own lock (the kernel may
 * flush from one thread while another writes through a dup). */
struct sqs_file {
	enum sqs_kind kind;
	char queue[SQS_NAME_MAX + 1];
	char logpath[512];
	char *url;
	bool fifo;
	pthread_mutex_t lock;
	char *data;               /* reads */
	size_t len;
	struct buf body;          /* send: the message so far; send-lines: the line */
	size_t max_size;
	bool dirty;               /* send: written since the last send */
	int err;                  /* a sticky error to report at close */
	char *pending[SQS_SEND_BATCH]; /* send-lines: complete lines not sent yet */
	size_t pending_len[SQS_SEND_BATCH];
	size_t npending;
	size_t pending_bytes;
	off_t written;            /* send-lines: bytes taken so far */
	size_t lineno;
	size_t lost;              /* send-lines: messages lost since the last close */
	bool stopped;             /* send-lines: a bad line ended the stream */
};

/* ------------------------------------------------------------------ */
/* Names */

bool sqs_name_valid(const char *name)
{
	size_t len = strlen(name), base = len, sfx = strlen(SQS_FIFO_SUFFIX);

	if (len == 0 || len > SQS_NAME_MAX)
		return false;
	if (len > sfx && strcmp(name + len - sfx, SQS_FIFO_SUFFIX) == 0)
		base = len - sfx;
	for (size_t i = 0; i < base; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

static bool name_is_fifo(const char *name)
{
	size_t len = strlen(name), sfx = strlen(SQS_FIFO_SUFFIX);

	return len > sfx && strcmp(name + len - sfx, SQS_FIFO_SUFFIX) == 0;
}

const char *sqs_name_of_url(const char *url, size_t *len)
{
	size_t end = strcspn(url, "?#"), start;

	while (end > 0 && url[end - 1] == '/')
		end--;
	start = end;
	while (start > 0 && url[start - 1] != '/')
		start--;
	if (start == end || start < 2 || url[start - 2] == '/')
		return NULL; /* no path: "http://host" or "http://host/" */
	*len = end - start;
	return url + start;
}

bool sqs_body_valid(const char *body, size_t len)
{
	const unsigned char *p = (const unsigned char *)body;
	size_t i = 0;

	while (i < len) {
		unsigned c = p[i], cp, need;

		if (c < 0x80) {
			if (c < 0x20 && c != 0x09 && c != 0x0a && c != 0x0d)
				return false;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			cp = c & 0x1f;
			need = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			cp = c & 0x0f;
			need = 2;
		} else if (c >= 0xf0 && c <= 0xf4) {
			cp = c & 0x07;
			need = 3;
		} else {
			return false;
		}
		if (len - i <= need)
			return false;
		for (unsigned k = 1; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates, beyond Unicode, U+FFFE/U+FFFF. */
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff)
			return false;
		i += need + 1;
	}
	return true;
}

/* Split a path below sqs/ into what it names. -ENOENT for anything else. */
static int parse_path(const char *path, struct sqs_path *p)
{
	const char *slash = strchr(path, '/'), *rest;
	size_t qlen;

	memset(p, 0, sizeof(*p));
	snprintf(p->logpath, sizeof(p->logpath), "/sqs%s%s", *path ? "/" : "", path);
	if (!*path) {
		p->kind = SK_ROOT;
		return 0;
	}
	qlen = slash ? (size_t)(slash - path) : strlen(path);
	if (qlen == 0 || qlen > SQS_NAME_MAX)
		return -ENOENT;
	memcpy(p->queue, path, qlen);
	p->queue[qlen] = '\0';
	if (!sqs_name_valid(p->queue))
		return -ENOENT;
	if (!slash) {
		p->kind = SK_QUEUE;
		return 0;
	}
	rest = slash + 1;
	if (strcmp(rest, SQS_FILE_ATTRS) == 0)
		p->kind = SK_ATTRS;
	else if (strcmp(rest, SQS_FILE_SEND) == 0)
		p->kind = SK_SEND;
	else if (strcmp(rest, SQS_FILE_SEND_LINES) == 0)
		p->kind = SK_SEND_LINES;
	else if (strcmp(rest, SQS_DIR_MESSAGES) == 0)
		p->kind = SK_MSGDIR;
	else if (strncmp(rest, SQS_DIR_MESSAGES, strlen(SQS_DIR_MESSAGES)) == 0 &&
		 rest[strlen(SQS_DIR_MESSAGES)] == '/') {
		p->msg = rest + strlen(SQS_DIR_MESSAGES) + 1;
		if (!*p->msg || strchr(p->msg, '/'))
			return -ENOENT;
		p->kind = SK_MSG;
	} else {
		return -ENOENT;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Calls */

/*
 * One SQS JSON call. body is not consumed; *out (may be NULL) gets the
 * parsed answer (caller owns). An error equal to quiet_err is the caller's
 * to handle and is not logged; every other one is (by aws_call).
 */
static int sqs_call(struct sqs *s, const char *op, json_t *body, const char *path,
		    int quiet_err, json_t **out)
{
	struct aws_response resp;
	struct aws_request req;
	struct buf payload;
	int rc;

	if (out)
		*out = NULL;
	buf_init(&payload, SQS_MAX_REQUEST);
	rc = jsonx_dump(body, &payload);
	if (rc) {
		buf_free(&payload);
		return rc;
	}
	req = (struct aws_request){
		.svc = AWS_SVC_SQS,
		.op = op,
		.body = payload.data,
		.body_len = payload.len,
		.path = path,
		.max_response = SQS_MAX_RESPONSE,
		.quiet_errors = quiet_err != 0,
	};
	rc = aws_call(s->client, &req, &resp);
	if (rc && quiet_err && rc != quiet_err && !resp.logged)
		log_error("sqs %s %s: %s (%s%s%s)", op, path, strerror(-rc),
			  resp.code[0] ? resp.code : "no answer",
			  resp.request_id[0] ? ", request id " : "", resp.request_id);
	if (rc == 0 && out) {
		rc = jsonx_parse(resp.http.body.data ? resp.http.body.data : "{}",
				 resp.http.body.len ? resp.http.body.len : 2, SQS_MAX_RESPONSE, out);
		if (rc) {
			log_error("sqs %s %s: malformed JSON answer (%s)", op, path, strerror(-rc));
			rc = -EIO;
		}
	}
	aws_response_free(&resp);
	buf_free(&payload);
	return rc;
}

/* A JSON object from key/value pairs; NULL when out of memory. Takes the
 * values' references (json_object_set_new). */
static json_t *obj_with_url(const char *url)
{
	json_t *o = json_object();

	if (o && json_object_set_new(o, "QueueUrl", json_string(url))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ------------------------------------------------------------------ */
/* Memory: queues, the list, messages (the lock is held by the caller) */

static void msg_clear(struct sqs_msg *m)
{
	free(m->id);
	free(m->receipt);
	free(m->body);
	for (size_t i = 0; i < m->nxattrs; i++) {
		free(m->xattrs[i].name);
		free(m->xattrs[i].value);
	}
	free(m->xattrs);
	memset(m, 0, sizeof(*m));
}

static void msgs_drop(struct sqs_queue *q, size_t i)
{
	msg_clear(&q->msgs[i]);
	q->msgs[i] = q->msgs[q->nmsgs - 1];
	q->nmsgs--;
}

/* Messages whose visibility timeout ended are back in the queue. */
static void msgs_expire(struct sqs *s, struct sqs_queue *q)
{
	uint64_t now = s->clock();

	for (size_t i = q->nmsgs; i > 0; i--)
		if (q->msgs[i - 1].expires_ms <= now)
			msgs_drop(q, i - 1);
}

static struct sqs_msg *msg_find(struct sqs *s, struct sqs_queue *q, const char *id)
{
	if (!q)
		return NULL;
	msgs_expire(s, q);
	for (size_t i = 0; i < q->nmsgs; i++)
		if (strcmp(q->msgs[i].id, id) == 0)
			return &q->msgs[i];
	return NULL;
}

static struct sqs_queue *queue_find(struct sqs *s, const char *name)
{
	for (struct sqs_queue *q = s->queues; q; q = q->next)
		if (strcmp(q->name, name) == 0)
			return q;
	return NULL;
}

/* The record of name, made when missing. NULL: out of memory. */
static struct sqs_queue *queue_get(struct sqs *s, const char *name)
{
	struct sqs_queue *q = queue_find(s, name);

	if (q)
		return q;
	q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->name = strdup(name);
	if (!q->name) {
		free(q);
		return NULL;
	}
	pthread_mutex_init(&q->recv_lock, NULL);
	q->next = s->queues;
	s->queues = q;
	return q;
}

/* ------------------------------------------------------------------ */
/* The cache: the queue list, each queue's URL, attributes.json */

/* "/sqs/<name>" (or "/sqs" for NULL) plus suffix: the cache's path. */
static void cpath(char *out, size_t n, const char *name, const char *suffix)
{
	snprintf(out, n, "/sqs%s%s%s", name ? "/" : "", name ? name : "", suffix ? suffix : "");
}

#define SQS_CPATH_MAX (SQS_NAME_MAX + 64)
/* The folder's listing, as "/ssm/" is SSM's: "/sqs/" then '*' drops it too. */
#define SQS_LIST_PATH "/sqs/"

/* 0 and *out (caller frees, NUL-terminated) for a fresh entry; -ENOENT for
 * a fresh negative one; 1 when there is none. */
static int cache_fetch(struct sqs *s, enum cache_kind kind, const char *path, char **out,
		       size_t *len)
{
	struct cache_hit hit;
	int rc = 1;

	*out = NULL;
	if (!s->cfg->cache)
		return 1;
	memset(&hit, 0, sizeof(hit));
	if (cache_get(s->cfg->cache, AWS_SVC_SQS, kind, path, &hit) == CACHE_FRESH) {
		if (hit.negative) {
			rc = -ENOENT;
		} else if ((*out = malloc(hit.len + 1))) {
			memcpy(*out, hit.data, hit.len);
			(*out)[hit.len] = '\0';
			if (len)
				*len = hit.len;
			rc = 0;
		} else {
			rc = -ENOMEM;
		}
	}
	free(hit.data);
	return rc;
}

/* name exists at url (NULL: it does not). */
static void url_put(struct sqs *s, const char *name, const char *url)
{
	char path[SQS_CPATH_MAX];

	if (!s->cfg->cache)
		return;
	cpath(path, sizeof(path), name, NULL);
	cache_put(s->cfg->cache, AWS_SVC_SQS, CACHE_ATTR, path, url ? url : "",
		  url ? strlen(url) : 0, NULL, 0, -1, url ? 0 : CACHE_NEGATIVE);
}

/* The queue changed here (made, deleted, found gone): forget its entries
 * and the queue list, so the next look is a fresh one. */
static void queue_changed(struct sqs *s, const char *name)
{
	char path[SQS_CPATH_MAX];

	if (!s->cfg->cache)
		return;
	cpath(path, sizeof(path), name, NULL);
	cache_drop(s->cfg->cache, path);
	cache_invalidate(s->cfg->cache, SQS_LIST_PATH);
	cpath(path, sizeof(path), name, "/*");
	cache_invalidate(s->cfg->cache, path);
}

/* Its message counts moved (a send, a receive, a delete here). */
static void counts_changed(struct sqs *s, const char *name)
{
	char path[SQS_CPATH_MAX];

	if (!s->cfg->cache)
		return;
	cpath(path, sizeof(path), name, "/attributes.json");
	cache_drop(s->cfg->cache, path);
}

/* The queue is gone: its held messages go too (lock not held). */
static void queue_forget(struct sqs *s, const char *name)
{
	struct sqs_queue *q;

	queue_changed(s, name);
	pthread_mutex_lock(&s->lock);
	q = queue_find(s, name);
	while (q && q->nmsgs)
		msgs_drop(q, q->nmsgs - 1);
	pthread_mutex_unlock(&s->lock);
}

static void forget_if_gone(struct sqs *s, const char *name, int rc)
{
	if (rc == -ENOENT)
		queue_forget(s, name);
}

/* ------------------------------------------------------------------ */
/* The queue list: cached as "name\turl\n" lines */

#define SQS_LIST_MAX (64u << 20)

struct list_page {
	struct buf text;
	size_t n;
};

static int queues_page(void *arg, json_t *page, size_t *items, bool *stop)
{
	struct list_page *lp = arg;
	json_t *urls = jsonx_array(page, "QueueUrls"), *v;
	char name[SQS_NAME_MAX + 1];
	size_t i;
	int rc;

	(void)stop;
	*items = 0;
	if (!urls)
		return 0;
	json_array_foreach(urls, i, v) {
		const char *url = json_string_value(v), *nm;
		size_t len;

		if (!url || strpbrk(url, "\t\n") || !(nm = sqs_name_of_url(url, &len)) ||
		    len > SQS_NAME_MAX)
			continue;
		memcpy(name, nm, len);
		name[len] = '\0';
		if (!sqs_name_valid(name))
			continue;
		if (lp->n >= SQS_MAX_QUEUES)
			return -EFBIG;
		rc = buf_printf(&lp->text, "%s\t%s\n", name, url);
		if (rc)
			return rc;
		lp->n++;
		(*items)++;
	}
	return 0;
}

/* The queue list text: from the cache, else ListQueues (every page), then
 * cached. Caller frees *text. */
static int queue_list(struct sqs *s, bool fresh, char **text)
{
	struct list_page lp = { .n = 0 };
	json_t *body;
	int rc;

	if (!fresh) {
		rc = cache_fetch(s, CACHE_LIST, SQS_LIST_PATH, text, NULL);
		if (rc <= 0)
			return rc;
	}
	body = json_object();
	if (!body)
		return -ENOMEM;
	buf_init(&lp.text, SQS_LIST_MAX);
	rc = paginate_json(s->client, AWS_SVC_SQS, "ListQueues", body, "/sqs",
			   &paginate_sqs_list_queues, NULL, queues_page, &lp, NULL);
	json_decref(body);
	if (!rc && s->cfg->cache)
		cache_put(s->cfg->cache, AWS_SVC_SQS, CACHE_LIST, SQS_LIST_PATH,
			  lp.text.data ? lp.text.data : "", lp.text.len, NULL, 0, -1, 0);
	if (rc) {
		buf_free(&lp.text);
		return rc;
	}
	*text = buf_detach(&lp.text);
	return *text ? 0 : -ENOMEM;
}

/* name's URL in a list text (caller frees), or NULL. */
static char *list_find(const char *text, const char *name)
{
	size_t n = strlen(name);

	for (const char *line = text; *line; ) {
		const char *end = strchr(line, '\n');

		if (!end)
			break;
		if (strncmp(line, name, n) == 0 && line[n] == '\t')
			return strndup(line + n + 1, (size_t)(end - line - n - 1));
		line = end + 1;
	}
	return NULL;
}

/*
 * The URL of queue name (caller frees *url): the cache's answer, a fresh
 * list's, else GetQueueUrl. -ENOENT when there is no such queue.
 */
static int resolve(struct sqs *s, const char *name, const char *path, char **url)
{
	char cp[SQS_CPATH_MAX], *text = NULL;
	json_t *body, *out = NULL;
	const char *u = NULL;
	int rc;

	*url = NULL;
	cpath(cp, sizeof(cp), name, NULL);
	rc = cache_fetch(s, CACHE_ATTR, cp, url, NULL);
	if (rc <= 0)
		return rc;
	/* A name in a fresh list needs no call; one missing from it may have
	 * been made elsewhere since: asked below. */
	if (cache_fetch(s, CACHE_LIST, SQS_LIST_PATH, &text, NULL) == 0) {
		*url = list_find(text, name);
		free(text);
		if (*url) {
			url_put(s, name, *url);
			return 0;
		}
	}
	body = json_pack("{s:s}", "QueueName", name);
	if (!body)
		return -ENOMEM;
	rc = sqs_call(s, "GetQueueUrl", body, path, -ENOENT, &out);
	json_decref(body);
	if (rc == 0 && !(u = jsonx_str(out, "QueueUrl"))) {
		log_error("sqs GetQueueUrl %s: answer without a QueueUrl", path);
		rc = -EIO;
	}
	if (rc == 0) {
		url_put(s, name, u);
		*url = strdup(u);
		rc = *url ? 0 : -ENOMEM;
	} else if (rc == -ENOENT) {
		struct sqs_queue *q;

		/* Not in the list either (else we would not be here): only
		 * messages held from an earlier queue of that name go. */
		pthread_mutex_lock(&s->lock);
		q = queue_find(s, name);
		while (q && q->nmsgs)
			msgs_drop(q, q->nmsgs - 1);
		pthread_mutex_unlock(&s->lock);
		url_put(s, name, NULL);
	}
	json_decref(out);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Attributes */

struct qattrs {
	char *text;              /* caller frees */
	size_t len;
	long long max_size;
	long long vis_timeout_s;
	long long counts[3];     /* visible, in flight, delayed */
};

static long long attr_num(json_t *attrs, const char *key, long long dflt)
{
	json_t *v = json_object_get(attrs, key);
	long long n;

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_string(v) && util_parse_ll(json_string_value(v), 0, 1LL << 62, &n) == 0)
		return n;
	return dflt;
}

/* The numbers awsfs uses, from an Attributes object. */
static void attrs_numbers(json_t *attrs, struct qattrs *out)
{
	out->max_size = attr_num(attrs, "MaximumMessageSize", SQS_DEFAULT_MAX_SIZE);
	if (out->max_size <= 0 || out->max_size > SQS_HARD_MAX_SIZE)
		out->max_size = SQS_DEFAULT_MAX_SIZE;
	out->vis_timeout_s = attr_num(attrs, "VisibilityTimeout", 30);
	out->counts[0] = attr_num(attrs, "ApproximateNumberOfMessages", 0);
	out->counts[1] = attr_num(attrs, "ApproximateNumberOfMessagesNotVisible", 0);
	out->counts[2] = attr_num(attrs, "ApproximateNumberOfMessagesDelayed", 0);
}

/*
 * The queue's attributes: attributes.json from the cache (unless fresh is
 * asked for), else GetQueueAttributes (All), rendered and cached. Returns
 * 0 or a negative errno; out->text is the caller's.
 */
static int queue_attrs(struct sqs *s, const char *name, const char *url, const char *path,
		       bool fresh, struct qattrs *out)
{
	char cp[SQS_CPATH_MAX], *dump = NULL;
	json_t *body, *ans = NULL, *attrs;
	struct buf text;
	int rc;

	memset(out, 0, sizeof(*out));
	cpath(cp, sizeof(cp), name, "/attributes.json");
	if (!fresh && cache_fetch(s, CACHE_VALUE, cp, &out->text, &out->len) == 0) {
		if (jsonx_parse(out->text, out->len, SQS_MAX_RESPONSE, &ans) == 0) {
			attrs_numbers(ans, out);
			json_decref(ans);
			return 0;
		}
		free(out->text); /* not ours after all: ask again */
		out->text = NULL;
		ans = NULL;
	}
	body = json_pack("{s:s, s:[s]}", "QueueUrl", url, "AttributeNames", "All");
	if (!body)
		return -ENOMEM;
	rc = sqs_call(s, "GetQueueAttributes", body, path, 0, &ans);
	json_decref(body);
	if (rc) {
		forget_if_gone(s, name, rc);
		return rc;
	}
	attrs = jsonx_object(ans, "Attributes");
	if (!attrs) {
		json_decref(ans);
		ans = json_object();
		if (!ans)
			return -ENOMEM;
		attrs = ans;
	}
	attrs_numbers(attrs, out);
	/* Pretty and sorted: a file people read and diff. */
	dump = json_dumps(attrs, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(ans);
	buf_init(&text, SQS_MAX_RESPONSE);
	rc = dump ? buf_puts(&text, dump) : -ENOMEM;
	free(dump);
	if (!rc)
		rc = buf_putc(&text, '\n');
	if (rc) {
		buf_free(&text);
		return rc;
	}
	out->len = text.len;
	out->text = buf_detach(&text);
	if (s->cfg->cache)
		cache_put(s->cfg->cache, AWS_SVC_SQS, CACHE_VALUE, cp, out->text, out->len, NULL,
			  0, -1, 0);
	url_put(s, name, url); /* it answered: it exists */
	return 0;
}

/* ------------------------------------------------------------------ */
/* Receiving */

static int xattr_add(struct sqs_msg *m, const char *prefix, const char *name,
		     const void *value, size_t len)
{
	struct sqs_xattr *grown = realloc(m->xattrs, (m->nxattrs + 1) * sizeof(*grown));
	size_t nlen = strlen(prefix) + strlen(name) + 1;
	struct sqs_xattr *x;

	if (!grown)
		return -ENOMEM;
	m->xattrs = grown;
	x = &grown[m->nxattrs];
	x->name = malloc(nlen);
	x->value = malloc(len + 1);
	if (!x->name || !x->value) {
		free(x->name);
		free(x->value);
		return -ENOMEM;
	}
	snprintf(x->name, nlen, "%s%s", prefix, name);
	memcpy(x->value, value, len);
	x->value[len] = '\0';
	x->len = len;
	m->nxattrs++;
	return 0;
}

/* xattrs of a received message: system attributes by their SPEC.md names,
 * then each message attribute (String/Number as text, Binary decoded). */
static int msg_xattrs(struct sqs_msg *m, json_t *j)
{
	static const struct {
		const char *xattr, *attr;
	} sys[] = {
		{ "receive_count", "ApproximateReceiveCount" },
		{ "sent_timestamp", "SentTimestamp" },
		{ "message_group_id", "MessageGroupId" },
	};
	json_t *attrs = jsonx_object(j, "Attributes"), *mattrs = jsonx_object(j, "MessageAttributes");
	json_t *v;
	const char *key;
	int rc = 0;

	for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]) && !rc; i++) {
		const char *val = jsonx_str(attrs, sys[i].attr);

		if (val)
			rc = xattr_add(m, SQS_XATTR_PREFIX, sys[i].xattr, val, strlen(val));
	}
	if (!mattrs)
		return rc;
	json_object_foreach(mattrs, key, v) {
		const char *str = jsonx_str(v, "StringValue"), *bin = jsonx_str(v, "BinaryValue");
		unsigned char *raw = NULL;
		size_t rawlen = 0;

		if (rc)
			break;
		if (str) {
			rc = xattr_add(m, SQS_XATTR_ATTR_PREFIX, key, str, strlen(str));
		} else if (bin && util_base64_decode(bin, strlen(bin), &raw, &rawlen) == 0) {
			rc = xattr_add(m, SQS_XATTR_ATTR_PREFIX, key, raw, rawlen);
			free(raw);
		}
	}
	return rc;
}

static bool id_is_file_name(const char *id)
{
	return *id && strlen(id) <= SQS_MAX_ID && !strchr(id, '/') && strcmp(id, ".") != 0 &&
	       strcmp(id, "..") != 0;
}

/* Hold one received message (lock held). 0, 1 when skipped, or -ENOMEM. */
static int msg_hold(struct sqs_queue *q, json_t *j, uint64_t expires_ms, const char *path)
{
	const char *id = jsonx_str(j, "MessageId"), *rh = jsonx_str(j, "ReceiptHandle");
	json_t *body = json_object_get(j, "Body");
	const char *sent = jsonx_str(jsonx_object(j, "Attributes"), "SentTimestamp");
	struct sqs_msg m = { 0 }, *grown;
	long long ms;

	if (!id || !rh || !json_is_string(body) || !id_is_file_name(id)) {
		log_warn("sqs %s: a received message without a usable id, receipt handle or "
			 "body was left in the queue", path);
		return 1;
	}
	m.id = strdup(id);
	m.receipt = strdup(rh);
	m.len = json_string_length(body);
	m.body = malloc(m.len + 1);
	if (!m.id || !m.receipt || !m.body || msg_xattrs(&m, j)) {
		msg_clear(&m);
		return -ENOMEM;
	}
	memcpy(m.body, json_string_value(body), m.len);
	m.body[m.len] = '\0';
	m.expires_ms = expires_ms;
	if (sent && util_parse_ll(sent, 0, 1LL << 52, &ms) == 0)
		m.sent = (time_t)(ms / 1000);
	/* The same message again (a redelivery): the newest receipt counts. */
	for (size_t i = 0; i < q->nmsgs; i++) {
		if (strcmp(q->msgs[i].id, id) == 0) {
			msg_clear(&q->msgs[i]);
			q->msgs[i] = m;
			return 0;
		}
	}
	grown = realloc(q->msgs, (q->nmsgs + 1) * sizeof(*grown));
	if (!grown) {
		msg_clear(&m);
		return -ENOMEM;
	}
	q->msgs = grown;
	q->msgs[q->nmsgs++] = m;
	return 0;
}

static json_t *receive_body(const char *url, size_t n, int wait_s)
{
	/* AttributeNames is the older name of MessageSystemAttributeNames:
	 * emulators and older endpoints know only one of them. */
	return json_pack("{s:s, s:I, s:i, s:[s], s:[s], s:[s]}", "QueueUrl", url,
			 "MaxNumberOfMessages", (json_int_t)n, "WaitTimeSeconds", wait_s,
			 "AttributeNames", "All", "MessageSystemAttributeNames", "All",
			 "MessageAttributeNames", "All");
}

/*
 * A listing of messages/: ReceiveMessage, 10 at a time, until the queue's
 * held messages reach receive_max or a call brings nothing. Only the first
 * call waits (SQS_FIRST_WAIT_S), and only when nothing is held yet.
 * Returns 0 when something could be shown.
 */
static int receive(struct sqs *s, const char *name, const char *url, const char *path)
{
	struct sqs_queue *q;
	struct qattrs qa;
	size_t want, got = 0;
	uint64_t vis_ms, margin_ms;
	int rc, wait;

	rc = queue_attrs(s, name, url, path, false, &qa);
	if (rc)
		return rc;
	free(qa.text);
	pthread_mutex_lock(&s->lock);
	q = queue_get(s, name);
	pthread_mutex_unlock(&s->lock);
	if (!q)
		return -ENOMEM;

	/* The kernel may keep a file's attributes for attr_timeout: a message
	 * leaves the folder that much early, so that nothing shows one that
	 * is back in the queue (at most half its timeout early). */
	vis_ms = (uint64_t)qa.vis_timeout_s * 1000u;
	margin_ms = (uint64_t)(s->cfg->attr_timeout * 1000.0);
	if (margin_ms > vis_ms / 2)
		margin_ms = vis_ms / 2;
	pthread_mutex_lock(&q->recv_lock);
	pthread_mutex_lock(&s->lock);
	msgs_expire(s, q);
	want = s->receive_max > q->nmsgs ? s->receive_max - q->nmsgs : 0;
	/* Waiting only helps a listing that would show nothing. */
	wait = q->nmsgs ? 0 : SQS_FIRST_WAIT_S;
	pthread_mutex_unlock(&s->lock);
	for (bool first = true; want > 0; first = false) {
		size_t n = want < SQS_RECEIVE_BATCH ? want : SQS_RECEIVE_BATCH, count, i;
		json_t *body = receive_body(url, n, first ? wait : 0);
		json_t *ans = NULL, *msgs, *m;
		/* Counted from before the call: never later than SQS's own. */
		uint64_t t0 = s->clock();

		if (!body) {
			rc = -ENOMEM;
			break;
		}
		rc = sqs_call(s, "ReceiveMessage", body, path, 0, &ans);
		json_decref(body);
		if (rc)
			break;
		msgs = jsonx_array(ans, "Messages");
		count = msgs ? json_array_size(msgs) : 0;
		if (count == 0) {
			json_decref(ans);
			break;
		}
		pthread_mutex_lock(&s->lock);
		json_array_foreach(msgs, i, m) {
			if (msg_hold(q, m, t0 + vis_ms - margin_ms, path) < 0)
				rc = -ENOMEM;
		}
		pthread_mutex_unlock(&s->lock);
		json_decref(ans);
		got += count;
		want = count >= want ? 0 : want - count;
		if (rc)
			break;
	}
	pthread_mutex_unlock(&q->recv_lock);
	forget_if_gone(s, name, rc);
	if (got)
		counts_changed(s, name);
	return got ? 0 : rc;
}

/* ------------------------------------------------------------------ */
/* Sending */

/* A send's body member plus, for FIFO queues, the group and a
 * deduplication id from the content (SHA-256, as SQS's own content-based
 * deduplication), so a FIFO queue made without it works too. */
static int set_message(struct sqs *s, json_t *o, const char *data, size_t len, bool fifo)
{
	char hash[SHA256_HEX_LEN + 1];

	if (json_object_set_new(o, "MessageBody", json_stringn(data, len)))
		return -ENOMEM;
	if (!fifo)
		return 0;
	util_sha256_hex(data, len, hash);
	if (json_object_set_new(o, "MessageGroupId", json_string(s->group)) ||
	    json_object_set_new(o, "MessageDeduplicationId", json_string(hash)))
		return -ENOMEM;
	return 0;
}

static int body_check(const struct sqs_file *f, const char *data, size_t len, const char *what)
{
	const char *after = f->kind == SK_SEND_LINES ? ", nor the lines after it" : "";

	if (len > f->max_size) {
		log_error("sqs %s: %s of %zu bytes is over the queue's MaximumMessageSize (%zu): "
			  "not sent%s", f->logpath, what, len, f->max_size, after);
		return -EFBIG;
	}
	if (!sqs_body_valid(data, len)) {
		log_error("sqs %s: %s is not text SQS accepts (UTF-8 without control "
			  "characters other than tab, LF, CR): not sent%s", f->logpath, what, after);
		return -EINVAL;
	}
	return 0;
}

static int send_one(struct sqs *s, struct sqs_file *f)
{
	json_t *body;
	int rc = body_check(f, f->body.data ? f->body.data : "", f->body.len, "the message");

	if (rc)
		return rc;
	body = obj_with_url(f->url);
	if (!body)
		return -ENOMEM;
	rc = set_message(s, body, f->body.data, f->body.len, f->fifo);
	if (!rc)
		rc = sqs_call(s, "SendMessage", body, f->logpath, 0, NULL);
	json_decref(body);
	forget_if_gone(s, f->queue, rc);
	if (!rc)
		counts_changed(s, f->queue);
	return rc;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

enum entry_state { ES_PENDING, ES_SENT, ES_RETRY, ES_LOST };

/*
 * Send the pending lines as one SendMessageBatch; entries that failed on
 * AWS's side (SenderFault false) are sent again, alone, up to
 * SQS_BATCH_TRIES; what still failed is lost, counted in f->lost and
 * logged. Returns 0, -EIO when an entry was lost, or the call's errno.
 */
static int send_batch(struct sqs *s, struct sqs_file *f)
{
	enum entry_state st[SQS_SEND_BATCH];
	size_t n = f->npending, lost = 0, left;
	char code[128] = "", message[256] = "";
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		st[i] = ES_PENDING;
	for (unsigned attempt = 0; attempt < SQS_BATCH_TRIES; attempt++) {
		json_t *body = obj_with_url(f->url), *entries = json_array(), *ans = NULL, *e;
		size_t k;

		if (attempt)
			sleep_ms(SQS_BATCH_BACKOFF_MS << (attempt - 1));
		if (!body || !entries || json_object_set(body, "Entries", entries)) {
			json_decref(entries);
			json_decref(body);
			rc = -ENOMEM;
			break;
		}
		for (size_t i = 0; i < n && !rc; i++) {
			char id[24];
			json_t *ent;

			if (st[i] != ES_PENDING && st[i] != ES_RETRY)
				continue;
			snprintf(id, sizeof(id), "%zu", i);
			ent = json_object();
			if (!ent || json_object_set_new(ent, "Id", json_string(id)) ||
			    set_message(s, ent, f->pending[i], f->pending_len[i], f->fifo) ||
			    json_array_append_new(entries, ent))
				rc = -ENOMEM;
			if (rc)
				json_decref(ent);
			st[i] = ES_PENDING;
		}
		json_decref(entries);
		if (!rc)
			rc = sqs_call(s, "SendMessageBatch", body, f->logpath, 0, &ans);
		json_decref(body);
		if (rc)
			break;
		json_array_foreach(jsonx_array(ans, "Successful"), k, e) {
			long long idx;
			const char *id = jsonx_str(e, "Id");

			if (id && util_parse_ll(id, 0, (long long)n - 1, &idx) == 0)
				st[idx] = ES_SENT;
		}
		json_array_foreach(jsonx_array(ans, "Failed"), k, e) {
			long long idx;
			const char *id = jsonx_str(e, "Id");
			json_t *sf = json_object_get(e, "SenderFault");

			if (!id || util_parse_ll(id, 0, (long long)n - 1, &idx) != 0 ||
			    st[idx] != ES_PENDING)
				continue;
			st[idx] = json_is_true(sf) ? ES_LOST : ES_RETRY;
			snprintf(code, sizeof(code), "%s",
				 jsonx_str(e, "Code") ? jsonx_str(e, "Code") : "?");
			snprintf(message, sizeof(message), "%s",
				 jsonx_str(e, "Message") ? jsonx_str(e, "Message") : "");
		}
		json_decref(ans);
		left = 0;
		for (size_t i = 0; i < n; i++) {
			/* Neither sent nor failed: the answer lost track of it. */
			if (st[i] == ES_PENDING) {
				st[i] = ES_LOST;
				snprintf(code, sizeof(code), "%s", "NotInAnswer");
			}
			if (st[i] == ES_RETRY)
				left++;
		}
		if (!left)
			break;
	}
	for (size_t i = 0; i < n; i++)
		if (st[i] != ES_SENT)
			lost++;
	if (rc == 0 && lost) {
		log_error("sqs SendMessageBatch %s: %zu of %zu messages not sent (%s%s%s); "
			  "they are lost", f->logpath, lost, n, code, message[0] ? ": " : "",
			  message);
		rc = -EIO;
	}
	if (rc && rc != -EIO)
		log_error("sqs %s: %zu messages of a batch lost (%s)", f->logpath, n,
			  strerror(-rc));
	f->lost += lost;
	for (size_t i = 0; i < n; i++) {
		free(f->pending[i]);
		f->pending[i] = NULL;
	}
	f->npending = 0;
	f->pending_bytes = 0;
	forget_if_gone(s, f->queue, rc);
	if (lost < n)
		counts_changed(s, f->queue);
	return rc;
}

/* The current line is complete: queue it, sending a full batch first. */
static int line_done(struct sqs *s, struct sqs_file *f)
{
	char what[64];
	size_t len = f->body.len;
	int rc;

	f->lineno++;
	if (len == 0)
		return 0; /* SQS has no empty messages: a blank line sends nothing */
	snprintf(what, sizeof(what), "line %zu", f->lineno);
	rc = body_check(f, f->body.data, len, what);
	if (rc)
		return rc;
	if (f->npending == SQS_SEND_BATCH || f->pending_bytes + len > SQS_BATCH_MAX_BYTES) {
		rc = send_batch(s, f);
		if (rc)
			return rc;
	}
	f->pending_len[f->npending] = len;
	f->pending[f->npending] = buf_detach(&f->body);
	if (!f->pending[f->npending])
		return -ENOMEM;
	f->npending++;
	f->pending_bytes += len;
	/* A full batch goes now: memory stays bounded whatever is piped in. */
	if (f->npending == SQS_SEND_BATCH)
		return send_batch(s, f);
	return 0;
}

static int lines_write(struct sqs *s, struct sqs_file *f, const char *data, size_t size,
		       off_t off)
{
	size_t done = 0;
	int rc = 0;

	if (f->stopped)
		return f->err ? f->err : -EIO;
	if (off != f->written) {
		log_error("sqs %s: send-lines takes one stream of lines, written in order "
			  "(a write at offset %lld, expected %lld)", f->logpath, (long long)off,
			  (long long)f->written);
		return -EINVAL;
	}
	while (done < size && !rc) {
		const char *nl = memchr(data + done, '\n', size - done);
		size_t chunk = nl ? (size_t)(nl - (data + done)) : size - done;

		rc = buf_append(&f->body, data + done, chunk);
		if (rc == -EFBIG) {
			log_error("sqs %s: line %zu is over the queue's MaximumMessageSize (%zu "
				  "bytes): it and the lines after it are not sent", f->logpath,
				  f->lineno + 1, f->max_size);
			break;
		}
		done += chunk;
		if (!rc && nl) {
			done++;
			rc = line_done(s, f);
		}
	}
	if (rc) {
		/* Lines before the bad one still go at close; none after it
		 * (the reason is logged where it was found). */
		buf_reset(&f->body);
		f->stopped = true;
		f->err = rc;
		return rc;
	}
	f->written += (off_t)size;
	return (int)size;
}

static int lines_flush(struct sqs *s, struct sqs_file *f)
{
	int rc = 0;

	if (!f->stopped && f->body.len)
		rc = line_done(s, f); /* a last line without its newline */
	if (f->npending) {
		int brc = send_batch(s, f);

		if (!rc)
			rc = brc;
	}
	if (!rc && f->err)
		rc = f->err;
	if (f->lost) {
		log_error("sqs %s: %zu message%s written here not sent", f->logpath, f->lost,
			  f->lost == 1 ? " was" : "s were");
		if (!rc)
			rc = -EIO;
	}
	f->lost = 0;
	f->err = 0;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Backend operations */

static void queue_dir_stat(struct sqs *s, struct stat *st)
{
	fs_dir_stat(s->cfg, st);
}

/* Send files are write-only, message files readable (and removable). */
#define SQS_MODE_SEND 0222
#define SQS_MODE_ATTRS 0444
#define SQS_MODE_MSG 0644

static int sqs_getattr(void *be, const char *path, struct stat *st)
{
	struct sqs *s = be;
	struct sqs_path p;
	struct qattrs qa;
	struct sqs_msg *m;
	char *url = NULL;
	int rc = parse_path(path, &p);

	if (rc)
		return rc;
	if (p.kind == SK_ROOT) {
		queue_dir_stat(s, st);
		return 0;
	}
	if (p.kind == SK_MSG) {
		/* Only what a listing received exists: no call. */
		rc = -ENOENT;
		pthread_mutex_lock(&s->lock);
		m = msg_find(s, queue_find(s, p.queue), p.msg);
		if (m) {
			fs_file_stat(s->cfg, st, (off_t)m->len, SQS_MODE_MSG);
			if (m->sent)
				st->st_mtime = st->st_ctime = st->st_atime = m->sent;
			rc = 0;
		}
		pthread_mutex_unlock(&s->lock);
		return rc;
	}
	rc = resolve(s, p.queue, p.logpath, &url);
	if (rc)
		return rc;
	switch (p.kind) {
	case SK_QUEUE:
	case SK_MSGDIR:
		queue_dir_stat(s, st);
		break;
	case SK_ATTRS:
		rc = queue_attrs(s, p.queue, url, p.logpath, false, &qa);
		if (!rc)
			fs_file_stat(s->cfg, st, (off_t)qa.len, SQS_MODE_ATTRS);
		free(qa.text);
		break;
	case SK_SEND:
	case SK_SEND_LINES:
		fs_file_stat(s->cfg, st, 0, SQS_MODE_SEND);
		break;
	default:
		rc = -ENOENT;
	}
	free(url);
	return rc;
}

struct fill_entry {
	char *name;
	off_t size;
	time_t sent;
};

static int fill_messages(struct sqs *s, const struct sqs_path *p, backend_fill_fn fill,
			 void *sink)
{
	struct fill_entry *list = NULL;
	struct sqs_queue *q;
	size_t n = 0;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	q = queue_find(s, p->queue);
	if (q) {
		msgs_expire(s, q);
		list = calloc(q->nmsgs ? q->nmsgs : 1, sizeof(*list));
		for (size_t i = 0; list && i < q->nmsgs; i++) {
			list[i].name = strdup(q->msgs[i].id);
			list[i].size = (off_t)q->msgs[i].len;
			list[i].sent = q->msgs[i].sent;
			n = i + 1;
			if (!list[i].name) {
				rc = -ENOMEM;
				break;
			}
		}
		if (!list)
			rc = -ENOMEM;
	}
	pthread_mutex_unlock(&s->lock);
	for (size_t i = 0; i < n && !rc; i++) {
		struct stat st;

		fs_file_stat(s->cfg, &st, list[i].size, SQS_MODE_MSG);
		if (list[i].sent)
			st.st_mtime = st.st_ctime = st.st_atime = list[i].sent;
		if (fill(sink, list[i].name, &st))
			break;
	}
	for (size_t i = 0; i < n; i++)
		free(list[i].name);
	free(list);
	return rc;
}

static int sqs_readdir(void *be, const char *path, backend_fill_fn fill, void *sink)
{
	struct sqs *s = be;
	struct sqs_path p;
	struct stat st;
	char *url = NULL, *text = NULL;
	int rc = parse_path(path, &p);

	if (rc)
		return rc;
	switch (p.kind) {
	case SK_ROOT:
		rc = queue_list(s, false, &text);
		if (rc)
			return rc;
		queue_dir_stat(s, &st);
		/* Filled from our own copy: the kernel may be slow. */
		for (char *line = text, *tab, *end; (end = strchr(line, '\n')); line = end + 1) {
			tab = memchr(line, '\t', (size_t)(end - line));
			if (!tab)
				continue;
			*tab = '\0';
			if (fill(sink, line, &st))
				break;
		}
		free(text);
		return 0;
	case SK_QUEUE:
		rc = resolve(s, p.queue, p.logpath, &url);
		free(url);
		if (rc)
			return rc;
		queue_dir_stat(s, &st);
		if (fill(sink, SQS_DIR_MESSAGES, &st))
			return 0;
		/* Its size needs a call: let a lookup ask when someone wants it. */
		if (fill(sink, SQS_FILE_ATTRS, NULL))
			return 0;
		fs_file_stat(s->cfg, &st, 0, SQS_MODE_SEND);
		if (fill(sink, SQS_FILE_SEND, &st))
			return 0;
		fill(sink, SQS_FILE_SEND_LINES, &st);
		return 0;
	case SK_MSGDIR:
		rc = resolve(s, p.queue, p.logpath, &url);
		if (!rc)
			rc = receive(s, p.queue, url, p.logpath);
		free(url);
		if (rc)
			return rc;
		return fill_messages(s, &p, fill, sink);
	default:
		return -ENOTDIR;
	}
}

static void file_free(struct sqs_file *f)
{
	if (!f)
		return;
	free(f->url);
	free(f->data);
	buf_free(&f->body);
	for (size_t i = 0; i < f->npending; i++)
		free(f->pending[i]);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

static int open_file(struct sqs *s, const char *path, int flags, void **fh)
{
	int acc = flags & O_ACCMODE;
	struct sqs_file *f;
	struct sqs_path p;
	struct sqs_msg *m;
	struct qattrs qa;
	char *url = NULL;
	int rc = parse_path(path, &p);

	if (rc)
		return rc;
	switch (p.kind) {
	case SK_ROOT:
	case SK_QUEUE:
	case SK_MSGDIR:
		return -EISDIR;
	case SK_SEND:
	case SK_SEND_LINES:
		if (acc == O_RDONLY) {
			log_error("sqs %s: write-only: a message is sent by writing to it "
				  "(messages are read from %s/messages/)", p.logpath, p.queue);
			return -EPERM;
		}
		break;
	case SK_ATTRS:
	case SK_MSG:
		if (acc != O_RDONLY) {
			log_error("sqs %s: read-only%s", p.logpath,
				  p.kind == SK_MSG ? ": send messages by writing to send or "
						     "send-lines" : "");
			return -EPERM;
		}
		break;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	pthread_mutex_init(&f->lock, NULL);
	f->kind = p.kind;
	snprintf(f->queue, sizeof(f->queue), "%s", p.queue);
	snprintf(f->logpath, sizeof(f->logpath), "%s", p.logpath);
	f->fifo = name_is_fifo(p.queue);
	buf_init(&f->body, 0);

	if (p.kind == SK_MSG) {
		rc = -ENOENT;
		pthread_mutex_lock(&s->lock);
		m = msg_find(s, queue_find(s, p.queue), p.msg);
		if (m) {
			f->data = malloc(m->len + 1);
			if (f->data) {
				memcpy(f->data, m->body, m->len);
				f->len = m->len;
			}
			rc = f->data ? 0 : -ENOMEM;
		}
		pthread_mutex_unlock(&s->lock);
		goto out;
	}
	rc = resolve(s, p.queue, p.logpath, &url);
	if (rc)
		goto out;
	f->url = url;
	/* The same attributes.json as the lookup before the open saw (its
	 * size must match); send files need the size cap. */
	rc = queue_attrs(s, p.queue, url, p.logpath, false, &qa);
	if (rc)
		goto out;
	if (p.kind == SK_ATTRS) {
		f->data = qa.text;
		f->len = qa.len;
	} else {
		free(qa.text);
		f->max_size = (size_t)qa.max_size;
		buf_init(&f->body, f->max_size);
	}
out:
	if (rc) {
		file_free(f);
		return rc;
	}
	*fh = f;
	return 0;
}

static int sqs_open(void *be, const char *path, int flags, void **fh)
{
	return open_file(be, path, flags, fh);
}

static int sqs_create(void *be, const char *path, mode_t mode, int flags, void **fh)
{
	struct sqs_path p;

	(void)mode;
	if (parse_path(path, &p) == 0 && (p.kind == SK_SEND || p.kind == SK_SEND_LINES))
		return open_file(be, path, flags, fh);
	log_error("sqs /sqs/%s: files cannot be made here: send a message by writing to a "
		  "queue's send or send-lines file", path);
	return -EPERM;
}

static int sqs_read(void *be, void *fh, char *buf, size_t size, off_t off)
{
	struct sqs_file *f = fh;

	(void)be;
	if (f->kind == SK_SEND || f->kind == SK_SEND_LINES) {
		log_error("sqs %s: write-only: messages are read from the queue's messages/ folder",
			  f->logpath);
		return -EBADF;
	}
	if (off < 0 || (size_t)off >= f->len)
		return 0;
	if (size > f->len - (size_t)off)
		size = f->len - (size_t)off;
	memcpy(buf, f->data + off, size);
	return (int)size;
}

static int send_write(struct sqs_file *f, const char *data, size_t size, off_t off)
{
	size_t end;
	int rc;

	if (f->err)
		return f->err;
	if (off < 0 || (uint64_t)off + size > f->max_size) {
		log_error("sqs %s: a message over the queue's MaximumMessageSize (%zu bytes): "
			  "nothing is sent", f->logpath, f->max_size);
		f->err = -EFBIG;
		return -EFBIG;
	}
	end = (size_t)off + size;
	if (end > f->body.len) {
		/* Grow (a gap reads as NUL, which SQS refuses at close). */
		size_t grow = end - f->body.len;
		char *zeros = calloc(1, grow);

		if (!zeros)
			return -ENOMEM;
		rc = buf_append(&f->body, zeros, grow);
		free(zeros);
		if (rc)
			return rc;
	}
	memcpy(f->body.data + off, data, size);
	if (size)
		f->dirty = true;
	return (int)size;
}

static int sqs_write(void *be, void *fh, const char *buf, size_t size, off_t off)
{
	struct sqs_file *f = fh;
	int rc;

	if (f->kind != SK_SEND && f->kind != SK_SEND_LINES) {
		log_error("sqs %s: read-only", f->logpath);
		return -EBADF;
	}
	pthread_mutex_lock(&f->lock);
	if (f->kind == SK_SEND)
		rc = send_write(f, buf, size, off);
	else
		rc = lines_write(be, f, buf, size, off);
	pthread_mutex_unlock(&f->lock);
	return rc;
}

/* close(2): send what was written since the last send. */
static int sqs_flush(void *be, void *fh)
{
	struct sqs_file *f = fh;
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	if (f->kind == SK_SEND) {
		if (f->err)
			rc = f->err;
		else if (f->dirty)
			rc = send_one(be, f);
		f->err = 0;
		f->dirty = false;
		buf_reset(&f->body);
	} else if (f->kind == SK_SEND_LINES) {
		rc = lines_flush(be, f);
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static int sqs_fsync(void *be, void *fh)
{
	struct sqs_file *f = fh;
	int rc = 0;

	/* Whole lines written so far can go now; a single message waits for
	 * close (fsync in the middle of a message must not cut it). */
	if (f->kind == SK_SEND_LINES) {
		pthread_mutex_lock(&f->lock);
		if (f->npending)
			rc = send_batch(be, f);
		pthread_mutex_unlock(&f->lock);
	}
	return rc;
}

static int sqs_release(void *be, void *fh)
{
	struct sqs_file *f = fh;

	/* flush has run for every close; anything left is sent, not dropped. */
	if ((f->kind == SK_SEND && (f->dirty || f->err)) ||
	    (f->kind == SK_SEND_LINES && (f->npending || f->body.len)))
		sqs_flush(be, fh);
	file_free(f);
	return 0;
}

static int sqs_truncate(void *be, const char *path, off_t size, void *fh)
{
	struct sqs_file *f = fh;
	struct sqs_path p;
	int rc = parse_path(path, &p);

	(void)be;
	if (rc)
		return rc;
	switch (p.kind) {
	case SK_SEND:
	case SK_SEND_LINES:
		/* O_TRUNC of a send file: there is nothing to cut. */
		if (size != 0)
			return -EINVAL;
		if (f && f->kind == SK_SEND) {
			pthread_mutex_lock(&f->lock);
			buf_reset(&f->body);
			f->dirty = false;
			pthread_mutex_unlock(&f->lock);
		}
		return 0;
	case SK_ATTRS:
	case SK_MSG:
		log_error("sqs %s: read-only", p.logpath);
		return -EPERM;
	default:
		return -EISDIR;
	}
}

static int sqs_unlink(void *be, const char *path)
{
	struct sqs *s = be;
	struct sqs_path p;
	struct sqs_msg *m;
	char *url = NULL, *receipt = NULL;
	json_t *body;
	int rc = parse_path(path, &p);

	if (rc)
		return rc;
	if (p.kind != SK_MSG) {
		if (p.kind == SK_QUEUE || p.kind == SK_MSGDIR)
			return -EISDIR;
		log_error("sqs %s: cannot be removed (rmdir removes a queue, rm a message "
			  "in messages/)", p.logpath);
		return -EPERM;
	}
	pthread_mutex_lock(&s->lock);
	m = msg_find(s, queue_find(s, p.queue), p.msg);
	if (m)
		receipt = strdup(m->receipt);
	pthread_mutex_unlock(&s->lock);
	if (!m)
		return -ENOENT;
	if (!receipt)
		return -ENOMEM;
	rc = resolve(s, p.queue, p.logpath, &url);
	body = rc ? NULL : obj_with_url(url);
	if (!rc && (!body || json_object_set_new(body, "ReceiptHandle", json_string(receipt))))
		rc = -ENOMEM;
	if (!rc)
		rc = sqs_call(s, "DeleteMessage", body, p.logpath, 0, NULL);
	json_decref(body);
	if (!rc) {
		struct sqs_queue *q;

		/* Gone from the folder at once (read-your-writes), unless a
		 * newer receipt of it came in meanwhile. */
		pthread_mutex_lock(&s->lock);
		q = queue_find(s, p.queue);
		for (size_t i = 0; q && i < q->nmsgs; i++) {
			if (strcmp(q->msgs[i].id, p.msg) == 0 &&
			    strcmp(q->msgs[i].receipt, receipt) == 0) {
				msgs_drop(q, i);
				break;
			}
		}
		pthread_mutex_unlock(&s->lock);
		counts_changed(s, p.queue);
	} else if (rc != -ENOMEM) {
		forget_if_gone(s, p.queue, rc);
	}
	free(receipt);
	free(url);
	return rc;
}

static int sqs_mkdir(void *be, const char *path, mode_t mode)
{
	struct sqs *s = be;
	struct sqs_path p;
	json_t *body, *attrs = NULL, *ans = NULL;
	const char *url;
	int rc;

	(void)mode;
	if (strchr(path, '/')) {
		log_error("sqs /sqs/%s: folders cannot be made inside a queue", path);
		return -EPERM;
	}
	if (!sqs_name_valid(path)) {
		log_error("sqs /sqs/%s: not a queue name (1-%d of A-Z a-z 0-9 - _, a FIFO "
			  "queue's ending in .fifo)", path, SQS_NAME_MAX);
		return -EINVAL;
	}
	parse_path(path, &p);
	body = json_object();
	if (!body || json_object_set_new(body, "QueueName", json_string(path))) {
		json_decref(body);
		return -ENOMEM;
	}
	if (name_is_fifo(path)) {
		attrs = json_pack("{s:s, s:s}", "FifoQueue", "true", "ContentBasedDeduplication",
				  "true");
		if (!attrs || json_object_set_new(body, "Attributes", attrs)) {
			json_decref(body);
			return -ENOMEM;
		}
	}
	rc = sqs_call(s, "CreateQueue", body, p.logpath, 0, &ans);
	json_decref(body);
	if (rc) {
		json_decref(ans);
		return rc;
	}
	url = jsonx_str(ans, "QueueUrl");
	if (!url) {
		log_error("sqs CreateQueue %s: answer without a QueueUrl", p.logpath);
		json_decref(ans);
		return -EIO;
	}
	/* Read-your-writes: the next listing asks again, the name resolves. */
	queue_changed(s, path);
	url_put(s, path, url);
	json_decref(ans);
	return 0;
}

static int sqs_rmdir(void *be, const char *path)
{
	struct sqs *s = be;
	struct sqs_path p;
	struct sqs_queue *q;
	struct qattrs qa;
	char *url = NULL;
	json_t *body;
	size_t held = 0;
	int rc = parse_path(path, &p);

	if (rc)
		return rc;
	if (p.kind != SK_QUEUE) {
		if (p.kind == SK_MSGDIR)
			log_error("sqs %s: a queue's own folder cannot be removed", p.logpath);
		return p.kind == SK_MSGDIR ? -EPERM : -ENOTDIR;
	}
	rc = resolve(s, p.queue, p.logpath, &url);
	if (rc)
		return rc;
	/* Counted now, not from memory: ENOTEMPTY must be true. */
	rc = queue_attrs(s, p.queue, url, p.logpath, true, &qa);
	free(qa.text);
	if (rc) {
		free(url);
		return rc;
	}
	pthread_mutex_lock(&s->lock);
	q = queue_find(s, p.queue);
	if (q) {
		msgs_expire(s, q);
		held = q->nmsgs;
	}
	pthread_mutex_unlock(&s->lock);
	if (qa.counts[0] || qa.counts[1] || qa.counts[2] || held) {
		log_error("sqs %s: the queue holds messages (%lld visible, %lld in flight, %lld "
			  "delayed): not removed", p.logpath, qa.counts[0], qa.counts[1],
			  qa.counts[2]);
		free(url);
		return -ENOTEMPTY;
	}
	body = obj_with_url(url);
	free(url);
	if (!body)
		return -ENOMEM;
	rc = sqs_call(s, "DeleteQueue", body, p.logpath, 0, NULL);
	json_decref(body);
	if (rc == 0 || rc == -ENOENT) {
		queue_forget(s, p.queue);
		url_put(s, p.queue, NULL);
	}
	return rc;
}

/* The value of one xattr of a held message, per getxattr(2)'s size rules. */
static int sqs_getxattr(void *be, const char *path, const char *name, char *buf, size_t size)
{
	struct sqs *s = be;
	struct sqs_path p;
	struct sqs_msg *m;
	int rc = parse_path(path, &p);

	if (rc)
		return rc;
	if (p.kind != SK_MSG)
		return -ENODATA;
	rc = -ENOENT;
	pthread_mutex_lock(&s->lock);
	m = msg_find(s, queue_find(s, p.queue), p.msg);
	if (m) {
		rc = -ENODATA;
		for (size_t i = 0; i < m->nxattrs; i++) {
			const struct sqs_xattr *x = &m->xattrs[i];

			if (strcmp(x->name, name) != 0)
				continue;
			if (x->len > (size_t)INT32_MAX)
				rc = -E2BIG;
			else if (size == 0)
				rc = (int)x->len;
			else if (size < x->len)
				rc = -ERANGE;
			else {
				memcpy(buf, x->value, x->len);
				rc = (int)x->len;
			}
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int sqs_listxattr(void *be, const char *path, char *buf, size_t size)
{
	struct sqs *s = be;
	struct sqs_path p;
	struct sqs_msg *m;
	size_t need = 0;
	int rc = parse_path(path, &p);

	if (rc)
		return rc;
	if (p.kind != SK_MSG)
		return 0;
	rc = -ENOENT;
	pthread_mutex_lock(&s->lock);
	m = msg_find(s, queue_find(s, p.queue), p.msg);
	if (m) {
		for (size_t i = 0; i < m->nxattrs; i++)
			need += strlen(m->xattrs[i].name) + 1;
		if (size == 0) {
			rc = (int)need;
		} else if (size < need) {
			rc = -ERANGE;
		} else {
			char *o = buf;

			for (size_t i = 0; i < m->nxattrs; i++) {
				size_t l = strlen(m->xattrs[i].name) + 1;

				memcpy(o, m->xattrs[i].name, l);
				o += l;
			}
			rc = (int)need;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static void sqs_destroy(void *be)
{
	struct sqs *s = be;

	while (s->queues) {
		struct sqs_queue *q = s->queues;

		s->queues = q->next;
		while (q->nmsgs)
			msgs_drop(q, q->nmsgs - 1);
		free(q->msgs);
		free(q->name);
		pthread_mutex_destroy(&q->recv_lock);
		free(q);
	}
	free(s->group);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static const struct backend_ops sqs_ops = {
	.name = "sqs",
	.getattr = sqs_getattr,
	.readdir = sqs_readdir,
	.open = sqs_open,
	.create = sqs_create,
	.read = sqs_read,
	.write = sqs_write,
	.flush = sqs_flush,
	.fsync = sqs_fsync,
	.release = sqs_release,
	.truncate = sqs_truncate,
	.unlink = sqs_unlink,
	.mkdir = sqs_mkdir,
	.rmdir = sqs_rmdir,
	.getxattr = sqs_getxattr,
	.listxattr = sqs_listxattr,
	.destroy = sqs_destroy,
};

int sqs_new(struct aws_client *client, const struct fs_config *cfg,
	    const struct sqs_options *opts, struct backend *out)
{
	struct sqs *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->client = client;
	s->cfg = cfg;
	s->clock = util_mono_ms;
	s->receive_max = opts && opts->receive_max ? opts->receive_max : SQS_DEFAULT_RECEIVE_MAX;
	s->group = strdup(opts && opts->group ? opts->group : SQS_DEFAULT_GROUP);
	if (!s->group) {
		free(s);
		return -ENOMEM;
	}
	pthread_mutex_init(&s->lock, NULL);
	out->ops = &sqs_ops;
	out->be = s;
	return 0;
}

void sqs_set_clock(struct backend *b, uint64_t (*clock)(void))
{
	struct sqs *s = b->be;

	s->clock = clock ? clock : util_mono_ms;
}

/*
 * ssm: SSM Parameter Store as files. See ssm.h.
 *
 * What is remembered: the snapshot (every parameter's metadata from one
 * DescribeParameters listing, sorted by path), the folders mkdir made, the
 * files being created, and a short journal of this mount's own changes
 * (re-applied to a listing that may have missed them). The cache decides
 * how long the snapshot is trusted: each folder of it has a marker entry
 * "/ssm/<folder>/" with the ssm TTL, so that expiry, min/max_ttl and
 * .awsfs/invalidate patterns ("/ssm/app/" then '*') work as for every
 * other service; x@selector lookups are cache entries too. String and
 * StringList values are kept in the cache's memory for the ssm TTL, each
 * good only while the snapshot names the version it belongs to; an open
 * that finds none fetches its value with up to 9 of the nearest in its folder
 * (one GetParameters). A reader walking a folder is read ahead: a few more
 * batches are fetched by background workers, no name by two batches at
 * once (an open that wants one in flight waits for it). SecureString values
 * are never kept nor read ahead: an open file holds its value until it is
 * closed, and every copy of a value that arrived is wiped before it is
 * freed. A listing is never run twice at once:
 * callers that arrive while one is in flight wait for it and take its
 * result.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h> /* RENAME_NOREPLACE */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cache.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "paginate.h"
#include "ssm.h"
#include "util.h"

/* AWS Systems Manager quotas ("Parameter Store" in the Service Quotas). */
#define SSM_STANDARD_MAX_VALUE 4096u   /* bytes of a standard-tier value */
#define SSM_ADVANCED_MAX_VALUE 8192u   /* bytes of an advanced-tier value */
#define SSM_MAX_LEVELS 15              /* "a hierarchy can have a maximum of 15 levels" */
#define SSM_MAX_NAME 1011u             /* longest name AWS allows */
#define SSM_MAX_LABEL 100u             /* longest version label */

#define SSM_MAX_PARAMS 200000u         /* a bound: 10,000 standard + 100,000 advanced */
#define SSM_MAX_RESPONSE (1u << 20)    /* one GetParameter or listing page */
#define SSM_JOURNAL_MAX 1024u          /* own changes kept for re-applying */
#define SSM_JOURNAL_KEEP_MS 30000u     /* how long they are kept */
#define SSM_JOURNAL_SLACK_MS 2000u     /* a listing that started this soon after a
					* change may not show it yet */
#define SSM_MIN_DIR_MS 1000u          /* shortest life of a folder mkdir made */
/* GetParameters takes at most 10 names ("Names: Maximum number of 10
 * items", SSM API reference). */
#define SSM_BATCH_MAX 10u
/* Read-ahead of a folder being walked (see "read-ahead" below). */
#define SSM_AHEAD_BATCHES 3u          /* batches fetched ahead of the reader */
#define SSM_AHEAD_THREADS 4u          /* read-ahead requests at once, mount-wide */
#define SSM_AHEAD_MARKS (SSM_AHEAD_BATCHES + 1u)
#define SSM_FLIGHT_WAIT_S 30          /* longest an open waits for a batch in flight */
#define SSM_LOG_ROOT "/ssm"

enum ssm_type { SSM_STRING = 0, SSM_STRINGLIST, SSM_SECURE };

static const char *const type_names[] = { "String", "StringList", "SecureString" };

struct ssm_param {
	char *key;          /* path below ssm/: "app/prod/db_url", "foo" */
	char *name;         /* SSM's name as listed: "/app/prod/db_url", "foo" */
	char *key_id;       /* KMS key of a SecureString, else NULL */
	enum ssm_type type;
	long long version;
	double modified;    /* LastModifiedDate, seconds since the epoch */
	char tier[24];      /* "Standard", "Advanced" */
	char data_type[48]; /* "text", "aws:ec2:image", ... */
	long long len;      /* value length when this mount has seen it, else -1 */
};

struct ssm_table {
	struct ssm_param *v; /* sorted by key (strcmp) */
	size_t n, cap;
};

struct ssm_dir {
	char *key;
	uint64_t made_ms;
};

struct ssm_pending {
	char *key;
	unsigned refs;
	bool secure;        /* chmod'ed private before it was stored: a SecureString */
};

struct ssm_change {
	uint64_t at_ms;
	bool removed;       /* else an upsert of p */
	struct ssm_param p; /* removed: key and the version that was removed */
};

/* What the cache keeps of an x@selector lookup (CACHE_ATTR). */
struct ssm_sel {
	enum ssm_type type;
	long long version;
	double modified;
	long long len;
	char data_type[48];
};

struct ssm {
	struct aws_client *client;
	const struct fs_config *cfg;
	enum ssm_type new_type;
	char *kms_key;

	pthread_mutex_t lock;
	pthread_cond_t listed;
	struct ssm_table snap;      /* protected by lock */
	uint64_t listed_ms;         /* protected by lock: when snap was listed */
	bool listing;               /* protected by lock: a listing is in flight */
	uint64_t list_gen;          /* protected by lock: listings finished */
	int list_rc;                /* protected by lock: the last one's result */
	struct ssm_dir *dirs;       /* protected by lock */
	size_t ndirs;
	struct ssm_pending *pending; /* protected by lock */
	size_t npending;
	struct ssm_change *journal; /* protected by lock */
	size_t njournal;
	bool warned_skipped;        /* protected by lock */
	bool no_batch;              /* protected by lock: GetParameters was refused */

	/* Values being fetched, and read-ahead (see "read-ahead"). */
	struct ssm_flight *flights; /* protected by lock: batches in flight or queued */
	unsigned ahead_jobs;        /* protected by lock: read-ahead batches of flights */
	pthread_cond_t fetched;     /* a batch left flights (with lock; CLOCK_MONOTONIC) */
	pthread_cond_t work;        /* read-ahead queued, or stopping (with lock) */
	pthread_t workers[SSM_AHEAD_THREADS]; /* protected by lock, started lazily */
	unsigned nworkers, idle;    /* protected by lock */
	bool stopping;              /* protected by lock: destroy has begun */
	char *walk_dir;             /* protected by lock: folder of the last batch
				     * ("a/b/", "" for ssm/ itself), or NULL */
	char *walk_end;             /* protected by lock: the last key in it that
				     * batch or read-ahead asked for */
	char *marks[SSM_AHEAD_MARKS]; /* protected by lock: first keys of read-ahead
				       * batches, not opened yet */
};

/* A path below ssm/, split: key, and the selector after '@' when there is one. */
struct ssm_ref {
	char *key;
	char *selector; /* NULL: none; "": the current version (x@) */
};

struct ssm_file {
	pthread_mutex_t lock;
	char *key;
	char *name;
	char *selector;     /* non-empty: a read-only view of a version or label */
	char *logpath;      /* "/ssm/..." for log lines */
	int flags;
	char *data;         /* the value; SSM_ADVANCED_MAX_VALUE + 1 bytes */
	size_t len;
	size_t limit;       /* longest value the parameter's tier allows */
	bool loaded;        /* data holds the value (fetched, or truncated) */
	bool dirty;         /* to be stored */
	bool written;       /* write() since the last store (see ssm_flush) */
	bool created;       /* counted in pending */
	bool exact;         /* store the bytes as they are (a rename's copy): no
			     * trailing newline dropped */
	int new_type;       /* the type if this makes a new parameter; -1: the
			     * mount's (or SecureString when chmod'ed private) */
	char *new_key_id;   /* and its KMS key; NULL: the mount's (ssm_kms_key) */
	int failed;         /* a write failed: what flush answers; nothing is sent */
};

/* ---------------------------------------------------------------- names */

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

int ssm_key_of_name(const char *name, char **key)
{
	const char *rest = name, *seg;

	*key = NULL;
	if (*rest == '/')
		rest++;
	else if (strchr(rest, '/'))
		return -EINVAL; /* "a/b": AWS wants paths fully qualified */
	if (!*rest)
		return -EINVAL;
	for (seg = rest;;) {
		size_t n = strcspn(seg, "/");

		/* A segment past NAME_MAX cannot be opened, and one past the
		 * kernel's FUSE_NAME_MAX (1024) fails the whole readdir with EIO:
		 * such a name has no place in the tree either. */
		if (n == 0 || (n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.') || memchr(seg, '@', n) ||
		    n > NAME_MAX)
			return -EINVAL;
		if (!seg[n])
			break;
		seg += n + 1;
	}
	*key = strdup(rest);
	return *key ? 0 : -ENOMEM;
}

char *ssm_name_of_key(const char *key)
{
	size_t n = strlen(key);
	char *name;

	if (!strchr(key, '/'))
		return strdup(key);
	name = malloc(n + 2);
	if (!name)
		return NULL;
	name[0] = '/';
	memcpy(name + 1, key, n + 1);
	return name;
}

int ssm_check_new_name(const char *key, int levels_below)
{
	int levels = 0;
	const char *seg = key;

	if (!*key)
		return -EINVAL;
	/* "Parameter names can't be prefixed with aws or ssm (case-insensitive)." */
	if (strncasecmp(key, "aws", 3) == 0 || strncasecmp(key, "ssm", 3) == 0)
		return -EINVAL;
	for (;;) {
		size_t n = strcspn(seg, "/");

		if (n == 0)
			return -EINVAL;
		for (size_t i = 0; i < n; i++)
			if (!name_char(seg[i]))
				return -EINVAL;
		levels++;
		if (!seg[n])
			break;
		seg += n + 1;
	}
	if (levels + levels_below > SSM_MAX_LEVELS)
		return -EINVAL;
	if (strlen(key) + (strchr(key, '/') ? 1 : 0) > SSM_MAX_NAME)
		return -ENAMETOOLONG;
	return 0;
}

static bool label_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SSM_MAX_LABEL)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!name_char(s[i]))
			return false;
	return true;
}

static bool version_ok(const char *s)
{
	long long v;

	return s[0] >= '1' && s[0] <= '9' && util_parse_ll(s, 1, 1LL << 40, &v) == 0;
}

static void ref_free(struct ssm_ref *r)
{
	free(r->key);
	free(r->selector);
	r->key = r->selector = NULL;
}

/* Split a path below ssm/ ("app/x", "app/x@3"). -ENOENT for a path that
 * cannot name anything ('@' in a folder, a bad selector). */
static int parse_path(const char *path, struct ssm_ref *r)
{
	const char *last = strrchr(path, '/'), *at;

	memset(r, 0, sizeof(*r));
	last = last ? last + 1 : path;
	at = strchr(path, '@');
	if (!at) {
		r->key = strdup(path);
		return r->key ? 0 : -ENOMEM;
	}
	if (at < last || at == last || strchr(at + 1, '@'))
		return -ENOENT;
	if (at[1] && !version_ok(at + 1) && !label_ok(at + 1))
		return -ENOENT;
	r->key = strndup(path, (size_t)(at - path));
	r->selector = strdup(at + 1);
	if (!r->key || !r->selector) {
		ref_free(r);
		return -ENOMEM;
	}
	return 0;
}

static bool has_selector(const struct ssm_ref *r)
{
	return r->selector && *r->selector;
}

/* "/ssm/<path>" for log lines. Caller frees; NULL when out of memory. */
static char *log_path(const char *path)
{
	struct buf b;

	buf_init(&b, 8192);
	if (buf_printf(&b, "%s/%s", SSM_LOG_ROOT, path)) {
		buf_free(&b);
		return NULL;
	}
	return buf_detach(&b);
}

/* --------------------------------------------------------------- params */

static void param_free(struct ssm_param *p)
{
	free(p->key);
	free(p->name);
	free(p->key_id);
	memset(p, 0, sizeof(*p));
}

static int param_copy(struct ssm_param *dst, const struct ssm_param *src)
{
	*dst = *src;
	dst->key = strdup(src->key);
	dst->name = strdup(src->name);
	dst->key_id = util_strdup0(src->key_id);
	if (!dst->key || !dst->name || (src->key_id && !dst->key_id)) {
		param_free(dst);
		return -ENOMEM;
	}
	return 0;
}

static enum ssm_type type_parse(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (s && strcmp(s, type_names[i]) == 0)
			return (enum ssm_type)i;
	return SSM_STRING;
}

/* Latest time a LastModifiedDate may say: year 9999. A server's 1.6e89 (or
 * a negative or NaN number) must not reach a (time_t) cast, which is
 * undefined out of range: such a time counts as unknown (0). */
#define SSM_MAX_TIME 253402300799.0

static double json_time(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	time_t t;

	if (json_is_number(v)) {
		double d = json_number_value(v);

		return d > 0 && d <= SSM_MAX_TIME ? d : 0;
	}
	if (json_is_string(v) && util_parse_iso8601(json_string_value(v), &t) == 0)
		return (double)t;
	return 0;
}

/* Metadata of one DescribeParameters / GetParameter entry into p (key and
 * name are taken over). */
static int param_from_json(const json_t *j, char *key, char *name, struct ssm_param *p)
{
	const char *s;
	long long v = 0;

	memset(p, 0, sizeof(*p));
	p->key = key;
	p->name = name;
	p->type = type_parse(jsonx_str(j, "Type"));
	jsonx_int(j, "Version", &v);
	p->version = v;
	p->modified = json_time(j, "LastModifiedDate");
	s = jsonx_str(j, "Tier");
	snprintf(p->tier, sizeof(p->tier), "%s", s ? s : "Standard");
	s = jsonx_str(j, "DataType");
	snprintf(p->data_type, sizeof(p->data_type), "%s", s ? s : "text");
	p->len = -1;
	s = jsonx_str(j, "KeyId");
	if (s && !(p->key_id = strdup(s)))
		return -ENOMEM;
	return 0;
}

static size_t tier_limit(const char *tier)
{
	return strcmp(tier, "Advanced") == 0 ? SSM_ADVANCED_MAX_VALUE : SSM_STANDARD_MAX_VALUE;
}

/* --------------------------------------------------------------- tables */

/* strcmp(s, a[0..alen) followed by c), c == 0 for nothing after a. */
static int cmp_probe(const char *s, const char *a, size_t alen, char c)
{
	for (size_t i = 0; i < alen; i++) {
		unsigned char x = (unsigned char)s[i], y = (unsigned char)a[i];

		if (x != y)
			return x < y ? -1 : 1;
	}
	if (!c)
		return s[alen] ? 1 : 0;
	if (s[alen] != c)
		return (unsigned char)s[alen] < (unsigned char)c ? -1 : 1;
	return s[alen + 1] ? 1 : 0;
}

/* First entry not below the probe a[0..alen)+c. */
static size_t lower_bound(const struct ssm_table *t, const char *a, size_t alen, char c)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cmp_probe(t->v[mid].key, a, alen, c) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct ssm_param *table_find(const struct ssm_table *t, const char *key)
{
	size_t klen = strlen(key), i = lower_bound(t, key, klen, 0);

	return i < t->n && strcmp(t->v[i].key, key) == 0 ? &t->v[i] : NULL;
}

/* Anything below key/ in t? */
static bool table_has_below(const struct ssm_table *t, const char *key)
{
	size_t klen = strlen(key), i = lower_bound(t, key, klen, '/');

	return i < t->n && strncmp(t->v[i].key, key, klen) == 0 && t->v[i].key[klen] == '/';
}

/* Insert or replace (takes p over). */
static int table_put(struct ssm_table *t, struct ssm_param *p)
{
	size_t i = lower_bound(t, p->key, strlen(p->key), 0);

	if (i < t->n && strcmp(t->v[i].key, p->key) == 0) {
		param_free(&t->v[i]);
		t->v[i] = *p;
		return 0;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct ssm_param *v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof(*t->v));
	t->v[i] = *p;
	t->n++;
	return 0;
}

static void table_remove(struct ssm_table *t, const char *key)
{
	struct ssm_param *p = table_find(t, key);
	size_t i;

	if (!p)
		return;
	i = (size_t)(p - t->v);
	param_free(p);
	memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(*t->v));
	t->n--;
}

static void table_free(struct ssm_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		param_free(&t->v[i]);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static int cmp_param(const void *a, const void *b)
{
	return strcmp(((const struct ssm_param *)a)->key, ((const struct ssm_param *)b)->key);
}

/* ------------------------------------------------ made folders, pending */

static bool below(const char *s, const char *key, size_t klen)
{
	return strncmp(s, key, klen) == 0 && s[klen] == '/';
}

/* Under lock: is key a folder (never ""; that one always is)? */
static bool is_folder(const struct ssm *s, const char *key)
{
	size_t klen = strlen(key);

	if (table_has_below(&s->snap, key))
		return true;
	for (size_t i = 0; i < s->ndirs; i++)
		if (strcmp(s->dirs[i].key, key) == 0 || below(s->dirs[i].key, key, klen))
			return true;
	for (size_t i = 0; i < s->npending; i++)
		if (below(s->pending[i].key, key, klen))
			return true;
	return false;
}

static struct ssm_pending *pending_find(const struct ssm *s, const char *key)
{
	for (size_t i = 0; i < s->npending; i++)
		if (strcmp(s->pending[i].key, key) == 0)
			return &s->pending[i];
	return NULL;
}

static bool is_pending(const struct ssm *s, const char *key)
{
	return pending_find(s, key) != NULL;
}

/* The type a parameter made through the mount gets: the mount's, or a
 * SecureString once chmod'ed private (pd may be NULL; lock held). */
static enum ssm_type pending_type(const struct ssm *s, const struct ssm_pending *pd)
{
	return pd && pd->secure ? SSM_SECURE : s->new_type;
}

static int pending_add(struct ssm *s, const char *key)
{
	struct ssm_pending *grown, *pd = pending_find(s, key);

	if (pd) {
		pd->refs++;
		return 0;
	}
	grown = realloc(s->pending, (s->npending + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	s->pending = grown;
	grown[s->npending].key = strdup(key);
	if (!grown[s->npending].key)
		return -ENOMEM;
	grown[s->npending].refs = 1;
	grown[s->npending].secure = false;
	s->npending++;
	return 0;
}

static void pending_drop(struct ssm *s, const char *key)
{
	struct ssm_pending *pd = pending_find(s, key);

	if (pd && --pd->refs == 0) {
		free(pd->key);
		*pd = s->pending[--s->npending];
	}
}

static void dir_remove_at(struct ssm *s, size_t i)
{
	free(s->dirs[i].key);
	s->dirs[i] = s->dirs[--s->ndirs];
}

static int dir_add(struct ssm *s, const char *key)
{
	struct ssm_dir *grown = realloc(s->dirs, (s->ndirs + 1) * sizeof(*grown));

	if (!grown)
		return -ENOMEM;
	s->dirs = grown;
	grown[s->ndirs].key = strdup(key);
	grown[s->ndirs].made_ms = util_mono_ms();
	if (!grown[s->ndirs].key)
		return -ENOMEM;
	s->ndirs++;
	return 0;
}

/*
 * Under lock: key has just gone (rm, rmdir). Its folder stays as if mkdir
 * had made it, until the next listing after ttl, so that it does not
 * vanish under the user's feet (rm -r removes the files, then the folder).
 */
static void keep_parent(struct ssm *s, const char *key)
{
	const char *slash = strrchr(key, '/');
	char *parent;

	if (!slash)
		return;
	parent = strndup(key, (size_t)(slash - key));
	if (parent && !is_folder(s, parent))
		dir_add(s, parent); /* without memory, the folder goes: no harm */
	free(parent);
}

/* Something was written at key: the made folders above it are real now. */
static void dirs_settle(struct ssm *s, const char *key)
{
	for (size_t i = 0; i < s->ndirs;) {
		size_t dlen = strlen(s->dirs[i].key);

		if (below(key, s->dirs[i].key, dlen))
			dir_remove_at(s, i);
		else
			i++;
	}
}

/* ---------------------------------------------------------- cache use */

static uint64_t ttl_ms(const struct ssm *s)
{
	return s->cfg->cache ? cache_service_ttl(s->cfg->cache, AWS_SVC_SSM) : 0;
}

/* "/ssm/<folder>/", "/ssm/" for the root. Caller frees; NULL: no memory. */
static char *marker_path(const char *folder)
{
	struct buf b;

	buf_init(&b, 8192);
	if (buf_printf(&b, "%s/%s%s", SSM_LOG_ROOT, folder, *folder ? "/" : "")) {
		buf_free(&b);
		return NULL;
	}
	return buf_detach(&b);
}

/* Is the snapshot's part for folder within its TTL, and not invalidated? */
static bool marker_fresh(struct ssm *s, const char *folder)
{
	struct cache_hit hit;
	enum cache_state st = CACHE_MISS;
	char *path;

	if (!s->cfg->cache || !(path = marker_path(folder)))
		return false;
	memset(&hit, 0, sizeof(hit));
	st = cache_get(s->cfg->cache, AWS_SVC_SSM, CACHE_LIST, path, &hit);
	free(hit.data);
	free(path);
	return st == CACHE_FRESH;
}

static void marker_put(struct ssm *s, const char *folder)
{
	char *path;

	if (s->cfg->cache && (path = marker_path(folder))) {
		cache_put(s->cfg->cache, AWS_SVC_SSM, CACHE_LIST, path, "1", 1, NULL, 0, -1, 0);
		free(path);
	}
}

/* The folders of a sorted table, each once (keys below one folder are
 * contiguous). Caller frees the array and its strings. */
static int table_folders(const struct ssm_table *t, char ***out, size_t *n)
{
	char **v = NULL;
	size_t cap = 0;

	*n = 0;
	for (size_t i = 0; i < t->n; i++) {
		const char *k = t->v[i].key, *prev = i ? t->v[i - 1].key : NULL;

		for (const char *slash = strchr(k, '/'); slash; slash = strchr(slash + 1, '/')) {
			size_t len = (size_t)(slash - k);

			if (prev && strncmp(prev, k, len + 1) == 0)
				continue; /* the previous key was below it too */
			if (*n == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				char **g = realloc(v, ncap * sizeof(*g));

				if (!g)
					goto nomem;
				v = g;
				cap = ncap;
			}
			if (!(v[*n] = strndup(k, len)))
				goto nomem;
			(*n)++;
		}
	}
	*out = v;
	return 0;
nomem:
	for (size_t i = 0; i < *n; i++)
		free(v[i]);
	free(v);
	*n = 0;
	return -ENOMEM;
}

/* Under lock, before key joins the snapshot: the folders above it that the
 * snapshot does not have yet. Caller frees the array and its strings. */
static int new_folders(const struct ssm *s, const char *key, char ***out, size_t *n)
{
	size_t depth = 0;
	char **v;

	*out = NULL;
	*n = 0;
	for (const char *p = key; *p; p++)
		depth += *p == '/';
	if (!depth)
		return 0;
	v = calloc(depth, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (const char *slash = strchr(key, '/'); slash; slash = strchr(slash + 1, '/')) {
		char *folder = strndup(key, (size_t)(slash - key));

		if (!folder) {
			for (size_t i = 0; i < *n; i++)
				free(v[i]);
			free(v);
			*n = 0;
			return -ENOMEM;
		}
		if (table_has_below(&s->snap, folder))
			free(folder);
		else
			v[(*n)++] = folder;
	}
	*out = v;
	return 0;
}

/* What the cache holds for an x@selector path: 0 (sel filled), -ENOENT
 * (known absent), 1 (nothing fresh). */
static int sel_get(struct ssm *s, const char *mpath, struct ssm_sel *sel)
{
	struct cache_hit hit;
	int rc = 1;

	if (!s->cfg->cache)
		return 1;
	memset(&hit, 0, sizeof(hit));
	if (cache_get(s->cfg->cache, AWS_SVC_SSM, CACHE_ATTR, mpath, &hit) == CACHE_FRESH) {
		if (hit.negative)
			rc = -ENOENT;
		else if (hit.data && hit.len == sizeof(*sel)) {
			memcpy(sel, hit.data, sizeof(*sel));
			rc = 0;
		}
	}
	free(hit.data);
	return rc;
}

static void sel_put(struct ssm *s, const char *mpath, const struct ssm_sel *sel)
{
	if (s->cfg->cache)
		cache_put(s->cfg->cache, AWS_SVC_SSM, CACHE_ATTR, mpath, sel,
			  sel ? sizeof(*sel) : 0, NULL, 0, -1, sel ? 0 : CACHE_NEGATIVE);
}

/* Make the next lookup list again (a change we could not record). */
static void snapshot_forget(struct ssm *s)
{
	char *path = marker_path("");

	if (s->cfg->cache && path)
		cache_invalidate(s->cfg->cache, path);
	free(path);
}

/* key changed here: forget what its selectors answered ("/ssm/key@..."). */
static void sel_forget(struct ssm *s, const char *key)
{
	struct buf b;

	if (!s->cfg->cache)
		return;
	buf_init(&b, 8192);
	if (buf_printf(&b, "%s/%s@*", SSM_LOG_ROOT, key) == 0)
		cache_invalidate(s->cfg->cache, b.data);
	buf_free(&b);
}

/* -------------------------------------------------------------- journal */

static void journal_prune(struct ssm *s, uint64_t now)
{
	size_t keep = 0;

	for (size_t i = 0; i < s->njournal; i++) {
		if (now - s->journal[i].at_ms > SSM_JOURNAL_KEEP_MS ||
		    s->njournal - i > SSM_JOURNAL_MAX)
			param_free(&s->journal[i].p);
		else
			s->journal[keep++] = s->journal[i];
	}
	s->njournal = keep;
}

/* Under lock: remember one of this mount's changes (p is copied). A failure
 * to remember only costs freshness, never correctness of what is stored. */
static void journal_add(struct ssm *s, bool removed, const struct ssm_param *p)
{
	struct ssm_change *grown;
	uint64_t now = util_mono_ms();

	journal_prune(s, now);
	grown = realloc(s->journal, (s->njournal + 1) * sizeof(*grown));
	if (!grown)
		return;
	s->journal = grown;
	if (param_copy(&grown[s->njournal].p, p))
		return;
	grown[s->njournal].at_ms = now;
	grown[s->njournal].removed = removed;
	s->njournal++;
}

/* Under lock: re-apply to a fresh listing the changes it may have missed. */
static void journal_apply(struct ssm *s, struct ssm_table *t, uint64_t started_ms)
{
	for (size_t i = 0; i < s->njournal; i++) {
		const struct ssm_change *c = &s->journal[i];
		struct ssm_param *have, copy;

		if (c->at_ms + SSM_JOURNAL_SLACK_MS < started_ms)
			continue;
		have = table_find(t, c->p.key);
		if (c->removed) {
			if (have && have->version <= c->p.version)
				table_remove(t, c->p.key);
		} else if (!have || have->version < c->p.version) {
			if (param_copy(&copy, &c->p) == 0 && table_put(t, &copy))
				param_free(&copy);
		}
	}
}

/* ----------------------------------------------------------- AWS calls */

#define CALL_QUIET 1u     /* the caller handles the error (no error line) */
#define CALL_SECRET 2u    /* the body holds a value: wipe it, log no message */
#define CALL_AHEAD 4u     /* read-ahead: every failure is a debug line */

/* What an error answer said, for callers that log it themselves. */
struct ssm_err {
	char code[128];
	char request_id[128];
	long status;
	unsigned attempts;
	bool logged; /* the error line is written (by aws_call or ssm_call) */
};

/*
 * One SSM JSON call. body is serialized into a buffer of its exact size
 * (no copies left behind by growth), and both it and the answer are wiped
 * before they are freed. *out (may be NULL) gets the parsed answer; caller
 * owns it. err (may be NULL) gets the error's code and request id. 0 or a
 * negative errno; aws_call has logged the error unless CALL_QUIET.
 */
static int ssm_call(struct ssm *s, const char *op, const json_t *body, const char *path,
		    unsigned flags, json_t **out, struct ssm_err *err)
{
	struct aws_request req;
	struct aws_response resp;
	size_t need = json_dumpb(body, NULL, 0, JSON_COMPACT);
	char *payload;
	int rc;

	if (out)
		*out = NULL;
	if (need == 0)
		return -EINVAL;
	payload = malloc(need);
	if (!payload)
		return -ENOMEM;
	if (json_dumpb(body, payload, need, JSON_COMPACT) != need) {
		util_wipe(payload, need);
		free(payload);
		return -EINVAL;
	}
	req = (struct aws_request){
		.svc = AWS_SVC_SSM,
		.op = op,
		.body = payload,
		.body_len = need,
		.path = path,
		.max_response = SSM_MAX_RESPONSE,
		.quiet_errors = (flags & CALL_QUIET) != 0,
		.background = (flags & CALL_AHEAD) != 0,
		.sensitive = (flags & CALL_SECRET) != 0,
	};
	rc = aws_call(s->client, &req, &resp);
	if (err) {
		snprintf(err->code, sizeof(err->code), "%s", resp.code);
		snprintf(err->request_id, sizeof(err->request_id), "%s",
			 resp.request_id[0] ? resp.request_id : "-");
		err->status = resp.status;
		err->attempts = resp.attempts;
		err->logged = resp.logged;
	}
	if (rc == 0 && out) {
		const char *data = resp.http.body.data ? resp.http.body.data : "{}";
		size_t dlen = resp.http.body.len ? resp.http.body.len : 2;

		int lvl = flags & CALL_AHEAD ? LOG_LVL_DEBUG : LOG_LVL_ERROR;

		rc = jsonx_parse(data, dlen, SSM_MAX_RESPONSE, out);
		if (rc) {
			log_msg(lvl, "ssm %s %s: malformed JSON answer (%s)", op, path,
				strerror(-rc));
			rc = rc == -ENOMEM ? -ENOMEM : -EIO;
		} else if (aws_json_shape_error(*out)) {
			log_msg(lvl, "ssm %s %s: malformed JSON answer (%s of the wrong type)", op,
				path, aws_json_shape_error(*out));
			json_decref(*out);
			*out = NULL;
			rc = -EIO;
		}
		if (rc && err)
			err->logged = true; /* the line above is the error's one line */
	}
	util_wipe(resp.http.body.data, resp.http.body.len);
	aws_response_free(&resp);
	util_wipe(payload, need);
	free(payload);
	return rc;
}

/* Wipe a JSON string's bytes in place (jansson's own copy of a value). */
static void json_wipe_string(json_t *v)
{
	if (json_is_string(v))
		util_wipe((char *)json_string_value(v), json_string_length(v));
}

struct ssm_value {
	char *data;          /* malloc'd, NUL-terminated; caller wipes and frees */
	size_t len;
	struct ssm_param meta; /* type, version, modified, data_type (key/name unset) */
};

/*
 * GetParameter WithDecryption of name, or of name:selector. On success
 * out->data holds the value. quiet: ENOENT is expected (a lookup).
 */
static int get_value(struct ssm *s, const char *name, const char *selector, const char *path,
		     bool quiet, struct ssm_value *out)
{
	json_t *body, *ans = NULL, *p, *v;
	struct buf full;
	int rc;

	memset(out, 0, sizeof(*out));
	buf_init(&full, SSM_MAX_NAME + SSM_MAX_LABEL + 8);
	rc = buf_puts(&full, name);
	if (!rc && selector && *selector)
		rc = buf_printf(&full, ":%s", selector);
	if (rc) {
		buf_free(&full);
		return rc == -EFBIG ? -ENAMETOOLONG : rc;
	}
	body = json_pack("{s:s, s:b}", "Name", full.data, "WithDecryption", 1);
	buf_free(&full);
	if (!body)
		return -ENOMEM;
	rc = ssm_call(s, "GetParameter", body, path, quiet ? CALL_QUIET : 0, &ans, NULL);
	json_decref(body);
	if (rc)
		return rc;
	p = jsonx_object(ans, "Parameter");
	v = p ? json_object_get(p, "Value") : NULL;
	if (!json_is_string(v)) {
		log_error("ssm GetParameter %s: answer without a value", path);
		rc = -EIO;
	} else if (json_string_length(v) > SSM_ADVANCED_MAX_VALUE) {
		log_error("ssm GetParameter %s: value of %zu bytes, more than SSM allows", path,
			  json_string_length(v));
		rc = -EIO;
	} else {
		out->len = json_string_length(v);
		out->data = malloc(out->len + 1);
		if (!out->data) {
			rc = -ENOMEM;
		} else {
			memcpy(out->data, json_string_value(v), out->len);
			out->data[out->len] = '\0';
			rc = param_from_json(p, NULL, NULL, &out->meta);
			out->meta.len = (long long)out->len;
			free(out->meta.key_id); /* GetParameter does not name one */
			out->meta.key_id = NULL;
		}
	}
	json_wipe_string(v);
	json_decref(ans);
	if (rc && out->data) {
		util_wipe(out->data, out->len);
		free(out->data);
		out->data = NULL;
	}
	return rc;
}

static void value_free(struct ssm_value *v)
{
	if (v->data) {
		util_wipe(v->data, v->len);
		free(v->data);
	}
	param_free(&v->meta);
	memset(v, 0, sizeof(*v));
}

/* ------------------------------------------------------------- listing */

struct list_ctx {
	struct ssm_table t;
	size_t skipped;
	char *first_skipped;
	bool capped;
};

static int list_page(void *arg, json_t *page, size_t *items, bool *stop)
{
	struct list_ctx *c = arg;
	json_t *arr = jsonx_array(page, "Parameters"), *p;
	size_t i;

	*items = 0;
	if (!arr)
		return 0;
	json_array_foreach(arr, i, p) {
		const char *name = jsonx_str(p, "Name");
		char *key = NULL, *dup;
		struct ssm_param *slot;
		int rc;

		(*items)++;
		if (!name)
			continue;
		rc = ssm_key_of_name(name, &key);
		if (rc == -ENOMEM)
			return rc;
		if (rc) {
			if (!c->skipped++)
				c->first_skipped = strdup(name);
			continue;
		}
		if (c->t.n >= SSM_MAX_PARAMS) {
			free(key);
			c->capped = true;
			*stop = true;
			return 0;
		}
		if (c->t.n == c->t.cap) {
			size_t cap = c->t.cap ? c->t.cap * 2 : 256;
			struct ssm_param *v = realloc(c->t.v, cap * sizeof(*v));

			if (!v) {
				free(key);
				return -ENOMEM;
			}
			c->t.v = v;
			c->t.cap = cap;
		}
		dup = strdup(name);
		slot = &c->t.v[c->t.n];
		if (!dup || param_from_json(p, key, dup, slot)) {
			if (dup)
				param_free(slot);
			else
				free(key);
			return -ENOMEM;
		}
		c->t.n++;
	}
	return 0;
}

/* Sort and drop duplicates ("foo" listed twice, as "foo" and "/foo"). */
static size_t table_settle(struct ssm_table *t)
{
	size_t keep = 0, dropped = 0;

	if (t->n)
		qsort(t->v, t->n, sizeof(*t->v), cmp_param);
	for (size_t i = 0; i < t->n; i++) {
		if (keep && strcmp(t->v[keep - 1].key, t->v[i].key) == 0) {
			param_free(&t->v[i]);
			dropped++;
		} else {
			t->v[keep++] = t->v[i];
		}
	}
	t->n = keep;
	return dropped;
}

/* List every parameter (DescribeParameters, every page) and install it. */
static int list_all(struct ssm *s, uint64_t started_ms)
{
	struct list_ctx c = { 0 };
	struct paginate_result res;
	json_t *body = json_object();
	char **folders = NULL;
	size_t dups, n, nfolders = 0;
	uint64_t life;
	int rc;

	if (!body)
		return -ENOMEM;
	rc = paginate_json(s->client, AWS_SVC_SSM, "DescribeParameters", body, SSM_LOG_ROOT,
			   &paginate_ssm_describe_parameters, NULL, list_page, &c, &res);
	json_decref(body);
	if (rc) {
		table_free(&c.t);
		free(c.first_skipped);
		return rc;
	}
	dups = table_settle(&c.t);
	pthread_mutex_lock(&s->lock);
	if ((c.skipped || dups) && !s->warned_skipped) {
		s->warned_skipped = true;
		log_warn("ssm DescribeParameters %s: %zu parameter name(s) have no place in the "
			 "tree and are not shown (e.g. \"%.200s\"; a path needs a leading slash and "
			 "no empty, \".\", "
			 "\"..\" or '@' segment); %zu listed twice",
			 SSM_LOG_ROOT, c.skipped, c.first_skipped ? c.first_skipped : "-", dups);
	}
	if (c.capped)
		log_warn("ssm %s: more than %u parameters; the listing was cut there", SSM_LOG_ROOT,
			 SSM_MAX_PARAMS);
	/* What this mount already knows of a value (its length) stays known. */
	for (size_t i = 0; i < c.t.n; i++) {
		const struct ssm_param *old = table_find(&s->snap, c.t.v[i].key);

		if (old && old->version == c.t.v[i].version)
			c.t.v[i].len = old->len;
	}
	journal_apply(s, &c.t, started_ms);
	table_free(&s->snap);
	s->snap = c.t;
	s->listed_ms = util_mono_ms();
	/* Made folders live until the first listing after ttl (a second at
	 * least, so that mkdir x && echo v > x/y works whatever ttl is). */
	life = ttl_ms(s) > SSM_MIN_DIR_MS ? ttl_ms(s) : SSM_MIN_DIR_MS;
	for (size_t i = 0; i < s->ndirs;) {
		if (s->listed_ms - s->dirs[i].made_ms >= life)
			dir_remove_at(s, i);
		else
			i++;
	}
	n = s->snap.n;
	rc = table_folders(&s->snap, &folders, &nfolders);
	pthread_mutex_unlock(&s->lock);
	/* The markers that say how long the snapshot is good for. Without
	 * memory for them the next lookup lists again: slower, not wrong. */
	for (size_t i = 0; i < nfolders; i++) {
		marker_put(s, folders[i]);
		free(folders[i]);
	}
	free(folders);
	marker_put(s, "");
	free(c.first_skipped);
	log_debug("ssm %s: listed %zu parameters in %zu page(s)", SSM_LOG_ROOT, n, res.pages);
	return 0;
}

/* Is the snapshot good for a lookup in folder ("" for ssm/ itself)? The
 * root's marker carries the TTL; a folder of the listing also needs its own
 * (an invalidation may have dropped it). Folders mkdir made have none. */
static bool snapshot_ok(struct ssm *s, const char *folder)
{
	bool listed;

	if (!marker_fresh(s, ""))
		return false;
	if (!*folder)
		return true;
	pthread_mutex_lock(&s->lock);
	listed = table_has_below(&s->snap, folder);
	pthread_mutex_unlock(&s->lock);
	return !listed || marker_fresh(s, folder);
}

/*
 * Make sure the snapshot may answer for folder: list again when the cache
 * says it may not, once for every caller waiting at the same time. 0 or
 * the listing's errno.
 */
static int snapshot_fresh(struct ssm *s, const char *folder)
{
	uint64_t gen, started;
	int rc;

	if (snapshot_ok(s, folder))
		return 0;
	pthread_mutex_lock(&s->lock);
	if (s->listing) {
		/* Take the result of the listing in flight. */
		gen = s->list_gen;
		while (s->listing && s->list_gen == gen)
			pthread_cond_wait(&s->listed, &s->lock);
		rc = s->list_rc;
		pthread_mutex_unlock(&s->lock);
		return rc;
	}
	s->listing = true;
	started = util_mono_ms();
	pthread_mutex_unlock(&s->lock);

	rc = list_all(s, started);

	pthread_mutex_lock(&s->lock);
	s->listing = false;
	s->list_gen++;
	s->list_rc = rc;
	pthread_cond_broadcast(&s->listed);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* The folder a path's lookup consults: its parent ("" at the top). Caller
 * frees; NULL when out of memory. */
static char *parent_of(const char *key)
{
	const char *slash = strrchr(key, '/');

	return slash ? strndup(key, (size_t)(slash - key)) : strdup("");
}

/* snapshot_fresh for the folder holding key. */
static int snapshot_fresh_for(struct ssm *s, const char *key)
{
	char *parent = parent_of(key);
	int rc;

	if (!parent)
		return -ENOMEM;
	rc = snapshot_fresh(s, parent);
	free(parent);
	return rc;
}

/* Metadata of one parameter by name (DescribeParameters with a Name filter),
 * for a write that found it created elsewhere. -ENOENT when absent. */
static int describe_one(struct ssm *s, const char *name, const char *path, struct ssm_param *out)
{
	json_t *body, *ans = NULL, *arr, *p;
	size_t i;
	int rc;

	body = json_pack("{s:[{s:s, s:s, s:[s]}]}", "ParameterFilters", "Key", "Name", "Option",
			 "Equals", "Values", name);
	if (!body)
		return -ENOMEM;
	rc = ssm_call(s, "DescribeParameters", body, path, 0, &ans, NULL);
	json_decref(body);
	if (rc)
		return rc;
	rc = -ENOENT;
	arr = jsonx_array(ans, "Parameters");
	json_array_foreach(arr, i, p) {
		const char *n = jsonx_str(p, "Name");
		char *key = NULL, *dup;

		if (!n || ssm_key_of_name(n, &key))
			continue;
		dup = strdup(n);
		if (!dup) {
			free(key);
			rc = -ENOMEM;
			break;
		}
		rc = param_from_json(p, key, dup, out);
		if (rc)
			param_free(out);
		break;
	}
	json_decref(ans);
	return rc;
}

/* ------------------------------------------------------------ attributes */

static void set_mtime(struct stat *st, double t)
{
	if (t <= 0)
		return;
	st->st_mtim.tv_sec = (time_t)t;
	st->st_mtim.tv_nsec = (long)((t - (double)(time_t)t) * 1e9);
	st->st_ctim = st->st_mtim;
	st->st_atim = st->st_mtim;
}

static mode_t type_mode(enum ssm_type type, bool read_only)
{
	mode_t m = type == SSM_SECURE ? 0600 : 0644;

	return read_only ? (m & 0444) : m;
}

/* A file's size is its value's length when this mount has seen the value,
 * else 0: the listing does not carry values (see awsfs(1)). */
static void param_stat(const struct ssm *s, const struct ssm_param *p, struct stat *st)
{
	fs_file_stat(s->cfg, st, p->len > 0 ? (off_t)p->len : 0, type_mode(p->type, false));
	set_mtime(st, p->modified);
}

static void sel_stat(const struct ssm *s, const struct ssm_sel *sel, struct stat *st)
{
	fs_file_stat(s->cfg, st, sel->len > 0 ? (off_t)sel->len : 0, type_mode(sel->type, true));
	set_mtime(st, sel->modified);
}

static void sel_of_value(const struct ssm_value *v, struct ssm_sel *sel)
{
	memset(sel, 0, sizeof(*sel));
	sel->type = v->meta.type;
	sel->version = v->meta.version;
	sel->modified = v->meta.modified;
	sel->len = (long long)v->len;
	snprintf(sel->data_type, sizeof(sel->data_type), "%s", v->meta.data_type);
}

/* Look up key@selector: the cache, else GetParameter (its answer, found or
 * not, cached for the ssm TTL). */
static int selector_stat(struct ssm *s, const char *path, const struct ssm_ref *r,
			 struct stat *st)
{
	struct ssm_sel sel;
	struct ssm_value v;
	char *name, *lp;
	int rc;

	lp = log_path(path);
	if (!lp)
		return -ENOMEM;
	rc = sel_get(s, lp, &sel);
	if (rc <= 0) {
		if (!rc)
			sel_stat(s, &sel, st);
		free(lp);
		return rc;
	}
	name = ssm_name_of_key(r->key);
	if (!name) {
		free(lp);
		return -ENOMEM;
	}
	rc = get_value(s, name, r->selector, lp, true, &v);
	free(name);
	if (rc == -EINVAL)
		rc = -ENOENT; /* a label SSM does not accept names nothing */
	if (rc == 0) {
		sel_of_value(&v, &sel);
		value_free(&v);
		sel_put(s, lp, &sel);
		sel_stat(s, &sel, st);
	} else if (rc == -ENOENT) {
		sel_put(s, lp, NULL);
	}
	free(lp);
	return rc;
}

static int ssm_getattr(void *be, const char *path, struct stat *st)
{
	struct ssm *s = be;
	struct ssm_ref r;
	struct ssm_param *p;
	int rc;

	if (!*path) {
		fs_dir_stat(s->cfg, st);
		return 0;
	}
	rc = parse_path(path, &r);
	if (rc)
		return rc;
	rc = snapshot_fresh_for(s, r.key);
	if (rc)
		goto out;
	pthread_mutex_lock(&s->lock);
	p = table_find(&s->snap, r.key);
	if (!r.selector && is_folder(s, r.key)) {
		fs_dir_stat(s->cfg, st);
	} else if (has_selector(&r)) {
		rc = p ? 1 : -ENOENT;
	} else if (p) {
		param_stat(s, p, st);
	} else if (is_pending(s, r.key)) {
		fs_file_stat(s->cfg, st, 0,
			     type_mode(pending_type(s, pending_find(s, r.key)), false));
	} else {
		rc = -ENOENT;
	}
	pthread_mutex_unlock(&s->lock);
	if (rc == 1)
		rc = selector_stat(s, path, &r, st);
out:
	ref_free(&r);
	return rc;
}

/* --------------------------------------------------------------- readdir */

struct entry {
	char *name;
	struct stat st;
};

struct entries {
	struct entry *v;
	size_t n, cap;
};

/* Is name[0..len) followed by suffix listed already? */
static bool entries_has(const struct entries *e, const char *name, size_t len, const char *suffix)
{
	for (size_t i = 0; i < e->n; i++)
		if (strncmp(e->v[i].name, name, len) == 0 &&
		    strcmp(e->v[i].name + len, suffix) == 0)
			return true;
	return false;
}

static int entries_add(struct entries *e, const char *name, size_t len, const char *suffix,
		       const struct stat *st)
{
	size_t slen = strlen(suffix);

	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 32;
		struct entry *v = realloc(e->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		e->v = v;
		e->cap = cap;
	}
	e->v[e->n].name = malloc(len + slen + 1);
	if (!e->v[e->n].name)
		return -ENOMEM;
	memcpy(e->v[e->n].name, name, len);
	memcpy(e->v[e->n].name + len, suffix, slen + 1);
	e->v[e->n].st = *st;
	e->n++;
	return 0;
}

static void entries_free(struct entries *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i].name);
	free(e->v);
}

/* Under lock: the children of folder key ("" for ssm/ itself). */
static int collect(struct ssm *s, const char *key, struct entries *e)
{
	const struct ssm_table *t = &s->snap;
	size_t klen = strlen(key), plen = klen ? klen + 1 : 0;
	size_t i = klen ? lower_bound(t, key, klen, '/') : 0;
	struct stat dst, fst;
	int rc = 0;

	fs_dir_stat(s->cfg, &dst);
	while (i < t->n && !rc) {
		const struct ssm_param *p = &t->v[i];
		const char *rest, *slash;

		if (klen && !below(p->key, key, klen))
			break;
		rest = p->key + plen;
		slash = strchr(rest, '/');
		if (!slash) {
			param_stat(s, p, &fst);
			/* A parameter that is also a folder shows as name@. */
			rc = entries_add(e, rest, strlen(rest), is_folder(s, p->key) ? "@" : "",
					 &fst);
			i++;
		} else {
			rc = entries_add(e, rest, (size_t)(slash - rest), "", &dst);
			/* Skip the folder's whole block: everything below "seg/"
			 * sorts before "seg0" ('0' follows '/'). */
			i = lower_bound(t, p->key, (size_t)(slash - p->key), '0');
		}
	}
	/* Folders made by mkdir and files being created. */
	for (size_t j = 0; j < s->ndirs && !rc; j++) {
		const char *d = s->dirs[j].key, *rest;
		size_t n;

		if (klen && !below(d, key, klen))
			continue;
		rest = d + plen;
		n = strcspn(rest, "/");
		if (!entries_has(e, rest, n, ""))
			rc = entries_add(e, rest, n, "", &dst);
	}
	for (size_t j = 0; j < s->npending && !rc; j++) {
		const char *k = s->pending[j].key, *rest;
		size_t n;

		if (klen && !below(k, key, klen))
			continue;
		rest = k + plen;
		n = strcspn(rest, "/");
		if (rest[n] == '/') {
			if (!entries_has(e, rest, n, ""))
				rc = entries_add(e, rest, n, "", &dst);
		} else if (!table_find(t, k)) {
			const char *suffix = is_folder(s, k) ? "@" : "";

			fs_file_stat(s->cfg, &fst, 0,
				     type_mode(pending_type(s, &s->pending[j]), false));
			if (!entries_has(e, rest, n, suffix))
				rc = entries_add(e, rest, n, suffix, &fst);
		}
	}
	return rc;
}

static int ssm_readdir(void *be, const char *path, backend_fill_fn fill, void *sink)
{
	struct ssm *s = be;
	struct entries e = { 0 };
	int rc;

	if (strchr(path, '@'))
		return -ENOTDIR;
	rc = snapshot_fresh(s, path);
	if (rc)
		return rc;
	pthread_mutex_lock(&s->lock);
	if (*path && !is_folder(s, path))
		rc = table_find(&s->snap, path) || is_pending(s, path) ? -ENOTDIR : -ENOENT;
	else
		rc = collect(s, path, &e);
	pthread_mutex_unlock(&s->lock);
	/* Fill outside the lock: the kernel may be slow. */
	for (size_t i = 0; !rc && i < e.n; i++)
		if (fill(sink, e.v[i].name, &e.v[i].st))
			break;
	entries_free(&e);
	return rc;
}

/* ------------------------------------------------------- values kept */

/*
 * String and StringList values are kept in the cache (CACHE_VALUE,
 * "/ssm/<key>", memory only) for the ssm TTL, each behind this header: a
 * value serves an open only while the snapshot still names the same
 * version and time, so a newer listing, a write or a removal makes it
 * stale at once. SecureString values are never kept (see awsfs(1)): they
 * live in an open file only, as before.
 */
struct ssm_kept {
	long long version;
	double modified;
};

/* Siblings looked at each way to fill one batch (some may be kept
 * already): bounds the work done under the backend's lock. */
#define SSM_BATCH_SCAN 64u

/* Would a kept value outlive this call? Without a cache or with a TTL of
 * 0 nothing is kept, and fetching neighbours would be waste. */
static bool values_kept(const struct ssm *s)
{
	return s->cfg->cache && ttl_ms(s) > 0;
}

/* The kept value of key if it belongs to version/modified: true and, when
 * out is set, the bytes in out[0..*len) (out holds
 * SSM_ADVANCED_MAX_VALUE bytes). */
static bool kept_get(struct ssm *s, const char *key, long long version, double modified,
		     char *out, size_t *len)
{
	struct cache_hit hit;
	struct ssm_kept hdr;
	char *path;
	bool ok = false;

	if (!values_kept(s) || !(path = log_path(key)))
		return false;
	memset(&hit, 0, sizeof(hit));
	if (cache_get(s->cfg->cache, AWS_SVC_SSM, CACHE_VALUE, path, &hit) == CACHE_FRESH &&
	    !hit.negative && hit.data && hit.len >= sizeof(hdr) &&
	    hit.len - sizeof(hdr) <= SSM_ADVANCED_MAX_VALUE) {
		memcpy(&hdr, hit.data, sizeof(hdr));
		/* Both from the same JSON number parsed the same way: exact. */
		ok = hdr.version == version && hdr.modified == modified;
		if (ok && out) {
			*len = hit.len - sizeof(hdr);
			memcpy(out, (const char *)hit.data + sizeof(hdr), *len);
		}
	}
	free(hit.data);
	free(path);
	return ok;
}

/* Keep a String/StringList value (never a SecureString: the caller checks).
 * Without memory it is simply not kept. */
static void kept_put(struct ssm *s, const char *key, long long version, double modified,
		     const char *data, size_t len)
{
	struct ssm_kept hdr = { .version = version, .modified = modified };
	char *path, *rec;

	if (!values_kept(s) || len > SSM_ADVANCED_MAX_VALUE || !(path = log_path(key)))
		return;
	rec = malloc(sizeof(hdr) + len);
	if (rec) {
		memcpy(rec, &hdr, sizeof(hdr));
		memcpy(rec + sizeof(hdr), data, len);
		cache_put(s->cfg->cache, AWS_SVC_SSM, CACHE_VALUE, path, rec, sizeof(hdr) + len,
			  NULL, 0, -1, CACHE_NO_DISK);
		free(rec);
	}
	free(path);
}

/* Under lock: what a value fetched now says of its parameter. The
 * listing may be older than the answer. */
static void snapshot_learn(struct ssm *s, const char *key, const struct ssm_param *meta,
			   size_t len)
{
	struct ssm_param *p = table_find(&s->snap, key);

	if (p && p->version <= meta->version) {
		p->version = meta->version;
		p->type = meta->type;
		p->modified = meta->modified;
		p->len = (long long)len;
	}
}

/* Under lock: the first direct child of the folder prefix[0..plen) (the
 * folder's key and its '/'; plen 0 for ssm/ itself) at index i or after,
 * t->n when there is none. Sub-folders' blocks are skipped whole. */
static size_t next_child(const struct ssm_table *t, size_t i, const char *prefix, size_t plen)
{
	while (i < t->n) {
		const char *k = t->v[i].key, *slash;

		if (plen && strncmp(k, prefix, plen) != 0)
			return t->n;
		slash = strchr(k + plen, '/');
		if (!slash)
			return i;
		/* Everything below "seg/" sorts before "seg0" ('0' follows '/'). */
		i = lower_bound(t, k, (size_t)(slash - k), '0');
	}
	return t->n;
}

/* Under lock: the last direct child of the folder prefix[0..plen) at index
 * i or before, SIZE_MAX when there is none (next_child walking back). */
static size_t prev_child(const struct ssm_table *t, size_t i, const char *prefix, size_t plen)
{
	while (i < t->n) {
		const char *k = t->v[i].key, *slash;

		if (plen && strncmp(k, prefix, plen) != 0)
			return SIZE_MAX;
		slash = strchr(k + plen, '/');
		if (!slash)
			return i;
		/* Back to the first entry of the "seg/" block, then one before. */
		i = lower_bound(t, k, (size_t)(slash - k), '/');
		if (i == 0)
			return SIZE_MAX;
		i--;
	}
	return SIZE_MAX;
}

struct batch {
	char *names[SSM_BATCH_MAX]; /* an open's batch: [0] the value being opened */
	char *keys[SSM_BATCH_MAX];
	size_t n;
};

static void batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->names[i]);
		free(b->keys[i]);
	}
	b->n = 0;
}

/*
 * A batch being fetched (or, read-ahead, queued to be). While it is in
 * s->flights its keys are "in flight": no other batch asks for them, and
 * an open that wants one waits for it (s->fetched) and then takes the kept
 * value. A write or removal through the mount marks its key stale: what
 * the batch brings for it is then not kept (nor learnt), however late the
 * answer comes.
 */
struct ssm_flight {
	struct ssm_flight *next;
	struct batch b;
	bool stale[SSM_BATCH_MAX];
	bool ahead;  /* read-ahead: a worker's, counted in ahead_jobs, heap */
	bool queued; /* read-ahead not started yet */
};

/* Under lock: is key in a batch in flight? */
static bool flight_has(const struct ssm *s, const char *key)
{
	for (const struct ssm_flight *fl = s->flights; fl; fl = fl->next)
		for (size_t i = 0; i < fl->b.n; i++)
			if (strcmp(fl->b.keys[i], key) == 0)
				return true;
	return false;
}

/* Under lock: fl joins the tail of flights (queued read-ahead runs in
 * the order it was planned). */
static void flight_add(struct ssm *s, struct ssm_flight *fl)
{
	struct ssm_flight **pp = &s->flights;

	while (*pp)
		pp = &(*pp)->next;
	fl->next = NULL;
	*pp = fl;
	if (fl->ahead)
		s->ahead_jobs++;
}

/* Under lock: fl is done; whoever waits for one of its keys looks again. */
static void flight_remove(struct ssm *s, struct ssm_flight *fl)
{
	for (struct ssm_flight **pp = &s->flights; *pp; pp = &(*pp)->next)
		if (*pp == fl) {
			*pp = fl->next;
			if (fl->ahead)
				s->ahead_jobs--;
			break;
		}
	fl->next = NULL;
	pthread_cond_broadcast(&s->fetched);
}

static void flight_free(struct ssm_flight *fl)
{
	if (fl) {
		batch_free(&fl->b);
		free(fl);
	}
}

/* Wait (bounded) until no batch in flight holds key. */
static void flight_wait(struct ssm *s, const char *key)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += SSM_FLIGHT_WAIT_S;
	pthread_mutex_lock(&s->lock);
	while (flight_has(s, key))
		if (pthread_cond_timedwait(&s->fetched, &s->lock, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&s->lock);
}

/* key changed or went through the mount: its kept value is no more, and
 * a batch in flight must not bring an older one back. */
static void kept_forget(struct ssm *s, const char *key)
{
	char *path = log_path(key);

	pthread_mutex_lock(&s->lock);
	for (struct ssm_flight *fl = s->flights; fl; fl = fl->next)
		for (size_t i = 0; i < fl->b.n; i++)
			if (strcmp(fl->b.keys[i], key) == 0)
				fl->stale[i] = true;
	if (s->cfg->cache && path)
		cache_forget(s->cfg->cache, AWS_SVC_SSM, CACHE_VALUE, path);
	pthread_mutex_unlock(&s->lock);
	free(path);
}

/*
 * Under lock: add to b the String and StringList direct children of the
 * folder prefix[0..plen) from index i on (back: walking back), neither
 * kept nor in flight, until b is full or SSM_BATCH_SCAN were looked at.
 * *last: the index of the last one looked at (SIZE_MAX: none). The cache
 * is asked under s->lock: it never calls back into a backend. 0 or
 * -ENOMEM (b holds what was added).
 */
static int plan_scan(struct ssm *s, size_t i, const char *prefix, size_t plen, bool back,
		     struct batch *b, size_t *last)
{
	const struct ssm_table *t = &s->snap;
	size_t looked = 0;

	*last = SIZE_MAX;
	while (i < t->n && b->n < SSM_BATCH_MAX && looked++ < SSM_BATCH_SCAN) {
		const struct ssm_param *q = &t->v[i];

		*last = i;
		if (q->type != SSM_SECURE && !flight_has(s, q->key) &&
		    !kept_get(s, q->key, q->version, q->modified, NULL, NULL)) {
			b->names[b->n] = strdup(q->name);
			b->keys[b->n] = strdup(q->key);
			b->n++;
			if (!b->names[b->n - 1] || !b->keys[b->n - 1])
				return -ENOMEM;
		}
		if (back)
			i = i ? prev_child(t, i - 1, prefix, plen) : SIZE_MAX;
		else
			i = next_child(t, i + 1, prefix, plen);
	}
	return 0;
}

/* ----------------------------------------------------------- read-ahead */

/*
 * A reader that opens, in one folder, a value past the last one the
 * previous batch of that folder asked for is walking it (grep -r, a shell
 * glob): its batch is then followed by up to SSM_AHEAD_BATCHES more, of
 * the next String/StringList values in snapshot order, fetched in the
 * background by up to SSM_AHEAD_THREADS worker threads (started at the
 * first need, joined by ssm_destroy). The first key of each such batch is
 * a mark: when the reader opens it, one more batch is planned, so the
 * window moves with the reader. A single cat, or a reader going back,
 * starts nothing. Read-ahead failures are logged at debug level only: the
 * value is then fetched when it is opened, as without read-ahead.
 */
static void *ahead_main(void *arg);

/* Under lock: the walk moves to folder dir[0..dlen) (its marks are
 * forgotten), or, same folder, its end moves to end when that is later. */
static void walk_note(struct ssm *s, const char *dir, size_t dlen, const char *end)
{
	char *e;

	if (s->walk_dir && strlen(s->walk_dir) == dlen && strncmp(s->walk_dir, dir, dlen) == 0) {
		if (strcmp(end, s->walk_end) <= 0)
			return;
		if ((e = strdup(end))) {
			free(s->walk_end);
			s->walk_end = e;
		}
		return;
	}
	free(s->walk_dir);
	free(s->walk_end);
	s->walk_dir = strndup(dir, dlen);
	s->walk_end = strdup(end);
	for (size_t i = 0; i < SSM_AHEAD_MARKS; i++) {
		free(s->marks[i]);
		s->marks[i] = NULL;
	}
	if (!s->walk_dir || !s->walk_end) {
		free(s->walk_dir);
		free(s->walk_end);
		s->walk_dir = s->walk_end = NULL;
	}
}

/* Under lock: remember key as a mark (the oldest gives way when full). */
static void mark_add(struct ssm *s, const char *key)
{
	char *m = strdup(key);
	size_t i;

	if (!m)
		return;
	for (i = 0; i < SSM_AHEAD_MARKS && s->marks[i]; i++)
		;
	if (i == SSM_AHEAD_MARKS) {
		free(s->marks[0]);
		memmove(s->marks, s->marks + 1, (SSM_AHEAD_MARKS - 1) * sizeof(s->marks[0]));
		i = SSM_AHEAD_MARKS - 1;
	}
	s->marks[i] = m;
}

/* Under lock: a worker for each queued batch (up to the cap). */
static void ahead_kick(struct ssm *s)
{
	unsigned queued = 0;

	for (const struct ssm_flight *fl = s->flights; fl; fl = fl->next)
		queued += fl->queued;
	if (queued > s->idle && s->nworkers < SSM_AHEAD_THREADS &&
	    pthread_create(&s->workers[s->nworkers], NULL, ahead_main, s) == 0)
		s->nworkers++;
	pthread_cond_broadcast(&s->work);
}

/*
 * Under lock: plan up to want read-ahead batches after walk_end in
 * walk_dir and queue them, within the mount-wide cap. Out of memory, or
 * no more values to fetch, simply plans fewer.
 */
static void ahead_plan(struct ssm *s, unsigned want)
{
	const struct ssm_table *t = &s->snap;

	while (want-- && s->walk_dir && !s->stopping && !s->no_batch && values_kept(s) &&
	       s->ahead_jobs < SSM_AHEAD_THREADS) {
		size_t plen = strlen(s->walk_dir), i, last;
		struct ssm_flight *fl;
		char *end;

		i = lower_bound(t, s->walk_end, strlen(s->walk_end), 0);
		if (i < t->n && strcmp(t->v[i].key, s->walk_end) == 0)
			i++;
		i = next_child(t, i, s->walk_dir, plen);
		if (i >= t->n || !(fl = calloc(1, sizeof(*fl))))
			return;
		if (plan_scan(s, i, s->walk_dir, plen, false, &fl->b, &last) || last == SIZE_MAX ||
		    !(end = strdup(t->v[last].key))) {
			flight_free(fl);
			return;
		}
		free(s->walk_end);
		s->walk_end = end;
		if (fl->b.n == 0) {
			flight_free(fl); /* all kept or in flight: look further */
			continue;
		}
		fl->ahead = fl->queued = true;
		flight_add(s, fl);
		mark_add(s, fl->b.keys[0]);
		ahead_kick(s);
	}
}

/* key was opened from a kept value: when it is a mark, move the window. */
static void ahead_reached(struct ssm *s, const char *key)
{
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < SSM_AHEAD_MARKS; i++)
		if (s->marks[i] && strcmp(s->marks[i], key) == 0) {
			free(s->marks[i]);
			s->marks[i] = NULL;
			ahead_plan(s, 1);
			break;
		}
	pthread_mutex_unlock(&s->lock);
}

/* Send one GetParameters (WithDecryption: a value listed as a String may
 * have become a SecureString since) for b. flags: 0, or CALL_AHEAD
 * (every failure a debug line). *ans: caller frees. 0 or a negative
 * errno, logged only when err->logged says so. */
static int batch_send(struct ssm *s, const struct batch *b, const char *path, unsigned flags,
		      struct ssm_err *err, json_t **ans)
{
	json_t *body, *names;
	size_t i;
	int rc;

	*ans = NULL;
	body = json_pack("{s:[], s:b}", "Names", "WithDecryption", 1);
	names = body ? json_object_get(body, "Names") : NULL;
	for (i = 0; names && i < b->n; i++)
		if (json_array_append_new(names, json_string(b->names[i])))
			break;
	if (!names || i < b->n) {
		json_decref(body);
		return -ENOMEM;
	}
	memset(err, 0, sizeof(*err));
	rc = ssm_call(s, "GetParameters", body, path, CALL_QUIET | CALL_SECRET | flags, ans, err);
	json_decref(body);
	return rc;
}

/*
 * Keep what a GetParameters answer brought for fl's keys (String and
 * StringList values only, and none of a stale key) and let the snapshot
 * learn from it; then fl leaves flights. With f (fl->b.keys[0] is f's),
 * f's value goes into f too: 0 when it did, -ENOENT / -EIO (logged) when
 * the answer lacks it, -ENOMEM. A neighbour that is gone
 * (InvalidParameters) or odd costs nothing but its own later fetch.
 */
static int batch_take(struct ssm *s, struct ssm_flight *fl, json_t *ans, struct ssm_file *f,
		      const struct ssm_err *err)
{
	const struct batch *b = &fl->b;
	json_t *arr = jsonx_array(ans, "Parameters"), *p;
	bool found = false;
	size_t i;
	int rc = 0;

	json_array_foreach(arr, i, p) {
		json_t *v = json_object_get(p, "Value");
		const char *name = jsonx_str(p, "Name");
		struct ssm_param meta;
		char *key = NULL;
		size_t len, j;

		if (!json_is_string(v) || !name || ssm_key_of_name(name, &key)) {
			json_wipe_string(v);
			continue;
		}
		for (j = 0; j < b->n && strcmp(b->keys[j], key) != 0; j++)
			;
		free(key);
		len = json_string_length(v);
		if (j == b->n || ((!f || j > 0) && len > SSM_ADVANCED_MAX_VALUE)) {
			json_wipe_string(v);
			continue;
		}
		if (param_from_json(p, NULL, NULL, &meta)) {
			rc = f && j == 0 ? -ENOMEM : rc;
		} else if (len > SSM_ADVANCED_MAX_VALUE) {
			log_error("ssm GetParameters %s: value of %zu bytes, more than SSM allows",
				  f->logpath, len);
			rc = -EIO;
		} else {
			if (f && j == 0) {
				memcpy(f->data, json_string_value(v), len);
				f->len = len;
				f->loaded = found = true;
			}
			pthread_mutex_lock(&s->lock);
			if (!fl->stale[j]) {
				snapshot_learn(s, b->keys[j], &meta, len);
				if (meta.type != SSM_SECURE)
					kept_put(s, b->keys[j], meta.version, meta.modified,
						 json_string_value(v), len);
			}
			pthread_mutex_unlock(&s->lock);
		}
		param_free(&meta);
		json_wipe_string(v);
	}
	pthread_mutex_lock(&s->lock);
	flight_remove(s, fl);
	pthread_mutex_unlock(&s->lock);
	if (f && !rc && !found) {
		json_t *gone = jsonx_array(ans, "InvalidParameters");
		bool invalid = false;

		json_array_foreach(gone, i, p)
			invalid = invalid || (json_is_string(p) &&
					      strcmp(json_string_value(p), b->names[0]) == 0);
		if (invalid) {
			log_error("ssm GetParameters %s: ParameterNotFound (request id %s)",
				  f->logpath, err->request_id);
			rc = -ENOENT;
		} else {
			log_error("ssm GetParameters %s: answer without a value", f->logpath);
			rc = -EIO;
		}
	}
	return rc;
}

/* A worker: run queued read-ahead batches until destroy. */
static void *ahead_main(void *arg)
{
	struct ssm *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		struct ssm_flight *fl;
		struct ssm_err err;
		json_t *ans = NULL;
		char *path;
		int rc;

		for (fl = s->flights; fl && !fl->queued; fl = fl->next)
			;
		if (!fl) {
			s->idle++;
			pthread_cond_wait(&s->work, &s->lock);
			s->idle--;
			continue;
		}
		fl->queued = false;
		if (s->no_batch) {
			flight_remove(s, fl);
			flight_free(fl);
			continue;
		}
		pthread_mutex_unlock(&s->lock);
		path = log_path(fl->b.keys[0]);
		rc = path ? batch_send(s, &fl->b, path, CALL_AHEAD, &err, &ans) : -ENOMEM;
		if (rc) {
			log_debug("ssm GetParameters %s: read-ahead of %zu values: %s (HTTP %ld, "
				  "request id %s): %s; they are fetched when opened",
				  path ? path : SSM_LOG_ROOT, fl->b.n, rc == -ENOMEM ? "-" : err.code,
				  rc == -ENOMEM ? 0L : err.status, rc == -ENOMEM ? "-" : err.request_id,
				  strerror(-rc));
			pthread_mutex_lock(&s->lock);
			flight_remove(s, fl);
			pthread_mutex_unlock(&s->lock);
		} else {
			batch_take(s, fl, ans, NULL, &err);
		}
		json_decref(ans);
		free(path);
		flight_free(fl);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	http_thread_cleanup();
	return NULL;
}

/* Stop read-ahead: queued batches are dropped, running ones finish (their
 * requests are bounded by the retry core), the workers are joined. */
static void ahead_stop(struct ssm *s)
{
	unsigned n;

	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	for (struct ssm_flight **pp = &s->flights; *pp;) {
		struct ssm_flight *fl = *pp;

		if (fl->queued) {
			flight_remove(s, fl);
			flight_free(fl);
		} else {
			pp = &fl->next;
		}
	}
	pthread_cond_broadcast(&s->work);
	n = s->nworkers;
	pthread_mutex_unlock(&s->lock);
	for (unsigned i = 0; i < n; i++)
		pthread_join(s->workers[i], NULL);
}

/* ------------------------------------------------------------- batches */

/*
 * The neighbours worth fetching with f's value: String and StringList
 * parameters of the same folder neither kept already nor in flight, the
 * nearest after f's in the snapshot's order first (the order readdir, and
 * so grep -r or a shell glob, walks them), then the nearest before it (a
 * reader walking the other way). On success fl is in flights (the caller
 * takes it out with batch_take or flight_remove), and read-ahead may have
 * been planned (a walk). 0; 1 when f's value is not to be batched
 * (unknown, or a SecureString, or GetParameters refused); 2 when it is in
 * flight or kept already (look again); -ENOMEM.
 */
static int batch_plan(struct ssm *s, const struct ssm_file *f, struct ssm_flight *fl)
{
	const struct ssm_table *t = &s->snap;
	struct batch *b = &fl->b;
	const struct ssm_param *p;
	const char *slash = strrchr(f->key, '/');
	size_t plen = slash ? (size_t)(slash - f->key) + 1 : 0, at, i, last;
	bool walk;
	int rc = 0;

	memset(fl, 0, sizeof(*fl));
	b->names[0] = strdup(f->name);
	b->keys[0] = strdup(f->key);
	b->n = 1;
	if (!b->names[0] || !b->keys[0]) {
		batch_free(b);
		return -ENOMEM;
	}
	pthread_mutex_lock(&s->lock);
	p = table_find(t, f->key);
	if (!p || p->type == SSM_SECURE || s->no_batch) {
		pthread_mutex_unlock(&s->lock);
		batch_free(b);
		return 1;
	}
	/* Asked for, or brought, since the caller looked. */
	if (flight_has(s, f->key) || kept_get(s, f->key, p->version, p->modified, NULL, NULL)) {
		pthread_mutex_unlock(&s->lock);
		batch_free(b);
		return 2;
	}
	at = (size_t)(p - t->v);
	rc = plan_scan(s, next_child(t, at + 1, f->key, plen), f->key, plen, false, b, &last);
	if (!rc && b->n < SSM_BATCH_MAX)
		rc = plan_scan(s, at ? prev_child(t, at - 1, f->key, plen) : SIZE_MAX, f->key,
			       plen, true, b, &last);
	if (rc) {
		pthread_mutex_unlock(&s->lock);
		batch_free(b);
		return rc;
	}
	flight_add(s, fl);
	walk = s->walk_dir && strlen(s->walk_dir) == plen &&
	       strncmp(s->walk_dir, f->key, plen) == 0 && strcmp(f->key, s->walk_end) > 0;
	for (i = 0, last = 0; i < b->n; i++)
		if (strcmp(b->keys[i], b->keys[last]) > 0)
			last = i;
	walk_note(s, f->key, plen, b->keys[last]);
	if (walk)
		ahead_plan(s, SSM_AHEAD_BATCHES);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/*
 * Fetch f's value and up to 9 neighbours' with one GetParameters (a
 * neighbour listed as a String may have become a SecureString since; such
 * a value is wiped, never kept). Called with f->lock held. 0; 1 when the
 * single GetParameter should be used instead (not batched, or
 * GetParameters refused); 2 when another batch holds f's value (waited
 * for: look for the kept value again); or a negative errno with its log
 * line written.
 */
static int file_load_batch(struct ssm *s, struct ssm_file *f)
{
	struct ssm_flight fl;
	struct ssm_err err;
	json_t *ans = NULL;
	int rc;

	rc = batch_plan(s, f, &fl);
	if (rc == 2)
		flight_wait(s, f->key);
	if (rc)
		return rc;
	rc = batch_send(s, &fl.b, f->logpath, 0, &err, &ans);
	if (rc == -EACCES || rc == -EINVAL) {
		/* A policy that allows GetParameter only, or a neighbour's name
		 * AWS refuses: one value at a time from now on (logged once). */
		pthread_mutex_lock(&s->lock);
		if (!s->no_batch)
			log_info("ssm GetParameters %s: %s (request id %s): values are fetched one "
				 "at a time from now on", f->logpath, err.code, err.request_id);
		s->no_batch = true;
		flight_remove(s, &fl);
		pthread_mutex_unlock(&s->lock);
		batch_free(&fl.b);
		return 1;
	}
	if (rc) {
		if (rc == -ENOMEM)
			log_error("ssm GetParameters %s: %s", f->logpath, strerror(-rc));
		else if (!err.logged)
			log_error("ssm GetParameters %s: %s (HTTP %ld, request id %s): %s",
				  f->logpath, err.code[0] ? err.code : "-", err.status,
				  err.request_id, strerror(-rc));
		pthread_mutex_lock(&s->lock);
		flight_remove(s, &fl);
		pthread_mutex_unlock(&s->lock);
		batch_free(&fl.b);
		return rc;
	}
	rc = batch_take(s, &fl, ans, f, &err);
	json_decref(ans);
	batch_free(&fl.b);
	return rc;
}

/* ------------------------------------------------------------ open files */

static void file_free(struct ssm_file *f)
{
	if (!f)
		return;
	if (f->data) {
		util_wipe(f->data, SSM_ADVANCED_MAX_VALUE + 1);
		free(f->data);
	}
	free(f->key);
	free(f->name);
	free(f->selector);
	free(f->logpath);
	free(f->new_key_id);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/*
 * Fetch the value into f: the kept one when the snapshot still names its
 * version, else with its neighbours (GetParameters), else alone
 * (GetParameter: a SecureString, a version or label, or GetParameters
 * refused). Called with f->lock held.
 */
static int file_load(struct ssm *s, struct ssm_file *f)
{
	struct ssm_value v;
	int rc;

	/* Kept, else batched; a batch of another that holds it is waited for
	 * (a few times at most), then it is fetched as if there were none. */
	for (int round = 0; !f->selector && round < 3; round++) {
		const struct ssm_param *p;
		long long version = 0;
		double modified = 0;
		bool plain;

		pthread_mutex_lock(&s->lock);
		p = table_find(&s->snap, f->key);
		plain = p && p->type != SSM_SECURE;
		if (plain) {
			version = p->version;
			modified = p->modified;
		}
		pthread_mutex_unlock(&s->lock);
		if (plain && kept_get(s, f->key, version, modified, f->data, &f->len)) {
			f->loaded = true;
			ahead_reached(s, f->key);
			return 0;
		}
		if (!plain || !values_kept(s))
			break;
		rc = file_load_batch(s, f);
		if (rc <= 0)
			return rc;
		if (rc == 1)
			break;
	}
	rc = get_value(s, f->name, f->selector, f->logpath, false, &v);
	if (rc)
		return rc;
	memcpy(f->data, v.data, v.len);
	f->len = v.len;
	f->loaded = true;
	if (!f->selector) {
		pthread_mutex_lock(&s->lock);
		snapshot_learn(s, f->key, &v.meta, v.len);
		pthread_mutex_unlock(&s->lock);
		if (v.meta.type != SSM_SECURE)
			kept_put(s, f->key, v.meta.version, v.meta.modified, v.data, v.len);
	}
	if (f->selector) {
		struct ssm_sel sel;
		struct buf path;

		sel_of_value(&v, &sel);
		buf_init(&path, 16384);
		if (buf_printf(&path, "%s/%s@%s", SSM_LOG_ROOT, f->key, f->selector) == 0)
			sel_put(s, path.data, &sel);
		buf_free(&path);
	}
	value_free(&v);
	return 0;
}

static int file_new(const char *key, const struct ssm_ref *r, const char *path, int flags,
		    size_t limit, struct ssm_file **out)
{
	struct ssm_file *f = calloc(1, sizeof(*f));

	*out = NULL;
	if (!f)
		return -ENOMEM;
	pthread_mutex_init(&f->lock, NULL);
	f->flags = flags;
	f->limit = limit;
	f->new_type = -1;
	f->key = strdup(key);
	f->name = ssm_name_of_key(key);
	f->selector = has_selector(r) ? strdup(r->selector) : NULL;
	f->logpath = log_path(path);
	f->data = malloc(SSM_ADVANCED_MAX_VALUE + 1);
	if (!f->key || !f->name || (has_selector(r) && !f->selector) || !f->logpath || !f->data) {
		file_free(f);
		return -ENOMEM;
	}
	*out = f;
	return 0;
}

static bool wants_write(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY;
}

static int ssm_open(void *be, const char *path, int flags, void **fh)
{
	struct ssm *s = be;
	struct ssm_ref r;
	struct ssm_file *f = NULL;
	const struct ssm_param *p;
	size_t limit = SSM_STANDARD_MAX_VALUE;
	bool pending = false;
	int rc;

	rc = parse_path(path, &r);
	if (rc)
		return rc;
	if (has_selector(&r) && wants_write(flags)) {
		rc = -EROFS; /* a past version cannot be changed */
		goto out;
	}
	rc = snapshot_fresh_for(s, r.key);
	if (rc)
		goto out;
	pthread_mutex_lock(&s->lock);
	p = table_find(&s->snap, r.key);
	if (!r.selector && is_folder(s, r.key))
		rc = -EISDIR;
	else if (p)
		limit = tier_limit(p->tier);
	else if (!(pending = is_pending(s, r.key)))
		rc = -ENOENT;
	pthread_mutex_unlock(&s->lock);
	if (rc)
		goto out;
	rc = file_new(r.key, &r, path, flags, has_selector(&r) ? SSM_ADVANCED_MAX_VALUE : limit,
		      &f);
	if (rc)
		goto out;
	if (wants_write(flags) && (flags & O_TRUNC)) {
		f->loaded = true;
		f->dirty = true;
	} else if (pending) {
		f->loaded = true; /* being created elsewhere: empty so far */
	} else if ((flags & O_ACCMODE) != O_WRONLY) {
		/* Reading: fetch now, so that open reports ENOENT/EACCES. A
		 * writer without O_TRUNC fetches at its first write. */
		pthread_mutex_lock(&f->lock);
		rc = file_load(s, f);
		pthread_mutex_unlock(&f->lock);
		if (rc) {
			file_free(f);
			goto out;
		}
	}
	*fh = f;
out:
	ref_free(&r);
	return rc;
}

/* Parse path for a change to the current value: a version or label view
 * is read-only (EROFS). r is freed by the caller whatever the answer. */
static int parse_for_change(struct ssm *s, const char *path, struct ssm_ref *r)
{
	int rc = parse_path(path, r);

	if (rc)
		return rc;
	if (has_selector(r))
		return -EROFS;
	return snapshot_fresh_for(s, r->key);
}

/* parse_for_change for a name the user gives a parameter (op: "create",
 * "rename"): EINVAL and a log line when SSM would refuse it. */
static int parse_new_name(struct ssm *s, const char *path, const char *op, struct ssm_ref *r)
{
	int rc = parse_path(path, r);

	if (rc)
		return rc == -ENOENT ? -EINVAL : rc;
	if (has_selector(r))
		return -EROFS;
	rc = ssm_check_new_name(r->key, 0);
	if (rc) {
		log_error("ssm %s %s/%s: not a name SSM accepts (letters, digits, _ . - between "
			  "slashes, at most %d levels, no aws/ssm prefix)", op, SSM_LOG_ROOT, path,
			  SSM_MAX_LEVELS);
		return rc;
	}
	return snapshot_fresh_for(s, r->key);
}

static int ssm_create(void *be, const char *path, mode_t mode, int flags, void **fh)
{
	struct ssm *s = be;
	struct ssm_ref r;
	struct ssm_file *f = NULL;
	const struct ssm_param *p;
	char *slash;
	int rc;

	(void)mode; /* the mode follows the type */
	rc = parse_new_name(s, path, "create", &r);
	if (rc)
		goto out;
	pthread_mutex_lock(&s->lock);
	p = table_find(&s->snap, r.key);
	slash = strrchr(r.key, '/');
	if (slash)
		*slash = '\0';
	if (slash && !is_folder(s, r.key))
		rc = -ENOENT;
	if (slash)
		*slash = '/';
	if (!rc && !r.selector && is_folder(s, r.key))
		rc = -EISDIR;
	if (!rc && p && (flags & O_EXCL))
		rc = -EEXIST;
	if (!rc)
		rc = file_new(r.key, &r, path, flags,
			      p ? tier_limit(p->tier) : SSM_STANDARD_MAX_VALUE, &f);
	if (!rc && !p) {
		rc = pending_add(s, r.key);
		if (!rc)
			f->created = true;
	}
	pthread_mutex_unlock(&s->lock);
	if (rc)
		goto out;
	/* Created or truncated: the value is what gets written. */
	f->loaded = true;
	f->dirty = true;
	*fh = f;
	f = NULL;
out:
	file_free(f);
	ref_free(&r);
	return rc;
}

static int ssm_read(void *be, void *fh, char *buf, size_t size, off_t off)
{
	struct ssm_file *f = fh;
	size_t n = 0;

	(void)be;
	if (off < 0)
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	if (f->loaded && (size_t)off < f->len) {
		n = f->len - (size_t)off;
		if (n > size)
			n = size;
		memcpy(buf, f->data + off, n);
	}
	pthread_mutex_unlock(&f->lock);
	return (int)n;
}

/* Called with f->lock held: refuse a value past the tier's limit (one
 * trailing newline beyond it is allowed: it is dropped). */
static int too_big(struct ssm_file *f, size_t end)
{
	if (end <= f->limit + 1)
		return 0;
	if (!f->failed)
		log_error("ssm write %s: a value may hold at most %zu bytes on this parameter's "
			  "tier; nothing is written", f->logpath, f->limit);
	f->failed = -EFBIG;
	return -EFBIG;
}

static int ssm_write(void *be, void *fh, const char *buf, size_t size, off_t off)
{
	struct ssm *s = be;
	struct ssm_file *f = fh;
	int rc = 0;

	if (off < 0)
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	if (f->failed) {
		rc = f->failed;
		goto out;
	}
	if (!f->loaded) {
		rc = file_load(s, f);
		if (rc) {
			f->failed = rc;
			goto out;
		}
	}
	if (f->flags & O_APPEND)
		off = (off_t)f->len; /* the kernel does not know the value's length */
	rc = too_big(f, size > SSM_ADVANCED_MAX_VALUE + 1 ? SIZE_MAX : (size_t)off + size);
	if (rc)
		goto out;
	if ((size_t)off > f->len)
		memset(f->data + f->len, 0, (size_t)off - f->len);
	memcpy(f->data + off, buf, size);
	if ((size_t)off + size > f->len)
		f->len = (size_t)off + size;
	f->dirty = true;
	f->written = true;
	rc = (int)size;
out:
	pthread_mutex_unlock(&f->lock);
	return rc;
}

/* A value SSM can store: UTF-8, and no NUL (JSON strings here cannot
 * carry one). */
static bool utf8_ok(const unsigned char *p, size_t n)
{
	return !memchr(p, 0, n) && util_utf8_valid((const char *)p, n);
}

/* Build and send PutParameter for f's value. Called with f->lock held. */
static int put_value(struct ssm *s, struct ssm_file *f)
{
	struct ssm_param have = { 0 }, fresh = { 0 };
	struct ssm_err err;
	char **folders = NULL;
	size_t nfolders = 0;
	json_t *body = NULL, *ans = NULL, *val;
	size_t len = f->len;
	bool exists;
	long long version = 0;
	enum ssm_type new_type;
	const char *new_key_id = f->new_key_id ? f->new_key_id : s->kms_key;
	int rc;

	if (!f->exact && len && f->data[len - 1] == '\n')
		len--; /* echo's newline (see awsfs(1)) */
	if (len == 0) {
		log_error("ssm PutParameter %s: SSM cannot store an empty value; nothing changed",
			  f->logpath);
		return -EINVAL;
	}
	if (len > f->limit) {
		log_error("ssm PutParameter %s: %zu bytes, more than the %zu this parameter's tier "
			  "allows; nothing changed", f->logpath, len, f->limit);
		return -EFBIG;
	}
	if (!utf8_ok((const unsigned char *)f->data, len)) {
		log_error("ssm PutParameter %s: SSM values are UTF-8 text without NUL bytes; "
			  "nothing changed", f->logpath);
		return -EINVAL;
	}
	/* Whatever the answer, the kept value may be old now: the next read
	 * asks SSM (read-your-writes from the source, not from a copy). */
	kept_forget(s, f->key);
	pthread_mutex_lock(&s->lock);
	{
		const struct ssm_param *p = table_find(&s->snap, f->key);

		rc = p ? param_copy(&have, p) : 0;
		exists = p != NULL;
		new_type = f->new_type >= 0 ? (enum ssm_type)f->new_type
					    : pending_type(s, pending_find(s, f->key));
	}
	pthread_mutex_unlock(&s->lock);
	if (rc)
		return rc;
	memset(&err, 0, sizeof(err));

	for (int attempt = 0; attempt < 2; attempt++) {
		enum ssm_type type = exists ? have.type : new_type;
		const char *key_id = exists ? have.key_id : new_key_id;

		body = json_pack("{s:s, s:b, s:s, s:s}", "Name", f->name, "Overwrite", exists,
				 "Type", type_names[type], "Tier",
				 exists ? have.tier : "Standard");
		val = json_stringn(f->data, len);
		if (!body && val) {
			json_wipe_string(val);
			json_decref(val);
			val = NULL;
		}
		if (!body || !val || json_object_set_new(body, "Value", val) ||
		    (type == SSM_SECURE && key_id &&
		     json_object_set_new(body, "KeyId", json_string(key_id))) ||
		    (exists &&
		     json_object_set_new(body, "DataType", json_string(have.data_type)))) {
			json_decref(body);
			rc = -ENOMEM;
			break;
		}
		rc = ssm_call(s, "PutParameter", body, f->logpath,
			      CALL_SECRET | (exists ? 0 : CALL_QUIET), &ans, &err);
		json_wipe_string(val);
		json_decref(body);
		body = NULL;
		if (rc == -EEXIST && !exists) {
			/* Created elsewhere since the listing: overwrite it with its own
			 * type, never with the default one (a SecureString stays one). */
			rc = describe_one(s, f->name, f->logpath, &have);
			if (rc == -ENOENT)
				rc = -EAGAIN;
			if (rc)
				break;
			exists = true;
			if (len > tier_limit(have.tier)) {
				log_error("ssm PutParameter %s: %zu bytes, more than the %zu "
					  "its tier allows; nothing changed", f->logpath, len,
					  tier_limit(have.tier));
				rc = -EFBIG;
				break;
			}
			continue;
		}
		if (rc && !exists)
			/* Quiet above only so that EEXIST is no error line. */
			log_error("ssm PutParameter %s: %s (HTTP %ld, request id %s): %s; "
				  "nothing changed", f->logpath, err.code, err.status,
				  err.request_id, strerror(-rc));
		break;
	}
	if (rc)
		goto out;

	jsonx_int(ans, "Version", &version);
	fresh.key = strdup(f->key);
	fresh.name = strdup(f->name);
	fresh.type = exists ? have.type : new_type;
	fresh.key_id = util_strdup0(exists ? have.key_id : new_key_id);
	fresh.version = version;
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		fresh.modified = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	}
	snprintf(fresh.tier, sizeof(fresh.tier), "%s",
		 jsonx_str(ans, "Tier") ? jsonx_str(ans, "Tier")
					: exists ? have.tier : "Standard");
	snprintf(fresh.data_type, sizeof(fresh.data_type), "%s", exists ? have.data_type : "text");
	fresh.len = (long long)len;
	if (!fresh.key || !fresh.name || (fresh.type == SSM_SECURE && !exists && new_key_id &&
					  !fresh.key_id)) {
		/* Stored, but we cannot remember it: the next listing will. */
		param_free(&fresh);
		snapshot_forget(s);
		goto out;
	}
	pthread_mutex_lock(&s->lock);
	journal_add(s, false, &fresh);
	/* Folders this write made need their markers (their listing is this). */
	rc = new_folders(s, f->key, &folders, &nfolders);
	if (table_put(&s->snap, &fresh)) {
		param_free(&fresh);
		rc = -ENOMEM;
	}
	dirs_settle(s, f->key);
	pthread_mutex_unlock(&s->lock);
	if (rc) {
		snapshot_forget(s); /* stored, but not remembered: list again */
		rc = 0;
	}
	for (size_t i = 0; i < nfolders; i++) {
		marker_put(s, folders[i]);
		free(folders[i]);
	}
	free(folders);
	sel_forget(s, f->key);
out:
	json_decref(ans);
	param_free(&have);
	return rc;
}

/* Send what was written, once. Called with f->lock held. */
static int file_commit(struct ssm *s, struct ssm_file *f)
{
	int rc;

	if (f->failed)
		return f->failed;
	if (!f->dirty)
		return 0;
	rc = put_value(s, f);
	f->dirty = false;
	f->written = false;
	if (rc)
		f->failed = rc;
	return rc;
}

/*
 * Every close(2) of a descriptor flushes, dup'd copies too: bash opens the
 * target of "echo v > f", dup2s it to 1 and closes the original before
 * echo writes. So a flush stores only what write() brought; a file that
 * was only created or truncated is stored at release (and, empty, refused
 * there with a log line).
 */
static int ssm_flush(void *be, void *fh)
{
	struct ssm_file *f = fh;
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	if (f->failed || f->written)
		rc = file_commit(be, f);
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static int ssm_fsync(void *be, void *fh)
{
	struct ssm_file *f = fh;
	int rc;

	pthread_mutex_lock(&f->lock);
	rc = file_commit(be, f);
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static int ssm_release(void *be, void *fh)
{
	struct ssm *s = be;
	struct ssm_file *f = fh;
	int rc;

	pthread_mutex_lock(&f->lock);
	rc = file_commit(s, f);
	pthread_mutex_unlock(&f->lock);
	if (f->created) {
		pthread_mutex_lock(&s->lock);
		pending_drop(s, f->key);
		pthread_mutex_unlock(&s->lock);
	}
	file_free(f);
	return rc;
}

static int resize(struct ssm *s, struct ssm_file *f, off_t size)
{
	int rc = 0;

	if (size < 0)
		return -EINVAL;
	pthread_mutex_lock(&f->lock);
	if (f->selector) {
		rc = -EROFS;
	} else if (f->failed) {
		rc = f->failed;
	} else if ((uint64_t)size > (uint64_t)f->limit + 1) {
		rc = too_big(f, SIZE_MAX);
	} else {
		if (!f->loaded && size > 0)
			rc = file_load(s, f);
		if (!rc) {
			if (!f->loaded)
				f->len = 0;
			if ((size_t)size > f->len)
				memset(f->data + f->len, 0, (size_t)size - f->len);
			f->len = (size_t)size;
			f->loaded = true;
			f->dirty = true;
			f->written = f->written || size > 0;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static int ssm_truncate(void *be, const char *path, off_t size, void *fh)
{
	void *own = NULL;
	int rc, rc2;

	if (fh)
		return resize(be, fh, size);
	/* truncate(2) on a path: open, resize, store. */
	rc = ssm_open(be, path, O_WRONLY | (size == 0 ? O_TRUNC : 0), &own);
	if (rc)
		return rc;
	rc = resize(be, own, size);
	rc2 = ssm_release(be, own);
	return rc ? rc : rc2;
}

/* ------------------------------------------------------- folders, removal */

static int ssm_unlink(void *be, const char *path)
{
	struct ssm *s = be;
	struct ssm_ref r;
	struct ssm_param *p;
	json_t *body;
	char *name = NULL, *lp = NULL;
	struct ssm_err err = { 0 };
	long long version = 0;
	int rc;

	rc = parse_for_change(s, path, &r);
	if (rc)
		goto out;
	pthread_mutex_lock(&s->lock);
	p = table_find(&s->snap, r.key);
	if (!r.selector && is_folder(s, r.key))
		rc = -EISDIR;
	else if (!p)
		rc = is_pending(s, r.key) ? -EBUSY : -ENOENT;
	else if (!(name = strdup(p->name)))
		rc = -ENOMEM;
	else
		version = p->version;
	pthread_mutex_unlock(&s->lock);
	if (rc)
		goto out;
	lp = log_path(path);
	body = json_pack("{s:s}", "Name", name);
	if (!lp || !body) {
		json_decref(body);
		rc = -ENOMEM;
		goto out;
	}
	rc = ssm_call(s, "DeleteParameter", body, lp, CALL_QUIET, NULL, &err);
	json_decref(body);
	/* Not found on a retry: the attempt whose answer was lost deleted it
	 * (DeleteParameter is not idempotent, a retried rm must be). */
	if (rc == -ENOENT && err.attempts > 1) {
		log_info("ssm DeleteParameter %s: gone on attempt %u: taken as deleted", lp,
			 err.attempts);
		rc = 0;
	} else if (rc && !err.logged) {
		log_error("ssm DeleteParameter %s: %s (HTTP %ld, request id %s)", lp, err.code,
			  err.status, err.request_id);
	}
	if (rc == 0 || rc == -ENOENT) {
		struct ssm_param gone = { .key = r.key, .name = name, .version = version };

		pthread_mutex_lock(&s->lock);
		journal_add(s, true, &gone);
		table_remove(&s->snap, r.key);
		keep_parent(s, r.key);
		pthread_mutex_unlock(&s->lock);
		sel_forget(s, r.key);
		kept_forget(s, r.key);
	}
out:
	free(name);
	free(lp);
	ref_free(&r);
	return rc;
}

/*
 * chmod. A parameter's mode shows its type (0600 SecureString, 0644 the
 * others) and a stored one's type stays: a mode that says the same is
 * accepted (cp -p, rsync -p), any other is EPERM. A file made through the
 * mount and not stored yet becomes a SecureString when chmod'ed private
 * (no access for group and others): sed -i copies the mode of what it
 * edits onto its temp file before writing the value into it, so a secret
 * never goes up as a String on its way to a rename.
 */
static int ssm_chmod(void *be, const char *path, mode_t mode)
{
	struct ssm *s = be;
	bool private = (mode & 077) == 0;
	struct ssm_pending *pd;
	const struct ssm_param *p;
	struct ssm_ref r;
	int rc = parse_for_change(s, path, &r);

	if (rc)
		goto out;
	pthread_mutex_lock(&s->lock);
	p = table_find(&s->snap, r.key);
	pd = pending_find(s, r.key);
	if (!r.selector && is_folder(s, r.key))
		rc = -EPERM;
	else if (!p && pd)
		pd->secure = pd->secure || private; /* never back to plain text */
	else if (!p)
		rc = -ENOENT;
	else if ((p->type == SSM_SECURE) != private)
		rc = -EPERM;
	pthread_mutex_unlock(&s->lock);
	if (rc == -EPERM)
		log_error("ssm chmod %s/%s: a parameter's mode shows its type (0600 SecureString, "
			  "0644 String), which chmod does not change", SSM_LOG_ROOT, path);
out:
	ref_free(&r);
	return rc;
}

/*
 * mv of a parameter: its value is stored under the new name (PutParameter:
 * a name that exists keeps its type, a new one takes the source's), then
 * the old name is deleted. This is how sed -i and editors save: a temp
 * file renamed over the parameter. Folders do not move (EPERM).
 */
static int ssm_rename(void *be, const char *from, const char *to, unsigned int flags)
{
	struct ssm *s = be;
	struct ssm_file *src = NULL, *dst = NULL;
	const struct ssm_param *p, *t;
	struct ssm_ref a = { 0 }, b = { 0 };
	enum ssm_type type = SSM_STRING;
	char *key_id = NULL;
	size_t limit = SSM_STANDARD_MAX_VALUE, dst_limit = SSM_STANDARD_MAX_VALUE;
	int rc;

	if (flags & ~(unsigned)RENAME_NOREPLACE)
		return -EINVAL;
	rc = parse_for_change(s, from, &a);
	if (!rc)
		rc = parse_new_name(s, to, "rename", &b);
	if (rc)
		goto out;
	pthread_mutex_lock(&s->lock);
	p = table_find(&s->snap, a.key);
	t = table_find(&s->snap, b.key);
	/* name@ is the parameter of a name that is also a folder */
	if (!a.selector && is_folder(s, a.key))
		rc = -EPERM;
	else if (!p)
		rc = is_pending(s, a.key) ? -EBUSY : -ENOENT;
	else if (!b.selector && is_folder(s, b.key))
		rc = -EISDIR;
	else if (is_pending(s, b.key))
		rc = -EBUSY;
	else if (t && (flags & RENAME_NOREPLACE))
		rc = -EEXIST;
	if (!rc) {
		type = p->type;
		limit = tier_limit(p->tier);
		if (t)
			dst_limit = tier_limit(t->tier);
		if (p->key_id && !(key_id = strdup(p->key_id)))
			rc = -ENOMEM;
	}
	pthread_mutex_unlock(&s->lock);
	if (rc == -EPERM)
		log_error("ssm rename %s/%s: folders do not move (that would be a PutParameter "
			  "and a DeleteParameter for each parameter below); move them one by one",
			  SSM_LOG_ROOT, from);
	else if (rc == -EBUSY)
		log_error("ssm rename %s/%s to %s/%s: a file there is still being written through "
			  "the mount; nothing moved", SSM_LOG_ROOT, from, SSM_LOG_ROOT, to);
	if (rc || strcmp(a.key, b.key) == 0)
		goto out;
	rc = file_new(a.key, &a, from, O_RDONLY, limit, &src);
	if (!rc) {
		pthread_mutex_lock(&src->lock);
		rc = file_load(s, src);
		pthread_mutex_unlock(&src->lock);
	}
	if (!rc)
		rc = file_new(b.key, &b, to, O_WRONLY, dst_limit, &dst);
	if (rc)
		goto out;
	pthread_mutex_lock(&dst->lock);
	memcpy(dst->data, src->data, src->len);
	dst->len = src->len;
	dst->loaded = true;
	dst->dirty = true;
	dst->exact = true;
	dst->new_type = (int)type;
	dst->new_key_id = key_id; /* freed with dst */
	key_id = NULL;
	rc = put_value(s, dst);
	pthread_mutex_unlock(&dst->lock);
	if (!rc)
		rc = ssm_unlink(be, from); /* its own line says why if not */
out:
	free(key_id);
	file_free(src);
	file_free(dst);
	ref_free(&a);
	ref_free(&b);
	return rc;
}

static int ssm_mkdir(void *be, const char *path, mode_t mode)
{
	struct ssm *s = be;
	char *slash;
	int rc;

	(void)mode;
	if (strchr(path, '@'))
		return -EINVAL;
	/* A folder must leave room for a parameter inside it. */
	rc = ssm_check_new_name(path, 1);
	if (rc)
		return rc;
	rc = snapshot_fresh_for(s, path);
	if (rc)
		return rc;
	pthread_mutex_lock(&s->lock);
	slash = strrchr(path, '/');
	if (is_folder(s, path) || table_find(&s->snap, path) || is_pending(s, path)) {
		rc = -EEXIST;
	} else if (slash) {
		char *parent = strndup(path, (size_t)(slash - path));

		if (!parent)
			rc = -ENOMEM;
		else if (!is_folder(s, parent))
			rc = -ENOENT;
		free(parent);
	}
	if (!rc)
		rc = dir_add(s, path);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int ssm_rmdir(void *be, const char *path)
{
	struct ssm *s = be;
	size_t plen = strlen(path);
	bool empty = true;
	int rc;

	if (strchr(path, '@'))
		return -ENOTDIR;
	rc = snapshot_fresh(s, path);
	if (rc)
		return rc;
	pthread_mutex_lock(&s->lock);
	if (!is_folder(s, path)) {
		rc = table_find(&s->snap, path) ? -ENOTDIR : -ENOENT;
		goto out;
	}
	if (table_has_below(&s->snap, path))
		empty = false;
	for (size_t i = 0; i < s->npending && empty; i++)
		if (below(s->pending[i].key, path, plen))
			empty = false;
	for (size_t i = 0; i < s->ndirs && empty; i++)
		if (below(s->dirs[i].key, path, plen))
			empty = false;
	if (!empty) {
		rc = -ENOTEMPTY;
		goto out;
	}
	/* Empty and still a folder: one mkdir (or an emptying) made. */
	for (size_t i = 0; i < s->ndirs; i++) {
		if (strcmp(s->dirs[i].key, path) == 0) {
			dir_remove_at(s, i);
			break;
		}
	}
	keep_parent(s, path);
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int ssm_utimens(void *be, const char *path, const struct timespec tv[2])
{
	struct stat st;

	(void)tv;
	/* Times are SSM's; touch on an existing file changes nothing. */
	return ssm_getattr(be, path, &st);
}

/* ---------------------------------------------------------------- xattrs */

enum { XA_TYPE, XA_VERSION, XA_LAST_MODIFIED, XA_TIER, XA_DATA_TYPE, XA_COUNT };

static const char *const xattr_names[XA_COUNT] = {
	"user.ssm.type", "user.ssm.version", "user.ssm.last_modified", "user.ssm.tier",
	"user.ssm.data_type",
};

struct xattr_set {
	char val[XA_COUNT][64];
	bool have[XA_COUNT];
};

static void iso8601(double t, char *out, size_t len)
{
	time_t sec = (time_t)t;
	long ms = (long)((t - (double)sec) * 1000.0 + 0.5);
	struct tm tm;
	char base[24];

	if (ms >= 1000) {
		sec++;
		ms -= 1000;
	}
	gmtime_r(&sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, len, "%s.%03ldZ", base, ms);
}

/* The xattrs of path: 0, -ENOENT, or 1 for a folder/new file (none). */
static int xattrs_of(struct ssm *s, const char *path, struct xattr_set *x)
{
	struct ssm_ref r;
	const struct ssm_param *p;
	struct ssm_sel sel;
	struct stat st;
	char *lp;
	int rc;

	memset(x, 0, sizeof(*x));
	if (!*path)
		return 1;
	rc = ssm_getattr(s, path, &st); /* fresh snapshot; a selector's answer cached */
	if (rc)
		return rc;
	if (S_ISDIR(st.st_mode))
		return 1;
	rc = parse_path(path, &r);
	if (rc)
		return rc;
	rc = 1;
	if (has_selector(&r)) {
		/* GetParameter names no tier: that one is left out. */
		lp = log_path(path);
		if (lp && sel_get(s, lp, &sel) == 0) {
			snprintf(x->val[XA_TYPE], 64, "%s", type_names[sel.type]);
			snprintf(x->val[XA_VERSION], 64, "%lld", sel.version);
			iso8601(sel.modified, x->val[XA_LAST_MODIFIED], 64);
			snprintf(x->val[XA_DATA_TYPE], 64, "%s", sel.data_type);
			x->have[XA_TYPE] = x->have[XA_VERSION] = x->have[XA_LAST_MODIFIED] =
				x->have[XA_DATA_TYPE] = true;
			rc = 0;
		}
		free(lp);
		ref_free(&r);
		return rc;
	}
	pthread_mutex_lock(&s->lock);
	if ((p = table_find(&s->snap, r.key))) {
		snprintf(x->val[XA_TYPE], 64, "%s", type_names[p->type]);
		snprintf(x->val[XA_VERSION], 64, "%lld", p->version);
		iso8601(p->modified, x->val[XA_LAST_MODIFIED], 64);
		snprintf(x->val[XA_TIER], 64, "%s", p->tier);
		snprintf(x->val[XA_DATA_TYPE], 64, "%s", p->data_type);
		for (int i = 0; i < XA_COUNT; i++)
			x->have[i] = true;
		rc = 0;
	}
	pthread_mutex_unlock(&s->lock);
	ref_free(&r);
	return rc;
}

static int ssm_getxattr(void *be, const char *path, const char *name, char *buf, size_t size)
{
	struct xattr_set x;
	int rc = xattrs_of(be, path, &x);
	size_t len;

	if (rc < 0)
		return rc;
	for (int i = 0; i < XA_COUNT; i++) {
		if (rc || !x.have[i] || strcmp(name, xattr_names[i]) != 0)
			continue;
		len = strlen(x.val[i]);
		if (size == 0)
			return (int)len;
		if (size < len)
			return -ERANGE;
		memcpy(buf, x.val[i], len);
		return (int)len;
	}
	return -ENODATA;
}

static int ssm_listxattr(void *be, const char *path, char *buf, size_t size)
{
	struct xattr_set x;
	int rc = xattrs_of(be, path, &x);
	size_t need = 0;

	if (rc < 0)
		return rc;
	if (rc)
		return 0;
	for (int i = 0; i < XA_COUNT; i++)
		if (x.have[i])
			need += strlen(xattr_names[i]) + 1;
	if (size == 0)
		return (int)need;
	if (size < need)
		return -ERANGE;
	for (int i = 0; i < XA_COUNT; i++) {
		if (!x.have[i])
			continue;
		memcpy(buf, xattr_names[i], strlen(xattr_names[i]) + 1);
		buf += strlen(xattr_names[i]) + 1;
	}
	return (int)need;
}

static int ssm_setxattr(void *be, const char *path, const char *name, const char *value,
			size_t size, int flags)
{
	(void)be; (void)path; (void)value; (void)size; (void)flags;
	/* The user.ssm.* attributes are SSM's own; parameters carry no others. */
	return strncmp(name, "user.ssm.", 9) == 0 ? -EPERM : -ENOTSUP;
}

/* ---------------------------------------------------------------- set-up */

static void ssm_destroy(void *be)
{
	struct ssm *s = be;

	ahead_stop(s);
	free(s->walk_dir);
	free(s->walk_end);
	for (size_t i = 0; i < SSM_AHEAD_MARKS; i++)
		free(s->marks[i]);
	table_free(&s->snap);
	for (size_t i = 0; i < s->ndirs; i++)
		free(s->dirs[i].key);
	free(s->dirs);
	for (size_t i = 0; i < s->npending; i++)
		free(s->pending[i].key);
	free(s->pending);
	for (size_t i = 0; i < s->njournal; i++)
		param_free(&s->journal[i].p);
	free(s->journal);
	free(s->kms_key);
	pthread_cond_destroy(&s->listed);
	pthread_cond_destroy(&s->fetched);
	pthread_cond_destroy(&s->work);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static const struct backend_ops ssm_ops = {
	.name = "ssm",
	.direct_io = true, /* sizes are unknown until a value is read */
	.getattr = ssm_getattr,
	.readdir = ssm_readdir,
	.open = ssm_open,
	.create = ssm_create,
	.read = ssm_read,
	.write = ssm_write,
	.flush = ssm_flush,
	.fsync = ssm_fsync,
	.release = ssm_release,
	.truncate = ssm_truncate,
	.unlink = ssm_unlink,
	.rename = ssm_rename,
	.chmod = ssm_chmod,
	.mkdir = ssm_mkdir,
	.rmdir = ssm_rmdir,
	.utimens = ssm_utimens,
	.getxattr = ssm_getxattr,
	.setxattr = ssm_setxattr,
	.listxattr = ssm_listxattr,
	.destroy = ssm_destroy,
};

int ssm_new(struct aws_client *client, const struct fs_config *cfg, const struct ssm_options *opts,
	    struct backend *out)
{
	struct ssm *s;
	enum ssm_type type = SSM_STRING;

	if (opts->new_type) {
		type = type_parse(opts->new_type);
		if (strcmp(type_names[type], opts->new_type) != 0)
			return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->client = client;
	s->cfg = cfg;
	s->new_type = type;
	if (opts->kms_key && *opts->kms_key && !(s->kms_key = strdup(opts->kms_key))) {
		free(s);
		return -ENOMEM;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->listed, NULL);
	pthread_cond_init(&s->work, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&s->fetched, &ca);
		pthread_condattr_destroy(&ca);
	}
	out->ops = &ssm_ops;
	out->be = s;
	return 0;
}

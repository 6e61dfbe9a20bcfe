/*
 * s3: S3 as files. See s3.h.
 *
 * The bucket list is kept for a few seconds so that the lookups that follow
 * a listing (ls, find) cost nothing; a name missing from a fresh list is
 * looked up again once before it is called absent.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "paginate.h"
#include "s3.h"
#include "util.h"

#define S3_BUCKET_LIST_TTL_MS 5000u
#define S3_MAX_BUCKETS 100000u  /* AWS allows 10,000 per account; a bound */

struct s3_bucket {
	char *name;
	time_t created;
};

struct s3 {
	struct aws_client *client;
	const struct fs_config *cfg;
	pthread_mutex_t lock;
	struct s3_bucket *buckets; /* protected by lock */
	size_t nbuckets;           /* protected by lock */
	uint64_t fetched_ms;       /* protected by lock; 0: never */
	bool warned_objects;       /* protected by lock */
};

struct bucket_page {
	struct s3_bucket *list;
	size_t n;
};

static void bucket_list_free(struct s3_bucket *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i].name);
	free(list);
}

static int bucket_page(void *arg, const struct xml_node *root, size_t *items, bool *stop)
{
	struct bucket_page *bp = arg;
	const struct xml_node *buckets = xml_child(root, "Buckets"), *b;

	(void)stop;
	*items = 0;
	if (!buckets)
		return 0;
	for (b = xml_child(buckets, "Bucket"); b; b = xml_next(b, "Bucket")) {
		const char *name = xml_child_text(b, "Name");
		const char *date = xml_child_text(b, "CreationDate");
		struct s3_bucket *grown;

		if (!name || !*name)
			continue;
		if (bp->n >= S3_MAX_BUCKETS)
			return -EFBIG;
		grown = realloc(bp->list, (bp->n + 1) * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		bp->list = grown;
		grown[bp->n].created = 0;
		if (date)
			util_parse_iso8601(date, &grown[bp->n].created);
		grown[bp->n].name = strdup(name);
		if (!grown[bp->n].name)
			return -ENOMEM;
		bp->n++;
		(*items)++;
	}
	return 0;
}

/* Fetch the bucket list (every page) and make it current. */
static int refresh_buckets(struct s3 *s)
{
	struct aws_request req = {
		.svc = AWS_SVC_S3,
		.op = "ListBuckets",
		.method = "GET",
		.path = "/s3",
	};
	struct bucket_page bp = { NULL, 0 };
	int rc;

	rc = paginate_xml(s->client, &req, &paginate_s3_list_buckets, NULL, bucket_page, &bp,
			  NULL);
	if (rc) {
		bucket_list_free(bp.list, bp.n);
		return rc;
	}
	pthread_mutex_lock(&s->lock);
	bucket_list_free(s->buckets, s->nbuckets);
	s->buckets = bp.list;
	s->nbuckets = bp.n;
	s->fetched_ms = util_mono_ms();
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static bool list_fresh(struct s3 *s)
{
	return s->fetched_ms && util_mono_ms() - s->fetched_ms < S3_BUCKET_LIST_TTL_MS;
}

/* Look name up in the current list: 1 found (created set), 0 not. */
static int find_bucket(struct s3 *s, const char *name, time_t *created, bool *fresh)
{
	int found = 0;

	pthread_mutex_lock(&s->lock);
	*fresh = list_fresh(s);
	for (size_t i = 0; i < s->nbuckets; i++) {
		if (strcmp(s->buckets[i].name, name) == 0) {
			*created = s->buckets[i].created;
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

static int objects_not_yet(struct s3 *s, const char *path)
{
	pthread_mutex_lock(&s->lock);
	if (!s->warned_objects) {
		s->warned_objects = true;
		log_warn("s3 %s: objects inside buckets are not served by this build yet", path);
	}
	pthread_mutex_unlock(&s->lock);
	return -ENOSYS;
}

static int s3_getattr(void *be, const char *path, struct stat *st)
{
	struct s3 *s = be;
	time_t created = 0;
	bool fresh;
	int rc;

	if (!*path) {
		fs_dir_stat(s->cfg, st);
		return 0;
	}
	if (strchr(path, '/'))
		return objects_not_yet(s, path);
	if (!find_bucket(s, path, &created, &fresh)) {
		if (fresh)
			return -ENOENT;
		rc = refresh_buckets(s);
		if (rc)
			return rc;
		if (!find_bucket(s, path, &created, &fresh))
			return -ENOENT;
	}
	fs_dir_stat(s->cfg, st);
	st->st_mtime = st->st_ctime = st->st_atime = created;
	return 0;
}

static int s3_readdir(void *be, const char *path, backend_fill_fn fill, void *sink)
{
	struct s3 *s = be;
	struct s3_bucket *copy;
	size_t n;
	int rc;

	if (*path)
		return objects_not_yet(s, path);
	rc = refresh_buckets(s);
	if (rc)
		return rc;
	/* Fill from a copy: the kernel may be slow and the list may change. */
	pthread_mutex_lock(&s->lock);
	n = s->nbuckets;
	copy = calloc(n ? n : 1, sizeof(*copy));
	for (size_t i = 0; copy && i < n; i++) {
		copy[i].created = s->buckets[i].created;
		copy[i].name = strdup(s->buckets[i].name);
		if (!copy[i].name) {
			bucket_list_free(copy, i);
			copy = NULL;
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (!copy)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		fs_dir_stat(s->cfg, &st);
		st.st_mtime = st.st_ctime = st.st_atime = copy[i].created;
		if (fill(sink, copy[i].name, &st))
			break;
	}
	bucket_list_free(copy, n);
	return 0;
}

static void s3_destroy(void *be)
{
	struct s3 *s = be;

	bucket_list_free(s->buckets, s->nbuckets);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static const struct backend_ops s3_ops = {
	.name = "s3",
	.getattr = s3_getattr,
	.readdir = s3_readdir,
	.destroy = s3_destroy,
};

int s3_new(struct aws_client *client, const struct fs_config *cfg, struct backend *out)
{
	struct s3 *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->client = client;
	s->cfg = cfg;
	pthread_mutex_init(&s->lock, NULL);
	out->ops = &s3_ops;
	out->be = s;
	return 0;
}

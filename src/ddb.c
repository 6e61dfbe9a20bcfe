/*
 * ddb: DynamoDB as files. See ddb.h.
 *
 * What is remembered, each behind its own small functions so that the
 * cache module can take their place, each for the cache's DynamoDB TTL
 * (-o ddb_ttl=, default_ttl=; DDB_TTL_MS without a cache):
 *   - the table list (getattr of a table after ls costs nothing),
 *   - table descriptions (key schema, .table.json),
 *   - the names of the last listings (lookups after ls cost nothing),
 *   - rendered items (getattr, open and getfattr after one GetItem).
 * Writes update or drop these at once (read-your-writes). Files being
 * written and temporary files are "mfiles": their bytes in memory, capped
 * at DDB_FILE_MAX. One mutex guards all of it; no AWS call is made while
 * holding it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h> /* RENAME_NOREPLACE */

#include "ddb.h"
#include "json.h"
#include "log.h"
#include "paginate.h"
#include "util.h"

#define DDB_TTL_MS 5000u                 /* every snapshot below, without a cache */
#define DDB_MAX_TABLES 100000u           /* a bound on ListTables (AWS: 10,000 a region) */
#define DDB_TABLE_NAME_MIN 3             /* DynamoDB table names: 3 to 255 of [A-Za-z0-9_.-] */
#define DDB_TABLE_NAME_MAX 255
#define DDB_ATTR_NAME_MAX 255            /* key attribute names: 1 to 255 bytes */
#define DDB_NAME_MAX 255                 /* NAME_MAX: longer names cannot be files */
#define DDB_FILE_MAX (4u << 20)          /* the text of one item file (4 MiB) */
#define DDB_MAX_RESPONSE (16u << 20)     /* Scan pages are 1 MB; items 400 KB */
#define DDB_TABLE_CACHE_MAX 64
#define DDB_LISTING_CACHE_MAX 16
#define DDB_ITEM_CACHE_MAX 256
#define DDB_TEMP_MAX 64                  /* in-memory files at once */
#define DDB_VDIR_MAX 256                 /* empty partition folders from mkdir */
#define DDB_DESC_FILE ".table.json"
#define DDB_SUFFIX ".json"
#define DDB_SUFFIX_LEN 5
#define DDB_PATH_MAX 4096

/* ------------------------------------------------------------------ */
/* State                                                               */
/* ------------------------------------------------------------------ */

struct tinfo {
	char name[DDB_TABLE_NAME_MAX + 1];
	char keyname[2][DDB_ATTR_NAME_MAX + 1];
	struct ddbjson_key keys[2]; /* names point into keyname (fix after a copy) */
	size_t nkeys;
	long long size_bytes, item_count;
	char *desc;                 /* .table.json's text (only in the cache) */
	size_t desc_len;
	uint64_t fetched_ms;
	struct tinfo *next;
};

struct listing {
	char *table;
	char *dir;                  /* "" for the table, else the partition's name */
	char **names;               /* sorted */
	size_t n;
	bool complete;              /* not cut by ddb_list_max */
	double capacity;            /* read capacity the listing consumed */
	uint64_t fetched_ms;
	struct listing *next;
};

struct icache {
	char *path;
	char *text;                 /* the file as rendered */
	size_t len;
	json_t *item;               /* the AttributeValue map */
	double capacity;            /* of the GetItem that read it */
	uint64_t fetched_ms;
	struct icache *next;
};

struct mfile {
	char *path;
	struct buf data;            /* capped at DDB_FILE_MAX */
	int refs;                   /* open handles */
	bool temp;                  /* no item name: lives here until renamed */
	bool dirty;                 /* written since the last PutItem */
	bool is_new;                /* created: no stored item to take types from */
	bool linked;                /* still in the list (not unlinked/renamed) */
	bool warned;                /* the over-size line was logged */
	int err;                    /* a write failed: flush says so once */
	struct mfile *next;
};

struct vdir {
	char *path;                 /* "T/pk" */
	struct vdir *next;
};

struct ddb {
	struct aws_client *client;
	const struct fs_config *cfg;
	struct ddb_options opts;
	uint64_t ttl_ms;            /* how long a snapshot is believed */
	pthread_mutex_t lock;
	char **tables;              /* all below: protected by lock */
	size_t ntables;
	uint64_t tables_ms;
	struct tinfo *tinfos;
	struct listing *listings;
	struct icache *items;
	struct mfile *mfiles;
	struct vdir *vdirs;
};

enum fh_mode { FH_READ, FH_MFILE };

struct ddb_fh {
	enum fh_mode mode;
	char *path;
	struct buf snap;            /* FH_READ: the contents when opened */
	struct mfile *mf;           /* FH_MFILE */
	bool writable;
};

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool fresh(const struct ddb *d, uint64_t ms)
{
	return ms && util_mono_ms() - ms < d->ttl_ms;
}

/*
 * The shared cache says how long each thing remembered here is believed: a
 * marker entry per thing (CACHE_LIST "/dynamodb/" the table list and
 * "/dynamodb/T/", "/dynamodb/T/dir/" listings; CACHE_VALUE
 * "/dynamodb/T/.table.json" a description, "/dynamodb/T/f.json" an item),
 * put when it is fetched. So
 * ddb_ttl, cache_mem and .awsfs/invalidate reach it, and .awsfs/stats
 * counts its hits and misses. The validator is DDB_MARK, or for an item a
 * hash of its text, so the kernel is told to forget a file only when it
 * changed.
 */
#define DDB_MARK "ddb"

/* A listing's marker ends in '/', so "/dynamodb/T/" then '*' reaches it. */
static void mark_path(enum cache_kind kind, const char *path, char *out, size_t size)
{
	snprintf(out, size, "/dynamodb%s%s%s", *path ? "/" : "", path,
		 kind == CACHE_LIST ? "/" : "");
}

/* Is the thing at path (fetched at ms) fresh? Called under d->lock or not. */
static bool marked_fresh(const struct ddb *d, enum cache_kind kind, const char *path,
			 uint64_t ms)
{
	char mp[DDB_PATH_MAX + 16];
	struct cache_hit hit;
	bool ok;

	if (!d->cfg->cache)
		return fresh(d, ms);
	mark_path(kind, path, mp, sizeof(mp));
	ok = cache_get(d->cfg->cache, AWS_SVC_DYNAMODB, kind, mp, &hit) == CACHE_FRESH;
	free(hit.data);
	return ok && ms;
}

static void mark(const struct ddb *d, enum cache_kind kind, const char *path, const char *text,
		 size_t len)
{
	char mp[DDB_PATH_MAX + 16], tag[SHA256_HEX_LEN + 1];

	if (!d->cfg->cache)
		return;
	mark_path(kind, path, mp, sizeof(mp));
	if (text)
		util_sha256_hex(text, len, tag);
	cache_put(d->cfg->cache, AWS_SVC_DYNAMODB, kind, mp, "1", 1, text ? tag : DDB_MARK, 0,
		  -1, 0);
}

/* "/dynamodb/<path>" for log lines (cut when very long). */
static const char *logpath(const char *path, char *out, size_t size)
{
	snprintf(out, size, "/dynamodb%s%s", *path ? "/" : "", path);
	return out;
}

/* ------------------------------------------------------------------ */
/* One DynamoDB call                                                   */
/* ------------------------------------------------------------------ */

/*
 * Call op with body. On success *out is the parsed answer (caller owns;
 * NUL in strings allowed) and *raw (when not NULL) its text (caller frees).
 * quiet: a ResourceNotFoundException is expected and not logged; every
 * other error is logged (by aws_call, or here).
 */
static int ddb_call(struct ddb *d, const char *op, const json_t *body, const char *path,
		    bool quiet, json_t **out, char **raw, size_t *rawlen,
		    struct aws_response *errinfo)
{
	struct aws_request req = { 0 };
	struct aws_response resp;
	struct buf payload;
	json_error_t jerr;
	char lp[DDB_PATH_MAX];
	int rc;

	*out = NULL;
	if (raw)
		*raw = NULL;
	buf_init(&payload, DDB_MAX_RESPONSE);
	rc = jsonx_dump(body, &payload);
	if (rc) {
		buf_free(&payload);
		return rc;
	}
	req.svc = AWS_SVC_DYNAMODB;
	req.op = op;
	req.body = payload.data;
	req.body_len = payload.len;
	req.path = logpath(path, lp, sizeof(lp));
	req.max_response = DDB_MAX_RESPONSE;
	req.quiet_errors = quiet;
	rc = aws_call(d->client, &req, &resp);
	buf_free(&payload);
	if (rc) {
		if (quiet && rc != -ENOENT && !resp.logged)
			log_error("dynamodb %s %s: %s: %s (HTTP %ld, request id %s)", op, lp,
				  resp.code, resp.message, resp.status,
				  resp.request_id[0] ? resp.request_id : "-");
		if (errinfo) {
			memcpy(errinfo->code, resp.code, sizeof(resp.code));
			memcpy(errinfo->message, resp.message, sizeof(resp.message));
		}
		aws_response_free(&resp);
		return rc;
	}
	*out = json_loadb(resp.http.body.data ? resp.http.body.data : "{}",
			  resp.http.body.len ? resp.http.body.len : 2, JSON_ALLOW_NUL, &jerr);
	if (!*out || !json_is_object(*out) || aws_json_shape_error(*out)) {
		log_error("dynamodb %s %s: malformed JSON answer (%s%s)", op, lp,
			  !*out ? jerr.text : !json_is_object(*out) ? "not an object" :
			  aws_json_shape_error(*out),
			  *out && json_is_object(*out) ? " of the wrong type" : "");
		json_decref(*out);
		*out = NULL;
		aws_response_free(&resp);
		return -EIO;
	}
	if (raw) {
		*rawlen = resp.http.body.len;
		*raw = buf_detach(&resp.http.body);
		if (!*raw) {
			json_decref(*out);
			*out = NULL;
			rc = -ENOMEM;
		}
	}
	aws_response_free(&resp);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Tables: the list and the descriptions                               */
/* ------------------------------------------------------------------ */

static bool valid_table_name(const char *s, size_t len)
{
	if (len < DDB_TABLE_NAME_MIN || len > DDB_TABLE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

struct names_acc {
	char **names;
	size_t n, cap;
};

static int acc_add(struct names_acc *a, const char *s, size_t len)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		char **grown = realloc(a->names, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		a->names = grown;
		a->cap = cap;
	}
	a->names[a->n] = strndup(s, len);
	if (!a->names[a->n])
		return -ENOMEM;
	a->n++;
	return 0;
}

/* Sort and drop repeats. */
static void acc_sort_unique(struct names_acc *a)
{
	size_t j = 0;

	if (a->n < 2)
		return;
	qsort(a->names, a->n, sizeof(*a->names), cmp_str);
	for (size_t i = 1; i < a->n; i++) {
		if (strcmp(a->names[i], a->names[j]) == 0)
			free(a->names[i]);
		else
			a->names[++j] = a->names[i];
	}
	a->n = j + 1;
}

static int tables_page(void *arg, json_t *page, size_t *items, bool *stop)
{
	struct names_acc *a = arg;
	json_t *names = jsonx_array(page, "TableNames"), *v;
	size_t i;

	(void)stop;
	*items = 0;
	json_array_foreach(names, i, v) {
		const char *s = json_string_value(v);
		int rc;

		if (!s || !valid_table_name(s, strlen(s)))
			continue;
		if (a->n >= DDB_MAX_TABLES)
			return -EFBIG;
		rc = acc_add(a, s, strlen(s));
		if (rc)
			return rc;
		(*items)++;
	}
	return 0;
}

/* ListTables, every page; the list becomes the snapshot. */
static int refresh_tables(struct ddb *d)
{
	struct names_acc a = { 0 };
	int rc = paginate_json(d->client, AWS_SVC_DYNAMODB, "ListTables", NULL, "/dynamodb",
			       &paginate_ddb_list_tables, NULL, tables_page, &a, NULL);

	if (rc) {
		free_names(a.names, a.n);
		return rc;
	}
	acc_sort_unique(&a);
	pthread_mutex_lock(&d->lock);
	free_names(d->tables, d->ntables);
	d->tables = a.names;
	d->ntables = a.n;
	d->tables_ms = util_mono_ms();
	pthread_mutex_unlock(&d->lock);
	mark(d, CACHE_LIST, "", NULL, 0);
	return 0;
}

/* A copy of the cached description's schema (desc not copied). */
static void tinfo_copy(struct tinfo *dst, const struct tinfo *src)
{
	*dst = *src;
	dst->desc = NULL;
	dst->desc_len = 0;
	dst->next = NULL;
	for (size_t i = 0; i < dst->nkeys; i++)
		dst->keys[i].name = dst->keyname[i];
}

static void tinfo_free(struct tinfo *t)
{
	if (t) {
		free(t->desc);
		free(t);
	}
}

/* Read DescribeTable's answer into a new tinfo. */
static int tinfo_parse(const char *table, json_t *ans, const char *raw, size_t rawlen,
		       struct tinfo **out)
{
	json_t *tbl = jsonx_object(ans, "Table"), *ks, *defs, *k;
	struct tinfo *t;
	struct buf desc;
	size_t i;
	int rc;

	*out = NULL;
	ks = jsonx_array(tbl, "KeySchema");
	defs = jsonx_array(tbl, "AttributeDefinitions");
	if (!ks || !defs)
		return -EIO;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	snprintf(t->name, sizeof(t->name), "%s", table);
	json_array_foreach(ks, i, k) {
		const char *an = jsonx_str(k, "AttributeName"), *kt = jsonx_str(k, "KeyType");
		size_t slot;
		json_t *def;
		size_t j;

		if (!an || !kt || strlen(an) == 0 || strlen(an) > DDB_ATTR_NAME_MAX)
			goto bad;
		slot = strcmp(kt, "HASH") == 0 ? 0 : strcmp(kt, "RANGE") == 0 ? 1 : 2;
		if (slot > 1 || t->keyname[slot][0])
			goto bad;
		snprintf(t->keyname[slot], sizeof(t->keyname[slot]), "%s", an);
		json_array_foreach(defs, j, def) {
			const char *dn = jsonx_str(def, "AttributeName");
			const char *dt = jsonx_str(def, "AttributeType");

			if (dn && dt && strcmp(dn, an) == 0 && strlen(dt) == 1 &&
			    strchr("SNB", dt[0]))
				t->keys[slot].type = dt[0];
		}
		if (!t->keys[slot].type)
			goto bad;
	}
	if (!t->keyname[0][0])
		goto bad;
	t->nkeys = t->keyname[1][0] ? 2 : 1;
	for (i = 0; i < t->nkeys; i++)
		t->keys[i].name = t->keyname[i];
	if (jsonx_int(tbl, "TableSizeBytes", &t->size_bytes))
		t->size_bytes = 0;
	if (jsonx_int(tbl, "ItemCount", &t->item_count))
		t->item_count = 0;
	buf_init(&desc, DDB_MAX_RESPONSE);
	rc = ddbjson_pretty(raw, rawlen, "Table", &desc);
	if (rc) {
		buf_free(&desc);
		tinfo_free(t);
		return rc == -ENOMEM ? rc : -EIO;
	}
	t->desc_len = desc.len;
	t->desc = buf_detach(&desc);
	if (!t->desc) {
		tinfo_free(t);
		return -ENOMEM;
	}
	t->fetched_ms = util_mono_ms();
	*out = t;
	return 0;
bad:
	tinfo_free(t);
	return -EIO;
}

/* A description's marker: "/dynamodb/T/.table.json", the file that shows it. */
static bool desc_fresh(const struct ddb *d, const struct tinfo *t)
{
	char p[DDB_PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", t->name, DDB_DESC_FILE);
	return marked_fresh(d, CACHE_VALUE, p, t->fetched_ms);
}

static void desc_mark(const struct ddb *d, const struct tinfo *t)
{
	char p[DDB_PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", t->name, DDB_DESC_FILE);
	mark(d, CACHE_VALUE, p, NULL, 0);
}

/* Put t (ownership taken) in the cache, replacing the table's entry. */
static void tinfo_store(struct ddb *d, struct tinfo *t)
{
	struct tinfo **pp, *old;
	size_t n = 0;

	pthread_mutex_lock(&d->lock);
	for (pp = &d->tinfos; *pp;) {
		if (strcmp((*pp)->name, t->name) == 0 || ++n >= DDB_TABLE_CACHE_MAX) {
			old = *pp;
			*pp = old->next;
			tinfo_free(old);
		} else {
			pp = &(*pp)->next;
		}
	}
	t->next = d->tinfos;
	d->tinfos = t;
	desc_mark(d, t);
	pthread_mutex_unlock(&d->lock);
}

/*
 * The table's schema, from the cache when fresh, else DescribeTable.
 * With desc non-NULL also a copy of .table.json's text (caller frees).
 * -ENOENT (not logged) when there is no such table.
 */
static int table_get(struct ddb *d, const char *table, struct tinfo *out, char **desc,
		     size_t *desc_len)
{
	struct tinfo *t, *got = NULL;
	json_t *ans = NULL;
	char *raw = NULL;
	size_t rawlen = 0;
	int rc;

	if (!valid_table_name(table, strlen(table)))
		return -ENOENT;
	pthread_mutex_lock(&d->lock);
	for (t = d->tinfos; t; t = t->next) {
		if (strcmp(t->name, table) == 0 && desc_fresh(d, t)) {
			tinfo_copy(out, t);
			rc = 0;
			if (desc) {
				*desc = malloc(t->desc_len + 1);
				if (*desc) {
					memcpy(*desc, t->desc, t->desc_len + 1);
					*desc_len = t->desc_len;
				} else {
					rc = -ENOMEM;
				}
			}
			pthread_mutex_unlock(&d->lock);
			return rc;
		}
	}
	pthread_mutex_unlock(&d->lock);

	{
		json_t *body = json_pack("{s:s}", "TableName", table);
		char path[DDB_TABLE_NAME_MAX + 1];

		if (!body)
			return -ENOMEM;
		snprintf(path, sizeof(path), "%s", table);
		rc = ddb_call(d, "DescribeTable", body, path, true, &ans, &raw, &rawlen, NULL);
		json_decref(body);
	}
	if (rc)
		return rc;
	rc = tinfo_parse(table, ans, raw, rawlen, &got);
	json_decref(ans);
	free(raw);
	if (rc) {
		if (rc == -EIO)
			log_error("dynamodb DescribeTable /dynamodb/%s: no usable key schema in "
				  "the answer", table);
		return rc;
	}
	tinfo_copy(out, got);
	if (desc) {
		*desc = malloc(got->desc_len + 1);
		if (!*desc) {
			tinfo_free(got);
			return -ENOMEM;
		}
		memcpy(*desc, got->desc, got->desc_len + 1);
		*desc_len = got->desc_len;
	}
	tinfo_store(d, got);
	return 0;
}

/* Whether the table exists: the fresh table list, else DescribeTable. */
static int table_exists(struct ddb *d, const char *table)
{
	struct tinfo t;
	bool known = false, found = false;

	if (!valid_table_name(table, strlen(table)))
		return -ENOENT;
	pthread_mutex_lock(&d->lock);
	if (marked_fresh(d, CACHE_LIST, "", d->tables_ms)) {
		known = true;
		found = bsearch(&table, d->tables, d->ntables, sizeof(char *), cmp_str) != NULL;
	}
	pthread_mutex_unlock(&d->lock);
	if (known && found)
		return 0;
	if (known)
		return -ENOENT;
	return table_get(d, table, &t, NULL, NULL);
}

/* ------------------------------------------------------------------ */
/* Listing snapshots                                                   */
/* ------------------------------------------------------------------ */

enum lst { LST_UNKNOWN, LST_PRESENT, LST_ABSENT };

static struct listing *listing_find(struct ddb *d, const char *table, const char *dir)
{
	for (struct listing *l = d->listings; l; l = l->next)
		if (strcmp(l->table, table) == 0 && strcmp(l->dir, dir) == 0)
			return l;
	return NULL;
}

static void listing_free(struct listing *l)
{
	if (l) {
		free(l->table);
		free(l->dir);
		free_names(l->names, l->n);
		free(l);
	}
}

/* "T" or "T/dir": where a listing's marker lives. */
static void listing_path(const struct listing *l, char *out, size_t size)
{
	snprintf(out, size, "%s%s%s", l->table, *l->dir ? "/" : "", l->dir);
}

static bool listing_fresh(const struct ddb *d, const struct listing *l)
{
	char p[DDB_PATH_MAX];

	listing_path(l, p, sizeof(p));
	return marked_fresh(d, CACHE_LIST, p, l->fetched_ms);
}

static void listing_mark(const struct ddb *d, const struct listing *l)
{
	char p[DDB_PATH_MAX];

	listing_path(l, p, sizeof(p));
	mark(d, CACHE_LIST, p, NULL, 0);
}

/* Keep a listing's names (sorted, ownership taken). */
static void listing_put(struct ddb *d, const char *table, const char *dir, char **names,
			size_t n, bool complete, double capacity)
{
	struct listing *l = calloc(1, sizeof(*l)), **pp;
	size_t count = 0;

	if (l) {
		l->table = strdup(table);
		l->dir = strdup(dir);
	}
	if (!l || !l->table || !l->dir) {
		listing_free(l);
		free_names(names, n);
		return;
	}
	l->names = names;
	l->n = n;
	l->complete = complete;
	l->capacity = capacity;
	l->fetched_ms = util_mono_ms();
	pthread_mutex_lock(&d->lock);
	for (pp = &d->listings; *pp;) {
		struct listing *old = *pp;

		if ((strcmp(old->table, table) == 0 && strcmp(old->dir, dir) == 0) ||
		    ++count >= DDB_LISTING_CACHE_MAX) {
			*pp = old->next;
			listing_free(old);
		} else {
			pp = &old->next;
		}
	}
	l->next = d->listings;
	d->listings = l;
	listing_mark(d, l);
	pthread_mutex_unlock(&d->lock);
}

static enum lst listing_lookup(struct ddb *d, const char *table, const char *dir,
			       const char *name)
{
	enum lst r = LST_UNKNOWN;
	struct listing *l;

	pthread_mutex_lock(&d->lock);
	l = listing_find(d, table, dir);
	if (l && listing_fresh(d, l)) {
		if (bsearch(&name, l->names, l->n, sizeof(char *), cmp_str))
			r = LST_PRESENT;
		else if (l->complete)
			r = LST_ABSENT;
	}
	pthread_mutex_unlock(&d->lock);
	return r;
}

/* A fresh, complete listing's names (a copy, caller frees): 0, else -ENOENT. */
static int listing_copy(struct ddb *d, const char *table, const char *dir, char ***names,
			size_t *n, double *cap)
{
	struct listing *l;
	int rc = -ENOENT;

	pthread_mutex_lock(&d->lock);
	l = listing_find(d, table, dir);
	if (l && l->complete && listing_fresh(d, l)) {
		char **v = calloc(l->n ? l->n : 1, sizeof(*v));
		size_t i = 0;

		for (; v && i < l->n; i++)
			if (!(v[i] = strdup(l->names[i])))
				break;
		if (v && i == l->n) {
			*names = v;
			*n = l->n;
			*cap = l->capacity;
			rc = 0;
		} else {
			free_names(v, i);
		}
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

/* After a write (add) or a delete (!add), so the snapshot tells the truth. */
static void listing_update(struct ddb *d, const char *table, const char *dir, const char *name,
			   bool add)
{
	struct listing *l;
	char **hit;

	pthread_mutex_lock(&d->lock);
	l = listing_find(d, table, dir);
	if (l) {
		hit = bsearch(&name, l->names, l->n, sizeof(char *), cmp_str);
		if (add && !hit) {
			char **grown = realloc(l->names, (l->n + 1) * sizeof(*grown));
			char *copy = strdup(name);
			size_t at = 0;

			if (!grown || !copy) {
				free(copy);
				if (grown)
					l->names = grown;
				l->fetched_ms = 0; /* cannot keep it right: forget it */
			} else {
				l->names = grown;
				while (at < l->n && strcmp(l->names[at], name) < 0)
					at++;
				memmove(l->names + at + 1, l->names + at,
					(l->n - at) * sizeof(*l->names));
				l->names[at] = copy;
				l->n++;
			}
		} else if (!add && hit) {
			size_t at = (size_t)(hit - l->names);

			free(*hit);
			memmove(l->names + at, l->names + at + 1,
				(l->n - at - 1) * sizeof(*l->names));
			l->n--;
		}
	}
	pthread_mutex_unlock(&d->lock);
}

/* The read capacity of the folder's last listing: 0, or -ENODATA. */
static int listing_capacity(struct ddb *d, const char *table, const char *dir, double *cap)
{
	struct listing *l;
	int rc = -ENODATA;

	pthread_mutex_lock(&d->lock);
	l = listing_find(d, table, dir);
	if (l) {
		*cap = l->capacity;
		rc = 0;
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Rendered items                                                      */
/* ------------------------------------------------------------------ */

static void icache_free(struct icache *c)
{
	if (c) {
		free(c->path);
		free(c->text);
		json_decref(c->item);
		free(c);
	}
}

static void icache_drop(struct ddb *d, const char *path)
{
	pthread_mutex_lock(&d->lock);
	for (struct icache **pp = &d->items; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->path, path) == 0) {
			struct icache *c = *pp;

			*pp = c->next;
			icache_free(c);
			break;
		}
	}
	pthread_mutex_unlock(&d->lock);
}

/* Keep a rendered item (text and item: ownership taken). */
static void icache_put(struct ddb *d, const char *path, char *text, size_t len, json_t *item,
		       double capacity)
{
	struct icache *c = calloc(1, sizeof(*c)), **pp;
	size_t n = 0;

	if (c)
		c->path = strdup(path);
	if (!c || !c->path) {
		free(c);
		free(text);
		json_decref(item);
		return;
	}
	c->text = text;
	c->len = len;
	c->item = item;
	c->capacity = capacity;
	c->fetched_ms = util_mono_ms();
	pthread_mutex_lock(&d->lock);
	for (pp = &d->items; *pp;) {
		struct icache *old = *pp;

		if (strcmp(old->path, path) == 0 || ++n >= DDB_ITEM_CACHE_MAX) {
			*pp = old->next;
			icache_free(old);
		} else {
			pp = &old->next;
		}
	}
	c->next = d->items;
	d->items = c;
	mark(d, CACHE_VALUE, c->path, c->text, c->len);
	pthread_mutex_unlock(&d->lock);
}

/* What an item read gives: any of the out-parameters may be NULL. */
struct item_view {
	char *text;      /* caller frees */
	size_t len;
	json_t *item;    /* caller decrefs */
	double capacity;
};

/* From the cache: fresh entries only unless any_age. 0 or -ENOENT. */
static int icache_get(struct ddb *d, const char *path, bool any_age, struct item_view *v,
		      bool want_text, bool want_item)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&d->lock);
	for (struct icache *c = d->items; c; c = c->next) {
		if (strcmp(c->path, path) != 0 ||
		    (!any_age && !marked_fresh(d, CACHE_VALUE, c->path, c->fetched_ms)))
			continue;
		rc = 0;
		v->len = c->len;
		v->capacity = c->capacity;
		if (want_text) {
			v->text = malloc(c->len + 1);
			if (v->text)
				memcpy(v->text, c->text, c->len + 1);
			else
				rc = -ENOMEM;
		}
		if (want_item)
			v->item = json_incref(c->item);
		break;
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Paths                                                               */
/* ------------------------------------------------------------------ */

enum pkind {
	P_ROOT,     /* dynamodb/ */
	P_TABLE,    /* T */
	P_DESC,     /* T/.table.json */
	P_ITEM,     /* T/k.json, T/pk/sk.json */
	P_PART,     /* T/pk (a table with a sort key) */
	P_OTHER,    /* any other name in a table or partition folder */
	P_BADNAME,  /* looks like an item name but encodes no key value */
};

struct dpath {
	enum pkind kind;
	char table[DDB_TABLE_NAME_MAX + 1];
	struct tinfo t;             /* kinds after P_TABLE */
	json_t *key;                /* P_ITEM: the item's key; P_PART: {pk: value} */
	char dir[DDB_PATH_MAX];     /* folder inside the table: "" or the partition */
	const char *name;           /* the last component */
};

static void dpath_free(struct dpath *p)
{
	json_decref(p->key);
	p->key = NULL;
}

static bool item_like(const char *name, size_t len)
{
	return len > DDB_SUFFIX_LEN && name[0] != '.' &&
	       memcmp(name + len - DDB_SUFFIX_LEN, DDB_SUFFIX, DDB_SUFFIX_LEN) == 0;
}

/* Add key attribute i decoded from name[0..len) to p->key. */
static int add_key(struct dpath *p, size_t i, const char *name, size_t len)
{
	json_t *av = NULL;
	int rc = ddbjson_name_decode(name, len, p->t.keys[i].type, &av);

	if (rc)
		return rc;
	if (!p->key && !(p->key = json_object())) {
		json_decref(av);
		return -ENOMEM;
	}
	return json_object_set_new(p->key, p->t.keys[i].name, av) ? -ENOMEM : 0;
}

/*
 * What path names. Needs the table's schema for anything inside a table
 * (a DescribeTable when not cached). -ENOENT for names that cannot exist.
 */
static int resolve(struct ddb *d, const char *path, struct dpath *p)
{
	const char *slash = strchr(path, '/'), *rest, *slash2;
	size_t tlen;
	int rc;

	memset(p, 0, sizeof(*p));
	if (!*path) {
		p->kind = P_ROOT;
		return 0;
	}
	tlen = slash ? (size_t)(slash - path) : strlen(path);
	if (!valid_table_name(path, tlen))
		return -ENOENT;
	memcpy(p->table, path, tlen);
	p->table[tlen] = '\0';
	if (!slash || !slash[1]) {
		p->kind = P_TABLE;
		p->name = p->table;
		return 0;
	}
	rc = table_get(d, p->table, &p->t, NULL, NULL);
	if (rc)
		return rc;
	rest = slash + 1;
	slash2 = strchr(rest, '/');
	if (!slash2) {
		size_t len = strlen(rest);

		p->name = rest;
		if (strcmp(rest, DDB_DESC_FILE) == 0) {
			p->kind = P_DESC;
			return 0;
		}
		if (p->t.nkeys == 1) {
			if (!item_like(rest, len)) {
				p->kind = P_OTHER;
				return 0;
			}
			rc = add_key(p, 0, rest, len - DDB_SUFFIX_LEN);
			p->kind = rc == 0 ? P_ITEM : P_BADNAME;
			return rc == -ENOMEM ? rc : 0;
		}
		rc = add_key(p, 0, rest, len);
		p->kind = rc == 0 ? P_PART : P_OTHER;
		return rc == -ENOMEM ? rc : 0;
	}
	/* T/<pk>/<name> */
	if (p->t.nkeys == 1 || strchr(slash2 + 1, '/') || !slash2[1] ||
	    (size_t)(slash2 - rest) >= sizeof(p->dir))
		return -ENOENT;
	memcpy(p->dir, rest, (size_t)(slash2 - rest));
	p->dir[slash2 - rest] = '\0';
	rc = add_key(p, 0, p->dir, strlen(p->dir));
	if (rc)
		return rc == -ENOMEM ? rc : -ENOENT;
	p->name = slash2 + 1;
	if (!item_like(p->name, strlen(p->name))) {
		p->kind = P_OTHER;
		return 0;
	}
	rc = add_key(p, 1, p->name, strlen(p->name) - DDB_SUFFIX_LEN);
	p->kind = rc == 0 ? P_ITEM : P_BADNAME;
	return rc == -ENOMEM ? rc : 0;
}

/* ------------------------------------------------------------------ */
/* Items                                                               */
/* ------------------------------------------------------------------ */

/* GetItem (strongly consistent), rendered and remembered. -ENOENT when
 * there is no such item. */
static int fetch_item(struct ddb *d, const char *path, const struct dpath *p,
		      struct item_view *v, bool want_text, bool want_item)
{
	json_t *body, *ans = NULL, *item;
	struct buf text;
	double cap = 0;
	int rc;

	body = json_pack("{s:s, s:O, s:b, s:s}", "TableName", p->table, "Key", p->key,
			 "ConsistentRead", 1, "ReturnConsumedCapacity", "TOTAL");
	if (!body)
		return -ENOMEM;
	rc = ddb_call(d, "GetItem", body, path, false, &ans, NULL, NULL, NULL);
	json_decref(body);
	if (rc)
		return rc;
	cap = json_number_value(json_object_get(jsonx_object(ans, "ConsumedCapacity"),
						"CapacityUnits"));
	item = jsonx_object(ans, "Item");
	if (!item) {
		json_decref(ans);
		return -ENOENT;
	}
	json_incref(item);
	json_decref(ans);
	buf_init(&text, DDB_MAX_RESPONSE);
	rc = ddbjson_render(item, d->opts.view, &text);
	if (rc) {
		char lp[DDB_PATH_MAX];

		log_error("dynamodb GetItem %s: the item holds a value this build cannot show",
			  logpath(path, lp, sizeof(lp)));
		buf_free(&text);
		json_decref(item);
		return rc == -ENOMEM ? rc : -EIO;
	}
	if (!text.data && buf_puts(&text, "")) {
		json_decref(item);
		return -ENOMEM;
	}
	v->len = text.len;
	v->capacity = cap;
	v->text = NULL;
	v->item = NULL;
	rc = 0;
	if (want_text && !(v->text = malloc(text.len + 1)))
		rc = -ENOMEM;
	else if (want_text)
		memcpy(v->text, text.data, text.len + 1);
	if (want_item)
		v->item = json_incref(item);
	icache_put(d, path, buf_detach(&text), v->len, item, cap);
	if (rc) {
		json_decref(v->item);
		v->item = NULL;
	}
	return rc;
}

/* The item, fresh from the cache or from GetItem. */
static int get_item(struct ddb *d, const char *path, const struct dpath *p, struct item_view *v,
		    bool want_text, bool want_item)
{
	memset(v, 0, sizeof(*v));
	if (icache_get(d, path, false, v, want_text, want_item) == 0)
		return v->text || !want_text ? 0 : -ENOMEM;
	return fetch_item(d, path, p, v, want_text, want_item);
}

/* The partition has at least one item: 1, 0, or a negative errno. */
static int partition_has_items(struct ddb *d, const char *path, const struct dpath *p)
{
	json_t *body, *ans = NULL, *pk = json_object_get(p->key, p->t.keys[0].name);
	int rc;

	body = json_pack("{s:s, s:s, s:{s:s}, s:{s:O}, s:i, s:b}", "TableName", p->table,
			 "KeyConditionExpression", "#k0 = :pk", "ExpressionAttributeNames", "#k0",
			 p->t.keys[0].name, "ExpressionAttributeValues", ":pk", pk, "Limit", 1,
			 "ConsistentRead", 1);
	if (!body)
		return -ENOMEM;
	rc = ddb_call(d, "Query", body, path, false, &ans, NULL, NULL, NULL);
	json_decref(body);
	if (rc)
		return rc;
	rc = json_array_size(jsonx_array(ans, "Items")) > 0;
	json_decref(ans);
	return rc;
}

/* Take the user's text (a file closed or renamed onto an item name) as the
 * item at path: PutItem. On a bad text: one log line, -EINVAL/-EFBIG, and
 * the stored item is untouched. */
static int put_item_text(struct ddb *d, const char *path, const char *text, size_t len,
			 bool is_new)
{
	char why[DDBJSON_WHY_MAX], lp[DDB_PATH_MAX];
	struct item_view old = { 0 };
	struct aws_response err;
	struct dpath p;
	json_t *item = NULL, *body, *ans = NULL;
	size_t size;
	int rc = resolve(d, path, &p);

	logpath(path, lp, sizeof(lp));
	if (rc)
		return rc;
	if (p.kind != P_ITEM) {
		dpath_free(&p);
		return -EINVAL;
	}
	/* The plain view needs the stored item to keep sets and binary. */
	if (d->opts.view == DDBJSON_PLAIN && !is_new && len > 0) {
		rc = get_item(d, path, &p, &old, false, true);
		if (rc && rc != -ENOENT)
			goto out;
	}
	rc = ddbjson_parse_item(text, len, d->opts.view, old.item, p.t.keys, p.t.nkeys, &item,
				why);
	if (!rc)
		rc = ddbjson_apply_key(item, p.t.keys, p.t.nkeys, p.key, why);
	if (rc) {
		log_error("dynamodb PutItem %s: %s; the stored item is unchanged", lp,
			  rc == -ENOMEM ? "out of memory" : why);
		goto out;
	}
	size = ddbjson_item_size(item);
	if (size > DDBJSON_ITEM_MAX) {
		log_error("dynamodb PutItem %s: the item is %zu bytes, over DynamoDB's limit of "
			  "%u (400 KB); the stored item is unchanged", lp, size, DDBJSON_ITEM_MAX);
		rc = -EFBIG;
		goto out;
	}
	body = json_pack("{s:s, s:O}", "TableName", p.table, "Item", item);
	if (!body) {
		rc = -ENOMEM;
		goto out;
	}
	memset(&err, 0, sizeof(err));
	rc = ddb_call(d, "PutItem", body, path, false, &ans, NULL, NULL, &err);
	json_decref(body);
	json_decref(ans);
	if (rc == -EINVAL && strstr(err.message, "size has exceeded"))
		rc = -EFBIG; /* aws_call's line already says why */
	/* Whatever happened, the next read asks DynamoDB (which normalizes
	 * numbers: 3.140 reads back as 3.14). */
	icache_drop(d, path);
	if (rc == 0) {
		listing_update(d, p.table, p.dir, p.name, true);
		if (p.t.nkeys == 2)
			listing_update(d, p.table, "", p.dir, true);
	}
out:
	json_decref(old.item);
	json_decref(item);
	dpath_free(&p);
	return rc;
}

static int delete_item(struct ddb *d, const char *path, const struct dpath *p)
{
	json_t *body = json_pack("{s:s, s:O}", "TableName", p->table, "Key", p->key), *ans = NULL;
	int rc;

	if (!body)
		return -ENOMEM;
	rc = ddb_call(d, "DeleteItem", body, path, false, &ans, NULL, NULL, NULL);
	json_decref(body);
	json_decref(ans);
	icache_drop(d, path);
	if (rc == 0)
		listing_update(d, p->table, p->dir, p->name, false);
	return rc;
}

/* ------------------------------------------------------------------ */
/* In-memory files                                                     */
/* ------------------------------------------------------------------ */

static struct mfile *mfile_find(struct ddb *d, const char *path)
{
	for (struct mfile *m = d->mfiles; m; m = m->next)
		if (strcmp(m->path, path) == 0)
			return m;
	return NULL;
}

static void mfile_free(struct mfile *m)
{
	if (m) {
		buf_free(&m->data);
		free(m->path);
		free(m);
	}
}

/* Take m out of the list (lock held); freed now if no handle has it. */
static void mfile_unlink(struct ddb *d, struct mfile *m)
{
	for (struct mfile **pp = &d->mfiles; *pp; pp = &(*pp)->next) {
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	}
	m->linked = false;
	m->next = NULL;
	if (m->refs == 0)
		mfile_free(m);
}

static size_t count_temps(struct ddb *d)
{
	size_t n = 0;

	for (struct mfile *m = d->mfiles; m; m = m->next)
		n += m->temp;
	return n;
}

/* A new mfile in the list (lock held). */
static struct mfile *mfile_new(struct ddb *d, const char *path, bool temp)
{
	struct mfile *m = calloc(1, sizeof(*m));

	if (!m || !(m->path = strdup(path))) {
		free(m);
		return NULL;
	}
	buf_init(&m->data, DDB_FILE_MAX);
	m->temp = temp;
	m->linked = true;
	m->next = d->mfiles;
	d->mfiles = m;
	return m;
}

/* Size of the mfile at path: 0, or -ENOENT. */
static int mfile_size(struct ddb *d, const char *path, bool temp_only, off_t *size)
{
	struct mfile *m;
	int rc = -ENOENT;

	pthread_mutex_lock(&d->lock);
	m = mfile_find(d, path);
	if (m && (m->temp || !temp_only)) {
		*size = (off_t)m->data.len;
		rc = 0;
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

/* Resize m's data (lock held): zeros when it grows. */
static int mfile_resize(struct mfile *m, size_t size)
{
	static const char zeros[4096];

	if (size > DDB_FILE_MAX)
		return -EFBIG;
	while (m->data.len < size) {
		size_t n = size - m->data.len;
		int rc = buf_append(&m->data, zeros, n < sizeof(zeros) ? n : sizeof(zeros));

		if (rc)
			return rc;
	}
	m->data.len = size;
	if (m->data.data)
		m->data.data[size] = '\0';
	return 0;
}

static bool vdir_has(struct ddb *d, const char *path)
{
	bool found = false;

	pthread_mutex_lock(&d->lock);
	for (struct vdir *v = d->vdirs; v && !found; v = v->next)
		found = strcmp(v->path, path) == 0;
	pthread_mutex_unlock(&d->lock);
	return found;
}

static void vdir_drop(struct ddb *d, const char *path)
{
	pthread_mutex_lock(&d->lock);
	for (struct vdir **pp = &d->vdirs; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->path, path) == 0) {
			struct vdir *v = *pp;

			*pp = v->next;
			free(v->path);
			free(v);
			break;
		}
	}
	pthread_mutex_unlock(&d->lock);
}

/* Whether a temporary file lives directly in folder dirpath ("T/pk"). */
static bool temps_in(struct ddb *d, const char *dirpath)
{
	size_t n = strlen(dirpath);
	bool found = false;

	pthread_mutex_lock(&d->lock);
	for (struct mfile *m = d->mfiles; m && !found; m = m->next)
		found = m->temp && strncmp(m->path, dirpath, n) == 0 && m->path[n] == '/' &&
			!strchr(m->path + n + 1, '/');
	pthread_mutex_unlock(&d->lock);
	return found;
}

/* ------------------------------------------------------------------ */
/* Listings                                                            */
/* ------------------------------------------------------------------ */

struct seg {
	struct ddb *d;
	const struct tinfo *t;
	const char *path;
	const json_t *pk;           /* Query: the partition; NULL for a Scan */
	unsigned segment, total;
	struct names_acc acc;
	char *last;                 /* last partition name added (Scan of pk+sk) */
	double capacity;
	size_t *count;              /* items read by every segment (atomic) */
	bool *cut;                  /* ddb_list_max reached (atomic) */
	size_t toolong;
	int rc;
	struct log_capture log;     /* its error lines, written once by list_keys */
};

/* A key value's file name component; 0, -ENAMETOOLONG or a buf error. */
static int key_name(const json_t *av, bool suffix, struct buf *out)
{
	int rc;

	buf_reset(out);
	rc = ddbjson_name_encode(av, out);
	if (!rc && suffix)
		rc = buf_puts(out, DDB_SUFFIX);
	if (rc == -EFBIG)
		return -ENAMETOOLONG;
	if (!rc && out->len > DDB_NAME_MAX)
		return -ENAMETOOLONG;
	return rc;
}

static int seg_page(void *arg, json_t *page, size_t *items, bool *stop)
{
	struct seg *s = arg;
	json_t *list = jsonx_array(page, "Items"), *item;
	size_t max = s->d->opts.list_max, i;
	struct buf name;
	int rc = 0;

	*items = 0;
	s->capacity += json_number_value(json_object_get(jsonx_object(page, "ConsumedCapacity"),
							 "CapacityUnits"));
	buf_init(&name, DDB_PATH_MAX);
	json_array_foreach(list, i, item) {
		/* A table listing names partitions (pk) or items (pk only); a
		 * partition listing names items by their sort key. */
		size_t which = s->pk ? 1 : 0;
		bool file = s->pk || s->t->nkeys == 1;
		json_t *av = json_object_get(item, s->t->keys[which].name);

		if (__atomic_load_n(s->cut, __ATOMIC_RELAXED)) {
			*stop = true;
			break;
		}
		if (__atomic_add_fetch(s->count, 1, __ATOMIC_RELAXED) > max) {
			__atomic_store_n(s->cut, true, __ATOMIC_RELAXED);
			*stop = true;
			break;
		}
		(*items)++;
		if (!av)
			continue;
		rc = key_name(av, file, &name);
		if (rc == -ENAMETOOLONG || rc == -EINVAL) {
			s->toolong += rc == -ENAMETOOLONG;
			rc = 0;
			continue;
		}
		if (rc)
			break;
		if (!file && s->last && strcmp(s->last, name.data) == 0)
			continue;
		rc = acc_add(&s->acc, name.data, name.len);
		if (rc)
			break;
		if (!file)
			s->last = s->acc.names[s->acc.n - 1];
	}
	buf_free(&name);
	return rc;
}

static void run_segment(struct seg *s)
{
	json_t *body;
	const char *op = s->pk ? "Query" : "Scan";

	body = json_pack("{s:s, s:b, s:s, s:{s:s}}", "TableName", s->t->name, "ConsistentRead", 1,
			 "ReturnConsumedCapacity", "TOTAL", "ExpressionAttributeNames", "#k0",
			 s->t->keys[0].name);
	if (!body) {
		s->rc = -ENOMEM;
		return;
	}
	if (s->t->nkeys == 2) {
		if (json_object_set_new(json_object_get(body, "ExpressionAttributeNames"), "#k1",
					json_string(s->t->keys[1].name)) ||
		    json_object_set_new(body, "ProjectionExpression", json_string("#k0, #k1")))
			s->rc = -ENOMEM;
	} else if (json_object_set_new(body, "ProjectionExpression", json_string("#k0"))) {
		s->rc = -ENOMEM;
	}
	if (!s->rc && s->pk &&
	    (json_object_set_new(body, "KeyConditionExpression", json_string("#k0 = :pk")) ||
	     json_object_set_new(body, "ExpressionAttributeValues",
				 json_pack("{s:O}", ":pk", s->pk))))
		s->rc = -ENOMEM;
	if (!s->rc && !s->pk && s->total > 1 &&
	    (json_object_set_new(body, "Segment", json_integer(s->segment)) ||
	     json_object_set_new(body, "TotalSegments", json_integer(s->total))))
		s->rc = -ENOMEM;
	if (!s->rc) {
		log_capture_begin(&s->log);
		s->rc = paginate_json(s->d->client, AWS_SVC_DYNAMODB, op, body, s->path,
				      &paginate_ddb_scan, NULL, seg_page, s, NULL);
		log_capture_end(&s->log);
	}
	json_decref(body);
}

static void *seg_thread(void *arg)
{
	run_segment(arg);
	return NULL;
}

unsigned ddb_scan_segments_for(long long table_bytes, long long item_count, size_t list_max,
			       unsigned max)
{
	long double bytes = (long double)table_bytes;
	long double n;

	if (max < 1)
		max = 1;
	if (table_bytes <= 0)
		return 1;
	/* A listing stops at list_max items: it reads that share of the data. */
	if (item_count > 0 && (unsigned long long)item_count > list_max)
		bytes = bytes * (long double)list_max / (long double)item_count;
	n = bytes / (long double)DDB_SCAN_SEGMENT_BYTES + 1;
	return n >= (long double)max ? max : (unsigned)n;
}

/*
 * List a table (Scan, in parallel segments: ddb_scan_segments) or a
 * partition (pk non-NULL: Query), keys only. *names is sorted, without
 * repeats (caller frees); *cut says whether ddb_list_max stopped it.
 */
static int list_keys(struct ddb *d, const struct tinfo *t, const json_t *pk, const char *path,
		     char ***names, size_t *n, bool *cut, double *capacity)
{
	unsigned total = pk ? 1
		: d->opts.scan_segments != DDB_AUTO_SCAN_SEGMENTS
			? d->opts.scan_segments
			: ddb_scan_segments_for(t->size_bytes, t->item_count, d->opts.list_max,
						DDB_AUTO_SCAN_SEGMENTS_MAX);
	struct seg *segs = calloc(total, sizeof(*segs));
	pthread_t *tids = calloc(total, sizeof(*tids));
	bool *started = calloc(total, sizeof(*started));
	struct names_acc all = { 0 };
	char lp[DDB_PATH_MAX];
	size_t count = 0, toolong = 0;
	int rc = 0;

	*cut = false;
	*capacity = 0;
	logpath(path, lp, sizeof(lp));
	if (!pk && d->opts.scan_segments == DDB_AUTO_SCAN_SEGMENTS)
		log_debug("dynamodb Scan %s: %u segment%s for %lld bytes, %lld items "
			  "(DescribeTable's figures)", lp, total, total == 1 ? "" : "s",
			  t->size_bytes, t->item_count);
	if (!segs || !tids || !started) {
		free(segs);
		free(tids);
		free(started);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < total; i++) {
		segs[i] = (struct seg){ .d = d, .t = t, .path = lp, .pk = pk, .segment = i,
					.total = total, .count = &count, .cut = cut };
	}
	/* Segment 0 runs here; the others in threads (inline if none start). */
	for (unsigned i = 1; i < total; i++)
		started[i] = pthread_create(&tids[i], NULL, seg_thread, &segs[i]) == 0;
	run_segment(&segs[0]);
	for (unsigned i = 1; i < total; i++) {
		if (started[i])
			pthread_join(tids[i], NULL);
		else
			run_segment(&segs[i]);
	}
	/* Segments failing alike say it once. */
	for (unsigned i = 0; i < total; i++) {
		bool said = false;

		for (unsigned j = 0; j < i && !said; j++)
			said = segs[j].log.n && strcmp(segs[j].log.line, segs[i].log.line) == 0;
		if (!said)
			log_capture_emit(&segs[i].log);
	}
	for (unsigned i = 0; i < total; i++) {
		struct seg *s = &segs[i];

		if (!rc && s->rc)
			rc = s->rc;
		*capacity += s->capacity;
		toolong += s->toolong;
		for (size_t j = 0; j < s->acc.n; j++) {
			if (!rc && all.n == all.cap) {
				size_t cap = all.cap ? all.cap * 2 : 256;
				char **grown = realloc(all.names, cap * sizeof(*grown));

				if (!grown) {
					rc = -ENOMEM;
				} else {
					all.names = grown;
					all.cap = cap;
				}
			}
			if (rc)
				free(s->acc.names[j]);
			else
				all.names[all.n++] = s->acc.names[j];
		}
		free(s->acc.names);
	}
	free(segs);
	free(tids);
	free(started);
	if (rc) {
		free_names(all.names, all.n);
		return rc;
	}
	acc_sort_unique(&all);
	if (*cut)
		log_warn("dynamodb %s %s: listing cut after %zu items (-o ddb_list_max=%zu)",
			 pk ? "Query" : "Scan", lp, d->opts.list_max, d->opts.list_max);
	if (toolong)
		log_warn("dynamodb %s %s: %zu key%s too long for a file name (255 bytes) not "
			 "shown", pk ? "Query" : "Scan", lp, toolong, toolong == 1 ? "" : "s");
	*names = all.names;
	*n = all.n;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Backend operations                                                  */
/* ------------------------------------------------------------------ */

static int file_attr(struct ddb *d, struct stat *st, off_t size, mode_t perm)
{
	fs_file_stat(d->cfg, st, size, perm);
	return 0;
}

static int ddb_getattr(void *be, const char *path, struct stat *st)
{
	struct ddb *d = be;
	struct item_view v;
	struct dpath p;
	off_t size = 0;
	char *desc = NULL;
	size_t dlen = 0;
	int rc = resolve(d, path, &p);

	if (rc)
		return rc;
	switch (p.kind) {
	case P_ROOT:
		fs_dir_stat(d->cfg, st);
		break;
	case P_TABLE:
		rc = table_exists(d, p.table);
		if (!rc)
			fs_dir_stat(d->cfg, st);
		break;
	case P_DESC:
		rc = table_get(d, p.table, &p.t, &desc, &dlen);
		if (!rc)
			file_attr(d, st, (off_t)dlen, 0444);
		free(desc);
		break;
	case P_OTHER:
		rc = mfile_size(d, path, true, &size);
		if (!rc)
			file_attr(d, st, size, 0644);
		break;
	case P_BADNAME:
		rc = -ENOENT;
		break;
	case P_PART: {
		char dirpath[DDB_PATH_MAX];
		enum lst l;

		if (mfile_size(d, path, true, &size) == 0) {
			file_attr(d, st, size, 0644);
			break;
		}
		fs_dir_stat(d->cfg, st);
		snprintf(dirpath, sizeof(dirpath), "%s", path);
		if (vdir_has(d, dirpath) || temps_in(d, dirpath))
			break;
		l = listing_lookup(d, p.table, "", p.name);
		if (l == LST_PRESENT)
			break;
		if (l == LST_ABSENT) {
			rc = -ENOENT;
			break;
		}
		rc = partition_has_items(d, path, &p);
		rc = rc == 1 ? 0 : rc == 0 ? -ENOENT : rc;
		break;
	}
	case P_ITEM: {
		enum lst l;

		if (mfile_size(d, path, false, &size) == 0) {
			file_attr(d, st, size, 0644);
			break;
		}
		memset(&v, 0, sizeof(v));
		if (icache_get(d, path, false, &v, false, false) == 0) {
			file_attr(d, st, (off_t)v.len, 0644);
			break;
		}
		l = listing_lookup(d, p.table, p.dir, p.name);
		if (l == LST_PRESENT) {
			/* Size unknown until read: files are read to EOF (direct_io). */
			file_attr(d, st, 0, 0644);
			break;
		}
		if (l == LST_ABSENT) {
			rc = -ENOENT;
			break;
		}
		rc = fetch_item(d, path, &p, &v, false, false);
		if (!rc)
			file_attr(d, st, (off_t)v.len, 0644);
		break;
	}
	}
	dpath_free(&p);
	return rc;
}

struct filler {
	struct ddb *d;
	backend_fill_fn fill;
	void *sink;
	bool full;
};

static void fill_name(struct filler *f, const char *name, bool dir, off_t size)
{
	struct stat st;

	if (f->full)
		return;
	if (dir)
		fs_dir_stat(f->d->cfg, &st);
	else
		fs_file_stat(f->d->cfg, &st, size, 0644);
	f->full = f->fill(f->sink, name, &st) != 0;
}

/* Temporary files and (for the table of a pk+sk table) mkdir'd
 * partitions directly in folder dirpath, not among names. */
static int fill_extras(struct filler *f, const char *dirpath, char **names, size_t n)
{
	struct ddb *d = f->d;
	size_t len = strlen(dirpath);
	struct names_acc files = { 0 }, dirs = { 0 };
	int rc = 0;

	pthread_mutex_lock(&d->lock);
	for (struct mfile *m = d->mfiles; m && !rc; m = m->next)
		if (strncmp(m->path, dirpath, len) == 0 && m->path[len] == '/' &&
		    !strchr(m->path + len + 1, '/'))
			rc = acc_add(&files, m->path + len + 1, strlen(m->path + len + 1));
	for (struct vdir *v = d->vdirs; v && !rc; v = v->next)
		if (strncmp(v->path, dirpath, len) == 0 && v->path[len] == '/')
			rc = acc_add(&dirs, v->path + len + 1, strlen(v->path + len + 1));
	pthread_mutex_unlock(&d->lock);
	for (size_t i = 0; i < files.n; i++) {
		const char *nm = files.names[i];

		if (!bsearch(&nm, names, n, sizeof(char *), cmp_str))
			fill_name(f, nm, false, 0);
	}
	for (size_t i = 0; i < dirs.n; i++) {
		const char *nm = dirs.names[i];

		if (!bsearch(&nm, names, n, sizeof(char *), cmp_str))
			fill_name(f, nm, true, 0);
	}
	free_names(files.names, files.n);
	free_names(dirs.names, dirs.n);
	return rc;
}

static int ddb_readdir(void *be, const char *path, backend_fill_fn fill, void *sink)
{
	struct ddb *d = be;
	struct filler f = { d, fill, sink, false };
	struct dpath p;
	char **names = NULL, **copy;
	size_t n = 0;
	bool cut = false, cached = false;
	double cap = 0;
	int rc = resolve(d, path, &p);

	if (rc)
		return rc;
	switch (p.kind) {
	case P_ROOT:
		pthread_mutex_lock(&d->lock);
		cut = marked_fresh(d, CACHE_LIST, "", d->tables_ms); /* (cut: fresh here) */
		pthread_mutex_unlock(&d->lock);
		rc = cut ? 0 : refresh_tables(d);
		cut = false;
		if (rc)
			break;
		pthread_mutex_lock(&d->lock);
		n = d->ntables;
		copy = calloc(n ? n : 1, sizeof(*copy));
		for (size_t i = 0; copy && i < n; i++) {
			if (!(copy[i] = strdup(d->tables[i]))) {
				free_names(copy, i);
				copy = NULL;
			}
		}
		pthread_mutex_unlock(&d->lock);
		if (!copy) {
			rc = -ENOMEM;
			break;
		}
		for (size_t i = 0; i < n; i++)
			fill_name(&f, copy[i], true, 0);
		free_names(copy, n);
		break;
	case P_TABLE:
		rc = table_get(d, p.table, &p.t, NULL, NULL);
		if (rc)
			break;
		cached = listing_copy(d, p.table, "", &names, &n, &cap) == 0;
		if (!cached)
			rc = list_keys(d, &p.t, NULL, path, &names, &n, &cut, &cap);
		if (rc)
			break;
		fill_name(&f, DDB_DESC_FILE, false, 0);
		for (size_t i = 0; i < n; i++)
			fill_name(&f, names[i], p.t.nkeys == 2, 0);
		rc = fill_extras(&f, path, names, n);
		if (cached)
			free_names(names, n); /* (not renewed: it was read, not fetched) */
		else
			listing_put(d, p.table, "", names, n, !cut, cap);
		break;
	case P_PART:
		if (mfile_size(d, path, true, &(off_t){ 0 }) == 0) {
			rc = -ENOTDIR;
			break;
		}
		cached = listing_copy(d, p.table, p.name, &names, &n, &cap) == 0;
		if (!cached)
			rc = list_keys(d, &p.t, json_object_get(p.key, p.t.keys[0].name), path,
				       &names, &n, &cut, &cap);
		if (rc)
			break;
		for (size_t i = 0; i < n; i++)
			fill_name(&f, names[i], false, 0);
		rc = fill_extras(&f, path, names, n);
		if (cached)
			free_names(names, n);
		else
			listing_put(d, p.table, p.name, names, n, !cut, cap);
		break;
	default:
		rc = -ENOTDIR;
	}
	dpath_free(&p);
	return rc;
}

static struct ddb_fh *fh_new(const char *path, enum fh_mode mode)
{
	struct ddb_fh *fh = calloc(1, sizeof(*fh));

	if (!fh || !(fh->path = strdup(path))) {
		free(fh);
		return NULL;
	}
	fh->mode = mode;
	buf_init(&fh->snap, DDB_MAX_RESPONSE);
	return fh;
}

static void fh_free(struct ddb_fh *fh)
{
	if (fh) {
		buf_free(&fh->snap);
		free(fh->path);
		free(fh);
	}
}

/* Give fh a reference to m, emptied first with trunc (lock held). */
static void join_locked(struct mfile *m, struct ddb_fh *fh, bool trunc)
{
	if (trunc) {
		mfile_resize(m, 0);
		m->dirty = !m->temp;
	}
	m->refs++;
	fh->mf = m;
}

/* Attach a handle to the mfile at path if there is one: 0, or -ENOENT.
 * Finding and attaching under one lock: a file whose last handle closes
 * meanwhile is not mistaken for an empty one. */
static int attach_existing(struct ddb *d, struct ddb_fh *fh, const char *path, bool temp_only,
			   bool trunc)
{
	struct mfile *m;

	pthread_mutex_lock(&d->lock);
	m = mfile_find(d, path);
	if (m && (m->temp || !temp_only))
		join_locked(m, fh, trunc);
	pthread_mutex_unlock(&d->lock);
	return fh->mf ? 0 : -ENOENT;
}

/* Attach a handle to the mfile at path (created when absent, as an item
 * file or a temp file). With init non-NULL a new mfile starts with it. */
static int attach_mfile(struct ddb *d, struct ddb_fh *fh, const char *path, bool temp,
			bool is_new, bool trunc, const char *init, size_t init_len)
{
	struct mfile *m;
	int rc = 0;

	pthread_mutex_lock(&d->lock);
	m = mfile_find(d, path);
	if (!m) {
		if (temp && count_temps(d) >= DDB_TEMP_MAX) {
			pthread_mutex_unlock(&d->lock);
			log_error("dynamodb /dynamodb/%s: more than %d temporary files at once",
				  path, DDB_TEMP_MAX);
			return -ENOSPC;
		}
		m = mfile_new(d, path, temp);
		if (!m) {
			pthread_mutex_unlock(&d->lock);
			return -ENOMEM;
		}
		m->is_new = is_new;
		m->dirty = is_new && !temp;
		if (init)
			rc = buf_append(&m->data, init, init_len);
	}
	if (!rc)
		join_locked(m, fh, trunc);
	else if (m->refs == 0)
		mfile_unlink(d, m);
	pthread_mutex_unlock(&d->lock);
	return rc;
}

static int ddb_open(void *be, const char *path, int flags, void **out)
{
	struct ddb *d = be;
	bool writable = (flags & O_ACCMODE) != O_RDONLY;
	struct item_view v = { 0 };
	struct ddb_fh *fh = NULL;
	struct dpath p;
	char *desc = NULL;
	size_t dlen = 0;
	int rc = resolve(d, path, &p);

	if (rc)
		return rc;
	switch (p.kind) {
	case P_DESC:
		if (writable) {
			rc = -EACCES;
			break;
		}
		rc = table_get(d, p.table, &p.t, &desc, &dlen);
		if (!rc && !(fh = fh_new(path, FH_READ)))
			rc = -ENOMEM;
		if (!rc)
			rc = buf_append(&fh->snap, desc, dlen);
		free(desc);
		break;
	case P_OTHER:
	case P_PART:
		fh = fh_new(path, FH_MFILE);
		rc = fh ? attach_existing(d, fh, path, true, flags & O_TRUNC)
			: -ENOMEM;
		if (rc == -ENOENT && p.kind == P_PART)
			rc = -EISDIR;
		break;
	case P_ITEM:
		/* A file being written is read and written where it is. */
		fh = fh_new(path, FH_MFILE);
		rc = fh ? attach_existing(d, fh, path, false, flags & O_TRUNC)
			: -ENOMEM;
		if (rc != -ENOENT)
			break;
		if (writable) {
			if (!(flags & O_TRUNC)) {
				rc = get_item(d, path, &p, &v, true, false);
				if (rc)
					break;
			}
			/* If a writer made the file meanwhile, this joins it. */
			rc = attach_mfile(d, fh, path, false, false, flags & O_TRUNC,
					  v.text ? v.text : "", v.len);
			break;
		}
		rc = get_item(d, path, &p, &v, true, false);
		if (!rc) {
			fh->mode = FH_READ;
			rc = buf_append(&fh->snap, v.text, v.len);
		}
		break;
	case P_BADNAME:
		rc = -ENOENT;
		break;
	default:
		rc = -EISDIR;
	}
	free(v.text);
	dpath_free(&p);
	if (rc) {
		if (fh && fh->mf) {
			pthread_mutex_lock(&d->lock);
			fh->mf->refs--;
			pthread_mutex_unlock(&d->lock);
		}
		fh_free(fh);
		return rc;
	}
	fh->writable = writable;
	*out = fh;
	return 0;
}

static int ddb_create(void *be, const char *path, mode_t mode, int flags, void **out)
{
	struct ddb *d = be;
	struct ddb_fh *fh = NULL;
	struct dpath p;
	char lp[DDB_PATH_MAX];
	int rc = resolve(d, path, &p);

	(void)mode;
	(void)flags;
	if (rc)
		return rc;
	switch (p.kind) {
	case P_ITEM:
	case P_OTHER:
	case P_PART:
		fh = fh_new(path, FH_MFILE);
		rc = fh ? attach_mfile(d, fh, path, p.kind != P_ITEM, true, true, NULL, 0)
			: -ENOMEM;
		break;
	case P_BADNAME:
		log_error("dynamodb create %s: '%s' is no item name: a key value is UTF-8 text "
			  "with '%%' written as %%25, '/' as %%2F (awsfs(1), DYNAMODB)",
			  logpath(path, lp, sizeof(lp)), p.name);
		rc = -EINVAL;
		break;
	case P_DESC:
		rc = -EACCES;
		break;
	default:
		rc = -EPERM;
	}
	dpath_free(&p);
	if (rc) {
		fh_free(fh);
		return rc;
	}
	fh->writable = true;
	*out = fh;
	return 0;
}

static int ddb_read(void *be, void *handle, char *buf, size_t size, off_t off)
{
	struct ddb *d = be;
	struct ddb_fh *fh = handle;
	size_t n = 0;

	if (off < 0)
		return -EINVAL;
	if (fh->mode == FH_READ) {
		if ((size_t)off < fh->snap.len) {
			n = fh->snap.len - (size_t)off;
			if (n > size)
				n = size;
			memcpy(buf, fh->snap.data + off, n);
		}
		return (int)n;
	}
	pthread_mutex_lock(&d->lock);
	if ((size_t)off < fh->mf->data.len) {
		n = fh->mf->data.len - (size_t)off;
		if (n > size)
			n = size;
		memcpy(buf, fh->mf->data.data + off, n);
	}
	pthread_mutex_unlock(&d->lock);
	return (int)n;
}

static int ddb_write(void *be, void *handle, const char *buf, size_t size, off_t off)
{
	struct ddb *d = be;
	struct ddb_fh *fh = handle;
	struct mfile *m = fh->mf;
	char lp[DDB_PATH_MAX];
	int rc;

	if (fh->mode != FH_MFILE || !fh->writable)
		return -EBADF;
	if (off < 0)
		return -EINVAL;
	pthread_mutex_lock(&d->lock);
	if ((uint64_t)off + size > DDB_FILE_MAX) {
		rc = -EFBIG;
		if (!m->warned)
			log_error("dynamodb %s: over %u bytes, more than any item's text (items "
				  "are at most 400 KB); nothing is stored",
				  logpath(fh->path, lp, sizeof(lp)), DDB_FILE_MAX);
		m->warned = true;
		if (!m->temp) {
			m->dirty = false; /* the stored item stays as it is */
			m->err = -EFBIG;
		}
	} else {
		rc = (uint64_t)off + size > m->data.len ? mfile_resize(m, (size_t)off + size) : 0;
		if (!rc && size) {
			memcpy(m->data.data + off, buf, size);
			m->dirty = !m->temp;
			m->err = 0;
			rc = (int)size;
		}
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

/*
 * PutItem of a dirty item file. An empty file is refused, but quietly
 * until the last close (final): a shell's "> file" opens, dup2()s and
 * closes the file once before anything is written.
 */
static int flush_mfile(struct ddb *d, struct ddb_fh *fh, bool final)
{
	struct mfile *m = fh->mf;
	char *text = NULL;
	size_t len = 0;
	bool is_new;
	int rc;

	if (fh->mode != FH_MFILE || !m)
		return 0;
	pthread_mutex_lock(&d->lock);
	if (m->err) {
		rc = m->err;
		m->err = 0;
		pthread_mutex_unlock(&d->lock);
		return rc;
	}
	if (m->temp || !m->dirty || !m->linked) {
		pthread_mutex_unlock(&d->lock);
		return 0;
	}
	if (m->data.len == 0 && !final) {
		pthread_mutex_unlock(&d->lock);
		return -EINVAL;
	}
	m->dirty = false; /* one try: a bad text is not sent again at release */
	is_new = m->is_new;
	len = m->data.len;
	text = malloc(len + 1);
	if (text)
		memcpy(text, m->data.data ? m->data.data : "", len);
	pthread_mutex_unlock(&d->lock);
	if (!text)
		return -ENOMEM;
	rc = put_item_text(d, m->path, text, len, is_new);
	free(text);
	if (rc == 0) {
		pthread_mutex_lock(&d->lock);
		m->is_new = false;
		pthread_mutex_unlock(&d->lock);
	}
	return rc;
}

static int ddb_flush(void *be, void *handle)
{
	return flush_mfile(be, handle, false);
}

static int ddb_fsync(void *be, void *handle)
{
	return flush_mfile(be, handle, false);
}

static int ddb_release(void *be, void *handle)
{
	struct ddb *d = be;
	struct ddb_fh *fh = handle;
	int rc = flush_mfile(d, fh, true);

	if (fh->mf) {
		pthread_mutex_lock(&d->lock);
		fh->mf->refs--;
		if (fh->mf->refs == 0) {
			if (!fh->mf->linked)
				mfile_free(fh->mf);
			else if (!fh->mf->temp)
				mfile_unlink(d, fh->mf); /* item files live while open */
		}
		pthread_mutex_unlock(&d->lock);
	}
	fh_free(fh);
	return rc;
}

static int ddb_truncate(void *be, const char *path, off_t size, void *handle)
{
	struct ddb *d = be;
	struct ddb_fh *fh = handle;
	struct mfile *m = NULL;
	struct dpath p;
	int rc;

	if (size < 0)
		return -EINVAL;
	pthread_mutex_lock(&d->lock);
	if (fh && fh->mode == FH_MFILE)
		m = fh->mf;
	else
		m = mfile_find(d, path);
	if (m) {
		rc = mfile_resize(m, (size_t)size);
		if (!rc)
			m->dirty = !m->temp;
		pthread_mutex_unlock(&d->lock);
		return rc;
	}
	pthread_mutex_unlock(&d->lock);
	rc = resolve(d, path, &p);
	if (rc)
		return rc;
	/* Truncating a stored item to nothing comes before an open with
	 * O_TRUNC, which does the work; anything else would store broken JSON. */
	if (p.kind == P_ITEM)
		rc = size == 0 ? 0 : -EINVAL;
	else
		rc = p.kind == P_DESC ? -EACCES : p.kind == P_OTHER ? -ENOENT : -EISDIR;
	dpath_free(&p);
	return rc;
}

static int ddb_unlink(void *be, const char *path)
{
	struct ddb *d = be;
	struct mfile *m;
	struct dpath p;
	int rc;

	pthread_mutex_lock(&d->lock);
	m = mfile_find(d, path);
	if (m && m->temp) {
		mfile_unlink(d, m);
		pthread_mutex_unlock(&d->lock);
		return 0;
	}
	pthread_mutex_unlock(&d->lock);
	rc = resolve(d, path, &p);
	if (rc)
		return rc;
	switch (p.kind) {
	case P_ITEM:
		rc = delete_item(d, path, &p);
		break;
	case P_DESC:
		rc = -EPERM;
		break;
	case P_PART:
		rc = -EISDIR;
		break;
	case P_OTHER:
	case P_BADNAME:
		rc = -ENOENT;
		break;
	default:
		rc = -EPERM;
	}
	dpath_free(&p);
	return rc;
}

static int ddb_mkdir(void *be, const char *path, mode_t mode)
{
	struct ddb *d = be;
	struct stat st;
	struct dpath p;
	struct vdir *v;
	size_t n = 0;
	int rc = resolve(d, path, &p);

	(void)mode;
	if (rc)
		return rc == -ENOENT && !strchr(path, '/') ? -EPERM : rc;
	if (p.kind != P_PART) {
		dpath_free(&p);
		return p.kind == P_TABLE ? -EPERM : p.kind == P_DESC ? -EEXIST : -EPERM;
	}
	dpath_free(&p);
	rc = ddb_getattr(d, path, &st);
	if (rc == 0)
		return -EEXIST;
	if (rc != -ENOENT)
		return rc;
	pthread_mutex_lock(&d->lock);
	for (v = d->vdirs; v; v = v->next)
		n++;
	v = n < DDB_VDIR_MAX ? calloc(1, sizeof(*v)) : NULL;
	if (v && !(v->path = strdup(path))) {
		free(v);
		v = NULL;
	}
	if (v) {
		v->next = d->vdirs;
		d->vdirs = v;
	}
	pthread_mutex_unlock(&d->lock);
	return v ? 0 : n < DDB_VDIR_MAX ? -ENOMEM : -ENOSPC;
}

static int ddb_rmdir(void *be, const char *path)
{
	struct ddb *d = be;
	struct dpath p;
	int rc = resolve(d, path, &p);

	if (rc)
		return rc;
	switch (p.kind) {
	case P_TABLE:
		rc = -EPERM; /* a table is not deleted by rm -r */
		break;
	case P_PART:
		if (temps_in(d, path)) {
			rc = -ENOTEMPTY;
			break;
		}
		rc = partition_has_items(d, path, &p);
		if (rc == 1) {
			rc = -ENOTEMPTY;
		} else if (rc == 0) {
			vdir_drop(d, path);
			listing_update(d, p.table, "", p.name, false);
		}
		break;
	default:
		rc = -ENOTDIR;
	}
	dpath_free(&p);
	return rc;
}

/* Whether path names something (a file or folder) right now. */
static bool exists(struct ddb *d, const char *path)
{
	struct stat st;

	return ddb_getattr(d, path, &st) == 0;
}

/* An item renamed onto another item name: PutItem under the new key, then
 * DeleteItem of the old one. */
static int move_item(struct ddb *d, const char *from, const struct dpath *a, const char *to,
		     const struct dpath *b)
{
	struct item_view v = { 0 };
	json_t *item, *body, *ans = NULL;
	const char *key;
	json_t *val;
	int rc;

	if (json_equal(a->key, b->key))
		return 0;
	memset(&v, 0, sizeof(v));
	rc = fetch_item(d, from, a, &v, false, true);
	if (rc)
		return rc;
	item = json_deep_copy(v.item);
	json_decref(v.item);
	if (!item)
		return -ENOMEM;
	json_object_foreach(b->key, key, val) {
		if (json_object_set(item, key, val)) {
			json_decref(item);
			return -ENOMEM;
		}
	}
	body = json_pack("{s:s, s:o}", "TableName", b->table, "Item", item);
	if (!body)
		return -ENOMEM;
	rc = ddb_call(d, "PutItem", body, to, false, &ans, NULL, NULL, NULL);
	json_decref(body);
	json_decref(ans);
	icache_drop(d, to);
	if (rc)
		return rc;
	listing_update(d, b->table, b->dir, b->name, true);
	if (b->t.nkeys == 2)
		listing_update(d, b->table, "", b->dir, true);
	return delete_item(d, from, a);
}

static int ddb_rename(void *be, const char *from, const char *to, unsigned int flags)
{
	struct ddb *d = be;
	struct dpath a, b;
	struct mfile *m;
	char *text = NULL;
	size_t len = 0;
	bool temp, dst_dir;
	int rc;

	if (flags & ~(unsigned)RENAME_NOREPLACE)
		return -EINVAL;
	rc = resolve(d, from, &a);
	if (rc)
		return rc;
	rc = resolve(d, to, &b);
	if (rc) {
		dpath_free(&a);
		return rc;
	}
	if (strcmp(a.table, b.table) != 0 || a.kind == P_ROOT || b.kind == P_ROOT) {
		rc = -EXDEV;
		goto out;
	}
	if ((flags & RENAME_NOREPLACE) && exists(d, to)) {
		rc = -EEXIST;
		goto out;
	}
	/* A partition folder as target of a temporary file: not a file. */
	dst_dir = b.kind == P_PART && mfile_size(d, to, true, &(off_t){ 0 }) != 0 && exists(d, to);
	pthread_mutex_lock(&d->lock);
	m = mfile_find(d, from);
	temp = m && m->temp;
	if (temp && b.kind == P_ITEM) {
		len = m->data.len;
		text = malloc(len + 1);
		if (text)
			memcpy(text, m->data.data ? m->data.data : "", len);
	} else if (temp && (b.kind == P_OTHER || b.kind == P_PART)) {
		/* temp onto temp (an editor's backup dance) */
		struct mfile *dst = mfile_find(d, to);
		char *np = strdup(to);

		if (dst_dir) {
			rc = -EISDIR;
		} else if (dst && !dst->temp) {
			rc = -EBUSY;
		} else if (!np) {
			rc = -ENOMEM;
		} else if (dst != m) {
			if (dst)
				mfile_unlink(d, dst);
			free(m->path);
			m->path = np;
			np = NULL;
		}
		free(np);
		pthread_mutex_unlock(&d->lock);
		goto out;
	}
	pthread_mutex_unlock(&d->lock);

	if (temp) {
		char lp[DDB_PATH_MAX];

		if (b.kind == P_BADNAME) {
			log_error("dynamodb %s: '%s' is no item name (awsfs(1), DYNAMODB)",
				  logpath(to, lp, sizeof(lp)), b.name);
			rc = -EINVAL;
			goto out;
		}
		if (b.kind != P_ITEM) {
			rc = b.kind == P_DESC ? -EACCES : -EISDIR;
			goto out;
		}
		if (!text) {
			rc = -ENOMEM;
			goto out;
		}
		rc = put_item_text(d, to, text, len, false);
		if (rc == 0) {
			pthread_mutex_lock(&d->lock);
			m = mfile_find(d, from);
			if (m && m->temp)
				mfile_unlink(d, m);
			pthread_mutex_unlock(&d->lock);
		}
		goto out;
	}
	if (a.kind == P_ITEM && b.kind == P_ITEM)
		rc = move_item(d, from, &a, to, &b);
	else
		rc = -EPERM; /* an item's name is its key; folders are not moved */
out:
	free(text);
	dpath_free(&a);
	dpath_free(&b);
	return rc;
}

/* Changes of mode, owner and times have nowhere to go: accepted, as
 * editors and sed -i set them on the files they write. */
static int ddb_chmod(void *be, const char *path, mode_t mode)
{
	(void)mode;
	return exists(be, path) ? 0 : -ENOENT;
}

static int ddb_chown(void *be, const char *path, uid_t uid, gid_t gid)
{
	(void)uid;
	(void)gid;
	return exists(be, path) ? 0 : -ENOENT;
}

static int ddb_utimens(void *be, const char *path, const struct timespec tv[2])
{
	(void)tv;
	return exists(be, path) ? 0 : -ENOENT;
}

#define XATTR_SIZE "user.ddb.size"
#define XATTR_CAPACITY "user.ddb.consumed_capacity"
#define XATTR_COUNT "user.ddb.item_count"

static int xattr_reply(const char *value, char *buf, size_t size)
{
	size_t n = strlen(value);

	if (size == 0)
		return (int)n;
	if (size < n)
		return -ERANGE;
	memcpy(buf, value, n);
	return (int)n;
}

static int ddb_getxattr(void *be, const char *path, const char *name, char *buf, size_t size)
{
	struct ddb *d = be;
	struct item_view v = { 0 };
	struct dpath p;
	char value[64];
	double cap = 0;
	int rc = resolve(d, path, &p);

	if (rc)
		return rc;
	rc = -ENODATA;
	if (p.kind == P_ITEM && strcmp(name, XATTR_SIZE) == 0) {
		rc = get_item(d, path, &p, &v, false, true);
		if (!rc)
			snprintf(value, sizeof(value), "%zu", ddbjson_item_size(v.item));
		json_decref(v.item);
	} else if (p.kind == P_ITEM && strcmp(name, XATTR_CAPACITY) == 0) {
		/* the last read's, however old; else read it now */
		rc = icache_get(d, path, true, &v, false, false);
		if (rc)
			rc = fetch_item(d, path, &p, &v, false, false);
		if (!rc)
			snprintf(value, sizeof(value), "%g", v.capacity);
	} else if (p.kind == P_TABLE && (strcmp(name, XATTR_SIZE) == 0 ||
					 strcmp(name, XATTR_COUNT) == 0)) {
		rc = table_get(d, p.table, &p.t, NULL, NULL);
		if (!rc)
			snprintf(value, sizeof(value), "%lld",
				 strcmp(name, XATTR_SIZE) == 0 ? p.t.size_bytes : p.t.item_count);
	} else if ((p.kind == P_TABLE || p.kind == P_PART) && strcmp(name, XATTR_CAPACITY) == 0) {
		rc = listing_capacity(d, p.table, p.kind == P_TABLE ? "" : p.name, &cap);
		if (!rc)
			snprintf(value, sizeof(value), "%g", cap);
	}
	dpath_free(&p);
	return rc ? rc : xattr_reply(value, buf, size);
}

static int ddb_listxattr(void *be, const char *path, char *buf, size_t size)
{
	static const char item_names[] = XATTR_SIZE "\0" XATTR_CAPACITY;
	static const char table_names[] = XATTR_SIZE "\0" XATTR_COUNT "\0" XATTR_CAPACITY;
	static const char part_names[] = XATTR_CAPACITY;
	struct ddb *d = be;
	struct dpath p;
	const char *names = NULL;
	size_t n = 0;
	int rc = resolve(d, path, &p);

	if (rc)
		return rc;
	if (p.kind == P_ITEM) {
		names = item_names;
		n = sizeof(item_names);
	} else if (p.kind == P_TABLE) {
		names = table_names;
		n = sizeof(table_names);
	} else if (p.kind == P_PART) {
		names = part_names;
		n = sizeof(part_names);
	}
	dpath_free(&p);
	if (size == 0)
		return (int)n;
	if (size < n)
		return -ERANGE;
	if (n)
		memcpy(buf, names, n);
	return (int)n;
}

static int ddb_setxattr(void *be, const char *path, const char *name, const char *value,
			size_t size, int flags)
{
	(void)be; (void)path; (void)name; (void)value; (void)size; (void)flags;
	return -ENOTSUP;
}

static int ddb_removexattr(void *be, const char *path, const char *name)
{
	(void)be; (void)path; (void)name;
	return -ENOTSUP;
}

static void ddb_destroy(void *be)
{
	struct ddb *d = be;

	free_names(d->tables, d->ntables);
	while (d->tinfos) {
		struct tinfo *t = d->tinfos;

		d->tinfos = t->next;
		tinfo_free(t);
	}
	while (d->listings) {
		struct listing *l = d->listings;

		d->listings = l->next;
		listing_free(l);
	}
	while (d->items) {
		struct icache *c = d->items;

		d->items = c->next;
		icache_free(c);
	}
	while (d->mfiles) {
		struct mfile *m = d->mfiles;

		d->mfiles = m->next;
		mfile_free(m);
	}
	while (d->vdirs) {
		struct vdir *v = d->vdirs;

		d->vdirs = v->next;
		free(v->path);
		free(v);
	}
	pthread_mutex_destroy(&d->lock);
	free(d);
}

static const struct backend_ops ddb_ops = {
	.name = "dynamodb",
	.direct_io = true,
	.getattr = ddb_getattr,
	.readdir = ddb_readdir,
	.open = ddb_open,
	.create = ddb_create,
	.read = ddb_read,
	.write = ddb_write,
	.flush = ddb_flush,
	.fsync = ddb_fsync,
	.release = ddb_release,
	.truncate = ddb_truncate,
	.unlink = ddb_unlink,
	.mkdir = ddb_mkdir,
	.rmdir = ddb_rmdir,
	.rename = ddb_rename,
	.chmod = ddb_chmod,
	.chown = ddb_chown,
	.utimens = ddb_utimens,
	.getxattr = ddb_getxattr,
	.setxattr = ddb_setxattr,
	.listxattr = ddb_listxattr,
	.removexattr = ddb_removexattr,
	.destroy = ddb_destroy,
};

int ddb_new(struct aws_client *client, const struct fs_config *cfg,
	    const struct ddb_options *opts, struct backend *out)
{
	struct ddb *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->client = client;
	d->cfg = cfg;
	d->opts = *opts;
	if (d->opts.scan_segments > DDB_MAX_SCAN_SEGMENTS)
		d->opts.scan_segments = DDB_MAX_SCAN_SEGMENTS;
	if (d->opts.list_max < 1)
		d->opts.list_max = DDB_DEFAULT_LIST_MAX;
	d->ttl_ms = cfg->cache ? cache_service_ttl(cfg->cache, AWS_SVC_DYNAMODB) : DDB_TTL_MS;
	pthread_mutex_init(&d->lock, NULL);
	out->ops = &ddb_ops;
	out->be = d;
	return 0;
}

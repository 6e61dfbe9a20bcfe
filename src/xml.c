/*
 * xml: a bounded, read-only element tree over expat. See xml.h.
 *
 * Everything a document owns (nodes, names, texts) sits in one arena of
 * chunks, so xml_free is one walk over the chunk list. Hardening: any
 * DOCTYPE is refused (AWS never sends one; refusing it closes internal
 * entity expansion, "billion laughs", and external entities at once),
 * parameter entities are never parsed, external entity references fail, and
 * element count, depth and total text are capped. Attributes are ignored.
 */
#include <errno.h>
#include <limits.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "xml.h"

/* Deepest element nesting accepted (xml.h); AWS documents are 3-5 deep. */
#define XML_MAX_DEPTH 64
/* Between namespace URI and local name in expat's names. U+0001 cannot occur
 * in an XML 1.0 URI, so it never splits one (xmlwf uses the same). */
#define XML_NSSEP '\001'
/* XML_Parse takes an int length: feed larger inputs in pieces. */
#define XML_FEED_MAX ((size_t)1 << 30)
/* Text may outgrow its input only by transcoding to UTF-8 (Latin-1 doubles,
 * UTF-16 grows by half); entity expansion, the other way, is refused. */
#define XML_TEXT_GROWTH 2
/* Arena chunks start small (an error document) and double up to this. */
#define ARENA_FIRST 4096
#define ARENA_LARGEST (256 * 1024)

struct xml_node {
	const char *name;       /* local name, in the arena */
	const char *text;       /* character data, in the arena or "" */
	struct xml_node *child; /* first child element */
	struct xml_node *next;  /* next sibling element */
};

struct chunk {
	struct chunk *next;
	size_t size; /* usable bytes in mem */
	size_t used;
	max_align_t mem[]; /* max_align_t only for the alignment */
};

struct xml_doc {
	struct xml_node *root;
	struct chunk *chunks; /* newest first */
	size_t next_size;     /* size of the next chunk */
};

/* Text of an open element, grown while its character data arrives. */
struct text_acc {
	char *p;
	size_t len;
	size_t cap;
};

struct builder {
	XML_Parser parser;
	struct xml_doc *doc;
	int err;                 /* first error of our own, 0 if none */
	size_t nodes;            /* elements seen */
	size_t max_nodes;
	size_t text_total;       /* character data bytes kept */
	size_t max_text;         /* see XML_TEXT_GROWTH */
	size_t depth;            /* open elements */
	struct xml_node *open[XML_MAX_DEPTH];
	struct xml_node *last[XML_MAX_DEPTH]; /* last child of open[i] */
	struct text_acc text[XML_MAX_DEPTH];
};

static void *arena_alloc(struct xml_doc *d, size_t n, size_t align)
{
	struct chunk *c = d->chunks;
	size_t off, size;

	if (c) {
		off = (c->used + align - 1) & ~(align - 1);
		if (off <= c->size && n <= c->size - off) {
			c->used = off + n;
			return (char *)c->mem + off;
		}
	}
	size = d->next_size;
	if (size < n)
		size = n;
	if (size > SIZE_MAX - sizeof(*c))
		return NULL;
	c = malloc(sizeof(*c) + size);
	if (!c)
		return NULL;
	c->next = d->chunks;
	c->size = size;
	c->used = n;
	d->chunks = c;
	if (d->next_size < ARENA_LARGEST)
		d->next_size *= 2;
	return c->mem;
}

static char *arena_strndup(struct xml_doc *d, const char *s, size_t n)
{
	char *p;

	if (n == SIZE_MAX)
		return NULL;
	p = arena_alloc(d, n + 1, 1);
	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* Record the first error and abort the parse; later callbacks are ignored. */
static void builder_fail(struct builder *b, int err)
{
	if (!b->err)
		b->err = err;
	XML_StopParser(b->parser, XML_FALSE);
}

static void XMLCALL on_start(void *arg, const XML_Char *name, const XML_Char **atts)
{
	struct builder *b = arg;
	const char *local = strrchr(name, XML_NSSEP);
	struct xml_node *n;

	if (b->err)
		return;
	if (b->nodes >= b->max_nodes || b->depth >= XML_MAX_DEPTH) {
		builder_fail(b, -EFBIG);
		return;
	}
	local = local ? local + 1 : name;
	n = arena_alloc(b->doc, sizeof(*n), alignof(struct xml_node));
	if (!n) {
		builder_fail(b, -ENOMEM);
		return;
	}
	n->name = arena_strndup(b->doc, local, strlen(local));
	if (!n->name) {
		builder_fail(b, -ENOMEM);
		return;
	}
	n->text = "";
	n->child = NULL;
	n->next = NULL;
	b->nodes++;
	if (b->depth == 0) {
		b->doc->root = n;
	} else if (b->last[b->depth - 1]) {
		b->last[b->depth - 1]->next = n;
		b->last[b->depth - 1] = n;
	} else {
		b->open[b->depth - 1]->child = n;
		b->last[b->depth - 1] = n;
	}
	b->open[b->depth] = n;
	b->last[b->depth] = NULL;
	b->text[b->depth].len = 0;
	b->depth++;
}

static void XMLCALL on_end(void *arg, const XML_Char *name)
{
	struct builder *b = arg;
	struct text_acc *t;
	struct xml_node *n;

	if (b->err || b->depth == 0)
		return;
	b->depth--;
	n = b->open[b->depth];
	t = &b->text[b->depth];
	if (t->len) {
		n->text = arena_strndup(b->doc, t->p, t->len);
		if (!n->text) {
			n->text = "";
			builder_fail(b, -ENOMEM);
		}
	}
}

static void XMLCALL on_text(void *arg, const XML_Char *s, int len)
{
	struct builder *b = arg;
	struct text_acc *t;
	size_t n = len > 0 ? (size_t)len : 0;

	if (b->err || b->depth == 0 || n == 0)
		return;
	if (n > b->max_text - b->text_total) {
		builder_fail(b, -EFBIG);
		return;
	}
	t = &b->text[b->depth - 1];
	if (n > t->cap - t->len || !t->p) {
		/* bounded by max_text, a small multiple of the input: no overflow */
		size_t cap = t->cap ? t->cap : 64;
		char *p;

		while (cap - t->len <= n)
			cap *= 2;
		p = realloc(t->p, cap);
		if (!p) {
			builder_fail(b, -ENOMEM);
			return;
		}
		t->p = p;
		t->cap = cap;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	b->text_total += n;
}

static void XMLCALL on_doctype(void *arg, const XML_Char *name, const XML_Char *sysid,
			       const XML_Char *pubid, int has_internal_subset)
{
	builder_fail(arg, -EINVAL);
}

/* Unreachable while every DOCTYPE is refused; kept so that loosening
 * on_doctype can never let an entity declaration through. */
static void XMLCALL on_entity(void *arg, const XML_Char *name, int is_param,
			      const XML_Char *value, int value_len, const XML_Char *base,
			      const XML_Char *sysid, const XML_Char *pubid,
			      const XML_Char *notation)
{
	builder_fail(arg, -EINVAL);
}

static int XMLCALL on_external(XML_Parser p, const XML_Char *context, const XML_Char *base,
			       const XML_Char *sysid, const XML_Char *pubid)
{
	struct builder *b = XML_GetUserData(p);

	if (!b->err)
		b->err = -EINVAL;
	return XML_STATUS_ERROR;
}

int xml_parse(const char *data, size_t len, size_t max_nodes, struct xml_doc **out)
{
	struct builder *b;
	struct xml_doc *doc = NULL;
	XML_Parser p = NULL;
	int rc = 0;

	*out = NULL;
	if (!data && len)
		return -EINVAL;
	if (!data)
		data = "";
	/* The builder is about 2.5 KiB: keep it off the (FUSE thread) stack. */
	b = calloc(1, sizeof(*b));
	doc = calloc(1, sizeof(*doc));
	if (!b || !doc) {
		rc = -ENOMEM;
		goto fail;
	}
	doc->next_size = ARENA_FIRST;
	b->doc = doc;
	b->max_nodes = max_nodes;
	b->max_text = len <= SIZE_MAX / XML_TEXT_GROWTH ? len * XML_TEXT_GROWTH : SIZE_MAX;
	p = XML_ParserCreateNS(NULL, XML_NSSEP);
	if (!p) {
		rc = -ENOMEM;
		goto fail;
	}
	b->parser = p;
	XML_SetUserData(p, b);
	if (!XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER)) {
		rc = -EINVAL;
		goto fail;
	}
	XML_SetStartDoctypeDeclHandler(p, on_doctype);
	XML_SetEntityDeclHandler(p, on_entity);
	XML_SetExternalEntityRefHandler(p, on_external);
	XML_SetElementHandler(p, on_start, on_end);
	XML_SetCharacterDataHandler(p, on_text);
	do {
		size_t n = len < XML_FEED_MAX ? len : XML_FEED_MAX;

		if (XML_Parse(p, data, (int)n, n == len) != XML_STATUS_OK) {
			if (b->err)
				rc = b->err;
			else if (XML_GetErrorCode(p) == XML_ERROR_NO_MEMORY)
				rc = -ENOMEM;
			else
				rc = -EINVAL;
			goto fail;
		}
		data += n;
		len -= n;
	} while (len > 0);
	/* expat reports "no element found" itself; this is only a guard. */
	if (b->err || !doc->root) {
		rc = b->err ? b->err : -EINVAL;
		goto fail;
	}
	*out = doc;
	doc = NULL;
fail:
	if (p)
		XML_ParserFree(p);
	if (b) {
		for (size_t i = 0; i < XML_MAX_DEPTH; i++)
			free(b->text[i].p);
		free(b);
	}
	xml_free(doc);
	return rc;
}

void xml_free(struct xml_doc *doc)
{
	struct chunk *c, *next;

	if (!doc)
		return;
	for (c = doc->chunks; c; c = next) {
		next = c->next;
		free(c);
	}
	free(doc);
}

const struct xml_node *xml_root(const struct xml_doc *doc)
{
	return doc ? doc->root : NULL;
}

const char *xml_name(const struct xml_node *n)
{
	return n ? n->name : "";
}

const char *xml_text(const struct xml_node *n)
{
	return n ? n->text : "";
}

/* The first of n and its following siblings named name (any when NULL). */
static const struct xml_node *first_named(const struct xml_node *n, const char *name)
{
	for (; n; n = n->next)
		if (!name || strcmp(n->name, name) == 0)
			return n;
	return NULL;
}

const struct xml_node *xml_child(const struct xml_node *n, const char *name)
{
	return n ? first_named(n->child, name) : NULL;
}

const struct xml_node *xml_next(const struct xml_node *n, const char *name)
{
	return n ? first_named(n->next, name) : NULL;
}

const char *xml_child_text(const struct xml_node *n, const char *name)
{
	const struct xml_node *c = xml_child(n, name);

	return c ? c->text : NULL;
}

/* Empty steps ("a//b", a leading or trailing '/') are skipped. */
const struct xml_node *xml_path(const struct xml_node *n, const char *path)
{
	const char *p = path;

	if (!path)
		return NULL;
	while (n && *p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		const struct xml_node *c;

		if (len > 0) {
			for (c = n->child; c; c = c->next)
				if (strncmp(c->name, p, len) == 0 && c->name[len] == '\0')
					break;
			n = c;
		}
		p += len;
		if (*p == '/')
			p++;
	}
	return n;
}

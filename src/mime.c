/*
 * mime: extension to Content-Type, from a mime.types text.
 *
 * The table is an array of (extension, type) sorted by extension; a lookup
 * is a binary search. When an extension is listed twice the first line
 * wins, as in the file's own convention.
 */
#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mime.h"

#define MIME_MAX_TOKEN 127 /* longer types or extensions are ignored */
#define MIME_MAX_ENTRIES 100000

struct mime_entry {
	char *ext;   /* lower case */
	char *type;  /* shared by the entries of one line; owned by types[] */
	size_t line; /* order in the file, for "first wins" */
};

struct mime_table {
	struct mime_entry *ents;
	size_t n;
	char **types;
	size_t ntypes;
};

static int ent_cmp(const void *a, const void *b)
{
	const struct mime_entry *x = a, *y = b;
	int c = strcmp(x->ext, y->ext);

	if (c)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* The next whitespace-separated token of [*p, end) on this line: its start
 * and length, or 0 at the end of the line (*p then at the '\n' or end). */
static size_t next_token(const char **p, const char *end, const char **tok)
{
	const char *s = *p;
	size_t n = 0;

	while (s < end && (*s == ' ' || *s == '\t' || *s == '\r'))
		s++;
	*tok = s;
	while (s < end && *s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') {
		s++;
		n++;
	}
	*p = s;
	return n;
}

static bool token_ok(const char *t, size_t n)
{
	if (n == 0 || n > MIME_MAX_TOKEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] < 0x21 || (unsigned char)t[i] > 0x7e)
			return false;
	return true;
}

static int add_entry(struct mime_table *t, size_t *cap, char *type, const char *ext,
		     size_t n, size_t line)
{
	char *e;

	if (t->n == MIME_MAX_ENTRIES)
		return 0;
	if (t->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 256;
		struct mime_entry *ne = realloc(t->ents, ncap * sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		t->ents = ne;
		*cap = ncap;
	}
	e = malloc(n + 1);
	if (!e)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		e[i] = (char)tolower((unsigned char)ext[i]);
	e[n] = '\0';
	t->ents[t->n].ext = e;
	t->ents[t->n].type = type;
	t->ents[t->n].line = line;
	t->n++;
	return 0;
}

static int add_type(struct mime_table *t, size_t *cap, const char *s, size_t n, char **out)
{
	if (t->ntypes == *cap) {
		size_t ncap = *cap ? *cap * 2 : 128;
		char **nt = realloc(t->types, ncap * sizeof(*nt));

		if (!nt)
			return -ENOMEM;
		t->types = nt;
		*cap = ncap;
	}
	*out = strndup(s, n);
	if (!*out)
		return -ENOMEM;
	t->types[t->ntypes++] = *out;
	return 0;
}

int mime_parse(const char *text, size_t len, struct mime_table **out)
{
	struct mime_table *t = calloc(1, sizeof(*t));
	const char *p = text, *end;
	size_t ecap = 0, tcap = 0, line = 0, kept = 0;
	int rc = 0;

	*out = NULL;
	if (!t)
		return -ENOMEM;
	if (len > MIME_MAX_TEXT)
		len = MIME_MAX_TEXT;
	end = text + len;
	while (p < end && !rc) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *lend = eol ? eol : end;
		const char *tok, *ttok;
		size_t n = next_token(&p, lend, &tok), tn = n;
		char *type = NULL;

		line++;
		ttok = tok;
		if (n && tok[0] != '#' && token_ok(tok, n) && memchr(tok, '/', n)) {
			while (!rc && (n = next_token(&p, lend, &tok)) > 0) {
				if (tok[0] == '#')
					break;
				if (!token_ok(tok, n))
					continue;
				if (!type)
					rc = add_type(t, &tcap, ttok, tn, &type);
				if (!rc)
					rc = add_entry(t, &ecap, type, tok, n, line);
			}
		}
		p = eol ? eol + 1 : end;
	}
	if (rc) {
		mime_free(t);
		return rc;
	}
	if (t->n)
		qsort(t->ents, t->n, sizeof(*t->ents), ent_cmp);
	/* An extension listed again later: the first line wins. */
	for (size_t i = 0; i < t->n; i++) {
		if (kept && strcmp(t->ents[kept - 1].ext, t->ents[i].ext) == 0) {
			free(t->ents[i].ext);
			continue;
		}
		t->ents[kept++] = t->ents[i];
	}
	t->n = kept;
	*out = t;
	return 0;
}

int mime_load(const char *file, struct mime_table **out)
{
	char *text = malloc(MIME_MAX_TEXT + 1);
	size_t len = 0;
	int fd, rc = 0;

	*out = NULL;
	if (!text)
		return -ENOMEM;
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		free(text);
		return rc;
	}
	while (len <= MIME_MAX_TEXT) {
		ssize_t r = read(fd, text + len, MIME_MAX_TEXT + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			break;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (!rc && len > MIME_MAX_TEXT)
		rc = -EFBIG;
	if (!rc)
		rc = mime_parse(text, len, out);
	free(text);
	return rc;
}

void mime_free(struct mime_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->ents[i].ext);
	for (size_t i = 0; i < t->ntypes; i++)
		free(t->types[i]);
	free(t->ents);
	free(t->types);
	free(t);
}

const char *mime_lookup(const struct mime_table *t, const char *name)
{
	char ext[MIME_MAX_TOKEN + 1];
	const char *base, *dot;
	size_t n, lo = 0, hi;

	if (!t || !name)
		return NULL;
	base = strrchr(name, '/');
	base = base ? base + 1 : name;
	dot = strrchr(base, '.');
	if (!dot || dot == base || !dot[1])
		return NULL; /* no extension, or a dot file such as ".bashrc" */
	n = strlen(dot + 1);
	if (n > MIME_MAX_TOKEN)
		return NULL;
	for (size_t i = 0; i < n; i++)
		ext[i] = (char)tolower((unsigned char)dot[1 + i]);
	ext[n] = '\0';
	hi = t->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(ext, t->ents[mid].ext);

		if (c == 0)
			return t->ents[mid].type;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

size_t mime_count(const struct mime_table *t)
{
	return t ? t->n : 0;
}

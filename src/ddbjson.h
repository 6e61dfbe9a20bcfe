/*
 * ddbjson: DynamoDB items as file contents, and key values as file names.
 *
 * An item travels as DynamoDB's typed JSON (an AttributeValue map, held in
 * jansson: {"id": {"S": "a1"}, "n": {"N": "5"}}). Its file shows either the
 * plain view ({"id": "a1", "n": 5}) or the typed view, and a file written by
 * the user is read back into an AttributeValue map.
 *
 * Numbers are text end to end: DynamoDB keeps 38 significant digits and
 * exponents from -130 to +125, which no double (nor jansson's integers) can
 * hold, so the user's JSON is read by a small bounded reader of this module
 * that keeps each number's text as written (see ddbjson.c). Nothing here
 * does I/O; every function is thread-safe.
 */
#ifndef AWSFS_DDBJSON_H
#define AWSFS_DDBJSON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "buf.h"

/* DynamoDB's limit on one item, attribute names included (400 KB). */
#define DDBJSON_ITEM_MAX (400u * 1024u)
/* Nesting DynamoDB allows in an item (32 levels), plus the item itself. */
#define DDBJSON_MAX_DEPTH 33
/* Values one document may hold: a 400 KB item has fewer than this. */
#define DDBJSON_MAX_NODES 300000u
/* The longest reason ddbjson_parse_item gives. */
#define DDBJSON_WHY_MAX 256

enum ddbjson_view {
	DDBJSON_PLAIN = 0, /* {"id": "a1", "n": 5, "tags": ["x"]} */
	DDBJSON_TYPED,     /* DynamoDB's own: {"id": {"S": "a1"}, ...} */
};

/* One key attribute of a table: its name and type 'S', 'N' or 'B'. */
struct ddbjson_key {
	const char *name;
	char type;
};

/*
 * Render an item (an AttributeValue map as GetItem returns it) as a file:
 * pretty JSON, two-space indent, attribute names sorted, a final newline.
 * Plain: S as strings, N as JSON numbers with their exact text, B as base64
 * strings, BOOL/NULL as true/false/null, L as arrays, M as objects, SS/NS/BS
 * as arrays sorted (strings and base64 bytewise, numbers by value). Typed:
 * the AttributeValues themselves, sets sorted the same way. Appends to out.
 * 0, -EIO for an AttributeValue this module does not know, or a buf error.
 */
int ddbjson_render(const json_t *item, enum ddbjson_view view, struct buf *out);

/*
 * Read a file's text (len bytes) as an item, in the given view. old is the
 * item as stored (NULL: none): in the plain view an attribute stored as a
 * set or binary keeps that type when the new value fits it (an array of
 * distinct strings/numbers/base64 values, a base64 string), at any depth.
 * keys gives the table's key attributes: a key attribute written in the
 * plain view as a base64 string becomes B when its type is B. The key
 * attributes themselves are not checked here (see ddbjson_apply_key).
 * On success *out is the AttributeValue map (caller owns). On failure
 * *out is NULL and why holds one sentence: -EINVAL (bad JSON, not an
 * object, a value DynamoDB cannot hold), -EFBIG (too many values), -ENOMEM.
 */
int ddbjson_parse_item(const char *text, size_t len, enum ddbjson_view view,
		       const json_t *old, const struct ddbjson_key *keys, size_t nkeys,
		       json_t **out, char why[DDBJSON_WHY_MAX]);

/*
 * Make item's key attributes those of the file name: name_key maps each
 * key attribute to its AttributeValue (from ddbjson_name_decode). A key
 * attribute missing from item is added; one present must have the key's
 * type and be equal (ddbjson_key_equal). 0, or -EINVAL with why filled
 * (item unchanged), or -ENOMEM.
 */
int ddbjson_apply_key(json_t *item, const struct ddbjson_key *keys, size_t nkeys,
		      const json_t *name_key, char why[DDBJSON_WHY_MAX]);

/* The item's size as DynamoDB counts it against its 400 KB limit: names
 * and values in bytes, numbers about one byte per two digits. */
size_t ddbjson_item_size(const json_t *item);

/*
 * The AttributeValue of a key attribute, from a file name component (name,
 * len bytes, without ".json"): S names with '%XX' escapes undone, N names
 * the number's text, B names base64url. *out is {"S": ...} (caller owns).
 * 0, -EINVAL when the name is no encoding of a value of that type, -ENOMEM.
 */
int ddbjson_name_decode(const char *name, size_t len, char type, json_t **out);
/*
 * The file name component of a key value (an AttributeValue {"S"|"N"|"B":
 * ...}): '%', '/', NUL and a leading '.' of S and N values become %XX
 * (upper-case hex), B values base64url without padding. Appends to out.
 * 0, -EINVAL for another type, or a buf error.
 */
int ddbjson_name_encode(const json_t *av, struct buf *out);

/* Whether two key AttributeValues are the same value: same type and equal
 * strings, equal numbers (1E+2 and 100 are equal) or equal bytes. */
bool ddbjson_key_equal(const json_t *a, const json_t *b);

/* 'S', 'N' or 'B' for a key AttributeValue, else 0. */
char ddbjson_key_type(const json_t *av);

/*
 * Compare two DynamoDB number texts by value, exactly (no double):
 * *cmp < 0, 0, > 0. 0 or -EINVAL when either is no number.
 */
int ddbjson_num_cmp(const char *a, const char *b, int *cmp);
/* Whether s is a number DynamoDB reads ("-1.5E+3", "007", ".5", "5."). */
bool ddbjson_num_valid(const char *s, size_t len);

/*
 * Pretty-print a JSON document (len bytes) keeping every number's text and
 * the members' order; with member non-NULL, only that member of the top
 * object (DescribeTable's "Table"). Appends to out with a final newline.
 * 0, -EINVAL (malformed, or no such member), -EFBIG, -ENOMEM.
 */
int ddbjson_pretty(const char *text, size_t len, const char *member, struct buf *out);

#endif

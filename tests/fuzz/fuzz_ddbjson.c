/*
 * fuzz_ddbjson: DynamoDB items as files and key values as file names
 * (src/ddbjson.c), fed what users write and what DynamoDB answers.
 *
 * First byte, low three bits:
 *   0  a file in the plain view: parse it, render it back (both views) and
 *      parse that again: the same item each time
 *   1  a file in the typed view: the same, and the plain rendering parsed
 *      with the item as the old one keeps every set and binary type
 *   2  a file name component, decoded as an S, N or B key (bits 3-4): its
 *      encoding decodes to an equal key
 *   3  two numbers (two lines): num_valid, and num_cmp is a total order
 *   4  a DescribeTable-like answer through ddbjson_pretty (bit 3: only its
 *      "Table"): pretty output is a fixed point
 * Every failure must be -EINVAL/-EFBIG/-ENOMEM with a terminated reason.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ddbjson.h"
#include "fuzz.h"

#define OUT_CAP (4u << 20)

static const struct ddbjson_key keys[] = { { "id", 'S' }, { "sk", 'N' }, { "bin", 'B' } };
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static json_t *parse(const char *text, size_t len, enum ddbjson_view view, const json_t *old)
{
	char why[DDBJSON_WHY_MAX];
	json_t *item = NULL;
	int rc;

	memset(why, 'x', sizeof(why));
	rc = ddbjson_parse_item(text, len, view, old, keys, NKEYS, &item, why);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -EFBIG);
	FUZZ_CHECK((rc == 0) == (item != NULL));
	if (rc)
		FUZZ_CHECK(memchr(why, '\0', sizeof(why)) && why[0]);
	return item;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
		      json_string_value(*(json_t *const *)b));
}

static int num_cmp(const void *a, const void *b)
{
	int c = 0;

	ddbjson_num_cmp(json_string_value(*(json_t *const *)a),
			json_string_value(*(json_t *const *)b), &c);
	return c;
}

static bool same(const json_t *a, const json_t *b, unsigned depth);

/* Two sets as sets: members sorted (numbers by value), then pairwise. */
static bool same_set(const json_t *a, const json_t *b, bool numbers)
{
	size_t n = json_array_size(a), i;
	json_t **x, **y;
	bool eq = true;

	if (n != json_array_size(b))
		return false;
	x = calloc(n ? n : 1, sizeof(*x));
	y = calloc(n ? n : 1, sizeof(*y));
	if (!x || !y)
		abort();
	for (i = 0; i < n; i++) {
		x[i] = json_array_get(a, i);
		y[i] = json_array_get(b, i);
		eq = eq && json_is_string(x[i]) && json_is_string(y[i]);
	}
	if (eq) {
		qsort(x, n, sizeof(*x), numbers ? num_cmp : str_cmp);
		qsort(y, n, sizeof(*y), numbers ? num_cmp : str_cmp);
		for (i = 0; i < n && eq; i++)
			eq = numbers ? num_cmp(&x[i], &y[i]) == 0 : str_cmp(&x[i], &y[i]) == 0;
	}
	free(x);
	free(y);
	return eq;
}

/*
 * Items equal as DynamoDB sees them: numbers by value (render writes "09"
 * as 9 in the plain view, as DynamoDB itself would store it), sets as
 * sets (render sorts them).
 */
static bool same(const json_t *a, const json_t *b, unsigned depth)
{
	const char *k;
	json_t *m;
	size_t i;

	if (depth > 64)
		return json_equal(a, b);
	if (json_is_object(a) && json_is_object(b)) {
		if (json_object_size(a) != json_object_size(b))
			return false;
		json_object_foreach((json_t *)a, k, m) {
			json_t *o = json_object_get(b, k);
			int c;

			if (!o)
				return false;
			if (!strcmp(k, "N") && json_is_string(m) && json_is_string(o)) {
				if (ddbjson_num_cmp(json_string_value(m), json_string_value(o), &c) ||
				    c)
					return false;
			} else if ((!strcmp(k, "SS") || !strcmp(k, "NS") || !strcmp(k, "BS")) &&
				   json_is_array(m) && json_is_array(o)) {
				if (!same_set(m, o, !strcmp(k, "NS")))
					return false;
			} else if (!same(m, o, depth + 1)) {
				return false;
			}
		}
		return true;
	}
	if (json_is_array(a) && json_is_array(b)) {
		if (json_array_size(a) != json_array_size(b))
			return false;
		for (i = 0; i < json_array_size(a); i++)
			if (!same(json_array_get(a, i), json_array_get(b, i), depth + 1))
				return false;
		return true;
	}
	return json_equal(a, b);
}

static bool same_item(const json_t *a, const json_t *b)
{
	return same(a, b, 0);
}

/* Render item in view and parse it back (with old): the same item. */
static void round_trip(const json_t *item, enum ddbjson_view view, const json_t *old)
{
	struct buf out;
	json_t *again;
	int rc;

	buf_init(&out, OUT_CAP);
	rc = ddbjson_render(item, view, &out);
	FUZZ_CHECK(rc == 0 || rc == -EFBIG);
	if (rc == 0) {
		FUZZ_CHECK(out.len > 0 && out.data[out.len - 1] == '\n');
		again = parse(out.data, out.len, view, old);
		if (!again)
			fuzz_note("rendered: %.*s", (int)(out.len < 1500 ? out.len : 1500), out.data);
		FUZZ_CHECK(again != NULL);
		if (!same_item(again, item)) {
			char *a = json_dumps(item, JSON_COMPACT), *b = json_dumps(again, JSON_COMPACT);

			fuzz_note("item:  %.1500s", a ? a : "?");
			fuzz_note("again: %.1500s", b ? b : "?");
			free(a);
			free(b);
		}
		FUZZ_CHECK(same_item(again, item));
		json_decref(again);
	}
	buf_free(&out);
}

static void run_item(const char *text, size_t len, enum ddbjson_view view)
{
	json_t *item = parse(text, len, view, NULL);

	if (!item)
		return;
	FUZZ_CHECK(json_is_object(item));
	(void)ddbjson_item_size(item);
	round_trip(item, DDBJSON_TYPED, NULL);
	/* The plain view forgets sets and binary unless the stored item says;
	 * and a key attribute takes its table's type (DynamoDB never stores
	 * one of another type, so such an item cannot come back). */
	for (size_t i = 0; i < NKEYS; i++) {
		json_t *av = json_object_get(item, keys[i].name);

		if (av && ddbjson_key_type(av) != keys[i].type) {
			json_decref(item);
			return;
		}
	}
	round_trip(item, DDBJSON_PLAIN, item);
	json_decref(item);
}

static void run_name(const char *name, size_t len, char type)
{
	json_t *av = NULL, *again = NULL;
	struct buf enc;
	int rc = ddbjson_name_decode(name, len, type, &av);

	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	FUZZ_CHECK((rc == 0) == (av != NULL));
	if (rc)
		return;
	FUZZ_CHECK(ddbjson_key_type(av) == type);
	FUZZ_CHECK(ddbjson_key_equal(av, av));
	buf_init(&enc, 1u << 20);
	FUZZ_CHECK(ddbjson_name_encode(av, &enc) == 0);
	/* An encoded name is a file name component. */
	FUZZ_CHECK(enc.len > 0 && !memchr(enc.data, '/', enc.len) && !memchr(enc.data, '\0', enc.len));
	FUZZ_CHECK(enc.data[0] != '.');
	FUZZ_CHECK(ddbjson_name_decode(enc.data, enc.len, type, &again) == 0);
	FUZZ_CHECK(ddbjson_key_equal(av, again));
	json_decref(again);
	buf_free(&enc);
	json_decref(av);
}

static int sign(int v)
{
	return (v > 0) - (v < 0);
}

static void run_numbers(char *text)
{
	char *nl = strchr(text, '\n'), *a = text, *b = nl ? nl + 1 : (char *)"0";
	int ab, ba, aa;

	if (nl)
		*nl = '\0';
	if (ddbjson_num_cmp(a, a, &aa) == 0)
		FUZZ_CHECK(aa == 0 && ddbjson_num_valid(a, strlen(a)));
	if (ddbjson_num_cmp(a, b, &ab) == 0) {
		FUZZ_CHECK(ddbjson_num_cmp(b, a, &ba) == 0);
		FUZZ_CHECK(sign(ab) == -sign(ba));
	} else {
		FUZZ_CHECK(!ddbjson_num_valid(a, strlen(a)) || !ddbjson_num_valid(b, strlen(b)));
	}
}

static void run_pretty(const char *text, size_t len, const char *member)
{
	struct buf once, twice;
	int rc;

	buf_init(&once, OUT_CAP);
	buf_init(&twice, OUT_CAP);
	rc = ddbjson_pretty(text, len, member, &once);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -EFBIG);
	if (rc == 0) {
		FUZZ_CHECK(ddbjson_pretty(once.data, once.len, NULL, &twice) == 0);
		FUZZ_CHECK(twice.len == once.len && memcmp(twice.data, once.data, once.len) == 0);
	}
	buf_free(&once);
	buf_free(&twice);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char types[] = { 'S', 'N', 'B', 'S' };
	const char *text = (const char *)data + 1;
	size_t len = size ? size - 1 : 0;
	char *s;

	if (size < 1)
		return 0;
	switch (data[0] & 7) {
	case 0:
		run_item(text, len, DDBJSON_PLAIN);
		break;
	case 1:
		run_item(text, len, DDBJSON_TYPED);
		break;
	case 2:
		run_name(text, len, types[(data[0] >> 3) & 3]);
		break;
	case 3:
		s = fuzz_cstr(data + 1, len);
		run_numbers(s);
		free(s);
		break;
	default:
		run_pretty(text, len, (data[0] & 8) ? "Table" : NULL);
		break;
	}
	return 0;
}

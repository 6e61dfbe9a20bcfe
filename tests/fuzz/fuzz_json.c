/*
 * fuzz_json: jsonx_parse on any bytes, as a DynamoDB, SQS or SSM answer.
 *
 * Walks every value through the jsonx_ accessors the backends use, then
 * checks jsonx_dump writes back what was read: dump, parse again, equal.
 * Caps: a body over the cap is -EFBIG before anything is parsed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "json.h"

#define JSON_CAP (1u << 20) /* aws_parse_error's cap on an error body */
#define WALK_MAX 4096       /* values visited per input */

static void walk(json_t *v, size_t *budget)
{
	const char *key;
	json_t *m;
	size_t i;

	if (!*budget)
		return;
	(*budget)--;
	if (json_is_object(v)) {
		json_object_foreach(v, key, m) {
			long long ll;
			const char *s = jsonx_str(v, key);
			int rc = jsonx_int(v, key, &ll);

			FUZZ_CHECK((s != NULL) == json_is_string(m));
			if (s)
				FUZZ_CHECK(strlen(s) == json_string_length(m));
			FUZZ_CHECK(rc == 0 ? json_is_integer(m) : rc == -EINVAL);
			FUZZ_CHECK((jsonx_array(v, key) != NULL) == json_is_array(m));
			FUZZ_CHECK((jsonx_object(v, key) != NULL) == json_is_object(m));
			walk(m, budget);
		}
		/* A member that is not there. */
		FUZZ_CHECK(jsonx_str(v, "\x01missing") == NULL);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, m)
			walk(m, budget);
	}
	/* Accessors on a non-object answer NULL, never crash. */
	if (!json_is_object(v)) {
		long long ll;

		FUZZ_CHECK(jsonx_str(v, "a") == NULL && jsonx_array(v, "a") == NULL &&
			   jsonx_object(v, "a") == NULL && jsonx_int(v, "a", &ll) == -ENOENT);
	}
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
	json_t *v = NULL, *again = NULL;
	size_t budget = WALK_MAX;
	struct buf out;
	int rc;

	rc = jsonx_parse((const char *)data, size, JSON_CAP, &v);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -EFBIG);
	FUZZ_CHECK((rc == 0) == (v != NULL));
	if (size > 0 && size <= 64) /* the cap is checked first */
		FUZZ_CHECK(jsonx_parse((const char *)data, size, size - 1, &again) == -EFBIG &&
			   !again);
	if (rc)
		return 0;
	walk(v, &budget);

	buf_init(&out, 4 * JSON_CAP);
	FUZZ_CHECK(buf_puts(&out, "x") == 0);
	rc = jsonx_dump(v, &out);
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(out.len > 1 && out.data[0] == 'x');
	FUZZ_CHECK(jsonx_parse(out.data + 1, out.len - 1, 4 * JSON_CAP, &again) == 0);
	FUZZ_CHECK(json_equal(v, again));
	json_decref(again);

	/* A dump that does not fit leaves the buffer as it was. */
	if (out.len > 2) {
		struct buf small;

		buf_init(&small, out.len / 2);
		FUZZ_CHECK(buf_puts(&small, "y") == 0);
		FUZZ_CHECK(jsonx_dump(v, &small) == -EFBIG);
		FUZZ_CHECK(small.len == 1 && strcmp(small.data, "y") == 0);
		buf_free(&small);
	}
	buf_free(&out);
	json_decref(v);
	return 0;
}

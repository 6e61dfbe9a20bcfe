/*
 * json: bounded helpers over jansson. See json.h.
 *
 * Parsing checks the size cap first, then asks jansson for exactly one value
 * of any type with nothing but blanks after it; an integer too large for
 * json_int_t is malformed input (-EINVAL), not a silent double. jansson caps
 * nesting itself (JSON_PARSER_MAX_DEPTH), and rejects "\u0000" in strings,
 * so every string handed out is a plain C string.
 */
#include <errno.h>

#include "json.h"

/* Compact, keys in insertion order, scalars allowed at the top level too
 * (jsonx_parse accepts them, so jsonx_dump must write them back). */
#define JSONX_DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)

int jsonx_parse(const char *data, size_t len, size_t max, json_t **out)
{
	json_error_t err;
	json_t *v;

	*out = NULL;
	if (len > max)
		return -EFBIG;
	if (!data || len == 0)
		return -EINVAL;
	/* No JSON_DISABLE_EOF_CHECK: trailing garbage is an error. */
	v = json_loadb(data, len, JSON_DECODE_ANY, &err);
	if (!v)
		return json_error_code(&err) == json_error_out_of_memory ? -ENOMEM : -EINVAL;
	*out = v;
	return 0;
}

struct dump_ctx {
	struct buf *out;
	int err;
};

/*
 * A failure is sticky: jansson ignores the callback's answer while it
 * writes an object key (dump_string's result is dropped in do_dump), so
 * after one failed piece it would go on with the next ones and report
 * success for a document with a hole in it.
 */
static int dump_cb(const char *s, size_t n, void *arg)
{
	struct dump_ctx *ctx = arg;
	int rc;

	if (ctx->err)
		return -1;
	rc = buf_append(ctx->out, s, n);
	if (rc) {
		ctx->err = rc;
		return -1;
	}
	return 0;
}

int jsonx_dump(const json_t *v, struct buf *out)
{
	struct dump_ctx ctx = { out, 0 };
	size_t start = out->len;

	if (!v)
		return -EINVAL;
	if (json_dump_callback(v, dump_cb, &ctx, JSONX_DUMP_FLAGS) == 0 && !ctx.err)
		return 0;
	/* Leave the buffer as it was: a half-written document is useless. */
	out->len = start;
	if (out->data)
		out->data[start] = '\0';
	/* jansson fails on its own for a value it cannot encode (a NaN real,
	 * a string that is not UTF-8) or out of memory; it does not say which. */
	return ctx.err ? ctx.err : -EINVAL;
}

const char *jsonx_str(const json_t *obj, const char *key)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	return json_is_string(v) ? json_string_value(v) : NULL;
}

int jsonx_int(const json_t *obj, const char *key, long long *out)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	if (!v)
		return -ENOENT;
	if (!json_is_integer(v))
		return -EINVAL;
	*out = json_integer_value(v);
	return 0;
}

json_t *jsonx_array(const json_t *obj, const char *key)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	return json_is_array(v) ? v : NULL;
}

json_t *jsonx_object(const json_t *obj, const char *key)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	return json_is_object(v) ? v : NULL;
}

/*
 * json: bounded helpers over jansson for AWS JSON responses and requests.
 *
 * Prefix jsonx_ (jansson owns json_). A body over its cap is -EFBIG before
 * anything is parsed; malformed JSON is -EINVAL. Integers are never forced
 * through a double: callers that need exact numbers (DynamoDB) keep them as
 * strings, which DynamoDB's typed JSON does anyway.
 */
#ifndef AWSFS_JSON_H
#define AWSFS_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"

/* Parse len bytes of JSON (a single value, nothing after it but blanks).
 * Caller owns the reference in *out. 0, -EINVAL, -EFBIG or -ENOMEM. */
int jsonx_parse(const char *data, size_t len, size_t max, json_t **out);
/* Compact serialization appended to out (keys in insertion order). */
int jsonx_dump(const json_t *v, struct buf *out);
/* The string member key of obj, or NULL when absent or not a string. */
const char *jsonx_str(const json_t *obj, const char *key);
/* Integer member into *out; -ENOENT when absent, -EINVAL when not an integer. */
int jsonx_int(const json_t *obj, const char *key, long long *out);
/* Array member or NULL when absent or not an array. */
json_t *jsonx_array(const json_t *obj, const char *key);
/* Object member or NULL when absent or not an object. */
json_t *jsonx_object(const json_t *obj, const char *key);

#endif

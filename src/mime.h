/*
 * mime: a file name's Content-Type from a mime.types table.
 *
 * The table is the system's /etc/mime.types format: a type, then the
 * extensions that have it, one type a line, '#' comments. New S3 objects
 * get the type of their extension (as s3fs and rclone do), so a website
 * copied in serves text/html and image/png, not binary/octet-stream.
 */
#ifndef AWSFS_MIME_H
#define AWSFS_MIME_H

#include <stddef.h>

struct mime_table;

/* Parse a mime.types text (at most MIME_MAX_TEXT bytes are read; longer
 * lines, types and extensions are skipped). 0 or -ENOMEM. */
#define MIME_MAX_TEXT (4u << 20)
int mime_parse(const char *text, size_t len, struct mime_table **out);

/* Load a file: 0, -errno of the open/read, or -EFBIG past MIME_MAX_TEXT. */
int mime_load(const char *file, struct mime_table **out);

void mime_free(struct mime_table *t);

/* The type for name's extension (case-insensitive, the text after the last
 * '.' of its last component), or NULL. The string lives as long as t. */
const char *mime_lookup(const struct mime_table *t, const char *name);

/* Entries in the table. */
size_t mime_count(const struct mime_table *t);

#endif

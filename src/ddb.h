/*
 * ddb: the DynamoDB backend, MNT/dynamodb/...
 *
 *   dynamodb/                     the tables (ListTables, every page)
 *   dynamodb/T/.table.json        DescribeTable's Table object
 *   dynamodb/T/<key>.json         an item of a table with a partition key only
 *   dynamodb/T/<pk>/              a partition of a table with a sort key
 *   dynamodb/T/<pk>/<sk>.json     an item of such a table
 *
 * Key values are file names as ddbjson_name_encode makes them. Listing a
 * table is a parallel Scan projecting the key attributes; listing a
 * partition is a Query. Reading an item is GetItem (strongly consistent);
 * closing a written item file is PutItem, rm is DeleteItem. Files whose
 * names are no item names (an editor's or sed's temporary file) live in
 * memory until they are renamed onto an item name (then PutItem), removed,
 * or the mount ends. The layout and the JSON views are documented in
 * awsfs(1), DYNAMODB.
 */
#ifndef AWSFS_DDB_H
#define AWSFS_DDB_H

#include <stddef.h>

#include "aws.h"
#include "backend.h"
#include "ddbjson.h"
#include "fs.h"

#define DDB_DEFAULT_SCAN_SEGMENTS 4
#define DDB_MAX_SCAN_SEGMENTS 64
#define DDB_DEFAULT_LIST_MAX 10000

struct ddb_options {
	enum ddbjson_view view;  /* -o ddb_json=plain|typed */
	unsigned scan_segments;  /* -o ddb_scan_segments=, 1..DDB_MAX_SCAN_SEGMENTS */
	size_t list_max;         /* -o ddb_list_max=: items one listing reads at most */
};

/* Make the backend. client and cfg must outlive it; opts is copied.
 * 0 or -ENOMEM. */
int ddb_new(struct aws_client *client, const struct fs_config *cfg,
	    const struct ddb_options *opts, struct backend *out);

#endif

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
 * table is a Scan projecting the key attributes, in parallel segments when
 * the table is large (ddb_scan_segments_for); listing a
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

#define DDB_AUTO_SCAN_SEGMENTS 0         /* ddb_scan_segments=0: chosen per table */
#define DDB_AUTO_SCAN_SEGMENTS_MAX 4     /* the most the automatic choice takes */
#define DDB_MAX_SCAN_SEGMENTS 64
/*
 * Data one automatic segment reads before another is added: 4 pages of
 * 1 MB (Scan's page size), so a table listed in up to 4 sequential
 * requests takes one Scan and its one connection. AWS's rule of thumb for
 * parallel scans (about one segment per 2 GB, "Parallel scan" in the
 * DynamoDB developer guide) is for workers reading a whole table for
 * throughput; a listing reads at most ddb_list_max items and a person waits
 * for its pages one after another, so segments come sooner here.
 */
#define DDB_SCAN_SEGMENT_BYTES (4ll << 20)
#define DDB_DEFAULT_LIST_MAX 10000

struct ddb_options {
	enum ddbjson_view view;  /* -o ddb_json=plain|typed */
	unsigned scan_segments;  /* -o ddb_scan_segments=, 1..DDB_MAX_SCAN_SEGMENTS, or
				  * DDB_AUTO_SCAN_SEGMENTS */
	size_t list_max;         /* -o ddb_list_max=: items one listing reads at most */
};

/*
 * The Scan segments of a table listing when ddb_scan_segments is automatic,
 * from DescribeTable's TableSizeBytes and ItemCount (AWS refreshes both
 * about every six hours; 0 or less means unknown): 1 for a table whose data
 * the listing reads (at most list_max items of it) in a few 1 MB pages, one
 * more per DDB_SCAN_SEGMENT_BYTES beyond, at most max (>= 1). Pure.
 */
unsigned ddb_scan_segments_for(long long table_bytes, long long item_count, size_t list_max,
			       unsigned max);

/* Make the backend. client and cfg must outlive it; opts is copied.
 * 0 or -ENOMEM. */
int ddb_new(struct aws_client *client, const struct fs_config *cfg,
	    const struct ddb_options *opts, struct backend *out);

#endif

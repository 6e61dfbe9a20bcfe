/*
 * fuzz_xml: xml_parse on any bytes, as an S3 or query-protocol answer.
 *
 * Parses with the listing cap (paginate.c) and walks the whole tree
 * through the accessors; then parses again with the error-document cap
 * (aws.c) and checks the caps are exact: a document of at most that many
 * elements parses the same, a larger one is -EFBIG, never anything else.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "xml.h"

#define LISTING_MAX_NODES 200000 /* PAGINATE_XML_MAX_NODES */
#define ERROR_MAX_NODES 64       /* AWS_ERROR_XML_NODES */
#define WALK_MAX_DEPTH 64        /* XML_MAX_DEPTH in xml.c */

/* Paths the code follows in real answers. */
static const char *const paths[] = {
	"Error/Code", "Error/Message", "Contents/Key", "CommonPrefixes/Prefix",
	"Buckets/Bucket/Name", "ListQueuesResult/QueueUrl", "/", "", "a//b/",
};

static size_t walk(const struct xml_node *n, unsigned depth)
{
	size_t count = 0;

	for (; n; n = xml_next(n, NULL)) {
		const char *name = xml_name(n), *text = xml_text(n);

		FUZZ_CHECK(name && text);
		FUZZ_CHECK(*name);
		FUZZ_CHECK(depth < WALK_MAX_DEPTH);
		/* A child found by name is the first child of that name. */
		if (xml_child(n, NULL)) {
			const struct xml_node *first = xml_child(n, NULL);
			const char *t = xml_child_text(n, xml_name(first));

			FUZZ_CHECK(xml_child(n, xml_name(first)) == first);
			FUZZ_CHECK(t && strcmp(t, xml_text(first)) == 0);
		}
		count += 1 + walk(xml_child(n, NULL), depth + 1);
	}
	return count;
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
	struct xml_doc *doc = NULL, *small = NULL;
	const struct xml_node *root;
	size_t count;
	int rc, rc_small;

	rc = xml_parse((const char *)data, size, LISTING_MAX_NODES, &doc);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -EFBIG);
	FUZZ_CHECK((rc == 0) == (doc != NULL));
	if (rc) {
		FUZZ_CHECK(xml_root(doc) == NULL);
		/* An error document is a prefix of the same parse. */
		rc_small = xml_parse((const char *)data, size, ERROR_MAX_NODES, &small);
		FUZZ_CHECK(rc_small != 0 && small == NULL);
		return 0;
	}
	root = xml_root(doc);
	FUZZ_CHECK(root && xml_next(root, NULL) == NULL);
	count = walk(root, 0);
	FUZZ_CHECK(count >= 1 && count <= LISTING_MAX_NODES);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		const struct xml_node *n = xml_path(root, paths[i]);

		if (n)
			FUZZ_CHECK(xml_text(n) != NULL);
	}
	FUZZ_CHECK(xml_path(root, NULL) == NULL);

	rc_small = xml_parse((const char *)data, size, ERROR_MAX_NODES, &small);
	if (count <= ERROR_MAX_NODES)
		FUZZ_CHECK(rc_small == 0 && strcmp(xml_name(xml_root(small)), xml_name(root)) == 0 &&
			   strcmp(xml_text(xml_root(small)), xml_text(root)) == 0);
	else
		FUZZ_CHECK(rc_small == -EFBIG && small == NULL);
	xml_free(small);
	xml_free(doc);
	return 0;
}

/*
 * xml: a bounded, read-only tree of an AWS XML response, built with expat.
 *
 * AWS answers in small documents (an S3 listing page is 1,000 entries), so a
 * tree per page is simple and bounded: the parse fails with -EFBIG past
 * max_nodes elements or a depth of 64, and with -EINVAL on malformed XML
 * (including a document cut short). Names are local names: namespace
 * prefixes are dropped. Text is the concatenated character data of an
 * element, entity references resolved. External entities are never loaded.
 */
#ifndef AWSFS_XML_H
#define AWSFS_XML_H

#include <stddef.h>

struct xml_doc;
struct xml_node;

/* Parse len bytes. Caller frees *out with xml_free. */
int xml_parse(const char *data, size_t len, size_t max_nodes, struct xml_doc **out);
void xml_free(struct xml_doc *doc);

const struct xml_node *xml_root(const struct xml_doc *doc);
/* Local name of the element. */
const char *xml_name(const struct xml_node *n);
/* Text content ("" when none; never NULL). */
const char *xml_text(const struct xml_node *n);
/* First child element, or first with that local name when name != NULL. */
const struct xml_node *xml_child(const struct xml_node *n, const char *name);
/* Next sibling element, or next with that local name when name != NULL. */
const struct xml_node *xml_next(const struct xml_node *n, const char *name);
/* Text of the first child with that name, or NULL when there is none. */
const char *xml_child_text(const struct xml_node *n, const char *name);
/* Follow a '/'-separated path of child names from n ("Error/Code"); NULL if
 * any step is missing. */
const struct xml_node *xml_path(const struct xml_node *n, const char *path);

#endif

/*
 * test_xml: the bounded expat tree (src/xml.c) on the documents awsfs
 * really reads (S3 listing pages, S3 and query-protocol errors) and on the
 * hostile ones it must refuse: truncated, garbage, too many nodes, too deep,
 * entity bombs and external entities.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "xml.h"

#define BIG_CAP 100000

/* A ListObjectsV2 page as S3 sends it (delimiter "/", more pages to come),
 * with an '&' and a '<' in a key and the quoted ETags S3 always sends. It
 * ends exactly with the root's end tag so that every shorter prefix of it is
 * a truncated document. */
static const char s3_list[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
	"<Name>bucket</Name><Prefix>photos/</Prefix><KeyCount>4</KeyCount>"
	"<MaxKeys>3</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>"
	"<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>\n"
	"  <Contents>\n"
	"    <Key>photos/a.jpg</Key>\n"
	"    <LastModified>2009-10-12T17:50:30.000Z</LastModified>\n"
	"    <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag>\n"
	"    <Size>434234</Size>\n"
	"    <StorageClass>STANDARD</StorageClass>\n"
	"  </Contents>\n"
	"  <Contents><Key>photos/b&amp;c &lt;1&gt;.txt</Key>"
	"<LastModified>2024-01-02T03:04:05.000Z</LastModified>"
	"<ETag>&quot;9b2cf535f27731c974343645a3985328-2&quot;</ETag><Size>0</Size>"
	"<StorageClass>STANDARD</StorageClass></Contents>\n"
	"  <Contents><Key>photos/caf\xc3\xa9 \xe2\x82\xac.txt</Key>"
	"<LastModified>2024-01-02T03:04:06.000Z</LastModified>"
	"<ETag>&quot;00000000000000000000000000000000&quot;</ETag><Size>5368709120</Size>"
	"<StorageClass>GLACIER</StorageClass></Contents>\n"
	"  <CommonPrefixes><Prefix>photos/2023/</Prefix></CommonPrefixes>\n"
	"  <CommonPrefixes><Prefix>photos/2024/</Prefix></CommonPrefixes>\n"
	"<StartAfter>photos/</StartAfter>"
	"</ListBucketResult>";

static const char s3_error[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<Error><Code>NoSuchKey</Code><Message>The resource you requested does not "
	"exist</Message><Key>photos/missing.jpg</Key>"
	"<RequestId>4442587FB7D0A2F9</RequestId><HostId>h0st</HostId></Error>";

static const char query_error[] =
	"<?xml version=\"1.0\"?>\n"
	"<ErrorResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">\n"
	"  <Error>\n"
	"    <Type>Sender</Type>\n"
	"    <Code>AWS.SimpleQueueService.NonExistentQueue</Code>\n"
	"    <Message>The specified queue does not exist.</Message>\n"
	"    <Detail/>\n"
	"  </Error>\n"
	"  <RequestId>42d59b56-7407-4c4a-be0f-4c88daeea257</RequestId>\n"
	"</ErrorResponse>";

static int parse(const char *s, size_t max_nodes, struct xml_doc **doc)
{
	return xml_parse(s, strlen(s), max_nodes, doc);
}

/* Expect a parse to fail with err and to leave *out NULL. */
static void expect_fail(const char *s, size_t len, size_t max_nodes, int err)
{
	struct xml_doc *doc = (struct xml_doc *)&doc; /* poison: must be reset */

	assert_int_equal(xml_parse(s, len, max_nodes, &doc), err);
	assert_null(doc);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_s3_list_page(void **state)
{
	struct xml_doc *doc;
	const struct xml_node *root, *c, *cp;
	static const char *const keys[] = {
		"photos/a.jpg", "photos/b&c <1>.txt", "photos/caf\xc3\xa9 \xe2\x82\xac.txt",
	};
	size_t n = 0;

	assert_int_equal(parse(s3_list, BIG_CAP, &doc), 0);
	root = xml_root(doc);
	/* the default namespace does not leak into names */
	assert_string_equal(xml_name(root), "ListBucketResult");
	assert_string_equal(xml_child_text(root, "Name"), "bucket");
	assert_string_equal(xml_child_text(root, "IsTruncated"), "true");
	assert_string_equal(xml_child_text(root, "NextContinuationToken"),
			    "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");

	for (c = xml_child(root, "Contents"); c; c = xml_next(c, "Contents")) {
		assert_true(n < 3);
		assert_string_equal(xml_name(c), "Contents");
		assert_string_equal(xml_child_text(c, "Key"), keys[n]);
		n++;
	}
	assert_int_equal(n, 3);

	c = xml_child(root, "Contents");
	assert_string_equal(xml_child_text(c, "ETag"), "\"fba9dede5f27731c9771645a39863328\"");
	assert_string_equal(xml_child_text(c, "Size"), "434234");
	assert_string_equal(xml_child_text(c, "LastModified"), "2009-10-12T17:50:30.000Z");
	c = xml_next(xml_next(c, "Contents"), "Contents");
	assert_string_equal(xml_child_text(c, "Size"), "5368709120");
	assert_string_equal(xml_child_text(c, "StorageClass"), "GLACIER");
	assert_string_equal(xml_child_text(c, "ETag"), "\"00000000000000000000000000000000\"");
	/* the last Contents has no Contents after it, but other siblings */
	assert_null(xml_next(c, "Contents"));
	assert_non_null(xml_next(c, NULL));

	cp = xml_child(root, "CommonPrefixes");
	assert_string_equal(xml_text(xml_path(cp, "Prefix")), "photos/2023/");
	cp = xml_next(cp, "CommonPrefixes");
	assert_string_equal(xml_child_text(cp, "Prefix"), "photos/2024/");
	assert_null(xml_next(cp, "CommonPrefixes"));
	/* a name search skips the siblings in between */
	assert_string_equal(xml_text(xml_next(xml_child(root, "Name"), "StartAfter")), "photos/");
	xml_free(doc);
}

/* xml_next(n, NULL) walks every sibling element in document order; the
 * whitespace between them is not an element. */
static void test_sibling_order(void **state)
{
	static const char *const names[] = {
		"Name", "Prefix", "KeyCount", "MaxKeys", "Delimiter", "IsTruncated",
		"NextContinuationToken", "Contents", "Contents", "Contents",
		"CommonPrefixes", "CommonPrefixes", "StartAfter",
	};
	struct xml_doc *doc;
	const struct xml_node *c;
	size_t n = 0;

	assert_int_equal(parse(s3_list, BIG_CAP, &doc), 0);
	for (c = xml_child(xml_root(doc), NULL); c; c = xml_next(c, NULL)) {
		assert_true(n < sizeof(names) / sizeof(names[0]));
		assert_string_equal(xml_name(c), names[n]);
		n++;
	}
	assert_int_equal(n, sizeof(names) / sizeof(names[0]));
	xml_free(doc);
}

static void test_namespace_prefix_dropped(void **state)
{
	struct xml_doc *doc;
	const struct xml_node *root;

	assert_int_equal(parse("<s3:ListBucketResult xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			       "<s3:Contents><s3:Key>k</s3:Key></s3:Contents>"
			       "</s3:ListBucketResult>", BIG_CAP, &doc), 0);
	root = xml_root(doc);
	assert_string_equal(xml_name(root), "ListBucketResult");
	assert_string_equal(xml_text(xml_path(root, "Contents/Key")), "k");
	xml_free(doc);
	/* a prefix bound to no namespace is not well-formed */
	expect_fail("<s3:a/>", 7, BIG_CAP, -EINVAL);
}

static void test_s3_error(void **state)
{
	struct xml_doc *doc;
	const struct xml_node *root;

	assert_int_equal(parse(s3_error, BIG_CAP, &doc), 0);
	root = xml_root(doc);
	/* S3's root is <Error> itself: the code is a child of the root, and a
	 * path is followed from the root's children */
	assert_string_equal(xml_name(root), "Error");
	assert_null(xml_path(root, "Error/Code"));
	assert_string_equal(xml_text(xml_path(root, "Code")), "NoSuchKey");
	assert_string_equal(xml_child_text(root, "RequestId"), "4442587FB7D0A2F9");
	assert_string_equal(xml_child_text(root, "Message"),
			    "The resource you requested does not exist");
	xml_free(doc);
}

static void test_query_error(void **state)
{
	struct xml_doc *doc;
	const struct xml_node *root, *err;

	assert_int_equal(parse(query_error, BIG_CAP, &doc), 0);
	root = xml_root(doc);
	assert_string_equal(xml_name(root), "ErrorResponse");
	assert_string_equal(xml_text(xml_path(root, "Error/Code")),
			    "AWS.SimpleQueueService.NonExistentQueue");
	assert_string_equal(xml_text(xml_path(root, "Error/Message")),
			    "The specified queue does not exist.");
	assert_string_equal(xml_child_text(root, "RequestId"),
			    "42d59b56-7407-4c4a-be0f-4c88daeea257");
	/* missing steps anywhere give NULL */
	assert_null(xml_path(root, "Error/Nope"));
	assert_null(xml_path(root, "Nope/Code"));
	assert_null(xml_path(root, "Error/Code/Deeper"));
	/* a prefix of a name is not the name */
	assert_null(xml_path(root, "Err/Code"));
	assert_null(xml_path(root, "Error/Cod"));
	/* an empty element has text "", an absent one none */
	err = xml_child(root, "Error");
	assert_non_null(xml_child(err, "Detail"));
	assert_string_equal(xml_child_text(err, "Detail"), "");
	assert_null(xml_child_text(err, "Nope"));
	xml_free(doc);
}

/* Every strict prefix of a valid document is a document cut short. */
static void test_truncated(void **state)
{
	size_t len = strlen(s3_list);

	for (size_t cut = 0; cut < len; cut++)
		expect_fail(s3_list, cut, BIG_CAP, -EINVAL);
	/* and a cut right in the middle of an entity reference */
	expect_fail("<a>&quo", 7, BIG_CAP, -EINVAL);
}

static void test_garbage(void **state)
{
	static const char *const bad[] = {
		"not xml at all",
		"{\"Contents\": []}",
		"<a></b>",
		"<a><b></a></b>",
		"<a/><b/>",               /* two roots */
		"<a>&undefined;</a>",     /* no DTD declares it */
		"<a>&#0;</a>",            /* not an XML character */
		"<a x=\"1\" x=\"2\"/>",   /* duplicate attribute */
		"<a>\xff\xfe</a>",        /* not UTF-8 */
		"<a>\xc3</a>",            /* UTF-8 cut inside a character */
		"   ",
		"<?xml version=\"1.0\"?>",
	};
	static const char with_nul[] = "<a>x\0y</a>";

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_fail(bad[i], strlen(bad[i]), BIG_CAP, -EINVAL);
	expect_fail("", 0, BIG_CAP, -EINVAL);
	expect_fail(NULL, 0, BIG_CAP, -EINVAL);
	expect_fail(with_nul, sizeof(with_nul) - 1, BIG_CAP, -EINVAL);
	/* trailing garbage after a complete root */
	expect_fail("<a/>junk", 8, BIG_CAP, -EINVAL);
}

static void test_node_cap(void **state)
{
	/* 1 root + 3 Contents + 3 Key = 7 elements */
	static const char doc7[] = "<R><Contents><Key>a</Key></Contents><Contents><Key>b</Key>"
				   "</Contents><Contents><Key>c</Key></Contents></R>";
	struct xml_doc *doc;

	assert_int_equal(parse(doc7, 7, &doc), 0);
	xml_free(doc);
	expect_fail(doc7, strlen(doc7), 6, -EFBIG);
	expect_fail(doc7, strlen(doc7), 0, -EFBIG);
}

/* n nested <d> elements, the innermost holding "x"; caller frees. */
static char *nested(size_t n)
{
	char *s = malloc(n * 7 + 2);
	size_t o = 0;

	assert_non_null(s);
	for (size_t i = 0; i < n; i++) {
		memcpy(s + o, "<d>", 3);
		o += 3;
	}
	s[o++] = 'x';
	for (size_t i = 0; i < n; i++) {
		memcpy(s + o, "</d>", 4);
		o += 4;
	}
	s[o] = '\0';
	return s;
}

static void test_depth_cap(void **state)
{
	char *ok = nested(64), *deep = nested(65), *very = nested(100000);
	struct xml_doc *doc;
	const struct xml_node *n;
	size_t depth = 1;

	assert_int_equal(parse(ok, BIG_CAP, &doc), 0);
	for (n = xml_root(doc); xml_child(n, "d"); n = xml_child(n, "d"))
		depth++;
	assert_int_equal(depth, 64);
	assert_string_equal(xml_text(n), "x");
	xml_free(doc);
	expect_fail(deep, strlen(deep), BIG_CAP, -EFBIG);
	/* the depth cap is hit long before the node cap is */
	expect_fail(very, strlen(very), 1000000, -EFBIG);
	free(ok);
	free(deep);
	free(very);
}

static void test_billion_laughs(void **state)
{
	static const char bomb[] =
		"<?xml version=\"1.0\"?>\n"
		"<!DOCTYPE lolz [\n"
		" <!ENTITY lol \"lol\">\n"
		" <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
		" <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
		" <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
		" <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
		" <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
		" <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
		" <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
		" <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
		" <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
		"]>\n"
		"<lolz>&lol9;</lolz>";
	/* the same idea, a single entity referenced many times (quadratic blowup) */
	static const char quad[] =
		"<!DOCTYPE q [<!ENTITY a \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\">]>"
		"<q>&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;</q>";
	double t0 = now_s();

	expect_fail(bomb, strlen(bomb), BIG_CAP, -EINVAL);
	expect_fail(quad, strlen(quad), BIG_CAP, -EINVAL);
	/* refused at the DOCTYPE, not after an expansion: well under a second
	 * even under sanitizers (expanding lol9 would be 3 GB of text) */
	assert_true(now_s() - t0 < 1.0);
}

static void test_external_entity(void **state)
{
	static const char *const xxe[] = {
		/* classic XXE: a general external entity */
		"<?xml version=\"1.0\"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "
		"\"file:///etc/passwd\">]><foo>&xxe;</foo>",
		/* a parameter entity pulled in from the internal subset */
		"<!DOCTYPE foo [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]><foo/>",
		/* an external DTD subset */
		"<!DOCTYPE foo SYSTEM \"http://127.0.0.1:9/evil.dtd\"><foo>&bar;</foo>",
		/* a DOCTYPE with nothing in it is refused too: AWS never sends one */
		"<!DOCTYPE foo><foo/>",
	};

	for (size_t i = 0; i < sizeof(xxe) / sizeof(xxe[0]); i++)
		expect_fail(xxe[i], strlen(xxe[i]), BIG_CAP, -EINVAL);
}

static void test_cdata_and_entities(void **state)
{
	struct xml_doc *doc;
	const struct xml_node *root;

	assert_int_equal(parse("<R><Key><![CDATA[a<b>&amp;]]></Key>"
			       "<Mixed>x<![CDATA[<y>]]>z</Mixed>"
			       "<Ent>&lt;&gt;&amp;&apos;&quot;&#65;&#x20AC;</Ent></R>",
			       BIG_CAP, &doc), 0);
	root = xml_root(doc);
	/* CDATA is taken literally: no markup, no entities */
	assert_string_equal(xml_child_text(root, "Key"), "a<b>&amp;");
	assert_string_equal(xml_child_text(root, "Mixed"), "x<y>z");
	assert_string_equal(xml_child_text(root, "Ent"), "<>&'\"A\xe2\x82\xac");
	xml_free(doc);
}

/* An element's text is its own character data, not its children's. */
static void test_text_is_own(void **state)
{
	struct xml_doc *doc;
	const struct xml_node *root;

	assert_int_equal(parse("<a>x<b>y</b>z<c/>w</a>", BIG_CAP, &doc), 0);
	root = xml_root(doc);
	assert_string_equal(xml_text(root), "xzw");
	assert_string_equal(xml_child_text(root, "b"), "y");
	assert_string_equal(xml_child_text(root, "c"), "");
	xml_free(doc);
}

static void test_utf8(void **state)
{
	/* keys in Japanese, with an emoji (4-byte UTF-8), and an element name
	 * that is not ASCII */
	static const char latin1[] = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"
				     "<K>\xe9\xe9\xe9</K>";
	struct xml_doc *doc;
	const struct xml_node *root;

	assert_int_equal(parse("<R><Key>\xe5\x86\x99\xe7\x9c\x9f/\xf0\x9f\x98\x80.png</Key>"
			       "<Cl\xc3\xa9>v</Cl\xc3\xa9></R>", BIG_CAP, &doc), 0);
	root = xml_root(doc);
	assert_string_equal(xml_child_text(root, "Key"),
			    "\xe5\x86\x99\xe7\x9c\x9f/\xf0\x9f\x98\x80.png");
	assert_string_equal(xml_child_text(root, "Cl\xc3\xa9"), "v");
	xml_free(doc);

	/* a declared Latin-1 document comes out as UTF-8, twice as long as its
	 * input text: the text cap must leave room for that */
	assert_int_equal(parse(latin1, BIG_CAP, &doc), 0);
	assert_string_equal(xml_text(xml_root(doc)), "\xc3\xa9\xc3\xa9\xc3\xa9");
	xml_free(doc);
}

/* A full 1,000-entry page with a long key: many arena chunks and a text
 * larger than any chunk; ASan checks that all of it is freed. */
static void test_large_page(void **state)
{
	size_t cap = 1000 * 200 + 300000, o = 0, n = 0;
	char *s = malloc(cap);
	struct xml_doc *doc;
	const struct xml_node *c;

	assert_non_null(s);
	o += (size_t)snprintf(s + o, cap - o, "<ListBucketResult>");
	for (int i = 0; i < 1000; i++)
		o += (size_t)snprintf(s + o, cap - o,
				      "<Contents><Key>k%04d</Key><Size>%d</Size></Contents>", i, i);
	o += (size_t)snprintf(s + o, cap - o, "<Long>");
	memset(s + o, 'L', 280000);
	o += 280000;
	o += (size_t)snprintf(s + o, cap - o, "</Long></ListBucketResult>");
	assert_true(o < cap);

	assert_int_equal(xml_parse(s, o, 3002, &doc), 0);
	for (c = xml_child(xml_root(doc), "Contents"); c; c = xml_next(c, "Contents")) {
		char want[16];

		snprintf(want, sizeof(want), "k%04zu", n);
		assert_string_equal(xml_child_text(c, "Key"), want);
		n++;
	}
	assert_int_equal(n, 1000);
	assert_int_equal(strlen(xml_child_text(xml_root(doc), "Long")), 280000);
	xml_free(doc);
	/* root + 1000 * (Contents, Key, Size) + Long = 3002: one fewer fails */
	expect_fail(s, o, 3002 - 1, -EFBIG);
	free(s);
}

static void test_null_safe(void **state)
{
	struct xml_doc *doc;
	const struct xml_node *root;

	xml_free(NULL);
	assert_null(xml_root(NULL));
	assert_null(xml_child(NULL, NULL));
	assert_null(xml_next(NULL, "x"));
	assert_null(xml_child_text(NULL, "x"));
	assert_null(xml_path(NULL, "a/b"));
	assert_string_equal(xml_text(NULL), "");
	/* chaining through a missing node stays safe */
	assert_string_equal(xml_text(xml_child(xml_child(NULL, "a"), "b")), "");

	assert_int_equal(parse("<a><b><c>t</c></b></a>", BIG_CAP, &doc), 0);
	root = xml_root(doc);
	assert_null(xml_path(root, NULL));
	/* empty steps are skipped; an empty path is the node itself */
	assert_ptr_equal(xml_path(root, ""), root);
	assert_string_equal(xml_text(xml_path(root, "/b//c/")), "t");
	assert_null(xml_child(xml_path(root, "b/c"), NULL));
	xml_free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_s3_list_page),
		cmocka_unit_test(test_sibling_order),
		cmocka_unit_test(test_namespace_prefix_dropped),
		cmocka_unit_test(test_s3_error),
		cmocka_unit_test(test_query_error),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_node_cap),
		cmocka_unit_test(test_depth_cap),
		cmocka_unit_test(test_billion_laughs),
		cmocka_unit_test(test_external_entity),
		cmocka_unit_test(test_cdata_and_entities),
		cmocka_unit_test(test_text_is_own),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_large_page),
		cmocka_unit_test(test_null_safe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

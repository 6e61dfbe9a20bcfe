/* mime: the mime.types table and extension lookups. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "mime.h"

static const char sample[] =
	"# comment line\n"
	"text/html\t\t\t\thtml htm shtml\n"
	"image/png png\n"
	"application/json json # a trailing comment\n"
	"   text/plain  txt   text\r\n"
	"text/x-later html txt\n"            /* listed again: the first line wins */
	"no-slash-type abc\n"                /* not a type: ignored */
	"application/x-empty\n"              /* no extension */
	"image/svg+xml svg svgz";            /* no final newline */

static struct mime_table *load(void)
{
	struct mime_table *t = NULL;

	assert_int_equal(mime_parse(sample, strlen(sample), &t), 0);
	assert_non_null(t);
	return t;
}

static void test_lookup(void **state)
{
	struct mime_table *t = load();

	(void)state;
	assert_string_equal(mime_lookup(t, "index.html"), "text/html");
	assert_string_equal(mime_lookup(t, "site/a/b/page.HTM"), "text/html");
	assert_string_equal(mime_lookup(t, "logo.png"), "image/png");
	assert_string_equal(mime_lookup(t, "x.json"), "application/json");
	assert_string_equal(mime_lookup(t, "notes.txt"), "text/plain");
	assert_string_equal(mime_lookup(t, "pic.svgz"), "image/svg+xml");
	assert_string_equal(mime_lookup(t, "archive.tar.text"), "text/plain");
	assert_int_equal(mime_count(t), 9); /* "html" and "txt" again: once */
	mime_free(t);
}

static void test_no_type(void **state)
{
	struct mime_table *t = load();

	(void)state;
	assert_null(mime_lookup(t, "Makefile"));
	assert_null(mime_lookup(t, ".bashrc"));         /* a dot file has no extension */
	assert_null(mime_lookup(t, "dir.html/README")); /* only the last component */
	assert_null(mime_lookup(t, "trailing."));
	assert_null(mime_lookup(t, "x.abc"));           /* from the line without a type */
	assert_null(mime_lookup(t, "x.comment"));
	assert_null(mime_lookup(t, "x.unknown"));
	assert_null(mime_lookup(NULL, "x.html"));
	mime_free(t);
}

static void test_hostile_text(void **state)
{
	/* NULs, a 300-byte token, control bytes: skipped, never a crash. */
	char text[1024];
	struct mime_table *t = NULL;
	size_t n = 0;

	(void)state;
	memcpy(text + n, "a/b x\0y\n", 8);
	n += 8;
	memcpy(text + n, "t/long ", 7);
	n += 7;
	memset(text + n, 'e', 300);
	n += 300;
	memcpy(text + n, " ok\n\x01/\x02 bad\nz/z zz", sizeof(" ok\n\x01/\x02 bad\nz/z zz") - 1);
	n += sizeof(" ok\n\x01/\x02 bad\nz/z zz") - 1;
	assert_int_equal(mime_parse(text, n, &t), 0);
	assert_string_equal(mime_lookup(t, "f.ok"), "t/long");
	assert_string_equal(mime_lookup(t, "f.zz"), "z/z");
	assert_null(mime_lookup(t, "f.bad"));
	mime_free(t);
	assert_int_equal(mime_parse("", 0, &t), 0);
	assert_int_equal(mime_count(t), 0);
	assert_null(mime_lookup(t, "a.html"));
	mime_free(t);
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/awsfs-mime-XXXXXX";
	int fd = mkstemp(path);
	struct mime_table *t = NULL;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, sample, strlen(sample)), (int)strlen(sample));
	close(fd);
	assert_int_equal(mime_load(path, &t), 0);
	assert_string_equal(mime_lookup(t, "a.png"), "image/png");
	mime_free(t);
	unlink(path);
	assert_int_equal(mime_load(path, &t), -2 /* ENOENT */);
	assert_null(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_no_type),
		cmocka_unit_test(test_hostile_text),
		cmocka_unit_test(test_load_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

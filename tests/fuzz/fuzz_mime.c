/*
 * fuzz_mime: the mime.types table (mime_types=, /etc/mime.types).
 *
 * The input is a mime.types text. Checks: it parses (or fails only with
 * -ENOMEM), every lookup answers NULL or a type holding a '/', the same
 * name always answers the same, and everything is freed.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "mime.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {
		"index.html", "a/b/c.PNG", "x.json", "noext", ".hidden", "dir.d/file", "t.",
		"archive.tar.gz", "",
	};
	struct mime_table *t = NULL;
	int rc = mime_parse((const char *)data, size, &t);
	char name[80];
	size_t n = 0;

	FUZZ_CHECK(rc == 0 || rc == -ENOMEM);
	if (rc)
		return 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *a = mime_lookup(t, names[i]);

		FUZZ_CHECK(!a || strchr(a, '/'));
		FUZZ_CHECK(a == mime_lookup(t, names[i]));
	}
	/* "f." + each word of the input: what the file lists must be found. */
	for (size_t i = 0; i <= size; i++) {
		char c = i < size ? (char)data[i] : ' ';

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '#' && c && n < 60) {
			name[2 + n++] = c;
			continue;
		}
		if (n) {
			const char *a;

			name[0] = 'f';
			name[1] = '.';
			name[2 + n] = '\0';
			a = mime_lookup(t, name);
			FUZZ_CHECK(!a || strchr(a, '/'));
		}
		n = 0;
	}
	FUZZ_CHECK(mime_count(t) <= size);
	mime_free(t);
	return 0;
}

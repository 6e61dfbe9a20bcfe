/*
 * fuzz: helpers every libFuzzer target uses. See fuzz.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "log.h"

/* stderr as it was before libFuzzer's -close_fd_mask closed it, so that
 * a violated property is still reported. */
static int report_fd = 2;

void fuzz_fail(const char *file, int line, const char *what)
{
	char msg[1024];
	int n = snprintf(msg, sizeof(msg), "%s:%d: property violated: %s\n", file, line, what);

	if (n > 0 && write(report_fd, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1))
		;
	abort();
}

void fuzz_note(const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(msg) - 2)
		n = (int)sizeof(msg) - 2;
	msg[n++] = '\n';
	if (write(report_fd, msg, (size_t)n))
		;
}

void fuzz_init(void)
{
	int fd = dup(2);

	if (fd >= 0)
		report_fd = fd;
	/* Errors still reach stderr; scripts/fuzz.sh runs with
	 * -close_fd_mask=2 so that thousands of them cost nothing. */
	log_init(1, LOG_LVL_ERROR);
	setenv("TZ", "UTC", 1);
}

char *fuzz_cstr(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	if (!s)
		abort();
	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

size_t fuzz_split(char *s, char sep, char **out, size_t max)
{
	size_t n = 0;

	while (s && n < max) {
		char *next = strchr(s, sep);

		if (next)
			*next++ = '\0';
		out[n++] = s;
		s = next;
	}
	return n;
}

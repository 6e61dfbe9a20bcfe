/*
 * buf: a growable byte buffer with a hard cap.
 *
 * Every buffer filled from the network or from a user has a maximum size
 * (curl's dynbuf habit): appending past it fails with -EFBIG instead of
 * growing without bound. The data is always NUL-terminated for convenience;
 * the terminator is not counted in len.
 */
#ifndef AWSFS_BUF_H
#define AWSFS_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;   /* NULL until the first append */
	size_t len;   /* bytes in use, excluding the NUL */
	size_t alloc; /* bytes allocated */
	size_t max;   /* largest len allowed */
};

/* Prepare an empty buffer that may hold at most max bytes. Allocates nothing. */
void buf_init(struct buf *b, size_t max);
/* Append n bytes. Returns 0, -EFBIG past the cap (buffer unchanged) or -ENOMEM. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Empty the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* Hand the data to the caller (caller frees; never NULL unless out of
 * memory) and leave the buffer empty. */
char *buf_detach(struct buf *b);
void buf_free(struct buf *b);

#endif

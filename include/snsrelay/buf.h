/*
 * Growable byte buffer with a maximum size fixed at creation, for data
 * that comes from a socket.  The contents are always NUL-terminated.
 */
#ifndef SNSRELAY_BUF_H
#define SNSRELAY_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;	/* NULL until the first append */
	size_t len;	/* bytes stored, excluding the terminating NUL */
	size_t cap;	/* bytes allocated */
	size_t max;	/* maximum len; an append beyond it fails */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);

/* Makes room for extra more bytes and the NUL without changing the
 * contents.  Returns 0, or -1 when max would be exceeded or memory is
 * short. */
int buf_reserve(struct buf *b, size_t extra);

/* Appends n bytes.  Returns 0, or -1 when max would be exceeded or
 * memory is short; the buffer is unchanged on failure. */
int buf_append(struct buf *b, const void *data, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Hands the contents to the caller (free() them) and empties b. */
char *buf_steal(struct buf *b);

#endif

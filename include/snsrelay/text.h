/*
 * UTF-8 text helpers for rendering untrusted values.
 */
#ifndef SNSRELAY_TEXT_H
#define SNSRELAY_TEXT_H

#include <stddef.h>

/* Number of Unicode code points in the valid UTF-8 string s. */
size_t text_length(const char *s);

/*
 * Returns a new copy of the first len bytes of s that is valid UTF-8:
 * invalid sequences become U+FFFD, NUL and control characters other than
 * newline and tab become a space.  Returns NULL when memory is short.
 */
char *text_sanitize(const char *s, size_t len);

/*
 * Returns a new copy of s shortened to at most max_chars code points; a
 * shortened copy ends with "…" (counted in max_chars).  s must be valid
 * UTF-8.  Returns NULL when memory is short.
 */
char *text_truncate(const char *s, size_t max_chars);

#endif

/*
 * UTF-8 text helpers for rendering untrusted values, and the ISO 8601 UTC
 * times that alerts carry.
 */
#ifndef SNSRELAY_TEXT_H
#define SNSRELAY_TEXT_H

#include <stddef.h>
#include <time.h>

#include "snsrelay/buf.h"

/* Size of a buffer for text_format_time: "2024-10-30T19:54:35Z" + NUL. */
#define TEXT_TIME_SIZE 21

/* Number of Unicode code points in the valid UTF-8 string s. */
size_t text_length(const char *s);

/*
 * Returns a new copy of the first len bytes of s that is valid UTF-8.
 * Each maximal invalid sequence becomes one U+FFFD.  NUL, the other C0
 * and C1 control characters except newline and tab, DEL, and the
 * bidirectional override and isolate characters (U+202A-U+202E,
 * U+2066-U+2069) become a space.  A NULL s gives an empty string.
 * Returns NULL when memory is short.
 */
char *text_sanitize(const char *s, size_t len);

/* Appends s[0..len) to b as text_sanitize returns it.  A NULL s appends
 * nothing.  Returns 0, or -1 when b's maximum is reached or memory is
 * short, and b may then hold part of the text. */
int text_append_sanitized(struct buf *b, const char *s, size_t len);

/*
 * Returns a new copy of s shortened to at most max_chars code points; a
 * shortened copy ends with "…" (counted in max_chars).  s must be valid
 * UTF-8.  Returns NULL when memory is short.
 */
char *text_truncate(const char *s, size_t max_chars);

/*
 * Parses an ISO 8601 time with seconds, as CloudTrail, EventBridge, SNS
 * and CloudWatch write it: "2024-10-30T19:54:35Z",
 * "2012-04-26T20:45:04.751Z" or "2024-01-01T00:00:00.000+0000".  A
 * fraction is ignored; an offset (+HH, +HHMM, +HH:MM) is applied.
 * Returns 0 and sets *out, or -1 for any other text or a year outside
 * 1000-9999.
 */
int text_parse_time(const char *s, time_t *out);

/* Writes t as "YYYY-MM-DDTHH:MM:SSZ" into out (TEXT_TIME_SIZE bytes or
 * more).  Returns 0, or -1 with out empty when t is out of range. */
int text_format_time(time_t t, char *out, size_t size);

/*
 * Makes name (an IANA zone such as "Asia/Seoul") the zone of every local
 * time the process formats, by setting TZ.  Call it once at start-up,
 * before threads exist.  Returns 0, or -1 when memory is short.
 */
int text_use_timezone(const char *name);

/* Writes t in the zone set by text_use_timezone as
 * "YYYY-MM-DD HH:MM:SS ABBR (+HHMM)" into out.  Returns 0 or -1. */
int text_format_local_time(time_t t, char *out, size_t size);

#endif

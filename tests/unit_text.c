#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/mman.h>
#include <unistd.h>

#include "snsrelay/buf.h"
#include "snsrelay/text.h"

#include "tap.h"

#define FFFD "\xEF\xBF\xBD"

struct length_case {
	const char *name;
	const char *s;
	size_t want;
};

static const struct length_case length_cases[] = {
	{ "empty", "", 0 },
	{ "ascii", "abc", 3 },
	{ "two-byte", "\xC3\xA9t\xC3\xA9", 3 },
	{ "three-byte", "\xED\x95\x9C\xEA\xB5\xAD", 2 },
	{ "four-byte", "\xF0\x9F\x98\x80!", 2 },
	{ "ellipsis", "\xE2\x80\xA6", 1 },
};

static void
test_length(void)
{
	size_t i;

	for (i = 0; i < sizeof(length_cases) / sizeof(length_cases[0]); i++)
		is_int(text_length(length_cases[i].s), length_cases[i].want,
		       "length %s", length_cases[i].name);
}

/* UTF-8 units for the long-string tests, which cross the eight-byte
 * words that text_length and text_truncate read at once. */
struct unit_case {
	const char *name;
	const char *unit;
	size_t code_points;
};

static const struct unit_case unit_cases[] = {
	{ "ascii", "a", 1 },
	{ "two-byte", "\xC3\xA9", 1 },
	{ "three-byte", "\xED\x95\x9C", 1 },
	{ "four-byte", "\xF0\x9F\x98\x80", 1 },
	{ "mixed", "a\xC3\xA9\xF0\x9F\x98\x80-\xED\x95\x9C", 5 },
};

/* Returns prefix ASCII bytes followed by count copies of unit. */
static char *
unit_string(const char *unit, size_t prefix, size_t count)
{
	struct buf b;
	size_t i;

	buf_init(&b, 1 << 20);
	buf_append(&b, "", 0);
	for (i = 0; i < prefix; i++)
		buf_append(&b, "p", 1);
	for (i = 0; i < count; i++)
		buf_append_str(&b, unit);
	return buf_steal(&b);
}

static void
test_length_long(void)
{
	const struct unit_case *c;
	size_t i, prefix, count, bad;
	char *s;

	for (i = 0; i < sizeof(unit_cases) / sizeof(unit_cases[0]); i++) {
		c = &unit_cases[i];
		bad = 0;
		for (prefix = 0; prefix < 8; prefix++) {
			for (count = 0; count < 40; count++) {
				s = unit_string(c->unit, prefix, count);
				if (text_length(s) !=
				    prefix + count * c->code_points)
					bad++;
				free(s);
			}
		}
		is_int(bad, 0, "length of long %s strings", c->name);
	}
	is_int(text_length("\x80\x80\x80\x80\x80\x80\x80\x80\x80" "a"), 1,
	       "length skips stray continuation bytes");
}

struct sanitize_case {
	const char *name;
	const char *in;
	size_t len;
	const char *want;
};

#define S(x) x, sizeof(x) - 1

static const struct sanitize_case sanitize_cases[] = {
	{ "plain ascii", S("hello"), "hello" },
	{ "newline and tab kept", S("a\nb\tc"), "a\nb\tc" },
	{ "NUL inside", S("a\0b"), "a b" },
	{ "C0 controls", S("a\x01\x1b[31mb"), "a  [31mb" },
	{ "carriage return", S("a\rb"), "a b" },
	{ "DEL", S("a\x7f" "b"), "a b" },
	{ "C1 control NEL", S("a\xC2\x85" "b"), "a b" },
	{ "valid two-byte", S("caf\xC3\xA9"), "caf\xC3\xA9" },
	{ "valid four-byte", S("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80" },
	{ "lone 0xFF", S("a\xFF" "b"), "a" FFFD "b" },
	{ "lone continuation", S("\x80"), FFFD },
	{ "truncated at end", S("ab\xC3"), "ab" FFFD },
	{ "truncated three-byte", S("\xE2\x82" "A"), FFFD "A" },
	{ "overlong slash", S("\xC0\xAF"), FFFD FFFD },
	{ "overlong three-byte", S("\xE0\x80\xAF"), FFFD FFFD FFFD },
	{ "surrogate", S("\xED\xA0\x80"), FFFD FFFD FFFD },
	{ "above U+10FFFF", S("\xF4\x90\x80\x80"), FFFD FFFD FFFD FFFD },
	{ "five-byte lead", S("\xF8\x88\x80\x80\x80"),
	  FFFD FFFD FFFD FFFD FFFD },
	{ "right-to-left override", S("a\xE2\x80\xAE" "b"), "a b" },
	{ "first strong isolate", S("a\xE2\x81\xA8" "b"), "a b" },
	{ "zero-width space kept", S("@\xE2\x80\x8B" "x"),
	  "@\xE2\x80\x8B" "x" },
	{ "length cuts input", "abcdef", 3, "abc" },
};

static void
test_sanitize(void)
{
	const struct sanitize_case *c;
	char *out;
	size_t i;

	for (i = 0; i < sizeof(sanitize_cases) / sizeof(sanitize_cases[0]);
	     i++) {
		c = &sanitize_cases[i];
		out = text_sanitize(c->in, c->len);
		is_str(out, c->want, "sanitize %s", c->name);
		free(out);
	}
	out = text_sanitize(NULL, 0);
	is_str(out, "", "sanitize NULL gives empty");
	free(out);
}

/* Each case sanitizes the same after 0 to 9 ASCII bytes and before 9,
 * wherever its bytes fall in the eight-byte words read at once. */
static void
test_sanitize_offsets(void)
{
	const struct sanitize_case *c;
	char in[128], want[128];
	size_t i, k, bad;
	char *out;

	for (i = 0; i < sizeof(sanitize_cases) / sizeof(sanitize_cases[0]);
	     i++) {
		c = &sanitize_cases[i];
		bad = 0;
		for (k = 0; k < 10; k++) {
			memset(in, 'x', k);
			memcpy(in + k, c->in, c->len);
			memcpy(in + k + c->len, "yyyyyyyyy", 9);
			snprintf(want, sizeof(want), "%.*s%syyyyyyyyy",
				 (int)k, "xxxxxxxxxx", c->want);
			out = text_sanitize(in, k + c->len + 9);
			if (out == NULL || strcmp(out, want) != 0)
				bad++;
			free(out);
		}
		is_int(bad, 0, "sanitize %s at every offset", c->name);
	}
}

static void
test_append_sanitized(void)
{
	struct buf b;

	buf_init(&b, 64);
	buf_append_str(&b, "kept ");
	is_int(text_append_sanitized(&b, "a\x01\xFF" "b", 4), 0,
	       "append sanitized: appended");
	is_str(b.data, "kept a " FFFD "b", "append sanitized: after content");
	is_int(text_append_sanitized(&b, NULL, 0), 0,
	       "append sanitized: NULL appends nothing");
	is_int((int)b.len, 11, "append sanitized: length");
	buf_free(&b);

	buf_init(&b, 4);
	is_int(text_append_sanitized(&b, "abc\xFF", 4), -1,
	       "append sanitized: maximum reached");
	buf_free(&b);
}

/* Every byte string of length 2 sanitizes to text that sanitizes to
 * itself again, i.e. valid UTF-8 without control characters. */
static void
test_sanitize_idempotent(void)
{
	unsigned char in[3];
	char *once, *twice;
	int bad = 0, a, b;

	for (a = 0; a < 256; a++) {
		for (b = 0; b < 256; b++) {
			in[0] = (unsigned char)a;
			in[1] = (unsigned char)b;
			in[2] = 0xA0;
			once = text_sanitize((const char *)in, 3);
			twice = once ? text_sanitize(once, strlen(once)) : NULL;
			if (once == NULL || twice == NULL ||
			    strcmp(once, twice) != 0)
				bad++;
			free(once);
			free(twice);
		}
	}
	is_int(bad, 0, "sanitize output is stable");
}

/*
 * Sanitizes every prefix of each input placed so that its last byte is
 * the last byte before a PROT_NONE page, so a read past len faults.  The
 * inputs end in plain runs, cut UTF-8 sequences and blanked characters,
 * which end the eight-byte words and the decoder at the end of the text.
 */
static void
test_sanitize_guard_page(void)
{
	static const char *const inputs[] = {
		"abcdefghijklmnopqrstuvwxyz0123456789",
		"abcdefghijklmnop\xE2\x82\xAC" "qrstuvw\xF0\x9F\x98\x80",
		"abcdefghijklmnopqrstuvw\xE2\x80\xAE\x7F\x01",
		"abcdefghijklmnopqrstuvwxyz\xF0\x9F\x98",
	};
	long page_size = sysconf(_SC_PAGESIZE);
	size_t i, n, len, size = (size_t)page_size, bad = 0;
	char *map, *page_end, *out, *want;

	map = mmap(NULL, 2 * size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED) {
		ok(0, "sanitize guard page: mmap of two pages");
		return;
	}
	ok(mprotect(map + size, size, PROT_NONE) == 0,
	   "sanitize guard page: second page made PROT_NONE");
	page_end = map + size;
	for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		len = strlen(inputs[i]);
		for (n = 0; n <= len; n++) {
			memcpy(page_end - n, inputs[i], n);
			out = text_sanitize(page_end - n, n);
			/* The same bytes from a NUL-terminated copy. */
			want = text_sanitize(inputs[i], n);
			if (out == NULL || want == NULL ||
			    strcmp(out, want) != 0)
				bad++;
			free(out);
			free(want);
		}
	}
	is_int(bad, 0, "sanitize guard page: every prefix sanitized");
	munmap(map, 2 * size);
}

struct truncate_case {
	const char *name;
	const char *in;
	size_t max;
	const char *want;
};

static const struct truncate_case truncate_cases[] = {
	{ "fits exactly", "hello", 5, "hello" },
	{ "fits with room", "hello", 50, "hello" },
	{ "one over", "hello", 4, "hel\xE2\x80\xA6" },
	{ "only ellipsis", "hello", 1, "\xE2\x80\xA6" },
	{ "zero", "hello", 0, "" },
	{ "empty", "", 3, "" },
	{ "korean", "\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4\xEC\x9E\x85", 3,
	  "\xED\x95\x9C\xEA\xB5\xAD\xE2\x80\xA6" },
	{ "emoji", "\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80", 2,
	  "\xF0\x9F\x98\x80\xE2\x80\xA6" },
};

static void
test_truncate(void)
{
	const struct truncate_case *c;
	char *out;
	size_t i;

	for (i = 0; i < sizeof(truncate_cases) / sizeof(truncate_cases[0]);
	     i++) {
		c = &truncate_cases[i];
		out = text_truncate(c->in, c->max);
		is_str(out, c->want, "truncate %s", c->name);
		ok(out != NULL && text_length(out) <= c->max,
		   "truncate %s within max", c->name);
		free(out);
	}
}

/* The text_truncate result computed one byte at a time. */
static char *
truncate_slowly(const char *s, size_t max)
{
	size_t i, count = 0, len = strlen(s);
	struct buf b;

	for (i = 0; i < len; i++)
		count += ((unsigned char)s[i] & 0xC0) != 0x80;
	if (count <= max)
		return strdup(s);
	buf_init(&b, len + 4);
	buf_append(&b, "", 0);
	for (i = 0, count = 0; max > 0 && i < len; i++) {
		if (((unsigned char)s[i] & 0xC0) != 0x80 &&
		    ++count == max)
			break;
		buf_append(&b, s + i, 1);
	}
	if (max > 0)
		buf_append_str(&b, "\xE2\x80\xA6");
	return buf_steal(&b);
}

static void
test_truncate_long(void)
{
	const struct unit_case *c;
	size_t i, prefix, count, max, bad;
	char *s, *got, *want;

	for (i = 0; i < sizeof(unit_cases) / sizeof(unit_cases[0]); i++) {
		c = &unit_cases[i];
		bad = 0;
		for (prefix = 0; prefix < 8; prefix++) {
			for (count = 0; count < 24; count++) {
				s = unit_string(c->unit, prefix, count);
				for (max = 0; max <= prefix + count *
				     c->code_points + 1; max++) {
					got = text_truncate(s, max);
					want = truncate_slowly(s, max);
					if (got == NULL ||
					    strcmp(got, want) != 0)
						bad++;
					free(got);
					free(want);
				}
				free(s);
			}
		}
		is_int(bad, 0, "truncate long %s strings", c->name);
	}
	s = text_truncate("\x80\x80\x80\x80\x80\x80\x80\x80\x80", 0);
	is_str(s, "\x80\x80\x80\x80\x80\x80\x80\x80\x80",
	       "truncate stray continuation bytes to 0");
	free(s);
}

struct time_case {
	const char *in;
	int valid;
	long long want;
};

static const struct time_case time_cases[] = {
	{ "2024-10-30T19:54:35Z", 1, 1730318075LL },
	{ "2012-04-26T20:45:04.751Z", 1, 1335473104LL },
	{ "2024-01-01T00:00:00.000+0000", 1, 1704067200LL },
	{ "2024-01-01T09:00:00+09:00", 1, 1704067200LL },
	{ "2023-12-31T19:00:00-05", 1, 1704067200LL },
	{ "1970-01-01T00:00:00Z", 1, 0 },
	{ "2024-02-29T00:00:00Z", 1, 1709164800LL },
	{ "9999-12-31T23:59:59Z", 1, 253402300799LL },
	{ "2023-02-29T00:00:00Z", 0, 0 },
	{ "2024-13-01T00:00:00Z", 0, 0 },
	{ "2024-10-30T24:00:00Z", 0, 0 },
	{ "2024-10-30 19:54:35Z", 0, 0 },
	{ "2024-10-30T19:54:35", 0, 0 },
	{ "2024-10-30T19:54:35+", 0, 0 },
	{ "2024-10-30T19:54:35+09:", 0, 0 },
	{ "2024-10-30T19:54:35+0900x", 0, 0 },
	{ "2024-10-30T19:54:35.Z", 0, 0 },
	{ "2024-10-30T19:54:35Zjunk", 0, 0 },
	{ "0999-10-30T19:54:35Z", 0, 0 },
	{ "garbage", 0, 0 },
	{ "", 0, 0 },
};

static void
test_parse_time(void)
{
	const struct time_case *c;
	time_t t;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(time_cases) / sizeof(time_cases[0]); i++) {
		c = &time_cases[i];
		t = -12345;
		rc = text_parse_time(c->in, &t);
		is_int(rc, c->valid ? 0 : -1, "parse time \"%s\"", c->in);
		if (c->valid)
			is_int(t, c->want, "parse time \"%s\" value", c->in);
	}
	is_int(text_parse_time(NULL, &t), -1, "parse time NULL");
}

static void
test_format_time(void)
{
	char out[TEXT_TIME_SIZE], small[10];

	is_int(text_format_time(0, out, sizeof(out)), 0, "format epoch");
	is_str(out, "1970-01-01T00:00:00Z", "format epoch value");
	is_int(text_format_time(1730318075, out, sizeof(out)), 0,
	       "format 2024");
	is_str(out, "2024-10-30T19:54:35Z", "format 2024 value");
	is_int(text_format_time(0, small, sizeof(small)), -1,
	       "format small buffer");
	is_str(small, "", "format small buffer empty");
}

int
main(void)
{
	test_length();
	test_length_long();
	test_sanitize();
	test_sanitize_offsets();
	test_append_sanitized();
	test_sanitize_idempotent();
	test_sanitize_guard_page();
	test_truncate();
	test_truncate_long();
	test_parse_time();
	test_format_time();
	return tap_done();
}

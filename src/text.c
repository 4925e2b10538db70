#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snsrelay/buf.h"
#include "snsrelay/text.h"

#define TEXT_REPLACEMENT "\xEF\xBF\xBD"	/* U+FFFD */
#define TEXT_ELLIPSIS "\xE2\x80\xA6"		/* U+2026 */

/* Counts the UTF-8 lead bytes (bytes other than 10xxxxxx) among the
 * eight bytes of word. */
static size_t
text_leads_in_word(uint64_t word)
{
	uint64_t continuation = word & ~(word << 1) & 0x8080808080808080ULL;

	/* One bit per continuation byte, moved to the low bit of its byte.
	 * The multiplication then sums the eight bytes into the top one. */
	return 8 - (size_t)(((continuation >> 7) *
			     0x0101010101010101ULL) >> 56);
}

static bool
text_is_lead(unsigned char c)
{
	return (c & 0xC0) != 0x80;
}

size_t
text_length(const char *s)
{
	size_t len = strlen(s), n = 0, i = 0;
	uint64_t word;

	for (; i + 8 <= len; i += 8) {
		memcpy(&word, s + i, sizeof(word));
		n += text_leads_in_word(word);
	}
	for (; i < len; i++)
		n += text_is_lead((unsigned char)s[i]);
	return n;
}

/*
 * Returns the offset of lead byte number skip (counting from 0) in
 * s[0..len), or len when s has no more than skip lead bytes.  A lead
 * byte starts a code point, so this is where code point number skip
 * starts in valid UTF-8.
 */
static size_t
text_offset_of(const char *s, size_t len, size_t skip)
{
	size_t i = 0, leads;
	uint64_t word;

	/* Whole words that end before the wanted lead byte. */
	for (; i + 8 <= len; i += 8) {
		memcpy(&word, s + i, sizeof(word));
		leads = text_leads_in_word(word);
		if (leads > skip)
			break;
		skip -= leads;
	}
	for (; i < len; i++) {
		if (!text_is_lead((unsigned char)s[i]))
			continue;
		if (skip == 0)
			return i;
		skip--;
	}
	return len;
}

/*
 * Second-byte range of a multi-byte sequence by lead byte, as in the
 * Unicode well-formed UTF-8 table: it rules out overlong forms,
 * surrogates and code points above U+10FFFF.
 */
static int
text_lead_info(unsigned char lead, unsigned char *lo, unsigned char *hi)
{
	*lo = 0x80;
	*hi = 0xBF;
	if (lead >= 0xC2 && lead <= 0xDF)
		return 2;
	if (lead == 0xE0)
		*lo = 0xA0;
	else if (lead == 0xED)
		*hi = 0x9F;
	if (lead >= 0xE0 && lead <= 0xEF)
		return 3;
	if (lead == 0xF0)
		*lo = 0x90;
	else if (lead == 0xF4)
		*hi = 0x8F;
	if (lead >= 0xF0 && lead <= 0xF4)
		return 4;
	return 0;
}

/*
 * Decodes the sequence at s (avail bytes).  Returns the code point, or -1
 * for an invalid sequence; *used receives the bytes consumed, which for
 * an invalid sequence is its maximal valid prefix (at least 1 byte).
 */
static int32_t
text_decode(const unsigned char *s, size_t avail, size_t *used)
{
	unsigned char lo, hi;
	int32_t cp;
	int n, i;

	*used = 1;
	if (s[0] < 0x80)
		return s[0];
	n = text_lead_info(s[0], &lo, &hi);
	if (n == 0)
		return -1;
	cp = s[0] & (0xFF >> (n + 1));
	for (i = 1; i < n; i++) {
		if ((size_t)i >= avail || s[i] < lo || s[i] > hi)
			return -1;
		cp = (cp << 6) | (s[i] & 0x3F);
		*used = (size_t)i + 1;
		lo = 0x80;
		hi = 0xBF;
	}
	return cp;
}

static bool
text_is_blanked(int32_t cp)
{
	if (cp == '\n' || cp == '\t')
		return false;
	if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
		return true;
	return (cp >= 0x202A && cp <= 0x202E) ||
	       (cp >= 0x2066 && cp <= 0x2069);
}

/* Whether c is printable ASCII, newline or tab: a byte that
 * text_append_sanitized copies as it is. */
static bool
text_is_kept_ascii(unsigned char c)
{
	return (c >= 0x20 && c < 0x7F) || c == '\n' || c == '\t';
}

/* Whether all eight bytes of word are printable ASCII (0x20-0x7E).  The
 * first term sets a high bit exactly when some byte is below 0x20 (the
 * usual test for a zero byte, shifted).  word itself has one for a byte
 * from 0x80 on, and word plus one in every byte has one for 0x7F. */
static bool
text_word_is_printable(uint64_t word)
{
	const uint64_t ones = 0x0101010101010101ULL;
	uint64_t found = ((word - ones * 0x20) & ~word) | word | (word + ones);

	return (found & 0x8080808080808080ULL) == 0;
}

int
text_append_sanitized(struct buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t pos = 0, run = 0, used;
	uint64_t word;
	int32_t cp;
	int rc = 0;

	/* Bytes that stay as they are collect in a run from p + run to
	 * p + pos, appended in one piece before a replacement and at the
	 * end. */
	while (p != NULL && pos < len && rc == 0) {
		if (pos + 8 <= len) {
			memcpy(&word, p + pos, sizeof(word));
			if (text_word_is_printable(word)) {
				pos += 8;
				continue;
			}
		}
		if (text_is_kept_ascii(p[pos])) {
			pos++;
			continue;
		}
		cp = text_decode(p + pos, len - pos, &used);
		if (cp >= 0 && !text_is_blanked(cp)) {
			pos += used;
			continue;
		}
		rc = buf_append(b, p + run, pos - run);
		if (rc == 0)
			rc = cp < 0 ? buf_append_str(b, TEXT_REPLACEMENT) :
			     buf_append(b, " ", 1);
		pos += used;
		run = pos;
	}
	if (rc == 0 && pos > run)
		rc = buf_append(b, p + run, pos - run);
	return rc;
}

char *
text_sanitize(const char *s, size_t len)
{
	struct buf out;

	if (len > (SIZE_MAX - 1) / 3)
		return NULL;
	buf_init(&out, len * 3 + 1);
	if (text_append_sanitized(&out, s, len) != 0) {
		buf_free(&out);
		return NULL;
	}
	return buf_steal(&out);
}

char *
text_truncate(const char *s, size_t max_chars)
{
	size_t len = strlen(s), end;
	char *out;

	/* A code point takes at least one byte. */
	if (len <= max_chars)
		return strdup(s);
	if (max_chars == 0)
		return strdup(text_offset_of(s, len, 0) < len ? "" : s);

	/* Keep max_chars - 1 code points, then the ellipsis, when code
	 * point number max_chars (from 0) exists. */
	end = text_offset_of(s, len, max_chars - 1);
	if (end == len || text_offset_of(s + end + 1, len - end - 1, 0) ==
	    len - end - 1)
		return strdup(s);
	out = malloc(end + sizeof(TEXT_ELLIPSIS));
	if (out == NULL)
		return NULL;
	memcpy(out, s, end);
	memcpy(out + end, TEXT_ELLIPSIS, sizeof(TEXT_ELLIPSIS));
	return out;
}

/* Reads exactly n decimal digits.  Returns the value, or -1. */
static int
text_read_digits(const char *s, int n)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static long long
text_days_from_civil(int y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
text_days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* Parses the offset after the seconds and fraction into seconds east of
 * UTC.  Returns 0, or -1. */
static int
text_parse_offset(const char *s, long *offset)
{
	int sign, hh, mm = 0;

	*offset = 0;
	if (strcmp(s, "Z") == 0)
		return 0;
	if (*s != '+' && *s != '-')
		return -1;
	sign = *s == '-' ? -1 : 1;
	hh = text_read_digits(s + 1, 2);
	if (hh < 0 || hh > 23)
		return -1;
	s += 3;
	if (*s == ':' && s[1] == '\0')
		return -1;
	if (*s == ':')
		s++;
	if (*s != '\0')
		mm = text_read_digits(s, 2);
	if (mm < 0 || mm > 59 || (*s != '\0' && s[2] != '\0'))
		return -1;
	*offset = sign * (hh * 3600L + mm * 60L);
	return 0;
}

int
text_parse_time(const char *s, time_t *out)
{
	int y, mo, d, h, mi, sec;
	long offset;
	size_t i = 19;

	if (s == NULL || strlen(s) < 20 || s[4] != '-' || s[7] != '-' ||
	    s[10] != 'T' || s[13] != ':' || s[16] != ':')
		return -1;
	y = text_read_digits(s, 4);
	mo = text_read_digits(s + 5, 2);
	d = text_read_digits(s + 8, 2);
	h = text_read_digits(s + 11, 2);
	mi = text_read_digits(s + 14, 2);
	sec = text_read_digits(s + 17, 2);
	if (y < 1000 || mo < 1 || mo > 12 || d < 1 ||
	    d > text_days_in_month(y, mo) || h < 0 || h > 23 ||
	    mi < 0 || mi > 59 || sec < 0 || sec > 60)
		return -1;

	if (s[i] == '.' && s[i + 1] >= '0' && s[i + 1] <= '9')
		for (i++; s[i] >= '0' && s[i] <= '9'; i++)
			;
	if (text_parse_offset(s + i, &offset) != 0)
		return -1;
	*out = (time_t)(text_days_from_civil(y, mo, d) * 86400LL +
			h * 3600LL + mi * 60LL + sec - offset);
	return 0;
}

int
text_format_time(time_t t, char *out, size_t size)
{
	struct tm tm;

	if (size > 0)
		out[0] = '\0';
	if (size < TEXT_TIME_SIZE || gmtime_r(&t, &tm) == NULL ||
	    tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
		return -1;
	if (strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -1;
	return 0;
}

int
text_use_timezone(const char *name)
{
	if (setenv("TZ", name != NULL && *name != '\0' ? name : "UTC", 1) != 0)
		return -1;
	tzset();
	return 0;
}

int
text_format_local_time(time_t t, char *out, size_t size)
{
	struct tm tm;

	if (size > 0)
		out[0] = '\0';
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(out, size, "%Y-%m-%d %H:%M:%S %Z (%z)", &tm) == 0)
		return -1;
	return 0;
}

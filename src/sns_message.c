/*
 * The SNS delivery envelope, read in one pass.  A strict RFC 8259 lexer
 * checks every byte of the body (UTF-8 included), decodes the values of
 * the top-level keys that struct sns_message keeps straight into their
 * copies, and only validates every other value.  The top-level keys are
 * decoded and checked for duplicates once the body is known to be valid
 * JSON; the key rules of each SNS type come last.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "snsrelay/limits.h"
#include "snsrelay/sns_message.h"

#define MALFORMED "malformed_body"

/* The top-level keys whose values sns_message_parse keeps. */
enum kept_key {
	KEPT_TYPE,
	KEPT_MESSAGE,
	KEPT_MESSAGE_ID,
	KEPT_SUBJECT,
	KEPT_TIMESTAMP,
	KEPT_TOPIC_ARN,
	KEPT_TOKEN,
	KEPT_SUBSCRIBE_URL,
	KEPT_SIGNATURE_VERSION,
	KEPT_SIGNATURE,
	KEPT_SIGNING_CERT_URL,
	KEPT_SIGNING_CERT_URL_LAMBDA,
	KEPT_UNSUBSCRIBE_URL,
	KEPT_UNSUBSCRIBE_URL_LAMBDA,
	KEPT_COUNT,
};

struct key_name {
	const char *str;
	size_t len;
};

#define NAME(literal) { literal, sizeof(literal) - 1 }

static const struct key_name key_names[KEPT_COUNT] = {
	[KEPT_TYPE] = NAME("Type"),
	[KEPT_MESSAGE] = NAME("Message"),
	[KEPT_MESSAGE_ID] = NAME("MessageId"),
	[KEPT_SUBJECT] = NAME("Subject"),
	[KEPT_TIMESTAMP] = NAME("Timestamp"),
	[KEPT_TOPIC_ARN] = NAME("TopicArn"),
	[KEPT_TOKEN] = NAME("Token"),
	[KEPT_SUBSCRIBE_URL] = NAME("SubscribeURL"),
	[KEPT_SIGNATURE_VERSION] = NAME("SignatureVersion"),
	[KEPT_SIGNATURE] = NAME("Signature"),
	[KEPT_SIGNING_CERT_URL] = NAME("SigningCertURL"),
	/* Lambda-style copies of a delivery spell these two differently. */
	[KEPT_SIGNING_CERT_URL_LAMBDA] = NAME("SigningCertUrl"),
	[KEPT_UNSUBSCRIBE_URL] = NAME("UnsubscribeURL"),
	[KEPT_UNSUBSCRIBE_URL_LAMBDA] = NAME("UnsubscribeUrl"),
};

enum field_flags {
	FIELD_REQUIRED = 1 << 0,
	FIELD_NULLABLE = 1 << 1,	/* JSON null counts as absent */
	FIELD_NUL_OK = 1 << 2,		/* may hold "\u0000" */
};

struct sns_key {
	enum kept_key id;	/* KEPT_COUNT ends a list */
	size_t offset;		/* of a struct sns_field in sns_message */
	unsigned flags;
};

#define KEY(id, member, flags) \
	{ id, offsetof(struct sns_message, member), flags }
#define KEY_END { KEPT_COUNT, 0, 0 }

/* The keys each type signs, in the byte order of the string to sign. */
static const struct sns_key notification_signed[] = {
	KEY(KEPT_MESSAGE, message, FIELD_REQUIRED | FIELD_NUL_OK),
	KEY(KEPT_MESSAGE_ID, message_id, FIELD_REQUIRED),
	KEY(KEPT_SUBJECT, subject, FIELD_NULLABLE | FIELD_NUL_OK),
	KEY(KEPT_TIMESTAMP, timestamp, FIELD_REQUIRED),
	KEY(KEPT_TOPIC_ARN, topic_arn, FIELD_REQUIRED),
	KEY(KEPT_TYPE, type_name, FIELD_REQUIRED),
	KEY_END,
};

static const struct sns_key confirmation_signed[] = {
	KEY(KEPT_MESSAGE, message, FIELD_REQUIRED | FIELD_NUL_OK),
	KEY(KEPT_MESSAGE_ID, message_id, FIELD_REQUIRED),
	KEY(KEPT_SUBSCRIBE_URL, subscribe_url, FIELD_REQUIRED),
	KEY(KEPT_TIMESTAMP, timestamp, FIELD_REQUIRED),
	KEY(KEPT_TOKEN, token, FIELD_REQUIRED),
	KEY(KEPT_TOPIC_ARN, topic_arn, FIELD_REQUIRED),
	KEY(KEPT_TYPE, type_name, FIELD_REQUIRED),
	KEY_END,
};

static const struct sns_key signature_keys[] = {
	KEY(KEPT_SIGNATURE_VERSION, signature_version, FIELD_REQUIRED),
	KEY(KEPT_SIGNATURE, signature, FIELD_REQUIRED),
	KEY_END,
};

static const char *const type_names[] = {
	[SNS_TYPE_NOTIFICATION] = "Notification",
	[SNS_TYPE_SUBSCRIPTION_CONFIRMATION] = "SubscriptionConfirmation",
	[SNS_TYPE_UNSUBSCRIBE_CONFIRMATION] = "UnsubscribeConfirmation",
};

const char *
sns_type_to_string(enum sns_type type)
{
	if ((size_t)type >= sizeof(type_names) / sizeof(type_names[0]))
		return "unknown";
	return type_names[type];
}

int
sns_type_from_string(const char *name, enum sns_type *type)
{
	size_t i;

	for (i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++) {
		if (strcmp(name, type_names[i]) == 0) {
			*type = (enum sns_type)i;
			return 0;
		}
	}
	return -1;
}

static const struct sns_key *
message_signed_keys(enum sns_type type)
{
	if (type == SNS_TYPE_NOTIFICATION)
		return notification_signed;
	return confirmation_signed;
}

static struct sns_field *
message_field(struct sns_message *msg, const struct sns_key *key)
{
	return (struct sns_field *)((char *)msg + key->offset);
}

static const struct sns_field *
message_field_const(const struct sns_message *msg, const struct sns_key *key)
{
	return (const struct sns_field *)((const char *)msg + key->offset);
}

static void
message_field_free(struct sns_field *field)
{
	free(field->str);
	field->str = NULL;
	field->len = 0;
}

void
sns_message_free(struct sns_message *msg)
{
	if (msg == NULL)
		return;
	message_field_free(&msg->type_name);
	message_field_free(&msg->message);
	message_field_free(&msg->message_id);
	message_field_free(&msg->subject);
	message_field_free(&msg->timestamp);
	message_field_free(&msg->topic_arn);
	message_field_free(&msg->token);
	message_field_free(&msg->subscribe_url);
	message_field_free(&msg->signature_version);
	message_field_free(&msg->signature);
	message_field_free(&msg->signing_cert_url);
	message_field_free(&msg->unsubscribe_url);
}

/*
 * The JSON lexer.  It reads text[0..len) and never past len, so the body
 * needs no terminating NUL.  Errors go to e with the byte offset.
 */

/* Value types.  Messages name them as json-c 0.16's json_type_to_name
 * does, as they did when this parser was built on json-c. */
enum json_kind {
	JSON_NULL,
	JSON_BOOLEAN,
	JSON_DOUBLE,
	JSON_INT,
	JSON_OBJECT,
	JSON_ARRAY,
	JSON_STRING,
};

static const char *const json_kind_names[] = {
	[JSON_NULL] = "null",
	[JSON_BOOLEAN] = "boolean",
	[JSON_DOUBLE] = "double",
	[JSON_INT] = "int",
	[JSON_OBJECT] = "object",
	[JSON_ARRAY] = "array",
	[JSON_STRING] = "string",
};

struct json_lexer {
	const unsigned char *text;
	size_t len;
	size_t pos;		/* next byte to read */
	int depth;		/* arrays and objects open at pos */
	struct err *e;
};

/* One string as lex_string found it.  While it runs, its helpers read
 * end as the position and len as the bytes decoded so far. */
struct json_string {
	size_t end;		/* offset just past the closing quote */
	size_t len;		/* decoded length in bytes */
	bool escaped;		/* contains a backslash escape */
	bool has_nul;		/* decodes to text with a NUL byte */
};

/* Called by lex_object for each member, with pos just after the ':'.
 * It must read the value.  key_at is the offset of the key's quote. */
typedef int (*json_member_fn)(struct json_lexer *lx, size_t key_at,
			      const struct json_string *key, void *ctx);

static int lex_value(struct json_lexer *lx, enum json_kind *kind);

static bool
is_json_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool
is_letter(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Returns the byte at pos, or -1 at the end of the text. */
static int
lex_peek(const struct json_lexer *lx)
{
	return lx->pos < lx->len ? lx->text[lx->pos] : -1;
}

static void
lex_skip_space(struct json_lexer *lx)
{
	while (lx->pos < lx->len && is_json_space(lx->text[lx->pos]))
		lx->pos++;
}

/*
 * Returns the length of the UTF-8 sequence at s[0..len), or 0 when it is
 * not well-formed.  Overlong forms, surrogates and code points above
 * U+10FFFF are not well-formed.
 */
static size_t
message_utf8_length(const unsigned char *s, size_t len)
{
	unsigned long cp;
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (len < n)
		return 0;

	cp = s[0] & (0x7f >> n);
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
		return 0;
	if (n == 4 && (cp < 0x10000 || cp > 0x10ffff))
		return 0;
	return n;
}

static int
lex_incomplete(const struct json_lexer *lx)
{
	err_set(lx->e, MALFORMED, "the body is not complete JSON: it ends "
		"after %zu bytes inside a value", lx->len);
	return RESULT_REJECT;
}

/* Sets the error for a NUL byte or invalid UTF-8 at 'at'.  Returns false,
 * setting nothing, for any other byte. */
static bool
lex_reject_encoding(const struct json_lexer *lx, size_t at)
{
	const unsigned char *s = lx->text + at;

	if (s[0] == '\0') {
		err_set(lx->e, MALFORMED, "the body contains a NUL byte at "
			"byte %zu, which JSON text cannot contain", at);
		return true;
	}
	if (s[0] >= 0x80 && message_utf8_length(s, lx->len - at) == 0) {
		err_set(lx->e, MALFORMED, "the body is not valid UTF-8 at byte "
			"%zu", at);
		return true;
	}
	return false;
}

/* Rejects the byte at 'at', where the grammar allows only 'expected'. */
static int
lex_unexpected(const struct json_lexer *lx, size_t at, const char *expected)
{
	unsigned char c;

	if (at >= lx->len)
		return lex_incomplete(lx);
	if (lex_reject_encoding(lx, at))
		return RESULT_REJECT;
	c = lx->text[at];
	if (c > ' ' && c < 0x7f)
		err_set(lx->e, MALFORMED, "the body is not valid JSON: expected "
			"%s, found '%c' at byte %zu", expected, c, at);
	else
		err_set(lx->e, MALFORMED, "the body is not valid JSON: expected "
			"%s, found byte 0x%02x at byte %zu", expected, c, at);
	return RESULT_REJECT;
}

/* Writes code point cp as UTF-8 to out, unless out is NULL, and returns
 * the length of the sequence. */
static size_t
utf8_encode(unsigned long cp, char *out)
{
	unsigned char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | (cp >> 6));
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | (cp >> 12));
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | (cp >> 18));
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (out != NULL)
		memcpy(out, b, n);
	return n;
}

/* Returns the value of the four hex digits of the "\u" escape whose
 * backslash is at 'at', -1 when the text ends first, or -2 when one of
 * them is not a hex digit. */
static long
lex_hex4(const struct json_lexer *lx, size_t at)
{
	long value = 0;
	size_t i;
	int c;

	for (i = at + 2; i < at + 6; i++) {
		if (i >= lx->len)
			return -1;
		c = lx->text[i];
		if (is_digit(c))
			c -= '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			c = (c | 0x20) - 'a' + 10;
		else
			return -2;
		value = value << 4 | c;
	}
	return value;
}

/* Rejects the "\u" escape at 'at', given lex_hex4's -1 or -2 for it, or
 * the surrogate it encodes when that has no partner. */
static int
lex_bad_unicode(const struct json_lexer *lx, size_t at, long value)
{
	if (value == -1)
		return lex_incomplete(lx);
	if (value == -2)
		err_set(lx->e, MALFORMED, "the body is not valid JSON: the "
			"\\u escape at byte %zu needs four hex digits", at);
	else
		err_set(lx->e, MALFORMED, "the body is not valid JSON: the "
			"\\u escape at byte %zu is an unpaired UTF-16 "
			"surrogate", at);
	return RESULT_REJECT;
}

/*
 * Decodes the "\uXXXX" escape at str->end.  A high surrogate must be
 * followed by a "\u" escape of a low surrogate, and the pair is one code
 * point.  A surrogate on its own is rejected.
 */
static int
lex_unicode_escape(const struct json_lexer *lx, char *out,
		   struct json_string *str)
{
	size_t at = str->end, next = at + 6;
	long cp = lex_hex4(lx, at), low;

	if (cp < 0)
		return lex_bad_unicode(lx, at, cp);
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return lex_bad_unicode(lx, at, cp);
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (next >= lx->len)
			return lex_incomplete(lx);
		if (lx->text[next] != '\\')
			return lex_bad_unicode(lx, at, cp);
		if (next + 1 >= lx->len)
			return lex_incomplete(lx);
		if (lx->text[next + 1] != 'u')
			return lex_bad_unicode(lx, at, cp);
		low = lex_hex4(lx, next);
		if (low < 0)
			return lex_bad_unicode(lx, next, low);
		if (low < 0xdc00 || low > 0xdfff)
			return lex_bad_unicode(lx, at, cp);
		cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
		next += 6;
	}
	if (cp == 0)
		str->has_nul = true;
	str->len += utf8_encode((unsigned long)cp,
				out != NULL ? out + str->len : NULL);
	str->end = next;
	return RESULT_OK;
}

/* The bytes that the two-byte escapes stand for, by the byte after the
 * backslash, and 0 for any other byte. */
static const char short_escapes[256] = {
	['"'] = '"', ['\\'] = '\\', ['/'] = '/', ['b'] = '\b',
	['f'] = '\f', ['n'] = '\n', ['r'] = '\r', ['t'] = '\t',
};

/* Decodes the "\u" escape at str->end, or rejects an unknown escape.
 * lex_string decodes the two-byte escapes itself. */
static int
lex_escape(const struct json_lexer *lx, char *out, struct json_string *str)
{
	size_t at = str->end;

	if (at + 1 >= lx->len)
		return lex_incomplete(lx);
	if (lx->text[at + 1] == 'u')
		return lex_unicode_escape(lx, out, str);
	err_set(lx->e, MALFORMED, "the body is not valid JSON: the escape "
		"sequence at byte %zu is not one of \\\" \\\\ \\/ \\b \\f \\n "
		"\\r \\t \\uXXXX", at);
	return RESULT_REJECT;
}

/* Copies the UTF-8 sequence at str->end; rejects a raw control
 * character, which a JSON string must escape. */
static int
lex_string_byte(const struct json_lexer *lx, char *out,
		struct json_string *str)
{
	size_t at = str->end, n;

	if (lex_reject_encoding(lx, at))
		return RESULT_REJECT;
	if (lx->text[at] < 0x20) {
		err_set(lx->e, MALFORMED, "the body is not valid JSON: a string "
			"contains the raw control character 0x%02x at byte %zu, "
			"which must be escaped", lx->text[at], at);
		return RESULT_REJECT;
	}
	n = message_utf8_length(lx->text + at, lx->len - at);
	if (out != NULL)
		memcpy(out + str->len, lx->text + at, n);
	str->len += n;
	str->end += n;
	return RESULT_OK;
}

/*
 * Bytes that a string may contain unescaped and unchecked: printable
 * ASCII except '"' and '\\'.  Control characters, which must be escaped,
 * and the bytes from 0x80 up, which start UTF-8 sequences to check, are 0.
 */
#define ALL16 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
static const unsigned char string_plain[256] = {
	[0x20] = 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	[0x30] = ALL16,
	[0x40] = ALL16,
	[0x50] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
	[0x60] = ALL16,
	[0x70] = ALL16,
};

#ifdef __SSE2__
/*
 * Returns a bit mask of the bytes of s[0..16) that are not plain, and
 * copies the 16 bytes to out unless it is NULL.  A signed compare with
 * 0x20 flags both the control characters and the bytes from 0x80 up.
 */
static unsigned
sse2_special_mask(const unsigned char *s, char *out)
{
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
	__m128i special;

	if (out != NULL)
		_mm_storeu_si128((__m128i *)(void *)out, v);
	special = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
			       _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
	special = _mm_or_si128(special,
			       _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
	return (unsigned)_mm_movemask_epi8(special);
}
#endif

/*
 * Returns how many plain bytes start s[0..len), and copies them to out
 * unless it is NULL.  With SSE2, runs go 16 bytes at a time and a block
 * is copied whole even when the run ends inside it, so out may get up to
 * 15 bytes more than the run.
 */
static size_t
lex_plain_run(const unsigned char *s, size_t len, char *out)
{
	size_t n = 0;
#ifdef __SSE2__
	unsigned special;

	for (; len - n >= 16; n += 16) {
		special = sse2_special_mask(s + n, out != NULL ? out + n : NULL);
		if (special != 0)
			return n + (size_t)__builtin_ctz(special);
	}
#endif
	for (; n < len && string_plain[s[n]]; n++) {
		if (out != NULL)
			out[n] = (char)s[n];
	}
	return n;
}

/*
 * Validates the string whose opening quote is at 'at' and fills *str.
 * Unless out is NULL, writes the decoded bytes to it.  Neither an escape
 * nor lex_plain_run's extra bytes take more room than the text they come
 * from, so out needs room for len - at bytes.
 */
static int
lex_string(const struct json_lexer *lx, size_t at, char *out,
	   struct json_string *str)
{
	const unsigned char *s = lx->text;
	const size_t len = lx->len;
	size_t i = at + 1, n = 0, run;
	bool escaped = false;
	char c;
	int rc;

	str->has_nul = false;
	for (;;) {
		run = lex_plain_run(s + i, len - i,
				    out != NULL ? out + n : NULL);
		i += run;
		n += run;
		if (i >= len)
			return lex_incomplete(lx);
		if (s[i] == '"')
			break;
		if (s[i] == '\\') {
			escaped = true;
			if (i + 1 < len &&
			    (c = short_escapes[s[i + 1]]) != 0) {
				if (out != NULL)
					out[n] = c;
				n++;
				i += 2;
				continue;
			}
		}
		str->end = i;
		str->len = n;
		if (s[i] == '\\')
			rc = lex_escape(lx, out, str);
		else
			rc = lex_string_byte(lx, out, str);
		if (rc != RESULT_OK)
			return rc;
		i = str->end;
		n = str->len;
	}
	str->end = i + 1;
	str->len = n;
	str->escaped = escaped;
	return RESULT_OK;
}

/* Returns RESULT_OK when a digit is at 'at'; 'what' names the part of
 * the number that needs it. */
static int
lex_need_digit(const struct json_lexer *lx, size_t at, const char *what)
{
	if (at < lx->len && is_digit(lx->text[at]))
		return RESULT_OK;
	return lex_unexpected(lx, at, what);
}

static size_t
lex_skip_digits(const struct json_lexer *lx, size_t at)
{
	while (at < lx->len && is_digit(lx->text[at]))
		at++;
	return at;
}

/* Reads a number by the RFC 8259 grammar: -?(0|[1-9][0-9]*) then an
 * optional fraction and exponent, which make it a double. */
static int
lex_number(struct json_lexer *lx, enum json_kind *kind)
{
	size_t i = lx->pos;
	int rc;

	*kind = JSON_INT;
	if (lx->text[i] == '-')
		i++;
	if ((rc = lex_need_digit(lx, i, "a digit")) != RESULT_OK)
		return rc;
	if (lx->text[i] == '0' && i + 1 < lx->len &&
	    is_digit(lx->text[i + 1])) {
		err_set(lx->e, MALFORMED, "the body is not valid JSON: the "
			"number at byte %zu has a leading zero", lx->pos);
		return RESULT_REJECT;
	}
	i = lex_skip_digits(lx, i);
	if (i < lx->len && lx->text[i] == '.') {
		*kind = JSON_DOUBLE;
		rc = lex_need_digit(lx, ++i, "a digit after the decimal point");
		if (rc != RESULT_OK)
			return rc;
		i = lex_skip_digits(lx, i);
	}
	if (i < lx->len && (lx->text[i] == 'e' || lx->text[i] == 'E')) {
		*kind = JSON_DOUBLE;
		if (++i < lx->len && (lx->text[i] == '+' || lx->text[i] == '-'))
			i++;
		rc = lex_need_digit(lx, i, "a digit in the exponent");
		if (rc != RESULT_OK)
			return rc;
		i = lex_skip_digits(lx, i);
	}
	lx->pos = i;
	return RESULT_OK;
}

/* Reads true, false or null; any other word (NaN, Infinity, True) is
 * rejected by name. */
static int
lex_literal(struct json_lexer *lx, enum json_kind *kind)
{
	static const struct {
		struct key_name word;
		enum json_kind kind;
	} literals[] = {
		{ NAME("true"), JSON_BOOLEAN },
		{ NAME("false"), JSON_BOOLEAN },
		{ NAME("null"), JSON_NULL },
	};
	const char *word = (const char *)lx->text + lx->pos;
	size_t n = 0, i;

	while (lx->pos + n < lx->len && is_letter(word[n]))
		n++;
	for (i = 0; i < sizeof(literals) / sizeof(literals[0]); i++) {
		if (n > literals[i].word.len ||
		    memcmp(word, literals[i].word.str, n) != 0)
			continue;
		if (n == literals[i].word.len) {
			*kind = literals[i].kind;
			lx->pos += n;
			return RESULT_OK;
		}
		if (lx->pos + n == lx->len)
			return lex_incomplete(lx);
	}
	err_set(lx->e, MALFORMED, "the body is not valid JSON: \"%.*s\" at byte "
		"%zu is not a JSON literal", (int)(n > 16 ? 16 : n), word,
		lx->pos);
	return RESULT_REJECT;
}

/*
 * Opens the array or object at pos.  The relay reads the Message and its
 * other JSON with json-c's tokener set to LIMIT_JSON_DEPTH, which accepts
 * LIMIT_JSON_DEPTH - 1 nested arrays and objects, the top-level one
 * included.  The envelope keeps the same limit.
 */
static int
lex_open(struct json_lexer *lx)
{
	if (lx->depth >= LIMIT_JSON_DEPTH - 1) {
		err_set(lx->e, MALFORMED, "the body is not valid JSON: arrays "
			"and objects nest more than %d deep at byte %zu",
			LIMIT_JSON_DEPTH - 1, lx->pos);
		return RESULT_REJECT;
	}
	lx->depth++;
	lx->pos++;
	lex_skip_space(lx);
	return RESULT_OK;
}

static int
lex_close(struct json_lexer *lx)
{
	lx->depth--;
	lx->pos++;
	return RESULT_OK;
}

static int
lex_array(struct json_lexer *lx)
{
	enum json_kind kind;
	int rc = lex_open(lx);

	if (rc != RESULT_OK)
		return rc;
	if (lex_peek(lx) == ']')
		return lex_close(lx);
	for (;;) {
		if ((rc = lex_value(lx, &kind)) != RESULT_OK)
			return rc;
		lex_skip_space(lx);
		if (lex_peek(lx) == ']')
			return lex_close(lx);
		if (lex_peek(lx) != ',')
			return lex_unexpected(lx, lx->pos, "',' or ']'");
		lx->pos++;
	}
}

/* Reads the key at pos and the ':' after it, leaving pos on the value. */
static int
lex_key(struct json_lexer *lx, struct json_string *key)
{
	int rc;

	if (lex_peek(lx) != '"')
		return lex_unexpected(lx, lx->pos, "a key in double quotes");
	if ((rc = lex_string(lx, lx->pos, NULL, key)) != RESULT_OK)
		return rc;
	lx->pos = key->end;
	lex_skip_space(lx);
	if (lex_peek(lx) != ':')
		return lex_unexpected(lx, lx->pos, "':' after the key");
	lx->pos++;
	return RESULT_OK;
}

static int
lex_object(struct json_lexer *lx, json_member_fn read_member, void *ctx)
{
	struct json_string key;
	size_t key_at;
	int rc = lex_open(lx);

	if (rc != RESULT_OK)
		return rc;
	if (lex_peek(lx) == '}')
		return lex_close(lx);
	for (;;) {
		lex_skip_space(lx);
		key_at = lx->pos;
		if ((rc = lex_key(lx, &key)) != RESULT_OK ||
		    (rc = read_member(lx, key_at, &key, ctx)) != RESULT_OK)
			return rc;
		lex_skip_space(lx);
		if (lex_peek(lx) == '}')
			return lex_close(lx);
		if (lex_peek(lx) != ',')
			return lex_unexpected(lx, lx->pos, "',' or '}'");
		lx->pos++;
	}
}

static int
lex_skip_member(struct json_lexer *lx, size_t key_at,
		const struct json_string *key, void *ctx)
{
	enum json_kind kind;

	return lex_value(lx, &kind);
}

/* Validates the value at pos (after any whitespace) and sets its kind. */
static int
lex_value(struct json_lexer *lx, enum json_kind *kind)
{
	struct json_string str;
	int c, rc;

	lex_skip_space(lx);
	c = lex_peek(lx);
	if (c == '"') {
		*kind = JSON_STRING;
		rc = lex_string(lx, lx->pos, NULL, &str);
		if (rc == RESULT_OK)
			lx->pos = str.end;
		return rc;
	}
	if (c == '{') {
		*kind = JSON_OBJECT;
		return lex_object(lx, lex_skip_member, NULL);
	}
	if (c == '[') {
		*kind = JSON_ARRAY;
		return lex_array(lx);
	}
	if (c == '-' || is_digit(c))
		return lex_number(lx, kind);
	if (is_letter(c))
		return lex_literal(lx, kind);
	return lex_unexpected(lx, lx->pos, "a JSON value");
}

/*
 * The set of decoded top-level keys.  SNS never repeats a key, and a
 * body that does could make a verifier and a formatter read different
 * copies, so a repeated key is rejected.  Sorting finds repeats in
 * O(n log n) even for a body made of tens of thousands of keys.
 */
struct key_entry {
	const char *name;	/* not NUL-terminated; may contain NULs */
	size_t len;
	size_t at;		/* offset of the key's opening quote */
};

#define KEY_SET_INLINE 32	/* SNS sends about a dozen keys */

struct key_set {
	struct key_entry *entries;
	size_t count;
	size_t cap;
	struct key_entry inline_entries[KEY_SET_INLINE];
};

static void
key_set_init(struct key_set *set)
{
	set->entries = set->inline_entries;
	set->count = 0;
	set->cap = KEY_SET_INLINE;
}

static void
key_set_free(struct key_set *set)
{
	if (set->entries != set->inline_entries)
		free(set->entries);
}

static int
key_set_grow(struct key_set *set, struct err *e)
{
	size_t cap = set->cap * 2;
	struct key_entry *grown;

	if (set->entries == set->inline_entries) {
		grown = malloc(cap * sizeof(*grown));
		if (grown != NULL)
			memcpy(grown, set->entries,
			       set->count * sizeof(*grown));
	} else {
		grown = realloc(set->entries, cap * sizeof(*grown));
	}
	if (grown == NULL) {
		err_set(e, "out_of_memory", "no memory to check %zu keys for "
			"duplicates", cap);
		return RESULT_RETRY;
	}
	set->entries = grown;
	set->cap = cap;
	return RESULT_OK;
}

static int
key_set_add(struct key_set *set, const char *name, size_t len, size_t at,
	    struct err *e)
{
	struct key_entry *entry;
	int rc;

	if (set->count == set->cap && (rc = key_set_grow(set, e)) != 0)
		return rc;
	entry = &set->entries[set->count++];
	entry->name = name;
	entry->len = len;
	entry->at = at;
	return RESULT_OK;
}

static bool
key_entry_equal(const struct key_entry *a, const struct key_entry *b)
{
	return a->len == b->len && memcmp(a->name, b->name, a->len) == 0;
}

/* Orders by name, then by position, so that equal names sit together in
 * body order. */
static int
key_entry_compare(const void *pa, const void *pb)
{
	const struct key_entry *a = pa, *b = pb;
	int c = memcmp(a->name, b->name, a->len < b->len ? a->len : b->len);

	if (c != 0)
		return c;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return a->at < b->at ? -1 : a->at > b->at;
}

/* Returns the first key, in body order, that repeats an earlier one, or
 * NULL.  A set of KEY_SET_INLINE keys or fewer is compared pair by pair,
 * a larger one is sorted. */
static const struct key_entry *
key_set_find_repeat(struct key_set *set)
{
	const struct key_entry *repeat = NULL, *entry;
	size_t i, j;

	if (set->count <= KEY_SET_INLINE) {
		for (i = 1; i < set->count; i++)
			for (j = 0; j < i; j++)
				if (key_entry_equal(&set->entries[j],
						    &set->entries[i]))
					return &set->entries[i];
		return NULL;
	}
	qsort(set->entries, set->count, sizeof(set->entries[0]),
	      key_entry_compare);
	for (i = 1; i < set->count; i++) {
		entry = &set->entries[i];
		if (key_entry_equal(entry - 1, entry) &&
		    (repeat == NULL || entry->at < repeat->at))
			repeat = entry;
	}
	return repeat;
}

/*
 * The envelope parse: the lexer, the top-level keys, and the kept keys'
 * values, which move into the sns_message once the type's rules pass.
 */
struct kept_value {
	bool present;
	bool has_nul;
	enum json_kind kind;
	struct sns_field value;		/* decoded when kind is JSON_STRING */
};

/* A body this size or smaller decodes its values without a malloc. */
#define SCRATCH_STACK_BYTES 4096

struct envelope {
	struct json_lexer lx;
	struct key_set keys;
	size_t nul_key;			/* index of the first key with a NUL */
	struct kept_value kept[KEPT_COUNT];
	char *key_text;			/* decoded keys that had escapes */
	size_t key_text_len;
	char *scratch;			/* the value being decoded */
	size_t scratch_cap;
	char scratch_stack[SCRATCH_STACK_BYTES];
};

static void
envelope_init(struct envelope *env, const char *body, size_t len,
	      struct err *e)
{
	env->lx.text = (const unsigned char *)body;
	env->lx.len = len;
	env->lx.pos = 0;
	env->lx.depth = 0;
	env->lx.e = e;
	key_set_init(&env->keys);
	env->nul_key = SIZE_MAX;
	memset(env->kept, 0, sizeof(env->kept));
	env->key_text = NULL;
	env->key_text_len = 0;
	env->scratch = env->scratch_stack;
	env->scratch_cap = sizeof(env->scratch_stack);
}

static void
envelope_free(struct envelope *env)
{
	size_t i;

	for (i = 0; i < KEPT_COUNT; i++)
		message_field_free(&env->kept[i].value);
	key_set_free(&env->keys);
	free(env->key_text);
	if (env->scratch != env->scratch_stack)
		free(env->scratch);
}

static enum kept_key
kept_key_find(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < KEPT_COUNT; i++) {
		if (key_names[i].len == len && key_names[i].str[0] == name[0] &&
		    memcmp(key_names[i].str, name, len) == 0)
			return (enum kept_key)i;
	}
	return KEPT_COUNT;
}

/*
 * Decodes the escaped key at key_at into key_text, which keeps every
 * escaped key until the parse ends.  Decoding never makes text longer,
 * so room for the rest of the body is enough for all of them.
 */
static int
envelope_decode_key(struct envelope *env, size_t key_at, const char **name)
{
	struct json_string key;

	if (env->key_text == NULL) {
		env->key_text = malloc(env->lx.len - key_at);
		if (env->key_text == NULL) {
			err_set(env->lx.e, "out_of_memory", "no memory to "
				"decode the key at byte %zu", key_at);
			return RESULT_RETRY;
		}
	}
	*name = env->key_text + env->key_text_len;
	(void)lex_string(&env->lx, key_at, env->key_text + env->key_text_len,
			 &key);
	env->key_text_len += key.len;
	return RESULT_OK;
}

/* Makes the scratch buffer large enough for a string starting at pos.
 * The room needed shrinks as pos moves on, so this allocates at most once
 * per parse. */
static int
envelope_reserve_scratch(struct envelope *env)
{
	size_t need = env->lx.len - env->lx.pos;
	char *heap;

	if (need <= env->scratch_cap)
		return RESULT_OK;
	heap = malloc(need);
	if (heap == NULL) {
		err_set(env->lx.e, "out_of_memory", "no memory to decode a "
			"%zu-byte value", need);
		return RESULT_RETRY;
	}
	if (env->scratch != env->scratch_stack)
		free(env->scratch);
	env->scratch = heap;
	env->scratch_cap = need;
	return RESULT_OK;
}

/* Reads the value of kept key id: a string is decoded into its own copy,
 * any other value is validated and only its kind kept. */
static int
envelope_read_kept(struct envelope *env, enum kept_key id)
{
	struct kept_value *kept = &env->kept[id];
	struct json_lexer *lx = &env->lx;
	struct json_string str;
	int rc;

	kept->present = true;
	lex_skip_space(lx);
	if (lex_peek(lx) != '"')
		return lex_value(lx, &kept->kind);
	kept->kind = JSON_STRING;
	if ((rc = envelope_reserve_scratch(env)) != RESULT_OK ||
	    (rc = lex_string(lx, lx->pos, env->scratch, &str)) != RESULT_OK)
		return rc;
	lx->pos = str.end;
	kept->has_nul = str.has_nul;
	kept->value.str = malloc(str.len + 1);
	if (kept->value.str == NULL) {
		err_set(lx->e, "out_of_memory", "no memory for key \"%s\"",
			key_names[id].str);
		return RESULT_RETRY;
	}
	memcpy(kept->value.str, env->scratch, str.len);
	kept->value.str[str.len] = '\0';
	kept->value.len = str.len;
	return RESULT_OK;
}

/* The json_member_fn of the top-level object.  A repeat of a kept key is
 * only validated: the repeat check rejects it after the pass. */
static int
envelope_read_member(struct json_lexer *lx, size_t key_at,
		     const struct json_string *key, void *ctx)
{
	struct envelope *env = ctx;
	const char *name = (const char *)lx->text + key_at + 1;
	enum json_kind kind;
	enum kept_key id;
	int rc;

	if (key->escaped &&
	    (rc = envelope_decode_key(env, key_at, &name)) != RESULT_OK)
		return rc;
	if (key->has_nul && env->nul_key == SIZE_MAX)
		env->nul_key = env->keys.count;
	rc = key_set_add(&env->keys, name, key->len, key_at, lx->e);
	if (rc != RESULT_OK)
		return rc;
	id = kept_key_find(name, key->len);
	if (id == KEPT_COUNT || env->kept[id].present)
		return lex_value(lx, &kind);
	return envelope_read_kept(env, id);
}

static int
envelope_reject_trailing(const struct json_lexer *lx, enum json_kind kind)
{
	if (!lex_reject_encoding(lx, lx->pos))
		err_set(lx->e, MALFORMED, "the body contains data after the "
			"JSON %s, at byte %zu",
			kind == JSON_OBJECT ? "object" : "value", lx->pos);
	return RESULT_REJECT;
}

/* Reads the whole body, which must be one JSON object. */
static int
envelope_parse(struct envelope *env)
{
	struct json_lexer *lx = &env->lx;
	enum json_kind kind = JSON_OBJECT;
	int rc;

	lex_skip_space(lx);
	if (lex_peek(lx) == '{')
		rc = lex_object(lx, envelope_read_member, env);
	else
		rc = lex_value(lx, &kind);
	if (rc != RESULT_OK)
		return rc;
	lex_skip_space(lx);
	if (lx->pos < lx->len)
		return envelope_reject_trailing(lx, kind);
	if (kind == JSON_NULL) {
		err_set(lx->e, MALFORMED, "the body is JSON null, not an SNS "
			"message object");
		return RESULT_REJECT;
	}
	if (kind != JSON_OBJECT) {
		err_set(lx->e, MALFORMED, "the body is a JSON %s, not an object",
			json_kind_names[kind]);
		return RESULT_REJECT;
	}
	return RESULT_OK;
}

/* Rejects a top-level key that contains a NUL, which a consumer reading
 * C strings would cut short and so merge with another key, and then a
 * repeated key. */
static int
envelope_check_keys(struct envelope *env)
{
	const struct key_entry *entry;

	if (env->nul_key != SIZE_MAX) {
		entry = &env->keys.entries[env->nul_key];
		err_set(env->lx.e, MALFORMED, "key \"%.*s\" contains a NUL "
			"character", (int)(entry->len > 64 ? 64 : entry->len),
			entry->name);
		return RESULT_REJECT;
	}
	entry = key_set_find_repeat(&env->keys);
	if (entry != NULL) {
		err_set(env->lx.e, MALFORMED, "duplicate key \"%.*s\": SNS "
			"never repeats a key",
			(int)(entry->len > 64 ? 64 : entry->len), entry->name);
		return RESULT_REJECT;
	}
	return RESULT_OK;
}

/* Moves the value of key, found under the spelling 'spelling', into msg. */
static int
message_read_key(struct envelope *env, const struct sns_key *key,
		 enum kept_key spelling, struct sns_message *msg,
		 struct err *e)
{
	struct kept_value *kept = &env->kept[spelling];
	const char *name = key_names[spelling].str;

	if (!kept->present) {
		if (!(key->flags & FIELD_REQUIRED))
			return RESULT_OK;
		err_set(e, MALFORMED, "missing key \"%s\", which a %s "
			"carries", name, sns_type_to_string(msg->type));
		return RESULT_REJECT;
	}
	if (kept->kind == JSON_NULL && (key->flags & FIELD_NULLABLE))
		return RESULT_OK;
	if (kept->kind != JSON_STRING) {
		err_set(e, MALFORMED, "key \"%s\" is %s, expected a string",
			name, json_kind_names[kept->kind]);
		return RESULT_REJECT;
	}
	if (kept->has_nul && !(key->flags & FIELD_NUL_OK)) {
		err_set(e, MALFORMED, "key \"%s\" contains a NUL character",
			key_names[key->id].str);
		return RESULT_REJECT;
	}
	*message_field(msg, key) = kept->value;
	kept->value.str = NULL;
	kept->value.len = 0;
	return RESULT_OK;
}

static int
message_read_keys(struct envelope *env, const struct sns_key *keys,
		  struct sns_message *msg, struct err *e)
{
	int rc = RESULT_OK;

	for (; rc == RESULT_OK && keys->id != KEPT_COUNT; keys++) {
		/* Type was read first, to choose the key list. */
		if (message_field(msg, keys)->str != NULL)
			continue;
		rc = message_read_key(env, keys, keys->id, msg, e);
	}
	return rc;
}

/*
 * Reads a key that Lambda-style copies spell differently
 * ("SigningCertUrl" for "SigningCertURL").  Either spelling is accepted,
 * both at once are not.
 */
static int
message_read_either(struct envelope *env, const struct sns_key *key,
		    enum kept_key lambda, struct sns_message *msg,
		    struct err *e)
{
	if (env->kept[key->id].present && env->kept[lambda].present) {
		err_set(e, MALFORMED, "both \"%s\" and \"%s\" are present",
			key_names[key->id].str, key_names[lambda].str);
		return RESULT_REJECT;
	}
	if (env->kept[lambda].present)
		return message_read_key(env, key, lambda, msg, e);
	return message_read_key(env, key, key->id, msg, e);
}

static int
message_read_type(struct envelope *env, struct sns_message *msg,
		  struct err *e)
{
	static const struct sns_key type_key =
		KEY(KEPT_TYPE, type_name, FIELD_REQUIRED);
	int rc;

	if (!env->kept[KEPT_TYPE].present) {
		err_set(e, MALFORMED, "missing key \"Type\"");
		return RESULT_REJECT;
	}
	rc = message_read_key(env, &type_key, KEPT_TYPE, msg, e);
	if (rc != RESULT_OK)
		return rc;
	if (sns_type_from_string(msg->type_name.str, &msg->type) != 0) {
		err_set(e, MALFORMED, "key \"Type\" is \"%.64s\", not "
			"Notification, SubscriptionConfirmation or "
			"UnsubscribeConfirmation", msg->type_name.str);
		return RESULT_REJECT;
	}
	return RESULT_OK;
}

static int
message_read_object(struct envelope *env, struct sns_message *msg,
		    struct err *e)
{
	static const struct sns_key cert_url_key =
		KEY(KEPT_SIGNING_CERT_URL, signing_cert_url, FIELD_REQUIRED);
	static const struct sns_key unsubscribe_key =
		KEY(KEPT_UNSUBSCRIBE_URL, unsubscribe_url, 0);
	int rc;

	rc = message_read_type(env, msg, e);
	if (rc == RESULT_OK)
		rc = message_read_keys(env, message_signed_keys(msg->type),
				       msg, e);
	if (rc == RESULT_OK)
		rc = message_read_keys(env, signature_keys, msg, e);
	if (rc == RESULT_OK)
		rc = message_read_either(env, &cert_url_key,
					 KEPT_SIGNING_CERT_URL_LAMBDA, msg, e);
	if (rc == RESULT_OK)
		rc = message_read_either(env, &unsubscribe_key,
					 KEPT_UNSUBSCRIBE_URL_LAMBDA, msg, e);
	return rc;
}

int
sns_message_parse(const char *body, size_t len, struct sns_message *msg,
		  struct err *e)
{
	struct envelope env;
	int rc;

	memset(msg, 0, sizeof(*msg));
	envelope_init(&env, body, len, e);
	rc = envelope_parse(&env);
	if (rc == RESULT_OK)
		rc = envelope_check_keys(&env);
	if (rc == RESULT_OK)
		rc = message_read_object(&env, msg, e);
	envelope_free(&env);
	if (rc != RESULT_OK)
		sns_message_free(msg);
	return rc;
}

int
sns_message_string_to_sign(const struct sns_message *msg, struct buf *out)
{
	const struct sns_key *key = message_signed_keys(msg->type);
	const struct key_name *name;
	const struct sns_field *field;

	for (; key->id != KEPT_COUNT; key++) {
		field = message_field_const(msg, key);
		if (field->str == NULL)
			continue;
		name = &key_names[key->id];
		if (buf_append(out, name->str, name->len) != 0 ||
		    buf_append(out, "\n", 1) != 0 ||
		    buf_append(out, field->str, field->len) != 0 ||
		    buf_append(out, "\n", 1) != 0)
			return -1;
	}
	return 0;
}

#include "config.h"

#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "snsrelay/limits.h"
#include "snsrelay/sns_message.h"

#define MALFORMED "malformed_body"

enum field_flags {
	FIELD_REQUIRED = 1 << 0,
	FIELD_NULLABLE = 1 << 1,	/* JSON null counts as absent */
	FIELD_NUL_OK = 1 << 2,		/* may hold "\u0000" */
};

struct sns_key {
	const char *name;
	size_t offset;		/* of a struct sns_field in sns_message */
	unsigned flags;
};

#define KEY(name, member, flags) \
	{ name, offsetof(struct sns_message, member), flags }

/* The keys each type signs, in the byte order of the string to sign. */
static const struct sns_key notification_signed[] = {
	KEY("Message", message, FIELD_REQUIRED | FIELD_NUL_OK),
	KEY("MessageId", message_id, FIELD_REQUIRED),
	KEY("Subject", subject, FIELD_NULLABLE | FIELD_NUL_OK),
	KEY("Timestamp", timestamp, FIELD_REQUIRED),
	KEY("TopicArn", topic_arn, FIELD_REQUIRED),
	KEY("Type", type_name, FIELD_REQUIRED),
	{ NULL, 0, 0 },
};

static const struct sns_key confirmation_signed[] = {
	KEY("Message", message, FIELD_REQUIRED | FIELD_NUL_OK),
	KEY("MessageId", message_id, FIELD_REQUIRED),
	KEY("SubscribeURL", subscribe_url, FIELD_REQUIRED),
	KEY("Timestamp", timestamp, FIELD_REQUIRED),
	KEY("Token", token, FIELD_REQUIRED),
	KEY("TopicArn", topic_arn, FIELD_REQUIRED),
	KEY("Type", type_name, FIELD_REQUIRED),
	{ NULL, 0, 0 },
};

static const struct sns_key signature_keys[] = {
	KEY("SignatureVersion", signature_version, FIELD_REQUIRED),
	KEY("Signature", signature, FIELD_REQUIRED),
	{ NULL, 0, 0 },
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

static bool
message_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int
message_tokener_error(struct json_tokener *tok, struct err *e)
{
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t at = json_tokener_get_parse_end(tok);

	/* json-c returns NULL with no error for the JSON literal null. */
	if (jerr == json_tokener_success) {
		err_set(e, MALFORMED, "the body is JSON null, not an SNS "
			"message object");
		return RESULT_REJECT;
	}
	if (jerr == json_tokener_continue) {
		err_set(e, MALFORMED, "the body is not complete JSON: it ends "
			"after %zu bytes inside a value", at);
		return RESULT_REJECT;
	}
	err_set(e, MALFORMED, "the body is not valid JSON: %s near byte %zu",
		json_tokener_error_desc(jerr), at);
	return RESULT_REJECT;
}

/* Parses body strictly into *root; only whitespace may follow the value. */
static int
message_parse_json(const char *body, size_t len, struct json_object **root,
		   struct err *e)
{
	struct json_tokener *tok = NULL;
	size_t end;
	int rc = RESULT_REJECT;

	if (len > INT_MAX || memchr(body, '\0', len) != NULL) {
		err_set(e, MALFORMED, "the body is not JSON text: it contains a "
			"NUL byte or exceeds %d bytes", INT_MAX);
		return RESULT_REJECT;
	}

	tok = json_tokener_new_ex(LIMIT_JSON_DEPTH);
	if (tok == NULL) {
		err_set(e, "out_of_memory", "no memory for the JSON parser");
		return RESULT_RETRY;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
			       JSON_TOKENER_VALIDATE_UTF8);

	*root = json_tokener_parse_ex(tok, body, (int)len);
	end = json_tokener_get_parse_end(tok);
	if (*root == NULL &&
	    json_tokener_get_error(tok) == json_tokener_continue && len > 0) {
		/* A NUL byte tells json-c the input has ended, which
		 * completes a bare literal such as "null" or "123". */
		*root = json_tokener_parse_ex(tok, "", 1);
		end = len;
		if (*root == NULL && json_tokener_get_error(tok) !=
		    json_tokener_success) {
			err_set(e, MALFORMED, "the body is not complete JSON: "
				"it ends after %zu bytes inside a value", len);
			goto out;
		}
	}
	if (*root == NULL) {
		rc = message_tokener_error(tok, e);
		goto out;
	}

	for (; end < len; end++) {
		if (!message_is_space(body[end])) {
			err_set(e, MALFORMED, "the body contains data after the "
				"JSON object, at byte %zu", end);
			goto out;
		}
	}
	rc = RESULT_OK;
out:
	if (rc != RESULT_OK && *root != NULL) {
		json_object_put(*root);
		*root = NULL;
	}
	json_tokener_free(tok);
	return rc;
}

/*
 * Returns the length of the UTF-8 sequence at s[0..len), or 0 when it is
 * not well-formed.  Overlong forms, surrogates and code points above
 * U+10FFFF are not well-formed; json-c 0.16 lets some of them through.
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
message_check_utf8(const char *body, size_t len, struct err *e)
{
	size_t i = 0, n;

	while (i < len) {
		n = message_utf8_length((const unsigned char *)body + i,
					len - i);
		if (n == 0) {
			err_set(e, MALFORMED, "the body is not valid UTF-8 at "
				"byte %zu", i);
			return RESULT_REJECT;
		}
		i += n;
	}
	return RESULT_OK;
}

/*
 * A second, lexical pass over the text that json-c has accepted.  It
 * rejects what json-c 0.16 lets through even in strict mode: single
 * quotes, NaN and Infinity, and raw control characters in strings.  It
 * also collects the keys of the top-level object.  json-c keeps only the
 * last of duplicate keys, so a verifier reading one copy and a formatter
 * reading another could disagree.
 */
struct key_scan {
	const char *body;
	size_t len;
	size_t pos;
	int depth;
	bool expect_key;
	struct json_tokener *tok;
	struct json_object *seen;	/* decoded top-level keys */
};

/*
 * Decodes the raw key token body[start..end) with json-c and records it.
 * Rejects a key that was seen before, and one that contains a NUL, which
 * json-c would cut short and so merge with another key.
 */
static int
message_note_key(struct key_scan *s, size_t start, size_t end,
		 struct err *e)
{
	struct json_object *key = NULL;
	const char *name;
	int len, rc = RESULT_REJECT;

	json_tokener_reset(s->tok);
	key = json_tokener_parse_ex(s->tok, s->body + start,
				    (int)(end - start));
	if (key == NULL || !json_object_is_type(key, json_type_string)) {
		err_set(e, MALFORMED, "invalid key at byte %zu", start);
		goto out;
	}

	name = json_object_get_string(key);
	len = json_object_get_string_len(key);
	if (memchr(name, '\0', (size_t)len) != NULL) {
		err_set(e, MALFORMED, "key \"%.64s\" contains a NUL character",
			name);
		goto out;
	}
	if (json_object_object_get_ex(s->seen, name, NULL)) {
		err_set(e, MALFORMED, "duplicate key \"%.64s\": SNS never "
			"repeats a key", name);
		goto out;
	}
	if (json_object_object_add(s->seen, name, NULL) != 0) {
		err_set(e, "out_of_memory", "no memory to check the keys");
		rc = RESULT_RETRY;
		goto out;
	}
	rc = RESULT_OK;
out:
	json_object_put(key);
	return rc;
}

static int
message_scan_string(struct key_scan *s, struct err *e)
{
	size_t start = s->pos, i;
	bool is_key = s->depth == 1 && s->expect_key;

	for (i = start + 1; i < s->len && s->body[i] != '"'; i++) {
		if ((unsigned char)s->body[i] < 0x20) {
			err_set(e, MALFORMED, "a string contains a raw control "
				"character at byte %zu", i);
			return RESULT_REJECT;
		}
		if (s->body[i] == '\\')
			i++;
	}
	s->pos = i + 1;
	s->expect_key = false;
	if (is_key)
		return message_note_key(s, start, s->pos, e);
	return RESULT_OK;
}

static bool
message_is_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Accepts the literals true, false and null, and a number's exponent. */
static int
message_scan_word(struct key_scan *s, struct err *e)
{
	const char *word = s->body + s->pos;
	size_t n = 0;
	char prev = s->pos > 0 ? word[-1] : ' ';

	while (s->pos + n < s->len && message_is_letter(word[n]))
		n++;
	s->pos += n;
	if (n == 1 && (word[0] == 'e' || word[0] == 'E') &&
	    ((prev >= '0' && prev <= '9') || prev == '.'))
		return RESULT_OK;
	if ((n == 4 && memcmp(word, "true", 4) == 0) ||
	    (n == 5 && memcmp(word, "false", 5) == 0) ||
	    (n == 4 && memcmp(word, "null", 4) == 0))
		return RESULT_OK;
	err_set(e, MALFORMED, "the body contains \"%.*s\" at byte %zu, which is "
		"not a JSON literal", (int)(n > 16 ? 16 : n), word,
		s->pos - n);
	return RESULT_REJECT;
}

static int
message_scan_char(struct key_scan *s, struct err *e)
{
	char c = s->body[s->pos];

	if (c == '{' || c == '[')
		s->depth++;
	else if (c == '}' || c == ']')
		s->depth--;
	if ((c == '{' || c == ',') && s->depth == 1)
		s->expect_key = true;
	if (strchr("{}[],: \t\r\n0123456789+-.", c) == NULL || c == '\0') {
		err_set(e, MALFORMED, "the body contains an unexpected "
			"character at byte %zu", s->pos);
		return RESULT_REJECT;
	}
	s->pos++;
	return RESULT_OK;
}

static int
message_scan_body(const char *body, size_t len, struct err *e)
{
	struct key_scan s = { body, len, 0, 0, false, NULL, NULL };
	int rc = RESULT_OK;

	s.tok = json_tokener_new_ex(1);
	s.seen = json_object_new_object();
	if (s.tok == NULL || s.seen == NULL) {
		err_set(e, "out_of_memory", "no memory to check the keys");
		rc = RESULT_RETRY;
	}
	while (rc == RESULT_OK && s.pos < len) {
		if (body[s.pos] == '"')
			rc = message_scan_string(&s, e);
		else if (message_is_letter(body[s.pos]))
			rc = message_scan_word(&s, e);
		else
			rc = message_scan_char(&s, e);
	}
	json_object_put(s.seen);
	if (s.tok != NULL)
		json_tokener_free(s.tok);
	return rc;
}

static int
message_copy_value(struct json_object *value, const struct sns_key *key,
		   struct sns_field *field, struct err *e)
{
	const char *str = json_object_get_string(value);
	size_t len = (size_t)json_object_get_string_len(value);

	if (!(key->flags & FIELD_NUL_OK) && memchr(str, '\0', len) != NULL) {
		err_set(e, MALFORMED, "key \"%s\" contains a NUL character",
			key->name);
		return RESULT_REJECT;
	}
	field->str = malloc(len + 1);
	if (field->str == NULL) {
		err_set(e, "out_of_memory", "no memory for key \"%s\"",
			key->name);
		return RESULT_RETRY;
	}
	memcpy(field->str, str, len);
	field->str[len] = '\0';
	field->len = len;
	return RESULT_OK;
}

/* Copies the string under key->name (or name, when not NULL) into msg. */
static int
message_read_key(struct json_object *root, const struct sns_key *key,
		 const char *name, struct sns_message *msg, struct err *e)
{
	struct json_object *value = NULL;
	const char *type_name;

	if (name == NULL)
		name = key->name;
	if (!json_object_object_get_ex(root, name, &value)) {
		if (!(key->flags & FIELD_REQUIRED))
			return RESULT_OK;
		err_set(e, MALFORMED, "missing key \"%s\", which a %s "
			"carries", name, sns_type_to_string(msg->type));
		return RESULT_REJECT;
	}
	if (value == NULL && (key->flags & FIELD_NULLABLE))
		return RESULT_OK;
	if (json_object_is_type(value, json_type_string))
		return message_copy_value(value, key, message_field(msg, key),
					  e);

	type_name = value == NULL ? "null" : json_type_to_name(
		json_object_get_type(value));
	err_set(e, MALFORMED, "key \"%s\" is %s, expected a string", name,
		type_name);
	return RESULT_REJECT;
}

static int
message_read_keys(struct json_object *root, const struct sns_key *keys,
		  struct sns_message *msg, struct err *e)
{
	int rc = RESULT_OK;

	for (; rc == RESULT_OK && keys->name != NULL; keys++) {
		/* Type was read first, to choose the key list. */
		if (message_field(msg, keys)->str != NULL)
			continue;
		rc = message_read_key(root, keys, NULL, msg, e);
	}
	return rc;
}

/*
 * Reads a key that Lambda-style copies spell differently
 * ("SigningCertUrl" for "SigningCertURL").  Either spelling is accepted,
 * both at once are not.
 */
static int
message_read_either(struct json_object *root, const struct sns_key *key,
		    const char *lambda_name, struct sns_message *msg,
		    struct err *e)
{
	bool has_http = json_object_object_get_ex(root, key->name, NULL);
	bool has_lambda = json_object_object_get_ex(root, lambda_name, NULL);

	if (has_http && has_lambda) {
		err_set(e, MALFORMED, "both \"%s\" and \"%s\" are present",
			key->name, lambda_name);
		return RESULT_REJECT;
	}
	if (has_lambda)
		return message_read_key(root, key, lambda_name, msg, e);
	return message_read_key(root, key, NULL, msg, e);
}

static int
message_read_type(struct json_object *root, struct sns_message *msg,
		  struct err *e)
{
	static const struct sns_key type_key =
		KEY("Type", type_name, FIELD_REQUIRED);
	int rc;

	if (!json_object_object_get_ex(root, "Type", NULL)) {
		err_set(e, MALFORMED, "missing key \"Type\"");
		return RESULT_REJECT;
	}
	rc = message_read_key(root, &type_key, NULL, msg, e);
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
message_read_object(struct json_object *root, struct sns_message *msg,
		    struct err *e)
{
	static const struct sns_key cert_url_key =
		KEY("SigningCertURL", signing_cert_url, FIELD_REQUIRED);
	static const struct sns_key unsubscribe_key =
		KEY("UnsubscribeURL", unsubscribe_url, 0);
	int rc;

	rc = message_read_type(root, msg, e);
	if (rc == RESULT_OK)
		rc = message_read_keys(root, message_signed_keys(msg->type),
				       msg, e);
	if (rc == RESULT_OK)
		rc = message_read_keys(root, signature_keys, msg, e);
	if (rc == RESULT_OK)
		rc = message_read_either(root, &cert_url_key,
					 "SigningCertUrl", msg, e);
	if (rc == RESULT_OK)
		rc = message_read_either(root, &unsubscribe_key,
					 "UnsubscribeUrl", msg, e);
	return rc;
}

int
sns_message_parse(const char *body, size_t len, struct sns_message *msg,
		  struct err *e)
{
	struct json_object *root = NULL;
	int rc;

	memset(msg, 0, sizeof(*msg));
	rc = message_check_utf8(body, len, e);
	if (rc == RESULT_OK)
		rc = message_parse_json(body, len, &root, e);
	if (rc != RESULT_OK)
		return rc;

	if (!json_object_is_type(root, json_type_object)) {
		err_set(e, MALFORMED, "the body is a JSON %s, not an object",
			json_type_to_name(json_object_get_type(root)));
		rc = RESULT_REJECT;
		goto out;
	}

	rc = message_scan_body(body, len, e);
	if (rc == RESULT_OK)
		rc = message_read_object(root, msg, e);
out:
	json_object_put(root);
	if (rc != RESULT_OK)
		sns_message_free(msg);
	return rc;
}

int
sns_message_string_to_sign(const struct sns_message *msg, struct buf *out)
{
	const struct sns_key *key = message_signed_keys(msg->type);
	const struct sns_field *field;

	for (; key->name != NULL; key++) {
		field = message_field_const(msg, key);
		if (field->str == NULL)
			continue;
		if (buf_append_str(out, key->name) != 0 ||
		    buf_append(out, "\n", 1) != 0 ||
		    buf_append(out, field->str, field->len) != 0 ||
		    buf_append(out, "\n", 1) != 0)
			return -1;
	}
	return 0;
}

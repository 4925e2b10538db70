/*
 * sns_message: the string to sign of every genuine fixture message, the
 * bodies the parser must reject, and the values it decodes, checked
 * against json-c.
 */
#include "config.h"

#include <dirent.h>
#include <sys/mman.h>
#include <unistd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "snsrelay/buf.h"
#include "snsrelay/err.h"
#include "snsrelay/limits.h"
#include "snsrelay/sns_message.h"
#include "tap.h"

#define FIXTURE_MESSAGES 22

/* Key-value pairs of a valid Notification, to build bodies from. */
#define K_TYPE_N "\"Type\" : \"Notification\""
#define K_TYPE_S "\"Type\" : \"SubscriptionConfirmation\""
#define K_TYPE_U "\"Type\" : \"UnsubscribeConfirmation\""
#define K_ID "\"MessageId\" : \"id-1\""
#define K_ARN "\"TopicArn\" : \"arn:aws:sns:us-east-1:123456789012:t\""
#define K_MSG "\"Message\" : \"hello\""
#define K_TS "\"Timestamp\" : \"2026-03-06T19:55:38.903Z\""
#define K_VER "\"SignatureVersion\" : \"1\""
#define K_SIG "\"Signature\" : \"AAAA\""
#define K_CERT "\"SigningCertURL\" : \"https://sns.us-east-1.amazonaws.com/" \
	"SimpleNotificationService-0123456789abcdef0123456789abcdef.pem\""
#define K_TOKEN "\"Token\" : \"abc\""
#define K_SUB "\"SubscribeURL\" : \"https://sns.us-east-1.amazonaws.com/?" \
	"Action=ConfirmSubscription\""

#define SIGNATURE_PART K_VER ", " K_SIG ", " K_CERT
#define NOTIFICATION_BODY "{" K_TYPE_N ", " K_ID ", " K_ARN ", " K_MSG ", " \
	K_TS ", " SIGNATURE_PART "}"
#define CONFIRM_PAIRS K_ID ", " K_TOKEN ", " K_ARN ", " K_MSG ", " K_SUB \
	", " K_TS ", " SIGNATURE_PART

static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char chunk[4096];
	size_t n;

	if (f == NULL)
		return NULL;
	buf_init(&b, 1 << 24);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	*len = b.len;
	return buf_steal(&b);
}

static int
compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the *.json files of dir, sorted; returns the count. */
static size_t
list_json(const char *dir, char **names, size_t max)
{
	DIR *d = opendir(dir);
	struct dirent *ent;
	size_t n = 0, len;

	if (d == NULL)
		return 0;
	while ((ent = readdir(d)) != NULL && n < max) {
		len = strlen(ent->d_name);
		if (len > 5 && strcmp(ent->d_name + len - 5, ".json") == 0)
			names[n++] = strdup(ent->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), compare_names);
	return n;
}

static void
check_fixture(const char *root, const char *name)
{
	char path[1024], base[256];
	struct sns_message msg;
	struct err e;
	struct buf sts;
	char *body = NULL, *want = NULL;
	size_t body_len = 0, want_len = 0;
	int rc;

	snprintf(base, sizeof(base), "%.*s", (int)(strlen(name) - 5), name);
	snprintf(path, sizeof(path), "%s/sns/messages/%s", root, name);
	body = read_file(path, &body_len);
	snprintf(path, sizeof(path), "%s/sns/expected-string-to-sign/%s.txt",
		 root, base);
	want = read_file(path, &want_len);
	ok(body != NULL && want != NULL, "fixture %s: files read", base);

	err_clear(&e);
	rc = sns_message_parse(body ? body : "", body_len, &msg, &e);
	is_int(rc, RESULT_OK, "fixture %s: parses", base);
	if (rc != RESULT_OK)
		diag("%s: %s", e.code, e.msg);

	buf_init(&sts, 1 << 24);
	if (rc == RESULT_OK)
		sns_message_string_to_sign(&msg, &sts);
	ok(want != NULL && sts.len == want_len &&
	   memcmp(sts.data, want, want_len) == 0,
	   "fixture %s: string to sign matches", base);
	ok(rc != RESULT_OK || msg.signing_cert_url.str != NULL,
	   "fixture %s: certificate URL kept", base);

	buf_free(&sts);
	sns_message_free(&msg);
	free(body);
	free(want);
}

static void
test_fixtures(const char *root)
{
	char dir[1024];
	char *names[64];
	size_t n, i;

	snprintf(dir, sizeof(dir), "%s/sns/messages", root);
	n = list_json(dir, names, 64);
	is_int(n, FIXTURE_MESSAGES, "fixtures: all messages found");
	for (i = 0; i < n; i++) {
		check_fixture(root, names[i]);
		free(names[i]);
	}
}

static int
parse_str(const char *body, struct sns_message *msg, struct err *e)
{
	err_clear(e);
	return sns_message_parse(body, strlen(body), msg, e);
}

static void
test_lambda_style(const char *root)
{
	char path[1024];
	struct sns_message msg;
	struct err e;
	char *body;
	size_t len = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/sns/messages/"
		 "php2022-lambda-style-v1-subject-null.json", root);
	body = read_file(path, &len);
	rc = sns_message_parse(body ? body : "", len, &msg, &e);
	is_int(rc, RESULT_OK, "lambda style: parses");
	ok(rc == RESULT_OK && msg.subject.str == NULL,
	   "lambda style: null Subject is absent");
	ok(rc == RESULT_OK && msg.signing_cert_url.str != NULL &&
	   strstr(msg.signing_cert_url.str, "7ff5318490ec") != NULL,
	   "lambda style: SigningCertUrl read");
	ok(rc == RESULT_OK && msg.unsubscribe_url.str != NULL,
	   "lambda style: UnsubscribeUrl read");
	is_int(msg.type, SNS_TYPE_NOTIFICATION, "lambda style: type");
	sns_message_free(&msg);
	free(body);
}

static void
test_embedded_nul(void)
{
	const char *body = "{" K_TYPE_N ", " K_ID ", " K_ARN ", "
		"\"Message\" : \"a\\u0000b\", \"Subject\" : \"s\\u0000t\", "
		K_TS ", " SIGNATURE_PART "}";
	static const char want[] = "Message\na\0b\nMessageId\nid-1\n"
		"Subject\ns\0t\nTimestamp\n2026-03-06T19:55:38.903Z\n"
		"TopicArn\narn:aws:sns:us-east-1:123456789012:t\n"
		"Type\nNotification\n";
	struct sns_message msg;
	struct buf sts;
	struct err e;
	int rc;

	rc = parse_str(body, &msg, &e);
	is_int(rc, RESULT_OK, "embedded NUL: parses");
	is_int(msg.message.len, 3, "embedded NUL: Message length kept");
	is_int(msg.subject.len, 3, "embedded NUL: Subject length kept");
	buf_init(&sts, 4096);
	sns_message_string_to_sign(&msg, &sts);
	ok(sts.len == sizeof(want) - 1 &&
	   memcmp(sts.data, want, sizeof(want) - 1) == 0,
	   "embedded NUL: string to sign keeps every byte");
	buf_free(&sts);
	sns_message_free(&msg);
}

static void
test_string_to_sign_max(void)
{
	struct sns_message msg;
	struct buf sts;
	struct err e;

	parse_str(NOTIFICATION_BODY, &msg, &e);
	buf_init(&sts, 20);
	is_int(sns_message_string_to_sign(&msg, &sts), -1,
	       "string to sign: buffer maximum reported");
	buf_free(&sts);
	sns_message_free(&msg);
}

struct accept_case {
	const char *name;
	const char *body;
	enum sns_type type;
	bool has_subject;
	bool has_token;
};

static const struct accept_case accept_cases[] = {
	{ "notification", NOTIFICATION_BODY, SNS_TYPE_NOTIFICATION, false,
	  false },
	{ "subject null", "{" K_TYPE_N ", \"Subject\" : null, " K_ID ", "
	  K_ARN ", " K_MSG ", " K_TS ", " SIGNATURE_PART "}",
	  SNS_TYPE_NOTIFICATION, false, false },
	{ "subject empty", "{" K_TYPE_N ", \"Subject\" : \"\", " K_ID ", "
	  K_ARN ", " K_MSG ", " K_TS ", " SIGNATURE_PART "}",
	  SNS_TYPE_NOTIFICATION, true, false },
	{ "unsigned token ignored", "{" K_TYPE_N ", " K_TOKEN ", " K_ID ", "
	  K_ARN ", " K_MSG ", " K_TS ", " SIGNATURE_PART "}",
	  SNS_TYPE_NOTIFICATION, false, false },
	{ "subscription", "{" K_TYPE_S ", " CONFIRM_PAIRS "}",
	  SNS_TYPE_SUBSCRIPTION_CONFIRMATION, false, true },
	{ "unsubscribe", "{" K_TYPE_U ", " CONFIRM_PAIRS "}",
	  SNS_TYPE_UNSUBSCRIBE_CONFIRMATION, false, true },
	{ "confirmation subject ignored", "{" K_TYPE_S ", \"Subject\" : 5, "
	  CONFIRM_PAIRS "}", SNS_TYPE_SUBSCRIPTION_CONFIRMATION, false,
	  true },
	{ "whitespace around", " \r\n\t" NOTIFICATION_BODY "\n\n ",
	  SNS_TYPE_NOTIFICATION, false, false },
	{ "nested attributes", "{" K_TYPE_N ", \"MessageAttributes\" : "
	  "{\"a\" : {\"Type\" : \"String\", \"Value\" : \"x\"}, \"n\" : "
	  "[1, 2.5e3, -0.5E-2, true, false, null]}, " K_ID ", " K_ARN ", "
	  K_MSG ", " K_TS ", " SIGNATURE_PART "}", SNS_TYPE_NOTIFICATION,
	  false, false },
	{ "escaped key", "{\"T\\u0079pe\" : \"Notification\", " K_ID ", "
	  K_ARN ", " K_MSG ", " K_TS ", " SIGNATURE_PART "}",
	  SNS_TYPE_NOTIFICATION, false, false },
};

static void
test_accepts(void)
{
	const struct accept_case *c;
	struct sns_message msg;
	struct err e;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(accept_cases) / sizeof(accept_cases[0]); i++) {
		c = &accept_cases[i];
		rc = parse_str(c->body, &msg, &e);
		is_int(rc, RESULT_OK, "accept %s: parses", c->name);
		if (rc != RESULT_OK)
			diag("%s", e.msg);
		is_int(msg.type, c->type, "accept %s: type", c->name);
		is_int(msg.subject.str != NULL, c->has_subject,
		       "accept %s: Subject", c->name);
		is_int(msg.token.str != NULL, c->has_token,
		       "accept %s: Token", c->name);
		sns_message_free(&msg);
	}
}

struct reject_case {
	const char *name;
	const char *body;
	size_t len;		/* 0: strlen(body) */
	const char *reason;	/* a part of the error message */
};

#define BAD(name, body, reason) { name, body, 0, reason }

static const struct reject_case reject_cases[] = {
	BAD("empty", "", "not complete"),
	BAD("truncated", "{" K_TYPE_N ", " K_ID, "not complete"),
	BAD("bad json", "{\"Type\" : }", "not valid JSON"),
	BAD("trailing data", NOTIFICATION_BODY "x", "JSON"),
	BAD("two objects", NOTIFICATION_BODY NOTIFICATION_BODY,
	    "JSON"),
	BAD("trailing comma", "{" K_TYPE_N ", }", "not valid JSON"),
	BAD("array", "[" NOTIFICATION_BODY "]", "array"),
	BAD("string", "\"Notification\"", "string"),
	BAD("json null", "null", "JSON null"),
	BAD("json null padded", "  null \n", "JSON null"),
	BAD("number", "123 ", "object"),
	BAD("single quotes", "{'Type' : 'Notification'}", "byte 1"),
	BAD("nan value", "{" K_TYPE_N ", \"x\" : NaN, " K_ID ", " K_ARN
	    ", " K_MSG ", " K_TS ", " SIGNATURE_PART "}", "NaN"),
	BAD("comment", "{" K_TYPE_N " /* c */ }", "JSON"),
	BAD("raw tab in string", "{" K_TYPE_N ", " K_ID ", " K_ARN ", "
	    "\"Message\" : \"a\tb\", " K_TS ", " SIGNATURE_PART "}",
	    "control character"),
	BAD("invalid utf-8", "{" K_TYPE_N ", " K_ID ", " K_ARN ", "
	    "\"Message\" : \"\xff\", " K_TS ", " SIGNATURE_PART "}",
	    "UTF-8"),
	BAD("overlong utf-8", "{" K_TYPE_N ", " K_ID ", " K_ARN ", "
	    "\"Message\" : \"\xc0\xaf\", " K_TS ", " SIGNATURE_PART "}",
	    "UTF-8"),
	BAD("utf-8 surrogate", "{" K_TYPE_N ", " K_ID ", " K_ARN ", "
	    "\"Message\" : \"\xed\xa0\x80\", " K_TS ", " SIGNATURE_PART "}",
	    "UTF-8"),
	BAD("truncated utf-8", "{" K_TYPE_N ", " K_ID ", " K_ARN ", "
	    "\"Message\" : \"\xe2\x82\", " K_TS ", " SIGNATURE_PART "}",
	    "UTF-8"),
	BAD("too deep", "{" K_TYPE_N ", \"x\" : "
	    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]"
	    "]]]]]]]]]]]]]]]]]]]], " K_ID ", " K_ARN ", " K_MSG ", " K_TS
	    ", " SIGNATURE_PART "}", "JSON"),
	BAD("duplicate Message", "{" K_TYPE_N ", " K_ID ", " K_ARN ", "
	    K_MSG ", \"Message\" : \"evil\", " K_TS ", " SIGNATURE_PART "}",
	    "duplicate key \"Message\""),
	BAD("duplicate escaped", "{" K_TYPE_N ", " K_ID ", " K_ARN ", "
	    K_MSG ", \"Mess\\u0061ge\" : \"evil\", " K_TS ", "
	    SIGNATURE_PART "}", "duplicate key \"Message\""),
	BAD("duplicate Type", "{" K_TYPE_N ", " K_TYPE_S ", " CONFIRM_PAIRS
	    "}", "duplicate key \"Type\""),
	BAD("duplicate unsigned", "{" K_TYPE_N ", \"x\" : 1, \"x\" : 2, "
	    K_ID ", " K_ARN ", " K_MSG ", " K_TS ", " SIGNATURE_PART "}",
	    "duplicate key \"x\""),
	BAD("key with NUL", "{" K_TYPE_N ", " K_ID ", " K_ARN ", " K_MSG
	    ", \"Message\\u0000x\" : \"evil\", " K_TS ", " SIGNATURE_PART
	    "}", "NUL"),
	{ "raw NUL byte", "{" K_TYPE_N "}\0", sizeof("{" K_TYPE_N "}"),
	  "NUL byte" },
	BAD("type missing", "{" CONFIRM_PAIRS "}", "\"Type\""),
	BAD("type unknown", "{\"Type\" : \"Notice\", " CONFIRM_PAIRS "}",
	    "\"Type\" is \"Notice\""),
	BAD("type not string", "{\"Type\" : 1, " CONFIRM_PAIRS "}",
	    "\"Type\" is int"),
	BAD("type with NUL", "{\"Type\" : \"Notification\\u0000\", "
	    CONFIRM_PAIRS "}", "\"Type\" contains a NUL"),
	BAD("notification no Message", "{" K_TYPE_N ", " K_ID ", " K_ARN
	    ", " K_TS ", " SIGNATURE_PART "}", "missing key \"Message\""),
	BAD("notification no MessageId", "{" K_TYPE_N ", " K_ARN ", "
	    K_MSG ", " K_TS ", " SIGNATURE_PART "}",
	    "missing key \"MessageId\""),
	BAD("notification no Timestamp", "{" K_TYPE_N ", " K_ID ", " K_ARN
	    ", " K_MSG ", " SIGNATURE_PART "}", "missing key \"Timestamp\""),
	BAD("notification no TopicArn", "{" K_TYPE_N ", " K_ID ", " K_MSG
	    ", " K_TS ", " SIGNATURE_PART "}", "missing key \"TopicArn\""),
	BAD("subscription no Token", "{" K_TYPE_S ", " K_ID ", " K_ARN ", "
	    K_MSG ", " K_SUB ", " K_TS ", " SIGNATURE_PART "}",
	    "missing key \"Token\""),
	BAD("subscription no SubscribeURL", "{" K_TYPE_S ", " K_ID ", "
	    K_TOKEN ", " K_ARN ", " K_MSG ", " K_TS ", " SIGNATURE_PART "}",
	    "missing key \"SubscribeURL\""),
	BAD("unsubscribe no Token", "{" K_TYPE_U ", " K_ID ", " K_ARN ", "
	    K_MSG ", " K_SUB ", " K_TS ", " SIGNATURE_PART "}",
	    "missing key \"Token\""),
	BAD("unsubscribe no Message", "{" K_TYPE_U ", " K_ID ", " K_TOKEN
	    ", " K_ARN ", " K_SUB ", " K_TS ", " SIGNATURE_PART "}",
	    "missing key \"Message\""),
	BAD("no SignatureVersion", "{" K_TYPE_N ", " K_ID ", " K_ARN ", "
	    K_MSG ", " K_TS ", " K_SIG ", " K_CERT "}",
	    "missing key \"SignatureVersion\""),
	BAD("no Signature", "{" K_TYPE_N ", " K_ID ", " K_ARN ", " K_MSG
	    ", " K_TS ", " K_VER ", " K_CERT "}",
	    "missing key \"Signature\""),
	BAD("no SigningCertURL", "{" K_TYPE_N ", " K_ID ", " K_ARN ", "
	    K_MSG ", " K_TS ", " K_VER ", " K_SIG "}",
	    "missing key \"SigningCertURL\""),
	BAD("Message number", "{" K_TYPE_N ", " K_ID ", " K_ARN ", "
	    "\"Message\" : 5, " K_TS ", " SIGNATURE_PART "}",
	    "\"Message\" is int"),
	BAD("Message object", "{" K_TYPE_N ", " K_ID ", " K_ARN ", "
	    "\"Message\" : {\"a\" : 1}, " K_TS ", " SIGNATURE_PART "}",
	    "\"Message\" is object"),
	BAD("MessageId null", "{" K_TYPE_N ", \"MessageId\" : null, " K_ARN
	    ", " K_MSG ", " K_TS ", " SIGNATURE_PART "}",
	    "\"MessageId\" is null"),
	BAD("Subject number", "{" K_TYPE_N ", \"Subject\" : 5, " K_ID ", "
	    K_ARN ", " K_MSG ", " K_TS ", " SIGNATURE_PART "}",
	    "\"Subject\" is int"),
	BAD("Subject bool", "{" K_TYPE_N ", \"Subject\" : true, " K_ID ", "
	    K_ARN ", " K_MSG ", " K_TS ", " SIGNATURE_PART "}",
	    "\"Subject\" is boolean"),
	BAD("Timestamp array", "{" K_TYPE_N ", " K_ID ", " K_ARN ", " K_MSG
	    ", \"Timestamp\" : [], " SIGNATURE_PART "}",
	    "\"Timestamp\" is array"),
	BAD("Token number", "{" K_TYPE_S ", \"Token\" : 7, " K_ID ", "
	    K_ARN ", " K_MSG ", " K_SUB ", " K_TS ", " SIGNATURE_PART "}",
	    "\"Token\" is int"),
	BAD("TopicArn with NUL", "{" K_TYPE_N ", " K_ID ", \"TopicArn\" : "
	    "\"arn:aws:sns:us-east-1:1:t\\u0000x\", " K_MSG ", " K_TS ", "
	    SIGNATURE_PART "}", "\"TopicArn\" contains a NUL"),
	BAD("Signature number", "{" K_TYPE_N ", " K_ID ", " K_ARN ", "
	    K_MSG ", " K_TS ", " K_VER ", \"Signature\" : 1, " K_CERT "}",
	    "\"Signature\" is int"),
	BAD("SignatureVersion number", "{" K_TYPE_N ", " K_ID ", " K_ARN
	    ", " K_MSG ", " K_TS ", \"SignatureVersion\" : 1, " K_SIG ", "
	    K_CERT "}", "\"SignatureVersion\" is int"),
	BAD("SigningCertURL null", "{" K_TYPE_N ", " K_ID ", " K_ARN ", "
	    K_MSG ", " K_TS ", " K_VER ", " K_SIG ", \"SigningCertURL\" : "
	    "null}", "\"SigningCertURL\" is null"),
	BAD("SigningCertUrl number", "{" K_TYPE_N ", " K_ID ", " K_ARN ", "
	    K_MSG ", " K_TS ", " K_VER ", " K_SIG ", \"SigningCertUrl\" : "
	    "1}", "\"SigningCertUrl\" is int"),
	BAD("both cert URL spellings", "{" K_TYPE_N ", " K_ID ", " K_ARN
	    ", " K_MSG ", " K_TS ", " SIGNATURE_PART ", \"SigningCertUrl\""
	    " : \"https://x/\"}", "both \"SigningCertURL\""),
	BAD("both unsubscribe spellings", "{" K_TYPE_N ", " K_ID ", " K_ARN
	    ", " K_MSG ", " K_TS ", " SIGNATURE_PART ", \"UnsubscribeURL\""
	    " : \"https://x/\", \"UnsubscribeUrl\" : \"https://y/\"}",
	    "both \"UnsubscribeURL\""),
	BAD("UnsubscribeURL number", "{" K_TYPE_N ", " K_ID ", " K_ARN ", "
	    K_MSG ", " K_TS ", " SIGNATURE_PART ", \"UnsubscribeURL\" : 3}",
	    "\"UnsubscribeURL\" is int"),
};

static void
test_rejects(void)
{
	const struct reject_case *c;
	struct sns_message msg;
	struct err e;
	size_t i, len;
	int rc;

	for (i = 0; i < sizeof(reject_cases) / sizeof(reject_cases[0]); i++) {
		c = &reject_cases[i];
		len = c->len ? c->len : strlen(c->body);
		err_clear(&e);
		rc = sns_message_parse(c->body, len, &msg, &e);
		is_int(rc, RESULT_REJECT, "reject %s: rejected", c->name);
		is_str(e.code, "malformed_body", "reject %s: code", c->name);
		ok(strstr(e.msg, c->reason) != NULL, "reject %s: reason",
		   c->name);
		if (strstr(e.msg, c->reason) == NULL)
			diag("message: %s", e.msg);
		ok(msg.message.str == NULL && msg.type_name.str == NULL,
		   "reject %s: nothing kept", c->name);
		sns_message_free(&msg);
	}
}

/*
 * A second opinion from json-c, which the parser used to be built on.
 * Every value that the parser keeps must equal json-c's decoding of the
 * same body, and a string value that it drops must be one that the type
 * does not keep.
 */
struct kept_field {
	const char *key;
	const char *lambda_key;		/* the Lambda-style spelling */
	size_t offset;			/* of the struct sns_field */
};

#define KEPT(key, lambda_key, member) \
	{ key, lambda_key, offsetof(struct sns_message, member) }

static const struct kept_field kept_fields[] = {
	KEPT("Type", NULL, type_name),
	KEPT("Message", NULL, message),
	KEPT("MessageId", NULL, message_id),
	KEPT("Subject", NULL, subject),
	KEPT("Timestamp", NULL, timestamp),
	KEPT("TopicArn", NULL, topic_arn),
	KEPT("Token", NULL, token),
	KEPT("SubscribeURL", NULL, subscribe_url),
	KEPT("SignatureVersion", NULL, signature_version),
	KEPT("Signature", NULL, signature),
	KEPT("SigningCertURL", "SigningCertUrl", signing_cert_url),
	KEPT("UnsubscribeURL", "UnsubscribeUrl", unsubscribe_url),
};

static bool
field_dropped_by_type(const struct sns_message *msg, const char *key)
{
	if (msg->type == SNS_TYPE_NOTIFICATION)
		return strcmp(key, "Token") == 0 ||
		       strcmp(key, "SubscribeURL") == 0;
	return strcmp(key, "Subject") == 0;
}

/* Returns NULL when the field agrees with json-c's value, else why not. */
static const char *
compare_field(const struct kept_field *f, const struct sns_field *field,
	      const struct sns_message *msg, struct json_object *value)
{
	bool is_string = value != NULL &&
			 json_object_is_type(value, json_type_string);

	if (field->str == NULL) {
		if (is_string && !field_dropped_by_type(msg, f->key))
			return "dropped a string that json-c has";
		return NULL;
	}
	if (!is_string)
		return "kept a value that json-c has as no string";
	if ((size_t)json_object_get_string_len(value) != field->len ||
	    memcmp(json_object_get_string(value), field->str,
		   field->len) != 0)
		return "decoded other bytes than json-c";
	if (field->str[field->len] != '\0')
		return "copy is not NUL-terminated";
	return NULL;
}

static void
check_json_c(const char *name, const char *body, size_t len,
	     const struct sns_message *msg)
{
	struct json_tokener *tok = json_tokener_new_ex(LIMIT_JSON_DEPTH);
	struct json_object *root, *value;
	const struct kept_field *f;
	const struct sns_field *field;
	const char *mismatch = NULL;
	size_t i;

	root = json_tokener_parse_ex(tok, body, (int)len);
	ok(root != NULL, "json-c %s: parses", name);
	for (i = 0; root != NULL && mismatch == NULL &&
	     i < sizeof(kept_fields) / sizeof(kept_fields[0]); i++) {
		f = &kept_fields[i];
		value = NULL;
		if (!json_object_object_get_ex(root, f->key, &value) &&
		    f->lambda_key != NULL)
			json_object_object_get_ex(root, f->lambda_key, &value);
		field = (const struct sns_field *)((const char *)msg +
						   f->offset);
		mismatch = compare_field(f, field, msg, value);
		if (mismatch != NULL)
			diag("%s: key %s %s", name, f->key, mismatch);
	}
	ok(root != NULL && mismatch == NULL, "json-c %s: values agree", name);
	json_object_put(root);
	json_tokener_free(tok);
}

/* Parses body, which must be accepted, and compares it with json-c. */
static void
expect_accept(const char *name, const char *body, size_t len,
	      struct sns_message *msg)
{
	struct err e;
	int rc;

	err_clear(&e);
	rc = sns_message_parse(body, len, msg, &e);
	is_int(rc, RESULT_OK, "accept %s: parses", name);
	if (rc != RESULT_OK) {
		diag("%s", e.msg);
		return;
	}
	check_json_c(name, body, len, msg);
}

static void
expect_reject(const char *name, const char *body, size_t len,
	      const char *reason)
{
	struct sns_message msg;
	struct err e;
	int rc;

	err_clear(&e);
	rc = sns_message_parse(body, len, &msg, &e);
	is_int(rc, RESULT_REJECT, "reject %s: rejected", name);
	is_str(e.code, "malformed_body", "reject %s: code", name);
	ok(strstr(e.msg, reason) != NULL, "reject %s: reason", name);
	if (strstr(e.msg, reason) == NULL)
		diag("message: %s, expected \"%s\" in it", e.msg, reason);
	ok(msg.message.str == NULL && msg.type_name.str == NULL,
	   "reject %s: nothing kept", name);
	sns_message_free(&msg);
}

/* A Notification with extra, "KEY : VALUE" pairs after Type. */
static char *
notification_with(const char *pairs)
{
	struct buf b;

	buf_init(&b, 1 << 24);
	buf_printf(&b, "{" K_TYPE_N ", %s, " K_ID ", " K_ARN ", " K_MSG ", "
		   K_TS ", " SIGNATURE_PART "}", pairs);
	return buf_steal(&b);
}

/* A Notification whose Message is the JSON value 'message'. */
static char *
notification_message(const char *message)
{
	struct buf b;

	buf_init(&b, 1 << 24);
	buf_printf(&b, "{" K_TYPE_N ", " K_ID ", " K_ARN ", \"Message\" : %s, "
		   K_TS ", " SIGNATURE_PART "}", message);
	return buf_steal(&b);
}

static void
reject_with(const char *name, const char *pairs, const char *reason)
{
	char *body = notification_with(pairs);

	expect_reject(name, body, strlen(body), reason);
	free(body);
}

static void
accept_with(const char *name, const char *pairs)
{
	char *body = notification_with(pairs);
	struct sns_message msg;

	expect_accept(name, body, strlen(body), &msg);
	sns_message_free(&msg);
	free(body);
}

static void
test_numbers(void)
{
	static const char *const lax[] = {
		"01", "-01", "00", "-", "--1", "1.", "-.5", ".5", "1e", "1e+",
		"1.5E", "+1", "0x10", "1_000", "1.0.0",
	};
	static const char *const strict[] = {
		"0", "-0", "0.5", "-1.25e+10", "1E5", "2e-3", "10",
		"123456789012345678901234567890", "1e-999",
	};
	char pairs[128];
	size_t i;

	for (i = 0; i < sizeof(lax) / sizeof(lax[0]); i++) {
		snprintf(pairs, sizeof(pairs), "\"x\" : %s", lax[i]);
		reject_with(lax[i], pairs, "not valid JSON");
	}
	for (i = 0; i < sizeof(strict) / sizeof(strict[0]); i++) {
		snprintf(pairs, sizeof(pairs), "\"x\" : [%s]", strict[i]);
		accept_with(strict[i], pairs);
	}
	reject_with("leading zero named", "\"x\" : 012", "leading zero");
	reject_with("Infinity", "\"x\" : Infinity", "\"Infinity\"");
	reject_with("literal in capitals", "\"x\" : TRUE", "\"TRUE\"");
	reject_with("literal cut short", "\"x\" : nul", "\"nul\"");
	reject_with("literal run on", "\"x\" : truex", "\"truex\"");
	reject_with("double Subject", "\"Subject\" : 1.5e3", "is double");
}

struct escape_case {
	const char *message;	/* the JSON value of Message */
	const char *reason;	/* NULL: accepted */
	const char *decoded;
	size_t decoded_len;
};

#define ESCAPE_OK(message, decoded) \
	{ message, NULL, decoded, sizeof(decoded) - 1 }
#define ESCAPE_BAD(message, reason) { message, reason, NULL, 0 }

static const struct escape_case escape_cases[] = {
	ESCAPE_BAD("\"\\x\"", "escape sequence"),
	ESCAPE_BAD("\"\\U0041\"", "escape sequence"),
	ESCAPE_BAD("\"\\'\"", "escape sequence"),
	ESCAPE_BAD("\"\\u12\"", "four hex digits"),
	ESCAPE_BAD("\"\\u12G4\"", "four hex digits"),
	ESCAPE_BAD("\"\\uD800\"", "surrogate"),
	ESCAPE_BAD("\"\\uDC00\"", "surrogate"),
	ESCAPE_BAD("\"\\uDBFFx\"", "surrogate"),
	ESCAPE_BAD("\"\\uD800\\u0041\"", "surrogate"),
	ESCAPE_BAD("\"\\uD800\\uD800\"", "surrogate"),
	ESCAPE_BAD("\"\\uD800\\n\"", "surrogate"),
	ESCAPE_BAD("\"\\uDE00\\uD83D\"", "surrogate"),
	ESCAPE_BAD("\"\\uD800\\uDC0\"", "four hex digits"),
	ESCAPE_OK("\"\\uD83D\\uDE00\"", "\xf0\x9f\x98\x80"),
	ESCAPE_OK("\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf"),
	ESCAPE_OK("\"a\\/b\"", "a/b"),
	ESCAPE_OK("\"\\u00e9\\u20AC\\u007f\"", "\xc3\xa9\xe2\x82\xac\x7f"),
	ESCAPE_OK("\"\\\"\\\\\\b\\f\\n\\r\\t\"", "\"\\\b\f\n\r\t"),
	ESCAPE_OK("\"\xf0\x9f\x98\x80 \xc3\xa9 \xe2\x82\xac\"",
		  "\xf0\x9f\x98\x80 \xc3\xa9 \xe2\x82\xac"),
	ESCAPE_OK("\"0123456789abcdef\\\"0123456789abcdef\\u0000end\"",
		  "0123456789abcdef\"0123456789abcdef\0end"),
};

static void
test_escapes(void)
{
	const struct escape_case *c;
	struct sns_message msg;
	char *body;
	size_t i;

	for (i = 0; i < sizeof(escape_cases) / sizeof(escape_cases[0]); i++) {
		c = &escape_cases[i];
		body = notification_message(c->message);
		if (c->reason != NULL) {
			expect_reject(c->message, body, strlen(body), c->reason);
			free(body);
			continue;
		}
		expect_accept(c->message, body, strlen(body), &msg);
		ok(msg.message.len == c->decoded_len &&
		   memcmp(msg.message.str, c->decoded, c->decoded_len) == 0,
		   "escape %s: decoded bytes", c->message);
		sns_message_free(&msg);
		free(body);
	}
}

/* A Message of n bytes with an escape every few bytes, to go past the
 * parser's stack buffer and its 16-byte blocks. */
static void
test_long_message(size_t n)
{
	struct buf json, want;
	struct sns_message msg;
	char name[64], *body;
	size_t i;

	buf_init(&json, 1 << 24);
	buf_init(&want, 1 << 24);
	buf_append(&json, "\"", 1);
	for (i = 0; i < n; i++) {
		if (i % 37 == 36) {
			buf_append(&json, "\\\"", 2);
			buf_append(&want, "\"", 1);
		} else if (i % 101 == 100) {
			buf_append(&json, "\\u00e9", 6);
			buf_append(&want, "\xc3\xa9", 2);
		} else {
			buf_append(&json, &"abcdefghij"[i % 10], 1);
			buf_append(&want, &"abcdefghij"[i % 10], 1);
		}
	}
	buf_append(&json, "\"", 1);
	body = notification_message(json.data);
	snprintf(name, sizeof(name), "Message of %zu bytes", n);
	expect_accept(name, body, strlen(body), &msg);
	ok(msg.message.str != NULL && msg.message.len == want.len &&
	   memcmp(msg.message.str, want.data, want.len) == 0,
	   "%s: decoded bytes", name);
	sns_message_free(&msg);
	free(body);
	buf_free(&json);
	buf_free(&want);
}

/* Nests 'levels' arrays, or objects, in an unknown key. */
static char *
nested_value(int levels, bool objects)
{
	struct buf b;
	int i;

	buf_init(&b, 1 << 20);
	buf_append_str(&b, "\"x\" : ");
	for (i = 0; i < levels; i++)
		buf_append_str(&b, objects ? "{\"a\" : " : "[");
	buf_append_str(&b, "1");
	for (i = 0; i < levels; i++)
		buf_append_str(&b, objects ? "}" : "]");
	return buf_steal(&b);
}

static void
test_depth(void)
{
	/* The top-level object counts as one of the LIMIT_JSON_DEPTH - 1
	 * nested arrays and objects allowed. */
	int max_levels = LIMIT_JSON_DEPTH - 2;
	char *pairs;

	pairs = nested_value(max_levels, false);
	accept_with("arrays at the depth limit", pairs);
	free(pairs);
	pairs = nested_value(max_levels, true);
	accept_with("objects at the depth limit", pairs);
	free(pairs);
	pairs = nested_value(max_levels + 1, false);
	reject_with("arrays over the depth limit", pairs, "nest more than");
	free(pairs);
	pairs = nested_value(max_levels + 1, true);
	reject_with("objects over the depth limit", pairs, "nest more than");
	free(pairs);
}

static void
test_message_attributes(void)
{
	struct sns_message msg;
	char *body = notification_with("\"MessageAttributes\" : {"
		"\"team\" : {\"Type\" : \"String\", \"Value\" : \"net\"}, "
		"\"ids\" : {\"Type\" : \"String.Array\", \"Value\" : "
		"\"[1, 2]\"}, \"n\" : {\"Type\" : \"Number\", \"Value\" : "
		"\"3\"}, \"Message\" : {\"Type\" : \"String\"}}, "
		"\"UnsubscribeURL\" : \"https://sns.us-east-1.amazonaws.com/"
		"?Action=Unsubscribe\"");

	expect_accept("MessageAttributes", body, strlen(body), &msg);
	ok(msg.message.str != NULL && strcmp(msg.message.str, "hello") == 0,
	   "MessageAttributes: nested Message key not read");
	ok(msg.unsubscribe_url.str != NULL,
	   "MessageAttributes: UnsubscribeURL kept");
	sns_message_free(&msg);
	free(body);
}

/*
 * n distinct keys, every seventh spelled with an escape, then 'extra'
 * pairs, in a Notification.
 */
static char *
many_keys(size_t n, const char *extra)
{
	struct buf b;
	size_t i;

	buf_init(&b, 1 << 24);
	for (i = 0; i < n; i++)
		buf_printf(&b, "\"%sey-%05zu\" : %zu, ",
			   i % 7 == 0 ? "\\u006b" : "k", i, i);
	buf_append_str(&b, extra);
	return buf_steal(&b);
}

/*
 * Parses every prefix of body, and the whole body, placed so that its
 * last byte is the last byte before a PROT_NONE page.  A read past the
 * end of the body faults, so this checks that the lexer and its 16-byte
 * blocks read nothing after len.  Returns how many prefixes parsed
 * with RESULT_OK.
 */
static size_t
parse_at_page_end(char *page_end, const char *body, size_t len)
{
	struct sns_message msg;
	struct err e;
	size_t n, accepted = 0;

	for (n = 0; n <= len; n++) {
		memcpy(page_end - n, body, n);
		err_clear(&e);
		if (sns_message_parse(page_end - n, n, &msg, &e) == RESULT_OK)
			accepted++;
		sns_message_free(&msg);
	}
	return accepted;
}

/* A Notification whose last member is a string key and value of long
 * plain runs with an escape near the end, so the lexer's blocks run up
 * to the end of the body. */
static char *
body_ending_in_long_string(const char *tail_value)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	buf_printf(&b, "{" K_TYPE_N ", " K_ID ", " K_ARN ", " K_TS ", "
		   SIGNATURE_PART ", \"Message\" : \"%s\"}", tail_value);
	return buf_steal(&b);
}

/* A Notification after 40 other keys, every seventh escaped, and a last
 * escaped key with a long plain run. */
static char *
body_ending_in_escaped_key(void)
{
	char *pairs = many_keys(40, "");
	struct buf b;

	buf_init(&b, 1 << 20);
	buf_printf(&b, "{%s" K_TYPE_N ", " K_ID ", " K_ARN ", " K_MSG ", "
		   K_TS ", " SIGNATURE_PART ", \"\\u0058-last-key-with-a-long"
		   "-plain-run\" : \"abcdefghijklmnopqrstuvwxyz\"}", pairs);
	free(pairs);
	return buf_steal(&b);
}

static void
test_guard_page(void)
{
	static const char *const tails[] = {
		"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ",
		"abcdefghijklmnopqrstuvwxyz0123456789\\u00e9xyzw",
		"abcdefghijklmnopqrstuvwxyz0123456789\\ud83d\\ude00q",
		"abcdefghijklmnop\xc3\xa9qrstuvwxyz0123456789\\n",
		"abcdefghijklmnopqrstuvwxyz0123456789ABCDEF\\\\",
	};
	long page_size = sysconf(_SC_PAGESIZE);
	size_t i, size, accepted;
	char *map, *page_end, *body;

	size = (size_t)page_size;
	map = mmap(NULL, 2 * size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED) {
		ok(0, "guard page: mmap of two pages");
		return;
	}
	ok(mprotect(map + size, size, PROT_NONE) == 0,
	   "guard page: second page made PROT_NONE");
	page_end = map + size;
	for (i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		body = body_ending_in_long_string(tails[i]);
		ok(strlen(body) < size, "guard page %zu: body fits a page", i);
		accepted = parse_at_page_end(page_end, body, strlen(body));
		/* Only the whole body is a complete SNS message. */
		is_int(accepted, 1, "guard page %zu: only the whole body "
		       "parses", i);
		free(body);
	}
	/* Escaped keys, the last one near the end, make the copy of the
	 * decoded keys run up to the end of the body. */
	body = body_ending_in_escaped_key();
	ok(strlen(body) < size, "guard page keys: body fits a page");
	is_int(parse_at_page_end(page_end, body, strlen(body)), 1,
	       "guard page keys: only the whole body parses");
	free(body);
	munmap(map, 2 * size);
}

/*
 * Bodies longer than the parser's stack buffer, whose last kept value or
 * escaped key ends within a few bytes of the end, for every distance up
 * to 40 bytes.  The decoded copies are exactly as large as the rest of
 * the body, so the ASan build finds a block copied past them.
 */
static void
test_heap_copy_at_end(void)
{
	struct sns_message msg;
	struct buf value;
	struct err e;
	char *body;
	size_t pad, bad = 0, wrong = 0;

	for (pad = 0; pad < 40; pad++) {
		buf_init(&value, 1 << 20);
		while (value.len < 5000 + pad)
			buf_append_str(&value, "0123456789abcdef");
		value.len = 5000 + pad;
		value.data[value.len] = '\0';
		body = body_ending_in_long_string(value.data);
		err_clear(&e);
		if (sns_message_parse(body, strlen(body), &msg, &e) !=
		    RESULT_OK)
			bad++;
		else if (msg.message.len != value.len ||
			 memcmp(msg.message.str, value.data, value.len) != 0)
			wrong++;
		sns_message_free(&msg);
		free(body);
		buf_free(&value);
	}
	is_int(bad, 0, "heap copy at end: every body parses");
	is_int(wrong, 0, "heap copy at end: every Message decoded whole");
}

static void
test_many_keys(void)
{
	char *pairs;

	pairs = many_keys(5000, "\"end\" : 0");
	accept_with("5000 keys", pairs);
	free(pairs);

	pairs = many_keys(5000, "\"key-02500\" : 0");
	reject_with("5000 keys, one repeated", pairs,
		    "duplicate key \"key-02500\"");
	free(pairs);

	pairs = many_keys(5000, "\"k\\u0065y-00007\" : 0");
	reject_with("5000 keys, escaped repeat", pairs,
		    "duplicate key \"key-00007\"");
	free(pairs);

	pairs = many_keys(5000, "\"key-04000\" : 0, \"key-00001\" : 0");
	reject_with("5000 keys, first repeat named", pairs,
		    "duplicate key \"key-04000\"");
	free(pairs);

	reject_with("few keys, first repeat named",
		    "\"a\" : 1, \"b\" : 2, \"b\" : 3, \"a\" : 4",
		    "duplicate key \"b\"");
}

/* NOTIFICATION_BODY with every space replaced by 'space'. */
static char *
respaced(const char *space)
{
	const char *p;
	struct buf b;

	buf_init(&b, 1 << 20);
	for (p = NOTIFICATION_BODY; *p != '\0'; p++) {
		if (*p == ' ')
			buf_append_str(&b, space);
		else
			buf_append(&b, p, 1);
	}
	return buf_steal(&b);
}

static void
test_whitespace(void)
{
	static const struct {
		const char *name;
		const char *space;
		const char *reason;	/* NULL: accepted */
	} cases[] = {
		{ "CRLF", "\r\n", NULL },
		{ "tabs", "\t\t", NULL },
		{ "mixed", " \r\n\t ", NULL },
		{ "none", "", NULL },
		{ "form feed", "\f", "found byte 0x0c" },
		{ "vertical tab", "\v", "found byte 0x0b" },
		{ "no-break space", "\xc2\xa0", "found byte 0xc2" },
	};
	struct sns_message msg;
	char *body;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		body = respaced(cases[i].space);
		if (cases[i].reason != NULL) {
			expect_reject(cases[i].name, body, strlen(body),
				      cases[i].reason);
		} else {
			expect_accept(cases[i].name, body, strlen(body), &msg);
			sns_message_free(&msg);
		}
		free(body);
	}
}

#define SYNTAX(name, body, reason) { name, body, sizeof(body) - 1, reason }

static const struct reject_case syntax_cases[] = {
	SYNTAX("data after object", NOTIFICATION_BODY " x",
	       "after the JSON object, at byte"),
	SYNTAX("brace after object", NOTIFICATION_BODY "}",
	       "after the JSON object"),
	SYNTAX("object after object", NOTIFICATION_BODY "\n{}",
	       "after the JSON object"),
	SYNTAX("NUL after object", NOTIFICATION_BODY "\n\0", "NUL byte"),
	SYNTAX("bad UTF-8 after object", NOTIFICATION_BODY "\xff", "UTF-8"),
	SYNTAX("NUL in string", "{\"Type\" : \"Noti\0fication\"}",
	       "NUL byte"),
	SYNTAX("bad UTF-8 in key", "{\"T\xe9pe\" : 1}", "UTF-8"),
	SYNTAX("control in key", "{\"Ty\npe\" : 1}", "control character"),
	SYNTAX("cut in string", "{\"Type\" : \"Notif", "not complete"),
	SYNTAX("cut in escape", "{\"Type\" : \"\\u00", "not complete"),
	SYNTAX("cut in surrogate pair", "{\"Type\" : \"\\uD83D\\u",
	       "not complete"),
	SYNTAX("cut in literal", "{\"x\" : tru", "not complete"),
	SYNTAX("cut in number", "{\"x\" : -", "not complete"),
	SYNTAX("cut in array", "{\"x\" : [1, 2", "not complete"),
	SYNTAX("cut after key", "{\"x\"", "not complete"),
	SYNTAX("whitespace only", " \r\n", "not complete"),
	SYNTAX("key not a string", "{1 : 2}", "key in double quotes"),
	SYNTAX("no colon", "{\"x\" 1}", "':' after the key"),
	SYNTAX("no comma", "{\"x\" : 1 \"y\" : 2}", "',' or '}'"),
	SYNTAX("array trailing comma", "{\"x\" : [1, ]}", "a JSON value"),
	SYNTAX("array leading comma", "{\"x\" : [, 1]}", "a JSON value"),
	SYNTAX("nested trailing comma", "{\"x\" : {\"a\" : 1, }}",
	       "key in double quotes"),
	SYNTAX("single quoted value", "{\"x\" : 'a'}", "found '''"),
	SYNTAX("line comment", "{\"x\" : 1 // c\n}", "found '/'"),
	SYNTAX("top-level true", "true", "JSON boolean"),
	SYNTAX("top-level double", " 1.5 ", "JSON double"),
	SYNTAX("top-level empty array", "[]", "JSON array"),
	SYNTAX("syntax before repeat", "{\"x\" : 1, \"x\" : 2, \"y\" : [}",
	       "not valid JSON"),
	SYNTAX("repeat before missing key", "{" K_TYPE_N ", \"x\" : 1, "
	       "\"x\" : 2}", "duplicate key \"x\""),
	SYNTAX("NUL key before repeat", "{\"x\" : 1, \"x\" : 2, "
	       "\"a\\u0000\" : 3}", "NUL character"),
	SYNTAX("empty object", "{}", "missing key \"Type\""),
};

static void
test_syntax(void)
{
	const struct reject_case *c;
	size_t i;

	for (i = 0; i < sizeof(syntax_cases) / sizeof(syntax_cases[0]); i++) {
		c = &syntax_cases[i];
		expect_reject(c->name, c->body, c->len, c->reason);
	}
}

/* Every accepted body of the other tests, compared with json-c. */
static void
test_json_c_agrees(const char *root)
{
	const char *body = "{" K_TYPE_N ", " K_ID ", " K_ARN ", "
		"\"Message\" : \"a\\u0000b\", \"Subject\" : \"s\\u0000t\", "
		K_TS ", " SIGNATURE_PART "}";
	struct sns_message msg;
	char dir[1024], path[1200], *text, *names[64];
	size_t i, n, len = 0;

	for (i = 0; i < sizeof(accept_cases) / sizeof(accept_cases[0]); i++) {
		expect_accept(accept_cases[i].name, accept_cases[i].body,
			      strlen(accept_cases[i].body), &msg);
		sns_message_free(&msg);
	}
	expect_accept("embedded NUL", body, strlen(body), &msg);
	sns_message_free(&msg);

	snprintf(dir, sizeof(dir), "%s/sns/messages", root);
	n = list_json(dir, names, 64);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		text = read_file(path, &len);
		if (text != NULL) {
			expect_accept(names[i], text, len, &msg);
			sns_message_free(&msg);
		}
		ok(text != NULL, "fixture %s read", names[i]);
		free(text);
		free(names[i]);
	}
}

static void
test_type_names(void)
{
	enum sns_type type = SNS_TYPE_NOTIFICATION;

	is_str(sns_type_to_string(SNS_TYPE_UNSUBSCRIBE_CONFIRMATION),
	       "UnsubscribeConfirmation", "type name: unsubscribe");
	is_int(sns_type_from_string("SubscriptionConfirmation", &type), 0,
	       "type parse: subscription");
	is_int(type, SNS_TYPE_SUBSCRIPTION_CONFIRMATION,
	       "type parse: subscription value");
	is_int(sns_type_from_string("notification", &type), -1,
	       "type parse: case matters");
}

int
main(void)
{
	const char *root = tap_fixtures_dir();
	char probe[1024];
	DIR *d;

	snprintf(probe, sizeof(probe), "%s/sns/messages", root);
	d = opendir(probe);
	if (d == NULL)
		skip_all("fixtures not found in %s", probe);
	closedir(d);

	test_fixtures(root);
	test_lambda_style(root);
	test_embedded_nul();
	test_string_to_sign_max();
	test_accepts();
	test_rejects();
	test_numbers();
	test_escapes();
	test_long_message(20);
	test_long_message(5000);
	test_long_message(70000);
	test_depth();
	test_message_attributes();
	test_many_keys();
	test_guard_page();
	test_heap_copy_at_end();
	test_whitespace();
	test_syntax();
	test_json_c_agrees(root);
	test_type_names();
	return tap_done();
}

/*
 * sns_message: the string to sign of every genuine fixture message, and
 * the bodies the parser must reject.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snsrelay/buf.h"
#include "snsrelay/err.h"
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
	test_type_names();
	return tap_done();
}

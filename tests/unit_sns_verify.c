/*
 * sns_verify: every genuine fixture message verifies with its real
 * certificate, every derived negative case is rejected by the right
 * check, plus timestamps, base64 strictness and sign/verify round trips.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "snsrelay/buf.h"
#include "snsrelay/cert_cache.h"
#include "snsrelay/err.h"
#include "snsrelay/sns_message.h"
#include "snsrelay/sns_sign.h"
#include "snsrelay/sns_url.h"
#include "snsrelay/sns_verify.h"
#include "snsrelay/topics.h"
#include "tap.h"

#define FIXTURE_MESSAGES 22
#define MAX_AGE 3600
#define MAX_SKEW 300

static const char *fixtures;

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
load_message(const char *rel, struct sns_message *msg)
{
	char path[1024];
	struct err e;
	char *body;
	size_t len = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/sns/%s", fixtures, rel);
	body = read_file(path, &len);
	if (body == NULL) {
		memset(msg, 0, sizeof(*msg));
		return -1;
	}
	rc = sns_message_parse(body, len, msg, &e);
	free(body);
	return rc;
}

/* Loads the fixture certificate named by the message's URL basename,
 * checked with now = the message's Timestamp. */
static EVP_PKEY *
load_key(const struct sns_message *msg, struct err *e)
{
	char name[256], path[1024], region[64] = "";
	EVP_PKEY *key = NULL;
	time_t now = 0;
	char *pem;
	size_t len = 0;

	if (msg->signing_cert_url.str == NULL ||
	    sns_url_basename(msg->signing_cert_url.str, name,
			     sizeof(name)) != 0)
		return NULL;
	snprintf(path, sizeof(path), "%s/sns/certs/%s", fixtures, name);
	pem = read_file(path, &len);
	if (pem == NULL)
		return NULL;
	topic_arn_region(msg->topic_arn.str, region, sizeof(region));
	sns_timestamp_parse(msg->timestamp.str, &now);
	cert_check_pem(pem, len, region, now, &key, NULL, e);
	free(pem);
	return key;
}

static void
check_genuine(const char *file)
{
	char rel[512];
	struct sns_message msg;
	EVP_PKEY *key = NULL;
	struct err e;
	time_t now = 0;

	snprintf(rel, sizeof(rel), "messages/%s", file);
	is_int(load_message(rel, &msg), RESULT_OK, "genuine %s: parses",
	       file);
	is_int(sns_verify_signature_version(&msg, &e), RESULT_OK,
	       "genuine %s: version", file);
	is_int(sns_url_check_cert(msg.signing_cert_url.str, msg.topic_arn.str,
				  NULL, &e), RESULT_OK,
	       "genuine %s: certificate URL", file);

	err_clear(&e);
	key = load_key(&msg, &e);
	ok(key != NULL, "genuine %s: certificate accepted", file);
	if (key == NULL)
		diag("%s: %s", e.code, e.msg);
	is_int(sns_verify_signature(&msg, key, &e), RESULT_OK,
	       "genuine %s: signature", file);

	ok(sns_timestamp_parse(msg.timestamp.str, &now) == 0,
	   "genuine %s: timestamp parses", file);
	is_int(sns_verify_timestamp(&msg, now + 60, MAX_AGE, MAX_SKEW, &e),
	       RESULT_OK, "genuine %s: fresh", file);
	if (msg.type != SNS_TYPE_NOTIFICATION)
		is_int(sns_url_check_subscribe(msg.subscribe_url.str,
					       msg.topic_arn.str, NULL, &e),
		       RESULT_OK, "genuine %s: SubscribeURL", file);

	EVP_PKEY_free(key);
	sns_message_free(&msg);
}

static int
compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
test_genuine(void)
{
	char dir[1024];
	char *names[64];
	struct dirent *ent;
	size_t n = 0, i, len;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/sns/messages", fixtures);
	d = opendir(dir);
	while (d != NULL && (ent = readdir(d)) != NULL && n < 64) {
		len = strlen(ent->d_name);
		if (len > 5 && strcmp(ent->d_name + len - 5, ".json") == 0)
			names[n++] = strdup(ent->d_name);
	}
	if (d != NULL)
		closedir(d);
	qsort(names, n, sizeof(names[0]), compare_names);

	is_int(n, FIXTURE_MESSAGES, "genuine: all messages found");
	for (i = 0; i < n; i++) {
		check_genuine(names[i]);
		free(names[i]);
	}
}

/* The checks in the order the handler runs them. */
enum layer {
	LAYER_VERSION,
	LAYER_CERT_URL,
	LAYER_SIGNATURE,
	LAYER_SUBSCRIBE_URL,
	LAYER_NONE,
};

static enum layer
run_checks(const struct sns_message *msg, struct err *e)
{
	EVP_PKEY *key = NULL;
	enum layer failed = LAYER_NONE;

	if (sns_verify_signature_version(msg, e) != RESULT_OK)
		return LAYER_VERSION;
	if (sns_url_check_cert(msg->signing_cert_url.str, msg->topic_arn.str,
			       NULL, e) != RESULT_OK)
		return LAYER_CERT_URL;
	key = load_key(msg, e);
	if (sns_verify_signature(msg, key, e) != RESULT_OK)
		failed = LAYER_SIGNATURE;
	else if (msg->type != SNS_TYPE_NOTIFICATION &&
		 sns_url_check_subscribe(msg->subscribe_url.str,
					 msg->topic_arn.str, NULL, e) !=
		 RESULT_OK)
		failed = LAYER_SUBSCRIBE_URL;
	EVP_PKEY_free(key);
	return failed;
}

struct negative_case {
	const char *file;
	enum layer layer;
	const char *code;
	/* The signature itself is genuine: only the URL rule stops it. */
	bool signature_genuine;
};

static const struct negative_case negative_cases[] = {
	{ "tampered-message.json", LAYER_SIGNATURE, "bad_signature", false },
	{ "signatureversion-swapped-1-to-2.json", LAYER_SIGNATURE,
	  "bad_signature", false },
	{ "signatureversion-3.json", LAYER_VERSION,
	  "unsupported_signature_version", false },
	{ "subject-removed.json", LAYER_SIGNATURE, "bad_signature", false },
	{ "timestamp-reformatted.json", LAYER_SIGNATURE, "bad_signature",
	  false },
	{ "subscribeurl-ssrf.json", LAYER_SIGNATURE, "bad_signature", false },
	{ "certurl-http-scheme.json", LAYER_CERT_URL, "cert_url_invalid",
	  true },
	{ "certurl-host-suffix.json", LAYER_CERT_URL, "cert_url_invalid",
	  true },
	{ "certurl-s3-bucket-named-sns-legacy-endpoint.json", LAYER_CERT_URL,
	  "cert_url_invalid", true },
};

static void
check_negative(const struct negative_case *c)
{
	char rel[512];
	struct sns_message msg;
	EVP_PKEY *key = NULL;
	struct err e;
	int rc;

	snprintf(rel, sizeof(rel), "negative/%s", c->file);
	is_int(load_message(rel, &msg), RESULT_OK, "negative %s: parses",
	       c->file);
	err_clear(&e);
	is_int(run_checks(&msg, &e), c->layer, "negative %s: layer",
	       c->file);
	is_str(e.code, c->code, "negative %s: code", c->file);

	if (c->signature_genuine) {
		key = load_key(&msg, &e);
		rc = sns_verify_signature(&msg, key, &e);
		is_int(rc, RESULT_OK, "negative %s: signature genuine",
		       c->file);
		EVP_PKEY_free(key);
	}
	sns_message_free(&msg);
}

static void
test_negative(void)
{
	struct sns_message msg;
	struct err e;
	size_t i;

	for (i = 0; i < sizeof(negative_cases) / sizeof(negative_cases[0]);
	     i++)
		check_negative(&negative_cases[i]);

	/* Version 3 is rejected before any cryptography. */
	load_message("negative/signatureversion-3.json", &msg);
	is_int(sns_verify_signature(&msg, NULL, &e), RESULT_REJECT,
	       "negative version 3: signature check rejects");
	is_str(e.code, "unsupported_signature_version",
	       "negative version 3: signature check code");
	sns_message_free(&msg);

	/* The SSRF SubscribeURL would also fail the URL rule. */
	load_message("negative/subscribeurl-ssrf.json", &msg);
	is_int(sns_url_check_subscribe(msg.subscribe_url.str,
				       msg.topic_arn.str, NULL, &e),
	       RESULT_REJECT, "negative ssrf: SubscribeURL rejected");
	is_str(e.code, "subscribe_url_invalid", "negative ssrf: URL code");
	sns_message_free(&msg);
}

struct timestamp_case {
	const char *text;
	long long want;		/* -1: invalid */
};

static const struct timestamp_case timestamp_cases[] = {
	{ "2026-03-06T19:55:38.903Z", 1772826938 },
	{ "2026-03-06T19:55:38Z", 1772826938 },
	{ "2026-03-06T19:55:38.9Z", 1772826938 },
	{ "2026-03-06T19:55:38.123456789Z", 1772826938 },
	{ "1970-01-01T00:00:00.000Z", 0 },
	{ "2024-02-29T12:00:00.000Z", 1709208000 },
	{ "2023-02-29T12:00:00.000Z", -1 },
	{ "2026-13-06T19:55:38.903Z", -1 },
	{ "2026-00-06T19:55:38.903Z", -1 },
	{ "2026-04-31T19:55:38.903Z", -1 },
	{ "2026-03-06T24:00:00.000Z", -1 },
	{ "2026-03-06T19:60:38.903Z", -1 },
	{ "2026-03-06T19:55:60.903Z", -1 },
	{ "2026-03-06T19:55:38.903", -1 },
	{ "2026-03-06T19:55:38.903+00:00", -1 },
	{ "2026-03-06T19:55:38.Z", -1 },
	{ "2026-03-06T19:55:38.1234567890Z", -1 },
	{ "2026-03-06 19:55:38.903Z", -1 },
	{ "2026-3-06T19:55:38.903Z", -1 },
	{ "2026-03-06t19:55:38.903z", -1 },
	{ "2026-03-06T19:55:38.903Z ", -1 },
	{ " 2026-03-06T19:55:38.903Z", -1 },
	{ "+026-03-06T19:55:38.903Z", -1 },
	{ "1969-12-31T23:59:59.000Z", -1 },
	{ "", -1 },
	{ "2026", -1 },
};

static void
test_timestamp_parse(void)
{
	const struct timestamp_case *c;
	time_t t;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(timestamp_cases) / sizeof(timestamp_cases[0]);
	     i++) {
		c = &timestamp_cases[i];
		t = 0;
		rc = sns_timestamp_parse(c->text, &t);
		is_int(rc, c->want < 0 ? -1 : 0, "timestamp \"%s\": result",
		       c->text);
		if (c->want >= 0)
			is_int(t, c->want, "timestamp \"%s\": value",
			       c->text);
	}
}

static void
set_field(struct sns_field *field, const char *value, size_t len)
{
	free(field->str);
	field->str = malloc(len + 1);
	memcpy(field->str, value, len);
	field->str[len] = '\0';
	field->len = len;
}

static void
set_str(struct sns_field *field, const char *value)
{
	set_field(field, value, strlen(value));
}

static void
test_timestamp_window(void)
{
	struct sns_message msg;
	const time_t t = 1772826938;
	struct err e;

	memset(&msg, 0, sizeof(msg));
	set_str(&msg.timestamp, "2026-03-06T19:55:38.903Z");

	is_int(sns_verify_timestamp(&msg, t, MAX_AGE, MAX_SKEW, &e),
	       RESULT_OK, "window: now");
	is_int(sns_verify_timestamp(&msg, t + MAX_AGE, MAX_AGE, MAX_SKEW, &e),
	       RESULT_OK, "window: oldest accepted");
	is_int(sns_verify_timestamp(&msg, t + MAX_AGE + 1, MAX_AGE, MAX_SKEW,
				    &e), RESULT_REJECT, "window: too old");
	is_str(e.code, "timestamp_rejected", "window: too old code");
	ok(strstr(e.msg, "3601 s old") != NULL &&
	   strstr(e.msg, "max_message_age (3600 s)") != NULL,
	   "window: too old message");
	is_int(sns_verify_timestamp(&msg, t - MAX_SKEW, MAX_AGE, MAX_SKEW, &e),
	       RESULT_OK, "window: furthest ahead accepted");
	is_int(sns_verify_timestamp(&msg, t - MAX_SKEW - 1, MAX_AGE, MAX_SKEW,
				    &e), RESULT_REJECT, "window: too new");
	ok(strstr(e.msg, "301 s ahead") != NULL &&
	   strstr(e.msg, "max_clock_skew (300 s)") != NULL,
	   "window: too new message");
	is_int(sns_verify_timestamp(&msg, t + 86400 * 365, MAX_AGE, MAX_SKEW,
				    &e), RESULT_REJECT, "window: a year old");

	set_str(&msg.timestamp, "yesterday");
	is_int(sns_verify_timestamp(&msg, t, MAX_AGE, MAX_SKEW, &e),
	       RESULT_REJECT, "window: unparsable");
	is_str(e.code, "timestamp_rejected", "window: unparsable code");
	set_field(&msg.timestamp, "2026-03-06T19:55:38Z\0x", 22);
	is_int(sns_verify_timestamp(&msg, t, MAX_AGE, MAX_SKEW, &e),
	       RESULT_REJECT, "window: embedded NUL");
	sns_message_free(&msg);
}

enum b64_edit {
	B64_AS_IS,
	B64_NEWLINE_END,
	B64_SPACE_MIDDLE,
	B64_NEWLINE_MIDDLE,
	B64_BAD_CHAR,
	B64_URL_SAFE,
	B64_NO_PADDING,
	B64_EXTRA_PADDING,
	B64_PAD_IN_MIDDLE,
	B64_NONZERO_PAD_BITS,
	B64_TOO_LONG,
	B64_EMPTY,
	B64_TRUNCATED_BLOCK,
};

struct b64_case {
	const char *name;
	enum b64_edit edit;
	const char *reason;	/* a part of the error message */
};

static const struct b64_case b64_cases[] = {
	{ "as is", B64_AS_IS, "" },
	{ "newline at end", B64_NEWLINE_END, "multiple of 4" },
	{ "space inside", B64_SPACE_MIDDLE, "outside the alphabet" },
	{ "line break inside", B64_NEWLINE_MIDDLE, "outside the alphabet" },
	{ "bad character", B64_BAD_CHAR, "outside the alphabet" },
	{ "url-safe alphabet", B64_URL_SAFE, "outside the alphabet" },
	{ "padding removed", B64_NO_PADDING, "multiple of 4" },
	{ "extra padding", B64_EXTRA_PADDING, "outside the alphabet" },
	{ "padding inside", B64_PAD_IN_MIDDLE, "outside the alphabet" },
	{ "non-zero padding bits", B64_NONZERO_PAD_BITS, "padding bits" },
	{ "too long", B64_TOO_LONG, "more than 1024" },
	{ "empty", B64_EMPTY, "empty" },
	{ "a block short", B64_TRUNCATED_BLOCK, "does not verify" },
};

/* Returns an edited copy of the genuine signature sig (ends in "=="). */
static char *
apply_b64_edit(const char *sig, enum b64_edit edit)
{
	size_t len = strlen(sig);
	struct buf b;

	buf_init(&b, 1 << 16);
	buf_append_str(&b, sig);
	if (edit == B64_NEWLINE_END)
		buf_append_str(&b, "\n");
	else if (edit == B64_SPACE_MIDDLE)
		b.data[100] = ' ';
	else if (edit == B64_NEWLINE_MIDDLE)
		b.data[64] = '\n';
	else if (edit == B64_BAD_CHAR)
		b.data[10] = '*';
	else if (edit == B64_URL_SAFE)
		b.data[10] = '_';
	else if (edit == B64_NO_PADDING)
		b.len = len - 2;
	else if (edit == B64_EXTRA_PADDING)
		buf_append_str(&b, "====");
	else if (edit == B64_PAD_IN_MIDDLE)
		b.data[20] = '=';
	else if (edit == B64_NONZERO_PAD_BITS)
		b.data[len - 3] = b.data[len - 3] == 'B' ? 'C' : 'B';
	else if (edit == B64_EMPTY)
		b.len = 0;
	else if (edit == B64_TRUNCATED_BLOCK)
		b.len = len - 4;
	if (edit == B64_TOO_LONG) {
		buf_reset(&b);
		while (b.len <= 1024)
			buf_append_str(&b, "AAAA");
	}
	b.data[b.len] = '\0';
	return buf_steal(&b);
}

static void
test_base64(void)
{
	struct sns_message msg;
	EVP_PKEY *key = NULL;
	struct err e;
	char *genuine, *edited;
	size_t i;
	int rc;

	load_message("messages/javav2-test-notification-with-subject.json",
		     &msg);
	key = load_key(&msg, &e);
	genuine = strdup(msg.signature.str ? msg.signature.str : "");
	ok(strlen(genuine) == 344 && genuine[342] == '=',
	   "base64: genuine signature has two padding characters");

	for (i = 0; i < sizeof(b64_cases) / sizeof(b64_cases[0]); i++) {
		edited = apply_b64_edit(genuine, b64_cases[i].edit);
		set_str(&msg.signature, edited);
		err_clear(&e);
		rc = sns_verify_signature(&msg, key, &e);
		if (b64_cases[i].edit == B64_AS_IS) {
			is_int(rc, RESULT_OK, "base64 %s: verifies",
			       b64_cases[i].name);
			free(edited);
			continue;
		}
		is_int(rc, RESULT_REJECT, "base64 %s: rejected",
		       b64_cases[i].name);
		is_str(e.code, "bad_signature", "base64 %s: code",
		       b64_cases[i].name);
		ok(strstr(e.msg, b64_cases[i].reason) != NULL,
		   "base64 %s: reason", b64_cases[i].name);
		if (strstr(e.msg, b64_cases[i].reason) == NULL)
			diag("message: %s", e.msg);
		free(edited);
	}
	free(genuine);
	EVP_PKEY_free(key);
	sns_message_free(&msg);
}

static void
build_notification(struct sns_message *msg)
{
	static const char text[] = "line 1\nline \"2\"\t\\ / é ✓ \0 end";

	memset(msg, 0, sizeof(*msg));
	msg->type = SNS_TYPE_NOTIFICATION;
	set_str(&msg->type_name, "Notification");
	set_str(&msg->message_id, "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324");
	set_str(&msg->topic_arn, "arn:aws:sns:us-east-1:123456789012:alerts");
	set_str(&msg->subject, "Subject / with \"quotes\"");
	set_field(&msg->message, text, sizeof(text) - 1);
	set_str(&msg->timestamp, "2026-03-06T19:55:38.903Z");
	set_str(&msg->signing_cert_url, "https://sns.us-east-1.amazonaws.com/"
		"SimpleNotificationService-0123456789abcdef0123456789abcdef.pem");
	set_str(&msg->unsubscribe_url, "https://sns.us-east-1.amazonaws.com/"
		"?Action=Unsubscribe&SubscriptionArn=x");
}

static void
build_confirmation(struct sns_message *msg)
{
	memset(msg, 0, sizeof(*msg));
	msg->type = SNS_TYPE_SUBSCRIPTION_CONFIRMATION;
	set_str(&msg->type_name, "SubscriptionConfirmation");
	set_str(&msg->message_id, "id-2");
	set_str(&msg->token, "abc123");
	set_str(&msg->topic_arn, "arn:aws:sns:us-east-1:123456789012:alerts");
	set_str(&msg->message, "You have chosen to subscribe.");
	set_str(&msg->subscribe_url, "https://sns.us-east-1.amazonaws.com/"
		"?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:"
		"123456789012:alerts&Token=abc123");
	set_str(&msg->timestamp, "2026-03-06T19:55:38.903Z");
	set_str(&msg->signing_cert_url, "https://sns.us-east-1.amazonaws.com/"
		"SimpleNotificationService-0123456789abcdef0123456789abcdef.pem");
}

static bool
fields_equal(const struct sns_field *a, const struct sns_field *b)
{
	if (a->str == NULL || b->str == NULL)
		return a->str == b->str;
	return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
}

static void
check_round_trip(struct sns_message *msg, EVP_PKEY *key, const char *version,
		 const char *label)
{
	struct sns_message back;
	struct err e;
	char *json;
	int rc;

	is_int(sns_sign_message(msg, key, version, &e), 0,
	       "round trip %s v%s: signs", label, version);
	is_int(sns_verify_signature(msg, key, &e), RESULT_OK,
	       "round trip %s v%s: verifies", label, version);

	json = sns_message_to_json(msg);
	ok(json != NULL && strncmp(json, "{\n  \"Type\" : \"", 14) == 0,
	   "round trip %s v%s: SNS layout", label, version);
	rc = sns_message_parse(json ? json : "", json ? strlen(json) : 0,
			       &back, &e);
	is_int(rc, RESULT_OK, "round trip %s v%s: JSON parses", label,
	       version);
	if (rc != RESULT_OK)
		diag("%s", e.msg);
	ok(fields_equal(&back.message, &msg->message) &&
	   fields_equal(&back.subject, &msg->subject) &&
	   fields_equal(&back.signature, &msg->signature),
	   "round trip %s v%s: fields kept", label, version);
	is_int(sns_verify_signature(&back, key, &e), RESULT_OK,
	   "round trip %s v%s: parsed copy verifies", label, version);

	/* Another SignatureVersion label must break the signature. */
	set_str(&back.signature_version, strcmp(version, "1") ? "1" : "2");
	is_int(sns_verify_signature(&back, key, &e), RESULT_REJECT,
	       "round trip %s v%s: relabelled rejected", label, version);
	free(json);
	sns_message_free(&back);
}

static void
test_round_trip(void)
{
	EVP_PKEY *key = EVP_RSA_gen(2048);
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	struct sns_message msg;
	struct err e;

	ok(key != NULL, "round trip: RSA key generated");
	build_notification(&msg);
	check_round_trip(&msg, key, "1", "notification");
	check_round_trip(&msg, key, "2", "notification");

	msg.message.str[0] = 'L';
	is_int(sns_verify_signature(&msg, key, &e), RESULT_REJECT,
	       "round trip: altered message rejected");
	is_str(e.code, "bad_signature", "round trip: altered message code");
	is_int(sns_verify_signature(&msg, ec, &e), RESULT_REJECT,
	       "round trip: EC key rejected");
	is_int(sns_sign_message(&msg, key, "3", &e), -1,
	       "round trip: version 3 not signed");
	sns_message_free(&msg);

	build_confirmation(&msg);
	check_round_trip(&msg, key, "1", "confirmation");
	check_round_trip(&msg, key, "2", "confirmation");
	free(msg.token.str);
	msg.token.str = NULL;
	is_int(sns_sign_message(&msg, key, "2", &e), -1,
	       "round trip: confirmation without Token not signed");
	sns_message_free(&msg);

	EVP_PKEY_free(key);
	EVP_PKEY_free(ec);
}

int
main(void)
{
	char probe[1024];
	DIR *d;

	fixtures = tap_fixtures_dir();
	snprintf(probe, sizeof(probe), "%s/sns/messages", fixtures);
	d = opendir(probe);
	if (d == NULL)
		skip_all("fixtures not found in %s", probe);
	closedir(d);

	test_genuine();
	test_negative();
	test_timestamp_parse();
	test_timestamp_window();
	test_base64();
	test_round_trip();
	return tap_done();
}

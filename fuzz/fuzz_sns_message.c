/*
 * Fuzz target for the SNS delivery envelope and its verification.  The
 * input is an HTTP request body.  Every body that sns_message_parse
 * accepts goes through the checks the SNS handler runs (signature
 * version, SigningCertURL and SubscribeURL rules, Timestamp, topic
 * patterns, the certificate cache, the signature) and must keep these
 * properties:
 *
 *   - a parsed Timestamp is fresh at its own time and stale an hour
 *     later;
 *   - the message signed with a key verifies with that key, in the
 *     SignatureVersion it names ("2" when that is neither "1" nor "2");
 *   - sns_message_to_json (the snsrelay-sign output) parses back to the
 *     same string to sign, and its signature still verifies;
 *   - json-c in strict mode parses the body too, and each value that
 *     sns_message_parse keeps equals json-c's decoding of it, byte for
 *     byte.
 *
 * The signing key is fuzz/sns-signing-key.pem; the seed corpus is signed
 * with it, so its messages verify.  Certificates for that key are written
 * to a temporary cert_dir at start-up.  The certificate cache is asked
 * only for URLs naming one of those files, so no input ever leads to a
 * network fetch.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fuzz.h"
#include "snsrelay/buf.h"
#include "snsrelay/cert_cache.h"
#include "snsrelay/err.h"
#include "snsrelay/limits.h"
#include "snsrelay/log.h"
#include "snsrelay/sns_message.h"
#include "snsrelay/sns_sign.h"
#include "snsrelay/sns_url.h"
#include "snsrelay/sns_verify.h"
#include "snsrelay/subscription.h"
#include "snsrelay/topics.h"

#define MAX_AGE_S	3600
#define MAX_SKEW_S	300

/* Seeded certificate files, by the names SigningCertURL ends with. */
struct seed_cert {
	const char *file;
	const char *subject;	/* NULL: a file that is no PEM at all */
};

static const struct seed_cert seed_certs[] = {
	{ "SimpleNotificationService-f0220000000000000000000000000001.pem",
	  "sns.amazonaws.com" },
	{ "SimpleNotificationService-f0220000000000000000000000000002.pem",
	  "sns-signing.ap-southeast-3.amazonaws.com" },
	{ "SimpleNotificationService-f0220000000000000000000000000003.pem",
	  "example.com" },
	{ "SimpleNotificationService-f0220000000000000000000000000004.pem",
	  NULL },
};

#define SEED_CERT_COUNT (sizeof(seed_certs) / sizeof(seed_certs[0]))

static const char *const topic_patterns[] = {
	"arn:aws:sns:us-east-1:123456789012:sg-alerts",
	"arn:aws:sns:*:123456789012:*",
	"arn:aws*:sns:*:*:sg-*",
};

static struct {
	bool ready;
	EVP_PKEY *key;		/* fuzz/sns-signing-key.pem */
	EVP_PKEY *round_trip_key;	/* small and fresh: signing is hot */
	struct cert_cache *certs;
	time_t started;		/* the certificates' "now" */
} fuzz;

static void
setup_fail(const char *what)
{
	fprintf(stderr, "fuzz_sns_message: %s\n", what);
	exit(2);
}

static EVP_PKEY *
load_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *key = NULL;

	if (f != NULL) {
		key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (key == NULL) {
		fprintf(stderr, "fuzz_sns_message: cannot read the RSA key "
			"%s\n", path);
		exit(2);
	}
	return key;
}

/* A self-signed certificate for key, issued to subject (CN and DNS
 * subject alternative name), valid from a day before now for a year. */
static X509 *
make_cert(EVP_PKEY *key, const char *subject, time_t now)
{
	X509 *cert = X509_new();
	X509_EXTENSION *san = NULL;
	X509_NAME *name;
	X509V3_CTX ctx;
	char san_text[128];
	bool ok;

	snprintf(san_text, sizeof(san_text), "DNS:%s", subject);
	ok = cert != NULL && X509_set_version(cert, 2) == 1 &&
	     ASN1_INTEGER_set(X509_get_serialNumber(cert), 1) == 1 &&
	     X509_time_adj_ex(X509_getm_notBefore(cert), -1, 0, &now) &&
	     X509_time_adj_ex(X509_getm_notAfter(cert), 365, 0, &now) &&
	     X509_set_pubkey(cert, key) == 1 &&
	     (name = X509_get_subject_name(cert)) != NULL &&
	     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
			(const unsigned char *)subject, -1, -1, 0) == 1 &&
	     X509_set_issuer_name(cert, name) == 1;
	if (ok) {
		X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
		san = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name,
					  san_text);
		ok = san != NULL && X509_add_ext(cert, san, -1) == 1 &&
		     X509_sign(cert, key, EVP_sha256()) > 0;
	}
	X509_EXTENSION_free(san);
	if (!ok)
		setup_fail("OpenSSL cannot make a test certificate");
	return cert;
}

static void
write_seed_cert(const char *dir, const struct seed_cert *seed)
{
	char path[512];
	X509 *cert;
	FILE *f;
	bool ok;

	snprintf(path, sizeof(path), "%s/%s", dir, seed->file);
	if ((f = fopen(path, "w")) == NULL)
		setup_fail("cannot write a certificate to the temporary "
			   "folder");
	if (seed->subject == NULL) {
		ok = fputs("-----BEGIN CERTIFICATE-----\nnot base64\n"
			   "-----END CERTIFICATE-----\n", f) >= 0;
	} else {
		cert = make_cert(fuzz.key, seed->subject, fuzz.started);
		ok = PEM_write_X509(f, cert) == 1;
		X509_free(cert);
	}
	if (fclose(f) != 0 || !ok)
		setup_fail("cannot write a certificate to the temporary "
			   "folder");
}

static void
setup(void)
{
	struct cert_cache_options opts = {
		.capacity = SEED_CERT_COUNT,
		.fetch_timeout_ms = 1000,
	};
	EVP_PKEY_CTX *ctx;
	size_t i;

	log_setup(LOG_ERROR, LOG_FORMAT_LOGFMT);
	fuzz.started = time(NULL);
	fuzz.key = load_key(FUZZ_KEY_FILE);
	opts.seed_dir = fuzz_temp_dir();
	for (i = 0; i < SEED_CERT_COUNT; i++)
		write_seed_cert(opts.seed_dir, &seed_certs[i]);
	fuzz.certs = cert_cache_new(&opts);

	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 1024) != 1 ||
	    EVP_PKEY_generate(ctx, &fuzz.round_trip_key) != 1 ||
	    fuzz.certs == NULL)
		setup_fail("cannot create the keys and the certificate cache");
	EVP_PKEY_CTX_free(ctx);
	fuzz.ready = true;
}

static bool
is_seeded_url(const char *url)
{
	char name[256];
	size_t i;

	if (sns_url_basename(url, name, sizeof(name)) != 0)
		return false;
	for (i = 0; i < SEED_CERT_COUNT; i++)
		if (strcmp(name, seed_certs[i].file) == 0)
			return true;
	return false;
}

static void
check_timestamp(const struct sns_message *msg)
{
	struct err e;
	time_t t;

	if (sns_timestamp_parse(msg->timestamp.str, &t) != 0) {
		FUZZ_ASSERT(sns_verify_timestamp(msg, fuzz.started, MAX_AGE_S,
						 MAX_SKEW_S, &e) ==
			    RESULT_REJECT, "an unparsable Timestamp passes");
		return;
	}
	FUZZ_ASSERT(sns_verify_timestamp(msg, t, MAX_AGE_S, MAX_SKEW_S, &e) ==
		    RESULT_OK, "a Timestamp is not fresh at its own time");
	FUZZ_ASSERT(sns_verify_timestamp(msg, t + MAX_AGE_S + 1, MAX_AGE_S,
					 MAX_SKEW_S, &e) == RESULT_REJECT,
		    "a Timestamp older than max_message_age passes");
	FUZZ_ASSERT(sns_verify_timestamp(msg, t - MAX_SKEW_S - 1, MAX_AGE_S,
					 MAX_SKEW_S, &e) == RESULT_REJECT,
		    "a Timestamp beyond max_clock_skew passes");
}

static void
check_urls_and_topic(const struct sns_message *msg)
{
	const char *url = msg->signing_cert_url.str;
	const char *arn = msg->topic_arn.str;
	char region[64], account[64];
	EVP_PKEY *key = NULL;
	struct err e;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(topic_patterns) / sizeof(topic_patterns[0]);
	     i++)
		(void)topic_pattern_match(topic_patterns[i], arn);
	(void)topic_pattern_check(arn, &e);
	(void)topic_arn_account(arn, account, sizeof(account));
	if (topic_arn_region(arn, region, sizeof(region)) != 0)
		region[0] = '\0';

	if (msg->type == SNS_TYPE_SUBSCRIPTION_CONFIRMATION) {
		(void)sns_url_check_subscribe(msg->subscribe_url.str, arn, NULL,
					      &e);
		(void)sns_url_check_subscribe(msg->subscribe_url.str, arn,
					      "127.0.0.1:*", &e);
	}
	(void)sns_url_check_cert(url, arn, "127.0.0.1:*", &e);
	rc = sns_url_check_cert(url, arn, NULL, &e);
	if (rc != RESULT_OK || !is_seeded_url(url))
		return;
	rc = cert_cache_get(fuzz.certs, url, region, fuzz.started, &key, &e);
	FUZZ_ASSERT(rc != RESULT_RETRY, "a seeded certificate needs a fetch");
	if (rc == RESULT_OK)
		(void)sns_verify_signature(msg, key, &e);
	EVP_PKEY_free(key);
}

static void
string_to_sign(const struct sns_message *msg, struct buf *out)
{
	buf_init(out, SIZE_MAX / 2);
	FUZZ_ASSERT(sns_message_string_to_sign(msg, out) == 0,
		    "no string to sign");
}

/* Signs msg with the round-trip key, serializes it as snsrelay-sign
 * does, parses that again and verifies it.  Changes msg's signature. */
static void
check_round_trip(struct sns_message *msg)
{
	const char *version = "2";
	struct sns_message again;
	struct buf before, after;
	struct err e;
	char *json;

	if (msg->signature_version.str != NULL &&
	    strcmp(msg->signature_version.str, "1") == 0)
		version = "1";
	FUZZ_ASSERT(sns_sign_message(msg, fuzz.round_trip_key, version,
				     &e) == 0, e.msg);
	FUZZ_ASSERT(sns_verify_signature(msg, fuzz.round_trip_key, &e) ==
		    RESULT_OK, "a message does not verify with its own key");

	json = sns_message_to_json(msg);
	FUZZ_ASSERT(json != NULL, "sns_message_to_json failed");
	FUZZ_ASSERT(sns_message_parse(json, strlen(json), &again, &e) ==
		    RESULT_OK, "sns_message_to_json output does not parse");
	free(json);

	string_to_sign(msg, &before);
	string_to_sign(&again, &after);
	FUZZ_ASSERT(before.len == after.len &&
		    memcmp(before.data, after.data, before.len) == 0,
		    "the string to sign changes through sns_message_to_json");
	FUZZ_ASSERT(sns_verify_signature(&again, fuzz.round_trip_key, &e) ==
		    RESULT_OK, "a serialized message no longer verifies");
	buf_free(&before);
	buf_free(&after);
	sns_message_free(&again);
}

/* The keys of the values that sns_message keeps, by field. */
static const struct {
	const char *key;
	const char *lambda_key;		/* the Lambda-style spelling */
	size_t offset;			/* of the struct sns_field */
} kept_fields[] = {
	{ "Type", NULL, offsetof(struct sns_message, type_name) },
	{ "Message", NULL, offsetof(struct sns_message, message) },
	{ "MessageId", NULL, offsetof(struct sns_message, message_id) },
	{ "Subject", NULL, offsetof(struct sns_message, subject) },
	{ "Timestamp", NULL, offsetof(struct sns_message, timestamp) },
	{ "TopicArn", NULL, offsetof(struct sns_message, topic_arn) },
	{ "Token", NULL, offsetof(struct sns_message, token) },
	{ "SubscribeURL", NULL, offsetof(struct sns_message, subscribe_url) },
	{ "SignatureVersion", NULL,
	  offsetof(struct sns_message, signature_version) },
	{ "Signature", NULL, offsetof(struct sns_message, signature) },
	{ "SigningCertURL", "SigningCertUrl",
	  offsetof(struct sns_message, signing_cert_url) },
	{ "UnsubscribeURL", "UnsubscribeUrl",
	  offsetof(struct sns_message, unsubscribe_url) },
};

/* Compares the kept values with json-c's strict parse of the body. */
static void
check_json_c(const uint8_t *data, size_t size, const struct sns_message *msg)
{
	struct json_tokener *tok = json_tokener_new_ex(LIMIT_JSON_DEPTH);
	const struct sns_field *field;
	struct json_object *root, *value;
	size_t i;

	FUZZ_ASSERT(tok != NULL, "no memory for json-c");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, (const char *)data, (int)size);
	FUZZ_ASSERT(root != NULL && json_object_is_type(root,
						       json_type_object),
		    "json-c rejects a body that sns_message_parse accepts");
	for (i = 0; i < sizeof(kept_fields) / sizeof(kept_fields[0]); i++) {
		field = (const struct sns_field *)((const char *)msg +
						   kept_fields[i].offset);
		if (field->str == NULL)
			continue;
		value = NULL;
		if (!json_object_object_get_ex(root, kept_fields[i].key,
					       &value) &&
		    kept_fields[i].lambda_key != NULL)
			json_object_object_get_ex(root,
						  kept_fields[i].lambda_key,
						  &value);
		FUZZ_ASSERT(json_object_is_type(value, json_type_string) &&
			    (size_t)json_object_get_string_len(value) ==
			    field->len &&
			    memcmp(json_object_get_string(value), field->str,
				   field->len) == 0,
			    "a kept value differs from json-c's decoding");
	}
	json_object_put(root);
	json_tokener_free(tok);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sns_message msg;
	char arn[256];
	struct err e;
	char *text;

	if (!fuzz.ready)
		setup();

	/* The parser of the ConfirmSubscription response reads XML text,
	 * so any input suits it. */
	if ((text = malloc(size + 1)) != NULL) {
		memcpy(text, data, size);
		text[size] = '\0';
		(void)subscription_parse_arn(text, arn, sizeof(arn));
		free(text);
	}

	err_clear(&e);
	if (sns_message_parse((const char *)data, size, &msg, &e) !=
	    RESULT_OK)
		return 0;
	check_json_c(data, size, &msg);
	(void)sns_verify_signature_version(&msg, &e);
	check_timestamp(&msg);
	check_urls_and_topic(&msg);
	(void)sns_verify_signature(&msg, fuzz.key, &e);
	check_round_trip(&msg);
	sns_message_free(&msg);
	return 0;
}

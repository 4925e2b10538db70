#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "snsrelay/limits.h"
#include "snsrelay/sns_verify.h"

/* Bytes that base64 text of LIMIT_SIGNATURE_B64_BYTES decodes to. */
#define SIGNATURE_MAX (LIMIT_SIGNATURE_B64_BYTES / 4 * 3)

/* Room for the key names and separators of the string to sign. */
#define STRING_TO_SIGN_OVERHEAD 256

/*
 * The digests, fetched from the default provider once: OpenSSL 3 looks a
 * digest up again on every use of EVP_sha1() or EVP_sha256(), which
 * cost more than the hashing of a typical message.  They live until the
 * process ends.
 */
static pthread_once_t verify_digests_once = PTHREAD_ONCE_INIT;
static EVP_MD *verify_sha1;
static EVP_MD *verify_sha256;

static void
verify_fetch_digests(void)
{
	verify_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
	verify_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *
verify_digest(const struct sns_message *msg)
{
	const struct sns_field *version = &msg->signature_version;

	if (version->str == NULL || version->len != 1)
		return NULL;
	pthread_once(&verify_digests_once, verify_fetch_digests);
	if (version->str[0] == '1')
		return verify_sha1 != NULL ? verify_sha1 : EVP_sha1();
	if (version->str[0] == '2')
		return verify_sha256 != NULL ? verify_sha256 : EVP_sha256();
	return NULL;
}

int
sns_verify_signature_version(const struct sns_message *msg, struct err *e)
{
	if (verify_digest(msg) != NULL)
		return RESULT_OK;
	err_set(e, "unsupported_signature_version", "SignatureVersion "
		"\"%.16s\" is not supported; SNS signs with \"1\" (SHA-1) or "
		"\"2\" (SHA-256)", msg->signature_version.str ?
		msg->signature_version.str : "");
	return RESULT_REJECT;
}

static int
verify_b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Checks that text is canonical base64: alphabet "+/", '=' padding only
 * at the end, and zero bits in the last character before the padding. */
static const char *
verify_b64_problem(const char *text, size_t len)
{
	size_t i, pad = 0;
	int last;

	if (len == 0)
		return "it is empty";
	if (len % 4 != 0)
		return "its length is not a multiple of 4";
	while (pad < 2 && text[len - 1 - pad] == '=')
		pad++;
	for (i = 0; i < len - pad; i++) {
		if (verify_b64_value(text[i]) < 0)
			return "it contains a character outside the alphabet";
	}
	last = verify_b64_value(text[len - 1 - pad]);
	if ((pad == 1 && (last & 0x3) != 0) || (pad == 2 && (last & 0xf)))
		return "its padding bits are not zero";
	return NULL;
}

static int
verify_decode_signature(const struct sns_field *sig, unsigned char *out,
			size_t *out_len, struct err *e)
{
	const char *problem = NULL;
	size_t pad = 0;
	int n;

	if (sig->str != NULL && sig->len > LIMIT_SIGNATURE_B64_BYTES) {
		err_set(e, "bad_signature", "Signature is %zu characters "
			"long, more than %d", sig->len,
			LIMIT_SIGNATURE_B64_BYTES);
		return RESULT_REJECT;
	}
	problem = sig->str == NULL ? "it is missing" :
		  verify_b64_problem(sig->str, sig->len);
	if (problem != NULL) {
		err_set(e, "bad_signature", "Signature is not strict base64: "
			"%s", problem);
		return RESULT_REJECT;
	}

	n = EVP_DecodeBlock(out, (const unsigned char *)sig->str,
			    (int)sig->len);
	while (pad < 2 && sig->str[sig->len - 1 - pad] == '=')
		pad++;
	if (n < 0 || (size_t)n < pad) {
		err_set(e, "bad_signature", "Signature is not base64");
		return RESULT_REJECT;
	}
	*out_len = (size_t)n - pad;
	return RESULT_OK;
}

static size_t
verify_text_size(const struct sns_message *msg)
{
	return STRING_TO_SIGN_OVERHEAD + msg->message.len +
	       msg->message_id.len + msg->subject.len + msg->timestamp.len +
	       msg->topic_arn.len + msg->token.len + msg->subscribe_url.len +
	       msg->type_name.len;
}

/* Verifies sig over text with RSA PKCS#1 v1.5 and md. */
static int
verify_rsa(EVP_PKEY *key, const EVP_MD *md, const unsigned char *sig,
	   size_t sig_len, const struct buf *text, struct err *e)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int rc = RESULT_REJECT;

	if (ctx == NULL ||
	    EVP_DigestVerifyInit(ctx, &pctx, md, NULL, key) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
		err_set(e, "bad_signature", "OpenSSL cannot verify "
			"RSA with %s here; a crypto policy may disable SHA-1",
			EVP_MD_get0_name(md));
		goto out;
	}
	if (EVP_DigestVerify(ctx, sig, sig_len,
			     (const unsigned char *)text->data,
			     text->len) != 1) {
		err_set(e, "bad_signature", "Signature does not verify "
			"(RSA with %s) against the certificate's key: the "
			"message was altered or not signed by SNS",
			EVP_MD_get0_name(md));
		goto out;
	}
	rc = RESULT_OK;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	return rc;
}

int
sns_verify_signature(const struct sns_message *msg, EVP_PKEY *key,
		     struct err *e)
{
	unsigned char sig[SIGNATURE_MAX];
	size_t sig_len = 0;
	struct buf text;
	int rc;

	rc = sns_verify_signature_version(msg, e);
	if (rc == RESULT_OK)
		rc = verify_decode_signature(&msg->signature, sig, &sig_len, e);
	if (rc != RESULT_OK)
		return rc;
	if (key == NULL || !EVP_PKEY_is_a(key, "RSA")) {
		err_set(e, "bad_signature", "the signing key is not RSA");
		return RESULT_REJECT;
	}

	buf_init(&text, verify_text_size(msg));
	if (sns_message_string_to_sign(msg, &text) != 0) {
		err_set(e, "out_of_memory", "no memory for the string to "
			"sign");
		rc = RESULT_RETRY;
	} else {
		rc = verify_rsa(key, verify_digest(msg), sig, sig_len, &text,
				e);
	}
	buf_free(&text);
	return rc;
}

static bool
verify_read_number(const char *text, size_t n, int *out)
{
	size_t i;
	int value = 0;

	for (i = 0; i < n; i++) {
		if (text[i] < '0' || text[i] > '9')
			return false;
		value = value * 10 + (text[i] - '0');
	}
	*out = value;
	return true;
}

static int
verify_days_in_month(int year, int month)
{
	static const int days[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* Checks the layout "YYYY-MM-DDTHH:MM:SS" and fills tm. */
static bool
verify_read_datetime(const char *text, struct tm *tm)
{
	int year, month, day, hour, minute, second;

	if (strnlen(text, 20) < 20 || text[4] != '-' || text[7] != '-' ||
	    text[10] != 'T' || text[13] != ':' || text[16] != ':')
		return false;
	if (!verify_read_number(text, 4, &year) ||
	    !verify_read_number(text + 5, 2, &month) ||
	    !verify_read_number(text + 8, 2, &day) ||
	    !verify_read_number(text + 11, 2, &hour) ||
	    !verify_read_number(text + 14, 2, &minute) ||
	    !verify_read_number(text + 17, 2, &second))
		return false;
	if (year < 1970 || month < 1 || month > 12 || day < 1 ||
	    day > verify_days_in_month(year, month) || hour > 23 ||
	    minute > 59 || second > 59)
		return false;

	memset(tm, 0, sizeof(*tm));
	tm->tm_year = year - 1900;
	tm->tm_mon = month - 1;
	tm->tm_mday = day;
	tm->tm_hour = hour;
	tm->tm_min = minute;
	tm->tm_sec = second;
	return true;
}

int
sns_timestamp_parse(const char *text, time_t *out)
{
	struct tm tm;
	const char *p = text + 19;
	size_t digits;
	time_t t;

	if (!verify_read_datetime(text, &tm))
		return -1;
	if (*p == '.') {
		digits = strspn(p + 1, "0123456789");
		if (digits < 1 || digits > 9)
			return -1;
		p += 1 + digits;
	}
	if (p[0] != 'Z' || p[1] != '\0')
		return -1;

	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*out = t;
	return 0;
}

int
sns_verify_timestamp(const struct sns_message *msg, time_t now,
		     unsigned max_age_s, unsigned max_skew_s, struct err *e)
{
	const char *text = msg->timestamp.str;
	long long age;
	time_t t;

	if (text == NULL || strlen(text) != msg->timestamp.len ||
	    sns_timestamp_parse(text, &t) != 0) {
		err_set(e, "timestamp_rejected", "Timestamp \"%.40s\" is not "
			"a UTC time such as 2026-03-06T19:55:38.903Z",
			text ? text : "");
		return RESULT_REJECT;
	}

	age = (long long)now - (long long)t;
	if (age > (long long)max_age_s) {
		err_set(e, "timestamp_rejected", "Timestamp %s is %lld s old, "
			"more than max_message_age (%u s): a replayed or "
			"long-delayed message", text, age, max_age_s);
		return RESULT_REJECT;
	}
	if (-age > (long long)max_skew_s) {
		err_set(e, "timestamp_rejected", "Timestamp %s is %lld s "
			"ahead of this host's clock, more than max_clock_skew "
			"(%u s); check the clock", text, -age, max_skew_s);
		return RESULT_REJECT;
	}
	return RESULT_OK;
}

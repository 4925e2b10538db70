#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "snsrelay/buf.h"
#include "snsrelay/sns_sign.h"

struct sign_key {
	const char *name;
	size_t offset;		/* of a struct sns_field in sns_message */
};

#define FIELD(name, member) { name, offsetof(struct sns_message, member) }

/* Keys in the order SNS writes them, per type; absent ones are left out. */
static const struct sign_key notification_layout[] = {
	FIELD("Type", type_name),
	FIELD("MessageId", message_id),
	FIELD("TopicArn", topic_arn),
	FIELD("Subject", subject),
	FIELD("Message", message),
	FIELD("Timestamp", timestamp),
	FIELD("SignatureVersion", signature_version),
	FIELD("Signature", signature),
	FIELD("SigningCertURL", signing_cert_url),
	FIELD("UnsubscribeURL", unsubscribe_url),
	{ NULL, 0 },
};

static const struct sign_key confirmation_layout[] = {
	FIELD("Type", type_name),
	FIELD("MessageId", message_id),
	FIELD("Token", token),
	FIELD("TopicArn", topic_arn),
	FIELD("Message", message),
	FIELD("SubscribeURL", subscribe_url),
	FIELD("Timestamp", timestamp),
	FIELD("SignatureVersion", signature_version),
	FIELD("Signature", signature),
	FIELD("SigningCertURL", signing_cert_url),
	{ NULL, 0 },
};

/* The keys each type signs (Subject is optional). */
static const struct sign_key notification_required[] = {
	FIELD("Type", type_name),
	FIELD("Message", message),
	FIELD("MessageId", message_id),
	FIELD("Timestamp", timestamp),
	FIELD("TopicArn", topic_arn),
	{ NULL, 0 },
};

static const struct sign_key confirmation_required[] = {
	FIELD("Type", type_name),
	FIELD("Message", message),
	FIELD("MessageId", message_id),
	FIELD("SubscribeURL", subscribe_url),
	FIELD("Timestamp", timestamp),
	FIELD("Token", token),
	FIELD("TopicArn", topic_arn),
	{ NULL, 0 },
};

static const struct sns_field *
sign_field(const struct sns_message *msg, const struct sign_key *key)
{
	return (const struct sns_field *)((const char *)msg + key->offset);
}

static int
sign_check_fields(const struct sns_message *msg, struct err *e)
{
	const struct sign_key *key = msg->type == SNS_TYPE_NOTIFICATION ?
				     notification_required :
				     confirmation_required;

	for (; key->name != NULL; key++) {
		if (sign_field(msg, key)->str == NULL) {
			err_set(e, "sign_failed", "cannot sign a %s without "
				"%s", sns_type_to_string(msg->type),
				key->name);
			return -1;
		}
	}
	if (msg->type_name.len != strlen(sns_type_to_string(msg->type)) ||
	    strcmp(msg->type_name.str, sns_type_to_string(msg->type)) != 0) {
		err_set(e, "sign_failed", "Type \"%.40s\" differs from the "
			"message type", msg->type_name.str);
		return -1;
	}
	return 0;
}

static int
sign_set_field(struct sns_field *field, const char *value, size_t len)
{
	char *copy = malloc(len + 1);

	if (copy == NULL)
		return -1;
	memcpy(copy, value, len);
	copy[len] = '\0';
	free(field->str);
	field->str = copy;
	field->len = len;
	return 0;
}

/* Signs text with key and stores the base64 signature in msg. */
static int
sign_text(struct sns_message *msg, EVP_PKEY *key, const EVP_MD *md,
	  const struct buf *text, struct err *e)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *sig = NULL, *b64 = NULL;
	size_t sig_len = 0;
	int n, rc = -1;

	if (ctx == NULL ||
	    EVP_DigestSignInit(ctx, &pctx, md, NULL, key) != 1 ||
	    (EVP_PKEY_is_a(key, "RSA") &&
	     EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) ||
	    EVP_DigestSign(ctx, NULL, &sig_len,
			   (const unsigned char *)text->data,
			   text->len) != 1 ||
	    (sig = malloc(sig_len)) == NULL ||
	    EVP_DigestSign(ctx, sig, &sig_len,
			   (const unsigned char *)text->data,
			   text->len) != 1 ||
	    (b64 = malloc(4 * ((sig_len + 2) / 3) + 1)) == NULL) {
		err_set(e, "sign_failed", "OpenSSL could not sign with %s "
			"and this key", EVP_MD_get0_name(md));
		goto out;
	}
	n = EVP_EncodeBlock(b64, sig, (int)sig_len);
	if (sign_set_field(&msg->signature, (const char *)b64,
			   (size_t)n) != 0) {
		err_set(e, "sign_failed", "no memory for the signature");
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	free(b64);
	free(sig);
	EVP_MD_CTX_free(ctx);
	return rc;
}

int
sns_sign_message(struct sns_message *msg, EVP_PKEY *key, const char *version,
		 struct err *e)
{
	const EVP_MD *md = NULL;
	struct buf text;
	int rc = -1;

	if (strcmp(version, "1") == 0)
		md = EVP_sha1();
	else if (strcmp(version, "2") == 0)
		md = EVP_sha256();
	if (md == NULL) {
		err_set(e, "sign_failed", "SignatureVersion \"%.16s\" is not "
			"1 or 2", version);
		return -1;
	}
	if (sign_check_fields(msg, e) != 0)
		return -1;
	if (sign_set_field(&msg->signature_version, version, 1) != 0) {
		err_set(e, "sign_failed", "no memory for SignatureVersion");
		return -1;
	}

	buf_init(&text, SIZE_MAX / 2);
	if (sns_message_string_to_sign(msg, &text) != 0)
		err_set(e, "sign_failed", "no memory for the string to sign");
	else
		rc = sign_text(msg, key, md, &text, e);
	buf_free(&text);
	return rc;
}

/* Appends field as a JSON string, escaped by json-c ('/' left as is). */
static int
sign_append_json_string(struct buf *out, const struct sns_field *field)
{
	struct json_object *str = json_object_new_string_len(field->str,
							     (int)field->len);
	const char *text;
	int rc = -1;

	if (str == NULL)
		return -1;
	text = json_object_to_json_string_ext(str, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	if (text != NULL)
		rc = buf_append_str(out, text);
	json_object_put(str);
	return rc;
}

char *
sns_message_to_json(const struct sns_message *msg)
{
	const struct sign_key *key = msg->type == SNS_TYPE_NOTIFICATION ?
				     notification_layout : confirmation_layout;
	const struct sns_field *field;
	const char *sep = "{\n";
	struct buf out;

	buf_init(&out, SIZE_MAX / 2);
	for (; key->name != NULL; key++) {
		field = sign_field(msg, key);
		if (field->str == NULL)
			continue;
		if (buf_printf(&out, "%s  \"%s\" : ", sep, key->name) != 0 ||
		    sign_append_json_string(&out, field) != 0)
			goto fail;
		sep = ",\n";
	}
	if (buf_append_str(&out, out.len == 0 ? "{\n}" : "\n}") != 0)
		goto fail;
	return buf_steal(&out);
fail:
	buf_free(&out);
	return NULL;
}

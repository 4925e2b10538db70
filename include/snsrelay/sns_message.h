/*
 * The SNS HTTP(S) delivery envelope: parsing and the string to sign.
 *
 * Values are kept exactly as JSON-decoded (never re-serialised), with
 * their lengths, because an embedded "\u0000" must not cut a signed value
 * short.
 */
#ifndef SNSRELAY_SNS_MESSAGE_H
#define SNSRELAY_SNS_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "snsrelay/buf.h"
#include "snsrelay/err.h"

enum sns_type {
	SNS_TYPE_NOTIFICATION = 0,
	SNS_TYPE_SUBSCRIPTION_CONFIRMATION,
	SNS_TYPE_UNSUBSCRIBE_CONFIRMATION,
};

/* One decoded string value; str is NULL when the key is absent. */
struct sns_field {
	char *str;	/* NUL-terminated copy; may hold NULs before len */
	size_t len;
};

struct sns_message {
	enum sns_type type;
	struct sns_field type_name;
	struct sns_field message;
	struct sns_field message_id;
	struct sns_field subject;	/* absent or JSON null: str == NULL */
	struct sns_field timestamp;
	struct sns_field topic_arn;
	struct sns_field token;
	struct sns_field subscribe_url;
	struct sns_field signature_version;
	struct sns_field signature;
	/* "SigningCertURL", or Lambda-style "SigningCertUrl". */
	struct sns_field signing_cert_url;
	struct sns_field unsubscribe_url;
};

/*
 * Parses an SNS delivery body.  Rejects (RESULT_REJECT, reason in e):
 * invalid JSON or UTF-8, a top level that is not an object, duplicate
 * keys, a Type other than the three SNS types, a missing field that the
 * type signs, a signed or signature field that is not a string (Subject
 * may be null), and SigningCertURL given twice under both spellings.
 * On success msg owns copies of every value; free with sns_message_free.
 */
int sns_message_parse(const char *body, size_t len, struct sns_message *msg,
		      struct err *e);
void sns_message_free(struct sns_message *msg);

/* Appends the canonical string to sign ("Key\nvalue\n" for each signed
 * key, in the order SNS defines for msg->type) to out.  Returns 0, or -1
 * when out's maximum is reached. */
int sns_message_string_to_sign(const struct sns_message *msg, struct buf *out);

const char *sns_type_to_string(enum sns_type type);
/* Returns 0 and sets *type, or -1 for an unknown name. */
int sns_type_from_string(const char *name, enum sns_type *type);

#endif

/*
 * Producing signed SNS envelopes, for the snsrelay-sign companion and for
 * tests.  The relay itself never signs.
 */
#ifndef SNSRELAY_SNS_SIGN_H
#define SNSRELAY_SNS_SIGN_H

#include <openssl/evp.h>

#include "snsrelay/err.h"
#include "snsrelay/sns_message.h"

/*
 * Sets msg's SignatureVersion to version ("1" or "2") and its Signature to
 * the base64 RSA signature of its string to sign made with key.  Every
 * field the type signs must be set.  Returns 0, or -1 with the reason.
 */
int sns_sign_message(struct sns_message *msg, EVP_PKEY *key,
		     const char *version, struct err *e);

/* Returns msg as an SNS delivery body, in the layout SNS sends
 * ("Key" : "value", one per line).  free() the result; NULL when memory is
 * short. */
char *sns_message_to_json(const struct sns_message *msg);

#endif

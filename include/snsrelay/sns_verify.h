/*
 * Checks on a parsed SNS message: signature version, signature, and
 * timestamp freshness.  None of them does I/O; the caller supplies the
 * signing key (see cert_cache.h) and the current time.
 */
#ifndef SNSRELAY_SNS_VERIFY_H
#define SNSRELAY_SNS_VERIFY_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>

#include "snsrelay/err.h"
#include "snsrelay/sns_message.h"

/* Accepts SignatureVersion "1" (RSA PKCS#1 v1.5 with SHA-1) and "2"
 * (with SHA-256); rejects any other before any cryptography is done. */
int sns_verify_signature_version(const struct sns_message *msg,
				 struct err *e);

/* Verifies msg's Signature over its string to sign with key.  Decodes
 * base64 strictly (no whitespace, correct padding, 1 KiB at most).
 * Returns RESULT_OK or RESULT_REJECT. */
int sns_verify_signature(const struct sns_message *msg, EVP_PKEY *key,
			 struct err *e);

/*
 * Parses an SNS Timestamp ("2026-03-06T19:55:38.903Z"; fractional digits
 * optional) into seconds since the epoch.  Returns 0 or -1.
 */
int sns_timestamp_parse(const char *text, time_t *out);

/* Rejects a Timestamp more than max_age_s before now or more than
 * max_skew_s after it. */
int sns_verify_timestamp(const struct sns_message *msg, time_t now,
			 unsigned max_age_s, unsigned max_skew_s,
			 struct err *e);

#endif

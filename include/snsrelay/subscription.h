/*
 * Confirming SNS subscriptions by visiting the SubscribeURL.
 */
#ifndef SNSRELAY_SUBSCRIPTION_H
#define SNSRELAY_SUBSCRIPTION_H

#include <stddef.h>

#include "snsrelay/err.h"

/*
 * GETs subscribe_url, which the caller has verified (signature, topic and
 * sns_url_check_subscribe), and copies the SubscriptionArn from the
 * <ConfirmSubscriptionResponse> answer into arn.  Returns RESULT_OK, or
 * RESULT_RETRY (code "confirm_failed") on any failure, so that SNS sends
 * the confirmation request again.
 */
int subscription_confirm(const char *subscribe_url, const char *ca_file,
			 unsigned timeout_ms, char *arn, size_t arn_size,
			 struct err *e);

/* Copies the text of the first <SubscriptionArn> element of xml into arn.
 * Returns 0, or -1 when there is none. */
int subscription_parse_arn(const char *xml, char *arn, size_t arn_size);

#endif

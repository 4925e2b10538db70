/*
 * Rules for the URLs an SNS message names: SigningCertURL (fetched to get
 * the signing key) and SubscribeURL (visited to confirm a subscription).
 *
 * Both must be https, with no user info, port, query (except the
 * SubscribeURL's own), or fragment, on the host sns.<region>.amazonaws.com
 * (sns.<region>.amazonaws.com.cn for cn-* regions), where <region> is the
 * region of the message's TopicArn.  The pattern the AWS SDK validators
 * share also matches S3 hosts such as sns.s3-us-west-2.amazonaws.com; these
 * rules do not.  The partition of the TopicArn must fit its region
 * (aws-cn for cn-*, aws-us-gov for us-gov-*, aws for the rest); other
 * partitions need a host pattern.  Upper-case letters in the scheme, the
 * host and the certificate file name are rejected, not folded, because SNS
 * always writes them in lower case.
 *
 * A host pattern from the configuration (fnmatch(3) syntax, matched against
 * "host" or "host:port") replaces the AWS host rule for tests and local
 * trials; the scheme and path rules still apply.
 */
#ifndef SNSRELAY_SNS_URL_H
#define SNSRELAY_SNS_URL_H

#include <stddef.h>

#include "snsrelay/err.h"

/* Checks a SigningCertURL: the path must be
 * /SimpleNotificationService-<32 hex digits>.pem.  host_pattern may be
 * NULL.  Returns RESULT_OK or RESULT_REJECT (code "cert_url_invalid"). */
int sns_url_check_cert(const char *url, const char *topic_arn,
		       const char *host_pattern, struct err *e);

/* Checks a SubscribeURL: path "/", a query with
 * Action=ConfirmSubscription, TopicArn equal to topic_arn, and a Token.
 * Returns RESULT_OK or RESULT_REJECT (code "subscribe_url_invalid"). */
int sns_url_check_subscribe(const char *url, const char *topic_arn,
			    const char *host_pattern, struct err *e);

/* Copies the last path segment of url (the certificate's file name) into
 * out.  Returns 0 or -1. */
int sns_url_basename(const char *url, char *out, size_t out_size);

#endif

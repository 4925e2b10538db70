/*
 * The SNS endpoint's logic, independent of the HTTP server: verify a
 * delivery, then confirm, report, or relay it.
 */
#ifndef SNSRELAY_SNS_HANDLER_H
#define SNSRELAY_SNS_HANDLER_H

#include <stddef.h>

#include "snsrelay/relay.h"

struct sns_request {
	const char *body;
	size_t body_len;
	const char *message_type_header;	/* x-amz-sns-message-type */
	const char *raw_delivery_header;	/* x-amz-sns-rawdelivery */
	const char *remote_addr;
	const char *request_id;
};

struct sns_response {
	int status;			/* HTTP status to answer */
	const char *code;		/* "accepted", or the rejection code */
	char reason[256];		/* one line, for {"error": ...} */
	char message_id[128];		/* empty when unknown */
	char topic_arn[256];
};

/* Processes one delivery and fills resp; logs one line for the outcome. */
void sns_handler_process(struct relay *relay, const struct sns_request *req,
			 struct sns_response *resp);

#endif

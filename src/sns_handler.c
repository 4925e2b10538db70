/*
 * The SNS endpoint: checks a delivery in the order docs/design.md gives,
 * cheapest first, so that forged or foreign messages cost no
 * cryptography and no certificate fetch, then confirms the subscription,
 * reports the unsubscribe, or relays the alert.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "snsrelay/alert.h"
#include "snsrelay/cert_cache.h"
#include "snsrelay/delivery.h"
#include "snsrelay/dispatcher.h"
#include "snsrelay/filter.h"
#include "snsrelay/limits.h"
#include "snsrelay/log.h"
#include "snsrelay/metrics.h"
#include "snsrelay/sns_handler.h"
#include "snsrelay/sns_message.h"
#include "snsrelay/sns_url.h"
#include "snsrelay/sns_verify.h"
#include "snsrelay/spool.h"
#include "snsrelay/subscription.h"
#include "snsrelay/topics.h"

#define SUBSCRIPTION_ARN_SIZE 512

static void
respond(struct sns_response *resp, int status, const char *code,
	const char *reason)
{
	resp->status = status;
	resp->code = code;
	snprintf(resp->reason, sizeof(resp->reason), "%s", reason);
}

static void
respond_err(struct sns_response *resp, int status, const struct err *e)
{
	respond(resp, status, e->code, e->msg);
}

/* Status for a failed step: 503 when SNS should retry, else reject. */
static int
status_for(int result, int reject_status)
{
	return result == RESULT_RETRY ? 503 : reject_status;
}

static void
log_request_fields(struct log_line *line, const struct sns_request *req,
		   const struct sns_response *resp)
{
	log_str(line, "request_id", req->request_id);
	log_str(line, "remote", req->remote_addr);
	if (resp->message_id[0] != '\0')
		log_str(line, "message_id", resp->message_id);
	if (resp->topic_arn[0] != '\0')
		log_str(line, "topic_arn", resp->topic_arn);
}

/* Logs the outcome of a request that was not accepted. */
static void
log_rejection(const struct sns_request *req, const struct sns_response *resp)
{
	struct log_line line;
	bool transient = resp->status >= 500;

	log_begin(&line, transient ? LOG_ERROR : LOG_WARN,
		  transient ? "request_failed" : "request_rejected");
	log_request_fields(&line, req, resp);
	log_int(&line, "status", resp->status);
	log_str(&line, "code", resp->code);
	log_str(&line, "reason", resp->reason);
	log_end(&line);
}

static bool
is_raw_delivery(const struct sns_request *req)
{
	return req->raw_delivery_header != NULL &&
		strcasecmp(req->raw_delivery_header, "true") == 0;
}

/* Parses the envelope and runs the checks that need no key. */
static int
check_envelope(struct relay *relay, const struct sns_request *req,
	       struct sns_message *msg, struct sns_response *resp)
{
	const struct relay_config *cfg = relay->cfg;
	struct err e;
	int rc;

	err_clear(&e);
	if (is_raw_delivery(req)) {
		respond(resp, 400, "raw_delivery",
			"raw message delivery carries no SNS signature; set "
			"the subscription attribute RawMessageDelivery to "
			"false");
		return -1;
	}
	rc = sns_message_parse(req->body, req->body_len, msg, &e);
	if (rc != RESULT_OK) {
		respond_err(resp, status_for(rc, 400), &e);
		return -1;
	}
	snprintf(resp->message_id, sizeof(resp->message_id), "%s",
		 msg->message_id.str);
	snprintf(resp->topic_arn, sizeof(resp->topic_arn), "%s",
		 msg->topic_arn.str);

	if (req->message_type_header != NULL &&
	    strcmp(req->message_type_header, msg->type_name.str) != 0) {
		err_set(&e, "type_mismatch",
			"header x-amz-sns-message-type is %.40s but the body's "
			"Type is %s", req->message_type_header,
			msg->type_name.str);
		respond_err(resp, 400, &e);
		return -1;
	}
	if (!config_topic_allowed(cfg, msg->topic_arn.str)) {
		err_set(&e, "topic_not_allowed",
			"TopicArn %.150s is not in the configured topics",
			msg->topic_arn.str);
		respond_err(resp, 403, &e);
		return -1;
	}
	if (sns_verify_signature_version(msg, &e) != 0) {
		respond_err(resp, 400, &e);
		return -1;
	}
	rc = sns_url_check_cert(msg->signing_cert_url.str, msg->topic_arn.str,
				cfg->sns_host_pattern, &e);
	if (rc == RESULT_OK)
		rc = sns_verify_timestamp(msg, relay->now(),
					  cfg->max_message_age_s,
					  cfg->max_clock_skew_s, &e);
	if (rc != RESULT_OK) {
		respond_err(resp, 403, &e);
		return -1;
	}
	return 0;
}

/* Fetches the signing key and verifies the signature. */
static int
check_signature(struct relay *relay, const struct sns_message *msg,
		struct sns_response *resp)
{
	char region[64];
	EVP_PKEY *key = NULL;
	struct err e;
	int rc;

	err_clear(&e);
	if (topic_arn_region(msg->topic_arn.str, region, sizeof(region)) != 0)
		region[0] = '\0';
	rc = cert_cache_get(relay->certs, msg->signing_cert_url.str, region,
			    relay->now(), &key, &e);
	if (rc != RESULT_OK) {
		respond_err(resp, status_for(rc, 403), &e);
		return -1;
	}
	rc = sns_verify_signature(msg, key, &e);
	EVP_PKEY_free(key);
	if (rc != RESULT_OK) {
		respond_err(resp, 403, &e);
		return -1;
	}
	return 0;
}

/* Fills names with the destinations whose filter accepts alert and
 * returns their count. */
static size_t
select_destinations(struct relay *relay, json_object *alert,
		    const char **names)
{
	size_t i, selected = 0, count = delivery_count(relay->delivery);
	const struct destination *dest;

	for (i = 0; i < count && i < LIMIT_WEBHOOKS + 1; i++) {
		dest = delivery_get(relay->delivery, i);
		if (filter_accepts(filter_find(relay->cfg, dest->name), alert))
			names[selected++] = dest->name;
	}
	return selected;
}

/*
 * Stores alert in the spool for every destination whose filter accepts
 * it and waits for the commit, so the 2xx that follows is a promise the
 * relay can keep.  The delivery workers send it from there.  An alert
 * that no destination accepts is stored with none, so that its alert_id
 * still counts for deduplication, and is logged as alert_filtered.
 */
static void
store_alert(struct relay *relay, const struct sns_request *req,
	    json_object *alert, const char *event, enum log_level level,
	    struct sns_response *resp)
{
	const char *names[LIMIT_WEBHOOKS + 1];
	const char *document;
	bool duplicate = false;
	struct log_line line;
	size_t selected;
	struct err e;

	if (alert == NULL) {
		respond(resp, 503, "out_of_memory",
			"out of memory building the alert; SNS will retry");
		return;
	}
	selected = select_destinations(relay, alert, names);
	document = json_object_to_json_string_ext(alert,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	err_clear(&e);
	if (spool_put(relay->spool, alert_get_string(alert, "alert_id"),
		      resp->message_id, resp->topic_arn, document, names,
		      selected, &duplicate, &e) != RESULT_OK) {
		/* The spool's own log line has the details, such as the
		 * file's path, which the client must not see. */
		respond(resp, 503, e.code, "the relay cannot store alerts "
			"right now; SNS retries the delivery later");
		return;
	}
	if (!duplicate)
		metrics_inc(METRIC_ALERTS_STORED, NULL, NULL);
	if (!duplicate && selected > 0)
		dispatcher_notify(relay->dispatcher);
	if (!duplicate && selected == 0)
		event = "alert_filtered";

	respond(resp, 200, duplicate ? "duplicate" : "accepted", "");
	log_begin(&line, duplicate ? LOG_INFO : level,
		  duplicate ? "duplicate_ignored" : event);
	log_request_fields(&line, req, resp);
	log_str(&line, "alert_id", alert_get_string(alert, "alert_id"));
	log_str(&line, "kind", alert_get_string(alert, "kind"));
	log_str(&line, "severity", alert_get_string(alert, "severity"));
	log_end(&line);
}

/* The configured language; English when unset or unknown. */
static enum label_language
sns_handler_language(const struct relay_config *cfg)
{
	enum label_language lang = LABEL_LANG_EN;

	if (cfg->language != NULL)
		label_language_parse(cfg->language, &lang);
	return lang;
}

static void
handle_notification(struct relay *relay, const struct sns_request *req,
		    const struct sns_message *msg, struct sns_response *resp)
{
	struct alert_options opts = {
		.timezone = relay->cfg->timezone,
		.severity = &relay->cfg->severity,
		.language = sns_handler_language(relay->cfg),
	};
	json_object *alert = alert_from_notification(msg, &opts, relay->now());

	store_alert(relay, req, alert, "notification_stored", LOG_INFO, resp);
	json_object_put(alert);
}

static void
handle_unsubscribe(struct relay *relay, const struct sns_request *req,
		   const struct sns_message *msg, struct sns_response *resp)
{
	struct alert_options opts = {
		.timezone = relay->cfg->timezone,
		.severity = &relay->cfg->severity,
		.language = sns_handler_language(relay->cfg),
	};
	json_object *alert = alert_from_unsubscribe(msg, &opts, relay->now());

	/* Never visit this message's SubscribeURL: it would subscribe the
	 * endpoint again without anyone deciding to. */
	store_alert(relay, req, alert, "unsubscribe_reported", LOG_WARN, resp);
	json_object_put(alert);
	/* A retried UnsubscribeConfirmation is a duplicate: count it once. */
	if (resp->status == 200 && strcmp(resp->code, "accepted") == 0)
		metrics_inc(METRIC_SUBSCRIPTIONS, "unsubscribed", NULL);
}

static void
log_confirmation(const struct sns_request *req,
		 const struct sns_response *resp, const char *event,
		 const char *key, const char *value)
{
	struct log_line line;

	log_begin(&line, strcmp(event, "subscription_confirmed") == 0 ?
		  LOG_INFO : LOG_WARN, event);
	log_request_fields(&line, req, resp);
	log_str(&line, key, value);
	log_end(&line);
}

static void
handle_confirmation(struct relay *relay, const struct sns_request *req,
		    const struct sns_message *msg, struct sns_response *resp)
{
	const struct relay_config *cfg = relay->cfg;
	char arn[SUBSCRIPTION_ARN_SIZE];
	struct err e;
	int rc;

	err_clear(&e);
	rc = sns_url_check_subscribe(msg->subscribe_url.str,
				     msg->topic_arn.str,
				     cfg->sns_host_pattern, &e);
	if (rc != RESULT_OK) {
		respond_err(resp, 403, &e);
		return;
	}
	if (!cfg->auto_confirm) {
		respond(resp, 200, "confirmation_logged", "");
		metrics_inc(METRIC_SUBSCRIPTIONS, "logged", NULL);
		log_confirmation(req, resp, "confirmation_logged",
				 "subscribe_url", msg->subscribe_url.str);
		return;
	}
	rc = subscription_confirm(msg->subscribe_url.str, cfg->ca_file,
				  cfg->confirm_timeout_ms, arn, sizeof(arn),
				  &e);
	if (rc != RESULT_OK) {
		respond_err(resp, status_for(rc, 403), &e);
		return;
	}
	respond(resp, 200, "confirmed", "");
	log_confirmation(req, resp, "subscription_confirmed",
			 "subscription_arn", arn);
}

void
sns_handler_process(struct relay *relay, const struct sns_request *req,
		    struct sns_response *resp)
{
	struct sns_message msg;

	memset(resp, 0, sizeof(*resp));
	memset(&msg, 0, sizeof(msg));
	respond(resp, 500, "internal_error", "internal error");

	if (check_envelope(relay, req, &msg, resp) != 0 ||
	    check_signature(relay, &msg, resp) != 0)
		goto out;

	switch (msg.type) {
	case SNS_TYPE_NOTIFICATION:
		handle_notification(relay, req, &msg, resp);
		break;
	case SNS_TYPE_SUBSCRIPTION_CONFIRMATION:
		handle_confirmation(relay, req, &msg, resp);
		break;
	case SNS_TYPE_UNSUBSCRIBE_CONFIRMATION:
		handle_unsubscribe(relay, req, &msg, resp);
		break;
	}
out:
	metrics_inc(METRIC_SNS_REQUESTS, resp->code, NULL);
	if (resp->status < 200 || resp->status >= 300)
		log_rejection(req, resp);
	sns_message_free(&msg);
}

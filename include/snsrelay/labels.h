/*
 * Words of the alerts a person reads (field names, severity words,
 * titles), in English or Korean.  Values from the event are never
 * translated; the alert document's machine-readable members stay English.
 */
#ifndef SNSRELAY_LABELS_H
#define SNSRELAY_LABELS_H

#include <stddef.h>

#include "snsrelay/buf.h"

enum label_language {
	LABEL_LANG_EN = 0,
	LABEL_LANG_KO,
};

enum label_key {
	LABEL_EVENT = 0,
	LABEL_SECURITY_GROUP,
	LABEL_SECURITY_GROUPS,
	LABEL_WHO,
	LABEL_HOW,
	LABEL_SOURCE_IP,
	LABEL_REGION,
	LABEL_ACCOUNT,
	LABEL_WHEN,
	LABEL_USER_AGENT,
	LABEL_CLOUDTRAIL_EVENT_ID,
	LABEL_CLOUDTRAIL_EVENT,
	LABEL_SNS_MESSAGE,
	LABEL_ERROR,
	LABEL_TOPIC,
	LABEL_SEVERITY,
	LABEL_RULES_CHANGED,
	LABEL_RULES,
	LABEL_FAILED,
	LABEL_ALERT,
	LABEL_SEV_CRITICAL,
	LABEL_SEV_HIGH,
	LABEL_SEV_MEDIUM,
	LABEL_SEV_LOW,
	LABEL_SEV_WARNING,
	LABEL_SEV_INFO,
	LABEL_ACCESS_TERRAFORM,
	LABEL_ACCESS_CLOUDFORMATION,
	LABEL_ACCESS_CONSOLE,
	LABEL_ACCESS_CLI,
	LABEL_ACCESS_SDK,
	LABEL_ACCESS_AWS_SERVICE,
	LABEL_ACCESS_UNKNOWN,
	LABEL_TITLE_OPEN_INGRESS,
	LABEL_TITLE_OPEN_RULE,
	LABEL_TITLE_OPEN_EGRESS,
	LABEL_TITLE_DENIED,
	LABEL_TITLE_FAILED,
	LABEL_TITLE_ROOT,
	LABEL_A_SECURITY_GROUP,
	LABEL_NOTIFICATION_ON,
	LABEL_SUBSCRIPTION_ENDED,
	LABEL_ROOT_OWNER,
	LABEL_VIA,
	LABEL_KEY_COUNT
};

/* The label of key in lang; never NULL or empty. */
const char *label(enum label_language lang, enum label_key key);

/* Reads "en" or "ko" into *lang.  Returns 0, or -1 for anything else. */
int label_language_parse(const char *s, enum label_language *lang);

/* "en" or "ko". */
const char *label_language_name(enum label_language lang);

/* The severity word of a level name ("critical"), or NULL. */
const char *label_severity(enum label_language lang, const char *name);

/* The words of an access code ("console"), or NULL when unknown. */
const char *label_access(enum label_language lang, const char *code);

/* Appends "and N more" ("외 N개"), or with rules "and N more rules"
 * ("외 규칙 N개").  Returns 0, or -1 when memory is short. */
int label_append_more(struct buf *b, enum label_language lang, size_t n,
		      int rules);

/* Appends how a rule changed: "added ingress" ("인바운드 추가"); change
 * and direction are the alert's codes, direction may be NULL.  Returns
 * 0, or -1 when memory is short. */
int label_append_rule_action(struct buf *b, enum label_language lang,
			     const char *change, const char *direction);

/* The title words of a security-group API call in Korean ("보안 그룹
 * 규칙 삭제"), or name itself in English or when unknown. */
const char *label_call(enum label_language lang, const char *name);

#endif

/*
 * Microsoft Teams payloads for a Workflows webhook ("When a Teams webhook
 * request is received"), built from alert documents.
 */
#ifndef SNSRELAY_TEAMS_H
#define SNSRELAY_TEAMS_H

#include <json-c/json.h>

/* Maximum bytes of the serialized payload.  Teams rejects messages above
 * about 28 KB; the rest is margin for encoding differences. */
#define TEAMS_PAYLOAD_MAX	20000

/*
 * Builds the JSON body {"type":"message","attachments":[...]} holding one
 * Adaptive Card (version 1.4) for alert.  The card is shortened until
 * its serialized form (JSON_C_TO_STRING_PLAIN) is at most
 * TEAMS_PAYLOAD_MAX bytes.  Never fails on content; returns NULL only
 * when memory is short.
 */
json_object *teams_build_payload(json_object *alert);

#endif

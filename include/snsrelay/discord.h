/*
 * Discord execute-webhook payloads built from alert documents.
 */
#ifndef SNSRELAY_DISCORD_H
#define SNSRELAY_DISCORD_H

#include <stddef.h>

#include <json-c/json.h>

/*
 * Returns a new copy of s in which Discord markdown characters are
 * backslash-escaped and mentions (@everyone, @here, <@id>, <#id>, <@&id>)
 * are broken with a zero-width space, so event values cannot change the
 * message's markup or ping anyone.  Returns NULL when memory is short.
 */
char *discord_escape(const char *s);

/*
 * Builds the body for POST /webhooks/{id}/{token}?wait=true from
 * alerts[0..count).  Packs consecutive alerts, one embed each, while the
 * message stays within 10 embeds and 6000 characters; *used receives how
 * many were packed (at least 1 when count >= 1, because a single alert is
 * shortened to fit).  Sets allowed_mentions to parse nothing.  The
 * payload is the text of discord_render_payload, parsed.  Returns NULL
 * when memory is short.
 */
json_object *discord_build_payload(json_object *const *alerts, size_t count,
				   size_t *used);

/*
 * Returns the body that discord_build_payload describes as JSON text,
 * written directly without json-c objects.  Its bytes are those that
 * json_object_to_json_string_ext gives for that payload with
 * JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE.  free() it.
 * Returns NULL when memory is short.
 */
char *discord_render_payload(json_object *const *alerts, size_t count,
			     size_t *used);

#endif

/*
 * Every size limit and timeout of snsrelay in one place.  Configurable
 * values start from the defaults here; the rest are fixed bounds.
 */
#ifndef SNSRELAY_LIMITS_H
#define SNSRELAY_LIMITS_H

/* HTTP server. SNS messages are at most 256 KiB before JSON escaping. */
#define LIMIT_BODY_BYTES_DEFAULT        (1024 * 1024)
#define LIMIT_BODY_BYTES_MIN            (64 * 1024)
#define LIMIT_CONNECTIONS_DEFAULT       256
#define LIMIT_CONNECTIONS_PER_IP_DEFAULT 64
#define LIMIT_CONNECTION_MEMORY_DEFAULT (64 * 1024)
/* Idle time before a connection is closed; SNS waits 15 s for a response. */
#define LIMIT_REQUEST_TIMEOUT_S_DEFAULT 15
#define LIMIT_HEADER_VALUE_BYTES        1024

/* SNS verification. SNS retries HTTP deliveries for at most one hour. */
#define LIMIT_MESSAGE_AGE_S_DEFAULT     3600
#define LIMIT_CLOCK_SKEW_S_DEFAULT      300
#define LIMIT_CERT_BYTES                (16 * 1024)
#define LIMIT_CERT_FETCH_MS_DEFAULT     5000
#define LIMIT_CERT_CACHE_DEFAULT        64
#define LIMIT_SIGNATURE_B64_BYTES       1024

/* Subscription confirmation: the response is a short XML document. */
#define LIMIT_CONFIRM_RESPONSE_BYTES    (64 * 1024)
#define LIMIT_CONFIRM_MS_DEFAULT        5000

/* Outbound webhooks. */
#define LIMIT_DELIVERY_MS_DEFAULT       8000
#define LIMIT_WEBHOOK_RESPONSE_BYTES    (64 * 1024)
#define LIMIT_WEBHOOKS                  16

/* Discord embed limits, in characters (Unicode code points). */
#define DISCORD_TITLE_MAX               256
#define DISCORD_DESCRIPTION_MAX         4096
#define DISCORD_FIELDS_MAX              25
#define DISCORD_FIELD_NAME_MAX          256
#define DISCORD_FIELD_VALUE_MAX         1024
#define DISCORD_FOOTER_MAX              2048
#define DISCORD_AUTHOR_MAX              256
#define DISCORD_EMBED_TOTAL_MAX         6000
#define DISCORD_EMBEDS_MAX              10
#define DISCORD_CONTENT_MAX             2000

/* Parsing of untrusted JSON (the SNS envelope and the event inside it). */
#define LIMIT_JSON_DEPTH                32

/* Logging: one line per event, truncated beyond this many bytes. */
#define LIMIT_LOG_LINE_BYTES            4096

#endif

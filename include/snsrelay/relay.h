/*
 * The runtime context shared by the HTTP server and the SNS handler.
 */
#ifndef SNSRELAY_RELAY_H
#define SNSRELAY_RELAY_H

#include <time.h>

#include "snsrelay/cert_cache.h"
#include "snsrelay/config.h"
#include "snsrelay/delivery.h"
#include "snsrelay/dispatcher.h"
#include "snsrelay/spool.h"

struct relay {
	const struct relay_config *cfg;
	struct cert_cache *certs;
	struct delivery *delivery;	/* destinations */
	struct spool *spool;		/* alerts are stored here first */
	/* Delivers from the spool.  Atomic: a configuration reload swaps
	 * it while requests read it; NULL for the moment between the old
	 * workers stopping and the new ones starting. */
	struct dispatcher *_Atomic dispatcher;
	time_t started_at;
	/* Current time; tests may supply their own clock. */
	time_t (*now)(void);
};

#endif

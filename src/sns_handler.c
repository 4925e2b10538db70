#include "config.h"
/* In progress. */
extern int snsrelay_placeholder_sns_handler;

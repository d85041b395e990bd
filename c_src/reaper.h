/* The reaper: one background thread that frees whole stores (of deleted or
 * cleared tables) after an epoch has passed, so that no scheduler ever waits
 * for a grace period or spends time freeing a million objects.
 * Thread-safety: reaper_push may be called from any thread. */
#ifndef XETS_REAPER_H
#define XETS_REAPER_H

#include "store.h"

int reaper_start(void);
/* Frees everything queued, then stops the thread. */
void reaper_stop(void);
void reaper_push(const store_ops_t *ops, store_t *s);
/* Waits until everything pushed before the call is freed (for tests). */
void reaper_drain(void);

#endif

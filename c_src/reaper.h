/* The reaper: one background thread that drops whole stores (of deleted
 * tables, and what delete_all_objects emptied out of a store) after an
 * epoch has passed, so that no scheduler ever waits for a grace period or
 * spends time freeing a million objects.
 *
 * A drop that fails (store.h: the store is released all the same, but its
 * files may not all be gone) has no caller left to raise to: the reaper
 * writes what the call's error says to the emulator's standard error, and
 * goes on.
 *
 * Thread-safety: reaper_push may be called from any thread. */
#ifndef XETS_REAPER_H
#define XETS_REAPER_H

#include "store.h"

int reaper_start(void);
/* Drops everything queued, then stops the thread. */
void reaper_stop(void);
/* Drops s once every epoch section open now has ended. */
void reaper_push(const store_ops_t *ops, store_t *s);
/* Closes s, keeping its files, once every epoch section open now has
 * ended: a persistent table whose owner died, or that was deleted. */
void reaper_close(const store_ops_t *ops, store_t *s);
/* Waits until everything pushed before the call is dropped or closed
 * (tests; and the opener of a directory a closing table still holds). */
void reaper_drain(void);

#endif

/* Epoch-based reclamation shared by every concurrent structure.
 *
 * Thread-safety contract: any thread may call any function. A thread reads
 * shared structure memory only between epoch_enter() and epoch_exit();
 * memory unlinked by a writer is handed to epoch_retire() and freed only
 * after every section that could have seen it has ended. Sections nest.
 * Sections must be short (no blocking, about a millisecond at most), and
 * epoch_synchronize() must not be called from inside one. */
#ifndef XETS_EPOCH_H
#define XETS_EPOCH_H

#include <stdbool.h>

typedef void (*epoch_free_fn)(void *p);

void epoch_enter(void);
void epoch_exit(void);
/* Frees p with fn once no section that could see it remains. Never blocks. */
void epoch_retire(void *p, epoch_free_fn fn);
/* Waits until every section that was open at the call has ended, then runs
 * the calling thread's ripe retirements. */
void epoch_synchronize(void);
/* Frees whatever of the calling thread's retirements is ripe; never waits. */
void epoch_poll(void);
/* For a thread of xets's own that is about to end: runs what it retired
 * (waiting as epoch_synchronize) and gives up its record, which the next
 * thread to start takes over instead of making one. Not inside a section. */
void epoch_thread_exit(void);
/* Whether the calling thread is inside a section: what may block (file
 * I/O, call.h) must not be. */
bool epoch_in_section(void);

#endif

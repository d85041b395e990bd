/* The controls of the simulated file system (fs_sim.c), which the plain C
 * tests link in place of fs_os.c: it implements fs.h in memory, remembers
 * what was made durable, and can lose the rest in a seeded power cut or
 * fail any call on purpose. fs_sim.c's header says exactly what a power
 * cut keeps.
 *
 * Calls counted: every fs.h call that would reach the OS (all but
 * fs_close and fs_dir_close), once per call.
 *
 * Thread-safety: these may be called from any thread, also while fs.h
 * calls run (each takes effect between two of them). */
#ifndef XETS_DISK_FS_SIM_H
#define XETS_DISK_FS_SIM_H

#include <stdint.h>

enum fs_sim_fault {
    FS_SIM_FAIL,  /* the call does nothing and fails with err */
    FS_SIM_SHORT, /* fs_write writes the first half of its bytes (len / 2),
                     then fails with err, as the OS's write loop does when
                     the disk fills midway; any other call: as FS_SIM_FAIL */
    FS_SIM_HALT   /* the machine stops there: this call and every later one
                     do nothing and fail with err, until fs_sim_power_cut */
};

/* An empty file system; no fault armed; the call count back to 0. Handles
 * still open go stale (as after fs_sim_power_cut) and must still be
 * closed. */
void fs_sim_reset(void);

/* A crash and a reboot: keeps what was durable and a part of the rest
 * chosen by seed (the same seed, after the same calls, keeps the same
 * part). Every handle open goes stale: its calls fail with XETS_IO and
 * EIO, and it must still be closed. Locks are released, a halt ends, an
 * armed fault is disarmed. */
void fs_sim_power_cut(uint64_t seed);

/* Arms one fault: after `after` more counted calls succeed, the next one
 * fails with errno err as kind says. Replaces any fault armed before. */
void fs_sim_fail(uint64_t after, int err, enum fs_sim_fault kind);

/* The counted calls made since the last fs_sim_reset (failed ones too). */
uint64_t fs_sim_calls(void);
/* The fs_sync and fs_dir_sync calls that reached it (not a volatile
 * directory's: fs_dir_set_volatile), and the files fs_open created,
 * since the last reset. */
uint64_t fs_sim_syncs(void);
uint64_t fs_sim_creates(void);

/* Whether the OS holds the files' bytes in memory, as it does by default
 * (and after fs_sim_reset): cold, fs_read on a thread that may not block
 * answers XETS_BUSY (fs.h), as if the page cache had dropped them all. */
void fs_sim_set_cold(bool cold);

/* A digest of the counted calls since the last fs_sim_reset, in order
 * (which fs.h function each was): two runs that made the same calls in
 * the same order have the same trace. */
uint64_t fs_sim_trace(void);

#endif

/*
 * Heartbeat soft state (docs/architecture.md "Write path and durability"):
 * a heartbeat changes its node in memory at once and marks it (node_t
 * soft_dirty); a housekeeping task writes every marked node to SQLite in one
 * store op at least every second, and once more when the server stops. A
 * crash loses at most that second of heartbeat state, never a durable write.
 *
 * Ordering against durable writes of the same columns: admins may PATCH
 * wireguard_ip and lan_ip, which heartbeats also report. The flush therefore
 * copies the marked state inside its own apply, on the writer thread, so it
 * is ordered with every other apply; and a durable apply that writes those
 * addresses calls softstate_forget_addresses first, so an older heartbeat
 * value queued for the flush can never overwrite what the admin was told is
 * stored.
 */
#ifndef HC_SOFTSTATE_H
#define HC_SOFTSTATE_H

#include <stdint.h>

#include "registry.h"

#define SOFTSTATE_FLUSH_MS 1000

/* Worker, with the nodes lock held exclusively, after changing n: marks the
 * given SOFT_DIRTY_* bits for the next flush. */
void softstate_mark(node_t *n, unsigned bits);

/* Worker, no lock held: an agent that authenticated with its node token was
 * heard from although its request was refused (a body that is not JSON, too
 * large, wrong content type): refreshes last_seen and the address it came
 * from, records the online transition if any. A valid token always refreshes
 * last_seen (agents in the field upgrade on their own schedule). Takes the
 * nodes lock; an unknown id changes nothing. */
void softstate_node_seen(const char *id, const char *client_ip);

/* Registers the flush (every SOFTSTATE_FLUSH_MS and at stop) with
 * housekeeping; main thread, before housekeeping_start. */
int softstate_register(void);

/* One flush now: housekeeping thread (or main before the workers start); may
 * block on the store, holds no lock while it waits. Returns the number of
 * nodes written, or -1 when the store refused the batch (they stay marked
 * and go with the next flush). */
int softstate_flush(void);

/* Writer thread, inside a durable apply that sets these columns of node id:
 * drops pending heartbeat copies of them (takes the nodes lock). */
void softstate_forget_addresses(const char *id, int wireguard_ip, int lan_ip);

#endif

/* The ring that carries CPU captures out of the SIGPROF handler: Vyukov's bounded
 * multi-producer queue (atomics only, no locks, no allocation after init), with one consumer
 * that holds the GIL. */
#include "engine.h"

#include <stdlib.h>

static pnb_slot *g_ring;
static _Atomic uint64_t g_ring_head; /* next slot producers claim */
static uint64_t g_ring_tail;         /* next slot the (single, locked) consumer reads */

int
pnb_ring_init(void)
{
    if (g_ring == NULL) {
        g_ring = calloc(PNB_RING_SIZE, sizeof(pnb_slot));
        if (g_ring == NULL) {
            return -1;
        }
    }
    return 0;
}

int
pnb_ring_exists(void)
{
    return g_ring != NULL;
}

void
pnb_ring_reset(void)
{
    if (g_ring == NULL) {
        return;
    }
    for (uint64_t i = 0; i < PNB_RING_SIZE; i++) {
        atomic_store_explicit(&g_ring[i].seq, i, memory_order_relaxed);
    }
    atomic_store(&g_ring_head, 0);
    g_ring_tail = 0;
}

pnb_slot *
pnb_ring_claim(uint64_t *out_pos)
{
    uint64_t pos = atomic_load_explicit(&g_ring_head, memory_order_relaxed);
    for (;;) {
        pnb_slot *s = &g_ring[pos & (PNB_RING_SIZE - 1)];
        uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        int64_t dif = (int64_t)seq - (int64_t)pos;
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&g_ring_head, &pos, pos + 1,
                                                      memory_order_relaxed,
                                                      memory_order_relaxed)) {
                *out_pos = pos;
                return s;
            }
        }
        else if (dif < 0) {
            return NULL; /* full */
        }
        else {
            pos = atomic_load_explicit(&g_ring_head, memory_order_relaxed);
        }
    }
}

void
pnb_ring_publish(pnb_slot *slot, uint64_t pos)
{
    atomic_store_explicit(&slot->seq, pos + 1, memory_order_release);
}

uint64_t
pnb_ring_tail(void)
{
    return g_ring_tail;
}

pnb_slot *
pnb_ring_ready(uint64_t pos)
{
    if (g_ring == NULL) {
        return NULL;
    }
    pnb_slot *s = &g_ring[pos & (PNB_RING_SIZE - 1)];
    uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
    return seq == pos + 1 ? s : NULL;
}

void
pnb_ring_pop(pnb_slot *slot)
{
    uint64_t pos = g_ring_tail++;
    atomic_store_explicit(&slot->seq, pos + PNB_RING_SIZE, memory_order_release);
}

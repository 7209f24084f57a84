/* Per-thread CPU timers: each Python thread gets a POSIX timer on its own CPU clock (clock id
 * built from the kernel tid, never from pthread_t) that sends SIGPROF to that very thread
 * (SIGEV_THREAD_ID) every period of that thread's CPU. Called with the GIL held by one
 * consumer at a time (the Python side serialises sync/drain). */
#include "engine.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    uint64_t uid;
    long tid;
    timer_t timer;
    int seen;
} pnb_thread_timer;

static pnb_thread_timer *g_timers;
static size_t g_ntimers, g_cap_timers;
static uint64_t g_start_max_uid; /* thread states up to this uid existed at start() */
static long g_period_ns;

void
pnb_timers_configure(long period_ns, uint64_t start_max_uid)
{
    g_period_ns = period_ns;
    g_start_max_uid = start_max_uid;
}

static void
delete_timer_at(size_t i)
{
    timer_delete(g_timers[i].timer);
    g_timers[i] = g_timers[--g_ntimers];
}

void
pnb_timers_delete_all(void)
{
    while (g_ntimers > 0) {
        delete_timer_at(g_ntimers - 1);
    }
}

void
pnb_timers_forget(void)
{
    g_ntimers = 0;
}

size_t
pnb_timers_count(void)
{
    return g_ntimers;
}

static int
create_timer(uint64_t uid, long tid)
{
    if (g_ntimers == g_cap_timers) {
        size_t cap = g_cap_timers ? g_cap_timers * 2 : 16;
        pnb_thread_timer *t = realloc(g_timers, cap * sizeof(*t));
        if (t == NULL) {
            return -1;
        }
        g_timers = t;
        g_cap_timers = cap;
    }
    /* The kernel's encoding of a per-thread CPU clock: ~tid << 3 | CPUCLOCK_PERTHREAD (4) |
     * CPUCLOCK_SCHED (2). Same id as pthread_getcpuclockid, without touching pthread_t. */
    clockid_t clock = (clockid_t)((~(unsigned int)tid) << 3) | 6;
    struct sigevent sev;
    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGPROF;
    sev._sigev_un._tid = (pid_t)tid;
    timer_t timer;
    if (timer_create(clock, &sev, &timer) != 0) {
        return -1; /* thread already gone */
    }
    struct itimerspec its;
    its.it_interval.tv_sec = g_period_ns / 1000000000L;
    its.it_interval.tv_nsec = g_period_ns % 1000000000L;
    its.it_value = its.it_interval;
    /* A thread born after start() is armed at absolute CPU time `period`: CPU it used before
     * the drain thread noticed it fires at once, with the missed periods as overruns, so
     * short-lived threads are not undercounted. Older threads count from now. */
    int flags = uid > g_start_max_uid ? TIMER_ABSTIME : 0;
    if (timer_settime(timer, flags, &its, NULL) != 0) {
        timer_delete(timer);
        return -1;
    }
    pnb_thread_timer *t = &g_timers[g_ntimers++];
    t->uid = uid;
    t->tid = tid;
    t->timer = timer;
    t->seen = 1;
    return 0;
}

long
pnb_timers_sync(long exclude_tid)
{
    size_t n;
    pnb_thread_id *ids = pnb_list_threads(&n);
    if (ids == NULL) {
        return -1;
    }
    for (size_t i = 0; i < g_ntimers; i++) {
        g_timers[i].seen = 0;
    }
    long created = 0;
    for (size_t i = 0; i < n; i++) {
        long tid = ids[i].tid;
        if (tid <= 0 || tid == exclude_tid) {
            continue;
        }
        /* A thread state made by threading.Thread.start() carries its parent's tid until the
         * new thread runs; the older state (lower uid) is the one that owns the tid. */
        int shadowed = 0;
        for (size_t j = 0; j < n; j++) {
            if (j != i && ids[j].tid == tid && ids[j].uid < ids[i].uid) {
                shadowed = 1;
                break;
            }
        }
        if (shadowed) {
            continue;
        }
        size_t k;
        for (k = 0; k < g_ntimers; k++) {
            if (g_timers[k].uid == ids[i].uid) {
                break;
            }
        }
        if (k < g_ntimers && g_timers[k].tid == tid) {
            g_timers[k].seen = 1;
            continue;
        }
        if (k < g_ntimers) {
            delete_timer_at(k); /* same state, now on its own thread */
        }
        if (create_timer(ids[i].uid, tid) == 0) {
            created++;
        }
    }
    free(ids);
    for (size_t i = g_ntimers; i-- > 0;) {
        if (!g_timers[i].seen) {
            delete_timer_at(i); /* thread exited */
        }
    }
    return created;
}

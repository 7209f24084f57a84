/* CPU timers (engine.h explains the two kinds). Called with the GIL held by one consumer at
 * a time (the Python side serialises start/sync/stop); the signal handler only reads the
 * table of timed threads. */
#include "engine.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>

typedef struct {
    uint64_t uid;
    long tid;
    timer_t timer;
    int seen;
} pnb_thread_timer;

static pnb_thread_timer *g_timers;
static size_t g_ntimers, g_cap_timers;
static long g_period_ns;
static uint64_t g_start_max_uid; /* thread states up to this uid existed at start */

/* Threads with a timer of their own, for the handler: open addressing on tid, lock-free
 * (one writer, the GIL-holding consumer; readers in signal handlers). 0 empty, -1 deleted. */
#define TIMED_SIZE 8192
static _Atomic long g_timed[TIMED_SIZE];
static size_t g_ntimed_used; /* slots ever used since the last clear (incl. deleted) */

static size_t
timed_home(long tid)
{
    return (size_t)pnb_mix((uint64_t)tid) & (TIMED_SIZE - 1);
}

int
pnb_timers_thread_has_timer(long tid)
{
    size_t j = timed_home(tid);
    for (size_t n = 0; n < TIMED_SIZE; n++) {
        long v = atomic_load_explicit(&g_timed[j], memory_order_acquire);
        if (v == tid) {
            return 1;
        }
        if (v == 0) {
            return 0;
        }
        j = (j + 1) & (TIMED_SIZE - 1);
    }
    return 0;
}

static void
timed_clear(void)
{
    for (size_t i = 0; i < TIMED_SIZE; i++) {
        atomic_store_explicit(&g_timed[i], 0, memory_order_relaxed);
    }
    g_ntimed_used = 0;
}

static void timed_rebuild(void);

static int
timed_add(long tid)
{
    if ((g_ntimed_used + 1) * 4 > TIMED_SIZE * 3) {
        timed_rebuild(); /* too many deleted slots */
        if ((g_ntimed_used + 1) * 4 > TIMED_SIZE * 3) {
            return -1; /* more than 6000 timed threads: the rest rely on the process timer */
        }
    }
    size_t j = timed_home(tid);
    while (atomic_load_explicit(&g_timed[j], memory_order_relaxed) > 0) {
        j = (j + 1) & (TIMED_SIZE - 1);
    }
    if (atomic_load_explicit(&g_timed[j], memory_order_relaxed) == 0) {
        g_ntimed_used++;
    }
    atomic_store_explicit(&g_timed[j], tid, memory_order_release);
    return 0;
}

static void
timed_remove(long tid)
{
    size_t j = timed_home(tid);
    for (size_t n = 0; n < TIMED_SIZE; n++) {
        long v = atomic_load_explicit(&g_timed[j], memory_order_relaxed);
        if (v == tid) {
            atomic_store_explicit(&g_timed[j], -1, memory_order_release);
            return;
        }
        if (v == 0) {
            return;
        }
        j = (j + 1) & (TIMED_SIZE - 1);
    }
}

/* Rebuild without deleted slots. A reader may briefly miss a timed thread and count one
 * process-timer sample on it twice; this happens only after thousands of thread exits. */
static void
timed_rebuild(void)
{
    timed_clear();
    for (size_t i = 0; i < g_ntimers; i++) {
        size_t j = timed_home(g_timers[i].tid);
        while (atomic_load_explicit(&g_timed[j], memory_order_relaxed) != 0) {
            j = (j + 1) & (TIMED_SIZE - 1);
        }
        atomic_store_explicit(&g_timed[j], g_timers[i].tid, memory_order_release);
        g_ntimed_used++;
    }
}

static struct timespec
random_first_expiry(void)
{
    /* Uniform in (0, period]: a thread's CPU from now on is then counted without bias. */
    long ns = 1 + (long)(pnb_random() % (uint64_t)g_period_ns);
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    return ts;
}

/* The process timer. Since Linux 6.4 a process-wide POSIX CPU timer's signal goes to the
 * thread that is running when it expires ("posix-timers: Prefer delivery of signals to the
 * current thread"), and its clock is the scheduler's exact runtime: that timer is used. On
 * older kernels it would go to the main thread, so setitimer(ITIMER_PROF) is used instead:
 * delivered to the running thread, but on a tick-sampled clock (measured here: 4-20% too
 * many signals for the CPU used on a loaded machine). */
static int g_use_posix_process_timer = -1;
static timer_t g_process_timer;
static int g_process_timer_exists;

static int
kernel_at_least(int major, int minor)
{
    struct utsname u;
    int a = 0, b = 0;
    if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &a, &b) != 2) {
        return 0;
    }
    return a > major || (a == major && b >= minor);
}

int
pnb_timers_process_kind(void)
{
    if (g_use_posix_process_timer < 0) {
        g_use_posix_process_timer = kernel_at_least(6, 4);
    }
    return g_use_posix_process_timer;
}

int
pnb_timers_start(long period_ns, uint64_t start_max_uid)
{
    g_period_ns = period_ns;
    g_start_max_uid = start_max_uid;
    timed_clear();
    struct timespec first = random_first_expiry();
    if (pnb_timers_process_kind()) {
        struct sigevent sev;
        memset(&sev, 0, sizeof(sev));
        sev.sigev_notify = SIGEV_SIGNAL;
        sev.sigev_signo = SIGPROF;
        sev.sigev_value.sival_int = PNB_PROCESS_TIMER;
        if (timer_create(CLOCK_PROCESS_CPUTIME_ID, &sev, &g_process_timer) != 0) {
            return -1;
        }
        g_process_timer_exists = 1;
        struct itimerspec its;
        its.it_interval.tv_sec = period_ns / 1000000000L;
        its.it_interval.tv_nsec = period_ns % 1000000000L;
        its.it_value = first;
        return timer_settime(g_process_timer, 0, &its, NULL);
    }
    struct itimerval cur;
    if (getitimer(ITIMER_PROF, &cur) == 0 &&
        (cur.it_value.tv_sec != 0 || cur.it_value.tv_usec != 0)) {
        errno = EBUSY; /* somebody else's ITIMER_PROF */
        return -1;
    }
    struct itimerval it;
    it.it_interval.tv_sec = period_ns / 1000000000L;
    it.it_interval.tv_usec = (period_ns % 1000000000L) / 1000;
    it.it_value.tv_sec = first.tv_sec;
    it.it_value.tv_usec = first.tv_nsec / 1000 + 1;
    if (it.it_interval.tv_sec == 0 && it.it_interval.tv_usec == 0) {
        it.it_interval.tv_usec = 1;
    }
    return setitimer(ITIMER_PROF, &it, NULL);
}

void
pnb_timers_disarm(void)
{
    struct itimerspec off;
    memset(&off, 0, sizeof(off));
    if (g_process_timer_exists) {
        timer_settime(g_process_timer, 0, &off, NULL);
    }
    else if (!pnb_timers_process_kind()) {
        struct itimerval zero;
        memset(&zero, 0, sizeof(zero));
        setitimer(ITIMER_PROF, &zero, NULL);
    }
    for (size_t i = 0; i < g_ntimers; i++) {
        timer_settime(g_timers[i].timer, 0, &off, NULL);
    }
}

static void
delete_timer_at(size_t i)
{
    timed_remove(g_timers[i].tid);
    timer_delete(g_timers[i].timer);
    g_timers[i] = g_timers[--g_ntimers];
}

void
pnb_timers_delete_all(void)
{
    pnb_timers_disarm();
    if (g_process_timer_exists) {
        timer_delete(g_process_timer);
        g_process_timer_exists = 0;
    }
    while (g_ntimers > 0) {
        delete_timer_at(g_ntimers - 1);
    }
    timed_clear();
}

void
pnb_timers_forget(void)
{
    g_ntimers = 0;
    g_process_timer_exists = 0;
    timed_clear();
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
    sev.sigev_value.sival_int = PNB_THREAD_TIMER;
    sev._sigev_un._tid = (pid_t)tid;
    timer_t timer;
    if (timer_create(clock, &sev, &timer) != 0) {
        return -1; /* thread already gone */
    }
    struct itimerspec its;
    its.it_interval.tv_sec = g_period_ns / 1000000000L;
    its.it_interval.tv_nsec = g_period_ns % 1000000000L;
    its.it_value = random_first_expiry();
    /* A thread born after start is armed at an absolute CPU time in (0, period]: the CPU it
     * used before the drain saw it fires at once, the missed periods as overruns, so its
     * timer counts it from birth (and the process timer's captures of it are dropped by the
     * drain). A thread that existed at start counts from now. From here on, process-timer
     * signals that land on the thread are ignored. */
    int flags = uid > g_start_max_uid ? TIMER_ABSTIME : 0;
    if (timed_add(tid) < 0) {
        timer_delete(timer);
        return -1;
    }
    if (timer_settime(timer, flags, &its, NULL) != 0) {
        timed_remove(tid);
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

/* profile.c - per-stage times of a profiled pipeline call
 * (convrt_profile.h).  The hooks read CLOCK_MONOTONIC; a stage's time is
 * added when it is left, so a stage that is entered and never left (a
 * failed call) counts nothing. */
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "convrt_profile.h"

typedef struct Profile {
    int64_t  nstages;
    int64_t *ns;            /* per stage: total nanoseconds */
    int64_t *calls;
    int64_t  entered_at;    /* of the stage entered last */
} Profile;

static Profile prof;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void convrt_profile_enter(int64_t stage)
{
    if (prof.ns && stage >= 0 && stage < prof.nstages)
        prof.entered_at = now_ns();
}

void convrt_profile_leave(int64_t stage)
{
    if (!prof.ns || stage < 0 || stage >= prof.nstages)
        return;
    prof.ns[stage] += now_ns() - prof.entered_at;
    prof.calls[stage]++;
}

int convrt_profile_start(int64_t nstages)
{
    convrt_profile_stop(NULL, NULL, 0);
    if (nstages < 0)
        return convrt_report(CONVRT_E_INVALID, "convrt_profile_start: %lld stages",
                             (long long)nstages);
    prof.ns = calloc((size_t)nstages + 1, sizeof *prof.ns);
    prof.calls = calloc((size_t)nstages + 1, sizeof *prof.calls);
    if (!prof.ns || !prof.calls) {
        convrt_profile_stop(NULL, NULL, 0);
        return convrt_report(CONVRT_E_NOMEM, "out of memory for the profile of %lld stages",
                             (long long)nstages);
    }
    prof.nstages = nstages;
    return 0;
}

void convrt_profile_stop(double *seconds, int64_t *calls, int64_t n)
{
    for (int64_t k = 0; k < n; k++) {
        bool have = prof.ns && k < prof.nstages;
        if (seconds)
            seconds[k] = have ? (double)prof.ns[k] * 1e-9 : 0.0;
        if (calls)
            calls[k] = have ? prof.calls[k] : 0;
    }
    free(prof.ns);
    free(prof.calls);
    prof = (Profile){ 0 };
}

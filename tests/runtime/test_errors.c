/* Error codes, their descriptions, and the replaceable error handler. */
#include <pthread.h>

#include "common.h"

TestSuite(errors);

Test(errors, strerror_every_code_distinct_and_nonnull)
{
    const char *seen[16];
    for (int code = 0; code >= -15; code--) {
        const char *s = convrt_strerror(code);
        cr_assert_not_null(s);
        cr_expect_gt(strlen(s), 3);
        cr_expect_neq(strcmp(s, convrt_strerror(-999)), 0, "code %d has the unknown text", code);
        for (int k = 0; k < -code; k++)
            cr_expect_neq(strcmp(s, seen[k]), 0, "codes %d and %d share \"%s\"", code, -k, s);
        seen[-code] = s;
    }
    cr_expect_str_eq(convrt_strerror(CONVRT_OK), "success");
    cr_expect_str_eq(convrt_strerror(CONVRT_E_FORMAT), "malformed or unsupported file");
    cr_expect_not_null(convrt_strerror(1));
    cr_expect_not_null(convrt_strerror(-16));
    cr_expect_not_null(convrt_strerror(INT32_MIN));
    cr_expect_str_eq(convrt_strerror(-16), "unknown error code");
}

Test(errors, report_formats_and_returns_code)
{
    capture_start();
    cr_expect_eq(convrt_report(CONVRT_E_IO, "file '%s' line %d", "x.npy", 42), CONVRT_E_IO);
    cr_expect_eq(cap.count, 1);
    cr_expect_eq(cap.code, CONVRT_E_IO);
    cr_expect_str_eq(cap.message, "file 'x.npy' line 42");
    convrt_set_error_handler(NULL, NULL);
}

Test(errors, long_messages_are_not_truncated)
{
    capture_start();
    char big[900];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    convrt_report(CONVRT_E_INVALID, "<%s>", big);
    cr_expect_eq(strlen(cap.message), sizeof big - 1 + 2);
    cr_expect_eq(cap.message[sizeof big], '>');
    convrt_set_error_handler(NULL, NULL);
}

static int other_count;
static void other_handler(void *user, int code, const char *message)
{
    (void)message;
    *(int *)user = code;
    other_count++;
}

Test(errors, handler_replaced_then_restored)
{
    capture_start();
    convrt_report(CONVRT_E_RANK, "one");
    cr_expect_eq(cap.count, 1);

    int last = 0;
    convrt_set_error_handler(other_handler, &last);
    convrt_report(CONVRT_E_DIM, "two");
    cr_expect_eq(last, CONVRT_E_DIM, "user pointer passed through");
    cr_expect_eq(other_count, 1);
    cr_expect_eq(cap.count, 1, "previous handler no longer called");

    convrt_set_error_handler(NULL, NULL);
    convrt_report(CONVRT_E_SHAPE, "three");
    cr_expect_eq(other_count, 1, "replaced handler no longer called");
    cr_expect_eq(cap.count, 1);
}

Test(errors, default_handler_prints_to_stderr, .init = cr_redirect_stderr)
{
    convrt_set_error_handler(NULL, NULL);
    convrt_report(CONVRT_E_IO, "cannot load '%s'", "a.png");
    fflush(stderr);
    cr_expect_stderr_eq_str("convrt: error: cannot load 'a.png'\n");
}

/* A save over a file with another hard link warns (and succeeds). */
static void save_over_hard_link(char *dir, size_t size)
{
    snprintf(dir, size, "/tmp/convrt-warn-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char a[300], b[300];
    snprintf(a, sizeof a, "%s/a.npy", dir);
    snprintf(b, sizeof b, "%s/b.npy", dir);
    FILE *f = fopen(a, "w");
    cr_assert_not_null(f);
    fclose(f);
    cr_assert_eq(link(a, b), 0);
    float v = 1;
    convrt_tensor t = {.data = &v, .rank = 0};
    cr_expect_eq(convrt_npy_save(a, &t), 0);
    unlink(a);
    unlink(b);
    rmdir(dir);
}

Test(errors, warnings_go_to_their_own_handler)
{
    capture_start();
    char dir[64];
    save_over_hard_link(dir, sizeof dir);
    cr_expect_eq(cap.count, 0, "the error handler saw: %s", cap.message);
    cr_expect_eq(warned.count, 1);
    cr_expect_eq(warned.code, CONVRT_W_HARD_LINK);
    convrt_set_error_handler(NULL, NULL);
    convrt_set_warning_handler(NULL, NULL);
}

Test(errors, default_warning_handler_prints_to_stderr, .init = cr_redirect_stderr)
{
    convrt_set_warning_handler(NULL, NULL);
    char dir[64];
    save_over_hard_link(dir, sizeof dir);
    fflush(stderr);
    char want[400];
    snprintf(want, sizeof want,
             "convrt: warning: '%s/a.npy' had 1 other hard link; it was replaced by a new file, "
             "and the other names keep the old contents\n", dir);
    cr_expect_stderr_eq_str(want);
}

static int concurrent_count;
static pthread_mutex_t concurrent_lock = PTHREAD_MUTEX_INITIALIZER;
static void counting_handler(void *user, int code, const char *message)
{
    (void)user, (void)code, (void)message;
    pthread_mutex_lock(&concurrent_lock);
    concurrent_count++;
    pthread_mutex_unlock(&concurrent_lock);
}

static void *reporter(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++)
        convrt_report(CONVRT_E_INVALID, "thread report %d", i);
    return NULL;
}

Test(errors, reports_from_many_threads)
{
    convrt_set_error_handler(counting_handler, NULL);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, reporter, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_expect_eq(concurrent_count, 4000);
    convrt_set_error_handler(NULL, NULL);
}

/* A thread's own handler takes that thread's errors; other threads' still
 * go to the process-wide handler, which it never replaces. */
static void *report_elsewhere(void *arg)
{
    (void)arg;
    convrt_report(CONVRT_E_DIM, "from another thread");
    return NULL;
}

Test(errors, thread_handler_takes_only_its_threads_errors)
{
    capture_start();
    captured mine = { 0 };
    convrt_set_thread_error_handler(capture_handler, &mine);
    cr_expect_eq(convrt_report(CONVRT_E_IO, "here %d", 1), CONVRT_E_IO);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, report_elsewhere, NULL), 0);
    pthread_join(t, NULL);
    cr_expect_eq(mine.count, 1);
    cr_expect_str_eq(mine.message, "here 1");
    expect_report(CONVRT_E_DIM, "from another thread");
    convrt_set_thread_error_handler(NULL, NULL);
    convrt_report(CONVRT_E_RANK, "back");
    cr_expect_eq(mine.count, 1, "removed");
    cr_expect_eq(cap.count, 2);
    cr_expect_str_eq(cap.message, "back");
    convrt_set_error_handler(NULL, NULL);
}

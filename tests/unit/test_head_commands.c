/* The heads' screenshot and log commands (fleet/head_commands.c): run for
 * real under dash and bash --posix (two different POSIX shells: what works in
 * both does not lean on one shell's extensions), against files made here,
 * and parsed back with the parsers the server uses. Also: the age cut-off's
 * calendar arithmetic against gmtime, quoting of hostile paths, shellcheck
 * in POSIX mode, and the PowerShell texts (no PowerShell on this machine:
 * checked as text). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "head_commands.h"

static const char *const shells[][4] = {
    {"dash", "-c", NULL, NULL},
    {"bash", "--posix", "-c", NULL},
};
#define NSHELLS (sizeof(shells) / sizeof(shells[0]))

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/hc-headcmd-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void sys(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if (system(cmd) != 0)
        fail_msg("failed: %s", cmd);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

typedef struct {
    char *out;
    size_t len;
    int exit_code;
} run_t;

/* runs cmd with shells[s] in dir (cwd), with PATH prefixed by path_prefix
 * when given and HOME set to home when given */
static run_t run_in(size_t s, const char *cmd, const char *path_prefix, const char *home)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        if (chdir(dir) != 0)
            _exit(126);
        if (path_prefix != NULL) {
            char p[2048];
            snprintf(p, sizeof(p), "%s:%s", path_prefix, getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
            setenv("PATH", p, 1);
        }
        if (home != NULL)
            setenv("HOME", home, 1);
        const char *argv[5];
        size_t i = 0;
        for (; shells[s][i] != NULL; i++)
            argv[i] = shells[s][i];
        argv[i++] = cmd;
        argv[i] = NULL;
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    run_t r = {0};
    size_t cap = 0;
    for (;;) {
        if (r.len + 65536 > cap) {
            cap = (r.len + 65536) * 2;
            r.out = realloc(r.out, cap);
            assert_non_null(r.out);
        }
        ssize_t n = read(fds[0], r.out + r.len, cap - r.len - 1);
        if (n <= 0)
            break;
        r.len += (size_t)n;
    }
    r.out[r.len] = '\0';
    close(fds[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r;
}

static run_t run(size_t s, const char *cmd)
{
    return run_in(s, cmd, NULL, NULL);
}

/* a JPEG-like file: SOI, every byte value, some more, EOI */
static unsigned char *jpeg_bytes(size_t extra, size_t *len)
{
    size_t n = 4 + 256 + extra + 2;
    unsigned char *b = malloc(n);
    assert_non_null(b);
    b[0] = 0xFF, b[1] = 0xD8, b[2] = 0xFF, b[3] = 0xE0;
    for (int i = 0; i < 256; i++)
        b[4 + i] = (unsigned char)i;
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < extra; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        b[260 + i] = (unsigned char)x;
    }
    b[n - 2] = 0xFF, b[n - 1] = 0xD9;
    *len = n;
    return b;
}

static head_shot_t shoot(size_t s, const char *path, uint64_t max_age, uint64_t max_bytes, unsigned char **jpeg,
                         uint64_t *size)
{
    char *cmd = head_screenshot_command(HEAD_SHELL_POSIX, path, max_age, max_bytes);
    assert_non_null(cmd);
    run_t r = run(s, cmd);
    free(cmd);
    if (r.exit_code != 0)
        fail_msg("%s: the screenshot command exited %d: %s", shells[s][0], r.exit_code, r.out);
    char err[200] = "";
    head_shot_t st = head_screenshot_parse(r.out, r.len, jpeg, size, err, sizeof(err));
    free(r.out);
    return st;
}

/* ---- which shell, which paths ---- */

static void test_shell_for_os(void **state)
{
    (void)state;
    assert_int_equal(head_shell_for_os("darwin"), HEAD_SHELL_POSIX);
    assert_int_equal(head_shell_for_os("macos"), HEAD_SHELL_POSIX);
    assert_int_equal(head_shell_for_os("linux"), HEAD_SHELL_POSIX);
    assert_int_equal(head_shell_for_os(""), HEAD_SHELL_POSIX);
    assert_int_equal(head_shell_for_os("windows"), HEAD_SHELL_POWERSHELL);
    assert_int_equal(head_shell_for_os("Windows"), HEAD_SHELL_POWERSHELL);
    assert_int_equal(head_shell_for_os("ipados"), HEAD_SHELL_NONE);
    assert_int_equal(head_shell_for_os("iPadOS"), HEAD_SHELL_NONE);
    assert_int_equal(head_shell_for_os("ios"), HEAD_SHELL_NONE);
    assert_string_equal(head_log_default_path("darwin"), "$HOME/Library/Logs/hydrahead/agent.log");
    assert_string_equal(head_log_default_path("linux"), "/var/log/hydrahead/agent.log");
    assert_string_equal(head_log_default_path("windows"), "%ProgramData%\\hydrahead\\agent.log");
    assert_null(head_log_default_path("ipados"));
    assert_null(head_screenshot_command(HEAD_SHELL_NONE, "/tmp/x.jpg", 30, 1000));
    assert_null(head_logs_command(HEAD_SHELL_NONE, "ipados", NULL, 1000));
}

static void test_path_ok(void **state)
{
    (void)state;
    assert_true(head_path_ok(HEAD_SHELL_POSIX, "/tmp/hydra-live-screenshot.jpg"));
    assert_true(head_path_ok(HEAD_SHELL_POSIX, "~/Library/Logs/hydrahead/agent.log"));
    assert_true(head_path_ok(HEAD_SHELL_POSIX, "/tmp/it's; rm -rf / $(x) `y`.jpg"));
    assert_false(head_path_ok(HEAD_SHELL_POSIX, ""));
    assert_false(head_path_ok(HEAD_SHELL_POSIX, NULL));
    assert_false(head_path_ok(HEAD_SHELL_POSIX, "tmp/x.jpg"));
    assert_false(head_path_ok(HEAD_SHELL_POSIX, "~root/x"));
    assert_false(head_path_ok(HEAD_SHELL_POSIX, "/tmp/a\nb"));
    assert_false(head_path_ok(HEAD_SHELL_POSIX, "/tmp/a\rb"));
    assert_false(head_path_ok(HEAD_SHELL_POSIX, "/tmp/a\tb"));
    assert_false(head_path_ok(HEAD_SHELL_POSIX, "/tmp/a\x7f"));
    assert_false(head_path_ok(HEAD_SHELL_POSIX, "C:\\x.jpg"));
    char longp[HEAD_PATH_MAX + 2];
    memset(longp, 'a', sizeof(longp));
    longp[0] = '/';
    longp[HEAD_PATH_MAX] = '\0';
    assert_true(head_path_ok(HEAD_SHELL_POSIX, longp));
    longp[HEAD_PATH_MAX] = 'a';
    longp[HEAD_PATH_MAX + 1] = '\0';
    assert_false(head_path_ok(HEAD_SHELL_POSIX, longp));
    assert_true(head_path_ok(HEAD_SHELL_POWERSHELL, "C:\\ProgramData\\hydrahead\\agent.log"));
    assert_true(head_path_ok(HEAD_SHELL_POWERSHELL, "d:/shots/x.jpg"));
    assert_true(head_path_ok(HEAD_SHELL_POWERSHELL, "\\\\kiosk\\share\\x.jpg"));
    assert_false(head_path_ok(HEAD_SHELL_POWERSHELL, "x.jpg"));
    assert_false(head_path_ok(HEAD_SHELL_POWERSHELL, "C:x.jpg"));
    assert_false(head_path_ok(HEAD_SHELL_POWERSHELL, "C:\\a\nb"));
    assert_false(head_path_ok(HEAD_SHELL_NONE, "/tmp/x"));
    /* a refused path gives no command */
    assert_null(head_screenshot_command(HEAD_SHELL_POSIX, "relative.jpg", 30, 1000));
    assert_null(head_logs_command(HEAD_SHELL_POSIX, "linux", "/a\nb", 1000));
}

/* ---- the screenshot command, run ---- */

static void test_screenshot_exact_bytes(void **state)
{
    (void)state;
    size_t len;
    unsigned char *want = jpeg_bytes(300 * 1024, &len); /* base64 spans thousands of lines */
    char path[400];
    snprintf(path, sizeof(path), "%s/shot.jpg", dir);
    write_file(path, want, len);
    for (size_t s = 0; s < NSHELLS; s++) {
        unsigned char *got = NULL;
        uint64_t size = 0;
        assert_int_equal(shoot(s, path, 30, 4 * 1024 * 1024, &got, &size), HEAD_SHOT_OK);
        assert_int_equal(size, len);
        assert_memory_equal(got, want, len);
        free(got);
        /* exactly at the limit is fine, one byte less is too large */
        assert_int_equal(shoot(s, path, 30, len, &got, &size), HEAD_SHOT_OK);
        free(got);
        assert_int_equal(shoot(s, path, 30, len - 1, &got, &size), HEAD_SHOT_TOO_LARGE);
        assert_null(got);
        assert_int_equal(size, len);
    }
    free(want);
}

static void test_screenshot_stale_missing_not_jpeg(void **state)
{
    (void)state;
    size_t len;
    unsigned char *bytes = jpeg_bytes(10, &len);
    char path[400];
    snprintf(path, sizeof(path), "%s/old.jpg", dir);
    write_file(path, bytes, len);
    sys("touch -t 202001020304.05 '%s'", path);
    for (size_t s = 0; s < NSHELLS; s++) {
        unsigned char *got = NULL;
        uint64_t size = 0;
        assert_int_equal(shoot(s, path, 30, 1 << 20, &got, &size), HEAD_SHOT_STALE);
        /* a max age reaching back past 2020 takes it */
        assert_int_equal(shoot(s, path, 20ULL * 365 * 86400, 1 << 20, &got, &size), HEAD_SHOT_OK);
        free(got);
        assert_int_equal(shoot(s, "/nonexistent/hydra-live-screenshot.jpg", 30, 1 << 20, &got, &size),
                         HEAD_SHOT_MISSING);
        /* a directory is not a screenshot */
        assert_int_equal(shoot(s, dir, 30, 1 << 20, &got, &size), HEAD_SHOT_MISSING);
    }
    snprintf(path, sizeof(path), "%s/shot.png", dir);
    write_file(path, "\x89PNG\r\n\x1a\n", 8);
    for (size_t s = 0; s < NSHELLS; s++) {
        unsigned char *got = NULL;
        uint64_t size = 0;
        assert_int_equal(shoot(s, path, 30, 1 << 20, &got, &size), HEAD_SHOT_NOT_JPEG);
        assert_null(got);
    }
    free(bytes);
}

/* a path full of shell syntax is read as a file name, never run */
static void test_screenshot_hostile_path(void **state)
{
    (void)state;
    size_t len;
    unsigned char *want = jpeg_bytes(100, &len);
    char path[600];
    snprintf(path, sizeof(path), "%s/it's; touch PWNED1; $(touch PWNED2) `touch PWNED3` \"q\" \\ '\\'' $HOME*.jpg",
             dir);
    write_file(path, want, len);
    for (size_t s = 0; s < NSHELLS; s++) {
        unsigned char *got = NULL;
        uint64_t size = 0;
        assert_int_equal(shoot(s, path, 30, 1 << 20, &got, &size), HEAD_SHOT_OK);
        assert_memory_equal(got, want, len);
        free(got);
        char *cmd = head_logs_command(HEAD_SHELL_POSIX, "linux", path, 1 << 20);
        run_t r = run(s, cmd);
        free(cmd);
        const char *p, *t;
        size_t pl, tl;
        int cut;
        assert_int_equal(head_logs_parse(r.out, r.len, &p, &pl, &t, &tl, &cut), HEAD_LOGS_OK);
        assert_int_equal(pl, strlen(path));
        assert_memory_equal(p, path, pl);
        free(r.out);
    }
    for (int i = 1; i <= 3; i++) {
        char pw[400];
        struct stat st;
        snprintf(pw, sizeof(pw), "%s/PWNED%d", dir, i);
        assert_int_not_equal(stat(pw, &st), 0);
    }
    free(want);
}

/* the cut-off is max_age before the head's clock, in UTC: a fake `date`
 * fixes the clock and a fake `touch` reports the stamp it was given, which
 * must equal gmtime(clock - max_age) for every calendar corner */
static void test_cutoff_arithmetic(void **state)
{
    (void)state;
    char bin[400], p[500];
    snprintf(bin, sizeof(bin), "%s/fakebin", dir);
    mkdir(bin, 0700);
    snprintf(p, sizeof(p), "%s/date", bin);
    const char *fake_date = "#!/bin/sh\ncat \"$FAKE_NOW_FILE\"\n";
    write_file(p, fake_date, strlen(fake_date));
    chmod(p, 0700);
    snprintf(p, sizeof(p), "%s/touch", bin);
    const char *fake_touch = "#!/bin/sh\nprintf 'stamp=%s tz=%s\\n' \"$2\" \"$TZ\"; exit 9\n";
    write_file(p, fake_touch, strlen(fake_touch));
    chmod(p, 0700);
    /* every other pair of runs with the one-true-awk, the awk macOS ships
     * (Debian's original-awk, installed by ./dev test), beside Debian's mawk */
    char bin_bwk[1200];
    snprintf(bin_bwk, sizeof(bin_bwk), "%s:%s/fakebin-bwk", bin, dir);
    int have_bwk = access("/usr/bin/original-awk", X_OK) == 0;
    if (have_bwk)
        sys("mkdir -p '%s/fakebin-bwk' && ln -sf /usr/bin/original-awk '%s/fakebin-bwk/awk'", dir, dir);
    char nowfile[500];
    snprintf(nowfile, sizeof(nowfile), "%s/now", dir);
    setenv("FAKE_NOW_FILE", nowfile, 1);
    char shot[500];
    snprintf(shot, sizeof(shot), "%s/cut.jpg", dir);
    write_file(shot, "\xff\xd8", 2);

    /* corners, then pseudo-random instants from 1971 to 2199 */
    int64_t fixed[][2] = {
        {1709251210, 30},        /* 2024-03-01 00:00:10 - 30 s: leap day */
        {1735689605, 10},        /* 2025-01-01 00:00:05: into the old year */
        {1677628800, 86400},     /* 2023-03-01 - 1 day: 28 February */
        {4107542400, 1},         /* 2100-03-01: 2100 is no leap year */
        {951782400, 1},          /* 2000-02-29 00:00:00 - 1: 2000 is one */
        {31536000, 0},           /* 1971-01-01 exactly */
        {1700000000, 3000000},   /* five weeks back */
    };
    size_t nfixed = sizeof(fixed) / sizeof(fixed[0]);
    uint32_t x = 88172645u;
    for (size_t i = 0; i < nfixed + 40; i++) {
        int64_t now, age;
        if (i < nfixed) {
            now = fixed[i][0];
            age = fixed[i][1];
        } else {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            now = 31536000 + (int64_t)(x % 7226000000u);
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            age = (int64_t)(x % 100000000u);
            if (age > now - 86400)
                age = now / 2;
        }
        time_t t = (time_t)now;
        struct tm tm;
        gmtime_r(&t, &tm);
        char line[64];
        int n = snprintf(line, sizeof(line), "%04d %02d %02d %02d %02d %02d\n", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        write_file(nowfile, line, (size_t)n);
        t = (time_t)(now - age);
        gmtime_r(&t, &tm);
        char want[80];
        snprintf(want, sizeof(want), "stamp=%04d%02d%02d%02d%02d.%02d tz=UTC0\n", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        char *cmd = head_screenshot_command(HEAD_SHELL_POSIX, shot, (uint64_t)age, 1 << 20);
        run_t r = run_in(i % NSHELLS, cmd, have_bwk && (i / NSHELLS) % 2 ? bin_bwk : bin, NULL);
        free(cmd);
        assert_int_equal(r.exit_code, 72); /* the fake touch fails: the command stops there */
        if (strcmp(r.out, want) != 0)
            fail_msg("now=%lld age=%lld: got %s want %s", (long long)now, (long long)age, r.out, want);
        free(r.out);
    }
    unsetenv("FAKE_NOW_FILE");
}

/* the real clock: 5 s old is fresh at 30 s, 60 s old is stale, both shells */
static void test_screenshot_age_boundary(void **state)
{
    (void)state;
    char path[400];
    snprintf(path, sizeof(path), "%s/age.jpg", dir);
    write_file(path, "\xff\xd8\xff\xd9", 4);
    time_t t = time(NULL) - 5;
    struct tm tm;
    gmtime_r(&t, &tm);
    sys("TZ=UTC0 touch -t %04d%02d%02d%02d%02d.%02d '%s'", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
        tm.tm_min, tm.tm_sec, path);
    for (size_t s = 0; s < NSHELLS; s++) {
        unsigned char *got = NULL;
        uint64_t size;
        assert_int_equal(shoot(s, path, 30, 1000, &got, &size), HEAD_SHOT_OK);
        free(got);
        assert_int_equal(shoot(s, path, 2, 1000, &got, &size), HEAD_SHOT_STALE);
    }
    t = time(NULL) - 60;
    gmtime_r(&t, &tm);
    sys("TZ=UTC0 touch -t %04d%02d%02d%02d%02d.%02d '%s'", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
        tm.tm_min, tm.tm_sec, path);
    for (size_t s = 0; s < NSHELLS; s++) {
        unsigned char *got = NULL;
        uint64_t size;
        assert_int_equal(shoot(s, path, 30, 1000, &got, &size), HEAD_SHOT_STALE);
        assert_int_equal(shoot(s, path, 120, 1000, &got, &size), HEAD_SHOT_OK);
        free(got);
    }
}

/* ---- the log command, run ---- */

static size_t count_lines(const char *t, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += t[i] == '\n';
    return c;
}

static void test_logs_tail(void **state)
{
    (void)state;
    char path[400];
    snprintf(path, sizeof(path), "%s/agent.log", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 1; i <= 500; i++)
        fprintf(f, "line %03d 'quoted' \"double\" $HOME `x` ; | é\n", i);
    fclose(f);
    char want[200 * 64];
    size_t wl = 0;
    for (int i = 301; i <= 500; i++)
        wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "line %03d 'quoted' \"double\" $HOME `x` ; | é\n", i);
    for (size_t s = 0; s < NSHELLS; s++) {
        char *cmd = head_logs_command(HEAD_SHELL_POSIX, "linux", path, 1 << 20);
        run_t r = run(s, cmd);
        free(cmd);
        assert_int_equal(r.exit_code, 0);
        const char *p, *t;
        size_t pl, tl;
        int cut;
        assert_int_equal(head_logs_parse(r.out, r.len, &p, &pl, &t, &tl, &cut), HEAD_LOGS_OK);
        assert_int_equal(pl, strlen(path));
        assert_memory_equal(p, path, pl);
        assert_int_equal(cut, 0);
        assert_int_equal(tl, wl);
        assert_memory_equal(t, want, wl);
        free(r.out);

        /* cut to 1000 bytes: whole lines only, the most recent ones */
        cmd = head_logs_command(HEAD_SHELL_POSIX, "linux", path, 1000);
        r = run(s, cmd);
        free(cmd);
        assert_int_equal(head_logs_parse(r.out, r.len, &p, &pl, &t, &tl, &cut), HEAD_LOGS_OK);
        assert_int_equal(cut, 1);
        assert_true(tl <= 1000 && tl > 800);
        assert_memory_equal(t, want + wl - tl, tl);
        assert_memory_equal(t, "line ", 5);
        assert_int_equal(count_lines(t, tl), tl / (wl / 200));
        free(r.out);
    }
}

static void test_logs_missing_home_default(void **state)
{
    (void)state;
    char home[400], p[500];
    snprintf(home, sizeof(home), "%s/home dir's", dir);
    snprintf(p, sizeof(p), "mkdir -p \"%s/Library/Logs/hydrahead\"", home);
    sys("%s", p);
    for (size_t s = 0; s < NSHELLS; s++) {
        /* darwin's default lives under the agent's $HOME */
        char *cmd = head_logs_command(HEAD_SHELL_POSIX, "darwin", NULL, 1 << 20);
        run_t r = run_in(s, cmd, NULL, home);
        const char *pp, *t;
        size_t pl, tl;
        int cut;
        char want[600];
        snprintf(want, sizeof(want), "%s/Library/Logs/hydrahead/agent.log", home);
        assert_int_equal(head_logs_parse(r.out, r.len, &pp, &pl, &t, &tl, &cut), HEAD_LOGS_MISSING);
        assert_int_equal(pl, strlen(want));
        assert_memory_equal(pp, want, pl);
        free(r.out);
        write_file(want, "one\r\ntwo\n", 9);
        r = run_in(s, cmd, NULL, home);
        free(cmd);
        assert_int_equal(head_logs_parse(r.out, r.len, &pp, &pl, &t, &tl, &cut), HEAD_LOGS_OK);
        assert_int_equal(tl, 9);
        assert_memory_equal(t, "one\r\ntwo\n", 9);
        free(r.out);
        /* "~/" in a reported path is the agent's home as well */
        cmd = head_logs_command(HEAD_SHELL_POSIX, "linux", "~/Library/Logs/hydrahead/agent.log", 1 << 20);
        r = run_in(s, cmd, NULL, home);
        free(cmd);
        assert_int_equal(head_logs_parse(r.out, r.len, &pp, &pl, &t, &tl, &cut), HEAD_LOGS_OK);
        assert_memory_equal(pp, want, pl);
        free(r.out);
        unlink(want);
        /* linux: a fixed path */
        cmd = head_logs_command(HEAD_SHELL_POSIX, "linux", NULL, 1 << 20);
        assert_non_null(strstr(cmd, "f='/var/log/hydrahead/agent.log'\n"));
        free(cmd);
    }
}

/* ---- parsers on hand-made output ---- */

static void test_parse_edges(void **state)
{
    (void)state;
    unsigned char *j;
    uint64_t size;
    char err[200];
    const char ok[] = "motd noise\nhydra-screenshot: ok 4\r\n/9j/\n2Q==\n";
    assert_int_equal(head_screenshot_parse(ok, strlen(ok), &j, &size, err, sizeof(err)), HEAD_SHOT_OK);
    assert_int_equal(size, 4);
    assert_memory_equal(j, "\xff\xd8\xff\xd9", 4);
    free(j);
    const char *bad[] = {
        "",
        "no marker\n",
        "hydra-screenshot: ok\n/9j/2Q==\n",     /* no size */
        "hydra-screenshot: ok 5\n/9j/2Q==\n",   /* size disagrees */
        "hydra-screenshot: ok 4\n/9j/2Q\n",     /* cut short */
        "hydra-screenshot: ok 4\n/9j/2Q==\nxx", /* trailing junk */
        "hydra-screenshot: ok 4\n/9j-2Q==\n",   /* url-safe alphabet */
        "hydra-screenshot: ok 0\n",
        "hydra-screenshot: ok -4\n",
        "hydra-screenshot: fine\n",
        "hydra-screenshot: missing please\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        j = (unsigned char *)"x";
        if (head_screenshot_parse(bad[i], strlen(bad[i]), &j, &size, err, sizeof(err)) != HEAD_SHOT_MALFORMED)
            fail_msg("accepted: %s", bad[i]);
        assert_null(j);
        assert_true(err[0] != '\0');
    }
    assert_int_equal(head_screenshot_parse("hydra-screenshot: missing\n", 26, &j, &size, err, sizeof(err)),
                     HEAD_SHOT_MISSING);
    assert_int_equal(head_screenshot_parse("hydra-screenshot: stale", 23, &j, &size, err, sizeof(err)),
                     HEAD_SHOT_STALE);
    assert_int_equal(head_screenshot_parse("hydra-screenshot: too-large 99999999\n", 37, &j, &size, err,
                                           sizeof(err)),
                     HEAD_SHOT_TOO_LARGE);
    assert_int_equal(size, 99999999);

    const char *p, *t;
    size_t pl, tl;
    int cut;
    assert_int_equal(head_logs_parse("x", 1, &p, &pl, &t, &tl, &cut), HEAD_LOGS_MALFORMED);
    assert_int_equal(head_logs_parse("hydra-logs: ok\n", 15, &p, &pl, &t, &tl, &cut), HEAD_LOGS_MALFORMED);
    assert_int_equal(head_logs_parse("hydra-logs: maybe /x\n", 21, &p, &pl, &t, &tl, &cut), HEAD_LOGS_MALFORMED);
    assert_int_equal(head_logs_parse("hydra-logs: unreadable /x\n", 26, &p, &pl, &t, &tl, &cut),
                     HEAD_LOGS_UNREADABLE);
    const char c[] = "hydra-logs: cut C:\\a b\\agent.log\r\nrtial\nwhole 1\nwhole 2";
    assert_int_equal(head_logs_parse(c, strlen(c), &p, &pl, &t, &tl, &cut), HEAD_LOGS_OK);
    assert_int_equal(cut, 1);
    assert_int_equal(pl, strlen("C:\\a b\\agent.log"));
    assert_memory_equal(p, "C:\\a b\\agent.log", pl);
    assert_int_equal(tl, strlen("whole 1\nwhole 2"));
    assert_memory_equal(t, "whole 1\nwhole 2", tl);
    assert_int_equal(head_logs_parse("hydra-logs: ok /x", 17, &p, &pl, &t, &tl, &cut), HEAD_LOGS_OK);
    assert_int_equal(tl, 0);
}

/* ---- static checks ---- */

static void test_shellcheck_posix(void **state)
{
    (void)state;
    if (system("command -v shellcheck >/dev/null 2>&1") != 0)
        skip();
    char *cmds[] = {
        head_screenshot_command(HEAD_SHELL_POSIX, "/tmp/hydra-live-screenshot.jpg", 30, 1000000),
        head_screenshot_command(HEAD_SHELL_POSIX, "~/x'y.jpg", 30, 1000000),
        head_logs_command(HEAD_SHELL_POSIX, "darwin", NULL, 1000000),
        head_logs_command(HEAD_SHELL_POSIX, "linux", "/var/log/it's.log", 1000000),
    };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        assert_non_null(cmds[i]);
        char path[400];
        snprintf(path, sizeof(path), "%s/check%zu.sh", dir, i);
        write_file(path, cmds[i], strlen(cmds[i]));
        /* SC2016: the awk program is single-quoted on purpose */
        sys("shellcheck --shell=sh --severity=info --exclude=SC2016 '%s'", path);
        free(cmds[i]);
    }
}

static void test_powershell_text(void **state)
{
    (void)state;
    char *c = head_screenshot_command(HEAD_SHELL_POWERSHELL, "C:\\Users\\kiosk\\it's \xe2\x80\x99q\xe2\x80\x98.jpg", 30,
                                      5000);
    assert_non_null(c);
    /* every quote character doubled, nothing else touched */
    assert_non_null(strstr(c, "$f = 'C:\\Users\\kiosk\\it''s \xe2\x80\x99\xe2\x80\x99q\xe2\x80\x98\xe2\x80\x98.jpg';"));
    assert_non_null(strstr(c, "Test-Path -LiteralPath $f -PathType Leaf"));
    assert_non_null(strstr(c, "([DateTime]::UtcNow - $i.LastWriteTimeUtc).TotalSeconds -gt 30)"));
    assert_non_null(strstr(c, "if ($b.Length -gt 5000)"));
    assert_non_null(strstr(c, "[Convert]::ToBase64String($b)"));
    assert_null(strchr(c, '\n'));
    free(c);
    c = head_logs_command(HEAD_SHELL_POWERSHELL, "windows", NULL, 3000);
    assert_non_null(c);
    assert_non_null(strstr(c, "$f = Join-Path $env:ProgramData 'hydrahead\\agent.log';"));
    assert_non_null(strstr(c, "Get-Content -LiteralPath $f -Tail 200"));
    assert_non_null(strstr(c, "$t.Length -le 1000"));
    free(c);
    c = head_logs_command(HEAD_SHELL_POWERSHELL, "windows", "D:/logs/a'b.log", 3000);
    assert_non_null(strstr(c, "$f = 'D:/logs/a''b.log';"));
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shell_for_os),
        cmocka_unit_test(test_path_ok),
        cmocka_unit_test(test_screenshot_exact_bytes),
        cmocka_unit_test(test_screenshot_stale_missing_not_jpeg),
        cmocka_unit_test(test_screenshot_hostile_path),
        cmocka_unit_test(test_cutoff_arithmetic),
        cmocka_unit_test(test_screenshot_age_boundary),
        cmocka_unit_test(test_logs_tail),
        cmocka_unit_test(test_logs_missing_home_default),
        cmocka_unit_test(test_parse_edges),
        cmocka_unit_test(test_shellcheck_posix),
        cmocka_unit_test(test_powershell_text),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* The install scripts: served with the configured URLs and channel, valid
 * POSIX sh (sh -n, shellcheck), and install.sh run for real into a scratch
 * folder with the very command POST /api/v1/enrollments prints, against a
 * local copy of the release tree (<base>/hydranode/<channel>/latest/…) whose
 * fake agent records how it is called; the enroll.yaml it writes then
 * enrolls, and a reinstall without a token keeps it. install.ps1 cannot run
 * here (no PowerShell on this machine): it is checked for the runbook's
 * paths and commands. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define RELEASES "https://releases.test.invalid/hydranode"

static hc_server_t *srv;
static char work[300]; /* scratch: release files, roots, script copies */
static char arch[80];

static int setup(void **state)
{
    (void)state;
    srv = hc_server_start(NULL, "releases:\n  base_url: \"" RELEASES "/\"\n  channel: staging\n");
    snprintf(work, sizeof(work), "%s/install-work", srv->dir);
    mkdir(work, 0700);
    struct utsname u;
    uname(&u);
    snprintf(arch, sizeof(arch), "%s",
             strcmp(u.machine, "x86_64") == 0 ? "amd64" : strcmp(u.machine, "aarch64") == 0 ? "arm64" : u.machine);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hc_server_free(srv);
    return 0;
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static void save(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void test_served_with_config(void **state)
{
    (void)state;
    hc_resp_t r = hc_get(srv, "/install.sh", NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(hc_resp_header(&r, "content-type"), "text/plain"));
    assert_non_null(strstr(r.body, "RELEASES_BASE_URL='" RELEASES "/'"));
    char want[128];
    snprintf(want, sizeof(want), "SERVER_URL='%s'", srv->url);
    assert_non_null(strstr(r.body, want));
    assert_null(strstr(r.body, "@RELEASES_BASE_URL@"));
    assert_non_null(strstr(r.body, "CHANNEL='staging'"));
    assert_non_null(strstr(r.body, "--enrollment-token"));
    assert_non_null(strstr(r.body, "URL=\"$RELEASES_BASE_URL/hydranode/$CHANNEL/latest/hydranode-$OS-$ARCH\""));
    assert_non_null(strstr(r.body, "DIR='/opt/hydranode'"));
    assert_non_null(strstr(r.body, "\"$BIN\" install"));
    assert_non_null(strstr(r.body, "LABEL='com.hydracluster.hydranode'"));
    char path[400];
    snprintf(path, sizeof(path), "%s/install.sh", work);
    save(path, r.body, r.len);
    hc_resp_free(&r);
    assert_int_equal(run("sh -n '%s'", path), 0);
    assert_int_equal(run("dash -n '%s'", path), 0);
    assert_int_equal(run("shellcheck -s sh '%s'", path), 0);

    /* install.ps1: the runbook's deployed agent, checked as text */
    r = hc_get(srv, "/install.ps1", NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(hc_resp_header(&r, "content-type"), "text/plain"));
    static const char *const must[] = {
        "[string]$BaseUrl = '" RELEASES "/'",
        "[string]$Channel = 'staging'",
        "[string]$EnrollmentToken = ''",
        "$installDir = 'C:\\hydranode'",
        "$exe = Join-Path $installDir 'hydranode.exe'",
        "$enrollFile = Join-Path $installDir 'enroll.yaml'",
        "$yaml = \"server_url: '$Server'`r`nenrollment_token: '$EnrollmentToken'`r`n\"",
        "$taskName = 'HydraNode'",
        "System32\\config\\systemprofile\\.hydranode",
        "$url = \"$BaseUrl/hydranode/$Channel/latest/hydranode-windows-$arch.exe\"",
        "\"$url.sha256\"",
        "offers no checksum",
        "& $exe install",
        "& schtasks.exe /Run /TN $taskName",
        "keeps its node identity",
        NULL,
    };
    for (size_t i = 0; must[i]; i++)
        if (strstr(r.body, must[i]) == NULL)
            fail_msg("install.ps1 lacks: %s", must[i]);
    /* what the deployed agent does not understand */
    static const char *const never[] = {"ProgramFiles", "enroll.json", "--state-dir", "Register-ScheduledTask", NULL};
    for (size_t i = 0; never[i]; i++)
        if (strstr(r.body, never[i]) != NULL)
            fail_msg("install.ps1 still has: %s", never[i]);
    hc_resp_free(&r);

    /* open to anyone, and only GET */
    r = hc_json(srv, "POST", "/install.sh", NULL, "{}");
    hc_assert_error(&r, 405, "method_not_allowed");
    hc_resp_free(&r);
}

/* A release tree <dir>/hydranode/staging/latest/ with a fake agent that
 * appends "<args> cwd=<dir>" to calls.log beside itself, and its checksum
 * (good, bad, or none: checksum < 0); returns the tree's file:// URL. */
static void make_release(const char *dir, int checksum, char *url, size_t urllen)
{
    assert_int_equal(run("mkdir -p '%s/hydranode/staging/latest' && printf '#!/bin/sh\\necho \"$* cwd=$(pwd)\" >> "
                         "\"$(dirname \"$0\")/calls.log\"\\n' > '%s/hydranode/staging/latest/hydranode-linux-%s'",
                         dir, dir, arch),
                     0);
    if (checksum > 0)
        assert_int_equal(run("cd '%s/hydranode/staging/latest' && sha256sum hydranode-linux-%s > "
                             "hydranode-linux-%s.sha256",
                             dir, arch, arch),
                         0);
    else if (checksum == 0)
        assert_int_equal(run("echo 0000000000000000000000000000000000000000000000000000000000000000 "
                             "> '%s/hydranode/staging/latest/hydranode-linux-%s.sha256'",
                             dir, arch),
                         0);
    snprintf(url, urllen, "file://%s", dir);
}

static void test_printed_command_installs_and_enrolls(void **state)
{
    (void)state;
    char rel[400], relurl[450], dir[400], outp[450];
    snprintf(rel, sizeof(rel), "%s/release-good", work);
    snprintf(dir, sizeof(dir), "%s/box/opt/hydranode", work);
    snprintf(outp, sizeof(outp), "%s/out-good.txt", work);
    make_release(rel, 1, relurl, sizeof(relurl));

    hc_resp_t r = hc_post_json(srv, "/api/v1/enrollments", TEST_ADMIN_TOKEN, "{\"name\":\"render-01\",\"os\":\"linux\"}");
    assert_int_equal(r.status, 201);
    char token[128], cmd[2048];
    snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(r.json, "enrollment_token")));
    const char *unix_cmd = json_string_value(json_object_get(json_object_get(r.json, "install"), "unix"));
    /* exactly the printed command, but into a scratch folder, without sudo, not starting a service,
     * from the local release copy */
    const char *pipe = strstr(unix_cmd, "| sudo sh -s --");
    assert_non_null(pipe);
    snprintf(cmd, sizeof(cmd), "%.*s| sh -s -- --dir '%s' --no-start --base-url '%s'%s >'%s' 2>&1",
             (int)(pipe - unix_cmd), unix_cmd, dir, relurl, pipe + strlen("| sudo sh -s --"), outp);
    hc_resp_free(&r);
    char *o = NULL;
    if (run("%s", cmd) != 0) {
        o = slurp(outp, NULL);
        fail_msg("the install command failed: %s\n%s", cmd, o ? o : "");
    }
    o = slurp(outp, NULL);
    assert_non_null(strstr(o, "checksum verified"));
    free(o);

    char path[600], want[1000];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/hydranode", dir);
    assert_int_equal(stat(path, &sb), 0);
    assert_true(sb.st_mode & S_IXUSR);
    assert_int_equal(run("cmp -s '%s' '%s/hydranode/staging/latest/hydranode-linux-%s'", path, rel, arch), 0);
    /* enroll.yaml beside it, the names of the iPad QR payload, for root only */
    snprintf(path, sizeof(path), "%s/enroll.yaml", dir);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char *enroll = slurp(path, NULL);
    snprintf(want, sizeof(want), "server_url: '%s'\nenrollment_token: '%s'\n", srv->url, token);
    assert_string_equal(enroll, want);
    free(enroll);
    /* the agent was asked to install itself, from its folder */
    snprintf(path, sizeof(path), "%s/calls.log", dir);
    char *calls = slurp(path, NULL);
    snprintf(want, sizeof(want), "install cwd=%s\n", dir);
    assert_non_null(calls);
    assert_string_equal(calls, want);
    free(calls);

    /* what the agent does next with that file: enroll, once */
    char body[256];
    snprintf(body, sizeof(body), "{\"enrollment_token\":\"%s\",\"hostname\":\"render-01\",\"os\":\"linux\"}", token);
    r = hc_post_json(srv, "/api/v1/enroll", NULL, body);
    assert_int_equal(r.status, 201);
    hc_resp_free(&r);

    /* recovery: the same script without a token reinstalls and keeps the enrollment (no new node) */
    assert_int_equal(run("sh '%s/install.sh' --server '%s' --dir '%s' --no-start --base-url '%s' >'%s' 2>&1", work,
                         srv->url, dir, relurl, outp),
                     0);
    o = slurp(outp, NULL);
    assert_non_null(strstr(o, "keeps its node identity"));
    free(o);
    snprintf(path, sizeof(path), "%s/enroll.yaml", dir);
    enroll = slurp(path, NULL);
    snprintf(want, sizeof(want), "server_url: '%s'\nenrollment_token: '%s'\n", srv->url, token);
    assert_string_equal(enroll, want);
    free(enroll);
    snprintf(path, sizeof(path), "%s/calls.log", dir);
    calls = slurp(path, NULL);
    snprintf(want, sizeof(want), "install cwd=%s\ninstall cwd=%s\n", dir, dir);
    assert_string_equal(calls, want);
    free(calls);

    /* a release server without checksums: installed, and it says the download is not verified */
    char rel2[400], rel2url[450];
    snprintf(rel2, sizeof(rel2), "%s/release-nosum", work);
    make_release(rel2, -1, rel2url, sizeof(rel2url));
    assert_int_equal(run("sh '%s/install.sh' --server http://other.example --enrollment-token abc123 --dir '%s' "
                         "--no-start --base-url '%s' >'%s' 2>&1",
                         work, dir, rel2url, outp),
                     0);
    o = slurp(outp, NULL);
    assert_non_null(strstr(o, "offers no checksum"));
    free(o);
    snprintf(path, sizeof(path), "%s/enroll.yaml", dir);
    enroll = slurp(path, NULL);
    assert_string_equal(enroll, "server_url: 'http://other.example'\nenrollment_token: 'abc123'\n");
    free(enroll);

    /* --root: files only, the agent's install is left to its first boot */
    char root[400];
    snprintf(root, sizeof(root), "%s/image", work);
    assert_int_equal(run("sh '%s/install.sh' --server http://x.example --enrollment-token abc --root '%s' --base-url "
                         "'%s' >/dev/null 2>&1",
                         work, root, relurl),
                     0);
    snprintf(path, sizeof(path), "%s/opt/hydranode/hydranode", root);
    assert_int_equal(access(path, X_OK), 0);
    snprintf(path, sizeof(path), "%s/opt/hydranode/calls.log", root);
    assert_int_not_equal(access(path, F_OK), 0);
}

static void test_refuses_bad_downloads_and_arguments(void **state)
{
    (void)state;
    char rel[400], relurl[450], root[400], path[600], out[400];
    snprintf(rel, sizeof(rel), "%s/release-bad", work);
    snprintf(root, sizeof(root), "%s/root-bad", work);
    snprintf(out, sizeof(out), "%s/out-bad.txt", work);
    make_release(rel, 0, relurl, sizeof(relurl));
    int rc = run("sh '%s/install.sh' --server http://x.example --enrollment-token abc --root '%s' --base-url '%s' "
                 ">'%s' 2>&1",
                 work, root, relurl, out);
    assert_int_not_equal(rc, 0);
    char *o = slurp(out, NULL);
    assert_non_null(strstr(o, "does not match"));
    free(o);
    snprintf(path, sizeof(path), "%s/opt/hydranode/hydranode", root);
    assert_int_not_equal(access(path, F_OK), 0);

    struct {
        const char *args, *says;
    } bad[] = {
        {"--server http://x.example --dir /nonexistent/hydranode", "no enrollment yet"},
        {"--server http://x.example --enrollment-token abc --channel 'a/b'", "release channel"},
        {"--server http://x.example --enrollment-token abc --dir relative", "absolute"},
        {"--server http://x.example --enrollment-token 'ab;rm -rf /'", "letters and digits"},
        {"--server 'ftp://x.example' --enrollment-token abc", "must be an http"},
        {"--server 'http://x.example/\"quote' --enrollment-token abc", "not allowed"},
        {"--server file:///etc --enrollment-token abc", "must be an http"},
        {"--server http://x.example --enrollment-token abc --root relative/dir", "absolute"},
        {"--server http://x.example --enrollment-token abc --colour blue", "unknown argument"},
        {"--server", "needs a value"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rc = run("sh '%s/install.sh' --base-url '%s' %s >'%s' 2>&1", work, relurl, bad[i].args, out);
        o = slurp(out, NULL);
        if (rc == 0 || strstr(o, bad[i].says) == NULL)
            fail_msg("install.sh %s: exit %d, said: %s", bad[i].args, rc, o);
        free(o);
    }
    assert_int_equal(run("sh '%s/install.sh' --help >/dev/null", work), 0);
}

/* values from config are quoted for each language, whatever they contain */
static void test_quoting_of_configured_values(void **state)
{
    (void)state;
    hc_server_t *odd = hc_server_start("  public_url: \"https://it's.example\"\n",
                                       "releases:\n  base_url: \"https://rel.example/o'clock\"\n");
    hc_resp_t r = hc_get(odd, "/install.sh", NULL);
    assert_int_equal(r.status, 200);
    char path[400], out[400];
    snprintf(path, sizeof(path), "%s/odd.sh", work);
    snprintf(out, sizeof(out), "%s/out-odd.txt", work);
    save(path, r.body, r.len);
    hc_resp_free(&r);
    assert_int_equal(run("sh -n '%s'", path), 0);
    /* the value arrives intact (and is then refused as a URL by the script) */
    assert_int_not_equal(run("sh '%s' --enrollment-token abc --root /tmp/unused >'%s' 2>&1", path, out), 0);
    char *o = slurp(out, NULL);
    assert_non_null(strstr(o, "\"https://it's.example\""));
    free(o);
    r = hc_get(odd, "/install.ps1", NULL);
    assert_non_null(strstr(r.body, "[string]$BaseUrl = 'https://rel.example/o''clock'"));
    hc_resp_free(&r);
    hc_server_free(odd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_served_with_config),
        cmocka_unit_test(test_printed_command_installs_and_enrolls),
        cmocka_unit_test(test_refuses_bad_downloads_and_arguments),
        cmocka_unit_test(test_quoting_of_configured_values),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

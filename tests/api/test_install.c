/* The install scripts: served with the configured URLs, valid POSIX sh
 * (sh -n, shellcheck), and install.sh run for real into a scratch root with
 * the very command POST /api/v1/enrollments prints, against a local copy of
 * the release files; the enroll file it writes then enrolls. install.ps1
 * cannot run here (no PowerShell on this machine): it is checked for what it
 * must contain. */
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
    srv = hc_server_start(NULL, "releases:\n  base_url: \"" RELEASES "/\"\n");
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
    assert_non_null(strstr(r.body, "--enrollment-token"));
    assert_non_null(strstr(r.body, "systemctl"));
    assert_non_null(strstr(r.body, "launchctl"));
    char path[400];
    snprintf(path, sizeof(path), "%s/install.sh", work);
    save(path, r.body, r.len);
    hc_resp_free(&r);
    assert_int_equal(run("sh -n '%s'", path), 0);
    assert_int_equal(run("dash -n '%s'", path), 0);
    assert_int_equal(run("shellcheck -s sh '%s'", path), 0);

    r = hc_get(srv, "/install.ps1", NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(hc_resp_header(&r, "content-type"), "text/plain"));
    assert_non_null(strstr(r.body, "[string]$BaseUrl = '" RELEASES "/'"));
    assert_non_null(strstr(r.body, "[string]$Server"));
    assert_non_null(strstr(r.body, "[string]$EnrollmentToken"));
    assert_non_null(strstr(r.body, "$taskName = 'HydraNode'"));
    assert_non_null(strstr(r.body, "Register-ScheduledTask"));
    assert_non_null(strstr(r.body, "Start-ScheduledTask"));
    assert_non_null(strstr(r.body, "enroll.json"));
    assert_non_null(strstr(r.body, "hydranode-windows-$arch.exe"));
    hc_resp_free(&r);

    /* open to anyone, and only GET */
    r = hc_json(srv, "POST", "/install.sh", NULL, "{}");
    hc_assert_error(&r, 405, "method_not_allowed");
    hc_resp_free(&r);
}

/* a release directory with a fake agent and its checksum; returns its file:// URL */
static void make_release(const char *dir, int good_checksum, char *url, size_t urllen)
{
    assert_int_equal(run("mkdir -p '%s' && printf '#!/bin/sh\\necho hydranode\\n' > '%s/hydranode-linux-%s'", dir,
                         dir, arch),
                     0);
    if (good_checksum)
        assert_int_equal(run("cd '%s' && sha256sum hydranode-linux-%s > hydranode-linux-%s.sha256", dir, arch, arch), 0);
    else
        assert_int_equal(run("cd '%s' && echo 0000000000000000000000000000000000000000000000000000000000000000 "
                             "> hydranode-linux-%s.sha256",
                             dir, arch),
                         0);
    snprintf(url, urllen, "file://%s", dir);
}

static void test_printed_command_installs_and_enrolls(void **state)
{
    (void)state;
    char rel[400], relurl[450], root[400];
    snprintf(rel, sizeof(rel), "%s/release-good", work);
    snprintf(root, sizeof(root), "%s/root-good", work);
    make_release(rel, 1, relurl, sizeof(relurl));

    hc_resp_t r = hc_post_json(srv, "/api/v1/enrollments", TEST_ADMIN_TOKEN, "{\"name\":\"render-01\",\"os\":\"linux\"}");
    assert_int_equal(r.status, 201);
    char token[128], cmd[2048];
    snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(r.json, "enrollment_token")));
    const char *unix_cmd = json_string_value(json_object_get(json_object_get(r.json, "install"), "unix"));
    /* exactly the printed command, but into a scratch root, without sudo, from the local release copy */
    const char *pipe = strstr(unix_cmd, "| sudo sh -s --");
    assert_non_null(pipe);
    snprintf(cmd, sizeof(cmd), "%.*s| sh -s -- --root '%s' --base-url '%s'%s >'%s/out-good.txt' 2>&1",
             (int)(pipe - unix_cmd), unix_cmd, root, relurl, pipe + strlen("| sudo sh -s --"), work);
    hc_resp_free(&r);
    if (run("%s", cmd) != 0) {
        char out[400];
        snprintf(out, sizeof(out), "%s/out-good.txt", work);
        char *o = slurp(out, NULL);
        fail_msg("the install command failed: %s\n%s", cmd, o ? o : "");
    }

    char path[600];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/usr/local/bin/hydranode", root);
    assert_int_equal(stat(path, &sb), 0);
    assert_true(sb.st_mode & S_IXUSR);
    assert_int_equal(run("cmp -s '%s' '%s/hydranode-linux-%s'", path, rel, arch), 0);
    snprintf(path, sizeof(path), "%s/var/lib/hydranode", root);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    snprintf(path, sizeof(path), "%s/var/lib/hydranode/enroll.json", root);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char *enroll = slurp(path, NULL);
    json_t *e = json_loads(enroll, 0, NULL);
    free(enroll);
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "server_url")), srv->url);
    assert_string_equal(json_string_value(json_object_get(e, "enrollment_token")), token);
    snprintf(path, sizeof(path), "%s/etc/systemd/system/hydranode.service", root);
    char *unit = slurp(path, NULL);
    assert_non_null(unit);
    assert_non_null(strstr(unit, "ExecStart=/usr/local/bin/hydranode run --state-dir /var/lib/hydranode\n"));
    assert_non_null(strstr(unit, "Restart=always"));
    free(unit);
    snprintf(path, sizeof(path), "%s/etc/systemd/system/multi-user.target.wants/hydranode.service", root);
    assert_int_equal(lstat(path, &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));

    /* what the agent does next with that file: enroll, once */
    char body[256];
    snprintf(body, sizeof(body), "{\"enrollment_token\":\"%s\",\"hostname\":\"render-01\",\"os\":\"linux\"}",
             json_string_value(json_object_get(e, "enrollment_token")));
    json_decref(e);
    r = hc_post_json(srv, "/api/v1/enroll", NULL, body);
    assert_int_equal(r.status, 201);
    hc_resp_free(&r);

    /* running it again replaces what is there */
    snprintf(cmd, sizeof(cmd),
             "sh '%s/install.sh' --server http://other.example --enrollment-token abc123 --root '%s' --base-url '%s' "
             ">/dev/null 2>&1",
             work, root, relurl);
    assert_int_equal(run("%s", cmd), 0);
    snprintf(path, sizeof(path), "%s/var/lib/hydranode/enroll.json", root);
    enroll = slurp(path, NULL);
    assert_string_equal(enroll, "{\"server_url\":\"http://other.example\",\"enrollment_token\":\"abc123\"}\n");
    free(enroll);
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
    snprintf(path, sizeof(path), "%s/usr/local/bin/hydranode", root);
    assert_int_not_equal(access(path, F_OK), 0);

    struct {
        const char *args, *says;
    } bad[] = {
        {"--server http://x.example", "--enrollment-token is required"},
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

/*
 * Unit tests of fleet/import.c: the sample nodes.yaml with every field, a
 * hand-edited file (anchors, merge keys, flow style, folded and literal
 * scalars, yes/no, CRLF, BOM), re-import, merging into existing rows, dry
 * run, refusals with their positions, alias bombs (timed, memory measured),
 * first-start import and the data dir lock.
 *
 * Each test gets a fresh data dir with a migrated store and the token hash
 * key loaded, as `hydracluster import` has.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "clock.h"
#include "import.h"
#include "secret.h"
#include "store.h"

#ifndef HC_TEST_DATA_DIR
#error "HC_TEST_DATA_DIR must name tests/data"
#endif
#define SAMPLE HC_TEST_DATA_DIR "/nodes.sample.yaml"

static char g_tmp[128];
static char g_data[256];

/* ---- fixtures and helpers ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_tmp, sizeof(g_tmp), "/tmp/hc-test-import-XXXXXX");
    if (mkdtemp(g_tmp) == NULL)
        return -1;
    snprintf(g_data, sizeof(g_data), "%s/data", g_tmp);
    char err[512] = "";
    if (secret_init() != 0 || store_open(g_data, err, sizeof(err)) != 0 || store_migrate(NULL, err, sizeof(err)) != 0 ||
        secret_load_key(store_db(), err, sizeof(err)) != 0) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    /* these tests import into an empty catalog: without migration 0002's
     * default roles (tests/api/test_import.c imports over them) */
    if (sqlite3_exec(store_db(), "DELETE FROM roles", NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    store_close();
    return nftw(g_tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int64_t query_int(const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(store_db(), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
    return v;
}

/* first column of the first row as text ("(null)" for NULL), static buffer */
static const char *q(const char *fmt, ...)
{
    static char out[8192];
    char sql[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store_db(), sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(store_db()));
    if (sqlite3_step(st) != SQLITE_ROW)
        fail_msg("no row: %s", sql);
    const unsigned char *t = sqlite3_column_text(st, 0);
    snprintf(out, sizeof(out), "%s", t ? (const char *)t : "(null)");
    sqlite3_finalize(st);
    return out;
}

/* a column of one node */
static const char *ncol(const char *id, const char *col)
{
    return q("SELECT %s FROM nodes WHERE id = '%s'", col, id);
}

static const char *hcol(const char *id, const char *col)
{
    return q("SELECT %s FROM heads WHERE node_id = '%s'", col, id);
}

/* asserts that a JSON column equals the JSON text want (compared as JSON) */
static void assert_json_col(const char *got_text, const char *want_text)
{
    json_t *got = json_loads(got_text, 0, NULL), *want = json_loads(want_text, 0, NULL);
    assert_non_null(want);
    if (got == NULL || !json_equal(got, want))
        fail_msg("JSON differs:\n got  %s\n want %s", got_text, want_text);
    json_decref(got);
    json_decref(want);
}

/* every row of the tables an import touches, as one string */
static char *dump_db(void)
{
    static const char *sql =
        "SELECT group_concat(x, char(10)) FROM ("
        " SELECT 'n|' || id || '|' || hex(token_hash) || '|' || name || '|' || hostname || '|' || os || '|' || arch"
        "  || '|' || version || '|' || owner || '|' || district || '|' || venue || '|' || roles || '|' || approval"
        "  || '|' || ifnull(enrolled_at, '-') || '|' || ifnull(last_seen, '-') || '|' || ip || '|' || wireguard_ip"
        "  || '|' || lan_ip || '|' || provider_status || '|' || stream_status || '|' || drain || flag_update_node"
        "  || flag_update_services || flag_reprovision || '|' || flags_generation || '|' || diagnostics || '|' || extra"
        "  AS x FROM nodes"
        " UNION ALL SELECT 'h|' || node_id || '|' || status || '|' || diagnostics || '|' || ifnull(assigned_body_id, '-')"
        "  || '|' || app_id || '|' || allowed_experiences || '|' || ifnull(updated_at, '-') FROM heads"
        " UNION ALL SELECT 'r|' || name || '|' || description || '|' || recipe FROM roles"
        " UNION ALL SELECT 'm|' || key || '|' || hex(value) FROM meta ORDER BY 1)";
    return strdup(q("%s", sql));
}

static void import_ok(const char *path, unsigned flags, import_report_t *rep)
{
    char err[1024] = "";
    if (import_file(store_db(), path, flags, rep, err, sizeof(err)) != 0)
        fail_msg("import %s: %s", path, err);
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* the buffer's text imported (parse + apply); returns 0 or -1 with err */
static int import_text(const char *text, unsigned flags, import_report_t *rep, char *err, size_t errlen)
{
    memset(rep, 0, sizeof(*rep));
    import_plan_t *p = import_parse_buffer("t.yaml", text, strlen(text), err, errlen);
    if (p == NULL)
        return -1;
    int rc = import_apply(store_db(), p, flags, rep, err, errlen);
    import_plan_free(p);
    return rc;
}

static void assert_counts(const import_counts_t *c, unsigned imported, unsigned updated, unsigned unchanged,
                          unsigned skipped)
{
    if (c->imported != imported || c->updated != updated || c->unchanged != unchanged || c->skipped != skipped)
        fail_msg("counts %u/%u/%u/%u, want %u/%u/%u/%u", c->imported, c->updated, c->unchanged, c->skipped, imported,
                 updated, unchanged, skipped);
}

static int token_matches(const char *id, const char *token)
{
    uint8_t h[SECRET_HASH_LEN];
    secret_token_hash(token, strlen(token), h);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(store_db(), "SELECT token_hash FROM nodes WHERE id = ?1", -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int ok = sqlite3_column_bytes(st, 0) == SECRET_HASH_LEN && memcmp(sqlite3_column_blob(st, 0), h, SECRET_HASH_LEN) == 0;
    sqlite3_finalize(st);
    return ok;
}

/* 1 when needle occurs in the bytes of the file at path */
static int file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    size_t cap = 1 << 20, len = 0, n;
    char *buf = malloc(cap);
    assert_non_null(buf);
    while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(f);
    int found = memmem(buf, len, needle, strlen(needle)) != NULL;
    free(buf);
    return found;
}

static const char *const sample_tokens[][2] = {
    {"node-7f3a9c21", "3b1f0c9e6a8d4e2f9c7b5a3d1e0f2a4c6b8d0e2f4a6c8e0b2d4f6a8c0e2b4d6f"},
    {"node-0b44e1d7", "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d"},
    {"node-c5d2a8f0", "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809"},
    {"node-91e0f6b3", "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f"},
    {"node-5a6b7c8d", "5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d"},
    {"node-e2e2e2e2", "e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2"},
};

/* ---- the sample ---- */

static void test_sample_every_field(void **state)
{
    (void)state;
    import_report_t rep;
    import_ok(SAMPLE, 0, &rep);
    assert_counts(&rep.nodes, 6, 0, 0, 0);
    assert_counts(&rep.heads, 2, 0, 0, 0);
    assert_counts(&rep.roles, 5, 0, 0, 0);
    for (size_t i = 0; i < rep.nnotes; i++)
        fail_msg("unexpected note: %s", rep.notes[i]);
    import_report_free(&rep);

    const char *n1 = "node-7f3a9c21";
    assert_string_equal(ncol(n1, "name"), "render-bxl1-01");
    assert_string_equal(ncol(n1, "hostname"), "DESKTOP-4KQ1R7B");
    assert_string_equal(ncol(n1, "os"), "windows");
    assert_string_equal(ncol(n1, "arch"), "amd64");
    assert_string_equal(ncol(n1, "owner"), "ops");
    assert_string_equal(ncol(n1, "district"), "bxl1");
    assert_string_equal(ncol(n1, "venue"), "cloud-seven");
    assert_json_col(ncol(n1, "roles"), "[\"render-node\"]");
    assert_string_equal(ncol(n1, "approval"), "approved");
    assert_string_equal(ncol(n1, "enrolled_at"), "2026-03-02T10:14:55Z");
    assert_string_equal(ncol(n1, "last_seen"), "2026-11-20T21:03:11Z");
    assert_string_equal(ncol(n1, "version"), "v0.23.10");
    assert_string_equal(ncol(n1, "wireguard_ip"), "10.66.0.21");
    assert_string_equal(ncol(n1, "lan_ip"), "192.168.10.21");
    assert_string_equal(ncol(n1, "provider_status"), "running");
    assert_string_equal(ncol(n1, "stream_status"), "idle");
    assert_string_equal(ncol(n1, "drain"), "0");
    assert_string_equal(ncol(n1, "flag_update_node || flag_update_services || flag_reprovision"), "000");
    assert_string_equal(ncol(n1, "flags_generation"), "0");
    assert_json_col(ncol(n1, "extra"), "{\"gpu_model\":\"RTX 4080\"}");
    assert_json_col(ncol(n1, "diagnostics"), "{}");

    const char *n2 = "node-0b44e1d7";
    assert_json_col(ncol(n2, "roles"), "[\"render-node\",\"hydraguard-air\"]");
    assert_string_equal(ncol(n2, "provider_status"), "sunshine_api_unreachable");
    assert_string_equal(ncol(n2, "stream_status"), "streaming");
    assert_string_equal(ncol(n2, "drain"), "1");
    /* a flag pending in the old service stays pending, with a generation to acknowledge */
    assert_string_equal(ncol(n2, "flag_update_node || flag_update_services || flag_reprovision"), "010");
    assert_string_equal(ncol(n2, "flags_generation"), "1");
    assert_json_col(ncol(n2, "extra"), "{}");

    const char *kiosk = "node-c5d2a8f0";
    assert_string_equal(ncol(kiosk, "os"), "darwin");
    assert_string_equal(ncol(kiosk, "arch"), "arm64");
    assert_string_equal(ncol(kiosk, "owner"), "venue-cloud-seven");
    assert_string_equal(ncol(kiosk, "version"), "v1.4.2");
    assert_string_equal(hcol(kiosk, "status"), "streaming");
    assert_string_equal(hcol(kiosk, "assigned_body_id"), "node-7f3a9c21");
    assert_string_equal(hcol(kiosk, "app_id"), "Desktop");
    assert_json_col(hcol(kiosk, "allowed_experiences"), "[\"mercator-talks\",\"deep-sea\"]");
    assert_json_col(hcol(kiosk, "diagnostics"), "{\"version\":\"v1.4.2\",\"wireguard\":\"up\",\"app\":\"moonlight\","
                                                "\"routing\":\"lan\",\"latency_ms\":\"4\"}");
    /* the head record is not an unknown field */
    assert_json_col(ncol(kiosk, "extra"), "{}");

    const char *ipad = "node-91e0f6b3";
    assert_string_equal(ncol(ipad, "os"), "ipados");
    assert_string_equal(ncol(ipad, "hostname"), "");
    assert_string_equal(ncol(ipad, "last_seen"), "(null)");
    assert_string_equal(hcol(ipad, "status"), "idle");
    assert_string_equal(hcol(ipad, "assigned_body_id"), "(null)");
    assert_json_col(hcol(ipad, "allowed_experiences"), "[]");

    const char *newbox = "node-5a6b7c8d";
    assert_string_equal(ncol(newbox, "approval"), "pending");
    assert_string_equal(ncol(newbox, "owner"), "");
    assert_json_col(ncol(newbox, "roles"), "[]");
    assert_int_equal(query_int("SELECT count(*) FROM heads WHERE node_id = 'node-5a6b7c8d'"), 0);

    const char *spare = "node-e2e2e2e2";
    assert_string_equal(ncol(spare, "name"), "render ams 01 \xe2\x80\x94 spare");
    assert_string_equal(ncol(spare, "district"), "ams1");
    assert_string_equal(ncol(spare, "venue"), "");
    assert_string_equal(ncol(spare, "enrolled_at"), "2025-12-24T23:59:59Z");
    assert_json_col(ncol(spare, "extra"),
                    "{\"notes\":\"Spare box in the rack by the door.\\nPower button sticks.\\n\"}");

    assert_string_equal(q("SELECT description FROM roles WHERE name = 'render-node'"), "LarkXR standalone render node");
    assert_string_equal(q("SELECT description FROM roles WHERE name = 'hydraheadipad'"), "iPad head");
    assert_string_equal(q("SELECT recipe FROM roles WHERE name = 'hydraguard-air'"), "{}");

    /* each token became its keyed hash, and no clear token is anywhere on disk */
    for (size_t i = 0; i < sizeof(sample_tokens) / sizeof(sample_tokens[0]); i++)
        assert_true(token_matches(sample_tokens[i][0], sample_tokens[i][1]));
    char path[400], wal[420];
    snprintf(path, sizeof(path), "%s/hydracluster.db", g_data);
    snprintf(wal, sizeof(wal), "%s-wal", path);
    for (size_t i = 0; i < sizeof(sample_tokens) / sizeof(sample_tokens[0]); i++) {
        assert_false(file_contains(path, sample_tokens[i][1]));
        assert_false(file_contains(wal, sample_tokens[i][1]));
    }
    /* the import is recorded (the first-start import looks for it) */
    json_t *meta = json_loads(q("SELECT value FROM meta WHERE key = '" IMPORT_META_KEY "'"), 0, NULL);
    assert_non_null(meta);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(meta, "nodes"), "imported")), 6);
    json_decref(meta);
}

static void test_reimport_changes_nothing(void **state)
{
    (void)state;
    import_report_t rep;
    import_ok(SAMPLE, 0, &rep);
    import_report_free(&rep);
    char *before = dump_db();
    int64_t changes = sqlite3_total_changes64(store_db());
    import_ok(SAMPLE, 0, &rep);
    assert_counts(&rep.nodes, 0, 0, 6, 0);
    assert_counts(&rep.heads, 0, 0, 2, 0);
    assert_counts(&rep.roles, 0, 0, 5, 0);
    import_report_free(&rep);
    char *after = dump_db();
    assert_string_equal(before, after);
    /* not one row written, meta included */
    assert_int_equal(sqlite3_total_changes64(store_db()), changes);
    free(before);
    free(after);
}

/* ---- merging into existing rows ---- */

static void test_update_merges_and_keeps(void **state)
{
    (void)state;
    import_report_t rep;
    import_ok(SAMPLE, 0, &rep);
    import_report_free(&rep);
    char err[1024] = "";
    /* node-7f3a9c21 again: another owner, no gpu_model, no lan_ip, a new
     * unknown field, an older last_seen with another version, a raised flag;
     * node-0b44e1d7: not approved any more, update_services false; a role's
     * description changed; a head's assignment changed */
    const char *edited = "nodes:\n"
                         "  - id: node-7f3a9c21\n"
                         "    owner: render-team\n"
                         "    last_seen: 2026-01-01T00:00:00Z\n"
                         "    version: v0.1.0\n"
                         "    reprovision: yes\n"
                         "    rack: B4\n"
                         "  - id: node-0b44e1d7\n"
                         "    approved: false\n"
                         "    update_services: false\n"
                         "  - id: node-c5d2a8f0\n"
                         "    head:\n"
                         "      assigned_body_id: ~\n"
                         "  - id: node-e2e2e2e2\n"
                         "    name: \"render ams 01 \xe2\x80\x94 spare\"\n"
                         "role_catalog:\n"
                         "  - name: render-node\n"
                         "    description: LarkXR render node\n"
                         "    recipe: {service: larkxr}\n"
                         "  - name: hydraheadipad\n";
    if (import_text(edited, 0, &rep, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    /* node-c5d2a8f0 itself is as it was: only its head changed */
    assert_counts(&rep.nodes, 0, 2, 2, 0);
    assert_counts(&rep.heads, 0, 1, 0, 0);
    assert_counts(&rep.roles, 0, 1, 1, 0);
    import_report_free(&rep);

    const char *n1 = "node-7f3a9c21";
    assert_string_equal(ncol(n1, "owner"), "render-team");
    assert_string_equal(ncol(n1, "lan_ip"), "192.168.10.21");    /* absent in the file: kept */
    assert_string_equal(ncol(n1, "name"), "render-bxl1-01");     /* kept */
    assert_string_equal(ncol(n1, "version"), "v0.23.10");        /* older heartbeat state: not taken */
    assert_string_equal(ncol(n1, "last_seen"), "2026-11-20T21:03:11Z");
    assert_string_equal(ncol(n1, "flag_reprovision"), "1");
    assert_string_equal(ncol(n1, "flags_generation"), "1");
    assert_json_col(ncol(n1, "extra"), "{\"gpu_model\":\"RTX 4080\",\"rack\":\"B4\"}");
    assert_true(token_matches(n1, sample_tokens[0][1])); /* no token in the file: kept */

    const char *n2 = "node-0b44e1d7";
    assert_string_equal(ncol(n2, "approval"), "pending");
    assert_string_equal(ncol(n2, "flag_update_services"), "1"); /* only the agent's ack clears a flag */
    assert_string_equal(ncol(n2, "flags_generation"), "1");

    assert_string_equal(hcol("node-c5d2a8f0", "assigned_body_id"), "(null)");
    assert_string_equal(hcol("node-c5d2a8f0", "app_id"), "Desktop");
    assert_string_equal(q("SELECT description FROM roles WHERE name = 'render-node'"), "LarkXR render node");
    assert_json_col(q("SELECT recipe FROM roles WHERE name = 'render-node'"), "{\"service\":\"larkxr\"}");
    assert_string_equal(q("SELECT description FROM roles WHERE name = 'hydraheadipad'"), "iPad head");

    /* a newer last_seen does bring the heartbeat state along */
    if (import_text("nodes:\n  - id: node-7f3a9c21\n    last_seen: 2026-12-01T00:00:00Z\n    version: v0.24.0\n", 0,
                    &rep, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_counts(&rep.nodes, 0, 1, 0, 0);
    import_report_free(&rep);
    assert_string_equal(ncol(n1, "version"), "v0.24.0");
    assert_string_equal(ncol(n1, "last_seen"), "2026-12-01T00:00:00Z");

    /* a rejected node stays rejected with approved: false */
    assert_int_equal(sqlite3_exec(store_db(), "UPDATE nodes SET approval = 'rejected' WHERE id = 'node-5a6b7c8d'", NULL,
                                  NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(import_text("nodes:\n  - {id: node-5a6b7c8d, approved: no}\n", 0, &rep, err, sizeof(err)), 0);
    assert_counts(&rep.nodes, 0, 0, 1, 0);
    import_report_free(&rep);
    assert_string_equal(ncol("node-5a6b7c8d", "approval"), "rejected");
}

static void test_token_taken_is_skipped(void **state)
{
    (void)state;
    import_report_t rep;
    import_ok(SAMPLE, 0, &rep);
    import_report_free(&rep);
    char err[1024] = "";
    /* another id with node-7f3a9c21's token: that node is skipped, the rest goes in */
    const char *text = "nodes:\n"
                       "  - id: node-thief\n"
                       "    token: 3b1f0c9e6a8d4e2f9c7b5a3d1e0f2a4c6b8d0e2f4a6c8e0b2d4f6a8c0e2b4d6f\n"
                       "    head: {status: idle}\n"
                       "  - id: node-honest\n"
                       "    token: 0123456789abcdef0123\n"
                       "    roles: [not-in-catalog]\n";
    assert_int_equal(import_text(text, 0, &rep, err, sizeof(err)), 0);
    assert_counts(&rep.nodes, 1, 0, 0, 1);
    assert_counts(&rep.heads, 0, 0, 0, 1);
    int skipped = 0, warned = 0;
    for (size_t i = 0; i < rep.nnotes; i++) {
        skipped += strstr(rep.notes[i], "skipped node \"node-thief\"") != NULL &&
                   strstr(rep.notes[i], "node-7f3a9c21") != NULL;
        warned += strstr(rep.notes[i], "\"not-in-catalog\"") != NULL;
        /* no note ever shows a token */
        assert_null(strstr(rep.notes[i], "3b1f0c9e6a8d"));
    }
    assert_int_equal(skipped, 1);
    assert_int_equal(warned, 1);
    import_report_free(&rep);
    assert_int_equal(query_int("SELECT count(*) FROM nodes WHERE id = 'node-thief'"), 0);
    assert_true(token_matches("node-honest", "0123456789abcdef0123"));
    assert_true(token_matches("node-7f3a9c21", sample_tokens[0][1]));
}

/* ---- a hand-edited file ---- */

static const char hand_edited[] =
    "# kept by hand after the old service was gone\n"
    "x-defaults: &render_defaults\n"
    "  os: windows\n"
    "  arch: amd64\n"
    "  owner: ops\n"
    "  district: bxl1\n"
    "  venue: cloud-seven\n"
    "  roles: [render-node]\n"
    "  approved: yes\n"
    "x-site: &site_ams\n"
    "  district: ams1\n"
    "  venue: \"ams-lab\"\n"
    "nodes:\n"
    "  - <<: *render_defaults\n"
    "    id: node-hand-01\n"
    "    name: 'render 01 (it''s new)'\n"
    "    token: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa01\"\n"
    "    drain: Off\n"
    "    update_node: ON\n"
    "    enrolled_at: 2026-01-02T03:04:05+01:00\n"
    "    last_seen: \"2026-11-20T21:03:11.250Z\"\n"
    "    comment: >\n"
    "      folded text\n"
    "      on two lines\n"
    "    rack: {row: 3, slot: \"07\", powered: yes, tags: [a, b], ratio: 1.5, label: \"yes\", spare: ~}\n"
    "  - <<: [*site_ams, *render_defaults]\n"
    "    id: node-hand-02\n"
    "    name: render-02\n"
    "    owner: lab              # wins over the merged owner\n"
    "    token: bbbbbbbbbbbbbbbbbbbbbbbb02\n"
    "    approved: NO\n"
    "    roles:\n"
    "      - render-node\n"
    "      - hydraguard-air\n"
    "    diagnostics: {wireguard: up, latency_ms: 4}\n"
    "  - {id: node-hand-03, name: \"kiosk \\\"three\\\"\", os: darwin, token: cccccccccccccccccccc03, approved: True,\n"
    "     head: {status: streaming, assigned_body_id: node-hand-01, app_id: Desktop,\n"
    "            allowed_experiences: [deep-sea], screen: {w: 1920, h: 1080}}}\n"
    "  - id: node-hand-04\n"
    "    name: \"ipad\"\n"
    "    token: dddddddddddddddddddddd04\n"
    "    notes: |\n"
    "      line one\n"
    "      line two\n"
    "    head:\n"
    "      status: idle\n"
    "role_catalog:\n"
    "  - name: render-node\n"
    "    description: >-\n"
    "      LarkXR standalone\n"
    "      render node\n"
    "    recipe: {service: larkxr, version: 3}\n"
    "  - name: hydraguard-air\n"
    "    description: \"network guard\"\n";

static void check_hand_edited(void)
{
    const char *a = "node-hand-01";
    assert_string_equal(ncol(a, "os"), "windows");
    assert_string_equal(ncol(a, "owner"), "ops");
    assert_string_equal(ncol(a, "district"), "bxl1");
    assert_json_col(ncol(a, "roles"), "[\"render-node\"]");
    assert_string_equal(ncol(a, "approval"), "approved");
    assert_string_equal(ncol(a, "name"), "render 01 (it's new)");
    assert_string_equal(ncol(a, "drain"), "0");
    assert_string_equal(ncol(a, "flag_update_node"), "1");
    assert_string_equal(ncol(a, "enrolled_at"), "2026-01-02T02:04:05Z");
    assert_string_equal(ncol(a, "last_seen"), "2026-11-20T21:03:11Z");
    assert_true(token_matches(a, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa01"));
    /* unknown fields: plain YAML 1.1 ints/bools/nulls typed, everything else text */
    assert_json_col(ncol(a, "extra"), "{\"comment\":\"folded text on two lines\\n\","
                                      "\"rack\":{\"row\":3,\"slot\":\"07\",\"powered\":true,\"tags\":[\"a\",\"b\"],"
                                      "\"ratio\":\"1.5\",\"label\":\"yes\",\"spare\":null}}");

    const char *b = "node-hand-02";
    assert_string_equal(ncol(b, "district"), "ams1"); /* the first merged mapping wins */
    assert_string_equal(ncol(b, "venue"), "ams-lab");
    assert_string_equal(ncol(b, "os"), "windows");
    assert_string_equal(ncol(b, "owner"), "lab");
    assert_string_equal(ncol(b, "approval"), "pending");
    assert_json_col(ncol(b, "roles"), "[\"render-node\",\"hydraguard-air\"]");
    assert_json_col(ncol(b, "diagnostics"), "{\"wireguard\":\"up\",\"latency_ms\":\"4\"}");

    const char *c = "node-hand-03";
    assert_string_equal(ncol(c, "name"), "kiosk \"three\"");
    assert_string_equal(ncol(c, "approval"), "approved");
    assert_string_equal(hcol(c, "status"), "streaming");
    assert_string_equal(hcol(c, "assigned_body_id"), "node-hand-01");
    assert_json_col(hcol(c, "allowed_experiences"), "[\"deep-sea\"]");
    assert_json_col(ncol(c, "extra"), "{\"head\":{\"screen\":{\"w\":1920,\"h\":1080}}}");

    assert_json_col(ncol("node-hand-04", "extra"), "{\"notes\":\"line one\\nline two\\n\"}");
    assert_string_equal(hcol("node-hand-04", "status"), "idle");

    assert_string_equal(q("SELECT description FROM roles WHERE name = 'render-node'"), "LarkXR standalone render node");
    /* recipes stay text, as in config.yaml's role_catalog */
    assert_json_col(q("SELECT recipe FROM roles WHERE name = 'render-node'"), "{\"service\":\"larkxr\",\"version\":\"3\"}");
}

static void test_hand_edited(void **state)
{
    (void)state;
    import_report_t rep;
    char err[1024] = "";
    if (import_text(hand_edited, 0, &rep, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_counts(&rep.nodes, 4, 0, 0, 0);
    assert_counts(&rep.heads, 2, 0, 0, 0);
    assert_counts(&rep.roles, 2, 0, 0, 0);
    /* the anchor holders are reported, not silently dropped */
    int notes = 0;
    for (size_t i = 0; i < rep.nnotes; i++)
        notes += strstr(rep.notes[i], "\"x-defaults\"") != NULL || strstr(rep.notes[i], "\"x-site\"") != NULL;
    assert_int_equal(notes, 2);
    import_report_free(&rep);
    check_hand_edited();
}

/* the same file with CRLF line ends and a UTF-8 BOM, read from disk */
static void test_hand_edited_crlf_bom(void **state)
{
    (void)state;
    size_t n = strlen(hand_edited);
    char *crlf = malloc(3 + n * 2 + 1), *p = crlf;
    assert_non_null(crlf);
    memcpy(p, "\xef\xbb\xbf", 3);
    p += 3;
    for (size_t i = 0; i < n; i++) {
        if (hand_edited[i] == '\n')
            *p++ = '\r';
        *p++ = hand_edited[i];
    }
    char path[400];
    snprintf(path, sizeof(path), "%s/crlf.yaml", g_tmp);
    write_file(path, crlf, (size_t)(p - crlf));
    free(crlf);
    import_report_t rep;
    import_ok(path, 0, &rep);
    assert_counts(&rep.nodes, 4, 0, 0, 0);
    import_report_free(&rep);
    check_hand_edited();
    /* and once more: unchanged */
    import_ok(path, 0, &rep);
    assert_counts(&rep.nodes, 0, 0, 4, 0);
    assert_counts(&rep.heads, 0, 0, 2, 0);
    import_report_free(&rep);
}

/* ---- refusals: file:line:column and the reason, nothing imported ---- */

static void expect_refusal(const char *text, const char *where, const char *reason)
{
    char err[1024] = "";
    import_report_t rep;
    char *before = dump_db();
    if (import_text(text, 0, &rep, err, sizeof(err)) == 0)
        fail_msg("accepted, wanted \"%s\":\n%s", reason, text);
    import_report_free(&rep);
    if (strncmp(err, where, strlen(where)) != 0 || strstr(err, reason) == NULL)
        fail_msg("got \"%s\"\nwant \"%s ... %s\"", err, where, reason);
    assert_null(strchr(err, '\n'));
    char *after = dump_db();
    assert_string_equal(before, after);
    free(before);
    free(after);
}

#define TOK "0123456789abcdef0123"

static void test_refusals(void **state)
{
    (void)state;
    expect_refusal("nodes:\n  - id: a1\n    name: [x\n", "t.yaml:4:1:", "malformed YAML");
    expect_refusal("nodes:\n  - id: n1\n   bad: indent\n", "t.yaml:3:", "malformed YAML");
    expect_refusal("nodes:\n  - name: nobody\n    token: " TOK "\n", "t.yaml:2:5:", "has no \"id\"");
    expect_refusal("nodes:\n  - id: n1\n  - id: n2\n  - id: n1\n", "t.yaml:4:5:", "duplicate node id \"n1\" (first at line 2)");
    expect_refusal("nodes:\n  - id: n1\n    roles: render-node\n", "t.yaml:3:12:", "\"roles\" must be a list");
    expect_refusal("nodes:\n  node-1: {}\n", "t.yaml:2:3:", "\"nodes\" must be a list");
    expect_refusal("role_catalog: {name: x}\n", "t.yaml:1:15:", "\"role_catalog\" must be a list");
    expect_refusal("nodes:\n  - id: \"node 1\"\n", "t.yaml:2:9:", "node id \"node 1\" is not valid");
    expect_refusal("nodes:\n  - id: ../etc\n", "t.yaml:2:9:", "is not valid");
    expect_refusal("nodes:\n  - id: n1\n    token: short-token\n", "t.yaml:3:12:", "shorter than 16 characters");
    expect_refusal("nodes:\n  - id: n1\n    token: \"" TOK " x\"\n", "t.yaml:3:12:", "contains a space");
    expect_refusal("nodes:\n  - id: n1\n    last_seen: yesterday\n", "t.yaml:3:16:", "not an RFC 3339 time");
    expect_refusal("nodes:\n  - id: n1\n    enrolled_at: 2026-02-31T00:00:00Z\n", "t.yaml:3:18:", "not an RFC 3339");
    expect_refusal("nodes:\n  - id: n1\n    enrolled_at: 2026-03-02T10:14:55\n", "t.yaml:3:18:", "not an RFC 3339");
    expect_refusal("nodes:\n  - id: n1\n    approved: maybe\n", "t.yaml:3:15:", "must be true or false");
    expect_refusal("nodes:\n  - id: n1\n    name: {first: a}\n", "t.yaml:3:11:", "\"name\" must be text");
    expect_refusal("nodes:\n  - id: n1\n    name: a\n    name: b\n", "t.yaml:4:5:", "duplicate key \"name\"");
    expect_refusal("nodes:\n  - id: n1\n    token: " TOK "\n  - id: n2\n    token: " TOK "\n", "t.yaml:4:5:",
                   "same token as node \"n1\"");
    expect_refusal("nodes:\n  - id: n1\n    head: {status: sleeping}\n", "t.yaml:3:20:", "idle, streaming or error");
    expect_refusal("nodes:\n  - id: n1\n    <<: *nowhere\n", "t.yaml:3:9:", "unknown anchor *nowhere");
    expect_refusal("nodes:\n  - id: n1\n    <<: [a, b]\n", "t.yaml:3:10:", "needs a mapping or a list of mappings");
    expect_refusal("- id: n1\n", "t.yaml:1:1:", "top level must be a mapping");
    expect_refusal("server:\n  listen: x\n", "t.yaml:1:1:", "is this a nodes.yaml?");
    expect_refusal("", "t.yaml: ", "the file is empty");
    expect_refusal("nodes: []\n---\nnodes: []\n", "t.yaml:2:1:", "a second YAML document");
    expect_refusal("a: &x [1, *x]\nnodes: []\n", "t.yaml:1:11:", "recursive");
    expect_refusal("role_catalog:\n  - name: r1\n    colour: red\n", "t.yaml:3:5:", "unknown key \"colour\"");
    expect_refusal("role_catalog:\n  - name: r1\n  - name: r1\n", "t.yaml:3:5:", "listed twice");
    expect_refusal("nodes:\n  - id: n1\n    roles: [a, a]\n", "t.yaml:3:16:", "lists \"a\" twice");
    expect_refusal("nodes:\n  - id: n1\n    name: \"a\\0b\"\n", "t.yaml:3:11:", "NUL");
    expect_refusal("nodes:\n  - id: n1\n    os: \"" "0123456789012345678901234567890123456789012345678901234567890123456789"
                   "\"\n",
                   "t.yaml:3:9:", "at most 63 are kept");
    /* a token is never shown, even in a refusal */
    char err[512];
    import_report_t rep;
    assert_int_not_equal(import_text("nodes:\n  - id: n1\n    token: secret-short\n", 0, &rep, err, sizeof(err)), 0);
    assert_null(strstr(err, "secret-short"));
    /* a good node before a bad one: nothing at all is imported */
    expect_refusal("nodes:\n  - id: good\n    token: " TOK "\n  - id: bad\n    last_seen: 2026-13-01T00:00:00Z\n",
                   "t.yaml:5:16:", "not an RFC 3339");
    assert_int_equal(query_int("SELECT count(*) FROM nodes"), 0);
}

static void test_malformed_file_line(void **state)
{
    (void)state;
    char path[400], err[1024] = "";
    snprintf(path, sizeof(path), "%s/broken.yaml", g_tmp);
    const char *text = "nodes:\n  - id: n1\n    name: ok\n  - id: n2\n    name: \"unterminated\n";
    write_file(path, text, strlen(text));
    import_report_t rep;
    assert_int_equal(import_file(store_db(), path, 0, &rep, err, sizeof(err)), -1);
    import_report_free(&rep);
    char want[512];
    snprintf(want, sizeof(want), "%s:6:1: malformed YAML", path);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("got \"%s\", want \"%s...\"", err, want);
    assert_int_equal(query_int("SELECT count(*) FROM nodes"), 0);
    /* a missing file and a directory */
    snprintf(path, sizeof(path), "%s/none.yaml", g_tmp);
    assert_int_equal(import_file(store_db(), path, 0, &rep, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot open"));
    assert_int_equal(import_file(store_db(), g_tmp, 0, &rep, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a regular file"));
}

/* ---- alias bombs ---- */

/* the classic billion laughs: 9 levels of 9 aliases each, 9^9 strings */
static char *billion_laughs(void)
{
    size_t cap = 4096, len = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    len += (size_t)snprintf(s + len, cap - len, "a0: &a0 \"lol\"\n");
    for (int lvl = 1; lvl <= 9; lvl++) {
        len += (size_t)snprintf(s + len, cap - len, "a%d: &a%d [", lvl, lvl);
        for (int i = 0; i < 9; i++)
            len += (size_t)snprintf(s + len, cap - len, "%s*a%d", i ? ", " : "", lvl - 1);
        len += (size_t)snprintf(s + len, cap - len, "]\n");
    }
    snprintf(s + len, cap - len, "nodes:\n  - id: n1\n    bomb: *a9\n");
    return s;
}

typedef struct {
    int refused;
    long rss_growth_kb;
    double seconds;
    char err[512];
} bomb_result_t;

/* parses text in a child process and measures its time and peak memory
 * growth there, away from what earlier tests left in this process */
static bomb_result_t parse_measured(const char *text)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        bomb_result_t r = {0};
        struct rusage before, after;
        getrusage(RUSAGE_SELF, &before);
        uint64_t t0 = clock_mono_us();
        import_plan_t *p = import_parse_buffer("bomb.yaml", text, strlen(text), r.err, sizeof(r.err));
        r.seconds = (double)(clock_mono_us() - t0) / 1e6;
        getrusage(RUSAGE_SELF, &after);
        r.refused = p == NULL;
        import_plan_free(p);
        r.rss_growth_kb = after.ru_maxrss - before.ru_maxrss;
        ssize_t w = write(fds[1], &r, sizeof(r));
        _exit(w == (ssize_t)sizeof(r) ? 0 : 1);
    }
    close(fds[1]);
    bomb_result_t r;
    size_t got = 0;
    while (got < sizeof(r)) {
        ssize_t n = read(fds[0], (char *)&r + got, sizeof(r) - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fds[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_int_equal(got, sizeof(r));
    return r;
}

static void test_alias_bomb(void **state)
{
    (void)state;
    char *text = billion_laughs();
    bomb_result_t r = parse_measured(text);
    free(text);
    print_message("billion laughs: refused in %.3f s, peak RSS growth %ld KiB: %s\n", r.seconds, r.rss_growth_kb, r.err);
    assert_true(r.refused);
    assert_non_null(strstr(r.err, "alias bomb"));
    assert_true(r.seconds < 1.0);
    assert_true(r.rss_growth_kb < 16 * 1024);
    /* and through the whole import: refused, nothing written */
    text = billion_laughs();
    char err[512];
    import_report_t rep;
    assert_int_equal(import_text(text, 0, &rep, err, sizeof(err)), -1);
    free(text);
    assert_int_equal(query_int("SELECT count(*) FROM nodes"), 0);

    /* wide rather than deep: 2000 aliases of a 1000-item list */
    size_t cap = 64 * 1024, len = 0;
    text = malloc(cap);
    assert_non_null(text);
    len += (size_t)snprintf(text + len, cap - len, "x: &x [");
    for (int i = 0; i < 1000; i++)
        len += (size_t)snprintf(text + len, cap - len, "%s1", i ? "," : "");
    len += (size_t)snprintf(text + len, cap - len, "]\ny: [");
    for (int i = 0; i < 2000; i++)
        len += (size_t)snprintf(text + len, cap - len, "%s*x", i ? "," : "");
    snprintf(text + len, cap - len, "]\nnodes: []\n");
    r = parse_measured(text);
    free(text);
    assert_true(r.refused);
    assert_non_null(strstr(r.err, "alias bomb"));
    assert_true(r.seconds < 1.0);
}

static void test_depth_bounds(void **state)
{
    (void)state;
    char text[1024] = "nodes: []\ndeep: ";
    for (int i = 0; i < 100; i++)
        strcat(text, "[");
    for (int i = 0; i < 100; i++)
        strcat(text, "]");
    strcat(text, "\n");
    char err[512];
    import_plan_t *p = import_parse_buffer("t.yaml", text, strlen(text), err, sizeof(err));
    assert_null(p);
    assert_non_null(strstr(err, "nested more than 64 levels"));
    /* each part shallow enough, too deep once the alias is expanded */
    char t2[2048] = "a: &a ";
    for (int i = 0; i < 40; i++)
        strcat(t2, "[");
    for (int i = 0; i < 40; i++)
        strcat(t2, "]");
    strcat(t2, "\nb: ");
    for (int i = 0; i < 40; i++)
        strcat(t2, "[");
    strcat(t2, "*a");
    for (int i = 0; i < 40; i++)
        strcat(t2, "]");
    strcat(t2, "\nnodes: []\n");
    p = import_parse_buffer("t.yaml", t2, strlen(t2), err, sizeof(err));
    assert_null(p);
    if (strncmp(err, "t.yaml:2:44: nested more than 64 levels deep (after expanding aliases)", 70) != 0)
        fail_msg("%s", err);
}

/* the bounds leave room for a real fleet: 3000 nodes of the sample's shape */
static void test_large_fleet(void **state)
{
    (void)state;
    size_t cap = 4 * 1024 * 1024, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    len += (size_t)snprintf(text + len, cap - len, "nodes:\n");
    for (int i = 0; i < 3000; i++)
        len += (size_t)snprintf(text + len, cap - len,
                                "  - id: node-%08x\n    name: render-%d\n    hostname: DESKTOP-%d\n    os: windows\n"
                                "    arch: amd64\n    token: %064x\n    owner: ops\n    district: bxl1\n"
                                "    venue: cloud-seven\n    roles: [render-node]\n    approved: true\n"
                                "    enrolled_at: 2026-03-02T10:14:55Z\n    last_seen: 2026-11-20T21:03:11Z\n"
                                "    version: v0.23.10\n    wireguard_ip: 10.66.%d.%d\n    lan_ip: 192.168.%d.%d\n"
                                "    provider_status: running\n    stream_status: idle\n    drain: false\n"
                                "    gpu_model: RTX 4080\n",
                                i, i, i, i + 1, i / 256, i % 256, i / 256, i % 256);
    uint64_t t0 = clock_mono_us();
    import_report_t rep;
    char err[512];
    if (import_text(text, 0, &rep, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    double s = (double)(clock_mono_us() - t0) / 1e6;
    free(text);
    print_message("3000 nodes (%zu bytes) imported in %.3f s\n", len, s);
    assert_counts(&rep.nodes, 3000, 0, 0, 0);
    /* one warning for the role missing from the catalog, not 3000 */
    assert_int_equal(rep.nnotes, 1);
    assert_non_null(strstr(rep.notes[0], "role \"render-node\" is not in the role catalog; 3000 nodes hold it "
                                         "(first \"node-00000000\", t.yaml:2)"));
    import_report_free(&rep);
    assert_int_equal(query_int("SELECT count(*) FROM nodes"), 3000);
}

/* ---- dry run ---- */

static void test_dry_run_changes_nothing(void **state)
{
    (void)state;
    char *empty = dump_db();
    import_report_t rep;
    import_ok(SAMPLE, IMPORT_DRY_RUN, &rep);
    /* counted as if it happened */
    assert_counts(&rep.nodes, 6, 0, 0, 0);
    assert_counts(&rep.heads, 2, 0, 0, 0);
    assert_counts(&rep.roles, 5, 0, 0, 0);
    import_report_free(&rep);
    char *after = dump_db();
    assert_string_equal(empty, after);
    free(after);
    assert_int_equal(query_int("SELECT count(*) FROM meta WHERE key = '" IMPORT_META_KEY "'"), 0);

    /* over existing rows too */
    import_ok(SAMPLE, 0, &rep);
    import_report_free(&rep);
    char *before = dump_db(), err[512];
    assert_int_equal(import_text("nodes:\n  - {id: node-7f3a9c21, owner: someone-else}\n  - {id: node-new1}\n",
                                 IMPORT_DRY_RUN, &rep, err, sizeof(err)),
                     0);
    assert_counts(&rep.nodes, 1, 1, 0, 0);
    import_report_free(&rep);
    after = dump_db();
    assert_string_equal(before, after);
    free(before);
    free(after);
    free(empty);
}

/* ---- first start and the lock ---- */

static void test_first_start(void **state)
{
    (void)state;
    import_report_t rep;
    char err[1024] = "", path[400];
    int done = -1;
    /* no nodes.yaml: nothing to do */
    assert_int_equal(import_first_start(store_db(), g_data, &rep, &done, err, sizeof(err)), 0);
    assert_int_equal(done, 0);

    snprintf(path, sizeof(path), "%s/nodes.yaml", g_data);
    const char *bad = "nodes:\n  - id: n1\n  - id: n1\n";
    write_file(path, bad, strlen(bad));
    assert_int_equal(import_first_start(store_db(), g_data, &rep, &done, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "nodes.yaml:3:5: duplicate node id"));
    import_report_free(&rep);

    const char *good = "nodes:\n  - id: n1\n    token: " TOK "\n";
    write_file(path, good, strlen(good));
    assert_int_equal(import_first_start(store_db(), g_data, &rep, &done, err, sizeof(err)), 0);
    assert_int_equal(done, 1);
    assert_counts(&rep.nodes, 1, 0, 0, 0);
    import_report_free(&rep);
    /* once only: the database has nodes now */
    assert_int_equal(import_first_start(store_db(), g_data, &rep, &done, err, sizeof(err)), 0);
    assert_int_equal(done, 2);
    /* and even with the nodes gone, the recorded import keeps it from coming back */
    assert_int_equal(sqlite3_exec(store_db(), "DELETE FROM nodes", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(import_first_start(store_db(), g_data, &rep, &done, err, sizeof(err)), 0);
    assert_int_equal(done, 2);
    assert_int_equal(query_int("SELECT count(*) FROM nodes"), 0);
}

static void test_data_dir_lock(void **state)
{
    (void)state;
    char err[512] = "";
    int fd = import_lock_data_dir(g_data, err, sizeof(err));
    assert_true(fd >= 0);
    /* flock is per open file: a second open in this process conflicts as another process would */
    assert_int_equal(import_lock_data_dir(g_data, err, sizeof(err)), IMPORT_LOCK_BUSY);
    char pid[32];
    snprintf(pid, sizeof(pid), "pid %ld", (long)getpid());
    assert_non_null(strstr(err, pid));
    close(fd);
    fd = import_lock_data_dir(g_data, err, sizeof(err));
    assert_true(fd >= 0);
    close(fd);
}

/* ---- scale: the alias bound is a ratio, not a count ---- */

/* defaults merged into every node, as hand-kept files do: 20,000 nodes whose
 * aliases add more YAML nodes (~320,000) than a fixed bound of 250,000 allowed */
static void test_defaults_merged_at_scale(void **state)
{
    (void)state;
    size_t cap = 8 * 1024 * 1024, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    len += (size_t)snprintf(text + len, cap - len,
                            "x-defaults: &d {os: windows, arch: amd64, owner: ops, district: bxl1, venue: cloud-seven, "
                            "approved: true, drain: false, gpu_model: RTX 4080}\nnodes:\n");
    for (int i = 0; i < 20000; i++)
        len += (size_t)snprintf(text + len, cap - len, "  - {<<: *d, id: n%05d, name: render-%d, token: %064x}\n", i, i,
                                i + 1);
    assert_true(len < cap);
    import_report_t rep;
    char err[512];
    if (import_text(text, 0, &rep, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    free(text);
    assert_counts(&rep.nodes, 20000, 0, 0, 0);
    import_report_free(&rep);
    assert_string_equal(ncol("n19999", "venue"), "cloud-seven");
    assert_string_equal(ncol("n19999", "approval"), "approved");
    assert_json_col(ncol("n00000", "extra"), "{\"gpu_model\":\"RTX 4080\"}");
}

/* 100,000 nodes in one file pass the bounds and are imported in one go */
static void test_hundred_thousand_nodes(void **state)
{
    (void)state;
    size_t cap = 16 * 1024 * 1024, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    len += (size_t)snprintf(text + len, cap - len, "nodes:\n");
    for (int i = 0; i < 100000; i++)
        len += (size_t)snprintf(text + len, cap - len, "  - id: node-%06d\n    token: %064x\n    roles: [render-node]\n",
                                i, i + 1);
    assert_true(len < cap);
    uint64_t t0 = clock_mono_us();
    import_report_t rep;
    char err[512];
    if (import_text(text, 0, &rep, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    print_message("100000 nodes (%zu bytes) imported in %.3f s (this build; tests/bench/run import_bench for the "
                  "optimised one)\n",
                  len, (double)(clock_mono_us() - t0) / 1e6);
    free(text);
    assert_counts(&rep.nodes, 100000, 0, 0, 0);
    import_report_free(&rep);
    assert_int_equal(query_int("SELECT count(*) FROM nodes"), 100000);
    assert_int_equal(query_int("SELECT count(DISTINCT token_hash) FROM nodes"), 100000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_alias_bomb, setup, teardown),
        cmocka_unit_test_setup_teardown(test_depth_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sample_every_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reimport_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_merges_and_keeps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_taken_is_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hand_edited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hand_edited_crlf_bom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_file_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_fleet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dry_run_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_dir_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults_merged_at_scale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hundred_thousand_nodes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

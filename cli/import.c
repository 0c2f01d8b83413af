/* `hydracluster import PATH/nodes.yaml [--config PATH] [--dry-run]` (docs/operations.md) */
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "import.h"
#include "secret.h"
#include "store.h"

static void print_counts(const char *kind, const import_counts_t *c)
{
    printf("%-6s %u imported, %u updated, %u unchanged, %u skipped\n", kind, c->imported, c->updated, c->unchanged,
           c->skipped);
}

int cli_import_main(int argc, char **argv)
{
    const char *config_path = NULL;
    int dry_run = 0;
    int done = cli_local_options(argc, argv, "import", "dry-run", 'n', &config_path, &dry_run);
    if (done >= 0)
        return done;
    if (optind + 1 != argc) {
        fprintf(stderr, "hydracluster import: expected exactly one file (hydracluster import PATH/nodes.yaml)\n");
        return 2;
    }
    const char *file = argv[optind];

    hc_config_t cfg;
    if (serve_load_config(config_path, &cfg) != 0)
        return 1;
    char err[1024];
    int rc = 1, lock_fd = -1;
    import_plan_t *plan = NULL;
    import_report_t rep = {0};
    if (secret_init() != 0) {
        fprintf(stderr, "hydracluster import: libsodium failed to initialise\n");
        goto out;
    }
    /* the file first: a refusal needs no database and says what to fix */
    if ((plan = import_parse_file(file, err, sizeof(err))) == NULL) {
        fprintf(stderr, "hydracluster import: %s\n", err);
        goto out;
    }
    if (store_open(cfg.server.data_dir, err, sizeof(err)) != 0) {
        fprintf(stderr, "hydracluster import: %s\n", err);
        goto out;
    }
    lock_fd = import_lock_data_dir(cfg.server.data_dir, err, sizeof(err));
    if (lock_fd == IMPORT_LOCK_BUSY) {
        fprintf(stderr, "hydracluster import: %s: stop the server first (or restart it after importing)\n", err);
        goto out;
    }
    if (lock_fd < 0 || store_migrate(NULL, err, sizeof(err)) != 0 || secret_load_key(store_db(), err, sizeof(err)) != 0 ||
        import_apply(store_db(), plan, dry_run ? IMPORT_DRY_RUN : 0, &rep, err, sizeof(err)) != 0) {
        fprintf(stderr, "hydracluster import: %s\n", err);
        goto out;
    }
    printf("%s %s into %s\n", dry_run ? "dry run: would import" : "imported", file, store_path());
    print_counts("nodes", &rep.nodes);
    print_counts("heads", &rep.heads);
    print_counts("roles", &rep.roles);
    for (size_t i = 0; i < rep.nnotes; i++)
        printf("%s\n", rep.notes[i]);
    if (dry_run)
        printf("dry run: nothing was changed\n");
    rc = 0;
out:
    import_report_free(&rep);
    import_plan_free(plan);
    store_close();
    if (lock_fd >= 0)
        close(lock_fd);
    config_free(&cfg);
    return rc;
}

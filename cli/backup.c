/* `hydracluster backup DEST [--config PATH] [--force]`: store/backup.c does the work. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "store.h"

int cli_backup_main(int argc, char **argv)
{
    const char *config_path = NULL;
    int force = 0;
    int done = cli_local_options(argc, argv, "backup", "force", 'f', &config_path, &force);
    if (done >= 0)
        return done;
    if (argc - optind != 1) {
        fprintf(stderr, "hydracluster backup: expected one DEST path (see hydracluster backup --help)\n");
        return 2;
    }
    const char *dest = argv[optind];
    hc_config_t cfg;
    if (serve_load_config(config_path, &cfg) != 0)
        return 1;
    char err[1024];
    store_backup_info_t info;
    int rc = store_backup(cfg.server.data_dir, dest, force, &info, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "hydracluster backup: %s\n", err);
    else
        printf("backup written to %s: %llu bytes, %llu pages, schema version %d, integrity ok, %.1f ms\n", dest,
               (unsigned long long)info.bytes, (unsigned long long)info.pages, info.schema_version,
               info.duration_us / 1000.0);
    config_free(&cfg);
    return rc == 0 ? 0 : 1;
}

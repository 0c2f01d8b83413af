/* `hydracluster migrate [--config PATH]` */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "store.h"

int cli_migrate_main(int argc, char **argv)
{
    const char *config_path = NULL;
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        if (c == 'c') {
            config_path = optarg;
        } else if (c == 'h') {
            cli_usage(stdout, "migrate");
            return 0;
        } else {
            return 2;
        }
    }
    hc_config_t cfg;
    if (serve_load_config(config_path, &cfg) != 0)
        return 1;
    char err[1024];
    int applied = 0;
    int rc = 0;
    if (store_open(cfg.server.data_dir, err, sizeof(err)) != 0 || store_migrate(&applied, err, sizeof(err)) != 0) {
        fprintf(stderr, "hydracluster migrate: %s\n", err);
        rc = 1;
    } else {
        printf("schema version %d (%d migration%s applied)\n", store_schema_version(), applied, applied == 1 ? "" : "s");
    }
    store_close();
    config_free(&cfg);
    return rc;
}

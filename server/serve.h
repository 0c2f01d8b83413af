/*
 * `hydracluster serve`: start-up and shutdown order (serve.c).
 * serve_config() is the loaded configuration, read-only while serving and
 * readable from any thread without a lock.
 */
#ifndef HC_SERVE_H
#define HC_SERVE_H

#include <stdint.h>

#include "config.h"

int serve_main(int argc, char **argv);
const hc_config_t *serve_config(void);
/* the public URL agents and install commands use (config, else derived from the first listener) */
const char *serve_public_url(void);
/* seconds since start */
int64_t serve_uptime_s(void);

#endif

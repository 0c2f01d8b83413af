/* libFuzzer target: the config loader (config_load, the public entry point
 * serve, migrate, import, token and backup use), through a memfd so that
 * the loader reads a real file. A loaded config must free cleanly; a refused
 * one must say why. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    if (fd < 0) {
        log_set_min_level(LOG_FATAL);
        fd = memfd_create("fuzz-config", 0);
        if (fd < 0)
            abort();
    }
    if (size > 64 * 1024)
        return 0;
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    hc_config_t cfg;
    char err[1024] = "";
    if (config_defaults(&cfg) != 0)
        abort();
    if (config_load(&cfg, path, err, sizeof(err)) != 0 && err[0] == '\0')
        abort(); /* a refusal must say why */
    config_free(&cfg);
    return 0;
}

/* libFuzzer target: the nodes.yaml importer's reader (import_parse_buffer,
 * the public entry point `hydracluster import` and the first-start import
 * use): YAML syntax, anchors and aliases (bounded expansion), merge keys,
 * every field's validation. A parse that succeeds must give a plan whose
 * counts can be read and that frees cleanly. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "import.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        log_set_min_level(LOG_FATAL); /* the importer warns about what it skips */
        quiet = 1;
    }
    if (size > 256 * 1024)
        return 0;
    char err[512] = "";
    import_plan_t *plan = import_parse_buffer("fuzz.yaml", (const char *)data, size, err, sizeof(err));
    if (plan != NULL) {
        (void)import_plan_node_count(plan);
        (void)import_plan_role_count(plan);
        import_plan_free(plan);
    } else if (err[0] == '\0') {
        abort(); /* a refusal must say why */
    }
    return 0;
}

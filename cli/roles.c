/*
 * `hydracluster roles list|put|delete` (usage: cli/commands.c):
 *   list     GET /api/v1/roles
 *   put      PUT /api/v1/roles/{name} {"description", "recipe"}
 *   delete   DELETE /api/v1/roles/{name}[?force=true]
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"

#define RECIPE_MAX (64 * 1024)

static void role_row(cli_table_t *t, json_t *r)
{
    char *recipe = json_dumps(json_object_get(r, "recipe"), JSON_COMPACT);
    const char *row[] = {cli_str(r, "name"), cli_str(r, "description"), recipe ? recipe : ""};
    cli_table_add(t, row);
    free(recipe);
}

/* the recipe: a JSON object from path ("-" = stdin); NULL after saying why */
static json_t *read_recipe(const char *prog, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "%s: cannot read %s\n", prog, path);
        return NULL;
    }
    json_error_t je;
    json_t *r = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
    if (f != stdin)
        fclose(f);
    if (r == NULL) {
        fprintf(stderr, "%s: %s: not JSON: %s (line %d)\n", prog, path, je.text, je.line);
        return NULL;
    }
    if (!json_is_object(r)) {
        fprintf(stderr, "%s: %s: the recipe must be a JSON object\n", prog, path);
        json_decref(r);
        return NULL;
    }
    return r;
}

static int roles_put(cli_ctx_t *c, const char *name, const char *description, const char *recipe_path)
{
    json_t *body = json_object();
    if (description != NULL)
        json_object_set_new(body, "description", json_string(description));
    if (recipe_path != NULL) {
        json_t *r = read_recipe(c->prog, recipe_path);
        if (r == NULL) {
            json_decref(body);
            return CLI_EXIT_USAGE;
        }
        json_object_set_new(body, "recipe", r);
    }
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    cli_object_t o;
    if (s == NULL || strlen(s) > RECIPE_MAX || cli_object(c, &o, "/api/v1/roles/", name, "", "role") != 0) {
        fprintf(stderr, "%s: the role is too large (at most %d bytes of JSON)\n", c->prog, RECIPE_MAX);
        free(s);
        return CLI_EXIT_USAGE;
    }
    char *raw = NULL;
    int rc = cli_call(c, "PUT", o.path, s, 0, o.what, &raw, NULL);
    free(s);
    if (rc == 0) {
        if (c->output == CLI_OUT_JSON)
            printf("%s\n", raw ? raw : "{}");
        else
            printf("role %s stored\n", name);
    }
    free(raw);
    return rc;
}

static int roles_delete(cli_ctx_t *c, const char *name, int force)
{
    cli_object_t role;
    if (cli_object(c, &role, "/api/v1/roles/", name, force ? "?force=true" : "", "role") != 0)
        return CLI_EXIT_USAGE;
    char *raw = NULL;
    json_t *o = NULL;
    int rc = cli_call(c, "DELETE", role.path, NULL, 200, role.what, &raw, &o);
    if (rc == 0) {
        char list[1024];
        if (c->output == CLI_OUT_JSON)
            printf("%s\n", raw ? raw : "{}");
        else if (json_array_size(json_object_get(o, "removed_from")) > 0)
            printf("role %s deleted; removed from %s\n", name,
                   cli_join(json_object_get(o, "removed_from"), list, sizeof(list)));
        else
            printf("role %s deleted\n", name);
    } else if (rc == CLI_EXIT_CONFLICT) {
        fprintf(stderr, "%s: (--force also removes it from those nodes)\n", c->prog);
    }
    free(raw);
    json_decref(o);
    return rc;
}

int cli_roles_main(int argc, char **argv)
{
    static const struct option opts[] = {{"description", required_argument, NULL, 'D'},
                                         {"recipe", required_argument, NULL, 'R'},
                                         {"force", no_argument, NULL, 'f'},
                                         CLI_CLIENT_LONG_OPTIONS,
                                         {0}};
    cli_ctx_t c;
    cli_ctx_init(&c, "hydracluster roles", "roles");
    const char *description = NULL, *recipe = NULL;
    int force = 0, ch;
    while ((ch = cli_ctx_getopt(&c, argc, argv, opts)) > 0) {
        if (ch == 'D')
            description = optarg;
        else if (ch == 'R')
            recipe = optarg;
        else if (ch == 'f')
            force = 1;
    }
    if (ch < 0)
        return c.exit_code;
    enum { LIST, PUT, DELETE };
    static const char *const subs[] = {"list", "put", "delete", NULL};
    int sub = cli_ctx_subcommand(&c, argc, argv, subs);
    if (sub < 0)
        return CLI_EXIT_USAGE;
    int nargs = argc - optind - 1;
    const char *bad = NULL;
    if (sub == LIST && nargs != 0)
        bad = "list takes no argument";
    else if (sub != LIST && nargs != 1)
        bad = "give one role name";
    else if (sub != PUT && (description || recipe))
        bad = "--description and --recipe go with put";
    else if (sub != DELETE && force)
        bad = "--force goes with delete";
    else if (c.output == CLI_OUT_IDS)
        bad = "-o takes table or json";
    if (bad != NULL)
        return cli_ctx_refuse(&c, subs[sub], bad);
    int rc = cli_ctx_connect(&c);
    if (rc == 0) {
        static const char *const head[] = {"NAME", "DESCRIPTION", "RECIPE", NULL};
        if (sub == LIST)
            rc = cli_print_list(&c, "/api/v1/roles", "roles", head, role_row, NULL);
        else if (sub == PUT)
            rc = roles_put(&c, argv[optind + 1], description, recipe);
        else
            rc = roles_delete(&c, argv[optind + 1], force);
    }
    cli_ctx_free(&c);
    return rc;
}

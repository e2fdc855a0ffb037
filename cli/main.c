/* main.c - convc COMMAND ...: check, run, compile or graph (cli.h).
 * Exit status: 0 success, 1 diagnostics or a failed run, 2 usage. */
#include "cli.h"

#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("convc %s\n", CONVC_VERSION);
        return 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "check") && strcmp(cmd, "run") && strcmp(cmd, "compile") && strcmp(cmd, "graph")) {
        fail("unknown command '%s' (check, run, compile or graph)", cmd);
        usage(stderr);
        return 2;
    }
    Arena a;
    arena_init(&a);
    Options o;
    int rc = parse_args(&a, argc, argv, &o);
    if (rc == 0) {
        if (!strcmp(cmd, "check"))
            rc = cmd_check(&a, &o);
        else if (!strcmp(cmd, "run"))
            rc = cmd_run(&a, &o);
        else if (!strcmp(cmd, "graph"))
            rc = cmd_graph(&a, &o);
        else
            rc = cmd_compile(&a, &o);
    }
    arena_free(&a);
    return rc;
}

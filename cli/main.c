/* main.c - convc COMMAND ...: the commands of options.c's table (cli.h).
 * Exit status: 0 success, 1 diagnostics or a failed run, 2 usage. */
#include "cli.h"

#include <string.h>

static bool is_help(const char *arg) { return !strcmp(arg, "--help") || !strcmp(arg, "-h"); }

int main(int argc, char **argv)
{
    if (argc < 2 || is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("convc %s\n", CONVC_VERSION);
        return 0;
    }
    /* convc help [COMMAND] */
    if (!strcmp(argv[1], "help")) {
        if (argc < 3) {
            usage(stdout);
            return 0;
        }
        if (command_help(stdout, argv[2]) == 0)
            return 0;
        unknown_command(argv[2]);
        return 2;
    }
    /* convc cache [clear]: its own arguments */
    if (!strcmp(argv[1], "cache")) {
        if (argc > 2 && is_help(argv[2])) {
            command_help(stdout, "cache");
            return 0;
        }
        return cmd_cache(argc, argv);
    }
    if (!known_command(argv[1])) {
        unknown_command(argv[1]);
        return 2;
    }
    Arena a;
    arena_init(&a);
    Options o;
    int rc = parse_args(&a, argc, argv, &o);
    if (rc == 0 && o.help)
        command_help(stdout, o.command);
    else if (rc == 0)
        rc = run_command(&a, &o);
    arena_free(&a);
    return rc;
}

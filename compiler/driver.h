/* driver.h - the convc command line (check, run, compile). */
#ifndef CONVC_DRIVER_H
#define CONVC_DRIVER_H

/* Exit status: 0 success, 1 diagnostics or a failed run, 2 usage. */
int driver_main(int argc, char **argv);

#endif

/* inputs.c - what `convc run NAME=FILE` reads: the file (and, for a .npz
 * archive, the array: FILE.npz:KEY), and for sound its sample rate, which
 * the audio outputs derived from it keep (outputs.c). */
#include "cli.h"

#include <string.h>
#include <strings.h>

/* "w.npz:conv1" -> path "w.npz", key "conv1"; anything else is a path. */
InputFile input_file(Arena *a, const char *arg)
{
    InputFile in = { arg, NULL };
    for (const char *s = arg; (s = strchr(s, ':')) != NULL; s++) {
        if (s - arg >= 4 && !strncasecmp(s - 4, ".npz", 4)) {
            in.path = arena_strndup(a, arg, (size_t)(s - arg));
            in.key = s + 1;
            break;
        }
    }
    return in;
}

static bool is_audio(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot && (!strcasecmp(dot, ".wav") || !strcasecmp(dot, ".flac") || !strcasecmp(dot, ".ogg"));
}

bool input_is_sound(const InputFile *in)
{
    return !in->key && is_audio(in->path);
}

int input_load(const InputFile *in, convrt_tensor *t, int32_t *rate)
{
    *rate = 0;
    if (in->key)
        return convrt_npz_load(in->path, in->key, t);
    if (input_is_sound(in))
        return convrt_audio_load(in->path, t, rate);
    return convrt_load(in->path, t);
}

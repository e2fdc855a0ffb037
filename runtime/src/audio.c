/* audio.c - sound files (WAV, FLAC, Ogg Vorbis) as float tensors, through
 * libsndfile.
 *
 * One channel is [L], C channels [C, L] (channels first, as 1-D
 * convolutions want them); samples are libsndfile's floats, so integer PCM
 * arrives in [-1, 1) exactly as Python's soundfile package gives it.
 * Writing goes through the runtime's output files (libsndfile's virtual
 * I/O on the temporary file's stream), so a failed write leaves nothing. */
#include <errno.h>
#include <math.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

/* Frames read or written per call. */
#define AUDIO_BLOCK 16384

typedef enum audio_kind { AUD_NONE, AUD_WAV, AUD_FLAC, AUD_OGG } audio_kind;

static audio_kind kind_of(const char *path)
{
    char ext[8];
    convrt__extension(path, ext, sizeof ext);
    if (!strcmp(ext, "wav")) return AUD_WAV;
    if (!strcmp(ext, "flac")) return AUD_FLAC;
    if (!strcmp(ext, "ogg")) return AUD_OGG;
    return AUD_NONE;
}

/* --------------------------------------------------------------- reading */

/* Bytes per sample of the PCM and float encodings, 0 for the others
 * (ADPCM, GSM, ...), whose sizes cannot be checked this way. */
static int sample_bytes(int format)
{
    switch (format & SF_FORMAT_SUBMASK) {
    case SF_FORMAT_PCM_S8: case SF_FORMAT_PCM_U8: case SF_FORMAT_ULAW: case SF_FORMAT_ALAW:
        return 1;
    case SF_FORMAT_PCM_16: return 2;
    case SF_FORMAT_PCM_24: return 3;
    case SF_FORMAT_PCM_32: case SF_FORMAT_FLOAT: return 4;
    case SF_FORMAT_DOUBLE: return 8;
    default: return 0;
    }
}

/* libsndfile reads a WAV whose data chunk is cut short as if the header
 * had said so; the chunk's stated size tells.  0 when it is whole (or
 * cannot be checked: a streamed WAV states 0 or 0xFFFFFFFF). */
static int wav_truncated(SNDFILE *s, const SF_INFO *info, uint64_t *stated, uint64_t *have)
{
    int bytes = sample_bytes(info->format);
    if ((info->format & SF_FORMAT_TYPEMASK) != SF_FORMAT_WAV || bytes == 0)
        return 0;
    SF_CHUNK_INFO want;
    memset(&want, 0, sizeof want);
    memcpy(want.id, "data", 4);
    want.id_size = 4;
    SF_CHUNK_ITERATOR *it = sf_get_chunk_iterator(s, &want);
    if (!it)
        return 0;
    SF_CHUNK_INFO got;
    memset(&got, 0, sizeof got);
    if (sf_get_chunk_size(it, &got) != SF_ERR_NO_ERROR || got.datalen == 0 || got.datalen == 0xffffffffu)
        return 0;
    *stated = got.datalen;
    *have = (uint64_t)info->frames * (uint64_t)info->channels * (uint64_t)bytes;
    return *stated >= *have + (uint64_t)info->channels * (uint64_t)bytes;   /* a whole frame missing */
}

int convrt_audio_load(const char *path, convrt_tensor *out, int32_t *rate)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (rate)
        *rate = 0;
    if (!path || !out)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_audio_load: %s is NULL", !path ? "path" : "output tensor");
    FILE *f;
    int64_t fsize;
    int rc = convrt__open_input(path, &f, &fsize);
    if (rc != 0)
        return rc;
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *s = sf_open_fd(fileno(f), SFM_READ, &info, SF_FALSE);
    if (!s) {
        rc = convrt_report(CONVRT_E_FORMAT, "cannot load '%s': not a sound file libsndfile can read: %s", path,
                           sf_strerror(NULL));
        fclose(f);
        return rc;
    }
    float *buf = NULL, *data = NULL;
    uint64_t stated, have;
    if (info.channels < 1 || info.samplerate < 1 || info.frames < 0) {
        rc = convrt_report(CONVRT_E_FORMAT, "cannot load '%s': the header says %d channels at %d Hz", path,
                           info.channels, info.samplerate);
        goto done;
    }
    if (wav_truncated(s, &info, &stated, &have)) {
        rc = convrt_report(CONVRT_E_FORMAT,
                           "cannot load '%s': truncated: the data chunk says %llu bytes of samples but the "
                           "file holds %llu", path, (unsigned long long)stated, (unsigned long long)have);
        goto done;
    }
    /* The buffer grows with what is actually read, never to what a header
     * merely claims. */
    int64_t ch = info.channels, cap = 0, got = 0;
    while (got < info.frames) {
        if (got == cap) {
            int64_t ncap = cap ? cap * 2 : AUDIO_BLOCK;
            if (ncap > info.frames)
                ncap = info.frames;
            int64_t bytes;
            if (__builtin_mul_overflow(ncap, ch * (int64_t)sizeof(float), &bytes) || (uint64_t)bytes > SIZE_MAX) {
                rc = convrt_report(CONVRT_E_OVERFLOW, "cannot load '%s': the sound is too long", path);
                goto done;
            }
            float *nb = realloc(buf, (size_t)bytes);
            if (!nb) {
                rc = convrt_report(CONVRT_E_NOMEM, "cannot load '%s': cannot allocate %lld samples", path,
                                   (long long)(ncap * ch));
                goto done;
            }
            buf = nb;
            cap = ncap;
        }
        sf_count_t want = cap - got < AUDIO_BLOCK ? cap - got : AUDIO_BLOCK;
        sf_count_t r = sf_readf_float(s, buf + got * ch, want);
        if (r > 0)
            got += r;
        if (r < want)
            break;
    }
    if (sf_error(s) != SF_ERR_NO_ERROR || got < info.frames) {
        int err = sf_error(s) != SF_ERR_NO_ERROR;
        rc = convrt_report(CONVRT_E_FORMAT, "cannot load '%s': truncated or damaged: the header says %lld frames, "
                           "%lld could be read%s%s%s", path, (long long)info.frames, (long long)got,
                           err ? " (" : "", err ? sf_strerror(s) : "", err ? ")" : "");
        goto done;
    }
    int64_t dims[2] = { ch, got };
    int32_t rank = ch == 1 ? 1 : 2;
    data = convrt__aligned_alloc((size_t)(got * ch) * sizeof(float), 0);
    if (!data) {
        rc = convrt_report(CONVRT_E_NOMEM, "cannot load '%s': cannot allocate %lld floats", path,
                           (long long)(got * ch));
        goto done;
    }
    for (int64_t c = 0; c < ch; c++)        /* interleaved to channels first */
        for (int64_t i = 0; i < got; i++)
            data[c * got + i] = buf[i * ch + c];
    out->data = data;
    data = NULL;
    out->rank = rank;
    if (rank == 1) {
        out->dims[0] = got;
    } else {
        out->dims[0] = dims[0];
        out->dims[1] = dims[1];
    }
    if (rate)
        *rate = info.samplerate;
done:
    free(data);
    free(buf);
    sf_close(s);
    fclose(f);
    return rc;
}

/* --------------------------------------------------------------- writing */

/* What a format takes: its channel limit and its encodings by bits. */
static int max_channels(audio_kind k)
{
    return k == AUD_FLAC ? 8 : k == AUD_OGG ? 255 : 1024;
}

static int sf_format_for(audio_kind k, int bits)
{
    switch (k) {
    case AUD_WAV:
        return SF_FORMAT_WAV | (bits == 16 ? SF_FORMAT_PCM_16 : bits == 24 ? SF_FORMAT_PCM_24 : SF_FORMAT_FLOAT);
    case AUD_FLAC:
        return SF_FORMAT_FLAC | (bits == 24 ? SF_FORMAT_PCM_24 : SF_FORMAT_PCM_16);
    case AUD_OGG:
        return SF_FORMAT_OGG | SF_FORMAT_VORBIS;
    default:
        return 0;
    }
}

int convrt__audio_check(const char *path, const convrt_tensor *t, const convrt_save_options *opt)
{
    audio_kind k = kind_of(path);
    if (k == AUD_NONE)
        return convrt_report(CONVRT_E_INVALID, "cannot save '%s': unknown audio extension (expected .wav, .flac or .ogg)",
                             path);
    int bits = opt->bits;
    int bits_ok = k == AUD_WAV ? bits == 0 || bits == 16 || bits == 24 || bits == 32
                : k == AUD_FLAC ? bits == 0 || bits == 16 || bits == 24
                                : bits == 0;
    if (!bits_ok)
        return convrt_report(CONVRT_E_INVALID, "cannot save '%s': %s, not %d bits", path,
                             k == AUD_WAV ? "a .wav is written with 16 or 24 bits, or 32-bit float (the default)"
                             : k == AUD_FLAC ? "a .flac is written with 16 (the default) or 24 bits"
                                             : "an .ogg is Vorbis, which has no bit depth to choose",
                             bits);
    if (opt->rescale)
        return convrt_report(CONVRT_E_INVALID, "cannot save '%s': rescaling is for images; sound keeps its level",
                             path);
    /* 0 is "not known yet" here (checking a target before the inputs are
     * read); writing needs a rate. */
    if (opt->rate < 0 || opt->rate > 768000)
        return convrt_report(CONVRT_E_INVALID, "cannot save '%s': sample rate %d Hz is outside 1..768000", path,
                             (int)opt->rate);
    if (!t)
        return 0;
    if (t->rank != 1 && t->rank != 2)
        return convrt_report(CONVRT_E_RANK,
                             "cannot save '%s': sound needs rank 1 [L] (mono) or 2 [C, L] (C channels), the tensor "
                             "has rank %d", path, (int)t->rank);
    int64_t ch = t->rank == 1 ? 1 : t->dims[0], len = t->dims[t->rank - 1];
    if (ch < 1 || ch > max_channels(k))
        return convrt_report(CONVRT_E_INVALID, "cannot save '%s': %lld channels; a %s file takes 1 to %d", path,
                             (long long)ch, k == AUD_WAV ? ".wav" : k == AUD_FLAC ? ".flac" : ".ogg",
                             max_channels(k));
    if (len < 0)
        return convrt_report(CONVRT_E_INVALID, "cannot save '%s': length %lld is negative", path, (long long)len);
    int64_t n;
    if (convrt__numel(t->rank, t->dims, &n) != 0)
        return convrt_report(CONVRT_E_OVERFLOW, "cannot save '%s': element count overflows", path);
    return 0;
}

/* libsndfile's virtual I/O on the output file's stream. */
static sf_count_t vio_len(void *user)
{
    FILE *fp = user;
    struct stat st;
    if (fflush(fp) != 0 || fstat(fileno(fp), &st) != 0)
        return -1;
    return st.st_size;
}

static sf_count_t vio_seek(sf_count_t off, int whence, void *user)
{
    FILE *fp = user;
    if (fseeko(fp, (off_t)off, whence) != 0)
        return -1;
    return ftello(fp);
}

static sf_count_t vio_read(void *ptr, sf_count_t n, void *user)
{
    (void)ptr, (void)n, (void)user;
    return 0;       /* the stream is write-only; writing never reads back */
}

static sf_count_t vio_write(const void *ptr, sf_count_t n, void *user)
{
    return (sf_count_t)fwrite(ptr, 1, (size_t)n, user);
}

static sf_count_t vio_tell(void *user)
{
    return ftello(user);
}

int convrt__audio_write(convrt_outfile *f, const convrt_tensor *t, const convrt_save_options *opt)
{
    const char *path = convrt__outfile_path(f);
    if (!t)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_audio_save: tensor is NULL");
    int rc = convrt__audio_check(path, t, opt);
    if (rc != 0)
        return rc;
    if (opt->rate < 1)
        return convrt_report(CONVRT_E_INVALID, "cannot save '%s': sound needs a sample rate", path);
    int64_t ch = t->rank == 1 ? 1 : t->dims[0], len = t->dims[t->rank - 1];
    if (ch * len > 0 && !t->data)
        return convrt_report(CONVRT_E_NULL_DATA, "cannot save '%s': tensor data is NULL", path);
    audio_kind k = kind_of(path);
    int keeps_all = k == AUD_WAV && (opt->bits == 0 || opt->bits == 32);

    SF_INFO info;
    memset(&info, 0, sizeof info);
    info.samplerate = opt->rate;
    info.channels = (int)ch;
    info.format = sf_format_for(k, opt->bits);
    if (!sf_format_check(&info))
        return convrt_report(CONVRT_E_INVALID, "cannot save '%s': libsndfile cannot write %lld channels at %d Hz "
                             "in this format", path, (long long)ch, (int)opt->rate);
    SF_VIRTUAL_IO vio = { vio_len, vio_seek, vio_read, vio_write, vio_tell };
    FILE *fp = convrt_outfile_stream(f);
    SNDFILE *s = sf_open_virtual(&vio, SFM_WRITE, &info, fp);
    if (!s)
        return convrt_report(CONVRT_E_IO, "cannot save '%s': %s", path, sf_strerror(NULL));
    sf_command(s, SFC_SET_CLIPPING, NULL, SF_TRUE);
    float *buf = malloc((size_t)AUDIO_BLOCK * (size_t)ch * sizeof(float));
    if (!buf) {
        sf_close(s);
        return convrt_report(CONVRT_E_NOMEM, "cannot save '%s': out of memory", path);
    }
    int64_t clipped = 0;
    for (int64_t i = 0; i < len && rc == 0; i += AUDIO_BLOCK) {
        int64_t m = len - i < AUDIO_BLOCK ? len - i : AUDIO_BLOCK;
        for (int64_t j = 0; j < m; j++) {
            for (int64_t c = 0; c < ch; c++) {
                float v = t->data[c * len + i + j];
                if (!keeps_all && !(v >= -1.0f && v <= 1.0f)) {     /* NaN too */
                    clipped++;
                    v = v > 1.0f ? 1.0f : v < -1.0f ? -1.0f : 0.0f;
                }
                buf[j * ch + c] = v;
            }
        }
        if (sf_writef_float(s, buf, m) != m)
            rc = convrt_report(CONVRT_E_IO, "cannot save '%s': %s (%s)", path, sf_strerror(s),
                               strerror(errno ? errno : EIO));
    }
    free(buf);
    int closed = sf_close(s);   /* writes the final header */
    if (rc == 0 && (closed != 0 || ferror(fp)))
        rc = convrt_report(CONVRT_E_IO, "cannot save '%s': %s", path,
                           closed ? sf_error_number(closed) : strerror(errno ? errno : EIO));
    if (rc == 0 && clipped)
        convrt__warn(CONVRT_W_CLIPPED,
                     "'%s': %lld of %lld samples (%.3g%%) were outside [-1, 1] or NaN and were clipped "
                     "(a 32-bit float .wav keeps them)",
                     path, (long long)clipped, (long long)(ch * len), 100.0 * (double)clipped / (double)(ch * len));
    return rc;
}

int convrt_audio_save(const char *path, const convrt_tensor *t, int32_t rate, int32_t bits)
{
    if (!path || !t)
        return convrt_report(CONVRT_E_NULL_ARG, "convrt_audio_save: %s is NULL", !path ? "path" : "tensor");
    convrt_save_options opt = { .bits = bits, .rate = rate };
    /* the tensor first: a tensor that is not sound creates no file */
    int rc = convrt__audio_check(path, t, &opt);
    if (rc == 0 && rate < 1)
        rc = convrt_report(CONVRT_E_INVALID, "cannot save '%s': sample rate %d Hz is outside 1..768000", path,
                           (int)rate);
    if (rc != 0)
        return rc;
    convrt_outfile *f;
    if ((rc = convrt_outfile_open(path, &f)) != 0)
        return rc;
    if ((rc = convrt__audio_write(f, t, &opt)) != 0) {
        convrt_outfile_discard(f);
        return rc;
    }
    return convrt_outfile_commit(&f, 1);
}

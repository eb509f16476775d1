// FFmpeg for Swift: the headers, plus inline functions for what Swift cannot import (macros, compound
// literals, pointer-to-pointer casts). No stable Swift API: only the Media module uses it.
#ifndef CFFMPEG_SHIM_H
#define CFFMPEG_SHIM_H

#include <libavdevice/avdevice.h>
#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
#include <malloc.h>
#include <string.h>

static inline int cff_error_again(void) { return AVERROR(EAGAIN); }
static inline int cff_error_eof(void) { return AVERROR_EOF; }
static inline int64_t cff_no_pts(void) { return AV_NOPTS_VALUE; }
static inline int64_t cff_time_base(void) { return AV_TIME_BASE; }
/// Makes libavdevice's inputs (v4l2, alsa, pulse, ...) known to av_find_input_format; once is enough, again is harmless.
static inline void cff_register_devices(void) { avdevice_register_all(); }

static inline AVChannelLayout cff_layout_mono(void) {
    AVChannelLayout layout = AV_CHANNEL_LAYOUT_MONO;
    return layout;
}

/// Converts one decoded audio frame (any layout, format, rate) into interleaved float samples.
static inline int cff_swr_convert_frame(SwrContext *swr, float *out, int out_capacity, const AVFrame *frame) {
    uint8_t *outputs[1] = { (uint8_t *)out };
    return swr_convert(swr, outputs, out_capacity,
                       frame ? (const uint8_t **)frame->extended_data : NULL, frame ? frame->nb_samples : 0);
}

/// swscale's vector code reads and writes whole vectors, past the end of a row whose length is not a multiple of
/// one (an RGB24 row of 424 or 856 pixels, say) and so past the end of a packed image; it also wants rows aligned.
/// The conversions below therefore go through a buffer of aligned, padded rows and copy the packed rows in or out.
static inline int cff_padded_stride(int width) { return FFALIGN(3 * width, 64); }

/// Converts a packed RGB24 image into a frame of the frame's own size and pixel format; -1 when out of memory.
static inline int cff_sws_from_rgb(struct SwsContext *sws, const uint8_t *rgb, int width, int height, AVFrame *frame) {
    int stride = cff_padded_stride(width);
    uint8_t *padded = av_malloc((size_t)stride * (size_t)(height + 1));
    if (!padded) return -1;
    for (int row = 0; row < height; row++) memcpy(padded + (size_t)row * stride, rgb + (size_t)row * 3 * width, (size_t)3 * width);
    const uint8_t *planes[1] = { padded };
    int strides[1] = { stride };
    int rows = sws_scale(sws, planes, strides, 0, height, frame->data, frame->linesize);
    av_free(padded);
    return rows;
}

/// Converts a decoded frame into packed RGB24 of the given size; -1 when out of memory.
static inline int cff_sws_to_rgb(struct SwsContext *sws, const AVFrame *frame, uint8_t *rgb, int width, int height) {
    int stride = cff_padded_stride(width);
    uint8_t *padded = av_malloc((size_t)stride * (size_t)(height + 1));
    if (!padded) return -1;
    uint8_t *planes[1] = { padded };
    int strides[1] = { stride };
    int rows = sws_scale(sws, (const uint8_t *const *)frame->data, frame->linesize, 0, frame->height, planes, strides);
    for (int row = 0; row < rows && row < height; row++) memcpy(rgb + (size_t)row * 3 * width, padded + (size_t)row * stride, (size_t)3 * width);
    av_free(padded);
    return rows;
}

/// Copies float samples into a planar-float frame's first plane.
static inline void cff_fill_float_plane(AVFrame *frame, const float *samples, int count) {
    float *plane = (float *)frame->data[0];
    for (int i = 0; i < count; i++) plane[i] = samples[i];
}

/// Makes glibc fill every new allocation with a fixed byte (see FFmpegEnvironment in Media for why).
static inline void cff_perturb_allocations(int byte) { mallopt(M_PERTURB, byte); }

static inline AVStream *_Nonnull cff_stream(AVFormatContext *_Nonnull format, int index) { return format->streams[index]; }
#endif

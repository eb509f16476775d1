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

/// Converts a packed RGB24 image into a frame of the frame's own size and pixel format.
static inline int cff_sws_from_rgb(struct SwsContext *sws, const uint8_t *rgb, int width, int height, AVFrame *frame) {
    const uint8_t *planes[1] = { rgb };
    int strides[1] = { 3 * width };
    return sws_scale(sws, planes, strides, 0, height, frame->data, frame->linesize);
}

/// Converts a decoded frame into packed RGB24 of the given size.
static inline int cff_sws_to_rgb(struct SwsContext *sws, const AVFrame *frame, uint8_t *rgb, int width) {
    uint8_t *planes[1] = { rgb };
    int strides[1] = { 3 * width };
    return sws_scale(sws, (const uint8_t *const *)frame->data, frame->linesize, 0, frame->height, planes, strides);
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

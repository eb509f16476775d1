import CFFmpeg
import Foundation

/// Reads what libavformat can open (MP4 with H.264/AAC, FLV with VP6/MP3, WAV, MP3, ...): the whole audio
/// track as mono float samples at a chosen rate, and video frames sampled uniformly over the clip, as RGB; or only
/// an interval of it (an utterance of a dialogue's recording), read as if it were the whole.
public final class MediaReader {
    public let path: String
    /// Seconds, from the container (or the longest stream when the container does not say); the interval's length
    /// when reading one.
    public let duration: Double
    /// Where the interval read begins, in seconds from the recording's start (0 for the whole).
    public let offset: Double
    private let interval: Bool
    public let hasVideo: Bool
    public let hasAudio: Bool
    /// The video's frame size, when there is video.
    public let videoSize: (width: Int, height: Int)?
    private var format: UnsafeMutablePointer<AVFormatContext>?
    private let videoIndex: Int32
    private let audioIndex: Int32
    /// Whether packets were read since opening: a second pass must seek back to the start first.
    private var hasRead = false

    /// `interval`: seconds from the recording's start to read as the clip (its end past the recording's is an error
    /// naming both: the labels are not this recording's).
    public init(path: String, interval: ClosedRange<Double>? = nil) throws {
        FFmpegEnvironment.prepare()
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else { throw MediaError.notFound(path) }
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size == 0 {
            throw MediaError.undecodable(path, "empty file")
        }
        let (context, video, audio) = try OpenInput.open(path)
        (format, videoIndex, audioIndex) = (context, video, audio)
        hasVideo = videoIndex >= 0
        hasAudio = audioIndex >= 0
        if hasVideo, let parameters = cff_stream(context, videoIndex).pointee.codecpar {
            videoSize = (Int(parameters.pointee.width), Int(parameters.pointee.height))
        } else {
            videoSize = nil
        }
        var seconds = context.pointee.duration != cff_no_pts() ? Double(context.pointee.duration) / Double(cff_time_base()) : 0
        if seconds <= 0 {
            for index in 0..<Int32(context.pointee.nb_streams) {
                let stream = cff_stream(context, index).pointee
                if stream.duration != cff_no_pts() { seconds = max(seconds, Double(stream.duration) * av_q2d(stream.time_base)) }
            }
        }
        if let interval {
            guard interval.lowerBound >= 0, interval.upperBound > interval.lowerBound else {
                avformat_close_input(&format)
                throw MediaError.undecodable(path, String(format: "the interval %.3f-%.3f s is empty or starts before the recording", interval.lowerBound, interval.upperBound))
            }
            // Labels' times are rounded (IEMOCAP's to 0.1 ms, a user's to what they typed): a little past the end is the end.
            guard interval.upperBound <= seconds + 0.5 else {
                avformat_close_input(&format)
                throw MediaError.truncated(path, String(format: "the interval %.3f-%.3f s ends past the recording's %.3f s", interval.lowerBound, interval.upperBound, seconds))
            }
            offset = interval.lowerBound
            duration = min(interval.upperBound, seconds) - interval.lowerBound
            self.interval = true
        } else {
            offset = 0
            duration = seconds
            self.interval = false
        }
    }

    deinit { avformat_close_input(&format) }

    /// The whole audio track (or the interval's part of it), downmixed to mono and resampled to `sampleRate`, as float
    /// samples in [-1, 1].
    public func audio(sampleRate: Int = 16_000) throws -> [Float] {
        guard hasAudio, let format else { throw MediaError.noAudioStream(path) }
        if interval { return try audio(sampleRate: sampleRate, format: format) }
        if hasRead { av_seek_frame(format, -1, 0, AVSEEK_FLAG_BACKWARD) }
        hasRead = true
        let stream = cff_stream(format, audioIndex)
        let decoder = try Decoder(stream: stream, path: path)
        let converter = try AudioConverter(decoder.context, sampleRate: sampleRate, path: path)
        var samples: [Float] = []
        // The container's duration is only a hint (a damaged header claimed 18 hours of a 1 s clip): an hour at most.
        samples.reserveCapacity(Int(min(max(duration, 0), 3600) * Double(sampleRate)) + 4096)
        func append(_ frame: UnsafeMutablePointer<AVFrame>?) throws { samples.append(contentsOf: try converter.convert(frame)) }
        let outcome = try decoder.decodeAll(format: format, streamIndex: audioIndex) { frame in try append(frame) }
        try append(nil)
        if outcome.readError != nil || (outcome.framesDecoded == 0 && outcome.packetsFailed > 0) {
            if samples.isEmpty { throw MediaError.undecodable(path, outcome.readError ?? "no audio packet decodes") }
            throw MediaError.truncated(path, outcome.readError ?? "audio ends early")
        }
        let streamSeconds = stream.pointee.duration != cff_no_pts() ? Double(stream.pointee.duration) * av_q2d(stream.pointee.time_base) : duration
        if streamSeconds > 1, Double(samples.count) / Double(sampleRate) < 0.8 * streamSeconds {
            throw MediaError.truncated(path, String(format: "audio stops at %.2f s of %.2f s", Double(samples.count) / Double(sampleRate), streamSeconds))
        }
        if samples.isEmpty { throw MediaError.zeroDuration(path) }
        // A float stream can carry NaN or infinity, which every feature after would carry on as plausible numbers.
        if let first = samples.firstIndex(where: { !$0.isFinite }) {
            let count = samples.lazy.filter { !$0.isFinite }.count
            throw MediaError.undecodable(path, String(format: "the audio holds %d samples that are not finite numbers (NaN or infinity), the first at %.3f s",
                                                      count, Double(first) / Double(sampleRate)))
        }
        return samples
    }

    /// The interval's samples: decoded from half a second before its start (found by seeking; a transform codec's
    /// first frame after a seek lacks the overlap of the one before, so those are decoded and dropped) to its end, each
    /// frame's samples placed by its timestamp, so a dialogue's utterance costs its own length, not the dialogue's.
    private func audio(sampleRate: Int, format: UnsafeMutablePointer<AVFormatContext>) throws -> [Float] {
        let stream = cff_stream(format, audioIndex)
        let timeBase = av_q2d(stream.pointee.time_base)
        let streamStart = stream.pointee.start_time != cff_no_pts() ? Double(stream.pointee.start_time) * timeBase : 0
        av_seek_frame(format, audioIndex, Int64((streamStart + max(0, offset - 0.5)) / timeBase), AVSEEK_FLAG_BACKWARD)
        hasRead = true
        let decoder = try Decoder(stream: stream, path: path)
        let converter = try AudioConverter(decoder.context, sampleRate: sampleRate, path: path)
        let end = offset + duration
        var samples: [Float] = []
        samples.reserveCapacity(Int(duration * Double(sampleRate)) + 4096)
        var first: Double?  // the time of samples[0], from the first decoded frame's timestamp
        let outcome = try decoder.decodeUntil(format: format, streamIndex: audioIndex) { frame in
            if first == nil {
                let pts = frame.pointee.best_effort_timestamp != cff_no_pts() ? frame.pointee.best_effort_timestamp : frame.pointee.pts
                first = pts != cff_no_pts() ? Double(pts) * timeBase - streamStart : offset
            }
            samples.append(contentsOf: try converter.convert(frame))
            return first! + Double(samples.count) / Double(sampleRate) >= end
        }
        samples.append(contentsOf: try converter.convert(nil))
        let from = max(0, Int(((offset - (first ?? offset)) * Double(sampleRate)).rounded()))
        let to = min(samples.count, from + Int((duration * Double(sampleRate)).rounded()))
        guard from < to else {
            throw outcome.readError.map { MediaError.truncated(path, $0) } ?? MediaError.undecodable(path, String(format: "no audio decodes at %.3f-%.3f s", offset, end))
        }
        if Double(to - from) < 0.8 * duration * Double(sampleRate) {
            throw MediaError.truncated(path, String(format: "audio stops at %.2f s of the interval %.3f-%.3f s", (first ?? offset) + Double(samples.count) / Double(sampleRate), offset, end))
        }
        let part = Array(samples[from..<to])
        if part.contains(where: { !$0.isFinite }) { throw MediaError.undecodable(path, "the audio holds samples that are not finite numbers (NaN or infinity)") }
        return part
    }

    /// `count` frames at the middles of `count` equal spans of the clip (or the interval), as RGB at the video's own size,
    /// each with its time from the clip's (the interval's) start.
    /// Seeks to each (decoding forward inside a group of pictures rather than seeking back), so a few frames
    /// of a long clip cost a few decodes, not the whole file.
    public func frames(count: Int) throws -> [(time: Double, image: RGBImage)] {
        try frames(count: count, holding: 0).frames
    }

    /// As `frames(count:)`, and in the same decoding pass `held` frames sampled the same way, kept as decoded: each is the
    /// frame `frames(count: held)` would give, converted to RGB only if asked for (`HeldFrames.images()`).
    public func frames(count: Int, holding held: Int) throws -> (frames: [(time: Double, image: RGBImage)], held: HeldFrames) {
        guard hasVideo, let format, let size = videoSize else { throw MediaError.noVideoStream(path) }
        let converter = RGBConverter(width: size.width, height: size.height)
        let kept = HeldFrames(converter: converter, path: path, offset: offset)
        guard count > 0 || held > 0 else { return ([], kept) }
        guard duration > 0 else { throw MediaError.zeroDuration(path) }
        guard size.width > 0, size.height > 0 else { throw MediaError.undecodable(path, "video has no size") }
        let stream = cff_stream(format, videoIndex)
        let decoder = try Decoder(stream: stream, path: path)
        let timeBase = av_q2d(stream.pointee.time_base)
        let start = stream.pointee.start_time != cff_no_pts() ? Double(stream.pointee.start_time) * timeBase : 0
        hasRead = true

        // Both samplings' times in order; of equal times, the converted one first.
        let targets = ((0..<count).map { (index: $0, held: false) } + (0..<held).map { (index: $0, held: true) }).map { target in
            (time: start + offset + (Double(target.index) + 0.5) * duration / Double(target.held ? held : count), held: target.held)
        }.sorted { ($0.time, $0.held ? 1 : 0) < ($1.time, $1.held ? 1 : 0) }
        var result: [(Double, RGBImage)] = []
        var position = -Double.infinity  // time of the last frame decoded
        // The last frame decoded, kept by reference and converted only if it is needed (when a clip ends before a
        // target time, or the next target is before it): converting every decoded frame to RGB cost more than decoding it.
        var lastFrame: UnsafeMutablePointer<AVFrame>? = av_frame_alloc()
        defer { av_frame_free(&lastFrame) }
        var lastTime: Double?
        func take(_ frame: UnsafeMutablePointer<AVFrame>, at time: Double, held: Bool) throws {
            if held {
                guard let copy = av_frame_clone(frame) else { throw MediaError.undecodable(path, "out of memory holding a frame") }
                kept.append(time - offset, copy)
            } else {
                result.append((time - offset, try converter.convert(frame, path: path)))
            }
        }
        for target in targets {
            // The first frame at or after an earlier target is the first at or after this one too, when it is not before it.
            if let lastTime, let lastFrame, lastTime + 1e-6 >= target.time {
                try take(lastFrame, at: lastTime, held: target.held)
                continue
            }
            let stamp = Int64(target.time / timeBase)
            let keyframe = avformat_index_get_entry_from_timestamp(stream, stamp, AVSEEK_FLAG_BACKWARD)
            let keyframeTime = keyframe.map { Double($0.pointee.timestamp) * timeBase } ?? -Double.infinity
            if position == -Double.infinity || keyframeTime > position || target.time < position {
                av_seek_frame(format, videoIndex, stamp, AVSEEK_FLAG_BACKWARD)
                avcodec_flush_buffers(decoder.context)
                decoder.reset()
            }
            var found = false
            let outcome = try decoder.decodeUntil(format: format, streamIndex: videoIndex) { frame in
                let pts = frame.pointee.best_effort_timestamp != cff_no_pts() ? frame.pointee.best_effort_timestamp : frame.pointee.pts
                let time = Double(pts) * timeBase
                position = time
                av_frame_unref(lastFrame)
                if av_frame_ref(lastFrame, frame) >= 0 { lastTime = time } else { lastTime = nil }
                if time + 1e-6 >= target.time {
                    try take(frame, at: time, held: target.held)
                    found = true
                }
                return found
            }
            if !found, let lastTime, let lastFrame {
                try take(lastFrame, at: lastTime, held: target.held)
                found = true
            }
            if !found { throw outcome.readError.map { MediaError.truncated(path, $0) } ?? MediaError.undecodable(path, "no video frame decodes") }
        }
        return (result, kept)
    }
}

/// Decoded frames kept for a second look (the faces stage's analysis frames, decoded in the pass that read its sampled
/// frames), in time order; converting them to RGB is deferred to `images()`, which a clip showing one face never calls.
public final class HeldFrames {
    private var frames: [(time: Double, frame: UnsafeMutablePointer<AVFrame>?)] = []
    private let converter: RGBConverter
    private let path: String
    private let offset: Double

    init(converter: RGBConverter, path: String, offset: Double) {
        (self.converter, self.path, self.offset) = (converter, path, offset)
    }

    deinit { for index in frames.indices { av_frame_free(&frames[index].frame) } }

    public var count: Int { frames.count }

    func append(_ time: Double, _ frame: UnsafeMutablePointer<AVFrame>) { frames.append((time, frame)) }

    /// The frames as RGB at the video's own size, each with its time from the clip's start.
    public func images() throws -> [(time: Double, image: RGBImage)] {
        try frames.map { ($0.time, try converter.convert($0.frame!, path: path)) }
    }
}

/// Opening what libavformat reads: the container or protocol probed, its streams' parameters found, the best video
/// and audio streams chosen (-1 where there is none).
enum OpenInput {
    /// `named`: what errors call the input (a device's `KIND:NAME`), the source itself by default.
    /// `watchdog`: asked by FFmpeg while a read waits, here and for as long as the context lives.
    static func open(_ source: String, named: String? = nil, format inputFormat: UnsafePointer<AVInputFormat>? = nil,
                     options: UnsafeMutablePointer<OpaquePointer?>? = nil,
                     watchdog: ReadWatchdog? = nil) throws -> (context: UnsafeMutablePointer<AVFormatContext>, video: Int32, audio: Int32) {
        var opened: UnsafeMutablePointer<AVFormatContext>? = avformat_alloc_context()
        guard opened != nil else { throw MediaError.undecodable(named ?? source, "out of memory") }
        if let watchdog {
            opened!.pointee.interrupt_callback = watchdog.callback
            watchdog.arm()
        }
        var code = avformat_open_input(&opened, source, inputFormat, options)  // frees the context when it fails
        guard code >= 0, let context = opened else { throw MediaError.undecodable(named ?? source, watchdog?.reason ?? ffmpegMessage(code)) }
        watchdog?.arm()
        code = avformat_find_stream_info(context, nil)
        guard code >= 0 else {
            avformat_close_input(&opened)
            throw MediaError.undecodable(named ?? source, watchdog?.reason ?? ffmpegMessage(code))
        }
        return (context, av_find_best_stream(context, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0), av_find_best_stream(context, AVMEDIA_TYPE_AUDIO, -1, -1, nil, 0))
    }
}

/// One decoded stream's audio as mono float samples at a chosen rate, whatever its layout, format and rate.
final class AudioConverter {
    private var resampler: OpaquePointer?
    private let path: String

    init(_ context: UnsafeMutablePointer<AVCodecContext>, sampleRate: Int, path: String) throws {
        self.path = path
        var inputLayout = AVChannelLayout()
        if context.pointee.ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || context.pointee.ch_layout.nb_channels == 0 {
            av_channel_layout_default(&inputLayout, max(1, context.pointee.ch_layout.nb_channels))
        } else {
            av_channel_layout_copy(&inputLayout, &context.pointee.ch_layout)
        }
        defer { av_channel_layout_uninit(&inputLayout) }
        var outputLayout = cff_layout_mono()
        let code = swr_alloc_set_opts2(&resampler, &outputLayout, AV_SAMPLE_FMT_FLT, Int32(sampleRate),
                                       &inputLayout, context.pointee.sample_fmt, context.pointee.sample_rate, 0, nil)
        guard code >= 0, resampler != nil, swr_init(resampler) >= 0 else {
            swr_free(&resampler)
            throw MediaError.undecodable(path, "cannot resample audio: \(ffmpegMessage(code))")
        }
    }

    deinit { swr_free(&resampler) }

    /// The samples of one decoded frame; nil flushes what the resampler holds back.
    func convert(_ frame: UnsafeMutablePointer<AVFrame>?) throws -> ArraySlice<Float> {
        let capacity = Int(swr_get_out_samples(resampler, frame?.pointee.nb_samples ?? 0)) + 32
        var chunk = [Float](repeating: 0, count: capacity)
        let produced = chunk.withUnsafeMutableBufferPointer { cff_swr_convert_frame(resampler, $0.baseAddress, Int32(capacity), frame) }
        guard produced >= 0 else { throw MediaError.undecodable(path, "resampling failed: \(ffmpegMessage(produced))") }
        return chunk[0..<Int(produced)]
    }
}

/// One open decoder for one stream; sends packets and hands every decoded frame to a closure.
final class Decoder {
    let context: UnsafeMutablePointer<AVCodecContext>
    private let path: String
    private var packet: UnsafeMutablePointer<AVPacket>? = av_packet_alloc()
    private var frame: UnsafeMutablePointer<AVFrame>? = av_frame_alloc()
    private var draining = false

    struct Outcome {
        var framesDecoded = 0
        var packetsFailed = 0
        /// Set when reading stopped on an error rather than at the end of the file.
        var readError: String?
    }

    init(stream: UnsafeMutablePointer<AVStream>, path: String) throws {
        self.path = path
        guard let parameters = stream.pointee.codecpar, let codec = avcodec_find_decoder(parameters.pointee.codec_id) else {
            throw MediaError.undecodable(path, "no decoder for this codec")
        }
        guard let context = avcodec_alloc_context3(codec) else { throw MediaError.undecodable(path, "out of memory") }
        self.context = context
        // One thread per decoder: stages run one clip per core already.
        context.pointee.thread_count = 1
        var code = avcodec_parameters_to_context(context, parameters)
        if code >= 0 { code = avcodec_open2(context, codec, nil) }
        // Every stored property is set by now, so a throw runs deinit, which frees the context: freeing it here too
        // was a double free (a stream whose decoder will not open, e.g. AAC claiming 11 874 channels).
        guard code >= 0 else { throw MediaError.undecodable(path, ffmpegMessage(code)) }
    }

    deinit {
        var owned: UnsafeMutablePointer<AVCodecContext>? = context
        avcodec_free_context(&owned)
        av_packet_free(&packet)
        av_frame_free(&frame)
    }

    func reset() { draining = false }

    /// Sends one packet (nil: the end, which flushes) and hands over every frame it completes; false when the decoder
    /// refused the packet.
    @discardableResult
    func decode(_ packet: UnsafeMutablePointer<AVPacket>?, _ body: (UnsafeMutablePointer<AVFrame>) throws -> Void) throws -> Bool {
        guard let frame else { throw MediaError.undecodable(path, "out of memory") }
        guard avcodec_send_packet(context, packet) >= 0 || packet == nil else { return false }
        while avcodec_receive_frame(context, frame) >= 0 {
            defer { av_frame_unref(frame) }
            try body(frame)
        }
        return true
    }

    /// Decodes the stream to its end, flushing the decoder.
    func decodeAll(format: UnsafeMutablePointer<AVFormatContext>, streamIndex: Int32,
                   _ body: (UnsafeMutablePointer<AVFrame>) throws -> Void) throws -> Outcome {
        try decodeUntil(format: format, streamIndex: streamIndex) { try body($0); return false }
    }

    /// Decodes until `body` returns true for a frame, or the stream ends (then flushes the decoder).
    func decodeUntil(format: UnsafeMutablePointer<AVFormatContext>, streamIndex: Int32,
                     _ body: (UnsafeMutablePointer<AVFrame>) throws -> Bool) throws -> Outcome {
        var outcome = Outcome()
        guard let packet, let frame else { throw MediaError.undecodable(path, "out of memory") }
        func receive() throws -> Bool {
            while true {
                let code = avcodec_receive_frame(context, frame)
                if code == cff_error_again() || code == cff_error_eof() { return false }
                if code < 0 { outcome.packetsFailed += 1; return false }
                outcome.framesDecoded += 1
                defer { av_frame_unref(frame) }
                if try body(frame) { return true }
            }
        }
        if try receive() { return outcome }
        while !draining {
            let code = av_read_frame(format, packet)
            if code < 0 {
                if code != cff_error_eof() { outcome.readError = ffmpegMessage(code) }
                draining = true
                avcodec_send_packet(context, nil)
                break
            }
            defer { av_packet_unref(packet) }
            guard packet.pointee.stream_index == streamIndex else { continue }
            if avcodec_send_packet(context, packet) < 0 { outcome.packetsFailed += 1; continue }
            if try receive() { return outcome }
        }
        _ = try receive()
        return outcome
    }
}

/// Converts decoded frames of any pixel format to packed RGB24 at the video's size.
final class RGBConverter {
    private var context: OpaquePointer?
    private var sourceFormat: Int32 = -1
    private var sourceSize = (0, 0)
    let width: Int
    let height: Int

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    deinit { sws_freeContext(context) }

    func convert(_ frame: UnsafeMutablePointer<AVFrame>, path: String) throws -> RGBImage {
        let format = frame.pointee.format
        let size = (Int(frame.pointee.width), Int(frame.pointee.height))
        if context == nil || format != sourceFormat || size != sourceSize {
            sws_freeContext(context)
            context = sws_getContext(Int32(size.0), Int32(size.1), AVPixelFormat(rawValue: format), Int32(width), Int32(height),
                                     AV_PIX_FMT_RGB24, SWS_BILINEAR, nil, nil, nil)
            sourceFormat = format
            sourceSize = size
        }
        guard let context else { throw MediaError.undecodable(path, "cannot convert pixel format \(format) to RGB") }
        // Beyond 8K on both sides (a damaged header): no RGB copy of gigabytes.
        guard width > 0, height > 0, width * height <= 8192 * 8192 else { throw MediaError.undecodable(path, "a frame of \(width)x\(height) pixels") }
        var rows: Int32 = 0
        let pixels = [UInt8](unsafeUninitializedCapacity: width * height * 3) { buffer, initialized in
            rows = cff_sws_to_rgb(context, frame, buffer.baseAddress, Int32(width), Int32(height))
            // Rows the conversion did not write are zeros (it writes all of them but for a damaged frame).
            let written = max(0, min(Int(rows), height)) * width * 3
            buffer[written...].initialize(repeating: 0)
            initialized = buffer.count
        }
        guard rows > 0 else { throw MediaError.undecodable(path, "pixel conversion failed") }
        return RGBImage(width: width, height: height, pixels: pixels)
    }
}

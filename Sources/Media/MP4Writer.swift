import CFFmpeg
import Foundation

/// Writes an MP4 with H.264 video (libx264) and AAC audio, as MELD's clips are: the project's generated
/// dataset and the tests' fixtures come from here. Either stream may be left out. Encoders run on one
/// thread with fixed settings, so the same frames and samples always decode to the same frames and samples.
/// A path ending in `.avi` gets an AVI (as IEMOCAP's dialogue videos are), its H.264 without B-frames (AVI keeps no
/// presentation times) and its audio left out.
public final class MP4Writer {
    public struct Settings: Sendable {
        public var width: Int
        public var height: Int
        public var frameRate: Int
        public var sampleRate: Int
        /// x264's constant rate factor: lower is better quality and bigger files.
        public var crf: Int
        public var video: Bool
        public var audio: Bool
        /// x264's speed preset: `veryfast` for datasets; a live annotated video takes `ultrafast` to keep up.
        public var preset = "veryfast"

        public init(width: Int, height: Int, frameRate: Int = 24, sampleRate: Int = 16_000, crf: Int = 23, video: Bool = true, audio: Bool = true) {
            self.width = width
            self.height = height
            self.frameRate = frameRate
            self.sampleRate = sampleRate
            self.crf = crf
            self.video = video
            self.audio = audio
        }
    }

    public let path: String
    public let settings: Settings
    private var format: UnsafeMutablePointer<AVFormatContext>?
    private var videoEncoder: UnsafeMutablePointer<AVCodecContext>?
    private var audioEncoder: UnsafeMutablePointer<AVCodecContext>?
    private var videoStream: UnsafeMutablePointer<AVStream>?
    private var audioStream: UnsafeMutablePointer<AVStream>?
    private var videoFrame: UnsafeMutablePointer<AVFrame>?
    private var scaler: OpaquePointer?
    private var packet: UnsafeMutablePointer<AVPacket>? = av_packet_alloc()
    private var framesWritten: Int64 = 0
    private var samplesWritten: Int64 = 0
    private var pendingSamples: [Float] = []
    private var finished = false

    public init(path: String, settings: Settings) throws {
        FFmpegEnvironment.prepare()
        self.path = path
        self.settings = settings
        guard settings.video || settings.audio else { throw MediaError.encoding(path, "neither video nor audio requested") }
        let avi = path.lowercased().hasSuffix(".avi")
        guard !(avi && settings.audio) else { throw MediaError.encoding(path, "this writer puts no audio in an AVI") }
        var context: UnsafeMutablePointer<AVFormatContext>?
        try check(avformat_alloc_output_context2(&context, nil, avi ? "avi" : "mp4", path), "no \(avi ? "AVI" : "MP4") muxer")
        format = context
        context!.pointee.flags |= AVFMT_FLAG_BITEXACT
        do {
            if settings.video { try openVideo(bFrames: !avi) }
            if settings.audio { try openAudio() }
            try check(avio_open(&context!.pointee.pb, path, AVIO_FLAG_WRITE), "cannot create file")
            var options: OpaquePointer?
            if !avi { av_dict_set(&options, "movflags", "+faststart", 0) }
            defer { av_dict_free(&options) }
            try check(avformat_write_header(context, &options), "cannot write header")
        } catch {
            release()
            throw error
        }
    }

    deinit {
        release()
    }

    private func release() {
        if let format, format.pointee.pb != nil { avio_closep(&format.pointee.pb) }
        avformat_free_context(format)
        format = nil
        avcodec_free_context(&videoEncoder)
        avcodec_free_context(&audioEncoder)
        av_frame_free(&videoFrame)
        av_packet_free(&packet)
        sws_freeContext(scaler)
        scaler = nil
    }

    private func check(_ code: Int32, _ what: String) throws {
        if code < 0 { throw MediaError.encoding(path, "\(what): \(ffmpegMessage(code))") }
    }

    private func needsGlobalHeader() -> Bool { (format!.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER) != 0 }

    private func openVideo(bFrames: Bool) throws {
        guard settings.width > 0, settings.height > 0, settings.width % 2 == 0, settings.height % 2 == 0 else {
            throw MediaError.encoding(path, "H.264 in 4:2:0 needs an even, positive frame size, not \(settings.width)x\(settings.height)")
        }
        guard let codec = avcodec_find_encoder_by_name("libx264") ?? avcodec_find_encoder(AV_CODEC_ID_H264) else {
            throw MediaError.encoding(path, "no H.264 encoder in this FFmpeg")
        }
        guard let encoder = avcodec_alloc_context3(codec) else { throw MediaError.encoding(path, "out of memory") }
        videoEncoder = encoder
        encoder.pointee.width = Int32(settings.width)
        encoder.pointee.height = Int32(settings.height)
        encoder.pointee.time_base = AVRational(num: 1, den: Int32(settings.frameRate))
        encoder.pointee.framerate = AVRational(num: Int32(settings.frameRate), den: 1)
        encoder.pointee.pix_fmt = AV_PIX_FMT_YUV420P
        encoder.pointee.gop_size = Int32(settings.frameRate)
        encoder.pointee.thread_count = 1
        encoder.pointee.flags |= AV_CODEC_FLAG_BITEXACT
        if needsGlobalHeader() { encoder.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER }
        av_opt_set(encoder.pointee.priv_data, "preset", settings.preset, 0)
        av_opt_set(encoder.pointee.priv_data, "crf", String(settings.crf), 0)
        if !bFrames { encoder.pointee.max_b_frames = 0 }
        try check(avcodec_open2(encoder, codec, nil), "cannot open the H.264 encoder")
        guard let stream = avformat_new_stream(format, nil) else { throw MediaError.encoding(path, "out of memory") }
        videoStream = stream
        stream.pointee.time_base = encoder.pointee.time_base
        try check(avcodec_parameters_from_context(stream.pointee.codecpar, encoder), "video parameters")
        videoFrame = av_frame_alloc()
        videoFrame!.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        videoFrame!.pointee.width = Int32(settings.width)
        videoFrame!.pointee.height = Int32(settings.height)
        try check(av_frame_get_buffer(videoFrame, 0), "video frame buffer")
        scaler = sws_getContext(Int32(settings.width), Int32(settings.height), AV_PIX_FMT_RGB24, Int32(settings.width), Int32(settings.height),
                                AV_PIX_FMT_YUV420P, SWS_BILINEAR | SWS_ACCURATE_RND | SWS_BITEXACT, nil, nil, nil)
        guard scaler != nil else { throw MediaError.encoding(path, "no RGB to YUV converter") }
    }

    private func openAudio() throws {
        guard let codec = avcodec_find_encoder(AV_CODEC_ID_AAC) else { throw MediaError.encoding(path, "no AAC encoder in this FFmpeg") }
        guard let encoder = avcodec_alloc_context3(codec) else { throw MediaError.encoding(path, "out of memory") }
        audioEncoder = encoder
        encoder.pointee.sample_fmt = AV_SAMPLE_FMT_FLTP
        encoder.pointee.sample_rate = Int32(settings.sampleRate)
        var mono = cff_layout_mono()
        av_channel_layout_copy(&encoder.pointee.ch_layout, &mono)
        encoder.pointee.bit_rate = 64_000
        encoder.pointee.time_base = AVRational(num: 1, den: Int32(settings.sampleRate))
        encoder.pointee.thread_count = 1
        encoder.pointee.flags |= AV_CODEC_FLAG_BITEXACT
        if needsGlobalHeader() { encoder.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER }
        try check(avcodec_open2(encoder, codec, nil), "cannot open the AAC encoder")
        guard let stream = avformat_new_stream(format, nil) else { throw MediaError.encoding(path, "out of memory") }
        audioStream = stream
        stream.pointee.time_base = encoder.pointee.time_base
        try check(avcodec_parameters_from_context(stream.pointee.codecpar, encoder), "audio parameters")
    }

    /// Appends one video frame; its size must be the writer's.
    public func append(frame image: RGBImage) throws {
        guard let encoder = videoEncoder, let frame = videoFrame else { throw MediaError.encoding(path, "this writer has no video stream") }
        guard image.width == settings.width, image.height == settings.height else {
            throw MediaError.encoding(path, "frame is \(image.width)x\(image.height), the video \(settings.width)x\(settings.height)")
        }
        try check(av_frame_make_writable(frame), "video frame")
        let rows = image.pixels.withUnsafeBufferPointer { cff_sws_from_rgb(scaler, $0.baseAddress, Int32(image.width), Int32(image.height), frame) }
        guard rows > 0 else { throw MediaError.encoding(path, "RGB to YUV conversion failed") }
        frame.pointee.pts = framesWritten
        framesWritten += 1
        try send(frame, to: encoder, stream: videoStream!)
    }

    /// Appends mono samples in [-1, 1] at the writer's sample rate.
    public func append(samples: [Float]) throws {
        guard let encoder = audioEncoder else { throw MediaError.encoding(path, "this writer has no audio stream") }
        pendingSamples += samples
        let frameSize = Int(encoder.pointee.frame_size)
        var offset = 0
        while pendingSamples.count - offset >= frameSize {
            try sendAudio(pendingSamples[offset..<offset + frameSize], encoder: encoder)
            offset += frameSize
        }
        pendingSamples.removeFirst(offset)
    }

    private func sendAudio(_ samples: ArraySlice<Float>, encoder: UnsafeMutablePointer<AVCodecContext>) throws {
        var frame = av_frame_alloc()
        defer { av_frame_free(&frame) }
        guard let frame else { throw MediaError.encoding(path, "out of memory") }
        frame.pointee.nb_samples = Int32(samples.count)
        frame.pointee.format = AV_SAMPLE_FMT_FLTP.rawValue
        frame.pointee.sample_rate = encoder.pointee.sample_rate
        try check(av_channel_layout_copy(&frame.pointee.ch_layout, &encoder.pointee.ch_layout), "audio layout")
        try check(av_frame_get_buffer(frame, 0), "audio frame buffer")
        samples.withUnsafeBufferPointer { cff_fill_float_plane(frame, $0.baseAddress, Int32(samples.count)) }
        frame.pointee.pts = samplesWritten
        samplesWritten += Int64(samples.count)
        try send(frame, to: encoder, stream: audioStream!)
    }

    /// Sends a frame (or nil, to drain) and writes every packet the encoder gives back.
    private func send(_ frame: UnsafeMutablePointer<AVFrame>?, to encoder: UnsafeMutablePointer<AVCodecContext>, stream: UnsafeMutablePointer<AVStream>) throws {
        try check(avcodec_send_frame(encoder, frame), "encoding")
        while true {
            let code = avcodec_receive_packet(encoder, packet)
            if code == cff_error_again() || code == cff_error_eof() { return }
            try check(code, "encoding")
            av_packet_rescale_ts(packet, encoder.pointee.time_base, stream.pointee.time_base)
            packet!.pointee.stream_index = stream.pointee.index
            try check(av_interleaved_write_frame(format, packet), "writing")
        }
    }

    /// Flushes both encoders, writes the index and closes the file.
    public func finish() throws {
        guard !finished else { return }
        finished = true
        if let encoder = audioEncoder {
            if !pendingSamples.isEmpty { try sendAudio(pendingSamples[...], encoder: encoder) }
            pendingSamples = []
            try send(nil, to: encoder, stream: audioStream!)
        }
        if let encoder = videoEncoder { try send(nil, to: encoder, stream: videoStream!) }
        try check(av_write_trailer(format), "cannot finish the file")
        avio_closep(&format!.pointee.pb)
    }
}

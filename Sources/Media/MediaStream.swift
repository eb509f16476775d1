import CFFmpeg
import Foundation

/// A file, a stream URL (`tcp://`, `udp://`, `rtsp://`, `http://`) or a live device read from start to end in
/// presentation order, as one pass: video frames as RGB and audio as mono float samples at a chosen rate, each with
/// its time in seconds from the stream's start. Where `MediaReader` samples a finished clip (seeking), this follows a
/// source that may never end.
public final class MediaStream {
    /// What the next read gave.
    public enum Event {
        case video(time: Double, image: RGBImage)
        case audio(time: Double, samples: ArraySlice<Float>)
    }

    public let source: String
    public let hasVideo: Bool
    public let hasAudio: Bool
    public let videoSize: (width: Int, height: Int)?
    /// The container's duration when it knows one (a file), else nil (a stream or device).
    public let duration: Double?
    /// The video's frames per second as the stream declares it (25 when it does not).
    public let frameRate: Double
    private var format: UnsafeMutablePointer<AVFormatContext>?
    private let videoIndex: Int32, audioIndex: Int32
    private let video: Decoder?, audio: Decoder?
    private let converter: RGBConverter?
    private let resampler: AudioConverter?
    private let sampleRate: Int
    private var packet: UnsafeMutablePointer<AVPacket>? = av_packet_alloc()
    private var pending: [Event] = []
    private var ended = false
    private var audioSamples = 0
    private var audioStart: Double?
    private var videoStart: Double?
    /// Asked by FFmpeg while a read waits; lives as long as the format context that points to it.
    private let watchdog: ReadWatchdog

    /// `device`: libavdevice's input format (`v4l2`, `alsa`, `pulse`) when `source` names a device, else nil (FFmpeg
    /// finds the container or protocol itself). `timeout`: seconds any read, the connection included, may wait for data
    /// from a stream or device; `interrupted` is asked while one waits, and a yes ends the wait (a user's stop).
    public init(source: String, device: String? = nil, sampleRate: Int = 16_000, timeout: Double = 10,
                interrupted: @escaping @Sendable () -> Bool = { false }) throws {
        FFmpegEnvironment.prepare()
        self.source = source
        self.sampleRate = sampleRate
        let live = device != nil || source.contains("://")
        let watchdog = ReadWatchdog(timeout: live ? timeout : nil, interrupted: interrupted)
        self.watchdog = watchdog
        var options: OpaquePointer?
        defer { av_dict_free(&options) }
        var inputFormat: UnsafePointer<AVInputFormat>?
        if let device {
            cff_register_devices()
            inputFormat = av_find_input_format(device)
            guard inputFormat != nil else { throw MediaError.undecodable(source, "no input device kind '\(device)' in this FFmpeg (libavdevice)") }
        }
        if device == nil && !source.contains("://") && !FileManager.default.fileExists(atPath: source) { throw MediaError.notFound(source) }
        let opened = try OpenInput.open(source, named: device.map { "\($0):\(source)" }, format: inputFormat, options: &options, watchdog: watchdog)
        let context = opened.context
        // The decoders are made before any stored property holds the context: a throw here skips deinit, so the
        // context is closed by hand (it leaked when a decoder would not open).
        var parts: (size: (Int, Int)?, video: Decoder?, audio: Decoder?, resampler: AudioConverter?) = (nil, nil, nil, nil)
        do {
            guard opened.video >= 0 || opened.audio >= 0 else { throw MediaError.undecodable(source, "neither video nor audio") }
            if opened.video >= 0, let parameters = cff_stream(context, opened.video).pointee.codecpar, parameters.pointee.width > 0 {
                parts.size = (Int(parameters.pointee.width), Int(parameters.pointee.height))
                parts.video = try Decoder(stream: cff_stream(context, opened.video), path: source)
            }
            if opened.audio >= 0 {
                let decoder = try Decoder(stream: cff_stream(context, opened.audio), path: source)
                parts.audio = decoder
                parts.resampler = try AudioConverter(decoder.context, sampleRate: sampleRate, path: source)
            }
        } catch {
            var owned: UnsafeMutablePointer<AVFormatContext>? = context
            avformat_close_input(&owned)
            throw error
        }
        (format, videoIndex, audioIndex) = (context, opened.video, opened.audio)
        hasVideo = videoIndex >= 0
        hasAudio = audioIndex >= 0
        (videoSize, video, audio, resampler) = (parts.size, parts.video, parts.audio, parts.resampler)
        converter = parts.size.map { RGBConverter(width: $0.0, height: $0.1) }
        let declared = hasVideo ? av_q2d(cff_stream(context, videoIndex).pointee.avg_frame_rate) : 0
        frameRate = declared.isFinite && declared > 0 ? declared : 25
        duration = context.pointee.duration > 0 && context.pointee.duration != cff_no_pts()
            ? Double(context.pointee.duration) / Double(cff_time_base()) : nil
    }

    /// The device kinds (libavdevice's input formats) this FFmpeg can read, with their descriptions.
    public static func deviceKinds() -> [(kind: String, description: String)] {
        cff_register_devices()
        var kinds: [(String, String)] = []
        var video: UnsafePointer<AVInputFormat>? = nil, audio: UnsafePointer<AVInputFormat>? = nil
        while let next = av_input_video_device_next(video) {
            kinds.append((String(cString: next.pointee.name), "video: " + (next.pointee.long_name.map { String(cString: $0) } ?? "")))
            video = next
        }
        while let next = av_input_audio_device_next(audio) {
            kinds.append((String(cString: next.pointee.name), "audio: " + (next.pointee.long_name.map { String(cString: $0) } ?? "")))
            audio = next
        }
        return kinds
    }

    deinit {
        av_packet_free(&packet)
        avformat_close_input(&format)
    }

    /// The next frame or run of samples; nil at the end of the source. A read that fails (a dropped connection, a
    /// truncated file) throws, naming the source.
    public func next() throws -> Event? {
        while pending.isEmpty {
            guard !ended, let format, let packet else { return nil }
            watchdog.arm()
            let code = av_read_frame(format, packet)
            if code < 0 {
                ended = true
                try video?.decode(nil) { try take(video: $0) }
                try audio?.decode(nil) { try take(audio: $0) }
                if let resampler, let start = audioStart {
                    let rest = try resampler.convert(nil)
                    if !rest.isEmpty { pending.append(.audio(time: start + Double(audioSamples) / Double(sampleRate), samples: rest)) }
                }
                if code != cff_error_eof() { throw MediaError.truncated(source, watchdog.reason ?? ffmpegMessage(code)) }
                continue
            }
            defer { av_packet_unref(packet) }
            if packet.pointee.stream_index == videoIndex, let video { try video.decode(packet) { try take(video: $0) } }
            if packet.pointee.stream_index == audioIndex, let audio { try audio.decode(packet) { try take(audio: $0) } }
        }
        return pending.removeFirst()
    }

    private func seconds(_ frame: UnsafeMutablePointer<AVFrame>, _ index: Int32) -> Double? {
        let stamp = frame.pointee.best_effort_timestamp != cff_no_pts() ? frame.pointee.best_effort_timestamp : frame.pointee.pts
        guard stamp != cff_no_pts(), let format else { return nil }
        return Double(stamp) * av_q2d(cff_stream(format, index).pointee.time_base)
    }

    /// Times count from the first frame of either kind, so a stream joined mid-way starts at 0.
    private var origin: Double?
    private func relative(_ time: Double?) -> Double? {
        guard let time else { return nil }
        if origin == nil { origin = time }
        return time - origin!
    }

    private func take(video frame: UnsafeMutablePointer<AVFrame>) throws {
        guard let converter else { return }
        let time = relative(seconds(frame, videoIndex)) ?? (videoStart ?? 0)
        videoStart = time
        pending.append(.video(time: time, image: try converter.convert(frame, path: source)))
    }

    private func take(audio frame: UnsafeMutablePointer<AVFrame>) throws {
        guard let resampler else { return }
        if audioStart == nil { audioStart = relative(seconds(frame, audioIndex)) ?? 0 }
        let samples = try resampler.convert(frame)
        guard !samples.isEmpty else { return }
        // Audio time follows the samples delivered, so it never jumps back or drifts with packet timestamps.
        pending.append(.audio(time: audioStart! + Double(audioSamples) / Double(sampleRate), samples: samples))
        audioSamples += samples.count
    }
}

/// Video from one source and audio from another (a camera and a microphone, `v4l2:/dev/video0` with `alsa:default`),
/// read as one stream in time order: whichever source's next event is earlier comes first. Each source's times count
/// from its own first frame, so the two should start together (devices opened at once do).
public final class PairedStreams {
    public let video: MediaStream
    public let audio: MediaStream
    private var nextVideo: MediaStream.Event?, nextAudio: MediaStream.Event?
    private var videoEnded = false, audioEnded = false

    public init(video: MediaStream, audio: MediaStream) throws {
        guard video.hasVideo else { throw MediaError.noVideoStream(video.source) }
        guard audio.hasAudio else { throw MediaError.noAudioStream(audio.source) }
        self.video = video
        self.audio = audio
    }

    public func next() throws -> MediaStream.Event? {
        if nextVideo == nil && !videoEnded {
            // The camera's own sound, if any, is left out: the microphone speaks for it.
            repeat { nextVideo = try video.next() } while nextVideo.map { if case .audio = $0 { return true } else { return false } } ?? false
            videoEnded = nextVideo == nil
        }
        if nextAudio == nil && !audioEnded {
            repeat { nextAudio = try audio.next() } while nextAudio.map { if case .video = $0 { return true } else { return false } } ?? false
            audioEnded = nextAudio == nil
        }
        func time(_ event: MediaStream.Event?) -> Double {
            switch event {
            case .video(let t, _)?, .audio(let t, _)?: return t
            case nil: return .infinity
            }
        }
        guard nextVideo != nil || nextAudio != nil else { return nil }
        if time(nextVideo) <= time(nextAudio) {
            defer { nextVideo = nil }
            return nextVideo
        }
        defer { nextAudio = nil }
        return nextAudio
    }
}

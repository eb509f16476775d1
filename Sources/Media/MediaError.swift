import CFFmpeg

/// Why a media file could not be read or written, naming the file. A stage records the `reason` of a
/// broken clip and goes on with the others.
public enum MediaError: Error, Equatable, Sendable, CustomStringConvertible {
    case notFound(String)
    case noVideoStream(String)
    case noAudioStream(String)
    case undecodable(String, String)
    case zeroDuration(String)
    case truncated(String, String)
    case encoding(String, String)

    /// A short machine-readable reason, as it appears in manifests and reports.
    public var reason: String {
        switch self {
        case .notFound: return "not_found"
        case .noVideoStream: return "no_video_stream"
        case .noAudioStream: return "no_audio_stream"
        case .undecodable: return "undecodable"
        case .zeroDuration: return "zero_duration"
        case .truncated: return "truncated"
        case .encoding: return "encoding_failed"
        }
    }

    /// What went wrong, without the file's name (for records that name the file themselves).
    public var detail: String {
        switch self {
        case .undecodable(_, let why), .truncated(_, let why), .encoding(_, let why): return why
        default: return reason.replacingOccurrences(of: "_", with: " ")
        }
    }

    public var description: String {
        switch self {
        case .notFound(let path): return "\(path): no such file"
        case .noVideoStream(let path): return "\(path): has no video stream"
        case .noAudioStream(let path): return "\(path): has no audio stream"
        case .undecodable(let path, let why): return "\(path): cannot be decoded (\(why))"
        case .zeroDuration(let path): return "\(path): lasts zero seconds"
        case .truncated(let path, let why): return "\(path): is truncated (\(why))"
        case .encoding(let path, let why): return "\(path): cannot be written (\(why))"
        }
    }
}

/// FFmpeg's own text for an error code.
func ffmpegMessage(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    av_strerror(code, &buffer, buffer.count)
    return String(cString: buffer)
}

/// Process-wide settings the FFmpeg libraries need, applied once before the first file is opened.
enum FFmpegEnvironment {
    private static let once: Void = {
        // Encoder statistics and decoder warnings go to standard error; problems reach callers as typed
        // errors instead, so only fatal messages are let through.
        av_log_set_level(AV_LOG_FATAL)
        // The encoders read some heap memory before writing it in the first group of pictures of a stream:
        // with glibc's default the bytes found there depend on earlier allocations, and so on address-space
        // layout, and the same frames encoded to different pictures from run to run (measured: 7 of 12
        // clips). Filling every allocation with a fixed byte makes what they read, and so what they write,
        // the same in every run.
        cff_perturb_allocations(0x5A)
    }()

    static func prepare() { _ = once }
}

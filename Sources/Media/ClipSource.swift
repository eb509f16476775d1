import Foundation

/// A clip that is part of other recordings: an utterance of a dialogue's video, a labelled span of a long recording.
/// Written as a small JSON file (`NAME.clip`) by a dataset stage, it names the recording its picture comes from and the
/// one its sound comes from (IEMOCAP: the dialogue's AVI and the speaker's own microphone), each with its SHA-256, so a
/// stage keyed by this file reruns when a recording changes, and the seconds of it that are the clip. The per-clip
/// stages read it as they read a clip file, without cutting anything out first.
public struct ClipReference: Codable, Sendable, Equatable {
    public struct Part: Codable, Sendable, Equatable {
        /// The recording's path, relative to the workspace.
        public var file: String
        public var sha256: String
        /// Seconds from the recording's start; both nil for the whole recording.
        public var start: Double?
        public var end: Double?

        public init(file: String, sha256: String, start: Double? = nil, end: Double? = nil) {
            self.file = file
            self.sha256 = sha256
            self.start = start
            self.end = end
        }

        var interval: ClosedRange<Double>? {
            guard let start, let end, end > start else { return nil }
            return start...end
        }
    }

    public var video: Part?
    public var audio: Part?

    public static let fileExtension = "clip"

    public init(video: Part?, audio: Part?) {
        self.video = video
        self.audio = audio
    }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(self)
    }
}

/// Where a clip's picture and sound are read from: a clip file itself, or the parts of recordings a `.clip` file names.
public struct ClipSource: Sendable {
    /// What errors call the clip: its file's path.
    public let name: String
    private let video: (path: String, interval: ClosedRange<Double>?)?
    private let audio: (path: String, interval: ClosedRange<Double>?)?

    private init(name: String, video: (path: String, interval: ClosedRange<Double>?)?, audio: (path: String, interval: ClosedRange<Double>?)?) {
        self.name = name
        self.video = video
        self.audio = audio
    }

    /// A clip file, picture and sound.
    public init(file: String) {
        self.init(name: file, video: (file, nil), audio: (file, nil))
    }

    /// `path` a clip file, or a `.clip` reference whose recordings are found under `workspace`.
    public init(path: String, workspace: String) throws {
        guard path.hasSuffix("." + ClipReference.fileExtension) else {
            self.init(file: path)
            return
        }
        let reference: ClipReference
        do {
            reference = try JSONDecoder().decode(ClipReference.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw MediaError.undecodable(path, "not a clip reference (JSON naming a video and an audio recording): \(error)")
        }
        func resolve(_ part: ClipReference.Part?) throws -> (path: String, interval: ClosedRange<Double>?)? {
            guard let part else { return nil }
            guard (part.start == nil) == (part.end == nil) else {
                throw MediaError.undecodable(path, "\(part.file)'s part gives a start or an end alone (both, or neither for the whole recording)")
            }
            if let start = part.start, let end = part.end, !(end > start && start >= 0) {
                throw MediaError.undecodable(path, "the interval \(String(format: "%.3f-%.3f", start, end)) s of \(part.file) is empty or starts before the recording")
            }
            return (part.file.hasPrefix("/") ? part.file : workspace + "/" + part.file, part.interval)
        }
        self.init(name: path, video: try resolve(reference.video), audio: try resolve(reference.audio))
    }

    /// A reader of the clip's picture; `MediaError.noVideoStream` when the clip has none.
    public func videoReader() throws -> MediaReader {
        guard let video else { throw MediaError.noVideoStream(name) }
        return try MediaReader(path: video.path, interval: video.interval)
    }

    /// A reader of the clip's sound; `MediaError.noAudioStream` when the clip has none.
    public func audioReader() throws -> MediaReader {
        guard let audio else { throw MediaError.noAudioStream(name) }
        return try MediaReader(path: audio.path, interval: audio.interval)
    }
}

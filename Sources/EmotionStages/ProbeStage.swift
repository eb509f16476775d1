import Foundation
import Media
import Meld
import Pipeline

/// `probe`: decodes one clip (per item) and records whether it can be used: its streams, duration and
/// loudness, or the reason it cannot. A broken clip is a result, never a failure of the run.
public enum ProbeStage {
    public static let kind = StageKind.map(
        "probe", version: 3, summary: "decode each clip: streams, duration, loudness, or why it is unusable", params: ProbeSettings.params
    ) { context in
        let settings = try ProbeSettings(context.params, stage: context.stage)
        try context.writeJSON(probeClip(at: try context.onlyFile().location, settings: settings), to: "probe.json")
    }

    public static func probeClip(at path: String, settings: ProbeSettings) -> ClipProbe {
        do {
            let reader = try MediaReader(path: path)
            guard reader.hasVideo || reader.hasAudio else { return ClipProbe(status: .noVideoStream, duration: reader.duration) }
            guard reader.hasAudio else { return ClipProbe(status: .noAudioStream, duration: reader.duration) }
            guard reader.duration > 0 else { return ClipProbe(status: .zeroDuration) }
            // A speech corpus's recording has no picture: `no_video_stream`, its audio checked all the same, since
            // corpora of sound alone keep it for the voice.
            var probe = ClipProbe(status: reader.hasVideo ? .ok : .noVideoStream, duration: reader.duration, width: reader.videoSize?.width, height: reader.videoSize?.height)
            let samples = try reader.audio()
            let rms = (samples.reduce(0) { $0 + Double($1) * Double($1) } / Double(max(1, samples.count))).squareRoot()
            probe.audioRMS = rms
            if reader.hasVideo { _ = try reader.frames(count: 1) }
            let decibels = 20 * log10(max(rms, 1e-12))
            if decibels < settings.silenceDB {
                probe.status = .silent
                probe.detail = String(format: "audio RMS %.1f dBFS", decibels)
            }
            return probe
        } catch let error as MediaError {
            return ClipProbe(status: ClipProbe.Status(error), detail: error.detail)
        } catch {
            return ClipProbe(status: .undecodable, detail: "\(error)")
        }
    }
}

/// What the probe calls unusable beyond what fails to decode.
public struct ProbeSettings: Sendable, Hashable {
    /// Audio whose RMS is below this (dBFS) is silent.
    public var silenceDB = -60.0

    public init() {}

    public var problem: String? { silenceDB.isFinite ? nil : "the silence threshold must be a finite number of dBFS" }
}

extension ClipProbe.Status {
    /// The verdict a decoding error stands for.
    init(_ error: MediaError) {
        switch error {
        case .notFound: self = .notFound
        case .noVideoStream: self = .noVideoStream
        case .noAudioStream: self = .noAudioStream
        case .undecodable, .encoding: self = .undecodable
        case .zeroDuration: self = .zeroDuration
        case .truncated: self = .truncated
        }
    }
}

extension ItemContext {
    /// The item's clip: its file, or the parts of recordings its `.clip` reference names (found in the workspace).
    func clipSource() throws -> ClipSource {
        try ClipSource(path: try onlyFile().location, workspace: workspace)
    }

    /// What `read` decodes from the item clip's sound; nil, with the probe's verdict written to `record`, when it
    /// cannot be decoded (a broken clip is a result, never a failure of the run).
    func decodeAudio<Value>(orRecordIn record: String, _ read: (MediaReader) throws -> Value) throws -> Value? {
        do {
            return try read(try clipSource().audioReader())
        } catch let error as MediaError {
            try writeJSON(UnreadableClip(error), to: record)
            return nil
        }
    }
}

/// What a per-clip stage writes instead of its features when the clip cannot be decoded: the same verdict
/// the probe gives, so that downstream stages and people read one vocabulary.
struct UnreadableClip: Codable {
    var status: ClipProbe.Status
    var detail: String

    init(_ error: MediaError) {
        status = ClipProbe.Status(error)
        detail = error.detail
    }
}

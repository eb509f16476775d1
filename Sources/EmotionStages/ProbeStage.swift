import Foundation
import Media
import Meld
import Pipeline

/// `probe`: decodes one clip (per item) and records whether it can be used: its streams, duration and
/// loudness, or the reason it cannot. A broken clip is a result, never a failure of the run.
public enum ProbeStage {
    public static let kind = StageKind.map(
        "probe", version: 1, summary: "decode each clip: streams, duration, loudness, or why it is unusable",
        params: [ParamSpec("silence_db", .double, default: .double(-60), help: "audio whose RMS is below this (dBFS) is silent")]
    ) { context in
        guard let file = context.files.first else { throw PipelineError(.stageFailed, "item '\(context.id)' has no file") }
        let probe = probeClip(at: file.location, silenceDB: context.params.double("silence_db"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try context.write(try encoder.encode(probe), to: "probe.json")
    }

    public static func probeClip(at path: String, silenceDB: Double) -> ClipProbe {
        do {
            let reader = try MediaReader(path: path)
            var probe = ClipProbe(status: "ok", duration: reader.duration, width: reader.videoSize?.width, height: reader.videoSize?.height)
            guard reader.hasVideo else { return ClipProbe(status: MediaError.noVideoStream(path).reason, duration: reader.duration) }
            guard reader.hasAudio else { return ClipProbe(status: MediaError.noAudioStream(path).reason, duration: reader.duration) }
            guard reader.duration > 0 else { return ClipProbe(status: MediaError.zeroDuration(path).reason) }
            let samples = try reader.audio()
            let rms = (samples.reduce(0) { $0 + Double($1) * Double($1) } / Double(max(1, samples.count))).squareRoot()
            probe.audioRMS = rms
            _ = try reader.frames(count: 1)
            if 20 * log10(max(rms, 1e-12)) < silenceDB {
                probe.status = "silent"
                probe.detail = String(format: "audio RMS %.1f dBFS", 20 * log10(max(rms, 1e-12)))
            }
            return probe
        } catch let error as MediaError {
            return ClipProbe(status: error.reason, detail: error.detail)
        } catch {
            return ClipProbe(status: "undecodable", detail: "\(error)")
        }
    }
}

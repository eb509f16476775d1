import AudioFeatures
import Foundation
import Media
import Pipeline

/// `mel`: per clip, the log-mel spectrogram of MODEL.md as `mel.npy` (float32, 64 x T; `numpy.load` reads it) and
/// the settings that made it as `params.json` (the stage's params), or, for a clip whose audio cannot be read,
/// `mel.json` with the reason and no array.
public enum MelStage {
    public static let kind = StageKind.map(
        "mel", version: 5, summary: "64-band log-mel spectrogram per clip (librosa's conventions, FFTW)", params: LogMelConfig.params
    ) { context in
        let config = try LogMelConfig(context.params, stage: context.stage)
        guard let samples = try context.decodeAudio(orRecordIn: "mel.json", { try $0.audio(sampleRate: config.sampleRate) }) else { return }
        let mel = spectrogram(for: config)
        try context.write(npy(mel.logMel(samples), bands: config.melBands, frames: mel.frameCount(samples: samples.count)), to: "mel.npy")
        try context.write(Data(context.params.canonicalJSON.utf8), to: "params.json")
    }

    /// A (bands, frames) log-mel as NumPy's `.npy`.
    public static func npy(_ values: [Float], bands: Int, frames: Int) -> Data { NumpyArray.float32(values, shape: [bands, frames]) }

    /// One spectrogram (FFT plan, window, filterbank) per configuration, shared by every item of the process.
    private static let spectrograms = SharedInstances<LogMelConfig, LogMelSpectrogram>()

    public static func spectrogram(for config: LogMelConfig) -> LogMelSpectrogram {
        spectrograms.value(for: config) { LogMelSpectrogram($0) }
    }
}


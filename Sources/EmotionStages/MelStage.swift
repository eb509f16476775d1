import AudioFeatures
import Foundation
import Media
import Pipeline

/// `mel`: per clip, the log-mel spectrogram of MODEL.md as `mel.npy` (float32, 64 x T; `numpy.load` reads it),
/// or, for a clip whose audio cannot be read, `mel.json` with the reason and no array.
public enum MelStage {
    public static let kind = StageKind.map(
        "mel", version: 2, summary: "64-band log-mel spectrogram per clip (librosa's conventions, FFTW)",
        params: [
            ParamSpec("sample_rate", .int, default: .int(16_000), help: "audio is resampled to this rate (Hz)"),
            ParamSpec("n_fft", .int, default: .int(512), help: "FFT size"),
            ParamSpec("win_length", .int, default: .int(400), help: "Hann window length, zero-padded to n_fft"),
            ParamSpec("hop_length", .int, default: .int(160), help: "samples between frames"),
            ParamSpec("n_mels", .int, default: .int(64), help: "mel bands"),
            ParamSpec("fmin", .double, default: .double(0), help: "lowest mel frequency (Hz)"),
            ParamSpec("fmax", .double, default: .double(8_000), help: "highest mel frequency (Hz)"),
            ParamSpec("top_db", .double, default: .double(80), help: "values are floored at the clip's maximum minus this"),
        ]
    ) { context in
        guard let file = context.files.first else { throw PipelineError(.stageFailed, "item '\(context.id)' has no file") }
        var config = LogMelConfig()
        config.sampleRate = context.params.int("sample_rate")
        config.fftSize = context.params.int("n_fft")
        config.windowLength = context.params.int("win_length")
        config.hopLength = context.params.int("hop_length")
        config.melBands = context.params.int("n_mels")
        config.minFrequency = context.params.double("fmin")
        config.maxFrequency = context.params.double("fmax")
        config.topDB = context.params.double("top_db")
        guard config.fftSize >= 2, config.fftSize % 2 == 0, (1...config.fftSize).contains(config.windowLength), config.hopLength > 0,
              config.melBands > 0, config.maxFrequency > config.minFrequency, config.maxFrequency <= Double(config.sampleRate) / 2 else {
            throw PipelineError(.badParam, "stage '\(context.stage)': inconsistent mel params \(config)")
        }
        let samples: [Float]
        do {
            samples = try MediaReader(path: file.location).audio(sampleRate: config.sampleRate)
        } catch let error as MediaError {
            try context.write(Data("{\"status\":\"\(error.reason)\"}\n".utf8), to: "mel.json")
            return
        }
        let mel = spectrogram(for: config)
        let values = mel.logMel(samples)
        try context.write(npy(values, bands: config.melBands, frames: mel.frameCount(samples: samples.count)), to: "mel.npy")
    }

    /// A (bands, frames) log-mel as NumPy's `.npy`.
    public static func npy(_ values: [Float], bands: Int, frames: Int) -> Data { NumpyArray.float32(values, shape: [bands, frames]) }

    /// One spectrogram (FFT plan, window, filterbank) per configuration for the whole run: planning takes ~80 ms.
    private static let spectrograms = SharedInstances<LogMelConfig, LogMelSpectrogram>()

    static func spectrogram(for config: LogMelConfig) -> LogMelSpectrogram {
        spectrograms.value(for: config) { LogMelSpectrogram($0) }
    }
}


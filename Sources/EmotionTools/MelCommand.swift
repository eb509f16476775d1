import ArgumentParser
import AudioFeatures
import EmotionCLI
import EmotionStages
import FFT
import Foundation
import Media
import Pipeline

struct MelCommand: ParsableCommand, StageOptions {
    static let configuration = CommandConfiguration(
        commandName: "mel", abstract: "Compute one file's log-mel spectrogram (MODEL.md's features) as a .npy, as the mel stage does, and time it.")
    static let kind = MelStage.kind
    typealias Settings = LogMelConfig
    private static let defaults = LogMelConfig()

    @Argument(help: "An audio file or clip (anything FFmpeg reads).")
    var input: String

    @Option(help: "The .npy file to write (float32, n_mels x T).")
    var out: String

    @Option(help: "Compute this many times and report the mean (for timing).")
    var repeats = 1

    @Option(help: "FFTW's planning: estimate (the stage's, the same bits in every run) or measure (timed on this machine; its bits can differ between runs).")
    var fftPlanning: RealFFT.Planning = .estimate

    @Option(help: help("sample_rate")) var sampleRate = defaults.sampleRate
    @Option(help: help("n_fft")) var nFft = defaults.fftSize
    @Option(help: help("win_length")) var winLength = defaults.windowLength
    @Option(help: help("hop_length")) var hopLength = defaults.hopLength
    @Option(help: help("n_mels")) var nMels = defaults.melBands
    @Option(help: help("fmin")) var fmin = defaults.minFrequency
    @Option(help: help("fmax")) var fmax = defaults.maxFrequency
    @Option(help: help("top_db")) var topDb = defaults.topDB

    var paramValues: [String: ParamValue] {
        ["sample_rate": .int(sampleRate), "n_fft": .int(nFft), "win_length": .int(winLength), "hop_length": .int(hopLength),
         "n_mels": .int(nMels), "fmin": .double(fmin), "fmax": .double(fmax), "top_db": .double(topDb)]
    }

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
        _ = try settings()
    }

    func run() throws {
        let config = try settings()
        let started = Date()
        let samples = try MediaReader(path: input).audio(sampleRate: config.sampleRate)
        let decoded = Date()
        let mel = fftPlanning == .estimate ? MelStage.spectrogram(for: config) : LogMelSpectrogram(config, planning: fftPlanning)
        let planned = Date()
        var values: [Float] = []
        for _ in 0..<repeats { values = mel.logMel(samples) }
        let computed = Date()
        let frames = mel.frameCount(samples: samples.count)
        try MelStage.npy(values, bands: config.melBands, frames: frames).write(to: URL(fileURLWithPath: out))
        print(String(format: "%@: %d samples, %d x %d; decode %.2f ms, FFT plan %.2f ms, log-mel %.3f ms", input, samples.count, config.melBands, frames,
                     decoded.timeIntervalSince(started) * 1000, planned.timeIntervalSince(decoded) * 1000,
                     computed.timeIntervalSince(planned) * 1000 / Double(repeats)))
    }
}

extension RealFFT.Planning: ExpressibleByArgument {}

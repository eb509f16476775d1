import ArgumentParser
import AudioFeatures
import Foundation
import Media
import Stages

struct MelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mel", abstract: "Compute one file's log-mel spectrogram (MODEL.md's features) as a .npy, and time it.")

    @Argument(help: "An audio file or clip (anything FFmpeg reads).")
    var input: String

    @Option(help: "The .npy file to write (float32, 64 x T).")
    var out: String

    @Option(help: "Compute this many times and report the mean (for timing).")
    var repeats = 1

    func run() throws {
        let started = Date()
        let samples = try MediaReader(path: input).audio(sampleRate: 16_000)
        let decoded = Date()
        let mel = LogMelSpectrogram()
        let planned = Date()
        var values: [Float] = []
        for _ in 0..<max(1, repeats) { values = mel.logMel(samples) }
        let computed = Date()
        let frames = mel.frameCount(samples: samples.count)
        try MelStage.npy(values, bands: 64, frames: frames).write(to: URL(fileURLWithPath: out))
        print(String(format: "%@: %d samples, 64 x %d; decode %.2f ms, FFT plan %.2f ms, log-mel %.3f ms", input, samples.count, frames,
                     decoded.timeIntervalSince(started) * 1000, planned.timeIntervalSince(decoded) * 1000,
                     computed.timeIntervalSince(planned) * 1000 / Double(max(1, repeats))))
    }
}

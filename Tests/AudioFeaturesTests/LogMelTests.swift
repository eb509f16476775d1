import AudioFeatures
import Foundation
import Safetensors
import TestSupport
import XCTest

/// The log-mel of MODEL.md against librosa 0.11 (`../shared/reference/mel`), at its README's tolerances:
/// power within 1e-4 of the clip's maximum, log-mel within 0.01 dB.
final class LogMelTests: XCTestCase {
    let mel = LogMelSpectrogram()

    func testFilterbankAndWindowMatchLibrosa() throws {
        let fixture = try SafetensorsFile(path: try Shared.path("reference/mel/filterbank.safetensors"))
        XCTAssertEqual(fixture.entries["filterbank"]?.shape, [64, 257])
        let reference = try fixture.floats("filterbank")
        let scale = reference.map(abs).max()!
        for (ours, theirs) in zip(mel.filterbank, reference) { XCTAssertEqual(ours, theirs, accuracy: 1e-6 * scale) }
        for (ours, theirs) in zip(mel.window, try fixture.floats("window")) { XCTAssertEqual(ours, theirs, accuracy: 1e-7) }
    }

    func testSpectrogramsOfRealSpeechMatchLibrosa() throws {
        var powerSpectra = 0
        for name in ["03-01-01-01-01-01-01", "03-01-05-02-01-01-02", "1002_DFA_ANG_XX", "sine440"] {
            let fixture = try SafetensorsFile(path: try Shared.path("reference/mel/\(name).safetensors"))
            let pcm = try fixture.floats("pcm")
            let frames = mel.frameCount(samples: pcm.count)
            XCTAssertEqual(fixture.entries["log_mel"]?.shape, [64, frames], name)
            if fixture.entries["power_spec"] != nil {
                let reference = try fixture.floats("power_spec"), ours = mel.powerSpectrogram(pcm)
                let tolerance = 1e-4 * Double(reference.max()!)
                XCTAssertLessThanOrEqual(maxDifference(ours, reference), tolerance, "\(name) power spectrum")
                powerSpectra += 1
            }
            let power = try fixture.floats("power_mel")
            XCTAssertLessThanOrEqual(maxDifference(mel.melPower(pcm), power), 1e-4 * Double(power.max()!), "\(name) mel power")
            XCTAssertLessThanOrEqual(maxDifference(mel.logMel(pcm), try fixture.floats("log_mel")), 0.01, "\(name) log-mel (dB)")
        }
        XCTAssertEqual(powerSpectra, 1, "the reference README gives sine440 alone its STFT power")
    }

    func testFramesAndFloor() {
        XCTAssertEqual(mel.frameCount(samples: 48_000), 301)
        let silence = mel.logMel([Float](repeating: 0, count: 1600))
        XCTAssertEqual(Set(silence), [-100], "silence is 10 log10(1e-10) everywhere")
        var tone = (0..<16_000).map { Float(sin(2 * Double.pi * 1000 * Double($0) / 16_000)) }
        tone[0] = 0
        let values = mel.logMel(tone)
        XCTAssertEqual(Double(values.max()! - values.min()!), 80, accuracy: 1e-3, "floored at the maximum minus top_db")
    }

    private func maxDifference(_ a: [Float], _ b: [Float]) -> Double {
        XCTAssertEqual(a.count, b.count)
        return zip(a, b).map { Double(abs($0 - $1)) }.max() ?? .infinity
    }
}

import Foundation
import Speech
import XCTest

/// espeak-ng through the Speech wrapper: speech of a plausible length and loudness, prosody that changes
/// what is said, and a clear error for a voice that does not exist.
final class SpeechSynthesizerTests: XCTestCase {
    static func rms(_ samples: [Float]) -> Double {
        (samples.reduce(0) { $0 + Double($1) * Double($1) } / Double(max(1, samples.count))).squareRoot()
    }

    func testSpeechHasTheLengthAndLoudnessOfASentence() throws {
        let (samples, rate) = try SpeechSynthesizer.speak("The quick brown fox jumps over the lazy dog.", prosody: Prosody())
        XCTAssertEqual(rate, 22_050, "espeak-ng's own rate")
        let seconds = Double(samples.count) / Double(rate)
        XCTAssertGreaterThan(seconds, 1.5, "nine words at 175 words a minute last about 3 s")
        XCTAssertLessThan(seconds, 6)
        XCTAssertGreaterThan(Self.rms(samples), 0.01, "audible")
        XCTAssertTrue(samples.allSatisfy { abs($0) <= 1 })
    }

    func testRateAndVolumeChangeTheSpeech() throws {
        let text = "I can't believe you did that."
        let normal = try SpeechSynthesizer.speak(text, prosody: Prosody()).samples
        let fast = try SpeechSynthesizer.speak(text, prosody: Prosody(rate: 350)).samples
        let quiet = try SpeechSynthesizer.speak(text, prosody: Prosody(volume: 30)).samples
        XCTAssertLessThan(Double(fast.count), 0.75 * Double(normal.count), "twice the rate, far shorter")
        XCTAssertLessThan(Self.rms(quiet), 0.6 * Self.rms(normal), "a third of the volume, quieter")
    }

    func testUnknownVoiceIsAnError() {
        XCTAssertThrowsError(try SpeechSynthesizer.speak("hello", prosody: Prosody(voice: "no-such-voice"))) { error in
            XCTAssertTrue("\(error)".contains("no-such-voice"), "\(error)")
        }
    }
}

import CEspeakNG
import Foundation

/// How a voice says something: the knobs that carry emotion in speech.
public struct Prosody: Sendable, Hashable {
    /// Words per minute (espeak-ng accepts 80 to 450).
    public var rate: Int
    /// Base pitch, 0 to 100.
    public var pitch: Int
    /// Pitch range (how much the pitch moves), 0 to 100.
    public var range: Int
    /// Loudness, 0 to 200 (100 is normal).
    public var volume: Int
    /// An espeak-ng voice, e.g. `en+m3` or `en+f2`: the speaker's identity.
    public var voice: String

    public init(rate: Int = 175, pitch: Int = 50, range: Int = 50, volume: Int = 100, voice: String = "en") {
        self.rate = rate
        self.pitch = pitch
        self.range = range
        self.volume = volume
        self.voice = voice
    }
}

public enum SpeechError: Error, CustomStringConvertible {
    case unavailable(String)
    case failed(String)

    public var description: String {
        switch self {
        case .unavailable(let why): return "espeak-ng is not usable: \(why)"
        case .failed(let why): return "speech synthesis failed: \(why)"
        }
    }
}

/// Text to speech with espeak-ng, called as a library. espeak-ng keeps global state, so calls are serialised.
///
/// That state also carries from one utterance into the next (the same call twice gives slightly different
/// timing), and this Debian build cannot be re-initialised in one process (`espeak_ng_Terminate` deadlocks).
/// Output is therefore a function of the whole sequence of calls since the process started: callers that
/// need reproducible speech make the same calls in the same order in a fresh process.
public enum SpeechSynthesizer {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var sampleRate: Int32 = 0
    nonisolated(unsafe) private static var collected: [Int16] = []

    /// Speaks `text`, returning mono samples in [-1, 1] and their rate (espeak-ng's own, 22 050 Hz).
    public static func speak(_ text: String, prosody: Prosody) throws -> (samples: [Float], sampleRate: Int) {
        lock.lock()
        defer { lock.unlock() }
        if sampleRate == 0 {
            let rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, nil, Int32(espeakINITIALIZE_DONT_EXIT))
            guard rate > 0 else { throw SpeechError.unavailable("espeak_Initialize returned \(rate) (is espeak-ng-data installed?)") }
            sampleRate = rate
            espeak_SetSynthCallback { wave, count, _ in
                if let wave, count > 0 { SpeechSynthesizer.collected.append(contentsOf: UnsafeBufferPointer(start: wave, count: Int(count))) }
                return 0
            }
        }
        guard espeak_SetVoiceByName(prosody.voice) == EE_OK else { throw SpeechError.failed("unknown voice '\(prosody.voice)'") }
        for (parameter, value) in [(espeakRATE, prosody.rate), (espeakPITCH, prosody.pitch), (espeakRANGE, prosody.range), (espeakVOLUME, prosody.volume)] {
            espeak_SetParameter(parameter, Int32(value), 0)
        }
        collected = []
        let bytes = Array(text.utf8CString)
        let status = bytes.withUnsafeBufferPointer {
            espeak_Synth($0.baseAddress, $0.count, 0, POS_CHARACTER, 0, UInt32(espeakCHARS_UTF8), nil, nil)
        }
        guard status == EE_OK else { throw SpeechError.failed("espeak_Synth returned \(status.rawValue)") }
        // espeak-ng holds back the end of an utterance until the next one starts; an empty utterance pushes it
        // out here, so each call returns all of its own speech and none of the previous call's.
        let flush = Array("".utf8CString)
        _ = flush.withUnsafeBufferPointer { espeak_Synth($0.baseAddress, $0.count, 0, POS_CHARACTER, 0, UInt32(espeakCHARS_UTF8), nil, nil) }
        let samples = collected.map { Float($0) / 32768 }
        collected = []
        return (samples, Int(sampleRate))
    }
}

import CEspeakNG
import ChildProcesses
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

/// Text to speech with espeak-ng, in a fresh process per utterance (`emotion-speak`, beside the running program).
///
/// espeak-ng keeps global state that carries from one utterance into the next (the same call twice gives slightly
/// different timing), and this Debian build cannot be re-initialised in one process (`espeak_ng_Terminate`
/// deadlocks). Made in a process of its own, each utterance's samples are a function of its text and prosody alone:
/// the same whether it is spoken first, after hundreds of others, or on any thread.
public enum SpeechSynthesizer {
    /// The helper program's name; `EMOTION_SPEAK` names another path.
    public static let helperName = "emotion-speak"

    /// Speaks `text`, returning mono samples in [-1, 1] and their rate (espeak-ng's own, 22 050 Hz).
    public static func speak(_ text: String, prosody: Prosody) throws -> (samples: [Float], sampleRate: Int) {
        let helper = try helperPath()
        let output = try ChildProcess.makePipe(), errors = try ChildProcess.makePipe()
        let child: ChildProcess
        do {
            defer { close(output.write); close(errors.write) }
            // MALLOC_PERTURB_ fills every allocation with a fixed byte, so that any read of memory espeak-ng has not
            // written sees the same bytes in every run.
            child = try ChildProcess(executable: helper, arguments: SpeechRequest(text: text, prosody: prosody).arguments,
                                     descriptors: [1: output.write, 2: errors.write], environment: ["MALLOC_PERTURB_": "90"])
        } catch {
            close(output.read); close(errors.read)
            throw SpeechError.unavailable("\(error)")
        }
        // Two readers, so that a helper filling the pipe we are not reading cannot block.
        final class Said: @unchecked Sendable { var data = Data() }
        let said = Said(), reading = DispatchGroup()
        DispatchQueue.global().async(group: reading) { said.data = readAll(errors.read) }
        let bytes = readAll(output.read)
        close(output.read)
        let ended = child.wait()
        reading.wait()
        close(errors.read)
        let message = String(decoding: said.data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard ended.succeeded else {
            throw message.isEmpty ? SpeechError.failed("\(helper) \(ended)") : SpeechError.failed(message)
        }
        return try SpeechRequest.decode(bytes)
    }

    /// The helper beside the running executable (the test bundle runs from the same folder), or `EMOTION_SPEAK`.
    static func helperPath() throws -> String {
        if let given = ProcessInfo.processInfo.environment["EMOTION_SPEAK"], !given.isEmpty { return given }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let beside = (executable as NSString).deletingLastPathComponent + "/" + helperName
        guard access(beside, X_OK) == 0 else {
            throw SpeechError.unavailable("\(beside) is missing: build it with `swift build -c release --product \(helperName)` (make build does)")
        }
        return beside
    }

    private static func readAll(_ fd: Int32) -> Data {
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 { data.append(contentsOf: chunk[0..<count]); continue }
            if count < 0 && errno == EINTR { continue }
            return data
        }
    }
}

/// One utterance as the helper takes it (its arguments) and gives it back (its standard output: espeak-ng's sample
/// rate as a little-endian Int32, then the samples as little-endian Int16).
public struct SpeechRequest: Equatable {
    public var text: String
    public var prosody: Prosody

    public init(text: String, prosody: Prosody) {
        self.text = text
        self.prosody = prosody
    }

    public var arguments: [String] {
        [prosody.voice, String(prosody.rate), String(prosody.pitch), String(prosody.range), String(prosody.volume), text]
    }

    public init?(arguments: [String]) {
        guard arguments.count == 6, let rate = Int(arguments[1]), let pitch = Int(arguments[2]), let range = Int(arguments[3]),
              let volume = Int(arguments[4]) else { return nil }
        self.init(text: arguments[5], prosody: Prosody(rate: rate, pitch: pitch, range: range, volume: volume, voice: arguments[0]))
    }

    public static func encode(samples: [Int16], sampleRate: Int32) -> Data {
        var data = Data(capacity: 4 + 2 * samples.count)
        withUnsafeBytes(of: sampleRate.littleEndian) { data.append(contentsOf: $0) }
        samples.forEach { sample in withUnsafeBytes(of: sample.littleEndian) { data.append(contentsOf: $0) } }
        return data
    }

    static func decode(_ data: Data) throws -> (samples: [Float], sampleRate: Int) {
        guard data.count >= 4, data.count % 2 == 0 else { throw SpeechError.failed("the helper's output is \(data.count) bytes, not a rate and 16-bit samples") }
        let bytes = [UInt8](data)
        let rate = Int32(littleEndian: bytes[0..<4].enumerated().reduce(0) { $0 | Int32($1.element) << (8 * $1.offset) })
        let samples = stride(from: 4, to: bytes.count, by: 2).map { Float(Int16(bitPattern: UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8)) / 32768 }
        return (samples, Int(rate))
    }
}

/// espeak-ng called as a library, in this process: what the helper runs, once per process.
public enum SpeechEngine {
    nonisolated(unsafe) private static var collected: [Int16] = []

    /// Speaks `request` into 16-bit samples at espeak-ng's rate. Call it once in a process: a second call's output
    /// depends on the first.
    public static func speakOnce(_ request: SpeechRequest) throws -> (samples: [Int16], sampleRate: Int32) {
        let rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, nil, Int32(espeakINITIALIZE_DONT_EXIT))
        guard rate > 0 else { throw SpeechError.unavailable("espeak_Initialize returned \(rate) (is espeak-ng-data installed?)") }
        espeak_SetSynthCallback { wave, count, _ in
            if let wave, count > 0 { SpeechEngine.collected.append(contentsOf: UnsafeBufferPointer(start: wave, count: Int(count))) }
            return 0
        }
        let prosody = request.prosody
        guard espeak_SetVoiceByName(prosody.voice) == EE_OK else { throw SpeechError.failed("unknown voice '\(prosody.voice)'") }
        for (parameter, value) in [(espeakRATE, prosody.rate), (espeakPITCH, prosody.pitch), (espeakRANGE, prosody.range), (espeakVOLUME, prosody.volume)] {
            espeak_SetParameter(parameter, Int32(value), 0)
        }
        let bytes = Array(request.text.utf8CString)
        let status = bytes.withUnsafeBufferPointer {
            espeak_Synth($0.baseAddress, $0.count, 0, POS_CHARACTER, 0, UInt32(espeakCHARS_UTF8), nil, nil)
        }
        guard status == EE_OK else { throw SpeechError.failed("espeak_Synth returned \(status.rawValue)") }
        // espeak-ng holds back the end of an utterance until the next one starts: an empty one pushes it out.
        let flush = Array("".utf8CString)
        _ = flush.withUnsafeBufferPointer { espeak_Synth($0.baseAddress, $0.count, 0, POS_CHARACTER, 0, UInt32(espeakCHARS_UTF8), nil, nil) }
        return (collected, rate)
    }
}

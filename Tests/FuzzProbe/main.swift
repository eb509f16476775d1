import Foundation
import Media
import Meld
import Pipeline
import Safetensors
import SeededRandom

// Feeds seeded mutations of a valid input to one of the parsers a user hands files to, in this process, and exits 0
// when every one ended in success or a thrown error. A crash or a hang is the parent's to see (this process dies or
// is killed); each input is written to WORK/last before it is parsed, so a crash leaves it there to reproduce.
//
//   fuzz-probe TARGET SEED COUNT WORK [SEED_FILE]     TARGET: yaml, safetensors, csv, media
//
// The address space is capped at 4 GiB first, so an input that makes a parser allocate without bound fails here
// as an allocation failure the parent sees, instead of taking the machine's memory.

// Under AddressSanitizer (which maps terabytes of shadow memory) the cap is ASan's own, max_allocation_size_mb.
if ProcessInfo.processInfo.environment["EMOTION_ASAN"] == nil {
    var limit = rlimit(rlim_cur: 4 << 30, rlim_max: 4 << 30)
    setrlimit(Int32(RLIMIT_AS.rawValue), &limit)
}

let arguments = CommandLine.arguments
guard arguments.count >= 5, let seed = UInt64(arguments[2]), let count = Int(arguments[3]) else {
    FileHandle.standardError.write(Data("usage: fuzz-probe yaml|safetensors|csv|media SEED COUNT WORK [SEED_FILE]\n".utf8))
    exit(2)
}
let (target, work) = (arguments[1], arguments[4])

extension SeededRandom {
    mutating func below(_ bound: Int) -> Int { bound <= 1 ? 0 : Int(next() % UInt64(bound)) }
}

/// One to eight edits: a byte flipped or set to an edge value, a token of the format inserted, a span deleted or
/// repeated, or a span of the original spliced in elsewhere.
func mutate(_ original: [UInt8], tokens: [[UInt8]], random: inout SeededRandom) -> [UInt8] {
    var bytes = original
    for _ in 0..<(1 + random.below(8)) {
        let at = random.below(bytes.count + 1)
        switch random.below(6) {
        case 0 where !bytes.isEmpty: bytes[min(at, bytes.count - 1)] ^= UInt8(1 << random.below(8))
        case 1 where !bytes.isEmpty: bytes[min(at, bytes.count - 1)] = [0x00, 0xFF, 0x7F, 0x80, 0x0A, 0x22][random.below(6)]
        case 2: bytes.insert(contentsOf: tokens[random.below(tokens.count)], at: at)
        case 3: bytes.removeSubrange(at..<min(bytes.count, at + 1 + random.below(64)))
        case 4:
            let span = Array(bytes[at..<min(bytes.count, at + 1 + random.below(256))])
            bytes.insert(contentsOf: Array(repeating: span, count: 1 + random.below(8)).joined(), at: at)
        default:
            let from = random.below(original.count)
            bytes.insert(contentsOf: original[from..<min(original.count, from + 1 + random.below(128))], at: at)
        }
    }
    return bytes
}

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

let seedInput: [UInt8]
let tokens: [[UInt8]]
let parse: (String) throws -> Void
switch target {
case "yaml":
    seedInput = Array(try Data(contentsOf: URL(fileURLWithPath: arguments[5])))
    tokens = ["&a ", "*a", "<<: *a\n", "[", "]", "{", "}", ": ", "- ", "\n  ", "${item}", "${x}", "foreach: ", "matrix: ", "do:", "'", "\"",
              "!!binary ", "? ", "|\n", "@", "/", "..", "1e308", "-1", "~", "\t"].map { Array($0.utf8) }
    parse = { path in _ = try PipelineSpec.load(file: path) }
case "safetensors":
    var writer = SafetensorsWriter()
    writer.add("visual.weight", shape: [4, 3], floats: (0..<12).map(Float.init))
    writer.add("audio.bias", shape: [5], floats: [1, 2, 3, 4, 5])
    writer.add("steps", shape: [1], int64s: [7])
    seedInput = Array(try writer.encoded())
    tokens = ["\"shape\":[", "\"dtype\":\"F32\"", "\"data_offsets\":[", "4611686018427387904", "-1", "]", "}", "{", ",", "\"F16\"", "\"__metadata__\":{"]
        .map { Array($0.utf8) } + [[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], [0, 0, 0, 0, 0, 0, 0, 0]]
    parse = { path in
        let file = try SafetensorsFile(path: path)
        for name in ["visual.weight", "audio.bias"] { _ = try? file.floats(name) }
        _ = try? file.int64s("steps")
    }
case "csv":
    seedInput = Array(try Data(contentsOf: URL(fileURLWithPath: arguments[5])))
    tokens = [",", "\"", "\"\"", "\n", "\r\n", "joy", "neutral", "00:00:01,000", "-1", "99999999999999999999", "\u{FEFF}", "Emotion", "\u{2019}"]
        .map { Array($0.utf8) } + [[0xC3], [0xE9]]
    var params = CleaningParams()
    params.checkClips = false
    parse = { path in
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let csv = String(data: bytes, encoding: .utf8) else { return }  // the stage refuses it, naming the line
        _ = try Cleaner.clean(csvs: [.train: ("train_sent_emo.csv", csv)], clips: [], params: params)
    }
case "media":
    let made = work + "/seed.mp4"
    let writer = try MP4Writer(path: made, settings: .init(width: 48, height: 32, frameRate: 8, sampleRate: 16_000))
    for frame in 0..<6 {
        try writer.append(frame: RGBImage(width: 48, height: 32, pixels: (0..<(48 * 32 * 3)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ frame * 40) }))
        try writer.append(samples: (0..<2000).map { sinf(Float($0 + frame * 2000) * 0.06) * 0.4 })
    }
    try writer.finish()
    seedInput = Array(try Data(contentsOf: URL(fileURLWithPath: made)))
    tokens = ["ftyp", "moov", "mdat", "trak", "stsz", "avc1", "mp4a"].map { Array($0.utf8) } + [[0xFF, 0xFF, 0xFF, 0xFF], [0, 0, 0, 0], [0, 0, 0, 1]]
    parse = { path in
        let reader = try MediaReader(path: path)
        if reader.hasVideo { _ = try? reader.frames(count: 2) }
        if reader.hasAudio { _ = try? reader.audio() }
    }
default:
    FileHandle.standardError.write(Data("fuzz-probe: unknown target \(target)\n".utf8))
    exit(2)
}

var random = SeededRandom(seed: seed)  // the mutations follow from the seed alone
var (succeeded, refused) = (0, 0)
let last = work + "/last" + (target == "media" ? ".mp4" : target == "yaml" ? ".yaml" : "")
for _ in 0..<count {
    let input = mutate(seedInput, tokens: tokens, random: &random)
    FileManager.default.createFile(atPath: last, contents: Data(input))
    do {
        try parse(last)
        succeeded += 1
    } catch {
        refused += 1
    }
}
print("{\"target\": \"\(target)\", \"inputs\": \(count), \"parsed\": \(succeeded), \"refused\": \(refused)}")

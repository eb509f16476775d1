import Foundation
import Pipeline

/// Stage kinds that exist to exercise the runner: deterministic, cheap, and able to be slowed down
/// (to be killed mid-run) or made to fail on a chosen item.
public enum TestKinds {
    public static let registry = StageRegistry([generate, digest, concat, crash, rows, bucket])

    /// Writes `count` files of deterministic pseudo-random bytes: `fNNNN.bin`.
    public static let generate = StageKind.whole(
        "test.generate", version: 1, summary: "deterministic files for tests",
        params: [
            ParamSpec("count", .int, default: .int(10), help: "how many files"),
            ParamSpec("size", .int, default: .int(64), help: "bytes per file"),
            ParamSpec("seed", .int, default: .int(1), help: "changes every byte"),
            ParamSpec("note", .string, default: .string(""), help: "changes the stage's key but not its output"),
        ]
    ) { context in
        var state = UInt64(truncatingIfNeeded: context.params.int("seed")) &* 0x9E37_79B9_7F4A_7C15 | 1
        for index in 0..<context.params.int("count") {
            var bytes = [UInt8](repeating: 0, count: context.params.int("size"))
            for position in bytes.indices {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                bytes[position] = UInt8(truncatingIfNeeded: state)
            }
            try context.write(Data(bytes), to: String(format: "f%04d.bin", index))
        }
    }

    /// Per item: `summary.txt` with the salt and each file's name, size and a checksum of its bytes.
    /// An input starting with `FAIL` makes the item throw.
    public static let digest = StageKind.map(
        "test.digest", version: 1, summary: "per-item checksum",
        params: [
            ParamSpec("salt", .string, default: .string(""), help: "written into every output"),
            ParamSpec("sleep_ms", .int, default: .int(0), help: "pause per item, so a test can kill the run mid-way"),
            ParamSpec("host", .string, default: .string(""), help: "where it would run: an execution param, outside the key", execution: true),
        ]
    ) { context in
        if context.params.int("sleep_ms") > 0 { usleep(UInt32(context.params.int("sleep_ms") * 1000)) }
        var text = "salt=\(context.params.string("salt")) id=\(context.id)\n"
        for file in context.files {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: file.location))
            if bytes.starts(with: Data("FAIL".utf8)) {
                throw PipelineError(.stageFailed, "\(file.path) asks to fail")
            }
            let sum = bytes.reduce(UInt64(14_695_981_039_346_656_037)) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 }
            text += "\(file.path) \(bytes.count) \(String(sum, radix: 16))\n"
        }
        try context.write(Data(text.utf8), to: "summary.txt")
    }

    /// `all.txt`: every input file's path and bytes, in input then path order.
    public static let concat = StageKind.whole(
        "test.concat", version: 1, summary: "concatenation of all inputs",
        params: [ParamSpec("label", .string, default: .string("all"), help: "first line of the output")]
    ) { context in
        var out = Data((context.params.string("label") + "\n").utf8)
        for input in context.inputs {
            for file in input.files {
                out += Data("== \(input.name)/\(file.path)\n".utf8)
                out += try Data(contentsOf: URL(fileURLWithPath: file.location))
            }
        }
        try context.write(out, to: "all.txt")
    }

    /// Per item: `copy.txt`, the item's bytes. When the environment has `PIPELINE_TEST_CRASH=1`, an item whose
    /// bytes are `SEGV`, `ABORT`, `ALLOCATE` or `HANG` takes its process down that way (or never ends), as a
    /// hostile clip can in a C library.
    public static let crash = StageKind.map("test.crash", version: 1, summary: "copies each item; crashes on request") { context in
        let bytes = try Data(contentsOf: URL(fileURLWithPath: try context.onlyFile().location))
        if ProcessInfo.processInfo.environment["PIPELINE_TEST_CRASH"] == "1" {
            switch String(decoding: bytes, as: UTF8.self) {
            case "SEGV": UnsafeMutablePointer<Int>(bitPattern: 16)!.pointee = 1
            case "ABORT": abort()
            case "ALLOCATE":
                var blocks: [UnsafeMutableRawPointer] = []
                while true {
                    guard let block = malloc(64 << 20) else { fatalError("out of memory after \(blocks.count * 64) MiB") }
                    memset(block, 1, 64 << 20)
                    blocks.append(block)
                }
            case "HANG": while true { sleep(1) }
            default: break
            }
        }
        try context.write(bytes, to: "copy.txt")
    }

    /// `rows/PATH/row.txt` for every input file: `row PATH`, and the `extra` text where PATH is `changed`.
    public static let rows = StageKind.whole(
        "test.rows", version: 1, summary: "a folder per input file, for join tests",
        params: [
            ParamSpec("changed", .string, default: .string(""), help: "the one path whose row gets the extra text"),
            ParamSpec("extra", .string, default: .string(""), help: "appended to that row"),
        ]
    ) { context in
        for input in context.inputs {
            for file in input.files {
                let extra = file.path == context.params.string("changed") ? context.params.string("extra") : ""
                try context.write(Data("row \(file.path)\(extra)\n".utf8), to: "rows/\(file.path)/row.txt")
            }
        }
    }

    /// Per bucket of items: `members.txt`, each member's id, then each of its files' path and bytes.
    public static let bucket = StageKind.buckets(
        "test.bucket", version: 1, summary: "lists each bucket's members and their files",
        params: [ParamSpec("buckets", .int, default: .int(4), help: "how many buckets")], count: "buckets"
    ) { context in
        var text = "bucket \(context.id)\n"
        for member in context.members {
            text += "== \(member.id)\n"
            for file in member.files {
                text += "\(file.path): " + String(decoding: try Data(contentsOf: URL(fileURLWithPath: file.location)), as: UTF8.self) + "\n"
            }
        }
        try context.write(Data(text.utf8), to: "members.txt")
    }
}

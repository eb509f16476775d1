import Crypto
import Foundation

/// A SHA-256 digest: the identity of a file's content, a stage's key, or a tree of outputs.
/// Held as four words rather than a string, so that the hundreds of thousands of comparisons and
/// dictionary look-ups of a MELD-sized status cost no allocation; written as lowercase hex.
public struct Digest: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    private var words: (UInt64, UInt64, UInt64, UInt64)

    public init?(hex: String) {
        var hex = hex
        guard let parsed = hex.withUTF8({ Digest.parse(hex: UnsafeRawBufferPointer($0)) }) else { return nil }
        self = parsed
    }

    /// Parses 64 lowercase hex digits straight from bytes (the stat cache and run records hold many).
    static func parse(hex bytes: UnsafeRawBufferPointer) -> Digest? {
        guard bytes.count == 64 else { return nil }
        var values: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        for word in 0..<4 {
            var value: UInt64 = 0
            for index in word * 16..<word * 16 + 16 {
                let char = bytes[index]
                let nibble: UInt8
                switch char {
                case 48...57: nibble = char &- 48
                case 97...102: nibble = char &- 87
                default: return nil
                }
                value = value << 4 | UInt64(nibble)
            }
            switch word {
            case 0: values.0 = value
            case 1: values.1 = value
            case 2: values.2 = value
            default: values.3 = value
            }
        }
        return Digest(words: values)
    }

    private init(words: (UInt64, UInt64, UInt64, UInt64)) { self.words = words }

    init<D: Crypto.Digest>(_ digest: D) {
        var values = [UInt64](repeating: 0, count: 4)
        for (index, byte) in digest.enumerated() { values[index / 8] = values[index / 8] << 8 | UInt64(byte) }
        words = (values[0], values[1], values[2], values[3])
    }

    public static func of<B: DataProtocol>(bytes: B) -> Digest { Digest(SHA256.hash(data: bytes)) }
    public static func of(string: String) -> Digest { of(bytes: Array(string.utf8)) }

    public var hex: String {
        let table = Array("0123456789abcdef".utf8)
        var chars = [UInt8](repeating: 0, count: 64)
        for (index, word) in [words.0, words.1, words.2, words.3].enumerated() {
            for nibble in 0..<16 { chars[index * 16 + nibble] = table[Int(word >> UInt64(60 - 4 * nibble) & 0xF)] }
        }
        return String(decoding: chars, as: UTF8.self)
    }

    public var description: String { hex }

    public static func == (a: Digest, b: Digest) -> Bool { a.words == b.words }
    public static func < (a: Digest, b: Digest) -> Bool {
        (a.words.0, a.words.1, a.words.2, a.words.3) < (b.words.0, b.words.1, b.words.2, b.words.3)
    }

    func withBytes<T>(_ body: (UnsafeRawBufferPointer) -> T) -> T {
        var bigEndian = (words.0.bigEndian, words.1.bigEndian, words.2.bigEndian, words.3.bigEndian)
        return withUnsafeBytes(of: &bigEndian) { body($0) }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = Digest(hex: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a SHA-256 hex digest: \(text)"))
        }
        self = value
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }
}

/// Builds a digest from labelled fields, length-prefixed so that no two different field lists collide.
struct KeyBuilder {
    private var hasher = SHA256()

    mutating func add(_ label: String, _ value: String) {
        for part in [label, value] {
            var count = UInt64(part.utf8.count).littleEndian
            withUnsafeBytes(of: &count) { hasher.update(bufferPointer: $0) }
            hasher.update(data: Array(part.utf8))
        }
    }

    /// Adds a digest as its 32 bytes, with its label.
    mutating func add(_ label: String, _ digest: Digest) {
        add(label, "")
        digest.withBytes { hasher.update(bufferPointer: $0) }
    }

    func finish() -> Digest { Digest(hasher.finalize()) }
}

extension Digest {
    /// The digest of a set of files: their relative paths and content digests, in path order.
    /// Two trees with the same paths and contents have the same digest, however they were produced.
    static func tree<S: Sequence>(_ files: S) -> Digest where S.Element == (path: String, digest: Digest) {
        var builder = KeyBuilder()
        for file in files.sorted(by: { $0.path < $1.path }) {
            builder.add(file.path, file.digest)
        }
        return builder.finish()
    }
}

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
        var invalid: UInt8 = 0
        func word(_ offset: Int) -> UInt64 {
            var value: UInt64 = 0
            for index in offset..<offset + 16 {
                let nibble = Digest.nibbles[Int(bytes[index])]
                invalid |= nibble
                value = value << 4 | UInt64(nibble & 0xF)
            }
            return value
        }
        let words = (word(0), word(16), word(32), word(48))
        return invalid & 0x80 == 0 ? Digest(words: words) : nil
    }

    /// Each byte's value as a lowercase hex digit, or 0x80 for a byte that is not one.
    private static let nibbles: [UInt8] = (0..<256).map { byte in
        switch byte {
        case 48...57: return UInt8(byte - 48)
        case 97...102: return UInt8(byte - 87)
        default: return 0x80
        }
    }

    private init(words: (UInt64, UInt64, UInt64, UInt64)) { self.words = words }

    init<D: Crypto.Digest>(_ digest: D) {
        words = digest.withUnsafeBytes { bytes in
            func word(_ index: Int) -> UInt64 { UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)) }
            return (word(0), word(1), word(2), word(3))
        }
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
/// The fields are gathered into one buffer and hashed once: a key of a few fields costs one SHA-256 call, not
/// ten (13 708 item keys and a tree of as many files are computed on every status).
struct KeyBuilder {
    private var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(256) }

    mutating func add(_ label: String, _ value: String) {
        append(label)
        append(value)
    }

    private mutating func append(_ part: String) {
        let count = UInt64(part.utf8.count).littleEndian
        withUnsafeBytes(of: count) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: part.utf8)
    }

    /// Adds a digest as its 32 bytes, with its label.
    mutating func add(_ label: String, _ digest: Digest) {
        add(label, "")
        digest.withBytes { bytes.append(contentsOf: $0) }
    }

    func finish() -> Digest { Digest(SHA256.hash(data: bytes)) }
}

extension Digest {
    /// The digest of a set of files: their relative paths and content digests, in path order.
    /// Two trees with the same paths and contents have the same digest, however they were produced.
    static func tree<S: Sequence>(_ files: S) -> Digest where S.Element == (path: String, digest: Digest) {
        var builder = KeyBuilder()
        var ordered = Array(files)
        // Scans come sorted already: checking costs one pass, sorting again many comparisons.
        if zip(ordered, ordered.dropFirst()).contains(where: { !($0.path < $1.path) }) { ordered.sort { $0.path < $1.path } }
        for file in ordered {
            builder.add(file.path, file.digest)
        }
        return builder.finish()
    }
}

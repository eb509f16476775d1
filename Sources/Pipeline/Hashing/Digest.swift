import Crypto
import Foundation

/// A SHA-256 digest in lowercase hex: the identity of a file's content, a stage's key, or a tree of outputs.
public struct Digest: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let hex: String

    public init?(hex: String) {
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else {
            return nil
        }
        self.hex = hex
    }

    init<D: Crypto.Digest>(_ digest: D) {
        var chars = [UInt8]()
        chars.reserveCapacity(64)
        let table = Array("0123456789abcdef".utf8)
        for byte in digest {
            chars.append(table[Int(byte >> 4)])
            chars.append(table[Int(byte & 0xF)])
        }
        hex = String(decoding: chars, as: UTF8.self)
    }

    public static func of<B: DataProtocol>(bytes: B) -> Digest { Digest(SHA256.hash(data: bytes)) }
    public static func of(string: String) -> Digest { of(bytes: Array(string.utf8)) }

    /// The first 12 hex digits, enough for people to tell digests apart in reports.
    public var short: String { String(hex.prefix(12)) }
    public var description: String { hex }
    public static func < (a: Digest, b: Digest) -> Bool { a.hex < b.hex }

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

    func finish() -> Digest { Digest(hasher.finalize()) }
}

extension Digest {
    /// The digest of a set of files: their relative paths and content digests, in path order.
    /// Two trees with the same paths and contents have the same digest, however they were produced.
    static func tree<S: Sequence>(_ files: S) -> Digest where S.Element == (path: String, digest: Digest) {
        var builder = KeyBuilder()
        for file in files.sorted(by: { $0.path < $1.path }) {
            builder.add(file.path, file.digest.hex)
        }
        return builder.finish()
    }
}

import Foundation

/// The classes a dataset is labelled with and a model predicts, in output order: class `i` is logit `i`. It is decided
/// by the data (the cleaning stage names it in its report, the shard index records it, training sizes the classifier
/// from it, exports carry it), so no code holds a class count of its own. Encoded as a JSON array of names.
public struct LabelSet: Sendable, Hashable, Codable, CustomStringConvertible, RandomAccessCollection {
    public let names: [String]

    /// A label set of `names` in this order: at least two, each a non-empty word without a comma, none twice.
    public init(_ names: [String]) throws {
        if let problem = LabelSet.problem(names) { throw LabelSetError(description: problem) }
        self.names = names
    }

    /// What makes `names` unusable as a label set, in words; nil when they can be used.
    public static func problem(_ names: [String]) -> String? {
        if names.count < 2 { return "a label set needs at least two labels, not \(names.count)" }
        if let bad = names.first(where: { $0.isEmpty || $0.contains(",") || $0 != $0.trimmingCharacters(in: .whitespacesAndNewlines) }) {
            return "label '\(bad)' is empty, holds a comma or is padded with spaces"
        }
        var seen: Set<String> = []
        if let twice = names.first(where: { !seen.insert($0).inserted }) { return "label '\(twice)' stands twice in \(names)" }
        return nil
    }

    /// The class index of `name`, or nil when the set lacks it.
    public func index(of name: String) -> Int? { names.firstIndex(of: name) }

    public var startIndex: Int { 0 }
    public var endIndex: Int { names.count }
    public subscript(position: Int) -> String { names[position] }

    /// The names joined by commas, as safetensors and ONNX metadata carry them.
    public var joined: String { names.joined(separator: ",") }
    public var description: String { joined }

    /// The class index most frequent in `counts` (by name), the first in class order on a tie: the majority baseline.
    public func majority(_ counts: [String: Int]) -> Int {
        indices.max { (counts[names[$0]] ?? 0, -$0) < (counts[names[$1]] ?? 0, -$1) } ?? 0
    }

    public init(from decoder: Decoder) throws {
        let names = try decoder.singleValueContainer().decode([String].self)
        if let problem = LabelSet.problem(names) {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: problem))
        }
        self.names = names
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(names)
    }
}

/// Why a list of names cannot be a label set.
public struct LabelSetError: Error, CustomStringConvertible {
    public var description: String
}

extension LabelSet {
    /// The class index of each name, or an error naming the first that is not in the set.
    public func indices(of labels: [String]) throws -> [Int] {
        try labels.map { label in
            guard let index = index(of: label) else { throw LabelSetError(description: "'\(label)' is not one of the classes \(self)") }
            return index
        }
    }
}

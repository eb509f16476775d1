import Foundation
import Safetensors
import Tensor

/// Why a state dictionary does not fit a model: every mismatched name, with what was expected.
public struct StateDictionaryError: Error, CustomStringConvertible {
    public var path: String
    public var missing: [String] = []
    public var unexpected: [String] = []
    public var misshapen: [(name: String, expected: [Int], found: [Int])] = []
    public var wrongType: [(name: String, expected: String, found: String)] = []
    /// Tensors holding NaN or an infinity: a model loaded from them would answer with NaN.
    public var nonFinite: [String] = []

    public var isEmpty: Bool { missing.isEmpty && unexpected.isEmpty && misshapen.isEmpty && wrongType.isEmpty && nonFinite.isEmpty }

    public var description: String {
        var lines = ["\(path) does not fit the model:"]
        if !missing.isEmpty { lines.append("  missing (\(missing.count)): " + missing.joined(separator: ", ")) }
        if !unexpected.isEmpty { lines.append("  unexpected (\(unexpected.count)): " + unexpected.joined(separator: ", ")) }
        for m in misshapen { lines.append("  \(m.name): shape \(m.found) in the file, the model has \(m.expected)") }
        for w in wrongType { lines.append("  \(w.name): dtype \(w.found) in the file, expected \(w.expected)") }
        if !nonFinite.isEmpty { lines.append("  NaN or infinite values in (\(nonFinite.count)): " + nonFinite.joined(separator: ", ")) }
        return lines.joined(separator: "\n")
    }
}

extension Module {
    /// Loads every parameter, buffer and counter from a safetensors state dictionary, as
    /// `load_state_dict(strict=True)`: nothing is changed unless every name, shape and dtype fits.
    public func loadStateDictionary(_ file: SafetensorsFile) throws {
        let expected = Set(namedState().map(\.0))
        try loadStateDictionary(file, unexpected: file.names.filter { !expected.contains($0) }) { $0 }
    }

    /// Loads this module's state from a larger state dictionary (a whole model's, or torchvision's with its `fc`), its
    /// entry `name` read from the file's `fileName(name)`; the file's other entries are left alone. Strict about this
    /// module's own: nothing is changed unless each is there with its shape and dtype.
    public func loadStateDictionary(_ file: SafetensorsFile, fileName: (String) -> String) throws {
        try loadStateDictionary(file, unexpected: [], fileName: fileName)
    }

    private func loadStateDictionary(_ file: SafetensorsFile, unexpected: [String], fileName: (String) -> String) throws {
        let state = namedState().map { (fileName($0.0), $0.1) }
        var error = StateDictionaryError(path: file.path)
        error.unexpected = unexpected
        for (name, entry) in state {
            guard let found = file.entries[name] else { error.missing.append(name); continue }
            switch entry {
            case .tensor(let t):
                if found.dtype != .f32 { error.wrongType.append((name, "F32", found.dtype.rawValue)) }
                else if found.shape != t.shape { error.misshapen.append((name, t.shape, found.shape)) }
                else if try !file.allFinite(name) { error.nonFinite.append(name) }
            case .counter:
                if found.dtype != .i64 { error.wrongType.append((name, "I64", found.dtype.rawValue)) }
                else if found.count != 1 { error.misshapen.append((name, [], found.shape)) }
            }
        }
        guard error.isEmpty else { throw error }
        for (name, entry) in state {
            switch entry {
            case .tensor(let t): try file.copyFloats(name, into: t.buffer)
            case .counter(let c): c.value = try file.int64s(name)[0]
            }
        }
    }

    /// The state dictionary as a safetensors writer, in `state_dict()` order (counters as I64 scalars).
    public func stateDictionaryWriter() -> SafetensorsWriter {
        var writer = SafetensorsWriter()
        for (name, entry) in namedState() {
            switch entry {
            case .tensor(let t): writer.add(name, shape: t.shape, floats: UnsafeBufferPointer(t.buffer))
            case .counter(let c): writer.add(name, shape: [], int64s: [c.value])
            }
        }
        return writer
    }

    public func saveStateDictionary(to path: String, metadata: [String: String] = [:]) throws {
        var writer = stateDictionaryWriter()
        writer.metadata = metadata
        try writer.write(to: path)
    }
}

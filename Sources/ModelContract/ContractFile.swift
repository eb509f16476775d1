import Foundation

/// The one way the contract's JSON files are read and written: sorted keys, pretty, slashes unescaped, written to a
/// temporary name and renamed; a file that does not decode is named with the field at fault.
enum ContractFile {
    static func read<Value: Decodable>(_ path: String) throws -> Value {
        guard let data = FileManager.default.contents(atPath: path) else { throw ContractError("\(path): cannot be read") }
        return try decode(data, from: path)
    }

    static func decode<Value: Decodable>(_ data: Data, from path: String) throws -> Value {
        do { return try JSONDecoder().decode(Value.self, from: data) }
        catch let DecodingError.keyNotFound(key, context) { throw ContractError("\(path): \(field(context.codingPath + [key])) is missing") }
        catch let DecodingError.dataCorrupted(context) { throw ContractError("\(path): \(field(context.codingPath)): \(context.debugDescription)") }
        catch let DecodingError.typeMismatch(_, context) { throw ContractError("\(path): \(field(context.codingPath)): \(context.debugDescription)") }
        catch let DecodingError.valueNotFound(_, context) { throw ContractError("\(path): \(field(context.codingPath)) is null") }
        catch { throw ContractError("\(path): not JSON (\(error))") }
    }

    static func write<Value: Encodable>(_ value: Value, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try encoder.encode(value).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// `settings.fusion`, `epochs[2].accuracy`: where in the file a value sits.
    private static func field(_ path: [CodingKey]) -> String {
        let text = path.reduce("") { text, key in key.intValue.map { text + "[\($0)]" } ?? (text.isEmpty ? key.stringValue : text + "." + key.stringValue) }
        return text.isEmpty ? "the top level" : text
    }
}

/// A contract file that does not say what it must, naming the file and the field.
public struct ContractError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

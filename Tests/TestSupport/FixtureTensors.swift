import Foundation

/// Reads the reference fixtures (safetensors: 8-byte little-endian header length, JSON header, raw data).
/// A test-side reader for F32 and I64 tensors; the project's own state-dictionary reader is a separate concern.
public struct FixtureTensors {
    public struct Tensor {
        public var dtype: String
        public var shape: [Int]
        public var data: Data
    }

    public let tensors: [String: Tensor]

    public init(path: String) throws {
        let file = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = Int(file.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).littleEndian })
        let header = try JSONSerialization.jsonObject(with: file.subdata(in: 8..<8 + headerLength)) as! [String: Any]
        var tensors: [String: Tensor] = [:]
        for (name, value) in header where name != "__metadata__" {
            let entry = value as! [String: Any]
            let offsets = entry["data_offsets"] as! [Int]
            tensors[name] = Tensor(dtype: entry["dtype"] as! String, shape: entry["shape"] as! [Int],
                                   data: file.subdata(in: 8 + headerLength + offsets[0]..<8 + headerLength + offsets[1]))
        }
        self.tensors = tensors
    }

    public func floats(_ name: String) -> [Float] {
        guard let tensor = tensors[name], tensor.dtype == "F32" else { fatalError("no F32 tensor \(name) in fixture") }
        return tensor.data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    public func shape(_ name: String) -> [Int] { tensors[name]?.shape ?? [] }
}

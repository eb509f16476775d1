import Foundation
import Pipeline

/// NumPy's `.npy` format (version 1.0), for arrays people open with `numpy.load`.
enum NumpyArray {
    static func float32(_ values: [Float], shape: [Int]) -> Data {
        values.withUnsafeBytes { encode($0, descriptor: "<f4", count: values.count, shape: shape) }
    }

    static func uint8(_ values: [UInt8], shape: [Int]) -> Data {
        values.withUnsafeBytes { encode($0, descriptor: "|u1", count: values.count, shape: shape) }
    }

    private static func encode(_ bytes: UnsafeRawBufferPointer, descriptor: String, count: Int, shape: [Int]) -> Data {
        precondition(shape.reduce(1, *) == count, "shape \(shape) does not hold \(count) values")
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descriptor)', 'fortran_order': False, 'shape': \(dims), }"
        let total = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        var data = Data([0x93]) + Data("NUMPY".utf8) + Data([1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        data.append(Data(header.utf8))
        data.append(contentsOf: bytes)
        return data
    }

    /// An array read back: its type descriptor (`<f4`, `|u1`), shape and the bytes after the header.
    struct Read {
        var descriptor: String
        var shape: [Int]
        var data: Data
    }

    /// Reads a version 1 or 2 `.npy` in C order, as this project and NumPy write them; the error names the file.
    static func read(_ path: String) throws -> Read {
        guard let bytes = FileManager.default.contents(atPath: path) else { throw PipelineError(.io, "cannot read \(path)") }
        guard bytes.count >= 10, bytes.prefix(6) == Data([0x93]) + Data("NUMPY".utf8), [1, 2].contains(bytes[bytes.startIndex + 6]) else {
            throw PipelineError(.corrupt, "\(path) is not a .npy file")
        }
        let start = bytes.startIndex
        let wide = bytes[start + 6] == 2
        let length = wide ? Int(bytes[start + 8]) | Int(bytes[start + 9]) << 8 | Int(bytes[start + 10]) << 16 | Int(bytes[start + 11]) << 24
                          : Int(bytes[start + 8]) | Int(bytes[start + 9]) << 8
        let headerStart = start + (wide ? 12 : 10)
        guard bytes.count >= headerStart - start + length else { throw PipelineError(.corrupt, "\(path): header runs past the end") }
        let header = String(decoding: bytes[headerStart..<headerStart + length], as: UTF8.self)
        func field(_ name: String, _ pattern: String) -> String? {
            guard let range = header.range(of: "'\(name)': " + pattern, options: .regularExpression) else { return nil }
            return String(header[range].dropFirst(name.count + 4))
        }
        guard let descriptor = field("descr", "'[^']*'").map({ String($0.dropFirst().dropLast()) }),
              field("fortran_order", "False") != nil,
              let shapeText = field("shape", "\\([0-9, ]*\\)") else {
            throw PipelineError(.corrupt, "\(path): unsupported .npy header \(header)")
        }
        let shape = shapeText.dropFirst().dropLast().split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        return Read(descriptor: descriptor, shape: shape, data: bytes.subdata(in: headerStart + length..<bytes.endIndex))
    }
}

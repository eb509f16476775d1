import Foundation

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
}

import NN
import Safetensors
import Tensor
import TestSupport
import XCTest

/// `hashinit` against `../shared/reference/hashinit.safetensors`: keys, bits and u of the test vectors, and
/// the first and last values (bit for bit) and sum of every tensor of the five models' state dictionaries.
final class HashInitTests: XCTestCase {
    func testVectorsAndStateTensors() throws {
        let file = try SafetensorsFile(path: try Shared.path("reference/hashinit.safetensors"))
        let names = try JSONDecoder().decode([String].self, from: Data(file.metadata["names"]!.utf8))
        for (i, name) in names.enumerated() {
            let key = HashInit.key(name)
            XCTAssertEqual(try file.int64s("vector\(i).fnv1a64"), [Int64(bitPattern: key)], name)
            XCTAssertEqual(try file.int64s("vector\(i).bits"), (0..<8).map { Int64(HashInit.bits(key: key, index: $0)) }, name)
            XCTAssertEqual(try file.floats("vector\(i).u"), HashInit.uniform(name, count: 8).map(Float.init), name)
        }
        let tensors = file.names.filter { $0.hasPrefix("shape.") }.map { String($0.dropFirst("shape.".count)) }
        XCTAssertGreaterThan(tensors.count, 150)
        for entry in tensors {
            let name = entry.split(separator: "@").first.map(String.init)!
            let shape = try file.int64s("shape.\(entry)").map { Int($0) }
            let values = HashInit.values(name: name, shape: shape)
            XCTAssertEqual(Array(values.prefix(8)), try file.floats("head.\(entry)"), "head of \(entry)")
            XCTAssertEqual(Array(values.suffix(8)), try file.floats("tail.\(entry)"), "tail of \(entry)")
            let sum = values.reduce(0.0) { $0 + Double($1) }, reference = Double(try file.floats("sum.\(entry)")[0])
            XCTAssertEqual(sum, reference, accuracy: 1e-6 * max(1, abs(reference)) + 1e-6, "sum of \(entry)")
        }
    }

    /// Gradient clipping scales to the requested global norm and leaves small gradients alone.
    func testGradientClipping() {
        let layer = Linear(3, 2)
        let flat = FlatParameters(layer)
        for i in 0..<flat.count { flat.gradients.pointer[i] = Float(i + 1) }
        let norm = flat.gradientNorm()
        XCTAssertEqual(norm, (1...8).reduce(0.0) { $0 + Double($1 * $1) }.squareRoot(), accuracy: 1e-9)
        XCTAssertEqual(flat.clipGradientNorm(1), norm, accuracy: 1e-9)
        XCTAssertEqual(flat.gradientNorm(), 1, accuracy: 1e-5)
        flat.clipGradientNorm(10)
        XCTAssertEqual(flat.gradientNorm(), 1, accuracy: 1e-5)
        XCTAssertEqual(layer.weight.grad!.pointer, flat.gradients.pointer, "parameters' gradients live in the flat buffer")
    }
}

import Foundation
import NN
import Safetensors
import TestSupport
import XCTest

/// State dictionaries: a round trip restores every tensor, and a file that does not fit names every mismatch
/// and loads nothing.
final class StateDictionaryTests: XCTestCase {
    func testStateDictionaryMismatches() throws {
        let layer = BatchNorm2d(4)
        // Values no fresh BatchNorm2d has (its defaults are ones and zeros), so a load that did nothing fails.
        for (index, (_, tensor)) in layer.namedParameters().enumerated() {
            _ = tensor.buffer.update(fromContentsOf: (0..<tensor.count).map { Float(index * 10 + $0) + 0.5 })
        }
        _ = layer.runningMean.buffer.update(fromContentsOf: [0.25, -1, 2, 3])
        _ = layer.runningVar.buffer.update(fromContentsOf: [4, 0.5, 6, 7])
        let folder = try TemporaryFolder()
        let path = folder.path + "/bn.safetensors"
        try layer.saveStateDictionary(to: path)

        // A round trip restores every value and the counter.
        let copy = BatchNorm2d(4)
        layer.batchesTracked.value = 3
        try layer.saveStateDictionary(to: path)
        try copy.loadStateDictionary(SafetensorsFile(path: path))
        XCTAssertEqual(copy.runningMean.scalars, [0.25, -1, 2, 3])
        XCTAssertEqual(copy.runningVar.scalars, [4, 0.5, 6, 7])
        XCTAssertEqual(copy.weight.scalars, [0.5, 1.5, 2.5, 3.5])
        XCTAssertEqual(copy.bias.scalars, [10.5, 11.5, 12.5, 13.5])
        XCTAssertEqual(copy.batchesTracked.value, 3)

        var writer = SafetensorsWriter()
        writer.add("weight", shape: [4], floats: [1, 1, 1, 1])
        writer.add("bias", shape: [5], floats: [0, 0, 0, 0, 0])
        writer.add("running_mean", shape: [4], int64s: [0, 0, 0, 0])
        writer.add("extra", shape: [1], floats: [0])
        try writer.write(to: path)
        let fresh = BatchNorm2d(4)
        XCTAssertThrowsError(try fresh.loadStateDictionary(SafetensorsFile(path: path))) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("missing (2): running_var, num_batches_tracked"), message)
            XCTAssertTrue(message.contains("unexpected (1): extra"), message)
            XCTAssertTrue(message.contains("bias: shape [5] in the file, the model has [4]"), message)
            XCTAssertTrue(message.contains("running_mean: dtype I64 in the file, expected F32"), message)
        }
        XCTAssertEqual(fresh.weight.scalars, [1, 1, 1, 1], "nothing loaded from a file that does not fit")
    }

    /// A NaN or an infinity in a weight would make every answer NaN: refused at load, naming the tensor, nothing loaded.
    func testNonFiniteWeightsAreRefusedByName() throws {
        let folder = try TemporaryFolder()
        let layer = BatchNorm2d(2)
        var writer = SafetensorsWriter()
        writer.add("weight", shape: [2], floats: [1, .nan])
        writer.add("bias", shape: [2], floats: [0, 0])
        writer.add("running_mean", shape: [2], floats: [0, -.infinity])
        writer.add("running_var", shape: [2], floats: [1, 1])
        writer.add("num_batches_tracked", shape: [], int64s: [0])
        try writer.write(to: folder.file("nan.safetensors"))
        XCTAssertThrowsError(try layer.loadStateDictionary(SafetensorsFile(path: folder.file("nan.safetensors")))) { error in
            XCTAssertTrue("\(error)".contains("NaN or infinite values in (2): weight, running_mean"), "\(error)")
        }
        XCTAssertEqual(layer.weight.scalars, [1, 1], "nothing loaded")
    }
}

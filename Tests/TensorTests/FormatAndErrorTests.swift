import Foundation
import NN
import Safetensors
import Tensor
import TestSupport
import XCTest

/// The safetensors reader and writer, state-dictionary loading and shape rules: bad input is a clear error.
final class FormatAndErrorTests: XCTestCase {
    func testRoundTripAndLayout() throws {
        var writer = SafetensorsWriter()
        writer.add("b.weight", shape: [2, 3], floats: [1, -2, 3.5, 0, .infinity, -0.0])
        writer.add("a.count", shape: [], int64s: [-7])
        writer.metadata = ["what": "test"]
        let bytes = try writer.encoded()
        let headerLength = bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        XCTAssertEqual(headerLength % 8, 0, "header padded to 8 bytes")
        XCTAssertEqual(bytes.count, 8 + Int(headerLength) + 24 + 8)
        let file = try SafetensorsFile(bytes: bytes)
        XCTAssertEqual(try file.floats("b.weight"), [1, -2, 3.5, 0, .infinity, -0.0])
        XCTAssertEqual(try file.int64s("a.count"), [-7])
        XCTAssertEqual(file.entries["a.count"]?.shape, [])
        XCTAssertEqual(file.metadata, ["what": "test"])
    }

    /// A file written by Python's safetensors reads back value for value: its `weight` is hashinit's, which
    /// the fixture generator computed independently (bit for bit, per the reference README).
    func testReadsPythonWrittenFile() throws {
        let file = try SafetensorsFile(path: try Shared.path("reference/ops/linear.safetensors"))
        XCTAssertEqual(file.entries["weight"]?.shape, [8, 16])
        XCTAssertEqual(try file.floats("weight"), HashInit.values(name: "weight", shape: [8, 16]))
    }

    func testBadFiles() throws {
        func error(_ bytes: Data) -> SafetensorsError? {
            do { _ = try SafetensorsFile(bytes: bytes, path: "bad.safetensors"); return nil } catch { return error as? SafetensorsError }
        }
        var writer = SafetensorsWriter()
        writer.add("w", shape: [2], floats: [1, 2])
        let good = try writer.encoded()

        XCTAssertEqual(error(Data([1, 2, 3])), .tooShort(path: "bad.safetensors", size: 3))
        var pastEnd = good
        pastEnd.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { Data($0) })
        XCTAssertEqual(error(pastEnd), .headerPastEnd(path: "bad.safetensors", headerLength: 1 << 40, fileSize: good.count))
        XCTAssertTrue(error(pastEnd)!.description.contains("past the end"))

        func withHeader(_ json: String, data: Int) -> Data {
            var header = Data(json.utf8)
            while header.count % 8 != 0 { header.append(0x20) }
            var file = withUnsafeBytes(of: UInt64(header.count).littleEndian) { Data($0) }
            file.append(header)
            file.append(Data(count: data))
            return file
        }
        XCTAssertEqual(error(withHeader(#"{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, data: 4)),
                       .unsupportedDType(path: "bad.safetensors", tensor: "w", dtype: "F16"))
        if case .badOffsets(_, let tensor, _)? = error(withHeader(#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: 8)) {
            XCTAssertEqual(tensor, "w")
        } else { XCTFail("shape and byte count disagree") }
        if case .badOffsets(_, let tensor, _)? = error(withHeader(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: 4)) {
            XCTAssertEqual(tensor, "w")
        } else { XCTFail("offsets past the data") }
        if case .badHeader? = error(withHeader("[1,2]", data: 0)) {} else { XCTFail("header not an object") }
        if case .badHeader? = error(withHeader("{nope", data: 0)) {} else { XCTFail("header not JSON") }

        let file = try SafetensorsFile(bytes: good, path: "good.safetensors")
        XCTAssertThrowsError(try file.int64s("w")) { XCTAssertEqual($0 as? SafetensorsError, .wrongDType(path: "good.safetensors", tensor: "w", expected: "I64", found: "F32")) }
        XCTAssertThrowsError(try file.floats("v")) { XCTAssertEqual($0 as? SafetensorsError, .missing(path: "good.safetensors", tensor: "v")) }
    }

    func testStateDictionaryMismatches() throws {
        let layer = BatchNorm2d(4)
        layer.hashInitialize()
        let folder = try TemporaryFolder()
        let path = folder.path + "/bn.safetensors"
        try layer.saveStateDictionary(to: path)

        // A round trip restores every value and the counter.
        let copy = BatchNorm2d(4)
        layer.batchesTracked.value = 3
        try layer.saveStateDictionary(to: path)
        try copy.loadStateDictionary(SafetensorsFile(path: path))
        XCTAssertEqual(copy.runningVar.scalars, layer.runningVar.scalars)
        XCTAssertEqual(copy.weight.scalars, layer.weight.scalars)
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

    func testShapes() {
        XCTAssertEqual(broadcastShape([2, 3, 4], [4]), [2, 3, 4])
        XCTAssertEqual(broadcastShape([2, 1, 4], [3, 1]), [2, 3, 4])
        XCTAssertNil(broadcastShape([2, 3], [4]))
        let x = Tensor((0..<24).map(Float.init), shape: [2, 3, 4])
        XCTAssertEqual(x.permuted([2, 0, 1]).shape, [4, 2, 3])
        XCTAssertEqual(x.permuted([2, 0, 1]).scalars[0..<4], [0, 4, 8, 12])
        XCTAssertEqual(x.reshaped([-1, 4]).shape, [6, 4])
        XCTAssertEqual(x.slice(axis: 2, 1..<3).scalars.prefix(4), [1, 2, 5, 6])
        XCTAssertEqual(x.mean(axis: 1).scalars.prefix(2), [4, 5])
    }
}

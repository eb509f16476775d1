import Foundation
import NN
import Safetensors
import TestSupport
import XCTest

/// The safetensors reader and writer: layout, a file Python wrote, and every bad file a clear error naming it.
final class SafetensorsFileTests: XCTestCase {
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
        // A shape whose byte count overflows, and two tensors sharing bytes, are refused naming the tensor.
        let huge = error(withHeader(#"{"w":{"dtype":"F32","shape":[4611686018427387904,4611686018427387904,4],"data_offsets":[0,8]}}"#, data: 8))
        XCTAssertTrue(huge?.description.contains("tensor 'w'") == true && huge?.description.contains("holds more bytes than a file can") == true, "\(String(describing: huge))")
        let overlap = error(withHeader(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: 8))
        XCTAssertTrue(overlap?.description.contains("overlap those of 'a'") == true, "\(String(describing: overlap))")
        if case .badHeader? = error(withHeader("[1,2]", data: 0)) {} else { XCTFail("header not an object") }
        if case .badHeader? = error(withHeader("{nope", data: 0)) {} else { XCTFail("header not JSON") }

        let file = try SafetensorsFile(bytes: good, path: "good.safetensors")
        XCTAssertThrowsError(try file.int64s("w")) { XCTAssertEqual($0 as? SafetensorsError, .wrongDType(path: "good.safetensors", tensor: "w", expected: "I64", found: "F32")) }
        XCTAssertThrowsError(try file.floats("v")) { XCTAssertEqual($0 as? SafetensorsError, .missing(path: "good.safetensors", tensor: "v")) }
    }
}

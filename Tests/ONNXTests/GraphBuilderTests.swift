import Foundation
import ONNX
import TestSupport
import XCTest

/// A graph the builder writes is a valid ONNX model that onnxruntime runs to the values worked out here by hand; what it
/// records (opset, symbolic batch, initializers, metadata) reads back through the schema.
final class GraphBuilderTests: XCTestCase {
    /// y = Relu(x W + b) for x (batch, 3), W (3, 2), b (2).
    private func model() throws -> Data {
        let g = GraphBuilder(name: "tiny")
        g.input("x", shape: ["batch", 3])
        let w = g.constant("W", [1, -1, 2, 0.5, -3, 1], shape: [3, 2])
        let b = g.constant("b", [0.25, -0.5], shape: [2])
        let y = g.node("Relu", [g.node("Add", [g.node("MatMul", ["x", w]), b])])
        g.output(y, as: "y", shape: ["batch", 2])
        return try g.serialized(opset: 17, producer: "tests", version: "1", metadata: ["classes": "a,b"])
    }

    func testTheModelReadsBackThroughTheSchema() throws {
        let model = try Onnx_ModelProto(serializedBytes: try model())
        XCTAssertEqual(model.opsetImport.map(\.version), [17])
        XCTAssertEqual(model.graph.input.map(\.name), ["x"])
        XCTAssertEqual(model.graph.output.map(\.name), ["y"])
        XCTAssertEqual(model.graph.output[0].type.tensorType.shape.dim.map(\.dimParam), ["batch", ""])
        XCTAssertEqual(model.graph.initializer.map(\.name), ["W", "b"])
        let weights = model.graph.initializer[0].rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        XCTAssertEqual(weights, [1, -1, 2, 0.5, -3, 1])
        XCTAssertEqual(model.graph.node.map(\.opType), ["MatMul", "Add", "Relu", "Identity"])
        XCTAssertEqual(model.metadataProps.map { "\($0.key)=\($0.value)" }, ["classes=a,b"])
    }

    /// Oracle: onnxruntime, with onnx.checker first; by hand, x = [[1, 2, 3], [-1, 0, 1]] gives
    /// x W + b = [[1 + 4 - 9 + 0.25, -1 + 1 + 3 - 0.5], [-1 - 3 + 0.25, 1 + 1 - 0.5]] = [[-3.75, 2.5], [-3.75, 1.5]].
    func testOnnxruntimeComputesTheGraph() throws {
        let folder = try TemporaryFolder()
        try model().write(to: URL(fileURLWithPath: folder.file("tiny.onnx")))
        let script = """
            import sys
            try:
                import numpy, onnx, onnxruntime
            except ImportError as error:
                print("missing", error.name); sys.exit(0)
            onnx.checker.check_model(onnx.load(sys.argv[1]))
            session = onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
            y = session.run(None, {"x": numpy.array([[1, 2, 3], [-1, 0, 1]], dtype=numpy.float32)})[0]
            print(" ".join(str(float(v)) for v in y.flatten()))
            """
        let run = try shell("/usr/bin/env", ["python3", "-c", script, folder.file("tiny.onnx")])
        XCTAssertEqual(run.status, 0, run.err)
        let out = String(decoding: run.out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if out.hasPrefix("missing") { throw XCTSkip("\(out.dropFirst(8)) is not importable: the graph is not run in onnxruntime here") }
        XCTAssertEqual(out.split(separator: " ").compactMap { Double($0) }, [0, 2.5, 0, 1.5])
    }
}

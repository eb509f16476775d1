import Foundation

/// Builds an ONNX graph node by node: names every intermediate value, stores weights as raw little-endian
/// initializers, and writes the model with its opset. Knows ONNX, not any network.
public final class GraphBuilder {
    public enum Attribute {
        case int(Int)
        case ints([Int])
        case float(Float)
        case string(String)
    }

    private var graph = Onnx_GraphProto()
    private var counter = 0

    public init(name: String) { graph.name = name }

    /// A graph input of float32 values; a dimension given as a string is symbolic (the batch).
    public func input(_ name: String, shape: [Any]) {
        graph.input.append(Self.valueInfo(name, shape: shape))
    }

    /// Marks `value` as a graph output named `name`.
    public func output(_ value: String, as name: String, shape: [Any]) {
        let named = name == value ? value : node("Identity", [value], outputName: name)
        graph.output.append(Self.valueInfo(named, shape: shape))
    }

    /// A float32 initializer.
    @discardableResult
    public func constant(_ name: String, _ values: [Float], shape: [Int]) -> String {
        precondition(values.count == shape.reduce(1, *), "\(name): \(values.count) values for shape \(shape)")
        return initializer(name, .float, shape: shape, bytes: values.withUnsafeBytes { Data($0) })
    }

    /// An int8 initializer (quantized weights).
    @discardableResult
    public func constant(_ name: String, int8 values: [Int8], shape: [Int]) -> String {
        initializer(name, .int8, shape: shape, bytes: values.withUnsafeBytes { Data($0) })
    }

    /// A uint8 initializer (activation zero points).
    @discardableResult
    public func constant(_ name: String, uint8 values: [UInt8], shape: [Int]) -> String {
        initializer(name, .uint8, shape: shape, bytes: Data(values))
    }

    /// An int32 initializer (biases of integer convolutions).
    @discardableResult
    public func constant(_ name: String, int32 values: [Int32], shape: [Int]) -> String {
        initializer(name, .int32, shape: shape, bytes: values.map(\.littleEndian).withUnsafeBytes { Data($0) })
    }

    /// An int64 initializer (shapes, axes, split sizes).
    @discardableResult
    public func constant(_ name: String, int64 values: [Int]) -> String {
        initializer(name, .int64, shape: [values.count], bytes: values.map(Int64.init).withUnsafeBytes { Data($0) })
    }

    private func initializer(_ name: String, _ type: Onnx_TensorProto.DataType, shape: [Int], bytes: Data) -> String {
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dims = shape.map(Int64.init)
        tensor.dataType = Int32(type.rawValue)
        tensor.rawData = bytes
        graph.initializer.append(tensor)
        return name
    }

    /// Adds a node and returns the name of its (first) output.
    @discardableResult
    public func node(_ op: String, _ inputs: [String], attributes: [String: Attribute] = [:], outputName: String? = nil, outputs: Int = 1) -> String {
        nodeOutputs(op, inputs, attributes: attributes, outputName: outputName, outputs: outputs)[0]
    }

    /// Adds a node with several outputs and returns their names.
    public func nodeOutputs(_ op: String, _ inputs: [String], attributes: [String: Attribute] = [:], outputName: String? = nil, outputs: Int) -> [String] {
        counter += 1
        var node = Onnx_NodeProto()
        node.opType = op
        node.name = "\(op)_\(counter)"
        node.input = inputs
        let base = outputName ?? "\(op.lowercased())_\(counter)"
        node.output = (0..<outputs).map { $0 == 0 ? base : "\(base)_\($0)" }
        for key in attributes.keys.sorted() {
            var attribute = Onnx_AttributeProto()
            attribute.name = key
            switch attributes[key]! {
            case .int(let value):
                attribute.type = .int
                attribute.i = Int64(value)
            case .ints(let values):
                attribute.type = .ints
                attribute.ints = values.map(Int64.init)
            case .float(let value):
                attribute.type = .float
                attribute.f = value
            case .string(let value):
                attribute.type = .string
                attribute.s = Data(value.utf8)
            }
            node.attribute.append(attribute)
        }
        graph.node.append(node)
        return node.output
    }

    /// The serialized model: IR version 8 with the default domain at `opset`.
    public func serialized(opset: Int, producer: String, version: String, metadata: [String: String] = [:]) throws -> Data {
        var model = Onnx_ModelProto()
        model.irVersion = 8
        model.producerName = producer
        model.producerVersion = version
        var operatorSet = Onnx_OperatorSetIdProto()
        operatorSet.domain = ""
        operatorSet.version = Int64(opset)
        model.opsetImport = [operatorSet]
        model.graph = graph
        model.metadataProps = metadata.keys.sorted().map { key in
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = metadata[key]!
            return entry
        }
        return try model.serializedData()
    }

    private static func valueInfo(_ name: String, shape: [Any]) -> Onnx_ValueInfoProto {
        var info = Onnx_ValueInfoProto()
        info.name = name
        var tensorType = Onnx_TypeProto.Tensor()
        tensorType.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        var tensorShape = Onnx_TensorShapeProto()
        tensorShape.dim = shape.map { size in
            var dimension = Onnx_TensorShapeProto.Dimension()
            if let value = size as? Int { dimension.dimValue = Int64(value) } else { dimension.dimParam = "\(size)" }
            return dimension
        }
        tensorType.shape = tensorShape
        var type = Onnx_TypeProto()
        type.tensorType = tensorType
        info.type = type
        return info
    }
}

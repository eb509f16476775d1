import NN
import Safetensors
import Tensor
import XCTest

/// One case of `../shared/reference/ops/` (PyTorch 2.13): its tensors, and the checks every op and layer
/// test makes against them (forward at 1e-4, gradients at 1e-3 relative L2).
public struct OpsFixtureCase {
    public let file: SafetensorsFile
    public let name: String

    public init(_ name: String) throws {
        self.name = name
        file = try SafetensorsFile(path: try Shared.path("reference/ops/\(name).safetensors"))
    }

    public func tensor(_ key: String, grad: Bool = false) throws -> Tensor {
        let t = Tensor(try file.floats(key), shape: try file.entry(key).shape)
        t.requiresGrad = grad
        return t
    }

    public func checkForward(_ key: String, _ value: Tensor, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(value.shape, try self.file.entry(key).shape, "\(name) \(key) shape", file: file, line: line)
        let error = Tolerance.forward(value.scalars, try self.file.floats(key))
        XCTAssertLessThanOrEqual(error, 1e-4, "\(name) \(key): forward error \(error)", file: file, line: line)
    }

    public func checkGrad(_ key: String, _ value: Tensor?, file: StaticString = #filePath, line: UInt = #line) throws {
        guard let value else { return XCTFail("\(name) \(key): no gradient", file: file, line: line) }
        let error = Tolerance.relativeL2(value.scalars, try self.file.floats(key))
        XCTAssertLessThanOrEqual(error, 1e-3, "\(name) \(key): relative L2 error \(error)", file: file, line: line)
    }

    /// Sets a module's parameters from the case (they carry their PyTorch names without prefix).
    public func load(_ module: Module) throws {
        for (key, parameter) in module.namedParameters() {
            try file.copyFloats(key, into: parameter.buffer)
            parameter.grad = nil
        }
    }

    /// The whole check of a one-input op: output, then the input's and every parameter's gradient.
    public func checkOneInput(module: Module? = nil, _ op: (Tensor) -> Tensor) throws {
        if let module { try load(module) }
        let input = try tensor("input", grad: true)
        let output = op(input)
        try checkForward("output", output)
        try backward(output, module: module)
        try checkGrad("grad_input", input.grad)
    }

    /// Runs backward from `sum(output * grad_out)` and checks every parameter's gradient.
    public func backward(_ output: Tensor, module: Module?) throws {
        output.backward(try tensor("grad_out"))
        for (key, parameter) in module?.namedParameters() ?? [] { try checkGrad("grad_\(key)", parameter.grad) }
    }
}

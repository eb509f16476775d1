import Foundation
import OneDNN
import Safetensors

/// MTCNN's three networks (P-Net, R-Net, O-Net) as facenet-pytorch defines them, on oneDNN over NHWC buffers: each
/// convolution with its bias, PReLU after every layer but the heads, max pooling with PyTorch's `ceil_mode`. A dense
/// layer over a feature map is a convolution whose kernel covers the map, its weights reordered from facenet-pytorch's
/// flattening (width, height, channel); the heads of a network are one convolution whose outputs are the heads'
/// outputs side by side.
final class MTCNNNetwork {
    enum Layer {
        case convolution(String, kernel: Int)
        case prelu(String)
        case pool(kernel: Int, stride: Int)
        /// A linear layer over the whole map, flattened in (width, height, channel) order.
        case dense(String)
        /// Linear (1x1) heads side by side, no PReLU after.
        case heads([String])
    }

    static let pnet: [Layer] = [.convolution("conv1", kernel: 3), .prelu("prelu1"), .pool(kernel: 2, stride: 2),
                                .convolution("conv2", kernel: 3), .prelu("prelu2"), .convolution("conv3", kernel: 3), .prelu("prelu3"),
                                .heads(["conv4_1", "conv4_2"])]
    static let rnet: [Layer] = [.convolution("conv1", kernel: 3), .prelu("prelu1"), .pool(kernel: 3, stride: 2),
                                .convolution("conv2", kernel: 3), .prelu("prelu2"), .pool(kernel: 3, stride: 2),
                                .convolution("conv3", kernel: 2), .prelu("prelu3"), .dense("dense4"), .prelu("prelu4"),
                                .heads(["dense5_1", "dense5_2"])]
    static let onet: [Layer] = [.convolution("conv1", kernel: 3), .prelu("prelu1"), .pool(kernel: 3, stride: 2),
                                .convolution("conv2", kernel: 3), .prelu("prelu2"), .pool(kernel: 3, stride: 2),
                                .convolution("conv3", kernel: 3), .prelu("prelu3"), .pool(kernel: 2, stride: 2),
                                .convolution("conv4", kernel: 2), .prelu("prelu4"), .dense("dense5"), .prelu("prelu5"),
                                .heads(["dense6_1", "dense6_2", "dense6_3"])]

    private enum Step {
        case convolution(FusedConvolution)
        /// The slopes, one per channel, repeated over a whole number of positions.
        case prelu([Float])
        case pool(MaxPoolNHWC)
    }

    private let steps: [Step]
    /// NCHW dims of the input and of the heads' output (batch, outputs, height, width); the buffers are NHWC.
    let inputDims: [Int], outputDims: [Int]
    private let largest: Int

    /// Plans `layers` for a batch of `height` x `width` RGB inputs, with the weights named `prefix.layer.weight|bias`.
    init(_ layers: [Layer], prefix: String, weights: SafetensorsFile, batch: Int, height: Int, width: Int) throws {
        func floats(_ name: String) throws -> [Float] { try weights.floats("\(prefix).\(name)") }
        var dims = [batch, 3, height, width], steps: [Step] = [], largest = dims.reduce(1, *)
        func convolve(weight: [Float], bias: [Float], outputs: Int, kernel: Int) {
            let geometry = ConvolutionGeometry(batch: batch, inChannels: dims[1], outChannels: outputs, height: dims[2], width: dims[3],
                                               kernelHeight: kernel, kernelWidth: kernel, stride: 1, padding: 0, hasBias: true)
            steps.append(.convolution(FusedConvolution(geometry, weight: weight, bias: bias, accumulate: false, relu: false)))
            dims = geometry.outputDims
        }
        for layer in layers {
            switch layer {
            case .convolution(let name, let kernel):
                let bias = try floats("\(name).bias")
                convolve(weight: try floats("\(name).weight"), bias: bias, outputs: bias.count, kernel: kernel)
            case .prelu(let name):
                let slopes = try floats("\(name).weight")
                guard slopes.count == dims[1] else { throw FaceError.mtcnn("\(prefix).\(name) has \(slopes.count) slopes for \(dims[1]) channels") }
                // Tiled over many positions, so that PReLU runs as one flat loop the compiler vectorises.
                steps.append(.prelu(Array(repeating: slopes, count: max(1, 4096 / slopes.count)).flatMap { $0 }))
            case .pool(let kernel, let stride):
                let pool = MaxPoolNHWC(inputDims: dims, kernel: kernel, stride: stride, padding: 0, ceilMode: true)
                steps.append(.pool(pool))
                dims = pool.outputDims
            case .dense(let name):
                let dense = try floats("\(name).weight"), bias = try floats("\(name).bias")
                let (channels, rows, columns) = (dims[1], dims[2], dims[3]), inputs = channels * rows * columns
                guard dense.count == bias.count * inputs else { throw FaceError.mtcnn("\(prefix).\(name) does not take a \(channels)x\(rows)x\(columns) map") }
                var kernel = [Float](repeating: 0, count: dense.count)
                for output in 0..<bias.count {
                    for c in 0..<channels {
                        for y in 0..<rows {
                            for x in 0..<columns {
                                kernel[((output * channels + c) * rows + y) * columns + x] = dense[output * inputs + (x * rows + y) * channels + c]
                            }
                        }
                    }
                }
                precondition(rows == columns, "MTCNN's maps are square")
                convolve(weight: kernel, bias: bias, outputs: bias.count, kernel: rows)
            case .heads(let names):
                let parts = try names.map { (weight: try floats("\($0).weight"), bias: try floats("\($0).bias")) }
                convolve(weight: parts.flatMap(\.weight), bias: parts.flatMap(\.bias), outputs: parts.reduce(0) { $0 + $1.bias.count }, kernel: 1)
            }
            largest = max(largest, dims.reduce(1, *))
        }
        self.steps = steps
        self.largest = largest
        inputDims = [batch, 3, height, width]
        outputDims = dims
    }

    /// Two buffers each step reads from and writes to, kept between calls (a network belongs to one thread).
    private var scratch: ([Float], [Float]) = ([], [])

    /// The heads' outputs (NHWC) for `input`, NHWC floats already normalised as MTCNN wants ((x - 127.5) / 128).
    func callAsFunction(_ input: [Float]) -> [Float] {
        precondition(input.count == inputDims.reduce(1, *), "MTCNN: an input of \(input.count) values for \(inputDims)")
        if scratch.0.isEmpty { scratch = ([Float](repeating: 0, count: largest), [Float](repeating: 0, count: largest)) }
        // Taken out while in use, so that writing to them copies nothing.
        var (current, next) = scratch
        scratch = ([], [])
        defer { scratch = (current, next) }
        current.replaceSubrange(0..<input.count, with: input)
        var count = input.count
        for step in steps {
            switch step {
            case .convolution(let convolution):
                current.withUnsafeMutableBufferPointer { source in next.withUnsafeMutableBufferPointer { convolution(source.baseAddress!, into: $0.baseAddress!) } }
                swap(&current, &next)
                count = convolution.geometry.outputDims.reduce(1, *)
            case .prelu(let tiled):
                current.withUnsafeMutableBufferPointer { values in
                    tiled.withUnsafeBufferPointer { slopes in
                        for start in stride(from: 0, to: count, by: slopes.count) {
                            let chunk = UnsafeMutableBufferPointer(rebasing: values[start..<min(count, start + slopes.count)])
                            for i in chunk.indices {
                                let value = chunk[i]
                                chunk[i] = value < 0 ? value * slopes[i] : value
                            }
                        }
                    }
                }
            case .pool(let pool):
                current.withUnsafeMutableBufferPointer { source in next.withUnsafeMutableBufferPointer { pool(source.baseAddress!, into: $0.baseAddress!) } }
                swap(&current, &next)
                count = pool.outputDims.reduce(1, *)
            }
        }
        return Array(current.prefix(count))
    }
}

import COneDNN
import Foundation

/// oneDNN's batch normalization (with the ReLU after it fused where asked) for training on activations in a blocked
/// layout, forward and backward, so that a convolution's output is normalised where it lies. In batch mode the forward
/// computes the batch's mean and biased variance; with `globalStatistics` it normalises with the ones it is given
/// (a BatchNorm layer in evaluation mode inside a network that trains).
public final class BatchNormalization {
    public let layout: ActivationLayout
    private let flags: UInt32
    private let eps: Float
    private let forwardPrimitive: Primitive
    private lazy var backwardPrimitive: Primitive = makeBackward()
    /// Bytes of the ReLU's mask the forward leaves for the backward (0 without the ReLU).
    public let workspaceBytes: Int
    private let workspaceMD: dnnl_memory_desc_t

    private struct Key: Hashable {
        let layout: ObjectIdentifier
        let relu: Bool, globalStatistics: Bool
        let eps: Float
    }
    private static let lock = NSLock()
    nonisolated(unsafe) private static var plans: [Key: BatchNormalization] = [:]

    public static func plan(_ layout: ActivationLayout, relu: Bool, globalStatistics: Bool, eps: Float) -> BatchNormalization {
        lock.lock(); defer { lock.unlock() }
        let key = Key(layout: ObjectIdentifier(layout), relu: relu, globalStatistics: globalStatistics, eps: eps)
        if let plan = plans[key] { return plan }
        let plan = BatchNormalization(layout, relu: relu, globalStatistics: globalStatistics, eps: eps)
        plans[key] = plan
        return plan
    }

    private init(_ layout: ActivationLayout, relu: Bool, globalStatistics: Bool, eps: Float) {
        self.layout = layout
        self.eps = eps
        flags = dnnl_use_scaleshift.rawValue | (relu ? dnnl_fuse_norm_relu.rawValue : 0)
            | (globalStatistics ? dnnl_use_global_stats.rawValue : 0)
        var data = layout.descriptor
        var desc = dnnl_batch_normalization_desc_t()
        DNNL.check(dnnl_batch_normalization_forward_desc_init(&desc, dnnl_forward_training, &data, eps, flags), "batch normalization \(layout.dims)")
        forwardPrimitive = withUnsafePointer(to: &desc) { Primitive.plan(UnsafeRawPointer($0), attributes: nil, name: "batch normalization \(layout.dims)") }
        var workspace = forwardPrimitive.memoryDescriptor(dnnl_query_workspace_md)
        workspaceMD = workspace
        workspaceBytes = relu ? dnnl_memory_desc_get_size(&workspace) : 0
    }

    private func makeBackward() -> Primitive {
        var data = layout.descriptor, diff = layout.descriptor
        var desc = dnnl_batch_normalization_desc_t()
        DNNL.check(dnnl_batch_normalization_backward_desc_init(&desc, dnnl_backward, &diff, &data, eps, flags), "batch normalization backward \(layout.dims)")
        return withUnsafePointer(to: &desc) {
            Primitive.plan(UnsafeRawPointer($0), attributes: nil, pairedWith: forwardPrimitive.descriptor, name: "batch normalization backward \(layout.dims)")
        }
    }

    private func channels(_ pointer: UnsafeMutablePointer<Float>) -> Memory {
        Memory(plainDescriptor([layout.dims[1]]), pointer: UnsafeMutableRawPointer(pointer))
    }

    private func activation(_ pointer: UnsafeMutablePointer<Float>) -> Memory {
        Memory(layout.descriptor, pointer: UnsafeMutableRawPointer(pointer))
    }

    /// `destination = scale (source - mean) / sqrt(variance + eps) + shift` (then clamped at zero with the ReLU). In batch
    /// mode `mean` and `variance` (biased) are written; with global statistics they are read.
    public func forward(source: UnsafeMutablePointer<Float>, destination: UnsafeMutablePointer<Float>,
                        scale: UnsafeMutablePointer<Float>, shift: UnsafeMutablePointer<Float>,
                        mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>, workspace: UnsafeMutableRawPointer?) {
        let c = layout.dims[1]
        let scaleShift = Memory(plainDescriptor([2, c]), pointer: nil), pair = scaleShift.owned!.assumingMemoryBound(to: Float.self)
        pair.update(from: scale, count: c)
        (pair + c).update(from: shift, count: c)
        var arguments = [(DNNL_ARG_SRC, activation(source)), (DNNL_ARG_DST, activation(destination)), (DNNL_ARG_SCALE_SHIFT, scaleShift),
                         (DNNL_ARG_MEAN, channels(mean)), (DNNL_ARG_VARIANCE, channels(variance))]
        if workspaceBytes > 0, let workspace { arguments.append((DNNL_ARG_WORKSPACE, Memory(workspaceMD, pointer: workspace))) }
        forwardPrimitive.execute(arguments.map { ($0.0, $0.1.handle) })
        withExtendedLifetime(arguments) {}
    }

    /// The gradients of the source, the scale and the shift from the destination's, with the forward's statistics.
    public func backward(source: UnsafeMutablePointer<Float>, gradDestination: UnsafeMutablePointer<Float>,
                         scale: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>,
                         workspace: UnsafeMutableRawPointer?, gradSource: UnsafeMutablePointer<Float>,
                         gradScale: UnsafeMutablePointer<Float>, gradShift: UnsafeMutablePointer<Float>) {
        let c = layout.dims[1]
        // The shift is not read going back, only the scale.
        let scaleShift = Memory(plainDescriptor([2, c]), pointer: nil), diffScaleShift = Memory(plainDescriptor([2, c]), pointer: nil)
        scaleShift.owned!.assumingMemoryBound(to: Float.self).update(from: scale, count: c)
        var arguments = [(DNNL_ARG_SRC, activation(source)), (DNNL_ARG_DIFF_DST, activation(gradDestination)), (DNNL_ARG_SCALE_SHIFT, scaleShift),
                         (DNNL_ARG_MEAN, channels(mean)), (DNNL_ARG_VARIANCE, channels(variance)),
                         (DNNL_ARG_DIFF_SRC, activation(gradSource)), (DNNL_ARG_DIFF_SCALE_SHIFT, diffScaleShift)]
        if workspaceBytes > 0, let workspace { arguments.append((DNNL_ARG_WORKSPACE, Memory(workspaceMD, pointer: workspace))) }
        backwardPrimitive.execute(arguments.map { ($0.0, $0.1.handle) })
        let diffs = diffScaleShift.owned!.assumingMemoryBound(to: Float.self)
        gradScale.update(from: diffs, count: c)
        gradShift.update(from: diffs + c, count: c)
        withExtendedLifetime(arguments) {}
    }
}

import Foundation

/// A tensor of the face trunk that its int8 form quantizes: the normalised input, the stem's output (the max pool's
/// too, since pooling keeps codes), and in each of the eight basic blocks conv1's output, conv2's before the residual
/// sum, the downsample's, and the block's output.
public enum TrunkPoint: Hashable, Sendable, CustomStringConvertible {
    case input, stem
    case conv1(Int), conv2(Int), downsample(Int), output(Int)

    /// `input`, `stem`, `block3.conv2`, ...: the key in `model_int8.json`.
    public var description: String {
        switch self {
        case .input: return "input"
        case .stem: return "stem"
        case .conv1(let b): return "block\(b).conv1"
        case .conv2(let b): return "block\(b).conv2"
        case .downsample(let b): return "block\(b).downsample"
        case .output(let b): return "block\(b).output"
        }
    }
}

/// How one tensor is stored in uint8: `x = scale * (code - zeroPoint)`, as ONNX's QuantizeLinear and onnxruntime's
/// integer kernels read it.
public struct ActivationQuantization: Codable, Equatable, Sendable {
    public var scale: Float
    public var zeroPoint: UInt8

    enum CodingKeys: String, CodingKey { case scale, zeroPoint = "zero_point" }

    /// The codes spanning `[low, high]`, widened to hold 0 exactly (a ReLU's output gets zero point 0).
    public init(low: Float, high: Float) {
        let low = min(0, low), high = max(0, high)
        guard high > low else { self.scale = 1; self.zeroPoint = 0; return }
        scale = (high - low) / 255
        zeroPoint = UInt8(max(0, min(255, (-low / scale).rounded(.toNearestOrEven))))
    }
}

/// How the activation ranges are chosen from what calibration saw: the extremes, or a high percentile of each sign's
/// magnitudes, which gives the bulk of the values finer steps at the cost of clipping the rarest.
public enum CalibrationMethod: String, Codable, CaseIterable, Sendable {
    case minmax, percentile
}

/// The face trunk's activation quantization, measured by running the float trunk on calibration clips: written
/// beside an export as `model_int8.json`, read by both int8 forms (the ONNX graph and the engine's trunk) so they
/// quantize alike.
public struct TrunkCalibration: Codable, Equatable, Sendable {
    public static let fileName = "model_int8.json"

    public var method: CalibrationMethod
    /// The percentile of each sign's magnitudes kept, for `percentile`.
    public var percentile: Double?
    /// Where the clips came from (the split's name and folder) and how many clips and face images.
    public var source: String
    public var clips: Int
    public var images: Int
    /// Keyed by `TrunkPoint.description`.
    public var points: [String: ActivationQuantization]

    public subscript(point: TrunkPoint) -> ActivationQuantization {
        guard let found = points[point.description] else { preconditionFailure("the calibration has no \(point)") }
        return found
    }

    public init(method: CalibrationMethod, percentile: Double?, source: String, clips: Int, images: Int, points: [String: ActivationQuantization]) {
        (self.method, self.percentile, self.source, self.clips, self.images, self.points) = (method, percentile, source, clips, images, points)
    }

    /// Reads and checks `file`: every point of `trunk` present with a finite positive scale.
    public init(file: String, for trunk: ResNet18Trunk) throws {
        do {
            self = try JSONDecoder().decode(TrunkCalibration.self, from: Data(contentsOf: URL(fileURLWithPath: file)))
        } catch {
            throw CalibrationError("\(file): not a calibration (\(error))")
        }
        for point in TrunkCalibration.points(downsampled: trunk.stages.joined().map { $0.downsample != nil }) {
            guard let found = points[point.description] else { throw CalibrationError("\(file): no scale for \(point)") }
            guard found.scale.isFinite && found.scale > 0 else { throw CalibrationError("\(file): \(point).scale is \(found.scale); expected a finite number above 0") }
        }
    }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// The points a calibration must hold for a trunk whose blocks have a downsample where `downsampled` says.
    static func points(downsampled: [Bool]) -> [TrunkPoint] {
        [.input, .stem] + downsampled.enumerated().flatMap { b, has in [.conv1(b), .conv2(b)] + (has ? [.downsample(b)] : []) + [.output(b)] }
    }
}

/// Why a calibration file cannot be used, naming it.
public struct CalibrationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Watches the float trunk's activations during calibration: each point's extremes and, for `percentile`, a
/// histogram of each sign's magnitudes whose range doubles (merging bins pairwise) when a larger value arrives, so one
/// pass over the clips suffices and the result depends only on the values and their order.
public final class ActivationObserver {
    public let method: CalibrationMethod
    public let percentile: Double
    private var ranges: [TrunkPoint: Range] = [:]
    public private(set) var images = 0

    public init(method: CalibrationMethod, percentile: Double = 99.99) {
        self.method = method
        self.percentile = percentile
    }

    func observe(_ point: TrunkPoint, _ values: UnsafePointer<Float>, count: Int) {
        let range = ranges[point] ?? Range(histogram: method == .percentile)
        range.add(UnsafeBufferPointer(start: values, count: count))
        ranges[point] = range
    }

    func countImages(_ n: Int) { images += n }

    /// The quantization of every point seen.
    public func calibration(source: String, clips: Int) -> TrunkCalibration {
        var points: [String: ActivationQuantization] = [:]
        for (point, range) in ranges {
            let (low, high) = method == .minmax ? (range.low, range.high)
                : (-range.negative.quantile(percentile / 100), range.positive.quantile(percentile / 100))
            points[point.description] = ActivationQuantization(low: low, high: high)
        }
        return TrunkCalibration(method: method, percentile: method == .percentile ? percentile : nil, source: source, clips: clips, images: images, points: points)
    }

    private final class Range {
        var low = Float.infinity, high = -Float.infinity
        let positive: MagnitudeHistogram, negative: MagnitudeHistogram
        let histogram: Bool

        init(histogram: Bool) {
            self.histogram = histogram
            positive = MagnitudeHistogram()
            negative = MagnitudeHistogram()
        }

        func add(_ values: UnsafeBufferPointer<Float>) {
            var low = self.low, high = self.high
            for v in values { low = min(low, v); high = max(high, v) }
            self.low = low
            self.high = high
            guard histogram else { return }
            positive.add(values, sign: 1, largest: high)
            negative.add(values, sign: -1, largest: -low)
        }
    }
}

/// Counts of positive magnitudes in 2048 equal bins over `(0, top]`.
final class MagnitudeHistogram {
    static let bins = 2048
    private(set) var counts = [Int](repeating: 0, count: MagnitudeHistogram.bins)
    private(set) var top: Float = 0
    private(set) var total = 0

    /// Adds the values of sign `sign` (1 or -1) with magnitude above 0; `largest` is at least the largest such magnitude.
    func add(_ values: UnsafeBufferPointer<Float>, sign: Float, largest: Float) {
        guard largest > 0 else { return }
        if top == 0 { top = largest }
        while largest > top { grow() }
        let bins = Self.bins, perUnit = Float(bins) / top
        var added = 0
        counts.withUnsafeMutableBufferPointer { counts in
            for v in values {
                let m = v * sign
                guard m > 0 else { continue }
                counts[min(bins - 1, Int(m * perUnit))] += 1
                added += 1
            }
        }
        total += added
    }

    /// Doubles the range: bin i takes bins 2i and 2i + 1.
    private func grow() {
        let half = Self.bins / 2
        for i in 0..<half { counts[i] = counts[2 * i] + counts[2 * i + 1] }
        for i in half..<Self.bins { counts[i] = 0 }
        top *= 2
    }

    /// The upper edge of the bin where the share `q` of the magnitudes is reached (0 when there are none).
    func quantile(_ q: Double) -> Float {
        guard total > 0 else { return 0 }
        let wanted = Int((Double(total) * q).rounded(.up))
        var seen = 0
        for (i, count) in counts.enumerated() {
            seen += count
            if seen >= wanted { return top * Float(i + 1) / Float(Self.bins) }
        }
        return top
    }
}

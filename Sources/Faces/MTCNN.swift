import Crypto
import Foundation
import Media
import OneDNN
import Safetensors

/// MTCNN (Zhang et al., 2016), the CNN face detector of `detector: hog+cnn | cnn`, as facenet-pytorch's `detect_face`
/// runs it on one image: P-Net over an image pyramid proposes windows (non-maximum suppression within each scale, then
/// across scales), R-Net on 24x24 crops keeps and refines them, O-Net on 48x48 crops scores them a last time and
/// places five landmarks. It finds faces HOG misses (turned, small, partly lit) at a few milliseconds a frame on the
/// project's engine. The networks are planned per input size, so an instance belongs to one thread.
public final class MTCNN {
    public struct Face: Sendable, Equatable {
        /// Left, top, right, bottom, in the image's pixels (fractional; past the edges where the face is).
        public var box: [Double]
        /// O-Net's probability that the box holds a face.
        public var score: Double
        /// The eyes, the nose and the mouth's corners, (x, y) each.
        public var points: [[Double]]
    }

    /// facenet-pytorch's defaults, but for the smallest face sought, which the caller sets.
    public static let thresholds: [Float] = [0.6, 0.7, 0.7]
    public static let factor = 0.709
    /// The weights `scripts/fetch-mtcnn.py` writes from facenet-pytorch 2.6.0's wheel (pinned), and the file's SHA-256.
    public static let weightsSHA256 = "7519d89de43ff974718010fdfdf89bcebd8411921c512848a847fdf5857d33e5"
    public static var defaultWeightsPath: String {
        if let path = ProcessInfo.processInfo.environment["EMOTION_MTCNN_WEIGHTS"], !path.isEmpty { return path }
        let cache = ProcessInfo.processInfo.environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory() + "/.cache"
        return cache + "/multimodal-emotion/mtcnn-facenet-pytorch-2.6.0.safetensors"
    }

    /// R-Net and O-Net take their crops this many at a time (the last batch padded), one plan each.
    static let batch = 16
    private let weights: SafetensorsFile
    private var pnets: [[Int]: MTCNNNetwork] = [:]
    private let rnet: MTCNNNetwork, onet: MTCNNNetwork

    /// `weights`: the file, read once and shared by every thread's detector.
    public init(weights: SafetensorsFile) throws {
        self.weights = weights
        (rnet, onet) = try Self.onOneThread {
            (try MTCNNNetwork(MTCNNNetwork.rnet, prefix: "rnet", weights: weights, batch: Self.batch, height: 24, width: 24),
             try MTCNNNetwork(MTCNNNetwork.onet, prefix: "onet", weights: weights, batch: Self.batch, height: 48, width: 48))
        }
    }

    /// Runs `body` with the engine on the calling thread alone: the faces stage searches frames on as many threads as it
    /// has detectors, and oneDNN sizes a primitive's thread team when it is planned, so both planning and running are
    /// done on one thread.
    private static func onOneThread<T>(_ body: () throws -> T) rethrows -> T {
        let threads = DNNL.threads
        DNNL.threads = 1
        defer { DNNL.threads = threads }
        return try body()
    }

    /// Loads the weights at `path`, refusing a file that is not the pinned one: a detector's boxes are part of the faces
    /// stage's output, so its weights are part of its key.
    public static func loadWeights(_ path: String = defaultWeightsPath, sha256 expected: String = weightsSHA256) throws -> SafetensorsFile {
        guard FileManager.default.fileExists(atPath: path) else {
            throw FaceError.mtcnn("no MTCNN weights at \(path): `make setup` (scripts/fetch-mtcnn.py) fetches them from facenet-pytorch's wheel on PyPI")
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        guard digest == expected else {
            throw FaceError.mtcnn("\(path) has SHA-256 \(digest), not the \(expected) the settings name"
                                  + (expected == weightsSHA256 ? " (facenet-pytorch 2.6.0's weights): delete it and run `make setup`" : ""))
        }
        return try SafetensorsFile(bytes: data, path: path)
    }

    /// The faces in `image` of at least `minimumFace` pixels (the side of P-Net's 12-pixel window at the pyramid's first
    /// scale), best first.
    public func detect(_ image: RGBImage, minimumFace: Double = 20) throws -> [Face] {
        try Self.onOneThread { try search(image, minimumFace: minimumFace) }
    }

    private func search(_ image: RGBImage, minimumFace: Double) throws -> [Face] {
        let (height, width) = (image.height, image.width)
        guard height > 0, width > 0 else { return [] }
        var scales: [Double] = [], scale = 12 / minimumFace, side = Double(min(height, width)) * scale
        while side >= 12 {
            scales.append(scale)
            scale *= Self.factor
            side *= Self.factor
        }
        var candidates: [Candidate] = []
        for scale in scales {
            let size = [Int(Double(height) * scale + 1), Int(Double(width) * scale + 1)]
            let network = try pnet(size)
            let output = network(Self.resample(image, left: 0, top: 0, right: width, bottom: height, to: size[0], size[1]))
            let (rows, columns) = (network.outputDims[2], network.outputDims[3])
            var found: [Candidate] = []
            for y in 0..<rows {
                for x in 0..<columns {
                    let cell = (y * columns + x) * 6
                    let probability = Self.faceProbability(output[cell], output[cell + 1])
                    guard probability >= Self.thresholds[0] else { continue }
                    found.append(Candidate(x1: ((2 * Double(x) + 1) / scale).rounded(.down), y1: ((2 * Double(y) + 1) / scale).rounded(.down),
                                           x2: ((2 * Double(x) + 12) / scale).rounded(.down), y2: ((2 * Double(y) + 12) / scale).rounded(.down),
                                           score: probability, regression: Array(output[(cell + 2)..<(cell + 6)].map(Double.init))))
                }
            }
            candidates += Self.suppress(found, above: 0.5)
        }
        // P-Net's regression is relative to its window's size without the last pixel.
        candidates = Self.suppress(candidates, above: 0.7).map { $0.regressed(inclusive: false).squared() }
        // R-Net, then O-Net, which also places the landmarks.
        let refined = try score(candidates, size: 24, image: image, above: Self.thresholds[1]).map(\.candidate)
        candidates = Self.suppress(refined, above: 0.7).map { $0.regressed().squared() }
        let faces = try score(candidates, size: 48, image: image, above: Self.thresholds[2]).map { kept, output in
            let (w, h) = (kept.x2 - kept.x1 + 1, kept.y2 - kept.y1 + 1)
            let points = (0..<5).map { [w * Double(output[6 + $0]) + kept.x1 - 1, h * Double(output[11 + $0]) + kept.y1 - 1] }
            return (kept.regressed(), points)
        }
        let order = Self.keptIndices(faces.map(\.0), above: 0.7, overSmaller: true)
        return order.map { index in
            let (candidate, points) = faces[index]
            return Face(box: [candidate.x1, candidate.y1, candidate.x2, candidate.y2], score: Double(candidate.score), points: points)
        }
    }

    private func pnet(_ size: [Int]) throws -> MTCNNNetwork {
        if let planned = pnets[size] { return planned }
        let planned = try MTCNNNetwork(MTCNNNetwork.pnet, prefix: "pnet", weights: weights, batch: 1, height: size[0], width: size[1])
        pnets[size] = planned
        return planned
    }

    /// Runs R-Net (`size` 24) or O-Net (48) on each candidate's crop, in batches: the candidates whose face probability is
    /// above `threshold`, carrying it and the network's regression, each with the network's outputs.
    private func score(_ candidates: [Candidate], size: Int, image: RGBImage, above threshold: Float) throws -> [(candidate: Candidate, output: [Float])] {
        let network = size == 24 ? rnet : onet
        // facenet-pytorch's `pad`: truncated to integers, clipped to the image, 1-based on the top left.
        let crops = candidates.compactMap { candidate -> (Candidate, [Int])? in
            let left = max(1, Int(candidate.x1)), top = max(1, Int(candidate.y1))
            let right = min(image.width, Int(candidate.x2)), bottom = min(image.height, Int(candidate.y2))
            return bottom > top - 1 && right > left - 1 ? (candidate, [left - 1, top - 1, right, bottom]) : nil
        }
        let plane = size * size * 3, outputs = network.outputDims[1]
        var kept: [(candidate: Candidate, output: [Float])] = []
        for start in stride(from: 0, to: crops.count, by: Self.batch) {
            let chunk = crops[start..<min(crops.count, start + Self.batch)]
            var input = [Float](repeating: 0, count: Self.batch * plane)
            for (slot, (_, rect)) in chunk.enumerated() {
                input.replaceSubrange(slot * plane..<(slot + 1) * plane, with: Self.resample(image, left: rect[0], top: rect[1], right: rect[2], bottom: rect[3], to: size, size))
            }
            let output = network(input)
            for (slot, (candidate, _)) in chunk.enumerated() {
                let values = Array(output[(slot * outputs)..<((slot + 1) * outputs)]), probability = Self.faceProbability(values[0], values[1])
                guard probability > threshold else { continue }
                var passed = candidate
                passed.score = probability
                passed.regression = values[2..<6].map(Double.init)
                kept.append((passed, values))
            }
        }
        return kept
    }

    /// The face class's softmax probability from the two logits.
    static func faceProbability(_ background: Float, _ face: Float) -> Float {
        1 / (1 + exp(background - face))
    }

    /// The rectangle [left, right) x [top, bottom) of `image` resized to `rows` x `columns` by area averaging (PyTorch's
    /// `interpolate(mode: "area")`, an adaptive average pool), normalised as MTCNN was trained: (v - 127.5) / 128, NHWC.
    static func resample(_ image: RGBImage, left: Int, top: Int, right: Int, bottom: Int, to rows: Int, _ columns: Int) -> [Float] {
        let (height, width) = (bottom - top, right - left)
        var output = [Float](repeating: 0, count: rows * columns * 3)
        image.pixels.withUnsafeBufferPointer { pixels in
            output.withUnsafeMutableBufferPointer { output in
                for row in 0..<rows {
                    let y0 = row * height / rows, y1 = ((row + 1) * height + rows - 1) / rows
                    for column in 0..<columns {
                        let x0 = column * width / columns, x1 = ((column + 1) * width + columns - 1) / columns
                        var sums: (Float, Float, Float) = (0, 0, 0)
                        for y in y0..<y1 {
                            var offset = ((top + y) * image.width + left + x0) * 3
                            for _ in x0..<x1 {
                                sums.0 += Float(pixels[offset])
                                sums.1 += Float(pixels[offset + 1])
                                sums.2 += Float(pixels[offset + 2])
                                offset += 3
                            }
                        }
                        let count = Float((y1 - y0) * (x1 - x0)), target = (row * columns + column) * 3
                        output[target] = (sums.0 / count - 127.5) * 0.0078125
                        output[target + 1] = (sums.1 / count - 127.5) * 0.0078125
                        output[target + 2] = (sums.2 / count - 127.5) * 0.0078125
                    }
                }
            }
        }
        return output
    }

    /// `image` averaged down to `width` x `height` (the area resampling of `resample`, rounded to bytes).
    static func shrink(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        RGBImage(width: width, height: height, pixels: resample(image, left: 0, top: 0, right: image.width, bottom: image.height, to: height, width)
            .map { UInt8(max(0, min(255, ($0 / 0.0078125 + 127.5).rounded()))) })
    }

    struct Candidate {
        var x1: Double, y1: Double, x2: Double, y2: Double
        var score: Float
        var regression: [Double]

        /// The square of the longer side about the same centre (facenet-pytorch's `rerec`).
        func squared() -> Candidate {
            var square = self
            let (w, h) = (x2 - x1, y2 - y1), side = max(w, h)
            square.x1 = x1 + w * 0.5 - side * 0.5
            square.y1 = y1 + h * 0.5 - side * 0.5
            square.x2 = square.x1 + side
            square.y2 = square.y1 + side
            return square
        }

        /// Moved by its regression, relative to the box's size: in pixels, both edges counted (`inclusive`, R-Net's and
        /// O-Net's `bbreg`), or the difference of its edges (P-Net's).
        func regressed(inclusive: Bool = true) -> Candidate {
            var moved = self
            let extra = inclusive ? 1.0 : 0.0, (w, h) = (x2 - x1 + extra, y2 - y1 + extra)
            moved.x1 = x1 + regression[0] * w
            moved.y1 = y1 + regression[1] * h
            moved.x2 = x2 + regression[2] * w
            moved.y2 = y2 + regression[3] * h
            return moved
        }
    }

    /// Greedy non-maximum suppression, best score first: a box overlapping a kept one by more than `threshold` goes.
    /// Overlap is intersection over union with areas w x h (torchvision's `nms`), or with `overSmaller` over the smaller
    /// box with areas (w + 1) x (h + 1) (facenet-pytorch's 'Min'). Of equal scores, the earlier box is taken first.
    static func suppress(_ candidates: [Candidate], above threshold: Double, overSmaller: Bool = false) -> [Candidate] {
        keptIndices(candidates, above: threshold, overSmaller: overSmaller).map { candidates[$0] }
    }

    /// The same, as the kept candidates' indices, best first.
    static func keptIndices(_ candidates: [Candidate], above threshold: Double, overSmaller: Bool) -> [Int] {
        let extra = overSmaller ? 1.0 : 0.0
        let order = candidates.indices.sorted { (-candidates[$0].score, $0) < (-candidates[$1].score, $1) }
        let area = candidates.map { ($0.x2 - $0.x1 + extra) * ($0.y2 - $0.y1 + extra) }
        var kept: [Int] = []
        for index in order {
            let box = candidates[index]
            let overlaps = kept.contains { other in
                let o = candidates[other]
                let w = max(0, min(box.x2, o.x2) - max(box.x1, o.x1) + extra), h = max(0, min(box.y2, o.y2) - max(box.y1, o.y1) + extra)
                let intersection = w * h
                let overlap = overSmaller ? intersection / min(area[index], area[other]) : intersection / (area[index] + area[other] - intersection)
                return overlap > threshold
            }
            if !overlaps { kept.append(index) }
        }
        return kept
    }
}

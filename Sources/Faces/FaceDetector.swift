import CDlib
import Foundation
import Media
import Safetensors

/// A face found by a detector: an inclusive box in image coordinates (it may extend past the image), and either
/// dlib's HOG score and which of its five poses fired, or MTCNN's probability with `detectorIndex` -1 (`FaceBox.cnn`),
/// the box then placed where HOG would put it, so that the landmarks fit alike.
public struct FaceBox: Sendable, Hashable, Codable {
    public var left: Int
    public var top: Int
    public var right: Int
    public var bottom: Int
    public var score: Double
    public var detectorIndex: Int

    public init(left: Int, top: Int, right: Int, bottom: Int, score: Double, detectorIndex: Int) {
        self.left = left
        self.top = top
        self.right = right
        self.bottom = bottom
        self.score = score
        self.detectorIndex = detectorIndex
    }

    /// The `detectorIndex` of a face MTCNN found.
    public static let cnn = -1

    public var width: Int { right - left + 1 }
    public var height: Int { bottom - top + 1 }

    var raw: cdlib_face { cdlib_face(left: left, top: top, right: right, bottom: bottom, score: score, detector_index: Int32(detectorIndex)) }
}

public enum FaceError: Error, CustomStringConvertible {
    case dlib(String)
    case predictorMissing(String)
    case mtcnn(String)

    public var description: String {
        switch self {
        case .dlib(let message): return "dlib: \(message)"
        case .predictorMissing(let path): return "no landmark model at \(path) (Debian's libdlib-data installs it)"
        case .mtcnn(let message): return "MTCNN: \(message)"
        }
    }
}

/// A frame converted once into dlib's image format, for detection, landmarks and chips on the same frame (and kept as
/// it came, for the CNN detector).
public final class FaceImage {
    let handle: OpaquePointer
    let rgb: RGBImage
    public let width: Int
    public let height: Int

    public init(_ image: RGBImage) throws {
        rgb = image
        guard let handle = image.pixels.withUnsafeBufferPointer({
            cdlib_image_create($0.baseAddress, Int32(image.width), Int32(image.height), Int32(image.width * 3))
        }) else { throw FaceError.dlib("out of memory converting a \(image.width)x\(image.height) image") }
        self.handle = handle
        width = image.width
        height = image.height
    }

    deinit { cdlib_image_free(handle) }
}

/// Which detector finds the faces: dlib's HOG; HOG, then MTCNN on a frame where HOG finds none (a face turned, small or
/// dimly lit); or MTCNN alone.
public enum DetectorChoice: String, Codable, Sendable, CaseIterable {
    case hog
    case hogCNN = "hog+cnn"
    case cnn
}

/// The faces stage's detector: dlib's HOG frontal face detector, with MTCNN beside it when the choice says so. It keeps
/// scratch state, so each thread needs its own.
public final class FaceDetector {
    private let handle: OpaquePointer
    public let choice: DetectorChoice
    private let cnn: MTCNN?
    /// The smallest face MTCNN looks for, in pixels of the detection copy (`maxSide`).
    private let cnnMinimumFace: Double

    /// `cnnWeights` (`MTCNN.loadWeights`) are needed unless the choice is `hog`.
    public init(_ choice: DetectorChoice = .hog, cnnWeights: SafetensorsFile? = nil, cnnMinimumFace: Int = 40) throws {
        guard let handle = cdlib_detector_create() else { throw FaceError.dlib("cannot create the face detector") }
        self.handle = handle
        self.choice = choice
        self.cnnMinimumFace = Double(cnnMinimumFace)
        if choice == .hog {
            cnn = nil
        } else {
            guard let cnnWeights else { throw FaceError.mtcnn("detector \(choice.rawValue) needs MTCNN's weights") }
            cnn = try MTCNN(weights: cnnWeights)
        }
    }

    /// The detector `settings` name, MTCNN's weights read from where `make setup` put them (and checked against the
    /// digest the settings name).
    public convenience init(settings: FaceSettings) throws {
        try self.init(settings.detector, cnnWeights: settings.detector == .hog ? nil : try MTCNN.loadWeights(sha256: settings.cnnWeights),
                      cnnMinimumFace: settings.cnnMinimumFace)
    }

    deinit { cdlib_detector_free(handle) }

    /// Faces in `image`, best first, found on a copy whose longer side is at most `maxSide` (MODEL.md's 640; HOG
    /// searches a bilinear copy, MTCNN's pyramid starts at the scale that copy would have), with boxes in full-resolution
    /// coordinates.
    public func detect(_ image: FaceImage, maxSide: Int, threshold: Double = 0) throws -> [FaceBox] {
        if choice == .cnn { return try detectCNN(image, maxSide: maxSide) }
        let found = try run { faces, capacity, error in
            cdlib_detect_downscaled(handle, image.handle, Int32(maxSide), threshold, faces, capacity, error, 512)
        }
        return found.isEmpty && choice == .hogCNN ? try detectCNN(image, maxSide: maxSide) : found
    }

    public func detect(_ image: RGBImage, maxSide: Int, threshold: Double = 0) throws -> [FaceBox] {
        try detect(try FaceImage(image), maxSide: maxSide, threshold: threshold)
    }

    /// MTCNN on an area-averaged copy at most `maxSide` on its longer side (its pyramid then starts from that copy, as
    /// HOG's search does), boxes scaled back to the frame.
    private func detectCNN(_ image: FaceImage, maxSide: Int) throws -> [FaceBox] {
        guard let cnn else { return [] }
        let side = max(image.width, image.height)
        guard maxSide > 0, side > maxSide else { return try cnn.detect(image.rgb, minimumFace: cnnMinimumFace).map(Self.hogBox) }
        let width = max(1, image.width * maxSide / side), height = max(1, image.height * maxSide / side)
        let (scaleX, scaleY) = (Double(image.width) / Double(width), Double(image.height) / Double(height))
        return try cnn.detect(MTCNN.shrink(image.rgb, width: width, height: height), minimumFace: cnnMinimumFace).map { face in
            var full = face
            full.box = [face.box[0] * scaleX, face.box[1] * scaleY, face.box[2] * scaleX, face.box[3] * scaleY]
            full.points = face.points.map { [$0[0] * scaleX, $0[1] * scaleY] }
            return Self.hogBox(full)
        }
    }

    /// Where HOG would box the face MTCNN boxed: dlib's landmark model was trained on HOG's boxes, which are square,
    /// tighter and lower on the face than MTCNN's (from forehead to chin). Measured on the faces both find in
    /// `../shared/data/faces` (`MTCNNTests`).
    static func hogBox(_ face: MTCNN.Face) -> FaceBox {
        let (x1, y1, x2, y2) = (face.box[0], face.box[1], face.box[2], face.box[3])
        let side = hogScale * (x2 - x1 + y2 - y1) / 2
        let centreX = (x1 + x2) / 2 + hogShift.x * (x2 - x1), centreY = (y1 + y2) / 2 + hogShift.y * (y2 - y1)
        let left = Int((centreX - side / 2).rounded()), top = Int((centreY - side / 2).rounded()), length = max(1, Int(side.rounded()))
        return FaceBox(left: left, top: top, right: left + length - 1, bottom: top + length - 1, score: face.score, detectorIndex: FaceBox.cnn)
    }

    /// HOG's side over the mean of MTCNN's width and height (0.76-1.0 on the photos, median 0.85), and its centre's
    /// offset in MTCNN's width and height (x: -0.10 to 0.19, median -0.01; y: 0.00 to 0.11, median 0.05).
    static let hogScale = 0.86
    static let hogShift = (x: 0.0, y: 0.05)

    /// Faces HOG finds in `image`, best first. `upsample` doubles the image that many times first (finds smaller faces);
    /// `threshold` below 0 admits weaker detections. dlib's Python `detector.run(image, upsample, threshold)`.
    public func detect(_ image: FaceImage, upsample: Int = 0, threshold: Double = 0) throws -> [FaceBox] {
        try run { faces, capacity, error in
            cdlib_detect(handle, image.handle, Int32(upsample), threshold, faces, capacity, error, 512)
        }
    }

    public func detect(_ image: RGBImage, upsample: Int = 0, threshold: Double = 0) throws -> [FaceBox] {
        try detect(try FaceImage(image), upsample: upsample, threshold: threshold)
    }

    /// Calls a detection with room for 16 faces, again with more room when there were more.
    private func run(_ call: (UnsafeMutablePointer<cdlib_face>, Int32, UnsafeMutablePointer<CChar>) -> Int32) throws -> [FaceBox] {
        var error = [CChar](repeating: 0, count: 512)
        var capacity = 16
        while true {
            var faces = [cdlib_face](repeating: cdlib_face(), count: capacity)
            let count = call(&faces, Int32(capacity), &error)
            guard count >= 0 else { throw FaceError.dlib(String(cString: error)) }
            if Int(count) <= capacity {
                return faces.prefix(Int(count)).map {
                    FaceBox(left: $0.left, top: $0.top, right: $0.right, bottom: $0.bottom, score: $0.score, detectorIndex: Int($0.detector_index))
                }
            }
            capacity = Int(count)
        }
    }
}

/// dlib's landmark model (68 points with `shape_predictor_68_face_landmarks.dat`). Loading takes about a
/// second; one instance is safe to share between threads.
public final class LandmarkPredictor: @unchecked Sendable {
    public static let debianModelPath = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat"
    private let handle: OpaquePointer
    public let parts: Int

    public init(path: String = LandmarkPredictor.debianModelPath) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw FaceError.predictorMissing(path) }
        var error = [CChar](repeating: 0, count: 512)
        guard let handle = cdlib_predictor_load(path, &error, Int32(error.count)) else { throw FaceError.dlib(String(cString: error)) }
        self.handle = handle
        parts = Int(cdlib_predictor_parts(handle))
    }

    deinit { cdlib_predictor_free(handle) }

    /// The landmarks of the face in `box`, as (x, y) pixel positions.
    public func landmarks(in image: RGBImage, box: FaceBox) throws -> [[Int]] {
        try landmarks(in: try FaceImage(image), box: box)
    }

    public func landmarks(in image: FaceImage, box: FaceBox) throws -> [[Int]] {
        var points = [Int](repeating: 0, count: 2 * parts)
        var error = [CChar](repeating: 0, count: 512)
        let status = cdlib_landmarks(handle, image.handle, box.raw, &points, &error, Int32(error.count))
        guard status == 0 else { throw FaceError.dlib(String(cString: error)) }
        return (0..<parts).map { [points[2 * $0], points[2 * $0 + 1]] }
    }
}

/// An aligned face crop and where it came from.
public struct FaceChip: Sendable {
    public var image: RGBImage
    /// The source rectangle (left, top, right, bottom) before rotation.
    public var rect: [Double]
    public var angle: Double

    /// dlib's `get_face_chip_details(shape, size, padding)` then `extract_image_chip` on `image`: rotation,
    /// scale and crop from the landmarks, bilinear after an image pyramid when shrinking.
    public static func extract(from image: RGBImage, box: FaceBox, landmarks: [[Int]], size: Int = 224, padding: Double = 0.25) throws -> FaceChip {
        try extract(from: try FaceImage(image), box: box, landmarks: landmarks, size: size, padding: padding)
    }

    public static func extract(from image: FaceImage, box: FaceBox, landmarks: [[Int]], size: Int = 224, padding: Double = 0.25) throws -> FaceChip {
        var pixels = [UInt8](repeating: 0, count: size * size * 3)
        var rect = [Double](repeating: 0, count: 4)
        var angle = 0.0
        var error = [CChar](repeating: 0, count: 512)
        let flat = landmarks.flatMap { $0 }
        let status = cdlib_face_chip(image.handle, box.raw, flat, Int32(landmarks.count), Int32(size), padding, &pixels, &rect, &angle,
                                     &error, Int32(error.count))
        guard status == 0 else { throw FaceError.dlib(String(cString: error)) }
        return FaceChip(image: RGBImage(width: size, height: size, pixels: pixels), rect: rect, angle: angle)
    }
}

/// PNG files written by dlib's own writer (libpng).
public enum PNGFile {
    public static func write(_ image: RGBImage, to path: String) throws {
        var error = [CChar](repeating: 0, count: 512)
        let status = image.pixels.withUnsafeBufferPointer { cdlib_save_png($0.baseAddress, Int32(image.width), Int32(image.height), path, &error, 512) }
        guard status == 0 else { throw FaceError.dlib(String(cString: error)) }
    }
}

/// Images decoded by dlib's own loaders (libjpeg, libpng), for comparisons with dlib's Python results:
/// another JPEG decoder gives slightly different pixels and then different boxes.
public enum DlibImageFile {
    public static func load(_ path: String) throws -> RGBImage {
        var bytes: UnsafeMutablePointer<UInt8>?
        var width: Int32 = 0, height: Int32 = 0
        var error = [CChar](repeating: 0, count: 512)
        guard cdlib_load_rgb(path, &bytes, &width, &height, &error, Int32(error.count)) == 0, let bytes else {
            throw FaceError.dlib(String(cString: error))
        }
        defer { cdlib_free(bytes) }
        return RGBImage(width: Int(width), height: Int(height), pixels: Array(UnsafeBufferPointer(start: bytes, count: Int(width * height * 3))))
    }
}

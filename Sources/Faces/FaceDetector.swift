import CDlib
import Foundation
import Media

/// A face found by the detector: an inclusive box in image coordinates (it may extend past the image),
/// dlib's score, and which of the detector's five poses fired.
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

    public var width: Int { right - left + 1 }
    public var height: Int { bottom - top + 1 }

    var raw: cdlib_face { cdlib_face(left: left, top: top, right: right, bottom: bottom, score: score, detector_index: Int32(detectorIndex)) }
}

public enum FaceError: Error, CustomStringConvertible {
    case dlib(String)
    case predictorMissing(String)

    public var description: String {
        switch self {
        case .dlib(let message): return "dlib: \(message)"
        case .predictorMissing(let path): return "no landmark model at \(path) (Debian's libdlib-data installs it)"
        }
    }
}

/// A frame converted once into dlib's image format, for detection, landmarks and chips on the same frame.
public final class FaceImage {
    let handle: OpaquePointer
    public let width: Int
    public let height: Int

    public init(_ image: RGBImage) throws {
        guard let handle = image.pixels.withUnsafeBufferPointer({
            cdlib_image_create($0.baseAddress, Int32(image.width), Int32(image.height), Int32(image.width * 3))
        }) else { throw FaceError.dlib("out of memory converting a \(image.width)x\(image.height) image") }
        self.handle = handle
        width = image.width
        height = image.height
    }

    deinit { cdlib_image_free(handle) }
}

/// dlib's HOG frontal face detector. It keeps scratch state, so each thread needs its own.
public final class FaceDetector {
    private let handle: OpaquePointer

    public init() throws {
        guard let handle = cdlib_detector_create() else { throw FaceError.dlib("cannot create the face detector") }
        self.handle = handle
    }

    deinit { cdlib_detector_free(handle) }

    /// Faces in `image`, best first, found on a bilinear copy whose longer side is at most `maxSide` (MODEL.md's
    /// 640), with boxes in full-resolution coordinates.
    public func detect(_ image: FaceImage, maxSide: Int, threshold: Double = 0) throws -> [FaceBox] {
        try run { faces, capacity, error in
            cdlib_detect_downscaled(handle, image.handle, Int32(maxSide), threshold, faces, capacity, error, 512)
        }
    }

    public func detect(_ image: RGBImage, maxSide: Int, threshold: Double = 0) throws -> [FaceBox] {
        try detect(try FaceImage(image), maxSide: maxSide, threshold: threshold)
    }

    /// Faces in `image`, best first. `upsample` doubles the image that many times first (finds smaller faces);
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

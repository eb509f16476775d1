@testable import Faces
import Foundation
import Media
import Safetensors
import TestSupport
import XCTest

/// The CNN detector against independent oracles: each of MTCNN's networks against the same network written as an ONNX
/// graph and run by onnxruntime, and the whole cascade against facenet-pytorch's `detect_face` followed in numpy over
/// those graphs (`mtcnn_oracle.py`), on the real photos of `../shared/data/faces`.
final class MTCNNTests: XCTestCase {
    static let loaded = Result { try MTCNN.loadWeights() }
    static let oracle = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("mtcnn_oracle.py").path

    /// The pinned weights `make setup` fetched; a skip saying why without them (a failure under CI, whose set-up fetches them).
    static func weights() throws -> SafetensorsFile {
        do { return try loaded.get() } catch {
            if ProcessInfo.processInfo.environment["CI"] == "true" { throw error }
            throw XCTSkip("\(error)")
        }
    }

    private func oracle(_ arguments: [String]) throws -> String {
        let run = try shell("/usr/bin/env", ["python3", Self.oracle] + arguments)
        XCTAssertEqual(run.status, 0, run.err)
        let out = String(decoding: run.out, as: UTF8.self)
        if out.hasPrefix("missing") { throw XCTSkip("\(out.dropFirst(8).trimmingCharacters(in: .whitespacesAndNewlines)) is not importable: no MTCNN oracle here") }
        return out
    }

    func testEachNetworkEqualsItsGraphInOnnxruntime() throws {
        let weights = try Self.weights(), folder = try TemporaryFolder()
        _ = try oracle(["nets", weights.path, folder.file("nets.safetensors")])
        let expected = try SafetensorsFile(path: folder.file("nets.safetensors"))
        for (layers, name, heads) in [(MTCNNNetwork.pnet, "pnet", 2), (MTCNNNetwork.rnet, "rnet", 2), (MTCNNNetwork.onet, "onet", 3)] {
            let shape = try expected.entry("\(name).input").shape, input = try expected.floats("\(name).input")
            let (batch, height, width) = (shape[0], shape[2], shape[3])
            let network = try MTCNNNetwork(layers, prefix: name, weights: weights, batch: batch, height: height, width: width)
            // NCHW to the NHWC the network reads.
            var nhwc = [Float](repeating: 0, count: input.count)
            for n in 0..<batch { for c in 0..<3 { for y in 0..<height { for x in 0..<width {
                nhwc[((n * height + y) * width + x) * 3 + c] = input[((n * 3 + c) * height + y) * width + x]
            } } } }
            let output = network(nhwc)
            let (outputs, rows, columns) = (network.outputDims[1], network.outputDims[2], network.outputDims[3])
            var channel = 0
            for head in 0..<heads {
                let values = try expected.floats("\(name).head\(head)"), size = try expected.entry("\(name).head\(head)").shape[1]
                var worst: Float = 0, largest: Float = 0
                for n in 0..<batch { for k in 0..<size { for y in 0..<rows { for x in 0..<columns {
                    let ours = output[((n * rows + y) * columns + x) * outputs + channel + k], theirs = values[((n * size + k) * rows + y) * columns + x]
                    worst = max(worst, abs(ours - theirs))
                    largest = max(largest, abs(theirs))
                } } } }
                XCTAssertLessThan(worst, 1e-4 * max(1, largest), "\(name) head \(head): largest difference from onnxruntime \(worst)")
                channel += size
            }
            XCTAssertEqual(channel, outputs, name)
        }
    }

    /// Every photo, with the smallest face facenet-pytorch looks for by default (20 pixels): the same faces, boxes within
    /// half a pixel, probabilities within 1e-3.
    func testTheCascadeFindsWhatFacenetPytorchsFindsOnRealPhotos() throws {
        let weights = try Self.weights(), detector = try MTCNN(weights: weights), folder = try TemporaryFolder()
        let photos = try Shared.files(in: "data/faces", withExtensions: ["jpg", "png"])
        XCTAssertEqual(photos.count, 10)
        var total = 0
        for photo in photos {
            let image = try DlibImageFile.load(photo), raw = folder.file("image.rgb")
            try Data(image.pixels).write(to: URL(fileURLWithPath: raw))
            let expected = try oracle(["detect", weights.path, raw, "\(image.height)", "\(image.width)", "20"])
                .split(separator: "\n").map { $0.split(separator: " ").compactMap { Double($0) } }
            let found = try detector.detect(image, minimumFace: 20)
            let name = (photo as NSString).lastPathComponent
            XCTAssertEqual(found.count, expected.count, "\(name): \(found.map(\.box)) against \(expected)")
            for (face, reference) in zip(found, expected) {
                for (ours, theirs) in zip(face.box, reference.prefix(4)) { XCTAssertEqual(ours, theirs, accuracy: 0.5, "\(name): \(face.box) against \(reference)") }
                XCTAssertEqual(face.score, reference[4], accuracy: 1e-3, name)
            }
            total += found.count
        }
        XCTAssertGreaterThanOrEqual(total, 10)
    }

    /// dlib's landmark model reads a CNN face as it reads HOG's: on every photo where HOG finds one face whole in the
    /// frame, MTCNN's box, placed where HOG would put it, overlaps HOG's by at least 0.6, and the 68 landmarks fitted in it
    /// lie within 4 % of the face's size of those fitted in HOG's box, on average. (obama_partial_face.jpg, half the face
    /// past the left edge, is left out: there MTCNN's box reaches further past the edge than HOG's, overlap 0.53.)
    func testACNNFaceAlignsAsHOGsDoes() throws {
        let weights = try Self.weights(), predictor = try LandmarkPredictor()
        let hog = try FaceDetector(), cnn = try FaceDetector(.cnn, cnnWeights: weights)
        var compared = 0
        for photo in try Shared.files(in: "data/faces", withExtensions: ["jpg", "png"]) {
            let image = try FaceImage(try DlibImageFile.load(photo)), name = (photo as NSString).lastPathComponent
            let found = (hog: try hog.detect(image, maxSide: 0), cnn: try cnn.detect(image, maxSide: 0))
            guard found.hog.count == 1, let reference = found.hog.first, reference.left >= 0, reference.top >= 0, reference.right < image.width,
                  reference.bottom < image.height else { continue }
            guard let face = found.cnn.max(by: { ClipFaces.overlap($0, reference) < ClipFaces.overlap($1, reference) }) else { return XCTFail("\(name): MTCNN finds no face") }
            XCTAssertEqual(face.detectorIndex, FaceBox.cnn)
            XCTAssertGreaterThan(ClipFaces.overlap(face, reference), 0.6, "\(name): \(face) against HOG's \(reference)")
            let (ours, theirs) = (try predictor.landmarks(in: image, box: face), try predictor.landmarks(in: image, box: reference))
            let distance = zip(ours, theirs).reduce(0.0) { sum, pair in
                let (dx, dy) = (Double(pair.0[0] - pair.1[0]), Double(pair.0[1] - pair.1[1]))
                return sum + (dx * dx + dy * dy).squareRoot()
            } / Double(ours.count)
            XCTAssertLessThan(distance / Double(reference.width), 0.04, "\(name): landmarks \(distance) pixels apart on average")
            compared += 1
        }
        XCTAssertGreaterThanOrEqual(compared, 7)
    }

    /// `hog+cnn` searches with MTCNN only where HOG finds nothing: obama_small.jpg searched at 120 pixels shows its face at
    /// about 40 pixels, below HOG's 80-pixel window, and MTCNN (down to 40) finds it; where HOG finds the face, the boxes
    /// are HOG's.
    func testHOGPlusCNNFindsTheSmallFaceHOGMisses() throws {
        let weights = try Self.weights(), image = try FaceImage(try DlibImageFile.load(try Shared.path("data/faces/obama_small.jpg")))
        let hog = try FaceDetector(), both = try FaceDetector(.hogCNN, cnnWeights: weights)
        XCTAssertEqual(try hog.detect(image, maxSide: 120), [])
        let found = try both.detect(image, maxSide: 120)
        XCTAssertEqual(found.count, 1)
        XCTAssertEqual(found.first?.detectorIndex, FaceBox.cnn)
        let full = try hog.detect(image, maxSide: 0)
        XCTAssertEqual(full.count, 1)
        if let face = found.first, let reference = full.first { XCTAssertGreaterThan(ClipFaces.overlap(face, reference), 0.6) }
        XCTAssertEqual(try both.detect(image, maxSide: 0), full)
    }
}

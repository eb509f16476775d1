import Crypto
import Faces
import Foundation
import Media
import TestSupport
import XCTest

/// Detection, landmarks and chips against dlib's own results on real photos (`../shared/reference/faces`),
/// held to the README's tolerances: boxes and landmarks exact with the same decoded pixels, chips within one level.
final class FaceFixtureTests: XCTestCase {
    struct Fixture: Decodable {
        struct Image: Decodable {
            var file: String
            var width: Int
            var height: Int
            var decoded_rgb_sha256: String
            var detections: [Detection]
        }
        struct Detection: Decodable {
            var box: [Int]
            var score: Double
            var detector_index: Int
            var landmarks: [[Int]]
            var chip: Chip
        }
        struct Chip: Decodable {
            var file: String
            var angle: Double
            var rect: [Double]
        }
        var images: [Image]
    }

    static let predictor = Result { try LandmarkPredictor() }

    func testDetectionsLandmarksAndChipsMatchDlib() throws {
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: URL(fileURLWithPath: try Shared.path("reference/faces/faces.json"))))
        XCTAssertEqual(fixture.images.count, 10)
        let detector = try FaceDetector()
        let predictor = try Self.predictor.get()
        XCTAssertEqual(predictor.parts, 68)
        for expected in fixture.images {
            let image = try DlibImageFile.load(try Shared.path("data/faces/" + expected.file))
            XCTAssertEqual([image.width, image.height], [expected.width, expected.height], expected.file)
            let digest = SHA256.hash(data: image.pixels).map { String(format: "%02x", $0) }.joined()
            guard digest == expected.decoded_rgb_sha256 else {
                XCTFail("\(expected.file): dlib decoded different pixels here than for the fixture; boxes are only comparable on the same pixels")
                continue
            }
            let found = try detector.detect(image, upsample: 1, threshold: 0)
            XCTAssertEqual(found.map { [$0.left, $0.top, $0.right, $0.bottom] }, expected.detections.map(\.box), expected.file)
            for (face, reference) in zip(found, expected.detections) {
                XCTAssertEqual(face.score, reference.score, accuracy: 1e-6, expected.file)
                XCTAssertEqual(face.detectorIndex, reference.detector_index, expected.file)
                let landmarks = try predictor.landmarks(in: image, box: face)
                XCTAssertEqual(landmarks, reference.landmarks, expected.file)
                let chip = try FaceChip.extract(from: image, box: face, landmarks: landmarks, size: 224, padding: 0.25)
                let referenceChip = try DlibImageFile.load(try Shared.path("reference/faces/" + reference.chip.file))
                XCTAssertEqual(chip.angle, reference.chip.angle, accuracy: 1e-9, reference.chip.file)
                for (ours, theirs) in zip(chip.rect, reference.chip.rect) { XCTAssertEqual(ours, theirs, accuracy: 1e-6, reference.chip.file) }
                let worst = zip(chip.image.pixels, referenceChip.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
                XCTAssertLessThanOrEqual(worst, 1, "\(reference.chip.file): chips agree within one grey level")
            }
        }
    }

    func testAPhotoWithoutAFaceGivesNoBox() throws {
        var image = RGBImage(width: 320, height: 240)
        for index in image.pixels.indices { image.pixels[index] = UInt8((index / 3 % 320) * 255 / 320) }
        XCTAssertEqual(try FaceDetector().detect(image, upsample: 1), [])
    }
}

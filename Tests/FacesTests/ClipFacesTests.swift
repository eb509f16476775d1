import Faces
import Foundation
import Media
import TestSupport
import XCTest

/// The face stage's choices: one face per clip where several are seen, nothing where none is, and the
/// `emotion faces` command that shows them.
final class ClipFacesTests: XCTestCase {
    func testTheLargerMoreCentralFaceIsChosenAndNoFaceIsNoChip() throws {
        let detector = try FaceDetector(), predictor = try LandmarkPredictor()
        let photo = try DlibImageFile.load(try Shared.path("data/faces/two_people.jpg"))
        let result = try ClipFaces.extract(frames: [(0, photo), (0.5, photo)], detector: detector, predictor: predictor)
        XCTAssertEqual(result.record.status, .ok)
        XCTAssertEqual(result.record.tracks, 2, "the same two faces in both frames make two tracks")
        let faces = result.record.frames[0].faces
        XCTAssertEqual(faces.count, 2)
        let largest = faces.max { $0.width * $0.height < $1.width * $1.height }!
        XCTAssertEqual(result.record.frames[0].chosen, largest)
        XCTAssertEqual(result.chips.count, 2)
        XCTAssertEqual(result.chips[0].width, 224)
        XCTAssertEqual(result.record.frames[1].landmarks?.count, 68)

        var blank = RGBImage(width: 640, height: 360)
        for index in blank.pixels.indices { blank.pixels[index] = UInt8(index / 3 % 640 / 3) }
        let none = try ClipFaces.extract(frames: [(0, blank)], detector: detector, predictor: predictor)
        XCTAssertEqual(none.record.status, .noFace)
        XCTAssertEqual(none.chips.count, 0)
    }

    /// Searching the frames on several threads finds what one thread finds, frame for frame.
    func testParallelSearchMatchesSequential() throws {
        let predictor = try LandmarkPredictor()
        let frames: [(time: Double, image: RGBImage)] = try ["two_people.jpg", "obama.jpg", "biden2.jpg", "astronaut.png", "obama_small.jpg"]
            .enumerated().map { (Double($0.offset), try DlibImageFile.load(try Shared.path("data/faces/\($0.element)"))) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // One size per clip: each photo alone, three times, so that frames land on different threads.
        for frame in frames {
            let clip = [frame, frame, frame]
            let one = try ClipFaces.extract(frames: clip, detector: try FaceDetector(), predictor: predictor)
            let two = try ClipFaces.extract(frames: clip, detectors: [try FaceDetector(), try FaceDetector()], predictor: predictor)
            XCTAssertEqual(try encoder.encode(one.record), try encoder.encode(two.record))
            XCTAssertEqual(one.record.status, .ok)
            XCTAssertEqual(one.chips.map(\.pixels), two.chips.map(\.pixels))
        }
    }

    func testDownscaledDetectionFindsTheFullResolutionFace() throws {
        let photo = try DlibImageFile.load(try Shared.path("data/faces/obama.jpg"))  // 910x1137
        let full = try FaceDetector().detect(photo)
        let small = try FaceDetector().detect(photo, maxSide: 640)
        XCTAssertEqual(full.count, 1)
        XCTAssertEqual(small.count, 1)
        XCTAssertGreaterThan(ClipFacesTests.overlap(full[0], small[0]), 0.7, "boxes scaled back to full resolution land on the same face")
    }

    func testFacesCommandWritesChipsOverviewAndRecord() throws {
        let emotion = productsDirectory() + "/emotion"
        guard FileManager.default.isExecutableFile(atPath: emotion) else { throw XCTSkip("emotion is not built beside the tests") }
        let folder = try TemporaryFolder()
        let result = try shell(emotion, ["faces", try Shared.path("data/faces/two_people.jpg"), "--out", folder.file("two")])
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: folder.file("two"))), ["face_0.png", "overview_0.png", "faces.json"])
        XCTAssertEqual(try DlibImageFile.load(folder.file("two/face_0.png")).width, 224)

        var blank = RGBImage(width: 320, height: 240)
        for index in blank.pixels.indices { blank.pixels[index] = 90 }
        try PNGFile.write(blank, to: folder.file("blank.png"))
        XCTAssertEqual(try shell(emotion, ["faces", folder.file("blank.png"), "--out", folder.file("none")]).status, 0)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.file("none")), ["faces.json"], "no face: no chip, no overview")
    }

    static func overlap(_ a: FaceBox, _ b: FaceBox) -> Double {
        let w = min(a.right, b.right) - max(a.left, b.left) + 1, h = min(a.bottom, b.bottom) - max(a.top, b.top) + 1
        guard w > 0, h > 0 else { return 0 }
        return Double(w * h) / Double(a.width * a.height + b.width * b.height - w * h)
    }
}

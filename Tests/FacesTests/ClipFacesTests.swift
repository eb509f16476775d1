@testable import Faces
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

    /// `photo` pasted at (`x`, `y`) on a flat grey frame of 640x480.
    static func placed(_ photo: RGBImage, x: Int, y: Int) -> RGBImage {
        var frame = RGBImage(width: 640, height: 480, pixels: [UInt8](repeating: 100, count: 640 * 480 * 3))
        for row in 0..<min(photo.height, 480 - y) {
            let width = min(photo.width, 640 - x) * 3
            frame.pixels.replaceSubrange(((y + row) * 640 + x) * 3..<((y + row) * 640 + x) * 3 + width,
                                         with: photo.pixels[row * photo.width * 3..<row * photo.width * 3 + width])
        }
        return frame
    }

    /// A clip whose face moves and is missing from some frames: a frame without a detection borrows the box of
    /// the nearest frame with one, the earlier of two as near, whichever order the track's frames are stored
    /// in; and one detector or several give the same record, byte for byte.
    func testFramesWithoutAFaceBorrowTheNearestEarlierBox() throws {
        let predictor = try LandmarkPredictor()
        let face = try DlibImageFile.load(try Shared.path("data/faces/obama_small.jpg"))
        let blank = RGBImage(width: 640, height: 480, pixels: [UInt8](repeating: 100, count: 640 * 480 * 3))
        let clip: [(time: Double, image: RGBImage)] = [
            (0, Self.placed(face, x: 200, y: 100)), (1, blank), (2, Self.placed(face, x: 216, y: 108)),
            (3, blank), (4, blank), (5, Self.placed(face, x: 232, y: 116)), (6, blank),
        ]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let one = try ClipFaces.extract(frames: clip, detector: try FaceDetector(), predictor: predictor)
        let record = one.record
        XCTAssertEqual(record.tracks, 1, "one face, moving a little")
        XCTAssertEqual(record.frames.map(\.chosenDetected), [true, false, true, false, false, true, false])
        let detected = [0, 2, 5].map { record.frames[$0].chosen }
        XCTAssertEqual(Set(detected.compactMap { $0?.left }).count, 3, "the face moved: three different boxes")
        XCTAssertEqual(record.frames[1].chosen, detected[0], "frame 1 is as near to 0 as to 2: the earlier wins")
        XCTAssertEqual(record.frames[3].chosen, detected[1], "frame 3 is nearest to 2")
        XCTAssertEqual(record.frames[4].chosen, detected[2], "frame 4 is nearest to 5")
        XCTAssertEqual(record.frames[6].chosen, detected[2])
        for lanes in [2, 3] {
            let several = try ClipFaces.extract(frames: clip, detectors: try (0..<lanes).map { _ in try FaceDetector() }, predictor: predictor)
            XCTAssertEqual(try encoder.encode(several.record), try encoder.encode(record), "\(lanes) detectors")
            XCTAssertEqual(several.chips.map(\.pixels), one.chips.map(\.pixels), "\(lanes) detectors")
        }
        // Whatever order a track's dictionary keeps its frames in (it varies with capacity, and with the seed
        // Swift draws in every process), the earlier of two frames as near wins.
        let (early, late) = (try XCTUnwrap(detected[0]), try XCTUnwrap(detected[1]))
        for capacity in 1...64 {
            var track = [Int: FaceBox](minimumCapacity: capacity)
            for (frame, box) in [(6, late), (2, late), (0, early), (4, late)] { track[frame] = box }
            XCTAssertEqual(ClipFaces.nearestBox(in: track, to: 1), early, "capacity \(capacity)")
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

        // A clip, twice, in fresh processes: the same record byte for byte, with a face in every frame.
        let frames = (0..<12).map { Self.placed(try! DlibImageFile.load(try! Shared.path("data/faces/obama_small.jpg")), x: 160 + 8 * $0, y: 100) }
        let writer = try MP4Writer(path: folder.file("moving.mp4"), settings: .init(width: 640, height: 480, frameRate: 12, sampleRate: 16_000))
        for frame in frames { try writer.append(frame: frame) }
        try writer.append(samples: [Float](repeating: 0, count: 16_000))
        try writer.finish()
        var records: [Data] = []
        for run in ["a", "b"] {
            let result = try shell(emotion, ["faces", folder.file("moving.mp4"), "--frames", "6", "--out", folder.file(run)])
            XCTAssertEqual(result.status, 0, result.err)
            records.append(try Data(contentsOf: URL(fileURLWithPath: folder.file(run + "/faces.json"))))
        }
        XCTAssertEqual(records[0], records[1], "two runs, one faces.json")
        let record = try JSONDecoder().decode(ClipFaceRecord.self, from: records[0])
        XCTAssertEqual(record.status, .ok)
        XCTAssertEqual(record.frames.count, 6)
        XCTAssertTrue(record.frames.allSatisfy { $0.chosen != nil && $0.landmarks?.count == 68 })
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: folder.file("a")).filter { $0.hasPrefix("face_") }).count, 6)
    }

    static func overlap(_ a: FaceBox, _ b: FaceBox) -> Double {
        let w = min(a.right, b.right) - max(a.left, b.left) + 1, h = min(a.bottom, b.bottom) - max(a.top, b.top) + 1
        guard w > 0, h > 0 else { return 0 }
        return Double(w * h) / Double(a.width * a.height + b.width * b.height - w * h)
    }
}

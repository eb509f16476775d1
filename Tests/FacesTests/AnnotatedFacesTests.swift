import Faces
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Media
import TestSupport
import XCTest

/// Real faces the project can always test on: the photographs Debian's libdlib19.1 ships with hand-marked
/// boxes and landmarks, and (when `../shared` is there) the CREMA-D talking-face clips.
final class AnnotatedFacesTests: XCTestCase {
    static let examples = "/usr/share/doc/libdlib19.1/examples/faces"

    /// `<image file=...><box top left width height><part name x y/>...` from dlib's imglab XML.
    final class Annotations: NSObject, XMLParserDelegate {
        struct Face { var box: FaceBox; var parts: [[Int]] = [] }
        var images: [(file: String, faces: [Face])] = []

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            switch name {
            case "image": images.append((attributes["file"] ?? "", []))
            case "box":
                let top = Int(attributes["top"]!)!, left = Int(attributes["left"]!)!, width = Int(attributes["width"]!)!, height = Int(attributes["height"]!)!
                images[images.count - 1].faces.append(Face(box: FaceBox(left: left, top: top, right: left + width - 1, bottom: top + height - 1, score: 0, detectorIndex: 0)))
            case "part":
                let last = images.count - 1
                images[last].faces[images[last].faces.count - 1].parts.append([Int(attributes["x"]!)!, Int(attributes["y"]!)!])
            default: break
            }
        }
    }

    func testRecallAndLandmarkErrorOnDlibsAnnotatedPhotos() throws {
        let xml = Self.examples + "/testing_with_face_landmarks.xml"
        guard let parser = XMLParser(contentsOf: URL(fileURLWithPath: xml)) else { throw XCTSkip("\(xml) is not installed (scripts/setup.sh installs libdlib-dev)") }
        let annotations = Annotations()
        parser.delegate = annotations
        XCTAssertTrue(parser.parse())
        XCTAssertEqual(annotations.images.count, 5)
        let detector = try FaceDetector(), predictor = try LandmarkPredictor()
        var marked = 0, found = 0, errors: [Double] = []
        for (file, faces) in annotations.images {
            let image = try DlibImageFile.load(Self.examples + "/" + file)
            let detected = try detector.detect(image, upsample: 1)
            for face in faces {
                marked += 1
                if detected.contains(where: { ClipFacesTests.overlap($0, face.box) >= 0.5 }) { found += 1 }
                let predicted = try predictor.landmarks(in: image, box: face.box)
                let eyes = hypot(Double(face.parts[36][0] - face.parts[45][0]), Double(face.parts[36][1] - face.parts[45][1]))
                let error = zip(predicted, face.parts).map { hypot(Double($0[0] - $1[0]), Double($0[1] - $1[1])) }.reduce(0, +) / 68
                errors.append(error / eyes)
            }
        }
        print("dlib examples: \(found) of \(marked) marked faces detected; landmark error \(errors.reduce(0, +) / Double(errors.count)) of the eye distance")
        XCTAssertGreaterThanOrEqual(Double(found) / Double(marked), 0.8)
        XCTAssertLessThan(errors.reduce(0, +) / Double(errors.count), 0.01, "the file says its marks come from this model")
    }

    func testEveryTalkingFaceClipShowsAFaceInMostFrames() throws {
        var clips = try Shared.files(in: "data/clips", withExtensions: ["flv"])
        clips += try Shared.files(in: "data/clips/derived_mp4", withExtensions: ["mp4"])
        let detector = try FaceDetector(), predictor = try LandmarkPredictor()
        for clip in clips {
            let result = try ClipFaces.extract(frames: try MediaReader(path: clip).frames(count: 8), detector: detector, predictor: predictor)
            let withFace = result.record.frames.filter { !$0.faces.isEmpty }.count
            XCTAssertGreaterThanOrEqual(withFace, 6, "\(clip): a face in \(withFace) of 8 frames")
            XCTAssertEqual(result.chips.count, 8, clip)
        }
    }

    /// A real talking face's lips follow its voice: on CREMA-D's clips (one actor, so the stage has nothing to choose
    /// and does not analyse them) the analysis finds one track whose score is clear.
    func testATalkingFacesLipsFollowItsVoice() throws {
        let clips = try Shared.files(in: "data/clips", withExtensions: ["flv"])
        let detector = try FaceDetector(), predictor = try LandmarkPredictor()
        var scores: [String] = []
        for clip in clips {
            let input = try ClipFaces.analysisInput(ClipSource(file: clip), settings: FaceSettings())
            let choice = try ActiveSpeaker.analyse(frames: input.frames, audio: input.audio, sampleRate: input.sampleRate, detectors: [detector],
                                                   predictor: predictor, maxSide: 640, detectEvery: FaceSettings().analysisDetectEvery).choice
            scores.append(choice.tracks.map { String(format: "%.2f", $0.score ?? .nan) }.joined(separator: "/"))
            XCTAssertEqual(choice.tracks.filter { $0.frames >= ActiveSpeaker.minimumFrames }.count, 1, "\(clip): one face (\(choice.reason))")
            XCTAssertEqual(choice.rule, .active, "\(clip): \(choice.reason)")
            XCTAssertEqual(choice.cuts, [], clip)
        }
        print("CREMA-D talking faces, lips against voice: \(scores.joined(separator: ", "))")
    }
}

/// The analysis with the detector on every sixth frame, the landmarks following the face between (`FaceTracks`), held
/// to the detector run on every frame, on real talking faces (CREMA-D's, which move a little as they speak).
final class FollowedFaceTests: XCTestCase {
    func testTheFollowedBoxStaysOnTheFaceTheDetectorFindsEveryFrame() throws {
        let clips = try Shared.files(in: "data/clips", withExtensions: ["flv"])
        XCTAssertEqual(clips.count, 6)
        let detector = try FaceDetector(), predictor = try LandmarkPredictor()
        var (followed, worst) = (0, 1.0), scores: [String] = []
        for clip in clips {
            let input = try ClipFaces.analysisInput(ClipSource(file: clip), settings: FaceSettings())
            let analyses = try [1, 6].map { detectEvery in
                try ActiveSpeaker.analyse(frames: input.frames, audio: input.audio, sampleRate: input.sampleRate, detectors: [detector],
                                          predictor: predictor, maxSide: 640, detectEvery: detectEvery)
            }
            let (every, sparse) = (analyses[0], analyses[1])
            let face = try XCTUnwrap(every.tracks.max { $0.boxes.count < $1.boxes.count }, clip)
            let track = try XCTUnwrap(sparse.tracks.max { $0.boxes.count < $1.boxes.count }, clip)
            XCTAssertLessThanOrEqual(track.detected.count * 4, track.boxes.count, "\(clip): the detector ran on a fraction of the frames")
            XCTAssertGreaterThanOrEqual(track.boxes.count, face.boxes.count - 6, "\(clip): followed over the frames the face is in")
            for (frame, box) in track.boxes where !track.detected.contains(frame) {
                guard let detected = face.boxes[frame], face.detected.contains(frame) else { continue }
                followed += 1
                worst = min(worst, ClipFaces.overlap(box, detected))
            }
            XCTAssertEqual(sparse.choice.rule, .active, "\(clip): \(sparse.choice.reason)")
            scores.append(sparse.choice.tracks.map { String(format: "%.2f", $0.score ?? .nan) }.joined(separator: "/"))
        }
        print("followed frames: \(followed), least overlap with the detector's box there \(String(format: "%.2f", worst)); scores \(scores.joined(separator: ", "))")
        XCTAssertGreaterThan(followed, 100)
        XCTAssertGreaterThan(worst, 0.5, "the followed box stays on the face")
    }
}

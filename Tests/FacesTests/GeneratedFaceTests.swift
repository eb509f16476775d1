import Faces
import Foundation
import Media
import Meld
import Synthesis
import TestSupport
import XCTest

/// The generated dataset's drawn faces are faces to dlib: its HOG detector finds one in most sampled frames,
/// for every identity and expression, at the generator's default 640x360.
final class GeneratedFaceTests: XCTestCase {
    func testDlibFindsAFaceInMostGeneratedFrames() throws {
        let folder = try TemporaryFolder()
        var params = SynthesisParams()
        params.seed = 11
        params.dialogues = [.train: 3, .dev: 1, .test: 1]
        params.utterancesPerDialogue = 3
        params.labelWeights = [1, 1, 1, 1, 1, 1, 1]
        params.plantFaults = false
        try DatasetSynthesizer.write(params, to: folder.path, threads: 2)
        let detector = try FaceDetector()
        var frames = 0, withFace = 0, withTwo = 0
        for clip in DatasetSynthesizer.plan(params) {
            let reader = try MediaReader(path: folder.file(clip.split.clipFolder + "/" + clip.clipName))
            for (_, image) in try reader.frames(count: 6) {
                let faces = try detector.detect(image)
                frames += 1
                if !faces.isEmpty { withFace += 1 }
                if faces.count > 1 { withTwo += 1 }
            }
        }
        print("dlib found a face in \(withFace) of \(frames) generated frames")
        XCTAssertEqual(frames, 90)
        XCTAssertGreaterThanOrEqual(Double(withFace) / Double(frames), 0.9, "\(withFace) of \(frames) frames")
        XCTAssertEqual(withTwo, 0, "one drawn face, one detection")
    }
}

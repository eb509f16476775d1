import Foundation
import TestSupport
import XCTest

/// What `emotion watch` records, against what the generated clips are known to show: clips played back to back under a
/// model that learnt their faces (those it labels right through the stages), each prediction whose window lies inside
/// one clip compared with that clip's label. A window read at the wrong time, or a face chip made otherwise than the
/// faces stage makes it, shows here as lower agreement (76 % before a missed face was carried over, chance 1 in 7);
/// the same predictions against the next clip's label are the control.
final class WatchLabelTests: XCTestCase {
    func testWindowsInsideAClipAgreeWithItsLabelAsTheEvaluationDoes() throws {
        let learnt = try TinyTrainedModel.learnt()
        // Clips the evaluate stage labels right: what is checked is that watch, reading them as one stream, finds what the
        // stages' path finds, not how well the model learnt.
        let all = try learnt.evaluated()
        let evaluated = Array(all.filter { $0["predicted"] as? String == $0["truth"] as? String }.prefix(15))
        let labels = evaluated.map { $0["truth"] as! String }
        XCTAssertGreaterThanOrEqual(evaluated.count, 10, "the model learnt the generated faces (evaluate stage: \(evaluated.count) of \(all.count) training clips right)")
        XCTAssertGreaterThanOrEqual(Set(labels).count, 4, "\(labels)")
        let long = learnt.folder.file("clips.mp4")
        let starts = try learnt.playlist(evaluated.map { learnt.file($0["clip"] as! String) }, to: long)

        let session = learnt.folder.file("labels.json")
        let run = try shell(learnt.emotion, ["watch", "--model", learnt.model, "--input", long, "--session", session, "--rate", "4"])
        XCTAssertEqual(run.status, 0, run.err)
        let record = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: session))) as! [String: Any]
        let detections = record["detailed_results"] as! [[String: Any]]

        // The window is the model's 100 mel frames: 1 s. A margin keeps out windows that touch a neighbour's frames.
        let (window, margin) = (1.0, 0.15)
        var inside: [(emotion: String, mode: String, clip: Int)] = []
        for detection in detections {
            let end = detection["timestamp"] as! Double
            guard let clip = starts.indices.dropLast().first(where: { starts[$0] + margin <= end - window && end <= starts[$0 + 1] - margin }) else { continue }
            inside.append((detection["emotion"] as! String, detection["mode"] as! String, clip))
        }
        XCTAssertGreaterThan(inside.count, 4 * labels.count, "several windows inside each clip at 4 predictions a second")
        func agreement(_ label: (Int) -> String?) -> Double {
            let compared = inside.compactMap { window in label(window.clip).map { $0 == window.emotion } }
            return Double(compared.filter { $0 }.count) / Double(compared.count)
        }
        let own = agreement { labels[$0] }, next = agreement { $0 + 1 < labels.count ? labels[$0 + 1] : nil }
        XCTAssertGreaterThan(inside.filter { $0.mode == "face_and_voice" }.count, inside.count * 9 / 10, "a face and a voice in nearly every window")
        XCTAssertGreaterThan(own, 0.8, "windows inside a clip agree with its label, which the evaluate stage found in each")
        XCTAssertLessThan(next, own - 0.4, "against the next clip's label the same predictions agree about by chance")
        print("watch against the labels: \(inside.count) windows inside \(labels.count) clips, agreement \(own) (next clip's label \(next))")
    }
}

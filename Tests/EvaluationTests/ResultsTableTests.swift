import Evaluation
import Labels
import TestSupport
import Metrics
import XCTest

/// The results table's own arithmetic: the perception ceilings on a hand-worked truth table, and the paired bootstrap
/// of a difference between two models on the same clips.
final class ResultsTableTests: XCTestCase {
    func testCeilingsOnAHandWorkedTruthTable() throws {
        // Six clips. The face shows joy on two joy clips and on one anger clip; the voice carries each label but once
        // says neutral on an anger clip. Face alone: joy for "joy" (2 of 3 are joy), anger for the anger face, neutral for
        // the neutral face. Both: every pair but (joy, anger) is unambiguous, and that pair is the anger clip.
        let truth = """
            split,dialogue,utterance,label,face_shows,voice_carries,face_carries_label,voice_carries_label
            test,0,0,joy,joy,joy,true,true
            test,0,1,joy,joy,joy,true,true
            test,0,2,anger,joy,anger,false,true
            test,0,3,anger,anger,neutral,true,false
            test,0,4,neutral,neutral,neutral,true,true
            train,1,0,neutral,neutral,neutral,true,true
            """
        let ceilings = try PerceptionCeiling.figures(truthCSV: truth, split: "test", classes: referenceClasses)
        XCTAssertEqual(ceilings.map(\.channels), ["face", "voice", "both"])
        XCTAssertEqual(ceilings.map(\.clips), [5, 5, 5])
        XCTAssertEqual(ceilings[0].accuracy, 4.0 / 5, accuracy: 1e-12, "face: the anger clip whose face shows joy is lost")
        XCTAssertEqual(ceilings[1].accuracy, 4.0 / 5, accuracy: 1e-12, "voice: the anger clip whose voice is neutral is lost")
        XCTAssertEqual(ceilings[2].accuracy, 1, accuracy: 1e-12, "both channels together tell every clip")
        XCTAssertThrowsError(try PerceptionCeiling.figures(truthCSV: "split,label\ntest,joy\n", split: "test", classes: referenceClasses)) { error in
            XCTAssertTrue("\(error)".contains("no 'face_shows' column"), "\(error)")
        }
        XCTAssertThrowsError(try PerceptionCeiling.figures(truthCSV: truth + "\ntest,0,9,joy,happy,joy,true,true\n", split: "test", classes: referenceClasses)) { error in
            XCTAssertTrue("\(error)".contains("truth.csv:8:"), "\(error)")
        }
    }

    func testPairedDifferenceIntervals() {
        let truth = (0..<200).map { $0 % 7 }
        let right = truth, wrong = truth.map { ($0 + 1) % 7 }
        let better = BootstrapInterval(truth: truth, first: right, second: wrong, classes: 7, samples: 300, seed: 3) { $0.accuracy }
        XCTAssertEqual(better.low, 1, accuracy: 1e-12)
        let same = BootstrapInterval(truth: truth, first: right, second: right, classes: 7, samples: 300, seed: 3) { $0.weightedF1 }
        XCTAssertEqual(same.low, 0)
        XCTAssertEqual(same.high, 0)
        // Half right against a quarter right: the difference's interval holds the true 0.25 and lies above zero.
        let half = truth.indices.map { $0 % 2 == 0 ? truth[$0] : wrong[$0] }, quarter = truth.indices.map { $0 % 4 == 0 ? truth[$0] : wrong[$0] }
        let gap = BootstrapInterval(truth: truth, first: half, second: quarter, classes: 7, samples: 500, seed: 3) { $0.accuracy }
        XCTAssertTrue(gap.low > 0 && gap.low < 0.25 && gap.high > 0.25, "\(gap)")
    }

    /// Two seeds of a face model and a fusion: each model's mean and sample deviation over its runs, its pooled figures, and
    /// the fusion paired with the face model run by run (never seed 1 against seed 2).
    func testRunsOfAModelGiveMeanDeviationAndRunByRunComparisons() throws {
        let classes = try LabelSet(["a", "b"])
        let truth = ["a", "a", "b", "b"]
        func evaluated(_ model: String, _ stage: String, _ predicted: [String]) throws -> ResultsTable.Evaluated {
            let predictions = truth.indices.map { Prediction(split: "test", clip: "c\($0)", truth: truth[$0], predicted: predicted[$0], probabilities: [0.5, 0.5], faceFound: true) }
            return ResultsTable.Evaluated(model: model, stage: stage, figures: try SplitFigures(split: "test", predictions: predictions, classes: classes, majority: 0,
                                                                                           bootstrapSamples: 20, seed: 1), predictions: predictions)
        }
        // Accuracies: visual 1.0 and 0.5; concat 0.75 and 0.75.
        let table = try ResultsTable(split: "test", classes: classes, evaluated: [
            try evaluated("visual", "evaluate@visual-1", ["a", "a", "b", "b"]), try evaluated("visual", "evaluate@visual-2", ["a", "b", "a", "b"]),
            try evaluated("concat", "evaluate_fused@concat-1", ["a", "a", "b", "a"]), try evaluated("concat", "evaluate_fused@concat-2", ["a", "a", "a", "b"]),
        ], ceiling: [], bootstrapSamples: 20, seed: 1)
        XCTAssertEqual(table.models.map(\.model), ["visual (run 1)", "visual (run 2)", "concat (run 1)", "concat (run 2)"])
        XCTAssertEqual(table.comparisons.map { "\($0.model) / \($0.against)" }, ["concat (run 1) / visual (run 1)", "concat (run 2) / visual (run 2)"])
        let visual = try XCTUnwrap(table.aggregates?.first { $0.model == "visual" })
        XCTAssertEqual(visual.runs, ["1", "2"])
        XCTAssertEqual(visual.accuracy.mean, 0.75, accuracy: 1e-12)
        XCTAssertEqual(visual.accuracy.deviation, (0.125 as Double).squareRoot(), accuracy: 1e-12, "sample deviation of 1.0 and 0.5")
        XCTAssertEqual(visual.pooledAccuracy, 0.75, accuracy: 1e-12)
        XCTAssertEqual(visual.pooledClips, 8)
        let concat = try XCTUnwrap(table.runComparisons?.first { $0.model == "concat" && $0.against == "visual" })
        XCTAssertEqual(concat.runs, 2)
        XCTAssertEqual(concat.higherIn, 1, "run 2's fusion beats run 2's face model, run 1's does not")
        let f1 = table.models.map(\.weightedF1)
        XCTAssertEqual(concat.weightedF1Difference.mean, ((f1[2] - f1[0]) + (f1[3] - f1[1])) / 2, accuracy: 1e-12)
        XCTAssertTrue(table.markdown().contains("## Each model over its runs (seeds or folds)"))
        XCTAssertEqual(ResultsTable.run(ofStage: "evaluate_frozen_fused@cross_attention-3"), "3")
        XCTAssertEqual(ResultsTable.run(ofStage: "evaluate"), "")
        XCTAssertEqual(ResultsTable.run(ofStage: "evaluate_fused@cross_attention-4-1"), "4-1", "a fold and a seed")

        // Each model once: no aggregate at all, so a one-seed pipeline's results.json is what it was.
        let once = try ResultsTable(split: "test", classes: classes, evaluated: [try evaluated("visual", "evaluate@visual-1", truth)], ceiling: [],
                                    bootstrapSamples: 20, seed: 1)
        XCTAssertNil(once.aggregates)
        XCTAssertEqual(once.models.map(\.model), ["visual"])
    }
}

import Foundation
import Metrics
import TestSupport
import XCTest

/// The figures against a case worked by hand, and against scikit-learn's on random labels where it is importable.
final class ClassificationMetricsTests: XCTestCase {
    func testAHandWorkedCase() {
        // confusion rows (truth) 0: [2, 1, 0], 1: [0, 1, 1], 2: [0, 0, 1]; class 3 never occurs.
        let metrics = ClassificationMetrics(truth: [0, 0, 0, 1, 1, 2], predicted: [0, 0, 1, 1, 2, 2], classes: 4)
        XCTAssertEqual(metrics.confusion, [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]])
        XCTAssertEqual(metrics.accuracy, 4.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(metrics.perClass.map(\.precision), [1, 0.5, 0.5, 0])
        XCTAssertEqual(metrics.perClass.map(\.recall)[0], 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(metrics.perClass.map(\.support), [3, 2, 1, 0])
        XCTAssertEqual(metrics.perClass[0].f1, 0.8, accuracy: 1e-12)
        XCTAssertEqual(metrics.perClass[2].f1, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(metrics.macroF1, (0.8 + 0.5 + 2.0 / 3) / 3, accuracy: 1e-12, "the absent class is not averaged")
        XCTAssertEqual(metrics.weightedF1, (0.8 * 3 + 0.5 * 2 + 2.0 / 3) / 6, accuracy: 1e-12)
        XCTAssertEqual(metrics.normalizedConfusion[0], [2.0 / 3, 1.0 / 3, 0, 0])
        XCTAssertEqual(metrics.normalizedConfusion[3], [0, 0, 0, 0])
    }

    func testBootstrapIntervalsAreSeededAndHoldTheFigure() {
        var state: UInt64 = 3
        func next() -> Int { state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407; return Int(state >> 33) % 7 }
        let truth = (0..<300).map { _ in next() }
        let predicted = truth.map { label in next() < 4 ? label : next() }
        let metrics = ClassificationMetrics(truth: truth, predicted: predicted, classes: 7)
        let interval = BootstrapInterval(truth: truth, predicted: predicted, classes: 7, samples: 500, seed: 1) { $0.accuracy }
        XCTAssertEqual(interval, BootstrapInterval(truth: truth, predicted: predicted, classes: 7, samples: 500, seed: 1) { $0.accuracy })
        XCTAssertNotEqual(interval, BootstrapInterval(truth: truth, predicted: predicted, classes: 7, samples: 500, seed: 2) { $0.accuracy })
        XCTAssertLessThan(interval.low, metrics.accuracy)
        XCTAssertGreaterThan(interval.high, metrics.accuracy)
        // About 2 x 1.96 standard errors wide: sqrt(p (1 - p) / n).
        let standardError = (metrics.accuracy * (1 - metrics.accuracy) / 300).squareRoot()
        XCTAssertEqual(interval.high - interval.low, 2 * 1.96 * standardError, accuracy: standardError)
        let perfect = BootstrapInterval(truth: truth, predicted: truth, classes: 7, seed: 1) { $0.weightedF1 }
        let none = BootstrapInterval(truth: [], predicted: [], classes: 7, seed: 1) { $0.accuracy }
        XCTAssertEqual([none.low, none.high], [0, 0])
        XCTAssertEqual(perfect.low, 1)
        XCTAssertEqual(perfect.high, 1)
    }

    /// scikit-learn's accuracy_score, f1_score (weighted, macro), precision_recall_fscore_support and
    /// confusion_matrix on random labels, some classes never predicted.
    func testAgreesWithScikitLearn() throws {
        let check = try shell("/usr/bin/env", ["python3", "-c", "import sklearn"])
        guard check.status == 0 else { throw XCTSkip("scikit-learn is not importable (pip install scikit-learn): \(check.err.suffix(200))") }
        var state: UInt64 = 11
        func next(_ bound: Int) -> Int { state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407; return Int(state >> 33) % bound }
        let trials = (0..<4).map { trial -> (truth: [Int], predicted: [Int]) in
            let truth = (0..<(50 + 40 * trial)).map { _ in next(7) }
            return (truth, truth.map { label in next(3) == 0 ? label : next(5) })  // classes 5 and 6 predicted only when right
        }
        let script = """
            import json, sys
            from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support
            out = []
            for t, p in json.loads(sys.argv[1]):
                pr, rc, f, s = precision_recall_fscore_support(t, p, labels=list(range(7)), zero_division=0)
                out.append({"accuracy": accuracy_score(t, p), "weighted": f1_score(t, p, average="weighted", zero_division=0),
                            "macro": f1_score(t, p, average="macro", zero_division=0), "precision": pr.tolist(), "recall": rc.tolist(),
                            "f1": f.tolist(), "support": s.tolist(), "confusion": confusion_matrix(t, p, labels=list(range(7))).tolist()})
            print(json.dumps(out))
            """
        let result = try shell("/usr/bin/env", ["python3", "-c", script, "\(trials.map { [$0.truth, $0.predicted] })"])
        XCTAssertEqual(result.status, 0, result.err)
        let oracles = try JSONSerialization.jsonObject(with: result.out) as! [[String: Any]]
        XCTAssertEqual(oracles.count, trials.count)
        for (trial, oracle) in zip(trials, oracles) {
            let metrics = ClassificationMetrics(truth: trial.truth, predicted: trial.predicted, classes: 7)
            XCTAssertEqual(metrics.accuracy, oracle["accuracy"] as! Double, accuracy: 1e-12)
            XCTAssertEqual(metrics.weightedF1, oracle["weighted"] as! Double, accuracy: 1e-12)
            XCTAssertEqual(metrics.macroF1, oracle["macro"] as! Double, accuracy: 1e-12)
            XCTAssertEqual(metrics.confusion, oracle["confusion"] as! [[Int]])
            XCTAssertEqual(metrics.perClass.map(\.support), oracle["support"] as! [Int])
            for (name, mine) in [("precision", metrics.perClass.map(\.precision)), ("recall", metrics.perClass.map(\.recall)), ("f1", metrics.perClass.map(\.f1))] {
                for (a, b) in zip(mine, oracle[name] as! [Double]) { XCTAssertEqual(a, b, accuracy: 1e-12, name) }
            }
        }
    }
}

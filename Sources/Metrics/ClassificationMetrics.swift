import SeededRandom

/// How well predicted classes match the truth: the figures MELD papers report (accuracy, weighted and macro F1),
/// per class precision, recall, F1 and support, and the confusion matrix. The conventions are scikit-learn's:
/// a class with no prediction has precision 0, one with no true example recall 0, and F1 is 0 where precision
/// and recall are; macro F1 averages the classes that occur in the truth or the predictions.
public struct ClassificationMetrics: Codable, Sendable, Equatable {
    public struct PerClass: Codable, Sendable, Equatable {
        public var precision: Double
        public var recall: Double
        public var f1: Double
        /// True examples of the class.
        public var support: Int
    }

    public var count: Int
    public var accuracy: Double
    public var weightedF1: Double
    public var macroF1: Double
    public var perClass: [PerClass]
    /// `confusion[truth][predicted]`: how many examples of each true class got each prediction.
    public var confusion: [[Int]]

    enum CodingKeys: String, CodingKey {
        case count, accuracy, confusion
        case weightedF1 = "weighted_f1"
        case macroF1 = "macro_f1"
        case perClass = "per_class"
    }

    /// `truth` and `predicted` are class indices in `0..<classes`, one pair per example.
    public init(truth: [Int], predicted: [Int], classes: Int) {
        precondition(truth.count == predicted.count, "\(truth.count) true labels, \(predicted.count) predictions")
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
        for (actual, guess) in zip(truth, predicted) {
            precondition((0..<classes).contains(actual) && (0..<classes).contains(guess), "class \(actual) or \(guess) outside 0..<\(classes)")
            confusion[actual][guess] += 1
        }
        self.init(confusion: confusion)
    }

    public init(confusion: [[Int]]) {
        let classes = confusion.count
        self.confusion = confusion
        count = confusion.joined().reduce(0, +)
        let correct = (0..<classes).map { confusion[$0][$0] }.reduce(0, +)
        accuracy = count > 0 ? Double(correct) / Double(count) : 0
        let perClass = (0..<classes).map { k -> PerClass in
            let support = confusion[k].reduce(0, +)
            let predictedK = confusion.map { $0[k] }.reduce(0, +)
            let hits = Double(confusion[k][k])
            let precision = predictedK > 0 ? hits / Double(predictedK) : 0
            let recall = support > 0 ? hits / Double(support) : 0
            let f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
            return PerClass(precision: precision, recall: recall, f1: f1, support: support)
        }
        let present = (0..<classes).filter { k in perClass[k].support > 0 || confusion.map({ $0[k] }).reduce(0, +) > 0 }
        self.perClass = perClass
        macroF1 = present.isEmpty ? 0 : present.map { perClass[$0].f1 }.reduce(0, +) / Double(present.count)
        weightedF1 = count > 0 ? perClass.map { $0.f1 * Double($0.support) }.reduce(0, +) / Double(count) : 0
    }

    /// The confusion matrix with each true class's row divided by its support (zeros for an absent class).
    public var normalizedConfusion: [[Double]] {
        confusion.map { row in
            let total = row.reduce(0, +)
            return row.map { total > 0 ? Double($0) / Double(total) : 0 }
        }
    }
}

/// A 95 % (or other) interval for a figure by the percentile bootstrap: the examples drawn with replacement
/// `samples` times from one seed, the figure computed on each draw.
public struct BootstrapInterval: Codable, Sendable, Equatable {
    public var low: Double
    public var high: Double

    public init(truth: [Int], predicted: [Int], classes: Int, samples: Int = 1000, confidence: Double = 0.95, seed: UInt64,
                figure: (ClassificationMetrics) -> Double) {
        precondition(truth.count == predicted.count)
        self.init(examples: truth.count, samples: samples, confidence: confidence, seed: seed) { picks in
            figure(ClassificationMetrics(truth: picks.map { truth[$0] }, predicted: picks.map { predicted[$0] }, classes: classes))
        }
    }

    /// The interval of `figure(first) - figure(second)`, two models' predictions of the same examples drawn together
    /// (the paired bootstrap): above zero when the first is better beyond what the choice of examples explains.
    public init(truth: [Int], first: [Int], second: [Int], classes: Int, samples: Int = 1000, confidence: Double = 0.95, seed: UInt64,
                figure: (ClassificationMetrics) -> Double) {
        precondition(truth.count == first.count && truth.count == second.count)
        self.init(examples: truth.count, samples: samples, confidence: confidence, seed: seed) { picks in
            let drawn = picks.map { truth[$0] }
            return figure(ClassificationMetrics(truth: drawn, predicted: picks.map { first[$0] }, classes: classes))
                - figure(ClassificationMetrics(truth: drawn, predicted: picks.map { second[$0] }, classes: classes))
        }
    }

    /// The percentile interval of `statistic` over `samples` draws of `examples` indices with replacement.
    private init(examples: Int, samples: Int, confidence: Double, seed: UInt64, statistic: ([Int]) -> Double) {
        precondition(samples > 0)
        guard examples > 0 else {
            low = 0
            high = 0
            return
        }
        var random = SeededRandom(seed: seed)
        var values: [Double] = []
        values.reserveCapacity(samples)
        var picks = [Int](repeating: 0, count: examples)
        for _ in 0..<samples {
            for i in picks.indices { picks[i] = Int(random.next() % UInt64(examples)) }
            values.append(statistic(picks))
        }
        values.sort()
        let tail = (1 - confidence) / 2
        func percentile(_ q: Double) -> Double {
            let position = q * Double(values.count - 1)
            let below = Int(position.rounded(.down)), above = min(below + 1, values.count - 1)
            return values[below] + (values[above] - values[below]) * (position - Double(below))
        }
        low = percentile(tail)
        high = percentile(1 - tail)
    }
}

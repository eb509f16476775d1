import Foundation
import Labels
import Meld
import Metrics

/// What a model that perceived a generated clip's channels perfectly could reach: the generator's ground truth
/// (`synthesis/truth.csv`: what each face shows and each voice carries) mapped to the likeliest label for each thing
/// perceived, the table drawn from every clip of the dataset and scored on one split. Beside a model's figures, it
/// shows how much of the available signal the model recovered.
public struct PerceptionCeiling: Codable, Sendable {
    /// `face`, `voice` or `both`.
    public var channels: String
    public var clips: Int
    public var accuracy: Double
    public var weightedF1: Double
    public var macroF1: Double
    /// F1 by class name.
    public var perClassF1: [String: Double]

    enum CodingKeys: String, CodingKey {
        case channels, clips, accuracy
        case weightedF1 = "weighted_f1", macroF1 = "macro_f1", perClassF1 = "per_class_f1"
    }

    /// The ceilings of face alone, voice alone and both, on `split`, from the text of `truth.csv`.
    public static func figures(truthCSV text: String, split: String, classes: LabelSet, file: String = "truth.csv") throws -> [PerceptionCeiling] {
        let records: [CSV.Record]
        do { records = try CSV.parse(text) } catch { throw CeilingError("\(file): \(error)") }
        guard let header = records.first?.fields else { throw CeilingError("\(file) is empty") }
        func column(_ name: String) throws -> Int {
            guard let index = header.firstIndex(of: name) else { throw CeilingError("\(file): no '\(name)' column") }
            return index
        }
        let (splitColumn, labelColumn, faceColumn, voiceColumn) = (try column("split"), try column("label"), try column("face_shows"), try column("voice_carries"))
        var rows: [(split: String, label: Int, face: Int, voice: Int)] = []
        let width = max(splitColumn, labelColumn, faceColumn, voiceColumn)
        for record in records.dropFirst() {
            let fields = record.fields
            guard fields.count > width, let label = classes.index(of: fields[labelColumn]), let face = classes.index(of: fields[faceColumn]),
                  let voice = classes.index(of: fields[voiceColumn]) else {
                throw CeilingError("\(file):\(record.line): expected a split and three of \(classes.joined(separator: ", "))")
            }
            rows.append((fields[splitColumn], label, face, voice))
        }
        let perceived: [(String, ((label: Int, face: Int, voice: Int)) -> Int)] = [
            ("face", { $0.face }), ("voice", { $0.voice }), ("both", { $0.face * classes.count + $0.voice }),
        ]
        return perceived.map { channels, cue in
            var counts: [Int: [Int]] = [:]
            for row in rows { counts[cue((row.label, row.face, row.voice)), default: [Int](repeating: 0, count: classes.count)][row.label] += 1 }
            // Ties go to the earlier class, so the table does not depend on dictionary order.
            let likeliest = counts.mapValues { tally in tally.indices.max { tally[$0] < tally[$1] || (tally[$0] == tally[$1] && $0 > $1) }! }
            let scored = rows.filter { $0.split == split }
            let metrics = ClassificationMetrics(truth: scored.map(\.label), predicted: scored.map { likeliest[cue(($0.label, $0.face, $0.voice))]! },
                                                classes: classes.count)
            return PerceptionCeiling(channels: channels, clips: scored.count, accuracy: metrics.accuracy, weightedF1: metrics.weightedF1, macroF1: metrics.macroF1,
                                     perClassF1: Dictionary(uniqueKeysWithValues: zip(classes, metrics.perClass.map(\.f1))))
        }
    }
}

public struct CeilingError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

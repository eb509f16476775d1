import Dataset
import Foundation
import Labels
import Meld
import Pipeline
import Safetensors

/// `shards`: the clips' face frames, log-mel and labels packed into a few safetensors files per split, for
/// training to memory-map. A bucket stage over `faces` (or over `face_features`, whose cached trunk features it then
/// packs in place of the pixels), joined with `mel` and `clean`'s rows: a clip goes to the shard its id hashes to, so
/// one changed clip (its faces, its mel or its label) rewrites one shard.
/// Each bucket writes `SPLIT.safetensors` for every split it holds (see `ShardFormat`) and `report.json`:
/// every member clip, `packed` or why not.
public enum ShardsStage {
    public static let kind = StageKind.buckets(
        "shards", version: 3, summary: "clips' frames (or their face features), log-mel and labels packed into safetensors shards per split",
        params: [ParamSpec("shards", .int, default: .int(8), help: "shards per split: a clip goes to the one its id hashes to", bounds: ParamBounds(minimum: 1))], count: "shards"
    ) { context in
        var packed: [Split: [Packed]] = [:]
        var report: [String: String] = [:]
        for member in context.members {
            switch try pack(member) {
            case .packed(let record):
                packed[record.split, default: []].append(record)
                report[member.id] = "packed"
            case .dropped(let reason):
                report[member.id] = reason
            }
        }
        for (split, records) in packed { try write(records, split: split, to: try context.outputPath("\(split.rawValue).safetensors")) }
        try context.writeJSON(["clips": report], to: "report.json")
    }

    /// One clip ready to pack.
    struct Packed {
        var id: String
        var split: Split
        /// The class index in the cleaning's label set.
        var label: Int
        var faceFound: Bool
        /// `(Tv, H, W, 3)` bytes, and the shape; or from `face_features`, `(Tv, 512)` float32 bytes.
        var frames: Data
        var frameShape: [Int]
        /// The features of the flipped frames, when cached.
        var flippedFeatures: Data?
        /// The chip side.
        var size: Int
        /// The face_features stage's params as it wrote them (JSON); empty for pixels.
        var featureParams: String
        /// `(bands, T)` float32 bytes as `mel.npy` holds them, and the shape.
        var mel: Data
        var melShape: [Int]
        var melParams: String
        /// The faces stage's params as it wrote them (JSON); empty from a faces stage older than version 4.
        var faceParams: String
    }

    enum Outcome {
        case packed(Packed)
        case dropped(String)
    }

    /// A member's kept manifest row, its frames and its mel; or the reason it cannot be packed.
    static func pack(_ member: ItemMember) throws -> Outcome {
        // Joined files sit under their stage's name, whatever the pipeline calls it: found by file name.
        func file(_ name: String) -> InputFile? {
            member.files.first { $0.path == name || $0.path.hasSuffix("/" + name) && !$0.path.dropLast(name.count + 1).contains("/") }
        }
        guard let rowFile = file("row.json") else { return .dropped("no_manifest_row") }
        let rows = try JSONDecoder().decode([ManifestRecord].self, from: Data(contentsOf: URL(fileURLWithPath: rowFile.location)))
        guard let row = rows.first(where: { $0.status == .kept }) else { return .dropped("not_kept: " + (rows.first.map { "\($0.status)" } ?? "no row")) }
        guard let label = row.label else { return .dropped("no_label") }
        // From face_features: its features and its record of the clip's face status; from faces: the chips.
        let cached = file("features.json") != nil
        let (framesName, statusName) = cached ? ("features.npy", "features.json") : ("frames.npy", "faces.json")
        guard let framesFile = file(framesName), let statusFile = file(statusName) else {
            return .dropped("no_frames: " + (try reason(file(statusName)) ?? "the \(cached ? "face_features" : "faces") stage wrote nothing"))
        }
        guard let melFile = file("mel.npy"), let paramsFile = file("params.json") else {
            return .dropped("no_audio: " + (try reason(file("mel.json")) ?? "the mel stage wrote nothing"))
        }
        func text(_ file: InputFile?) throws -> String { try file.map { String(decoding: try Data(contentsOf: URL(fileURLWithPath: $0.location)), as: UTF8.self) } ?? "" }
        let frames = try NumpyArray.read(framesFile.location), mel = try NumpyArray.read(melFile.location)
        var flipped: NumpyArray.Read?
        if cached {
            guard frames.descriptor == "<f4", frames.shape.count == 2, frames.shape[1] == ShardFormat.faceFeatureWidth else {
                throw PipelineError(.corrupt, "\(framesFile.path) of \(member.id): expected float32 (Tv, \(ShardFormat.faceFeatureWidth)), found \(frames.descriptor) \(frames.shape)")
            }
            flipped = try file("features_flipped.npy").map { try NumpyArray.read($0.location) }
            if let flipped, flipped.descriptor != frames.descriptor || flipped.shape != frames.shape {
                throw PipelineError(.corrupt, "features_flipped.npy of \(member.id): \(flipped.descriptor) \(flipped.shape), unlike its features.npy")
            }
        } else {
            guard frames.descriptor == "|u1", frames.shape.count == 4, frames.shape[3] == 3 else {
                throw PipelineError(.corrupt, "\(framesFile.path) of \(member.id): expected uint8 (Tv, H, W, 3), found \(frames.descriptor) \(frames.shape)")
            }
        }
        guard mel.descriptor == "<f4", mel.shape.count == 2 else {
            throw PipelineError(.corrupt, "\(melFile.path) of \(member.id): expected float32 (bands, T), found \(mel.descriptor) \(mel.shape)")
        }
        let faceParams = try text(file("face_params.json"))
        let size = cached ? (try JSONSerialization.jsonObject(with: Data(faceParams.utf8)) as? [String: Any])?["size"] as? Int ?? 0 : frames.shape[1]
        return .packed(Packed(id: member.id, split: row.split, label: label, faceFound: try reason(statusFile) == "ok", frames: frames.data,
                              frameShape: frames.shape, flippedFeatures: flipped?.data, size: size, featureParams: cached ? try text(file("feature_params.json")) : "",
                              mel: mel.data, melShape: mel.shape, melParams: try text(paramsFile), faceParams: faceParams))
    }

    /// The `status` (and `detail`) a stage recorded for a clip it could not read.
    private static func reason(_ file: InputFile?) throws -> String? {
        guard let file, let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file.location))) as? [String: Any],
              let status = object["status"] as? String else { return nil }
        return status
    }

    /// One split's records of this bucket as a shard, in id order.
    static func write(_ records: [Packed], split: Split, to path: String) throws {
        guard let first = records.first else { return }
        for record in records where record.frameShape != first.frameShape || record.melShape[0] != first.melShape[0] || record.melParams != first.melParams
            || record.faceParams != first.faceParams || record.featureParams != first.featureParams || (record.flippedFeatures == nil) != (first.flippedFeatures == nil) {
            throw PipelineError(.stageFailed, "\(record.id): its frames \(record.frameShape), face, feature or mel settings differ from \(first.id)'s \(first.frameShape); rerun faces, face_features and mel with one setting")
        }
        let bands = first.melShape[0]
        var mel = Data(), offsets: [Int64] = [0], frames = Data(), flipped = Data()
        for record in records {
            // mel.npy is (bands, T); the shard holds (T, bands), so each clip's frames are one contiguous run.
            let length = record.melShape[1]
            var timeMajor = Data(count: record.mel.count)
            record.mel.withUnsafeBytes { source in
                timeMajor.withUnsafeMutableBytes { target in
                    let (from, to) = (source.bindMemory(to: UInt32.self), target.bindMemory(to: UInt32.self))
                    for band in 0..<bands { for t in 0..<length { to[t * bands + band] = from[band * length + t] } }
                }
            }
            mel.append(timeMajor)
            offsets.append(offsets.last! + Int64(length))
            frames.append(record.frames)
            if let features = record.flippedFeatures { flipped.append(features) }
        }
        var writer = SafetensorsWriter()
        writer.add(ShardFormat.mel, dtype: .f32, shape: [Int(offsets.last!), bands], bytes: mel)
        writer.add(ShardFormat.melOffsets, shape: [records.count + 1], int64s: offsets)
        writer.add(ShardFormat.label, shape: [records.count], int64s: records.map { Int64($0.label) })
        if first.featureParams.isEmpty {
            writer.add(ShardFormat.frames, dtype: .u8, shape: [records.count] + first.frameShape, bytes: frames)
        } else {
            writer.add(ShardFormat.faceFeatures, dtype: .f32, shape: [records.count] + first.frameShape, bytes: frames)
            if first.flippedFeatures != nil { writer.add(ShardFormat.faceFeaturesFlipped, dtype: .f32, shape: [records.count] + first.frameShape, bytes: flipped) }
        }
        writer.add(ShardFormat.faceFound, dtype: .u8, shape: [records.count], bytes: Data(records.map { $0.faceFound ? 1 : 0 }))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let ids = try encoder.encode(records.map(\.id))
        writer.metadata = [ShardFormat.clipsKey: String(decoding: ids, as: UTF8.self), ShardFormat.splitKey: split.rawValue,
                           ShardFormat.framesKey: String(first.frameShape[0]), ShardFormat.sizeKey: String(first.size),
                           ShardFormat.melKey: first.melParams, ShardFormat.facesKey: first.faceParams]
        if !first.featureParams.isEmpty { writer.metadata[ShardFormat.faceFeaturesKey] = first.featureParams }
        try writer.write(to: path)
    }
}

/// `shard_index`: per split, `SPLIT/index.json` (see `ShardIndex`) over the `shards` stage's output, and
/// `report.json`, which accounts for every manifest row: packed, or dropped with its reason (by `clean`, or by
/// `shards`: no usable audio, no frames).
public enum ShardIndexStage {
    public static let kind = StageKind.whole(
        "shard_index", version: 4, summary: "the index of each split's shards (SHA-256, clip locations, label set and counts) and a report of every row"
    ) { context in
        guard let shards = context.inputs.first(where: { $0.files.contains { $0.path.hasSuffix(".safetensors") } }) else {
            throw PipelineError(.stageFailed, "stage '\(context.stage)': no input holds shards (deps: [shards, clean])")
        }
        guard let cleaning = context.inputs.lazy.flatMap(\.files).first(where: { $0.path == "report.json" }) else {
            throw PipelineError(.stageFailed, "stage '\(context.stage)': no cleaning report.json among its inputs, which names the label set (deps: [shards, clean])")
        }
        let classes: LabelSet
        do { classes = try JSONDecoder().decode(CleaningReport.self, from: Data(contentsOf: URL(fileURLWithPath: cleaning.location))).classes }
        catch { throw PipelineError(.corrupt, "stage '\(context.stage)': \(cleaning.path): \(error)") }
        var bucketReports: [String: String] = [:]
        for file in shards.files where file.path.hasSuffix("/report.json") {
            let report = try JSONDecoder().decode([String: [String: String]].self, from: Data(contentsOf: URL(fileURLWithPath: file.location)))
            bucketReports.merge(report["clips"] ?? [:]) { $1 }
        }
        var accounts: [String: [String: Int]] = [:]
        for split in Split.allCases {
            let shardFiles = shards.files.filter { $0.path.hasSuffix("/\(split.rawValue).safetensors") }.sorted { $0.path < $1.path }
            var index = ShardIndex(split: split.rawValue, records: 0, shards: [], clips: [:], classes: classes,
                                   labels: Dictionary(uniqueKeysWithValues: classes.map { ($0, 0) }),
                                   features: ShardIndex.Features(frames: 0, size: 0, melBands: 0, mel: [:], faces: nil))
            for (number, file) in shardFiles.enumerated() {
                let shard = try SafetensorsFile(path: file.location)
                let ids = try JSONDecoder().decode([String].self, from: Data((shard.metadata[ShardFormat.clipsKey] ?? "[]").utf8))
                for (row, id) in ids.enumerated() { index.clips[id] = ShardIndex.Location(shard: number, row: row) }
                for label in try shard.int64s(ShardFormat.label) {
                    guard (0..<Int64(classes.count)).contains(label) else {
                        throw PipelineError(.corrupt, "\(file.path): label \(label) is outside the cleaning's \(classes.count) classes (\(classes))")
                    }
                    index.labels[classes[Int(label)], default: 0] += 1
                }
                index.shards.append(ShardIndex.Shard(path: file.path, sha256: file.digest.hex, records: ids.count))
                index.records += ids.count
                let mel = try JSONSerialization.jsonObject(with: Data((shard.metadata[ShardFormat.melKey] ?? "{}").utf8)) as? [String: Any] ?? [:]
                index.features = ShardIndex.Features(frames: Int(shard.metadata[ShardFormat.framesKey] ?? "") ?? 0,
                                                     size: Int(shard.metadata[ShardFormat.sizeKey] ?? "") ?? 0,
                                                     melBands: try shard.entry(ShardFormat.mel).shape.last ?? 0,
                                                     mel: mel.compactMapValues { ($0 as? NSNumber)?.doubleValue },
                                                     faces: faceSettings(shard.metadata[ShardFormat.facesKey]),
                                                     faceFeatures: faceSettings(shard.metadata[ShardFormat.faceFeaturesKey]))
            }
            try context.writeJSON(index, to: "\(split.rawValue)/index.json")

            // Every row of the split's manifest, packed or dropped with its reason.
            var account: [String: Int] = ["rows": 0, "packed": 0]
            if let manifest = context.inputs.lazy.flatMap(\.files).first(where: { $0.path == "\(split.rawValue).jsonl" }) {
                let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: manifest.location)), as: UTF8.self)
                for line in text.split(separator: "\n") {
                    let row = try JSONDecoder().decode(ManifestRecord.self, from: Data(line.utf8))
                    account["rows", default: 0] += 1
                    let outcome: String
                    if row.status != .kept { outcome = "dropped by clean: \(row.status)" }
                    else if let clip = row.clip, let verdict = bucketReports[clip] { outcome = verdict == "packed" ? "packed" : "dropped by shards: \(verdict)" }
                    else { outcome = "dropped by shards: no faces output for the clip" }
                    account[outcome, default: 0] += outcome == "packed" ? 0 : 1
                    if outcome == "packed" { account["packed", default: 0] += 1 }
                }
            }
            accounts[split.rawValue] = account
        }
        try context.writeJSON(accounts, to: "report.json")
    }
}

/// The faces (or face_features) stage's params from a shard's metadata, each value as text (nil when absent).
private func faceSettings(_ json: String?) -> [String: String]? {
    guard let json, !json.isEmpty,
          let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return nil }
    return object.mapValues { "\($0)" }
}

import Foundation
import Labels
import Meld
import TestSupport
import XCTest

/// Cleaning the real MELD CSVs (`../shared/data/meld`), held to the facts in `../shared/data/README.md`.
final class MeldCSVTests: XCTestCase {
    func load(_ folder: String) throws -> [Split: (name: String, text: String)] {
        var csvs: [Split: (name: String, text: String)] = [:]
        for split in Split.allCases {
            let path = try Shared.path("data/meld/\(folder)\(split.csvName)")
            csvs[split] = (split.csvName, try String(contentsOfFile: path, encoding: .utf8))
        }
        return csvs
    }

    func annotationsOnly() -> CleaningParams {
        var params = CleaningParams()
        params.checkClips = false
        return params
    }

    func testCountsPerSplitAndLabelMatchTheDataREADME() throws {
        let result = try Cleaner.clean(csvs: try load(""), clips: [], params: annotationsOnly())
        let expected: [String: (rows: Int, labels: [String: Int])] = [
            "train": (9989, ["neutral": 4710, "joy": 1743, "surprise": 1205, "anger": 1109, "sadness": 683, "disgust": 271, "fear": 268]),
            "dev": (1109, ["neutral": 470, "joy": 163, "surprise": 150, "anger": 153, "sadness": 111, "disgust": 22, "fear": 40]),
            "test": (2610, ["neutral": 1256, "joy": 402, "surprise": 281, "anger": 345, "sadness": 208, "disgust": 68, "fear": 50]),
        ]
        for (split, facts) in expected {
            let counts = try XCTUnwrap(result.report.splits[split])
            XCTAssertEqual(counts.rows, facts.rows, split)
            XCTAssertEqual(counts.kept, facts.rows, "\(split): every row is a valid annotation")
            XCTAssertEqual(counts.labels, facts.labels, split)
        }
        XCTAssertEqual(result.report.problems, [])
        let test = result.manifests[.test]!
        let neutralShare = Double(test.filter { $0.label == LabelSet.meld.index(of: Emotion.neutral.name) }.count) / Double(test.count)
        XCTAssertEqual(neutralShare, 0.481, accuracy: 0.0005, "always predicting neutral scores 48.1 % on test")
    }

    /// A label set of four of MELD's emotions, in an order of its own: the other three are dropped as such, and each kept
    /// row's index is its emotion's place in the set. Oracle: the per-label counts of the data README.
    func testALabelSetKeepsItsEmotionsInItsOrder() throws {
        var params = annotationsOnly()
        params.labels = ["anger", "neutral", "sadness", "joy"]
        XCTAssertNil(params.problem)
        let result = try Cleaner.clean(csvs: try load(""), clips: [], params: params)
        XCTAssertEqual(result.report.classes.names, ["anger", "neutral", "sadness", "joy"])
        let train = try XCTUnwrap(result.report.splits["train"])
        XCTAssertEqual(train.labels, ["anger": 1109, "neutral": 4710, "sadness": 683, "joy": 1743])
        XCTAssertEqual(train.dropped, ["excluded_label": 1205 + 271 + 268])
        let kept = result.manifests[.train]!.filter { $0.status == .kept }
        XCTAssertEqual(kept.filter { $0.label == 0 }.count, 1109, "anger is class 0")
        XCTAssertEqual(kept.filter { $0.label == 3 }.count, 1743, "joy is class 3")
        params.labels = ["anger", "happy"]
        XCTAssertEqual(params.problem, "'labels': 'happy' is not one of MELD's emotions (neutral,joy,sadness,anger,surprise,fear,disgust)")
        params.labels = ["anger"]
        XCTAssertEqual(params.problem, "'labels': a label set needs at least two labels, not 1")
    }

    func testTimestampFactsAreFlagged() throws {
        let result = try Cleaner.clean(csvs: try load(""), clips: [], params: annotationsOnly())
        func record(_ split: Split, _ dialogue: Int, _ utterance: Int) -> ManifestRecord? {
            result.manifests[split]?.first { $0.dialogue == dialogue && $0.utterance == utterance }
        }
        XCTAssertEqual(record(.test, 155, 3)?.flags.contains(.nonpositiveDuration), true)
        for (split, dialogue, utterance, seconds) in [(Split.test, 38, 4, 305.0), (.test, 220, 0, 235), (.train, 309, 0, 41)] {
            let row = try XCTUnwrap(record(split, dialogue, utterance))
            XCTAssertTrue(row.flags.contains(.longDuration), "\(split) dia\(dialogue)_utt\(utterance)")
            XCTAssertEqual(row.end! - row.start!, seconds, accuracy: 1)
        }
        let allRows = result.manifests.values.flatMap { $0 }
        XCTAssertEqual(allRows.filter { $0.flags.contains(.badTimestamp) }, [], "hours as 0: or 00: and two-digit milliseconds all parse")
        XCTAssertEqual(result.report.splits.values.reduce(0) { $0 + ($1.flagged["long_duration"] ?? 0) }, 3)
    }

    func testRepeatedScenesAreReported() throws {
        let report = try Cleaner.clean(csvs: try load(""), clips: [], params: annotationsOnly()).report
        let pairs = Set(report.duplicateDialogues.map { "\($0.first)~\($0.second)" })
        XCTAssertTrue(pairs.isSuperset(of: ["train/dia312~train/dia698", "train/dia376~train/dia725"]), "\(pairs)")
        let known = report.duplicateDialogues.filter { ["train/dia312", "train/dia376"].contains($0.first) }
        XCTAssertEqual(known.reduce(0) { $0 + $1.sharedUtterances }, 10)
        XCTAssertEqual(known.reduce(0) { $0 + $1.conflicting.count }, 5)
        XCTAssertTrue(report.splitOverlaps.contains { $0.first == "test/dia85" && $0.second == "train/dia12" }, "\(report.splitOverlaps.map { ($0.first, $0.second) })")
    }

    /// Oracle: Foundation's own Windows-1252 decoder applied to the legacy text's Latin-1 bytes.
    func testLegacyTextRepairsToTheCurrentText() throws {
        let current = try Cleaner.clean(csvs: try load(""), clips: [], params: annotationsOnly()).manifests
        let legacy = try Cleaner.clean(csvs: try load("legacy_cp1252/"), clips: [], params: annotationsOnly()).manifests
        var encodingOnly = 0
        for split in Split.allCases {
            let rawLegacy = try CSV.parse(try String(contentsOfFile: try Shared.path("data/meld/legacy_cp1252/\(split.csvName)"), encoding: .utf8))
            for ((old, new), raw) in zip(zip(legacy[split]!, current[split]!), rawLegacy.dropFirst()) {
                XCTAssertFalse(old.text.contains("â€"), old.source)
                guard let bytes = raw.fields[1].data(using: .isoLatin1), let decoded = String(data: bytes, encoding: .windowsCP1252),
                      decoded == new.text, raw.fields[1] != new.text else { continue }
                encodingOnly += 1
                XCTAssertEqual(old.text, new.text, old.source)
                XCTAssertTrue(old.flags.contains(.textRepaired), old.source)
            }
        }
        XCTAssertGreaterThan(encodingOnly, 3000, "MELD's legacy files differ by encoding in thousands of rows")
    }
}

/// A small MELD.Raw made by hand with every fault the cleaner must report.
final class CleanerFaultTests: XCTestCase {
    func testEveryFaultLandsInTheReportWithItsReason() throws {
        let header = CSV.line(meldColumns)
        func row(_ number: Int, _ text: String, _ emotion: String, _ dialogue: String, _ utterance: String, start: String = "00:00:01,000", end: String = "00:00:03,500") -> String {
            CSV.line([String(number), text, "Sam", emotion, "neutral", dialogue, utterance, "1", "1", start, end])
        }
        let train = [header,
                     row(1, "Fine, thanks.", "joy", "0", "0"),
                     row(2, "It\u{92}s broken", "anger", "0", "1"),          // legacy text, clip undecodable
                     row(3, "Where is it?", "surprise", "0", "2"),           // clip missing
                     "4,too,few,fields",                                      // malformed
                     row(5, "Hm.", "bored", "0", "3"),                        // unknown emotion
                     row(6, "Escape", "joy", "../x", "0"),                   // id escaping the folder
                     row(7, "Long one", "neutral", "1", "0", start: "0:00:00,0", end: "00:01:00,00"),
                     row(8, "Denied", "fear", "1", "1"),
                     row(1, "Fine, thanks.", "joy", "0", "0"),               // the same utterance again
                     "9,\"Multi-line,\r\nquoted\",Sam,sadness,negative,1,2,1,1,\"00:00:01,000\",\"00:00:02,000\""].joined(separator: "\r\n")
        let test = [header, row(1, "Quiet", "neutral", "2", "0"), row(2, "Twice", "joy", "2", "1"), row(3, "Cut", "neutral", "2", "2")].joined(separator: "\r\n")
        let ok = ClipProbe(status: .ok, duration: 2.5)
        let clips = [
            ClipFile(path: "MELD.Raw/train/train_splits/dia0_utt0.mp4", digest: "a", probe: ok),
            ClipFile(path: "MELD.Raw/train/train_splits/dia0_utt1.mp4", digest: "b", probe: ClipProbe(status: .undecodable)),
            ClipFile(path: "MELD.Raw/train/train_splits/dia1_utt0.mp4", digest: "c", probe: ok),
            ClipFile(path: "MELD.Raw/train/train_splits/dia1_utt1.mp4", digest: "d", probe: ok),
            ClipFile(path: "MELD.Raw/train/train_splits/dia1_utt2.mp4", digest: "e", probe: ok),
            ClipFile(path: "MELD.Raw/train/train_splits/dia9_utt9.mp4", digest: "f", probe: ok),    // unannotated
            ClipFile(path: "MELD.Raw/output_repeated_splits_test/dia2_utt0.mp4", digest: "g", probe: ClipProbe(status: .silent)),
            ClipFile(path: "MELD.Raw/output_repeated_splits_test/dia2_utt1.mp4", digest: "h", probe: ok),
            ClipFile(path: "MELD.Raw/output_repeated_splits_test/final_videos_testdia2_utt1.mp4", digest: "i", probe: ok),
            ClipFile(path: "MELD.Raw/output_repeated_splits_test/dia2_utt2.mp4", digest: "j", probe: ClipProbe(status: .truncated)),
        ]
        var params = CleaningParams()
        params.denyList = ["train/dia1_utt1"]
        let result = try Cleaner.clean(csvs: [.train: ("train_sent_emo.csv", train), .test: ("test_sent_emo.csv", test)], clips: clips, params: params)
        let report = result.report
        XCTAssertEqual(report.splits["train"]?.rows, 10)
        XCTAssertEqual(report.splits["train"]?.kept, 3)
        XCTAssertEqual(report.splits["train"]?.dropped, ["undecodable": 1, "clip_missing": 1, "malformed_row": 1, "unknown_emotion": 1,
                                                          "bad_id": 1, "denied": 1, "duplicate_row": 1])
        XCTAssertEqual(report.splits["test"]?.dropped, ["silent": 1, "truncated": 1])
        XCTAssertEqual(report.clips["missing"], ["train_splits/dia0_utt2.mp4"])
        XCTAssertEqual(report.clips["unannotated"], ["MELD.Raw/train/train_splits/dia9_utt9.mp4"])
        XCTAssertEqual(report.clips["superseded_copy"], ["MELD.Raw/output_repeated_splits_test/final_videos_testdia2_utt1.mp4"])
        XCTAssertEqual(report.clips["silent"], ["MELD.Raw/output_repeated_splits_test/dia2_utt0.mp4"])
        XCTAssertTrue(report.problems.contains("train_sent_emo.csv:5: has 4 fields, the header 11"), "\(report.problems)")
        XCTAssertTrue(report.problems.contains { $0.hasPrefix("train_sent_emo.csv:6: unknown emotion 'bored'") })
        XCTAssertTrue(report.problems.contains { $0.hasPrefix("train_sent_emo.csv:7: Dialogue_ID '../x'") })
        let records = result.manifests[.train]!
        XCTAssertEqual(records[1].text, "It’s broken")
        XCTAssertEqual(records[6].flags, [.longDuration])
        XCTAssertEqual(records[9].text, "Multi-line,\r\nquoted")
        XCTAssertEqual(records[9].source, "train_sent_emo.csv:11", "a record's line is where it starts")
        XCTAssertEqual(records[9].clipSHA256, "e")
        var rows = 0
        for (_, counts) in report.splits { rows += counts.kept + counts.dropped.values.reduce(0, +) }
        XCTAssertEqual(rows, 13, "every row is kept or dropped with a reason")
    }

    func testTimestampsAndCSVEdges() throws {
        XCTAssertEqual(Timestamp.parse("00:06:47,28")!, 407.28, accuracy: 1e-9)
        XCTAssertEqual(Timestamp.parse("0:16:16,059")!, 976.059, accuracy: 1e-9)
        XCTAssertNil(Timestamp.parse("00:61:00,000"))
        XCTAssertNil(Timestamp.parse("12.5"))
        XCTAssertEqual(Timestamp.format(407.28), "00:06:47,280")
        XCTAssertThrowsError(try CSV.parse("a,b\n1,\"open\n2,3\n")) { XCTAssertEqual(($0 as? CSV.ParseError)?.line, 2) }
        XCTAssertEqual(try CSV.parse("a,\"b \"\"q\"\"\"\r\n").first?.fields, ["a", "b \"q\""])
        XCTAssertEqual(TextRepair.repair(TextRepair.damage("don’t — “ok”…")), "don’t — “ok”…")
    }

    /// Issue 27 (weaker cases): an empty CSV, or one whose header lacks a column the rows need, gave 0 rows and success;
    /// now the clean stops, naming the file, the line and what is missing.
    func testAnEmptyCSVOrOneWithoutTheEmotionColumnStopsTheClean() throws {
        var params = CleaningParams()
        params.checkClips = false
        let header = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime"
        let row = "1,Hi.,Ross,joy,positive,0,0,1,1,\"00:00:01,000\",\"00:00:02,000\""
        XCTAssertEqual(try Cleaner.clean(csvs: [.train: ("train_sent_emo.csv", header + "\n" + row + "\n")], clips: [], params: params).manifests[.train]?.count, 1)
        XCTAssertThrowsError(try Cleaner.clean(csvs: [.train: ("train_sent_emo.csv", "")], clips: [], params: params)) {
            XCTAssertTrue("\($0)".hasPrefix("train_sent_emo.csv: empty; a MELD CSV starts with its header"), "\($0)")
        }
        let withoutEmotion = header.replacingOccurrences(of: "Emotion,", with: "") + "\n" + row.replacingOccurrences(of: "joy,", with: "") + "\n"
        XCTAssertThrowsError(try Cleaner.clean(csvs: [.dev: ("dev_sent_emo.csv", withoutEmotion)], clips: [], params: params)) {
            XCTAssertTrue("\($0)".hasPrefix("dev_sent_emo.csv:1: the header lacks Emotion (it has Sr No., Utterance"), "\($0)")
        }
    }
}

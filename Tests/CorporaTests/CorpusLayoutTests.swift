import Corpora
import EmotionStages
import Foundation
import Labels
import Media
import Meld
import TestSupport
import XCTest

/// The corpus layouts on real files (`../shared/data`: CREMA-D's FLV clips and MP3s, RAVDESS's WAVs, EmoDB through a
/// labels file), their split rules, and trees that are wrong in the ways people's copies are.
final class CorpusLayoutTests: XCTestCase {
    /// The shared files as a layout sees them, under `prefix`, each probed for real.
    private func corpus(_ paths: [String], under prefix: String = "") -> [CorpusFile] {
        paths.map { path in
            let name = prefix + (path as NSString).lastPathComponent
            return CorpusFile(path: name, location: path, digest: name, probe: ProbeStage.probeClip(at: path, settings: ProbeSettings()))
        }
    }

    private func kept(_ result: Cleaner.Result) -> [ManifestRecord] {
        Split.allCases.flatMap { result.manifests[$0] ?? [] }.filter { $0.status == .kept }
    }

    func testCremaDClipsAndAudioFromTheirNames() throws {
        let clips = corpus(try Shared.files(in: "data/clips", withExtensions: ["flv"]), under: "VideoFlash/")
        let audio = corpus(try Shared.files(in: "data/speech", withExtensions: ["mp3"]), under: "AudioMP3/")
        XCTAssertEqual(clips.count, 6)
        XCTAssertEqual(audio.count, 6)
        let result = try CremaD.read(clips + audio, labels: [], rule: SplitRule())
        XCTAssertEqual(result.report.classes.names, ["anger", "disgust", "fear", "happy", "neutral", "sad"])
        let records = kept(result)
        XCTAssertEqual(records.count, 12, "\(result.report.clips) \(result.report.problems)")
        let labels = try String(contentsOfFile: try Shared.path("data/clips/labels.csv"), encoding: .utf8)
        for record in records {
            let stem = ((record.clip! as NSString).lastPathComponent as NSString).deletingPathExtension
            XCTAssertEqual(record.speaker, String(stem.prefix(4)))
            XCTAssertEqual(record.text, "Don't forget a jacket")
            XCTAssertEqual(record.attributes?["intensity"], "unspecified")
            // The FLV clips have both channels; the MP3s sound only.
            XCTAssertEqual(record.flags, record.clip!.hasSuffix(".mp3") ? [.audioOnly] : [], record.clip!)
            if record.clip!.hasSuffix(".flv") {
                // labels.csv says the intended emotion in MELD's words; the layout's names are CREMA-D's.
                let line = labels.components(separatedBy: .newlines).first { $0.hasPrefix(stem + ".flv,") }!
                let meld = String(line.split(separator: ",")[1])
                XCTAssertEqual(["anger": "anger", "disgust": "disgust", "fear": "fear", "happiness": "happy", "neutral": "neutral", "sadness": "sad"][meld],
                               result.report.classes[record.label!])
            }
        }
        // Two actors: too few to split three ways, so both train, and the report says whom it put where.
        XCTAssertEqual(result.report.speakerSplits?.speakers["train"], ["1001", "1002"])
        XCTAssertEqual(result.report.dataset, "crema-d")

        // A recording found as video and as audio is read from the video.
        let wavCopy = CorpusFile(path: "AudioWAV/1001_DFA_ANG_XX.wav", location: clips[0].location, digest: "x", probe: clips[0].probe)
        let both = try CremaD.read(clips + [wavCopy], labels: ["anger", "neutral"], rule: SplitRule())
        XCTAssertEqual(both.report.clips["superseded_copy"], ["AudioWAV/1001_DFA_ANG_XX.wav"])
        XCTAssertEqual(kept(both).count, 2)
        XCTAssertEqual(both.report.splits["train"]?.dropped["excluded_label"], 4)
    }

    func testRavdessSpeechFromItsNames() throws {
        let files = try Shared.files(in: "data/speech", withExtensions: ["wav"]).filter { ($0 as NSString).lastPathComponent.hasPrefix("03-") }
        XCTAssertEqual(files.count, 16)
        let corpus = files.map { path -> CorpusFile in
            let name = (path as NSString).lastPathComponent
            return CorpusFile(path: "Actor_\(name.dropLast(4).suffix(2))/\(name)", location: path, digest: name, probe: ProbeStage.probeClip(at: path, settings: ProbeSettings()))
        }
        let result = try Ravdess.read(corpus, labels: [], rule: SplitRule(), modality: .auto, channel: .speech)
        let records = kept(result)
        XCTAssertEqual(records.count, 16, "\(result.report.clips) \(result.report.problems)")
        let truth = try String(contentsOfFile: try Shared.path("data/speech/labels.csv"), encoding: .utf8).components(separatedBy: .newlines)
        for record in records {
            let name = (record.clip! as NSString).lastPathComponent
            let line = truth.first { $0.hasPrefix(name + ",") }!
            XCTAssertEqual(result.report.classes[record.label!], String(line.split(separator: ",")[1]), name)
            XCTAssertEqual(record.flags, [.audioOnly])
            let actor = Int(name.dropLast(4).suffix(2))!
            XCTAssertEqual(record.speaker, String(format: "Actor_%02d", actor))
            XCTAssertEqual(record.attributes?["sex"], actor % 2 == 1 ? "male" : "female")
            XCTAssertEqual(record.attributes?["intensity"], name.hasPrefix("03-01-01-01") ? "normal" : "strong")
        }
        // Asked for song, the speech files are set aside, and the tree is refused for having none.
        XCTAssertThrowsError(try Ravdess.read(corpus, labels: [], rule: SplitRule(), modality: .auto, channel: .song)) { error in
            XCTAssertTrue("\(error)".contains("no RAVDESS recording"), "\(error)")
        }
    }

    func testEmoDBThroughALabelsFile() throws {
        let folder = try TemporaryFolder()
        let files = try Shared.files(in: "data/speech", withExtensions: ["wav"]).filter { !($0 as NSString).lastPathComponent.hasPrefix("03-") }
        XCTAssertEqual(files.count, 3)
        // EmoDB's letter codes (F happiness, N neutral, W anger) written out as a user would, with the speaker.
        let words = ["F": "happiness", "N": "neutral", "W": "anger"]
        var csv = "file,label,speaker\n"
        for path in files {
            let name = (path as NSString).lastPathComponent
            try FileManager.default.createSymbolicLink(atPath: folder.file(name), withDestinationPath: path)
            csv += "audio/\(name),\(words[String(name.dropFirst(5).prefix(1))]!),\(name.prefix(2))\n"
        }
        try Data(csv.utf8).write(to: URL(fileURLWithPath: folder.file("labels.csv")))
        var corpus = [CorpusFile(path: "emodb/labels.csv", location: folder.file("labels.csv"), digest: "", probe: nil)]
        corpus += files.map { path in
            let name = (path as NSString).lastPathComponent
            return CorpusFile(path: "emodb/audio/" + name, location: path, digest: name, probe: ProbeStage.probeClip(at: path, settings: ProbeSettings()))
        }
        let result = try LabelsFile.read(corpus, csv: "labels.csv", labels: [], rule: SplitRule())
        XCTAssertEqual(result.report.classes.names, ["anger", "happiness", "neutral"])
        let records = kept(result)
        XCTAssertEqual(records.map { result.report.classes[$0.label!] }, ["happiness", "neutral", "anger"])
        XCTAssertEqual(Set(records.map(\.speaker)), ["03"])
        XCTAssertEqual(records.map(\.source), ["emodb/labels.csv:2", "emodb/labels.csv:3", "emodb/labels.csv:4"])
    }

    func testSplitRulesKeepEverySpeakerOnOneSide() throws {
        let speakers = Set((1...24).map { String(format: "Actor_%02d", $0) })
        let assigned = try SplitRule().assign(speakers)
        let counts = Dictionary(grouping: assigned.values, by: { $0 }).mapValues(\.count)
        XCTAssertEqual(counts, [.train: 16, .dev: 4, .test: 4])
        XCTAssertEqual(try SplitRule().assign(speakers), assigned, "the same seed deals the same way")
        var other = SplitRule()
        other.seed = 2
        XCTAssertNotEqual(try other.assign(speakers), assigned)

        // Folds: every speaker is tested in exactly one fold, tuned on in exactly one other.
        var tested: [String: Int] = [:], tuned: [String: Int] = [:]
        var rule = SplitRule()
        rule.folds = 5
        for fold in 1...5 {
            rule.fold = fold
            for (speaker, split) in try rule.assign(speakers) {
                if split == .test { tested[speaker, default: 0] += 1 }
                if split == .dev { tuned[speaker, default: 0] += 1 }
            }
        }
        XCTAssertEqual(Set(tested.values), [1])
        XCTAssertEqual(Set(tuned.values), [1])
        XCTAssertEqual(tested.count, 24)

        // IEMOCAP's sessions in order: fold k tests session k.
        rule.fold = 2
        let sessions = try rule.assign(Set((1...5).map { "Session\($0)" }), shuffled: false)
        XCTAssertEqual(sessions["Session2"], .test)
        XCTAssertEqual(sessions["Session3"], .dev)
        rule.folds = 7
        rule.fold = 1
        XCTAssertThrowsError(try rule.assign(Set((1...5).map { "Session\($0)" }), shuffled: false))
    }

    // MARK: trees that are wrong

    func testRavdessNameOutOfRangeIsARecordedDrop() throws {
        let probe = ClipProbe(status: .noVideoStream, duration: 3, audioRMS: 0.1)
        let files = [
            CorpusFile(path: "Actor_01/03-01-05-02-01-01-01.wav", location: "", digest: "a", probe: probe),
            CorpusFile(path: "Actor_01/03-01-09-02-01-01-01.wav", location: "", digest: "b", probe: probe),
            CorpusFile(path: "Actor_30/03-01-05-02-01-01-30.wav", location: "", digest: "c", probe: probe),
            CorpusFile(path: "Actor_01/03-01-01-02-01-01-01.wav", location: "", digest: "d", probe: probe),
        ]
        let result = try Ravdess.read(files, labels: [], rule: SplitRule(), modality: .auto, channel: .speech)
        XCTAssertEqual(kept(result).count, 1)
        XCTAssertEqual(result.report.clips["bad_name"]?.count, 3)
        XCTAssertEqual(result.report.problems, [
            "Actor_01/03-01-01-02-01-01-01.wav: emotion 01 (neutral) has no strong intensity (02)",
            "Actor_01/03-01-09-02-01-01-01.wav: emotion '09' is out of range (01 to 08)",
            "Actor_30/03-01-05-02-01-01-30.wav: actor '30' is out of range (01 to 24)",
        ].sorted())
        let folder = try TemporaryFolder()
        try CleanStage.write(result, to: folder.path)
        let report = try String(contentsOfFile: folder.file("report.md"), encoding: .utf8)
        XCTAssertTrue(report.hasPrefix("# Dataset (ravdess) report"), report)
        XCTAssertTrue(report.contains("- **bad_name** (3): "), report)
    }

    func testIemocapLineThatDoesNotParseNamesItsLine() throws {
        let folder = try TemporaryFolder()
        let text = """
            % [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]

            [6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]
            C-E2:\tNeutral;\t()

            [10.0100 - 11.3925]\tSes01F_impro01_M000\texc\t[3.5000, 3.5000, 3.0000]

            [12.5 - 11.0]\tSes01F_impro01_F001\tang\t[2.0, 4.0, 4.0]

            [14.0 - 15.0]\tSes01F_impro01_F002\tfru\t[2.0, 3.0, 3.0]

            """
        try Data(text.utf8).write(to: URL(fileURLWithPath: folder.file("e.txt")))
        let ok = ClipProbe(status: .noVideoStream, duration: 2, audioRMS: 0.1)
        let files = [CorpusFile(path: "IEMOCAP/Session1/dialog/EmoEvaluation/Ses01F_impro01.txt", location: folder.file("e.txt"), digest: "e", probe: nil)]
            + ["F000", "M000", "F001", "F002"].map {
                CorpusFile(path: "IEMOCAP/Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_\($0).wav", location: "", digest: $0, probe: ok)
            }
        var rule = SplitRule()
        rule.folds = 0
        let result = try Iemocap.read(files, classes: .four, rule: rule)
        XCTAssertEqual(result.report.problems, ["IEMOCAP/Session1/dialog/EmoEvaluation/Ses01F_impro01.txt:8: the interval '[12.5 - 11.0]' is not [START - END] with START < END"])
        let records = Split.allCases.flatMap { result.manifests[$0] ?? [] }
        XCTAssertEqual(records.map { $0.label.map { result.report.classes[$0] } }, ["neutral", nil, "happy"])
        XCTAssertEqual(records.map(\.speaker), ["Ses01F", "Ses01F", "Ses01M"])
        XCTAssertEqual(records[1].status, .excludedLabel, "frustration is outside the four classes")
        XCTAssertEqual(result.report.clips["unannotated"], ["IEMOCAP/Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F001.wav"])
        let six = try Iemocap.read(files, classes: .six, rule: rule)
        XCTAssertEqual(Split.allCases.flatMap { six.manifests[$0] ?? [] }.map { $0.label.map { six.report.classes[$0] } }, ["neutral", "frustrated", "excited"])
        XCTAssertTrue(result.attachments.isEmpty, "without video the clips are the WAVs themselves")

        // With the dialogue's video: each kept utterance a .clip reference, the picture over its interval, the sound its WAV.
        let avi = CorpusFile(path: "IEMOCAP/Session1/dialog/avi/DivX/Ses01F_impro01.avi", location: "/w/Session1/dialog/avi/DivX/Ses01F_impro01.avi", digest: "v",
                             probe: ClipProbe(status: .ok, duration: 10.5, width: 64, height: 48, audioRMS: 0.1), workspacePath: "IEMOCAP/Session1/dialog/avi/DivX/Ses01F_impro01.avi")
        let video = try Iemocap.read(files + [avi], classes: .four, rule: rule, video: true)
        let kept = Split.allCases.flatMap { video.manifests[$0] ?? [] }.filter { $0.status == .kept }
        XCTAssertEqual(kept.map(\.clip), ["clips/IEMOCAP/Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav.clip",
                                         "clips/IEMOCAP/Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_M000.wav.clip"])
        let first = try JSONDecoder().decode(ClipReference.self, from: video.attachments[kept[0].clip!]!)
        XCTAssertEqual(kept[0].flags, [], "the first has a picture")
        XCTAssertEqual(first.video, ClipReference.Part(file: avi.workspacePath, sha256: "v", start: 6.2901, end: 8.2357))
        XCTAssertEqual(first.audio?.file, "", "the WAV's own path (its location here)")
        XCTAssertEqual(first.audio?.start, nil, "the WAV is the utterance whole")
        // The second utterance ends past the video's 10.5 s: its picture is missing, its sound kept, and the report says so.
        let second = try JSONDecoder().decode(ClipReference.self, from: video.attachments[kept[1].clip!]!)
        XCTAssertNil(second.video)
        XCTAssertEqual(kept[1].flags, [.audioOnly])
        XCTAssertEqual(video.report.clips["picture_missing"], ["IEMOCAP/Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_M000.wav"])
        XCTAssertTrue(video.report.problems.contains { $0.hasPrefix("IEMOCAP/Session1/dialog/EmoEvaluation/Ses01F_impro01.txt:6: the picture, IEMOCAP/Session1/dialog/avi/DivX/Ses01F_impro01.avi, ends before 10.010-11.39") },
                      "\(video.report.problems)")
        XCTAssertNil(video.report.clips["unannotated"]?.first { $0.hasSuffix(".avi") }, "the dialogue's video is annotated")
    }

    func testLabelsFileFaults() throws {
        let folder = try TemporaryFolder()
        func read(_ csv: String) throws -> Cleaner.Result {
            try Data(csv.utf8).write(to: URL(fileURLWithPath: folder.file("labels.csv")))
            let ok = ClipProbe(status: .ok, duration: 2, width: 64, height: 64, audioRMS: 0.1)
            return try LabelsFile.read([CorpusFile(path: "labels.csv", location: folder.file("labels.csv"), digest: "", probe: nil),
                                        CorpusFile(path: "a.mp4", location: "", digest: "a", probe: ok), CorpusFile(path: "b.mp4", location: "", digest: "b", probe: ok)],
                                       csv: "labels.csv", labels: [], rule: SplitRule())
        }
        // A row naming a missing file is a recorded drop.
        let missing = try read("file,label\na.mp4,calm\nb.mp4,tense\nc.mp4,calm\n")
        XCTAssertEqual(missing.report.clips["missing"], ["c.mp4"])
        XCTAssertEqual(Split.allCases.map { missing.report.splits[$0.rawValue]?.dropped["clip_missing"] ?? 0 }.reduce(0, +), 1)
        // One speaker in two splits of a hand-written split file is refused, naming both lines.
        XCTAssertThrowsError(try read("file,label,split,speaker\na.mp4,calm,train,ann\nb.mp4,tense,test,ann\n")) { error in
            XCTAssertEqual("\(error)", "speaker 'ann' is in train (labels.csv:2) and in test (labels.csv:3): a speaker in two splits lets a model recognise the person instead of the emotion")
        }
        XCTAssertThrowsError(try read("file,label,split\na.mp4,calm,train\nb.mp4,tense,validation\n")) { error in
            XCTAssertEqual("\(error)", "labels.csv:3: split 'validation' is not train, dev or test")
        }
        XCTAssertThrowsError(try read("path,emotion\na.mp4,calm\n")) { error in
            XCTAssertTrue("\(error)".hasPrefix("labels.csv:1: the header needs 'file' and 'label' columns"), "\(error)")
        }
        // Spans of a file: each row a .clip reference to its seconds of it; a span past the end, or not two times, a recorded drop.
        let spans = try read("file,label,start,end\na.mp4,calm,0.5,1.5\na.mp4,tense,0:01.25,00:00:02.000\na.mp4,calm,1:00,1:02\nb.mp4,calm,,\nb.mp4,tense,2,1\na.mp4,calm,0.5,1.5\n")
        let rows = Split.allCases.flatMap { spans.manifests[$0] ?? [] }.sorted { $0.source < $1.source }
        XCTAssertEqual(rows.map(\.source), ["labels.csv:2", "labels.csv:3", "labels.csv:4", "labels.csv:5"])
        XCTAssertEqual(rows.map(\.clip), ["clips/a.mp4@0.500-1.500.clip", "clips/a.mp4@1.250-2.000.clip", "a.mp4", "clips/b.mp4.clip"])
        XCTAssertEqual(rows.map(\.status), [.kept, .kept, .clip(.truncated), .kept])
        let span = try JSONDecoder().decode(ClipReference.self, from: spans.attachments["clips/a.mp4@1.250-2.000.clip"]!)
        XCTAssertEqual(span.video, ClipReference.Part(file: "", sha256: "a", start: 1.25, end: 2))
        XCTAssertEqual(span.audio, span.video)
        let whole = try JSONDecoder().decode(ClipReference.self, from: spans.attachments["clips/b.mp4.clip"]!)
        XCTAssertEqual(whole.video, ClipReference.Part(file: "", sha256: "b"))
        XCTAssertEqual(spans.report.problems, ["labels.csv:6: the span '2' to '1' is not two times in seconds (12.5, 0:12.5 or 00:00:12.500), the start before the end",
                                               "labels.csv:7: a.mp4 over the same span is listed again (first at line 2); the first is kept",
                                               "labels.csv:4: the span 60.000-62.000 s ends past a.mp4's 2.000 s"])
        XCTAssertThrowsError(try read("file,label,start\na.mp4,calm,1\n")) { error in
            XCTAssertEqual("\(error)", "labels.csv:1: a span needs both a 'start' and an 'end' column (the header has one of them)")
        }

        // Not a corpus of the layout at all.
        XCTAssertThrowsError(try CremaD.read([CorpusFile(path: "train_splits/dia1_utt0.mp4", location: "", digest: "", probe: nil)], labels: [], rule: SplitRule())) { error in
            XCTAssertTrue("\(error)".hasPrefix("no CREMA-D recording among the inputs: expected files named ACTOR_SENTENCE_EMOTION_LEVEL"), "\(error)")
        }
    }
}

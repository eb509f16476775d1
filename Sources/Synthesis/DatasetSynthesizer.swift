import Drawing
import Foundation
import Labels
import Media
import Meld
import ParallelWork
import SeededRandom
import Speech

/// What to generate: sizes, the label distribution, how strongly each modality carries the label,
/// and whether to plant MELD's known faults.
public struct SynthesisParams: Sendable {
    public var seed = 1
    /// Dialogues per split, in the order train, dev, test.
    public var dialogues = [Split.train: 12, .dev: 3, .test: 3]
    public var utterancesPerDialogue = 5
    public var width = 640
    public var height = 360
    public var frameRate = 24
    /// The emotions drawn, in class order: MELD's seven, or some of them.
    public var labels = LabelSet.meld.names
    /// Relative frequency of each label, one per label or one per MELD emotion (those outside `labels` are not drawn);
    /// MELD's train proportions by default.
    public var labelWeights = Emotion.meldTrainCounts
    /// Probability that a clip's face shows its label (otherwise a random expression).
    public var visualSignal = 0.7
    /// Probability that a clip's voice carries its label (otherwise a random emotion's prosody).
    public var audioSignal = 0.6
    /// A channel that does not carry the label shows neutral (a composed face, a flat voice) instead of a random
    /// emotion, as with people who control their face but not their voice: the channels then disagree without lying.
    public var maskAbsent = false
    public var plantFaults = true
    /// The folder layout written: MELD.Raw's, or a corpus's (`crema-d`, `ravdess`, `iemocap`, `csv`).
    public var layout = SynthesisLayout.meld
    /// A corpus layout's actors, each performing every drawn emotion `takes` times (MELD's layout uses `dialogues`).
    public var actors = 8
    public var takes = 2
    /// People in view in a MELD-layout clip: 1, the speaker alone; 2, a listener too (a `TwoPersonScene`).
    public var people = 1

    public init() {}

    /// What is wrong with these params, named as pipeline files name them; nil when they can be generated.
    public var problem: String? {
        guard Split.allCases.allSatisfy({ dialogues[$0] != nil }) else { return "'dialogues' must be three counts: train, dev, test" }
        let counts = Split.allCases.map { dialogues[$0] ?? 0 }
        if counts.contains(where: { $0 < 0 }) { return "'dialogues' must be three counts (train, dev, test), none negative" }
        if utterancesPerDialogue < 1 { return "'utterances' must be at least 1" }
        if width < 64 || height < 64 || width % 2 != 0 || height % 2 != 0 {
            return "'width' and 'height' must be even and at least 64, not \(width)x\(height)"
        }
        if !(1...120).contains(frameRate) { return "'fps' must be 1 to 120" }
        if let problem = LabelSet.problem(labels) { return "'labels': \(problem)" }
        if let unknown = labels.first(where: { Emotion(name: $0) == nil }) { return "'labels': '\(unknown)' is not one of MELD's emotions (\(LabelSet.meld))" }
        if maskAbsent && !labels.contains(Emotion.neutral.name) { return "'mask_absent' shows neutral, which 'labels' lacks" }
        if ![labels.count, Emotion.allCases.count].contains(labelWeights.count) || labelWeights.contains(where: { $0 < 0 }) || drawnWeights.reduce(0, +) <= 0 {
            return "'label_weights' must be \(labels.count) (one per label) or \(Emotion.allCases.count) (one per MELD emotion) non-negative weights, "
                + "not all zero over the labels"
        }
        if !(0...1).contains(visualSignal) || !(0...1).contains(audioSignal) {
            return "'visual_signal' and 'audio_signal' are probabilities in [0, 1]"
        }
        if !(1...2).contains(people) { return "'people' must be 1 or 2" }
        if people == 2 && layout != .meld { return "'people: 2' draws MELD-layout scenes; the \(layout.rawValue) layout has one actor in view" }
        guard layout != .meld else { return nil }
        if drawn.allSatisfy({ layout.word(for: $0) == nil }) { return "'labels': none of \(labels.joined(separator: ", ")) is an emotion of the \(layout.rawValue) layout" }
        let (maxActors, maxTakes): (Int, Int) = switch layout {
        case .cremaD: (91, 48)
        case .ravdess: (24, drawn.contains(.neutral) ? 4 : 8)
        case .iemocap: (10, 99)
        default: (99, 99)
        }
        if !(1...maxActors).contains(actors) { return "'actors' must be 1 to \(maxActors) for the \(layout.rawValue) layout" }
        if !(1...maxTakes).contains(takes) { return "'takes' must be 1 to \(maxTakes) for the \(layout.rawValue) layout (its names have no more)" }
        return nil
    }

    /// The emotions drawn, in class order.
    public var drawn: [Emotion] { labels.compactMap { Emotion(name: $0) } }

    /// Each drawn emotion's weight.
    public var drawnWeights: [Double] {
        labelWeights.count == labels.count ? labelWeights : drawn.map { labelWeights.indices.contains($0.rawValue) ? labelWeights[$0.rawValue] : 0 }
    }
}

/// One generated utterance: its MELD annotation and the ground truth of what each modality shows.
public struct PlannedUtterance: Sendable {
    public var split: Split
    public var dialogue: Int
    public var utterance: Int
    public var speaker: Int
    /// The dialogue's other speaker: in view beside the speaker in a two-person scene.
    public var listener: Int
    public var text: String
    public var label: Emotion
    public var face: Emotion
    public var voice: Emotion
    public var clipName: String { "dia\(dialogue)_utt\(utterance).mp4" }
}

/// A fault planted on purpose, so that tests and the demo can check that `clean` reports exactly these.
public struct PlantedFault: Sendable, Codable, Hashable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// A clip cut to half its bytes.
        case truncated
        /// An annotated utterance without its clip.
        case missing
        /// A clip whose audio track is silence.
        case silent
        /// A clip no CSV row names.
        case unannotated
        /// The train CSV's text damaged as MELD's Windows-1252 mojibake.
        case legacyEncoding = "legacy_encoding"
        /// Timestamps with one hour digit or two millisecond digits, as some MELD rows have.
        case shortTimestamps = "short_timestamps"
    }

    public var kind: Kind
    public var split: Split
    public var file: String
}

/// Writes a MELD.Raw-layout folder (or, with `layout`, a corpus's: `CorpusSynthesizer`) from `SynthesisParams`: the three CSVs with MELD's columns, one
/// H.264/AAC clip per utterance, and, in `synthesis/`, the ground truth and the planted faults, which
/// no model ever reads. The same params give byte-identical CSVs and clips, and each clip is a function of the seed
/// and its own plan alone: its speech is made in a process of its own (`SpeechSynthesizer`), its drawing from its
/// own random stream.
public enum DatasetSynthesizer {
    public static let sampleRate = 16_000

    public static func plan(_ params: SynthesisParams) -> [PlannedUtterance] {
        var planned: [PlannedUtterance] = []
        for (splitIndex, split) in Split.allCases.enumerated() {
            for dialogue in 0..<(params.dialogues[split] ?? 0) {
                let drawn = params.drawn, weights = params.drawnWeights
                var random = SeededRandom(seed: params.seed, 1, splitIndex, dialogue)
                let first = Int(random.next() % UInt64(Sentences.speakers.count))
                let cast = [first, (first + 1 + Int(random.next() % UInt64(Sentences.speakers.count - 1))) % Sentences.speakers.count]
                for utterance in 0..<params.utterancesPerDialogue {
                    let label = drawn[random.pick(weights: weights)]
                    func shown(_ signal: Double) -> Emotion {
                        if random.uniform(0, 1) < signal { return label }
                        return params.maskAbsent ? .neutral : drawn[Int(random.next() % UInt64(drawn.count))]
                    }
                    let face = shown(params.visualSignal)
                    let voice = shown(params.audioSignal)
                    let text = Sentences.line(&random)
                    planned.append(PlannedUtterance(split: split, dialogue: dialogue, utterance: utterance, speaker: cast[utterance % 2], listener: cast[(utterance + 1) % 2],
                                                    text: text, label: label, face: face, voice: voice))
                }
            }
        }
        return planned
    }

    /// The planted faults for a plan (empty when `plantFaults` is off or the plan is too small to hold them).
    public static func faults(_ params: SynthesisParams, plan: [PlannedUtterance]) -> [PlantedFault] {
        guard params.plantFaults else { return [] }
        var faults: [PlantedFault] = []
        func first(_ split: Split, skipping: Int = 0) -> PlannedUtterance? { plan.filter { $0.split == split }.dropFirst(skipping).first }
        if let clip = first(.train, skipping: 1) { faults.append(PlantedFault(kind: .truncated, split: .train, file: clip.clipName)) }
        if let clip = plan.last(where: { $0.split == .dev }) { faults.append(PlantedFault(kind: .missing, split: .dev, file: clip.clipName)) }
        if let clip = first(.test, skipping: 1) { faults.append(PlantedFault(kind: .silent, split: .test, file: clip.clipName)) }
        if plan.contains(where: { $0.split == .dev }) {
            faults.append(PlantedFault(kind: .unannotated, split: .dev, file: "dia\((params.dialogues[.dev] ?? 0) + 50)_utt0.mp4"))
        }
        if plan.contains(where: { $0.split == .train }) {
            faults.append(PlantedFault(kind: .legacyEncoding, split: .train, file: Split.train.csvName))
            faults.append(PlantedFault(kind: .shortTimestamps, split: .train, file: Split.train.csvName))
        }
        return faults
    }

    /// How many recordings `params` make.
    public static func count(_ params: SynthesisParams) -> Int {
        params.layout == .meld ? plan(params).count : CorpusSynthesizer.plan(params).count
    }

    /// Writes the dataset under `root`, generating clips on `threads` threads.
    public static func write(_ params: SynthesisParams, to root: String, threads: Int) throws {
        guard params.layout == .meld else { return try CorpusSynthesizer.write(params, to: root, threads: threads) }
        let plan = plan(params)
        let faults = faults(params, plan: plan)
        func fault(_ kind: PlantedFault.Kind, _ clip: PlannedUtterance) -> Bool {
            faults.contains { $0.kind == kind && $0.split == clip.split && $0.file == clip.clipName }
        }
        for split in Split.allCases {
            try FileManager.default.createDirectory(atPath: root + "/" + split.clipFolder, withIntermediateDirectories: true)
        }
        try FileManager.default.createDirectory(atPath: root + "/synthesis", withIntermediateDirectories: true)

        var clips = plan.filter { !fault(.missing, $0) }
        if let extra = faults.first(where: { $0.kind == .unannotated }), var template = plan.first(where: { $0.split == .dev }) {
            template.dialogue = (params.dialogues[.dev] ?? 0) + 50
            template.utterance = 0
            precondition(template.clipName == extra.file)
            clips.append(template)
        }
        let written = try ParallelWork.map(Array(clips.indices), threads: threads) { index -> WrittenClip in
            let clip = clips[index]
            let path = root + "/" + clip.split.clipFolder + "/" + clip.clipName
            let written = try writeClip(clip, speech: try speak(clip, params: params), params: params, to: path, silent: fault(.silent, clip))
            if fault(.truncated, clip) {
                let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
                try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path))
            }
            return written
        }
        var seconds: [String: Double] = [:]
        for (clip, done) in zip(clips, written) { seconds[clip.split.rawValue + "/" + clip.clipName] = done.seconds }
        try writeCSVs(plan, params: params, faults: faults, durations: seconds, to: root)
        try writeTruth(plan, faults: faults, to: root)
        if params.people == 2 { try writeFaces(Array(zip(clips, written)), to: root) }
    }

    /// What writing a clip leaves to record: its duration, and in a two-person scene, its scene and every face drawn.
    struct WrittenClip: Sendable {
        var seconds: Double
        var scene: TwoPersonScene?
        var faces: [DrawnFace] = []
    }

    /// A speaker's face and voice, fixed by the seed.
    static func identity(of speaker: Int, params: SynthesisParams) -> (FaceIdentity, VoiceIdentity) {
        var random = SeededRandom(seed: params.seed, 2, speaker)
        let face = FaceIdentity.random(&random)
        return (face, VoiceIdentity.random(&random, index: speaker))
    }

    /// The clip's speech at 16 kHz, with a quarter second of silence either side.
    static func speak(_ clip: PlannedUtterance, params: SynthesisParams) throws -> [Float] {
        let voice = identity(of: clip.speaker, params: params).1
        let spoken = try SpeechSynthesizer.speak(clip.text, prosody: voice.prosody(for: clip.voice))
        let pad = [Float](repeating: 0, count: sampleRate / 4)
        return pad + (try AudioResampler.resample(spoken.samples, from: spoken.sampleRate, to: sampleRate)) + pad
    }

    /// Draws and encodes one clip around its speech; returns its duration and, in a two-person scene, what it drew.
    static func writeClip(_ clip: PlannedUtterance, speech: [Float], params: SynthesisParams, to path: String, silent: Bool) throws -> WrittenClip {
        let face = identity(of: clip.speaker, params: params).0
        let samples = silent ? [Float](repeating: 0, count: speech.count) : speech

        let frameCount = Int((Double(samples.count) / Double(sampleRate) * Double(params.frameRate)).rounded(.up))
        let loudness = mouthOpening(samples, frames: frameCount, frameRate: params.frameRate)

        let writer = try MP4Writer(path: path, settings: .init(width: params.width, height: params.height, frameRate: params.frameRate, sampleRate: sampleRate))
        let canvas = Canvas(width: params.width, height: params.height)
        var noise = SeededRandom(seed: params.seed, 3, clip.split.hashValueStable, clip.dialogue, clip.utterance)
        var written = WrittenClip(seconds: Double(samples.count) / Double(sampleRate))
        if params.people == 2 {
            var random = SeededRandom(seed: params.seed, 4, clip.split.hashValueStable, clip.dialogue, clip.utterance)
            // The portrait is of someone outside the cast.
            let portrait = identity(of: Sentences.speakers.count + Int(random.next() % 8), params: params).0
            written.scene = TwoPersonScene(&random, width: params.width, height: params.height, frames: frameCount, frameRate: params.frameRate, portrait: portrait)
        }
        let listener = identity(of: clip.listener, params: params).0
        for frame in 0..<frameCount {
            let time = Double(frame) / Double(params.frameRate)
            if let scene = written.scene {
                written.faces += scene.paint(canvas, frame: frame, time: time, speaker: face, listener: listener, expression: Expression.of(clip.face),
                                             loudness: loudness[frame])
            } else {
                FacePainter.paint(canvas, identity: face, expression: Expression.of(clip.face), speech: loudness[frame], time: time)
            }
            try writer.append(frame: noisy(canvas, &noise))
        }
        try writer.append(samples: samples)
        try writer.finish()
        return written
    }

    /// How far the drawn mouth opens in each video frame: the loudness of the frame's span of `samples`, the loudest
    /// frame opening it to 1/1.3 of the way.
    static func mouthOpening(_ samples: [Float], frames: Int, frameRate: Int) -> [Double] {
        let window = sampleRate / frameRate
        var loudness = (0..<frames).map { frame -> Double in
            let slice = samples[min(samples.count, frame * window)..<min(samples.count, (frame + 1) * window)]
            return slice.isEmpty ? 0 : (slice.reduce(0) { $0 + Double($1 * $1) } / Double(slice.count)).squareRoot()
        }
        let loudest = loudness.max() ?? 0
        if loudest > 0 { loudness = loudness.map { min(1, $0 / loudest * 1.3) } }
        return loudness
    }

    /// The canvas's picture with sensor-like noise of -3...3 levels (eight pixels' worth from each random word).
    static func noisy(_ canvas: Canvas, _ noise: inout SeededRandom) -> RGBImage {
        var pixels = canvas.rgbPixels()
        pixels.withUnsafeMutableBufferPointer { bytes in
            var index = 0
            while index < bytes.count {
                var word = noise.next()
                for _ in 0..<min(8, bytes.count - index) {
                    bytes[index] = UInt8(clamping: Int(bytes[index]) + Int(word & 0xFF) % 7 - 3)
                    word >>= 8
                    index += 1
                }
            }
        }
        return RGBImage(width: canvas.width, height: canvas.height, pixels: pixels)
    }

    static func writeCSVs(_ plan: [PlannedUtterance], params: SynthesisParams, faults: [PlantedFault], durations: [String: Double], to root: String) throws {
        let legacy = faults.contains { $0.kind == .legacyEncoding }
        let shortStamps = faults.contains { $0.kind == .shortTimestamps }
        for split in Split.allCases {
            var lines = [CSV.line(meldColumns)]
            var clock = 0.0, previousDialogue = -1, row = 0
            for clip in plan where clip.split == split {
                if clip.dialogue != previousDialogue { clock = 60 * Double(clip.dialogue % 40) + 1.5; previousDialogue = clip.dialogue }
                let duration = durations[split.rawValue + "/" + clip.clipName] ?? 2.5
                let start = clock, end = clock + duration
                clock = end + 0.4
                row += 1
                let unusual = shortStamps && split == .train
                let startText = Timestamp.format(start, hourDigits: unusual && row == 2 ? 1 : 2)
                let endText = Timestamp.format(end, millisecondDigits: unusual && row == 3 ? 2 : 3)
                let text = legacy && split == .train ? TextRepair.damage(clip.text) : clip.text
                lines.append(CSV.line([String(row), text, Sentences.speakers[clip.speaker], clip.label.name, clip.label.sentiment,
                                       String(clip.dialogue), String(clip.utterance), "1", String(clip.dialogue + 1), startText, endText]))
            }
            try Data((lines.joined(separator: "\r\n") + "\r\n").utf8).write(to: URL(fileURLWithPath: root + "/" + split.csvName))
        }
    }

    static func writeTruth(_ plan: [PlannedUtterance], faults: [PlantedFault], to root: String) throws {
        var lines = [CSV.line(["split", "dialogue", "utterance", "label", "face_shows", "voice_carries", "face_carries_label", "voice_carries_label"])]
        for clip in plan {
            lines.append(CSV.line([clip.split.rawValue, String(clip.dialogue), String(clip.utterance), clip.label.name, clip.face.name, clip.voice.name,
                                   String(clip.face == clip.label), String(clip.voice == clip.label)]))
        }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: root + "/synthesis/truth.csv"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(faults).write(to: URL(fileURLWithPath: root + "/synthesis/faults.json"))
    }
}

extension DatasetSynthesizer {
    /// Two-person scenes' truth: `synthesis/scenes.csv`, a line per clip (whether the listener is the larger and more
    /// central, the frame of a cut to the listener alone, whether a portrait hangs on the wall), and `synthesis/faces.csv`,
    /// a line per face drawn per frame (its role, whether it speaks there, its head's bounds).
    static func writeFaces(_ clips: [(PlannedUtterance, WrittenClip)], to root: String) throws {
        var scenes = [CSV.line(["split", "dialogue", "utterance", "frames", "listener_dominant", "cut_frame", "picture"])]
        var faces = [CSV.line(["split", "dialogue", "utterance", "frame", "role", "speaking", "left", "top", "right", "bottom"])]
        for (clip, written) in clips {
            guard let scene = written.scene else { continue }
            let id = [clip.split.rawValue, String(clip.dialogue), String(clip.utterance)]
            scenes.append(CSV.line(id + [String(scene.listenerMouth.count), String(scene.listenerDominant), scene.cut.map(String.init) ?? "", String(scene.picture != nil)]))
            for face in written.faces {
                faces.append(CSV.line(id + [String(face.frame), face.role.rawValue, String(face.speaking), String(face.left), String(face.top),
                                            String(face.right), String(face.bottom)]))
            }
        }
        try Data((scenes.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: root + "/synthesis/scenes.csv"))
        try Data((faces.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: root + "/synthesis/faces.csv"))
    }
}

extension Split {
    /// A fixed number per split for seeding (Swift's `hashValue` changes from run to run).
    var hashValueStable: Int { Split.allCases.firstIndex(of: self)! }
}

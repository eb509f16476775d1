import Foundation
import Media
import ParallelWork

/// What the face stage found in one clip: every detection per sampled frame, the one face track it chose,
/// and that face's landmarks per frame. People read it as `faces.json`.
public struct ClipFaceRecord: Codable, Sendable {
    public struct Frame: Codable, Sendable {
        public var time: Double
        public var faces: [FaceBox]
        /// The chosen face's box in this frame (detected, or carried from the nearest frame where it was); nil when the
        /// speaking face chosen by the active rule is not in view at this frame (before or after its track: another shot,
        /// or off screen), whose chip is then zeros, as a clip's without a face.
        public var chosen: FaceBox?
        public var chosenDetected: Bool
        public var landmarks: [[Int]]?
    }

    public enum Status: String, Codable, Sendable {
        case ok
        /// No sampled frame has a face (or none shows the speaking face the active rule chose): the frames are all zero.
        case noFace = "no_face"
    }

    public var status: Status
    public var width: Int
    public var height: Int
    public var frames: [Frame]
    /// Which track was chosen, and how many there were (tracks of the sampled frames; nil when the active-speaker rule
    /// chose a track of its analysis frames, `speaker.chosen`).
    public var chosenTrack: Int?
    public var tracks: Int
    /// With `speaker: active`: how the face was chosen, every track of the analysis with its score, and why.
    public var speaker: SpeakerChoice?
}

/// How the face stage samples and aligns a clip: the numbers of MODEL.md, each a stage param.
public struct FaceSettings: Sendable, Hashable {
    /// Frames sampled uniformly over the clip.
    public var frames = 8
    /// Detection runs on a copy whose longer side is at most this (0: full size).
    public var maxSide = 640
    /// dlib's HOG; HOG then MTCNN where HOG finds no face; or MTCNN alone.
    public var detector = DetectorChoice.hogCNN
    /// The SHA-256 of MTCNN's weights file (`MTCNN.defaultWeightsPath`): the stage refuses another, since its boxes
    /// depend on them.
    public var cnnWeights = MTCNN.weightsSHA256
    /// The smallest face MTCNN looks for, in pixels of the detection copy (HOG's is 80).
    public var cnnMinimumFace = 40
    /// The chip's side in pixels.
    public var size = 224
    /// dlib's chip padding around the landmarks.
    public var padding = 0.25
    /// dlib's 68-point landmark model.
    public var predictor = LandmarkPredictor.debianModelPath
    /// Which face of several: the largest and most central, or the one speaking (`ActiveSpeaker`).
    public var speaker = SpeakerRule.active
    /// Frames per second decoded to follow lips when a clip shows several faces (at most `maximumAnalysisFrames`).
    public var analysisRate = 12
    public static let maximumAnalysisFrames = 360
    /// Of the analysis frames, the detector searches every this many (and each shot's first and last); the landmarks
    /// follow the faces over the others.
    public var analysisDetectEvery = 1

    public init() {}

    /// What makes these settings unusable, in words; nil when they can be used.
    public var problem: String? {
        if frames < 1 { return "at least one frame must be sampled, not \(frames)" }
        if size < 16 { return "the chip size must be at least 16, not \(size)" }
        if maxSide < 0 { return "the detection size must be 0 (full size) or positive, not \(maxSide)" }
        if !(padding >= 0) { return "the padding must be 0 or more, not \(padding)" }
        if analysisRate < 2 { return "the analysis rate must be at least 2 frames per second, not \(analysisRate)" }
        if analysisDetectEvery < 1 { return "the detector must search at least every analysis frame (1), not every \(analysisDetectEvery)" }
        if cnnMinimumFace < 12 { return "MTCNN's smallest face must be at least its 12-pixel window, not \(cnnMinimumFace)" }
        return nil
    }
}

/// Chooses one face per clip and aligns it in every sampled frame, as MODEL.md says: detect on a copy no larger
/// than `maxSide`, then landmarks and dlib's 224x224 chip on the full-resolution frame. MELD does not say who
/// speaks: where the sampled frames show one face track, it is taken; where they show several, the `active` rule
/// follows every face through the clip's `analysis` frames and takes the one whose lips move with the voice, and
/// otherwise (or with `speaker: largest`) the track largest and most central over the clip is taken.
public enum ClipFaces {
    /// What the active-speaker rule reads: the clip's frames at the analysis rate and its voice.
    public typealias AnalysisInput = (frames: [(time: Double, image: RGBImage)], audio: [Float], sampleRate: Int)

    public struct Result {
        public var record: ClipFaceRecord
        /// One chip per sampled frame; empty when no face was found.
        public var chips: [RGBImage]
    }

    /// The clip at the analysis rate and its voice at 16 kHz (none when it has no sound track: the rule then falls back,
    /// as it does when either does not decode).
    public static func analysisInput(_ source: ClipSource, settings: FaceSettings) throws -> AnalysisInput {
        let reader = try source.videoReader()
        return (try reader.frames(count: analysisFrameCount(reader.duration, settings)), try voice(source), 16_000)
    }

    /// The clip's `settings.frames` sampled frames, and (with `speaker: active`) the analysis input from the same decoding
    /// pass: its frames are held as decoded and converted when `analysis` is called, which a clip showing one face never does.
    public static func read(_ source: ClipSource, settings: FaceSettings) throws -> (sampled: [(time: Double, image: RGBImage)], analysis: () throws -> AnalysisInput) {
        let reader = try source.videoReader()
        let (sampled, held) = try reader.frames(count: settings.frames, holding: settings.speaker == .active ? analysisFrameCount(reader.duration, settings) : 0)
        return (sampled, { (try held.images(), try voice(source), 16_000) })
    }

    private static func analysisFrameCount(_ duration: Double, _ settings: FaceSettings) -> Int {
        min(FaceSettings.maximumAnalysisFrames, max(2, Int((duration * Double(settings.analysisRate)).rounded(.up))))
    }

    /// The voice through a reader of its own: one that has sought through the video does not give the audio again.
    private static func voice(_ source: ClipSource) throws -> [Float] {
        do { return try source.audioReader().audio(sampleRate: 16_000) } catch MediaError.noAudioStream { return [] }
    }

    /// `predictor` is asked for only once a face track exists, so a caller may still be loading it (about a
    /// second) while the frames are searched, and a clip without faces never needs it.
    /// With several `detectors` (one per thread: each keeps scratch state), the frames are searched on that
    /// many threads at once, as a decoder runs its frame threads.
    /// `analysis` is asked for only when the sampled frames show several face tracks and `speaker` is `active`.
    public static func extract(frames: [(time: Double, image: RGBImage)], detectors: [FaceDetector],
                               predictor loadPredictor: @autoclosure () throws -> LandmarkPredictor,
                               settings: FaceSettings = FaceSettings(), analysis: (() throws -> AnalysisInput)? = nil) throws -> Result {
        precondition(!detectors.isEmpty, "at least one detector")
        let width = frames.first?.image.width ?? 0, height = frames.first?.image.height ?? 0
        let (prepared, detections) = try search(frames.map(\.image), detectors: detectors, maxSide: settings.maxSide)
        let tracks = link(detections)
        var record = ClipFaceRecord(status: .noFace, width: width, height: height,
                                    frames: zip(frames, detections).map { ClipFaceRecord.Frame(time: $0.0.time, faces: $0.1, chosen: nil, chosenDetected: false, landmarks: nil) },
                                    chosenTrack: nil, tracks: tracks.count)
        // The heaviest track; of equal weights, the first found. Every choice here is made in frame order,
        // never in a dictionary's, whose order Swift seeds differently in every process.
        let weights = tracks.map { weight($0, width: width, height: height) }
        guard let best = weights.indices.min(by: { (-weights[$0], $0) < (-weights[$1], $1) }) else {
            return Result(record: record, chips: [])
        }
        record.status = .ok
        record.chosenTrack = best
        let predictor = try loadPredictor()
        var boxes: [(box: FaceBox, detected: Bool)?] = frames.indices.map { index in
            (box: tracks[best][index] ?? nearestBox(in: tracks[best], to: index), detected: tracks[best][index] != nil)
        }
        if settings.speaker == .active {
            if tracks.count > 1, let analysis {
                let input: AnalysisInput
                do { input = try analysis() } catch {
                    // A clip whose sampled frames decode but whose every frame does not (cut short) keeps the largest face.
                    record.speaker = SpeakerChoice(rule: .largest, reason: "the clip does not decode at the analysis rate: \(error)", analysisFrames: 0,
                                                   cuts: [], tracks: [], chosen: nil)
                    return try chips(frames, prepared, boxes, &record, predictor: predictor, settings: settings)
                }
                let found = try ActiveSpeaker.analyse(frames: input.frames, audio: input.audio, sampleRate: input.sampleRate, detectors: detectors,
                                                      predictor: predictor, maxSide: settings.maxSide, detectEvery: settings.analysisDetectEvery)
                record.speaker = found.choice
                if let chosen = found.choice.chosen {
                    // Each sampled frame within the speaking track's span takes its box at the nearest analysis frame; a
                    // frame outside it (the speaker not in view: another shot, or off screen) gets no face rather than
                    // whoever else is there.
                    let track = found.tracks[chosen], step = 1 / Double(settings.analysisRate)
                    let half = found.times.count > 1 ? 0.5 * (found.times.last! - found.times.first!) / Double(found.times.count - 1) : step
                    let span = (found.times[track.first] - half)...(found.times[track.last] + half)
                    record.chosenTrack = nil
                    boxes = frames.map { frame in
                        guard span.contains(frame.time) else { return nil }
                        let nearest = track.boxes.keys.min { (abs(found.times[$0] - frame.time), $0) < (abs(found.times[$1] - frame.time), $1) }!
                        return (track.boxes[nearest]!, track.detected.contains(nearest) && abs(found.times[nearest] - frame.time) <= step)
                    }
                    if boxes.allSatisfy({ $0 == nil }) { record.status = .noFace }
                }
            } else {
                record.speaker = SpeakerChoice(rule: .largest, reason: tracks.count == 1 ? "one face track: nothing to choose" : "no analysis frames were given",
                                               analysisFrames: 0, cuts: [], tracks: [], chosen: nil)
            }
        }
        return try chips(frames, prepared, boxes, &record, predictor: predictor, settings: settings)
    }

    /// The chip of each sampled frame in its chosen box (zeros where it has none), the boxes and landmarks recorded.
    private static func chips(_ frames: [(time: Double, image: RGBImage)], _ prepared: [FaceImage], _ boxes: [(box: FaceBox, detected: Bool)?],
                              _ record: inout ClipFaceRecord, predictor: LandmarkPredictor, settings: FaceSettings) throws -> Result {
        var chips: [RGBImage] = []
        for index in frames.indices {
            guard let (box, detected) = boxes[index] else {
                chips.append(RGBImage(width: settings.size, height: settings.size))
                continue
            }
            let landmarks = try predictor.landmarks(in: prepared[index], box: box)
            let chip = try FaceChip.extract(from: prepared[index], box: box, landmarks: landmarks, size: settings.size, padding: settings.padding)
            record.frames[index].chosen = box
            record.frames[index].chosenDetected = detected
            record.frames[index].landmarks = landmarks
            chips.append(chip.image)
        }
        return Result(record: record, chips: chips)
    }

    public static func extract(frames: [(time: Double, image: RGBImage)], detector: FaceDetector,
                               predictor: @autoclosure () throws -> LandmarkPredictor,
                               settings: FaceSettings = FaceSettings(), analysis: (() throws -> AnalysisInput)? = nil) throws -> Result {
        try extract(frames: frames, detectors: [detector], predictor: try predictor(), settings: settings, analysis: analysis)
    }

    /// Each frame in dlib's form and its detections (none searched for outside `detecting`, when given); the frames are
    /// dealt to the detectors in turn, those to search first, each detector on its own thread (a detector keeps scratch
    /// state, so no two threads share one).
    static func search(_ images: [RGBImage], detectors: [FaceDetector], maxSide: Int, detecting: Set<Int>? = nil) throws -> ([FaceImage], [[FaceBox]]) {
        let order = detecting.map { detecting in images.indices.filter(detecting.contains) + images.indices.filter { !detecting.contains($0) } } ?? Array(images.indices)
        let lanes = try ParallelWork.map(Array(detectors.indices), threads: detectors.count) { lane in
            try stride(from: lane, to: order.count, by: detectors.count).map { position -> (Int, FaceImage, [FaceBox]) in
                let index = order[position], image = try FaceImage(images[index])
                return (index, image, detecting?.contains(index) ?? true ? try detectors[lane].detect(image, maxSide: maxSide) : [])
            }
        }
        let found = lanes.joined().sorted { $0.0 < $1.0 }
        return (found.map(\.1), found.map(\.2))
    }

    /// Links detections of consecutive frames into tracks by box overlap (intersection over union above 0.3);
    /// each track maps frame index to box.
    static func link(_ detections: [[FaceBox]]) -> [[Int: FaceBox]] {
        var tracks: [[Int: FaceBox]] = []
        var last: [FaceBox] = []
        for (frame, boxes) in detections.enumerated() {
            var taken: Set<Int> = []
            for box in boxes.sorted(by: { ($1.score, $0.left, $0.top) < ($0.score, $1.left, $1.top) }) {
                let candidates = tracks.indices.filter { !taken.contains($0) }.map { ($0, overlap(last[$0], box)) }.filter { $0.1 > 0.3 }
                if let (track, _) = candidates.max(by: { $0.1 < $1.1 }) {
                    tracks[track][frame] = box
                    last[track] = box
                    taken.insert(track)
                } else {
                    tracks.append([frame: box])
                    last.append(box)
                    taken.insert(tracks.count - 1)
                }
            }
        }
        return tracks
    }

    public static func overlap(_ a: FaceBox, _ b: FaceBox) -> Double {
        let width = min(a.right, b.right) - max(a.left, b.left) + 1, height = min(a.bottom, b.bottom) - max(a.top, b.top) + 1
        guard width > 0, height > 0 else { return 0 }
        let intersection = Double(width * height)
        return intersection / (Double(a.width * a.height + b.width * b.height) - intersection)
    }

    /// The track's box in the frame nearest to `frame`; of two as near, the earlier one.
    static func nearestBox(in track: [Int: FaceBox], to frame: Int) -> FaceBox {
        guard let nearest = track.keys.min(by: { (abs($0 - frame), $0) < (abs($1 - frame), $1) }), let box = track[nearest] else {
            preconditionFailure("a face track without a box")
        }
        return box
    }

    /// Area times closeness to the frame's centre, summed over the frames the track is seen in, in frame order
    /// (a sum in another order can round differently).
    static func weight(_ track: [Int: FaceBox], width: Int, height: Int) -> Double {
        let halfDiagonal = 0.5 * (Double(width * width + height * height)).squareRoot()
        return track.keys.sorted().compactMap { track[$0] }.reduce(0) { sum, box in
            let dx = Double(box.left + box.right) / 2 - Double(width) / 2, dy = Double(box.top + box.bottom) / 2 - Double(height) / 2
            let centrality = max(0, 1 - (dx * dx + dy * dy).squareRoot() / halfDiagonal)
            return sum + Double(box.width * box.height) * centrality
        }
    }
}

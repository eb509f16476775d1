import Foundation
import Media

/// The faces stage's choice of face, made on a stream as it plays (`emotion watch`). Frames are taken at the stage's
/// analysis rate and every face in them is followed (`FaceTracks`: the detector on the first frame, at each shot cut and
/// on every `detectEvery`-th frame, the landmarks between). On the frames a window may read, a chip is cut for every
/// face followed there. A window then takes the face the stage would take over its span: the one whose lips follow the
/// voice (`ActiveSpeaker.choose`), else, or with `speaker: largest`, the largest and most central.
public final class StreamFaces {
    /// The chosen face in one kept frame.
    public struct Face {
        public var time: Double
        public var box: FaceBox
        public var chip: [UInt8]
    }

    /// What a window's faces come to.
    public struct Window {
        /// One per time asked for: the chosen face in the kept frame nearest it, nil where the chosen face is not in view.
        public var faces: [Face?]
        /// How the face was chosen; nil when the window shows no face.
        public var choice: SpeakerChoice?
    }

    private let detector: FaceDetector
    private let settings: FaceSettings
    private let detectEvery: Int
    /// Chips are cut on frames at least this many seconds apart; frames older than `horizon` seconds are forgotten.
    private let keepEvery: Double, horizon: Double
    private let tracks: FaceTracks
    /// The times of the frames taken and not yet forgotten, the first being frame `firstIndex`.
    private var times: [Double] = []
    private var firstIndex = 0
    /// Per kept frame, each followed face's box and chip, by track.
    private var chips: [Int: [Int: (box: FaceBox, chip: [UInt8])]] = [:]
    private var cuts: [Int] = []
    private var previousThumbnail: [Double]?
    private var sinceDetection = 0
    private var lastSlot = Int.min, lastKept = -Double.infinity
    private var frameSize = (width: 0, height: 0)
    /// The track the last window chose, for the box `latestBox` shows.
    private var lastChosen: Int?

    static let aloneEvery = 4

    /// The face to show in the latest frame: the one the last window chose when it is still followed, else the largest.
    public private(set) var latestBox: FaceBox?

    public init(detector: FaceDetector, predictor: LandmarkPredictor, settings: FaceSettings, detectEvery: Int, keepEvery: Double, horizon: Double) {
        self.detector = detector
        self.settings = settings
        self.detectEvery = max(1, detectEvery)
        self.keepEvery = keepEvery
        self.horizon = horizon
        // A face the detector misses for up to half a second (turned, or its mouth wide open; longer while it is alone and
        // the detector looks less often) is the same face after, as the stage links a clip's detections across such
        // gaps: a track broken there would be scored in pieces, and a piece of a few frames can follow the voice by chance.
        tracks = FaceTracks(predictor: predictor, keepMissed: max(1, Int((0.5 * Double(settings.analysisRate) / Double(self.detectEvery)).rounded())))
    }

    /// Takes a video frame when it falls in a new slot of the analysis rate (a faster stream's other frames are passed
    /// over).
    public func take(_ image: RGBImage, at time: Double) throws {
        let slot = Int((time * Double(settings.analysisRate) + 1e-6).rounded(.down))
        guard slot > lastSlot else { return }
        lastSlot = slot
        frameSize = (image.width, image.height)
        let index = firstIndex + times.count, prepared = try FaceImage(image), thumbnail = ActiveSpeaker.thumbnail(image)
        let cut = previousThumbnail.map { ActiveSpeaker.isCut($0, thumbnail) } ?? false
        if cut { cuts.append(index) }
        // With one face in view or none there is nothing to choose between yet, and with `speaker: largest` no lips to
        // read: the detector then looks on every `aloneEvery`-th frame (a third of a second), the landmarks following the
        // faces between, which is most of a live stream's frames and most of what following costs.
        let every = settings.speaker == .active && tracks.followed.count > 1 ? detectEvery : max(detectEvery, Self.aloneEvery)
        let detecting = previousThumbnail == nil || cut || sinceDetection + 1 >= every
        previousThumbnail = thumbnail
        sinceDetection = detecting ? 0 : sinceDetection + 1
        try tracks.advance(index, image: prepared, detections: detecting ? try detector.detect(prepared, maxSide: settings.maxSide) : nil, cut: cut)
        times.append(time)
        let followed = tracks.followed.compactMap { id in tracks.tracks[id].boxes[index].map { (id, $0, tracks.tracks[id].landmarks[index]!) } }
        if time - lastKept >= keepEvery - 1e-9 {
            lastKept = time
            var each: [Int: (box: FaceBox, chip: [UInt8])] = [:]
            for (id, box, landmarks) in followed {
                each[id] = (box, try FaceChip.extract(from: prepared, box: box, landmarks: landmarks, size: settings.size, padding: settings.padding).image.pixels)
            }
            chips[index] = each
        }
        latestBox = (followed.first { $0.0 == lastChosen } ?? followed.max { ($0.1.width * $0.1.height, $1.0) < ($1.1.width * $1.1.height, $0.0) })?.1
        forget(before: time - horizon)
    }

    private func forget(before time: Double) {
        let drop = times.prefix { $0 < time }.count
        guard drop > 0 else { return }
        times.removeFirst(drop)
        firstIndex += drop
        tracks.forget(before: firstIndex)
        chips = chips.filter { $0.key >= firstIndex }
        cuts.removeAll { $0 < firstIndex }
    }

    /// The window of frames from `start` to `end` seconds: its face chosen as the faces stage chooses over a clip, and
    /// that face's chip nearest each of `targets`. `audio` is the voice from `audioStart` seconds on, at `sampleRate`.
    public func window(from start: Double, to end: Double, targets: [Double], audio: [Float], audioStart: Double, sampleRate: Int) -> Window {
        let positions = times.indices.filter { times[$0] >= start - 1e-9 && times[$0] <= end + 1e-9 }
        guard let first = positions.first.map({ $0 + firstIndex }), let last = positions.last.map({ $0 + firstIndex }) else {
            return Window(faces: targets.map { _ in nil }, choice: nil)
        }
        // The tracks seen in the window, their frames counted from its first. A track is read up to its last detection
        // in the window, as the stage trims a track: what the landmarks followed after it may be the wall, and a track
        // that ends later is trimmed then, so reading it now would make the window depend on frames after its end.
        var ids: [Int] = [], seen: [FaceTracks.Track] = []
        for (id, track) in tracks.tracks.enumerated() {
            guard let lastDetected = track.detected.filter({ (first...last).contains($0) }).max() else { continue }
            let frames = track.boxes.keys.filter { (first...lastDetected).contains($0) }
            ids.append(id)
            seen.append(FaceTracks.Track(boxes: Dictionary(uniqueKeysWithValues: frames.map { ($0 - first, track.boxes[$0]!) }),
                                         detected: Set(track.detected.filter { (first...last).contains($0) }.map { $0 - first }),
                                         landmarks: Dictionary(uniqueKeysWithValues: frames.map { ($0 - first, track.landmarks[$0]!) })))
        }
        guard !seen.isEmpty else { return Window(faces: targets.map { _ in nil }, choice: nil) }
        let windowTimes = positions.map { times[$0] }
        var choice: SpeakerChoice
        if seen.count == 1 || settings.speaker == .largest {
            choice = SpeakerChoice(rule: .largest, reason: seen.count == 1 ? "one face track: nothing to choose" : "speaker: largest", analysisFrames: windowTimes.count,
                                   cuts: [], tracks: [], chosen: nil)
        } else {
            // A track is scored when seen in a third of the window at least: a window holds pieces of tracks, and a piece
            // of half a second can follow the voice by chance where a clip's whole tracks do not.
            choice = ActiveSpeaker.choose(seen, times: windowTimes.map { $0 - audioStart }, cuts: cuts.filter { $0 > first && $0 <= last }.map { $0 - first },
                                          audio: audio, sampleRate: sampleRate, minimumFrames: max(ActiveSpeaker.minimumFrames, windowTimes.count / 3))
            choice.cuts = choice.cuts.map { $0 + audioStart }
        }
        let weights = seen.map { ClipFaces.weight($0.boxes, width: frameSize.width, height: frameSize.height) }
        let chosen = choice.chosen ?? weights.indices.min { (-weights[$0], $0) < (-weights[$1], $1) }!
        lastChosen = ids[chosen]
        // As in the stage: with the speaker chosen, a time beyond half a frame of its track's span has no face; with the
        // largest, the face's nearest chip stands in where it was missed.
        let track = seen[chosen], half = 0.5 / Double(settings.analysisRate)
        let span = (windowTimes[track.first] - half)...(windowTimes[track.last] + half)
        let kept = (first...last).compactMap { frame in
            track.boxes[frame - first] == nil ? nil : chips[frame]?[ids[chosen]].map { Face(time: times[frame - firstIndex], box: $0.box, chip: $0.chip) }
        }
        return Window(faces: targets.map { target in
            guard choice.chosen == nil || span.contains(target) else { return nil }
            return kept.min { abs($0.time - target) < abs($1.time - target) }
        }, choice: choice)
    }
}

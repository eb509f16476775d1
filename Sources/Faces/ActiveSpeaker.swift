import Foundation
import Media
import ParallelWork

/// How the faces stage chooses among several faces: the largest and most central track, or the track whose lips move
/// with the voice (falling back to the largest where no track is clearly speaking, and saying so).
public enum SpeakerRule: String, Codable, Sendable, CaseIterable {
    case largest, active
}

/// What the active-speaker rule found in a clip, as `faces.json` records it under `speaker`.
public struct SpeakerChoice: Codable, Sendable, Equatable {
    public struct Track: Codable, Sendable, Equatable {
        /// The first and last analysis frame it is followed in, in how many, and in how many of those the detector found it.
        public var first: Int, last: Int, frames: Int, detected: Int
        /// Its mean detected box height, in pixels.
        public var height: Double
        /// The correlation of its mouth's opening with the voice's loudness, at the best lag (analysis frames, the voice
        /// after the lips when positive); nil with fewer than `ActiveSpeaker.minimumFrames` frames.
        public var score: Double?
        public var lag: Int?
    }

    /// Which rule chose the chips: `active` (a track clearly speaking) or `largest` (the fallback).
    public var rule: SpeakerRule
    public var reason: String
    /// Frames analysed (decoded at the stage's `analysis_fps`) and the times of the shot cuts found among them; no track
    /// spans a cut.
    public var analysisFrames: Int
    public var cuts: [Double]
    public var tracks: [Track]
    /// The speaking track, when the active rule chose.
    public var chosen: Int?
}

/// Finds the speaking face: every face tracked through the clip at an analysis rate (tracks broken at shot cuts), each
/// track's mouth opening from its landmarks frame by frame, correlated with the loudness of the clip's voice over the
/// same frames, allowing a lag of up to two frames either way. A track whose score is at least `clearScore` and ahead of
/// every track in view beside it by `margin` is the speaker.
public enum ActiveSpeaker {
    public static let minimumFrames = 6
    public static let clearScore = 0.4
    public static let margin = 0.15
    static let maximumLag = 2
    /// Mean absolute difference of two frames' grey thumbnails (0-255) above which a shot changes.
    static let cutThreshold = 40.0

    public struct Analysis {
        public var choice: SpeakerChoice
        public var times: [Double]
        public var tracks: [FaceTracks.Track]
    }

    /// `detectEvery`: 1, the detector searches every frame and each face's detections are linked by overlap; more, it
    /// searches each shot's first and last frames and every `detectEvery`-th between, and the landmarks follow the faces
    /// over the others (`FaceTracks`), which costs a fraction of the detections but measures the lips less surely.
    public static func analyse(frames: [(time: Double, image: RGBImage)], audio: [Float], sampleRate: Int, detectors: [FaceDetector],
                               predictor: LandmarkPredictor, maxSide: Int, detectEvery: Int) throws -> Analysis {
        let times = frames.map(\.time), images = frames.map(\.image)
        let cuts = shotCuts(images)
        let shots = zip([0] + cuts, cuts + [frames.count]).filter { $0.0 < $0.1 }
        let detecting = detectEvery > 1 ? Set(shots.flatMap { start, end in Array(stride(from: start, to: end, by: detectEvery)) + [end - 1] }) : nil
        let (prepared, detections) = try ClipFaces.search(images, detectors: detectors, maxSide: maxSide, detecting: detecting)
        // Tracks are followed or linked within each shot, never across a cut.
        let tracks: [FaceTracks.Track]
        if let detecting {
            let following = FaceTracks(predictor: predictor, threads: detectors.count), shotStarts = Set(cuts)
            for index in frames.indices {
                try following.advance(index, image: prepared[index], detections: detecting.contains(index) ? detections[index] : nil, cut: shotStarts.contains(index))
            }
            following.endAll()
            tracks = following.tracks
        } else {
            tracks = try shots.flatMap { start, end in
                try ClipFaces.link(Array(detections[start..<end])).map { linked in
                    try fitted(Dictionary(uniqueKeysWithValues: linked.map { ($0.key + start, $0.value) }), in: prepared, predictor: predictor, threads: detectors.count)
                }
            }
        }
        let choice = choose(tracks, times: times, cuts: cuts, audio: audio, sampleRate: sampleRate)
        return Analysis(choice: choice, times: times, tracks: tracks)
    }

    /// The rule itself, on tracks already followed over frames at `times` (the voice's samples from time 0; `cuts`, the
    /// frames that begin a shot): each track's score (from `minimumFrames` frames), and the speaker when one is clearly
    /// speaking. The faces stage asks it of a clip, `emotion watch` of each window.
    public static func choose(_ tracks: [FaceTracks.Track], times: [Double], cuts: [Int], audio: [Float], sampleRate: Int,
                              minimumFrames: Int = minimumFrames) -> SpeakerChoice {
        let rate = times.count > 1 ? Double(times.count - 1) / max(1e-6, times.last! - times.first!) : 1
        let loudness = loudness(audio, sampleRate: sampleRate, times: times, rate: rate), voice = smoothedSeries(loudness)
        var records: [SpeakerChoice.Track] = []
        for track in tracks {
            let (score, lag) = correlation(smoothed(track.landmarks.mapValues(mouthOpening)), voice, minimumFrames: minimumFrames)
            let detected = track.detected.sorted()
            records.append(SpeakerChoice.Track(first: track.first, last: track.last, frames: track.boxes.count, detected: detected.count,
                                               height: detected.reduce(0) { $0 + Double(track.boxes[$1]!.height) } / Double(max(1, detected.count)), score: score, lag: lag))
        }
        var choice = SpeakerChoice(rule: .largest, reason: "", analysisFrames: times.count, cuts: cuts.map { times[$0] }, tracks: records, chosen: nil)
        let ranked = records.indices.filter { records[$0].score != nil }.sorted { (-records[$0].score!, $0) < (-records[$1].score!, $1) }
        // The margin is over the faces in view at the same time as the best: a track never beside it is another shot,
        // or the same face again after the tracker lost it.
        let rival = ranked.first.flatMap { best in ranked.dropFirst().first { !Set(tracks[$0].boxes.keys).isDisjoint(with: tracks[best].boxes.keys) } }
        if (loudness.max() ?? 0) < 1e-3 {
            choice.reason = "the voice is silent: no lips to match"
        } else if let best = ranked.first, records[best].score! >= clearScore, rival.map({ records[best].score! - records[$0].score! >= margin }) ?? true {
            choice.rule = .active
            choice.chosen = best
            choice.reason = String(format: "track %d's lips follow the voice (%.2f", best, records[best].score!)
                + (rival.map { String(format: "; beside it, track %d, %.2f)", $0, records[$0].score!) } ?? ")")
        } else if ranked.isEmpty {
            choice.reason = "no track is seen in \(minimumFrames) analysis frames"
        } else {
            choice.reason = "no track is clearly speaking (" + ranked.prefix(3).map { String(format: "track %d: %.2f", $0, records[$0].score!) }.joined(separator: ", ") + ")"
        }
        return choice
    }

    /// A linked track's landmarks in every frame from its first detection to its last: frames between two detections,
    /// where the detector missed the face, are fitted in the nearest detection's box (the lips still move there; a face
    /// barely moves in a twelfth of a second).
    private static func fitted(_ linked: [Int: FaceBox], in prepared: [FaceImage], predictor: LandmarkPredictor, threads: Int) throws -> FaceTracks.Track {
        let frames = Array(linked.keys.min()!...linked.keys.max()!)
        let boxes = frames.map { linked[$0] ?? ClipFaces.nearestBox(in: linked, to: $0) }
        let landmarks = try ParallelWork.map(Array(zip(frames, boxes)), threads: threads) { try predictor.landmarks(in: prepared[$0.0], box: $0.1) }
        return FaceTracks.Track(boxes: Dictionary(uniqueKeysWithValues: zip(frames, boxes)), detected: Set(linked.keys),
                                landmarks: Dictionary(uniqueKeysWithValues: zip(frames, landmarks)))
    }

    /// The lips' inner opening over the face's height (nose bridge to chin), from dlib's 68 points.
    static func mouthOpening(_ points: [[Int]]) -> Double {
        func distance(_ a: Int, _ b: Int) -> Double {
            let (dx, dy) = (Double(points[a][0] - points[b][0]), Double(points[a][1] - points[b][1]))
            return (dx * dx + dy * dy).squareRoot()
        }
        return (distance(61, 67) + distance(62, 66) + distance(63, 65)) / 3 / max(1, distance(27, 8))
    }

    /// The voice's RMS over each analysis frame's span (half the frame interval either side of its time).
    static func loudness(_ audio: [Float], sampleRate: Int, times: [Double], rate: Double) -> [Double] {
        let half = 0.5 / rate
        return times.map { time in
            let from = max(0, min(audio.count, Int((time - half) * Double(sampleRate)))), to = max(from, min(audio.count, Int((time + half) * Double(sampleRate))))
            guard to > from else { return 0 }
            var sum = 0.0
            for i in from..<to { sum += Double(audio[i]) * Double(audio[i]) }
            return (sum / Double(to - from)).squareRoot()
        }
    }

    /// Each value averaged with its neighbours (weights 1/4, 1/2, 1/4; a missing neighbour's weight goes to the value):
    /// a landmark fit jitters by a pixel or two from frame to frame, as much as a small face's lips move.
    static func smoothed(_ series: [Int: Double]) -> [Int: Double] {
        Dictionary(uniqueKeysWithValues: series.map { index, value in
            (index, 0.5 * value + 0.25 * (series[index - 1] ?? value) + 0.25 * (series[index + 1] ?? value))
        })
    }

    static func smoothedSeries(_ series: [Double]) -> [Double] {
        let indexed = smoothed(Dictionary(uniqueKeysWithValues: series.enumerated().map { ($0.offset, $0.element) }))
        return series.indices.map { indexed[$0]! }
    }

    /// Pearson's correlation of the opening (where the track is seen) with the loudness shifted by each lag; the best
    /// lag's, and the lag (the smaller in size of equal ones). Nil with fewer than `minimumFrames` pairs, or no variation.
    static func correlation(_ opening: [Int: Double], _ loudness: [Double], minimumFrames: Int = minimumFrames) -> (Double?, Int?) {
        var best: (Double, Int)?
        for lag in (-maximumLag...maximumLag).sorted(by: { (abs($0), $0) < (abs($1), $1) }) {
            let pairs = opening.keys.sorted().compactMap { index -> (Double, Double)? in
                let other = index + lag
                return loudness.indices.contains(other) ? (opening[index]!, loudness[other]) : nil
            }
            guard pairs.count >= minimumFrames else { continue }
            let n = Double(pairs.count)
            let (mx, my) = (pairs.reduce(0) { $0 + $1.0 } / n, pairs.reduce(0) { $0 + $1.1 } / n)
            var (sxy, sxx, syy) = (0.0, 0.0, 0.0)
            for (x, y) in pairs { sxy += (x - mx) * (y - my); sxx += (x - mx) * (x - mx); syy += (y - my) * (y - my) }
            guard sxx > 1e-12, syy > 1e-12 else { continue }
            let r = sxy / (sxx * syy).squareRoot()
            if best.map({ r > $0.0 }) ?? true { best = (r, lag) }
        }
        return (best?.0, best?.1)
    }

    /// Indices of the frames that begin a new shot: where a 32x18 grey thumbnail differs from the previous frame's by
    /// more than `cutThreshold` on average.
    static func shotCuts(_ images: [RGBImage]) -> [Int] {
        let thumbnails = images.map(thumbnail)
        return thumbnails.indices.dropFirst().filter { isCut(thumbnails[$0 - 1], thumbnails[$0]) }
    }

    static func isCut(_ before: [Double], _ after: [Double]) -> Bool {
        zip(after, before).reduce(0) { $0 + abs($1.0 - $1.1) } / Double(after.count) > cutThreshold
    }

    static func thumbnail(_ image: RGBImage) -> [Double] {
        let (columns, rows) = (32, 18)
        return (0..<rows * columns).map { cell in
            let (x, y) = (min(image.width - 1, (cell % columns * 2 + 1) * image.width / (2 * columns)), min(image.height - 1, (cell / columns * 2 + 1) * image.height / (2 * rows)))
            let offset = (y * image.width + x) * 3
            return (Double(image.pixels[offset]) + Double(image.pixels[offset + 1]) + Double(image.pixels[offset + 2])) / 3
        }
    }
}

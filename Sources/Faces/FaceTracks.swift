import Foundation
import ParallelWork

/// Follows every face through a sequence of frames: the detector's boxes are given on some frames (every few, and the
/// first of each shot); on the others each face's landmarks are fitted in its box and the box moves with them. A face
/// costs a landmark fit per frame rather than a detection, which is what lets the active-speaker rule watch lips at 12
/// frames per second, in a clip (`ActiveSpeaker`) or a stream (`StreamFaces`).
///
/// A detection takes over the track whose box it overlaps most (intersection over union above 0.3; the best-scoring
/// detection chooses first); one that overlaps none starts a track. A track no detection confirms for more than
/// `keepMissed` detecting frames in a row ends, and so does every track at a shot cut. An ended track keeps only the
/// frames up to its last detection: what the landmarks followed after it may be a face turned away, or the wall.
public final class FaceTracks {
    public struct Track: Sendable {
        /// The box the landmarks were fitted in, per frame followed.
        public var boxes: [Int: FaceBox] = [:]
        /// The frames whose box the detector found.
        public var detected: Set<Int> = []
        public var landmarks: [Int: [[Int]]] = [:]
        public init(boxes: [Int: FaceBox] = [:], detected: Set<Int> = [], landmarks: [Int: [[Int]]] = [:]) {
            (self.boxes, self.detected, self.landmarks) = (boxes, detected, landmarks)
        }

        public var first: Int { boxes.keys.min()! }
        public var last: Int { boxes.keys.max()! }
    }

    /// What follows a track from frame to frame: the last detection's box and where its landmarks' centre was then.
    private struct Following {
        var track: Int
        var anchor: FaceBox
        var anchorCentre: (x: Int, y: Int)?
        var box: FaceBox
        var lastDetected: Int
        var missed = 0
        var detectedNow = true

        init(track: Int, anchor: FaceBox, box: FaceBox, lastDetected: Int) {
            (self.track, self.anchor, self.box, self.lastDetected) = (track, anchor, box, lastDetected)
        }

        mutating func detect(_ found: FaceBox, at index: Int) {
            (anchor, anchorCentre, box, lastDetected, missed, detectedNow) = (found, nil, found, index, 0, true)
        }

        /// The box for the next frame keeps the detection's size and its offset from the landmarks' centre.
        mutating func follow(_ centre: (x: Int, y: Int)) {
            guard let anchorCentre else {
                anchorCentre = centre
                return
            }
            let (dx, dy) = (centre.x - anchorCentre.x, centre.y - anchorCentre.y)
            // A fit jitters by a few pixels, and on a face it fits poorly the jitter drifts the box off the face: the box
            // moves only once the face has moved by more than a twentieth of its width.
            let still = Double(max(abs(dx), abs(dy))) <= 0.05 * Double(anchor.width)
            if still {
                box = anchor
                return
            }
            box = FaceBox(left: anchor.left + dx, top: anchor.top + dy, right: anchor.right + dx, bottom: anchor.bottom + dy,
                          score: anchor.score, detectorIndex: anchor.detectorIndex)
        }
    }

    public private(set) var tracks: [Track] = []
    private var following: [Following] = []
    private let predictor: LandmarkPredictor
    private let keepMissed: Int
    private let threads: Int

    /// `threads`: the landmark fits of one frame's faces run on up to that many threads (the results do not depend on it).
    public init(predictor: LandmarkPredictor, keepMissed: Int = 1, threads: Int = 1) {
        self.predictor = predictor
        self.keepMissed = max(0, keepMissed)
        self.threads = max(1, threads)
    }

    /// Frame `index` (increasing from call to call): `detections` where the detector ran on it (nil where it did not),
    /// `cut` where it begins a new shot.
    public func advance(_ index: Int, image: FaceImage, detections: [FaceBox]?, cut: Bool = false) throws {
        if cut { endAll() }
        for slot in following.indices { following[slot].detectedNow = false }
        if let detections {
            for box in detections.sorted(by: { ($1.score, $0.left, $0.top) < ($0.score, $1.left, $1.top) }) {
                let candidates = following.indices.filter { !following[$0].detectedNow }.map { ($0, ClipFaces.overlap(following[$0].box, box)) }.filter { $0.1 > 0.3 }
                if let (slot, _) = candidates.max(by: { $0.1 < $1.1 }) {
                    following[slot].detect(box, at: index)
                } else {
                    tracks.append(Track())
                    following.append(Following(track: tracks.count - 1, anchor: box, box: box, lastDetected: index))
                }
            }
            for slot in following.indices where !following[slot].detectedNow { following[slot].missed += 1 }
            for state in following where state.missed > keepMissed { end(state) }
            following.removeAll { $0.missed > keepMissed }
        }
        let fits = try ParallelWork.map(following.map(\.box), threads: min(threads, following.count)) { box in
            try predictor.landmarks(in: image, box: box)
        }
        for (slot, points) in fits.enumerated() {
            let track = following[slot].track
            tracks[track].boxes[index] = following[slot].box
            tracks[track].landmarks[index] = points
            if following[slot].detectedNow { tracks[track].detected.insert(index) }
            following[slot].follow(Self.centre(points))
        }
    }

    /// The tracks being followed now, that is, those the next frame will extend.
    public var followed: [Int] { following.map(\.track) }

    /// Drops what every track holds of the frames before `index`: a stream's tracks keep only the frames a window can
    /// still read. A track's number does not change; an ended track left with no frames is empty.
    public func forget(before index: Int) {
        for track in tracks.indices where tracks[track].boxes.keys.contains(where: { $0 < index }) {
            tracks[track].boxes = tracks[track].boxes.filter { $0.key >= index }
            tracks[track].landmarks = tracks[track].landmarks.filter { $0.key >= index }
            tracks[track].detected = tracks[track].detected.filter { $0 >= index }
        }
    }

    /// Ends every track, as at the end of the frames.
    public func endAll() {
        for state in following { end(state) }
        following = []
    }

    private func end(_ state: Following) {
        for frame in tracks[state.track].boxes.keys where frame > state.lastDetected {
            tracks[state.track].boxes[frame] = nil
            tracks[state.track].landmarks[frame] = nil
        }
    }

    /// Where the face is, from the landmarks that move with the head and not with speech: the mean of the nose's and
    /// eyes' points (27-47 of dlib's 68). The jaw and lips would drag the box down as the mouth opens, and the next fit
    /// in that box would see less of the opening.
    static func centre(_ points: [[Int]]) -> (x: Int, y: Int) {
        let steady = points.count == 68 ? points[27...47] : points[...]
        let n = Double(steady.count)
        return (Int((steady.reduce(0.0) { $0 + Double($1[0]) } / n).rounded()), Int((steady.reduce(0.0) { $0 + Double($1[1]) } / n).rounded()))
    }
}

import Foundation
import Media

/// What the face stage found in one clip: every detection per sampled frame, the one face track it chose,
/// and that face's landmarks per frame. People read it as `faces.json`.
public struct ClipFaceRecord: Codable, Sendable {
    public struct Frame: Codable, Sendable {
        public var time: Double
        public var faces: [FaceBox]
        /// The chosen face's box in this frame (detected, or carried from the nearest frame where it was).
        public var chosen: FaceBox?
        public var chosenDetected: Bool
        public var landmarks: [[Int]]?
    }

    /// `ok`, or `no_face` when no frame has a face.
    public var status: String
    public var width: Int
    public var height: Int
    public var frames: [Frame]
    /// Which track was chosen, and how many there were.
    public var chosenTrack: Int?
    public var tracks: Int
}

/// Chooses one face per clip and aligns it in every sampled frame, as MODEL.md says: detect on a copy no larger
/// than `maxSide`, then landmarks and dlib's 224x224 chip on the full-resolution frame. MELD does not say who
/// speaks; the face whose track is largest and most central over the clip is taken.
public enum ClipFaces {
    public struct Result {
        public var record: ClipFaceRecord
        /// One chip per sampled frame; empty when no face was found.
        public var chips: [RGBImage]
    }

    /// `predictor` is asked for only once a face track exists, so a caller may still be loading it (about a
    /// second) while the frames are searched, and a clip without faces never needs it.
    /// With several `detectors` (one per thread: each keeps scratch state), the frames are searched on that
    /// many threads at once, as a decoder runs its frame threads.
    public static func extract(frames: [(time: Double, image: RGBImage)], detectors: [FaceDetector],
                               predictor loadPredictor: @autoclosure () throws -> LandmarkPredictor,
                               maxSide: Int = 640, size: Int = 224, padding: Double = 0.25) throws -> Result {
        precondition(!detectors.isEmpty, "at least one detector")
        let width = frames.first?.image.width ?? 0, height = frames.first?.image.height ?? 0
        let (prepared, detections) = try search(frames.map(\.image), detectors: detectors, maxSide: maxSide)
        let tracks = link(detections)
        var record = ClipFaceRecord(status: "no_face", width: width, height: height,
                                    frames: zip(frames, detections).map { ClipFaceRecord.Frame(time: $0.0.time, faces: $0.1, chosen: nil, chosenDetected: false, landmarks: nil) },
                                    chosenTrack: nil, tracks: tracks.count)
        guard let best = tracks.indices.max(by: { weight(tracks[$0], width: width, height: height) < weight(tracks[$1], width: width, height: height) }) else {
            return Result(record: record, chips: [])
        }
        record.status = "ok"
        record.chosenTrack = best
        let predictor = try loadPredictor()
        var chips: [RGBImage] = []
        for index in frames.indices {
            let detected = tracks[best][index]
            let nearest = tracks[best].keys.min { abs($0 - index) < abs($1 - index) }!
            let box = detected ?? tracks[best][nearest]!
            let landmarks = try predictor.landmarks(in: prepared[index], box: box)
            let chip = try FaceChip.extract(from: prepared[index], box: box, landmarks: landmarks, size: size, padding: padding)
            record.frames[index].chosen = box
            record.frames[index].chosenDetected = detected != nil
            record.frames[index].landmarks = landmarks
            chips.append(chip.image)
        }
        return Result(record: record, chips: chips)
    }

    public static func extract(frames: [(time: Double, image: RGBImage)], detector: FaceDetector,
                               predictor: @autoclosure () throws -> LandmarkPredictor,
                               maxSide: Int = 640, size: Int = 224, padding: Double = 0.25) throws -> Result {
        try extract(frames: frames, detectors: [detector], predictor: try predictor(), maxSide: maxSide, size: size, padding: padding)
    }

    /// Each frame in dlib's form and its detections; frame i goes to detector i mod count, each detector on
    /// its own thread.
    static func search(_ images: [RGBImage], detectors: [FaceDetector], maxSide: Int) throws -> ([FaceImage], [[FaceBox]]) {
        final class Slots: @unchecked Sendable {
            var prepared: [FaceImage?], detections: [[FaceBox]], failure: Error?
            let lock = NSLock()
            init(_ count: Int) { prepared = Array(repeating: nil, count: count); detections = Array(repeating: [], count: count) }
        }
        let slots = Slots(images.count)
        let work = { (lane: Int) in
            for index in stride(from: lane, to: images.count, by: detectors.count) {
                do {
                    let image = try FaceImage(images[index])
                    let found = try detectors[lane].detect(image, maxSide: maxSide)
                    slots.lock.lock(); slots.prepared[index] = image; slots.detections[index] = found; slots.lock.unlock()
                } catch {
                    slots.lock.lock(); slots.failure = slots.failure ?? error; slots.lock.unlock()
                }
            }
        }
        if detectors.count == 1 { work(0) } else { DispatchQueue.concurrentPerform(iterations: detectors.count, execute: work) }
        if let failure = slots.failure { throw failure }
        return (slots.prepared.map { $0! }, slots.detections)
    }

    /// Links detections of consecutive frames into tracks by box overlap (intersection over union above 0.3);
    /// each track maps frame index to box.
    static func link(_ detections: [[FaceBox]]) -> [[Int: FaceBox]] {
        var tracks: [[Int: FaceBox]] = []
        var last: [FaceBox] = []
        for (frame, boxes) in detections.enumerated() {
            var taken: Set<Int> = []
            for box in boxes.sorted(by: { $0.score > $1.score }) {
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

    static func overlap(_ a: FaceBox, _ b: FaceBox) -> Double {
        let width = min(a.right, b.right) - max(a.left, b.left) + 1, height = min(a.bottom, b.bottom) - max(a.top, b.top) + 1
        guard width > 0, height > 0 else { return 0 }
        let intersection = Double(width * height)
        return intersection / (Double(a.width * a.height + b.width * b.height) - intersection)
    }

    /// Area times closeness to the frame's centre, summed over the frames the track is seen in.
    static func weight(_ track: [Int: FaceBox], width: Int, height: Int) -> Double {
        let halfDiagonal = 0.5 * (Double(width * width + height * height)).squareRoot()
        return track.values.reduce(0) { sum, box in
            let dx = Double(box.left + box.right) / 2 - Double(width) / 2, dy = Double(box.top + box.bottom) / 2 - Double(height) / 2
            let centrality = max(0, 1 - (dx * dx + dy * dy).squareRoot() / halfDiagonal)
            return sum + Double(box.width * box.height) * centrality
        }
    }
}

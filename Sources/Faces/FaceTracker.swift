import Foundation
import Media

/// Follows one face through a stream of frames, aligned as the faces stage aligns it: the detector runs on every
/// `detectEvery`-th frame (and whenever the face was lost); in between, the landmarks are found again inside the last
/// box, and the box follows them. Live input then costs a landmark fit per frame rather than a detection. A detection
/// that misses a face it was following keeps the box for up to `keepMissed` detections in a row, as the faces stage
/// carries a box over the frames where the detector missed it (a face turned or its mouth wide open is missed now and
/// then, not gone).
public final class FaceTracker {
    public struct Found {
        public var chip: RGBImage
        public var box: FaceBox
        /// Whether the detector found the box in this frame (not carried by the landmarks).
        public var detected: Bool
    }

    private let detector: FaceDetector
    private let predictor: LandmarkPredictor
    private let settings: FaceSettings
    private let detectEvery: Int
    private let keepMissed: Int
    private var missed = 0
    private var box: FaceBox?
    /// Where the last fit put the landmarks' centre: the box moves by how far it moves.
    private var landmarkCentre: (x: Int, y: Int)?
    private var sinceDetection = 0

    public init(detector: FaceDetector, predictor: LandmarkPredictor, settings: FaceSettings, detectEvery: Int = 4, keepMissed: Int = 2) {
        self.detector = detector
        self.predictor = predictor
        self.settings = settings
        self.detectEvery = max(1, detectEvery)
        self.keepMissed = max(0, keepMissed)
    }

    /// The followed face's aligned chip in this frame, or nil when there is none.
    public func track(_ image: RGBImage) throws -> Found? {
        let prepared = try FaceImage(image)
        var detected = false
        if box == nil || sinceDetection + 1 >= detectEvery {
            let boxes = try detector.detect(prepared, maxSide: settings.maxSide)
            sinceDetection = 0
            if let previous = box, let same = boxes.max(by: { ClipFaces.overlap($0, previous) < ClipFaces.overlap($1, previous) }),
               ClipFaces.overlap(same, previous) > 0.3 {
                box = same
                detected = true
            } else if boxes.isEmpty, box != nil, missed < keepMissed {
                missed += 1
            } else {
                // A new face, or the first: the largest, as the faces stage weighs tracks by size.
                box = boxes.max { ($0.width * $0.height, -$0.left) < ($1.width * $1.height, -$1.left) }
                detected = box != nil
                if !detected { landmarkCentre = nil }
            }
            if detected { missed = 0 }
        } else {
            sinceDetection += 1
        }
        guard let current = box else { return nil }
        let landmarks = try predictor.landmarks(in: prepared, box: current)
        let chip = try FaceChip.extract(from: prepared, box: current, landmarks: landmarks, size: settings.size, padding: settings.padding)
        let xs = landmarks.map { $0[0] }, ys = landmarks.map { $0[1] }
        let centre = ((xs.min()! + xs.max()!) / 2, (ys.min()! + ys.max()!) / 2)
        if !detected, let previous = landmarkCentre {
            // Between detections the box keeps its size and follows the landmarks.
            let (dx, dy) = (centre.0 - previous.x, centre.1 - previous.y)
            box = FaceBox(left: current.left + dx, top: current.top + dy, right: current.right + dx, bottom: current.bottom + dy,
                          score: current.score, detectorIndex: current.detectorIndex)
        }
        landmarkCentre = centre
        return Found(chip: chip.image, box: current, detected: detected)
    }
}

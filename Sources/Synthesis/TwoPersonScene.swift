import Drawing
import Foundation
import Meld
import SeededRandom

/// A face drawn in a frame, and whether it is speaking there: what `synthesis/faces.csv` records of a two-person clip,
/// the truth a speaker-choosing faces stage is held to.
public struct DrawnFace: Sendable, Equatable {
    public enum Role: String, Sendable {
        case speaker, listener, picture
    }

    public var frame: Int
    public var role: Role
    /// The speaker in view while the voice is audible.
    public var speaking: Bool
    /// The head's bounds in pixels (hair and ears aside).
    public var left: Int, top: Int, right: Int, bottom: Int
}

/// A two-shot as MELD's clips often are: the speaker and a listener side by side, the one a largest-and-most-central
/// rule would take being, at random, the listener (so that rule finds the speaker in about half the clips by
/// construction); the listener's mouth moving on its own, not with the voice; in some clips a cut mid-utterance to the
/// listener alone (the speaker off screen), in some a portrait on the wall (a face that never speaks).
public struct TwoPersonScene: Sendable {
    public struct Placement: Sendable {
        public var center: Point
        public var radius: Double
    }

    public struct Picture: Sendable {
        public var x: Double, y: Double, width: Double, height: Double
        public var identity: FaceIdentity
    }

    public var speaker: Placement
    public var listener: Placement
    /// Whether the listener is the larger and more central of the two.
    public var listenerDominant: Bool
    /// From this frame on the shot shows the listener alone, close up.
    public var cut: Int?
    public var closeUp: Placement
    public var picture: Picture?
    /// The listener's mouth, per frame, in [0, 0.35]: slow movements of its own.
    public var listenerMouth: [Double]

    /// Loudness (0 to 1 of the clip's loudest) above which the voice counts as audible in a frame.
    public static let audible = 0.1

    public init(_ random: inout SeededRandom, width: Int, height: Int, frames: Int, frameRate: Int, portrait: FaceIdentity) {
        let (w, h) = (Double(width), Double(height))
        listenerDominant = random.next() % 2 == 0
        let dominantLeft = random.next() % 2 == 0
        let base = random.uniform(0.15, 0.18) * h
        let dominant = Placement(center: Point((dominantLeft ? 0.42 : 0.58) * w, h * random.uniform(0.46, 0.5)), radius: base * random.uniform(1.25, 1.4))
        let other = Placement(center: Point((dominantLeft ? 0.8 : 0.2) * w, h * random.uniform(0.5, 0.54)), radius: base)
        (speaker, listener) = listenerDominant ? (other, dominant) : (dominant, other)
        cut = frames >= 12 && random.uniform(0, 1) < 0.3 ? frames / 3 + Int(random.next() % UInt64(frames / 3)) : nil
        closeUp = Placement(center: Point(w * 0.5, h * 0.5), radius: h * 0.26)
        if random.uniform(0, 1) < 0.3 {
            // Centred over the gap between the heads, high on the wall; the people stand in front of its lower part.
            let gap = (dominant.center.x + other.center.x) / 2, side = 0.26 * w
            picture = Picture(x: gap - side / 2, y: 0.03 * h, width: side, height: 0.5 * h, identity: portrait)
        } else {
            picture = nil
        }
        let (rate, phase) = (random.uniform(0.4, 1.0), random.uniform(0, 2 * Double.pi))
        listenerMouth = (0..<frames).map { 0.35 * max(0, sin(2 * Double.pi * rate * Double($0) / Double(frameRate) + phase)) }
    }

    /// Draws frame `frame` and says where each face is: the speaker's mouth opens with `loudness` (0 to 1), the
    /// listener's with its own movements; the speaker and listener show `expression` and neutral.
    public func paint(_ canvas: Canvas, frame: Int, time: Double, speaker speakerIdentity: FaceIdentity, listener listenerIdentity: FaceIdentity,
                      expression: Expression, loudness: Double) -> [DrawnFace] {
        canvas.fillVerticalGradient(top: speakerIdentity.backgroundTop, bottom: speakerIdentity.backgroundBottom)
        var faces: [DrawnFace] = []
        func record(_ role: DrawnFace.Role, _ box: HeadBox) {
            faces.append(DrawnFace(frame: frame, role: role, speaking: role == .speaker && loudness > Self.audible, left: Int(box.left.rounded()),
                                   top: Int(box.top.rounded()), right: Int(box.right.rounded()), bottom: Int(box.bottom.rounded())))
        }
        if let cut, frame >= cut {
            record(.listener, FacePainter.paintPerson(canvas, identity: listenerIdentity, center: closeUp.center, radius: closeUp.radius,
                                                      expression: Expression.of(.neutral), mouth: listenerMouth[frame], time: time))
            return faces
        }
        if let picture {
            canvas.fillRectangle(x: picture.x, y: picture.y, width: picture.width, height: picture.height, color: picture.identity.backgroundTop)
            canvas.clipRectangle(x: picture.x, y: picture.y, width: picture.width, height: picture.height)
            record(.picture, FacePainter.paintPerson(canvas, identity: picture.identity, center: Point(picture.x + picture.width / 2, picture.y + 0.42 * picture.height),
                                                     radius: 0.26 * picture.width, expression: Expression.of(.neutral), mouth: 0, time: 0))
            canvas.unclip()
            canvas.strokeRectangle(x: picture.x, y: picture.y, width: picture.width, height: picture.height, lineWidth: 6, color: Color(0.3, 0.2, 0.1))
        }
        // The smaller (farther) person first, the other in front.
        let speakerFirst = speaker.radius < listener.radius
        for role in speakerFirst ? [DrawnFace.Role.speaker, .listener] : [.listener, .speaker] {
            let box = role == .speaker
                ? FacePainter.paintPerson(canvas, identity: speakerIdentity, center: speaker.center, radius: speaker.radius, expression: expression, mouth: loudness, time: time)
                : FacePainter.paintPerson(canvas, identity: listenerIdentity, center: listener.center, radius: listener.radius,
                                          expression: Expression.of(.neutral), mouth: listenerMouth[frame], time: time + 1.7)
            record(role, box)
        }
        return faces
    }
}

import Drawing
import Foundation
import Meld
import SeededRandom

/// Who a generated speaker is, visually: fixed for all of their clips.
public struct FaceIdentity: Sendable {
    public var skin: Color
    public var hair: Color
    public var iris: Color
    public var shirt: Color
    public var backgroundTop: Color
    public var backgroundBottom: Color
    /// Head width relative to a standard head (narrow < 1 < wide).
    public var width: Double
    /// Head centre offset from the frame centre, as fractions of the frame.
    public var offset: Point
    /// Head radius as a fraction of the frame height.
    public var size: Double

    public static func random(_ random: inout SeededRandom) -> FaceIdentity {
        let skins = [Color(0.98, 0.84, 0.72), Color(0.92, 0.74, 0.60), Color(0.80, 0.60, 0.45), Color(0.62, 0.44, 0.32), Color(0.45, 0.31, 0.22)]
        let hairs = [Color(0.12, 0.09, 0.07), Color(0.35, 0.22, 0.12), Color(0.75, 0.58, 0.30), Color(0.55, 0.25, 0.12), Color(0.55, 0.55, 0.55)]
        let skin = skins[Int(random.next() % UInt64(skins.count))]
        let light = random.uniform(0.55, 0.9)
        return FaceIdentity(
            skin: skin.shaded(random.uniform(0.95, 1.05)),
            hair: hairs[Int(random.next() % UInt64(hairs.count))],
            iris: [Color(0.25, 0.15, 0.08), Color(0.2, 0.35, 0.55), Color(0.25, 0.4, 0.25)][Int(random.next() % 3)],
            shirt: Color(random.uniform(0.1, 0.8), random.uniform(0.1, 0.8), random.uniform(0.1, 0.8)),
            backgroundTop: Color(light * random.uniform(0.7, 1), light * random.uniform(0.7, 1), light * random.uniform(0.7, 1)),
            backgroundBottom: Color(light * random.uniform(0.4, 0.8), light * random.uniform(0.4, 0.8), light * random.uniform(0.4, 0.8)),
            width: random.uniform(0.88, 1.05),
            offset: Point(random.uniform(-0.12, 0.12), random.uniform(-0.04, 0.04)),
            size: random.uniform(0.2, 0.25))
    }
}

/// The face's part of an emotion: brows, eyes and mouth, in units of the head's radius.
public struct Expression: Sendable, Hashable {
    /// Brow height above rest (raised > 0).
    public var browRaise: Double
    /// Inner brow ends lowered (> 0, anger) or raised (< 0, sadness and fear).
    public var browTilt: Double
    /// Eye opening relative to rest.
    public var eyeOpen: Double
    /// Mouth-corner lift: smile > 0 > frown.
    public var smile: Double
    /// Mouth opening at rest, before speech opens it further.
    public var mouthOpen: Double
    /// Lifts one mouth corner only (disgust).
    public var sneer: Double

    public static func of(_ emotion: Emotion) -> Expression {
        switch emotion {
        case .neutral: return Expression(browRaise: 0, browTilt: 0, eyeOpen: 1, smile: 0, mouthOpen: 0, sneer: 0)
        case .joy: return Expression(browRaise: 0.1, browTilt: 0, eyeOpen: 0.75, smile: 1, mouthOpen: 0.25, sneer: 0)
        case .sadness: return Expression(browRaise: 0.05, browTilt: -0.8, eyeOpen: 0.6, smile: -0.8, mouthOpen: 0, sneer: 0)
        case .anger: return Expression(browRaise: -0.35, browTilt: 1, eyeOpen: 0.8, smile: -0.35, mouthOpen: 0.1, sneer: 0)
        case .surprise: return Expression(browRaise: 0.7, browTilt: 0, eyeOpen: 1.45, smile: 0, mouthOpen: 0.9, sneer: 0)
        case .fear: return Expression(browRaise: 0.45, browTilt: -0.6, eyeOpen: 1.35, smile: -0.4, mouthOpen: 0.35, sneer: 0)
        case .disgust: return Expression(browRaise: -0.15, browTilt: 0.5, eyeOpen: 0.7, smile: -0.3, mouthOpen: 0.05, sneer: 0.8)
        }
    }
}

/// Draws a frontal cartoon face, shoulders to hair, in an order and with contrasts that dlib's HOG
/// face detector recognises as a face.
public enum FacePainter {
    /// One frame. `speech` in [0, 1] opens the mouth with the voice's loudness; `time` moves the head slightly.
    public static func paint(_ canvas: Canvas, identity: FaceIdentity, expression: Expression, speech: Double, time: Double) {
        let w = Double(canvas.width), h = Double(canvas.height)
        canvas.fillVerticalGradient(top: identity.backgroundTop, bottom: identity.backgroundBottom)
        paintPerson(canvas, identity: identity, center: Point(w / 2 + identity.offset.x * w, h * 0.46 + identity.offset.y * h), radius: identity.size * h,
                    expression: expression, mouth: speech, time: time)
    }

    /// One person, head centred near `center` (swaying with `time`) with head radius `radius` in pixels, shoulders
    /// below. `mouth` in [0, 1] opens the mouth beyond the expression's (the voice's loudness, or a listener's own
    /// movements). Returns where the head was drawn.
    @discardableResult
    public static func paintPerson(_ canvas: Canvas, identity: FaceIdentity, center rest: Point, radius: Double, expression: Expression,
                                   mouth speech: Double, time: Double) -> HeadBox {
        let w = Double(canvas.width), h = Double(canvas.height)
        let center = Point(rest.x + 0.02 * w * sin(2 * Double.pi * 0.4 * time), rest.y + 0.01 * h * sin(2 * Double.pi * 0.3 * time + 1))
        let r = radius, cx = center.x, cy = center.y, hw = identity.width
        func p(_ x: Double, _ y: Double) -> Point { Point(cx + x * r, cy + y * r) }

        canvas.fillShadedEllipse(p(0, 2.05), radiusX: 1.95 * r, radiusY: 0.95 * r, focus: p(-0.5, 1.6),
                                 inner: identity.shirt.shaded(1.15), outer: identity.shirt.shaded(0.7))
        canvas.fillEllipse(p(0, 1.05), radiusX: 0.4 * r, radiusY: 0.55 * r, color: identity.skin.shaded(0.8))
        canvas.fillEllipse(p(0, -0.12), radiusX: 1.05 * hw * r, radiusY: 1.2 * r, color: identity.hair)
        for side in [-1.0, 1.0] {
            canvas.fillShadedEllipse(p(side * 0.93 * hw, 0.08), radiusX: 0.17 * r, radiusY: 0.28 * r, focus: p(side * 0.9 * hw, 0.05),
                                     inner: identity.skin, outer: identity.skin.shaded(0.75))
        }
        canvas.fillShadedEllipse(center, radiusX: 0.9 * hw * r, radiusY: 1.12 * r, focus: p(-0.2, -0.3),
                                 inner: identity.skin.shaded(1.08), outer: identity.skin.shaded(0.78))
        // Fringe over the forehead.
        canvas.fillShape(start: p(-0.92 * hw, -0.25), curves: [
            (p(-0.95 * hw, -1.05), p(-0.3, -1.3), p(0.1, -1.22)),
            (p(0.6, -1.2), p(0.98 * hw, -0.9), p(0.92 * hw, -0.25)),
            (p(0.7, -0.7), p(0.2, -0.78), p(-0.1, -0.68)),
            (p(-0.45, -0.62), p(-0.75, -0.55), p(-0.92 * hw, -0.25)),
        ], color: identity.hair)

        let eyeOpen = max(0.15, expression.eyeOpen)
        for side in [-1.0, 1.0] {
            let eye = p(side * 0.36, -0.1)
            canvas.fillEllipse(Point(eye.x, eye.y + 0.02 * r), radiusX: 0.25 * r, radiusY: 0.15 * r, color: identity.skin.shaded(0.82))
            canvas.clipEllipse(eye, radiusX: 0.19 * r, radiusY: 0.11 * r * eyeOpen)
            canvas.fill(Color(0.96, 0.96, 0.94))
            canvas.fillEllipse(eye, radiusX: 0.09 * r, radiusY: 0.09 * r, color: identity.iris)
            canvas.fillEllipse(eye, radiusX: 0.045 * r, radiusY: 0.045 * r, color: Color(0.02, 0.02, 0.02))
            canvas.fillEllipse(Point(eye.x + 0.03 * r, eye.y - 0.03 * r), radiusX: 0.018 * r, radiusY: 0.018 * r, color: Color(1, 1, 1))
            canvas.unclip()
            canvas.strokeEllipse(eye, radiusX: 0.19 * r, radiusY: 0.11 * r * eyeOpen, width: 0.025 * r, color: Color(0.15, 0.1, 0.08))

            let browY = -0.38 - 0.14 * expression.browRaise
            let inner = browY + 0.1 * expression.browTilt, outer = browY - 0.03 * expression.browTilt
            canvas.strokeCurve(start: p(side * 0.14, inner), curves: [(p(side * 0.28, inner - 0.08), p(side * 0.45, outer - 0.08), p(side * 0.58, outer + 0.02))],
                               width: 0.075 * r, color: identity.hair.shaded(0.6))
        }

        canvas.strokeCurve(start: p(0.02, -0.05), curves: [(p(-0.02, 0.08), p(-0.1, 0.2), p(-0.06, 0.27))], width: 0.03 * r, color: identity.skin.shaded(0.65))
        canvas.fillEllipse(p(0, 0.27), radiusX: 0.13 * r, radiusY: 0.06 * r, color: identity.skin.shaded(0.88))
        for side in [-1.0, 1.0] { canvas.fillEllipse(p(side * 0.06, 0.29), radiusX: 0.03 * r, radiusY: 0.018 * r, color: identity.skin.shaded(0.45)) }

        let open = min(1.2, expression.mouthOpen + 0.55 * speech)
        let halfWidth = 0.27 + 0.06 * max(0, expression.smile)
        let mouthY = 0.56
        let leftCorner = p(-halfWidth, mouthY - 0.13 * expression.smile - 0.12 * expression.sneer)
        let rightCorner = p(halfWidth, mouthY - 0.13 * expression.smile + 0.02 * expression.sneer)
        let upperMiddle = mouthY - 0.02 - 0.04 * open
        let lowerMiddle = mouthY + 0.02 + 0.26 * open + 0.06 * max(0, expression.smile)
        canvas.fillShape(start: leftCorner, curves: [
            (p(-halfWidth * 0.5, upperMiddle), p(halfWidth * 0.5, upperMiddle), rightCorner),
            (p(halfWidth * 0.5, lowerMiddle), p(-halfWidth * 0.5, lowerMiddle), leftCorner),
        ], color: Color(0.35, 0.08, 0.1))
        if open > 0.3 {
            canvas.fillEllipse(p(0, upperMiddle + 0.05), radiusX: halfWidth * 0.55 * r, radiusY: 0.04 * r, color: Color(0.95, 0.95, 0.92))
        }
        canvas.strokeCurve(start: leftCorner, curves: [(p(-halfWidth * 0.5, upperMiddle - 0.03), p(halfWidth * 0.5, upperMiddle - 0.03), rightCorner)],
                           width: 0.045 * r, color: Color(0.65, 0.3, 0.3))
        canvas.strokeCurve(start: leftCorner, curves: [(p(-halfWidth * 0.5, lowerMiddle + 0.03), p(halfWidth * 0.5, lowerMiddle + 0.03), rightCorner)],
                           width: 0.05 * r, color: Color(0.7, 0.35, 0.35))
        return HeadBox(left: cx - 0.9 * hw * r, top: cy - 1.12 * r, right: cx + 0.9 * hw * r, bottom: cy + 1.12 * r)
    }
}

/// The bounds of a drawn head's skin, in pixels.
public struct HeadBox: Sendable {
    public var left, top, right, bottom: Double
}

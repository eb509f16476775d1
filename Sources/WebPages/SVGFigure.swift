import Foundation

/// An SVG figure built element by element, which knows where its text lands: each label's box is estimated from the
/// font's advance widths, so that a chart can place labels apart and a test can check that none overlaps another
/// without a browser (the page tests then check the same against Chromium's layout).
public struct SVGFigure {
    /// Every figure's text size, in pixels.
    public static let fontSize = 11.0

    public enum Anchor: String { case start, middle, end }

    /// A label's extent in the figure's coordinates.
    public struct Box: Sendable, Equatable {
        public var text: String
        public var left, top, right, bottom: Double

        public func overlaps(_ other: Box) -> Bool {
            left < other.right && other.left < right && top < other.bottom && other.top < bottom
        }
    }

    public let width: Double
    public let height: Double
    public private(set) var labels: [Box] = []
    private var body = ""

    public init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    /// The width a line of sans-serif text takes at `size`: DejaVu Sans's advances (Debian's default sans), rounded up
    /// per class of character, so that the estimate errs wide for the fonts a browser may substitute.
    public static func textWidth(_ text: String, size: Double = fontSize) -> Double {
        text.unicodeScalars.reduce(0.0) { sum, scalar in
            let em: Double
            switch scalar {
            case " ", ".", ",", ":", ";", "'", "|", "!", "i", "j", "l", "I": em = 0.35
            case "f", "r", "t", "(", ")", "[", "]", "-": em = 0.45
            case "m", "w", "M", "W", "%", "@": em = 0.95
            case "A"..."Z": em = 0.75
            default: em = 0.65
            }
            return sum + em * size
        }
    }

    /// A label at `(x, y)` (its baseline), turned by `rotation` degrees about that point (negative: counter-clockwise).
    public mutating func text(_ text: String, x: Double, y: Double, anchor: Anchor = .start, rotation: Double = 0, fill: String? = nil,
                              bold: Bool = false, size: Double = fontSize) {
        let width = Self.textWidth(text, size: size) * (bold ? 1.1 : 1)
        let start: Double = anchor == .start ? 0 : anchor == .middle ? -width / 2 : -width
        // The box around the glyphs before turning, relative to the anchor point: ascent 0.8 em, descent 0.25 em.
        let corners = [(start, -0.8 * size), (start + width, -0.8 * size), (start, 0.25 * size), (start + width, 0.25 * size)]
        let angle = rotation * .pi / 180
        let turned = corners.map { (x + $0.0 * cos(angle) - $0.1 * sin(angle), y + $0.0 * sin(angle) + $0.1 * cos(angle)) }
        labels.append(Box(text: text, left: turned.map(\.0).min()!, top: turned.map(\.1).min()!, right: turned.map(\.0).max()!, bottom: turned.map(\.1).max()!))
        var attributes = "x=\"\(Self.number(x))\" y=\"\(Self.number(y))\""
        if anchor != .start { attributes += " text-anchor=\"\(anchor.rawValue)\"" }
        if rotation != 0 { attributes += " transform=\"rotate(\(Self.number(rotation)) \(Self.number(x)) \(Self.number(y)))\"" }
        if let fill { attributes += " fill=\"\(fill)\"" }
        if bold { attributes += " font-weight=\"bold\"" }
        if size != Self.fontSize { attributes += " font-size=\"\(Self.number(size))\"" }
        body += "<text \(attributes)>\(HTMLPage.escape(text))</text>"
    }

    public mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String, stroke: String? = nil, rounded: Double = 0, title: String? = nil) {
        body += "<rect x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" width=\"\(Self.number(max(0, width)))\" height=\"\(Self.number(max(0, height)))\" fill=\"\(fill)\""
            + (stroke.map { " stroke=\"\($0)\"" } ?? "") + (rounded > 0 ? " rx=\"\(Self.number(rounded))\"" : "")
            + (title.map { "><title>\(HTMLPage.escape($0))</title></rect>" } ?? "/>")
    }

    public mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String, width: Double = 1, dashed: Bool = false) {
        body += "<line x1=\"\(Self.number(x1))\" y1=\"\(Self.number(y1))\" x2=\"\(Self.number(x2))\" y2=\"\(Self.number(y2))\" stroke=\"\(stroke)\""
            + (width != 1 ? " stroke-width=\"\(Self.number(width))\"" : "") + (dashed ? " stroke-dasharray=\"4 3\"" : "") + "/>"
    }

    public mutating func polyline(_ points: [(Double, Double)], stroke: String, width: Double = 1.5, opacity: Double = 1) {
        let list = points.map { Self.number($0.0) + "," + Self.number($0.1) }.joined(separator: " ")
        body += "<polyline fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"\(Self.number(width))\"" + (opacity < 1 ? " stroke-opacity=\"\(Self.number(opacity))\"" : "")
            + " points=\"\(list)\"/>"
    }

    public mutating func circle(x: Double, y: Double, radius: Double, fill: String) {
        body += "<circle cx=\"\(Self.number(x))\" cy=\"\(Self.number(y))\" r=\"\(Self.number(radius))\" fill=\"\(fill)\"/>"
    }

    /// Markup the helpers above do not cover (a path, a group with a link), written as given.
    public mutating func raw(_ markup: String) { body += markup }

    /// Pairs of labels whose boxes overlap: what a chart must never draw.
    public func overlappingLabels() -> [(Box, Box)] {
        var pairs: [(Box, Box)] = []
        for (i, a) in labels.enumerated() { for b in labels[(i + 1)...] where a.overlaps(b) { pairs.append((a, b)) } }
        return pairs
    }

    /// Labels that reach outside the figure.
    public func labelsOutside() -> [Box] {
        labels.filter { $0.left < 0 || $0.top < 0 || $0.right > width || $0.bottom > height }
    }

    /// The figure, scaled down by the page when wider than it (never up).
    public var markup: String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Self.number(width))\" height=\"\(Self.number(height))\" "
            + "viewBox=\"0 0 \(Self.number(width)) \(Self.number(height))\" role=\"img\">" + body + "</svg>"
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
    }
}

import CCairo

/// An RGB colour with opacity, components in [0, 1].
public struct Color: Sendable, Hashable {
    public var red, green, blue, alpha: Double

    public init(_ red: Double, _ green: Double, _ blue: Double, alpha: Double = 1) {
        self.red = red
        self.green = green
        self.blue = blue
        self.alpha = alpha
    }

    /// This colour scaled towards black (factor < 1) or white (factor > 1).
    public func shaded(_ factor: Double) -> Color {
        factor <= 1 ? Color(red * factor, green * factor, blue * factor, alpha: alpha)
            : Color(red + (1 - red) * (factor - 1), green + (1 - green) * (factor - 1), blue + (1 - blue) * (factor - 1), alpha: alpha)
    }
}

public struct Point: Sendable, Hashable {
    public var x, y: Double
    public init(_ x: Double, _ y: Double) {
        self.x = x
        self.y = y
    }
}

/// A picture drawn with cairo's anti-aliased 2-D primitives, read back as packed RGB bytes.
public final class Canvas {
    public let width: Int
    public let height: Int
    private let surface: OpaquePointer
    private let context: OpaquePointer

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
        surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(width), Int32(height))
        context = cairo_create(surface)
    }

    /// A canvas holding a picture already: `height` rows of `width` RGB triples (a video frame to draw over).
    public convenience init(width: Int, height: Int, rgb pixels: [UInt8]) {
        self.init(width: width, height: height)
        cairo_surface_flush(surface)
        let stride = Int(cairo_image_surface_get_stride(surface))
        if let data = cairo_image_surface_get_data(surface) {
            data.withMemoryRebound(to: UInt32.self, capacity: stride / 4 * height) { words in
                for y in 0..<height {
                    let row = words + y * (stride / 4)
                    for x in 0..<width {
                        let offset = (y * width + x) * 3
                        row[x] = UInt32(pixels[offset]) << 16 | UInt32(pixels[offset + 1]) << 8 | UInt32(pixels[offset + 2])
                    }
                }
            }
        }
        cairo_surface_mark_dirty(surface)
    }

    deinit {
        cairo_destroy(context)
        cairo_surface_destroy(surface)
    }

    public func fillRectangle(x: Double, y: Double, width: Double, height: Double, color: Color) {
        use(color)
        cairo_rectangle(context, x, y, width, height)
        cairo_fill(context)
    }

    public func strokeRectangle(x: Double, y: Double, width: Double, height: Double, lineWidth: Double, color: Color) {
        use(color)
        cairo_set_line_width(context, lineWidth)
        cairo_rectangle(context, x, y, width, height)
        cairo_stroke(context)
    }

    /// `text` in cairo's sans-serif with its baseline's left end at `origin`, `size` pixels high.
    public func text(_ text: String, at origin: Point, size: Double, color: Color, bold: Bool = false) {
        use(color)
        cairo_select_font_face(context, "sans-serif", CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL)
        cairo_set_font_size(context, size)
        cairo_move_to(context, origin.x, origin.y)
        cairo_show_text(context, text)
    }

    private func use(_ color: Color) { cairo_set_source_rgba(context, color.red, color.green, color.blue, color.alpha) }

    public func fill(_ color: Color) {
        use(color)
        cairo_paint(context)
    }

    /// A vertical gradient over the whole canvas (backgrounds).
    public func fillVerticalGradient(top: Color, bottom: Color) {
        let pattern = cairo_pattern_create_linear(0, 0, 0, Double(height))
        cairo_pattern_add_color_stop_rgba(pattern, 0, top.red, top.green, top.blue, top.alpha)
        cairo_pattern_add_color_stop_rgba(pattern, 1, bottom.red, bottom.green, bottom.blue, bottom.alpha)
        cairo_set_source(context, pattern)
        cairo_paint(context)
        cairo_pattern_destroy(pattern)
    }

    private func ellipsePath(_ center: Point, _ radiusX: Double, _ radiusY: Double, _ angle: Double) {
        cairo_save(context)
        cairo_translate(context, center.x, center.y)
        cairo_rotate(context, angle)
        cairo_scale(context, radiusX, radiusY)
        cairo_new_path(context)
        cairo_arc(context, 0, 0, 1, 0, 2 * Double.pi)
        cairo_restore(context)
    }

    public func fillEllipse(_ center: Point, radiusX: Double, radiusY: Double, angle: Double = 0, color: Color) {
        ellipsePath(center, radiusX, radiusY, angle)
        use(color)
        cairo_fill(context)
    }

    /// An ellipse shaded from `inner` at `focus` to `outer` at its rim: rounded, lit-looking shapes.
    public func fillShadedEllipse(_ center: Point, radiusX: Double, radiusY: Double, angle: Double = 0, focus: Point, inner: Color, outer: Color) {
        ellipsePath(center, radiusX, radiusY, angle)
        let pattern = cairo_pattern_create_radial(focus.x, focus.y, 0, center.x, center.y, max(radiusX, radiusY))
        cairo_pattern_add_color_stop_rgba(pattern, 0, inner.red, inner.green, inner.blue, inner.alpha)
        cairo_pattern_add_color_stop_rgba(pattern, 1, outer.red, outer.green, outer.blue, outer.alpha)
        cairo_set_source(context, pattern)
        cairo_fill(context)
        cairo_pattern_destroy(pattern)
    }

    public func strokeEllipse(_ center: Point, radiusX: Double, radiusY: Double, angle: Double = 0, width: Double, color: Color) {
        ellipsePath(center, radiusX, radiusY, angle)
        use(color)
        cairo_set_line_width(context, width)
        cairo_stroke(context)
    }

    /// A shape bounded by cubic Bézier segments: each is (control 1, control 2, end), starting at `start`.
    public func fillShape(start: Point, curves: [(Point, Point, Point)], color: Color) {
        shapePath(start, curves)
        cairo_close_path(context)
        use(color)
        cairo_fill(context)
    }

    public func strokeCurve(start: Point, curves: [(Point, Point, Point)], width: Double, color: Color) {
        shapePath(start, curves)
        use(color)
        cairo_set_line_width(context, width)
        cairo_set_line_cap(context, CAIRO_LINE_CAP_ROUND)
        cairo_stroke(context)
    }

    private func shapePath(_ start: Point, _ curves: [(Point, Point, Point)]) {
        cairo_new_path(context)
        cairo_move_to(context, start.x, start.y)
        for (first, second, end) in curves { cairo_curve_to(context, first.x, first.y, second.x, second.y, end.x, end.y) }
    }

    /// Limits later drawing to an ellipse (eyelids over an eye), until `unclip`.
    public func clipEllipse(_ center: Point, radiusX: Double, radiusY: Double, angle: Double = 0) {
        cairo_save(context)
        ellipsePath(center, radiusX, radiusY, angle)
        cairo_clip(context)
    }

    /// Limits later drawing to a rectangle (a picture's frame), until `unclip`.
    public func clipRectangle(x: Double, y: Double, width: Double, height: Double) {
        cairo_save(context)
        cairo_rectangle(context, x, y, width, height)
        cairo_clip(context)
    }

    public func unclip() { cairo_restore(context) }

    /// The picture as `height` rows of `width` RGB triples.
    public func rgbPixels() -> [UInt8] {
        cairo_surface_flush(surface)
        let stride = Int(cairo_image_surface_get_stride(surface))
        guard let data = cairo_image_surface_get_data(surface) else { return [UInt8](repeating: 0, count: width * height * 3) }
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        // CAIRO_FORMAT_RGB24 is one native-endian 32-bit word per pixel: 0x00RRGGBB.
        data.withMemoryRebound(to: UInt32.self, capacity: stride / 4 * height) { words in
            for y in 0..<height {
                let row = words + y * (stride / 4)
                for x in 0..<width {
                    let word = row[x]
                    let offset = (y * width + x) * 3
                    pixels[offset] = UInt8(truncatingIfNeeded: word >> 16)
                    pixels[offset + 1] = UInt8(truncatingIfNeeded: word >> 8)
                    pixels[offset + 2] = UInt8(truncatingIfNeeded: word)
                }
            }
        }
        return pixels
    }
}

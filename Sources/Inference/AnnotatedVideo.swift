import Drawing
import EmotionModel
import Faces
import Foundation
import Labels
import Media

/// The watched video with what the model saw and said drawn over it: the followed face's box in its emotion's colour,
/// the label and confidence, and the class probabilities as bars; the audio kept. Written with the project's MP4 writer
/// (x264 `ultrafast`, so that annotating keeps up with a live source).
public final class AnnotatedVideo {
    /// MELD's emotions' colours; other classes take the palette's in class order.
    public static let colours: [String: Color] = [
        "neutral": Color(0.75, 0.75, 0.75), "joy": Color(1, 0.85, 0.1), "sadness": Color(0.25, 0.45, 1), "anger": Color(0.95, 0.15, 0.1),
        "surprise": Color(1, 0.55, 0.1), "fear": Color(0.65, 0.3, 0.9), "disgust": Color(0.2, 0.75, 0.3),
    ]

    private static let palette = [Color(0.9, 0.4, 0.6), Color(0.3, 0.8, 0.8), Color(0.6, 0.6, 0.2), Color(0.5, 0.3, 0.2), Color(0.4, 0.4, 0.7)]

    private let writer: MP4Writer
    private let classes: LabelSet
    public let width: Int, height: Int

    public init(path: String, classes: LabelSet, width: Int, height: Int, frameRate: Double, sampleRate: Int, audio: Bool) throws {
        self.classes = classes
        // H.264 in 4:2:0 needs even sides: an odd row or column is left out.
        (self.width, self.height) = (width & ~1, height & ~1)
        var settings = MP4Writer.Settings(width: self.width, height: self.height, frameRate: max(1, Int(frameRate.rounded())), sampleRate: sampleRate, audio: audio)
        settings.preset = "ultrafast"
        writer = try MP4Writer(path: path, settings: settings)
    }

    /// Draws the annotations of `detection` (the latest) and `box` over `frame` and appends it.
    public func append(frame: RGBImage, box: FaceBox?, detection: Detection?) throws {
        let canvas = Canvas(width: width, height: height, rgb: frame.width == width && frame.height == height ? frame.pixels : Self.crop(frame, width, height))
        let scale = max(Double(height) / 360, 0.8)
        if let detection {
            let colour = self.colour(detection.emotion)
            let caption = String(format: "%@ %.0f%%%@", detection.emotion, detection.confidence * 100, detection.mode == "face_and_voice" ? "" : " (\(detection.mode.replacingOccurrences(of: "_", with: " ")))")
            if let box {
                canvas.strokeRectangle(x: Double(box.left), y: Double(box.top), width: Double(box.width), height: Double(box.height), lineWidth: 3 * scale, color: colour)
                canvas.text(caption, at: Point(Double(box.left), max(Double(box.top) - 6 * scale, 14 * scale)), size: 14 * scale, color: colour, bold: true)
            } else {
                canvas.text(caption, at: Point(8 * scale, 20 * scale), size: 14 * scale, color: colour, bold: true)
            }
            // The class probabilities, bottom left, on a dark band so they read on any picture.
            let (row, barWidth) = (11 * scale, 90 * scale)
            let top = Double(height) - row * Double(classes.count) - 8 * scale
            canvas.fillRectangle(x: 4 * scale, y: top - 4 * scale, width: barWidth + 64 * scale, height: row * Double(classes.count) + 8 * scale,
                                 color: Color(0, 0, 0, alpha: 0.55))
            for (index, name) in classes.enumerated() {
                let y = top + Double(index) * row
                let colour = self.colour(name)
                canvas.text(name, at: Point(8 * scale, y + row * 0.8), size: row * 0.8, color: Color(1, 1, 1))
                canvas.fillRectangle(x: 60 * scale, y: y + row * 0.15, width: max(1, barWidth * (detection.probabilities[name] ?? 0)), height: row * 0.7, color: colour)
            }
        }
        try writer.append(frame: RGBImage(width: width, height: height, pixels: canvas.rgbPixels()))
    }

    public func append(samples: ArraySlice<Float>) throws { try writer.append(samples: Array(samples)) }

    public func finish() throws { try writer.finish() }

    private func colour(_ name: String) -> Color {
        Self.colours[name] ?? classes.index(of: name).map { Self.palette[$0 % Self.palette.count] } ?? Color(1, 1, 1)
    }

    private static func crop(_ frame: RGBImage, _ width: Int, _ height: Int) -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<min(height, frame.height) {
            let count = min(width, frame.width) * 3
            pixels.replaceSubrange(y * width * 3..<y * width * 3 + count, with: frame.pixels[y * frame.width * 3..<y * frame.width * 3 + count])
        }
        return pixels
    }
}

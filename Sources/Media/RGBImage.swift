/// A picture as packed 8-bit RGB rows, the form frames are decoded to, drawn in and encoded from.
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// `height` rows of `width` RGB triples, no padding.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "an RGB image of \(width)x\(height) holds \(width * height * 3) bytes")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public init(width: Int, height: Int) {
        self.init(width: width, height: height, pixels: [UInt8](repeating: 0, count: width * height * 3))
    }
}

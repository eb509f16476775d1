import Drawing
import XCTest

/// The canvas draws where it is told, in the colours it is given, and reads back as RGB rows.
final class CanvasTests: XCTestCase {
    func pixel(_ pixels: [UInt8], _ canvas: Canvas, _ x: Int, _ y: Int) -> [UInt8] {
        let offset = (y * canvas.width + x) * 3
        return Array(pixels[offset..<offset + 3])
    }

    func testShapesLandWhereTheyAreDrawn() {
        let canvas = Canvas(width: 64, height: 48)
        canvas.fill(Color(0, 0, 1))
        canvas.fillEllipse(Point(20, 24), radiusX: 10, radiusY: 6, color: Color(1, 0, 0))
        let pixels = canvas.rgbPixels()
        XCTAssertEqual(pixels.count, 64 * 48 * 3)
        XCTAssertEqual(pixel(pixels, canvas, 20, 24), [255, 0, 0], "the centre")
        XCTAssertEqual(pixel(pixels, canvas, 28, 24), [255, 0, 0], "inside along the long axis")
        XCTAssertEqual(pixel(pixels, canvas, 20, 32), [0, 0, 255], "outside along the short axis")
        XCTAssertEqual(pixel(pixels, canvas, 63, 47), [0, 0, 255], "the far corner")
        // The edge is anti-aliased: some pixel on the boundary mixes the two colours.
        let edge = (0..<64).map { pixel(pixels, canvas, $0, 24) }.filter { $0[0] > 0 && $0[0] < 255 }
        XCTAssertFalse(edge.isEmpty, "anti-aliased edge")
    }

    func testGradientRunsFromTopToBottom() {
        let canvas = Canvas(width: 4, height: 101)
        canvas.fillVerticalGradient(top: Color(0, 0, 0), bottom: Color(1, 1, 1))
        let pixels = canvas.rgbPixels()
        let column = (0..<101).map { Int(pixel(pixels, canvas, 2, $0)[1]) }
        XCTAssertLessThan(column[0], 5)
        XCTAssertGreaterThan(column[100], 250)
        XCTAssertEqual(Double(column[50]), 127.5, accuracy: 4)
        XCTAssertEqual(column, column.sorted(), "brightness never falls going down")
    }
}

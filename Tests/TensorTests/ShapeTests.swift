import Tensor
import XCTest

/// Broadcasting rules and the shape operations' layouts.
final class ShapeTests: XCTestCase {
    func testShapes() {
        XCTAssertEqual(broadcastShape([2, 3, 4], [4]), [2, 3, 4])
        XCTAssertEqual(broadcastShape([2, 1, 4], [3, 1]), [2, 3, 4])
        XCTAssertNil(broadcastShape([2, 3], [4]))
        let x = Tensor((0..<24).map(Float.init), shape: [2, 3, 4])
        XCTAssertEqual(x.permuted([2, 0, 1]).shape, [4, 2, 3])
        XCTAssertEqual(x.permuted([2, 0, 1]).scalars[0..<4], [0, 4, 8, 12])
        XCTAssertEqual(x.reshaped([-1, 4]).shape, [6, 4])
        XCTAssertEqual(x.slice(axis: 2, 1..<3).scalars.prefix(4), [1, 2, 5, 6])
        XCTAssertEqual(x.mean(axis: 1).scalars.prefix(2), [4, 5])
    }
}

@testable import EmotionStages
import Foundation
import XCTest

/// What the clean stage says of a CSV that is not UTF-8: the line of the first byte that is not (issue 27: the line was
/// left out, so a user searched a 10 000-line file by hand).
final class CleanStageInputTests: XCTestCase {
    func testTheLineOfTheFirstByteThatIsNotUTF8() {
        XCTAssertEqual(firstLineNotUTF8(Data("a,b\nc,d\n".utf8) + Data([0x63, 0x61, 0x66, 0xE9, 0x0A]) + Data("e\n".utf8)), 3)
        XCTAssertEqual(firstLineNotUTF8(Data([0xFF])), 1)
        XCTAssertEqual(firstLineNotUTF8(Data("caf\u{e9}\n".utf8) + Data([0xC3])), 2, "a valid two-byte é, then a cut sequence")
    }
}

import Foundation
import Labels
import XCTest

/// A label set is the data's: these pin what makes one and how it is written, since every stage after cleaning reads it.
final class LabelSetTests: XCTestCase {
    func testNamesKeepTheirOrderAndIndex() throws {
        let labels = try LabelSet(["neutral", "happy", "angry", "sad"])
        XCTAssertEqual(labels.count, 4)
        XCTAssertEqual(labels[2], "angry")
        XCTAssertEqual(labels.index(of: "sad"), 3)
        XCTAssertNil(labels.index(of: "joy"))
        XCTAssertEqual(try labels.indices(of: ["sad", "neutral"]), [3, 0])
        XCTAssertThrowsError(try labels.indices(of: ["sad", "joy"])) { error in
            XCTAssertEqual("\(error)", "'joy' is not one of the classes neutral,happy,angry,sad")
        }
    }

    func testUnusableNamesAreRefusedSayingWhy() {
        for (names, reason) in [([], "at least two labels, not 0"), (["joy"], "at least two labels, not 1"), (["joy", "joy"], "'joy' stands twice"),
                                (["joy", ""], "label '' is empty"), (["joy", "a,b"], "label 'a,b' is empty, holds a comma"),
                                (["joy", " sad"], "label ' sad' is empty, holds a comma or is padded")] {
            XCTAssertThrowsError(try LabelSet(names), "\(names)") { error in XCTAssertTrue("\(error)".contains(reason), "\(error)") }
        }
    }

    func testWrittenAsAJSONArrayAndRefusedWhenReadBadly() throws {
        let labels = try LabelSet(["neutral", "joy"])
        XCTAssertEqual(String(decoding: try JSONEncoder().encode(labels), as: UTF8.self), #"["neutral","joy"]"#)
        XCTAssertEqual(try JSONDecoder().decode(LabelSet.self, from: Data(#"["neutral","joy"]"#.utf8)), labels)
        XCTAssertThrowsError(try JSONDecoder().decode(LabelSet.self, from: Data(#"["joy","joy"]"#.utf8))) { error in
            XCTAssertTrue("\(error)".contains("stands twice"), "\(error)")
        }
    }

    func testTheMajorityIsTheMostFrequentAndTheFirstOnATie() throws {
        let labels = try LabelSet(["a", "b", "c"])
        XCTAssertEqual(labels.majority(["a": 1, "b": 5, "c": 2]), 1)
        XCTAssertEqual(labels.majority(["b": 4, "c": 4]), 1)
        XCTAssertEqual(labels.majority([:]), 0)
    }
}

import Foundation
import XCTest

/// The documents a newcomer enters by: every relative link lands on a file of the repository, and every `#anchor` on a
/// heading of it (as GitHub makes anchors), and the README stays short enough to read in one go.
final class LinkTests: XCTestCase {
    private let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    private var documents: [String] {
        let docs = ((try? FileManager.default.contentsOfDirectory(atPath: root + "/docs")) ?? []).filter { $0.hasSuffix(".md") }.map { "docs/" + $0 }
        return ["README.md", "data/README.md"] + docs.sorted()
    }

    /// GitHub's anchor for a heading: lower case, punctuation but hyphens and underscores dropped, spaces as hyphens.
    static func anchor(_ heading: String) -> String {
        String(heading.lowercased().unicodeScalars.compactMap { scalar -> Character? in
            if scalar == " " { return "-" }
            if CharacterSet.alphanumerics.contains(scalar) || scalar == "-" || scalar == "_" { return Character(scalar) }
            return nil
        })
    }

    private func anchors(in path: String) throws -> Set<String> {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var inCode = false, found: Set<String> = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") { inCode.toggle() }
            guard !inCode, line.hasPrefix("#") else { continue }
            found.insert(Self.anchor(String(line.drop { $0 == "#" }).trimmingCharacters(in: .whitespaces)))
        }
        return found
    }

    func testEveryRelativeLinkResolves() throws {
        XCTAssertEqual(Self.anchor("The demo (2026-12-04, `make demo` from an empty workspace)"), "the-demo-2026-12-04-make-demo-from-an-empty-workspace")
        let link = try NSRegularExpression(pattern: #"\]\(([^)\s]+)\)"#)
        var checked = 0
        for document in documents {
            let path = root + "/" + document
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let folder = (path as NSString).deletingLastPathComponent
            for match in link.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                let target = String(text[Range(match.range(at: 1), in: text)!])
                if target.contains("://") || target.hasPrefix("mailto:") { continue }
                let parts = target.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                let file = parts[0].isEmpty ? path : (folder + "/" + parts[0] as NSString).standardizingPath
                XCTAssertTrue(FileManager.default.fileExists(atPath: file), "\(document): \(target) names no file")
                if parts.count == 2, file.hasSuffix(".md"), FileManager.default.fileExists(atPath: file) {
                    XCTAssertTrue(try anchors(in: file).contains(parts[1]), "\(document): \(target) names no heading of \(parts[0])")
                }
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 20, "the documents link to each other")
    }

    func testTheREADMEFitsInTwoHundredLinesAndNamesTheTwoCommands() throws {
        let readme = try String(contentsOfFile: root + "/README.md", encoding: .utf8)
        XCTAssertLessThanOrEqual(readme.split(separator: "\n", omittingEmptySubsequences: false).count, 200)
        XCTAssertTrue(readme.contains("make demo") && readme.contains("make test"))
        for page in ["ARCHITECTURE", "MODEL", "PIPELINES", "TRAINING", "INFERENCE", "BENCHMARKS"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/docs/\(page).md"), "docs/\(page).md")
            XCTAssertTrue(readme.contains("(docs/\(page).md"), "README links docs/\(page).md")
        }
    }
}

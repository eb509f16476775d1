import Foundation
import XCTest

/// Headless Chromium as the page tests' browser (Debian's `chromium`, which `make setup` installs): what a person
/// opening the project's pages would see, with no DevTools protocol. Layout is read by a harness page that loads the
/// page in a frame (file access between local pages allowed) and writes each SVG label's laid-out box into its own
/// DOM, which `--dump-dom` prints.
public enum Chromium {
    public struct Label: Sendable {
        public var text: String
        public var left, top, right, bottom: Double

        /// Overlapping by more than half a pixel each way (antialiasing and rounding aside).
        public func overlaps(_ other: Label) -> Bool {
            min(right, other.right) - max(left, other.left) > 0.5 && min(bottom, other.bottom) - max(top, other.top) > 0.5
        }
    }

    public struct Layout: Sendable {
        /// The page's full width at a 1280-pixel window.
        public var scrollWidth: Double
        /// The labels of each SVG on the page, in document order.
        public var figures: [[Label]]
    }

    /// The browser's path, or a skip naming why there is none (a failure under CI, whose set-up installs it).
    public static func program() throws -> String {
        for path in ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/snap/bin/chromium"] where FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        if ProcessInfo.processInfo.environment["CI"] == "true" { throw SharedMissing(path: "/usr/bin/chromium (make setup installs it)") }
        throw XCTSkip("Chromium is not installed (make setup installs Debian's chromium): the page tests need it")
    }

    private static func run(_ arguments: [String]) throws -> String {
        let profile = try TemporaryFolder()
        let result = try shell(try program(), ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=" + profile.path,
                                               "--window-size=1280,900", "--hide-scrollbars"] + arguments)
        guard result.status == 0 else { throw ChromiumFailed(arguments: arguments, status: result.status, error: result.err) }
        return String(decoding: result.out, as: UTF8.self)
    }

    /// The page's DOM after Chromium loaded `file`, as it serialises it.
    public static func dom(of file: String) throws -> String {
        try run(["--dump-dom", URL(fileURLWithPath: file).absoluteString])
    }

    /// A 1280-pixel-wide screenshot of `file`, as PNG at `png`.
    public static func screenshot(of file: String, to png: String, height: Int = 900) throws {
        _ = try run(["--window-size=1280,\(height)", "--screenshot=" + png, URL(fileURLWithPath: file).absoluteString])
    }

    public static func layout(of file: String) throws -> Layout {
        let folder = try TemporaryFolder()
        let harness = folder.file("harness.html")
        let page = """
            <!DOCTYPE html><html><body style="margin:0">
            <iframe id="page" src="\(URL(fileURLWithPath: file).absoluteString)" style="width:1280px;height:900px;border:0"></iframe>
            <pre id="layout"></pre>
            <script>
            document.getElementById('page').onload = function () {
              var d = this.contentDocument, figures = [];
              d.querySelectorAll('svg').forEach(function (svg) {
                var labels = [];
                svg.querySelectorAll('text').forEach(function (t) {
                  var b = t.getBoundingClientRect();
                  labels.push({text: t.textContent, left: b.left, top: b.top, right: b.right, bottom: b.bottom});
                });
                figures.push(labels);
              });
              document.getElementById('layout').textContent = JSON.stringify({scrollWidth: d.documentElement.scrollWidth, figures: figures});
            };
            </script></body></html>
            """
        try Data(page.utf8).write(to: URL(fileURLWithPath: harness))
        let dom = try run(["--allow-file-access-from-files", "--virtual-time-budget=10000", "--dump-dom", URL(fileURLWithPath: harness).absoluteString])
        guard let start = dom.range(of: "<pre id=\"layout\">"), let end = dom.range(of: "</pre>", range: start.upperBound..<dom.endIndex) else {
            throw ChromiumFailed(arguments: [harness], status: 0, error: "the harness page wrote no layout: " + String(dom.prefix(300)))
        }
        let json = String(dom[start.upperBound..<end.lowerBound]).replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&amp;", with: "&")
        guard let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let width = object["scrollWidth"] as? Double, let figures = object["figures"] as? [[[String: Any]]] else {
            throw ChromiumFailed(arguments: [harness], status: 0, error: "unreadable layout: " + String(json.prefix(300)))
        }
        return Layout(scrollWidth: width, figures: figures.map { labels in
            labels.map { Label(text: $0["text"] as? String ?? "", left: $0["left"] as? Double ?? 0, top: $0["top"] as? Double ?? 0,
                               right: $0["right"] as? Double ?? 0, bottom: $0["bottom"] as? Double ?? 0) }
        })
    }

    /// Pairs of labels of one figure that Chromium laid out over each other, as text for a failure message.
    public static func overlaps(in layout: Layout) -> [String] {
        layout.figures.enumerated().flatMap { index, labels in
            labels.enumerated().flatMap { i, a in
                labels[(i + 1)...].filter { a.overlaps($0) }.map { b in "figure \(index): '\(a.text)' and '\(b.text)'" }
            }
        }
    }
}

public struct ChromiumFailed: Error, CustomStringConvertible {
    public var arguments: [String]
    public var status: Int32
    public var error: String
    public var description: String { "chromium \(arguments.joined(separator: " ")) failed (\(status)): \(error.suffix(800))" }
}

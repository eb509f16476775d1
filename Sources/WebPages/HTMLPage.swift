import Foundation

/// What every page the project writes shares: a self-contained head (no script, font or style from anywhere), a width
/// that fits a 1280-pixel window, and escaping.
public enum HTMLPage {
    public static func head(title: String, style: String = "") -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>\(escape(title))</title>
        <style>
        body { font-family: sans-serif; margin: 2em; color: #222; max-width: 70em; }
        table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }
        th:first-child, td:first-child { text-align: left; } .figures { display: flex; flex-wrap: wrap; gap: 2em; }
        svg { font-size: \(SVGFigure.fontSize)px; max-width: 100%; height: auto; } a { color: #2a56c6; }
        \(style)</style></head><body>
        <h1>\(escape(title))</h1>

        """
    }

    public static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// A path as an `href`: each segment percent-encoded, so that `evaluate@audio` or a space stays one link.
    public static func href(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            segment.utf8.map { byte -> String in
                let safe = (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || "-._~".utf8.contains(byte)
                return safe ? String(UnicodeScalar(byte)) : String(format: "%%%02X", byte)
            }.joined()
        }.joined(separator: "/")
    }
}

/// What every page the project writes shares: a self-contained head (no script, font or style from anywhere) and
/// escaping.
enum HTMLPage {
    static func head(title: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
        <style>
        body { font-family: sans-serif; margin: 2em; color: #222; max-width: 70em; }
        table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }
        th:first-child, td:first-child { text-align: left; } .figures { display: flex; flex-wrap: wrap; gap: 2em; } svg { font-size: 11px; }
        </style></head><body>
        <h1>\(escape(title))</h1>

        """
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }
}

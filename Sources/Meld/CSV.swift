/// RFC 4180 CSV: quoted fields with commas, doubled quotes and line breaks, CRLF or LF. Written here rather
/// than taken from a package because the cleaning report must name the file line each record starts on.
public enum CSV {
    public struct Record: Sendable {
        /// 1-based line in the file where the record starts.
        public var line: Int
        public var fields: [String]
    }

    public struct ParseError: Error, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// Every record of `text`. An unterminated quote is an error naming the line it opened on.
    public static func parse(_ text: String) throws -> [Record] {
        var records: [Record] = []
        var fields: [String] = []
        var field = ""
        var line = 1, recordLine = 1, quoteLine = 0
        var inQuotes = false, fieldStarted = false, afterQuote = false
        var scalars = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil

        func endRecord() {
            fields.append(field)
            if !(fields.count == 1 && fields[0].isEmpty && !fieldStarted) { records.append(Record(line: recordLine, fields: fields)) }
            fields = []
            field = ""
            fieldStarted = false
            afterQuote = false
        }

        while let scalar = pending ?? scalars.next() {
            pending = nil
            if inQuotes {
                if scalar == "\"" {
                    if let next = scalars.next() {
                        if next == "\"" { field.unicodeScalars.append("\"") } else { inQuotes = false; afterQuote = true; pending = next }
                    } else {
                        inQuotes = false
                    }
                } else {
                    if scalar == "\n" { line += 1 }
                    field.unicodeScalars.append(scalar)
                }
                continue
            }
            switch scalar {
            case ",":
                fields.append(field)
                field = ""
                fieldStarted = true
                afterQuote = false
            case "\r":
                if let next = scalars.next(), next != "\n" { pending = next }
                endRecord()
                line += 1
                recordLine = line
            case "\n":
                endRecord()
                line += 1
                recordLine = line
            case "\"" where field.isEmpty && !afterQuote:
                inQuotes = true
                fieldStarted = true
                quoteLine = line
            default:
                field.unicodeScalars.append(scalar)
                fieldStarted = true
            }
        }
        if inQuotes { throw ParseError(line: quoteLine, message: "a quoted field is never closed") }
        if fieldStarted || !field.isEmpty || !fields.isEmpty { endRecord() }
        return records
    }

    /// One CSV line (no line break), quoting fields that need it.
    public static func line(_ fields: [String]) -> String {
        fields.map { field in
            field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
        }.joined(separator: ",")
    }
}

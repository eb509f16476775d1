/// Undoes MELD's legacy encoding damage: text once stored as Windows-1252 bytes and read back as Latin-1
/// keeps C1 control characters (U+0080-U+009F) where curly quotes, dashes and ellipses were. Mapping each
/// to the character Windows-1252 meant gives the right Unicode; readers that guess encodings produce `â€™`.
public enum TextRepair {
    /// Windows-1252's 0x80-0x9F, by offset from 0x80; nil where Windows-1252 leaves the byte undefined.
    private static let windows1252: [UInt32?] = [
        0x20AC, nil, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, nil, 0x017D, nil,
        nil, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, nil, 0x017E, 0x0178,
    ]

    public static func repair(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value >= 0x80 && $0.value <= 0x9F }) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar.value >= 0x80, scalar.value <= 0x9F, let mapped = windows1252[Int(scalar.value - 0x80)], let fixed = Unicode.Scalar(mapped) {
                out.append(fixed)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// The reverse, for generating legacy-encoded test data: characters Windows-1252 has at 0x80-0x9F become those C1 controls.
    public static func damage(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if let index = windows1252.firstIndex(of: scalar.value), let control = Unicode.Scalar(0x80 + UInt32(index)) {
                out.append(control)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }
}

import Foundation

/// MELD's `h:mm:ss,ms` times: hours written `0:` or `00:`, and a few with two millisecond digits
/// (`00:06:47,28`, which means 280 ms as a fraction of a second).
public enum Timestamp {
    /// Seconds, or nil when the text is not a timestamp.
    public static func parse(_ text: String) -> Double? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let parts = trimmed.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        let clock = parts[0].split(separator: ":", omittingEmptySubsequences: false)
        guard clock.count == 3, let hours = Int(clock[0]), let minutes = Int(clock[1]), let seconds = Int(clock[2]),
              minutes < 60, seconds < 60, hours >= 0, minutes >= 0, seconds >= 0,
              !parts[1].isEmpty, parts[1].count <= 3, parts[1].allSatisfy(\.isNumber), let fraction = Double("0." + parts[1])
        else { return nil }
        return Double(hours * 3600 + minutes * 60 + seconds) + fraction
    }

    /// MELD's usual form, `00:mm:ss,mmm`.
    public static func format(_ seconds: Double, hourDigits: Int = 2, millisecondDigits: Int = 3) -> String {
        let totalMilliseconds = Int((seconds * 1000).rounded())
        let hours = totalMilliseconds / 3_600_000, minutes = totalMilliseconds / 60_000 % 60, secs = totalMilliseconds / 1000 % 60
        let milliseconds = totalMilliseconds % 1000
        let hourText = hourDigits == 1 ? String(hours) : String(format: "%02d", hours)
        let fraction = millisecondDigits == 2 ? String(format: "%02d", milliseconds / 10) : String(format: "%03d", milliseconds)
        return "\(hourText):\(String(format: "%02d", minutes)):\(String(format: "%02d", secs)),\(fraction)"
    }
}

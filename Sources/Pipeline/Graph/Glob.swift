import Foundation

/// Shell-style path patterns for `map: {glob: ...}`: `*`, `?` and `[...]` within one path component
/// (as `fnmatch`), and `**` for any number of components, as in DVC, git and most build tools.
struct Glob: Sendable {
    private let components: [String]
    /// For `**/*SUFFIX` and `*SUFFIX` (the usual forms, tried against every file of a dataset): the suffix, and
    /// whether the name may sit in any folder.
    private let suffix: (bytes: [UInt8], anyFolder: Bool)?

    init(_ pattern: String) {
        components = pattern.split(separator: "/").map(String.init)
        let name = components.last ?? ""
        let literalTail = name.count > 1 && name.first == "*" && name.dropFirst().allSatisfy { !"*?[\\".contains($0) }
        let anyFolder = components.count == 2 && components[0] == "**"
        suffix = literalTail && (anyFolder || components.count == 1) ? (Array(name.utf8.dropFirst()), anyFolder) : nil
    }

    func matches(_ path: String) -> Bool {
        if let (bytes: tail, anyFolder) = suffix {
            var path = path
            return path.withUTF8 { bytes in
                guard bytes.count >= tail.count, memcmp(bytes.baseAddress! + bytes.count - tail.count, tail, tail.count) == 0 else { return false }
                return anyFolder || !bytes.contains(UInt8(ascii: "/"))
            }
        }
        // `**/NAME-PATTERN` needs only the last component.
        if components.count == 2, components[0] == "**", components[1] != "**" {
            let name = path.lastIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? path
            return fnmatch(components[1], name, 0) == 0
        }
        return Glob.match(components[...], path.split(separator: "/").map(String.init)[...])
    }

    private static func match(_ pattern: ArraySlice<String>, _ parts: ArraySlice<String>) -> Bool {
        guard let first = pattern.first else { return parts.isEmpty }
        if first == "**" {
            let rest = pattern.dropFirst()
            if rest.isEmpty { return true }
            var tail = parts
            while true {
                if match(rest, tail) { return true }
                guard !tail.isEmpty else { return false }
                tail = tail.dropFirst()
            }
        }
        guard let part = parts.first, fnmatch(first, part, 0) == 0 else { return false }
        return match(pattern.dropFirst(), parts.dropFirst())
    }
}

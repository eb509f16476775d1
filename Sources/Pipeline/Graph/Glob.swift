import Foundation

/// Shell-style path patterns for `map: {glob: ...}`: `*`, `?` and `[...]` within one path component
/// (as `fnmatch`), `**` for any number of components, as in DVC, git and most build tools, and `{a,b}` for either
/// (as bash and git: `**/*.{flv,wav}`, a corpus of video and of sound).
struct Glob: Sendable {
    private let alternatives: [OneGlob]

    /// A pattern whose braces stand for more than `PipelineLimits.globAlternatives` patterns is refused where the
    /// pipeline is read; here it is taken literally.
    init(_ pattern: String) {
        alternatives = (Glob.alternatives(of: pattern) ?? [pattern]).map(OneGlob.init)
    }

    func matches(_ path: String) -> Bool { alternatives.contains { $0.matches(path) } }

    /// The patterns `pattern` stands for, or nil when they are more than `PipelineLimits.globAlternatives`.
    static func alternatives(of pattern: String) -> [String]? {
        var expanded: [String] = []
        for alternative in expandBraces(pattern) {
            expanded.append(alternative)
            if expanded.count > PipelineLimits.globAlternatives { return nil }
        }
        return expanded
    }

    /// `a{b,c}d{e,f}` as `abde`, `abdf`, `acde`, `acdf`, lazily (so a hostile pattern is counted, never built whole);
    /// nested braces expand too. A brace without its partner, or without a comma, stays literal.
    static func expandBraces(_ pattern: String) -> AnySequence<String> {
        let characters = Array(pattern)
        var depth = 0, open: Int?
        for (index, character) in characters.enumerated() {
            if character == "{" {
                if depth == 0 { open = index }
                depth += 1
            } else if character == "}" && depth > 0 {
                depth -= 1
                guard depth == 0, let start = open else { continue }
                var parts: [String] = [], current = "", level = 0
                for inner in characters[(start + 1)..<index] {
                    if inner == "," && level == 0 { parts.append(current); current = ""; continue }
                    if inner == "{" { level += 1 } else if inner == "}" { level -= 1 }
                    current.append(inner)
                }
                parts.append(current)
                guard parts.count > 1 else { open = nil; continue }
                let prefix = String(characters[..<start]), suffix = String(characters[(index + 1)...])
                return AnySequence(parts.lazy.flatMap { part in expandBraces(prefix + part + suffix) })
            }
        }
        return AnySequence([pattern])
    }
}

/// One pattern without braces.
private struct OneGlob: Sendable {
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
        return OneGlob.match(components[...], path.split(separator: "/").map(String.init)[...])
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

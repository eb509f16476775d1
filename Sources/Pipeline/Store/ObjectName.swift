import Foundation

/// An object's file name in the cache: the digest of its content, then the extension of the output it was stored
/// from (`…/ab/<sha256>.html`). Browsers, image viewers and `xdg-open` follow an out/ link to its target and take a
/// file's type from the target's name, so the name keeps it; the digest alone still says what the content must be.
struct ObjectName: Hashable, Sendable {
    var digest: Digest
    /// `""`, or `.` and 1 to 16 ASCII letters and digits.
    var suffix: String

    init(digest: Digest, suffix: String) {
        self.digest = digest
        self.suffix = suffix
    }

    /// The object that stores the output file at `path` (relative to its unit's folder) with this content.
    init(digest: Digest, path: String) {
        self.init(digest: digest, suffix: Self.suffix(of: path))
    }

    /// Parses an object's file name; nil for anything else (a temporary file, a stray name).
    init?(fileName: String) {
        let hex = fileName.prefix(64)
        guard let digest = Digest(hex: String(hex)) else { return nil }
        let suffix = String(fileName.dropFirst(64))
        guard suffix.isEmpty || Self.suffix(of: "x" + suffix) == suffix else { return nil }
        self.init(digest: digest, suffix: suffix)
    }

    var fileName: String { digest.hex + suffix }

    /// Relative to the objects folder.
    var relativePath: String { digest.hex.prefix(2) + "/" + fileName }

    /// The extension of a path's last component that a type can be told from: `.json`, `.html`, `.safetensors`;
    /// `""` for none, a leading-dot name, or one with characters a file name in the cache should not carry.
    static func suffix(of path: String) -> String {
        let name = path.lastIndex(of: "/").map { path[path.index(after: $0)...] } ?? path[...]  // no array: called per file of every entry read
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "" }
        let ext = name[name.index(after: dot)...]
        guard (1...16).contains(ext.utf8.count), ext.utf8.allSatisfy({ ($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x7A || (0x30...0x39).contains($0) }) else { return "" }
        return "." + ext
    }
}

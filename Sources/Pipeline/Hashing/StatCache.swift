import Foundation

/// Remembers the content digest of every file hashed in this workspace, keyed by path and trusted
/// while the file's size, modification time and inode are unchanged. A no-op run therefore stats
/// files but reads none of them; `touch` costs one re-read and changes no digest.
///
/// Stored as one line per file (`digest size mtime_ns inode path`) in path order, and searched in place:
/// a status of MELD's 13 708 clips looks each one up by binary search in the bytes it read, instead of
/// first building a dictionary of 13 708 strings (which took longer than all the look-ups).
final class StatCache: @unchecked Sendable {
    struct Entry {
        var size: Int64
        var mtimeNanoseconds: Int64
        var inode: UInt64
        var digest: Digest
    }

    /// Where one line of `text` sits, and where its path starts.
    private struct Line {
        var start: Int
        var path: Int
        var end: Int
    }

    private let path: String
    /// The file's bytes, and its well-formed lines in path order: read on another thread while the inputs are scanned.
    private let file: Background<(text: [UInt8], lines: [Line])>
    /// Digests learned since the file was read: they win over its lines.
    private var learned: [String: Entry] = [:]
    private let lock = NSLock()

    var isDirty: Bool { !learned.isEmpty }

    init(path: String) {
        self.path = path
        file = Background { StatCache.read(path) }
    }

    /// The file's bytes, read straight into the array (not through `Data`, a second copy of a few megabytes); empty
    /// when it cannot be read (a short read leaves a damaged last line, which costs one re-hash).
    private static func readWhole(_ path: String) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return [] }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return [] }
        return [UInt8](unsafeUninitializedCapacity: Int(info.st_size)) { buffer, count in
            while count < buffer.count {
                let got = Glibc.read(descriptor, buffer.baseAddress! + count, buffer.count - count)
                if got < 0 && errno == EINTR { continue }
                guard got > 0 else { break }
                count += got
            }
        }
    }

    private static func read(_ path: String) -> (text: [UInt8], lines: [Line]) {
        let text = readWhole(path)
        var lines: [Line] = []
        lines.reserveCapacity(text.count / 110)
        text.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Void in
            var start = 0
            while start < raw.count {
                let end = memchr(raw.baseAddress! + start, 0x0A, raw.count - start).map { UnsafeRawPointer($0) - raw.baseAddress! } ?? raw.count
                // digest, size, mtime and inode, then the path; a damaged line costs one re-hash, nothing more.
                var path = start + 65, spaces = 0
                if end - start > 65, raw[start + 64] == 0x20 {
                    while path < end, spaces < 3 {
                        if raw[path] == 0x20 { spaces += 1 }
                        path += 1
                    }
                }
                if spaces == 3, path < end { lines.append(Line(start: start, path: path, end: end)) }
                start = end + 1
            }
            let sorted = zip(lines, lines.dropFirst()).allSatisfy { StatCache.compare(raw, $0, $1) < 0 }
            if !sorted { lines.sort { StatCache.compare(raw, $0, $1) < 0 } }
        }
        return (text, lines)
    }

    private static func compare(_ raw: UnsafeRawBufferPointer, _ a: Line, _ b: Line) -> Int32 {
        compare(UnsafeRawBufferPointer(rebasing: raw[a.path..<a.end]), UnsafeRawBufferPointer(rebasing: raw[b.path..<b.end]))
    }

    /// Byte order, a prefix first.
    private static func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int32 {
        let common = min(a.count, b.count)
        let order = common == 0 ? 0 : memcmp(a.baseAddress!, b.baseAddress!, common)
        return order != 0 ? order : Int32(a.count - b.count)
    }

    private static func integer(_ bytes: Slice<UnsafeRawBufferPointer>) -> Int64? {
        var value: Int64 = 0
        var negative = false
        for (index, byte) in bytes.enumerated() {
            if index == 0 && byte == UInt8(ascii: "-") { negative = true; continue }
            guard byte >= 48 && byte <= 57 else { return nil }
            value = value &* 10 &+ Int64(byte - 48)
        }
        return bytes.isEmpty ? nil : (negative ? -value : value)
    }

    /// The entry the file holds for `path`, by binary search.
    private static func stored(_ path: String, in raw: UnsafeRawBufferPointer, lines: [Line]) -> Entry? {
        var path = path
        return path.withUTF8 { wanted in
            var low = 0, high = lines.count
            while low < high {
                let middle = (low + high) / 2
                let line = lines[middle]
                let order = compare(UnsafeRawBufferPointer(rebasing: raw[line.path..<line.end]), UnsafeRawBufferPointer(wanted))
                if order == 0 { return entry(UnsafeRawBufferPointer(rebasing: raw[line.start..<line.path - 1])) }
                if order < 0 { low = middle + 1 } else { high = middle }
            }
            return nil
        }
    }

    /// `digest size mtime_ns inode`.
    private static func entry(_ fields: UnsafeRawBufferPointer) -> Entry? {
        guard let digest = Digest.parse(hex: UnsafeRawBufferPointer(rebasing: fields[0..<64])) else { return nil }
        var numbers: (Int64, Int64, Int64) = (0, 0, 0)
        var start = 65
        for index in 0..<3 {
            var end = start
            while end < fields.count, fields[end] != 0x20 { end += 1 }
            guard let value = integer(fields[start..<end]) else { return nil }
            switch index {
            case 0: numbers.0 = value
            case 1: numbers.1 = value
            default: numbers.2 = value
            }
            start = end + 1
        }
        return Entry(size: numbers.0, mtimeNanoseconds: numbers.1, inode: UInt64(bitPattern: numbers.2), digest: digest)
    }

    /// Cached digests of `files`, in order (nil where the cache cannot vouch), under one lock.
    func digests(for files: [ScannedFile]) -> [Digest?] {
        let (text, lines) = file.value
        lock.lock(); defer { lock.unlock() }
        return text.withUnsafeBytes { raw in
            files.map { file in
                guard let entry = (learned.isEmpty ? nil : learned[file.absolute]) ?? StatCache.stored(file.absolute, in: raw, lines: lines),
                      entry.size == file.size, entry.mtimeNanoseconds == file.mtimeNanoseconds, entry.inode == file.inode else { return nil }
                return entry.digest
            }
        }
    }

    func remember(_ file: ScannedFile, digest: Digest) {
        lock.lock(); defer { lock.unlock() }
        learned[file.absolute] = Entry(size: file.size, mtimeNanoseconds: file.mtimeNanoseconds, inode: file.inode, digest: digest)
    }

    /// Writes the cache, in path order, through a temporary file and a rename. Entries for files that no longer
    /// exist stay: a scan of part of the workspace says nothing about the rest.
    func save() throws {
        lock.lock(); defer { lock.unlock() }
        guard isDirty else { return }
        let (text, lines) = file.value
        var rows: [(path: [UInt8], line: ArraySlice<UInt8>)] = learned.compactMap { path, entry in
            path.contains("\n") ? nil
                : (Array(path.utf8), ArraySlice("\(entry.digest.hex) \(entry.size) \(entry.mtimeNanoseconds) \(Int64(bitPattern: entry.inode)) \(path)".utf8))
        }
        for line in lines {
            let path = Array(text[line.path..<line.end])
            if learned[String(decoding: path, as: UTF8.self)] == nil { rows.append((path, text[line.start..<line.end])) }
        }
        rows.sort { a, b in a.path.withUnsafeBytes { x in b.path.withUnsafeBytes { y in StatCache.compare(x, y) < 0 } } }
        var out: [UInt8] = []
        out.reserveCapacity(text.count + learned.count * 120)
        for row in rows {
            out.append(contentsOf: row.line)
            out.append(0x0A)
        }
        try AtomicFile.write(Data(out), to: path)
        learned = [:]
    }
}

import Foundation
import ParallelWork
#if canImport(Glibc)
import Glibc
#endif

/// One regular file found under a dependency path, with the stat fields that decide whether its
/// cached content digest can be trusted.
public struct ScannedFile: Sendable {
    /// Path relative to the scanned root, with `/` separators.
    public var relative: String
    public var absolute: String
    public var size: Int64
    public var mtimeNanoseconds: Int64
    public var inode: UInt64
}

/// Lists the regular files below a path with `readdir` and `stat`, following symbolic links
/// (a workspace may link a large dataset in from elsewhere) but never looping through them.
enum FileScanner {
    static func status(of path: String) -> Glibc.stat? {
        var info = Glibc.stat()
        return systemStat(path, &info) == 0 ? info : nil
    }

    static func isDirectory(_ info: Glibc.stat) -> Bool { (info.st_mode & S_IFMT) == S_IFDIR }
    static func isRegular(_ info: Glibc.stat) -> Bool { (info.st_mode & S_IFMT) == S_IFREG }

    static func file(relative: String, absolute: String, info: Glibc.stat) -> ScannedFile {
        ScannedFile(
            relative: relative, absolute: absolute, size: Int64(info.st_size),
            mtimeNanoseconds: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec),
            inode: UInt64(info.st_ino))
    }

    /// Every regular file below `root` (or `root` itself when it is a file), sorted by relative path.
    /// A file given directly has its own name as relative path.
    static func scan(_ root: String) throws -> [ScannedFile] {
        var skipped: [String] = []
        return try scan(root, skipped: &skipped)
    }

    /// The same, with what was passed over (a dangling link, a link back into a folder already walked) in `skipped`,
    /// each as `RELATIVE: why`, for the caller to say.
    static func scan(_ root: String, skipped: inout [String]) throws -> [ScannedFile] {
        guard let info = status(of: root) else {
            throw PipelineError(.missingPath, "no such file or directory: \(root)")
        }
        if !isDirectory(info) {
            let name = (root as NSString).lastPathComponent
            return [file(relative: name, absolute: root, info: info)]
        }
        var files: [ScannedFile] = []
        var visited: Set<[UInt64]> = [[UInt64(info.st_dev), UInt64(info.st_ino)]]
        try walk(root, prefix: "", into: &files, visited: &visited, skipped: &skipped)
        // The walk visits names in order, so this sort only runs where names order differently than their paths.
        if zip(files, files.dropFirst()).contains(where: { !($0.relative < $1.relative) }) { files.sort { $0.relative < $1.relative } }
        return files
    }

    private static func walk(_ directory: String, prefix: String, into files: inout [ScannedFile], visited: inout Set<[UInt64]>,
                             skipped: inout [String]) throws {
        guard let handle = opendir(directory) else {
            throw PipelineError(.io, "cannot read directory \(directory): \(String(cString: strerror(errno)))")
        }
        defer { closedir(handle) }
        let descriptor = dirfd(handle)
        var names: [String] = []
        while let entry = readdir(handle) {
            // A name in another encoding would become a String naming no file (its bytes replaced), and the file
            // would silently drop out of the inputs: it is refused instead, named by its bytes.
            let decoded = withUnsafePointer(to: &entry.pointee.d_name) { pointer -> Result<String, PipelineError> in
                let name = UnsafeRawPointer(pointer).assumingMemoryBound(to: CChar.self)
                if let text = String(validatingCString: name) { return .success(text) }
                let bytes = Array(UnsafeBufferPointer(start: UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self), count: strlen(name)))
                return .failure(PipelineError(.badField, "\(directory)/\(escapedFileName(bytes)): the file name is not UTF-8 text, so it cannot be an input: "
                                              + "rename it (convmv -f latin1 -t utf-8 --notest, for a name in Latin-1)"))
            }
            let name = try decoded.get()
            if name != "." && name != ".." { names.append(name) }
        }
        let infos = try statEach(names, in: descriptor)
        // In path order: a folder's files come where its name followed by `/` sorts among its neighbours.
        var keys: [String] = [], kept: [Int] = []
        keys.reserveCapacity(names.count)
        for (index, info) in infos.enumerated() {
            guard let info else {
                skipped.append("\(prefix.isEmpty ? names[index] : prefix + "/" + names[index]): a link to nothing (or unreadable)")
                continue
            }
            guard isDirectory(info) || isRegular(info) else { continue }  // a socket, a device: no content to read
            keys.append(isDirectory(info) ? names[index] + "/" : names[index])
            kept.append(index)
        }
        for position in keys.indices.sorted(by: { keys[$0] < keys[$1] }) {
            let name = names[kept[position]], info = infos[kept[position]]!
            let absolute = directory + "/" + name
            let relative = prefix.isEmpty ? name : prefix + "/" + name
            if isDirectory(info) {
                if visited.insert([UInt64(info.st_dev), UInt64(info.st_ino)]).inserted {
                    try walk(absolute, prefix: relative, into: &files, visited: &visited, skipped: &skipped)
                } else {
                    skipped.append("\(relative): a folder already read through another path (a link loop?)")
                }
            } else {
                files.append(file(relative: relative, absolute: absolute, info: info))
            }
        }
    }
}

extension FileScanner {
    /// `stat` of each name in an open folder (relative to it: the kernel resolves one name, not the whole path
    /// again); nil where there is none. A large folder is split over the cores: a dataset's 10 000 clips in one
    /// folder are most of a status's time, and the kernel answers several threads at once.
    private static func statEach(_ names: [String], in descriptor: Int32) throws -> [Glibc.stat?] {
        let chunk = 512
        let threads = names.count >= 2 * chunk ? ProcessInfo.processInfo.activeProcessorCount : 1
        let chunks = try ParallelWork.map(Array(stride(from: 0, to: names.count, by: chunk)), threads: threads) { start in
            names[start..<min(start + chunk, names.count)].map { name -> Glibc.stat? in
                var info = Glibc.stat()
                return fstatat(descriptor, name, &info, 0) == 0 ? info : nil
            }
        }
        return chunks.flatMap { $0 }
    }
}

/// A file name's bytes as text: UTF-8 where they are, `\xNN` for each byte that is not.
public func escapedFileName(_ bytes: [UInt8]) -> String {
    var text = "", rest = bytes[...]
    while !rest.isEmpty {
        // The longest prefix that decodes, then one escaped byte.
        var length = rest.count
        while length > 0, String(validating: rest.prefix(length), as: UTF8.self) == nil { length -= 1 }
        if length > 0 {
            text += String(decoding: rest.prefix(length), as: UTF8.self)
            rest = rest.dropFirst(length)
        } else {
            text += String(format: "\\x%02X", rest.first!)
            rest = rest.dropFirst()
        }
    }
    return text
}

/// `stat(2)`, named apart from the `stat` struct so the call is unambiguous inside types.
private func systemStat(_ path: String, _ info: inout stat) -> Int32 { stat(path, &info) }

import Foundation
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
        guard let info = status(of: root) else {
            throw PipelineError(.missingPath, "no such file or directory: \(root)")
        }
        if !isDirectory(info) {
            let name = (root as NSString).lastPathComponent
            return [file(relative: name, absolute: root, info: info)]
        }
        var files: [ScannedFile] = []
        var visited: Set<[UInt64]> = [[UInt64(info.st_dev), UInt64(info.st_ino)]]
        try walk(root, prefix: "", into: &files, visited: &visited)
        files.sort { $0.relative < $1.relative }
        return files
    }

    private static func walk(_ directory: String, prefix: String, into files: inout [ScannedFile], visited: inout Set<[UInt64]>) throws {
        guard let handle = opendir(directory) else {
            throw PipelineError(.io, "cannot read directory \(directory): \(String(cString: strerror(errno)))")
        }
        defer { closedir(handle) }
        let descriptor = dirfd(handle)
        var subdirectories: [(String, String)] = []
        while let entry = readdir(handle) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name == "." || name == ".." { continue }
            let absolute = directory + "/" + name
            let relative = prefix.isEmpty ? name : prefix + "/" + name
            var info = Glibc.stat()
            // Relative to the open folder: the kernel resolves one name, not the whole path again.
            guard fstatat(descriptor, name, &info, 0) == 0 else { continue }  // a dangling link holds no content
            if isDirectory(info) {
                if visited.insert([UInt64(info.st_dev), UInt64(info.st_ino)]).inserted {
                    subdirectories.append((absolute, relative))
                }
            } else if isRegular(info) {
                files.append(file(relative: relative, absolute: absolute, info: info))
            }
        }
        for (absolute, relative) in subdirectories {
            try walk(absolute, prefix: relative, into: &files, visited: &visited)
        }
    }
}

/// `stat(2)`, named apart from the `stat` struct so the call is unambiguous inside types.
private func systemStat(_ path: String, _ info: inout stat) -> Int32 { stat(path, &info) }

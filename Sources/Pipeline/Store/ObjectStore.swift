import Foundation
import ParallelWork

/// One file of a finished output: its content digest and size.
public struct FileEntry: Sendable, Hashable, Codable {
    public var digest: Digest
    public var size: Int64
}

/// The durable result of one unit of work (a whole stage, or one item of a map stage), stored under
/// the unit's key once all its files are in the object store. Its presence is what marks the work done.
struct Entry: Codable, Sendable {
    var files: [String: FileEntry]

    /// The digest of the output tree: what downstream stages see as this unit's content.
    var digest: Digest { Digest.tree(files.map { (path: $0.key, digest: $0.value.digest) }) }
}

/// The content-addressed cache: `objects/ab/<sha256>.ext` holds every output file once, read-only, named by its
/// content and the extension it was written with (see `ObjectName`); `entries/<key>.json` says which files a unit of
/// work produced.
///
/// Every object's modification time is set to a fixed stamp (2000-01-01) once its content is known to match its
/// name: a later write moves it, so one `stat` per object tells which ones must be rehashed before they are trusted.
final class ObjectStore: @unchecked Sendable {
    let objects: String
    let entries: String
    let temporary: String
    /// Units' resume folders, by key.
    let resume: String

    init(root: String) throws {
        objects = root + "/objects"
        entries = root + "/entries"
        temporary = root + "/tmp"
        resume = root + "/resume"
        for directory in [objects, entries, temporary] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
    }

    func path(of name: ObjectName) -> String { objects + "/" + name.relativePath }

    /// A fresh private folder for a unit of work to write into.
    func makeWorkDirectory() throws -> String {
        let path = temporary + "/work-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        return path
    }

    /// The folder a unit with this key keeps between attempts (created by the unit when it needs it).
    func resumeDirectory(_ key: Digest) -> String { resume + "/" + key.hex }

    /// Removes work folders left by runs that died; called with the workspace lock held.
    func clearTemporary() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? []
        for name in names { try? FileManager.default.removeItem(atPath: temporary + "/" + name) }
    }

    /// Moves every file of a finished work folder into the object store and removes the folder.
    /// Objects are renamed into place whole, so an object path always holds complete content.
    func ingest(directory: String) throws -> Entry {
        var files: [String: FileEntry] = [:]
        for file in try FileScanner.scan(directory) {
            let (digest, size) = try FileHasher.digest(ofFileAt: file.absolute)
            let target = path(of: ObjectName(digest: digest, path: file.relative))
            // An existing copy is trusted as `status` trusts it: stamped, or read again to be sure.
            if let info = FileScanner.status(of: target), ObjectStore.isStamped(info) || (try? FileHasher.digest(ofFileAt: target).0) == digest {
                unlink(file.absolute)
                ObjectStore.stamp(target)
            } else {  // new, or a damaged copy that the fresh output replaces
                let folder = (target as NSString).deletingLastPathComponent
                if access(folder, F_OK) != 0 { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
                chmod(file.absolute, 0o444)
                ObjectStore.stamp(file.absolute)
                guard rename(file.absolute, target) == 0 else {
                    throw PipelineError(.io, "cannot move output \(file.relative) into the cache: \(String(cString: strerror(errno)))")
                }
            }
            files[file.relative] = FileEntry(digest: digest, size: size)
        }
        try? FileManager.default.removeItem(atPath: directory)
        return Entry(files: files)
    }

    private func entryPath(_ key: Digest) -> String { entries + "/" + key.hex.prefix(2) + "/" + key.hex + ".json" }

    func writeEntry(_ entry: Entry, key: Digest) throws {
        let path = entryPath(key)
        let folder = (path as NSString).deletingLastPathComponent
        if access(folder, F_OK) != 0 { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try AtomicFile.write(try encoder.encode(entry), to: path)
    }

    /// The entry for a key, when that work finished before and all its objects are still there (or, for
    /// `evenIfIncomplete`, whatever it lists).
    func readEntry(_ key: Digest, evenIfIncomplete: Bool = false) -> Entry? {
        guard let data = FileManager.default.contents(atPath: entryPath(key)),
              let entry = try? JSONDecoder().decode(Entry.self, from: data) else { return nil }
        if !evenIfIncomplete {
            for (name, file) in entry.files where access(path(of: ObjectName(digest: file.digest, path: name)), F_OK) != 0 { return nil }
        }
        return entry
    }

    func inputFiles(of entry: Entry, prefix: String = "") -> [InputFile] {
        entry.files.map { InputFile(path: prefix + $0.key, location: path(of: ObjectName(digest: $0.value.digest, path: $0.key)), digest: $0.value.digest) }
            .sorted { $0.path < $1.path }
    }

    /// Every entry key on disk, for garbage collection.
    func allEntryKeys() -> [Digest] {
        var keys: [Digest] = []
        for folder in (try? FileManager.default.contentsOfDirectory(atPath: entries)) ?? [] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: entries + "/" + folder)) ?? [] where name.hasSuffix(".json") {
                if let key = Digest(hex: String(name.dropLast(5))) { keys.append(key) }
            }
        }
        return keys
    }

    func removeEntry(_ key: Digest) { unlink(entryPath(key)) }

    /// Every object on disk with its size, for garbage collection and `verify`.
    func allObjects(threads: Int = 1) -> [(ObjectName, Int64)] {
        listObjects(threads: threads) { _ in true }
    }

    /// The objects whose `stat` passes `keep`, with their sizes: one `stat` per object, relative to its open folder,
    /// on `threads` threads; a name becomes a String only for an object kept.
    private func listObjects(threads: Int, keep: @escaping (stat) -> Bool) -> [(ObjectName, Int64)] {
        let folders = ((try? FileManager.default.contentsOfDirectory(atPath: objects)) ?? []).sorted()
        return ((try? ParallelWork.map(folders, threads: threads) { folder -> [(ObjectName, Int64)] in
            guard let handle = opendir(objects + "/" + folder) else { return [] }
            defer { closedir(handle) }
            var found: [(ObjectName, Int64)] = []
            var info = stat()
            while let entry = readdir(handle) {
                let kept = withUnsafePointer(to: &entry.pointee.d_name) { pointer -> String? in
                    let name = UnsafeRawPointer(pointer).assumingMemoryBound(to: CChar.self)
                    guard name[0] != 0x2E, fstatat(dirfd(handle), name, &info, 0) == 0, keep(info) else { return nil }  // not . or ..
                    return String(cString: name)
                }
                if let kept, let name = ObjectName(fileName: kept) { found.append((name, Int64(info.st_size))) }
            }
            return found
        }) ?? []).flatMap { $0 }
    }

    func removeObject(_ name: ObjectName) { unlink(path(of: name)) }

    /// Removes every object holding this content, whatever its extension.
    func removeObjects(_ digest: Digest) {
        let folder = objects + "/" + digest.hex.prefix(2)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where ObjectName(fileName: name)?.digest == digest {
            unlink(folder + "/" + name)
        }
    }

    /// The modification time of an object whose content matches its name.
    static let verifiedStamp = timespec(tv_sec: 946_684_800, tv_nsec: 0)

    static func stamp(_ path: String) {
        var times = [timespec(tv_sec: 0, tv_nsec: (1 << 30) - 2), verifiedStamp]  // UTIME_OMIT: the access time stays
        utimensat(AT_FDCWD, path, &times, 0)
    }

    /// Objects written since they were verified (their modification time is not the stamp), rehashed: those whose
    /// content still matches their name are stamped again, the others returned. One `stat` per object, on
    /// `threads` threads; a read only for the few that moved.
    func damagedObjects(threads: Int) throws -> [Digest] {
        let moved = listObjects(threads: threads) { !ObjectStore.isStamped($0) }.map(\.0)
        let verdicts = try ParallelWork.map(moved, threads: threads) { name -> Bool in
            guard let (actual, _) = try? FileHasher.digest(ofFileAt: path(of: name)), actual == name.digest else { return false }
            ObjectStore.stamp(path(of: name))
            return true
        }
        return zip(moved, verdicts).filter { !$0.1 }.map(\.0.digest)
    }

    /// Objects that the links under `out` point to and that are not there (deleted by hand, or lost with a disk): one
    /// `lstat` and one `readlink` per link. Such a link dangles, and the units that produced it must run again.
    func missingObjects(linkedFrom out: String) -> Set<ObjectName> {
        var missing: Set<ObjectName> = []
        var folders = [out]
        var visited: Set<[UInt64]> = []
        var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        while let folder = folders.popLast() {
            guard let handle = opendir(folder) else { continue }
            defer { closedir(handle) }
            var info = stat()
            while let entry = readdir(handle) {
                let name = withUnsafePointer(to: &entry.pointee.d_name) { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
                guard name != ".", name != "..", fstatat(dirfd(handle), name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
                switch info.st_mode & S_IFMT {
                case S_IFDIR: folders.append(folder + "/" + name)
                case S_IFLNK:
                    let length = readlinkat(dirfd(handle), name, &target, target.count - 1)
                    guard length > 0 else { continue }
                    target[length] = 0
                    let pointed = String(cString: target)
                    // A folder linked in (out/PIPELINE kept on another disk) is walked, once.
                    var linked = stat()
                    if !pointed.contains("cache/objects/"), fstatat(dirfd(handle), name, &linked, 0) == 0, linked.st_mode & S_IFMT == S_IFDIR,
                       visited.insert([UInt64(linked.st_dev), UInt64(linked.st_ino)]).inserted {
                        folders.append(folder + "/" + name)
                    }
                    guard pointed.contains("cache/objects/"), let object = ObjectName(fileName: String(pointed.split(separator: "/").last ?? "")),
                          access(path(of: object), F_OK) != 0 else { continue }
                    missing.insert(object)
                default: continue
                }
            }
        }
        return missing
    }

    static func isStamped(_ info: stat) -> Bool {
        info.st_mtim.tv_sec == verifiedStamp.tv_sec && info.st_mtim.tv_nsec == verifiedStamp.tv_nsec
    }
}

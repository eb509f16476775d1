import Foundation

extension StageRegistry {
    /// The stage kinds a worker program declares, as `program listing...` prints them (a JSON array of
    /// declarations), for a front end that plans and supervises without linking the kinds' code.
    ///
    /// Asking starts the program with every library it links (about 0.1 s), so the answer is kept in
    /// `cacheDirectory` under the program's identity (path, device, inode, size, modification time): a
    /// rebuilt program is asked again, an unchanged one only once. A cache that cannot be written costs only time.
    public static func declared(by program: String, listing arguments: [String], cacheDirectory: String?) throws -> StageRegistry {
        var status = stat()
        guard stat(program, &status) == 0 else {
            throw PipelineError(.io, "the worker program \(program) is missing (\(String(cString: strerror(errno))))")
        }
        let identity = [program, String(status.st_dev), String(status.st_ino), String(status.st_size),
                        String(status.st_mtim.tv_sec), String(status.st_mtim.tv_nsec)] + arguments
        let cached = cacheDirectory.map { "\($0)/kinds-\(Digest.of(string: identity.joined(separator: "\u{0}")).hex.prefix(24)).json" }
        if let cached, let data = FileManager.default.contents(atPath: cached),
           let kinds = try? JSONDecoder().decode([StageKind].self, from: data) {
            return StageRegistry(kinds)
        }
        let data = try output(of: program, arguments)
        let kinds: [StageKind]
        do {
            kinds = try JSONDecoder().decode([StageKind].self, from: data)
        } catch {
            throw PipelineError(.corrupt, "\(program) \(arguments.joined(separator: " ")) printed no stage kinds: \(error)")
        }
        if let cached, let cacheDirectory {
            try? FileManager.default.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true)
            try? AtomicFile.write(data, to: cached)
        }
        return StageRegistry(kinds)
    }

    private static func output(of program: String, _ arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        do {
            try process.run()
        } catch {
            throw PipelineError(.io, "cannot start the worker program \(program): \(error.localizedDescription)")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw PipelineError(.io, "\(program) \(arguments.joined(separator: " ")) failed (status \(process.terminationStatus))")
        }
        return data
    }
}

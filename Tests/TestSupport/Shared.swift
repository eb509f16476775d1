import Foundation
import Labels
import Tensor
import XCTest

/// `../shared` beside the project: reference fixtures and real data. Tests that need it skip, saying so,
/// when it is absent (a user's fresh clone); under CI (`CI=true`), which always has it, its absence fails them.
public enum Shared {
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.deletingLastPathComponent().appendingPathComponent("shared").path
    }()

    /// The absolute path of `relative` inside `../shared`, or a skip when it is not there.
    public static func path(_ relative: String) throws -> String {
        let path = root + "/" + relative
        guard FileManager.default.fileExists(atPath: path) else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { throw SharedMissing(path: path) }
            throw XCTSkip("../shared/\(relative) is absent (tests that need the shared fixtures skip without it)")
        }
        return path
    }

    public static func files(in relative: String, withExtensions extensions: Set<String>) throws -> [String] {
        let folder = try path(relative)
        return try FileManager.default.contentsOfDirectory(atPath: folder)
            .filter { extensions.contains(($0 as NSString).pathExtension.lowercased()) }
            .sorted().map { folder + "/" + $0 }
    }
}

/// MELD's seven classes: the label set of the reference fixtures (`../shared/reference`, computed by PyTorch with seven
/// outputs) and of the tests' own small models.
public let referenceClasses = try! LabelSet(["neutral", "joy", "sadness", "anger", "surprise", "fear", "disgust"])

/// CI runs with `../shared` beside the clone: a fixture missing there is a failure, not a skip.
public struct SharedMissing: Error, CustomStringConvertible {
    public var path: String
    public var description: String { "\(path) is missing under CI, which always has ../shared" }
}

/// A folder of outputs that should hold files and holds none.
public struct OutputsMissing: Error, CustomStringConvertible {
    public var folder: String
    public init(folder: String) { self.folder = folder }
    public var description: String { "no output files under \(folder)" }
}

/// Every regular file below `folder` (following symbolic links, as into a workspace's cache) with its bytes,
/// by path relative to `folder`, but for the run overview at its top (`index.html`, which says when a run was); empty when the folder does not exist.
public func outputFiles(under folder: String) throws -> [String: Data] {
    var result: [String: Data] = [:]
    guard let walker = FileManager.default.enumerator(atPath: folder) else { return [:] }
    for case let path as String in walker where path != "index.html" {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder + "/" + path, isDirectory: &isDirectory), !isDirectory.boolValue {
            result[path] = try Data(contentsOf: URL(fileURLWithPath: folder + "/" + path))
        }
    }
    return result
}

/// Reproducible pseudo-random numbers for test inputs: the engine's seeded SplitMix64.
public typealias SeededGenerator = RandomGenerator

/// Kills `process` with SIGKILL as soon as the workspace's cache holds `count` finished units, and says whether
/// the kill landed mid-run: the run was still going when it came. Gives up (false) when the run ends first.
public func killMidRun(_ process: Process, workspace: String, afterEntries count: Int, timeout: TimeInterval = 120) throws -> Bool {
    let entries = workspace + "/cache/entries"
    let deadline = Date(timeIntervalSinceNow: timeout)
    func recorded() -> Int {
        let folders = (try? FileManager.default.contentsOfDirectory(atPath: entries)) ?? []
        return folders.reduce(0) { $0 + ((try? FileManager.default.contentsOfDirectory(atPath: entries + "/" + $1))?.count ?? 0) }
    }
    while process.isRunning && recorded() < count && Date() < deadline { usleep(2_000) }
    guard process.isRunning else {
        process.waitUntilExit()
        return false
    }
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    return process.terminationReason == .uncaughtSignal
}

/// The count in `emotion run`'s summary line (`...; N units executed; ...`).
public func unitsExecuted(_ output: String) -> Int? {
    guard let range = output.range(of: #"\d+(?= units executed)"#, options: .regularExpression) else { return nil }
    return Int(output[range])
}

/// Runs a program and captures what it prints.
public func shell(_ executable: String, _ arguments: [String], cwd: String? = nil,
                  environment: [String: String] = [:]) throws -> (status: Int32, out: Data, err: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    if let cwd { process.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Standard error is drained on another thread so that neither pipe can fill up and stall the program.
    final class Box: @unchecked Sendable { var data = Data() }
    let errBox = Box()
    let group = DispatchGroup()
    DispatchQueue.global().async(group: group) { errBox.data = err.fileHandleForReading.readDataToEndOfFile() }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return (process.terminationStatus, outData, String(decoding: errBox.data, as: UTF8.self))
}

/// A fresh temporary folder, removed when the test that made it has finished (or when the value is released, outside
/// a test).
public final class TemporaryFolder {
    public let path: String

    public init() throws {
        path = NSTemporaryDirectory() + "emotion-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        FolderSweeper.shared.add(path)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    public func file(_ name: String) -> String { path + "/" + name }
}

/// Removes the temporary folders of each test when it finishes. XCTest keeps every test case, and so every folder it
/// holds, alive until the whole run ends, and deinitialisers do not run at exit: without this a `make test` left
/// gigabytes in /tmp each time (70 GB had piled up here when a CI run found the disk full).
private final class FolderSweeper: NSObject, XCTestObservation, @unchecked Sendable {
    static let shared: FolderSweeper = {
        let sweeper = FolderSweeper()
        XCTestObservationCenter.shared.addTestObserver(sweeper)
        return sweeper
    }()
    private let lock = NSLock()
    private var paths: [String] = []

    func add(_ path: String) {
        lock.lock()
        paths.append(path)
        lock.unlock()
    }

    func testCaseDidFinish(_ testCase: XCTestCase) {
        lock.lock()
        let finished = paths
        paths = []
        lock.unlock()
        for path in finished { try? FileManager.default.removeItem(atPath: path) }
    }
}

/// A stand-in for ssh, written into `folder`, that mpirun starts its daemon on each "host" with (`--mca plm_rsh_agent`):
/// the daemon runs on this host, or with `namespaces` inside the network namespace named like the host and under the
/// host's name. So one machine holds several Open MPI nodes (`--host a:1,b:1`).
public func mpiAgent(in folder: TemporaryFolder, namespaces: Bool = false) throws -> String {
    let path = folder.file(namespaces ? "netns-agent.sh" : "local-agent.sh")
    let run = namespaces ? "exec /usr/sbin/ip netns exec \"$host\" unshare --uts sh -c \"hostname $host; exec $*\"" : "exec sh -c \"$*\""
    try "#!/bin/sh\nwhile [ $# -gt 0 ]; do case \"$1\" in -*) shift;; *) break;; esac; done\nhost=$1; shift\n\(run)\n"
        .write(toFile: path, atomically: true, encoding: .utf8)
    chmod(path, 0o755)
    return path
}

/// The build folder holding the test bundle, where `swift build` also puts the executables.
public func productsDirectory() -> String {
    for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
        return (bundle.bundlePath as NSString).deletingLastPathComponent
    }
    return (CommandLine.arguments[0] as NSString).deletingLastPathComponent
}

/// A busy loop on every core, as competing load for determinism tests: terminate the processes to stop it.
public func busyLoops() throws -> [Process] {
    try (0..<ProcessInfo.processInfo.activeProcessorCount).map { _ in
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "while :; do :; done"]
        try process.run()
        return process
    }
}

import Foundation
import XCTest

/// `../shared` beside the project: reference fixtures and real data. Tests that need it skip, saying so,
/// when it is absent (a user's fresh clone).
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

/// Runs a program and captures what it prints.
public func shell(_ executable: String, _ arguments: [String], cwd: String? = nil) throws -> (status: Int32, out: Data, err: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
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

/// A fresh temporary folder, removed when the value is released.
public final class TemporaryFolder {
    public let path: String

    public init() throws {
        path = NSTemporaryDirectory() + "emotion-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    public func file(_ name: String) -> String { path + "/" + name }
}

/// The build folder holding the test bundle, where `swift build` also puts the executables.
public func productsDirectory() -> String {
    for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
        return (bundle.bundlePath as NSString).deletingLastPathComponent
    }
    return (CommandLine.arguments[0] as NSString).deletingLastPathComponent
}

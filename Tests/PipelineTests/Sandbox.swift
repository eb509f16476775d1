import Foundation
import Pipeline
import PipelineTestKinds
import TestSupport
import XCTest

/// A throw-away workspace with helpers to write inputs and pipelines and to run them in-process.
final class Sandbox {
    private let folder: TemporaryFolder
    let workspace: Workspace

    init() throws {
        folder = try TemporaryFolder()
        try FileManager.default.createDirectory(atPath: folder.path + "/pipelines", withIntermediateDirectories: true)
        workspace = try Workspace(root: folder.path + "/data")
    }

    var root: String { folder.path }

    var data: String { root + "/data" }

    func write(_ relative: String, _ text: String) throws {
        let path = data + "/" + relative
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    func read(_ relative: String) throws -> String {
        try String(contentsOfFile: data + "/" + relative, encoding: .utf8)
    }

    @discardableResult
    func pipelineFile(_ yaml: String, name: String = "p") throws -> String {
        let path = root + "/pipelines/\(name).yaml"
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func graph(_ yaml: String, name: String = "p") throws -> PipelineGraph {
        try PipelineGraph(try PipelineSpec.load(file: try pipelineFile(yaml, name: name)), registry: TestKinds.registry)
    }

    func run(_ yaml: String, jobs: Int = 2, force: Set<String> = [], until: String? = nil) throws -> RunSummary {
        let runner = try Runner(workspace: workspace, graph: try graph(yaml),
                                options: RunOptions(jobs: jobs, until: until.map { [$0] } ?? [], force: force), progress: Progress(quiet: true))
        return try runner.run()
    }

    func status(_ yaml: String) throws -> [String: StageStatus] {
        let runner = try Runner(workspace: workspace, graph: try graph(yaml), progress: Progress(quiet: true))
        return Dictionary(uniqueKeysWithValues: try runner.status().map { ($0.name, $0) })
    }

    /// Every file under `out/` with its content (following the links into the cache); never empty, so that
    /// two runs that produced nothing do not compare equal.
    func outputs(pipeline: String = "p") throws -> [String: Data] {
        let result = try outputFiles(under: data + "/out/" + pipeline)
        guard !result.isEmpty else { throw OutputsMissing(folder: data + "/out/" + pipeline) }
        return result
    }

    /// Runs a command and returns its exit status and outputs as text.
    static func shell(_ executable: String, _ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let result = try TestSupport.shell(executable, arguments)
        return (result.status, String(decoding: result.out, as: UTF8.self), result.err)
    }
}

func probePath() throws -> String {
    let path = productsDirectory() + "/pipeline-probe"
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw XCTSkip("pipeline-probe not built beside the tests at \(path)")
    }
    return path
}

import Foundation
import Pipeline
import PipelineTestKinds
import TestSupport
import XCTest

/// Each kind of bad pipeline gets its own clear error, with file, line and column where it has them,
/// and leaves the workspace as it was.
final class BadInputTests: XCTestCase {
    func error(_ yaml: String, in sandbox: Sandbox? = nil, run: Bool = false, file: StaticString = #filePath, line: UInt = #line) throws -> PipelineError {
        let sandbox = try sandbox ?? Sandbox()
        do {
            if run { _ = try sandbox.run(yaml) } else { _ = try sandbox.graph(yaml) }
        } catch let error as PipelineError {
            return error
        }
        XCTFail("no error for:\n\(yaml)", file: file, line: line)
        throw XCTSkip("no error")
    }

    func testYAMLSyntaxErrorHasLineAndColumn() throws {
        let error = try error("stages:\n  a:\n    uses: test.generate\n    params: {count: 3\n")
        XCTAssertEqual(error.code, .syntax)
        XCTAssertEqual(error.location?.line, 5)
        XCTAssertTrue(error.description.contains("p.yaml:5:"), error.description)
    }

    func testBadLimitsNameTheFieldAndKeepOutOfTheKey() throws {
        let negative = try error("stages:\n  a:\n    uses: test.generate\n    limits: {seconds: -2}\n")
        XCTAssertEqual(negative.code, .badField)
        XCTAssertEqual(negative.location?.line, 4)
        XCTAssertTrue(negative.message.contains("stage 'a': limits.seconds must be a positive number, got -2"), negative.message)
        let unknown = try error("stages:\n  a:\n    uses: test.generate\n    limits: {minutes: 2}\n")
        XCTAssertTrue(unknown.message.contains("unknown limit 'minutes' (expected seconds, memory_mb)"), unknown.message)

        let sandbox = try Sandbox()
        XCTAssertEqual(try sandbox.run("stages:\n  a:\n    uses: test.generate\n").executed, 1)
        let limited = "stages:\n  a:\n    uses: test.generate\n    limits: {seconds: 5, memory_mb: 100}\n"
        XCTAssertEqual(try sandbox.graph(limited).stage("a")?.limits, UnitLimits(seconds: 5, memoryMB: 100))
        XCTAssertEqual(try sandbox.run(limited).executed, 0, "a limit does not change what a unit produces, so nothing reruns")
    }

    func testUnknownStageKind() throws {
        let error = try error("stages:\n  a:\n    uses: test.nope\n")
        XCTAssertEqual(error.code, .unknownKind)
        XCTAssertEqual(error.location?.line, 3)
        XCTAssertEqual(error.location?.column, 11)
        XCTAssertTrue(error.message.contains("stage 'a': unknown stage kind 'test.nope'"), error.message)
        XCTAssertTrue(error.message.contains("test.concat"), "lists the known kinds")
    }

    func testCycleNamesItsMembers() throws {
        let error = try error("""
            stages:
              a: {uses: test.concat, deps: [c]}
              b: {uses: test.concat, deps: [a]}
              c: {uses: test.concat, deps: [b]}
              d: {uses: test.concat, deps: [a]}
            """)
        XCTAssertEqual(error.code, .cycle)
        for name in ["a", "b", "c"] { XCTAssertTrue(error.message.contains(name), error.message) }
        XCTAssertFalse(error.message.contains("d"), error.message)
    }

    func testMissingDependencyPath() throws {
        let error = try error("stages:\n  a: {uses: test.concat, deps: [{path: nowhere/x.csv}]}\n", run: true)
        XCTAssertEqual(error.code, .missingPath)
        XCTAssertTrue(error.message.contains("stage 'a'") && error.message.contains("nowhere/x.csv"), error.message)
    }

    func testParamOfWrongType() throws {
        let error = try error("stages:\n  gen:\n    uses: test.generate\n    params:\n      count: many\n")
        XCTAssertEqual(error.code, .badParam)
        XCTAssertEqual(error.location?.line, 5)
        XCTAssertEqual(error.message, "stage 'gen': param 'count' must be an integer, got \"many\"")
    }

    func testUnknownParam() throws {
        let error = try error("stages:\n  gen:\n    uses: test.generate\n    params: {cuont: 3}\n")
        XCTAssertEqual(error.code, .unknownParam)
        XCTAssertTrue(error.message.hasPrefix("stage 'gen': unknown param 'cuont' (this kind takes: count, note, seed, size)"), error.message)
    }

    func testPathsThatEscapeTheWorkspace() throws {
        for path in ["../secrets", "clips/../../x", "/etc/passwd", "cache/objects"] {
            let error = try error("stages:\n  a: {uses: test.concat, deps: [{path: \"\(path)\"}]}\n")
            XCTAssertEqual(error.code, .escapesWorkspace, path)
            XCTAssertTrue(error.message.contains(path), error.message)
        }
    }

    func testUnknownFieldsAndMapMistakes() throws {
        XCTAssertEqual(try error("stages:\n  a: {uses: test.concat, dpes: [x]}\n").code, .badField)
        XCTAssertEqual(try error("stages:\n  a: {params: {}}\n").code, .badField)
        XCTAssertEqual(try error("stages:\n  a: {uses: test.digest}\n").code, .mapMismatch)
        XCTAssertEqual(try error("stages:\n  a: {uses: test.concat, map: b}\n  b: {uses: test.generate}\n").code, .mapMismatch)
        XCTAssertEqual(try error("stages:\n  a: {uses: test.digest, map: {stage: zz}}\n").code, .unknownStage)
        XCTAssertEqual(try error("stagez: {}\n").code, .badField)
    }

    func testBadInputChangesNothingOnDisk() throws {
        let sandbox = try Sandbox()
        let good = "stages:\n  gen: {uses: test.generate}\n  cat: {uses: test.concat, deps: [gen]}\n"
        _ = try sandbox.run(good)
        let before = try snapshot(sandbox.data)
        for bad in ["stages:\n  gen: {uses: test.generate, params: {count: x}}\n  cat: {uses: test.concat, deps: [gen]}\n",
                    "stages:\n  gen: {uses: test.generate}\n  cat: {uses: test.concat, deps: [gen, {path: missing}]}\n",
                    "stages:\n  gen: {uses: test.generate\n"] {
            XCTAssertThrowsError(try sandbox.run(bad))
        }
        XCTAssertEqual(try snapshot(sandbox.data), before)
    }

    /// Issue 27, case 1: a few lines that stand for billions of nodes or stages are refused while the file is read,
    /// within the limits, before memory grows (they used to grow `emotion dag` to the memory limit and abort).
    func testPipelinesThatExpandBeyondBoundsAreRefusedWhileRead() throws {
        // Ten levels of ten aliases each: 10^10 nodes in eleven lines, under params and under deps.
        let anchors = (0...9).map { level in
            "&a\(level) [" + Array(repeating: level == 0 ? "x" : "*a\(level - 1)", count: 10).joined(separator: ", ") + "]"
        }
        let began = Date()
        for (field, indent) in [("params:\n      junk", "        - "), ("deps", "      - ")] {
            let refused = try error("stages:\n  gen: {uses: test.generate}\n  cat:\n    uses: test.concat\n    \(field):\n" +
                                    anchors.map { indent + $0 }.joined(separator: "\n") + "\n")
            XCTAssertEqual(refused.code, .badField, field)
            XCTAssertTrue(refused.message.contains("more than \(PipelineLimits.nodes) YAML nodes once aliases are expanded"), refused.message)
        }
        let axes = (1...9).map { "k\($0): [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]" }.joined(separator: ", ")
        let matrix = try error("stages:\n  grid:\n    matrix: {\(axes)}\n    uses: test.generate\n")
        XCTAssertTrue(matrix.message.contains("stage 'grid' would expand to 10000 stages; at most \(PipelineLimits.stages)"), matrix.message)
        XCTAssertEqual(matrix.location?.line, 3)
        var many = "stages:\n"
        for group in 0..<6 { many += "  g\(group): {matrix: {a: [\((0..<30).map(String.init).joined(separator: ", "))], b: [\((0..<30).map(String.init).joined(separator: ", "))]}, uses: test.generate}\n" }
        let total = try error(many)
        XCTAssertTrue(total.message.contains("more than \(PipelineLimits.stages) stages once 'foreach' and 'matrix' are expanded"), total.message)
        XCTAssertLessThan(Date().timeIntervalSince(began), 60, "refused while bounded, not after the expansion")
    }

    /// Issue 27, case 2 and its weaker kin: a stage's name is a folder under out/ and must stay one (`..` wrote into
    /// another stage's folder, `.` into the pipeline's); `foreach: {}` declared nothing and passed; a 300-byte name failed
    /// after the work with a raw Foundation error.
    func testStageNamesAreFolderNamesAndExpansionsDeclareSomething() throws {
        for name in ["..", ".", ".hidden", "a/b", "\"a b\"", "a@b", "\"a\\u0000b\"", "\"caf\\u00e9\"", "a:b"] {
            let refused = try error("stages:\n  \(name): {uses: test.generate}\n")
            XCTAssertEqual(refused.code, .badField, name)
            XCTAssertTrue(refused.message.contains("must be letters, digits, '_', '-' and '.' (not first): it names a folder"), refused.message)
            XCTAssertEqual(refused.location?.line, 2, name)
        }
        let long = String(repeating: "x", count: 300)
        XCTAssertTrue(try error("stages:\n  \(long): {uses: test.generate}\n").message.contains("is 300 bytes long; at most \(PipelineLimits.nameLength)"))
        let longValue = try error("stages:\n  a: {foreach: [\(long)], do: {uses: test.generate}}\n")
        XCTAssertTrue(longValue.message.contains("bytes long"), longValue.message)
        XCTAssertTrue(try error("stages:\n  a: {foreach: [\"x/y\"], do: {uses: test.generate}}\n").message.contains("may hold only letters"))
        let empty = try error("stages:\n  a: {foreach: {}, do: {uses: test.generate}}\n")
        XCTAssertTrue(empty.message.contains("stage 'a': 'foreach' must name at least one value"), empty.message)
        XCTAssertEqual(try Sandbox().graph("stages:\n  gen_2.b-c: {uses: test.generate}\n").stages.map(\.name), ["gen_2.b-c"])
    }

    /// Issue 27 (weaker cases): two pipeline files of one base name shared out/NAME and a run record, so one's run or
    /// gc dropped the other's outputs; an out/PIPELINE linked elsewhere got relative links that dangled there; a glob
    /// that matched nothing said "up to date" without a word.
    func testPipelinesOfOneNameOutFoldersLinkedElsewhereAndEmptyGlobs() throws {
        let sandbox = try Sandbox()
        let yaml = "stages:\n  gen: {uses: test.generate, params: {count: 2}}\n"
        _ = try sandbox.run(yaml)
        try FileManager.default.createDirectory(atPath: sandbox.root + "/other", withIntermediateDirectories: true)
        let other = sandbox.root + "/other/p.yaml"
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: other))
        let graph = try PipelineGraph(try PipelineSpec.load(file: other), registry: TestKinds.registry)
        XCTAssertThrowsError(try Runner(workspace: sandbox.workspace, graph: graph, progress: Progress(quiet: true)).run()) {
            XCTAssertTrue("\($0)".contains("out/p and its run record in \(sandbox.data) belong to \(sandbox.root)/pipelines/p.yaml, another pipeline file named p"), "\($0)")
        }
        XCTAssertThrowsError(try Runner(workspace: sandbox.workspace, graph: graph, progress: Progress(quiet: true)).status())
        XCTAssertEqual(try sandbox.run(yaml).executed, 0, "the owner still runs")

        let elsewhere = try TemporaryFolder()
        let linked = try Sandbox()
        try FileManager.default.createDirectory(atPath: linked.data + "/out", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: linked.data + "/out/p", withDestinationPath: elsewhere.path)
        _ = try linked.run(yaml)
        XCTAssertEqual(FileManager.default.contents(atPath: elsewhere.path + "/gen/f0000.bin")?.count, 64, "the link in the other folder reaches its content")
        XCTAssertTrue(try FileManager.default.destinationOfSymbolicLink(atPath: linked.data + "/out/p/gen/f0000.bin").hasPrefix("/"),
                      "absolute where a relative link would climb out of the other folder")
        XCTAssertEqual(unlink(URL(fileURLWithPath: linked.data + "/out/p/gen/f0000.bin").resolvingSymlinksInPath().path), 0)
        XCTAssertEqual(try linked.status(yaml)["gen"]?.upToDate, false, "an object deleted behind the linked folder is noticed too")
        XCTAssertEqual(try linked.run(yaml).executed, 1)

        try sandbox.write("clips/a.txt", "a")
        try FileManager.default.createSymbolicLink(atPath: sandbox.data + "/clips/gone.mp4", withDestinationPath: "/nonexistent/clip.mp4")
        try sandbox.write("clips/sub/b.txt", "b")
        try FileManager.default.createSymbolicLink(atPath: sandbox.data + "/clips/sub/up", withDestinationPath: "..")
        let empty = try sandbox.status("stages:\n  d: {uses: test.digest, map: {path: clips, glob: \"*.mp4\"}}\n")
        XCTAssertEqual(empty["d"]?.warnings, ["stage 'd': under 'clips', 2 name(s) passed over: gone.mp4: a link to nothing (or unreadable); "
                                              + "sub/up: a folder already read through another path (a link loop?)",
                                              "stage 'd': no file under 'clips' matches '*.mp4', so it has no items"])
    }

    private func snapshot(_ root: String) throws -> [String: Data] {
        var result: [String: Data] = [:]
        for case let path as String in FileManager.default.enumerator(atPath: root)! {
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDirectory)
            if !isDirectory.boolValue, path != "cache/lock" { result[path] = FileManager.default.contents(atPath: root + "/" + path) ?? Data() }
        }
        return result
    }
}

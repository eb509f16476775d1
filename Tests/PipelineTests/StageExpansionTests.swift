import Foundation
import Pipeline
import XCTest

/// `foreach` and `matrix`: one declaration, several stages, each with its value in its name, params and key.
final class StageExpansionTests: XCTestCase {
    private let pipeline = """
        stages:
          base:
            uses: test.generate
            params: {count: 3}
          digest:
            foreach: [a, b, c]
            do:
              uses: test.digest
              map: base
              params: {salt: "salt-${item}"}
          grid:
            matrix: {seed: [1, 2], note: [x, y]}
            uses: test.generate
            params: {seed: "${item.seed}", note: "n${item.note}", count: 1}
          all:
            uses: test.concat
            deps: [digest, grid@2-y]
        """

    func testForeachAndMatrixExpandInOrderWithTypedValues() throws {
        let graph = try Sandbox().graph(pipeline)
        XCTAssertEqual(graph.stages.map(\.name), ["base", "digest@a", "digest@b", "digest@c", "grid@1-x", "grid@1-y", "grid@2-x", "grid@2-y", "all"])
        XCTAssertEqual(graph.stage("digest@b")?.params["salt"], .string("salt-b"))
        XCTAssertEqual(graph.stage("grid@2-y")?.params["seed"], .int(2), "a value that is one reference alone takes the type of what it becomes")
        XCTAssertEqual(graph.stage("grid@2-y")?.params["note"], .string("ny"))
        XCTAssertEqual(graph.stage("all")?.upstream, ["digest@a", "digest@b", "digest@c", "grid@2-y"], "the group's name stands for all its stages")
    }

    func testEachExpandedStageRunsAndRerunsOnItsOwn() throws {
        let sandbox = try Sandbox()
        let first = try sandbox.run(pipeline)
        XCTAssertEqual(first.executed, 1 + 3 * 3 + 4 + 1)
        let all = try Data(contentsOf: URL(fileURLWithPath: sandbox.data + "/out/p/all/all.txt"))
        for name in ["digest@a", "digest@b", "digest@c", "grid@2-y"] { XCTAssertNotNil(all.range(of: Data("== \(name)/".utf8)), name) }
        XCTAssertTrue(try sandbox.read("out/p/digest@c/f0001.bin/summary.txt").hasPrefix("salt=salt-c "))

        let changed = pipeline.replacingOccurrences(of: "foreach: [a, b, c]", with: "foreach: [a, b, d]")
        let second = try sandbox.run(changed)
        XCTAssertEqual(second.executed, 3 + 1, "only the new value's items and what depends on the group rerun")
    }

    func testMistakesAreNamedWhereTheyAre() throws {
        let sandbox = try Sandbox()
        func error(_ yaml: String) throws -> PipelineError {
            do { _ = try sandbox.graph(yaml) } catch let error as PipelineError { return error }
            XCTFail("no error for:\n\(yaml)")
            throw XCTSkip("no error")
        }
        let unknown = try error("stages:\n  a:\n    foreach: [1, 2]\n    do:\n      uses: test.generate\n      params: {seed: \"${item.seed}\"}\n")
        XCTAssertEqual(unknown.location?.line, 6)
        XCTAssertTrue(unknown.message.contains("unknown ${item.seed} (this declaration defines ${item})"), unknown.message)

        let twice = try error("stages:\n  a:\n    foreach: [x, x]\n    do: {uses: test.generate}\n")
        XCTAssertTrue(twice.message.contains("'x' is listed twice"), twice.message)

        let stray = try error("stages:\n  a:\n    foreach: [x]\n    uses: test.generate\n")
        XCTAssertTrue(stray.message.contains("'foreach' goes with 'do'"), stray.message)

        let mapOverGroup = try error("""
            stages:
              a: {foreach: [x, y], do: {uses: test.generate}}
              b: {uses: test.digest, map: a}
            """)
        XCTAssertEqual(mapOverGroup.location?.line, 3)
        XCTAssertTrue(mapOverGroup.message.contains("'map' takes one stage, and 'a' stands for 2 (a@x, a@y)"), mapOverGroup.message)

        let clash = try error("stages:\n  a@x: {uses: test.generate}\n")
        XCTAssertTrue(clash.message.contains("without '/', '@' or spaces"), clash.message)
    }
}

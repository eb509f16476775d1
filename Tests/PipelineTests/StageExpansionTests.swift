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

    func testUntilTakesSeveralStagesAndDeclarations() throws {
        let graph = try Sandbox().graph(pipeline)
        XCTAssertEqual(try graph.upTo(["digest"]).stages.map(\.name), ["base", "digest@a", "digest@b", "digest@c"])
        XCTAssertEqual(try graph.upTo(["digest@b", "grid@1-x"]).stages.map(\.name), ["base", "digest@b", "grid@1-x"])
        XCTAssertThrowsError(try graph.upTo(["nothing"])) { XCTAssertTrue("\($0)".contains("no stage 'nothing'"), "\($0)") }
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
        XCTAssertTrue(unknown.message.contains("unknown ${item.seed} (defined: ${item})"), unknown.message)

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
        XCTAssertTrue(clash.message.contains("stage name 'a@x' must be letters, digits, '_', '-' and '.' (not first)"), clash.message)
    }

    /// Two pipelines sharing their stages: `include` puts a file's stages and `vars` first; the including file's vars
    /// win and its stages of the same name replace the included ones where they stand.
    func testIncludeAndVariables() throws {
        let sandbox = try Sandbox()
        try sandbox.pipelineFile("""
            vars: {count: 3, salt: base}
            stages:
              source:
                uses: test.generate
                params: {count: "${count}"}
              digest:
                uses: test.digest
                map: source
                params: {salt: "${salt}-${count}"}
              all:
                uses: test.concat
                deps: [digest]
            """, name: "shared")
        let graph = try sandbox.graph("""
            include: shared.yaml
            vars: {count: 2}
            stages:
              source:
                uses: test.generate
                params: {count: "${count}", seed: 9}
              extra:
                uses: test.concat
                deps: [all]
            """)
        XCTAssertEqual(graph.name, "p")
        XCTAssertEqual(graph.stages.map(\.name), ["source", "digest", "all", "extra"])
        XCTAssertEqual(graph.stage("source")?.params["count"], .int(2))
        XCTAssertEqual(graph.stage("source")?.params["seed"], .int(9))
        XCTAssertEqual(graph.stage("digest")?.params["salt"], .string("base-2"))
        XCTAssertEqual(try sandbox.run("include: shared.yaml\nvars: {count: 2}\n").executed, 1 + 2 + 1)
        let empty = try sandbox.graph("vars: {note: \"\"}\nstages:\n  a:\n    uses: test.generate\n    params: {note: \"${note}\"}\n")
        XCTAssertEqual(empty.stage("a")?.params["note"], .string(""), "an empty variable is the empty string, not YAML's null")

        do {
            _ = try sandbox.graph("include: shared.yaml\nstages:\n  more:\n    uses: test.generate\n    params: {note: \"${nothing}\"}\n")
            XCTFail("an unknown variable is an error")
        } catch let error as PipelineError {
            XCTAssertTrue(error.message.contains("unknown ${nothing}"), error.message)
            XCTAssertEqual(error.location?.line, 5)
        }
        do {
            _ = try sandbox.graph("include: missing.yaml\n")
            XCTFail("a missing include is an error")
        } catch let error as PipelineError {
            XCTAssertEqual(error.code, .missingPath)
            XCTAssertTrue(error.message.contains("missing.yaml"), error.message)
        }
    }

    /// `include` of several files layers them in order (as include/folds.yaml over include/emotion.yaml): a later file's
    /// vars win, its stages replace earlier ones where they stand, and a stage set to null leaves the earlier one out.
    func testSeveralIncludesAndALeftOutStage() throws {
        let sandbox = try Sandbox()
        try sandbox.pipelineFile("""
            vars: {count: 3, salt: base}
            stages:
              source: {uses: test.generate, params: {count: "${count}"}}
              digest: {uses: test.digest, map: source, params: {salt: "${salt}"}}
              all: {uses: test.concat, deps: [digest]}
            """, name: "first")
        try sandbox.pipelineFile("""
            vars: {salt: second, parts: [a, b]}
            stages:
              digest:
                foreach: "${parts}"
                do: {uses: test.digest, map: source, params: {salt: "${salt}-${item}"}}
              all: ~
              joined: {uses: test.concat, deps: [digest]}
            """, name: "second")
        let graph = try sandbox.graph("include: [first.yaml, second.yaml]\nvars: {count: 2}\n")
        XCTAssertEqual(graph.stages.map(\.name), ["source", "digest@a", "digest@b", "joined"])
        XCTAssertEqual(graph.stage("source")?.params["count"], .int(2))
        XCTAssertEqual(graph.stage("digest@b")?.params["salt"], .string("second-b"))
        XCTAssertEqual(try sandbox.run("include: [first.yaml, second.yaml]\nvars: {parts: [a]}\n").executed, 1 + 3 + 1)

        for (text, expected) in [("include: [first.yaml]\nstages:\n  nothing: ~\n", "stage 'nothing' is set to null, which leaves out an included stage, but no included file declares it"),
                                 ("include: [first.yaml, second.yaml]\nstages:\n  more: {uses: test.digest, map: all}\n", "'all'")] {
            do {
                _ = try sandbox.graph(text)
                XCTFail("refused: \(text)")
            } catch let error as PipelineError {
                XCTAssertTrue(error.message.contains(expected), error.message)
            }
        }
    }

    /// DVC's mapping form of `foreach` (the key names the stage, the value is `${item}`) and YAML's merge key in params.
    func testForeachOverAMappingAndMergedParams() throws {
        let graph = try Sandbox().graph("""
            stages:
              source:
                uses: test.generate
                params: &base {count: 2, note: shared}
              other:
                uses: test.generate
                params: {<<: *base, count: 5}
              digest:
                foreach: {first: source, second: other}
                do:
                  uses: test.digest
                  map: "${item}"
                  params: {salt: "${key}"}
            """)
        XCTAssertEqual(graph.stages.map(\.name), ["source", "other", "digest@first", "digest@second"])
        XCTAssertEqual(graph.stage("other")?.params["count"], .int(5), "the stage's own value wins over the merged one")
        XCTAssertEqual(graph.stage("other")?.params["note"], .string("shared"))
        XCTAssertEqual(graph.stage("digest@second")?.map, .stage("other", glob: nil))
        XCTAssertEqual(graph.stage("digest@first")?.params["salt"], .string("first"))
    }

    /// A list variable fills a matrix axis (and `--var` replaces it for a run); a dependency with `*` names every stage it
    /// matches; a list used inside a longer string is refused.
    func testListVariablesAndPatternDependencies() throws {
        let text = """
            vars:
              seeds: [1, 2]
            stages:
              grid:
                matrix: {seed: "${seeds}", note: [x, y]}
                uses: test.generate
                params: {seed: "${item.seed}", note: "${item.note}", count: 1}
              xs:
                uses: test.concat
                deps: ["grid@*-x"]
            """
        let file = NSTemporaryDirectory() + "list-vars-\(UUID().uuidString).yaml"
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let spec = try PipelineSpec.load(file: file)
        XCTAssertEqual(spec.stages.map(\.name), ["grid@1-x", "grid@1-y", "grid@2-x", "grid@2-y", "xs"])
        let graph = try Sandbox().graph(text)
        XCTAssertEqual(graph.stage("xs")?.upstream, ["grid@1-x", "grid@2-x"])
        XCTAssertEqual(graph.stage("grid@2-x")?.params["seed"], .int(2))
        XCTAssertEqual(try PipelineSpec.load(file: file, vars: ["seeds": "7,8,9"]).stages.map(\.name).filter { $0.hasSuffix("-x") }, ["grid@7-x", "grid@8-x", "grid@9-x"])
        XCTAssertThrowsError(try PipelineSpec.load(file: file, vars: ["seed": "3"])) { error in
            XCTAssertTrue("\(error)".contains("has no variable 'seed' to set (it has seeds)"), "\(error)")
        }
        XCTAssertThrowsError(try Sandbox().graph(text.replacingOccurrences(of: "\"${seeds}\"", with: "\"s${seeds}\""))) { error in
            XCTAssertTrue("\(error)".contains("variable 'seeds' is a list"), "\(error)")
        }
        let braces = String(repeating: "{a,b}", count: 9)
        XCTAssertThrowsError(try Sandbox().graph("stages:\n  d: {uses: test.digest, map: {path: clips, glob: \"\(braces)\"}}\n")) { error in
            XCTAssertTrue("\(error)".contains("stands for more than 256 patterns"), "\(error)")
        }
        XCTAssertThrowsError(try Sandbox().graph(text.replacingOccurrences(of: "grid@*-x", with: "grid@*-z"))) { error in
            XCTAssertTrue("\(error)".contains("'grid@*-z', which matches no stage"), "\(error)")
        }
    }
}

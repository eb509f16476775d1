import Foundation
@testable import Pipeline
import WebPages
import XCTest

/// Issue 30: every run writes `out/PIPELINE/index.html`, the run as a whole: the graph coloured by outcome, each
/// stage's units, time, failures and outputs, the context, and the earlier runs. (Chromium opens it in the stages' tests.)
final class RunOverviewTests: XCTestCase {
    static let pipeline = """
        stages:
          gen: {uses: test.generate, params: {count: 3}}
          per: {uses: test.digest, map: {path: clips, glob: "*.txt"}}
          all:
            foreach: [first_variant_with_a_long_name, second, third, fourth, fifth, sixth, seventh]
            do: {uses: test.concat, deps: [gen, per], params: {label: "${item}"}}
          last: {uses: test.concat, deps: [all@second]}
        """

    func testTheOverviewShowsTheRunItsFailuresAndTheRunsBefore() throws {
        let sandbox = try Sandbox()
        try sandbox.write("clips/a.txt", "fine\n")
        try sandbox.write("clips/b.txt", "FAIL on purpose\n")
        let failed = try sandbox.run(Self.pipeline)
        XCTAssertTrue(failed.failed)
        let index = sandbox.data + "/out/p/index.html"
        var html = try String(contentsOfFile: index, encoding: .utf8)
        XCTAssertTrue(html.contains("<td class=\"state failed\">failed</td>") && html.contains("asks to fail"), "the failure and its reason")
        XCTAssertTrue(html.contains("<td class=\"state skipped\">not run: upstream failed</td>"), "the stages below it")
        XCTAssertTrue(html.contains("<td class=\"state ran\">ran</td>"), "gen ran")
        XCTAssertTrue(html.contains("data-stage=\"all@first_variant_with_a_long_name\"") && html.contains("<a href=\"all%40second/\">"),
                      "every stage in the graph, linked to its outputs")
        XCTAssertTrue(html.contains("<a href=\"gen/f0000.bin\">f0000.bin</a>"), "a whole stage's files linked")
        XCTAssertFalse(html.contains("<h2>Earlier runs</h2>"))
        XCTAssertTrue(html.contains("<th>span</th><th>units' time</th>"), "a stage's span and its units' own time")
        XCTAssertNotNil(RunLog.history(workspace: sandbox.workspace, pipeline: "p").last?.stages.first?.unitSeconds)
        // A run logged before units' time was kept still reads.
        let old = #"{"about":[],"bytesHashed":0,"command":"x","filesHashed":0,"pipeline":"p","seconds":1,"started":"2026-12-01T00:00:00Z","stages":[{"cached":0,"executed":1,"failed":0,"failures":[],"name":"gen","seconds":0.5,"state":"ran"}]}"#
        XCTAssertNil(try JSONDecoder().decode(RunLog.self, from: Data(old.utf8)).stages[0].unitSeconds)
        XCTAssertFalse(html.contains("<script"), "readable with no script")

        // The failing input fixed, a run of part of the graph: the rest is drawn as not requested, the first run listed.
        try sandbox.write("clips/b.txt", "fine too\n")
        _ = try sandbox.run(Self.pipeline, until: "all@second")
        html = try String(contentsOfFile: index, encoding: .utf8)
        XCTAssertTrue(html.contains("<h2>Earlier runs</h2>"))
        XCTAssertTrue(html.contains("<tr id=\"stage-last\"><td>last</td><td class=\"text\">test.concat</td><td class=\"state notrequested\">not requested</td>"), html)
        XCTAssertTrue(html.contains("<td class=\"state uptodate\">up to date</td>") && html.contains("1 run · 1 cached"), "per: b ran, a was cached")
        XCTAssertEqual(RunLog.history(workspace: sandbox.workspace, pipeline: "p").map { $0.stages.count }, [10, 3])

        // The drawing: every stage, no label over another, within the page.
        let graph = try sandbox.graph(Self.pipeline)
        let log = RunLog.history(workspace: sandbox.workspace, pipeline: "p").last!
        let figure = GraphDrawing(graph: graph, states: Dictionary(uniqueKeysWithValues: log.stages.map { ($0.name, $0.state) }),
                                  notes: Dictionary(uniqueKeysWithValues: log.stages.map { ($0.name, RunOverview.note($0)) })).draw()
        XCTAssertEqual(figure.overlappingLabels().map { "\($0.0.text) / \($0.1.text)" }, [])
        XCTAssertEqual(figure.labelsOutside().map(\.text), [])
        XCTAssertLessThanOrEqual(figure.width, GraphDrawing.maximumWidth + 16)
        XCTAssertEqual(figure.markup.components(separatedBy: "marker-end=").count - 1, 2 * 7 + 1, "one edge per dependency")
    }

    func testReportWritesTheLastRunsPageAgain() throws {
        let sandbox = try Sandbox()
        try sandbox.write("clips/a.txt", "fine\n")
        let file = try sandbox.pipelineFile(Self.pipeline)
        let probe = try probePath()
        let none = try Sandbox.shell(probe, ["report", file, "--workspace", sandbox.data])
        XCTAssertNotEqual(none.status, 0)
        XCTAssertTrue(none.err.contains("no run of p is logged"), none.err)
        XCTAssertEqual(try Sandbox.shell(probe, ["run", file, "--workspace", sandbox.data]).status, 0)
        let index = sandbox.data + "/out/p/index.html"
        let written = try String(contentsOfFile: index, encoding: .utf8)
        XCTAssertTrue(written.contains("<td>command</td><td>pipeline-probe run "), "the command line")
        XCTAssertTrue(written.contains("<td>CPU features the engine uses</td>"), "the front end's context")
        XCTAssertEqual(unlink(index), 0)
        let report = try Sandbox.shell(probe, ["report", file, "--workspace", sandbox.data])
        XCTAssertEqual(report.status, 0, report.err)
        XCTAssertEqual(try String(contentsOfFile: index, encoding: .utf8), written)
    }

    func testAStageCannotTakeTheOverviewsName() throws {
        let sandbox = try Sandbox()
        XCTAssertThrowsError(try sandbox.graph("stages:\n  index.html: {uses: test.generate}\n")) { error in
            XCTAssertTrue("\(error)".contains("overview page"), "\(error)")
        }
    }
}

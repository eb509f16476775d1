import ArgumentParser
@testable import EmotionTools
import EmotionCLI
import EmotionStages
import Foundation
import Pipeline
import XCTest

/// Every command that runs a stage's code alone offers each of the kind's params as an option, with the
/// kind's help and default: parsed with no option, it gives exactly the params a pipeline file gets by
/// default, so `emotion kinds`, `--help` and pipelines cannot disagree.
final class StageOptionsTests: XCTestCase {
    func check<Command: ParsableArguments & StageOptions>(_ type: Command.Type, required: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let kind = Command.kind
        let parsed = try Command.parse(required)
        XCTAssertEqual(Set(parsed.paramValues.keys), Set(kind.params.map(\.name)), "\(kind.name): one option per param", file: file, line: line)
        XCTAssertEqual(try kind.params(parsed.paramValues, for: kind.name).canonicalJSON, try kind.params([:], for: kind.name).canonicalJSON,
                       "\(kind.name): the options' defaults are the kind's", file: file, line: line)
        // The help text with its wrapping undone: each option, its value's name, then its help.
        let help = Command.helpMessage(columns: 10_000).split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for param in kind.params {
            let option = "--" + param.name.replacingOccurrences(of: "_", with: "-")
            let entry = try NSRegularExpression(pattern: NSRegularExpression.escapedPattern(for: option) + "( <[a-z-]+>|/--no-[a-z-]+)? "
                                                + NSRegularExpression.escapedPattern(for: param.help))
            XCTAssertNotNil(entry.firstMatch(in: help, range: NSRange(help.startIndex..., in: help)),
                            "\(kind.name): \(option) with the kind's help '\(param.help)' in: \(help)", file: file, line: line)
        }
    }

    func testEveryStageCommandAgreesWithItsKind() throws {
        try check(SynthCommand.self, required: ["--out", "x"])
        try check(MelCommand.self, required: ["in.wav", "--out", "x.npy"])
        try check(FacesCommand.self, required: ["in.mp4", "--out", "x"])
        try check(CleanCommand.self, required: ["root", "--out", "x"])
        try check(ProbeOptions.self, required: [])
        try check(TrainCommand.self, required: ["--shards", "s", "--out", "o"])
        try check(ExportCommand.self, required: ["--model", "m", "--out", "o"])
    }

    /// A value the stage refuses is refused by the command in the stage's words, before anything runs.
    func testStageChecksAreTheCommandsChecks() {
        for (arguments, words) in [(["synth", "--out", "x", "--width", "63"], "at least 64"), (["synth", "--out", "x", "--width", "65"], "even"), (["mel", "a.wav", "--out", "m.npy", "--fmax", "9000"], "mel range"),
                                   (["faces", "a.mp4", "--out", "f", "--frames", "0"], "frame"), (["synth", "--out", "x", "--dialogues", "1,2"], "three counts"),
                                   (["forward", "--weights", "w", "--inputs", "i", "--out", "o", "--train", "--dropout", "1"], "dropout"),
                                   (["forward", "--weights", "w", "--inputs", "i", "--out", "o", "--fusion", "late"], "fusion")] {
            XCTAssertThrowsError(try EmotionWorkerCommand.parseAsRoot(arguments), "\(arguments)") { error in
                let message = EmotionWorkerCommand.message(for: error)
                XCTAssertTrue(message.contains(words), "\(arguments): \(message)")
                XCTAssertEqual(EmotionWorkerCommand.exitCode(for: error), .validationFailure, "\(arguments)")
            }
        }
    }

    /// The front end hands a command over by its name without linking its code: its list must be the worker program's.
    func testTheFrontEndHandsOverExactlyTheWorkerProgramsCommands() {
        XCTAssertEqual(EmotionWorkerCommand.computeCommands.map { $0.configuration.commandName ?? "" }, EmotionCommand.delegatedCommands)
    }
}

import ChildProcesses
import Foundation
import XCTest

/// A child is started with the descriptors and environment asked for, and its end is named as the runner and training
/// report it: an exit status, or the signal that killed it.
final class ChildProcessTests: XCTestCase {
    private let shell = "/bin/sh"

    func testExitStatusAndSignalAreNamed() throws {
        let exited = try ChildProcess(executable: shell, arguments: ["-c", "exit 3"]).wait()
        XCTAssertEqual(exited, .exited(3))
        XCTAssertEqual(exited.description, "exited with status 3")
        XCTAssertFalse(exited.succeeded)
        let killed = try ChildProcess(executable: shell, arguments: ["-c", "kill -SEGV $$"]).wait()
        XCTAssertEqual(killed, .signaled(SIGSEGV))
        XCTAssertEqual(killed.description, "died of SIGSEGV")
        XCTAssertTrue(try ChildProcess(executable: shell, arguments: ["-c", "true"]).wait().succeeded)
    }

    func testAChildThatOutlivesItsTimeIsKilled() throws {
        let child = try ChildProcess(executable: shell, arguments: ["-c", "sleep 30"])
        XCTAssertNil(child.poll(), "still running")
        let started = Date()
        XCTAssertEqual(child.wait(killAfter: 0.2), .signaled(SIGKILL))
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
    }

    func testDescriptorsAndEnvironmentReachTheChild() throws {
        let pipe = try ChildProcess.makePipe()
        setenv("CHILD_PROCESS_TEST_DROPPED", "x", 1)
        defer { unsetenv("CHILD_PROCESS_TEST_DROPPED") }
        let child = try ChildProcess(executable: shell, arguments: ["-c", #"printf '%s|%s' "$GREETING" "${CHILD_PROCESS_TEST_DROPPED-absent}" >&3"#],
                                     descriptors: [3: pipe.write], environment: ["GREETING": "hello"],
                                     leaving: { $0 == "CHILD_PROCESS_TEST_DROPPED" })
        close(pipe.write)
        XCTAssertTrue(child.wait().succeeded)
        let text = String(decoding: FileHandle(fileDescriptor: pipe.read, closeOnDealloc: true).readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(text, "hello|absent")
    }

    func testAProgramThatCannotStartIsNamed() {
        XCTAssertThrowsError(try ChildProcess(executable: "/no/such/program", arguments: [])) { error in
            XCTAssertTrue("\(error)".contains("cannot start /no/such/program"), "\(error)")
        }
    }
}

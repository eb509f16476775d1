import Foundation

/// The worker program: the stage kinds' code and the commands that compute, which the front end hands commands to and
/// units and training workers run in. One rule finds it for all of them: the program `EMOTION_WORKER` names, this
/// program when it is the worker program, else the worker program beside this one.
public enum WorkerProgram {
    public static let name = "emotion-worker"
    public static let environmentVariable = "EMOTION_WORKER"

    public static var path: String {
        if let named = ProcessInfo.processInfo.environment[environmentVariable], !named.isEmpty { return named }
        let this = thisProgram
        if (this as NSString).lastPathComponent == name { return this }
        return (this as NSString).deletingLastPathComponent + "/" + name
    }

    /// The running executable's path, symbolic links resolved.
    public static var thisProgram: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

/// Where in a pipeline file something was written, for error messages people can jump to.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// Every failure the runner reports: what kind it is (so tests and callers can tell them apart),
/// a message that names the stage, field, file or item concerned, and where in the pipeline file it is.
public struct PipelineError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case syntax, badField, unknownKind, unknownStage, cycle, missingPath, escapesWorkspace
        case unknownParam, badParam, mapMismatch, locked, stageFailed, io, corrupt
    }

    public var code: Code
    public var message: String
    public var location: SourceLocation?

    public init(_ code: Code, _ message: String, at location: SourceLocation? = nil) {
        self.code = code
        self.message = message
        self.location = location
    }

    public var description: String {
        if let location { return "\(location): \(message)" }
        return message
    }
}

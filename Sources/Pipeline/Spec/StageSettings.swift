/// One parameter of a stage's settings struct: how pipeline files and commands name and type it, its help, and
/// where its value lives in the struct. The struct's own initial value is the default, so a default is written once.
public struct SettingsField<Settings>: @unchecked Sendable {
    public let name: String
    public let type: ParamType
    public let help: String
    /// An execution param (`ParamSpec.execution`): outside the stage's key.
    public private(set) var execution = false
    /// The numbers the field may be (`ParamSpec.bounds`).
    public private(set) var bounds: ParamBounds?
    let read: (Settings) -> ParamValue
    let write: (inout Settings, ParamValue) -> Void

    /// A field stored in some other form than the param's (a set, a dictionary by split).
    public init(_ name: String, _ type: ParamType, help: String, read: @escaping (Settings) -> ParamValue,
                write: @escaping (inout Settings, ParamValue) -> Void) {
        self.name = name
        self.type = type
        self.help = help
        self.read = read
        self.write = write
    }

    /// This field as an execution param: how the stage runs, outside its key.
    public func executionOnly() -> Self {
        var field = self
        field.execution = true
        return field
    }

    /// This field held to at least `minimum` (and at most, or below, `maximum`) when the pipeline is read.
    public func bounded(_ minimum: Double?, _ maximum: Double? = nil, belowMaximum: Bool = false) -> Self {
        var field = self
        field.bounds = ParamBounds(minimum: minimum, maximum: maximum, belowMaximum: belowMaximum)
        return field
    }

    public static func int(_ name: String, _ path: WritableKeyPath<Settings, Int>, help: String) -> Self {
        Self(name, .int, help: help, read: { .int($0[keyPath: path]) }, write: { $0[keyPath: path] = $1.intValue })
    }

    public static func double(_ name: String, _ path: WritableKeyPath<Settings, Double>, help: String) -> Self {
        Self(name, .double, help: help, read: { .double($0[keyPath: path]) }, write: { $0[keyPath: path] = $1.doubleValue })
    }

    public static func string(_ name: String, _ path: WritableKeyPath<Settings, String>, help: String) -> Self {
        Self(name, .string, help: help, read: { .string($0[keyPath: path]) }, write: { $0[keyPath: path] = $1.stringValue })
    }

    public static func bool(_ name: String, _ path: WritableKeyPath<Settings, Bool>, help: String) -> Self {
        Self(name, .bool, help: help, read: { .bool($0[keyPath: path]) }, write: { $0[keyPath: path] = $1.boolValue })
    }

    public static func strings(_ name: String, _ path: WritableKeyPath<Settings, [String]>, help: String) -> Self {
        Self(name, .list(.string), help: help, read: { .list($0[keyPath: path].map(ParamValue.string)) },
             write: { $0[keyPath: path] = $1.listValue.map(\.stringValue) })
    }

    /// A field whose value is one of an enum's cases: a `choice` param, so a pipeline naming another is refused when it
    /// is read, with the choices in the message.
    public static func choice<Choice: CaseIterable & RawRepresentable>(_ name: String, _ path: WritableKeyPath<Settings, Choice>,
                                                                        help: String) -> Self where Choice.RawValue == String {
        Self(name, .choice(Choice.allCases.map(\.rawValue)), help: help, read: { .string($0[keyPath: path].rawValue) },
             write: { settings, value in
                 guard let choice = Choice(rawValue: value.stringValue) else { preconditionFailure("\(value) is not among the choices validation held it to") }
                 settings[keyPath: path] = choice
             })
    }

    public static func doubles(_ name: String, _ path: WritableKeyPath<Settings, [Double]>, help: String) -> Self {
        Self(name, .list(.double), help: help, read: { .list($0[keyPath: path].map(ParamValue.double)) },
             write: { $0[keyPath: path] = $1.listValue.map(\.doubleValue) })
    }
}

/// The settings struct of a stage kind, declared once: its fields give the kind's params (defaults from `init()`),
/// and turn a pipeline file's (or a command's) validated params into the struct.
public protocol StageSettings {
    /// The defaults.
    init()
    static var fields: [SettingsField<Self>] { get }
    /// What makes these settings unusable, in words; nil when they can be used.
    var problem: String? { get }
}

extension StageSettings {
    /// The kind's param declarations, defaults taken from `init()`.
    public static var params: [ParamSpec] {
        let defaults = Self()
        return fields.map { ParamSpec($0.name, $0.type, default: $0.read(defaults), help: $0.help, execution: $0.execution, bounds: $0.bounds) }
    }

    /// The settings a stage's params describe; an unusable combination is an error naming the stage.
    public init(_ params: Params, stage: String) throws {
        self.init()
        for field in Self.fields {
            guard let value = params[field.name] else { preconditionFailure("param \(field.name) is not declared by stage '\(stage)'") }
            field.write(&self, value)
        }
        if let problem { throw PipelineError(.badParam, "stage '\(stage)': \(problem)") }
    }
}

extension ParamValue {
    // The value of a param whose declaration has typed it (validation guarantees the case).

    public var intValue: Int {
        guard case .int(let value) = self else { preconditionFailure("\(self) is not an integer") }
        return value
    }

    public var doubleValue: Double {
        guard case .double(let value) = self else { preconditionFailure("\(self) is not a number") }
        return value
    }

    public var stringValue: String {
        guard case .string(let value) = self else { preconditionFailure("\(self) is not a string") }
        return value
    }

    public var boolValue: Bool {
        guard case .bool(let value) = self else { preconditionFailure("\(self) is not true or false") }
        return value
    }

    public var listValue: [ParamValue] {
        guard case .list(let values) = self else { preconditionFailure("\(self) is not a list") }
        return values
    }
}

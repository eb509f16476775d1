import Foundation

/// A parameter value as written in a pipeline file.
public enum ParamValue: Sendable, Hashable, CustomStringConvertible {
    case int(Int)
    case double(Double)
    case string(String)
    case bool(Bool)
    case list([ParamValue])

    /// Canonical JSON: the same value always gives the same text, so it can enter a stage's key.
    public var canonicalJSON: String {
        switch self {
        case .int(let value): return String(value)
        case .double(let value): return value.isFinite ? "\(value)" : "\"\(value)\""
        case .bool(let value): return value ? "true" : "false"
        case .string(let value): return ParamValue.quote(value)
        case .list(let values): return "[" + values.map(\.canonicalJSON).joined(separator: ",") + "]"
        }
    }

    public var description: String { canonicalJSON }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// The type a stage kind declares for one of its parameters.
public indirect enum ParamType: Sendable, Hashable, CustomStringConvertible {
    case int, double, string, bool
    /// A string from a fixed set, such as a fusion variant or an output format.
    case choice([String])
    case list(ParamType)
    /// A value of the first of these types it fits: `none`, `balanced` or a list of numbers.
    case oneOf([ParamType])

    public var description: String {
        switch self {
        case .int: return "an integer"
        case .double: return "a number"
        case .string: return "a string"
        case .bool: return "true or false"
        case .choice(let options): return "one of " + options.joined(separator: ", ")
        case .list(let element): return "a list of \(element.plural)"
        case .oneOf(let types): return types.map(\.description).joined(separator: ", or ")
        }
    }

    private var plural: String {
        switch self {
        case .int: return "integers"
        case .double: return "numbers"
        case .string: return "strings"
        case .bool: return "booleans"
        case .choice(let options): return "values from " + options.joined(separator: ", ")
        case .list(let element): return "lists of \(element.plural)"
        case .oneOf(let types): return types.map(\.plural).joined(separator: " or ")
        }
    }

    /// The value converted to this type, or nil when it does not fit. Integers are accepted where numbers are.
    func coerce(_ value: ParamValue) -> ParamValue? {
        switch (self, value) {
        case (.int, .int), (.string, .string), (.bool, .bool), (.double, .double): return value
        case (.double, .int(let integer)): return .double(Double(integer))
        case (.choice(let options), .string(let text)): return options.contains(text) ? value : nil
        case (.list(let element), .list(let items)):
            var converted: [ParamValue] = []
            for item in items {
                guard let fitted = element.coerce(item) else { return nil }
                converted.append(fitted)
            }
            return .list(converted)
        case (.oneOf(let types), _): return types.lazy.compactMap { $0.coerce(value) }.first
        default: return nil
        }
    }
}

/// One parameter a stage kind accepts: its name, type, default (nil: required) and a line of help.
public struct ParamSpec: Sendable {
    public var name: String
    public var type: ParamType
    public var defaultValue: ParamValue?
    public var help: String
    /// How the stage runs, not what it computes (a launcher, a host list): outside the stage's key, so changing it
    /// reruns nothing.
    public var execution: Bool
    /// The numbers the param (or each number of its list) may be, checked when the pipeline is read.
    public var bounds: ParamBounds?

    public init(_ name: String, _ type: ParamType, default defaultValue: ParamValue? = nil, help: String, execution: Bool = false,
                bounds: ParamBounds? = nil) {
        self.name = name
        self.type = type
        self.defaultValue = defaultValue
        self.help = help
        self.execution = execution
        self.bounds = bounds
    }
}

/// The range a numeric param must fall in: `frames: -3` or `dropout: 1.5` is refused when the pipeline file is read,
/// naming the stage and the field, rather than failing in every item at run time.
public struct ParamBounds: Sendable, Hashable, Codable, CustomStringConvertible {
    public var minimum: Double?
    public var maximum: Double?
    /// The maximum itself is outside (a probability below 1).
    public var belowMaximum: Bool

    public init(minimum: Double? = nil, maximum: Double? = nil, belowMaximum: Bool = false) {
        self.minimum = minimum
        self.maximum = maximum
        self.belowMaximum = belowMaximum
    }

    public func admits(_ number: Double) -> Bool {
        (minimum.map { number >= $0 } ?? true) && (maximum.map { belowMaximum ? number < $0 : number <= $0 } ?? true)
    }

    public var description: String {
        let number = { (value: Double) in String(format: "%g", value) }
        switch (minimum, maximum) {
        case (let low?, let high?): return belowMaximum ? "at least \(number(low)) and below \(number(high))" : "between \(number(low)) and \(number(high))"
        case (let low?, nil): return "at least \(number(low))"
        case (nil, let high?): return belowMaximum ? "below \(number(high))" : "at most \(number(high))"
        case (nil, nil): return "any number"
        }
    }

    /// The numbers in a value: itself, or those of a list; none in a string.
    static func numbers(in value: ParamValue) -> [Double] {
        switch value {
        case .int(let number): return [Double(number)]
        case .double(let number): return [number]
        case .list(let items): return items.flatMap(numbers)
        default: return []
        }
    }
}

/// The validated parameters of one stage, every declared parameter present with its default filled in.
public struct Params: Sendable, Hashable {
    public private(set) var values: [String: ParamValue]
    /// The execution params' names (`ParamSpec.execution`): left out of the key.
    public private(set) var execution: Set<String>

    init(values: [String: ParamValue], execution: Set<String> = []) {
        self.values = values
        self.execution = execution
    }

    /// The values that decide what the stage computes (all but the execution params).
    public var keyed: [String: ParamValue] { values.filter { !execution.contains($0.key) } }

    /// The keyed values as one canonical JSON object, sorted by name: the form that enters a stage's key.
    public var canonicalJSON: String {
        let keyed = self.keyed
        return "{" + keyed.keys.sorted().map { ParamValue.quote($0) + ":" + keyed[$0]!.canonicalJSON }.joined(separator: ",") + "}"
    }

    public subscript(name: String) -> ParamValue? { values[name] }

    /// A declared param's value; asking for an undeclared one is a programming error.
    public func value(_ name: String) -> ParamValue {
        guard let value = values[name] else { preconditionFailure("param \(name) is not declared") }
        return value
    }

    public func int(_ name: String) -> Int { value(name).intValue }
    public func double(_ name: String) -> Double { value(name).doubleValue }
    public func string(_ name: String) -> String { value(name).stringValue }
    public func bool(_ name: String) -> Bool { value(name).boolValue }
    public func list(_ name: String) -> [ParamValue] { value(name).listValue }

    /// Validates what a pipeline file wrote against what the kind declares, naming stage and field on error.
    static func validate(_ written: [String: (ParamValue, SourceLocation?)], against specs: [ParamSpec],
                         stage: String, stageLocation: SourceLocation?) throws -> Params {
        let known = Dictionary(uniqueKeysWithValues: specs.map { ($0.name, $0) })
        for name in written.keys.sorted() where known[name] == nil {
            let names = specs.map(\.name).sorted().joined(separator: ", ")
            throw PipelineError(.unknownParam, "stage '\(stage)': unknown param '\(name)' (this kind takes: \(names.isEmpty ? "none" : names))",
                                at: written[name]!.1)
        }
        var values: [String: ParamValue] = [:]
        for spec in specs {
            if let (value, location) = written[spec.name] {
                guard let fitted = spec.type.coerce(value) else {
                    throw PipelineError(.badParam, "stage '\(stage)': param '\(spec.name)' must be \(spec.type), got \(value)", at: location)
                }
                if let bounds = spec.bounds, let outside = ParamBounds.numbers(in: fitted).first(where: { !bounds.admits($0) }) {
                    throw PipelineError(.badParam, "stage '\(stage)': param '\(spec.name)' must be \(bounds), got \(String(format: "%g", outside))", at: location)
                }
                values[spec.name] = fitted
            } else if let fallback = spec.defaultValue {
                values[spec.name] = fallback
            } else {
                throw PipelineError(.badParam, "stage '\(stage)': required param '\(spec.name)' (\(spec.type)) is missing", at: stageLocation)
            }
        }
        return Params(values: values, execution: Set(specs.filter(\.execution).map(\.name)))
    }
}


extension ParamValue: Codable {
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int.self) { self = .int(value) }
        else if let value = try? container.decode(Double.self) { self = .double(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else { self = .list(try container.decode([ParamValue].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .list(let values): try container.encode(values)
        }
    }
}

/// `"int"`, `"double"`, `"string"`, `"bool"`, `{"choice": [...]}` or `{"list": TYPE}`.
extension ParamType: Codable {
    private enum CodingKeys: String, CodingKey {
        case choice, list
        case oneOf = "one_of"
    }

    public init(from decoder: Decoder) throws {
        if let name = try? decoder.singleValueContainer().decode(String.self) {
            switch name {
            case "int": self = .int
            case "double": self = .double
            case "string": self = .string
            case "bool": self = .bool
            default: throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown param type '\(name)'"))
            }
            return
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let options = try container.decodeIfPresent([String].self, forKey: .choice) {
            self = .choice(options)
        } else if let types = try container.decodeIfPresent([ParamType].self, forKey: .oneOf) {
            self = .oneOf(types)
        } else {
            self = .list(try container.decode(ParamType.self, forKey: .list))
        }
    }

    public func encode(to encoder: Encoder) throws {
        switch self {
        case .int, .double, .string, .bool:
            var container = encoder.singleValueContainer()
            try container.encode(self == .int ? "int" : self == .double ? "double" : self == .string ? "string" : "bool")
        case .choice(let options):
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(options, forKey: .choice)
        case .list(let element):
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(element, forKey: .list)
        case .oneOf(let types):
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(types, forKey: .oneOf)
        }
    }
}

/// A default read back from JSON is converted to the param's type (JSON may write the number 2.0 as 2), so a
/// declaration that travelled gives the same params, and the same keys, as the one it came from.
extension ParamSpec: Codable {
    private enum CodingKeys: String, CodingKey {
        case name, type, help, execution, bounds
        case defaultValue = "default"
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let name = try container.decode(String.self, forKey: .name)
        let type = try container.decode(ParamType.self, forKey: .type)
        var fallback: ParamValue?
        if let written = try container.decodeIfPresent(ParamValue.self, forKey: .defaultValue) {
            guard let fitted = type.coerce(written) else {
                throw DecodingError.dataCorruptedError(forKey: .defaultValue, in: container, debugDescription: "param '\(name)': default \(written) is not \(type)")
            }
            fallback = fitted
        }
        self.init(name, type, default: fallback, help: try container.decode(String.self, forKey: .help),
                  execution: try container.decodeIfPresent(Bool.self, forKey: .execution) ?? false,
                  bounds: try container.decodeIfPresent(ParamBounds.self, forKey: .bounds))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(type, forKey: .type)
        try container.encodeIfPresent(defaultValue, forKey: .defaultValue)
        try container.encode(help, forKey: .help)
        if execution { try container.encode(true, forKey: .execution) }
        try container.encodeIfPresent(bounds, forKey: .bounds)
    }
}

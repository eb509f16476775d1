/// A kind of stage that pipeline files name with `uses:`: what it computes, under which version
/// (bump it whenever the code's output changes, so cached results are not trusted), and its parameters.
///
/// A whole stage runs once over all its inputs; a map stage runs once per item (one clip, one file) and
/// is cached, rerun and parallelised per item.
public struct StageKind: Sendable {
    public enum Body: Sendable {
        case whole(@Sendable (StageContext) throws -> Void)
        case map(@Sendable (ItemContext) throws -> Void)
    }

    public var name: String
    public var version: Int
    public var summary: String
    public var params: [ParamSpec]
    public var body: Body

    /// A kind that runs once over all its inputs.
    public static func whole(_ name: String, version: Int, summary: String, params: [ParamSpec] = [],
                             _ body: @escaping @Sendable (StageContext) throws -> Void) -> StageKind {
        StageKind(name: name, version: version, summary: summary, params: params, body: .whole(body))
    }

    /// A kind that runs once per item of its `map:` source.
    public static func map(_ name: String, version: Int, summary: String, params: [ParamSpec] = [],
                           _ body: @escaping @Sendable (ItemContext) throws -> Void) -> StageKind {
        StageKind(name: name, version: version, summary: summary, params: params, body: .map(body))
    }

    private init(name: String, version: Int, summary: String, params: [ParamSpec], body: Body) {
        self.name = name
        self.version = version
        self.summary = summary
        self.params = params
        self.body = body
    }

    /// `values` checked and completed with the defaults, as a pipeline file's `params:` would be: for
    /// programs that run this kind's code outside a pipeline. `name` is what errors call the caller.
    public func params(_ values: [String: ParamValue], for name: String) throws -> Params {
        try Params.validate(values.mapValues { ($0, nil) }, against: params, stage: name, stageLocation: nil)
    }

    /// The declared parameter called `name`.
    public func param(_ name: String) -> ParamSpec? { params.first { $0.name == name } }

    public var isMap: Bool {
        if case .map = body { return true }
        return false
    }
}

/// The stage kinds a program offers, by name.
public struct StageRegistry: Sendable {
    public private(set) var kinds: [String: StageKind] = [:]

    public init(_ kinds: [StageKind] = []) {
        for kind in kinds { register(kind) }
    }

    public mutating func register(_ kind: StageKind) {
        precondition(kinds[kind.name] == nil, "stage kind \(kind.name) registered twice")
        kinds[kind.name] = kind
    }

    public subscript(name: String) -> StageKind? { kinds[name] }

    public func merging(_ other: StageRegistry) -> StageRegistry {
        var merged = self
        for kind in other.kinds.values { merged.register(kind) }
        return merged
    }
}

/// A kind of stage that pipeline files name with `uses:`: what it computes, under which version
/// (bump it whenever the code's output changes, so cached results are not trusted), and its parameters.
///
/// A whole stage runs once over all its inputs; a map stage runs once per item (one clip, one file) and
/// is cached, rerun and parallelised per item.
///
/// A program that only plans and supervises (the light front end) knows a kind by its declaration alone,
/// without its code: `body` is nil there, and units of the kind run in the worker program that declared it.
public struct StageKind: Sendable {
    public enum Shape: String, Sendable, Codable {
        case whole, map
    }

    public enum Body: Sendable {
        case whole(@Sendable (StageContext) throws -> Void)
        case map(@Sendable (ItemContext) throws -> Void)
    }

    public var name: String
    public var version: Int
    public var summary: String
    public var params: [ParamSpec]
    public var shape: Shape
    /// For a kind that runs once per bucket of items rather than per item: the param that says how many buckets.
    public var bucketParam: String?
    /// How many of the machine's cores one unit keeps busy, which the scheduler counts against `-j`.
    public var cores: CoreUse = .one
    /// The code; nil in a program that has only the declaration.
    public var body: Body?

    /// A kind that runs once over all its inputs.
    public static func whole(_ name: String, version: Int, summary: String, params: [ParamSpec] = [],
                             _ body: @escaping @Sendable (StageContext) throws -> Void) -> StageKind {
        StageKind(name: name, version: version, summary: summary, params: params, shape: .whole, body: .whole(body))
    }

    /// A kind that runs once per item of its `map:` source.
    public static func map(_ name: String, version: Int, summary: String, params: [ParamSpec] = [],
                           _ body: @escaping @Sendable (ItemContext) throws -> Void) -> StageKind {
        StageKind(name: name, version: version, summary: summary, params: params, shape: .map, body: .map(body))
    }

    /// A kind that runs once per bucket of the items of its `map:` source (with their `join:`s): an item belongs to
    /// bucket `fnv1a64(id) % count`, `count` being the value of the param `count`, so one changed item reruns one
    /// bucket. The context's `members` are the bucket's items, its `id` the bucket's number (`007`).
    public static func buckets(_ name: String, version: Int, summary: String, params: [ParamSpec], count: String,
                               _ body: @escaping @Sendable (ItemContext) throws -> Void) -> StageKind {
        precondition(params.contains { $0.name == count && $0.type == .int }, "stage kind \(name): the bucket count \(count) must be an int param")
        var kind = StageKind(name: name, version: version, summary: summary, params: params, shape: .map, body: .map(body))
        kind.bucketParam = count
        return kind
    }

    private init(name: String, version: Int, summary: String, params: [ParamSpec], shape: Shape, body: Body?) {
        self.name = name
        self.version = version
        self.summary = summary
        self.params = params
        self.shape = shape
        self.body = body
    }

    /// `values` checked and completed with the defaults, as a pipeline file's `params:` would be: for
    /// programs that run this kind's code outside a pipeline. `name` is what errors call the caller.
    public func params(_ values: [String: ParamValue], for name: String) throws -> Params {
        try Params.validate(values.mapValues { ($0, nil) }, against: params, stage: name, stageLocation: nil)
    }

    /// A kind whose units keep `use` cores busy (a training's worker processes and their threads), so that the runner
    /// starts no other unit on the cores they take.
    public func using(_ use: CoreUse) -> StageKind {
        var kind = self
        kind.cores = use
        return kind
    }

    /// The declared parameter called `name`.
    public func param(_ name: String) -> ParamSpec? { params.first { $0.name == name } }

    public var isMap: Bool { shape == .map }
}

/// Which bucket of a bucket kind's stage an item falls in: FNV-1a (64 bits) of its id's UTF-8 bytes, modulo the
/// count, so anyone (a Python script included) can tell where a clip went; a bucket is named by its number,
/// zero-padded to the width of the largest (`07` of 16).
public enum Bucket {
    public static func number(of id: String, count: Int) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in id.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return Int(hash % UInt64(count))
    }

    public static func name(_ number: Int, count: Int) -> String {
        let digits = String(number), width = String(count - 1).count
        return String(repeating: "0", count: max(width - digits.count, 0)) + digits
    }
}

/// A declaration travels as JSON from a worker program to the front end: everything but the code.
extension StageKind: Codable {
    enum CodingKeys: String, CodingKey {
        case name, version, summary, shape, params, cores
        case bucketParam = "buckets"
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try container.decode(String.self, forKey: .name), version: try container.decode(Int.self, forKey: .version),
                  summary: try container.decode(String.self, forKey: .summary), params: try container.decode([ParamSpec].self, forKey: .params),
                  shape: try container.decode(Shape.self, forKey: .shape), body: nil)
        bucketParam = try container.decodeIfPresent(String.self, forKey: .bucketParam)
        cores = try container.decodeIfPresent(CoreUse.self, forKey: .cores) ?? .one
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(version, forKey: .version)
        try container.encode(summary, forKey: .summary)
        try container.encode(shape, forKey: .shape)
        try container.encode(params, forKey: .params)
        try container.encodeIfPresent(bucketParam, forKey: .bucketParam)
        if cores != .one { try container.encode(cores, forKey: .cores) }
    }
}

/// The cores one unit of a kind keeps busy: one, all the machine has, or the product of some int params (`workers` x
/// `threads`), a param of 0 meaning all (as a training's `threads: 0` shares the machine among its workers).
public enum CoreUse: Sendable, Equatable, Codable {
    case one
    case all
    case product(of: [String])

    /// The count for a unit with these params on a runner of `machine` slots: at least 1, at most `machine`.
    public func count(_ params: Params, machine: Int) -> Int {
        switch self {
        case .one: return 1
        case .all: return max(1, machine)
        case .product(let names):
            var product = 1
            for name in names {
                guard case .int(let value)? = params.values[name] else { continue }
                if value <= 0 { return max(1, machine) }
                let (next, overflow) = product.multipliedReportingOverflow(by: value)
                product = overflow ? Int.max : next
            }
            return min(max(1, product), max(1, machine))
        }
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

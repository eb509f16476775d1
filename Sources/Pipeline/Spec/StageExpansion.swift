import Yams

/// One declaration that stands for several stages, as DVC's `foreach` and `matrix` do, so that a pipeline trains five
/// fusions without five copied blocks:
///
///     train:                               train:
///       foreach: [audio, visual]             matrix: {fusion: [audio, visual], seed: [1, 2]}
///       do:                                  uses: train
///         uses: train                        params: {fusion: "${item.fusion}", seed: "${item.seed}"}
///         params: {fusion: "${item}"}
///
/// gives `train@audio` and `train@visual` (on the right, `train@audio-1` ... `train@visual-2`). Every scalar of the
/// body has `${item}` (or `${item.NAME}`) replaced, so the value enters each stage's name, params and key. A reference
/// to the group's own name in another stage's `deps` stands for all its stages.
enum StageExpansion {
    /// The stages one entry of `stages:` declares: itself, or its expansions in the order of the values.
    static func expand(_ name: String, _ node: Node, file: String) throws -> [(name: String, node: Node)] {
        guard case .mapping(let fields) = node else { return [(name, node)] }
        let keys = fields.compactMap { $0.key.scalar?.string }
        let location = { (node: Node) in SourceLocation(file: file, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1) }
        if let list = fields["foreach"] {
            guard keys.allSatisfy({ ["foreach", "do"].contains($0) }), let body = fields["do"] else {
                throw PipelineError(.badField, "stage '\(name)': 'foreach' goes with 'do' (the stage declared for each value) and nothing else", at: location(node))
            }
            // A mapping names each stage by its key and gives `${key}` and `${item}` (DVC's form); a list gives `${item}`.
            if case .mapping(let pairs) = list {
                guard !pairs.isEmpty else {
                    throw PipelineError(.badField, "stage '\(name)': 'foreach' must name at least one value", at: location(list))
                }
                try PipelineLimits.checkExpansion(pairs.count, stage: name, at: location(list))
                return try pairs.map { key, value in
                    guard let entry = key.scalar?.string, case .scalar(let scalar) = value else {
                        throw PipelineError(.badField, "stage '\(name)': each 'foreach' entry maps a name to a value", at: location(key))
                    }
                    return (try stageName(name, [entry], at: location(key)),
                            try substitute(body, [("key", entry), ("item", scalar.string)], stage: name, location: location))
                }
            }
            let values = try scalars(list, what: "stage '\(name)': 'foreach'", location: location)
            try PipelineLimits.checkExpansion(values.count, stage: name, at: location(list))
            return try values.map { value in
                (try stageName(name, [value.string], at: location(list)), try substitute(body, [("item", value.string)], stage: name, location: location))
            }
        }
        if let matrix = fields["matrix"] {
            guard case .mapping(let axes) = matrix, !axes.isEmpty else {
                throw PipelineError(.badField, "stage '\(name)': 'matrix' is a mapping from a name to a list of values", at: location(matrix))
            }
            var combinations: [[(String, String)]] = [[]]
            var count = 1
            for (key, list) in axes {
                guard let axis = key.scalar?.string, !axis.isEmpty else {
                    throw PipelineError(.badField, "stage '\(name)': a 'matrix' name must be a string", at: location(key))
                }
                let values = try scalars(list, what: "stage '\(name)': matrix '\(axis)'", location: location)
                // Counted before the combinations are made: 9 axes of 10 values would be 10^9 stages.
                let (product, overflow) = count.multipliedReportingOverflow(by: values.count)
                count = overflow ? Int.max : product
                try PipelineLimits.checkExpansion(count, stage: name, at: location(matrix))
                combinations = combinations.flatMap { prefix in values.map { prefix + [("item.\(axis)", $0.string)] } }
            }
            let body = Node.mapping(Node.Mapping(fields.filter { $0.key.scalar?.string != "matrix" }, fields.tag, fields.style, fields.mark))
            return try combinations.map { combination in
                (try stageName(name, combination.map(\.1), at: location(matrix)), try substitute(body, combination, stage: name, location: location))
            }
        }
        if keys.contains("do") {
            throw PipelineError(.badField, "stage '\(name)': 'do' goes with 'foreach'", at: location(node))
        }
        return [(name, node)]
    }

    private static func scalars(_ list: Node, what: String, location: (Node) -> SourceLocation) throws -> [Node.Scalar] {
        guard case .sequence(let items) = list, !items.isEmpty else {
            throw PipelineError(.badField, "\(what) must be a non-empty list of values", at: location(list))
        }
        var seen: Set<String> = []
        return try items.map { item in
            guard case .scalar(let scalar) = item else { throw PipelineError(.badField, "\(what): each value must be a number or a string", at: location(item)) }
            guard seen.insert(scalar.string).inserted else { throw PipelineError(.badField, "\(what): '\(scalar.string)' is listed twice", at: location(item)) }
            return scalar
        }
    }

    private static func stageName(_ base: String, _ values: [String], at location: SourceLocation) throws -> String {
        let name = base + "@" + values.joined(separator: "-")
        guard values.allSatisfy({ !$0.isEmpty && $0.allSatisfy(PipelineLimits.nameCharacters.contains) }) else {
            throw PipelineError(.badField, "stage '\(name)': values that name stages may hold only letters, digits, '.', '_' and '-'", at: location)
        }
        try PipelineLimits.checkNameLength(name, at: location)
        return name
    }

    /// The node with every `${NAME}` of `bindings` replaced in its scalars. A reference left over is an error when
    /// `owned` claims it (this expansion's `${item...}`, or a pipeline variable), and otherwise left for a later pass.
    /// A list variable (`lists`) stands alone as a value and becomes a sequence (`seed: "${seeds}"` in a matrix).
    static func substitute(_ node: Node, _ bindings: [(String, String)], lists: [String: [String]] = [:], stage: String, location: (Node) -> SourceLocation,
                           owned: (String) -> Bool = { $0.hasPrefix("item") || $0 == "key" }) throws -> Node {
        switch node {
        case .scalar(var scalar):
            guard scalar.string.contains("${") else { return node }
            var text = scalar.string
            if text.hasPrefix("${"), text.hasSuffix("}"), let items = lists[String(text.dropFirst(2).dropLast())] {
                return .sequence(Node.Sequence(items.map { Node.scalar(Node.Scalar($0)) }, Tag(.implicit), .flow, scalar.mark))
            }
            if let name = lists.keys.sorted().first(where: { text.contains("${\($0)}") }) {
                throw PipelineError(.badField, "stage '\(stage)': variable '\(name)' is a list, so it stands alone as a value ('${\(name)}'), not inside '\(text)'", at: location(node))
            }
            // A value that is one reference alone is typed by what it becomes (`seed: "${item.seed}"` gives an integer; an
            // empty value stays the empty string, not YAML's null).
            let whole = bindings.contains { "${\($0.0)}" == text }
            for (name, value) in bindings { text = text.replacingOccurrences(of: "${\(name)}", with: value) }
            var rest = text[...]
            while let start = rest.range(of: "${") {
                let end = rest[start.upperBound...].firstIndex(of: "}") ?? rest.endIndex
                let reference = String(rest[start.upperBound..<end])
                if owned(reference) {
                    let known = bindings.map { "${\($0.0)}" }.joined(separator: ", ")
                    throw PipelineError(.badField, "stage '\(stage)': unknown ${\(reference)} (\(known.isEmpty ? "nothing is defined" : "defined: " + known))", at: location(node))
                }
                rest = rest[(end == rest.endIndex ? end : rest.index(after: end))...]
            }
            scalar.string = text
            if whole && !text.isEmpty { scalar.style = .plain }
            return .scalar(scalar)
        case .mapping(let mapping):
            let pairs = try mapping.map {
                (try substitute($0.key, bindings, lists: lists, stage: stage, location: location, owned: owned),
                 try substitute($0.value, bindings, lists: lists, stage: stage, location: location, owned: owned))
            }
            return .mapping(Node.Mapping(pairs, mapping.tag, mapping.style, mapping.mark))
        case .sequence(let sequence):
            return .sequence(Node.Sequence(try sequence.map { try substitute($0, bindings, lists: lists, stage: stage, location: location, owned: owned) },
                                           sequence.tag, sequence.style, sequence.mark))
        case .alias:
            return node
        }
    }
}

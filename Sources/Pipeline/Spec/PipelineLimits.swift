import Yams

/// What a pipeline file may amount to, checked while it is read: a few lines of YAML can stand for billions of nodes
/// (aliases of aliases) or stages (a matrix of many axes), and a stage's name becomes a folder under `out/` and a file
/// name in the cache. Far above any real pipeline (MELD's has some 30 stages), far below what exhausts memory.
public enum PipelineLimits {
    /// YAML nodes in one file with every alias counted where it is used.
    public static let nodes = 200_000
    /// Stages after every `foreach` and `matrix` is expanded.
    public static let stages = 5_000
    /// Patterns one `glob` stands for once its `{a,b}` alternatives are expanded (ten pairs of braces would be a thousand).
    public static let globAlternatives = 256
    /// Bytes in a stage's name, expansions included: one path component, with room for the runner's suffixes.
    public static let nameLength = 120
    /// What a stage's name (and a value that names expanded stages) is made of: it names a folder, so no '/', no
    /// spaces, and no name of '.' or '..'.
    public static let nameCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")

    static func checkNodes(_ root: Node, file: String) throws {
        var remaining = nodes
        // Depth first with an explicit stack, stopping as soon as the budget is spent: the walk is bounded by the
        // limit, not by what the aliases expand to.
        var stack = [root]
        while let node = stack.popLast() {
            remaining -= 1
            guard remaining >= 0 else {
                throw PipelineError(.badField, "\(file): more than \(nodes) YAML nodes once aliases are expanded (aliases nested in aliases?)",
                                    at: node.mark.map { SourceLocation(file: file, line: $0.line, column: $0.column) })
            }
            switch node {
            case .mapping(let mapping): for (key, value) in mapping { stack.append(key); stack.append(value) }
            case .sequence(let sequence): stack.append(contentsOf: sequence)
            case .scalar, .alias: break
            }
        }
    }

    static func checkStageName(_ name: String, at location: SourceLocation) throws {
        guard let first = name.first, first != ".", name.allSatisfy(nameCharacters.contains) else {
            throw PipelineError(.badField, "stage name '\(name)' must be letters, digits, '_', '-' and '.' (not first): it names a folder", at: location)
        }
        try checkNameLength(name, at: location)
        if name == "index.html" {
            throw PipelineError(.badField, "stage name 'index.html' is the run's overview page in out/PIPELINE; choose another", at: location)
        }
    }

    static func checkNameLength(_ name: String, at location: SourceLocation) throws {
        guard name.utf8.count <= nameLength else {
            throw PipelineError(.badField, "stage name '\(name.prefix(40))...' is \(name.utf8.count) bytes long; at most \(nameLength)", at: location)
        }
    }

    static func checkExpansion(_ count: Int, stage: String, at location: SourceLocation) throws {
        guard count <= stages else {
            throw PipelineError(.badField, "stage '\(stage)' would expand to \(count == Int.max ? "too many" : String(count)) stages; at most \(stages)", at: location)
        }
    }
}

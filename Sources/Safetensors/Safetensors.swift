import Foundation

/// The element types this project reads and writes: PyTorch's float32 weights and its int64 counters.
public enum SafetensorsDType: String, Sendable {
    case f32 = "F32"
    case i64 = "I64"
    case u8 = "U8"

    public var byteCount: Int {
        switch self {
        case .f32: return 4
        case .i64: return 8
        case .u8: return 1
        }
    }
}

/// Why a safetensors file could not be read or a tensor not taken from it; every case names the file.
public enum SafetensorsError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case tooShort(path: String, size: Int)
    case headerPastEnd(path: String, headerLength: UInt64, fileSize: Int)
    case badHeader(path: String, reason: String)
    case unsupportedDType(path: String, tensor: String, dtype: String)
    case badOffsets(path: String, tensor: String, reason: String)
    case missing(path: String, tensor: String)
    case wrongDType(path: String, tensor: String, expected: String, found: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "\(path): cannot read: \(reason)"
        case let .tooShort(path, size): return "\(path): \(size) bytes is too short for a safetensors file (needs an 8-byte header length)"
        case let .headerPastEnd(path, length, size):
            return "\(path): header length \(length) reaches past the end of the file (\(size) bytes)"
        case let .badHeader(path, reason): return "\(path): bad JSON header: \(reason)"
        case let .unsupportedDType(path, tensor, dtype): return "\(path): tensor '\(tensor)' has dtype \(dtype); only F32, I64 and U8 are supported"
        case let .badOffsets(path, tensor, reason): return "\(path): tensor '\(tensor)': \(reason)"
        case let .missing(path, tensor): return "\(path): no tensor named '\(tensor)'"
        case let .wrongDType(path, tensor, expected, found): return "\(path): tensor '\(tensor)' is \(found), expected \(expected)"
        }
    }
}

/// A safetensors file read whole: the format PyTorch users write with `safetensors.torch.save_file`
/// (8-byte little-endian header length, a JSON header of dtype, shape and data offsets, then the raw data).
public struct SafetensorsFile {
    public struct Entry: Sendable {
        public var dtype: SafetensorsDType
        public var shape: [Int]
        /// Byte range within the data section.
        public var range: Range<Int>
        public var count: Int { shape.reduce(1, *) }
    }

    public let path: String
    public let entries: [String: Entry]
    /// The tensor names in the order of their data.
    public let names: [String]
    public let metadata: [String: String]
    private let bytes: Data
    private let dataStart: Int

    public init(path: String) throws {
        let bytes: Data
        do { bytes = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe) }
        catch { throw SafetensorsError.unreadable(path: path, reason: (error as NSError).localizedDescription) }
        try self.init(bytes: bytes, path: path)
    }

    public init(bytes: Data, path: String = "<memory>") throws {
        guard bytes.count >= 8 else { throw SafetensorsError.tooShort(path: path, size: bytes.count) }
        let length = bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).littleEndian }
        guard length <= UInt64(bytes.count - 8) else {
            throw SafetensorsError.headerPastEnd(path: path, headerLength: length, fileSize: bytes.count)
        }
        let start = bytes.startIndex
        let headerData = bytes.subdata(in: start + 8..<start + 8 + Int(length))
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: headerData) }
        catch { throw SafetensorsError.badHeader(path: path, reason: "not JSON") }
        guard let header = json as? [String: Any] else { throw SafetensorsError.badHeader(path: path, reason: "not a JSON object") }
        let dataCount = bytes.count - 8 - Int(length)
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                guard let map = value as? [String: String] else {
                    throw SafetensorsError.badHeader(path: path, reason: "__metadata__ is not a map of strings")
                }
                metadata = map
                continue
            }
            guard let fields = value as? [String: Any], let dtypeName = fields["dtype"] as? String,
                  let shape = fields["shape"] as? [Int], let offsets = fields["data_offsets"] as? [Int], offsets.count == 2
            else { throw SafetensorsError.badHeader(path: path, reason: "tensor '\(name)' lacks dtype, shape or data_offsets") }
            guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
                throw SafetensorsError.unsupportedDType(path: path, tensor: name, dtype: dtypeName)
            }
            guard shape.allSatisfy({ $0 >= 0 }) else {
                throw SafetensorsError.badOffsets(path: path, tensor: name, reason: "negative dimension in shape \(shape)")
            }
            guard offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= dataCount else {
                throw SafetensorsError.badOffsets(path: path, tensor: name,
                                                  reason: "data_offsets \(offsets) outside the \(dataCount)-byte data section")
            }
            // The element count is checked as it is multiplied: a crafted shape must not overflow into a small one.
            var byteCount = dtype.byteCount
            for dimension in shape {
                let (product, overflow) = byteCount.multipliedReportingOverflow(by: dimension)
                guard !overflow else {
                    throw SafetensorsError.badOffsets(path: path, tensor: name, reason: "shape \(shape) of \(dtypeName) holds more bytes than a file can")
                }
                byteCount = product
            }
            let entry = Entry(dtype: dtype, shape: shape, range: offsets[0]..<offsets[1])
            guard entry.range.count == byteCount else {
                throw SafetensorsError.badOffsets(path: path, tensor: name,
                    reason: "\(entry.range.count) bytes for shape \(shape) of \(dtypeName) (expected \(byteCount))")
            }
            entries[name] = entry
        }
        // Two tensors may not share bytes: one would change with the other.
        let byStart = entries.filter { !$0.value.range.isEmpty }.sorted { ($0.value.range.lowerBound, $0.key) < ($1.value.range.lowerBound, $1.key) }
        for (first, second) in zip(byStart, byStart.dropFirst()) where second.value.range.lowerBound < first.value.range.upperBound {
            throw SafetensorsError.badOffsets(path: path, tensor: second.key,
                                              reason: "data_offsets \(second.value.range) overlap those of '\(first.key)' \(first.value.range)")
        }
        self.path = path
        self.entries = entries
        self.names = entries.keys.sorted { entries[$0]!.range.lowerBound < entries[$1]!.range.lowerBound }
        self.metadata = metadata
        self.bytes = bytes
        self.dataStart = start + 8 + Int(length)
    }

    public func entry(_ name: String) throws -> Entry {
        guard let entry = entries[name] else { throw SafetensorsError.missing(path: path, tensor: name) }
        return entry
    }

    /// Copies a float32 tensor's values into `destination`, which must hold exactly its element count.
    package func copyFloats(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        let entry = try self.entry(name)
        guard entry.dtype == .f32 else { throw SafetensorsError.wrongDType(path: path, tensor: name, expected: "F32", found: entry.dtype.rawValue) }
        precondition(destination.count == entry.count, "destination holds \(destination.count), tensor \(entry.count)")
        bytes.withUnsafeBytes { raw in
            let source = UnsafeRawBufferPointer(rebasing: raw[(dataStart - bytes.startIndex + entry.range.lowerBound)...].prefix(entry.range.count))
            for i in 0..<entry.count {
                destination[i] = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            }
        }
    }

    /// Whether a float32 tensor holds only finite values (no NaN, no infinity).
    public func allFinite(_ name: String) throws -> Bool {
        try withBytes(name) { raw in
            !stride(from: 0, to: raw.count, by: 4).contains { offset in
                // An exponent of all ones is NaN or an infinity.
                UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) & 0x7F80_0000 == 0x7F80_0000
            }
        }
    }

    public func floats(_ name: String) throws -> [Float] {
        let entry = try self.entry(name)
        guard entry.dtype == .f32 else { throw SafetensorsError.wrongDType(path: path, tensor: name, expected: "F32", found: entry.dtype.rawValue) }
        var values = [Float](repeating: 0, count: entry.count)
        try values.withUnsafeMutableBufferPointer { try copyFloats(name, into: $0) }
        return values
    }

    /// A tensor's bytes as stored (little-endian), without a copy: valid while `body` runs.
    public func withBytes<T>(_ name: String, _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        let entry = try self.entry(name)
        return try bytes.withUnsafeBytes { raw in
            let offset = dataStart - bytes.startIndex + entry.range.lowerBound
            return try body(UnsafeRawBufferPointer(rebasing: raw[offset..<offset + entry.range.count]))
        }
    }

    public func uint8s(_ name: String) throws -> [UInt8] {
        let entry = try self.entry(name)
        guard entry.dtype == .u8 else { throw SafetensorsError.wrongDType(path: path, tensor: name, expected: "U8", found: entry.dtype.rawValue) }
        return try withBytes(name) { Array($0) }
    }

    public func int64s(_ name: String) throws -> [Int64] {
        let entry = try self.entry(name)
        guard entry.dtype == .i64 else { throw SafetensorsError.wrongDType(path: path, tensor: name, expected: "I64", found: entry.dtype.rawValue) }
        return bytes.withUnsafeBytes { raw in
            let offset = dataStart - bytes.startIndex + entry.range.lowerBound
            return (0..<entry.count).map { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8 * $0, as: Int64.self)) }
        }
    }
}

/// Collects tensors and writes them as one safetensors file that `safetensors.torch.load_file` reads.
/// The file is written to a temporary name and renamed into place, so a reader never sees half of it.
public struct SafetensorsWriter {
    private var items: [(name: String, dtype: SafetensorsDType, shape: [Int], data: Data)] = []
    public var metadata: [String: String] = [:]

    public init() {}

    package mutating func add(_ name: String, shape: [Int], floats: UnsafeBufferPointer<Float>) {
        precondition(shape.reduce(1, *) == floats.count, "\(name): shape \(shape) does not hold \(floats.count) values")
        #if _endian(little)
        let data = Data(buffer: floats)
        #else
        var data = Data(count: floats.count * 4)
        data.withUnsafeMutableBytes { raw in
            for (i, value) in floats.enumerated() { raw.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
        }
        #endif
        items.append((name, .f32, shape, data))
    }

    public mutating func add(_ name: String, shape: [Int], floats: [Float]) {
        floats.withUnsafeBufferPointer { add(name, shape: shape, floats: $0) }
    }

    public mutating func add(_ name: String, shape: [Int], int64s: [Int64]) {
        precondition(shape.reduce(1, *) == int64s.count, "\(name): shape \(shape) does not hold \(int64s.count) values")
        var data = Data(count: int64s.count * 8)
        data.withUnsafeMutableBytes { raw in
            for (i, value) in int64s.enumerated() { raw.storeBytes(of: value.littleEndian, toByteOffset: 8 * i, as: Int64.self) }
        }
        items.append((name, .i64, shape, data))
    }

    /// A tensor given as its stored bytes (little-endian), such as uint8 images.
    public mutating func add(_ name: String, dtype: SafetensorsDType, shape: [Int], bytes: Data) {
        precondition(shape.reduce(1, *) * dtype.byteCount == bytes.count, "\(name): shape \(shape) of \(dtype.rawValue) does not hold \(bytes.count) bytes")
        items.append((name, dtype, shape, bytes))
    }

    /// The whole file: header padded with spaces to a multiple of 8 bytes, as the reference implementation does.
    public func encoded() throws -> Data {
        var file = try header()
        for item in items { file.append(item.data) }
        return file
    }

    /// The file's first bytes: the header's length and the header.
    private func header() throws -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        for item in items {
            header[item.name] = ["dtype": item.dtype.rawValue, "shape": item.shape, "data_offsets": [offset, offset + item.data.count]]
            offset += item.data.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var file = Data(capacity: 8 + json.count)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(json)
        return file
    }

    public func write(to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)")
        // The tensors are written from where they are, not first copied into one file-sized buffer (a checkpoint is
        // hundreds of megabytes, written every few dozen steps).
        guard FileManager.default.createFile(atPath: temporary.path, contents: try header()),
              let handle = FileHandle(forWritingAtPath: temporary.path) else {
            throw SafetensorsError.unreadable(path: path, reason: "cannot create \(temporary.path): \(String(cString: strerror(errno)))")
        }
        do {
            handle.seekToEndOfFile()
            for item in items { try handle.write(contentsOf: item.data) }
            try handle.close()
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(at: temporary)
            throw SafetensorsError.unreadable(path: path, reason: "cannot write \(temporary.path): \(error)")
        }
        if rename(temporary.path, url.path) != 0 {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw SafetensorsError.unreadable(path: path, reason: "cannot rename into place: \(reason)")
        }
    }
}

import Foundation

/// 16-bit PCM WAV, mono: the form speech corpora ship their utterances in (IEMOCAP's `sentences/wav`), written for the
/// generated corpora. Samples are clipped to [-1, 1] and rounded.
public enum WAVFile {
    public static func data(_ samples: [Float], sampleRate: Int) -> Data {
        var bytes = Data(capacity: 44 + samples.count * 2)
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        bytes.append(contentsOf: Array("RIFF".utf8)); append(UInt32(36 + samples.count * 2))
        bytes.append(contentsOf: Array("WAVEfmt ".utf8)); append(UInt32(16)); append(UInt16(1)); append(UInt16(1))
        append(UInt32(sampleRate)); append(UInt32(sampleRate * 2)); append(UInt16(2)); append(UInt16(16))
        bytes.append(contentsOf: Array("data".utf8)); append(UInt32(samples.count * 2))
        for sample in samples { append(Int16((max(-1, min(1, sample)) * 32767).rounded())) }
        return bytes
    }
}

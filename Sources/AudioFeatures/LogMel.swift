import FFT
import Foundation

/// The log-mel spectrogram of MODEL.md, librosa's conventions exactly: periodic Hann window of `windowLength`
/// zero-padded at its centre to `fftSize`, centred frames with zero padding of fftSize/2, power spectrum,
/// Slaney-scale mel filterbank with Slaney area normalisation, then `10 log10(max(S, 1e-10))` floored at
/// the clip's maximum minus `topDB`. Every number is a parameter, so it can enter a stage's key.
public struct LogMelConfig: Sendable, Hashable, Codable {
    public var sampleRate = 16_000
    public var fftSize = 512
    public var windowLength = 400
    public var hopLength = 160
    public var melBands = 64
    public var minFrequency = 0.0
    public var maxFrequency = 8_000.0
    public var topDB = 80.0

    public init() {}

    /// What makes these settings unusable, in words; nil when a spectrogram can be made with them.
    public var problem: String? {
        if fftSize < 2 || fftSize % 2 != 0 { return "the FFT size must be even and at least 2, not \(fftSize)" }
        if !(1...fftSize).contains(windowLength) { return "the window length must be 1 to the FFT size \(fftSize), not \(windowLength)" }
        if hopLength < 1 { return "the hop length must be at least 1, not \(hopLength)" }
        if melBands < 1 { return "there must be at least one mel band, not \(melBands)" }
        if sampleRate < 1 { return "the sample rate must be positive, not \(sampleRate)" }
        if !(minFrequency >= 0 && minFrequency < maxFrequency && maxFrequency <= Double(sampleRate) / 2) {
            return "the mel range must satisfy 0 <= fmin < fmax <= sample rate / 2, not \(minFrequency)...\(maxFrequency) at \(sampleRate) Hz"
        }
        return nil
    }
}

/// Computes log-mel spectrograms; FFT plan, window and filterbank are made once and shared by threads.
public final class LogMelSpectrogram: @unchecked Sendable {
    public let config: LogMelConfig
    /// (melBands, fftSize/2 + 1), row-major: `librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax)`.
    public let filterbank: [Float]
    /// The periodic Hann window, zero-padded at its centre to fftSize.
    public let window: [Float]
    private let fft: RealFFT
    /// The filterbank without its zeros (it is sparse: a few bins a band), band after band, and where each
    /// band's bins start and how many there are.
    private let packedWeights: [Float]
    private let bandStarts: [Int], bandLengths: [Int]

    /// `planning` is `.estimate` for every stage output (the same bits in every run); `.measure` exists to time
    /// what reproducibility costs.
    public init(_ config: LogMelConfig = LogMelConfig(), planning: RealFFT.Planning = .estimate) {
        precondition(config.windowLength <= config.fftSize && config.hopLength > 0)
        self.config = config
        fft = RealFFT(size: config.fftSize, planning: planning)
        var window = [Float](repeating: 0, count: config.fftSize)
        let offset = (config.fftSize - config.windowLength) / 2
        for n in 0..<config.windowLength {
            window[offset + n] = Float(0.5 - 0.5 * cos(2 * Double.pi * Double(n) / Double(config.windowLength)))
        }
        self.window = window
        let filterbank = LogMelSpectrogram.melFilterbank(config)
        self.filterbank = filterbank
        let bins = config.fftSize / 2 + 1
        var packed: [Float] = [], starts: [Int] = [], lengths: [Int] = []
        for m in 0..<config.melBands {
            let row = Array(filterbank[m * bins..<(m + 1) * bins])
            let first = row.firstIndex { $0 != 0 } ?? 0, last = row.lastIndex { $0 != 0 } ?? -1
            starts.append(first)
            lengths.append(max(0, last - first + 1))
            if last >= first { packed += row[first...last] }
        }
        packedWeights = packed
        bandStarts = starts
        bandLengths = lengths
    }

    public var bins: Int { config.fftSize / 2 + 1 }

    /// Frames for `count` samples with centring: 1 + count / hop.
    public func frameCount(samples count: Int) -> Int { 1 + count / config.hopLength }

    /// The power spectrogram before the filterbank, (bins, T) row-major.
    public func powerSpectrogram(_ samples: [Float]) -> [Float] {
        let frames = frameCount(samples: samples.count)
        var power = [Float](repeating: 0, count: bins * frames)
        forEachPowerColumn(samples) { t, column in
            for k in 0..<bins { power[k * frames + t] = column[k] }
        }
        return power
    }

    /// The mel power spectrogram, (melBands, T) row-major.
    public func melPower(_ samples: [Float]) -> [Float] {
        let frames = frameCount(samples: samples.count)
        var mel = [Float](repeating: 0, count: config.melBands * frames)
        let bands = config.melBands
        mel.withUnsafeMutableBufferPointer { out in
            packedWeights.withUnsafeBufferPointer { packed in
                bandStarts.withUnsafeBufferPointer { starts in
                    bandLengths.withUnsafeBufferPointer { lengths in
                        forEachPowerColumn(samples) { t, column in
                            var weights = packed.baseAddress!
                            for m in 0..<bands {
                                let bin = column + starts[m]
                                var sum: Float = 0
                                for k in 0..<lengths[m] { sum += weights[k] * bin[k] }
                                out[m * frames + t] = sum
                                weights += lengths[m]
                            }
                        }
                    }
                }
            }
        }
        return mel
    }

    /// Windows each centred frame, transforms it and hands its power column (bins values) to `body`.
    private func forEachPowerColumn(_ samples: [Float], _ body: (Int, UnsafeMutablePointer<Float>) -> Void) {
        let frames = frameCount(samples: samples.count)
        let n = config.fftSize, half = n / 2
        let workspace = RealFFT.Workspace(size: n)
        let column = UnsafeMutablePointer<Float>.allocate(capacity: bins)
        defer { column.deallocate() }
        samples.withUnsafeBufferPointer { signal in
            window.withUnsafeBufferPointer { window in
                let buffer = workspace.samples.baseAddress!
                for t in 0..<frames {
                    let start = t * config.hopLength - half
                    if start >= 0 && start + n <= signal.count {
                        let source = signal.baseAddress! + start
                        for i in 0..<n { buffer[i] = source[i] * window[i] }
                    } else {
                        for i in 0..<n {
                            let index = start + i
                            buffer[i] = index >= 0 && index < signal.count ? signal[index] * window[i] : 0
                        }
                    }
                    fft.power(workspace, into: column)
                    body(t, column)
                }
            }
        }
    }

    /// The log-mel spectrogram in dB, (melBands, T) row-major: `librosa.power_to_db(S, ref=1, amin=1e-10, top_db)`.
    public func logMel(_ samples: [Float]) -> [Float] {
        var values = melPower(samples)
        values.withUnsafeMutableBufferPointer { buffer in
            let n = buffer.count, p = buffer.baseAddress!
            // The loudest value first (log is monotonic), in eight independent lanes; then decibels in place.
            var lanes = [Float](repeating: 0, count: 8)
            var i = 0
            while i + 8 <= n {
                for j in 0..<8 { lanes[j] = max(lanes[j], p[i + j]) }
                i += 8
            }
            var top = lanes.max()!
            while i < n { top = max(top, p[i]); i += 1 }
            for k in 0..<n { p[k] = Decibels.of(p[k]) }
            let floor = Decibels.of(top) - Float(config.topDB)
            for k in 0..<n where p[k] < floor { p[k] = floor }
        }
        return values
    }

    /// librosa's Slaney mel scale: linear below 1 kHz, logarithmic above.
    static func hzToMel(_ hz: Double) -> Double {
        let step = 200.0 / 3, minLogHz = 1000.0, minLogMel = minLogHz / step, logStep = log(6.4) / 27
        return hz >= minLogHz ? minLogMel + log(hz / minLogHz) / logStep : hz / step
    }

    static func melToHz(_ mel: Double) -> Double {
        let step = 200.0 / 3, minLogHz = 1000.0, minLogMel = minLogHz / step, logStep = log(6.4) / 27
        return mel >= minLogMel ? minLogHz * exp(logStep * (mel - minLogMel)) : step * mel
    }

    /// Triangles between neighbouring mel centres over the FFT bin frequencies, each scaled to unit area
    /// (2 / bandwidth): librosa's `filters.mel` with `htk=False, norm='slaney'`, computed in double.
    static func melFilterbank(_ config: LogMelConfig) -> [Float] {
        let bins = config.fftSize / 2 + 1, bands = config.melBands
        let low = hzToMel(config.minFrequency), high = hzToMel(config.maxFrequency)
        let centres = (0..<(bands + 2)).map { melToHz(low + (high - low) * Double($0) / Double(bands + 1)) }
        let frequencies = (0..<bins).map { Double(config.sampleRate) / 2 * Double($0) / Double(bins - 1) }
        var weights = [Float](repeating: 0, count: bands * bins)
        for m in 0..<bands {
            let scale = 2 / (centres[m + 2] - centres[m])
            for k in 0..<bins {
                let lower = (frequencies[k] - centres[m]) / (centres[m + 1] - centres[m])
                let upper = (centres[m + 2] - frequencies[k]) / (centres[m + 2] - centres[m + 1])
                weights[m * bins + k] = Float(max(0, min(lower, upper)) * scale)
            }
        }
        return weights
    }
}

/// `10 log10(max(x, 1e-10))`: the natural logarithm by Cephes' `logf` (frexp, then a degree-9 polynomial on
/// [sqrt(1/2) - 1, sqrt(2) - 1]; error about 1e-7 relative). Branch-free, so a loop of it vectorises, where
/// glibc's scalar `log10f`, one call per value, took a third of the spectrogram's time.
enum Decibels {
    @inline(__always)
    static func of(_ value: Float) -> Float {
        let x = max(value, 1e-10)
        let bits = x.bitPattern
        // x = m 2^e with m in [0.5, 1), then m moved to [sqrt(1/2), sqrt(2)).
        let small = Float(bitPattern: (bits & 0x007F_FFFF) | 0x3F00_0000) < 0.707106781186547524
        let e = Float(Int32(bitPattern: (bits >> 23) & 0xFF) - 126) - (small ? 1 : 0)
        let mantissa = Float(bitPattern: (bits & 0x007F_FFFF) | 0x3F00_0000)
        let f = (small ? mantissa + mantissa : mantissa) - 1
        let z = f * f
        var y: Float = 7.0376836292e-2
        y = y * f - 1.1514610310e-1
        y = y * f + 1.1676998740e-1
        y = y * f - 1.2420140846e-1
        y = y * f + 1.4249322787e-1
        y = y * f - 1.6668057665e-1
        y = y * f + 2.0000714765e-1
        y = y * f - 2.4999993993e-1
        y = y * f + 3.3333331174e-1
        y = y * f * z + e * -2.12194440e-4 - 0.5 * z
        let decibels = (f + y + e * 0.693359375) * (10 / 2.302585092994046)
        // The floor itself exactly, as librosa gives it: 10 log10(1e-10) = -100.
        return value <= 1e-10 ? -100 : decibels
    }
}

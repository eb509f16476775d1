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
}

/// Computes log-mel spectrograms; FFT plan, window and filterbank are made once and shared by threads.
public final class LogMelSpectrogram: @unchecked Sendable {
    public let config: LogMelConfig
    /// (melBands, fftSize/2 + 1), row-major: `librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax)`.
    public let filterbank: [Float]
    /// The periodic Hann window, zero-padded at its centre to fftSize.
    public let window: [Float]
    private let fft: RealFFT
    private var cachedRanges: [Range<Int>]?

    public init(_ config: LogMelConfig = LogMelConfig()) {
        precondition(config.windowLength <= config.fftSize && config.hopLength > 0)
        self.config = config
        fft = RealFFT(size: config.fftSize)
        var window = [Float](repeating: 0, count: config.fftSize)
        let offset = (config.fftSize - config.windowLength) / 2
        for n in 0..<config.windowLength {
            window[offset + n] = Float(0.5 - 0.5 * cos(2 * Double.pi * Double(n) / Double(config.windowLength)))
        }
        self.window = window
        filterbank = LogMelSpectrogram.melFilterbank(config)
        cachedRanges = nil
        cachedRanges = bandRanges
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
        mel.withUnsafeMutableBufferPointer { out in
            filterbank.withUnsafeBufferPointer { weights in
                forEachPowerColumn(samples) { t, column in
                    for (m, range) in bandRanges.enumerated() {
                        var sum: Float = 0
                        let row = weights.baseAddress! + m * bins
                        for k in range { sum += row[k] * column[k] }
                        out[m * frames + t] = sum
                    }
                }
            }
        }
        return mel
    }

    /// Each band's non-zero bins: the filterbank is sparse (a few bins a band), so only these are multiplied.
    private var bandRanges: [Range<Int>] {
        if let cached = cachedRanges { return cached }
        return (0..<config.melBands).map { m in
            let row = filterbank[m * bins..<(m + 1) * bins]
            guard let first = row.firstIndex(where: { $0 != 0 }), let last = row.lastIndex(where: { $0 != 0 }) else { return 0..<0 }
            return (first - m * bins)..<(last - m * bins + 1)
        }
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
        var peak = -Float.infinity
        values.withUnsafeMutableBufferPointer { buffer in
            for index in buffer.indices {
                let decibels = 10 * log10(max(buffer[index], 1e-10))
                buffer[index] = decibels
                peak = max(peak, decibels)
            }
            let floor = peak - Float(config.topDB)
            for index in buffer.indices where buffer[index] < floor { buffer[index] = floor }
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

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
    }

    public var bins: Int { config.fftSize / 2 + 1 }

    /// Frames for `count` samples with centring: 1 + count / hop.
    public func frameCount(samples count: Int) -> Int { 1 + count / config.hopLength }

    /// The power spectrogram before the filterbank, (bins, T) row-major.
    public func powerSpectrogram(_ samples: [Float]) -> [Float] {
        let frames = frameCount(samples: samples.count)
        let n = config.fftSize, half = n / 2
        var power = [Float](repeating: 0, count: bins * frames)
        let workspace = RealFFT.Workspace(size: n)
        var column = [Float](repeating: 0, count: bins)
        samples.withUnsafeBufferPointer { signal in
            for t in 0..<frames {
                let start = t * config.hopLength - half
                let buffer = workspace.samples
                for i in 0..<n {
                    let index = start + i
                    buffer[i] = index >= 0 && index < signal.count ? signal[index] * window[i] : 0
                }
                column.withUnsafeMutableBufferPointer { fft.power(workspace, into: $0.baseAddress!) }
                for k in 0..<bins { power[k * frames + t] = column[k] }
            }
        }
        return power
    }

    /// The mel power spectrogram, (melBands, T) row-major.
    public func melPower(_ samples: [Float]) -> [Float] {
        let frames = frameCount(samples: samples.count)
        let power = powerSpectrogram(samples)
        var mel = [Float](repeating: 0, count: config.melBands * frames)
        for m in 0..<config.melBands {
            for k in 0..<bins {
                let weight = filterbank[m * bins + k]
                if weight == 0 { continue }
                let row = k * frames, out = m * frames
                for t in 0..<frames { mel[out + t] += weight * power[row + t] }
            }
        }
        return mel
    }

    /// The log-mel spectrogram in dB, (melBands, T) row-major: `librosa.power_to_db(S, ref=1, amin=1e-10, top_db)`.
    public func logMel(_ samples: [Float]) -> [Float] {
        var values = melPower(samples).map { 10 * log10(max($0, 1e-10)) }
        let floor = (values.max() ?? 0) - Float(config.topDB)
        for index in values.indices where values[index] < floor { values[index] = floor }
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

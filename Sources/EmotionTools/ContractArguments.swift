import ArgumentParser
import EmotionModel
import ModelContract
import Tensor
import Training

// The contract's closed sets as command-line choices: `--help` lists them and the parser refuses any other.

extension Fusion: ExpressibleByArgument {}
extension Launcher: ExpressibleByArgument {}
extension ModelWeights: ExpressibleByArgument {}
extension CalibrationMethod: ExpressibleByArgument {}
extension PrecisionSetting: ExpressibleByArgument {}

extension ClassWeights: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
    public var defaultValueDescription: String { description }
}

import EmotionCLI
import EmotionStages
import EmotionTools
import PipelineMPI

EmotionCommand.kinds = .registry(ProjectStages.registry)
EmotionCommand.mpiRunner = MPIRun.run
EmotionCommand.refuseArgumentsNotUTF8()
EmotionCommand.failOnLostOutput()
EmotionWorkerCommand.mainNamingFileErrors()

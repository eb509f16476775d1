import EmotionCLI
import EmotionStages
import EmotionTools
import PipelineMPI

EmotionCommand.kinds = .registry(ProjectStages.registry)
EmotionCommand.mpiRunner = MPIRun.run
EmotionCommand.failOnLostOutput()
EmotionWorkerCommand.main()

import EmotionCLI
import EmotionStages
import EmotionTools
import PipelineMPI

EmotionCommand.kinds = .registry(ProjectStages.registry)
EmotionCommand.mpiRunner = { jobs, isolation, registry, body in try MPIRun.run(jobs: jobs, isolation: isolation, registry: registry, body) }
EmotionCommand.refuseArgumentsNotUTF8()
EmotionCommand.failOnLostOutput()
EmotionWorkerCommand.mainNamingFileErrors()

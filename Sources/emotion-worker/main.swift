import EmotionCLI
import EmotionStages
import EmotionTools

EmotionCommand.kinds = .registry(ProjectStages.registry)
EmotionWorkerCommand.main()

import EmotionCLI
import PipelineTestKinds

// `emotion`'s real command line with the test stage kinds, for tests that run, kill and resume it.
EmotionCommand.registry = TestKinds.registry
EmotionCommand.main()

import EmotionCLI
import PipelineTestKinds

// `emotion`'s front end with the test stage kinds' code in the same program, for tests that run, kill and
// resume it; and a worker program whose kinds a real front end can learn (`EMOTION_WORKER`).
EmotionCommand.kinds = .registry(TestKinds.registry)
EmotionCommand.main()

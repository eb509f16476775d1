import EmotionCLI

EmotionCommand.main()

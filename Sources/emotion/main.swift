import EmotionCLI

EmotionCommand.start()

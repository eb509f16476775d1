import Pipeline

/// Every stage kind the project offers to pipeline files, in pipeline order.
public enum ProjectStages {
    public static let registry = StageRegistry([
        SynthesizeStage.kind,
        ProbeStage.kind,
        CleanStage.kind,
    ] + CorpusStages.kinds + [
        FacesStage.kind,
        MelStage.kind,
        FaceFeaturesStage.kind,
        ShardsStage.kind,
        ShardIndexStage.kind,
        TrainStage.kind,
        EvaluateStage.kind,
        ResultsStage.kind,
        ExportStage.kind,
    ])
}

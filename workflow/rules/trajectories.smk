# Stage 1: trajectory sets (the fixed, seeded evaluation set; stored training sets if asked for).


rule eval_trajectories:
    output:
        h5=layout.shared_file(R, "eval"),
        prov=layout.shared_file(R, "eval_prov"),
    log:
        layout.log(R, "trajectories", "eval"),
    benchmark:
        layout.benchmark(R, "trajectories", "eval")
    conda:
        "../../envs/trajectories.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        defines=DEFINES["trajectories"],
        code=CODE["trajectories"],
    script:
        "../scripts/trajectories.py"


rule train_dataset:
    output:
        h5=layout.training_set(R, wildcard="dataset"),
        prov=layout.training_set(R, wildcard="dataset", prov=True),
    log:
        layout.log(R, "trajectories", wildcard="dataset"),
    benchmark:
        layout.benchmark(R, "trajectories", wildcard="dataset")
    conda:
        "../../envs/trajectories.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        defines=lambda wc: training_set_defines(DATASETS[wc.dataset], BOX),
        code=CODE["trajectories"],
    script:
        "../scripts/trajectories.py"

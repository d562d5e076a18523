# Stage 2: train each network (GPU when configured and present, CPU otherwise; resumable).


rule train:
    input:
        unpack(stage_inputs("train")),
    output:
        **stage_outputs("train"),
    log:
        layout.log(R, "train", wildcard=UNIT),
    benchmark:
        layout.benchmark(R, "train", wildcard=UNIT)
    conda:
        "../../envs/training.yaml"
    threads: TRAINING["threads"]
    resources:
        gpu=gpu_resource(),
        mem_mb=TRAINING["mem_mb"],
        runtime=stage_runtime("train"),
    params:
        **stage_params("train"),
    script:
        "../scripts/stage.py"

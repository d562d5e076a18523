# Stage 3: run each network (trained, and at initialisation) on the evaluation set; store activations.


rule record:
    input:
        unpack(stage_inputs("record")),
    output:
        **stage_outputs("record"),
    log:
        layout.log(R, "record", wildcard=UNIT),
    benchmark:
        layout.benchmark(R, "record", wildcard=UNIT)
    conda:
        "../../envs/training.yaml"
    threads: TRAINING["threads"]
    resources:
        gpu=gpu_resource(),
        mem_mb=TRAINING["mem_mb"],
        runtime=stage_runtime("record"),
    params:
        **stage_params("record"),
    script:
        "../scripts/stage.py"

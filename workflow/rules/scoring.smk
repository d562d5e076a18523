# Stage 4: rate maps, grid scores, periods and participation ratios of every unit; per-network summary.


rule score:
    input:
        unpack(stage_inputs("score")),
    output:
        **stage_outputs("score"),
    log:
        layout.log(R, "score", wildcard=UNIT),
    benchmark:
        layout.benchmark(R, "score", wildcard=UNIT)
    conda:
        "../../envs/scoring.yaml"
    threads: 1
    resources:
        mem_mb=config["scoring"]["mem_mb"],
        runtime=stage_runtime("score"),
    params:
        **stage_params("score"),
    script:
        "../scripts/stage.py"

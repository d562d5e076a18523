# Stage 5: one table over all networks, one over all units, the example maps and trajectories, and this
# run's numbers beside the paper's.


rule aggregate:
    input:
        aggregate_inputs(),
    output:
        **{k: layout.table(R, k) for k in STAGES["aggregate"].outputs},
        prov=layout.table(R, "prov"),
    log:
        layout.log(R, "aggregate", "aggregate"),
    benchmark:
        layout.benchmark(R, "aggregate", "aggregate")
    conda:
        "../../envs/scoring.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        membership=membership(),
        defines=DEFINES["aggregate"],
        code=CODE["aggregate"],
    script:
        "../scripts/aggregate.py"

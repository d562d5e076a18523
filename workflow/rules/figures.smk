# Stage 6: every figure, one job each, from the aggregate tables (pathint/figures/<name>.py). A figure's
# code is its module and what that imports (Fig. 4c also evaluates the readout codes, pathint.readouts),
# so editing one figure reruns that figure alone.


rule figure:
    input:
        **FIGURE_TABLES,
    output:
        png=report(
            layout.figure_file(R, "png", wildcard="name"),
            caption="../report/figure.rst",
            category="Figures",
        ),
        pdf=layout.figure_file(R, "pdf", wildcard="name"),
        caption=layout.figure_file(R, "caption", wildcard="name"),
        prov=layout.figure_file(R, "prov", wildcard="name"),
    log:
        layout.log(R, "figures", wildcard="name"),
    benchmark:
        layout.benchmark(R, "figures", wildcard="name")
    conda:
        "../../envs/figures.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        defines=FIGURE_DEFINES,
        code=lambda wildcards: FIGURE_CODE[wildcards.name],
    script:
        "../scripts/figure.py"

# pathint: regenerate the figures of Schaeffer, Khona & Fiete (NeurIPS 2022) from nothing.
# Stages, one rule file each: trajectories -> training -> recording -> scoring -> aggregation -> figures.


# config.yaml is the default experiment; a --configfile replaces it whole (no silent merging of two
# experiments' defaults).
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/trajectories.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/recording.smk"
include: "workflow/rules/scoring.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"


# Cheap rules run on the submitting machine when a cluster executor is used.
localrules:
    all,
    eval_trajectories,
    figure,


rule all:
    default_target: True
    input:
        all_figures(),

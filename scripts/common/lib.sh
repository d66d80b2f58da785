# Shared by the run scripts (sourced). Needs DATA, TRAINER, DATASET, SEED, CFG set by the caller.

# train_unless_exists DIR [train.py flags and KEY VALUE opts...]
# Like the reference scripts: an existing output folder means the job ran already, so it is skipped.
train_unless_exists() {
    local dir=$1
    shift
    if [ -d "$dir" ]; then
        echo "Oops! The results exist at ${dir} (so skip this job)"
        return 0
    fi
    python train.py \
    --root ${DATA} \
    --seed ${SEED} \
    --trainer ${TRAINER} \
    --dataset-config-file configs/datasets/${DATASET}.yaml \
    --config-file configs/trainers/${TRAINER}/${CFG}.yaml \
    --output-dir ${dir} \
    "$@"
}

# method_env: the settings of a scripts/common/ job; TRAINER (and CFG, unless the job takes it as an
# argument) come from the method's wrapper in scripts/<method>/, the rest may come from the environment.
method_env() {
    DATA=${DATA:-/path/to/datasets}  # the folder holding caltech-101/, oxford_pets/, ...
    TRAINER=${TRAINER:?set TRAINER (e.g. CoOp, CoCoOp)}
    SHOTS=${SHOTS:-16}
}

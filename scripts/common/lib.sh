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

# Shared by the run scripts (sourced). Every script is a thin front end of `python -m vlprompt.launch`
# (vlprompt/launch.py), which builds the train.py command and the output folder and skips finished runs
# (a folder holding results.json); an interrupted run (a folder without one) is resumed.

# The folder holding train.py, configs/ and scripts/ (followed logically, so a checkout reached through a
# symbolic link keeps its outputs there); outputs go to ./output of that folder, as the original scripts.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

usage() {
    echo "usage: DATA=/path/to/datasets bash $0 $1" >&2
    exit 2
}

# launch PROTOCOL [launcher flags ...] -- [KEY VALUE ...]
# PRINT_DIR=1 prints the experiment folder (the seeds' parent) instead of running, e.g. for parse_test_res.py.
launch() {
    local protocol=$1
    shift
    local data=${DATA:-/path/to/datasets}
    [ -d "$data" ] && data="$(cd "$data" && pwd)"  # a relative DATA means: relative to where you are
    cd "$REPO_ROOT" || exit 1
    exec "${PYTHON:-python}" -m vlprompt.launch "$protocol" --root "$data" \
        ${PRINT_DIR:+--print-dir} "$@"
}

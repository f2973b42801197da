#!/bin/sh
# Regenerate the plan output next to each sample diff with the real tool (no LLM is called).
# Run from the repository root after changing the models or the allocation:
#   sh examples/diffs/regenerate.sh
set -eu
cd "$(dirname "$0")/../.."
export NO_COLOR=1 COLUMNS=110
plan() {  # plan DIFF CONFIG
    out="${1%.*}.plan.txt"
    {
        echo "\$ cartriage plan --diff $1 --config $2"
        cartriage plan --diff "$1" --config "$2"
    } > "$out"
    echo "wrote $out"
}
plan examples/diffs/webapp-contacts.patch examples/webapp/cartriage.toml
plan examples/diffs/library-backoff.patch examples/library/cartriage.toml
plan examples/diffs/typo-fix.diff examples/library/cartriage.toml

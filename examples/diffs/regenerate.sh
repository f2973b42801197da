#!/bin/sh
# Regenerate the plan output next to each sample diff with the real tool (no LLM is called).
# Run from the repository root after changing the models or the allocation:
#   sh examples/diffs/regenerate.sh
set -eu
cd "$(dirname "$0")/../.."
export NO_COLOR=1 COLUMNS=110
plan() {  # plan DIFF [CONFIG]; without CONFIG, the defaults (no user configuration either)
    out="${1%.*}.plan.txt"
    {
        echo "\$ cartriage plan --diff $1${2:+ --config $2}"
        XDG_CONFIG_HOME=/nonexistent cartriage plan --diff "$1" ${2:+--config "$2"}
    } > "$out"
    echo "wrote $out"
}
plan_issue() {  # plan_issue TEXT: issue-only triage (the text model), the defaults
    out="${1%.*}.plan.txt"
    {
        echo "\$ cartriage plan --issue $1"
        XDG_CONFIG_HOME=/nonexistent cartriage plan --issue "$1"
    } > "$out"
    echo "wrote $out"
}
plan examples/diffs/webapp-contacts.patch examples/webapp/cartriage.toml
plan examples/diffs/library-backoff.patch examples/library/cartriage.toml
plan examples/diffs/typo-fix.diff examples/library/cartriage.toml
# Three commits of netbox-community/netbox (not in the training data), without a configuration:
# a schema migration, a docs fix, and a security fix with its tests and docs.
plan examples/diffs/netbox-migration.patch
plan examples/diffs/netbox-docs.patch
plan examples/diffs/netbox-security-tests.patch
# The same three commits' PR texts alone (examples/issues/), triaged before code exists.
plan_issue examples/issues/netbox-migration.txt
plan_issue examples/issues/netbox-docs.txt
plan_issue examples/issues/netbox-security-tests.txt

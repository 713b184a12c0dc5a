#!/bin/sh
# Run `mailprofiles generate` as N shards at once on one machine with GNU parallel (apt install parallel):
# shard K of N writes OUTROOT/shard-K; shard 0 also writes the files made from every user. The union of
# the N folders' files is what one unsharded run writes.
#
#   examples/parallel/generate-shards.sh INVENTORY OUTROOT [N]      (N: one shard per core by default)
#
# Each shard runs with --jobs 1 (one process per shard, N processes in all). Stops at the first shard
# that fails, and exits with its status. MAILPROFILES names the command (default: mailprofiles).
set -eu
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 INVENTORY OUTROOT [N]" >&2
    exit 2
fi
inventory=$1
outroot=$2
shards=${3:-$(nproc)}
mkdir -p "$outroot"
seq 0 $((shards - 1)) | parallel --halt now,fail=1 --line-buffer --tagstring 'shard {}:' -q \
    ${MAILPROFILES:-mailprofiles} generate "$inventory" -o "$outroot/shard-{}" --shard "{}/$shards" --jobs 1

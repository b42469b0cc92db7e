#!/usr/bin/env bash
# A Unix pipeline: jq turns a JSON array into JSON Lines, kbatch labels them (stdin `-`, output JSON Lines
# on stdout), jq picks the fields. `--local` runs against an in-process emulator; drop it (and set
# KLUSTER_API_KEY) for kluster.ai. Self-checking: fails unless every ticket got one of the labels.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kbatch() { node "$here/../../cli/bin/kbatch.js" "$@"; }
command -v jq >/dev/null || { echo "03-unix-pipeline needs jq (apt-get install jq / brew install jq)" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

jq -c '.[] | {id, text: (.subject + ": " + .body)}' "$here/../data/tickets.json" \
  | kbatch run - --local --quiet \
      --model klusterai/Meta-Llama-3.1-8B-Instruct-Turbo \
      --prompt 'Support ticket: {{text}}' \
      --labels billing,technical,account,other \
  | jq -r '[.id, .label] | @tsv' > labels.tsv

cat labels.tsv
# Checks: one line per ticket, in input order, each with one of the labels.
[ "$(wc -l < labels.tsv)" -eq "$(jq length "$here/../data/tickets.json")" ] || { echo "wrong number of lines" >&2; exit 1; }
[ "$(cut -f1 labels.tsv | paste -sd,)" = "$(jq -r '[.[].id] | join(",")' "$here/../data/tickets.json")" ] || { echo "order changed" >&2; exit 1; }
if cut -f2 labels.tsv | grep -vxE 'billing|technical|account|other'; then echo "unexpected label" >&2; exit 1; fi
echo "labeled $(wc -l < labels.tsv) tickets" >&2

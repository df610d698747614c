#!/usr/bin/env bash
# Regenerates runtime/protocol/gen/ from runtime/protocol/proto/ with buf + protoc-gen-es
# (both installed by `npm install`; runs offline).
#
#   bash runtime/protocol/gen.sh           regenerate gen/ in place
#   bash runtime/protocol/gen.sh --check   regenerate into a temp dir; exit 1 if gen/ differs
#
# gen/ is generated output: never edit it by hand, change the .proto files and rerun this.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo_root"

buf="node_modules/.bin/buf"
plugin="node_modules/.bin/protoc-gen-es"
template="runtime/protocol/buf.gen.yaml"
gen_dir="runtime/protocol/gen"

mode="write"
case "${1:-}" in
  "") ;;
  --check) mode="check" ;;
  -h | --help)
    sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "gen.sh: unknown argument \"$1\" (expected --check or nothing)" >&2
    exit 2
    ;;
esac

for tool in "$buf" "$plugin"; do
  if [[ ! -x "$tool" ]]; then
    echo "gen.sh: $tool is missing; run \`npm install --no-audit --no-fund\` in $repo_root" >&2
    exit 2
  fi
done
if ! command -v node >/dev/null 2>&1; then
  echo "gen.sh: protoc-gen-es needs node on PATH" >&2
  exit 2
fi

if [[ "$mode" == "write" ]]; then
  "$buf" generate runtime/protocol --template "$template"
  echo "gen.sh: regenerated $gen_dir"
  exit 0
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/cocoon-proto-check.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
"$buf" generate runtime/protocol --template "$template" --output "$tmp"
if ! diff -ru --exclude='.*' "$gen_dir" "$tmp/$gen_dir" >"$tmp/diff" 2>&1; then
  echo "gen.sh --check: $gen_dir is out of date with runtime/protocol/proto; run \`deno task proto\` and commit the result" >&2
  head -n 40 "$tmp/diff" >&2
  exit 1
fi
echo "gen.sh --check: $gen_dir is up to date"

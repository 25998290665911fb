#!/usr/bin/env node
'use strict';
/*
 * The `nextmavens` command (package.json `bin`, the npm scripts): checks the Node version in
 * plain JavaScript first — so an old Node says in one line which Node is needed instead of
 * failing on the .ts extension — then runs the CLI (cli/nextmavens.ts).
 */
require('../scripts/check-node.cjs').exitIfTooOld();
import('./nextmavens.ts').catch(function (err) {
  process.stderr.write('nextmavens: ' + (err && err.message ? err.message : err) + '\n');
  process.exit(1);
});

#!/usr/bin/env node
'use strict';
/*
 * The `nextmavens` command (package.json `bin`, the npm scripts): checks the Node version in
 * plain JavaScript first — so an old Node says in one line which Node is needed instead of
 * failing on the .ts extension — then runs the CLI (cli/nextmavens.ts).
 */
require('../scripts/check-node.cjs').exitIfTooOld();
// Node's on-disk compile cache (code cache and, for the .ts files, the type-stripped source):
// a second start skips stripping and compiling ~1,600 modules — about a third of the import time
// of cli/stack.ts. Entries are keyed by the source's hash, so an edited file is compiled afresh.
// Default directory os.tmpdir()/node-compile-cache (NODE_COMPILE_CACHE overrides it,
// NODE_DISABLE_COMPILE_CACHE=1 turns it off); an unwritable one only means no cache.
require('node:module').enableCompileCache?.();
import('./nextmavens.ts').catch(function (err) {
  process.stderr.write('nextmavens: ' + (err && err.message ? err.message : err) + '\n');
  process.exit(1);
});

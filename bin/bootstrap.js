#!/usr/bin/env node
// Thin launcher: the CLI is one bundle in dist/ (built by `npm run build`, which `npm ci` runs through `prepare`).
// Stack traces are printed with --debug only: then map them to src/ (the .map files next to the bundle).
// Not always: reading a bundle's map costs start-up time, and the import below must come after this.
if (process.argv.includes('--debug')) process.setSourceMapsEnabled(true);
// `bootstrap --help` is printed from the build without loading the CLI (dist/fast-help.js imports nothing).
const { printBuiltHelp } = await import('../dist/fast-help.js');
if (!printBuiltHelp(process.argv.slice(2), process.stdout)) await import('../dist/bootstrap.js');

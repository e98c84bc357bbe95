/**
 * `npm run build`: the CLI as one ES module bundle, dist/bootstrap.js, with a chunk for each part a
 * command imports lazily (each command's module, the X.509 library, listr2, undici...), so that
 * `--help` and each command read only what they run. Type checking is `npm run typecheck` (tsc).
 */
import { rmSync, writeFileSync } from 'node:fs';
import { renderBuiltHelp } from './src/cli/built-help.js';
import { build } from 'esbuild';

// ssh2 stays in node_modules: it loads its optional native parts (sshcrypto.node, cpu-features)
// with require() relative to its own files, which a bundle would break (it falls back to slower JS).
const EXTERNAL = ['ssh2'];

// Bundled CommonJS packages call require(): in an ES module it must be made.
const REQUIRE_SHIM = "import { createRequire as __kubestrapRequire } from 'node:module'; const require = __kubestrapRequire(import.meta.url);";

rmSync('dist', { recursive: true, force: true });
await build({
  // fast-help: what the launcher reads first, alone (`bootstrap --help` without the CLI).
  entryPoints: { bootstrap: 'src/cli/entry.ts', 'fast-help': 'src/cli/fast-help.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  banner: { js: REQUIRE_SHIM },
  sourcemap: true,
  logLevel: 'warning',
});

// The top-level help as commander renders it, for fast-help.ts.
writeFileSync('dist/help.json', `${JSON.stringify(await renderBuiltHelp())}\n`);

#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/ (built by `npm run build`, which `npm ci` runs through `prepare`).
import { tuneHeapForStreaming } from '../dist/cli/heap.js';
import { main } from '../dist/cli/main.js';

tuneHeapForStreaming();
process.exitCode = await main(process.argv.slice(2));

// The bundle's entry point: `npm run build` turns it and everything it imports into dist/bootstrap.js
// (plus a chunk per lazily imported part); bin/bootstrap.js runs it.
import { tuneHeapForStreaming } from './heap.js';
import { main } from './main.js';

tuneHeapForStreaming();
process.exitCode = await main(process.argv.slice(2));

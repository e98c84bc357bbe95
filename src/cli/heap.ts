import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets the heap grow past what the last full collection kept: three times (V8 picks
 * 1.1 to 4 from its own measurements). kubestrap keeps little (about 15 MB) but, while it uploads,
 * ssh2 allocates a fresh buffer for every 32 KiB packet, hundreds of MB per host, all garbage
 * within a tick. With a limit sized from 15 MB, V8 ran a full mark-compact every 18 MB or so: 70
 * of them for 3 hosts, a third of the controller's CPU. The buffers are freed by the cheap young
 * collections anyway, so a fixed factor costs no memory that shows (peak RSS unchanged) and
 * leaves 6 full collections. Read by V8 at each collection, so setting it after start-up works.
 */
const HEAP_GROWING_PERCENT = 200;

export function tuneHeapForStreaming(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}

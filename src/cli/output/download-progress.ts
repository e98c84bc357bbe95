import type { DownloadProgress } from '../../artifacts/resolve.js';
import { formatBytes } from '../../engine/kinds/local-file.js';
import { printable } from '../../printable.js';

/**
 * Download progress in bytes: on a terminal one line redrawn at most every 200 ms ("downloading 2
 * files: 45.2 MiB of 412 MiB"), handed to `draw`; elsewhere one line per finished file.
 */
export function downloadProgress(opts: { draw?: (text: string) => void; line?: (text: string) => void }): DownloadProgress {
  let total = 0;
  let known = true;
  let received = 0;
  let active = 0;
  let drawnAt = 0;
  const sizes = new Map<string, number | undefined>();
  const draw = (force = false) => {
    if (!opts.draw || (!force && Date.now() - drawnAt < 200)) return;
    drawnAt = Date.now();
    const of = known ? ` of ${formatBytes(total)}` : '';
    opts.draw(active > 0 ? `downloading ${active} file${active === 1 ? '' : 's'}: ${formatBytes(received)}${of}` : `downloaded ${formatBytes(received)}`);
  };
  return {
    started(url, bytes) {
      active++;
      sizes.set(url, bytes);
      if (bytes === undefined) known = false;
      else total += bytes;
      draw(true);
    },
    advanced(bytes) {
      received += bytes;
      draw();
    },
    finished(url) {
      active--;
      const size = sizes.get(url);
      // A URL from a manifest or the config: shown escaped.
      opts.line?.(`downloaded ${printable(url, { keepNewlines: false })}${size === undefined ? '' : ` (${formatBytes(size)})`}`);
      draw(true);
    },
  };
}

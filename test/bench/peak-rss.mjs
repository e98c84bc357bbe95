// Loaded with `node --import` around the CLI by the bench: writes the process's peak resident
// memory (KiB) to $KUBESTRAP_PEAK_RSS_FILE when it exits.
import { writeFileSync } from 'node:fs';

process.on('exit', () => {
  if (process.env.KUBESTRAP_PEAK_RSS_FILE) writeFileSync(process.env.KUBESTRAP_PEAK_RSS_FILE, String(process.resourceUsage().maxRSS));
});

// Loaded with `node --import` around the CLI by the bench: when the process exits, writes its peak
// resident memory (KiB) to $KUBESTRAP_PEAK_RSS_FILE, and its resource usage (process.resourceUsage():
// CPU times in µs, maxRSS in KiB) as JSON to $KUBESTRAP_USAGE_FILE.
import { writeFileSync } from 'node:fs';

process.on('exit', () => {
  if (process.env.KUBESTRAP_PEAK_RSS_FILE) writeFileSync(process.env.KUBESTRAP_PEAK_RSS_FILE, String(process.resourceUsage().maxRSS));
  if (process.env.KUBESTRAP_USAGE_FILE) writeFileSync(process.env.KUBESTRAP_USAGE_FILE, JSON.stringify(process.resourceUsage()));
});

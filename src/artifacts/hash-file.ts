import type { DigestAlgorithm } from '../upstream/index.js';
import { measure, meter, readChunks } from './meter.js';

/** sha256 and size of a file, read as a stream. */
export async function hashFile(file: string): Promise<{ sha256: string; size: number }> {
  const { digests, size } = await digestsOfFile(file, ['sha256']);
  return { sha256: digests.sha256!, size };
}

/** Several digests of a file in one read. */
export async function digestsOfFile(file: string, algorithms: readonly DigestAlgorithm[]): Promise<{ digests: Partial<Record<DigestAlgorithm, string>>; size: number }> {
  const m = meter({ algorithms });
  await measure(readChunks(file), m);
  return { digests: Object.fromEntries(algorithms.map((a) => [a, m.hex(a)])), size: m.size() };
}

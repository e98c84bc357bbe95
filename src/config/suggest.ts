import { distance } from 'fastest-levenshtein';

/**
 * The candidate a misspelt word most likely meant: same letters in another case, or at most two
 * edits away (one for short words, where two edits reach almost anything).
 */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  let best: { candidate: string; cost: number } | undefined;
  const budget = word.length <= 4 ? 1 : 2;
  for (const candidate of candidates) {
    if (candidate === word) return undefined;
    const cost = candidate.toLowerCase() === word.toLowerCase() ? 0 : distance(candidate, word);
    if (cost <= budget && (!best || cost < best.cost)) best = { candidate, cost };
  }
  return best?.candidate;
}

import pLimit from 'p-limit';

/** Runs `fn` over `items` with at most `concurrency` in flight; results keep the input order. */
export function mapLimit<T, R>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const limit = pLimit(Math.max(1, concurrency));
  return Promise.all(items.map((item) => limit(() => fn(item))));
}

/**
 * A cap on the bytes read from local files and not yet handed to an SSH channel, shared by every
 * upload to every host: the controller's memory stays bounded however many hosts receive large
 * files at once, and the uploads share the link instead of each filling its own buffers.
 */
export class ByteBudget {
  private used = 0;
  private readonly waiting: Array<{ bytes: number; resolve: () => void }> = [];

  constructor(readonly limit: number) {}

  /** The bytes in flight right now (for tests and figures). */
  get inFlight(): number {
    return this.used;
  }

  async acquire(bytes: number): Promise<number> {
    // A chunk larger than the whole budget would wait forever; it goes alone instead.
    const want = Math.min(bytes, this.limit);
    if (this.waiting.length === 0 && this.used + want <= this.limit) {
      this.used += want;
      return want;
    }
    await new Promise<void>((resolve) => this.waiting.push({ bytes: want, resolve }));
    return want;
  }

  release(bytes: number): void {
    this.used -= bytes;
    // First come, first served: a large chunk is not starved by a stream of small ones.
    while (this.waiting.length > 0 && this.used + this.waiting[0]!.bytes <= this.limit) {
      const next = this.waiting.shift()!;
      this.used += next.bytes;
      next.resolve();
    }
  }
}

/** What the uploads of one process share: 64 MiB read and not yet taken by a channel in all, 1 MiB reads. */
export const UPLOAD_BUDGET = new ByteBudget(64 * 1024 * 1024);
export const UPLOAD_CHUNK = 1024 * 1024;

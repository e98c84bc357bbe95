import { TAR_BLOCK, tarEnd, tarFileHeader, tarPadding, type TarEntry } from './tar-header.js';

/**
 * Where each member of an archive sits, and what GNU tar's listing says of it when it extracts with
 * `-v -R -i` (verbose, block numbers, read past zero blocks): each member it extracts on a line
 * `block N: NAME`, N being the block after the member's headers, and the end of its input on a
 * last line `block N: ** End of File **`, N being every block it read. The format is the same from
 * tar 1.26 (CentOS 7) on, and `LC_ALL=C` keeps those words untranslated.
 *
 * Header lengths depend only on names and sizes, so the layout is known before a byte is sent. The
 * last line is a count of bytes, not something the stream's content can claim: headers slipped
 * into the stream change which block tar lists a member at (a GNU long-link header just before a
 * member makes tar list it at the block it would have had), never how many blocks it reads.
 */
export interface LaidOutMember<T> {
  entry: T;
  /** The member's header blocks (with its pax record, if any). */
  header: Buffer;
  /** The block tar lists it at. */
  listedAt: number;
}

export interface ArchiveLayout<T extends TarEntry> {
  members: Array<LaidOutMember<T>>;
  /** The zero blocks that end the archive, after the last member's padding. */
  end: Buffer;
  /** Every block of the archive: what tar's last line must say. */
  blocks: number;
}

export function layOut<T extends TarEntry>(entries: readonly T[]): ArchiveLayout<T> {
  let offset = 0;
  const members = entries.map((entry) => {
    const header = tarFileHeader(entry);
    const at = offset + header.length;
    offset = at + entry.size + tarPadding(entry.size).length;
    return { entry, header, listedAt: at / TAR_BLOCK };
  });
  const end = tarEnd();
  return { members, end, blocks: (offset + end.length) / TAR_BLOCK };
}

/** The last line of tar's listing of an archive of `blocks` blocks read whole. */
export function endOfInputLine(blocks: number): string {
  return `block ${blocks}: ** End of File **`;
}

/** What a listing says: the blocks members were listed at, and where the input ended (if tar got that far). */
export interface Listing {
  listed: ReadonlySet<number>;
  endedAt?: number;
}

/**
 * Reads tar's listing. A header tar cannot read leaves `block N: ` without a line of its own (its
 * complaint goes to stderr), so a line is read by its last block number.
 */
export function readListing(text: string): Listing {
  const listed = new Set<number>();
  let endedAt: number | undefined;
  for (const line of text.split('\n')) {
    const m = /^(?:block \d+: )*block (\d+): (.*)$/.exec(line);
    if (!m) continue;
    const [at, what] = [Number(m[1]), m[2]!];
    if (what === '** End of File **') endedAt = at;
    else if (what !== '** Block of NULs **') listed.add(at);
  }
  return endedAt === undefined ? { listed } : { listed, endedAt };
}

/**
 * The first member whose bytes were not as many as its header said, read from the listing of the
 * layout's archive: the member before the first one tar did not list where it belongs, else the
 * last one if the input's length is wrong. Undefined when the listing is as it should be.
 */
export function firstAstray<T extends TarEntry>(layout: ArchiveLayout<T>, listing: Listing): { member: LaidOutMember<T>; more: boolean } | undefined {
  const { members, blocks } = layout;
  const missing = members.findIndex((m) => !listing.listed.has(m.listedAt));
  if (missing < 0 && listing.endedAt === blocks) return undefined;
  const member = members[Math.max(0, (missing < 0 ? members.length : missing) - 1)]!;
  // A stream that ends early (or a file that decodes short, and swallows what follows) leaves fewer blocks.
  return { member, more: (listing.endedAt ?? 0) >= blocks };
}

/**
 * Reads a checksum file as projects publish them: a bare digest (dl.k8s.io's `.sha256`), or lines of
 * `<digest>  <name>` (sha256sum output: SHA256SUMS, `.sha256sum`), where the name may carry a `*`
 * (binary mode) or a `./` or a path. Returns the digest for `entry`, or the file's only, unnamed digest.
 */
export function digestFromChecksumFile(text: string, entry: string, hexLength: number): string | undefined {
  const rows = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [digest = '', ...rest] = l.split(/\s+/);
      const name = rest.join(' ').replace(/^\*/, '').split('/').at(-1) ?? '';
      return { digest: digest.toLowerCase(), name };
    })
    .filter((r) => new RegExp(`^[0-9a-f]{${hexLength}}$`).test(r.digest));
  const named = rows.find((r) => r.name === entry);
  // A lone digest without a name (dl.k8s.io's .sha256 holds nothing else) is the file's.
  return named?.digest ?? (rows.length === 1 && rows[0]!.name === '' ? rows[0]!.digest : undefined);
}

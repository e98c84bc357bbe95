/**
 * Files read by the shell itself, in the fact command and probes: each `cat` is a process on every
 * host on every run (a fork and an exec, 1-3 ms of the host's CPU), and a no-op run reads dozens.
 * For small text files (/proc values, /etc/hosts); not for binary content (the shell drops NULs).
 */

/** A one-line file's first line, with a newline. */
export function readLine(file: string): string {
  return `IFS= read -r ks_v < ${file} && printf '%s\\n' "$ks_v"`;
}

/**
 * A text file's exact content, as `cat` prints it: every full line, then the last one even without
 * its newline (read leaves it in the variable at the end of the file). A missing file prints
 * nothing, as the redirection fails before the loop runs.
 */
export function readFile(file: string): string {
  return `{ while IFS= read -r ks_l; do printf '%s\\n' "$ks_l"; done; printf '%s' "$ks_l"; } < ${file}`;
}

/**
 * OpenSSH's host pattern lists (match_hostname), as known_hosts lines and ssh_config's Host lines
 * use them: a negated pattern that matches rules the name out, else any pattern that matches rules
 * it in. `*` is any run of characters, `?` exactly one, everything else literal; names compare
 * without case.
 */
export function hostPatternsMatch(patterns: readonly string[], name: string): boolean {
  if (patterns.some((p) => p.startsWith('!') && globMatches(p.slice(1), name))) return false;
  return patterns.some((p) => !p.startsWith('!') && globMatches(p, name));
}

function globMatches(pattern: string, name: string): boolean {
  const re = pattern
    .toLowerCase()
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(name.toLowerCase());
}

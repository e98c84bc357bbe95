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

/** Compiled wildcard patterns: every host's connection matches its name against every known_hosts line. */
const compiled = new Map<string, RegExp>();

function globMatches(pattern: string, name: string): boolean {
  // Most patterns are plain names (`[10.0.0.5]:2222`): compared as text, no expression built.
  if (!/[*?]/.test(pattern)) return pattern.toLowerCase() === name.toLowerCase();
  let re = compiled.get(pattern);
  if (!re) {
    const source = pattern
      .toLowerCase()
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.');
    re = new RegExp(`^${source}$`);
    compiled.set(pattern, re);
  }
  return re.test(name.toLowerCase());
}

import { basename } from 'node:path';
import { isKubeComponent, missingCompanions, removedEtcdFlag, removedFlag, removedValues, type KubeComponent, type KubeVersion, type RemovedFlag, type Version } from '../upstream/index.js';

export interface RejectedFlag {
  /** 1-based line of the flag in the rendered file. */
  line: number;
  component: KubeComponent | 'etcd';
  /** The flag, or `--flag=value` when only the value is gone (a removed admission plugin). */
  flag: string;
  removedIn: string;
  /** `incomplete`: accepted, but it does nothing without another flag (`instead` says which and why). */
  status: 'removed' | 'deprecated' | 'incomplete';
  instead: string;
}

/** The versions the binaries in a unit run at: Kubernetes components and etcd are versioned apart. */
export interface UnitVersions {
  kube: KubeVersion;
  /** Unknown etcd version (a template tree without ETCD_VERSION): etcd flags are not checked. */
  etcd?: Version;
}

type Component = KubeComponent | 'etcd';

const EXEC_DIRECTIVE = /^\s*Exec(Start|StartPre|StartPost|Reload)=/;

/**
 * Finds flags a Kubernetes binary would reject in a rendered systemd unit: every Exec*= command line
 * (with its backslash continuations) that runs one of the Kubernetes components is checked against
 * the removed-flag table for `version`.
 */
export function rejectedFlags(unitText: string, versions: UnitVersions): RejectedFlag[] {
  const lines = unitText.split('\n');
  const found: RejectedFlag[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!EXEC_DIRECTIVE.test(lines[i]!)) continue;
    const command = collectCommand(lines, i);
    const component = componentOf(command[0]?.text ?? '');
    if (component) found.push(...command.flatMap((part) => flagsIn(part, component, versions)), ...incompleteFlags(command, component));
    i = command.at(-1)?.line ?? i;
  }
  return found;
}

interface CommandPart {
  line: number;
  text: string;
}

/** The Exec line and its continuation lines, each with its index. */
function collectCommand(lines: string[], start: number): CommandPart[] {
  const parts: CommandPart[] = [];
  let i = start;
  for (;;) {
    const raw = lines[i] ?? '';
    const text = i === start ? raw.replace(EXEC_DIRECTIVE, '') : raw;
    const continued = /\\\s*$/.test(text);
    parts.push({ line: i, text: text.replace(/\\\s*$/, '') });
    if (!continued || i + 1 >= lines.length) return parts;
    i++;
  }
}

function componentOf(firstPart: string): Component | undefined {
  // systemd prefixes such as "-" or "@" may precede the executable path.
  const executable =
    firstPart
      .trim()
      .split(/\s+/)[0]
      ?.replace(/^[-@:+!]+/, '') ?? '';
  const name = basename(executable);
  return isKubeComponent(name) || name === 'etcd' ? name : undefined;
}

function flagsIn(part: CommandPart, component: Component, versions: UnitVersions): RejectedFlag[] {
  const line = part.line + 1;
  return flagTokens(part).flatMap((token): RejectedFlag[] => {
    const eq = token.indexOf('=');
    const flag = eq < 0 ? token : token.slice(0, eq);
    const removed = removedOf(component, flag, versions);
    if (removed) return [{ line, component, ...removed, flag }];
    if (component === 'etcd' || eq < 0) return [];
    return removedValues(component, flag, token.slice(eq + 1), versions.kube).map((v) => ({
      line,
      component,
      flag: `${flag}=${v.value}`,
      removedIn: v.removedIn,
      status: 'removed',
      instead: v.instead,
    }));
  });
}

/** Flags of one command line that do nothing without a companion it lacks, reported on the flag's line. */
function incompleteFlags(command: readonly CommandPart[], component: Component): RejectedFlag[] {
  if (component === 'etcd') return [];
  const lineOf = new Map(command.flatMap((part) => flagTokens(part).map((t) => [t.split('=')[0]!, part.line + 1] as const)));
  return missingCompanions(component, new Set(lineOf.keys())).map((c) => ({
    line: lineOf.get(c.flag)!,
    component,
    flag: c.flag,
    removedIn: '',
    status: 'incomplete',
    instead: `add ${c.needs}: ${c.why}`,
  }));
}

function flagTokens(part: CommandPart): string[] {
  return part.text
    .split(/\s+/)
    .filter((token) => token.startsWith('--'))
    .map((token) => token.replace(/^["']/, ''));
}

function removedOf(component: Component, flag: string, versions: UnitVersions): RemovedFlag | undefined {
  if (component !== 'etcd') return removedFlag(component, flag, versions.kube);
  return versions.etcd ? removedEtcdFlag(flag, versions.etcd) : undefined;
}

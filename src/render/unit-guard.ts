import { basename } from 'node:path';
import type { KubeVersion } from '../config/kube-version.js';
import { isKubeComponent, removedFlag, type KubeComponent } from './kube-flags.js';

export interface RejectedFlag {
  /** 1-based line of the flag in the rendered file. */
  line: number;
  component: KubeComponent;
  flag: string;
  removedIn: string;
  status: 'removed' | 'deprecated';
  instead: string;
}

const EXEC_DIRECTIVE = /^\s*Exec(Start|StartPre|StartPost|Reload)=/;

/**
 * Finds flags a Kubernetes binary would reject in a rendered systemd unit: every Exec*= command line
 * (with its backslash continuations) that runs one of the Kubernetes components is checked against
 * the removed-flag table for `version`.
 */
export function rejectedFlags(unitText: string, version: KubeVersion): RejectedFlag[] {
  const lines = unitText.split('\n');
  const found: RejectedFlag[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!EXEC_DIRECTIVE.test(lines[i]!)) continue;
    const command = collectCommand(lines, i);
    const component = componentOf(command[0]?.text ?? '');
    if (component) found.push(...command.flatMap((part) => flagsIn(part, component, version)));
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

function componentOf(firstPart: string): KubeComponent | undefined {
  // systemd prefixes such as "-" or "@" may precede the executable path.
  const executable = firstPart.trim().split(/\s+/)[0]?.replace(/^[-@:+!]+/, '') ?? '';
  const name = basename(executable);
  return isKubeComponent(name) ? name : undefined;
}

function flagsIn(part: CommandPart, component: KubeComponent, version: KubeVersion): RejectedFlag[] {
  return part.text
    .split(/\s+/)
    .filter((token) => token.startsWith('--'))
    .map((token) => token.replace(/^["']/, '').split('=')[0]!)
    .flatMap((flag) => {
      const removed = removedFlag(component, flag, version);
      return removed ? [{ line: part.line + 1, component, ...removed, flag }] : [];
    });
}

import { phaseRecordLine } from '../../../src/engine/host-record.js';
import { kindOf } from '../../../src/engine/kinds/index.js';
import { sha256 } from '../../../src/engine/kinds/file.js';
import { withHostsBlock } from '../../../src/engine/kinds/hosts-entries.js';
import { procPath } from '../../../src/engine/kinds/sysctl.js';
import type { Resource } from '../../../src/engine/resource.js';

/**
 * What a host that already matches `resources` prints for the engine's probe of them, section by
 * section as probeScript lays them out (`units`, `b-<kind>` for kinds probed in batch, `r<i>` for the
 * others, `pending-restarts`): the simulator's answer for a converged host. Written from each kind's
 * probe output format; test/bench/sim/converged.test.ts checks that the engine's diff finds nothing
 * to change in it. A kind the simulator cannot answer for is refused, naming it.
 */
export function convergedProbeSections(resources: readonly Resource[]): Map<string, string> {
  const sections = new Map<string, string>([['units', '']]);
  const batches = new Map<string, Resource[]>();
  const singles: Array<[string, string]> = [];
  resources.forEach((r, i) => {
    if (kindOf(r).batch) batches.set(r.kind, [...(batches.get(r.kind) ?? []), r]);
    else singles.push([`r${i}`, converged(r)]);
  });
  for (const [kind, rs] of batches) sections.set(`b-${kind}`, convergedBatch(kind, rs));
  for (const [key, body] of singles) sections.set(key, body);
  sections.set('pending-restarts', '');
  return sections;
}

/** A phase's record lines as a converged host's record holds them: what the fact command and the record probe print. */
export function recordLines(resources: readonly Resource[]): string {
  return resources.flatMap((r) => (r.kind === 'record' && (r.ids.length > 0 || Object.keys(r.fields).length > 0) ? [phaseRecordLine(r.phase, r.ids, r.restarts, r.fields)] : [])).join('\n');
}

function convergedBatch(kind: string, rs: Resource[]): string {
  switch (kind) {
    case 'file': {
      const files = rs.flatMap((r) => (r.kind === 'file' ? [r] : []));
      const stats = files.map((f) => `regular file|${f.mode.toString(8)} ${f.owner} ${f.group}|${f.path}`);
      return [...stats, '@@kubestrap-sums', ...files.map((f) => `${sha256(f.content)}  ${f.path}`)].join('\n');
    }
    case 'directory':
      return rs.flatMap((r) => (r.kind === 'directory' ? [`directory|${r.mode.toString(8)} ${r.owner} ${r.group}|${r.path}`] : [])).join('\n');
    case 'record':
      return recordLines(rs);
    case 'absent':
      return rs.map((_, i) => `${i} absent`).join('\n');
    case 'package':
      return [...new Set(rs.flatMap((r) => (r.kind === 'package' ? r.names : [])))].map((n) => `${n} ii`).join('\n');
    case 'sysctl': {
      const sysctls = rs.flatMap((r) => (r.kind === 'sysctl' ? [r] : []));
      const values = sysctls.map((r) => `${procPath(r.key)}:${r.value}`);
      return [...sysctls.map((_, i) => `${i} writable`), '@@kubestrap-sysctl-values', ...values].join('\n');
    }
    case 'kernelModule':
      return rs.map((_, i) => `${i} loaded`).join('\n');
    case 'command':
      return rs.map((_, i) => `${i} 0`).join('\n');
    default:
      throw new Error(`the simulator has no converged answer for ${kind} resources (add one to test/bench/sim/converged.ts)`);
  }
}

function converged(r: Resource): string {
  switch (r.kind) {
    case 'service':
      return `LoadState=loaded UnitFileState=${r.enabled === false ? 'disabled' : 'enabled'} ActiveState=${r.running === false ? 'inactive' : 'active'}`;
    case 'selinux':
      return 'Disabled';
    case 'hostname':
      return `${r.name}\n${r.name}`;
    case 'hostsEntries':
      return `${withHostsBlock('127.0.0.1 localhost\n', r.entries)}@@end`;
    case 'firewallOff':
    case 'swapOff':
      return '';
    default:
      throw new Error(`the simulator has no converged answer for ${r.kind} resources (add one to test/bench/sim/converged.ts)`);
  }
}

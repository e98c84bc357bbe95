import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import type { ClusterSpec, HostSpec } from '../config/cluster-spec.js';
import { ROLES, type Role } from '../config/inventory-schema.js';
import { ConfigError, TemplateError, type KubestrapError } from '../errors.js';
import { runsOn } from '../components/catalog.js';
import { componentOfFile } from '../components/files.js';
import { HELPER_NAMES, hostContext } from './host-context.js';
import { createEnvironment } from './nunjucks-env.js';
import { CompiledTemplate, type TemplateSource } from './render-template.js';
import { parseTemplateHeader, type TemplateHeader } from './template-header.js';
import { readTemplateTree, type TemplateFile } from './template-tree.js';
import { rejectedFlags } from './unit-guard.js';
import { parseVersion } from '../upstream/index.js';

/**
 * Product-mode rendering: `units/<roles>/<absolute path on the host>`. The first folder says which
 * hosts get the file: `all`, a role (`etcd`, `master`, `worker`) or several joined by `+`
 * (`master+worker`). Folders starting with `_` hold macros and partials and are not installed.
 */
export interface RenderedFile {
  /** Absolute path on the host. */
  path: string;
  content: string;
  mode: number;
  owner: string;
  group: string;
  /** Services to restart when this file changes, as its header names them (a unit file also restarts its own service). */
  restarts: string[];
  /** The template it came from, relative to the template tree. */
  template: string;
  /** Its header says `secret=true`: its content is never shown (see FileResource.secret). */
  secret: boolean;
}

export interface RenderedHost {
  host: HostSpec;
  files: RenderedFile[];
}

type RoleSelector = 'all' | Role[];

interface PlannedTemplate {
  file: TemplateFile;
  selector: RoleSelector;
  installPath: string;
  header: TemplateHeader;
  source: TemplateSource;
}

/** Values a caller adds to a host's template variables (e.g. ones derived from the host's facts). */
export type ExtraValues = (host: HostSpec) => Readonly<Record<string, string>>;

/**
 * Templates read and compiled once, rendered per host on demand: once before connecting (to refuse
 * bad templates before touching anything), again once a host's facts are known.
 */
export interface PreparedTemplates {
  problems: KubestrapError[];
  /** The host's files, or the problems its render found. */
  renderHost(host: HostSpec, extra?: Readonly<Record<string, string>>): { files: RenderedFile[]; problems: KubestrapError[] };
}

export function prepareTemplates(spec: ClusterSpec, templatesDir: string): PreparedTemplates {
  const { planned, problems } = planTemplates(templatesDir);
  problems.push(...helperCollisions(spec));
  if (problems.length) return { problems, renderHost: () => ({ files: [], problems }) };

  const env = createEnvironment(templatesDir);
  const compiled = new Map(planned.map((t) => [t, new CompiledTemplate(env, t.source)]));
  const render = (host: HostSpec, extra: Readonly<Record<string, string>>) => {
    const hostProblems: KubestrapError[] = [];
    const context = hostContext(spec, { ...host, values: { ...host.values, ...extra } });
    const files = new Map<string, RenderedFile>();
    for (const template of planned.filter((t) => selects(t.selector, host.roles))) {
      const result = compiled.get(template)!.render(context);
      if ('problems' in result) {
        hostProblems.push(...result.problems);
        continue;
      }
      hostProblems.push(...guardUnit(template, result.content, spec, host));
      const file = toRenderedFile(template, result.content);
      if (!ownerRuns(spec, host, file.path)) continue;
      const earlier = files.get(file.path);
      if (earlier && earlier.content !== file.content) hostProblems.push(conflict(file, earlier, host));
      files.set(file.path, file);
    }
    return { files: [...files.values()], problems: hostProblems };
  };
  // A run renders each host before connecting (the template check) and again with its facts: where
  // the facts change none of its values, the second render is the first one's result (half of the
  // rendering of a 1000-host no-op). Taken once: a render kept for a host is not kept for the run.
  const earlier = new Map<HostSpec, { values: string; result: ReturnType<typeof render> }>();
  const renderHost = (host: HostSpec, extra: Readonly<Record<string, string>> = {}) => {
    const values = JSON.stringify(extra);
    const kept = earlier.get(host);
    earlier.delete(host);
    if (kept?.values === values) return kept.result;
    const result = render(host, extra);
    if (kept === undefined) earlier.set(host, { values, result });
    return result;
  };
  return { problems, renderHost };
}

/**
 * A file whose component the cluster's settings keep off this host (haproxy's configuration outside
 * LB mode, flanneld's unit on a podless master in kube mode) is not the host's: no phase installs
 * it, so `render` does not show it either.
 */
function ownerRuns(spec: ClusterSpec, host: HostSpec, path: string): boolean {
  const owner = componentOfFile(path);
  return owner === undefined || runsOn(spec, host, owner);
}

export function renderCluster(spec: ClusterSpec, templatesDir: string, extra: ExtraValues = () => ({})): { hosts: RenderedHost[]; problems: KubestrapError[] } {
  const prepared = prepareTemplates(spec, templatesDir);
  if (prepared.problems.length) return { hosts: [], problems: prepared.problems };
  const problems: KubestrapError[] = [];
  const hosts = spec.hosts.map((host) => {
    const rendered = prepared.renderHost(host, extra(host));
    // The same template problem shows once, not once per host.
    problems.push(...rendered.problems.filter((p) => !problems.some((q) => q.format() === p.format())));
    return { host, files: rendered.files };
  });
  return problems.length ? { hosts: [], problems } : { hosts, problems };
}

/** Reads each template once and works out where it installs; problems here concern the tree itself. */
function planTemplates(root: string): { planned: PlannedTemplate[]; problems: KubestrapError[] } {
  const planned: PlannedTemplate[] = [];
  const tree = readTemplateTree(root);
  const problems: KubestrapError[] = [...tree.problems];
  for (const file of tree.files) {
    const [top = '', ...rest] = file.rel.split('/');
    if (top.startsWith('_')) continue;
    const selector = parseSelector(top);
    if (rest.length === 0 || !selector) {
      problems.push(
        new TemplateError(
          file.rel,
          undefined,
          undefined,
          rest.length === 0 ? 'is not inside a role folder' : `"${top}" is not a role folder`,
          `put templates under all/, ${ROLES.join('/, ')}/ or a combination such as master+worker/, followed by the path on the host`,
        ),
      );
      continue;
    }
    try {
      const split = parseTemplateHeader(readFileSync(file.source, 'utf8'), file.rel);
      planned.push({
        file,
        selector,
        installPath: posix.join('/', ...rest),
        header: split.header,
        source: { file: file.rel, body: split.body, lineOffset: split.lineOffset },
      });
    } catch (err) {
      if (err instanceof TemplateError) problems.push(err);
      else throw err;
    }
  }
  return { planned, problems };
}

function parseSelector(folder: string): RoleSelector | undefined {
  if (folder === 'all') return 'all';
  const roles = folder.split('+');
  return roles.every((r): r is Role => (ROLES as readonly string[]).includes(r)) ? roles : undefined;
}

function selects(selector: RoleSelector, roles: readonly Role[]): boolean {
  return selector === 'all' || selector.some((r) => roles.includes(r));
}

function toRenderedFile(t: PlannedTemplate, content: string): RenderedFile {
  const executable = (t.file.mode & 0o111) !== 0;
  return {
    path: t.installPath,
    content,
    mode: t.header.mode ?? (executable ? 0o755 : 0o644),
    owner: t.header.owner ?? 'root',
    group: t.header.group ?? 'root',
    restarts: t.header.restarts,
    template: t.file.rel,
    secret: t.header.secret ?? false,
  };
}

function guardUnit(t: PlannedTemplate, content: string, spec: ClusterSpec, host: HostSpec): TemplateError[] {
  if (!t.installPath.endsWith('.service')) return [];
  const etcd = parseVersion(host.values.ETCD_VERSION ?? '');
  return rejectedFlags(content, { kube: spec.kubeVersion, ...(etcd ? { etcd } : {}) }).map((r) => {
    const [project, version] = r.component === 'etcd' ? ['etcd', etcd!] : ['Kubernetes', spec.kubeVersion];
    return new TemplateError(
      t.file.rel,
      undefined,
      r.flag,
      r.status === 'removed'
        ? `${r.component} ${version.tag} rejects ${r.flag} (removed in ${project} ${r.removedIn}); rendered for ${host.name} at line ${r.line}`
        : r.status === 'incomplete'
          ? `${r.component}'s ${r.flag} does nothing as rendered; rendered for ${host.name} at line ${r.line}`
          : `${r.flag} is deprecated since ${project} ${r.removedIn} and kubestrap does not emit it; rendered for ${host.name} at line ${r.line}`,
      r.instead,
    );
  });
}

/** Two role folders may install the same path on a host only with the same content. */
function conflict(file: RenderedFile, earlier: RenderedFile, host: HostSpec): TemplateError {
  return new TemplateError(
    file.template,
    undefined,
    undefined,
    `installs ${file.path} on ${host.name}, as ${earlier.template} does, with other content`,
    'keep one template per path, or make both render the same content',
  );
}

function helperCollisions(spec: ClusterSpec): ConfigError[] {
  // Not a set of every host's keys: 1000 hosts have hundreds of thousands.
  return HELPER_NAMES.filter((name) => spec.hosts.some((h) => Object.hasOwn(h.values, name))).map(
    (name) => new ConfigError(spec.configFile, undefined, name, `collides with the template helper "${name}"`, 'rename the property (properties are usually UPPER_CASE)'),
  );
}

import fs from 'node:fs';
import path from 'node:path';
import { sh } from './run.js';

/**
 * RPMs made with the real rpmbuild around files taken from Debian packages: what the lab's EL hosts
 * install with dnf or yum. rpmbuild's automatic dependencies are off (the libraries those files
 * link against belong to the hosts' Debian base, which no rpm package owns); what an RPM needs from
 * the lab's other RPMs it says in `requires`.
 */
export interface RpmSpec {
  name: string;
  epoch?: number;
  version: string;
  release: string;
  arch: 'x86_64' | 'noarch';
  summary: string;
  description: string;
  requires?: readonly string[];
  provides?: readonly string[];
  obsoletes?: readonly string[];
  /** %pre scriptlet, e.g. the system group a unit needs. */
  pre?: string;
}

/** Debian's control fields of a .deb (Package, Version, Depends, Architecture, ...). */
export async function debFields(deb: string): Promise<Record<string, string>> {
  const text = (await sh`dpkg-deb -f ${deb}`).stdout;
  return parseControl(text)[0] ?? {};
}

/** Paragraphs of a Debian control file (Packages, dpkg status), continuation lines joined. */
export function parseControl(text: string): Array<Record<string, string>> {
  return text
    .split(/\n\s*\n/)
    .filter((p) => p.trim())
    .map((para) => {
      const out: Record<string, string> = {};
      let key = '';
      for (const line of para.split('\n')) {
        if (/^\s/.test(line) && key) out[key] += `\n${line.trim()}`;
        else {
          const m = /^([\w-]+):\s*(.*)$/.exec(line);
          if (m) out[(key = m[1]!)] = m[2]!;
        }
      }
      return out;
    });
}

/** `name (>= 1) | other, third` -> [['name', 'other'], ['third']]: names only, arch qualifiers dropped. */
export function dependencyGroups(field: string | undefined): string[][] {
  if (!field) return [];
  return field
    .split(',')
    .map((group) =>
      group
        .split('|')
        .map((alt) => alt.trim().split(/[\s(]/)[0]!.replace(/:\w+$/, ''))
        .filter(Boolean),
    )
    .filter((group) => group.length > 0);
}

/** Debian `[epoch:]upstream[-revision]` as RPM's epoch, version and release. */
export function rpmVersion(debVersion: string): { epoch?: number; version: string; release: string } {
  const m = /^(?:(\d+):)?(.+?)(?:-([^-]+))?$/.exec(debVersion);
  if (!m) throw new Error(`cannot read Debian version '${debVersion}'`);
  return { ...(m[1] ? { epoch: Number(m[1]) } : {}), version: m[2]!, release: `${m[3] ?? '0'}.kslab` };
}

/**
 * Paths a Debian package ships that an EL system has no use for (documentation, lintian, SysV
 * init scripts), left out of the RPMs.
 */
const DROPPED = /^\/(usr\/share\/(doc|doc-base|man|info|lintian|bug)|etc\/init\.d)(\/|$)/;

/** Bookworm is merged-/usr: /bin, /sbin, /lib are links into /usr, and rpm must write through them, not replace them. */
function mergedUsr(p: string): string {
  return p.replace(/^\/(bin|sbin|lib|lib32|lib64|libx32)(\/|$)/, '/usr/$1$2');
}

/**
 * Extracts `deb` into `staging`, mapped to where the files land on a merged-/usr system, keeping
 * only the paths `keep` accepts. Returns the paths Debian marks as configuration (conffiles).
 */
export async function stageDeb(deb: string, staging: string, keep: (p: string) => boolean): Promise<string[]> {
  const raw = `${staging}.deb-${path.basename(deb)}`;
  fs.rmSync(raw, { recursive: true, force: true });
  fs.mkdirSync(`${raw}/data`, { recursive: true });
  try {
    await sh`dpkg-deb -x ${deb} ${raw}/data`;
    await sh`dpkg-deb -e ${deb} ${raw}/control`;
    for (const rel of walk(`${raw}/data`)) {
      const from = path.join(raw, 'data', rel);
      const to = mergedUsr(`/${rel}`);
      if (DROPPED.test(to) || !keep(to)) continue;
      const dest = path.join(staging, to);
      const st = fs.lstatSync(from);
      if (st.isDirectory()) {
        // Empty ones too (a state dir the package owns), with the package's permissions.
        fs.mkdirSync(dest, { recursive: true });
        fs.chmodSync(dest, st.mode & 0o7777);
        continue;
      }
      if (fs.lstatSync(dest, { throwIfNoEntry: false })) throw new Error(`${path.basename(deb)}: ${to} is shipped twice (two debs of one RPM, or /${rel} and its /usr twin)`);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.renameSync(from, dest);
    }
    const conffiles = path.join(raw, 'control', 'conffiles');
    if (!fs.existsSync(conffiles)) return [];
    return fs
      .readFileSync(conffiles, 'utf8')
      .split('\n')
      .map((l) => l.replace(/^remove-on-upgrade\s+/, '').trim())
      .filter((p) => p && !DROPPED.test(p) && keep(p))
      .map(mergedUsr);
  } finally {
    fs.rmSync(raw, { recursive: true, force: true });
  }
}

/** Relative paths under `dir`, parents before children. */
function walk(dir: string, rel = ''): string[] {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const p = rel ? `${rel}/${e.name}` : e.name;
    return e.isDirectory() ? [p, ...walk(dir, p)] : [p];
  });
}

/** Names rpm's %files accepts literally (no globs, spaces or macros to escape). */
const PLAIN_PATH = /^\/[\w./+@:,=~-]+$/;

/**
 * The %files list: every file and link of `staging`, configuration files marked noreplace, and the
 * directories that `base` (the host's root filesystem) lacks, so removing the RPM removes them.
 */
function filesSection(staging: string, conffiles: readonly string[], base: string): string[] {
  const lines: string[] = [];
  for (const rel of walk(staging)) {
    const p = `/${rel}`;
    if (!PLAIN_PATH.test(p)) throw new Error(`${p}: rpm %files needs escaping for this name; extend rpm-build.ts`);
    if (fs.lstatSync(path.join(staging, rel)).isDirectory()) {
      if (!fs.lstatSync(path.join(base, rel), { throwIfNoEntry: false })) lines.push(`%dir ${p}`);
    } else lines.push(conffiles.includes(p) ? `%config(noreplace) ${p}` : p);
  }
  return lines;
}

/** Builds `spec` around the files in `staging` into `outDir`; returns the RPM's path. */
export async function buildRpm(spec: RpmSpec, staging: string, conffiles: readonly string[], base: string, outDir: string): Promise<string> {
  const top = `${staging}.top`;
  fs.rmSync(top, { recursive: true, force: true });
  fs.mkdirSync(top, { recursive: true });
  const files = filesSection(staging, conffiles, base);
  const units = files.some((f) => /\/lib\/systemd\/system\//.test(f));
  const text = [
    `Name: ${spec.name}`,
    ...(spec.epoch === undefined ? [] : [`Epoch: ${spec.epoch}`]),
    `Version: ${spec.version}`,
    `Release: ${spec.release}`,
    `Summary: ${spec.summary}`,
    'License: see the Debian package it was made from',
    `BuildArch: ${spec.arch}`,
    'AutoReqProv: no',
    ...(spec.requires ?? []).map((r) => `Requires: ${r}`),
    ...(spec.provides ?? []).map((r) => `Provides: ${r}`),
    ...(spec.obsoletes ?? []).map((r) => `Obsoletes: ${r}`),
    '',
    '%description',
    spec.description,
    '',
    ...(spec.pre ? ['%pre', spec.pre, ''] : []),
    // What EL's systemd scriptlets do on install: units are known at once, none is enabled or started.
    ...(units ? ['%post', 'if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || :; fi', ''] : []),
    '%install',
    `cp -a ${staging}/. %{buildroot}/`,
    '',
    '%files',
    ...files,
    '',
  ].join('\n');
  const specFile = path.join(top, `${spec.name}.spec`);
  fs.writeFileSync(specFile, text);
  const defines = [
    `_topdir ${top}`,
    // Fast payload compression; no stripping, debuginfo or build-id links: the files are Debian's as they are.
    '_binary_payload w3.zstdio',
    'debug_package %{nil}',
    '__os_install_post %{nil}',
    '_build_id_links none',
  ].flatMap((d) => ['--define', d]);
  try {
    await sh`rpmbuild -bb --quiet ${defines} ${specFile}`;
  } catch (e) {
    throw new Error(`rpmbuild of ${spec.name} failed (spec kept in ${specFile}): ${(e as { stderr?: string }).stderr?.trim() ?? e}`);
  }
  const arch = path.join(top, 'RPMS', spec.arch);
  const [rpm] = fs.readdirSync(arch).filter((f) => f.endsWith('.rpm'));
  if (!rpm) throw new Error(`rpmbuild of ${spec.name} produced no RPM in ${arch}`);
  const out = path.join(outDir, rpm);
  fs.renameSync(path.join(arch, rpm), out);
  fs.rmSync(top, { recursive: true, force: true });
  return out;
}

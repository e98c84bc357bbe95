import fs from 'node:fs';
import path from 'node:path';
import { sh } from './run.js';

/**
 * An apt of the lab's own: its sources list, state, lists and cache in one folder, so the lab can
 * read suites this machine does not use (Debian's unstable) without touching the machine's
 * /etc/apt or /var/lib/apt, and the machine's apt never sees them.
 *
 * Everything is in an apt.conf that apt reads through APT_CONFIG: `-o Dir::...` options are applied
 * only after apt has read /etc/apt/apt.conf.d, whereas APT_CONFIG is read first and can point
 * `Dir::Etc::Parts` (and the main config file) away from the machine's.
 */
export interface OwnAptOptions {
  /** sources.list lines; a remote one names its keyring with `signed-by`. */
  sources: readonly string[];
  /** The dpkg status apt resolves against (what counts as installed); default an empty one. */
  status?: string;
  /** Settings taken over as they are, e.g. from the machine's apt (see machineAcquireSettings). */
  settings?: Readonly<Record<string, string>>;
}

export interface OwnApt {
  dir: string;
  /** Runs `apt-get ARGS` (in `cwd`, where `apt-get download` writes) on this configuration; its stdout. */
  aptGet(args: readonly string[], cwd?: string): Promise<string>;
}

/** The machine's Debian architecture (amd64, arm64): what apt downloads for. */
export async function debianArch(): Promise<string> {
  return (await sh`dpkg --print-architecture`).stdout.trim();
}

/** Writes the configuration into `dir` (kept: its lists and cache make the next update cheap). */
export async function ownApt(dir: string, opts: OwnAptOptions): Promise<OwnApt> {
  const d = {
    parts: path.join(dir, 'apt.conf.d'),
    sourceParts: path.join(dir, 'sources.list.d'),
    preferenceParts: path.join(dir, 'preferences.d'),
    trustedParts: path.join(dir, 'trusted.gpg.d'),
    state: path.join(dir, 'state'),
    lists: path.join(dir, 'state', 'lists'),
    cache: path.join(dir, 'cache'),
    archives: path.join(dir, 'cache', 'archives'),
    log: path.join(dir, 'log'),
  };
  for (const folder of [...Object.values(d), path.join(d.lists, 'partial'), path.join(d.archives, 'partial')]) fs.mkdirSync(folder, { recursive: true });
  const status = opts.status ?? path.join(dir, 'state', 'status');
  if (!opts.status) fs.writeFileSync(status, '');
  const sourceList = path.join(dir, 'sources.list');
  fs.writeFileSync(sourceList, `${opts.sources.join('\n')}\n`);
  const settings: Record<string, string> = {
    'Dir::Etc::main': '/dev/null',
    'Dir::Etc::Parts': d.parts,
    'Dir::Etc::SourceList': sourceList,
    'Dir::Etc::SourceParts': d.sourceParts,
    'Dir::Etc::Preferences': '/dev/null',
    'Dir::Etc::PreferencesParts': d.preferenceParts,
    'Dir::Etc::Trusted': '/dev/null',
    'Dir::Etc::TrustedParts': d.trustedParts,
    'Dir::State': d.state,
    'Dir::State::Lists': d.lists,
    'Dir::State::status': status,
    'Dir::Cache': d.cache,
    'Dir::Cache::Archives': d.archives,
    'Dir::Log': d.log,
    'APT::Architecture': await debianArch(),
    // Only the Packages index: no translations, no AppStream metadata.
    'Acquire::Languages': 'none',
    ...opts.settings,
  };
  const conf = path.join(dir, 'apt.conf');
  fs.writeFileSync(
    conf,
    Object.entries(settings)
      .map(([key, value]) => `${key} "${value}";\n`)
      .join(''),
  );
  const env = { ...process.env, APT_CONFIG: conf, DEBIAN_FRONTEND: 'noninteractive' };
  return {
    dir,
    aptGet: async (args, cwd = dir) => (await sh({ env, cwd })`apt-get ${args}`).stdout,
  };
}

/**
 * The few settings of the machine's own apt that say how to reach its mirror: a proxy, and whether
 * a Release file past its Valid-Until is accepted (off on machines whose mirror is a snapshot that
 * lags the clock, as on the machine this was written on). Signatures are checked either way.
 */
export async function machineAcquireSettings(): Promise<Record<string, string>> {
  const keys = ['Acquire::Check-Valid-Until', 'Acquire::http::Proxy', 'Acquire::https::Proxy'];
  const settings: Record<string, string> = {};
  for (const key of keys) {
    // The key's own value comes first; what follows are its sub-keys (a proxy per host).
    const value = (await sh`apt-config dump --format ${'%v%n'} ${key}`).stdout.split('\n')[0]?.trim();
    if (value) settings[key] = value;
  }
  return settings;
}

import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The tools a fake host runs in place of the real ones, as sh scripts: systemd (each unit a folder of
 * flag files: `loaded`, `enabled`, `active`, `failed`, and the model's `broken` and `unready`, read
 * and changed by `systemctl` and `journalctl` stand-ins), `ip` (the host's address) and two of the
 * tests' own (`fake-ready`, `note`). The engine's scripts (the probe's one `systemctl show` for all
 * units, a start with its readiness wait, a try-restart's `is-active`) run unchanged against them,
 * so a test sees what the engine really sends do what systemd would do with it.
 *
 * The tools read the variables the fake host sets: KS_FAKE_HOST (its name), KS_FAKE_ADDRESS (its
 * IPv4 address), KS_FAKE_UNITS (the unit folders) and KS_FAKE_EVENTS (a log shared by the cluster's
 * hosts, one `<host> <event>` line each for every change of state, so a test can tell which host did
 * what, in which order).
 */

/** A unit as a test describes it. Everything defaults to false except `installed`. */
export interface UnitModel {
  /** systemd knows the unit (its unit file is installed); default true. */
  installed?: boolean;
  enabled?: boolean;
  active?: boolean;
  /** Every start and restart fails (the unit exits at once), with its journal. */
  broken?: boolean;
  /** It runs, but its readiness check (`fake-ready <unit>`) never passes. */
  unready?: boolean;
}

/** What a test reads back: the state systemd would report. */
export interface UnitState {
  enabled: boolean;
  active: boolean;
  failed: boolean;
}

/** The flags a unit's folder may hold; `installed` is spelt `loaded`, as systemd's LoadState. */
const FLAGS = { installed: 'loaded', enabled: 'enabled', active: 'active', broken: 'broken', unready: 'unready' } as const;

export function writeUnit(units: string, name: string, model: UnitModel): void {
  const dir = join(units, name);
  mkdirSync(dir, { recursive: true });
  const wanted = { ...model, installed: model.installed ?? true };
  for (const [key, flag] of Object.entries(FLAGS)) {
    if (wanted[key as keyof UnitModel]) writeFileSync(join(dir, flag), '');
    else rmSync(join(dir, flag), { force: true });
  }
}

export function readUnit(units: string, name: string): UnitState {
  const has = (flag: string) => existsSync(join(units, name, flag));
  return { enabled: has('enabled'), active: has('active'), failed: has('failed') };
}

/**
 * Shared by the tools: a unit's flags (`x.service` and `x` are one unit; only an installed unit,
 * whose folder exists, gets any) and the event log. Shell builtins only where they are read: the
 * probe asks for every unit's state, and each process is time a test waits for.
 */
const PRELUDE = `has() { [ -e "$KS_FAKE_UNITS/\${1%.service}/$2" ]; }
flag() { : > "$KS_FAKE_UNITS/\${1%.service}/$2"; }
unflag() { rm -f "$KS_FAKE_UNITS/\${1%.service}/$2"; }
event() { printf '%s %s\\n' "$KS_FAKE_HOST" "$*" >> "$KS_FAKE_EVENTS"; }`;

/** One property line of \`systemctl show\`, as systemd prints it for the unit's flags. */
const SHOW_PROPERTY = `prop() {
  case $2 in
    Id) case $1 in *.*) echo "Id=$1" ;; *) echo "Id=$1.service" ;; esac ;;
    LoadState) if has "$1" loaded; then echo LoadState=loaded; else echo LoadState=not-found; fi ;;
    UnitFileState) if ! has "$1" loaded; then echo UnitFileState=; elif has "$1" enabled; then echo UnitFileState=enabled; else echo UnitFileState=disabled; fi ;;
    ActiveState) if has "$1" active; then echo ActiveState=active; elif has "$1" failed; then echo ActiveState=failed; else echo ActiveState=inactive; fi ;;
    SubState) if has "$1" active; then echo SubState=running; elif has "$1" failed; then echo SubState=failed; else echo SubState=dead; fi ;;
  esac
}`;

/**
 * \`systemctl VERB [-q] [-p PROP]... [--] UNIT...\`: the verbs the engine uses. A start of a unit that
 * is not installed fails as systemd's does; a verb the fake does not know fails loudly, so a test
 * never passes on a command that did nothing.
 */
const SYSTEMCTL = `${PRELUDE}
${SHOW_PROPERTY}
verb=$1; shift
props= now=
while [ $# -gt 0 ]; do
  case $1 in
    -p) props="$props $2"; shift 2 ;;
    -q) shift ;;
    --now) now=1; shift ;;
    --) shift; break ;;
    *) break ;;
  esac
done
case $verb in
  show)
    first=1
    for u; do
      [ $first = 1 ] || echo
      first=0
      for p in $props; do prop "$u" "$p"; done
    done ;;
  is-active)
    rc=3
    for u; do if has "$u" active; then echo active; rc=0; else echo inactive; fi; done
    exit $rc ;;
  is-failed)
    for u; do has "$u" failed && exit 0; done
    exit 1 ;;
  start|restart)
    for u; do
      event "$verb \${u%.service}"
      has "$u" loaded || { echo "Unit \${u%.service}.service not found." >&2; exit 5; }
      if has "$u" broken; then
        unflag "$u" active; flag "$u" failed
        echo "Job for \${u%.service}.service failed because the control process exited with error code." >&2
        exit 1
      fi
      flag "$u" active; unflag "$u" failed
    done ;;
  stop) for u; do event "stop \${u%.service}"; unflag "$u" active; done ;;
  enable|unmask)
    for u; do
      event "$verb \${u%.service}"
      has "$u" loaded || { echo "Unit file \${u%.service}.service does not exist." >&2; exit 1; }
      [ "$verb" = unmask ] || flag "$u" enabled
    done ;;
  disable)
    for u; do
      event "disable \${u%.service}"; unflag "$u" enabled
      [ -z "$now" ] || { event "stop \${u%.service}"; unflag "$u" active; }
    done ;;
  daemon-reload) event daemon-reload ;;
  *) echo "fake systemctl: $verb is not modelled" >&2; exit 1 ;;
esac`;

/** `journalctl -u UNIT ...`: a line that names the unit and the host, where a failed start shows it. */
const JOURNALCTL = `while [ $# -gt 0 ]; do [ "$1" = -u ] && { unit=$2; break; }; shift; done
echo "\${unit:-?}: exited (fake journal of $KS_FAKE_HOST)"`;

/** A service's readiness check for tests (`fake-ready <unit>`): ready when it runs and the model does not say otherwise. */
const FAKE_READY = `${PRELUDE}
if has "$1" active && ! has "$1" unready; then event "ready $1"; exit 0; fi
event "not-ready $1"
exit 1`;

/** `note WORDS...`: a script's own line in the event log (what a cluster action ran, and where). */
const NOTE = `${PRELUDE}
event "$*"`;

/** `ip -o -4 addr show`, as the facts read it: loopback and the host's one address. */
const IP = `printf '1: lo    inet 127.0.0.1/8 scope host lo\\n2: eth0    inet %s/24 scope global eth0\\n' "$KS_FAKE_ADDRESS"`;

/** The tools a fake host puts first on its PATH (name → sh body). */
export const FAKE_TOOLS: Readonly<Record<string, string>> = { systemctl: SYSTEMCTL, journalctl: JOURNALCTL, ip: IP, 'fake-ready': FAKE_READY, note: NOTE };

import { TemplateError } from '../errors.js';

/**
 * An optional first line of a template that says how its file is installed:
 *   {# kubestrap: mode=0600 owner=root group=root restarts=kubelet,kube-proxy secret=true #}
 * `restarts` names the services to restart when the file changes (a unit file restarts its own
 * service without saying so). `secret=true` keeps its content out of every plan and log even when
 * its mode lets others read it (a file whose mode gives nothing to group and others is secret anyway).
 */
export interface TemplateHeader {
  mode?: number;
  owner?: string;
  group?: string;
  restarts: string[];
  secret?: boolean;
}

const HEADER = /^\{#-?\s*kubestrap:(.*?)-?#\}[ \t]*\r?\n?/;
const FIELDS = ['mode', 'owner', 'group', 'restarts', 'secret'] as const;

export interface HeaderSplit {
  header: TemplateHeader;
  body: string;
  /** Lines removed before `body`: add it to a line number in `body` to point into the file. */
  lineOffset: number;
}

export function parseTemplateHeader(source: string, file: string): HeaderSplit {
  const match = HEADER.exec(source);
  if (!match) return { header: { restarts: [] }, body: source, lineOffset: 0 };
  const header: TemplateHeader = { restarts: [] };
  for (const field of match[1]!.trim().split(/\s+/).filter(Boolean)) {
    const [name, value = ''] = field.split('=', 2) as [string, string?];
    applyField(header, name, value, file);
  }
  return { header, body: source.slice(match[0].length), lineOffset: match[0].endsWith('\n') ? 1 : 0 };
}

function applyField(header: TemplateHeader, name: string, value: string, file: string): void {
  switch (name) {
    case 'mode':
      if (!/^0?[0-7]{3,4}$/.test(value)) throw headerError(file, `mode "${value}" is not an octal file mode`, 'write e.g. mode=0600');
      header.mode = parseInt(value, 8);
      return;
    case 'owner':
    case 'group':
      if (!/^[a-z_][a-z0-9_-]*$/.test(value)) throw headerError(file, `${name} "${value}" is not a user or group name`, `write e.g. ${name}=root`);
      header[name] = value;
      return;
    case 'restarts': {
      const services = value.split(',').filter(Boolean);
      // Each name becomes an operand of systemctl: a unit name, never something read as an option.
      const bad = services.find((s) => !/^[A-Za-z0-9_][A-Za-z0-9_.@:-]*$/.test(s));
      if (bad !== undefined) throw headerError(file, `restarts "${bad}" is not a service name`, 'write systemd unit names separated by commas, e.g. restarts=kubelet,kube-proxy');
      header.restarts = services;
      return;
    }
    case 'secret':
      if (value !== 'true' && value !== 'false') throw headerError(file, `secret "${value}" is not true or false`, 'write secret=true');
      header.secret = value === 'true';
      return;
    default:
      throw headerError(file, `unknown header field "${name}"`, `use ${FIELDS.join(', ')}`);
  }
}

function headerError(file: string, message: string, hint: string): TemplateError {
  return new TemplateError(file, 1, undefined, message, hint);
}

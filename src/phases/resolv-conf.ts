import { defineFact, readFact, type HostFacts } from '../engine/facts.js';

/**
 * The resolv.conf the kubelet gives pods that use the node's DNS (CoreDNS among them, which
 * forwards what is not the cluster's to the servers named there).
 *
 * On hosts that run systemd-resolved (Ubuntu 20.04 and later, some Debian and EL installs),
 * /etc/resolv.conf names only its stub listener, 127.0.0.53. Inside a pod that address is the
 * pod's own loopback: CoreDNS would forward to itself, and its `loop` plugin stops it, so the
 * CoreDNS pods crash-loop. systemd-resolved writes the real upstream servers to
 * /run/systemd/resolve/resolv.conf; kubeadm points the kubelet's `resolvConf` there when
 * systemd-resolved is active (kubernetes/kubernetes cmd/kubeadm/app/componentconfigs/kubelet.go,
 * mutateResolverConfig), and so does kubestrap, from what the file says rather than from the
 * service's state: a host whose /etc/resolv.conf names real servers keeps it even when
 * systemd-resolved runs.
 */
export const RESOLVED_STUB_ADDRESS = '127.0.0.53';
export const RESOLVED_UPSTREAM_FILE = '/run/systemd/resolve/resolv.conf';

export interface ResolvConf {
  /** The `nameserver` lines of /etc/resolv.conf (through its link, as the resolver reads it). */
  nameservers: string[];
  /** Whether systemd-resolved's file of upstream servers exists. */
  upstreamFile: boolean;
}

// Shell builtins only: it runs on every worker at every run. A comment line's first word is `#...`.
const SNIPPET = [
  // A last line without its newline counts too.
  'while read -r ks_k ks_v ks_rest || [ -n "$ks_k" ]; do [ "$ks_k" = nameserver ] && printf \'nameserver %s\\n\' "$ks_v"; done 2>/dev/null < /etc/resolv.conf',
  `[ -f ${RESOLVED_UPSTREAM_FILE} ] && echo upstream-file`,
  ':',
].join('\n');

export const RESOLV_CONF_FACT = defineFact('resolv-conf', SNIPPET, parseResolvConf);

export function parseResolvConf(output: string | undefined): ResolvConf {
  const lines = (output ?? '').split('\n').map((l) => l.trim());
  return {
    nameservers: lines.filter((l) => l.startsWith('nameserver ')).map((l) => l.slice('nameserver '.length).trim()),
    upstreamFile: lines.includes('upstream-file'),
  };
}

/**
 * The kubelet's `resolvConf` for a host: systemd-resolved's upstream file where /etc/resolv.conf
 * names only the stub and that file exists; else empty, for the kubelet's own default
 * (/etc/resolv.conf). Without facts (render) a host is taken to have a plain /etc/resolv.conf.
 */
export function kubeletResolvConf(facts: HostFacts | undefined): string {
  if (!facts) return '';
  const { nameservers, upstreamFile } = readFact(facts, RESOLV_CONF_FACT);
  const onlyStub = nameservers.length > 0 && nameservers.every((n) => n === RESOLVED_STUB_ADDRESS);
  return onlyStub && upstreamFile ? RESOLVED_UPSTREAM_FILE : '';
}

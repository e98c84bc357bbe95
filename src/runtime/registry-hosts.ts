import { HOST_PATHS } from '../components/paths.js';
import { parseCidr, splitList } from '../config/validators.js';

/**
 * containerd's registry configuration as `config_path` reads it: one `<dir>/<registry>/hosts.toml`
 * per registry (containerd's docs/hosts.md), read at every pull. Changing a mirror rewrites a file
 * and restarts nothing, which the inline `mirrors` of config.toml (deprecated) could not offer.
 */
export const REGISTRY_CONFIG_DIR = HOST_PATHS.containerdRegistryDir;

/** Marks the files kubestrap wrote, so that removing a registry removes only ours. */
export const REGISTRY_HOSTS_MARKER = '# Managed by kubestrap';

const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_SERVER = 'https://registry-1.docker.io';

export interface RegistryHostsFile {
  /** The registry as images name it: `docker.io`, `192.168.1.10:5000`. */
  registry: string;
  path: string;
  content: string;
}

/**
 * docker.io through DOCKER_REGISTRY_MIRRORS (tried in order, then Docker Hub itself), and each
 * host:port of DOCKER_INSECURE_REGISTRIES over plain HTTP without certificate checks. Networks in
 * CIDR form mean something only to Docker and are left out.
 */
export function registryHostsFiles(mirrors: string, insecure: string): RegistryHostsFile[] {
  const files: RegistryHostsFile[] = [];
  const mirrorList = splitList(mirrors);
  if (mirrorList.length) {
    files.push(
      file(
        DOCKER_HUB,
        DOCKER_HUB_SERVER,
        mirrorList.map((url) => hostBlock(url.replace(/\/+$/, ''), ['pull', 'resolve'])),
      ),
    );
  }
  for (const registry of splitList(insecure).filter((r) => !parseCidr(r))) {
    if (registry === DOCKER_HUB) continue;
    const server = `http://${registry}`;
    files.push(file(registry, server, [hostBlock(server, ['pull', 'resolve', 'push'], true)]));
  }
  return files;
}

function file(registry: string, server: string, hosts: string[]): RegistryHostsFile {
  const content = [`${REGISTRY_HOSTS_MARKER}: registry settings of ${registry} (config.properties).`, `server = ${toml(server)}`, '', ...hosts].join('\n');
  return { registry, path: `${REGISTRY_CONFIG_DIR}/${registry}/hosts.toml`, content };
}

function hostBlock(url: string, capabilities: string[], skipVerify = false): string {
  return [`[host.${toml(url)}]`, `  capabilities = [${capabilities.map(toml).join(', ')}]`, ...(skipVerify ? ['  skip_verify = true'] : []), ''].join('\n');
}

function toml(value: string): string {
  return JSON.stringify(value);
}

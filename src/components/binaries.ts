import type { Role } from '../config/inventory-schema.js';
import { isReleased, type BinaryName, type ProjectVersions } from '../upstream/index.js';
import { COMPONENT_NAMES, component, type ServiceName } from './catalog.js';

/** The inventory's roles, in the order a host with several installs their binaries. */
const ROLE_ORDER: readonly Role[] = ['etcd', 'master', 'worker'];

/**
 * The binaries a host with these roles gets from the artifacts phase, in install order: role by
 * role, each role's components in catalog order. The container runtime's come with the runtime.
 */
export function binariesForRoles(roles: readonly Role[], versions: ProjectVersions): BinaryName[] {
  const out = new Set<BinaryName>();
  for (const role of ROLE_ORDER.filter((r) => roles.includes(r))) {
    for (const name of COMPONENT_NAMES) {
      const c = component(name);
      if (c.withRuntime || !c.roles.includes(role)) continue;
      for (const b of c.binaries) if (isReleased(b, versions)) out.add(b);
    }
  }
  return [...out];
}

/** The container runtime's static binaries (containerd, runc, Docker), for installs without a package repository. */
export function runtimeBinaries(): BinaryName[] {
  return COMPONENT_NAMES.flatMap((name) => (component(name).withRuntime ? [...component(name).binaries] : []));
}

/** The service whose daemon a binary is: a new binary restarts it. Tools and plugins restart nothing. */
export function serviceOfBinary(binary: BinaryName): ServiceName | undefined {
  return COMPONENT_NAMES.find((name): name is ServiceName => component(name).service?.daemon === binary);
}

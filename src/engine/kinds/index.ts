import type { Resource, ResourceKindName } from '../resource.js';
import { absentKind } from './absent.js';
import { commandKind } from './command.js';
import { directoryKind } from './directory.js';
import { fileKind } from './file.js';
import { firewallOffKind } from './firewall-off.js';
import { hostnameKind } from './hostname.js';
import { hostsEntriesKind } from './hosts-entries.js';
import { kernelModuleKind } from './kernel-module.js';
import { localFileKind } from './local-file.js';
import type { Kind } from './kind.js';
import { packageKind } from './package.js';
import { recordKind } from './record.js';
import { selinuxKind } from './selinux.js';
import { serviceKind } from './service.js';
import { swapOffKind } from './swap-off.js';
import { sysctlKind } from './sysctl.js';

type KindOf<K extends ResourceKindName> = Kind<Extract<Resource, { kind: K }>>;

const KINDS: { [K in ResourceKindName]: KindOf<K> } = {
  absent: absentKind,
  record: recordKind,
  file: fileKind,
  localFile: localFileKind,
  directory: directoryKind,
  service: serviceKind,
  package: packageKind,
  sysctl: sysctlKind,
  kernelModule: kernelModuleKind,
  firewallOff: firewallOffKind,
  selinux: selinuxKind,
  swapOff: swapOffKind,
  hostname: hostnameKind,
  hostsEntries: hostsEntriesKind,
  command: commandKind,
};

export function kindOf<R extends Resource>(r: R): Kind<R> {
  return KINDS[r.kind] as unknown as Kind<R>;
}

/**
 * The kubestrap test lab: real little Debian servers (systemd-nspawn containers with their own
 * systemd, sshd, IP and disk) on a private bridge of this machine, for end-to-end tests and demos.
 * Test code only: nothing under src/ may import this.
 */
export type { AddHostsOptions, HostOptions, LabHost, LabInfo } from './state.js';
export type { ElFlavour, Flavour } from './flavours.js';
export { EL_RELEASES, FLAVOURS, isElFlavour, parseFlavour } from './flavours.js';
export type { LabRpmRepos } from './rpm-repo.js';
export type { LabUpOptions } from './lab.js';
export type { InventoryOptions } from './inventory.js';
export {
  addHosts,
  cutLink,
  hostExec,
  labDown,
  labInfo,
  labStatus,
  labUp,
  removeHosts,
  restoreLink,
  startHost,
  stopHost,
} from './lab.js';
export { writeInventory } from './inventory.js';
export { sshArgs } from './ssh-material.js';
export { OPSPW_PASSWORD } from './rootfs.js';

import type { ClusterSpec } from '../config/cluster-spec.js';
import { HOST_PATHS } from '../components/paths.js';
import type { RecordFields } from '../engine/host-record.js';
import type { AbsentResource } from '../engine/resource.js';
import type { PhaseName } from './phase-names.js';

/**
 * What a bring-up phase keeps in the host's record besides what it installed (the engine records
 * that itself): the cluster it was installed for and at which versions, which later runs read
 * (upgrades start from it; init and apply refuse another cluster's data).
 */
export function clusterRecord(spec: ClusterSpec, extra: RecordFields = {}): RecordFields {
  return { cluster: spec.name, kubernetes: spec.kubeVersion.tag, ...extra };
}

/** Where a phase's record was before the host record kept it (one JSON file per phase): removed once. */
export function legacyRecordPath(phase: PhaseName): string {
  return `${HOST_PATHS.recordDir}/${phase}.json`;
}

export function legacyRecordGone(phase: PhaseName): AbsentResource {
  return { kind: 'absent', of: 'file', name: legacyRecordPath(phase) };
}

/** Phases in the order a full run applies them. */
export const PHASE_ORDER = ['os', 'runtime', 'artifacts', 'pki', 'etcd', 'control-plane', 'api-lb', 'workers', 'network', 'addons', 'verify'] as const;
export type PhaseName = (typeof PHASE_ORDER)[number];

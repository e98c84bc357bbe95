import { HOST_PATHS } from '../config/host-paths.js';
import type { Resource } from '../engine/resource.js';
import { LISTENERS_FACT, LISTENERS_SNIPPET, portProblems } from '../preflight/ports.js';
import { shJoin } from '../ssh/quote.js';
import { fileResource } from './file-resource.js';
import { filesOf, namesWithRole, withRole, type Phase, type PhaseContext } from './phase.js';
import { withRecord } from './record.js';
import { HEALTH_PORTS, kubectl, runningService } from './services.js';

/** The API server's client certificate for kubelets (its CN, see pki/catalog.ts) and the binding that lets it reach them. */
const KUBELET_CLIENT_USER = 'kube-apiserver-kubelet-client';
export const KUBELET_API_BINDING = 'kubestrap:apiserver-kubelet-client';

/**
 * The control plane on every master: the API server (etcd over TLS, Node and RBAC authorization,
 * service-account keys, its client certificate for kubelets), then the controller manager and the
 * scheduler, each waited on until it answers its health endpoint; restarts go one master at a time.
 * Once the API server answers, the binding that lets it reach kubelets (logs, exec) is created,
 * once, when it is missing.
 */
export const controlPlanePhase: Phase = {
  name: 'control-plane',
  title: 'control plane',
  appliesTo: (host) => host.roles.includes('master'),
  facts: { [LISTENERS_FACT]: LISTENERS_SNIPPET },
  resources: ({ spec, host, files }: PhaseContext): Resource[] =>
    withRecord('control-plane', spec, host, [
      { kind: 'directory', path: HOST_PATHS.auditLogDir, mode: 0o700, owner: 'root', group: 'root' },
      ...filesOf('control-plane', files).map(fileResource),
      runningService(spec, host, 'kube-apiserver'),
      runningService(spec, host, 'kube-controller-manager'),
      runningService(spec, host, 'kube-scheduler'),
    ]),
  preflight: (ctx) =>
    portProblems(withRole(ctx, 'master'), () => [
      { port: Number(ctx.spec.values.KUBE_APISERVER_PORT), unit: 'kube-apiserver.service', key: 'KUBE_APISERVER_PORT' },
      { port: HEALTH_PORTS.controllerManager, unit: 'kube-controller-manager.service' },
      { port: HEALTH_PORTS.scheduler, unit: 'kube-scheduler.service' },
    ]),
  clusterActions: (ctx) => [
    {
      name: 'apiserver-kubelet-access',
      description: `let the API server reach kubelets (bind ${KUBELET_CLIENT_USER} to system:kubelet-api-admin)`,
      check: (host) => `${kubectl(host)} get clusterrolebinding ${KUBELET_API_BINDING} -o name`,
      run: (host) => `${kubectl(host)} ${shJoin(['create', 'clusterrolebinding', KUBELET_API_BINDING, '--clusterrole=system:kubelet-api-admin', `--user=${KUBELET_CLIENT_USER}`])}`,
      candidates: namesWithRole(ctx, 'master'),
      when: 'after',
      failureHint: 'check that the API server answers on that master (journalctl -u kube-apiserver)',
    },
  ],
};

/**
 * The objects of the pod check (`bootstrap health --deep`, and a run's verify step): in a namespace
 * of its own, a server pod per node serving its node's name over HTTP (busybox httpd), a Service
 * selecting them, and then a client pod per node whose command does the checks and writes one
 * result line as its termination message. No `kubectl exec` or logs: what the check learns comes
 * back in the pod status, which every API server and kubectl serve.
 */

export const POD_CHECK_NAMESPACE = 'kubestrap-health';
export const POD_CHECK_SERVICE = 'kubestrap-health';
/** The port the server pods listen on; the Service's port is 80. */
export const SERVER_PORT = 8080;
/** The label that tells servers from clients: `kubestrap-health=server|client`. */
export const ROLE_LABEL = 'kubestrap-health';
/** How long each of a client's checks retries (a new Service's rules and endpoints take a moment). */
export const CLIENT_CHECK_SECONDS = 20;

/** Placeholders the check's script fills in once the servers run: their IPs and the Service's. */
export const peerIpPlaceholder = (index: number) => `@@PEER_IP_${index}@@`;
export const SERVICE_IP_PLACEHOLDER = '@@SERVICE_IP@@';

export interface PodCheckNode {
  /** The node's name, as the kubelet registered it. */
  name: string;
}

export interface PodCheckInput {
  nodes: readonly PodCheckNode[];
  image: string;
  clusterDomain: string;
}

export const serverPodName = (index: number) => `server-${index}`;
export const clientPodName = (index: number) => `client-${index}`;

type Json = Record<string, unknown>;

/**
 * Pinned to its node (nodeName: no scheduler involved, a cordoned node is checked too), tolerating
 * every taint (a master's control-plane taint, a node still not-ready), no service-account token
 * (nothing here talks to the API), a second to stop: the check cleans up quickly.
 */
function pod(name: string, role: 'server' | 'client', node: string, image: string, script: string, env: Json[] = []): Json {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: POD_CHECK_NAMESPACE, labels: { [ROLE_LABEL]: role, 'app.kubernetes.io/managed-by': 'kubestrap' } },
    spec: {
      nodeName: node,
      tolerations: [{ operator: 'Exists' }],
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 1,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      containers: [
        {
          name: role,
          image,
          imagePullPolicy: 'IfNotPresent',
          // busybox by its full path: images differ in which applets they link.
          command: ['/bin/busybox', 'sh', '-c', script],
          ...(env.length ? { env } : {}),
          ...(role === 'server' ? { ports: [{ containerPort: SERVER_PORT, name: 'http' }] } : {}),
        },
      ],
    },
  };
}

/** The namespace, applied first: its pods wait for its default ServiceAccount, which the controller-manager makes. */
export function namespaceManifest(): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: POD_CHECK_NAMESPACE, labels: { 'app.kubernetes.io/managed-by': 'kubestrap' } } });
}

/** The Service and a server pod per node, as one List for `kubectl apply -f -`. */
export function serverManifest(input: PodCheckInput): string {
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: POD_CHECK_SERVICE, namespace: POD_CHECK_NAMESPACE },
    spec: { selector: { [ROLE_LABEL]: 'server' }, ports: [{ name: 'http', port: 80, targetPort: SERVER_PORT, protocol: 'TCP' }] },
  };
  // Each server answers with its node's name, so a client knows which pod it reached.
  const servers = input.nodes.map((n, i) =>
    pod(serverPodName(i), 'server', n.name, input.image, `mkdir -p /tmp/www && echo "$NODE" > /tmp/www/index.html && exec /bin/busybox httpd -f -p ${SERVER_PORT} -h /tmp/www`, [
      { name: 'NODE', value: n.name },
    ]),
  );
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [service, ...servers] });
}

/**
 * The client on each node: resolves kubernetes.default.svc.<domain> through the cluster DNS,
 * fetches the server pod of the next node (by its IP: pod-to-pod across nodes) and the Service's
 * IP. Each check retries for CLIENT_CHECK_SECONDS. One line as the termination message:
 * `KSRESULT node=<i> dns=ok:<address>|fail:<why> pod=ok:<node>|fail:<why>|skip svc=ok:<node>|fail:<why>`,
 * words only (the JSON that carries it needs no escapes), exit 1 when a check failed.
 */
export function clientManifest(input: PodCheckInput): string {
  const n = input.nodes.length;
  const clients = input.nodes.map((node, i) => {
    const peer = n > 1 ? (i + 1) % n : -1;
    return pod(clientPodName(i), 'client', node.name, input.image, CLIENT_SCRIPT, [
      { name: 'INDEX', value: String(i) },
      { name: 'LOOKUP', value: `kubernetes.default.svc.${input.clusterDomain}` },
      { name: 'PEER_NODE', value: peer < 0 ? '' : input.nodes[peer]!.name },
      { name: 'PEER_IP', value: peer < 0 ? '' : peerIpPlaceholder(peer) },
      { name: 'SERVICE_IP', value: SERVICE_IP_PLACEHOLDER },
    ]);
  });
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items: clients });
}

/** The client's checks (busybox sh); see clientManifest. */
const CLIENT_SCRIPT = [
  'bb=/bin/busybox',
  // A failure's last line, as one word: letters, digits and . : / _ - only.
  `word() { $bb tail -n 1 | $bb tr -c 'A-Za-z0-9.:/_-' '_' | $bb cut -c1-120; }`,
  `retry() { end=$(($($bb date +%s) + ${CLIENT_CHECK_SECONDS})); while :; do out=$("$@" 2>&1) && { printf '%s' "$out"; return 0; }; [ "$($bb date +%s)" -ge "$end" ] && { printf '%s' "$out"; return 1; }; $bb sleep 1; done; }`,
  // busybox nslookup: the answer's address follows the Name: line.
  `lookup() { $bb nslookup "$LOOKUP" | $bb awk '/^Name:/{f=1} f && /^Address/{a=$NF} END{if (a == "") exit 1; print a}'; }`,
  // Bounded by timeout, not wget's -T: Debian's static busybox 1.35 crashes on -T.
  `fetch() { $bb timeout 5 $bb wget -q -O - "http://$1/"; }`,
  'bad=0',
  'if a=$(retry lookup); then dns="ok:$(printf %s "$a" | word)"; else dns="fail:$(printf %s "$a" | word)"; bad=1; fi',
  'if [ -z "$PEER_NODE" ]; then pod=skip; elif [ -z "$PEER_IP" ]; then pod=skip:no-server; ' +
    `elif a=$(retry fetch "$PEER_IP:${SERVER_PORT}"); then if [ "$a" = "$PEER_NODE" ]; then pod=ok:$(printf %s "$a" | word); else pod="fail:answered_by_$(printf %s "$a" | word)"; bad=1; fi; ` +
    'else pod="fail:$(printf %s "$a" | word)"; bad=1; fi',
  'if a=$(retry fetch "$SERVICE_IP:80"); then svc="ok:$(printf %s "$a" | word)"; else svc="fail:$(printf %s "$a" | word)"; bad=1; fi',
  'line="KSRESULT node=$INDEX dns=$dns pod=$pod svc=$svc"',
  'echo "$line"; echo "$line" > /dev/termination-log',
  'exit $bad',
].join('\n');

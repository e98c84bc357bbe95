import { shq } from '../../ssh/quote.js';
import {
  clientManifest,
  namespaceManifest,
  clientPodName,
  peerIpPlaceholder,
  POD_CHECK_NAMESPACE,
  POD_CHECK_SERVICE,
  ROLE_LABEL,
  SERVER_PORT,
  SERVICE_IP_PLACEHOLDER,
  serverManifest,
  serverPodName,
  type PodCheckInput,
} from './manifests.js';

/** How long the servers may take to run (an image pulled from a registry included), and the clients to finish. */
export const SERVER_START_SECONDS = 120;
export const CLIENT_FINISH_SECONDS = 100;
/** How long the namespace's default ServiceAccount may take to appear. */
export const SERVICE_ACCOUNT_SECONDS = 30;
/** How long the cleanup waits for the namespace to be gone (its pods stop within a second). */
export const CLEANUP_SECONDS = 60;
/** The whole check's bound, for the command that runs it. */
export const POD_CHECK_SECONDS = CLEANUP_SECONDS * 2 + SERVICE_ACCOUNT_SECONDS + SERVER_START_SECONDS + CLIENT_FINISH_SECONDS + 30;

/** What one row line of the script holds: `ks-row<TAB>check<TAB>node<TAB>ok|FAIL<TAB>detail`. */
export const ROW_MARK = 'ks-row';

export const POD_CHECKS = { start: 'pod starts', dns: 'pod DNS', pod: 'pod to pod (other node)', service: 'pod to Service' } as const;

/** Statuses (kubectl's STATUS column: the phase or the kubelet's reason) after which a pod is not going to run. */
const SETTLED =
  'Completed|Error|ErrImagePull|ImagePullBackOff|InvalidImageName|ErrImageNeverPull|CrashLoopBackOff|CreateContainerConfigError|CreateContainerError|RunContainerError|StartError|ContainerCannotRun|OOMKilled';

export interface PodCheckScriptInput extends PodCheckInput {
  /** kubectl on the master, as the cluster admin. */
  kubectl: string;
}

/**
 * One shell command on a master that runs the whole check through kubectl: clean up what an
 * interrupted check left, apply the servers and wait for them, read their IPs and the Service's,
 * apply the clients with those filled in, wait for them, read their result lines from the pods'
 * status, and delete the namespace (always: on failure, timeouts and signals too). It prints one
 * row line per node and check (ROW_MARK) with the failure's wording and what to look at, and exits
 * 1 when a row failed. Each wait is bounded; a pod still not running when its wait ends says why
 * the kubelet reports (kubectl's STATUS: ErrImagePull, ContainerCreating, ...).
 */
export function podCheckScript(input: PodCheckScriptInput): string {
  const { nodes, image } = input;
  const ns = POD_CHECK_NAMESPACE;
  const lines: string[] = [
    `ks_k() { ${input.kubectl} "$@"; }`,
    'ks_bad=0',
    `ks_row() { printf '${ROW_MARK}\\t%s\\t%s\\t%s\\t%s\\n' "$1" "$2" "$3" "$4"; [ "$3" = ok ] || ks_bad=1; }`,
    // $1: whether Running counts (servers) or not (clients: they run to their end).
    `ks_settled() { awk -v running="$1" 'NF && !($3 ~ /^(${SETTLED})$/ || ($3 == "Running" && running)) { n++ } END { exit n > 0 }'; }`,
    // The namespace gone for good: an earlier check's leftovers, or this one's.
    'ks_clean() {',
    `  ks_k get namespace ${ns} -o name >/dev/null 2>&1 || return 0`,
    `  timeout ${CLEANUP_SECONDS} ${input.kubectl} delete namespace ${ns} >/dev/null 2>&1`,
    `  ks_end=$(($(date +%s) + ${CLEANUP_SECONDS}))`,
    `  while ks_k get namespace ${ns} -o name >/dev/null 2>&1; do [ "$(date +%s)" -ge "$ks_end" ] && { echo "the namespace ${ns} is still there after ${CLEANUP_SECONDS} s" >&2; return 1; }; sleep 1; done`,
    '}',
    "trap 'ks_clean' EXIT",
    "trap 'exit 1' INT TERM HUP",
    'ks_clean',
    // Pods of the same check: listed with -o wide, NAME STATUS IP NODE at $1 $3 $6 $7 (restarts are 0: restartPolicy Never).
    `ks_wait() { ks_end=$(($(date +%s) + $2)); while :; do ks_st=$(ks_k -n ${ns} get pods -l ${ROLE_LABEL}=$1 -o wide --no-headers 2>/dev/null); [ "$(printf '%s\\n' "$ks_st" | awk 'NF' | wc -l)" -ge ${nodes.length} ] && printf '%s\\n' "$ks_st" | ks_settled "$3" && return 0; [ "$(date +%s)" -ge "$ks_end" ] && return 1; sleep 2; done; }`,
    `ks_field() { printf '%s\\n' "$ks_st" | awk -v p="$1" -v f="$2" '$1 == p { print $f }'; }`,
    // Pods are refused until the namespace's default ServiceAccount exists (admission), as upstream.
    'ks_rc=1',
    `if ks_out=$(printf '%s' ${shq(namespaceManifest())} | ks_k apply -f - 2>&1); then`,
    `  ks_end=$(($(date +%s) + ${SERVICE_ACCOUNT_SECONDS}))`,
    `  until ks_k -n ${ns} get serviceaccount default -o name >/dev/null 2>&1 || [ "$(date +%s)" -ge "$ks_end" ]; do sleep 1; done`,
    `  ks_out=$(printf '%s' ${shq(serverManifest(input))} | ks_k apply -f - 2>&1) && ks_rc=0`,
    'fi',
    'if [ "$ks_rc" -ne 0 ]; then',
    `  ks_why=$(printf '%s\\n' "$ks_out" | grep -v -e ' created$' -e ' configured$' -e ' unchanged$' | tail -n 3 | tr '\\n' ' ')`,
    ...nodes.map((n) => `  ks_row ${shq(POD_CHECKS.start)} ${shq(n.name)} FAIL "kubectl apply of the check's pods failed: $ks_why"`),
    '  exit 1',
    'fi',
    `ks_wait server ${SERVER_START_SECONDS} 1`,
    'ks_running=0',
  ];
  // Per node: running with an IP, or the kubelet's reason.
  nodes.forEach((n, i) => {
    const name = shq(n.name);
    lines.push(
      `ks_s=$(ks_field ${serverPodName(i)} 3); ks_ip${i}=$(ks_field ${serverPodName(i)} 6)`,
      `if [ "$ks_s" = Running ] && [ -n "$ks_ip${i}" ] && [ "$ks_ip${i}" != '<none>' ]; then ks_running=$((ks_running + 1)); ks_row ${shq(POD_CHECKS.start)} ${name} ok "running at $ks_ip${i} (${image})"`,
      `else ks_ip${i}=; ks_row ${shq(POD_CHECKS.start)} ${name} FAIL "$(ks_start_failure "$ks_s" ${name})"; fi`,
    );
  });
  lines.unshift(startFailure(image));
  lines.push(
    `ks_svc=$(ks_k -n ${ns} get service ${POD_CHECK_SERVICE} --no-headers 2>/dev/null | awk '{ print $3 }')`,
    // No server runs: the other checks would only repeat that.
    '[ "$ks_running" -gt 0 ] || exit 1',
    `ks_sed="s|${SERVICE_IP_PLACEHOLDER}|$ks_svc|g${nodes.map((_, i) => `;s|${peerIpPlaceholder(i)}|$ks_ip${i}|g`).join('')}"`,
    `if ! ks_out=$(printf '%s' ${shq(clientManifest(input))} | sed "$ks_sed" | ks_k apply -f - 2>&1); then`,
    `  ks_why=$(printf '%s\\n' "$ks_out" | grep -v -e ' created$' -e ' configured$' -e ' unchanged$' | tail -n 3 | tr '\\n' ' ')`,
    ...nodes.map((n) => `  ks_row ${shq(POD_CHECKS.dns)} ${shq(n.name)} FAIL "kubectl apply of the check's client pods failed: $ks_why"`),
    '  exit 1',
    'fi',
    `ks_wait client ${CLIENT_FINISH_SECONDS} ''`,
    // Each client's result line, from its termination message in the pod status.
    `ks_res=$(ks_k -n ${ns} get pods -l ${ROLE_LABEL}=client -o json 2>/dev/null | grep -o 'KSRESULT [^"\\\\]*')`,
    resultRows(input),
  );
  nodes.forEach((n, i) => {
    const peer = nodes.length > 1 ? nodes[(i + 1) % nodes.length]!.name : '';
    lines.push(`ks_result ${i} ${shq(n.name)} ${shq(peer)} "$ks_svc" "$(ks_field ${clientPodName(i)} 3)"`);
  });
  lines.push('exit $ks_bad');
  return `( \n${lines.join('\n')}\n)`;
}

/** Why a server pod is not running, worded with what to look at; $1 the STATUS column, $2 the node. */
function startFailure(image: string): string {
  const pull = `the image ${image} could not be pulled ($1): the node's containerd cannot get it; import it with an offline bundle that holds it (bootstrap apply --bundle) or set HEALTH_CHECK_IMAGE to an image the node's registry or mirror serves; look at journalctl -u containerd on $2`;
  return [
    'ks_start_failure() {',
    '  case "$1" in',
    `    '') echo "no pod: the API server did not keep it (kubectl -n ${POD_CHECK_NAMESPACE} get pods on a master)";;`,
    `    ErrImagePull|ImagePullBackOff|InvalidImageName|ErrImageNeverPull) echo ${dq(pull)};;`,
    `    Pending|ContainerCreating|PodInitializing) echo "not running after ${SERVER_START_SECONDS} s ($1): its sandbox or pod network did not come up; look at journalctl -u kubelet and -u containerd on $2, the CNI config in /etc/cni/net.d and flanneld";;`,
    `    *) echo "the server container did not run ($1); look at journalctl -u kubelet and -u containerd on $2";;`,
    '  esac',
    '}',
  ].join('\n');
}

/** A double-quoted shell word that keeps $1 and $2 live and everything else literal. */
function dq(text: string): string {
  return `"${text.replace(/[\\"`]/g, '\\$&').replace(/\$(?![12])/g, '\\$')}"`;
}

/**
 * ks_result INDEX NODE PEER SERVICE_IP CLIENT_STATUS: a client's result line turned into its
 * three rows, or, without one, why the client did not finish.
 */
function resultRows(input: PodCheckInput): string {
  const lookup = `kubernetes.default.svc.${input.clusterDomain}`;
  return [
    'ks_result() {',
    `  ks_line=$(printf '%s\\n' "$ks_res" | grep "^KSRESULT node=$1 " | head -n 1)`,
    '  if [ -z "$ks_line" ]; then',
    `    ks_why="the check's client pod on $2 did not finish ($\{5:-no pod}): look at journalctl -u kubelet and -u containerd on $2"`,
    `    ks_row ${shq(POD_CHECKS.dns)} "$2" FAIL "$ks_why"; ks_row ${shq(POD_CHECKS.pod)} "$2" FAIL "$ks_why"; ks_row ${shq(POD_CHECKS.service)} "$2" FAIL "$ks_why"`,
    '    return',
    '  fi',
    '  ks_dns=; ks_pod=; ks_svcr=',
    '  for ks_t in $ks_line; do case "$ks_t" in dns=*) ks_dns=${ks_t#dns=};; pod=*) ks_pod=${ks_t#pod=};; svc=*) ks_svcr=${ks_t#svc=};; esac; done',
    '  case "$ks_dns" in',
    `    ok:*) ks_row ${shq(POD_CHECKS.dns)} "$2" ok "${lookup} is $\{ks_dns#ok:}";;`,
    `    *) ks_row ${shq(POD_CHECKS.dns)} "$2" FAIL "a pod on $2 cannot resolve ${lookup} through the cluster DNS ($\{ks_dns#fail:}): look at CoreDNS (kubectl -n kube-system get pods -l k8s-app=kube-dns -o wide), kube-proxy on $2 and the pod network between $2 and the CoreDNS pods";;`,
    '  esac',
    '  case "$ks_pod" in',
    `    ok:*) ks_row ${shq(POD_CHECKS.pod)} "$2" ok "reached the pod on $3";;`,
    `    skip:no-server) ks_row ${shq(POD_CHECKS.pod)} "$2" FAIL "not checked: the server pod on $3 is not running";;`,
    `    skip) ks_row ${shq(POD_CHECKS.pod)} "$2" ok "not checked: one node only";;`,
    `    *) ks_row ${shq(POD_CHECKS.pod)} "$2" FAIL "a pod on $2 cannot reach the pod on $3 by its IP, port ${SERVER_PORT} ($\{ks_pod#fail:}): look at flanneld on $2 and $3 (each node's route to the other's pod subnet: ip route) and their FORWARD chains";;`,
    '  esac',
    '  case "$ks_svcr" in',
    `    ok:*) ks_row ${shq(POD_CHECKS.service)} "$2" ok "Service $4:80 answered (the pod on $\{ks_svcr#ok:})";;`,
    `    *) ks_row ${shq(POD_CHECKS.service)} "$2" FAIL "a pod on $2 gets no answer from the Service $4:80 ($\{ks_svcr#fail:}): look at kube-proxy on $2 (iptables -t nat -S KUBE-SERVICES) and the Service's endpoints";;`,
    '  esac',
    '}',
  ].join('\n');
}

import { z } from 'zod';
import type { Change } from '../../engine/change.js';
import { runSucceeded, type RunReport } from '../../engine/report.js';
import { printable, type TextFilter } from '../../printable.js';
import { changeLines } from './changes-text.js';
import { errorJson, errorJsonSchema, jsonReport } from './json.js';
import type { UpgradeStep } from '../../phases/upgrade-view.js';

const STATUS = z.enum(['ok', 'changed', 'failed', 'unreachable', 'skipped']);

const changeSchema = z.object({
  resource: z.string().meta({ description: 'the resource id, e.g. file:/etc/sysctl.d/k8s.conf' }),
  summary: z.string(),
  detail: z.array(z.string()),
  warning: z.string().nullable(),
  restarts: z.array(z.string()).meta({ description: 'services this change restarts' }),
});

const restartSchema = z.object({
  service: z.string(),
  because: z.array(z.string()).meta({ description: 'the changes (or the earlier run) that call for it' }),
  managed: z.boolean().meta({ description: 'the phase manages the service (restart); otherwise try-restart' }),
  ready: z.object({ check: z.string(), description: z.string(), timeoutSec: z.number() }).optional().meta({ description: 'what is waited for after the restart' }),
  rolling: z.boolean().optional().meta({ description: 'one host at a time across the cluster' }),
  deferredTo: z.string().optional().meta({ description: 'the later phase of this run that restarts it' }),
  reload: z.boolean().optional().meta({ description: 'the service takes the change with systemctl reload instead of a restart' }),
});

const upgradeStepSchema = z.object({
  components: z.string().meta({ description: 'what moves, e.g. etcd, kube-apiserver, "kubelet, kube-proxy", containerd' }),
  to: z.string().meta({ description: 'the version the run installs, e.g. v1.36.0' }),
  hosts: z
    .array(z.object({ host: z.string(), from: z.string().meta({ description: 'the version the host runs now (its record; containerd: as installed)' }) }))
    .meta({ description: 'in the order they move' }),
  how: z.string().meta({ description: 'e.g. one master at a time, each ready before the next' }),
});

/** plan, apply, init and reset: one run of phases over the hosts. */
export const runReportSchema = z.object({
  mode: z.enum(['plan', 'apply']),
  ok: z.boolean().meta({ description: 'nothing refused, no host failed or unreachable' }),
  durationMs: z.number().int(),
  phases: z.array(z.string()),
  stages: z
    .array(z.object({ name: z.string(), durationMs: z.number().int() }))
    .meta({ description: 'wall-clock time of each stage: connect (connect, read facts, preflight, probe), then each phase' }),
  refused: z.array(errorJsonSchema.unwrap()).meta({ description: 'preflight problems: when any, nothing changed on any host' }),
  upgrade: z.array(upgradeStepSchema).meta({
    description:
      "the versions the run moves, in the order it moves them (issue 24): etcd, the API servers, controller-managers and schedulers, each node's containerd, kubelet and kube-proxy in its drain; empty when none",
  }),
  hosts: z.array(
    z.object({
      host: z.string(),
      address: z.string(),
      status: STATUS,
      system: z.string().nullable(),
      error: errorJsonSchema,
      roundTrips: z
        .object({
          handshakes: z.number().int(),
          execs: z.number().int(),
          sftpOps: z.number().int(),
          streamedBytes: z.number().int().optional(),
          channels: z.number().int().optional().meta({ description: "forwarded channels: kubestrap's own requests to the host's API server or etcd, no process on the host" }),
        })
        .nullable(),
    }),
  ),
  results: z.array(
    z.object({
      phase: z.string(),
      host: z.string(),
      status: STATUS,
      changes: z.array(changeSchema).meta({ description: 'plan: what would change; apply: what changed' }),
      restarts: z.array(restartSchema),
      notApplied: z.array(changeSchema).meta({ description: 'apply: changes a failure left undone' }),
      text: z.array(z.string()).meta({ description: 'the lines the text report shows for this host and phase' }),
      error: errorJsonSchema,
      durationMs: z.number().int(),
    }),
  ),
});

/** The report for machines: stable field names, no ANSI, errors with their parts; every string passes `filter`. */
export function reportJson(report: RunReport, filter: TextFilter = printable, upgrade: readonly UpgradeStep[] = []): string {
  return jsonReport(
    runReportSchema,
    {
      mode: report.mode,
      ok: runSucceeded(report),
      durationMs: report.durationMs,
      phases: report.phases,
      stages: report.stages,
      refused: report.refused.map((e) => errorJson(e)!),
      upgrade: upgrade.map((s) => ({ ...s, hosts: s.hosts.map((h) => ({ ...h })) })),
      hosts: report.hosts.map((h) => ({
        host: h.host,
        address: h.address,
        status: h.status,
        system: h.system ?? null,
        error: errorJson(h.error),
        roundTrips: h.stats ?? null,
      })),
      results: report.results.map((r) => ({
        phase: r.phase,
        host: r.host,
        status: r.status,
        changes: r.changes.map(changeJson),
        restarts: r.restarts,
        notApplied: r.notApplied.map(changeJson),
        text: changeLines(r, report.mode === 'plan'),
        error: errorJson(r.error),
        durationMs: r.durationMs,
      })),
    },
    filter,
  );
}

function changeJson(c: Change): z.input<typeof changeSchema> {
  return { resource: c.resourceId, summary: c.summary, detail: c.detail ?? [], warning: c.warning ?? null, restarts: c.restarts };
}

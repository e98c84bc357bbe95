import type { Resource } from './resource.js';
import type { RecordedUpload } from './host-record.js';

/** One remote action. Consecutive scripts are sent together, so a change costs no extra round trip. */
export type ApplyStep =
  | { type: 'script'; script: string }
  | {
      type: 'put';
      path: string;
      content: string | Buffer;
      mode: number;
      owner: string;
      group: string;
      /** What the probe saw (null: no file), so the upload layer need not ask again. */
      currentSha256: string | null;
    }
  | { type: 'upload'; upload: RecordedUpload };

/**
 * When a change runs inside a phase: `prepare` (packages, files, kernel and OS settings) before
 * systemd is reloaded, `services` after it, so a service never starts from a stale unit file.
 */
export type ChangeStage = 'prepare' | 'services';

/** A file change as plan shows it; the current content is fetched only when a diff is printed. */
export interface FileDiff {
  path: string;
  /** null when the file does not exist yet. */
  currentSha256: string | null;
  desired: string | Buffer;
  secret: boolean;
}

export interface Change {
  resourceId: string;
  resource: Resource;
  /** One line for plans and reports: what will be done. */
  summary: string;
  /** Extra lines shown under the summary (e.g. fstab lines that get commented out). */
  detail?: string[];
  /** Present for file content changes: plan prints their unified diff. */
  file?: FileDiff;
  /** A warning the plan shows, e.g. that the host will refuse this sysctl. */
  warning?: string;
  /** What to do when applying this change fails: shown with the error. */
  failureHint?: string;
  stage: ChangeStage;
  steps: ApplyStep[];
  /** Services to restart once this change is applied. */
  restarts: string[];
  /** A systemd unit file changed: `systemctl daemon-reload` before services are touched. */
  reloadsSystemd: boolean;
  /** The service this change starts or stops: it then needs no restart. */
  startsOrStops?: string;
  /**
   * How long its steps may take, when that is more than a command's usual limit (a package
   * install that downloads and unpacks): the command that carries them gets this much.
   */
  timeoutSec?: number;
}

export function change(resource: Resource, resourceId: string, summary: string, steps: ApplyStep[], extra: Partial<Omit<Change, 'resource' | 'resourceId' | 'summary' | 'steps'>> = {}): Change {
  return {
    resource,
    resourceId,
    summary,
    steps,
    stage: extra.stage ?? 'prepare',
    restarts: extra.restarts ?? [],
    reloadsSystemd: extra.reloadsSystemd ?? false,
    ...(extra.detail ? { detail: extra.detail } : {}),
    ...(extra.file ? { file: extra.file } : {}),
    ...(extra.warning ? { warning: extra.warning } : {}),
    ...(extra.failureHint ? { failureHint: extra.failureHint } : {}),
    ...(extra.startsOrStops ? { startsOrStops: extra.startsOrStops } : {}),
    ...(extra.timeoutSec ? { timeoutSec: extra.timeoutSec } : {}),
  };
}

export function script(text: string): ApplyStep {
  return { type: 'script', script: text };
}

import { randomBytes } from 'node:crypto';

/**
 * Several scripts in one remote command. Each runs in its own subshell with its output captured, and
 * its exit code is reported after a marker; the batch stops at the first failure, so later steps
 * never run on top of a broken earlier one.
 *
 * A step's output comes from the host (a package manager, a unit's journal), so each batch marks its
 * steps with a tag of its own: output that imitates a marker cannot pass a failed step for a success.
 */
const STEP = '@@kubestrap-step';
const RC = '@@kubestrap-rc';

export interface BatchStep {
  script: string;
  /** The step reads the command's stdin (a file upload); every other step reads /dev/null. */
  readsInput?: boolean;
}

export function batchScript(steps: ReadonlyArray<string | BatchStep>): string {
  const tag = `-${randomBytes(8).toString('hex')}`;
  return steps
    .map((step) => (typeof step === 'string' ? { script: step } : step))
    .map((s, i) => `printf '\\n${STEP}${tag} ${i}\\n'\n(\n${s.script}\n) 2>&1${s.readsInput ? '' : ' </dev/null'}\nks_rc=$?\nprintf '\\n${RC}${tag} %d\\n' "$ks_rc"\n[ "$ks_rc" -eq 0 ] || exit 0`)
    .join('\n');
}

export interface StepResult {
  index: number;
  exitCode: number;
  output: string;
}

/** Results of the steps that ran, in order; a step without an exit code was cut off. */
export function parseBatch(stdout: string): StepResult[] {
  // The tag is the batch's own, learnt from its first marker: no step prints before that.
  const tag = new RegExp(`\\n${STEP}(-[0-9a-f]+)? `).exec(stdout)?.[1] ?? '';
  const rc = `\n${RC}${tag} `;
  return stdout
    .split(`\n${STEP}${tag} `)
    .slice(1)
    .map((part) => {
      const newline = part.indexOf('\n');
      const index = Number(part.slice(0, newline < 0 ? undefined : newline));
      const body = newline < 0 ? '' : part.slice(newline + 1);
      const rcAt = body.lastIndexOf(rc);
      const exitCode = rcAt < 0 ? -1 : Number(body.slice(rcAt + rc.length).trim());
      return { index, exitCode, output: rcAt < 0 ? body : body.slice(0, rcAt) };
    });
}

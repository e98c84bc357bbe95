import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { LAB_SRC_DIR } from './paths.js';
import { isAlive, procRef, sleep, terminate, type ProcRef } from './proc.js';

/** The lab repo's HTTP server: a detached Node process bound to the lab's gateway address only. */
export const REPO_SERVER = path.join(LAB_SRC_DIR, 'repo-server.mjs');

export interface RepoServerOptions {
  root: string;
  host: string;
  port: number;
  labDir: string;
  /** More directories, served below URL prefixes: { '/el': rpmRepoDir }. */
  mounts?: Record<string, string>;
}

export async function startRepoServer(opts: RepoServerOptions): Promise<ProcRef> {
  const log = fs.openSync(path.join(opts.labDir, 'repo-server.log'), 'a');
  const mounts = Object.entries(opts.mounts ?? {}).flatMap(([prefix, dir]) => ['--mount', `${prefix}=${dir}`]);
  const child = spawn(process.execPath, [REPO_SERVER, '--root', opts.root, '--host', opts.host, '--port', String(opts.port), '--lab-dir', opts.labDir, ...mounts], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${REPO_SERVER}`);
  const ref = procRef(child.pid);
  await waitServing(`http://${opts.host}:${opts.port}/Packages.gz`, ref, opts.labDir);
  return ref;
}

async function waitServing(url: string, ref: ProcRef, labDir: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await headOk(url)) return;
    if (!isAlive(ref)) break;
    await sleep(50);
  }
  const log = fs.readFileSync(path.join(labDir, 'repo-server.log'), 'utf8').trim().split('\n').slice(-3).join('\n');
  throw new Error(`lab repo server did not serve ${url}: ${log} (is the port taken? pass another repoPort)`);
}

function headOk(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request(url, { method: 'HEAD', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export async function stopRepoServer(ref: ProcRef | undefined): Promise<void> {
  if (ref) await terminate([ref], 3_000);
}

import { createHash } from 'node:crypto';
import { createWriteStream, rmSync } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Dispatcher } from 'undici';
import { ArtifactError } from '../errors.js';

/**
 * HTTP(S) downloads for artifacts: streamed to disk while hashed (never whole in memory), through
 * HTTPS_PROXY / HTTP_PROXY unless NO_PROXY says otherwise, with an error for each way a mirror can
 * fail that names the URL and the property the URL comes from.
 */

/** Where a URL came from, for messages: "check K8S_DOWNLOAD_URL (https://dl.k8s.io)". */
export interface UrlOrigin {
  property: string;
  value: string;
}

export interface Downloaded {
  size: number;
  sha256: string;
  sha512: string;
}

type Undici = typeof import('undici');

let agent: Dispatcher | undefined;
let undici: Promise<Undici> | undefined;

/** undici loads on the first download: most runs download nothing, and loading it costs 0.2 s. */
function http(): Promise<Undici> {
  undici ??= import('undici');
  return undici;
}

/** The proxy settings are read from the environment once, as curl and Go do. */
async function fetchVia(url: string, init: { headers?: Record<string, string> } = {}): Promise<Awaited<ReturnType<Undici['fetch']>>> {
  const { EnvHttpProxyAgent, fetch } = await http();
  agent ??= new EnvHttpProxyAgent({ connectTimeout: 20_000, headersTimeout: 60_000, bodyTimeout: 120_000 });
  return fetch(url, { dispatcher: agent, redirect: 'follow', ...init });
}

/** For tests that change the proxy environment between downloads. */
export function resetProxySettings(): void {
  agent = undefined;
}

function checkOrigin(origin: UrlOrigin): string {
  return `check ${origin.property} (now ${origin.value}), the network and HTTPS_PROXY`;
}

async function get(url: string, origin: UrlOrigin): Promise<Response> {
  let res: Awaited<ReturnType<Undici['fetch']>>;
  try {
    res = await fetchVia(url);
  } catch (err) {
    throw new ArtifactError(url, `cannot download ${url}: ${causeOf(err)}`, `the server is unreachable or refused the connection: ${checkOrigin(origin)}`);
  }
  if (res.ok) return res as unknown as Response;
  await res.body?.cancel().catch(() => undefined);
  if (res.status === 404) {
    throw new ArtifactError(url, `${url} does not exist (HTTP 404)`, `the version may not exist upstream, or the mirror lacks it: check the version property and ${origin.property} (now ${origin.value})`);
  }
  throw new ArtifactError(url, `${url} answered HTTP ${res.status} ${res.statusText}`.trim(), checkOrigin(origin));
}

function causeOf(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  const cause = e.cause;
  if (cause?.code) return `${cause.code}${cause.message && !cause.message.includes(cause.code) ? ` (${cause.message})` : ''}`;
  return cause?.message ?? e.message ?? String(err);
}

/**
 * Downloads `url` into `dest`, hashing as it writes. A body shorter than the server announced (a
 * connection cut mid-way) is an error, and `dest` is removed on any failure.
 */
export interface DownloadListener {
  /** The response started; its size when the server says. */
  onStart?(bytes: number | undefined): void;
  onBytes?(n: number): void;
}

export async function downloadTo(url: string, dest: string, origin: UrlOrigin, listener: DownloadListener = {}): Promise<Downloaded> {
  const res = await get(url, origin);
  const expected = Number(res.headers.get('content-length') ?? NaN);
  listener.onStart?.(Number.isFinite(expected) ? expected : undefined);
  const onBytes = listener.onBytes;
  const sha256 = createHash('sha256');
  const sha512 = createHash('sha512');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      sha256.update(chunk);
      sha512.update(chunk);
      onBytes?.(chunk.length);
      done(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(res.body! as never), meter, createWriteStream(dest));
  } catch (err) {
    rmSync(dest, { force: true });
    const received = Number.isFinite(expected) ? ` after ${size} of ${expected} bytes` : ` after ${size} bytes`;
    throw new ArtifactError(url, `the download of ${url} broke off${received}: ${causeOf(err)}`, `the connection was cut: re-run, or ${checkOrigin(origin)}`);
  }
  if (Number.isFinite(expected) && size !== expected) {
    rmSync(dest, { force: true });
    throw new ArtifactError(url, `the download of ${url} ended after ${size} of ${expected} bytes`, `the connection was cut: re-run, or ${checkOrigin(origin)}`);
  }
  return { size, sha256: sha256.digest('hex'), sha512: sha512.digest('hex') };
}

/** A small text file (a checksum file); undefined when the server has none (404). */
export async function fetchText(url: string, origin: UrlOrigin): Promise<string | undefined> {
  try {
    const res = await get(url, origin);
    return await res.text();
  } catch (err) {
    if (err instanceof ArtifactError && /HTTP 404/.test(err.message)) return undefined;
    throw err;
  }
}

/** Fetches JSON or bytes with headers (the registry client). */
export async function request(url: string, origin: UrlOrigin, headers: Record<string, string>): Promise<Response> {
  try {
    return (await fetchVia(url, { headers })) as unknown as Response;
  } catch (err) {
    throw new ArtifactError(url, `cannot reach ${url}: ${causeOf(err)}`, checkOrigin(origin));
  }
}

import { createWriteStream, rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Dispatcher } from 'undici';
import { importCommonJs } from '../common-js.js';
import { ArtifactError } from '../errors.js';
import { discard } from '../fresh-file.js';
import { LIMITS, sizeText } from './limits.js';
import { meter } from './meter.js';

/**
 * HTTP(S) downloads for artifacts: streamed to disk while hashed (never whole in memory), each
 * under a size limit (see limits.ts), through HTTPS_PROXY / HTTP_PROXY unless NO_PROXY says
 * otherwise, with an error for each way a mirror can fail that names the URL and the property the
 * URL comes from.
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
  undici ??= importCommonJs(import('undici'));
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
    throw new ArtifactError(
      url,
      `${url} does not exist (HTTP 404)`,
      `the version may not exist upstream, or the mirror lacks it: check the version property and ${origin.property} (now ${origin.value})`,
    );
  }
  throw new ArtifactError(url, `${url} answered HTTP ${res.status} ${res.statusText}`.trim(), checkOrigin(origin));
}

function causeOf(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  const cause = e.cause;
  if (cause?.code) return `${cause.code}${cause.message && !cause.message.includes(cause.code) ? ` (${cause.message})` : ''}`;
  return cause?.message ?? e.message ?? String(err);
}

/** The most a download may be, and why, for the message when it is more. */
export interface SizeLimit {
  bytes: number;
  /** e.g. "the size pinned in artifacts.lock.json", "kubestrap's limit for a download". */
  why: string;
}

export interface DownloadListener {
  /** The response started; its size when the server says. */
  onStart?(bytes: number | undefined): void;
  onBytes?(n: number): void;
}

function tooLarge(url: string, origin: UrlOrigin, limit: SizeLimit, announced?: number): ArtifactError {
  const size = announced === undefined ? `more than ${sizeText(limit.bytes)}` : `${sizeText(announced)}`;
  return new ArtifactError(
    url,
    `${url} is ${size}, more than ${limit.why} (${sizeText(limit.bytes)}); nothing of it was kept`,
    `the server does not serve the expected file there: check ${origin.property} (now ${origin.value})`,
  );
}

/** The body's announced length, refused up front when it is past the limit. */
async function announcedLength(res: Response, url: string, origin: UrlOrigin, limit: SizeLimit): Promise<number | undefined> {
  const announced = Number(res.headers.get('content-length') ?? NaN);
  if (!Number.isFinite(announced)) return undefined;
  if (announced > limit.bytes) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLarge(url, origin, limit, announced);
  }
  return announced;
}

/**
 * Downloads `url` into `dest` (a new file), hashing as it writes. A body shorter than the server
 * announced (a connection cut mid-way) or longer than `limit` is an error, and `dest` is removed on
 * any failure.
 */
export async function downloadTo(url: string, dest: string, origin: UrlOrigin, limit: SizeLimit, listener: DownloadListener = {}): Promise<Downloaded> {
  const res = await get(url, origin);
  const expected = await announcedLength(res, url, origin, limit);
  listener.onStart?.(expected);
  const m = meter({ limit: limit.bytes, tooLarge: () => tooLarge(url, origin, limit), algorithms: ['sha256', 'sha512'], ...(listener.onBytes ? { onBytes: listener.onBytes } : {}) });
  const file = createWriteStream(dest, { flags: 'wx', mode: 0o600 });
  try {
    await pipeline(Readable.fromWeb(res.body! as never), m.stream, file);
  } catch (err) {
    await discard(file, dest);
    if (err instanceof ArtifactError) throw err;
    const received = expected !== undefined ? ` after ${m.size()} of ${expected} bytes` : ` after ${m.size()} bytes`;
    throw new ArtifactError(url, `the download of ${url} broke off${received}: ${causeOf(err)}`, `the connection was cut: re-run, or ${checkOrigin(origin)}`);
  }
  if (expected !== undefined && m.size() !== expected) {
    rmSync(dest, { force: true });
    throw new ArtifactError(url, `the download of ${url} ended after ${m.size()} of ${expected} bytes`, `the connection was cut: re-run, or ${checkOrigin(origin)}`);
  }
  return { size: m.size(), sha256: m.hex('sha256'), sha512: m.hex('sha512') };
}

/** A response's whole body, at most `limit` bytes of it (a document: checksum file, manifest, token). */
export async function readBody(res: Response, url: string, origin: UrlOrigin, limit: SizeLimit = { bytes: LIMITS.document, why: "kubestrap's limit for such a file" }): Promise<Buffer> {
  await announcedLength(res, url, origin, limit);
  if (!res.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  const m = meter({ limit: limit.bytes, tooLarge: () => tooLarge(url, origin, limit), algorithms: [] });
  try {
    await pipeline(Readable.fromWeb(res.body as never), m.stream, async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) chunks.push(chunk);
    });
  } catch (err) {
    if (err instanceof ArtifactError) throw err;
    throw new ArtifactError(url, `the download of ${url} broke off after ${m.size()} bytes: ${causeOf(err)}`, `the connection was cut: re-run, or ${checkOrigin(origin)}`);
  }
  return Buffer.concat(chunks);
}

/** A checksum file; undefined when the server has none (404): whether that is allowed is the caller's call. */
export async function fetchText(url: string, origin: UrlOrigin, limit?: SizeLimit): Promise<string | undefined> {
  let res: Response;
  try {
    res = await get(url, origin);
  } catch (err) {
    if (err instanceof ArtifactError && /HTTP 404/.test(err.message)) return undefined;
    throw err;
  }
  return (await readBody(res, url, origin, limit)).toString('utf8');
}

/** Fetches JSON or bytes with headers (the registry client). */
export async function request(url: string, origin: UrlOrigin, headers: Record<string, string>): Promise<Response> {
  try {
    return (await fetchVia(url, { headers })) as unknown as Response;
  } catch (err) {
    throw new ArtifactError(url, `cannot reach ${url}: ${causeOf(err)}`, checkOrigin(origin));
  }
}

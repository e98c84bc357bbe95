import { HOST_PATHS } from '../components/paths.js';
import { defineFact, readFact } from '../engine/facts.js';
import { shq } from '../ssh/quote.js';
import type { ClusterHost } from './context.js';
import { legacyRecordPath } from './record.js';
import { readFile } from '../engine/shell-read.js';

/** Whether the data folder holds a member, and which cluster kubestrap recorded it for. */
export const DATA_FACT = defineFact('etcd-data', `test -d ${shq(`${HOST_PATHS.etcdDataDir}/member`)} && echo member; ${readFile(shq(legacyRecordPath('etcd')))}`, parseEtcdData);
/** What the etcd fact says about a member's data folder. */
export function etcdData(h: ClusterHost): EtcdData {
  const data = readFact(h.facts, DATA_FACT);
  const recorded = h.facts.record.get('etcd')?.fields.cluster;
  return typeof recorded === 'string' ? { ...data, recordedCluster: recorded } : data;
}

interface EtcdData {
  hasMember: boolean;
  recordedCluster: string | undefined;
}

function parseEtcdData(output: string | undefined): EtcdData {
  const text = output ?? '';
  const hasMember = text.split('\n')[0]?.trim() === 'member';
  const json = hasMember ? text.slice(text.indexOf('\n') + 1) : text;
  let recordedCluster: string | undefined;
  try {
    const parsed = JSON.parse(json) as { cluster?: unknown };
    if (typeof parsed.cluster === 'string') recordedCluster = parsed.cluster;
  } catch {
    recordedCluster = undefined;
  }
  return { hasMember, recordedCluster };
}

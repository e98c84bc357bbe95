/**
 * etcd's quorum arithmetic for one change of membership: a cluster of n members needs
 * floor(n/2)+1 of them to agree, and tolerates n - quorum failures. A change is safe when the
 * members that answer make a quorum both now and once the change is made (a member added counts
 * as down until it has started and caught up).
 */
export interface QuorumCase {
  /** What changes, for the message: `adding member n4`. */
  change: string;
  membersNow: number;
  /** Members that answered now (started, reachable, serving); members that did not are counted as down. */
  healthyNow: number;
  membersAfter: number;
  healthyAfter: number;
}

export const quorum = (members: number): number => Math.floor(members / 2) + 1;
export const faultTolerance = (members: number): number => Math.max(0, members - quorum(members));

/** Undefined when the change keeps a quorum throughout; otherwise why not, with the arithmetic. */
export function quorumProblem(c: QuorumCase): string | undefined {
  const now = quorum(c.membersNow);
  const after = quorum(c.membersAfter);
  if (c.healthyNow >= now && c.healthyAfter >= after) return undefined;
  const lost = c.healthyNow < now ? 'the cluster has no quorum now' : 'the cluster would lose its quorum';
  return `${c.change} is refused: ${lost}. Now: ${c.membersNow} members, ${c.healthyNow} answering, quorum floor(${c.membersNow}/2)+1 = ${now}, fault tolerance ${faultTolerance(c.membersNow)}. After: ${c.membersAfter} members, ${c.healthyAfter} answering, quorum floor(${c.membersAfter}/2)+1 = ${after}, fault tolerance ${faultTolerance(c.membersAfter)}`;
}

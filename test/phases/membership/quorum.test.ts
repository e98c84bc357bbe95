import { describe, expect, it } from 'vitest';
import { faultTolerance, quorum, quorumProblem } from '../../../src/phases/membership/quorum.js';

describe("etcd's quorum arithmetic", () => {
  it('quorum is floor(n/2)+1 and fault tolerance what is left', () => {
    expect([1, 2, 3, 4, 5].map(quorum)).toEqual([1, 2, 2, 3, 3]);
    expect([1, 2, 3, 4, 5].map(faultTolerance)).toEqual([0, 0, 1, 1, 2]);
  });

  it('allows a change that keeps a quorum now and after', () => {
    expect(quorumProblem({ change: 'removing etcd member n3', membersNow: 3, healthyNow: 3, membersAfter: 2, healthyAfter: 2 })).toBeUndefined();
    expect(quorumProblem({ change: 'adding etcd member n4', membersNow: 3, healthyNow: 3, membersAfter: 4, healthyAfter: 3 })).toBeUndefined();
    // A dead member forgotten: 2 of 3 answer, 2 of 2 after.
    expect(quorumProblem({ change: 'removing etcd member n3', membersNow: 3, healthyNow: 2, membersAfter: 2, healthyAfter: 2 })).toBeUndefined();
  });

  it('refuses one that loses the quorum, showing the arithmetic', () => {
    expect(quorumProblem({ change: 'removing etcd member n2', membersNow: 3, healthyNow: 2, membersAfter: 2, healthyAfter: 1 })).toBe(
      'removing etcd member n2 is refused: the cluster would lose its quorum. Now: 3 members, 2 answering, quorum floor(3/2)+1 = 2, fault tolerance 1. After: 2 members, 1 answering, quorum floor(2/2)+1 = 2, fault tolerance 0',
    );
    // Adding to a cluster of 2 with one down: 3 members, quorum 2, one answering until the new one has started.
    expect(quorumProblem({ change: 'adding etcd member n3', membersNow: 2, healthyNow: 1, membersAfter: 3, healthyAfter: 1 })).toMatch(
      /^adding etcd member n3 is refused: the cluster has no quorum now/,
    );
  });
});

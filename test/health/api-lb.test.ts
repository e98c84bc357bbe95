import { describe, expect, it } from 'vitest';
import { apiLbCheck, backendStates } from '../../src/health/api-lb.js';
import { merged } from '../../src/health/run.js';
import { PKI_INVENTORY } from '../pki/support.js';
import { clusterFrom } from '../support/cluster.js';
import { useTempDir } from '../support/tmp.js';

/** haproxy 2.6's `show stat` header, and a frontend, two servers and a backend (fields after check_status cut). */
const HEADER =
  '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,';
const line = (px: string, sv: string, status: string, check = '') => `${px},${sv},${Array(15).fill('0').join(',')},${status},${Array(18).fill('').join(',')},${check},,`;
const STAT = [
  HEADER,
  line('kube-apiserver', 'FRONTEND', 'OPEN'),
  line('kube-apiserver', 'm1', 'DOWN', 'L4CON'),
  line('kube-apiserver', 'm2', 'UP', 'L7OK'),
  line('kube-apiserver', 'BACKEND', 'UP'),
  '',
].join('\n');

describe('health of the node-local API load balancer', () => {
  const tmp = useTempDir();
  const spec = () => clusterFrom(tmp(), '', PKI_INVENTORY);

  it("reads every server's state by the columns the header names", () => {
    expect(backendStates(STAT)).toEqual([
      { name: 'm1', status: 'DOWN', check: 'L4CON' },
      { name: 'm2', status: 'UP', check: 'L7OK' },
    ]);
  });

  it('fails the master that is DOWN, not the node whose load balancer still reaches another', () => {
    const s = spec();
    const rows = apiLbCheck(s, s.hosts.find((h) => h.name === 'w1')!).read(STAT);
    expect(rows).toEqual([
      { check: 'API load balancer', host: 'w1', ok: true, detail: 'm1 DOWN (L4CON), m2 UP' },
      { check: 'API server behind the load balancers', host: 'm1', ok: false, detail: 'DOWN (L4CON) on w1' },
      { check: 'API server behind the load balancers', host: 'm2', ok: true, detail: 'UP on w1' },
    ]);
  });

  it('fails the node when haproxy does not answer, saying so', () => {
    const s = spec();
    const rows = apiLbCheck(s, s.hosts.find((h) => h.name === 'w1')!).read('bash: connect: Connection refused\nhaproxy does not answer on its stats socket 127.0.0.1:8404 (systemd says failed)\n');
    expect(rows).toEqual([{ check: 'API load balancer', host: 'w1', ok: false, detail: 'haproxy does not answer on its stats socket 127.0.0.1:8404 (systemd says failed)' }]);
  });

  it('merges what several nodes say of one master into one row, failed if any says so', () => {
    expect(
      merged([
        { check: 'c', host: 'm1', ok: true, detail: 'UP on w1' },
        { check: 'c', host: 'm1', ok: false, detail: 'DOWN (L4TOUT) on w2' },
        { check: 'd', host: 'm1', ok: true, detail: 'x' },
      ]),
    ).toEqual([
      { check: 'c', host: 'm1', ok: false, detail: 'UP on w1; DOWN (L4TOUT) on w2' },
      { check: 'd', host: 'm1', ok: true, detail: 'x' },
    ]);
  });
});

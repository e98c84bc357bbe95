/**
 * `npm run lab -- <command>`: the lab by hand.
 *   up [--hosts N] [--flavour F[,F...]] [--generation G] [--name L] [--subnet-index N] [--no-firewalld] [--no-swap]
 *   down | status | info                      [--name L]
 *   add-hosts N [--flavour F[,F...]] [--generation G] | remove-host H | stop-host H | start-host H | cut H | restore H   [--name L]
 *   exec H [--name L] -- CMD...
 */
import { parseArgs } from 'node:util';
import { execLine } from './exec-line.js';
import { describeVersions } from './debian-suite.js';
import { GENERATIONS, parseGeneration } from './generations.js';
import { addHosts, cutLink, FLAVOURS, hostExec, labDown, labInfo, labStatus, labUp, parseFlavour, removeHosts, restoreLink, startHost, stopHost, type Flavour, type LabInfo } from './index.js';

const USAGE = `usage: npm run lab -- <command> [--name LAB]
  up [--hosts N] [--subnet-index N] [--no-firewalld] [--no-swap]   create/boot the lab (idempotent)
     [--flavour F | F1,F2,...]           new hosts' flavour, one for all or one per host: ${FLAVOURS.join(', ')}
                                         (el7: CentOS 7 with yum, el9: Rocky Linux 9 with dnf; see test/lab/README.md)
     [--generation G]                    new Debian hosts' packages: ${GENERATIONS.join(' or ')} (default current: Debian
                                         unstable's etcd, containerd and Docker next to Debian 12's; previous: Debian 12's only)
  down                                   stop every host and remove everything the lab made
  status | info                          hosts with running/ssh state | the lab's paths as JSON
  add-hosts N [--flavour F] [--generation G] | remove-host H   fresh hosts on the next free IPs | delete a host
  stop-host H | start-host H             halt a host (disk kept) | boot it again
  cut H | restore H                      detach/re-attach the host's network link
  exec H -- CMD...                       run CMD as root inside H (no ssh needed); each argument stays one
                                         word, so a shell line goes to sh -c: exec H -- sh -c 'a | b'`;

function printUp(lab: LabInfo, seconds: number): void {
  console.log(`lab '${lab.name}' up in ${seconds.toFixed(1)} s: bridge ${lab.bridge} ${lab.subnet}, repo ${lab.repoUrl}`);
  for (const h of lab.hosts) console.log(`  ${h.name.padEnd(10)} ${h.address.padEnd(14)} ${h.flavour.padEnd(7)} ${h.generation.padEnd(9)} (machine ${h.machine})`);
  if (lab.unstable) console.log(`unstable:    ${lab.unstable.url} (current hosts): ${describeVersions(lab.unstable.packages)}`);
  if (lab.rpm) {
    console.log(`rpm repos:   ${lab.rpm.baseUrl} (EL hosts' only repo)`);
    console.log(`             ${lab.rpm.dockerCeUrl} (docker-ce; gpg key ${lab.rpm.gpgKeyUrl})`);
  }
  console.log(`ssh key:     ${lab.sshKey}`);
  console.log(`known_hosts: ${lab.knownHosts}`);
  const first = lab.hosts[0]?.address ?? '<ip>';
  console.log(`example:     ssh -i ${lab.sshKey} -o UserKnownHostsFile=${lab.knownHosts} -o StrictHostKeyChecking=yes root@${first} hostname`);
  console.log(`users:       root, ops (sudo without password), opspw (password opspw-lab-pass, sudo asks for it)`);
  console.log(`tear down:   npm run lab -- down${lab.name === 'lab' ? '' : ` --name ${lab.name}`}`);
}

async function main(argv: string[]): Promise<number> {
  const dash = argv.indexOf('--');
  const own = dash >= 0 ? argv.slice(0, dash) : argv;
  const rest = dash >= 0 ? argv.slice(dash + 1) : [];
  const { values, positionals } = parseArgs({
    args: own,
    allowPositionals: true,
    options: {
      name: { type: 'string', default: 'lab' },
      hosts: { type: 'string' },
      'subnet-index': { type: 'string' },
      'no-firewalld': { type: 'boolean', default: false },
      'no-swap': { type: 'boolean', default: false },
      flavour: { type: 'string' },
      generation: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [cmd, arg] = positionals;
  const name = values.name;
  const flavours = values.flavour?.split(',').map((f) => parseFlavour(f.trim()));
  const flavour: Flavour | Flavour[] | undefined = flavours?.length === 1 ? flavours[0] : flavours;
  const generation = values.generation === undefined ? {} : { generation: parseGeneration(values.generation) };
  const needArg = (what: string): string => {
    if (!arg) throw new Error(`${cmd} needs ${what}\n${USAGE}`);
    return arg;
  };
  switch (values.help ? 'help' : cmd) {
    case 'up': {
      const t0 = Date.now();
      const lab = await labUp({
        name,
        hosts: values.hosts === undefined ? 0 : Number(values.hosts),
        ...(values['subnet-index'] === undefined ? {} : { subnetIndex: Number(values['subnet-index']) }),
        firewalld: !values['no-firewalld'],
        swapInFstab: !values['no-swap'],
        ...(flavour ? { flavour } : {}),
        ...generation,
      });
      printUp(lab, (Date.now() - t0) / 1000);
      return 0;
    }
    case 'down': {
      const t0 = Date.now();
      await labDown(name);
      console.log(`lab '${name}' is down (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      return 0;
    }
    case 'status': {
      const hosts = await labStatus(name);
      if (hosts.length === 0) console.log(`lab '${name}' has no hosts${(await labInfo(name)) ? '' : ' (it is not up)'}`);
      for (const h of hosts)
        console.log(`${h.name.padEnd(10)} ${h.address.padEnd(14)} ${h.flavour.padEnd(7)} ${h.generation.padEnd(9)} ${h.running ? 'running' : 'stopped'}  ssh ${h.sshOk ? 'ok' : 'no'}`);
      return 0;
    }
    case 'info':
      console.log(JSON.stringify((await labInfo(name)) ?? null, null, 2));
      return 0;
    case 'add-hosts':
      for (const h of await addHosts(name, Number(needArg('a count')), { firewalld: !values['no-firewalld'], swapInFstab: !values['no-swap'], ...(flavour ? { flavour } : {}), ...generation })) {
        console.log(`${h.name} ${h.address} ${h.flavour} ${h.generation}`);
      }
      return 0;
    case 'remove-host':
      await removeHosts(name, [needArg('a host name')]);
      return 0;
    case 'stop-host':
      await stopHost(name, needArg('a host name'));
      return 0;
    case 'start-host':
      await startHost(name, needArg('a host name'));
      return 0;
    case 'cut':
      await cutLink(name, needArg('a host name'));
      return 0;
    case 'restore':
      await restoreLink(name, needArg('a host name'));
      return 0;
    case 'exec': {
      if (rest.length === 0) throw new Error(`exec needs a command after --\n${USAGE}`);
      const r = await hostExec(name, needArg('a host name'), execLine(rest));
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      return r.code;
    }
    case 'help':
      console.log(USAGE);
      return 0;
    default:
      console.error(cmd ? `unknown command '${cmd}'\n${USAGE}` : USAGE);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    console.error(`lab: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  },
);

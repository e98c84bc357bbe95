// Serves the lab's apt repo (a directory of .debs + Packages) read-only over HTTP on the lab bridge,
// and other directories below URL prefixes (the RPM repos under /el). Plain Node, no dependencies:
// it runs detached from whoever started it, with `process.execPath`, so the machine needs no python
// or web server. Usage:
//   node repo-server.mjs --root DIR --host GATEWAY_IP --port N --lab-dir LAB_STATE_DIR [--mount /PREFIX=DIR ...]
// (--lab-dir only marks the process as the lab's, so `down` can find it after a crash.)
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    root: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    'lab-dir': { type: 'string' },
    mount: { type: 'string', multiple: true, default: [] },
  },
});
if (!values.root || !values.host || !values.port) {
  console.error('usage: repo-server.mjs --root DIR --host IP --port N --lab-dir DIR');
  process.exit(2);
}
// Longest prefix first, the apt repo's root last.
const roots = [
  ...values.mount.map((m) => {
    const at = m.indexOf('=');
    return { prefix: m.slice(0, at).replace(/\/+$/, ''), dir: path.resolve(m.slice(at + 1)) };
  }),
  { prefix: '', dir: path.resolve(values.root) },
].sort((a, b) => b.prefix.length - a.prefix.length);

function rootFor(urlPath) {
  return roots.find((r) => r.prefix === '' || urlPath === r.prefix || urlPath.startsWith(r.prefix + '/'));
}

const server = http.createServer((req, res) => {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405).end();
    return;
  }
  const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  const { prefix, dir: root } = rootFor(urlPath);
  const file = path.resolve(root, '.' + urlPath.slice(prefix.length));
  // Never serve outside the repo dir, whatever the request path says.
  if (file !== root && !file.startsWith(root + path.sep)) {
    res.writeHead(403).end();
    return;
  }
  fs.stat(file, (err, st) => {
    if (err || !st.isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-length': st.size, 'content-type': 'application/octet-stream' });
    if (req.method === 'HEAD') res.end();
    else fs.createReadStream(file).pipe(res);
  });
});

server.listen(Number(values.port), values.host, () => {
  for (const r of roots) console.log(`repo-server: serving ${r.dir} on http://${values.host}:${values.port}${r.prefix}/`);
});
server.on('error', (e) => {
  console.error(`repo-server: ${e.message}`);
  process.exit(1);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));

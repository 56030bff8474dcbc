// A fake npm registry: HTTPS on 443 with the test CA's certificate for registry.npmjs.org, serving
// the packuments and tarballs in /registry (written by test/support/fake-npm-registry.ts). Runs in a
// container on Warden's egress network; each request is printed as a `{"fake":...}` line, so the
// test can read from the container's log what reached it.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';

const ROOT = '/registry';
/** path -> [file, content type]: only what the test put there; everything else is a 404. */
const routes = JSON.parse(readFileSync(join(ROOT, 'routes.json'), 'utf8'));

const server = createServer({ key: readFileSync('/certs/server.key'), cert: readFileSync('/certs/server.crt') }, (req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  const route = req.method === 'GET' || req.method === 'HEAD' ? routes[decodeURIComponent(path)] : undefined;
  console.log(JSON.stringify({ fake: { method: req.method, host: req.headers.host, path, status: route ? 200 : 404 } }));
  if (!route) {
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Not found"}');
    return;
  }
  const [file, type] = route;
  const body = readFileSync(join(ROOT, file));
  res.writeHead(200, { 'content-type': type, 'content-length': body.length });
  res.end(req.method === 'HEAD' ? undefined : body);
});
server.listen(443, () => console.log(JSON.stringify({ listening: 443 })));

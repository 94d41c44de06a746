/**
 * The playground's files over HTTP: `/` is the HTML page and loads the module entry, every module reachable from it
 * by `import` (and the stylesheet) is served with its JavaScript (CSS) content type, every .js file under
 * playground/ is reachable, and paths outside the allow-list — traversal, encoded dots, absolute paths — get an
 * OpenAI-shaped 404 while the server keeps serving. Requests go through node:http so paths reach the server as
 * written (fetch would normalise `..` away).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { packageRoot } from '../../src/util/package-root.js';
import { startServer, type TestServer } from '../helpers/server.js';

let s: TestServer;

before(async () => {
  s = await startServer({ backend: 'ts' });
});
after(() => s.close());

interface Got {
  status: number;
  type: string;
  body: string;
}

/** GET `rawPath` exactly as written (no URL normalisation). */
function get(rawPath: string): Promise<Got> {
  const { hostname, port } = new URL(s.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname, port, path: rawPath, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Relative specifiers of a module's static imports (`import … from './x.js'`, `import './x.js'`). */
function importsOf(source: string): string[] {
  return [...source.matchAll(/^\s*import\s+(?:[^'"]*?\s+from\s+)?['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
}

/** Every .js file under `dir`, as URL paths relative to it (`js/main.js`). */
function jsFiles(dir: string, prefix = ''): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? jsFiles(path.join(dir, e.name), `${prefix}${e.name}/`) : e.name.endsWith('.js') ? [`${prefix}${e.name}`] : [],
  );
}

test('`/` is the HTML page; the module entry and every module it imports are served as JavaScript', async () => {
  const page = await get('/');
  assert.equal(page.status, 200);
  assert.match(page.type, /^text\/html/);
  const entries = [...page.body.matchAll(/<script\s+type="module"\s+src="([^"]+)"/g)].map((m) => m[1]!);
  assert.deepEqual(entries, ['js/main.js'], 'the page loads one module entry');
  assert.doesNotMatch(page.body, /<script(?![^>]*type="module")[^>]*src=/, 'no classic scripts');

  const base = `${s.url}/`;
  const seen = new Set<string>();
  const queue = entries.map((e) => new URL(e, base).pathname);
  while (queue.length) {
    const urlPath = queue.shift()!;
    if (seen.has(urlPath)) continue;
    seen.add(urlPath);
    const mod = await get(urlPath);
    assert.equal(mod.status, 200, `${urlPath}: ${mod.body.slice(0, 200)}`);
    assert.match(mod.type, /^text\/javascript/, `${urlPath} content type`);
    for (const spec of importsOf(mod.body)) {
      assert.ok(spec.startsWith('./') || spec.startsWith('../'), `${urlPath} imports ${spec}: only relative imports (no CDN, no bare names)`);
      queue.push(new URL(spec, `${s.url}${urlPath}`).pathname);
    }
  }
  const onDisk = jsFiles(path.join(packageRoot(), 'playground')).map((f) => `/${f}`).sort();
  assert.deepEqual([...seen].sort(), onDisk, 'every .js file under playground/ is reached from the entry');

  const css = await get('/playground.css');
  assert.equal(css.status, 200);
  assert.match(css.type, /^text\/css/);
});

test('paths outside the allow-list get an OpenAI-shaped 404 and the server keeps serving', async () => {
  const attempts = ['/..%2Fpackage.json', '/js/../../package.json', '/%2e%2e/x.js', '/etc/passwd', '/js/../index.html', '/%2e%2e/package.json', '/JS/MAIN.JS', '/package.json', '//etc/passwd.js', '/js/missing.js', '/js'];
  for (const p of attempts) {
    const r = await get(p);
    assert.equal(r.status, 404, `${p}: got ${r.status} ${r.body.slice(0, 200)}`);
    assert.match(r.type, /^application\/json/, `${p} content type`);
    const body = JSON.parse(r.body) as { error: { message: string; type: string; code: string } };
    assert.equal(body.error.type, 'invalid_request_error', p);
    assert.equal(body.error.code, 'not_found', p);
    assert.doesNotMatch(r.body, /"name":\s*"mimo/, `${p} leaked package.json`);
  }
  assert.equal((await get('/health')).status, 200);
  assert.equal((await get('/js/main.js')).status, 200);
});

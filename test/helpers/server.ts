/**
 * Test servers: a tiny random-weight MiMo-V2-Flash checkpoint with tokenizer (written once per process), and
 * `mimo serve` on it listening on a free loopback port.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initCheckpoint } from '../../src/model/mimo-v2/init.js';
import { createServer, type MimoServer, type ServerOptions } from '../../src/server/app.js';

let tiny: Promise<string> | null = null;

/** A tiny checkpoint directory named `tiny` (so its served model name is `tiny`), created on first use. */
export function tinyCheckpoint(): Promise<string> {
  tiny ??= (async () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-serve-')), 'tiny');
    await initCheckpoint({ preset: 'mimo-v2-flash', scale: 'tiny', outDir: dir, seed: 7 });
    process.on('exit', () => fs.rmSync(path.dirname(dir), { recursive: true, force: true }));
    return dir;
  })();
  return tiny;
}

export interface TestServer {
  server: MimoServer;
  /** `http://127.0.0.1:PORT` */
  url: string;
  close(): Promise<void>;
}

/** Start `mimo serve` on the tiny checkpoint (options override; modelDir defaults to it). */
export async function startServer(opts: Partial<ServerOptions> = {}): Promise<TestServer> {
  const server = await createServer({ modelDir: await tinyCheckpoint(), ...opts });
  const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  return { server, url, close: () => server.close() };
}

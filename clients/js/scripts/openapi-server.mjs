// Starts souk's release binary on free ports with an empty data directory,
// fetches GET /api/openapi.json and stops it; answers the document's text,
// formatted. Used by openapi-snapshot.mjs
// (writes the committed snapshot) and test/openapi-snapshot.test.js (checks
// that the snapshot is current).
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const kitDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const snapshotPath = path.join(kitDir, 'openapi.json');

/**
 * SOUK_BIN (a relative one from the working directory, which is the kit's
 * under `npm run`), else the kit's ../../target/release/souk.
 */
export function soukBin(env = process.env) {
  return env.SOUK_BIN ? path.resolve(env.SOUK_BIN) : path.resolve(kitDir, '../../target/release/souk');
}

/**
 * The document's JSON text formatted as the snapshot stores it: two-space
 * indents, the server's key order, and its numbers as written (JSON.parse
 * would round the u64::MAX bounds of query integers to 18446744073709552000).
 */
export function format(text) {
  JSON.parse(text); // valid JSON, or throw
  let out = '';
  let depth = 0;
  const newline = () => `\n${'  '.repeat(depth)}`;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j;
    } else if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      let j = i + 1;
      while (/\s/.test(text[j])) j += 1;
      if (text[j] === close) {
        out += c + close;
        i = j;
      } else {
        depth += 1;
        out += c + newline();
      }
    } else if (c === '}' || c === ']') {
      depth -= 1;
      out += newline() + c;
    } else if (c === ',') {
      out += `,${newline()}`;
    } else if (c === ':') {
      out += ': ';
    } else if (!/\s/.test(c)) {
      out += c;
    }
  }
  return `${out}\n`;
}

export async function fetchOpenApi(bin = soukBin(), { timeoutMs = 30_000 } = {}) {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'souk-openapi-'));
  const child = spawn(
    bin,
    ['serve', '--data-dir', dataDir, '--http-addr', '127.0.0.1:0', '--socket-addr', '127.0.0.1:0'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' } },
  );
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  try {
    const http = await new Promise((resolve, reject) => {
      let buffer = '';
      const timer = setTimeout(() => reject(new Error(`no "listening" line from ${bin} in ${timeoutMs} ms\n${stderr}`)), timeoutMs);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`cannot start ${bin}: ${error.message}`));
      });
      exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`${bin} exited (${code ?? signal}) before listening\n${stderr}`));
      });
      child.stdout.on('data', (chunk) => {
        buffer += chunk;
        let newline;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          try {
            const event = JSON.parse(line);
            if (event.event === 'listening' && event.http) {
              clearTimeout(timer);
              resolve(event.http);
            }
          } catch {
            // not a JSON line
          }
        }
      });
    });
    const answer = await fetch(`http://${http}/api/openapi.json`);
    if (!answer.ok) throw new Error(`GET /api/openapi.json answered ${answer.status}`);
    return format(await answer.text());
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dataDir, { recursive: true, force: true });
  }
}

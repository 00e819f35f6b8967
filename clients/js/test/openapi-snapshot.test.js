// openapi.json (the snapshot the kit's types are checked against, see
// test/types/openapi-check.ts) must be the document the server serves now.
// Runs only with SOUK_BIN set (the release binary: souk's scripts/test.sh
// sets it); without it, skipped.
import { readFile } from 'node:fs/promises';
import { describe, expect, test } from 'vitest';
import { fetchOpenApi, snapshotPath, soukBin } from '../scripts/openapi-server.mjs';

describe.skipIf(!process.env.SOUK_BIN)('openapi.json', () => {
  test('is the document the server serves (GET /api/openapi.json)', async () => {
    const served = await fetchOpenApi(soukBin());
    const committed = await readFile(snapshotPath, 'utf8');
    if (served !== committed) {
      const a = committed.split('\n');
      const b = served.split('\n');
      let line = 0;
      while (line < a.length && a[line] === b[line]) line += 1;
      expect.fail(
        `clients/js/openapi.json differs from the server's GET /api/openapi.json (${soukBin()}), ` +
          `first at line ${line + 1}:\n  snapshot: ${a[line] ?? '(end)'}\n  server:   ${b[line] ?? '(end)'}\n` +
          'Run `npm run openapi:snapshot --prefix clients/js` (after `cargo build --release -p souk-api`), ' +
          'then `npm test --prefix clients/js`, fix what the type check finds, and commit openapi.json.',
      );
    }
  }, 60_000);
});

#!/usr/bin/env node
// Writes openapi.json (the kit's committed snapshot of souk's OpenAPI
// document) from the server itself: starts the release binary (SOUK_BIN,
// default ../../target/release/souk relative to the kit; build it with
// `cargo build --release -p souk-api`), fetches GET /api/openapi.json,
// writes it formatted and stops the server.
//
//   node scripts/openapi-snapshot.mjs        # or: npm run openapi:snapshot
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fetchOpenApi, snapshotPath, soukBin } from './openapi-server.mjs';

const bin = soukBin();
const text = await fetchOpenApi(bin);
await writeFile(snapshotPath, text);
const document = JSON.parse(text);
console.log(`${path.relative(process.cwd(), snapshotPath) || snapshotPath}: OpenAPI ${document.openapi}, ${Object.keys(document.paths ?? {}).length} paths, from ${bin}`);

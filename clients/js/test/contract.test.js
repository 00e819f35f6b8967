// Keeps the kit in step with docs/api.md and with its own type declarations:
// every socket event and error code that the contract's tables list has a type,
// and every export of the code is declared (and the reverse).

import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import * as kit from '../src/index.js';
import * as react from '../src/react.js';

const here = (p) => new URL(p, import.meta.url);
const doc = readFileSync(here('../../../docs/api.md'), 'utf8');
const dts = readFileSync(here('../types/index.d.ts'), 'utf8');
const reactDts = readFileSync(here('../types/react.d.ts'), 'utf8');

/** The first-column code names of the table under `heading`. */
function tableNames(heading) {
  const start = doc.indexOf(`\n${heading}\n`);
  expect(start, heading).toBeGreaterThan(-1);
  const names = [];
  let inTable = false;
  for (const line of doc.slice(start + heading.length + 2).split('\n')) {
    if (line.startsWith('|')) {
      inTable = true;
      const cell = /^\|\s*`([a-z_]+)`/.exec(line);
      if (cell) names.push(cell[1]);
    } else if (inTable) break;
  }
  return names.sort();
}

/** The keys of `export interface <name> { ... }` in the declarations. */
function interfaceKeys(name) {
  const body = new RegExp(`export interface ${name} \\{([\\s\\S]*?)\\n\\}`).exec(dts)[1];
  return [...body.matchAll(/^ {2}([a-z_]+)[?]?:/gm)].map((x) => x[1]).sort();
}

function declaredValues(text) {
  return [...text.matchAll(/^export declare (?:function|class) (\w+)/gm)].map((x) => x[1]);
}

describe('docs/api.md', () => {
  test('every client event has its payload and ack type', () => {
    const events = tableNames('### Client to server');
    expect(events).toContain('join_chat_room');
    expect(interfaceKeys('ClientEvents')).toEqual(events);
  });

  test('every server event has its payload type', () => {
    const events = tableNames('### Server to client');
    expect(events).toContain('receive_message');
    expect(interfaceKeys('ServerEvents')).toEqual(events);
  });

  test('every error code is in ErrorCode', () => {
    const codes = tableNames('## Errors');
    expect(codes).toContain('rate_limited');
    const union = /export type ErrorCode =([\s\S]*?);/.exec(dts)[1];
    expect([...union.matchAll(/'([a-z_]+)'/g)].map((x) => x[1]).sort()).toEqual(codes);
  });
});

describe('declarations', () => {
  test('types/index.d.ts declares exactly what src/index.js exports', () => {
    expect(declaredValues(dts).sort()).toEqual(Object.keys(kit).sort());
  });

  test('types/react.d.ts declares exactly what src/react.js exports', () => {
    expect(declaredValues(reactDts).sort()).toEqual(Object.keys(react).sort());
  });
});

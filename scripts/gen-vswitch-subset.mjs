#!/usr/bin/env node
// Derives the embedded vswitch schema subset (the tables Connectivity Manager
// touches) from Open vSwitch's vswitch.ovsschema, dropping columns that refer
// to tables outside the subset. Run: node scripts/gen-vswitch-subset.mjs [path]
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const TABLES = ['Open_vSwitch', 'Bridge', 'Port', 'Interface', 'QoS', 'Queue'];
const source = process.argv[2] ?? '/usr/share/openvswitch/vswitch.ovsschema';
const full = JSON.parse(readFileSync(source, 'utf8'));
const refs = (t) =>
  typeof t === 'object' && t !== null
    ? [t.key, t.value].flatMap((b) => (typeof b === 'object' && b !== null && b.refTable ? [b.refTable] : []))
    : [];
const tables = {};
for (const name of TABLES) {
  const table = structuredClone(full.tables[name]);
  for (const [col, def] of Object.entries(table.columns)) {
    if (refs(def.type).some((r) => !TABLES.includes(r))) delete table.columns[col];
  }
  tables[name] = table;
}
const subset = { name: full.name, version: full.version, tables };
const out = path.resolve(import.meta.dirname, '../src/ovsdb/vswitch/vswitch-subset.ovsschema.json');
writeFileSync(out, JSON.stringify(subset, null, 1) + '\n');
console.log(`wrote ${out} (schema ${full.version}, tables ${TABLES.join(', ')})`);

#!/usr/bin/env node
// The dashboard's bundle: ui/src/main.ts (TypeScript, uPlot) → app-<hash>.js and app-<hash>.css with esbuild,
// and ui/index.html with those names filled in. `npm run build` writes it to dist/ui (the package serves it);
// in a source checkout the manager builds it on start into a cache folder keyed by the sources' hash.
//   node scripts/build-ui.mjs OUT_DIR
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import zlib, { brotliCompressSync, gzipSync } from 'node:zlib';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const uiRoot = path.join(root, 'ui');

/** Builds the dashboard into `outDir` (replaced). Returns the files written with their sizes. */
export async function buildUi(outDir) {
  const esbuild = await import('esbuild');
  const staging = `${outDir}.tmp-${String(process.pid)}`;
  rmSync(staging, { recursive: true, force: true });
  const result = await esbuild.build({
    entryPoints: { app: path.join(uiRoot, 'src', 'main.ts') },
    bundle: true,
    format: 'esm',
    target: ['chrome110', 'firefox115', 'safari16'],
    minify: true,
    legalComments: 'linked',
    entryNames: '[name]-[hash]',
    outdir: staging,
    metafile: true,
    logLevel: 'silent',
  });
  const outputs = Object.keys(result.metafile.outputs).map((f) => path.basename(f));
  const js = outputs.find((f) => /^app-.*\.js$/.test(f));
  const css = outputs.find((f) => /^app-.*\.css$/.test(f));
  if (!js || !css) throw new Error(`build-ui: esbuild wrote ${outputs.join(', ')}, not app-*.js and app-*.css`);
  const html = readFileSync(path.join(uiRoot, 'index.html'), 'utf8').replaceAll('{{app.js}}', js).replaceAll('{{app.css}}', css);
  writeFileSync(path.join(staging, 'index.html'), html);
  for (const f of readdirSync(staging)) {
    if (!/\.(js|css|html)$/.test(f)) continue;
    const data = readFileSync(path.join(staging, f));
    // Served as is by @fastify/static (preCompressed) to browsers that accept them.
    writeFileSync(path.join(staging, `${f}.br`), brotliCompressSync(data, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }));
    writeFileSync(path.join(staging, `${f}.gz`), gzipSync(data, { level: 9 }));
  }
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(path.dirname(outDir), { recursive: true });
  try {
    renameSync(staging, outDir);
  } catch (error) {
    // Another process built the same sources into the same place a moment earlier: theirs will do.
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(path.join(outDir, 'index.html'))) throw error;
  }
  return readdirSync(outDir).map((f) => ({ file: f, bytes: readFileSync(path.join(outDir, f)).length }));
}

function sourcesHash() {
  const h = createHash('sha256');
  for (const f of readdirSync(uiRoot, { recursive: true, encoding: 'utf8' }).sort()) {
    const full = path.join(uiRoot, f);
    try {
      h.update(f).update(readFileSync(full));
    } catch {
      // a folder
    }
  }
  h.update(readFileSync(path.join(root, 'node_modules', 'uplot', 'package.json')));
  return h.digest('hex').slice(0, 16);
}

/** The built dashboard of this checkout: reused while ui/ is unchanged, else built now (~0.2 s). */
export async function ensureUiBuilt() {
  const dir = path.join(os.tmpdir(), `cm-ui-${sourcesHash()}`);
  if (!existsSync(path.join(dir, 'index.html'))) await buildUi(dir);
  return dir;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: node scripts/build-ui.mjs OUT_DIR');
    process.exit(2);
  }
  const files = await buildUi(path.resolve(out));
  const total = files.reduce((s, f) => s + f.bytes, 0);
  console.log(`build-ui: ${files.map((f) => `${f.file} ${String(f.bytes)} B`).join(', ')} (${String(total)} B) in ${out}`);
}

// Loads one of the package's entry modules. In a source checkout (src/ beside bin/) the
// TypeScript runs through tsx's loader, so there is no build step to forget and no stale
// build to run; the published package carries only the compiled dist/ and runs on plain node.
import { existsSync } from 'node:fs';

export async function load(module) {
  const source = new URL(`../src/${module}.ts`, import.meta.url);
  if (existsSync(source)) {
    const { register } = await import('tsx/esm/api');
    register();
    return import(source.href);
  }
  return import(new URL(`../dist/${module}.js`, import.meta.url).href);
}

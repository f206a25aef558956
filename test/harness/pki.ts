/** Test certificates made with the openssl CLI (callers gate on it like every real-tool test). */
import { spawnSync } from 'node:child_process';

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

/** A CA `<caName>.crt/.key` and, for each leaf name, `<leaf>.crt/.key` signed by it, in `dir`. */
export function makePki(dir: string, caName: string, leaves: string[]): void {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${caName}`, '-keyout', `${caName}.key`, '-out', `${caName}.crt`], dir);
  for (const leaf of leaves) {
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${leaf}`, '-keyout', `${leaf}.key`, '-out', `${leaf}.csr`], dir);
    openssl(['x509', '-req', '-in', `${leaf}.csr`, '-CA', `${caName}.crt`, '-CAkey', `${caName}.key`, '-CAcreateserial', '-days', '2', '-out', `${leaf}.crt`], dir);
  }
}

/** The simulated cloud's admin credentials as the `OS_*` variables an openrc file would export. */
import type { SimCloud } from './index.ts';

export function openrcEnv(sim: Pick<SimCloud, 'authUrl' | 'credentials'>): Record<string, string> {
  const c = sim.credentials;
  return {
    OS_AUTH_URL: sim.authUrl,
    OS_USERNAME: c.username,
    OS_PASSWORD: c.password,
    OS_PROJECT_NAME: c.projectName,
    OS_USER_DOMAIN_NAME: c.userDomainName,
    OS_PROJECT_DOMAIN_NAME: c.projectDomainName,
    OS_REGION_NAME: c.regionName,
    OS_IDENTITY_API_VERSION: '3',
  };
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cloudFromEnv, configSearchPaths, loadCloudConfig, type ConfigIO } from '../../src/openstack/config.ts';
import { OpenStackConfigError } from '../../src/openstack/errors.ts';

function io(files: Record<string, string>, env: Record<string, string> = {}): ConfigIO {
  return { env, readFile: (f) => files[f], cwd: '/work', homedir: '/home/u' };
}

const CLOUDS = `
clouds:
  prod:
    region_name: RegionOne
    interface: internal
    cacert: /etc/ssl/os.pem
    auth:
      auth_url: https://keystone.example:5000/v3
      username: admin
      project_name: admin
      user_domain_name: Default
      project_domain_id: default
  appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: https://keystone.example:5000
      application_credential_id: ac-1
      application_credential_secret: s3cret
    verify: false
`;
const SECURE = `
clouds:
  prod:
    auth:
      password: hunter2
`;

describe('cloud configuration', () => {
  it('searches ./, $XDG_CONFIG_HOME/openstack (or ~/.config/openstack), /etc/openstack, OS_CLIENT_CONFIG_FILE first', () => {
    assert.deepEqual(configSearchPaths({ env: {}, cwd: '/w', homedir: '/h' }, 'clouds'), [
      '/w/clouds.yaml', '/w/clouds.yml', '/h/.config/openstack/clouds.yaml', '/h/.config/openstack/clouds.yml', '/etc/openstack/clouds.yaml', '/etc/openstack/clouds.yml',
    ]);
    const p = configSearchPaths({ env: { XDG_CONFIG_HOME: '/x', OS_CLIENT_CONFIG_FILE: '/c.yaml' }, cwd: '/w', homedir: '/h' }, 'clouds');
    assert.equal(p[0], '/c.yaml');
    assert.ok(p.includes('/x/openstack/clouds.yaml'));
  });

  it('selects the OS_CLOUD entry and merges secure.yaml', () => {
    const c = loadCloudConfig(io({ '/home/u/.config/openstack/clouds.yaml': CLOUDS, '/etc/openstack/secure.yaml': SECURE }, { OS_CLOUD: 'prod' }));
    assert.equal(c.cloudName, 'prod');
    assert.equal(c.authType, 'password');
    assert.equal(c.auth.password, 'hunter2');
    assert.equal(c.auth.username, 'admin');
    assert.equal(c.auth.projectDomainId, 'default');
    assert.equal(c.regionName, 'RegionOne');
    assert.equal(c.interface, 'internal');
    assert.equal(c.cacert, '/etc/ssl/os.pem');
    assert.equal(c.insecure, false);
    assert.match(c.source, /clouds\.yaml \+ \/etc\/openstack\/secure\.yaml/);
  });

  it('prefers ./clouds.yaml and an explicit name over OS_CLOUD', () => {
    const local = CLOUDS.replace('RegionOne', 'LocalRegion');
    const c = loadCloudConfig(io({ '/work/clouds.yaml': local, '/etc/openstack/clouds.yaml': CLOUDS, '/work/secure.yaml': SECURE }, { OS_CLOUD: 'appcred' }), { cloud: 'prod' });
    assert.equal(c.regionName, 'LocalRegion');
  });

  it('names the missing field and the file when secure.yaml is absent', () => {
    assert.throws(
      () => loadCloudConfig(io({ '/etc/openstack/clouds.yaml': CLOUDS }, { OS_CLOUD: 'prod' })),
      (e: unknown) => e instanceof OpenStackConfigError && /auth\.password/.test(e.message) && /\/etc\/openstack\/clouds\.yaml/.test(e.message),
    );
  });

  it('reads application credentials and verify:false', () => {
    const c = loadCloudConfig(io({ '/work/clouds.yaml': CLOUDS }), { cloud: 'appcred' });
    assert.equal(c.authType, 'v3applicationcredential');
    assert.equal(c.auth.applicationCredentialId, 'ac-1');
    assert.equal(c.auth.applicationCredentialSecret, 's3cret');
    assert.equal(c.insecure, true);
    assert.equal(c.interface, 'public');
  });

  it('reports an unknown cloud and a missing clouds.yaml with the places looked in', () => {
    assert.throws(() => loadCloudConfig(io({ '/work/clouds.yaml': CLOUDS }), { cloud: 'nope' }), /cloud "nope" not found in \/work\/clouds\.yaml \(it has: prod, appcred\)/);
    assert.throws(() => loadCloudConfig(io({}, { OS_CLOUD: 'prod' })), /no clouds\.yaml was found; looked in: .*\/etc\/openstack\/clouds\.yaml/);
  });

  it('reads OS_* variables', () => {
    const c = cloudFromEnv({
      OS_AUTH_URL: 'http://k/identity/v3', OS_USERNAME: 'demo', OS_PASSWORD: 'pw', OS_PROJECT_NAME: 'demo', OS_USER_DOMAIN_NAME: 'Default',
      OS_PROJECT_DOMAIN_ID: 'default', OS_REGION_NAME: 'R1', OS_INTERFACE: 'admin', OS_CACERT: '/ca.pem', OS_INSECURE: 'true',
    });
    assert.equal(c.cloudName, 'envvars');
    assert.deepEqual(c.auth, { authUrl: 'http://k/identity/v3', username: 'demo', password: 'pw', projectName: 'demo', userDomainName: 'Default', projectDomainId: 'default' });
    assert.equal(c.regionName, 'R1');
    assert.equal(c.interface, 'admin');
    assert.equal(c.cacert, '/ca.pem');
    assert.equal(c.insecure, true);
    assert.equal(loadCloudConfig(io({}, { OS_AUTH_URL: 'http://k', OS_USER_ID: 'u', OS_PASSWORD: 'p', OS_PROJECT_ID: 'p' })).auth.userId, 'u');
  });

  it('reads application credentials from OS_* (auth type inferred or explicit)', () => {
    const c = cloudFromEnv({ OS_AUTH_URL: 'http://k', OS_APPLICATION_CREDENTIAL_ID: 'id', OS_APPLICATION_CREDENTIAL_SECRET: 's' });
    assert.equal(c.authType, 'v3applicationcredential');
    assert.throws(
      () => cloudFromEnv({ OS_AUTH_URL: 'http://k', OS_AUTH_TYPE: 'v3applicationcredential', OS_APPLICATION_CREDENTIAL_NAME: 'n', OS_APPLICATION_CREDENTIAL_SECRET: 's' }),
      /OS_USERNAME or OS_USER_ID/,
    );
  });

  it('names the missing OS_* variable', () => {
    assert.throws(() => cloudFromEnv({}), /OS_AUTH_URL/);
    assert.throws(() => cloudFromEnv({ OS_AUTH_URL: 'http://k', OS_USERNAME: 'u', OS_USER_DOMAIN_NAME: 'D', OS_PROJECT_NAME: 'p', OS_PROJECT_DOMAIN_NAME: 'D' }), /missing OS_PASSWORD/);
    assert.throws(() => cloudFromEnv({ OS_AUTH_URL: 'http://k', OS_USERNAME: 'u', OS_PASSWORD: 'x', OS_PROJECT_NAME: 'p', OS_PROJECT_DOMAIN_NAME: 'D' }), /OS_USER_DOMAIN_NAME or OS_USER_DOMAIN_ID/);
    assert.throws(() => cloudFromEnv({ OS_AUTH_URL: 'http://k', OS_USER_ID: 'u', OS_PASSWORD: 'x' }), /OS_PROJECT_NAME or OS_PROJECT_ID/);
    assert.throws(() => cloudFromEnv({ OS_AUTH_URL: 'http://k', OS_USER_ID: 'u', OS_PASSWORD: 'x', OS_AUTH_TYPE: 'token' }), /auth type "token" is not supported/);
  });
});

/**
 * The rendered HOT of the thesis topology deploys on the simulated Heat:
 * created through the HeatClient, pinned by availability zone, user data
 * wired by str_replace, failures reported as real Heat reports them.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createOpenStack, type OpenStack } from '../../src/openstack/index.ts';
import { startSimCloud, type SimCloud } from '../../src/sim/index.ts';
import { call, endpoint, login } from './helpers.ts';
import { parseThesisTopology, parseTopologyYaml, stackCreateRequest, type Topology } from '../../src/topology/index.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../../src/topology/fixtures/thesis');
const read = (name: string) => ({ name, text: readFileSync(path.join(FIXTURES, name), 'utf8') });
const thesis = parseThesisTopology(read('topology.json'), ['ControllerService.json', 'BrokerService.json', 'MediaService.json'].map(read));
const allOn = (t: Topology, host: string) => Object.fromEntries(t.units.map((u) => [u.id, host]));
const decode = (b64: string | null) => Buffer.from(b64 ?? '', 'base64').toString('utf8');

describe('thesis topology on the simulated Heat', () => {
  let sim: SimCloud;
  let os: OpenStack;

  before(async () => {
    sim = await startSimCloud({ bootDelayMs: 10 });
    const c = sim.credentials;
    os = createOpenStack(
      {
        cloudName: 'sim',
        authType: 'password',
        auth: { authUrl: sim.authUrl, username: c.username, password: c.password, projectName: c.projectName, userDomainName: c.userDomainName, projectDomainName: c.projectDomainName },
        regionName: c.regionName,
        interface: 'public',
        insecure: false,
        source: 'test',
      },
      { http: { retry: { baseDelayMs: 10 } } },
    );
  });
  after(async () => {
    await os.close();
    await sim.close();
  });

  async function deploy(t: Topology, name: string, assignments: Record<string, string | null>) {
    const body = stackCreateRequest(t, { assignments, stackName: name });
    assert.equal(body.disable_rollback, true);
    const created = await os.heat.createStack({ name: body.stack_name, template: body.template, disableRollback: body.disable_rollback });
    const stack = await os.heat.waitForStack(name, created.id, { intervalMs: 20, timeoutMs: 20_000 });
    assert.ok(stack);
    return stack;
  }

  async function destroy(name: string, id: string) {
    await os.heat.deleteStack(name, id);
    const gone = await os.heat.waitForStack(name, id, { intervalMs: 20, timeoutMs: 20_000 });
    assert.equal(gone?.status ?? 'DELETE_COMPLETE', 'DELETE_COMPLETE');
  }

  it('creates the stack pinned to compute1: 5 ACTIVE servers, Broker-1 IP in the MediaServers user data, then deletes it all', async () => {
    const stack = await deploy(thesis, 'thesis-topology', allOn(thesis, 'compute1'));
    assert.equal(stack.status, 'CREATE_COMPLETE', stack.statusReason);

    const servers = [...sim.state.servers.values()];
    assert.deepEqual(servers.map((s) => s.name).sort(), ['Broker-1', 'Controller-1', 'MediaServer-1', 'MediaServer-2', 'MediaServer-3']);
    for (const s of servers) {
      assert.equal(s.status, 'ACTIVE');
      assert.equal(s.host, 'compute1');
      assert.equal(s.keyName, 'nubomedia');
      assert.deepEqual(s.metadata, { cm_topology: 'local_nm_template_minified', cm_unit: s.name, cm_service_instance: s.name.replace(/-\d+$/, '') });
    }

    const broker = servers.find((s) => s.name === 'Broker-1');
    const brokerPort = sim.state.ports.get(broker?.portIds[0] ?? '');
    const brokerIp = brokerPort?.fixedIps[0]?.ip_address;
    assert.match(brokerIp ?? '', /^10\.0\.0\.\d+$/);
    for (const ms of servers.filter((s) => s.name.startsWith('MediaServer-'))) {
      const text = decode(ms.userData);
      assert.ok(text.includes(`broker=${brokerIp ?? ''}`), text);
      assert.ok(text.includes(`iperf -c ${brokerIp ?? ''} -t 60`), text);
      assert.equal(text.includes('$BROKER_IP'), false);
    }
    // Ports carry the project's default security group, as the template asked.
    const defaultGroup = [...sim.state.securityGroups.values()].find((g) => g.name === 'default' && g.projectId === brokerPort?.projectId);
    assert.deepEqual(brokerPort?.securityGroupIds, [defaultGroup?.id]);

    const outputs = Object.fromEntries(stack.outputs.map((o) => [o.key, o.value]));
    assert.equal(outputs['Broker-1-private-ip'], brokerIp);
    assert.equal(outputs['Broker-1-id'], broker?.id);

    await destroy('thesis-topology', stack.id);
    assert.equal(sim.state.servers.size, 0);
    assert.equal(sim.state.ports.size, 0);
  });

  it('pinning to a host that is full fails like Nova: CREATE_FAILED with no valid host on the server resource', async () => {
    // compute2 has 4 vCPUs; the topology needs 5.
    const stack = await deploy(thesis, 'thesis-full', allOn(thesis, 'compute2'));
    assert.equal(stack.status, 'CREATE_FAILED');
    const reason = /^ResourceInError: resources\.MediaServer-3: Went to status ERROR due to "Message: No valid host was found\. There are not enough hosts available\., Code: 500"$/;
    assert.match(stack.statusReason ?? '', /^Resource CREATE failed: ResourceInError: resources\.MediaServer-3: /);
    const resources = await os.heat.listResources('thesis-full', stack.id);
    const failed = resources.filter((r) => r.status === 'CREATE_FAILED');
    assert.deepEqual(failed.map((r) => [r.name, r.type]), [['MediaServer-3', 'OS::Nova::Server']]);
    assert.match(failed[0]?.statusReason ?? '', reason);
    // disable_rollback kept the evidence: the four that fitted are still there.
    assert.equal([...sim.state.servers.values()].filter((s) => s.status === 'ACTIVE' && s.host === 'compute2').length, 4);

    await destroy('thesis-full', stack.id);
    assert.equal(sim.state.servers.size, 0);
    assert.equal(sim.state.ports.size, 0);
  });

  it('floating IPs come from an external network; public_ip feeds the floating address into user data', async () => {
    sim.state.addNetwork({ name: 'public', cidr: '172.24.4.0/24', projectId: [...sim.state.projects.values()][0]?.id ?? '', external: true });
    const text = read('thesis.yaml')
      .text.replace(/(service_type: Broker\n(?:.*\n)*?\s+private_subnet: private-subnet\n)/, '$1        public_net: public\n')
      .replace('parameter: private_ip', 'parameter: public_ip');
    const t = parseTopologyYaml({ name: 'fip.yaml', text });
    const stack = await deploy(t, 'thesis-fip', allOn(t, 'compute1'));
    assert.equal(stack.status, 'CREATE_COMPLETE', stack.statusReason);
    const fips = [...sim.state.floatingIps.values()];
    assert.equal(fips.length, 1);
    const broker = [...sim.state.servers.values()].find((s) => s.name === 'Broker-1');
    assert.equal(fips[0]?.portId, broker?.portIds[0]);
    assert.match(fips[0]?.address ?? '', /^172\.24\.4\.\d+$/);
    const ms = [...sim.state.servers.values()].find((s) => s.name === 'MediaServer-1');
    assert.ok(decode(ms?.userData ?? null).includes(`broker=${fips[0]?.address ?? ''}`));
    assert.equal(Object.fromEntries(stack.outputs.map((o) => [o.key, o.value]))['Broker-1-public-ip-Network-1'], fips[0]?.address);
    // The same state through Neutron's API.
    const session = await login(sim);
    const neutron = endpoint(session, 'network');
    const get = async (p: string) => (await call('GET', `${neutron}${p}`, { token: session.token })).body as Record<string, Record<string, unknown>[]>;
    assert.deepEqual((await get('/v2.0/floatingips')).floatingips?.map((f) => [f.floating_ip_address, f.port_id, f.status]), [[fips[0]?.address, fips[0]?.portId, 'ACTIVE']]);
    assert.deepEqual((await get('/v2.0/networks?router:external=true')).networks?.map((n) => n.name), ['public']);
    assert.deepEqual((await get('/v2.0/subnets?name=private-subnet')).subnets?.map((n) => n.cidr), ['10.0.0.0/24']);
    const project = (session.body.project as { id: string }).id;
    assert.equal((await get(`/v2.0/security-groups?name=default&project_id=${project}`)).security_groups?.length, 1);
    await destroy('thesis-fip', stack.id);
    assert.equal(sim.state.floatingIps.size, 0);
    assert.equal(sim.state.ports.size, 0);
  });

  it('fails with Neutron-worded reasons: unknown security group, missing or non-external floating network', async () => {
    const cases: [string, (s: string) => string, RegExp][] = [
      ['sg', (s) => s.replace('security_groups: [default]', 'security_groups: [SecurityGroup-MediaServer]'), /^NotFound: resources\.Controller-1-port-Network-1: Unable to find security_group with name or id 'SecurityGroup-MediaServer'$/],
      ['nopub', (s) => s.replace(/(private_subnet: private-subnet\n)/, '$1        public_net: internet\n'), /^NotFound: resources\.Controller-1-fip-Network-1: Unable to find network with name or id 'internet'$/],
      ['notext', (s) => s.replace(/(private_subnet: private-subnet\n)/, '$1        public_net: private\n'), /^BadRequest: resources\.Controller-1-fip-Network-1: Bad floatingip request: Network [0-9a-f-]{36} is not a valid external network\.$/],
    ];
    for (const [name, edit, reason] of cases) {
      const t = parseTopologyYaml({ name: `${name}.yaml`, text: edit(read('thesis.yaml').text) });
      const stack = await deploy(t, `thesis-${name}`, allOn(t, 'compute1'));
      assert.equal(stack.status, 'CREATE_FAILED');
      const failed = (await os.heat.listResources(`thesis-${name}`, stack.id)).filter((r) => r.status === 'CREATE_FAILED');
      assert.equal(failed.length, 1);
      assert.match(failed[0]?.statusReason ?? '', reason);
      await destroy(`thesis-${name}`, stack.id);
    }
    assert.equal(sim.state.servers.size, 0);
    assert.equal(sim.state.ports.size, 0);
  });
});

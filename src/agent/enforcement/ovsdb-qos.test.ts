import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateSlaRequest } from '../../qos/validate.ts';
import { downloadQos, portSettingsFor, uploadPolicing } from './ovsdb-qos.ts';

describe('OVSDB QoS backend: SLA → switch settings', () => {
  it('the SLA the API validates is accepted by the switch translation', () => {
    const r = validateSlaRequest({ download: { min: '1mbit', max: '2mbit' }, upload: { max: '1500bit' } });
    assert.ok('sla' in r);
    assert.deepEqual(downloadQos(r.sla)?.queues, [{ minRate: 1e6, maxRate: 2e6 }]);
    assert.deepEqual(uploadPolicing(r.sla), { rateKbps: 2, burstKbits: 2 });
  });

  it('leaves upload policing to another backend with upload "none" (and removes ours)', () => {
    const sla = { download: { maxRate: 10e6 }, upload: { maxRate: 5e6 } };
    assert.deepEqual(portSettingsFor('tap1', 'p1', sla, 'policing').policing, { rateKbps: 5000, burstKbits: 4000 });
    assert.equal(portSettingsFor('tap1', 'p1', sla, 'none').policing, null);
    assert.deepEqual(portSettingsFor('tap1', 'p1', sla, 'none').qos?.maxRate, 10e6);
    assert.deepEqual(portSettingsFor('tap1', 'p1', undefined), { port: 'tap1', ifaceId: 'p1', qos: null, policing: null });
  });
});

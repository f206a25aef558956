import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkSla,
  isUuidLike,
  MAX_PEERS,
  parseThesisQosBody,
  pointer,
  thesisQosResponse,
  validateSlaRequest,
  type Problem,
} from './validate.ts';

const A = '3f2b6c1e-8d4a-4c3b-9a1e-0123456789ab';
const B = 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d';

function problemsOf(body: unknown, options?: { maxRate?: number; serverId?: string }): Problem[] {
  const r = validateSlaRequest(body, options);
  assert.ok('problems' in r, `expected problems for ${JSON.stringify(body)}`);
  return r.problems;
}

function pointers(problems: readonly Problem[]): string[] {
  return problems.map((p) => p.pointer).sort();
}

describe('validateSlaRequest', () => {
  it('accepts both directions with units and integers', () => {
    const r = validateSlaRequest({
      download: { min: '50mbit', max: 100_000_000, burst: '96kbit' },
      upload: { max: '20mbit', burst: 160000 },
    });
    assert.deepEqual(r, {
      sla: {
        download: { minRate: 50_000_000, maxRate: 100_000_000, burst: 96000 },
        upload: { maxRate: 20_000_000, burst: 160000 },
      },
    });
  });

  it('accepts one direction alone and leaves absent fields absent', () => {
    const r = validateSlaRequest({ upload: { max: '1gbit' } });
    assert.deepEqual(r, { sla: { upload: { maxRate: 1e9 } } });
    assert.ok('sla' in r && !('download' in r.sla));
    const d = validateSlaRequest({ download: { max: '1gbit' } });
    assert.ok('sla' in d);
    assert.deepEqual(Object.keys(d.sla.download ?? {}), ['maxRate']);
  });

  it('refuses non-objects and empty bodies', () => {
    assert.deepEqual(problemsOf(null), [{ pointer: '', message: 'the body must be a JSON object, got null' }]);
    assert.equal(problemsOf([])[0]?.message, 'the body must be a JSON object, got an array');
    assert.equal(problemsOf('x').length, 1);
    assert.deepEqual(problemsOf({}), [{ pointer: '', message: 'give at least one direction: "download" and/or "upload"' }]);
  });

  it('collects every problem, each naming its field', () => {
    const problems = problemsOf({
      download: { min: '1e8', max: -1, burst: 100, ceil: 5 },
      upload: { burst: '1kbps' },
      extra: true,
    });
    assert.deepEqual(pointers(problems), [
      '/download/burst',
      '/download/ceil',
      '/download/max',
      '/download/min',
      '/extra',
      '/upload/burst',
      '/upload/max',
    ]);
    const by = new Map(problems.map((p) => [p.pointer, p.message]));
    assert.match(by.get('/download/min') ?? '', /exponent.*as 0/);
    assert.match(by.get('/download/max') ?? '', /negative/);
    assert.match(by.get('/download/burst') ?? '', /at least 12000 bits/);
    assert.match(by.get('/download/ceil') ?? '', /unknown field "ceil"/);
    assert.match(by.get('/upload/max') ?? '', /is required/);
    assert.match(by.get('/upload/burst') ?? '', /rate unit/);
    assert.match(by.get('/extra') ?? '', /unknown field "extra"/);
  });

  it('refuses min above max, and a zero cap', () => {
    const p = problemsOf({ download: { min: '2gbit', max: '1gbit' }, upload: { max: 0 } });
    assert.deepEqual(pointers(p), ['/download/min', '/upload/max']);
    assert.match(p.find((x) => x.pointer === '/download/min')?.message ?? '', /must not exceed max: 2gbit .* > 1gbit/);
    assert.match(p.find((x) => x.pointer === '/upload/max')?.message ?? '', /greater than 0/);
    assert.ok('sla' in validateSlaRequest({ download: { min: '1gbit', max: '1gbit' } }));
  });

  it('respects a configured rate limit', () => {
    assert.ok('sla' in validateSlaRequest({ download: { max: '100gbit' } }));
    assert.deepEqual(pointers(problemsOf({ download: { max: '100gbit' } }, { maxRate: 10e9 })), ['/download/max']);
  });

  it('refuses wrong direction types and nulls', () => {
    const p = problemsOf({ download: 'fast', upload: { max: null } });
    assert.deepEqual(pointers(p), ['/download', '/upload/max']);
    assert.match(p[0]?.message ?? '', /must be an object/);
  });

  it('escapes pointer tokens per RFC 6901', () => {
    assert.equal(pointer('a/b', 'c~d'), '/a~1b/c~0d');
    assert.deepEqual(pointers(problemsOf({ download: { max: 1 }, 'x/y': 1 })), ['/x~1y']);
  });

  it('ignores inherited properties (no prototype tricks)', () => {
    const body = JSON.parse('{"__proto__": {"download": {"max": 5}}}') as unknown;
    assert.deepEqual(pointers(problemsOf(body)), ['', '/__proto__']);
  });
});

describe('validateSlaRequest: upload guarantee and peers', () => {
  const C = 'c0ffee00-0000-4000-8000-00000000000c';

  it('accepts upload.min and peers; peer ids come out lower case, in id order', () => {
    const r = validateSlaRequest(
      {
        download: { max: '1gbit' },
        upload: { min: '100mbit', max: '500mbit', burst: '96kbit' },
        peers: { [C]: { min: '20mbit' }, [B.toUpperCase()]: { min: 10_000_000 } },
      },
      { serverId: A },
    );
    assert.deepEqual(r, {
      sla: {
        download: { maxRate: 1e9 },
        upload: { minRate: 100_000_000, maxRate: 500_000_000, burst: 96_000 },
        peers: [
          { serverId: B, minRate: 10_000_000 },
          { serverId: C, minRate: 20_000_000 },
        ],
      },
    });
  });

  it('refuses upload.min above the upload max, naming /upload/min', () => {
    const p = problemsOf({ upload: { min: '600mbit', max: '500mbit' } });
    assert.deepEqual(pointers(p), ['/upload/min']);
    assert.match(p[0]?.message ?? '', /must not exceed max: 600mbit .* > 500mbit/);
    assert.ok('sla' in validateSlaRequest({ upload: { min: '500mbit', max: '500mbit' } }));
  });

  it('peers alone are not an SLA: a direction is still required', () => {
    assert.deepEqual(problemsOf({ peers: { [B]: { min: '10mbit' } } }), [{ pointer: '', message: 'give at least one direction: "download" and/or "upload"' }]);
  });

  it('an empty peers object means no pair guarantee and is left out', () => {
    const r = validateSlaRequest({ download: { max: '1gbit' }, peers: {} });
    assert.deepEqual(r, { sla: { download: { maxRate: 1e9 } } });
  });

  it('names every bad peer by /peers/<key>: not a UUID, itself, listed twice, bad entries', () => {
    const p = problemsOf(
      {
        download: { max: '1gbit' },
        peers: {
          'web-1': { min: '10mbit' },
          [A.toUpperCase()]: { min: '10mbit' },
          [B]: { min: '10mbit' },
          [B.toUpperCase()]: { min: '20mbit' },
          [C]: 5,
          '11111111-2222-4333-8444-555555555555': { min: 0, max: '1gbit' },
          '66666666-2222-4333-8444-555555555555': {},
          '77777777-2222-4333-8444-555555555555': { min: '1e8' },
        },
      },
      { serverId: A },
    );
    const by = new Map(p.map((x) => [x.pointer, x.message]));
    assert.deepEqual(pointers(p), [
      '/peers/11111111-2222-4333-8444-555555555555/max',
      '/peers/11111111-2222-4333-8444-555555555555/min',
      `/peers/${A.toUpperCase()}`,
      '/peers/66666666-2222-4333-8444-555555555555/min',
      '/peers/77777777-2222-4333-8444-555555555555/min',
      `/peers/${B.toUpperCase()}`,
      `/peers/${C}`,
      '/peers/web-1',
    ]);
    assert.match(by.get('/peers/web-1') ?? '', /not a server UUID/);
    assert.match(by.get(`/peers/${A.toUpperCase()}`) ?? '', /its own peer/);
    assert.match(by.get(`/peers/${B.toUpperCase()}`) ?? '', /same server as .*give it once/);
    assert.match(by.get(`/peers/${C}`) ?? '', /must be an object/);
    assert.match(by.get('/peers/11111111-2222-4333-8444-555555555555/min') ?? '', /greater than 0/);
    assert.match(by.get('/peers/11111111-2222-4333-8444-555555555555/max') ?? '', /unknown field "max"/);
    assert.match(by.get('/peers/66666666-2222-4333-8444-555555555555/min') ?? '', /is required/);
    assert.match(by.get('/peers/77777777-2222-4333-8444-555555555555/min') ?? '', /exponent/);
  });

  it('the server itself is only known, and refused, when the caller names it', () => {
    assert.ok('sla' in validateSlaRequest({ download: { max: '1gbit' }, peers: { [A]: { min: '1mbit' } } }));
    assert.deepEqual(pointers(problemsOf({ download: { max: '1gbit' }, peers: { [A]: { min: '1mbit' } } }, { serverId: A.toUpperCase() })), [`/peers/${A}`]);
  });

  it('refuses peers that are not an object, and more than MAX_PEERS of them', () => {
    assert.deepEqual(pointers(problemsOf({ download: { max: '1gbit' }, peers: [{ serverId: B, min: 1 }] })), ['/peers']);
    const many = Object.fromEntries(
      Array.from({ length: MAX_PEERS + 1 }, (_, i) => [`00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`, { min: '1mbit' }]),
    );
    const p = problemsOf({ download: { max: '1gbit' }, peers: many });
    assert.deepEqual(p, [{ pointer: '/peers', message: `at most ${MAX_PEERS} peers, got ${MAX_PEERS + 1}` }]);
    const atLimit = Object.fromEntries(Object.entries(many).slice(0, MAX_PEERS));
    const ok = validateSlaRequest({ download: { max: '1gbit' }, peers: atLimit });
    assert.ok('sla' in ok && ok.sla.peers?.length === MAX_PEERS);
  });
});

describe('checkSla (model form)', () => {
  it('accepts valid SLAs and reports bad ones', () => {
    assert.deepEqual(checkSla({ download: { minRate: 1, maxRate: 2, burst: 12000 }, upload: { maxRate: 5 } }), []);
    assert.deepEqual(pointers(checkSla({ download: { minRate: 3, maxRate: 2.5 }, x: 1 })), ['/download/maxRate', '/x']);
    assert.deepEqual(pointers(checkSla({ download: { minRate: 3, maxRate: 2 } })), ['/download/minRate']);
    assert.deepEqual(pointers(checkSla({})), ['']);
    assert.deepEqual(pointers(checkSla({ upload: { maxRate: 0, burst: 1 } })), ['/upload/burst', '/upload/maxRate']);
    assert.deepEqual(pointers(checkSla(null)), ['']);
  });

  it('checks the upload guarantee and peers', () => {
    assert.deepEqual(checkSla({ upload: { minRate: 5, maxRate: 5 }, peers: [{ serverId: B, minRate: 1 }] }), []);
    assert.deepEqual(pointers(checkSla({ upload: { minRate: 6, maxRate: 5 } })), ['/upload/minRate']);
    assert.deepEqual(pointers(checkSla({ peers: [{ serverId: B, minRate: 1 }] })), [''], 'peers alone are not an SLA');
    assert.deepEqual(
      pointers(
        checkSla(
          {
            download: { maxRate: 5 },
            peers: [{ serverId: B, minRate: 1 }, { serverId: B, minRate: 2 }, { serverId: A.toUpperCase(), minRate: 0 }, { serverId: A, minRate: 1, x: 1 }],
          },
          { serverId: A },
        ),
      ),
      ['/peers/1/serverId', '/peers/2/minRate', '/peers/2/serverId', '/peers/3/serverId', '/peers/3/x'],
    );
    assert.deepEqual(pointers(checkSla({ download: { maxRate: 5 }, peers: {} })), ['/peers']);
  });
});

describe('isUuidLike', () => {
  it('accepts 8-4-4-4-12 hex in any case', () => {
    assert.ok(isUuidLike(A));
    assert.ok(isUuidLike(A.toUpperCase()));
    assert.ok(!isUuidLike('not-a-uuid'));
    assert.ok(!isUuidLike(`${A}0`));
  });
});

describe('parseThesisQosBody', () => {
  it('parses the original body (test_qos_config.json shape)', () => {
    const r = parseThesisQosBody({
      compute1: {
        [A]: { name: 'vm-a', qos: { 'min-rate': '1000000', 'max-rate': '10000000' } },
        [B]: { qos: { 'max-rate': 5000000 } },
      },
    });
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.requests, [
      {
        host: 'compute1',
        serverId: A,
        name: 'vm-a',
        sla: { download: { minRate: 1_000_000, maxRate: 10_000_000 } },
        echo: { 'min-rate': '1000000', 'max-rate': '10000000' },
      },
      {
        host: 'compute1',
        serverId: B,
        sla: { download: { maxRate: 5_000_000 } },
        echo: { 'max-rate': '5000000' },
      },
    ]);
  });

  it('tolerates string values like the original, and strips a zone prefix from the host', () => {
    const r = parseThesisQosBody({
      hostname: 'ignored at top level',
      'nova:compute2': { hostname: 'compute2', [A]: { qos: { 'min-rate': '1', 'max-rate': '2' } } },
    });
    assert.deepEqual(r.problems, []);
    assert.equal(r.requests.length, 1);
    assert.equal(r.requests[0]?.host, 'compute2');
  });

  it('a server with bad rates is left out with a named problem; the others proceed', () => {
    const r = parseThesisQosBody({
      compute1: {
        [A]: { qos: { 'min-rate': '1e6', 'max-rate': '10000000' } },
        [B]: { qos: { 'min-rate': '1000000', 'max-rate': '10000000' } },
      },
    });
    assert.deepEqual(r.requests.map((x) => x.serverId), [B]);
    assert.equal(r.problems.length, 1);
    const [problem] = r.problems;
    assert.ok(problem);
    assert.equal(problem.pointer, `/compute1/${A}/qos/min-rate`);
    assert.match(problem.message, /exponent.*reads values like "1e8" as 0/);
  });

  it('reports min > max, zero or missing max-rate, unknown qos fields and bad entries', () => {
    const C = 'c0000000-0000-4000-8000-000000000000';
    const D = 'd0000000-0000-4000-8000-000000000000';
    const E = 'e0000000-0000-4000-8000-000000000000';
    const r = parseThesisQosBody({
      h: {
        [A]: { qos: { 'min-rate': '20', 'max-rate': '10' } },
        [B]: { qos: { 'min-rate': '10' } },
        [C]: { qos: { 'max-rate': '0', burst: '1' } },
        [D]: { name: 'no qos' },
        [E]: 5,
        'not-a-uuid': { qos: { 'max-rate': '10' } },
      },
      broken: [1],
    });
    assert.deepEqual(r.requests, []);
    assert.deepEqual(pointers(r.problems), [
      '/broken',
      `/h/${A}/qos/min-rate`,
      `/h/${B}/qos/max-rate`,
      `/h/${C}/qos/burst`,
      `/h/${C}/qos/max-rate`,
      `/h/${D}/qos`,
      `/h/${E}`,
      '/h/not-a-uuid',
    ]);
  });

  it('refuses a server listed under two hosts, keeping the rest', () => {
    const r = parseThesisQosBody({
      h1: { [A]: { qos: { 'max-rate': '10' } }, [B]: { qos: { 'max-rate': '10' } } },
      h2: { [A.toUpperCase()]: { qos: { 'max-rate': '20' } } },
    });
    assert.deepEqual(r.requests.map((x) => x.serverId), [B]);
    assert.deepEqual(pointers(r.problems), [`/h1/${A}`, `/h2/${A.toUpperCase()}`]);
  });

  it('refuses a non-object body', () => {
    const r = parseThesisQosBody('{}');
    assert.deepEqual(r.requests, []);
    assert.equal(r.problems[0]?.pointer, '');
  });
});

describe('thesisQosResponse', () => {
  it('builds {server: rates | 0} with the rates as given', () => {
    const parsed = parseThesisQosBody({ h: { [A]: { qos: { 'min-rate': 1000, 'max-rate': '10mbit' } } } });
    const req = parsed.requests[0]!;
    const body = thesisQosResponse([
      { serverId: req.serverId, applied: req.echo },
      { serverId: B, applied: undefined },
    ]);
    assert.deepEqual(body, { [A]: { 'min-rate': '1000', 'max-rate': '10mbit' }, [B]: 0 });
    assert.equal(JSON.stringify(body), `{"${A}":{"min-rate":"1000","max-rate":"10mbit"},"${B}":0}`);
  });

  it('keeps a __proto__ key as data', () => {
    const body = thesisQosResponse([{ serverId: '__proto__', applied: undefined }]);
    assert.equal(JSON.stringify(body), '{"__proto__":0}');
  });
});

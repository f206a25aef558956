import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  OpenStackAbortError,
  OpenStackApiError,
  OpenStackConflictError,
  OpenStackConnectionError,
  OpenStackTimeoutError,
} from '../../src/openstack/errors.ts';
import { HttpClient, collectPages, parseErrorBody, parseRetryAfter, type RequestLogEntry } from '../../src/openstack/http.ts';
import { sendJson, startFake, StaticToken, type Fake } from './helpers.ts';

describe('HttpClient against a real local server', () => {
  let fake: Fake;
  const counters = new Map<string, number>();
  const hit = (k: string): number => {
    const n = (counters.get(k) ?? 0) + 1;
    counters.set(k, n);
    return n;
  };
  const http = new HttpClient({ retry: { maxRetries: 3, baseDelayMs: 1, maxDelayMs: 5 } });

  before(async () => {
    fake = await startFake(async (req, res) => {
      const p = req.pathname;
      if (p === '/flaky') {
        if (hit('flaky') < 3) sendJson(res, 503, { serviceUnavailable: { code: 503, message: 'busy' } });
        else sendJson(res, 200, { ok: true }, { 'x-openstack-request-id': 'req-ok' });
      } else if (p === '/post-fail') {
        hit('post-fail');
        sendJson(res, 503, { serviceUnavailable: { code: 503, message: 'busy' } });
      } else if (p === '/always-500') {
        hit('always-500');
        sendJson(res, 500, { computeFault: { code: 500, message: 'boom' } }, { 'x-compute-request-id': 'req-500' });
      } else if (p === '/retry-after') {
        if (hit('retry-after') === 1) sendJson(res, 429, { overLimit: { code: 429, message: 'slow down' } }, { 'retry-after': '1' });
        else sendJson(res, 200, { ok: true });
      } else if (p === '/slow') {
        await new Promise((r) => setTimeout(r, 2000));
        sendJson(res, 200, {});
      } else if (p === '/auth') {
        if (req.headers['x-auth-token'] === 'fresh') sendJson(res, 200, { ok: true });
        else sendJson(res, 401, { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } });
      } else if (p === '/auth-always-401') {
        hit('a401');
        sendJson(res, 401, { error: { code: 401, title: 'Unauthorized', message: 'no' } });
      } else if (p === '/items') {
        const marker = req.query.get('marker');
        const all = ['a', 'b', 'c', 'd', 'e'];
        const start = marker === null ? 0 : all.indexOf(marker) + 1;
        const page = all.slice(start, start + 2);
        const body: Record<string, unknown> = { items: page.map((id) => ({ id })) };
        if (start + 2 < all.length) {
          body.items_links = [{ rel: 'next', href: `${fake.url}/items?limit=2&marker=${page[page.length - 1] ?? ''}` }];
        }
        sendJson(res, 200, body);
      } else if (p === '/redirect') {
        res.writeHead(302, { location: '/target' });
        res.end('{"code": "302 Found"}');
      } else if (p === '/target') {
        sendJson(res, 200, { at: 'target', token: req.headers['x-auth-token'] ?? null });
      } else if (p === '/microversion') {
        sendJson(res, 200, { a: req.headers['openstack-api-version'], b: req.headers['x-openstack-nova-api-version'] ?? null });
      } else {
        sendJson(res, 404, { itemNotFound: { code: 404, message: 'nope' } });
      }
    });
  });
  after(async () => {
    await http.close();
    await fake.close();
  });

  it('retries a GET on 503 then succeeds, and returns the request id', async () => {
    const res = await http.request({ service: 'compute', method: 'GET', url: `${fake.url}/flaky` });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { ok: true });
    assert.equal(res.requestId, 'req-ok');
    assert.equal(counters.get('flaky'), 3);
  });

  it('does not retry a POST on 503', async () => {
    await assert.rejects(
      http.request({ service: 'compute', method: 'POST', url: `${fake.url}/post-fail`, body: {} }),
      (e: unknown) => e instanceof OpenStackApiError && e.status === 503 && e.retryable,
    );
    assert.equal(counters.get('post-fail'), 1);
  });

  it('bounds the retries and puts the request id, method and url on the error', async () => {
    const err = await http.request({ service: 'compute', method: 'GET', url: `${fake.url}/always-500` }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenStackApiError);
    assert.equal(counters.get('always-500'), 4);
    assert.equal(err.requestId, 'req-500');
    assert.equal(err.serviceCode, 'computeFault');
    assert.equal(err.apiMessage, 'boom');
    assert.equal(err.method, 'GET');
    assert.equal(err.url, `${fake.url}/always-500`);
    assert.equal(err.code, 'CM_ERR_OPENSTACK_SERVER');
  });

  it('honours Retry-After', async () => {
    const t0 = Date.now();
    const res = await http.request({ service: 'compute', method: 'GET', url: `${fake.url}/retry-after` });
    assert.equal(res.status, 200);
    assert.ok(Date.now() - t0 >= 950, `waited ${String(Date.now() - t0)} ms`);
  });

  it('times out', async () => {
    const t0 = Date.now();
    await assert.rejects(http.request({ service: 'x', method: 'GET', url: `${fake.url}/slow`, timeoutMs: 150 }), OpenStackTimeoutError);
    assert.ok(Date.now() - t0 < 1500);
  });

  it('aborts on the caller signal', async () => {
    const ac = new AbortController();
    setTimeout(() => {
      ac.abort();
    }, 50);
    await assert.rejects(http.request({ service: 'x', method: 'GET', url: `${fake.url}/slow`, signal: ac.signal }), OpenStackAbortError);
  });

  it('re-authenticates once on a 401 and succeeds', async () => {
    const auth = new StaticToken('stale', 'fresh');
    const res = await http.request({ service: 'compute', method: 'GET', url: `${fake.url}/auth`, auth });
    assert.deepEqual(res.body, { ok: true });
    assert.deepEqual(auth.invalidated, ['stale']);
  });

  it('re-authenticates only once, then reports the 401', async () => {
    const auth = new StaticToken('a', 'b', 'c');
    await assert.rejects(
      http.request({ service: 'compute', method: 'GET', url: `${fake.url}/auth-always-401`, auth }),
      (e: unknown) => e instanceof OpenStackApiError && e.status === 401 && e.code === 'CM_ERR_OPENSTACK_UNAUTHORIZED',
    );
    assert.equal(counters.get('a401'), 2);
    assert.deepEqual(auth.invalidated, ['a']);
  });

  it('follows next links', async () => {
    const items = await collectPages(http.paginateLinks({ service: 'x', url: `${fake.url}/items`, query: { limit: 2 } }, 'items'));
    assert.deepEqual(items, [{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'd' }, { id: 'e' }]);
  });

  it('follows marker pagination', async () => {
    const items = await collectPages(http.paginateMarker({ service: 'x', url: `${fake.url}/items` }, 'items', 'id', 2));
    assert.equal(items.length, 5);
  });

  it('follows a 302 for GET and keeps the token on the same origin', async () => {
    const res = await http.request({ service: 'orchestration', method: 'GET', url: `${fake.url}/redirect`, auth: new StaticToken('t') });
    assert.deepEqual(res.body, { at: 'target', token: 't' });
    assert.equal(res.url, `${fake.url}/target`);
  });

  it('sends both compute microversion headers', async () => {
    const res = await http.request({ service: 'compute', method: 'GET', url: `${fake.url}/microversion`, microversion: { service: 'compute', version: '2.88' } });
    assert.deepEqual(res.body, { a: 'compute 2.88', b: '2.88' });
    const p = await http.request({ service: 'placement', method: 'GET', url: `${fake.url}/microversion`, microversion: { service: 'placement', version: '1.36' } });
    assert.deepEqual(p.body, { a: 'placement 1.36', b: null });
  });

  it('calls the logger for each attempt without the token', async () => {
    const entries: RequestLogEntry[] = [];
    const logged = new HttpClient({ logger: (e) => entries.push(e) });
    try {
      await logged.request({ service: 'compute', method: 'GET', url: `${fake.url}/flaky`, auth: new StaticToken('secret') });
    } finally {
      await logged.close();
    }
    assert.equal(entries.length, 1);
    const e = entries[0]!;
    assert.equal(e.service, 'compute');
    assert.equal(e.status, 200);
    assert.equal(e.requestId, 'req-ok');
    assert.ok(e.durationMs >= 0);
    assert.ok(!JSON.stringify(entries).includes('secret'));
  });

  it('shows every request of one call to its observer (retries and pages), with the answer\'s Date', async () => {
    const entries: RequestLogEntry[] = [];
    const res = await http.request({ service: 'compute', method: 'GET', url: `${fake.url}/always-500`, observer: (e) => entries.push(e) }).catch((e: unknown) => e);
    assert.ok(res instanceof Error);
    assert.deepEqual(entries.map((e) => [e.attempt, e.status]), [
      [0, 500],
      [1, 500],
      [2, 500],
      [3, 500],
    ]);
    assert.ok(entries.every((e) => e.date !== undefined && !Number.isNaN(Date.parse(e.date))));
    const paged: RequestLogEntry[] = [];
    let items = 0;
    for await (const page of http.paginateLinks({ service: 'network', url: `${fake.url}/items`, query: { limit: 2 }, observer: (e) => paged.push(e) }, 'items')) items += page.length;
    assert.equal(items, 5);
    assert.equal(paged.length, 3, 'one entry per page');
    // A throwing observer does not break the call.
    await http.request({ service: 'compute', method: 'GET', url: `${fake.url}/microversion`, observer: () => {
      throw new Error('observer bug');
    } });
  });

  it('maps a connection refusal to OpenStackConnectionError after retries', async () => {
    const dead = await startFake(() => undefined);
    const url = `${dead.url}/x`;
    await dead.close();
    await assert.rejects(http.request({ service: 'x', method: 'GET', url }), OpenStackConnectionError);
  });

  it('gives OpenStackConflictError for a 409', async () => {
    const f = await startFake((_req, res) => {
      sendJson(res, 409, { code: 409, title: 'Conflict', explanation: 'There was a conflict when trying to complete your request.', error: { type: 'StackExists', message: 'The Stack (s1) already exists.', traceback: null } });
    });
    try {
      const e = await http.request({ service: 'orchestration', method: 'POST', url: f.url, body: {} }).catch((x: unknown) => x);
      assert.ok(e instanceof OpenStackConflictError);
      assert.equal(e.serviceCode, 'StackExists');
      assert.equal(e.apiMessage, 'The Stack (s1) already exists.');
      assert.equal(e.code, 'CM_ERR_OPENSTACK_CONFLICT');
    } finally {
      await f.close();
    }
  });
});

describe('parseErrorBody', () => {
  it('reads Nova faults', () => {
    assert.deepEqual(parseErrorBody({ itemNotFound: { code: 404, message: 'Instance x could not be found.' } }, 404), {
      serviceCode: 'itemNotFound',
      message: 'Instance x could not be found.',
      requestId: undefined,
    });
  });
  it('reads Neutron errors', () => {
    const p = parseErrorBody({ NeutronError: { type: 'PortNotFound', message: 'Port p could not be found.', detail: '' } }, 404);
    assert.equal(p.serviceCode, 'PortNotFound');
    assert.equal(p.message, 'Port p could not be found.');
  });
  it('reads Placement errors with their request id', () => {
    const p = parseErrorBody({ errors: [{ status: 409, title: 'Conflict', detail: 'generation mismatch', code: 'placement.concurrent_update', request_id: 'req-p' }] }, 409);
    assert.deepEqual(p, { serviceCode: 'placement.concurrent_update', message: 'generation mismatch', requestId: 'req-p' });
  });
  it('reads Keystone errors', () => {
    const p = parseErrorBody({ error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } }, 401);
    assert.equal(p.serviceCode, 'Unauthorized');
    assert.equal(p.message, 'The request you have made requires authentication.');
  });
  it('reads Heat errors, falling back to the explanation', () => {
    const p = parseErrorBody({ code: 404, title: 'Not Found', explanation: 'The resource could not be found.', error: { type: 'EntityNotFound', message: 'The Stack (x) could not be found.', traceback: null } }, 404);
    assert.deepEqual(p, { serviceCode: 'EntityNotFound', message: 'The Stack (x) could not be found.', requestId: undefined });
    const q = parseErrorBody({ code: 500, title: 'Internal Server Error', explanation: 'The server has either erred.', error: { type: 'Oops', traceback: null } }, 500);
    assert.equal(q.message, 'The server has either erred.');
  });
  it('reads HTML/text bodies', () => {
    assert.equal(parseErrorBody('<html><body><h1>502 Bad Gateway</h1></body></html>', 502).message, '502 Bad Gateway');
  });
  it('parses Retry-After forms', () => {
    assert.equal(parseRetryAfter('2'), 2000);
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4000), 6000);
    assert.equal(parseRetryAfter('soon'), undefined);
  });
});

/** The testbed CLI's argument parsing and the chart renderers (no root needed). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderBarChart, renderLineChart } from '../../src/testbed/chart.ts';
import { parseRate, parseScale, testbedCommand } from '../../src/testbed/cli.ts';
import { wireRate } from '../../src/testbed/scenarios/iperf.ts';

describe('cm testbed arguments', () => {
  it('parses NIC rates in tc notation', () => {
    assert.equal(parseRate('1gbit'), 1e9);
    assert.equal(parseRate('100Mbit'), 100e6);
    assert.equal(parseRate('2.5mbit'), 2.5e6);
    assert.equal(parseRate('64000'), 64000);
    for (const bad of ['fast', '1 tbit', '-5mbit', '10bit']) assert.throws(() => parseRate(bad), /rate/);
  });

  it('parses the scale as a divisor, with or without 1/', () => {
    assert.equal(parseScale('100'), 100);
    assert.equal(parseScale('1/250'), 250);
    for (const bad of ['0', 'x', '1/0']) assert.throws(() => parseScale(bad), /scale/);
  });

  it('has up, status, scenario and down', () => {
    assert.deepEqual(testbedCommand().commands.map((c) => c.name()), ['up', 'status', 'scenario', 'down']);
  });

  it('turns goodput back into the frame rate HTB counts', () => {
    assert.ok(Math.abs(wireRate(95.64e6) / 100e6 - 1) < 0.001);
  });
});

describe('bar chart SVG', () => {
  const svg = renderBarChart({
    title: 'Flows <&>',
    yLabel: 'Mbit/s',
    series: [
      { name: 'Gold', color: '#d4a017' },
      { name: 'Wholesale', color: '#7f7f7f' },
    ],
    capTolerance: 0.05,
    groups: [
      { title: 'one', bars: [{ label: 'A → B', value: 95.5, series: 'Gold', cap: 100 }] },
      { title: 'two', bars: [{ label: 'C → D', value: 9.6, series: 'Wholesale', cap: 10 }, { label: 'E', value: 300, series: 'Gold' }] },
    ],
  });

  it('is one SVG document with escaped text, bars, groups, caps and a legend', () => {
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    assert.ok(svg.includes('Flows &lt;&amp;&gt;'));
    assert.equal((svg.match(/fill="#d4a017"\/>/g) ?? []).length, 3, 'two Gold bars and the legend swatch');
    assert.equal((svg.match(/stroke-dasharray="6 3"/g) ?? []).length, 3, 'two caps and the legend line');
    for (const text of ['one', 'two', '95.5', '9.60', '300', 'band ±5%', 'Mbit/s']) assert.ok(svg.includes(`>${text}`) || svg.includes(text), text);
  });

  it('scales the y axis above the tallest bar or cap band', () => {
    const ticks = [...svg.matchAll(/text-anchor="end" font-size="12" fill="#333">([\d.]+)</g)].map((m) => Number(m[1]));
    assert.ok(Math.max(...ticks) >= 300, `ticks ${ticks.join(',')}`);
  });
});

describe('line chart SVG', () => {
  const ramp = Array.from({ length: 21 }, (_, i) => ({ t: i * 0.5, value: Math.min(90, i * 9) }));
  const svg = renderLineChart({
    title: 'Rates <over> time',
    subtitle: 'guarantee & cap',
    xLabel: 'time (s)',
    yLabel: 'Mbit/s (frames)',
    series: [
      { name: '<a&b>', color: '#1f77b4', points: ramp },
      { name: 'gappy', color: '#ff7f0e', dashed: true, points: [{ t: 0, value: 10 }, { t: 1, value: Number.NaN }, { t: 2, value: 20 }, { t: 3, value: 25 }, { t: Number.POSITIVE_INFINITY, value: 5 }, { t: 4, value: Number.NEGATIVE_INFINITY }, { t: 5, value: 30 }] },
      { name: 'empty', color: '#2ca02c', points: [] },
    ],
    references: [
      { label: 'guarantee 120 Mbit/s', value: 120, color: '#d62728' },
      { label: 'floor', value: 40, color: '#9467bd' },
      { label: 'ignored', value: Number.NaN, color: '#000' },
    ],
    markers: [
      { label: 'VM 1 starts', t: 2 },
      { label: 'VM 2 starts', t: 2.2 },
    ],
  });
  const yTicks = (text: string): number[] => [...text.matchAll(/text-anchor="end" font-size="12" fill="#333">([\d.]+)</g)].map((m) => Number(m[1]));

  it('is one SVG document with escaped text', () => {
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.equal((svg.match(/<svg/g) ?? []).length, 1);
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    assert.ok(svg.includes('>&lt;a&amp;b&gt;<'));
    assert.ok(svg.includes('Rates &lt;over&gt; time'));
    assert.ok(svg.includes('guarantee &amp; cap'));
    assert.ok(!svg.includes('<a&b>'));
    assert.doesNotMatch(svg.replaceAll(/&(amp|lt|gt|quot);/g, ''), /&/, 'no bare ampersand');
  });

  it('draws a path per non-empty series, a legend entry per series, and the axis labels', () => {
    assert.equal((svg.match(/<path /g) ?? []).length, 2);
    assert.ok(svg.includes('stroke="#1f77b4" stroke-width="2" stroke-linejoin="round"/>'));
    assert.ok(svg.includes('stroke="#ff7f0e" stroke-width="2" stroke-linejoin="round" stroke-dasharray="8 4"/>'));
    for (const name of ['&lt;a&amp;b&gt;', 'gappy', 'empty', 'time (s)', 'Mbit/s (frames)']) assert.ok(svg.includes(`>${name}<`), name);
  });

  it('labels references and markers', () => {
    for (const label of ['guarantee 120 Mbit/s', 'floor', 'VM 1 starts', 'VM 2 starts']) assert.ok(svg.includes(`>${label}<`), label);
    assert.ok(!svg.includes('>ignored<'), 'a non-finite reference is left out');
    assert.equal((svg.match(/stroke-dasharray="6 3"/g) ?? []).length, 2, 'two reference lines');
    const markerYs = [...svg.matchAll(/y="([\d.]+)" text-anchor="middle" font-size="11"/g)].map((m) => Number(m[1]));
    assert.equal(new Set(markerYs).size, 2, 'close markers are stacked, not overlapping');
  });

  it('scales the y axis above the highest reference and the series', () => {
    const ticks = yTicks(svg);
    assert.equal(ticks[0], 0);
    assert.ok(Math.max(...ticks) > 120, `ticks ${ticks.join(',')}`);
    const high = renderLineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 's', color: '#000', points: [{ t: 0, value: 1 }, { t: 1, value: 430 }] }] });
    assert.ok(Math.max(...yTicks(high)) > 430);
  });

  it('runs x from the first to the last time with nice ticks', () => {
    const xTicks = (text: string): (string | undefined)[] => [...text.matchAll(/y="[\d.]+" text-anchor="middle" font-size="12" fill="#333">([\d.]+)</g)].map((m) => m[1]);
    assert.deepEqual(xTicks(svg), ['0', '2', '4', '6', '8', '10']);
    const late = renderLineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 's', color: '#000', points: [{ t: 3.3, value: 1 }, { t: 4.6, value: 2 }] }] });
    assert.deepEqual(xTicks(late), ['3.4', '3.6', '3.8', '4.0', '4.2', '4.4', '4.6']);
  });

  it('skips non-finite points, breaking the line there', () => {
    assert.ok(!/NaN|Infinity/.test(svg));
    const gappy = /<path d="([^"]+)"[^>]*stroke="#ff7f0e"/.exec(svg)?.[1] ?? '';
    assert.equal(gappy.match(/M/g)?.length, 1, 'the run 2..3 is a line');
    assert.equal((svg.match(/<circle [^>]*fill="#ff7f0e"/g) ?? []).length, 2, 'the lone points at t=0 and t=5 are dots');
  });

  it('copes with no data at all', () => {
    const empty = renderLineChart({ title: 'nothing', xLabel: 'x', yLabel: 'y', series: [{ name: 'none', color: '#000', points: [{ t: Number.NaN, value: 1 }] }] });
    assert.equal((empty.match(/<svg/g) ?? []).length, 1);
    assert.ok(!/NaN|Infinity/.test(empty));
    assert.ok(!empty.includes('<path '));
  });
});
